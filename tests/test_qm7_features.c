/*
 * test_qm7_features.c: the QM7 input pipeline on hand-made Coulomb matrices.
 *
 * Small molecules occupy the first atoms of a 23 x 23 matrix and leave the rest zero, as in
 * the data set. Upper-triangle value (i, j), j >= i, is at triangle_index(i, j).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "qm7_data.h"
#include "qm7_features.h"
#include "tg_rng.h"
#include "tg_tensor.h"

enum { MATRIX = QM7_ATOMS * QM7_ATOMS, RANDOM_MOLECULES = 30 };

static int triangle_index(int i, int j) { return i * QM7_ATOMS - i * (i - 1) / 2 + (j - i); }

static void set_symmetric(float *coulomb, int i, int j, float value)
{
    coulomb[i * QM7_ATOMS + j] = value;
    coulomb[j * QM7_ATOMS + i] = value;
}

static void assert_near(double actual, double expected, double tolerance)
{
    if (!(fabs(actual - expected) <= tolerance)) {
        print_error("%.9g is not within %g of %.9g\n", actual, tolerance, expected);
        fail();
    }
}

enum { MAX_TEST_FEATURES = 2 * QM7_VALUES + 100 };

/*
 * A pipeline with the given threshold counts, means and deviation, as fitting would leave,
 * including the normalized values of tanh = +-1 that expansion copies far from each value.
 */
static void describe_pipeline(qm7_features *f, double step, const int *count, float *mean,
                              double std)
{
    static float high[MAX_TEST_FEATURES], low[MAX_TEST_FEATURES];
    memset(f, 0, sizeof *f);
    f->step = step;
    f->std = std;
    f->mean = mean;
    f->saturated_high = high;
    f->saturated_low = low;
    for (int i = 0; i < QM7_VALUES; i++) {
        f->count[i] = count[i];
        f->offset[i] = f->nfeatures;
        f->nfeatures += count[i];
    }
    assert_true(f->nfeatures <= MAX_TEST_FEATURES);
    for (int j = 0; j < f->nfeatures; j++) {
        high[j] = (float)((1.0 - mean[j]) / std);
        low[j] = (float)((-1.0 - mean[j]) / std);
    }
}

/*
 * Random molecules of 2 to 23 atoms with charges of H, C, N, O or S in a 10 Bohr box:
 * C_ii = 0.5 Z_i^2.4 and C_ij = Z_i Z_j / |R_i - R_j|.
 */
static void random_molecule(tg_rng *rng, float *coulomb)
{
    static const double charges[] = {1, 6, 7, 8, 16};
    int atoms = 2 + (int)tg_rng_below(rng, QM7_ATOMS - 1);
    double Z[QM7_ATOMS], R[QM7_ATOMS][3];

    for (int a = 0; a < atoms; a++) {
        Z[a] = charges[tg_rng_below(rng, 5)];
        for (int d = 0; d < 3; d++)
            R[a][d] = 10.0 * tg_rng_uniform(rng);
    }

    memset(coulomb, 0, MATRIX * sizeof *coulomb);
    for (int i = 0; i < atoms; i++) {
        coulomb[i * QM7_ATOMS + i] = (float)(0.5 * pow(Z[i], 2.4));
        for (int j = i + 1; j < atoms; j++) {
            double dx = R[i][0] - R[j][0], dy = R[i][1] - R[j][1], dz = R[i][2] - R[j][2];
            set_symmetric(coulomb, i, j, (float)(Z[i] * Z[j] / sqrt(dx * dx + dy * dy + dz * dz)));
        }
    }
}

typedef struct fixture {
    qm7_data data;
    int64_t all[RANDOM_MOLECULES];
    qm7_features f;
} fixture;

static int setup_random_molecules(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx || !(fx->data.X = malloc(RANDOM_MOLECULES * MATRIX * sizeof(float)))) {
        free(fx);
        return -1;
    }

    tg_rng rng;
    tg_rng_seed(&rng, 99);
    fx->data.n = RANDOM_MOLECULES;
    for (int m = 0; m < RANDOM_MOLECULES; m++) {
        random_molecule(&rng, fx->data.X + m * MATRIX);
        fx->all[m] = m;
    }
    *state = fx;
    return 0;
}

static int teardown_random_molecules(void **state)
{
    fixture *fx = *state;

    qm7_features_free(&fx->f);
    free(fx->data.X);
    free(fx);
    return 0;
}

