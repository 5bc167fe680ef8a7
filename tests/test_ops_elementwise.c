/*
 * test_ops_elementwise.c: the elementwise ops beyond add, sub, mul, scale, tanh and square.
 * Forward values on hand-worked numbers in both dtypes; backward against central differences
 * in float64 over broadcasting shapes and at the delicate places (log near 0, sigmoid and
 * softplus far into their tails); the subgradient chosen where a rule has a kink, by value;
 * zero-element tensors; and the errors the ops report.
 */
#include "tg_ops.h"
#include "tg_test.h"

static const double ln2 = 0.69314718055994530942;
static const double ln3 = 1.09861228866810969140;

/* exp(-50), the size of sigmoid(-50), softplus(-50) and sigmoid'(+-50) to 22 digits. */
static const double e50 = 1.9287498479639177830e-22;

/* Every element of the tensor (or its gradient) within tol of expected, relative to it. */
static void check_relative(const tg_tensor *t, bool grad, const double *expected, int64_t n,
                           double tol, const char *file, int line)
{
    assert_int_equal(t->size, n);
    for (int64_t i = 0; i < n; i++) {
        double actual = grad ? tg_grad_get(t, i) : tg_get(t, i);
        bool ok = expected[i] == 0 ? actual == 0 : fabs(actual / expected[i] - 1) <= tol;
        if (!ok || !isfinite(actual)) {
            print_error("%s[%lld] is %.17g, expected %.17g to relative %g\n",
                        grad ? "gradient" : "value", (long long)i, actual, expected[i], tol);
            _fail(file, line);
        }
    }
}

#define assert_values_relative(t, tol, ...)                                                        \
    check_relative((t), false, VALUES(__VA_ARGS__), COUNT(__VA_ARGS__), (tol), __FILE__, __LINE__)
#define assert_grads_relative(t, tol, ...)                                                         \
    check_relative((t), true, VALUES(__VA_ARGS__), COUNT(__VA_ARGS__), (tol), __FILE__, __LINE__)

static void assert_positive_infinity(double v) { assert_true(isinf(v) && v > 0); }
static void assert_negative_infinity(double v) { assert_true(isinf(v) && v < 0); }

/* Runs backward from the sum of y, so every element of y gets the upstream gradient 1. */
static void backward_of_sum(fixture *fx, tg_tensor *y)
{
    assert_true(tg_backward(fx->tape, tg_sum(fx->tape, y), NULL));
}

/* ---- div, pow, maximum, minimum: values --------------------------------------------------- */

static void div_divides_elementwise_and_stretches_a_column_against_a_row(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *a = tensor(fx, dt, 2, SHAPE(2, 3), VALUES(1, 2, 3, 4, 5, 6));
        tg_tensor *b = tensor(fx, dt, 1, SHAPE(3), VALUES(2, -4, 0.5));
        tg_tensor *col = tensor(fx, dt, 2, SHAPE(2, 1), VALUES(1, 3));
        tg_tensor *row = tensor(fx, dt, 2, SHAPE(1, 3), VALUES(2, 4, 8));

        tg_tensor *ab = tg_div(fx->tape, a, b);
        tg_tensor *outer = tg_div(fx->tape, col, row);

        assert_values(ab, 0, 0.5, -0.5, 6, 2, -1.25, 12);
        /* outer[i][j] = col[i] / row[j] */
        assert_shape(outer, 2, 3);
        assert_values(outer, 0, 0.5, 0.25, 0.125, 1.5, 0.75, 0.375);
    }
}

static void div_by_zero_gives_signed_infinities_and_nan_for_zero_over_zero(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *a = tensor(fx, dt, 1, SHAPE(3), VALUES(1, -1, 0));
        tg_tensor *zero = tensor(fx, dt, 0, NULL, VALUES(0));

        tg_tensor *y = tg_div(fx->tape, a, zero);

        assert_positive_infinity(tg_get(y, 0));
        assert_negative_infinity(tg_get(y, 1));
        assert_true(isnan(tg_get(y, 2)));
    }
}

