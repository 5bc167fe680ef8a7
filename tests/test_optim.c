/*
 * test_optim.c: SGD and weight averaging step by step on hand-worked numbers, in both dtypes.
 */
#include "tg_ops.h"
#include "tg_optim.h"
#include "tg_test.h"

static void sgd_moves_each_parameter_against_its_gradient_times_lr_and_lr_scale(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_param params[] = {
            {"p", param(fx, dt, 1, SHAPE(2), VALUES(1, -2)), 1.0},
            {"q", param(fx, dt, 1, SHAPE(1), VALUES(3)), 0.5},
        };
        set_grad(params[0].tensor, 0, 0.5);
        set_grad(params[0].tensor, 1, 0.25);
        set_grad(params[1].tensor, 0, -1.0);

        /* p -= 0.1 * 1 * [0.5, 0.25];  q -= 0.1 * 0.5 * -1 */
        tg_sgd_step(params, 2, 0.1);
        assert_values(params[0].tensor, tolerance(dt), 0.95, -2.025);
        assert_values(params[1].tensor, tolerance(dt), 3.05);

        tg_sgd_step(params, 2, 0.1);
        assert_values(params[0].tensor, tolerance(dt), 0.9, -2.05);
        assert_values(params[1].tensor, tolerance(dt), 3.1);
        assert_grads(params[0].tensor, 0, 0.5, 0.25);
    }
}

static void sgd_leaves_a_parameter_without_a_gradient_alone(void **state)
{
    fixture *fx = *state;
    tg_param frozen = {"frozen", tensor(fx, TG_F64, 1, SHAPE(2), VALUES(5, 6)), 1.0};

    tg_sgd_step(&frozen, 1, 0.1);

    assert_values(frozen.tensor, 0, 5, 6);
}

static void zero_grads_clears_every_gradient(void **state)
{
    fixture *fx = *state;
    tg_param params[] = {
        {"p", param(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2)), 1.0},
        {"q", param(fx, TG_F32, 1, SHAPE(1), VALUES(3)), 1.0},
        {"frozen", tensor(fx, TG_F64, 1, SHAPE(1), VALUES(4)), 1.0},
    };
    set_grad(params[0].tensor, 0, 7.0);
    set_grad(params[0].tensor, 1, -8.0);
    set_grad(params[1].tensor, 0, 9.0);

    tg_zero_grads(params, 3);

    assert_grads(params[0].tensor, 0, 0, 0);
    assert_grads(params[1].tensor, 0, 0);
    assert_values(params[0].tensor, 0, 1, 2);
}

static void averaging_rate_with_h_one_tenth_is_ten_over_ten_plus_t(void **state)
{
    fixture *fx = *state;
    tg_param p = {"p", param(fx, TG_F64, 1, SHAPE(1), VALUES(0)), 1.0};
    tg_averager *avg = tg_averager_new(&p, 1, 0.1);
    assert_non_null(avg);

    assert_near(tg_averager_rate(avg, 1), 10.0 / 11.0, 1e-15);
    assert_near(tg_averager_rate(avg, 2), 10.0 / 12.0, 1e-15);
    assert_near(tg_averager_rate(avg, 3), 10.0 / 13.0, 1e-15);
    tg_averager_free(avg);
}

static void set_values(tg_tensor *t, double a, double b)
{
    tg_set(t, 0, a);
    tg_set(t, 1, b);
}