/*
 * Atoms 0, 1, 2 with C = [5 1 2; 1 36 3; 2 3 20] have row norms sqrt(30) = 5.48,
 * sqrt(1306) = 36.14 and sqrt(413) = 20.32, so the order is 1, 2, 0 and the permuted matrix
 * [36 3 1; 3 20 2; 1 2 5] gives rows 36 3 1 0..., 20 2 0..., 5 0... of the triangle.
 */
static void realize_orders_atoms_by_decreasing_row_norm(void **state)
{
    float coulomb[MATRIX] = {0}, values[QM7_VALUES], expected[QM7_VALUES] = {0};
    qm7_features f = {.noise = 0.0};
    tg_rng rng;

    coulomb[0] = 5, coulomb[1 * QM7_ATOMS + 1] = 36, coulomb[2 * QM7_ATOMS + 2] = 20;
    set_symmetric(coulomb, 0, 1, 1);
    set_symmetric(coulomb, 0, 2, 2);
    set_symmetric(coulomb, 1, 2, 3);
    expected[triangle_index(0, 0)] = 36;
    expected[triangle_index(0, 1)] = 3;
    expected[triangle_index(0, 2)] = 1;
    expected[triangle_index(1, 1)] = 20;
    expected[triangle_index(1, 2)] = 2;
    expected[triangle_index(2, 2)] = 5;

    tg_rng_seed(&rng, 1);
    qm7_realize(&f, coulomb, &rng, values);
    assert_memory_equal(values, expected, sizeof expected);
}

/*
 * C = [0 3 4; 3 4 0; 4 0 3] has three rows of norm 5. Kept in atom order the triangle starts
 * 0 3 4 | 4 0 | 3; putting atom 1 first would start it with 4 3 0.
 */
static void realize_keeps_the_lower_atom_first_when_norms_tie(void **state)
{
    float coulomb[MATRIX] = {0}, values[QM7_VALUES];
    qm7_features f = {.noise = 0.0};
    tg_rng rng;

    coulomb[1 * QM7_ATOMS + 1] = 4, coulomb[2 * QM7_ATOMS + 2] = 3;
    set_symmetric(coulomb, 0, 1, 3);
    set_symmetric(coulomb, 0, 2, 4);

    tg_rng_seed(&rng, 1);
    qm7_realize(&f, coulomb, &rng, values);
    assert_float_equal(values[triangle_index(0, 0)], 0, 0);
    assert_float_equal(values[triangle_index(0, 1)], 3, 0);
    assert_float_equal(values[triangle_index(0, 2)], 4, 0);
    assert_float_equal(values[triangle_index(1, 1)], 4, 0);
    assert_float_equal(values[triangle_index(1, 2)], 0, 0);
    assert_float_equal(values[triangle_index(2, 2)], 3, 0);
}

/* The tied molecule above, with noise 1: each of its atoms comes first in some realization. */
static void realize_with_noise_reorders_atoms_of_equal_norm(void **state)
{
    float coulomb[MATRIX] = {0}, values[QM7_VALUES];
    qm7_features f = {.noise = 1.0};
    bool first_seen[3] = {false, false, false};
    tg_rng rng;

    coulomb[1 * QM7_ATOMS + 1] = 4, coulomb[2 * QM7_ATOMS + 2] = 3;
    set_symmetric(coulomb, 0, 1, 3);
    set_symmetric(coulomb, 0, 2, 4);

    tg_rng_seed(&rng, 5);
    for (int r = 0; r < 50; r++) {
        qm7_realize(&f, coulomb, &rng, values);
        int first_diagonal = (int)values[0];
        first_seen[first_diagonal == 0 ? 0 : first_diagonal == 4 ? 1 : 2] = true;
    }
    assert_true(first_seen[0] && first_seen[1] && first_seen[2]);
}

/* Even without noise, so that the stream after a realization never depends on the noise. */
static void realize_draws_one_normal_per_atom_whatever_the_noise(void **state)
{
    float coulomb[MATRIX] = {0}, values[QM7_VALUES];
    const double noises[] = {0.0, 0.5};
    tg_rng rng, replay;

    coulomb[0] = 36.858105f;
    for (int t = 0; t < 2; t++) {
        qm7_features f = {.noise = noises[t]};
        tg_rng_seed(&rng, 42);
        replay = rng;

        qm7_realize(&f, coulomb, &rng, values);
        for (int a = 0; a < QM7_ATOMS; a++)
            tg_rng_normal(&replay, 0.0, 1.0);
        assert_memory_equal(&rng, &replay, sizeof rng);
    }
}

