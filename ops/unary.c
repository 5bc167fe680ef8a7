/*
 * Elementwise unary ops. Each is a rule: the function, and its derivative written in terms of
 * the input x, the output y and the op's constant c (tanh's derivative is cheapest as 1 - y^2).
 * The backward multiplies the output gradient by that derivative.
 */
#include <math.h>

#include "tg_op.h"
#include "tg_ops.h"

typedef struct unary_rule {
    const char *name;
    double (*f)(double x, double c);
    double (*df)(double x, double y, double c);
} unary_rule;

static void unary_backward(tg_tape *tape, const tg_node *node)
{
    const unary_rule *rule = node->rule;
    tg_tensor *x = node->in[0], *y = node->out;
    void *gx = tg_op_grad(tape, x);
    if (!gx)
        return;

    tg_dtype dt = y->dtype;
    double c = node->arg[0];
    for (int64_t i = 0; i < y->size; i++) {
        double d = rule->df(tg_load(dt, x->data, i), tg_load(dt, y->data, i), c);
        tg_accumulate(dt, gx, i, tg_load(dt, y->grad, i) * d);
    }
}

static tg_tensor *unary_apply(tg_tape *tape, const unary_rule *rule, tg_tensor *x, double c)
{
    if (!tg_op_inputs_present(tape, 1, &x))
        return NULL;
    tg_tensor *y = tg_op_output(tape, x->dtype, x->ndim, x->shape, 1, &x);
    if (!y)
        return NULL;

    for (int64_t i = 0; i < y->size; i++)
        tg_store(y->dtype, y->data, i, rule->f(tg_load(x->dtype, x->data, i), c));

    tg_node *node = tg_op_record(tape, rule->name, unary_backward, y, 1, &x);
    if (node) {
        node->rule = rule;
        node->arg[0] = c;
    }
    return y;
}

/* scale: y = c x, dy/dx = c. */
static double scale_f(double x, double c) { return c * x; }
static double scale_df(double x, double y, double c) { return c; }
static const unary_rule scale_rule = {"scale", scale_f, scale_df};

/* tanh: dy/dx = 1 - tanh(x)^2 = 1 - y^2. */
static double tanh_f(double x, double c) { return tanh(x); }
static double tanh_df(double x, double y, double c) { return 1.0 - y * y; }
static const unary_rule tanh_rule = {"tanh", tanh_f, tanh_df};

/* square: y = x^2, dy/dx = 2x. */
static double square_f(double x, double c) { return x * x; }
static double square_df(double x, double y, double c) { return 2.0 * x; }
static const unary_rule square_rule = {"square", square_f, square_df};

tg_tensor *tg_scale(tg_tape *tape, tg_tensor *x, double factor)
{
    return unary_apply(tape, &scale_rule, x, factor);
}

tg_tensor *tg_tanh(tg_tape *tape, tg_tensor *x)
{
    return unary_apply(tape, &tanh_rule, x, 0.0);
}

tg_tensor *tg_square(tg_tape *tape, tg_tensor *x)
{
    return unary_apply(tape, &square_rule, x, 0.0);
}