static void averaging_follows_three_hand_computed_steps(void **state)
{
    /*
     * avg = a_t p + (1 - a_t) avg from avg = [0, 1]:
     *   t = 1, a = 10/11, p = [1, 2]:  [10/11, 21/11]
     *   t = 2, a = 10/12, p = [2, 0]:  [20/12 + (2/12)(10/11), (2/12)(21/11)] = [20/11, 7/22]
     *   t = 3, a = 10/13, p = [-1, 4]: [-10/13 + (3/13)(20/11), 40/13 + (3/13)(7/22)]
     *                                = [-50/143, 901/286]
     */
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_param p = {"p", param(fx, dt, 1, SHAPE(2), VALUES(0, 1)), 1.0};
        tg_averager *avg = tg_averager_new(&p, 1, 0.1);
        assert_non_null(avg);
        const tg_tensor *mean = tg_averager_tensor(avg, 0);
        double tol = tolerance(dt) * 4;

        set_values(p.tensor, 1, 2);
        tg_averager_update(avg, 1);
        assert_values(mean, tol, 10.0 / 11.0, 21.0 / 11.0);

        set_values(p.tensor, 2, 0);
        tg_averager_update(avg, 2);
        assert_values(mean, tol, 20.0 / 11.0, 7.0 / 22.0);

        set_values(p.tensor, -1, 4);
        tg_averager_update(avg, 3);
        assert_values(mean, tol, -50.0 / 143.0, 901.0 / 286.0);
        assert_values(p.tensor, 0, -1, 4);
        tg_averager_free(avg);
    }
}

static void averaging_starts_from_the_values_at_creation(void **state)
{
    fixture *fx = *state;
    tg_param p = {"p", param(fx, TG_F64, 1, SHAPE(2), VALUES(3, -3)), 1.0};
    tg_averager *avg = tg_averager_new(&p, 1, 0.1);
    assert_non_null(avg);

    set_values(p.tensor, 100, 100);

    assert_values(tg_averager_tensor(avg, 0), 0, 3, -3);
    assert_null(tg_averager_tensor(avg, 1));
    tg_averager_free(avg);
}

static void swap_exchanges_trained_and_averaged_values_and_swaps_back_exactly(void **state)
{
    fixture *fx = *state;
    tg_param p = {"p", param(fx, TG_F64, 1, SHAPE(2), VALUES(0, 1)), 1.0};
    tg_averager *avg = tg_averager_new(&p, 1, 0.1);
    assert_non_null(avg);
    set_values(p.tensor, 0.1, 0.7);
    tg_averager_update(avg, 1);
    tg_tensor *mean = tg_averager_tensor(avg, 0);
    double trained[2] = {tg_get(p.tensor, 0), tg_get(p.tensor, 1)};
    double averaged[2] = {tg_get(mean, 0), tg_get(mean, 1)};

    /* The averages are 10/11 of the new value plus 1/11 of the old. */
    assert_values(mean, 1e-15, 1.0 / 11.0, 8.0 / 11.0);

    tg_averager_swap(avg);
    assert_memory_equal(p.tensor->data, averaged, sizeof averaged);
    assert_memory_equal(mean->data, trained, sizeof trained);

    tg_averager_swap(avg);
    assert_memory_equal(p.tensor->data, trained, sizeof trained);
    assert_memory_equal(mean->data, averaged, sizeof averaged);
    tg_averager_free(avg);
}

static void averager_refuses_an_h_that_is_not_positive(void **state)
{
    fixture *fx = *state;
    tg_param p = {"p", param(fx, TG_F64, 1, SHAPE(1), VALUES(0)), 1.0};

    assert_null(tg_averager_new(&p, 1, 0.0));
    assert_message_contains(tg_last_error(), "tg_averager_new", "h must be positive");
    assert_null(tg_averager_new(&p, 1, -0.1));
}

static tg_tensor *empty_param(fixture *fx, tg_dtype dtype, int ndim, const int64_t *shape)
{
    tg_tensor *t = own(fx, tg_tensor_new(dtype, ndim, shape));
    assert_true(tg_tensor_set_requires_grad(t, true));
    return t;
}

/* Fills a tensor and its gradient with reproducible values. */
static void fill_random(tg_tensor *t, tg_rng *rng)
{
    for (int64_t i = 0; i < t->size; i++) {
        tg_set(t, i, tg_rng_normal(rng, 0.0, 1.0));
        set_grad(t, i, tg_rng_normal(rng, 0.0, 1.0));
    }
}

