/*
 * qm7_features.c: the QM7 input pipeline (see qm7_features.h for the math).
 *
 * It follows the numpy reference (bench/qm7_numpy_reference.py, class Input) step for step:
 * the same sort key, the same threshold count as numpy's len(arange(0, max + s, s)), tanh
 * computed in double as numpy does on its float64 thresholds, and features rounded to float
 * once, at the end.
 *
 * Random draws are part of the interface, so that a seed reproduces a run: every realization
 * draws exactly 23 normals, one per atom in atom order, whatever the noise; fitting draws 10
 * realizations of the training set for the maxima and then one more for the normalization,
 * each pass taking the molecules in the order given.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qm7_features.h"
#include "tg_tensor.h"

#define MATRIX_SIZE (QM7_ATOMS * QM7_ATOMS)
#define EXP_MINUS_2 0.1353352832366126918939994949724844 /* e^-2 */
#define MAXIMA_REALIZATIONS 10

static void noisy_row_norms(const float *coulomb, double noise, tg_rng *rng, double *key)
{
    for (int i = 0; i < QM7_ATOMS; i++) {
        double squares = 0.0;
        for (int j = 0; j < QM7_ATOMS; j++) {
            double c = coulomb[i * QM7_ATOMS + j];
            squares += c * c;
        }
        key[i] = sqrt(squares) + tg_rng_normal(rng, 0.0, noise);
    }
}

/* Insertion sort: stable, so equal keys keep the lower atom first; 23 atoms need no better. */
static void order_by_decreasing_key(const double *key, int *order)
{
    for (int i = 0; i < QM7_ATOMS; i++) {
        int atom = i;
        int slot = i;
        while (slot > 0 && key[order[slot - 1]] < key[atom]) {
            order[slot] = order[slot - 1];
            slot--;
        }
        order[slot] = atom;
    }
}

static void permuted_upper_triangle(const float *coulomb, const int *order, float *out)
{
    int v = 0;
    for (int i = 0; i < QM7_ATOMS; i++)
        for (int j = i; j < QM7_ATOMS; j++)
            out[v++] = coulomb[order[i] * QM7_ATOMS + order[j]];
}

void qm7_realize(const qm7_features *f, const float *coulomb, tg_rng *rng, float *out)
{
    double key[QM7_ATOMS];
    int order[QM7_ATOMS];

    noisy_row_norms(coulomb, f->noise, rng, key);
    order_by_decreasing_key(key, order);
    permuted_upper_triangle(coulomb, order, out);
}

/*
 * Beyond |u| = 20, tanh(u) is +-1 to double precision, so features that far from their value
 * are the constant rows f->saturated_high and f->saturated_low, copied rather than computed.
 */
enum { SATURATION = 20 };

/*
 * The features of one value, tanh(u - k) for u = v / s and k = 0 .. count - 1. Inside the
 * band they come from tanh(x) = (E - 1) / (E + 1) with E = exp(2x): each step of k divides E
 * by e^2, so the row costs one exp and one multiply per feature instead of a tanh each. The
 * products drift by about k ulps of E, far below the float the feature is rounded to.
 */
static void expand_value(const qm7_features *f, int i, double u, float *out)
{
    int count = f->count[i], offset = f->offset[i];
    int first = (int)fmax(0.0, fmin(count, ceil(u - SATURATION)));
    int last = (int)fmax(first, fmin(count, floor(u + SATURATION) + 1));
    const float *mean = f->mean + offset;
    double inv_std = 1.0 / f->std;

    memcpy(out, f->saturated_high + offset, (size_t)first * sizeof *out);
    double e = exp(2.0 * (u - first));
    for (int k = first; k < last; k++, e *= EXP_MINUS_2)
        out[k] = (float)(((e - 1.0) / (e + 1.0) - mean[k]) * inv_std);
    memcpy(out + last, f->saturated_low + offset + last, (size_t)(count - last) * sizeof *out);
}

void qm7_expand(const qm7_features *f, const float *values, float *out)
{
    for (int i = 0; i < QM7_VALUES; i++)
        expand_value(f, i, values[i] / f->step, out + f->offset[i]);
}

void qm7_features_make(const qm7_features *f, const qm7_data *data, const int64_t *idx, int64_t n,
                       tg_rng *rng, float *out)
{
    float values[QM7_VALUES];

    for (int64_t m = 0; m < n; m++) {
        qm7_realize(f, data->X + idx[m] * MATRIX_SIZE, rng, values);
        qm7_expand(f, values, out + m * f->nfeatures);
    }
}

static void realize_all(const qm7_features *f, const qm7_data *data, const int64_t *train,
                        int64_t n, tg_rng *rng, float *values)
{
    for (int64_t m = 0; m < n; m++)
        qm7_realize(f, data->X + train[m] * MATRIX_SIZE, rng, values + m * QM7_VALUES);
}

/* The maxima start at 0, as in the reference, so every value gets at least one threshold. */
static void fit_maxima(qm7_features *f, const qm7_data *data, const int64_t *train, int64_t n,
                       tg_rng *rng, float *values)
{
    for (int r = 0; r < MAXIMA_REALIZATIONS; r++) {
        realize_all(f, data, train, n, rng, values);
        for (int64_t m = 0; m < n; m++)
            for (int i = 0; i < QM7_VALUES; i++)
                f->max[i] = fmaxf(f->max[i], values[m * QM7_VALUES + i]);
    }
}

