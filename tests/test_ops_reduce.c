/*
 * test_ops_reduce.c: mean, max, min and logsumexp, over every element and along one axis.
 * Forward values on hand-worked numbers in both dtypes; which element a tie sends the max or
 * min gradient to; logsumexp far from 0; what each reduction gives over zero elements; the
 * backward against central differences for every axis; and the errors.
 */
#include "tg_ops.h"
#include "tg_test.h"

static const double ln2 = 0.69314718055994530942;
static const double ln3 = 1.09861228866810969140;

/* The matrix used below: M = [[1, 5, -2], [4, 0, 3]]. */
static tg_tensor *matrix_m(fixture *fx, tg_dtype dt)
{
    return tensor(fx, dt, 2, SHAPE(2, 3), VALUES(1, 5, -2, 4, 0, 3));
}

static void backward_of_sum(fixture *fx, tg_tensor *y)
{
    assert_true(tg_backward(fx->tape, tg_sum(fx->tape, y), NULL));
}

/* ---- mean --------------------------------------------------------------------------------- */

static void mean_divides_the_sum_by_the_number_of_elements_reduced(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *m = tensor(fx, dt, 2, SHAPE(2, 3), VALUES(1, 2, 3, 4, 5, 6));

        tg_tensor *all = tg_mean(fx->tape, m);
        tg_tensor *cols = tg_mean_axis(fx->tape, m, 0, false);
        tg_tensor *rows = tg_mean_axis(fx->tape, m, -1, true);

        assert_scalar(all);
        assert_values(all, 0, 3.5);
        assert_shape(cols, 3);
        assert_values(cols, 0, 2.5, 3.5, 4.5);
        assert_shape(rows, 2, 1);
        assert_values(rows, 0, 2, 5);
    }
}

static void mean_gradient_is_the_output_gradient_over_the_count(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *x = param(fx, dt, 2, SHAPE(2, 4), VALUES(1, 2, 3, 4, 5, 6, 7, 8));

        tg_tape_reset(fx->tape);
        tg_tensor *y = tg_add(fx->tape, tg_mean(fx->tape, x),
                              tg_sum(fx->tape, tg_mean_axis(fx->tape, x, 1, false)));
        assert_true(tg_backward(fx->tape, y, NULL));

        /* 1/8 from the mean of all eight, 1/4 from the mean of each row of four */
        assert_grads(x, 0, 0.375, 0.375, 0.375, 0.375, 0.375, 0.375, 0.375, 0.375);
    }
}

static void mean_of_zero_elements_is_nan_while_sum_is_zero(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *empty = param(fx, dt, 2, SHAPE(0, 3), VALUES(0));

        tg_tape_reset(fx->tape);
        tg_tensor *mean = tg_mean(fx->tape, empty);
        tg_tensor *cols = tg_mean_axis(fx->tape, empty, 0, false);
        tg_tensor *rows = tg_mean_axis(fx->tape, empty, 1, false);
        tg_tensor *sum = tg_sum(fx->tape, empty);
        assert_true(tg_backward(fx->tape, sum, NULL));

        assert_true(isnan(tg_get(mean, 0)));
        assert_shape(cols, 3);
        for (int64_t i = 0; i < 3; i++)
            assert_true(isnan(tg_get(cols, i)));
        assert_shape(rows, 0);
        assert_values(sum, 0, 0);
    }
}

/* ---- max and min -------------------------------------------------------------------------- */

static void max_and_min_find_the_extremes_of_everything_and_along_each_axis(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *m = matrix_m(fx, dt);

        assert_values(tg_max(fx->tape, m), 0, 5);
        assert_values(tg_min(fx->tape, m), 0, -2);

        tg_tensor *col_max = tg_max_axis(fx->tape, m, 0, false);
        tg_tensor *row_min = tg_min_axis(fx->tape, m, 1, true);
        assert_shape(col_max, 3);
        assert_values(col_max, 0, 4, 5, 3);
        assert_shape(row_min, 2, 1);
        assert_values(row_min, 0, -2, 0);
        assert_values(tg_max_axis(fx->tape, m, -1, false), 0, 5, 4);
        assert_values(tg_min_axis(fx->tape, m, -2, false), 0, 1, 0, -2);
    }
}

