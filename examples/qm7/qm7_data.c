/*
 * qm7_data.c: reading qm7.mat with libmatio, validating it, and converting MATLAB's
 * column-major arrays to the row-major layout of qm7_data.
 *
 * Every element is read through element_at(), which converts whatever C type matio stored
 * to double. That costs a switch per element, a few milliseconds for the whole file, and
 * lets one loader accept single or double X and T, and P of any integer or floating class.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <matio.h>
#include <zlib.h>

#include "qm7_data.h"
#include "tg_tensor.h"

#define MATRIX_SIZE (QM7_ATOMS * QM7_ATOMS)
#define MAX_INFLATION ((size_t)1032)

typedef bool (*variable_reader)(const matvar_t *var, const char *path, qm7_data *data);

static const char *class_name(enum matio_classes class_type)
{
    switch (class_type) {
    case MAT_C_EMPTY: return "empty";
    case MAT_C_CELL: return "cell";
    case MAT_C_STRUCT: return "struct";
    case MAT_C_OBJECT: return "object";
    case MAT_C_CHAR: return "char";
    case MAT_C_SPARSE: return "sparse";
    case MAT_C_DOUBLE: return "double";
    case MAT_C_SINGLE: return "single";
    case MAT_C_INT8: return "int8";
    case MAT_C_UINT8: return "uint8";
    case MAT_C_INT16: return "int16";
    case MAT_C_UINT16: return "uint16";
    case MAT_C_INT32: return "int32";
    case MAT_C_UINT32: return "uint32";
    case MAT_C_INT64: return "int64";
    case MAT_C_UINT64: return "uint64";
    case MAT_C_FUNCTION: return "function";
    case MAT_C_OPAQUE: return "opaque";
    }
    return "unknown";
}

/*
 * MATLAB's numeric classes, which matio numbers contiguously from double to uint64. Char and
 * logical arrays are read into integer storage too, but they hold no numbers.
 */
static bool is_numeric_class(const matvar_t *var)
{
    return var->class_type >= MAT_C_DOUBLE && var->class_type <= MAT_C_UINT64 && !var->isLogical;
}

static bool is_numeric_storage(enum matio_types data_type)
{
    switch (data_type) {
    case MAT_T_DOUBLE:
    case MAT_T_SINGLE:
    case MAT_T_INT8:
    case MAT_T_UINT8:
    case MAT_T_INT16:
    case MAT_T_UINT16:
    case MAT_T_INT32:
    case MAT_T_UINT32:
    case MAT_T_INT64:
    case MAT_T_UINT64: return true;
    default: return false;
    }
}

/* Element i of a real, dense, numeric variable (is_numeric_storage() holds). */
static double element_at(const matvar_t *var, size_t i)
{
    switch (var->data_type) {
    case MAT_T_DOUBLE: return ((const double *)var->data)[i];
    case MAT_T_SINGLE: return ((const float *)var->data)[i];
    case MAT_T_INT8: return ((const int8_t *)var->data)[i];
    case MAT_T_UINT8: return ((const uint8_t *)var->data)[i];
    case MAT_T_INT16: return ((const int16_t *)var->data)[i];
    case MAT_T_UINT16: return ((const uint16_t *)var->data)[i];
    case MAT_T_INT32: return ((const int32_t *)var->data)[i];
    case MAT_T_UINT32: return ((const uint32_t *)var->data)[i];
    case MAT_T_INT64: return (double)((const int64_t *)var->data)[i];
    case MAT_T_UINT64: return (double)((const uint64_t *)var->data)[i];
    default: return NAN;
    }
}

