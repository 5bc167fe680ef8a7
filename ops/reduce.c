/*
 * Reductions. A reduction along one axis views the input as [outer, n, inner], where n is the
 * axis' size, and produces [outer, inner]. The backward of a sum hands each output gradient to
 * every element that was summed into it.
 */
#include "tg_op.h"
#include "tg_ops.h"

typedef struct axis_view {
    int64_t outer, n, inner;
} axis_view;

static axis_view view_along(const tg_tensor *x, int axis)
{
    axis_view v = {1, x->shape[axis], 1};
    for (int d = 0; d < axis; d++)
        v.outer *= x->shape[d];
    for (int d = axis + 1; d < x->ndim; d++)
        v.inner *= x->shape[d];
    return v;
}

static void sum_backward(tg_tape *tape, const tg_node *node)
{
    tg_tensor *x = node->in[0], *y = node->out;
    void *gx = tg_op_grad(tape, x);
    if (!gx)
        return;

    axis_view v = view_along(x, (int)node->iarg[0]);
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t k = 0; k < v.n; k++)
            for (int64_t j = 0; j < v.inner; j++)
                tg_accumulate(x->dtype, gx, (o * v.n + k) * v.inner + j,
                              tg_load(y->dtype, y->grad, o * v.inner + j));
}

static void sum_forward(const tg_tensor *x, int axis, tg_tensor *y)
{
    axis_view v = view_along(x, axis);
    for (int64_t o = 0; o < v.outer; o++) {
        for (int64_t j = 0; j < v.inner; j++) {
            double acc = 0.0;
            for (int64_t k = 0; k < v.n; k++)
                acc += tg_load(x->dtype, x->data, (o * v.n + k) * v.inner + j);
            tg_store(y->dtype, y->data, o * v.inner + j, acc);
        }
    }
}

/* The output shape of reducing `axis`, and its number of dimensions. */
static int reduced_shape(const tg_tensor *x, int axis, bool keepdim, int64_t *shape)
{
    int ndim = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (d != axis)
            shape[ndim++] = x->shape[d];
        else if (keepdim)
            shape[ndim++] = 1;
    }
    return ndim;
}

tg_tensor *tg_sum_axis(tg_tape *tape, tg_tensor *x, int axis, bool keepdim)
{
    if (!tg_op_inputs_present(tape, 1, &x))
        return NULL;
    int d = axis < 0 ? axis + x->ndim : axis;
    if (d < 0 || d >= x->ndim) {
        char s[64];
        return tg_op_fail(tape, "sum: axis %d is out of range for shape %s", axis,
                          tg_shape_str(x, s, sizeof s));
    }

    int64_t shape[TG_MAX_DIMS];
    int ndim = reduced_shape(x, d, keepdim, shape);
    tg_tensor *y = tg_op_output(tape, x->dtype, ndim, shape, 1, &x);
    if (!y)
        return NULL;
    sum_forward(x, d, y);

    tg_node *node = tg_op_record(tape, "sum", sum_backward, y, 1, &x);
    if (node)
        node->iarg[0] = d;
    return y;
}

static void sum_all_backward(tg_tape *tape, const tg_node *node)
{
    tg_tensor *x = node->in[0], *y = node->out;
    void *gx = tg_op_grad(tape, x);
    if (!gx)
        return;

    double g = tg_load(y->dtype, y->grad, 0);
    for (int64_t i = 0; i < x->size; i++)
        tg_accumulate(x->dtype, gx, i, g);
}

tg_tensor *tg_sum(tg_tape *tape, tg_tensor *x)
{
    if (!tg_op_inputs_present(tape, 1, &x))
        return NULL;
    tg_tensor *y = tg_op_output(tape, x->dtype, 0, NULL, 1, &x);
    if (!y)
        return NULL;

    double acc = 0.0;
    for (int64_t i = 0; i < x->size; i++)
        acc += tg_load(x->dtype, x->data, i);
    tg_store(y->dtype, y->data, 0, acc);

    tg_op_record(tape, "sum", sum_all_backward, y, 1, &x);
    return y;
}
