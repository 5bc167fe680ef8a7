/*
 * qm7_features.h: the input pipeline of Montavon et al.'s QM7 network.
 *
 * For each molecule:
 *  1. realize: order the atoms by decreasing row norm of the Coulomb matrix after adding
 *     Gaussian noise (std `noise`) to each norm, permute rows and columns accordingly, and keep
 *     the upper triangle with the diagonal, row by row: 23 * 24 / 2 = 276 values;
 *  2. expand: value v_i becomes the features tanh((v_i - k) / s) for the thresholds
 *     k = 0, s, 2s, ..., (count_i - 1) s, where count_i = ceil(max_i / s + 1) and max_i is the
 *     largest value v_i took over 10 realizations of the training set;
 *  3. normalize: subtract each feature's training mean and divide by one global standard
 *     deviation of the centred training features.
 * Fitting (the maxima, means and deviation) uses only training molecules.
 */
#ifndef QM7_FEATURES_H
#define QM7_FEATURES_H

#include <stdbool.h>
#include <stdint.h>

#include "qm7_data.h"
#include "tg_rng.h"

#define QM7_VALUES (QM7_ATOMS * (QM7_ATOMS + 1) / 2)

typedef struct qm7_features {
    double step;  /* s, the threshold spacing */
    double noise; /* std of the noise added to row norms before sorting */
    float max[QM7_VALUES];
    int count[QM7_VALUES];  /* thresholds for each value */
    int offset[QM7_VALUES]; /* index of each value's first feature */
    int nfeatures;
    float *mean; /* nfeatures */
    double std;
    float *saturated_high, *saturated_low; /* normalized tanh = +1 and -1, nfeatures each */
} qm7_features;

/*
 * Fits the pipeline on the molecules `train[0..n)` of `data`, drawing realizations from rng.
 * Returns false (with tg_last_error()) on bad arguments or out of memory.
 */
bool qm7_features_fit(qm7_features *f, const qm7_data *data, const int64_t *train, int64_t n,
                      double step, double noise, tg_rng *rng);

void qm7_features_free(qm7_features *f);

/* Step 1 for one 23 x 23 Coulomb matrix, into out[QM7_VALUES]. */
void qm7_realize(const qm7_features *f, const float *coulomb, tg_rng *rng, float *out);

/* Steps 2 and 3 for one realization, into out[nfeatures]. */
void qm7_expand(const qm7_features *f, const float *values, float *out);

/* All three steps for molecules idx[0..n), into out[n * nfeatures] row by row. */
void qm7_features_make(const qm7_features *f, const qm7_data *data, const int64_t *idx,
                       int64_t n, tg_rng *rng, float *out);

#endif
