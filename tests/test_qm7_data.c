/*
 * test_qm7_data.c: qm7_load() on small .mat files written by matio itself.
 *
 * The fixture holds 10 molecules laid out as MATLAB stores them (column-major):
 *   X(k, i, j) = 10000 k + 100 i + j   at k + 10 (i + 23 j)
 *   T(k)       = -100.5 - k
 *   P(f, i)    = f + 5 i               at f + 5 i, so fold f holds molecules f and f + 5
 * Each refusal test breaks one thing, writes the file, and checks the message.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <matio.h>

#include "qm7_data.h"
#include "tg_tensor.h"

enum { MOLECULES = 10, FOLD_SIZE = 2, MATRIX = QM7_ATOMS * QM7_ATOMS };
enum { VAR_X, VAR_T, VAR_P, VARIABLES };

/* One variable as it will be written: class, storage type, dims and column-major data. */
typedef struct variable {
    const char *name;
    enum matio_classes class_type;
    enum matio_types data_type;
    int rank;
    size_t dims[3];
    void *data;
    int options; /* MAT_F_COMPLEX for complex data */
    bool omitted;
} variable;

typedef struct fixture {
    char dir[64];
    char path[96];
    float X[MOLECULES * MATRIX];
    float T[MOLECULES];
    int64_t P[QM7_FOLDS * FOLD_SIZE];
    variable vars[VARIABLES];
} fixture;

static float coulomb_value(size_t k, size_t i, size_t j)
{
    return (float)(10000 * k + 100 * i + j);
}

static size_t column_major(size_t k, size_t i, size_t j)
{
    return k + MOLECULES * (i + QM7_ATOMS * j);
}

static void fill_valid_arrays(fixture *fx)
{
    for (size_t k = 0; k < MOLECULES; k++)
        for (size_t i = 0; i < QM7_ATOMS; i++)
            for (size_t j = 0; j < QM7_ATOMS; j++)
                fx->X[column_major(k, i, j)] = coulomb_value(k, i, j);

    for (int k = 0; k < MOLECULES; k++)
        fx->T[k] = -100.5f - (float)k;

    for (int f = 0; f < QM7_FOLDS; f++)
        for (int i = 0; i < FOLD_SIZE; i++)
            fx->P[f + QM7_FOLDS * i] = f + 5 * i;
}

