/*
 * test_gradcheck.c: the gradient checker accepts correct backward rules, catches a wrong one
 * and points at the worst element, leaves its inputs as it found them, and reports instead of
 * aborting when the check cannot run.
 */
#include "tg_op.h"
#include "tg_ops.h"
#include "tg_test.h"

/* A backward rule for y = x^2 that a test can get wrong on purpose: dy/dx_i = slope(x_i, i). */
typedef struct square_rule {
    double (*slope)(double x, int64_t i);
} square_rule;

static void square_with_rule_backward(tg_tape *tape, const tg_node *node)
{
    const square_rule *rule = node->rule;
    tg_tensor *x = node->in[0], *y = node->out;
    void *gx = tg_op_grad(tape, x);
    for (int64_t i = 0; gx && i < x->size; i++) {
        double slope = rule->slope(tg_load(x->dtype, x->data, i), i);
        tg_accumulate(x->dtype, gx, i, tg_load(y->dtype, y->grad, i) * slope);
    }
}

static tg_tensor *square_with_rule(tg_tape *tape, tg_tensor *x, const square_rule *rule)
{
    tg_tensor *y = tg_op_output(tape, x->dtype, x->ndim, x->shape, 1, &x);
    if (!y)
        return NULL;
    for (int64_t i = 0; i < x->size; i++)
        tg_set(y, i, tg_get(x, i) * tg_get(x, i));

    tg_node *node = tg_op_record(tape, "square_with_rule", square_with_rule_backward, y, 1, &x);
    if (node)
        node->rule = rule;
    return y;
}

/* Wrong by exactly 1 everywhere. */
static double off_by_one_slope(double x, int64_t i) { return 2.0 * x + 1.0; }
static const square_rule off_by_one = {off_by_one_slope};

/* Right except for a NaN at element 1. */
static double nan_at_one_slope(double x, int64_t i) { return i == 1 ? NAN : 2.0 * x; }
static const square_rule nan_at_one = {nan_at_one_slope};

static tg_tensor *off_by_one_square(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    return square_with_rule(tape, in[0], &off_by_one);
}

static tg_tensor *nan_at_one_square(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    return square_with_rule(tape, in[0], &nan_at_one);
}

static tg_tensor *sum_of_off_by_one_square(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    return tg_sum(tape, off_by_one_square(tape, in, ctx));
}

static tg_tensor *sum_of_squares(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    return tg_sum(tape, tg_square(tape, in[0]));
}

static tg_tensor *product(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    return tg_mul(tape, in[0], in[1]);
}

static void a_correct_rule_passes_and_every_element_is_counted(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 2, SHAPE(2, 2), VALUES(1, -3, 0.25, 2));
    tg_gradcheck_report r;

    assert_true(tg_gradcheck(sum_of_squares, &x, 1, NULL, 1e-6, 1e-8, &r));

    assert_int_equal(r.checked, 4);
    assert_true(r.max_rel_error <= 1e-8);
    assert_string_equal(r.error, "");
}

static void a_wrong_rule_fails_and_the_report_names_the_worst_element(void **state)
{
    /*
     * Analytic 2x + 1 against numeric 2x, with error |1| / max(1, |2x + 1|, |2x|):
     * x = 1 gives 1/3, x = -3 gives 1/6, x = 0.25 gives 1/1.5 = 2/3, the worst.
     */
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(3), VALUES(1, -3, 0.25));
    tg_gradcheck_report r;

    assert_false(tg_gradcheck(sum_of_off_by_one_square, &x, 1, NULL, 1e-6, 1e-3, &r));

    assert_string_equal(r.error, "");
    assert_int_equal(r.checked, 3);
    assert_int_equal(r.input, 0);
    assert_int_equal(r.index, 2);
    assert_near(r.analytic, 1.5, 1e-12);
    assert_near(r.numeric, 0.5, 1e-8);
    assert_near(r.max_rel_error, 2.0 / 3.0, 1e-8);
}

static void a_wrong_rule_is_caught_through_an_output_of_many_elements(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 2, SHAPE(2, 3), VALUES(1, -3, 0.25, 2, 0, -1));

    assert_false(tg_gradcheck(off_by_one_square, &x, 1, NULL, 1e-6, 1e-3, NULL));
}

static void a_nan_gradient_counts_as_an_infinite_error(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(3), VALUES(1, 2, 3));
    tg_gradcheck_report r;

    assert_false(tg_gradcheck(nan_at_one_square, &x, 1, NULL, 1e-6, 1e-3, &r));

    assert_int_equal(r.index, 1);
    assert_true(isnan(r.analytic));
    assert_true(isinf(r.max_rel_error));
}

static void inputs_keep_their_data_and_gradients(void **state)
{
    fixture *fx = *state;
    tg_tensor *a = param(fx, TG_F64, 1, SHAPE(3), VALUES(0.1, -0.7, 1.3));
    tg_tensor *b = param(fx, TG_F64, 1, SHAPE(3), VALUES(2.0, 0.5, -1.0));
    tg_tensor *frozen = param(fx, TG_F64, 1, SHAPE(3), VALUES(1, 1, 1));
    for (int64_t i = 0; i < 3; i++) {
        set_grad(a, i, 7.0 + (double)i);
        set_grad(frozen, i, -1.0);
    }
    assert_true(tg_tensor_set_requires_grad(frozen, false));
    tg_tensor *inputs[] = {a, b, frozen};

    assert_true(tg_gradcheck(product, inputs, 3, NULL, 1e-6, 1e-8, NULL));

    assert_values(a, 0, 0.1, -0.7, 1.3);
    assert_values(b, 0, 2.0, 0.5, -1.0);
    assert_grads(a, 0, 7, 8, 9);
    assert_grads(b, 0, 0, 0, 0);
    assert_grads(frozen, 0, -1, -1, -1);
}

