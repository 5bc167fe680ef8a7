/*
 * test_fast_paths.c: add, sub and mul take typed loops instead of the general broadcast walk.
 * In float32 they must give exactly what the general rule gives, the double result rounded
 * once, for every broadcast pattern, and their gradients must reduce over the right axes.
 */
#include "tg_ops.h"
#include "tg_test.h"

typedef tg_tensor *(*binary_op)(tg_tape *, tg_tensor *, tg_tensor *);

static const struct {
    int ndim_a, ndim_b;
    int64_t a[3], b[3];
} patterns[] = {
    {2, 1, {5, 7}, {7}},       {2, 2, {5, 1}, {1, 7}}, {3, 2, {2, 3, 4}, {3, 1}},
    {1, 1, {6}, {6}},          {1, 2, {1}, {4, 1}},    {2, 2, {4, 3}, {4, 3}},
    {3, 3, {2, 1, 3}, {1, 4, 1}},
};

static tg_tensor *random_f32(fixture *fx, tg_rng *rng, int ndim, const int64_t *shape)
{
    tg_tensor *t = own(fx, tg_tensor_new(TG_F32, ndim, shape));
    for (int64_t i = 0; i < t->size; i++)
        tg_set(t, i, tg_rng_normal(rng, 0.0, 3.0));
    assert_true(tg_tensor_set_requires_grad(t, true));
    return t;
}

/* The value numpy's broadcasting takes from t for output element i of out. */
static double broadcast_value(const tg_tensor *t, const tg_tensor *out, int64_t i)
{
    int64_t index = 0, stride = 1, rest = i;
    for (int d = out->ndim - 1; d >= 0; d--) {
        int64_t k = rest % out->shape[d];
        rest /= out->shape[d];
        int td = d - (out->ndim - t->ndim);
        if (td < 0)
            continue;
        if (t->shape[td] != 1)
            index += k * stride;
        stride *= t->shape[td];
    }
    return tg_get(t, index);
}

static double apply(char op, double a, double b)
{
    return op == '+' ? a + b : op == '-' ? a - b : a * b;
}

static void float32_results_are_the_double_results_rounded_once(void **state)
{
    fixture *fx = *state;
    const binary_op ops[] = {tg_add, tg_sub, tg_mul};
    const char names[] = {'+', '-', '*'};
    tg_rng rng;
    tg_rng_seed(&rng, 11);

    for (size_t p = 0; p < sizeof patterns / sizeof *patterns; p++) {
        tg_tensor *a = random_f32(fx, &rng, patterns[p].ndim_a, patterns[p].a);
        tg_tensor *b = random_f32(fx, &rng, patterns[p].ndim_b, patterns[p].b);
        for (int k = 0; k < 3; k++) {
            tg_tensor *y = ops[k](fx->tape, a, b);
            assert_non_null(y);
            for (int64_t i = 0; i < y->size; i++) {
                float want = (float)apply(names[k], broadcast_value(a, y, i),
                                          broadcast_value(b, y, i));
                assert_true(((float *)y->data)[i] == want);
            }
        }
        tg_tape_reset(fx->tape);
    }
}

/* d/da sum(a * b) = b summed over a's broadcast axes; d/db sum(a - b) = -(count per element). */
static void float32_gradients_reduce_over_the_broadcast_axes(void **state)
{
    fixture *fx = *state;
    tg_rng rng;
    tg_rng_seed(&rng, 12);

    for (size_t p = 0; p < sizeof patterns / sizeof *patterns; p++) {
        tg_tensor *a = random_f32(fx, &rng, patterns[p].ndim_a, patterns[p].a);
        tg_tensor *b = random_f32(fx, &rng, patterns[p].ndim_b, patterns[p].b);
        tg_tensor *y = tg_mul(fx->tape, a, b);
        tg_tensor *loss = tg_add(fx->tape, tg_sum(fx->tape, y),
                                 tg_sum(fx->tape, tg_sub(fx->tape, a, b)));
        assert_true(tg_backward(fx->tape, loss, NULL));

        double want_a[64] = {0}, want_b[64] = {0};
        for (int64_t i = 0; i < y->size; i++) {
            /* Recover each operand's element from its value: the test values are distinct. */
            double av = broadcast_value(a, y, i), bv = broadcast_value(b, y, i);
            for (int64_t j = 0; j < a->size; j++)
                if (tg_get(a, j) == av)
                    want_a[j] += bv + 1.0;
            for (int64_t j = 0; j < b->size; j++)
                if (tg_get(b, j) == bv)
                    want_b[j] += av - 1.0;
        }
        assert_grads_array(a, 1e-5, want_a, a->size);
        assert_grads_array(b, 1e-5, want_b, b->size);
        tg_tape_reset(fx->tape);
        tg_tensor_zero_grad(a);
        tg_tensor_zero_grad(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(float32_results_are_the_double_results_rounded_once),
        TEST(float32_gradients_reduce_over_the_broadcast_axes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