/*
 * Molecule A is one atom with C_00 = 2.5; molecule B has C = [2 0.5; 0.5 1]. Without noise
 * their maxima are 2.5 for value (0, 0), 0.5 for (0, 1), 1 for (1, 1) and 0 elsewhere, so
 * with step 1 the thresholds are 0 1 2 3, 0 1, 0 1 and 0: 4 + 2 + 2 + 273 = 281 features.
 */
static void fit_counts_thresholds_from_0_to_the_training_maximum(void **state)
{
    static float X[2 * MATRIX];
    qm7_data data = {.n = 2, .X = X};
    const int64_t train[] = {0, 1};
    qm7_features f;
    tg_rng rng;

    X[0] = 2.5f;
    X[MATRIX] = 2, X[MATRIX + QM7_ATOMS + 1] = 1;
    set_symmetric(X + MATRIX, 0, 1, 0.5f);

    tg_rng_seed(&rng, 3);
    assert_true(qm7_features_fit(&f, &data, train, 2, 1.0, 0.0, &rng));
    assert_float_equal(f.max[triangle_index(0, 0)], 2.5f, 0);
    assert_int_equal(f.count[triangle_index(0, 0)], 4);
    assert_int_equal(f.count[triangle_index(0, 1)], 2);
    assert_int_equal(f.count[triangle_index(1, 1)], 2);
    assert_int_equal(f.count[triangle_index(0, 2)], 1);
    assert_int_equal(f.offset[triangle_index(0, 1)], 4);
    assert_int_equal(f.offset[triangle_index(0, 2)], 6);
    assert_int_equal(f.offset[triangle_index(1, 1)], 27);
    assert_int_equal(f.offset[triangle_index(1, 2)], 29);
    assert_int_equal(f.nfeatures, 281);
    qm7_features_free(&f);
}

/*
 * Same two molecules. Feature 0 is tanh(v - 0) for value (0, 0): mean of tanh 2.5 and tanh 2
 * is 0.975321; feature 3, tanh(v - 3), averages to -0.611856; a value that is 0 in both
 * molecules gives tanh 0 = 0. The population deviation of all 2 x 281 centred features is
 * 0.0398802.
 */
static void fit_takes_feature_means_and_one_global_deviation(void **state)
{
    static float X[2 * MATRIX];
    qm7_data data = {.n = 2, .X = X};
    const int64_t train[] = {0, 1};
    qm7_features f;
    tg_rng rng;

    X[0] = 2.5f;
    X[MATRIX] = 2, X[MATRIX + QM7_ATOMS + 1] = 1;
    set_symmetric(X + MATRIX, 0, 1, 0.5f);

    tg_rng_seed(&rng, 3);
    assert_true(qm7_features_fit(&f, &data, train, 2, 1.0, 0.0, &rng));
    assert_near(f.mean[0], 0.97532094, 1e-6);
    assert_near(f.mean[3], -0.61185566, 1e-6);
    assert_near(f.mean[6], 0.0, 0.0);
    assert_near(f.std, 0.03988023368, 1e-8);
    qm7_features_free(&f);
}

/*
 * Step 0.5, value 1.3 with thresholds 0 0.5 1 1.5, means 0.5 0.25 0 -0.5 and deviation 2:
 * (tanh 2.6 - 0.5) / 2 = 0.244514, (tanh 1.6 - 0.25) / 2 = 0.335834,
 * (tanh 0.6 - 0) / 2 = 0.268525, (tanh -0.4 + 0.5) / 2 = 0.060026;
 * value 0.2 with the single threshold 0 and mean 0: tanh 0.4 / 2 = 0.189974.
 */
static void expand_takes_tanh_of_the_distance_to_each_threshold_then_normalizes(void **state)
{
    int count[QM7_VALUES];
    static float mean[MAX_TEST_FEATURES] = {0.5f, 0.25f, 0.0f, -0.5f};
    float values[QM7_VALUES] = {1.3f, 0.2f}, features[QM7_VALUES + 3];
    qm7_features f;

    for (int i = 0; i < QM7_VALUES; i++)
        count[i] = 1;
    count[0] = 4;
    describe_pipeline(&f, 0.5, count, mean, 2.0);
    assert_int_equal(f.nfeatures, QM7_VALUES + 3);

    qm7_expand(&f, values, features);
    assert_near(features[0], 0.2445137011, 1e-7);
    assert_near(features[1], 0.3358342772, 1e-7);
    assert_near(features[2], 0.2685247835, 1e-7);
    assert_near(features[3], 0.0600255189, 1e-7);
    assert_near(features[4], 0.1899744811, 1e-7);
    assert_near(features[5], 0.0, 0.0);
}