static void max_and_min_send_the_gradient_to_the_first_extreme_element(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *v = param(fx, dt, 1, SHAPE(4), VALUES(3, 1, 3, 1));
        tg_tensor *w = param(fx, dt, 1, SHAPE(4), VALUES(3, 1, 3, 1));

        tg_tape_reset(fx->tape);
        backward_of_sum(fx, tg_add(fx->tape, tg_max(fx->tape, v), tg_min(fx->tape, w)));

        /* 3 is largest at 0 and 2, 1 smallest at 1 and 3: the first of each wins. */
        assert_grads(v, 0, 1, 0, 0, 0);
        assert_grads(w, 0, 0, 1, 0, 0);
    }
}

static void max_and_min_along_an_axis_break_ties_toward_the_first_in_each_lane(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *x = param(fx, dt, 2, SHAPE(2, 2), VALUES(2, 2, 1, 2));
        tg_tensor *z = param(fx, dt, 2, SHAPE(2, 2), VALUES(1, 2, 1, 0));

        tg_tape_reset(fx->tape);
        tg_tensor *row_max = tg_max_axis(fx->tape, x, 1, false);
        tg_tensor *col_min = tg_min_axis(fx->tape, z, 0, false);
        backward_of_sum(fx, tg_add(fx->tape, row_max, col_min));

        /* Row [2, 2] ties; row [1, 2] has its max second. Column [1, 1] ties; [2, 0] not. */
        assert_values(row_max, 0, 2, 2);
        assert_grads(x, 0, 1, 0, 0, 1);
        assert_values(col_min, 0, 1, 0);
        assert_grads(z, 0, 1, 0, 0, 1);
    }
}

static void max_min_and_logsumexp_of_zero_elements_are_their_identities(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *empty = param(fx, dt, 1, SHAPE(0), VALUES(0));
        tg_tensor *columns = param(fx, dt, 2, SHAPE(0, 2), VALUES(0));

        tg_tape_reset(fx->tape);
        tg_tensor *max = tg_max(fx->tape, empty);
        tg_tensor *min = tg_min(fx->tape, empty);
        tg_tensor *lse = tg_logsumexp_axis(fx->tape, columns, 0, true);
        tg_tensor *g = tensor(fx, dt, 2, SHAPE(1, 2), VALUES(1, 1));
        assert_true(tg_backward(fx->tape, lse, g));

        /* max(nothing) = -inf and min(nothing) = +inf, as log(sum of nothing) = log 0. */
        assert_true(isinf(tg_get(max, 0)) && tg_get(max, 0) < 0);
        assert_true(isinf(tg_get(min, 0)) && tg_get(min, 0) > 0);
        assert_shape(lse, 1, 2);
        assert_true(isinf(tg_get(lse, 0)) && tg_get(lse, 0) < 0);
        assert_true(isinf(tg_get(lse, 1)) && tg_get(lse, 1) < 0);
    }
}

static void max_and_min_propagate_a_nan(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *x = tensor(fx, dt, 1, SHAPE(3), VALUES(1, NAN, 3));

        assert_true(isnan(tg_get(tg_max(fx->tape, x), 0)));
        assert_true(isnan(tg_get(tg_min(fx->tape, x), 0)));
    }
}

/* ---- logsumexp ---------------------------------------------------------------------------- */

static void logsumexp_of_logarithms_is_the_log_of_their_sum_with_softmax_gradient(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        /* log 1, log 2, log 3, log 4 */
        tg_tensor *v = param(fx, dt, 1, SHAPE(4), VALUES(0, ln2, ln3, 2 * ln2));

        tg_tape_reset(fx->tape);
        tg_tensor *y = tg_logsumexp(fx->tape, v);
        assert_true(tg_backward(fx->tape, y, NULL));

        /* log(1 + 2 + 3 + 4) = log 10; the gradient is [1, 2, 3, 4] / 10. */
        assert_scalar(y);
        assert_values(y, tolerance(dt), ln2 + log(5));
        assert_grads(v, tolerance(dt), 0.1, 0.2, 0.3, 0.4);
    }
}