static void pow_raises_each_base_to_its_exponent_with_broadcasting(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *a = tensor(fx, dt, 1, SHAPE(4), VALUES(2, 9, 4, 0.25));
        tg_tensor *b = tensor(fx, dt, 1, SHAPE(4), VALUES(3, 0.5, -1, 2));
        tg_tensor *col = tensor(fx, dt, 2, SHAPE(2, 1), VALUES(2, 3));
        tg_tensor *row = tensor(fx, dt, 2, SHAPE(1, 3), VALUES(0, 1, 2));

        tg_tensor *y = tg_pow(fx->tape, a, b);
        tg_tensor *powers = tg_pow(fx->tape, col, row);

        assert_values(y, 0, 8, 3, 0.25, 0.0625);
        assert_shape(powers, 2, 3);
        assert_values(powers, 0, 1, 2, 4, 1, 3, 9);
    }
}

static void pow_gradients_are_b_a_to_the_b_minus_1_and_y_log_a(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *a = param(fx, dt, 1, SHAPE(2), VALUES(2, 9));
        tg_tensor *b = param(fx, dt, 1, SHAPE(2), VALUES(3, 0.5));

        tg_tape_reset(fx->tape);
        backward_of_sum(fx, tg_pow(fx->tape, a, b));

        /* da: 3 * 2^2 and 0.5 / sqrt(9); db: 2^3 ln 2 and 9^0.5 ln 9. */
        assert_grads(a, tolerance(dt), 12, 1.0 / 6);
        assert_grads(b, tolerance(dt), 8 * ln2, 6 * ln3);
    }
}

static void pow_at_a_zero_base_or_a_zero_exponent_has_no_nan_gradient(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *a = param(fx, dt, 1, SHAPE(4), VALUES(0, 2, 0, 0));
        tg_tensor *b = param(fx, dt, 1, SHAPE(4), VALUES(2, 0, 0.5, 0));

        tg_tape_reset(fx->tape);
        tg_tensor *y = tg_pow(fx->tape, a, b);
        backward_of_sum(fx, y);

        /*
         * 0^2 = 0 stays 0 as b moves, so its db is 0; a^0 = 1 for every a, so its da is 0, even
         * at a = 0; sqrt has an infinite slope at 0; and at 0^0, db = 1 * log(0) = -inf, the
         * limit of a^b log(a) as a falls to 0.
         */
        assert_values(y, 0, 0, 1, 0, 1);
        assert_near(tg_grad_get(a, 0), 0, 0);
        assert_near(tg_grad_get(a, 1), 0, 0);
        assert_positive_infinity(tg_grad_get(a, 2));
        assert_near(tg_grad_get(a, 3), 0, 0);
        assert_near(tg_grad_get(b, 0), 0, 0);
        assert_near(tg_grad_get(b, 1), ln2, tolerance(dt));
        assert_near(tg_grad_get(b, 2), 0, 0);
        assert_negative_infinity(tg_grad_get(b, 3));
    }
}

static void pow_of_a_negative_base_differentiates_in_a_and_is_nan_only_in_b(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *a = param(fx, dt, 1, SHAPE(2), VALUES(-2, 3));
        tg_tensor *two = tensor(fx, dt, 0, NULL, VALUES(2));
        tg_tensor *b = param(fx, dt, 0, NULL, VALUES(2));

        tg_tape_reset(fx->tape);
        tg_tensor *y = tg_pow(fx->tape, a, two);
        backward_of_sum(fx, y);

        assert_values(y, 0, 4, 9);
        assert_grads(a, 0, -4, 6);

        /* (-2)^b is not real for b near 2, so d/db is NaN; a's gradient is unaffected. */
        tg_tensor_zero_grad(a);
        tg_tape_reset(fx->tape);
        backward_of_sum(fx, tg_pow(fx->tape, a, b));
        assert_grads(a, 0, -4, 6);
        assert_true(isnan(tg_grad_get(b, 0)));
    }
}

static void maximum_and_minimum_pick_elementwise_with_broadcasting(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *a = tensor(fx, dt, 2, SHAPE(2, 3), VALUES(1, 5, -2, 4, 0, 3));
        tg_tensor *b = tensor(fx, dt, 0, NULL, VALUES(2));

        assert_values(tg_maximum(fx->tape, a, b), 0, 2, 5, 2, 4, 2, 3);
        assert_values(tg_minimum(fx->tape, a, b), 0, 1, 2, -2, 2, 0, 2);
        assert_values(tg_maximum(fx->tape, b, a), 0, 2, 5, 2, 4, 2, 3);
    }
}

