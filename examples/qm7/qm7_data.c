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

#include "qm7_data.h"
#include "tg_tensor.h"

#define MATRIX_SIZE (QM7_ATOMS * QM7_ATOMS)

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

static size_t element_count(const matvar_t *var)
{
    size_t count = 1;

    for (int d = 0; d < var->rank; d++)
        count *= var->dims[d];
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

/* Reading the header first tells a missing variable apart from one that fails to read. */
static bool read_variable(mat_t *mat, const char *path, const char *name, variable_reader reader,
                          qm7_data *data)
{
    matvar_t *info = Mat_VarReadInfo(mat, name);
    if (!info) {
        tg_set_last_error("qm7_load: %s has no variable %s", path, name);
        return false;
    }
    Mat_VarFree(info);

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

/* matio returns NULL for a missing file and for a foreign one alike; fopen tells them apart. */
static mat_t *open_mat_file(const char *path)
{
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        tg_set_last_error("qm7_load: cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    fclose(probe);

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

    mat_t *mat = open_mat_file(path);
    if (!mat)
        return false;

    /* X comes first: it sets the molecule count that T and P are checked against. */
    bool ok = read_variable(mat, path, "X", read_coulomb, data) &&
              read_variable(mat, path, "T", read_energies, data) &&
              read_variable(mat, path, "P", read_folds, data);
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