/* count_i = len(arange(0, max_i + s, s)) = ceil((max_i + s) / s). */
static bool fit_thresholds(qm7_features *f)
{
    int total = 0;

    for (int i = 0; i < QM7_VALUES; i++) {
        double count = ceil(((double)f->max[i] + f->step) / f->step);
        if (!(count <= INT_MAX - total)) {
            tg_set_last_error("qm7_features_fit: step %g makes more than %d features", f->step,
                              INT_MAX);
            return false;
        }
        f->count[i] = (int)count;
        f->offset[i] = total;
        total += f->count[i];
    }
    f->nfeatures = total;
    return true;
}

/*
 * The fitting passes run while f->mean is all zeros and f->std is 1, so qm7_expand() gives
 * the raw features; means and deviation are kept in double until both are known.
 */
static void average_features(const qm7_features *f, const float *values, int64_t n, float *row,
                             double *mean)
{
    for (int64_t m = 0; m < n; m++) {
        qm7_expand(f, values + m * QM7_VALUES, row);
        for (int j = 0; j < f->nfeatures; j++)
            mean[j] += row[j];
    }

    for (int j = 0; j < f->nfeatures; j++)
        mean[j] /= (double)n;
}

static double spread_of_features(const qm7_features *f, const float *values, int64_t n, float *row,
                                 const double *mean)
{
    double squares = 0.0;

    for (int64_t m = 0; m < n; m++) {
        qm7_expand(f, values + m * QM7_VALUES, row);
        for (int j = 0; j < f->nfeatures; j++)
            squares += (row[j] - mean[j]) * (row[j] - mean[j]);
    }
    return sqrt(squares / ((double)n * f->nfeatures));
}

/* The normalized values of tanh = +1 and tanh = -1, for the features expand copies. */
static void set_saturated(qm7_features *f)
{
    for (int j = 0; j < f->nfeatures; j++) {
        f->saturated_high[j] = (float)((1.0 - f->mean[j]) / f->std);
        f->saturated_low[j] = (float)((-1.0 - f->mean[j]) / f->std);
    }
}

/* Zero spread would turn every feature into a division by zero; refusing it is clearer. */
static bool store_normalization(qm7_features *f, const double *mean, double std)
{
    if (!(std > 0.0)) {
        tg_set_last_error("qm7_features_fit: the training features do not vary, so they cannot "
                          "be scaled to unit deviation");
        return false;
    }

    for (int j = 0; j < f->nfeatures; j++)
        f->mean[j] = (float)mean[j];
    f->std = std;
    set_saturated(f);
    return true;
}

static bool fit_normalization(qm7_features *f, const qm7_data *data, const int64_t *train,
                              int64_t n, tg_rng *rng, float *values)
{
    f->mean = calloc((size_t)f->nfeatures, sizeof *f->mean);
    f->saturated_high = malloc((size_t)f->nfeatures * sizeof *f->saturated_high);
    f->saturated_low = malloc((size_t)f->nfeatures * sizeof *f->saturated_low);
    f->std = 1.0;
    float *row = malloc((size_t)f->nfeatures * sizeof *row);
    double *mean = calloc((size_t)f->nfeatures, sizeof *mean);

    bool ok = f->mean && f->saturated_high && f->saturated_low && row && mean;
    if (ok) {
        set_saturated(f);
        realize_all(f, data, train, n, rng, values);
        average_features(f, values, n, row, mean);
        ok = store_normalization(f, mean, spread_of_features(f, values, n, row, mean));
    } else {
        tg_set_last_error("qm7_features_fit: out of memory for %d features", f->nfeatures);
    }

    free(row);
    free(mean);
    return ok;
}

static bool check_fit_arguments(const qm7_data *data, const int64_t *train, int64_t n, double step,
                                double noise, const tg_rng *rng)
{
    if (!data || !data->X || !train || !rng || n <= 0) {
        tg_set_last_error("qm7_features_fit: needs data, an rng and at least one molecule");
        return false;
    }
    if (!(step > 0.0 && isfinite(step)) || !(noise >= 0.0 && isfinite(noise))) {
        tg_set_last_error("qm7_features_fit: step %g must be positive and noise %g must be "
                          "non-negative, both finite",
                          step, noise);
        return false;
    }

    for (int64_t m = 0; m < n; m++)
        if (train[m] < 0 || train[m] >= data->n) {
            tg_set_last_error("qm7_features_fit: train[%lld] = %lld is not a molecule of the "
                              "data (0 to %lld)",
                              (long long)m, (long long)train[m], (long long)data->n - 1);
            return false;
        }
    return true;
}

bool qm7_features_fit(qm7_features *f, const qm7_data *data, const int64_t *train, int64_t n,
                      double step, double noise, tg_rng *rng)
{
    if (!f) {
        tg_set_last_error("qm7_features_fit: f is NULL");
        return false;
    }
    memset(f, 0, sizeof *f);
    if (!check_fit_arguments(data, train, n, step, noise, rng))
        return false;
    f->step = step;
    f->noise = noise;

    /* One buffer of realizations serves every pass, so normalization sees a single one. */
    float *values = malloc((size_t)n * QM7_VALUES * sizeof *values);
    if (!values) {
        tg_set_last_error("qm7_features_fit: out of memory for %lld molecules", (long long)n);
        return false;
    }

    fit_maxima(f, data, train, n, rng, values);
    bool ok = fit_thresholds(f) && fit_normalization(f, data, train, n, rng, values);
    free(values);

    if (!ok)
        qm7_features_free(f);
    return ok;
}

void qm7_features_free(qm7_features *f)
{
    if (!f)
        return;

    free(f->mean);
    free(f->saturated_high);
    free(f->saturated_low);
    memset(f, 0, sizeof *f);
}