static void maximum_and_minimum_send_the_gradient_of_a_tie_to_a(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *a = param(fx, dt, 1, SHAPE(3), VALUES(1, 2, 3));
        tg_tensor *b = param(fx, dt, 1, SHAPE(3), VALUES(1, 0, 3));

        tg_tape_reset(fx->tape);
        backward_of_sum(fx, tg_maximum(fx->tape, a, b));
        /* Elements 0 and 2 tie; element 1 has a larger. */
        assert_grads(a, 0, 1, 1, 1);
        assert_grads(b, 0, 0, 0, 0);

        tg_tensor_zero_grad(a);
        tg_tensor_zero_grad(b);
        tg_tape_reset(fx->tape);
        backward_of_sum(fx, tg_minimum(fx->tape, a, b));
        assert_grads(a, 0, 1, 0, 1);
        assert_grads(b, 0, 0, 1, 0);
    }
}

static void maximum_and_minimum_propagate_nan_from_either_operand(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *a = tensor(fx, dt, 1, SHAPE(2), VALUES(NAN, 1));
        tg_tensor *b = tensor(fx, dt, 1, SHAPE(2), VALUES(1, NAN));

        tg_tensor *hi = tg_maximum(fx->tape, a, b);
        tg_tensor *lo = tg_minimum(fx->tape, a, b);

        for (int64_t i = 0; i < 2; i++) {
            assert_true(isnan(tg_get(hi, i)));
            assert_true(isnan(tg_get(lo, i)));
        }
    }
}

/* ---- unary ops: values and gradients at chosen points ------------------------------------- */

static void neg_flips_signs_and_add_scalar_shifts_every_element(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *x = param(fx, dt, 2, SHAPE(1, 3), VALUES(1, -2.5, 0));

        tg_tape_reset(fx->tape);
        tg_tensor *neg = tg_neg(fx->tape, x);
        tg_tensor *shifted = tg_add_scalar(fx->tape, x, 0.5);
        backward_of_sum(fx, tg_add(fx->tape, tg_scale(fx->tape, neg, 2), shifted));

        assert_shape(neg, 1, 3);
        assert_values(neg, 0, -1, 2.5, 0);
        assert_values(shifted, 0, 1.5, -2, 0.5);
        /* d/dx (2 (-x) + (x + 0.5)) = -1 */
        assert_grads(x, 0, -1, -1, -1);
    }
}

static void exp_and_log_invert_each_other_at_logarithms_of_two(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *x = param(fx, dt, 1, SHAPE(3), VALUES(0, ln2, -ln2));
        tg_tensor *p = param(fx, dt, 1, SHAPE(3), VALUES(1, 2, 0.5));

        tg_tape_reset(fx->tape);
        tg_tensor *e = tg_exp(fx->tape, x);
        tg_tensor *l = tg_log(fx->tape, p);
        backward_of_sum(fx, tg_add(fx->tape, e, l));

        assert_values(e, tolerance(dt), 1, 2, 0.5);
        assert_values(l, tolerance(dt), 0, ln2, -ln2);
        /* exp' = exp; log' = 1 / x. */
        assert_grads(x, tolerance(dt), 1, 2, 0.5);
        assert_grads(p, tolerance(dt), 1, 0.5, 2);
    }
}

static void log_of_zero_is_minus_infinity_with_an_infinite_gradient_there_only(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *x = param(fx, dt, 1, SHAPE(3), VALUES(0, 1, 4));

        tg_tape_reset(fx->tape);
        tg_tensor *y = tg_log(fx->tape, x);
        backward_of_sum(fx, y);

        assert_negative_infinity(tg_get(y, 0));
        assert_near(tg_get(y, 1), 0, 0);
        assert_near(tg_get(y, 2), 2 * ln2, tolerance(dt));
        assert_positive_infinity(tg_grad_get(x, 0));
        assert_near(tg_grad_get(x, 1), 1, 0);
        assert_near(tg_grad_get(x, 2), 0.25, 0);
    }
}