static void logsumexp_along_an_axis_reduces_each_lane(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        /* rows log [1, 1] and log [3, 1] */
        tg_tensor *x = param(fx, dt, 2, SHAPE(2, 2), VALUES(0, 0, ln3, 0));

        tg_tape_reset(fx->tape);
        tg_tensor *y = tg_logsumexp_axis(fx->tape, x, 1, false);
        backward_of_sum(fx, y);

        assert_shape(y, 2);
        assert_values(y, tolerance(dt), ln2, 2 * ln2);
        assert_grads(x, tolerance(dt), 0.5, 0.5, 0.75, 0.25);
    }
}

static void logsumexp_is_exact_far_from_zero_where_exp_would_overflow(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *x = param(fx, dt, 2, SHAPE(3, 2), VALUES(1000, 1000, -1000, -1000, 1000, 0));

        tg_tape_reset(fx->tape);
        tg_tensor *y = tg_logsumexp_axis(fx->tape, x, 1, false);
        backward_of_sum(fx, y);

        /* log(2 e^1000) = 1000 + log 2; and e^0 is nothing beside e^1000. */
        assert_values(y, tolerance(dt), 1000 + ln2, -1000 + ln2, 1000);
        assert_grads(x, tolerance(dt), 0.5, 0.5, 0.5, 0.5, 1, 0);
    }
}

static void logsumexp_of_minus_infinities_is_minus_infinity_and_passes_no_gradient(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *x = param(fx, dt, 2, SHAPE(2, 2), VALUES(-INFINITY, -INFINITY, 0, -INFINITY));

        tg_tape_reset(fx->tape);
        tg_tensor *y = tg_logsumexp_axis(fx->tape, x, 1, false);
        backward_of_sum(fx, y);

        /* the second row is log(1 + 0) = 0, with all its gradient on the finite element */
        assert_true(isinf(tg_get(y, 0)) && tg_get(y, 0) < 0);
        assert_near(tg_get(y, 1), 0, 0);
        assert_grads(x, 0, 0, 0, 1, 0);
    }
}

/* ---- gradients against central differences ------------------------------------------------ */

typedef tg_tensor *(*reduce_all_op)(tg_tape *tape, tg_tensor *x);
typedef tg_tensor *(*reduce_axis_op)(tg_tape *tape, tg_tensor *x, int axis, bool keepdim);

static reduce_all_op all_ops[] = {tg_sum, tg_mean, tg_max, tg_min, tg_logsumexp};
static reduce_axis_op axis_ops[] = {tg_sum_axis, tg_mean_axis, tg_max_axis, tg_min_axis,
                                    tg_logsumexp_axis};

typedef struct axis_case {
    reduce_axis_op op;
    int axis;
    bool keepdim;
} axis_case;

static tg_tensor *apply_all(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    reduce_all_op op = *(reduce_all_op *)ctx;
    return op(tape, in[0]);
}

static tg_tensor *apply_axis(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    const axis_case *c = ctx;
    return c->op(tape, in[0], c->axis, c->keepdim);
}

typedef struct shape {
    int ndim;
    int64_t dims[TG_MAX_DIMS];
} shape;

static void reductions_of_everything_match_central_differences(void **state)
{
    static const shape shapes[] = {{2, {2, 3}}, {1, {1}}, {0, {0}}, {2, {4, 1}}, {4, {2, 1, 3, 2}}};
    fixture *fx = *state;
    tg_rng rng;
    tg_rng_seed(&rng, 31);
    for (size_t op = 0; op < sizeof all_ops / sizeof all_ops[0]; op++) {
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            tg_tensor *x = random_param(fx, &rng, shapes[s].ndim, shapes[s].dims);

            assert_gradcheck(apply_all, &all_ops[op], x);
        }
    }
}

