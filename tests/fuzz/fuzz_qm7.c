/*
 * fuzz_qm7.c: libFuzzer harness for the QM7 loader, qm7_load().
 *
 * matio reads only from a named file, so each input is written to a file of this process's
 * own in /dev/shm (memory, so a run is not bound by the disk) and loaded from there. A load
 * must either succeed with data that keeps qm7_data's promises (every fold index names a
 * molecule, every X and T value is finite) or fail with a message from the loader and leave
 * the data empty; anything else traps. Leaks are reported by libFuzzer's leak checker.
 *
 * libmatio is the system's, built without coverage instrumentation, so the fuzzer is guided
 * by the loader's own branches and by what matio returns. Memory errors inside matio are still
 * caught where they touch memory that ASan watches: the heap, through its malloc.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qm7_data.h"
#include "tg_tensor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void remove_input_file(void) { unlink(path); }

static bool write_input(const uint8_t *bytes, size_t size)
{
    if (!path[0]) {
        snprintf(path, sizeof path, "/dev/shm/fuzz_qm7_%ld.mat", (long)getpid());
        atexit(remove_input_file);
    }
    FILE *file = fopen(path, "wb");
    if (!file)
        return false;
    bool ok = fwrite(bytes, 1, size, file) == size;
    return fclose(file) == 0 && ok;
}

static bool is_empty(const qm7_data *d)
{
    return d->n == 0 && d->fold_size == 0 && !d->X && !d->T && !d->P;
}

static bool keeps_promises(const qm7_data *d)
{
    if (d->n <= 0 || d->fold_size <= 0 || !d->X || !d->T || !d->P)
        return false;
    for (int64_t i = 0; i < QM7_FOLDS * d->fold_size; i++)
        if (d->P[i] < 0 || d->P[i] >= d->n)
            return false;
    for (int64_t k = 0; k < d->n; k++)
        if (!isfinite(d->T[k]))
            return false;
    for (int64_t e = 0; e < d->n * QM7_ATOMS * QM7_ATOMS; e++)
        if (!isfinite(d->X[e]))
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!write_input(data, size))
        abort();

    qm7_data loaded;
    if (qm7_load(path, &loaded)) {
        if (!keeps_promises(&loaded))
            __builtin_trap();
        qm7_free(&loaded);
        return 0;
    }

    const char *msg = tg_last_error();
    if (!msg || strncmp(msg, "qm7_load: ", 10) != 0 || !is_empty(&loaded))
        __builtin_trap();
    return 0;
}
