/*
 * test_ops_loss.c: mean squared error, L1 and Huber losses, each as a mean or a sum. Values
 * and gradients with respect to both the prediction and the target on hand-worked residuals
 * in both dtypes, the choices at the kinks (L1 at r = 0, Huber at |r| = delta), the backward
 * against central differences, zero elements, and the errors.
 */
#include "tg_ops.h"
#include "tg_test.h"

/*
 * The residuals used below: pred = [[1, 2], [3, 4]] and target = [[0, 2], [5, 3.5]], so
 * r = pred - target = [[1, 0], [-2, 0.5]].
 */
typedef struct pair {
    tg_tensor *pred, *target;
} pair;

static pair residual_pair(fixture *fx, tg_dtype dt)
{
    return (pair){param(fx, dt, 2, SHAPE(2, 2), VALUES(1, 2, 3, 4)),
                  param(fx, dt, 2, SHAPE(2, 2), VALUES(0, 2, 5, 3.5))};
}

static tg_tensor *backward_of(fixture *fx, tg_tensor *loss)
{
    assert_true(tg_backward(fx->tape, loss, NULL));
    return loss;
}

/* ---- values and gradients ----------------------------------------------------------------- */

static void mse_is_the_mean_or_sum_of_squared_residuals_with_gradient_2r(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        pair p = residual_pair(fx, dt);

        /* r^2 = [1, 0, 4, 0.25]: sum 5.25, mean 1.3125; d/dpred = 2 r / 4 for the mean. */
        tg_tape_reset(fx->tape);
        tg_tensor *mean = backward_of(fx, tg_mse(fx->tape, p.pred, p.target, TG_REDUCE_MEAN));
        assert_scalar(mean);
        assert_values(mean, 0, 1.3125);
        assert_grads(p.pred, 0, 0.5, 0, -1, 0.25);
        assert_grads(p.target, 0, -0.5, 0, 1, -0.25);

        tg_tensor_zero_grad(p.pred);
        tg_tensor_zero_grad(p.target);
        tg_tape_reset(fx->tape);
        tg_tensor *sum = backward_of(fx, tg_mse(fx->tape, p.pred, p.target, TG_REDUCE_SUM));
        assert_values(sum, 0, 5.25);
        assert_grads(p.pred, 0, 2, 0, -4, 1);
        assert_grads(p.target, 0, -2, 0, 4, -1);
    }
}

static void l1_is_the_mean_or_sum_of_absolute_residuals_with_gradient_0_at_0(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        pair p = residual_pair(fx, dt);

        /* |r| = [1, 0, 2, 0.5]: sum 3.5, mean 0.875; d/dpred = sign(r), 0 where r = 0. */
        tg_tape_reset(fx->tape);
        tg_tensor *mean = backward_of(fx, tg_l1(fx->tape, p.pred, p.target, TG_REDUCE_MEAN));
        assert_values(mean, 0, 0.875);
        assert_grads(p.pred, 0, 0.25, 0, -0.25, 0.25);
        assert_grads(p.target, 0, -0.25, 0, 0.25, -0.25);

        tg_tensor_zero_grad(p.pred);
        tg_tensor_zero_grad(p.target);
        tg_tape_reset(fx->tape);
        tg_tensor *sum = backward_of(fx, tg_l1(fx->tape, p.pred, p.target, TG_REDUCE_SUM));
        assert_values(sum, 0, 3.5);
        assert_grads(p.pred, 0, 1, 0, -1, 1);
    }
}

static void huber_is_quadratic_within_delta_and_linear_beyond(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        pair p = residual_pair(fx, dt);

        /*
         * With delta = 1: r = 1 and 0.5 are within (1/2, 1/8), r = 0 gives 0, and r = -2 is
         * beyond: 1 (2 - 1/2) = 3/2. Sum 2.125, mean 0.53125. The slopes are r within and
         * delta sign(r) beyond: [1, 0, -1, 0.5].
         */
        tg_tape_reset(fx->tape);
        tg_tensor *sum = backward_of(fx, tg_huber(fx->tape, p.pred, p.target, 1.0, TG_REDUCE_SUM));
        assert_values(sum, 0, 2.125);
        assert_grads(p.pred, 0, 1, 0, -1, 0.5);
        assert_grads(p.target, 0, -1, 0, 1, -0.5);

        tg_tape_reset(fx->tape);
        assert_values(tg_huber(fx->tape, p.pred, p.target, 1.0, TG_REDUCE_MEAN), 0, 0.53125);
    }
}