static void log_of_a_negative_number_is_nan_but_its_gradient_is_finite(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *x = param(fx, dt, 1, SHAPE(2), VALUES(-2, 2));
        tg_tensor *g = tensor(fx, dt, 1, SHAPE(2), VALUES(1, 1));

        tg_tape_reset(fx->tape);
        tg_tensor *y = tg_log(fx->tape, x);
        assert_true(tg_backward(fx->tape, y, g));

        assert_true(isnan(tg_get(y, 0)));
        assert_grads(x, 0, -0.5, 0.5);
    }
}

static void sqrt_gives_square_roots_with_an_infinite_gradient_at_zero(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *x = param(fx, dt, 1, SHAPE(3), VALUES(0, 4, 2.25));

        tg_tape_reset(fx->tape);
        tg_tensor *y = tg_sqrt(fx->tape, x);
        backward_of_sum(fx, y);

        /* sqrt'(x) = 1 / (2 sqrt(x)) */
        assert_values(y, 0, 0, 2, 1.5);
        assert_positive_infinity(tg_grad_get(x, 0));
        assert_near(tg_grad_get(x, 1), 0.25, 0);
        assert_near(tg_grad_get(x, 2), 1.0 / 3, tolerance(dt));
    }
}

static void abs_has_gradient_sign_x_and_zero_at_zero(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *x = param(fx, dt, 1, SHAPE(3), VALUES(-1.5, 0, 2));

        tg_tape_reset(fx->tape);
        tg_tensor *y = tg_abs(fx->tape, x);
        backward_of_sum(fx, y);

        assert_values(y, 0, 1.5, 0, 2);
        assert_grads(x, 0, -1, 0, 1);
    }
}

static void relu_keeps_positive_values_and_has_gradient_zero_at_zero(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *x = param(fx, dt, 1, SHAPE(4), VALUES(-1, 0, 3, 0.5));

        tg_tape_reset(fx->tape);
        tg_tensor *y = tg_relu(fx->tape, x);
        backward_of_sum(fx, y);

        assert_values(y, 0, 0, 0, 3, 0.5);
        assert_grads(x, 0, 0, 0, 1, 1);
    }
}

static void sigmoid_and_softplus_match_closed_forms_at_logarithms_of_three(void **state)
{
    /* sigmoid(ln 3) = 3/4 and softplus(ln 3) = ln 4; their derivatives are y (1 - y) and y. */
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *x = param(fx, dt, 1, SHAPE(3), VALUES(0, ln3, -ln3));
        tg_tensor *z = param(fx, dt, 1, SHAPE(3), VALUES(0, ln3, -ln3));

        tg_tape_reset(fx->tape);
        tg_tensor *s = tg_sigmoid(fx->tape, x);
        tg_tensor *p = tg_softplus(fx->tape, z);
        backward_of_sum(fx, tg_add(fx->tape, s, p));

        assert_values(s, tolerance(dt), 0.5, 0.75, 0.25);
        assert_grads(x, tolerance(dt), 0.25, 0.1875, 0.1875);
        assert_values(p, tolerance(dt), ln2, 2 * ln2, 2 * ln2 - ln3);
        assert_grads(z, tolerance(dt), 0.5, 0.75, 0.25);
    }
}

static void sigmoid_stays_finite_and_accurate_at_plus_and_minus_50_and_1000(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *x = param(fx, dt, 1, SHAPE(4), VALUES(-1000, -50, 50, 1000));

        tg_tape_reset(fx->tape);
        tg_tensor *y = tg_sigmoid(fx->tape, x);
        backward_of_sum(fx, y);

        /*
         * sigmoid(-50) = e / (1 + e) with e = exp(-50), and sigmoid'(+-50) = e / (1 + e)^2;
         * both equal e to 22 digits. At +-1000, e underflows to 0 and so does the slope.
         */
        assert_values_relative(y, tolerance(dt), 0, e50, 1, 1);
        assert_grads_relative(x, tolerance(dt), 0, e50, e50, 0);
    }
}

