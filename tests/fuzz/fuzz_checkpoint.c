/*
 * fuzz_checkpoint.c: libFuzzer harness for the checkpoint reader.
 *
 * Every input is loaded against a fixed model of two parameters, "0.W" float32 [2, 3] and
 * "0.B" float64 [3], with and without an averager, and each of those twice: as it is, where
 * the checksum stops almost everything, and with its checksum recomputed, so that the fuzzer
 * also reaches the structural checks behind it. A load must either succeed or fail with a
 * message naming the input and leave the model exactly as it was; anything else traps.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "tg_checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { PARAMS = 2 };

static tg_param params[PARAMS];
static tg_averager *averager;

static void make_model(void)
{
    static const int64_t w_shape[] = {2, 3}, b_shape[] = {3};
    strcpy(params[0].name, "0.W");
    strcpy(params[1].name, "0.B");
    params[0].tensor = tg_tensor_new(TG_F32, 2, w_shape);
    params[1].tensor = tg_tensor_new(TG_F64, 1, b_shape);
    if (!params[0].tensor || !params[1].tensor)
        abort();
    averager = tg_averager_new(params, PARAMS, 0.1);
    if (!averager)
        abort();
}

/* The bytes a load may write, parameters then averaged copies. */
static size_t model_contents(unsigned char *out)
{
    size_t used = 0;
    for (size_t i = 0; i < PARAMS; i++) {
        const tg_tensor *copies[] = {params[i].tensor, tg_averager_tensor(averager, i)};
        for (int k = 0; k < 2; k++) {
            size_t n = (size_t)copies[k]->size * tg_dtype_size(copies[k]->dtype);
            memcpy(out + used, copies[k]->data, n);
            used += n;
        }
    }
    return used;
}

static void load_once(const uint8_t *bytes, size_t size, tg_averager *avg)
{
    unsigned char before[256], after[256];
    size_t len = model_contents(before);
    int64_t step = 0;
    tg_rng rng = {{0}};

    if (tg_checkpoint_load_bytes(bytes, size, "fuzz", params, PARAMS, avg, &step, &rng))
        return;

    const char *msg = tg_last_error();
    if (!msg || strncmp(msg, "fuzz: ", 6) != 0)
        __builtin_trap();
    if (model_contents(after) != len || memcmp(before, after, len) != 0 || step != 0 || rng.s[0] ||
        rng.s[1] || rng.s[2] || rng.s[3])
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!averager)
        make_model();

    /* A private copy, so that reads past the end are caught and the reseal has room. */
    uint8_t *bytes = malloc(size ? size : 1);
    if (!bytes)
        return 0;
    if (size)
        memcpy(bytes, data, size);

    load_once(bytes, size, averager);
    load_once(bytes, size, NULL);
    if (size >= 12) {
        uLong crc = crc32_z(crc32_z(0, NULL, 0), bytes + 8, size - 12);
        for (int k = 0; k < 4; k++)
            bytes[size - 4 + k] = (uint8_t)(crc >> (8 * k));
        load_once(bytes, size, averager);
        load_once(bytes, size, NULL);
    }
    free(bytes);
    return 0;
}
