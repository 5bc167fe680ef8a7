/*
 * Elementwise binary ops with numpy broadcasting.
 *
 * Both operands are viewed as 4-dimensional by padding their shapes with leading ones. A
 * stretched dimension gets stride 0, so walking the output in order visits each operand's
 * element that produced it. The backward walk uses the same strides to accumulate, which sums
 * a broadcast operand's gradient over exactly the dimensions it was stretched along.
 */
#include <math.h>

#include "tg_op.h"
#include "tg_ops.h"

typedef struct binary_rule {
    const char *name;
    double (*f)(double a, double b);
    double (*da)(double a, double b, double y); /* dy/da */
    double (*db)(double a, double b, double y); /* dy/db */
    char arithmetic; /* '+', '-' or '*' for the ops with a typed fast path, else 0 */
} binary_rule;

typedef struct layout {
    int64_t shape[TG_MAX_DIMS];
    int64_t stride[2][TG_MAX_DIMS]; /* per operand, 0 along stretched dimensions */
} layout;

typedef struct cursor {
    int64_t index[TG_MAX_DIMS];
    int64_t offset[2];
} cursor;

static void padded_shape(const tg_tensor *t, int64_t *shape)
{
    int pad = TG_MAX_DIMS - t->ndim;
    for (int d = 0; d < TG_MAX_DIMS; d++)
        shape[d] = d < pad ? 1 : t->shape[d - pad];
}

static void operand_strides(const int64_t *shape, const int64_t *out, int64_t *stride)
{
    int64_t step = 1;
    for (int d = TG_MAX_DIMS - 1; d >= 0; d--) {
        stride[d] = shape[d] == 1 && out[d] != 1 ? 0 : step;
        step *= shape[d];
    }
}

static bool broadcast_layout(tg_tape *tape, const char *op, const tg_tensor *a, const tg_tensor *b,
                             layout *l, int *ndim)
{
    int64_t sa[TG_MAX_DIMS], sb[TG_MAX_DIMS];
    padded_shape(a, sa);
    padded_shape(b, sb);

    for (int d = 0; d < TG_MAX_DIMS; d++) {
        if (sa[d] != sb[d] && sa[d] != 1 && sb[d] != 1) {
            char x[64], y[64];
            tg_op_fail(tape,
                       "%s: shapes %s and %s do not broadcast (sizes %lld and %lld "
                       "differ and neither is 1)",
                       op, tg_shape_str(a, x, sizeof x), tg_shape_str(b, y, sizeof y),
                       (long long)sa[d], (long long)sb[d]);
            return false;
        }
        l->shape[d] = sa[d] == 1 ? sb[d] : sa[d];
    }
    operand_strides(sa, l->shape, l->stride[0]);
    operand_strides(sb, l->shape, l->stride[1]);
    *ndim = a->ndim > b->ndim ? a->ndim : b->ndim;
    return true;
}

/*
 * Steps the index in dimension `top` and carries into the dimensions before it, updating both
 * operands' offsets, in row-major order.
 */
static void advance_from(const layout *l, cursor *c, int top)
{
    for (int d = top; d >= 0; d--) {
        c->offset[0] += l->stride[0][d];
        c->offset[1] += l->stride[1][d];
        if (++c->index[d] < l->shape[d])
            return;
        c->offset[0] -= l->stride[0][d] * l->shape[d];
        c->offset[1] -= l->stride[1][d] * l->shape[d];
        c->index[d] = 0;
    }
}

/* Moves to the next output element. */
static void advance(const layout *l, cursor *c) { advance_from(l, c, TG_MAX_DIMS - 1); }

/*
 * The fast path of add, sub and mul: typed loops over the innermost dimension, whose stride is
 * 1 or 0 for each operand. It gives the same bits as the general path, which computes in
 * double and rounds once: the exact sum, difference or product of two floats rounds the same
 * way from double as in float.
 */
