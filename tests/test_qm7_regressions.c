/*
 * test_qm7_regressions.c: the inputs with which tests/fuzz/fuzz_qm7 broke the QM7 loader, or
 * libmatio and libhdf5 under it, are refused before they reach the code that broke.
 *
 * The files live in tests/fuzz/regressions/qm7 (the folder is the first argument). Each known
 * one is refused for its own reason; any file added to the folder later must at least load or
 * be refused with a message of the loader's, and under the sanitizer build without a memory
 * error or a leak.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "qm7_data.h"
#include "tg_tensor.h"

static const char *folder;

static void assert_refused_for(const char *name, const char *reason)
{
    char path[512];
    qm7_data data;
    snprintf(path, sizeof path, "%s/%s", folder, name);

    assert_false(qm7_load(path, &data));
    const char *message = tg_last_error();
    if (!strstr(message, path) || !strstr(message, reason)) {
        print_error("%s: \"%s\" does not say \"%s\"\n", name, message, reason);
        fail();
    }
    assert_null(data.X);
}

/*
 * hdf5_*: MATLAB 7.3 files on which libhdf5 1.10.8 overran a heap buffer while decoding an
 * attribute, and lost an object header it failed to load.
 * v4_*: no MAT-file header, so matio read it as MATLAB 4 and allocated a 760 MB name.
 * v5_header_*: a variable past the end of the file whose header made matio allocate 4.4 GB;
 *     its first, compressed element is damaged too, and the checksum check now stops it there.
 * v5_compressed_*: a compressed stream that ends early, on which matio spent 5 s; an earlier
 *     compressed element fails its checksum, which now stops the file at byte 128.
 */
static void each_fuzz_finding_is_refused_before_matio_reads_it(void **state)
{
    assert_refused_for("hdf5_attribute_heap_overflow.mat", "is a MATLAB 7.3 (HDF5) file");
    assert_refused_for("hdf5_object_header_leak.mat", "is a MATLAB 7.3 (HDF5) file");
    assert_refused_for("v4_name_claims_760mb.mat", "is not a MATLAB 5 file");
    assert_refused_for("v5_header_claims_4gb.mat",
                       "the element at byte 128 does not inflate intact to the length it declares");
    assert_refused_for("v5_compressed_slow_read.mat",
                       "the element at byte 128 does not inflate intact to the length it declares");
}

static void every_file_in_the_folder_loads_or_is_refused_cleanly(void **state)
{
    DIR *dir = opendir(folder);
    assert_non_null(dir);

    int files = 0;
    for (struct dirent *entry; (entry = readdir(dir));) {
        if (entry->d_name[0] == '.')
            continue;
        char path[512];
        qm7_data data;
        snprintf(path, sizeof path, "%s/%s", folder, entry->d_name);
        if (qm7_load(path, &data))
            qm7_free(&data);
        else
            assert_int_equal(strncmp(tg_last_error(), "qm7_load: ", 10), 0);
        files++;
    }
    closedir(dir);
    assert_true(files >= 5);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_qm7_regressions FOLDER\n");
        return 2;
    }
    folder = argv[1];

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_fuzz_finding_is_refused_before_matio_reads_it),
        cmocka_unit_test(every_file_in_the_folder_loads_or_is_refused_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
