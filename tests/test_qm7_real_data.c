/*
 * test_qm7_real_data.c: the loader and input pipeline on the real qm7.mat, whose path comes
 * from the environment variable TG_QM7_PATH. Without it the program reports itself skipped
 * (exit code 77).
 *
 * The check values are those of the data's README for the 7,101-molecule copy. A file of
 * another size, such as the published one with 7,165 molecules, is checked only for what
 * holds in every copy: symmetric matrices, the sulphur diagonal as largest entry, indices in
 * range, and about 2,095 features on folds 1-4.
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
#include <time.h>

#include <cmocka.h>

#include "qm7_data.h"
#include "qm7_features.h"
#include "tg_rng.h"
#include "tg_tensor.h"

enum { SKIPPED = 77, README_MOLECULES = 7101, MATRIX = QM7_ATOMS * QM7_ATOMS };

static const char *qm7_path;

static float coulomb(const qm7_data *data, int64_t k, int i, int j)
{
    return data->X[(k * QM7_ATOMS + i) * QM7_ATOMS + j];
}

static void assert_near(double actual, double expected, double tolerance)
{
    if (!(fabs(actual - expected) <= tolerance)) {
        print_error("%.9g is not within %g of %.9g\n", actual, tolerance, expected);
        fail();
    }
}

static int load_data(void **state)
{
    qm7_data *data = calloc(1, sizeof *data);
    if (!data)
        return -1;
    if (!qm7_load(qm7_path, data)) {
        fprintf(stderr, "%s\n", tg_last_error());
        free(data);
        return -1;
    }
    *state = data;
    return 0;
}

static int free_data(void **state)
{
    qm7_free(*state);
    free(*state);
    return 0;
}

static void skip_unless_readme_copy(const qm7_data *data)
{
    if (data->n != README_MOLECULES) {
        print_message("%lld molecules: not the README's copy, layout checks skipped\n",
                      (long long)data->n);
        skip();
    }
}

/* The README prints single-precision values in their shortest exact form. */
static void energies_match_the_readme(void **state)
{
    const qm7_data *data = *state;
    skip_unless_readme_copy(data);

    assert_true(data->T[0] == -417.031f);
    assert_true(data->T[1] == -711.117f);
    assert_true(data->T[7100] == -1320.97f);
}

/* Mean and population deviation in double, to the README's three decimals. */
static void energy_statistics_match_the_readme(void **state)
{
    const qm7_data *data = *state;
    double sum = 0.0, squares = 0.0, low = INFINITY, high = -INFINITY;
    skip_unless_readme_copy(data);

    for (int64_t k = 0; k < data->n; k++) {
        sum += data->T[k];
        low = fmin(low, data->T[k]);
        high = fmax(high, data->T[k]);
    }
    double mean = sum / (double)data->n;
    for (int64_t k = 0; k < data->n; k++)
        squares += (data->T[k] - mean) * (data->T[k] - mean);

    assert_near(mean, -1536.326, 0.0005);
    assert_near(sqrt(squares / (double)data->n), 223.168, 0.0005);
    assert_near(low, -2188.25, 0.005);
    assert_near(high, -403.695, 0.0005);
}

/* Methane's carbon row, then the first two rows of molecule 1. */
static void coulomb_matrices_match_the_readme(void **state)
{
    const qm7_data *data = *state;
    const float methane_row_0[] = {36.858105f, 2.9150095f, 2.9150097f, 2.915007f, 2.9150097f, 0};
    const float molecule_1_row_0[] = {36.858105f, 12.543278f, 2.905799f, 2.9057736f};
    const float molecule_1_row_1[] = {12.543278f, 36.858105f, 1.4627476f, 1.462748f};
    skip_unless_readme_copy(data);

    for (int j = 0; j < 6; j++)
        assert_true(coulomb(data, 0, 0, j) == methane_row_0[j]);
    for (int j = 0; j < 4; j++) {
        assert_true(coulomb(data, 1, 0, j) == molecule_1_row_0[j]);
        assert_true(coulomb(data, 1, 1, j) == molecule_1_row_1[j]);
    }
}