/*
 * Value 30 with 61 thresholds 0..60 and step 1: features are tanh(30 - k), which is +1 to
 * double precision up to k = 10 and -1 from k = 50, and in between follows tanh closely.
 */
static void expand_matches_tanh_across_and_beyond_the_band_around_a_value(void **state)
{
    int count[QM7_VALUES];
    static float mean[MAX_TEST_FEATURES];
    float values[QM7_VALUES] = {30.0f}, features[MAX_TEST_FEATURES];
    qm7_features f;

    for (int i = 0; i < QM7_VALUES; i++)
        count[i] = 1;
    count[0] = 61;
    describe_pipeline(&f, 1.0, count, mean, 1.0);

    qm7_expand(&f, values, features);
    for (int k = 0; k < 61; k++)
        assert_near(features[k], (float)tanh(30.0 - k), 1e-7);
    assert_near(features[0], 1.0, 0.0);
    assert_near(features[60], -1.0, 0.0);
}

/*
 * Fitting draws 10 realizations of the training set for the maxima and then the one it
 * normalizes; replaying that stream reproduces the last one, whose expanded features must
 * have mean 0 in every column and deviation 1 overall.
 */
static void fitted_features_have_zero_mean_and_unit_deviation_in_training(void **state)
{
    fixture *fx = *state;
    float values[QM7_VALUES];
    tg_rng rng;

    tg_rng_seed(&rng, 2012);
    assert_true(qm7_features_fit(&fx->f, &fx->data, fx->all, RANDOM_MOLECULES, 1.0, 1.0, &rng));
    int nf = fx->f.nfeatures;
    float *features = malloc((size_t)RANDOM_MOLECULES * nf * sizeof *features);
    assert_non_null(features);

    tg_rng_seed(&rng, 2012);
    for (int m = 0; m < 10 * RANDOM_MOLECULES; m++)
        qm7_realize(&fx->f, fx->data.X + (m % RANDOM_MOLECULES) * MATRIX, &rng, values);
    qm7_features_make(&fx->f, &fx->data, fx->all, RANDOM_MOLECULES, &rng, features);

    double squares = 0.0, worst_mean = 0.0;
    for (int j = 0; j < nf; j++) {
        double sum = 0.0;
        for (int m = 0; m < RANDOM_MOLECULES; m++) {
            sum += features[m * nf + j];
            squares += (double)features[m * nf + j] * features[m * nf + j];
        }
        worst_mean = fmax(worst_mean, fabs(sum / RANDOM_MOLECULES));
    }
    free(features);
    assert_near(worst_mean, 0.0, 1e-5);
    assert_near(sqrt(squares / ((double)RANDOM_MOLECULES * nf)), 1.0, 1e-5);
}

static void same_seed_gives_bit_identical_fit_and_features(void **state)
{
    fixture *fx = *state;
    qm7_features again;
    tg_rng rng;

    tg_rng_seed(&rng, 7);
    assert_true(qm7_features_fit(&fx->f, &fx->data, fx->all, RANDOM_MOLECULES, 1.0, 1.0, &rng));
    tg_rng_seed(&rng, 7);
    assert_true(qm7_features_fit(&again, &fx->data, fx->all, RANDOM_MOLECULES, 1.0, 1.0, &rng));
    size_t row_bytes = (size_t)fx->f.nfeatures * sizeof(float);
    assert_int_equal(again.nfeatures, fx->f.nfeatures);
    assert_memory_equal(again.count, fx->f.count, sizeof again.count);
    assert_memory_equal(again.mean, fx->f.mean, row_bytes);
    assert_true(again.std == fx->f.std);
    qm7_features_free(&again);

    float *first = malloc(RANDOM_MOLECULES * row_bytes);
    float *second = malloc(RANDOM_MOLECULES * row_bytes);
    assert_true(first && second);
    tg_rng_seed(&rng, 8);
    qm7_features_make(&fx->f, &fx->data, fx->all, RANDOM_MOLECULES, &rng, first);
    tg_rng_seed(&rng, 8);
    qm7_features_make(&fx->f, &fx->data, fx->all, RANDOM_MOLECULES, &rng, second);
    int same = memcmp(first, second, RANDOM_MOLECULES * row_bytes);
    free(first);
    free(second);
    assert_int_equal(same, 0);
}