static void softplus_stays_finite_and_accurate_at_plus_and_minus_50_and_1000(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = both_dtypes[k];
        tg_tensor *x = param(fx, dt, 1, SHAPE(4), VALUES(-1000, -50, 50, 1000));

        tg_tape_reset(fx->tape);
        tg_tensor *y = tg_softplus(fx->tape, x);
        backward_of_sum(fx, y);

        /* softplus(-50) = log1p(exp(-50)), which is exp(-50) to 22 digits; softplus(50) = 50. */
        assert_values_relative(y, tolerance(dt), 0, e50, 50, 1000);
        assert_grads_relative(x, tolerance(dt), 0, e50, 1, 1);
    }
}

/* ---- gradients against central differences ------------------------------------------------ */

typedef tg_tensor *(*binary_op)(tg_tape *tape, tg_tensor *a, tg_tensor *b);
typedef tg_tensor *(*unary_op)(tg_tape *tape, tg_tensor *x);

static tg_tensor *apply_binary(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    binary_op op = *(binary_op *)ctx;
    return op(tape, in[0], in[1]);
}

static tg_tensor *apply_unary(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    unary_op op = *(unary_op *)ctx;
    return op(tape, in[0]);
}

static tg_tensor *apply_add_scalar(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    return tg_add_scalar(tape, in[0], -0.75);
}

/* Moves values from [-1.5, 1.5) into [0.5, 2): away from 0, where div, pow and log are tame. */
static tg_tensor *positive(tg_tensor *t)
{
    for (int64_t i = 0; i < t->size; i++)
        tg_set(t, i, 0.5 + fabs(tg_get(t, i)));
    return t;
}

/* Moves values at least 0.1 away from 0, the kink of abs and relu. */
static tg_tensor *away_from_zero(tg_tensor *t)
{
    for (int64_t i = 0; i < t->size; i++)
        tg_set(t, i, tg_get(t, i) + (tg_get(t, i) < 0 ? -0.1 : 0.1));
    return t;
}

typedef struct shape_pair {
    int ndim_a;
    int64_t a[TG_MAX_DIMS];
    int ndim_b;
    int64_t b[TG_MAX_DIMS];
} shape_pair;

static const shape_pair broadcast_pairs[] = {
    {2, {2, 3}, 2, {2, 3}},          /* same shape */
    {2, {2, 3}, 1, {3}},             /* [m, n] with [n] */
    {1, {3}, 2, {2, 3}},             /* [n] with [m, n] */
    {2, {3, 1}, 2, {1, 4}},          /* [n, 1] with [1, m] */
    {2, {2, 3}, 1, {1}},             /* [m, n] with [1] */
    {0, {0}, 2, {2, 3}},             /* a scalar with [m, n] */
    {0, {0}, 0, {0}},                /* two scalars */
    {4, {2, 1, 3, 1}, 3, {2, 1, 2}}, /* both stretched, in four dimensions */
};

static void div_pow_maximum_minimum_backward_match_central_differences(void **state)
{
    static binary_op ops[] = {tg_div, tg_pow, tg_maximum, tg_minimum};
    fixture *fx = *state;
    tg_rng rng;
    tg_rng_seed(&rng, 11);
    for (size_t op = 0; op < sizeof ops / sizeof ops[0]; op++) {
        for (size_t p = 0; p < sizeof broadcast_pairs / sizeof broadcast_pairs[0]; p++) {
            const shape_pair *s = &broadcast_pairs[p];
            tg_tensor *a = random_param(fx, &rng, s->ndim_a, s->a);
            tg_tensor *b = random_param(fx, &rng, s->ndim_b, s->b);
            /* div needs b away from 0; pow needs a > 0 for a real a^b. */
            if (ops[op] == tg_div)
                positive(b);
            if (ops[op] == tg_pow)
                positive(a);

            assert_gradcheck(apply_binary, &ops[op], a, b);
        }
    }
}

static void div_and_pow_of_one_tensor_with_itself_match_central_differences(void **state)
{
    static binary_op ops[] = {tg_div, tg_pow};
    fixture *fx = *state;
    tg_rng rng;
    tg_rng_seed(&rng, 12);
    tg_tensor *x = positive(random_param(fx, &rng, 2, SHAPE(2, 3)));

    for (size_t op = 0; op < sizeof ops / sizeof ops[0]; op++)
        assert_gradcheck(apply_binary, &ops[op], x, x);
}