static void folds_match_the_readme(void **state)
{
    const qm7_data *data = *state;
    const int64_t fold_0_start[] = {5973, 1842, 713, 1829, 4159};
    const int64_t fold_4_start[] = {3805, 3054, 7083, 6055, 925};
    skip_unless_readme_copy(data);

    assert_int_equal(data->fold_size, 1420);
    assert_memory_equal(data->P, fold_0_start, sizeof fold_0_start);
    assert_memory_equal(data->P + 4 * data->fold_size, fold_4_start, sizeof fold_4_start);
}

static void coulomb_matrices_are_symmetric(void **state)
{
    const qm7_data *data = *state;

    for (int64_t k = 0; k < data->n; k++)
        for (int i = 0; i < QM7_ATOMS; i++)
            for (int j = i + 1; j < QM7_ATOMS; j++)
                if (coulomb(data, k, i, j) != coulomb(data, k, j, i))
                    fail_msg("molecule %lld: C(%d, %d) != C(%d, %d)", (long long)k, i, j, j, i);
}

/* 0.5 * 16^2.4, a sulphur atom's diagonal entry. */
static void largest_coulomb_entry_is_the_sulphur_diagonal(void **state)
{
    const qm7_data *data = *state;
    float largest = 0.0f;

    for (int64_t e = 0; e < data->n * MATRIX; e++)
        largest = fmaxf(largest, data->X[e]);
    assert_true(largest == 388.02344f);
}

static void fold_indices_name_molecules_of_the_file(void **state)
{
    const qm7_data *data = *state;

    for (int64_t e = 0; e < QM7_FOLDS * data->fold_size; e++)
        assert_in_range(data->P[e], 0, data->n - 1);
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + 1e-9 * (double)(now.tv_nsec - start->tv_nsec);
}

/* The paper's pipeline (step 1, noise 1) fitted on folds 1-4, fold 0 held out for testing. */
static void fit_on_folds_1_to_4_gives_about_2095_features(void **state)
{
    const qm7_data *data = *state;
    qm7_features f;
    int64_t count;
    tg_rng rng;
    struct timespec start;

    int64_t *train = qm7_training_indices(data, 0, &count);
    assert_non_null(train);
    tg_rng_seed(&rng, 1234);
    clock_gettime(CLOCK_MONOTONIC, &start);
    bool fitted = qm7_features_fit(&f, data, train, count, 1.0, 1.0, &rng);
    double seconds = seconds_since(&start);
    free(train);
    assert_true(fitted);

    print_message("fit on %lld molecules (seed 1234): %d features, std %.6f, in %.2f s\n",
                  (long long)count, f.nfeatures, f.std, seconds);
    int nfeatures = f.nfeatures;
    qm7_features_free(&f);
    assert_in_range(nfeatures, 2000, 2200);
}

static bool readable(const char *path)
{
    FILE *file = path && path[0] ? fopen(path, "rb") : NULL;
    if (!file)
        return false;
    fclose(file);
    return true;
}

int main(void)
{
    qm7_path = getenv("TG_QM7_PATH");
    if (!readable(qm7_path)) {
        printf("skipped: set TG_QM7_PATH to qm7.mat\n");
        return SKIPPED;
    }

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(energies_match_the_readme),
        cmocka_unit_test(energy_statistics_match_the_readme),
        cmocka_unit_test(coulomb_matrices_match_the_readme),
        cmocka_unit_test(folds_match_the_readme),
        cmocka_unit_test(coulomb_matrices_are_symmetric),
        cmocka_unit_test(largest_coulomb_entry_is_the_sulphur_diagonal),
        cmocka_unit_test(fold_indices_name_molecules_of_the_file),
        cmocka_unit_test(fit_on_folds_1_to_4_gives_about_2095_features),
    };
    return cmocka_run_group_tests(tests, load_data, free_data);
}