typedef struct rows {
    int64_t count, length; /* rows of the output, and elements per row */
    int64_t step[2];       /* each operand's stride along a row */
} rows;

static rows rows_of(const layout *l)
{
    rows r = {1,
              l->shape[TG_MAX_DIMS - 1],
              {l->stride[0][TG_MAX_DIMS - 1], l->stride[1][TG_MAX_DIMS - 1]}};
    for (int d = 0; d < TG_MAX_DIMS - 1; d++)
        r.count *= l->shape[d];
    return r;
}

/* Moves the cursor from the start of one output row to the start of the next. */
static void next_row(const layout *l, cursor *c) { advance_from(l, c, TG_MAX_DIMS - 2); }

static void arithmetic_row_f32(char op, const float *a, int64_t sa, const float *b, int64_t sb,
                               float *y, int64_t n)
{
    if (op == '+')
        for (int64_t j = 0; j < n; j++)
            y[j] = a[j * sa] + b[j * sb];
    else if (op == '-')
        for (int64_t j = 0; j < n; j++)
            y[j] = a[j * sa] - b[j * sb];
    else
        for (int64_t j = 0; j < n; j++)
            y[j] = a[j * sa] * b[j * sb];
}

static void arithmetic_row_f64(char op, const double *a, int64_t sa, const double *b, int64_t sb,
                               double *y, int64_t n)
{
    if (op == '+')
        for (int64_t j = 0; j < n; j++)
            y[j] = a[j * sa] + b[j * sb];
    else if (op == '-')
        for (int64_t j = 0; j < n; j++)
            y[j] = a[j * sa] - b[j * sb];
    else
        for (int64_t j = 0; j < n; j++)
            y[j] = a[j * sa] * b[j * sb];
}

static void arithmetic_forward(const binary_rule *rule, const layout *l, const tg_tensor *a,
                               const tg_tensor *b, tg_tensor *y)
{
    rows r = rows_of(l);
    cursor c = {0};
    for (int64_t i = 0; i < r.count; i++, next_row(l, &c)) {
        int64_t oa = c.offset[0], ob = c.offset[1], oy = i * r.length;
        if (y->dtype == TG_F32)
            arithmetic_row_f32(rule->arithmetic, (const float *)a->data + oa, r.step[0],
                               (const float *)b->data + ob, r.step[1], (float *)y->data + oy,
                               r.length);
        else
            arithmetic_row_f64(rule->arithmetic, (const double *)a->data + oa, r.step[0],
                               (const double *)b->data + ob, r.step[1], (double *)y->data + oy,
                               r.length);
    }
}

/*
 * One row of the backward: g into the operand's gradient, times the other operand for mul,
 * negated for the right side of sub.
 */
static void gradient_row_f32(char op, bool right, const float *g, float *grad, int64_t step,
                             const float *other, int64_t other_step, int64_t n)
{
    if (op == '*')
        for (int64_t j = 0; j < n; j++)
            grad[j * step] += g[j] * other[j * other_step];
    else if (op == '-' && right)
        for (int64_t j = 0; j < n; j++)
            grad[j * step] -= g[j];
    else
        for (int64_t j = 0; j < n; j++)
            grad[j * step] += g[j];
}

static void gradient_row_f64(char op, bool right, const double *g, double *grad, int64_t step,
                             const double *other, int64_t other_step, int64_t n)
{
    if (op == '*')
        for (int64_t j = 0; j < n; j++)
            grad[j * step] += g[j] * other[j * other_step];
    else if (op == '-' && right)
        for (int64_t j = 0; j < n; j++)
            grad[j * step] -= g[j];
    else
        for (int64_t j = 0; j < n; j++)
            grad[j * step] += g[j];
}