/* "7101 x 23 x 23", for messages. */
static const char *dims_text(const matvar_t *var, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (int d = 0; d < var->rank && used < len; d++) {
        int n = snprintf(buf + used, len - used, d ? " x %zu" : "%zu", var->dims[d]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return buf;
}

/* The product of the dimensions, or SIZE_MAX when it does not fit: a damaged header. */
static size_t element_count(const matvar_t *var)
{
    size_t count = 1;

    for (int d = 0; d < var->rank; d++) {
        if (var->dims[d] && count > SIZE_MAX / var->dims[d])
            return SIZE_MAX;
        count *= var->dims[d];
    }
    return count;
}

/*
 * Refuses what element_at() cannot read: sparse or complex arrays, non-numeric classes, and
 * data shorter than the dimensions claim (a damaged file).
 */
static bool check_real_numeric(const matvar_t *var, const char *path)
{
    if (var->class_type == MAT_C_SPARSE) {
        tg_set_last_error("qm7_load: %s: %s is sparse; it must be a full array", path, var->name);
        return false;
    }
    if (var->isComplex) {
        tg_set_last_error("qm7_load: %s: %s is complex; it must be real", path, var->name);
        return false;
    }
    if (!is_numeric_class(var)) {
        tg_set_last_error("qm7_load: %s: %s has class %s%s; it must be numeric", path, var->name,
                          var->isLogical ? "logical " : "", class_name(var->class_type));
        return false;
    }
    if (!is_numeric_storage(var->data_type)) {
        tg_set_last_error("qm7_load: %s: %s is stored in matio type %d, which is not a number",
                          path, var->name, (int)var->data_type);
        return false;
    }

    size_t stored = var->data ? var->nbytes / Mat_SizeOf(var->data_type) : 0;
    if (stored < element_count(var)) {
        tg_set_last_error("qm7_load: %s: %s holds %zu values, fewer than its dimensions need", path,
                          var->name, stored);
        return false;
    }
    return true;
}

static bool check_floating(const matvar_t *var, const char *path)
{
    if (!check_real_numeric(var, path))
        return false;

    if (var->class_type != MAT_C_SINGLE && var->class_type != MAT_C_DOUBLE) {
        tg_set_last_error("qm7_load: %s: %s has class %s; it must be single or double", path,
                          var->name, class_name(var->class_type));
        return false;
    }
    return true;
}

/* False for NaN, infinities, and doubles too large for a float. */
static bool to_finite_float(double value, float *out)
{
    if (!(fabs(value) <= FLT_MAX))
        return false;
    *out = (float)value;
    return true;
}

static bool check_coulomb_dims(const matvar_t *var, const char *path)
{
    char dims[64];

    if (var->rank != 3 || var->dims[0] == 0 || var->dims[1] != QM7_ATOMS ||
        var->dims[2] != QM7_ATOMS) {
        tg_set_last_error("qm7_load: %s: X must be N x %d x %d with N > 0, not %s", path, QM7_ATOMS,
                          QM7_ATOMS, dims_text(var, dims, sizeof dims));
        return false;
    }
    return true;
}

/* Element (k, i, j) of MATLAB's N x 23 x 23 array sits at k + N * (i + 23 * j). */
static bool convert_coulomb(const matvar_t *var, const char *path, float *X)
{
    size_t n = var->dims[0];

    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < QM7_ATOMS; i++)
            for (size_t j = 0; j < QM7_ATOMS; j++) {
                double value = element_at(var, k + n * (i + QM7_ATOMS * j));
                if (!to_finite_float(value, &X[(k * QM7_ATOMS + i) * QM7_ATOMS + j])) {
                    tg_set_last_error("qm7_load: %s: X(%zu, %zu, %zu) is %g; X must be finite "
                                      "in single precision",
                                      path, k, i, j, value);
                    return false;
                }
            }
    return true;
}

static bool read_coulomb(const matvar_t *var, const char *path, qm7_data *data)
{
    if (!check_floating(var, path) || !check_coulomb_dims(var, path))
        return false;

    size_t n = var->dims[0];
    data->X = malloc(n * MATRIX_SIZE * sizeof *data->X);
    if (!data->X) {
        tg_set_last_error("qm7_load: %s: out of memory for %zu Coulomb matrices", path, n);
        return false;
    }
    data->n = (int64_t)n;

    return convert_coulomb(var, path, data->X);
}

/* A row or a column vector of N values, N being the molecule count that X set. */
static bool read_energies(const matvar_t *var, const char *path, qm7_data *data)
{
    char dims[64];
    size_t n = (size_t)data->n;

    if (!check_floating(var, path))
        return false;

    if (var->rank != 2 ||
        !((var->dims[0] == 1 && var->dims[1] == n) || (var->dims[0] == n && var->dims[1] == 1))) {
        tg_set_last_error("qm7_load: %s: T must be 1 x %zu or %zu x 1 to match X, not %s", path, n,
                          n, dims_text(var, dims, sizeof dims));
        return false;
    }

    data->T = malloc(n * sizeof *data->T);
    if (!data->T) {
        tg_set_last_error("qm7_load: %s: out of memory for %zu energies", path, n);
        return false;
    }

    for (size_t k = 0; k < n; k++) {
        double value = element_at(var, k);
        if (!to_finite_float(value, &data->T[k])) {
            tg_set_last_error("qm7_load: %s: T(%zu) is %g; T must be finite in single precision",
                              path, k, value);
            return false;
        }
    }
    return true;
}

static bool check_fold_dims(const matvar_t *var, const char *path)
{
    char dims[64];

    if (var->rank != 2 || var->dims[0] != QM7_FOLDS || var->dims[1] == 0) {
        tg_set_last_error("qm7_load: %s: P must be %d x F with F > 0, not %s", path, QM7_FOLDS,
                          dims_text(var, dims, sizeof dims));
        return false;
    }
    return true;
}

/* Some copies of the file store the indices as double: any whole number in range will do. */
static bool check_fold_index(double index, size_t f, size_t i, const char *path, int64_t n)
{
    if (index != floor(index)) {
        tg_set_last_error("qm7_load: %s: P(%zu, %zu) is %g, not an integer index", path, f, i,
                          index);
        return false;
    }
    if (index < 0 || index >= (double)n) {
        tg_set_last_error("qm7_load: %s: P(%zu, %zu) = %.0f is out of range [0, %lld)", path, f, i,
                          index, (long long)n);
        return false;
    }
    return true;
}

/* Fold f's i-th index is MATLAB's P(f, i), at f + 5 * i. */
static bool read_folds(const matvar_t *var, const char *path, qm7_data *data)
{
    if (!check_real_numeric(var, path) || !check_fold_dims(var, path))
        return false;

    size_t fold_size = var->dims[1];
    data->P = malloc(QM7_FOLDS * fold_size * sizeof *data->P);
    if (!data->P) {
        tg_set_last_error("qm7_load: %s: out of memory for the folds", path);
        return false;
    }
    data->fold_size = (int64_t)fold_size;

    for (size_t f = 0; f < QM7_FOLDS; f++)
        for (size_t i = 0; i < fold_size; i++) {
            double index = element_at(var, f + QM7_FOLDS * i);
            if (!check_fold_index(index, f, i, path, data->n))
                return false;
            data->P[f * fold_size + i] = (int64_t)index;
        }
    return true;
}

/*
 * A variable's values cannot take more bytes than the file times deflate's best ratio, 1032
 * to 1. A damaged or hostile header can claim far more, and matio allocates what it claims
 * before it reads, so such a variable is refused from its header alone.
 */
static bool check_claimed_size(const matvar_t *info, const char *path, size_t file_bytes)
{
    size_t per_element = Mat_SizeOfClass(info->class_type);
    size_t count = element_count(info);
    size_t limit = file_bytes > SIZE_MAX / MAX_INFLATION ? SIZE_MAX : file_bytes * MAX_INFLATION;

    if (count == SIZE_MAX || (per_element && count > limit / per_element)) {
        char dims[64];
        tg_set_last_error("qm7_load: %s: %s claims %s values of %zu bytes, more than a file of "
                          "%zu bytes can hold (damaged file)",
                          path, info->name, dims_text(info, dims, sizeof dims), per_element,
                          file_bytes);
        return false;
    }
    return true;
}

/* Reading the header first tells a missing variable apart from one that fails to read. */
static bool read_variable(mat_t *mat, const char *path, size_t file_bytes, const char *name,
                          variable_reader reader, qm7_data *data)
{
    matvar_t *info = Mat_VarReadInfo(mat, name);
    if (!info) {
        tg_set_last_error("qm7_load: %s has no variable %s", path, name);
        return false;
    }
    bool plausible = check_claimed_size(info, path, file_bytes);
    Mat_VarFree(info);
    if (!plausible)
        return false;

    matvar_t *var = Mat_VarRead(mat, name);
    if (!var) {
        tg_set_last_error("qm7_load: %s: cannot read variable %s (damaged file or out of memory)",
                          path, name);
        return false;
    }

    bool ok = reader(var, path, data);
    Mat_VarFree(var);
    return ok;
}

typedef enum mat_layout { NOT_MAT, MAT5_LITTLE, MAT5_BIG, MAT73 } mat_layout;

/*
 * matio tells MATLAB 5 and 7.3 files by a 128-byte header that ends in a version and an endian
 * mark, and takes anything else for MATLAB 4, whose header it trusts far enough to allocate a
 * name or a matrix of whatever size the first 20 bytes claim. MATLAB 4 files hold only
 * two-dimensional matrices, never an X of N x 23 x 23, so they are refused before matio sees
 * them. MATLAB 7.3 files are HDF5 files behind the header; matio hands them to libhdf5, which
 * (1.10.8, Debian 12) overruns a heap buffer while decoding a damaged attribute, so they are
 * refused too.
 */
static mat_layout read_layout(FILE *file)
{
    unsigned char h[128];
    if (fread(h, 1, sizeof h, file) != sizeof h)
        return NOT_MAT;

    bool little = h[126] == 'I' && h[127] == 'M';
    if (!little && !(h[126] == 'M' && h[127] == 'I'))
        return NOT_MAT;
    unsigned version = little ? h[124] | (unsigned)h[125] << 8 : (unsigned)h[124] << 8 | h[125];
    if (version == 0x0200)
        return MAT73;
    return version == 0x0100 ? (little ? MAT5_LITTLE : MAT5_BIG) : NOT_MAT;
}

static uint32_t u32_at(const unsigned char *b, bool little)
{
    return little ? b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24
                  : (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

enum { MI_COMPRESSED = 15, INFLATE_CHUNK = 1 << 16 };

/* Refills z's input from the file when it has run dry, with *left compressed bytes to go. */
static bool feed_input(z_stream *z, unsigned char *in, FILE *file, size_t *left)
{
    if (z->avail_in != 0 || *left == 0)
        return true;
    size_t n = *left < INFLATE_CHUNK ? *left : INFLATE_CHUNK;
    if (fread(in, 1, n, file) != n)
        return false;
    *left -= n;
    z->next_in = in;
    z->avail_in = (uInt)n;
    return true;
}

/*
 * Inflates from the file, with *left compressed bytes to go, until `need` bytes came out in
 * all (*total), keeping the first 8 in head; false if the stream ends or breaks first.
 */
static bool inflate_at_least(z_stream *z, unsigned char *in, FILE *file, size_t *left, size_t need,
                             size_t *total, unsigned char head[8])
{
    unsigned char out[INFLATE_CHUNK];
    int status = Z_OK;
    while (status == Z_OK && *total < need) {
        if (!feed_input(z, in, file, left))
            return false;
        z->next_out = out;
        z->avail_out = sizeof out;
        status = inflate(z, Z_NO_FLUSH);

        size_t produced = sizeof out - z->avail_out;
        for (size_t i = 0; i < produced && *total + i < 8; i++)
            head[*total + i] = out[i];
        *total += produced;
    }
    return *total >= need;
}

/*
 * Inflates on to the end of the stream, where zlib compares the checksum of everything that
 * came out, allowing at most `limit` bytes in all (the declared length and its padding); true
 * only when the stream ends there intact. Without this a flipped bit in the data goes unseen.
 */
static bool inflate_reaches_end(z_stream *z, unsigned char *in, FILE *file, size_t *left,
                                size_t limit)
{
    unsigned char out[INFLATE_CHUNK];
    size_t total = 0;
    int status = Z_OK;
    while (status == Z_OK && total <= limit) {
        if (!feed_input(z, in, file, left))
            return false;
        z->next_out = out;
        z->avail_out = sizeof out;
        status = inflate(z, Z_NO_FLUSH);
        total += sizeof out - z->avail_out;
    }
    return status == Z_STREAM_END;
}

/*
 * A compressed element inflates to an inner tag and the bytes that tag declares. matio does
 * not notice a stream that ends early or is damaged, and reads the variable as zeros, so the
 * whole declared length must come out. Inflating stops there, which bounds the work by what
 * matio itself would read.
 */
static bool compressed_element_whole(FILE *file, size_t offset, size_t bytes, bool little)
{
    z_stream z = {0};
    if (fseek(file, (long)offset, SEEK_SET) != 0 || inflateInit(&z) != Z_OK)
        return false;

    /* The input buffer outlives the first call: the second goes on from what it left. */
    unsigned char in[INFLATE_CHUNK], head[8];
    size_t total = 0, left = bytes;
    bool whole =
        inflate_at_least(&z, in, file, &left, 8, &total, head) &&
        inflate_at_least(&z, in, file, &left, 8 + (size_t)u32_at(head + 4, little), &total, head);
    bool checked = whole && inflate_reaches_end(&z, in, file, &left, total + 8);
    inflateEnd(&z);
    return checked;
}

/*
 * A MATLAB 5 file after its header is a sequence of elements, each an 8-byte tag (type, byte
 * count) and its bytes. matio reads a variable that the end of the file cuts short as if it
 * were whole, leaving the missing values uninitialized, so every element must end within the
 * file, and a compressed one must inflate whole, with a valid checksum. Returns the offset of the
 * first that fails, or 0. A tag whose upper 16 bits are set is the packed form, 8 bytes in all;
 * fewer than 8 bytes left over are ignored, as matio ignores them.
 */
static size_t mat5_damaged_element(FILE *file, size_t file_bytes, bool little, const char **why)
{
    size_t at = 128;
    while (file_bytes - at >= 8) {
        unsigned char tag[8];
        *why = "runs past the end of the file";
        if (fseek(file, (long)at, SEEK_SET) != 0 || fread(tag, 1, sizeof tag, file) != sizeof tag)
            return at;
        uint32_t type = u32_at(tag, little), bytes = u32_at(tag + 4, little);
        size_t length = type >> 16 ? 8 : 8 + (size_t)bytes;
        if (length > file_bytes - at)
            return at;
        *why = "does not inflate intact to the length it declares";
        if (type == MI_COMPRESSED && !compressed_element_whole(file, at + 8, bytes, little))
            return at;
        at += length;
    }
    return 0;
}

/* Refuses what matio would misread; fills *file_bytes for check_claimed_size(). */
static bool check_file(const char *path, size_t *file_bytes)
{
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        tg_set_last_error("qm7_load: cannot open %s: %s", path, strerror(errno));
        return false;
    }
    mat_layout layout = read_layout(probe);
    long end = fseek(probe, 0, SEEK_END) == 0 ? ftell(probe) : -1;
    size_t damaged = 0;
    const char *why = "";
    if (end >= 0 && (layout == MAT5_LITTLE || layout == MAT5_BIG))
        damaged = mat5_damaged_element(probe, (size_t)end, layout == MAT5_LITTLE, &why);
    fclose(probe);

    if (end < 0) {
        tg_set_last_error("qm7_load: cannot read %s: %s", path, strerror(errno));
        return false;
    }
    if (layout == NOT_MAT) {
        tg_set_last_error("qm7_load: %s is not a MATLAB 5 file: it has no MAT-file header (MATLAB "
                          "4 files, which have none, cannot hold the three dimensions of X)",
                          path);
        return false;
    }
    if (layout == MAT73) {
        tg_set_last_error("qm7_load: %s is a MATLAB 7.3 (HDF5) file, which qm7_load does not read "
                          "because libhdf5 can overrun memory on a damaged one; save it as "
                          "version 7 (MATLAB: save -v7; Python: scipy.io.savemat)",
                          path);
        return false;
    }
    if (damaged) {
        tg_set_last_error("qm7_load: %s is damaged: the element at byte %zu %s (%ld bytes in all)",
                          path, damaged, why, end);
        return false;
    }
    *file_bytes = (size_t)end;
    return true;
}

/* matio returns NULL for a missing file and for a foreign one alike; fopen tells them apart. */
static mat_t *open_mat_file(const char *path, size_t *file_bytes)
{
    if (!check_file(path, file_bytes))
        return NULL;

    mat_t *mat = Mat_Open(path, MAT_ACC_RDONLY);
    if (!mat)
        tg_set_last_error("qm7_load: %s is not a MATLAB file that matio can read", path);
    return mat;
}

bool qm7_load(const char *path, qm7_data *data)
{
    if (!data) {
        tg_set_last_error("qm7_load: data is NULL");
        return false;
    }
    memset(data, 0, sizeof *data);
    if (!path) {
        tg_set_last_error("qm7_load: path is NULL");
        return false;
    }

    size_t file_bytes = 0;
    mat_t *mat = open_mat_file(path, &file_bytes);
    if (!mat)
        return false;

    /* X comes first: it sets the molecule count that T and P are checked against. */
    bool ok = read_variable(mat, path, file_bytes, "X", read_coulomb, data) &&
              read_variable(mat, path, file_bytes, "T", read_energies, data) &&
              read_variable(mat, path, file_bytes, "P", read_folds, data);
    Mat_Close(mat);

    if (!ok)
        qm7_free(data);
    return ok;
}

void qm7_free(qm7_data *data)
{
    if (!data)
        return;

    free(data->X);
    free(data->T);
    free(data->P);
    memset(data, 0, sizeof *data);
}

int64_t *qm7_training_indices(const qm7_data *data, int test_fold, int64_t *count)
{
    if (!data || !data->P || !count) {
        tg_set_last_error("qm7_training_indices: data, its folds or count is NULL");
        return NULL;
    }
    *count = 0;
    if (test_fold < 0 || test_fold >= QM7_FOLDS) {
        tg_set_last_error("qm7_training_indices: test fold %d is not in [0, %d)", test_fold,
                          QM7_FOLDS);
        return NULL;
    }

    size_t fold_size = (size_t)data->fold_size;
    int64_t *indices = malloc((QM7_FOLDS - 1) * fold_size * sizeof *indices);
    if (!indices) {
        tg_set_last_error("qm7_training_indices: out of memory");
        return NULL;
    }

    size_t used = 0;
    for (int f = 0; f < QM7_FOLDS; f++) {
        if (f == test_fold)
            continue;
        memcpy(indices + used, data->P + f * fold_size, fold_size * sizeof *indices);
        used += fold_size;
    }
    *count = (int64_t)used;
    return indices;
}