static void huber_at_exactly_delta_has_the_value_and_slope_of_both_pieces(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *pred = param(fx, dt, 1, SHAPE(2), VALUES(2.5, -1.5));
        tg_tensor *target = tensor(fx, dt, 1, SHAPE(2), VALUES(0.5, 0.5));

        tg_tape_reset(fx->tape);
        tg_tensor *y = backward_of(fx, tg_huber(fx->tape, pred, target, 2.0, TG_REDUCE_SUM));

        /* r = +-2 = +-delta: r^2 / 2 = 2 = delta (|r| - delta / 2), and slope +-2 either way. */
        assert_values(y, 0, 4);
        assert_grads(pred, 0, 2, -2);
    }
}

/* ---- gradients against central differences ------------------------------------------------ */

typedef struct loss_case {
    int loss; /* 0 mse, 1 l1, 2 huber with delta 0.7 */
    tg_reduction reduction;
} loss_case;

static tg_tensor *apply_loss(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    const loss_case *c = ctx;
    if (c->loss == 0)
        return tg_mse(tape, in[0], in[1], c->reduction);
    if (c->loss == 1)
        return tg_l1(tape, in[0], in[1], c->reduction);
    return tg_huber(tape, in[0], in[1], 0.7, c->reduction);
}

/* Moves each residual at least 0.05 away from 0 and from +-0.7, the kinks of l1 and huber. */
static void away_from_kinks(tg_tensor *pred, const tg_tensor *target)
{
    static const double kinks[] = {-0.7, 0.0, 0.7};
    for (int64_t i = 0; i < pred->size; i++) {
        for (int j = 0; j < 3; j++) {
            double r = tg_get(pred, i) - tg_get(target, i);
            if (fabs(r - kinks[j]) < 0.05)
                tg_set(pred, i, tg_get(pred, i) + 0.1);
        }
    }
}

static void losses_backward_match_central_differences_for_both_reductions(void **state)
{
    static const int64_t shapes[][4] = {{2, 2, 3}, {1, 1}, {0}, {3, 3, 1, 2}};
    fixture *fx = *state;
    tg_rng rng;
    tg_rng_seed(&rng, 51);
    for (int loss = 0; loss < 3; loss++) {
        for (int red = 0; red < 2; red++) {
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                int ndim = (int)shapes[s][0];
                tg_tensor *pred = random_param(fx, &rng, ndim, &shapes[s][1]);
                tg_tensor *target = random_param(fx, &rng, ndim, &shapes[s][1]);
                away_from_kinks(pred, target);
                loss_case c = {loss, red == 0 ? TG_REDUCE_MEAN : TG_REDUCE_SUM};

                assert_gradcheck(apply_loss, &c, pred, target);
            }
        }
    }
}

static void huber_backward_matches_central_differences_at_exactly_delta(void **state)
{
    fixture *fx = *state;
    tg_tensor *pred = param(fx, TG_F64, 1, SHAPE(4), VALUES(0.7, -0.7, 1.2, 0.3));
    tg_tensor *target = param(fx, TG_F64, 1, SHAPE(4), VALUES(0, 0, 0.5, 1.0));
    loss_case c = {2, TG_REDUCE_SUM};
    tg_gradcheck_report r;

    /*
     * Every residual is +-0.7 = +-delta. There l'' jumps from 1 to 0, so the central
     * difference is off by eps / 4: eps = 1e-7 keeps that (and rounding, about 1e-9) far
     * below the 1e-6 allowed, while a wrong slope would be off by far more.
     */
    assert_true(tg_gradcheck(apply_loss, (tg_tensor *[]){pred, target}, 2, &c, 1e-7, 1e-6, &r));
    assert_int_equal(r.checked, 8);
}

/* ---- zero elements ------------------------------------------------------------------------ */