static void inputs_that_require_no_gradient_are_not_checked(void **state)
{
    fixture *fx = *state;
    tg_tensor *a = param(fx, TG_F64, 1, SHAPE(3), VALUES(0.1, -0.7, 1.3));
    tg_tensor *b = tensor(fx, TG_F64, 2, SHAPE(2, 3), VALUES(1, 2, 3, 4, 5, 6));
    tg_gradcheck_report r;

    assert_true(tg_gradcheck(product, (tg_tensor *[]){a, b}, 2, NULL, 1e-6, 1e-8, &r));

    assert_int_equal(r.checked, 3);
    assert_int_equal(r.input, 0);
}

static tg_tensor *constant_output(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    return tg_scale(tape, ctx, 2.0);
}

static void an_output_independent_of_the_inputs_has_zero_gradients_and_passes(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2));
    tg_tensor *c = tensor(fx, TG_F64, 1, SHAPE(2), VALUES(3, 4));
    tg_gradcheck_report r;

    assert_true(tg_gradcheck(constant_output, &x, 1, c, 1e-6, 1e-8, &r));

    assert_int_equal(r.checked, 2);
    assert_true(r.analytic == 0.0 && r.numeric == 0.0);
}

static tg_tensor *returns_null(tg_tape *tape, tg_tensor *const *in, void *ctx) { return NULL; }

static tg_tensor *mismatched_add(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    return tg_add(tape, in[0], ctx);
}

static void a_function_that_fails_makes_the_check_fail_with_its_reason(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(3), VALUES(1, 2, 3));
    tg_tensor *wrong = tensor(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2));
    tg_gradcheck_report r;

    assert_false(tg_gradcheck(returns_null, &x, 1, NULL, 1e-6, 1e-8, &r));
    assert_message_contains(r.error, "tg_gradcheck", "returned NULL");

    assert_false(tg_gradcheck(mismatched_add, &x, 1, wrong, 1e-6, 1e-8, &r));
    assert_message_contains(r.error, "tg_gradcheck", "add", "[3]", "[2]");
    assert_message_contains(tg_last_error(), "add", "[3]", "[2]");
    assert_values(x, 0, 1, 2, 3);
}

/* Sums its input on the first call only, as a function with hidden state might. */
static tg_tensor *sum_then_square(tg_tape *tape, tg_tensor *const *in, void *ctx)
{
    int *calls = ctx;
    return (*calls)++ == 0 ? tg_sum(tape, in[0]) : tg_square(tape, in[0]);
}

static void an_output_that_changes_shape_between_calls_is_reported(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2));
    int calls = 0;
    tg_gradcheck_report r;

    assert_false(tg_gradcheck(sum_then_square, &x, 1, &calls, 1e-6, 1e-8, &r));

    assert_message_contains(r.error, "changed shape", "[]", "[2]");
    assert_values(x, 0, 1, 2);
    assert_grads(x, 0, 0, 0);
}

static void inputs_that_cannot_be_perturbed_are_refused(void **state)
{
    fixture *fx = *state;
    tg_tensor *single = param(fx, TG_F32, 1, SHAPE(2), VALUES(1, 2));
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2));
    tg_tensor *on_tape = tg_scale(fx->tape, x, 1.0);
    tg_gradcheck_report r;

    assert_false(tg_gradcheck(sum_of_squares, &single, 1, NULL, 1e-6, 1e-8, &r));
    assert_message_contains(r.error, "input 0", "float32");

    assert_false(tg_gradcheck(sum_of_squares, &on_tape, 1, NULL, 1e-6, 1e-8, &r));
    assert_message_contains(r.error, "input 0", "tape");

    assert_false(tg_gradcheck(sum_of_squares, (tg_tensor *[]){x, NULL}, 2, NULL, 1e-6, 1e-8, &r));
    assert_message_contains(r.error, "input 1", "NULL");
}

static void bad_arguments_are_refused_with_a_message(void **state)
{
    fixture *fx = *state;
    tg_tensor *x = param(fx, TG_F64, 1, SHAPE(2), VALUES(1, 2));
    tg_gradcheck_report r;

    assert_false(tg_gradcheck(NULL, &x, 1, NULL, 1e-6, 1e-8, &r));
    assert_message_contains(r.error, "function");

    assert_false(tg_gradcheck(sum_of_squares, &x, 1, NULL, 0.0, 1e-8, &r));
    assert_message_contains(r.error, "eps");

    assert_false(tg_gradcheck(sum_of_squares, NULL, 1, NULL, 1e-6, 1e-8, &r));
    assert_message_contains(r.error, "inputs");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(a_correct_rule_passes_and_every_element_is_counted),
        TEST(a_wrong_rule_fails_and_the_report_names_the_worst_element),
        TEST(a_wrong_rule_is_caught_through_an_output_of_many_elements),
        TEST(a_nan_gradient_counts_as_an_infinite_error),
        TEST(inputs_keep_their_data_and_gradients),
        TEST(inputs_that_require_no_gradient_are_not_checked),
        TEST(an_output_independent_of_the_inputs_has_zero_gradients_and_passes),
        TEST(a_function_that_fails_makes_the_check_fail_with_its_reason),
        TEST(an_output_that_changes_shape_between_calls_is_reported),
        TEST(inputs_that_cannot_be_perturbed_are_refused),
        TEST(bad_arguments_are_refused_with_a_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