static void describe_valid_variables(fixture *fx)
{
    fx->vars[VAR_X] = (variable){
        "X", MAT_C_SINGLE, MAT_T_SINGLE, 3, {MOLECULES, QM7_ATOMS, QM7_ATOMS}, fx->X, 0, false};
    fx->vars[VAR_T] =
        (variable){"T", MAT_C_SINGLE, MAT_T_SINGLE, 2, {1, MOLECULES}, fx->T, 0, false};
    fx->vars[VAR_P] =
        (variable){"P", MAT_C_INT64, MAT_T_INT64, 2, {QM7_FOLDS, FOLD_SIZE}, fx->P, 0, false};
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;

    snprintf(fx->dir, sizeof fx->dir, "/tmp/test_qm7_data_XXXXXX");
    if (!mkdtemp(fx->dir)) {
        free(fx);
        return -1;
    }
    snprintf(fx->path, sizeof fx->path, "%s/qm7.mat", fx->dir);

    fill_valid_arrays(fx);
    describe_valid_variables(fx);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;

    remove(fx->path);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static void write_variable(mat_t *mat, const variable *v, enum matio_compression compression)
{
    size_t dims[3] = {v->dims[0], v->dims[1], v->dims[2]};
    matvar_t *var =
        Mat_VarCreate(v->name, v->class_type, v->data_type, v->rank, dims, v->data, v->options);
    assert_non_null(var);
    assert_int_equal(Mat_VarWrite(mat, var, compression), 0);
    Mat_VarFree(var);
}

static void write_fixture_as(const fixture *fx, enum mat_ft version,
                             enum matio_compression compression)
{
    mat_t *mat = Mat_CreateVer(fx->path, NULL, version);
    assert_non_null(mat);

    for (int v = 0; v < VARIABLES; v++)
        if (!fx->vars[v].omitted)
            write_variable(mat, &fx->vars[v], compression);
    Mat_Close(mat);
}

static void write_fixture(const fixture *fx)
{
    write_fixture_as(fx, MAT_FT_MAT5, MAT_COMPRESSION_NONE);
}

static long file_size(const char *path)
{
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    assert_int_equal(fseek(file, 0, SEEK_END), 0);
    long size = ftell(file);
    fclose(file);
    return size;
}

/* Overwrites 4 bytes at `offset` with a little-endian int32, as an uncompressed file stores it. */
static void patch_int32(const char *path, long offset, int32_t value)
{
    unsigned char bytes[4];
    for (int k = 0; k < 4; k++)
        bytes[k] = (unsigned char)((uint32_t)value >> (8 * k));
    FILE *file = fopen(path, "r+b");
    assert_non_null(file);
    assert_int_equal(fseek(file, offset, SEEK_SET), 0);
    assert_int_equal(fwrite(bytes, 1, 4, file), 4);
    fclose(file);
}

static void assert_error_mentions(const char *needle)
{
    const char *message = tg_last_error();
    if (!message || !strstr(message, needle)) {
        print_error("error message \"%s\" does not mention \"%s\"\n", message ? message : "(none)",
                    needle);
        fail();
    }
}

static void assert_data_empty(const qm7_data *data)
{
    assert_int_equal(data->n, 0);
    assert_int_equal(data->fold_size, 0);
    assert_null(data->X);
    assert_null(data->T);
    assert_null(data->P);
}

/* Writes the fixture, loads it, and expects a refusal that names the file and `problem`. */
static void assert_load_refused(const fixture *fx, const char *problem)
{
    qm7_data data;

    write_fixture(fx);
    assert_false(qm7_load(fx->path, &data));
    assert_error_mentions(fx->path);
    assert_error_mentions(problem);
    assert_data_empty(&data);
}

static void load_converts_column_major_X_to_row_major(void **state)
{
    fixture *fx = *state;
    qm7_data data;

    write_fixture(fx);
    assert_true(qm7_load(fx->path, &data));
    assert_int_equal(data.n, MOLECULES);

    /* X(1, 0, 2) = 10002 and X(2, 3, 7) = 20307, read in MATLAB's order, land row-major. */
    assert_float_equal(data.X[(1 * QM7_ATOMS + 0) * QM7_ATOMS + 2], 10002.0f, 0.0f);
    assert_float_equal(data.X[(2 * QM7_ATOMS + 3) * QM7_ATOMS + 7], 20307.0f, 0.0f);
    for (size_t k = 0; k < MOLECULES; k++)
        for (size_t i = 0; i < QM7_ATOMS; i++)
            for (size_t j = 0; j < QM7_ATOMS; j++)
                assert_float_equal(data.X[(k * QM7_ATOMS + i) * QM7_ATOMS + j],
                                   coulomb_value(k, i, j), 0.0f);
    qm7_free(&data);
}

static void load_reads_T_and_lays_P_out_fold_by_fold(void **state)
{
    fixture *fx = *state;
    qm7_data data;
    const int64_t folds[QM7_FOLDS * FOLD_SIZE] = {0, 5, 1, 6, 2, 7, 3, 8, 4, 9};

    write_fixture(fx);
    assert_true(qm7_load(fx->path, &data));

    assert_float_equal(data.T[0], -100.5f, 0.0f);
    assert_float_equal(data.T[9], -109.5f, 0.0f);
    assert_int_equal(data.fold_size, FOLD_SIZE);
    assert_memory_equal(data.P, folds, sizeof folds);
    qm7_free(&data);
}

static void load_accepts_T_as_a_column(void **state)
{
    fixture *fx = *state;
    qm7_data data;

    fx->vars[VAR_T].dims[0] = MOLECULES;
    fx->vars[VAR_T].dims[1] = 1;
    write_fixture(fx);
    assert_true(qm7_load(fx->path, &data));
    assert_float_equal(data.T[3], -103.5f, 0.0f);
    qm7_free(&data);
}

/* Double X and T become float; P stored as whole doubles or as int32 becomes int64. */
static void load_converts_double_X_T_and_integral_P(void **state)
{
    fixture *fx = *state;
    static double X[MOLECULES * MATRIX];
    double T[MOLECULES], P[QM7_FOLDS * FOLD_SIZE];
    qm7_data data;

    for (size_t e = 0; e < MOLECULES * MATRIX; e++)
        X[e] = fx->X[e] + 0.25;
    for (int k = 0; k < MOLECULES; k++)
        T[k] = fx->T[k];
    for (int e = 0; e < QM7_FOLDS * FOLD_SIZE; e++)
        P[e] = (double)fx->P[e];
    fx->vars[VAR_X] = (variable){
        "X", MAT_C_DOUBLE, MAT_T_DOUBLE, 3, {MOLECULES, QM7_ATOMS, QM7_ATOMS}, X, 0, false};
    fx->vars[VAR_T] = (variable){"T", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, {1, MOLECULES}, T, 0, false};
    fx->vars[VAR_P] =
        (variable){"P", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, {QM7_FOLDS, FOLD_SIZE}, P, 0, false};

    write_fixture(fx);
    assert_true(qm7_load(fx->path, &data));
    assert_float_equal(data.X[(2 * QM7_ATOMS + 3) * QM7_ATOMS + 7], 20307.25f, 0.0f);
    assert_float_equal(data.T[9], -109.5f, 0.0f);
    assert_int_equal(data.P[1], 5);
    assert_int_equal(data.P[9], 9);
    qm7_free(&data);
}

static void load_converts_int32_P(void **state)
{
    fixture *fx = *state;
    int32_t P[QM7_FOLDS * FOLD_SIZE];
    qm7_data data;

    for (int e = 0; e < QM7_FOLDS * FOLD_SIZE; e++)
        P[e] = (int32_t)fx->P[e];
    fx->vars[VAR_P].class_type = MAT_C_INT32;
    fx->vars[VAR_P].data_type = MAT_T_INT32;
    fx->vars[VAR_P].data = P;

    write_fixture(fx);
    assert_true(qm7_load(fx->path, &data));
    assert_int_equal(data.P[2], 1);
    assert_int_equal(data.P[3], 6);
    qm7_free(&data);
}

static void load_refuses_a_missing_file(void **state)
{
    fixture *fx = *state;
    qm7_data data;

    assert_false(qm7_load(fx->path, &data));
    assert_error_mentions("cannot open");
    assert_error_mentions(fx->path);
    assert_error_mentions("No such file");
    assert_data_empty(&data);
}

static void load_refuses_a_file_that_is_not_matlab(void **state)
{
    fixture *fx = *state;
    qm7_data data;

    FILE *file = fopen(fx->path, "wb");
    assert_non_null(file);
    for (int line = 0; line < 64; line++)
        fputs("molecule,energy\n", file);
    fclose(file);

    assert_false(qm7_load(fx->path, &data));
    assert_error_mentions(fx->path);
    assert_error_mentions("is not a MATLAB 5 file: it has no MAT-file header");
    assert_data_empty(&data);
}

/* libhdf5 is kept away from damaged files: a MATLAB 7.3 file is refused even when it is whole. */
static void load_refuses_a_MATLAB_7_3_file(void **state)
{
    fixture *fx = *state;
    qm7_data data;

    write_fixture_as(fx, MAT_FT_MAT73, MAT_COMPRESSION_NONE);
    assert_false(qm7_load(fx->path, &data));
    assert_error_mentions(fx->path);
    assert_error_mentions("is a MATLAB 7.3 (HDF5) file, which qm7_load does not read");
    assert_error_mentions("save it as version 7 (MATLAB: save -v7; Python: scipy.io.savemat)");
    assert_data_empty(&data);
}

/* MATLAB 4 has no header and only two-dimensional matrices, so it cannot hold X at all. */
static void load_refuses_a_MATLAB_4_file(void **state)
{
    fixture *fx = *state;
    qm7_data data;

    fx->vars[VAR_X].rank = 2;
    fx->vars[VAR_X].dims[1] = MATRIX;
    fx->vars[VAR_P].class_type = MAT_C_DOUBLE;
    fx->vars[VAR_P].data_type = MAT_T_DOUBLE;
    fx->vars[VAR_P].omitted = true;
    write_fixture_as(fx, MAT_FT_MAT4, MAT_COMPRESSION_NONE);
    assert_false(qm7_load(fx->path, &data));
    assert_error_mentions(fx->path);
    assert_error_mentions("is not a MATLAB 5 file: it has no MAT-file header (MATLAB 4 files, "
                          "which have none, cannot hold the three dimensions of X)");
    assert_data_empty(&data);
}

/*
 * An uncompressed file starts X's dimensions 32 bytes in: 128 bytes of header, the matrix tag
 * (8), the array flags (16) and the dimensions' tag (8). N = 2^31 - 1 claims 4.5 terabytes.
 */
static void load_refuses_a_header_claiming_more_than_the_file_holds(void **state)
{
    fixture *fx = *state;
    qm7_data data;
    char expected[160];

    write_fixture(fx);
    patch_int32(fx->path, 128 + 32, INT32_MAX);
    snprintf(expected, sizeof expected,
             "X claims 2147483647 x 23 x 23 values of 4 bytes, more than a file of %ld bytes "
             "can hold (damaged file)",
             file_size(fx->path));
    assert_false(qm7_load(fx->path, &data));
    assert_error_mentions(fx->path);
    assert_error_mentions(expected);
    assert_data_empty(&data);
}

/*
 * Cut in the middle of X's values. matio itself would read X, with its missing values left
 * uninitialized; the loader sees that X's element, at byte 128, runs past the end.
 */
static void load_refuses_a_truncated_file(void **state)
{
    fixture *fx = *state;
    qm7_data data;

    write_fixture(fx);
    assert_int_equal(truncate(fx->path, 128 + 64 + 1000), 0);
    assert_false(qm7_load(fx->path, &data));
    assert_error_mentions(fx->path);
    assert_error_mentions("is damaged: the element at byte 128 runs past the end of the file "
                          "(1192 bytes in all)");
    assert_data_empty(&data);
}

/*
 * X compressed, then its stream cut to 40 bytes with the element's byte count made to agree:
 * the file's structure holds, but X does not inflate whole. matio would read it as zeros.
 */
static void load_refuses_a_compressed_variable_that_does_not_inflate_whole(void **state)
{
    fixture *fx = *state;
    qm7_data data;

    write_fixture_as(fx, MAT_FT_MAT5, MAT_COMPRESSION_ZLIB);
    long size = file_size(fx->path);
    char *bytes = malloc((size_t)size);
    assert_non_null(bytes);
    FILE *file = fopen(fx->path, "rb");
    assert_non_null(file);
    assert_int_equal(fread(bytes, 1, (size_t)size, file), (size_t)size);
    fclose(file);

    file = fopen(fx->path, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(bytes, 1, 128 + 8 + 40, file), 128 + 8 + 40);
    fclose(file);
    free(bytes);
    patch_int32(fx->path, 128 + 4, 40);

    assert_false(qm7_load(fx->path, &data));
    assert_error_mentions("is damaged: the element at byte 128 does not inflate intact to the "
                          "length it declares (176 bytes in all)");
    assert_data_empty(&data);
}

/*
 * X compressed, then one bit of its stream's last byte flipped: that byte belongs to the
 * stream's checksum, so every value still inflates and only the checksum tells the damage.
 */
static void load_refuses_a_compressed_variable_whose_checksum_fails(void **state)
{
    fixture *fx = *state;
    qm7_data data;

    write_fixture_as(fx, MAT_FT_MAT5, MAT_COMPRESSION_ZLIB);
    FILE *file = fopen(fx->path, "r+b");
    assert_non_null(file);
    unsigned char tag[8], last;
    assert_int_equal(fseek(file, 128, SEEK_SET), 0);
    assert_int_equal(fread(tag, 1, 8, file), 8);
    long end = 128 + 8 + (long)(tag[4] | tag[5] << 8 | tag[6] << 16 | (uint32_t)tag[7] << 24);
    assert_int_equal(fseek(file, end - 1, SEEK_SET), 0);
    assert_int_equal(fread(&last, 1, 1, file), 1);
    last ^= 0x10;
    assert_int_equal(fseek(file, end - 1, SEEK_SET), 0);
    assert_int_equal(fwrite(&last, 1, 1, file), 1);
    fclose(file);

    assert_false(qm7_load(fx->path, &data));
    assert_error_mentions("is damaged: the element at byte 128 does not inflate");
    assert_data_empty(&data);
}

static void load_refuses_a_file_without_X(void **state)
{
    fixture *fx = *state;
    fx->vars[VAR_X].omitted = true;
    assert_load_refused(fx, "has no variable X");
}

static void load_refuses_a_file_without_T(void **state)
{
    fixture *fx = *state;
    fx->vars[VAR_T].omitted = true;
    assert_load_refused(fx, "has no variable T");
}

static void load_refuses_a_file_without_P(void **state)
{
    fixture *fx = *state;
    fx->vars[VAR_P].omitted = true;
    assert_load_refused(fx, "has no variable P");
}

static void load_refuses_X_that_is_not_N_x_23_x_23(void **state)
{
    fixture *fx = *state;
    fx->vars[VAR_X].dims[2] = 22;
    assert_load_refused(fx, "X must be N x 23 x 23 with N > 0, not 10 x 23 x 22");
}

static void load_refuses_X_of_rank_two(void **state)
{
    fixture *fx = *state;
    fx->vars[VAR_X].rank = 2;
    fx->vars[VAR_X].dims[1] = MATRIX;
    assert_load_refused(fx, "not 10 x 529");
}

static void load_refuses_T_whose_length_differs_from_X(void **state)
{
    fixture *fx = *state;
    fx->vars[VAR_T].dims[1] = MOLECULES - 1;
    assert_load_refused(fx, "T must be 1 x 10 or 10 x 1 to match X, not 1 x 9");
}

static void load_refuses_P_without_five_folds(void **state)
{
    fixture *fx = *state;
    fx->vars[VAR_P].dims[0] = 4;
    assert_load_refused(fx, "P must be 5 x F with F > 0, not 4 x 2");
}

static void load_refuses_integer_X(void **state)
{
    fixture *fx = *state;
    static int8_t X[MOLECULES * MATRIX];

    fx->vars[VAR_X].class_type = MAT_C_INT8;
    fx->vars[VAR_X].data_type = MAT_T_INT8;
    fx->vars[VAR_X].data = X;
    assert_load_refused(fx, "X has class int8; it must be single or double");
}

static void load_refuses_character_P(void **state)
{
    fixture *fx = *state;
    char P[QM7_FOLDS * FOLD_SIZE] = "0123456789";

    fx->vars[VAR_P].class_type = MAT_C_CHAR;
    fx->vars[VAR_P].data_type = MAT_T_UINT8;
    fx->vars[VAR_P].data = P;
    assert_load_refused(fx, "P has class char; it must be numeric");
}

static void load_refuses_complex_T(void **state)
{
    fixture *fx = *state;
    float imaginary[MOLECULES] = {0};
    mat_complex_split_t T = {fx->T, imaginary};

    fx->vars[VAR_T].data = &T;
    fx->vars[VAR_T].options = MAT_F_COMPLEX;
    assert_load_refused(fx, "T is complex; it must be real");
}

/* A 1 x 10 sparse T with every entry stored: column c holds row 0 only. */
static void load_refuses_sparse_T(void **state)
{
    fixture *fx = *state;
    double values[MOLECULES];
    mat_uint32_t rows[MOLECULES], column_starts[MOLECULES + 1];

    for (int c = 0; c < MOLECULES; c++) {
        values[c] = fx->T[c];
        rows[c] = 0;
        column_starts[c] = (mat_uint32_t)c;
    }
    column_starts[MOLECULES] = MOLECULES;
    mat_sparse_t T = {.nzmax = MOLECULES,
                      .ir = rows,
                      .nir = MOLECULES,
                      .jc = column_starts,
                      .njc = MOLECULES + 1,
                      .ndata = MOLECULES,
                      .data = values};
    fx->vars[VAR_T] = (variable){"T", MAT_C_SPARSE, MAT_T_DOUBLE, 2, {1, MOLECULES}, &T, 0, false};
    assert_load_refused(fx, "T is sparse; it must be a full array");
}

static void load_refuses_a_fold_index_past_the_last_molecule(void **state)
{
    fixture *fx = *state;
    fx->P[3 + QM7_FOLDS * 1] = MOLECULES;
    assert_load_refused(fx, "P(3, 1) = 10 is out of range [0, 10)");
}

static void load_refuses_a_negative_fold_index(void **state)
{
    fixture *fx = *state;
    fx->P[0] = -1;
    assert_load_refused(fx, "P(0, 0) = -1 is out of range [0, 10)");
}

static void load_refuses_a_fractional_fold_index(void **state)
{
    fixture *fx = *state;
    double P[QM7_FOLDS * FOLD_SIZE] = {0, 1, 2, 3, 4, 5, 6, 2.5, 8, 9};

    fx->vars[VAR_P].class_type = MAT_C_DOUBLE;
    fx->vars[VAR_P].data_type = MAT_T_DOUBLE;
    fx->vars[VAR_P].data = P;
    assert_load_refused(fx, "P(2, 1) is 2.5, not an integer index");
}

static void load_refuses_NaN_in_X(void **state)
{
    fixture *fx = *state;
    fx->X[column_major(4, 5, 6)] = NAN;
    assert_load_refused(fx, "X(4, 5, 6) is nan; X must be finite");
}

static void load_refuses_Inf_in_T(void **state)
{
    fixture *fx = *state;
    fx->T[7] = -INFINITY;
    assert_load_refused(fx, "T(7) is -inf; T must be finite");
}

static void load_refuses_double_X_beyond_single_precision(void **state)
{
    fixture *fx = *state;
    static double X[MOLECULES * MATRIX];

    X[column_major(0, 1, 2)] = 1e300;
    fx->vars[VAR_X].class_type = MAT_C_DOUBLE;
    fx->vars[VAR_X].data_type = MAT_T_DOUBLE;
    fx->vars[VAR_X].data = X;
    assert_load_refused(fx, "X(0, 1, 2) is 1e+300; X must be finite in single precision");
}

static void training_indices_concatenate_the_other_folds_in_order(void **state)
{
    fixture *fx = *state;
    qm7_data data;
    int64_t count;
    const int64_t without_fold_2[] = {0, 5, 1, 6, 3, 8, 4, 9};
    const int64_t without_fold_0[] = {1, 6, 2, 7, 3, 8, 4, 9};

    write_fixture(fx);
    assert_true(qm7_load(fx->path, &data));

    int64_t *train = qm7_training_indices(&data, 2, &count);
    assert_non_null(train);
    assert_int_equal(count, 8);
    assert_memory_equal(train, without_fold_2, sizeof without_fold_2);
    free(train);

    train = qm7_training_indices(&data, 0, &count);
    assert_non_null(train);
    assert_memory_equal(train, without_fold_0, sizeof without_fold_0);
    free(train);
    qm7_free(&data);
}

static void training_indices_refuse_a_fold_outside_0_to_4(void **state)
{
    fixture *fx = *state;
    qm7_data data;
    int64_t count = 99;

    write_fixture(fx);
    assert_true(qm7_load(fx->path, &data));

    assert_null(qm7_training_indices(&data, 5, &count));
    assert_int_equal(count, 0);
    assert_error_mentions("test fold 5 is not in [0, 5)");
    assert_null(qm7_training_indices(&data, -1, &count));
    assert_error_mentions("test fold -1");
    qm7_free(&data);
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(load_converts_column_major_X_to_row_major),
        TEST(load_reads_T_and_lays_P_out_fold_by_fold),
        TEST(load_accepts_T_as_a_column),
        TEST(load_converts_double_X_T_and_integral_P),
        TEST(load_converts_int32_P),
        TEST(load_refuses_a_missing_file),
        TEST(load_refuses_a_file_that_is_not_matlab),
        TEST(load_refuses_a_MATLAB_7_3_file),
        TEST(load_refuses_a_MATLAB_4_file),
        TEST(load_refuses_a_header_claiming_more_than_the_file_holds),
        TEST(load_refuses_a_truncated_file),
        TEST(load_refuses_a_compressed_variable_that_does_not_inflate_whole),
        TEST(load_refuses_a_compressed_variable_whose_checksum_fails),
        TEST(load_refuses_a_file_without_X),
        TEST(load_refuses_a_file_without_T),
        TEST(load_refuses_a_file_without_P),
        TEST(load_refuses_X_that_is_not_N_x_23_x_23),
        TEST(load_refuses_X_of_rank_two),
        TEST(load_refuses_T_whose_length_differs_from_X),
        TEST(load_refuses_P_without_five_folds),
        TEST(load_refuses_integer_X),
        TEST(load_refuses_character_P),
        TEST(load_refuses_complex_T),
        TEST(load_refuses_sparse_T),
        TEST(load_refuses_a_fold_index_past_the_last_molecule),
        TEST(load_refuses_a_negative_fold_index),
        TEST(load_refuses_a_fractional_fold_index),
        TEST(load_refuses_NaN_in_X),
        TEST(load_refuses_Inf_in_T),
        TEST(load_refuses_double_X_beyond_single_precision),
        TEST(training_indices_concatenate_the_other_folds_in_order),
        TEST(training_indices_refuse_a_fold_outside_0_to_4),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