/* Accumulates operand k's gradient (0 for a, 1 for b); the other operand is 1 - k. */
static void arithmetic_backward(const binary_rule *rule, const layout *l, const tg_node *node,
                                int k, void *grad)
{
    const tg_tensor *y = node->out, *other = node->in[1 - k];
    rows r = rows_of(l);
    cursor c = {0};
    for (int64_t i = 0; i < r.count; i++, next_row(l, &c)) {
        int64_t og = c.offset[k], oo = c.offset[1 - k], oy = i * r.length;
        if (y->dtype == TG_F32)
            gradient_row_f32(rule->arithmetic, k == 1, (const float *)y->grad + oy,
                             (float *)grad + og, r.step[k], (const float *)other->data + oo,
                             r.step[1 - k], r.length);
        else
            gradient_row_f64(rule->arithmetic, k == 1, (const double *)y->grad + oy,
                             (double *)grad + og, r.step[k], (const double *)other->data + oo,
                             r.step[1 - k], r.length);
    }
}

static void binary_backward(tg_tape *tape, const tg_node *node)
{
    const binary_rule *rule = node->rule;
    const layout *l = node->saved;
    tg_tensor *a = node->in[0], *b = node->in[1], *y = node->out;
    void *ga = tg_op_grad(tape, a);
    void *gb = tg_op_grad(tape, b);
    tg_dtype dt = y->dtype;
    if (rule->arithmetic) {
        if (ga)
            arithmetic_backward(rule, l, node, 0, ga);
        if (gb)
            arithmetic_backward(rule, l, node, 1, gb);
        return;
    }

    cursor c = {0};
    for (int64_t i = 0; i < y->size; i++, advance(l, &c)) {
        double g = tg_load(dt, y->grad, i);
        double av = tg_load(dt, a->data, c.offset[0]);
        double bv = tg_load(dt, b->data, c.offset[1]);
        double yv = tg_load(dt, y->data, i);
        if (ga)
            tg_accumulate(dt, ga, c.offset[0], g * rule->da(av, bv, yv));
        if (gb)
            tg_accumulate(dt, gb, c.offset[1], g * rule->db(av, bv, yv));
    }
}

static void general_forward(const binary_rule *rule, const layout *l, const tg_tensor *a,
                            const tg_tensor *b, tg_tensor *y)
{
    cursor c = {0};
    for (int64_t i = 0; i < y->size; i++, advance(l, &c)) {
        double av = tg_load(a->dtype, a->data, c.offset[0]);
        double bv = tg_load(b->dtype, b->data, c.offset[1]);
        tg_store(y->dtype, y->data, i, rule->f(av, bv));
    }
}

static tg_tensor *binary_apply(tg_tape *tape, const binary_rule *rule, tg_tensor *a, tg_tensor *b)
{
    tg_tensor *in[2] = {a, b};
    if (!tg_op_inputs_present(tape, 2, in) || !tg_op_check_dtypes(tape, rule->name, 2, in))
        return NULL;

    layout *l = tg_op_alloc(tape, sizeof *l);
    int ndim;
    if (!l || !broadcast_layout(tape, rule->name, a, b, l, &ndim))
        return NULL;
    tg_tensor *y = tg_op_output(tape, a->dtype, ndim, l->shape + TG_MAX_DIMS - ndim, 2, in);
    if (!y)
        return NULL;

    if (rule->arithmetic)
        arithmetic_forward(rule, l, a, b, y);
    else
        general_forward(rule, l, a, b, y);

    tg_node *node = tg_op_record(tape, rule->name, binary_backward, y, 2, in);
    if (node) {
        node->rule = rule;
        node->saved = l;
    }
    return y;
}

/* add: y = a + b; the backward passes g to both operands. */
static double add_f(double a, double b) { return a + b; }
static double one(double a, double b, double y) { return 1; }
static const binary_rule add_rule = {"add", add_f, one, one, '+'};

/* sub: y = a - b; the backward passes +g to a and -g to b. */
static double sub_f(double a, double b) { return a - b; }
static double sub_db(double a, double b, double y) { return -1; }
static const binary_rule sub_rule = {"sub", sub_f, one, sub_db, '-'};

