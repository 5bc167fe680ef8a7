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

    double c = node->arg[0];
    if (y->dtype == TG_F32) {
        const float *xs = x->data, *ys = y->data, *g = y->grad;
        float *out = gx;
        for (int64_t i = 0; i < y->size; i++)
            out[i] += (float)(g[i] * rule->df(xs[i], ys[i], c));
    } else {
        const double *xs = x->data, *ys = y->data, *g = y->grad;
        double *out = gx;
        for (int64_t i = 0; i < y->size; i++)
            out[i] += g[i] * rule->df(xs[i], ys[i], c);
    }
}

/* The loops are written per dtype so that only the rule's own call remains per element. */
static void unary_forward(const unary_rule *rule, const tg_tensor *x, tg_tensor *y, double c)
{
    if (x->dtype == TG_F32) {
        const float *xs = x->data;
        float *ys = y->data;
        for (int64_t i = 0; i < y->size; i++)
            ys[i] = (float)rule->f(xs[i], c);
    } else {
        const double *xs = x->data;
        double *ys = y->data;
        for (int64_t i = 0; i < y->size; i++)
            ys[i] = rule->f(xs[i], c);
    }
}

static tg_tensor *unary_apply(tg_tape *tape, const unary_rule *rule, tg_tensor *x, double c)
{
    if (!tg_op_inputs_present(tape, 1, &x))
        return NULL;
    tg_tensor *y = tg_op_output(tape, x->dtype, x->ndim, x->shape, 1, &x);
    if (!y)
        return NULL;

    unary_forward(rule, x, y, c);

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

/* neg: y = -x, dy/dx = -1. */
static double neg_f(double x, double c) { return -x; }
static double neg_df(double x, double y, double c) { return -1.0; }
static const unary_rule neg_rule = {"neg", neg_f, neg_df};

/* add_scalar: y = x + c, dy/dx = 1. */
static double add_scalar_f(double x, double c) { return x + c; }
static double add_scalar_df(double x, double y, double c) { return 1.0; }
static const unary_rule add_scalar_rule = {"add_scalar", add_scalar_f, add_scalar_df};

/* exp: dy/dx = exp(x) = y. */
static double exp_f(double x, double c) { return exp(x); }
static double exp_df(double x, double y, double c) { return y; }
static const unary_rule exp_rule = {"exp", exp_f, exp_df};

/*
 * log: dy/dx = 1/x. At x = 0, y = -inf and the derivative is +inf at that element only; for
 * x < 0, y is NaN while 1/x stays finite, so the NaN is confined to the value.
 */
static double log_f(double x, double c) { return log(x); }
static double log_df(double x, double y, double c) { return 1.0 / x; }
static const unary_rule log_rule = {"log", log_f, log_df};

/* sqrt: dy/dx = 1 / (2 sqrt(x)) = 0.5 / y, which is +inf at x = 0. */
static double sqrt_f(double x, double c) { return sqrt(x); }
static double sqrt_df(double x, double y, double c) { return 0.5 / y; }
static const unary_rule sqrt_rule = {"sqrt", sqrt_f, sqrt_df};

/* abs: dy/dx = sign(x), taken as 0 at x = 0, the middle of the subgradient [-1, 1]. */
static double abs_f(double x, double c) { return fabs(x); }
static double abs_df(double x, double y, double c) { return (x > 0) - (x < 0); }
static const unary_rule abs_rule = {"abs", abs_f, abs_df};

/* relu: y = max(x, 0) (NaN stays NaN), dy/dx = 1 for x > 0 and 0 otherwise, including at 0. */
static double relu_f(double x, double c) { return x <= 0 ? 0.0 : x; }
static double relu_df(double x, double y, double c) { return x > 0 ? 1.0 : 0.0; }
static const unary_rule relu_rule = {"relu", relu_f, relu_df};

/*
 * sigmoid: y = 1 / (1 + exp(-x)). With e = exp(-|x|), which is at most 1 and so never
 * overflows, y = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0. The derivative y (1 - y)
 * equals e / (1 + e)^2 for either sign; written that way it keeps its relative accuracy where
 * y rounds to 1 (sigmoid'(50) is about 2e-22, while 1 - y is exactly 0).
 */
static double sigmoid_of(double x)
{
    double e = exp(-fabs(x));
    return x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

static double sigmoid_f(double x, double c) { return sigmoid_of(x); }

static double sigmoid_df(double x, double y, double c)
{
    double e = exp(-fabs(x));
    return e / ((1.0 + e) * (1.0 + e));
}

static const unary_rule sigmoid_rule = {"sigmoid", sigmoid_f, sigmoid_df};

/*
 * softplus: y = log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), a form in which exp never
 * overflows and log1p keeps the small tail accurate for x << 0. dy/dx = sigmoid(x).
 */
static double softplus_f(double x, double c) { return fmax(x, 0.0) + log1p(exp(-fabs(x))); }
static double softplus_df(double x, double y, double c) { return sigmoid_of(x); }
static const unary_rule softplus_rule = {"softplus", softplus_f, softplus_df};

tg_tensor *tg_scale(tg_tape *tape, tg_tensor *x, double factor)
{
    return unary_apply(tape, &scale_rule, x, factor);
}

tg_tensor *tg_tanh(tg_tape *tape, tg_tensor *x) { return unary_apply(tape, &tanh_rule, x, 0.0); }

tg_tensor *tg_square(tg_tape *tape, tg_tensor *x)
{
    return unary_apply(tape, &square_rule, x, 0.0);
}

tg_tensor *tg_neg(tg_tape *tape, tg_tensor *x) { return unary_apply(tape, &neg_rule, x, 0.0); }

tg_tensor *tg_add_scalar(tg_tape *tape, tg_tensor *x, double c)
{
    return unary_apply(tape, &add_scalar_rule, x, c);
}

tg_tensor *tg_exp(tg_tape *tape, tg_tensor *x) { return unary_apply(tape, &exp_rule, x, 0.0); }

tg_tensor *tg_log(tg_tape *tape, tg_tensor *x) { return unary_apply(tape, &log_rule, x, 0.0); }

tg_tensor *tg_sqrt(tg_tape *tape, tg_tensor *x) { return unary_apply(tape, &sqrt_rule, x, 0.0); }

tg_tensor *tg_abs(tg_tape *tape, tg_tensor *x) { return unary_apply(tape, &abs_rule, x, 0.0); }

tg_tensor *tg_sigmoid(tg_tape *tape, tg_tensor *x)
{
    return unary_apply(tape, &sigmoid_rule, x, 0.0);
}

tg_tensor *tg_relu(tg_tape *tape, tg_tensor *x) { return unary_apply(tape, &relu_rule, x, 0.0); }

tg_tensor *tg_softplus(tg_tape *tape, tg_tensor *x)
{
    return unary_apply(tape, &softplus_rule, x, 0.0);
}