static void fused_step_equals_sgd_then_averaging_then_zeroing_bit_for_bit(void **state)
{
    fixture *fx = *state;
    tg_set_num_threads(2);
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        /* 300 x 300 is above the size at which the pass is split over two threads. */
        tg_tensor *fused = empty_param(fx, dt, 2, SHAPE(300, 300));
        tg_tensor *plain = empty_param(fx, dt, 2, SHAPE(300, 300));
        tg_tensor *small_fused = empty_param(fx, dt, 1, SHAPE(7));
        tg_tensor *small_plain = empty_param(fx, dt, 1, SHAPE(7));
        tg_rng a, b;
        tg_rng_seed(&a, 5);
        tg_rng_seed(&b, 5);
        fill_random(fused, &a);
        fill_random(plain, &b);
        fill_random(small_fused, &a);
        fill_random(small_plain, &b);
        tg_param pf[] = {{"w", fused, 0.5}, {"b", small_fused, 2.0}};
        tg_param pp[] = {{"w", plain, 0.5}, {"b", small_plain, 2.0}};
        tg_averager *af = tg_averager_new(pf, 2, 0.1), *ap = tg_averager_new(pp, 2, 0.1);

        for (int64_t t = 1; t <= 3; t++) {
            assert_true(tg_sgd_average_step(pf, 2, 0.01, af, t));
            tg_sgd_step(pp, 2, 0.01);
            tg_averager_update(ap, t);
            tg_zero_grads(pp, 2);
            fill_random(fused, &a);
            fill_random(plain, &b);
        }

        size_t bytes = (size_t)fused->size * tg_dtype_size(dt);
        assert_memory_equal(fused->data, plain->data, bytes);
        assert_memory_equal(tg_averager_tensor(af, 0)->data, tg_averager_tensor(ap, 0)->data,
                            bytes);
        assert_memory_equal(tg_averager_tensor(af, 1)->data, tg_averager_tensor(ap, 1)->data,
                            7 * tg_dtype_size(dt));
        assert_grads(small_fused, 0, 0, 0, 0, 0, 0, 0, 0);
        tg_averager_free(af);
        tg_averager_free(ap);
    }
    tg_set_num_threads(1);
}

static void fused_step_refuses_parameters_the_averager_was_not_made_from(void **state)
{
    fixture *fx = *state;
    tg_param p = {"p", param(fx, TG_F64, 1, SHAPE(1), VALUES(1)), 1.0};
    tg_param q = {"q", param(fx, TG_F64, 1, SHAPE(1), VALUES(1)), 1.0};
    tg_averager *avg = tg_averager_new(&p, 1, 0.1);

    assert_false(tg_sgd_average_step(&q, 1, 0.1, avg, 1));
    assert_message_contains(tg_last_error(), "parameter 0 (q) is not the one");
    assert_false(tg_sgd_average_step(&p, 0, 0.1, avg, 1));
    assert_message_contains(tg_last_error(), "0 parameters, but the averager has 1");
    tg_averager_free(avg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(sgd_moves_each_parameter_against_its_gradient_times_lr_and_lr_scale),
        TEST(sgd_leaves_a_parameter_without_a_gradient_alone),
        TEST(zero_grads_clears_every_gradient),
        TEST(averaging_rate_with_h_one_tenth_is_ten_over_ten_plus_t),
        TEST(averaging_follows_three_hand_computed_steps),
        TEST(averaging_starts_from_the_values_at_creation),
        TEST(swap_exchanges_trained_and_averaged_values_and_swaps_back_exactly),
        TEST(averager_refuses_an_h_that_is_not_positive),
        TEST(fused_step_equals_sgd_then_averaging_then_zeroing_bit_for_bit),
        TEST(fused_step_refuses_parameters_the_averager_was_not_made_from),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