/* mul: y = a * b; the backward passes g * b to a and g * a to b. */
static double mul_f(double a, double b) { return a * b; }
static double mul_da(double a, double b, double y) { return b; }
static double mul_db(double a, double b, double y) { return a; }
static const binary_rule mul_rule = {"mul", mul_f, mul_da, mul_db, '*'};

/* div: y = a / b; the backward passes g / b to a and -g a / b^2 = -g y / b to b. */
static double div_f(double a, double b) { return a / b; }
static double div_da(double a, double b, double y) { return 1.0 / b; }
static double div_db(double a, double b, double y) { return -y / b; }
static const binary_rule div_rule = {"div", div_f, div_da, div_db, 0};

/*
 * pow: y = a^b, with dy/da = b a^(b-1) and dy/db = y log(a). Where b = 0, y is 1 for every a,
 * so dy/da is 0 (b a^(b-1) would be 0 * inf at a = 0). Where y = 0 (a = 0 with b > 0), y stays
 * 0 as b moves, so dy/db is 0 rather than 0 * -inf. For a < 0, a^b is real only at integer b
 * and not around it, so dy/db is NaN there; it reaches b's gradient only when b needs one.
 */
static double pow_f(double a, double b) { return pow(a, b); }
static double pow_da(double a, double b, double y) { return b == 0.0 ? 0.0 : b * pow(a, b - 1.0); }
static double pow_db(double a, double b, double y) { return y == 0.0 ? 0.0 : y * log(a); }
static const binary_rule pow_rule = {"pow", pow_f, pow_da, pow_db, 0};

/*
 * maximum and minimum pick one operand per element, and the gradient goes to the one picked.
 * On a tie a is picked, so a receives the whole gradient and b none. A NaN in either operand
 * is picked, so it propagates as in numpy.
 */
static bool picks_a_for_max(double a, double b) { return a >= b || isnan(a); }
static bool picks_a_for_min(double a, double b) { return a <= b || isnan(a); }

static double maximum_f(double a, double b) { return picks_a_for_max(a, b) ? a : b; }
static double maximum_da(double a, double b, double y) { return picks_a_for_max(a, b); }
static double maximum_db(double a, double b, double y) { return !picks_a_for_max(a, b); }
static const binary_rule maximum_rule = {"maximum", maximum_f, maximum_da, maximum_db, 0};

static double minimum_f(double a, double b) { return picks_a_for_min(a, b) ? a : b; }
static double minimum_da(double a, double b, double y) { return picks_a_for_min(a, b); }
static double minimum_db(double a, double b, double y) { return !picks_a_for_min(a, b); }
static const binary_rule minimum_rule = {"minimum", minimum_f, minimum_da, minimum_db, 0};

tg_tensor *tg_add(tg_tape *tape, tg_tensor *a, tg_tensor *b)
{
    return binary_apply(tape, &add_rule, a, b);
}

tg_tensor *tg_sub(tg_tape *tape, tg_tensor *a, tg_tensor *b)
{
    return binary_apply(tape, &sub_rule, a, b);
}

tg_tensor *tg_mul(tg_tape *tape, tg_tensor *a, tg_tensor *b)
{
    return binary_apply(tape, &mul_rule, a, b);
}

tg_tensor *tg_div(tg_tape *tape, tg_tensor *a, tg_tensor *b)
{
    return binary_apply(tape, &div_rule, a, b);
}

tg_tensor *tg_pow(tg_tape *tape, tg_tensor *a, tg_tensor *b)
{
    return binary_apply(tape, &pow_rule, a, b);
}

tg_tensor *tg_maximum(tg_tape *tape, tg_tensor *a, tg_tensor *b)
{
    return binary_apply(tape, &maximum_rule, a, b);
}

tg_tensor *tg_minimum(tg_tape *tape, tg_tensor *a, tg_tensor *b)
{
    return binary_apply(tape, &minimum_rule, a, b);
}