static void reductions_along_every_axis_match_central_differences(void **state)
{
    fixture *fx = *state;
    tg_rng rng;
    tg_rng_seed(&rng, 32);
    tg_tensor *x = random_param(fx, &rng, 3, SHAPE(2, 3, 4));
    tg_tensor *col = random_param(fx, &rng, 2, SHAPE(3, 1));
    for (size_t op = 0; op < sizeof axis_ops / sizeof axis_ops[0]; op++) {
        for (int axis = -1; axis < 3; axis++) {
            for (int keep = 0; keep < 2; keep++) {
                axis_case c = {axis_ops[op], axis, keep == 1};

                assert_gradcheck(apply_axis, &c, x);
            }
        }
        for (int axis = 0; axis < 2; axis++) {
            axis_case c = {axis_ops[op], axis, false};
            assert_gradcheck(apply_axis, &c, col);
        }
    }
}

/* max(x) + min(x) + mean(x) + logsumexp(x): four backward rules adding into one gradient. */
static tg_tensor *apply_four_reductions(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    tg_tensor *extremes = tg_add(tape, tg_max(tape, in[0]), tg_min(tape, in[0]));
    return tg_add(tape, extremes, tg_add(tape, tg_mean(tape, in[0]), tg_logsumexp(tape, in[0])));
}

static void reductions_of_one_tensor_add_their_gradients(void **state)
{
    fixture *fx = *state;
    tg_rng rng;
    tg_rng_seed(&rng, 33);
    tg_tensor *x = random_param(fx, &rng, 2, SHAPE(3, 3));

    assert_gradcheck(apply_four_reductions, NULL, x);
}

/* ---- errors ------------------------------------------------------------------------------- */

static void reductions_refuse_an_axis_outside_the_shape_naming_op_axis_and_shape(void **state)
{
    static const char *names[] = {"sum", "mean", "max", "min", "logsumexp"};
    fixture *fx = *state;
    tg_tensor *m = matrix_m(fx, TG_F64);
    tg_tensor *s = tensor(fx, TG_F64, 0, NULL, VALUES(1));
    for (size_t op = 0; op < sizeof axis_ops / sizeof axis_ops[0]; op++) {
        tg_tape_reset(fx->tape);
        assert_null(axis_ops[op](fx->tape, m, 2, false));
        assert_message_contains(tg_tape_error(fx->tape), names[op], "axis 2", "[2, 3]");

        tg_tape_reset(fx->tape);
        assert_null(axis_ops[op](fx->tape, m, -3, true));
        assert_message_contains(tg_tape_error(fx->tape), names[op], "axis -3", "[2, 3]");

        tg_tape_reset(fx->tape);
        assert_null(axis_ops[op](fx->tape, s, 0, false));
        assert_message_contains(tg_tape_error(fx->tape), names[op], "axis 0", "[]");
    }
}

static void reductions_given_null_return_null_without_a_message(void **state)
{
    fixture *fx = *state;
    for (size_t op = 0; op < sizeof all_ops / sizeof all_ops[0]; op++) {
        assert_null(all_ops[op](fx->tape, NULL));
        assert_null(axis_ops[op](fx->tape, NULL, 0, true));
    }
    assert_null(tg_tape_error(fx->tape));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(mean_divides_the_sum_by_the_number_of_elements_reduced),
        TEST(mean_gradient_is_the_output_gradient_over_the_count),
        TEST(mean_of_zero_elements_is_nan_while_sum_is_zero),
        TEST(max_and_min_find_the_extremes_of_everything_and_along_each_axis),
        TEST(max_and_min_send_the_gradient_to_the_first_extreme_element),
        TEST(max_and_min_along_an_axis_break_ties_toward_the_first_in_each_lane),
        TEST(max_min_and_logsumexp_of_zero_elements_are_their_identities),
        TEST(max_and_min_propagate_a_nan),
        TEST(logsumexp_of_logarithms_is_the_log_of_their_sum_with_softmax_gradient),
        TEST(logsumexp_along_an_axis_reduces_each_lane),
        TEST(logsumexp_is_exact_far_from_zero_where_exp_would_overflow),
        TEST(logsumexp_of_minus_infinities_is_minus_infinity_and_passes_no_gradient),
        TEST(reductions_of_everything_match_central_differences),
        TEST(reductions_along_every_axis_match_central_differences),
        TEST(reductions_of_one_tensor_add_their_gradients),
        TEST(reductions_refuse_an_axis_outside_the_shape_naming_op_axis_and_shape),
        TEST(reductions_given_null_return_null_without_a_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