/* Molecules 4 and 17 made together equal realize then expand, one after the other. */
static void make_realizes_then_expands_each_molecule_in_turn(void **state)
{
    fixture *fx = *state;
    const int64_t idx[] = {4, 17};
    float values[QM7_VALUES];
    tg_rng rng;

    tg_rng_seed(&rng, 11);
    assert_true(qm7_features_fit(&fx->f, &fx->data, fx->all, RANDOM_MOLECULES, 1.0, 1.0, &rng));
    size_t nf = (size_t)fx->f.nfeatures;
    float *made = malloc(2 * nf * sizeof *made);
    float *by_hand = malloc(2 * nf * sizeof *by_hand);
    assert_true(made && by_hand);

    tg_rng_seed(&rng, 12);
    qm7_features_make(&fx->f, &fx->data, idx, 2, &rng, made);
    tg_rng_seed(&rng, 12);
    for (int m = 0; m < 2; m++) {
        qm7_realize(&fx->f, fx->data.X + idx[m] * MATRIX, &rng, values);
        qm7_expand(&fx->f, values, by_hand + m * nf);
    }
    int same = memcmp(made, by_hand, 2 * nf * sizeof *made);
    free(made);
    free(by_hand);
    assert_int_equal(same, 0);
}

static void assert_fit_refused(const fixture *fx, const int64_t *train, int64_t n, double step,
                               double noise, const char *problem)
{
    qm7_features f;
    tg_rng rng;

    tg_rng_seed(&rng, 1);
    memset(&f, 0xff, sizeof f);
    assert_false(qm7_features_fit(&f, &fx->data, train, n, step, noise, &rng));
    const char *message = tg_last_error();
    if (!message || !strstr(message, problem)) {
        print_error("error message \"%s\" does not mention \"%s\"\n", message ? message : "(none)",
                    problem);
        fail();
    }
    assert_null(f.mean);
    assert_int_equal(f.nfeatures, 0);
}

static void fit_refuses_bad_arguments(void **state)
{
    fixture *fx = *state;
    const int64_t outside[] = {0, RANDOM_MOLECULES};

    assert_fit_refused(fx, fx->all, 0, 1.0, 1.0, "at least one molecule");
    assert_fit_refused(fx, fx->all, RANDOM_MOLECULES, 0.0, 1.0, "step 0 must be positive");
    assert_fit_refused(fx, fx->all, RANDOM_MOLECULES, 1.0, -1.0, "noise -1 must be non-negative");
    assert_fit_refused(fx, fx->all, RANDOM_MOLECULES, NAN, 1.0, "must be positive");
    assert_fit_refused(fx, outside, 2, 1.0, 1.0, "train[1] = 30 is not a molecule");
}

/* A single molecule is its own mean, so every centred feature is 0: nothing to scale. */
static void fit_refuses_training_features_that_do_not_vary(void **state)
{
    fixture *fx = *state;
    assert_fit_refused(fx, fx->all, 1, 1.0, 0.0, "do not vary");
}

#define TEST(name) cmocka_unit_test(name)
#define TEST_ON_RANDOM_MOLECULES(name)                                                             \
    cmocka_unit_test_setup_teardown(name, setup_random_molecules, teardown_random_molecules)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(realize_orders_atoms_by_decreasing_row_norm),
        TEST(realize_keeps_the_lower_atom_first_when_norms_tie),
        TEST(realize_with_noise_reorders_atoms_of_equal_norm),
        TEST(realize_draws_one_normal_per_atom_whatever_the_noise),
        TEST(fit_counts_thresholds_from_0_to_the_training_maximum),
        TEST(fit_takes_feature_means_and_one_global_deviation),
        TEST(expand_takes_tanh_of_the_distance_to_each_threshold_then_normalizes),
        TEST(expand_matches_tanh_across_and_beyond_the_band_around_a_value),
        TEST_ON_RANDOM_MOLECULES(fitted_features_have_zero_mean_and_unit_deviation_in_training),
        TEST_ON_RANDOM_MOLECULES(same_seed_gives_bit_identical_fit_and_features),
        TEST_ON_RANDOM_MOLECULES(make_realizes_then_expands_each_molecule_in_turn),
        TEST_ON_RANDOM_MOLECULES(fit_refuses_bad_arguments),
        TEST_ON_RANDOM_MOLECULES(fit_refuses_training_features_that_do_not_vary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