typedef struct shape {
    int ndim;
    int64_t dims[TG_MAX_DIMS];
} shape;

static const shape unary_shapes[] = {{2, {2, 3}}, {1, {1}}, {0, {0}}, {3, {2, 3, 2}}};

static void unary_ops_backward_match_central_differences(void **state)
{
    static unary_op ops[] = {tg_neg,  tg_exp,     tg_log,  tg_sqrt,    tg_abs,
                             tg_relu, tg_sigmoid, tg_tanh, tg_softplus};
    fixture *fx = *state;
    tg_rng rng;
    tg_rng_seed(&rng, 13);
    for (size_t s = 0; s < sizeof unary_shapes / sizeof unary_shapes[0]; s++) {
        for (size_t op = 0; op < sizeof ops / sizeof ops[0]; op++) {
            tg_tensor *x = random_param(fx, &rng, unary_shapes[s].ndim, unary_shapes[s].dims);
            if (ops[op] == tg_log || ops[op] == tg_sqrt)
                positive(x);
            if (ops[op] == tg_abs || ops[op] == tg_relu)
                away_from_zero(x);

            assert_gradcheck(apply_unary, &ops[op], x);
        }
        tg_tensor *x = random_param(fx, &rng, unary_shapes[s].ndim, unary_shapes[s].dims);
        assert_gradcheck(apply_add_scalar, NULL, x);
    }
}

static void log_backward_matches_central_differences_near_zero(void **state)
{
    static unary_op log_op = tg_log;
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(3), VALUES(0.01, 0.02, 0.05));

    assert_gradcheck(apply_unary, &log_op, x);
}

static void sigmoid_and_softplus_backward_match_central_differences_in_the_tails(void **state)
{
    static unary_op ops[] = {tg_sigmoid, tg_softplus};
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(6), VALUES(-1000, -50, -1, 0.5, 50, 1000));

    for (size_t op = 0; op < sizeof ops / sizeof ops[0]; op++)
        assert_gradcheck(apply_unary, &ops[op], x);
}

/* ---- zero-element tensors ----------------------------------------------------------------- */

static void zero_element_tensors_pass_through_every_elementwise_op(void **state)
{
    static binary_op binary[] = {tg_add, tg_sub, tg_mul, tg_div, tg_pow, tg_maximum, tg_minimum};
    static unary_op unary[] = {tg_neg,  tg_exp,     tg_log,  tg_sqrt,    tg_abs,
                               tg_relu, tg_sigmoid, tg_tanh, tg_softplus};
    fixture *fx = *state;
    tg_tensor *empty = param(fx, TG_F64, 2, SHAPE(0, 3), VALUES(0));
    tg_tensor *row = param(fx, TG_F64, 1, SHAPE(3), VALUES(1, 2, 3));
    tg_tensor *g = own(fx, tg_tensor_new(TG_F64, 2, SHAPE(0, 3)));

    for (size_t op = 0; op < sizeof binary / sizeof binary[0]; op++) {
        tg_tape_reset(fx->tape);
        tg_tensor *y = binary[op](fx->tape, empty, row);

        assert_shape(y, 0, 3);
        assert_true(tg_backward(fx->tape, y, g));
        assert_grads(row, 0, 0, 0, 0);
    }
    for (size_t op = 0; op < sizeof unary / sizeof unary[0]; op++) {
        tg_tape_reset(fx->tape);
        tg_tensor *y = unary[op](fx->tape, empty);

        assert_shape(y, 0, 3);
        assert_true(tg_backward(fx->tape, y, g));
    }
}

/* ---- errors ------------------------------------------------------------------------------- */

