/*
 * Reductions. Reducing one axis views the input as [outer, n, inner], where n is the axis'
 * size, and produces [outer, inner]: output element (o, j) reduces the lane of n elements
 * (o, 0..n, j), which lie `inner` apart. Reducing every element is the same view with
 * outer = inner = 1.
 *
 * Each reduction is a rule: its value over a lane, and a backward that adds the lane's share
 * of the output gradient g to the lane's elements x_k:
 *     sum: g,    mean: g / n,    max and min: g to the element picked, 0 to the others,
 *     logsumexp: g exp(x_k - y), the lane's softmax times g.
 */
#include <math.h>

#include "tg_op.h"
#include "tg_ops.h"

typedef struct axis_view {
    int64_t outer, n, inner;
} axis_view;

typedef struct lane {
    tg_dtype dtype;
    const void *x;
    int64_t start, stride, n;
} lane;

typedef struct reduce_rule {
    const char *name;
    /* The lane's value; max and min also say which element they picked (-1 for none). */
    double (*f)(const lane *l, int64_t *pick);
    /* Adds the lane's gradient to gx, given the value y and its gradient g. */
    void (*df)(const lane *l, double y, double g, int64_t pick, void *gx);
    bool picks; /* whether backward needs the picked elements */
} reduce_rule;

/* What a reduction's backward needs: the view, and for max and min the picks per output. */
typedef struct reduction {
    axis_view v;
    int64_t *picks;
} reduction;

static double at(const lane *l, int64_t k)
{
    return tg_load(l->dtype, l->x, l->start + k * l->stride);
}

static void add_at(const lane *l, void *gx, int64_t k, double g)
{
    tg_accumulate(l->dtype, gx, l->start + k * l->stride, g);
}

static lane lane_of(const tg_tensor *x, axis_view v, int64_t o, int64_t j)
{
    return (lane){x->dtype, x->data, o * v.n * v.inner + j, v.inner, v.n};
}

/* ---- the rules ------------------------------------------------------------------------ */

static double sum_f(const lane *l, int64_t *pick)
{
    double acc = 0.0;
    for (int64_t k = 0; k < l->n; k++)
        acc += at(l, k);
    return acc;
}

static void sum_df(const lane *l, double y, double g, int64_t pick, void *gx)
{
    for (int64_t k = 0; k < l->n; k++)
        add_at(l, gx, k, g);
}

static const reduce_rule sum_rule = {"sum", sum_f, sum_df, false};

/* The mean of an empty lane is 0 / 0, NaN, as in numpy; there is nothing to differentiate. */
static double mean_f(const lane *l, int64_t *pick)
{
    return l->n == 0 ? NAN : sum_f(l, pick) / (double)l->n;
}

static void mean_df(const lane *l, double y, double g, int64_t pick, void *gx)
{
    sum_df(l, y, g / (double)l->n, pick, gx);
}

static const reduce_rule mean_rule = {"mean", mean_f, mean_df, false};

/*
 * The first largest (or smallest) element, so ties go to the earliest. A NaN is picked at
 * once and propagates. An empty lane gives the identity, -inf for max and +inf for min.
 */
static double extreme(const lane *l, bool largest, int64_t *pick)
{
    double best = largest ? -INFINITY : INFINITY;
    *pick = -1;
    for (int64_t k = 0; k < l->n; k++) {
        double v = at(l, k);
        if (isnan(v)) {
            *pick = k;
            return v;
        }
        if (*pick < 0 || (largest ? v > best : v < best)) {
            best = v;
            *pick = k;
        }
    }
    return best;
}

static double max_f(const lane *l, int64_t *pick) { return extreme(l, true, pick); }
static double min_f(const lane *l, int64_t *pick) { return extreme(l, false, pick); }

static void pick_df(const lane *l, double y, double g, int64_t pick, void *gx)
{
    if (pick >= 0)
        add_at(l, gx, pick, g);
}

static const reduce_rule max_rule = {"max", max_f, pick_df, true};
static const reduce_rule min_rule = {"min", min_f, pick_df, true};

/*
 * y = m + log(s) with m the lane's max and s = sum_k exp(x_k - m), so every exp is at most 1.
 * The gradient exp(x_k - y) is computed as exp(x_k - m) / s from m and s recomputed in double:
 * m is one of the x_k, so x_k - m is exact, while the output y is rounded (in float32 by up to
 * 3e-5 near 1000, which would skew every term by as much).
 *
 * When m is infinite (an empty lane, all -inf, or a +inf element) y = m, and the lane passes
 * no gradient, since x_k - m would be inf - inf.
 */
static double sum_exp(const lane *l, double m)
{
    double s = 0.0;
    for (int64_t k = 0; k < l->n; k++)
        s += exp(at(l, k) - m);
    return s;
}

static double logsumexp_f(const lane *l, int64_t *pick)
{
    double m = extreme(l, true, pick);
    return isinf(m) ? m : m + log(sum_exp(l, m));
}

static void logsumexp_df(const lane *l, double y, double g, int64_t pick, void *gx)
{
    double m = extreme(l, true, &pick);
    if (isinf(m))
        return;
    double s = sum_exp(l, m);
    for (int64_t k = 0; k < l->n; k++)
        add_at(l, gx, k, g * exp(at(l, k) - m) / s);
}

static const reduce_rule logsumexp_rule = {"logsumexp", logsumexp_f, logsumexp_df, false};