static void losses_over_zero_elements_sum_to_0_and_average_to_nan(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *pred = param(fx, dt, 2, SHAPE(0, 3), VALUES(0));
        tg_tensor *target = tensor(fx, dt, 2, SHAPE(0, 3), VALUES(0));

        tg_tape_reset(fx->tape);
        tg_tensor *sum = tg_mse(fx->tape, pred, target, TG_REDUCE_SUM);
        tg_tensor *l1 = tg_l1(fx->tape, pred, target, TG_REDUCE_SUM);
        tg_tensor *mean = tg_huber(fx->tape, pred, target, 1.0, TG_REDUCE_MEAN);
        assert_true(tg_backward(fx->tape, tg_add(fx->tape, sum, l1), NULL));

        assert_values(sum, 0, 0);
        assert_values(l1, 0, 0);
        assert_true(isnan(tg_get(mean, 0)));
    }
}

/* ---- errors ------------------------------------------------------------------------------- */

static void losses_refuse_shapes_that_differ_even_when_they_would_broadcast(void **state)
{
    fixture *fx = *state;
    tg_tensor *v = tensor(fx, TG_F64, 1, SHAPE(3), VALUES(1, 2, 3));
    tg_tensor *col = tensor(fx, TG_F64, 2, SHAPE(3, 1), VALUES(1, 2, 3));

    assert_null(tg_mse(fx->tape, v, col, TG_REDUCE_MEAN));
    assert_message_contains(tg_tape_error(fx->tape), "mse", "[3]", "[3, 1]", "do not broadcast");

    tg_tape_reset(fx->tape);
    assert_null(tg_l1(fx->tape, col, v, TG_REDUCE_SUM));
    assert_message_contains(tg_tape_error(fx->tape), "l1", "[3, 1]", "[3]");

    tg_tape_reset(fx->tape);
    assert_null(tg_huber(fx->tape, v, col, 1.0, TG_REDUCE_SUM));
    assert_message_contains(tg_tape_error(fx->tape), "huber", "[3]", "[3, 1]");
}

static void losses_refuse_mixed_dtypes_unknown_reductions_and_a_bad_delta(void **state)
{
    fixture *fx = *state;
    tg_tensor *a = tensor(fx, TG_F32, 1, SHAPE(2), VALUES(1, 2));
    tg_tensor *b = tensor(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2));

    assert_null(tg_mse(fx->tape, a, b, TG_REDUCE_MEAN));
    assert_message_contains(tg_tape_error(fx->tape), "mse", "float32 [2]", "float64 [2]");

    tg_tape_reset(fx->tape);
    assert_null(tg_l1(fx->tape, b, b, (tg_reduction)7));
    assert_message_contains(tg_tape_error(fx->tape), "l1", "reduction 7");

    const double bad_deltas[] = {0.0, -1.0, NAN};
    for (int i = 0; i < 3; i++) {
        tg_tape_reset(fx->tape);
        assert_null(tg_huber(fx->tape, b, b, bad_deltas[i], TG_REDUCE_MEAN));
        assert_message_contains(tg_tape_error(fx->tape), "huber", "delta must be positive");
    }
}

static void losses_given_null_return_null_without_a_message(void **state)
{
    fixture *fx = *state;
    tg_tensor *v = tensor(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2));

    assert_null(tg_mse(fx->tape, NULL, v, TG_REDUCE_MEAN));
    assert_null(tg_l1(fx->tape, v, NULL, TG_REDUCE_SUM));
    assert_null(tg_huber(fx->tape, NULL, v, 1.0, TG_REDUCE_MEAN));

    assert_null(tg_tape_error(fx->tape));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(mse_is_the_mean_or_sum_of_squared_residuals_with_gradient_2r),
        TEST(l1_is_the_mean_or_sum_of_absolute_residuals_with_gradient_0_at_0),
        TEST(huber_is_quadratic_within_delta_and_linear_beyond),
        TEST(huber_at_exactly_delta_has_the_value_and_slope_of_both_pieces),
        TEST(losses_backward_match_central_differences_for_both_reductions),
        TEST(huber_backward_matches_central_differences_at_exactly_delta),
        TEST(losses_over_zero_elements_sum_to_0_and_average_to_nan),
        TEST(losses_refuse_shapes_that_differ_even_when_they_would_broadcast),
        TEST(losses_refuse_mixed_dtypes_unknown_reductions_and_a_bad_delta),
        TEST(losses_given_null_return_null_without_a_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