static void new_binary_ops_refuse_mixed_dtypes_and_shapes_that_do_not_broadcast(void **state)
{
    static binary_op ops[] = {tg_div, tg_pow, tg_maximum, tg_minimum};
    static const char *names[] = {"div", "pow", "maximum", "minimum"};
    fixture *fx = *state;
    tg_tensor *a = tensor(fx, TG_F32, 2, SHAPE(2, 3), VALUES(1, 2, 3, 4, 5, 6));
    tg_tensor *b = tensor(fx, TG_F64, 2, SHAPE(3, 1), VALUES(1, 2, 3));
    tg_tensor *c = tensor(fx, TG_F32, 1, SHAPE(2), VALUES(1, 2));
    for (size_t op = 0; op < sizeof ops / sizeof ops[0]; op++) {
        tg_tape_reset(fx->tape);
        assert_null(ops[op](fx->tape, a, b));
        assert_message_contains(tg_tape_error(fx->tape), names[op], "float32 [2, 3]",
                                "float64 [3, 1]");

        tg_tape_reset(fx->tape);
        assert_null(ops[op](fx->tape, a, c));
        assert_message_contains(tg_tape_error(fx->tape), names[op], "[2, 3]", "[2]",
                                "do not broadcast");
    }
}

static void every_elementwise_op_given_null_returns_null_without_a_message(void **state)
{
    static binary_op binary[] = {tg_div, tg_pow, tg_maximum, tg_minimum};
    static unary_op unary[] = {tg_neg, tg_exp,  tg_log,     tg_sqrt,
                               tg_abs, tg_relu, tg_sigmoid, tg_softplus};
    fixture *fx = *state;
    tg_tensor *m = tensor(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2));

    for (size_t op = 0; op < sizeof binary / sizeof binary[0]; op++) {
        assert_null(binary[op](fx->tape, NULL, m));
        assert_null(binary[op](fx->tape, m, NULL));
    }
    for (size_t op = 0; op < sizeof unary / sizeof unary[0]; op++)
        assert_null(unary[op](fx->tape, NULL));
    assert_null(tg_add_scalar(fx->tape, NULL, 1.0));

    assert_null(tg_tape_error(fx->tape));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(div_divides_elementwise_and_stretches_a_column_against_a_row),
        TEST(div_by_zero_gives_signed_infinities_and_nan_for_zero_over_zero),
        TEST(pow_raises_each_base_to_its_exponent_with_broadcasting),
        TEST(pow_gradients_are_b_a_to_the_b_minus_1_and_y_log_a),
        TEST(pow_at_a_zero_base_or_a_zero_exponent_has_no_nan_gradient),
        TEST(pow_of_a_negative_base_differentiates_in_a_and_is_nan_only_in_b),
        TEST(maximum_and_minimum_pick_elementwise_with_broadcasting),
        TEST(maximum_and_minimum_send_the_gradient_of_a_tie_to_a),
        TEST(maximum_and_minimum_propagate_nan_from_either_operand),
        TEST(neg_flips_signs_and_add_scalar_shifts_every_element),
        TEST(exp_and_log_invert_each_other_at_logarithms_of_two),
        TEST(log_of_zero_is_minus_infinity_with_an_infinite_gradient_there_only),
        TEST(log_of_a_negative_number_is_nan_but_its_gradient_is_finite),
        TEST(sqrt_gives_square_roots_with_an_infinite_gradient_at_zero),
        TEST(abs_has_gradient_sign_x_and_zero_at_zero),
        TEST(relu_keeps_positive_values_and_has_gradient_zero_at_zero),
        TEST(sigmoid_and_softplus_match_closed_forms_at_logarithms_of_three),
        TEST(sigmoid_stays_finite_and_accurate_at_plus_and_minus_50_and_1000),
        TEST(softplus_stays_finite_and_accurate_at_plus_and_minus_50_and_1000),
        TEST(div_pow_maximum_minimum_backward_match_central_differences),
        TEST(div_and_pow_of_one_tensor_with_itself_match_central_differences),
        TEST(unary_ops_backward_match_central_differences),
        TEST(log_backward_matches_central_differences_near_zero),
        TEST(sigmoid_and_softplus_backward_match_central_differences_in_the_tails),
        TEST(zero_element_tensors_pass_through_every_elementwise_op),
        TEST(new_binary_ops_refuse_mixed_dtypes_and_shapes_that_do_not_broadcast),
        TEST(every_elementwise_op_given_null_returns_null_without_a_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