/* ---- the shared forward and backward ---------------------------------------------------- */

static void reduce_backward(tg_tape *tape, const tg_node *node)
{
    const reduce_rule *rule = node->rule;
    const reduction *r = node->saved;
    tg_tensor *x = node->in[0], *y = node->out;
    void *gx = tg_op_grad(tape, x);
    if (!gx)
        return;

    for (int64_t o = 0; o < r->v.outer; o++) {
        for (int64_t j = 0; j < r->v.inner; j++) {
            int64_t i = o * r->v.inner + j;
            lane l = lane_of(x, r->v, o, j);
            double g = tg_load(y->dtype, y->grad, i);
            rule->df(&l, tg_load(y->dtype, y->data, i), g, r->picks ? r->picks[i] : -1, gx);
        }
    }
}

static void reduce_forward(const reduce_rule *rule, const tg_tensor *x, const reduction *r,
                           tg_tensor *y)
{
    for (int64_t o = 0; o < r->v.outer; o++) {
        for (int64_t j = 0; j < r->v.inner; j++) {
            int64_t i = o * r->v.inner + j, pick = -1;
            lane l = lane_of(x, r->v, o, j);
            tg_store(y->dtype, y->data, i, rule->f(&l, &pick));
            if (r->picks)
                r->picks[i] = pick;
        }
    }
}

static tg_tensor *reduce_apply(tg_tape *tape, const reduce_rule *rule, tg_tensor *x, axis_view v,
                               int ndim, const int64_t *shape)
{
    tg_tensor *y = tg_op_output(tape, x->dtype, ndim, shape, 1, &x);
    reduction *r = y ? tg_op_alloc(tape, sizeof *r) : NULL;
    if (!r)
        return NULL;
    *r = (reduction){v, NULL};
    if (rule->picks && y->requires_grad) {
        r->picks = tg_op_alloc(tape, (size_t)y->size * sizeof *r->picks);
        if (!r->picks)
            return NULL;
    }

    reduce_forward(rule, x, r, y);

    tg_node *node = tg_op_record(tape, rule->name, reduce_backward, y, 1, &x);
    if (node) {
        node->rule = rule;
        node->saved = r;
    }
    return y;
}

/* Every element into a scalar. */
static tg_tensor *reduce_all(tg_tape *tape, const reduce_rule *rule, tg_tensor *x)
{
    if (!tg_op_inputs_present(tape, 1, &x))
        return NULL;
    return reduce_apply(tape, rule, x, (axis_view){1, x->size, 1}, 0, NULL);
}

/* One axis, which stays with size 1 under keepdim. */
static tg_tensor *reduce_axis(tg_tape *tape, const reduce_rule *rule, tg_tensor *x, int axis,
                              bool keepdim)
{
    if (!tg_op_inputs_present(tape, 1, &x))
        return NULL;
    int d = axis < 0 ? axis + x->ndim : axis;
    if (d < 0 || d >= x->ndim) {
        char s[64];
        return tg_op_fail(tape, "%s: axis %d is out of range for shape %s", rule->name, axis,
                          tg_shape_str(x, s, sizeof s));
    }

    axis_view v = {1, x->shape[d], 1};
    int64_t shape[TG_MAX_DIMS];
    int ndim = 0;
    for (int e = 0; e < x->ndim; e++) {
        if (e < d)
            v.outer *= x->shape[e];
        if (e > d)
            v.inner *= x->shape[e];
        if (e != d || keepdim)
            shape[ndim++] = e == d ? 1 : x->shape[e];
    }
    return reduce_apply(tape, rule, x, v, ndim, shape);
}

/* ---- public functions ------------------------------------------------------------------- */

tg_tensor *tg_sum(tg_tape *tape, tg_tensor *x) { return reduce_all(tape, &sum_rule, x); }

tg_tensor *tg_sum_axis(tg_tape *tape, tg_tensor *x, int axis, bool keepdim)
{
    return reduce_axis(tape, &sum_rule, x, axis, keepdim);
}

tg_tensor *tg_mean(tg_tape *tape, tg_tensor *x) { return reduce_all(tape, &mean_rule, x); }

tg_tensor *tg_mean_axis(tg_tape *tape, tg_tensor *x, int axis, bool keepdim)
{
    return reduce_axis(tape, &mean_rule, x, axis, keepdim);
}

tg_tensor *tg_max(tg_tape *tape, tg_tensor *x) { return reduce_all(tape, &max_rule, x); }

tg_tensor *tg_max_axis(tg_tape *tape, tg_tensor *x, int axis, bool keepdim)
{
    return reduce_axis(tape, &max_rule, x, axis, keepdim);
}

tg_tensor *tg_min(tg_tape *tape, tg_tensor *x) { return reduce_all(tape, &min_rule, x); }

tg_tensor *tg_min_axis(tg_tape *tape, tg_tensor *x, int axis, bool keepdim)
{
    return reduce_axis(tape, &min_rule, x, axis, keepdim);
}

tg_tensor *tg_logsumexp(tg_tape *tape, tg_tensor *x)
{
    return reduce_all(tape, &logsumexp_rule, x);
}

tg_tensor *tg_logsumexp_axis(tg_tape *tape, tg_tensor *x, int axis, bool keepdim)
{
    return reduce_axis(tape, &logsumexp_rule, x, axis, keepdim);
}
