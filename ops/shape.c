/*
 * Shape ops. Tensors are always contiguous, so each op copies the elements it keeps into a
 * new tensor, and its backward adds each output gradient back to the element it came from.
 *
 * permute, transpose, broadcast_to and slice are strided walks: output element i, in
 * row-major order, is input element base + sum_d index_d(i) stride_d, where a permuted
 * dimension takes the stride of the input dimension it came from, a stretched dimension has
 * stride 0 and a sliced one steps `step` input rows at a time. Their backward walks the same
 * way and accumulates, which sums a stretched dimension's gradient.
 *
 * concat and index_select view tensors around their axis as [outer, n, inner] and move
 * blocks of `inner` contiguous elements.
 */
#include <stdio.h>
#include <string.h>

#include "tg_op.h"
#include "tg_ops.h"

typedef struct walk {
    int ndim;
    int64_t shape[TG_MAX_DIMS];  /* the output's shape */
    int64_t stride[TG_MAX_DIMS]; /* input elements per step along each output dimension */
    int64_t base;                /* input offset of output element 0 */
} walk;

typedef struct axis_view {
    int64_t outer, n, inner;
} axis_view;

static void contiguous_strides(const tg_tensor *x, int64_t *stride)
{
    int64_t step = 1;
    for (int d = x->ndim - 1; d >= 0; d--) {
        stride[d] = step;
        step *= x->shape[d];
    }
}

static axis_view view_along(const tg_tensor *x, int axis)
{
    axis_view v = {1, x->shape[axis], 1};
    for (int d = 0; d < axis; d++)
        v.outer *= x->shape[d];
    for (int d = axis + 1; d < x->ndim; d++)
        v.inner *= x->shape[d];
    return v;
}

/* Writes dims as "[2, -1, 3]" for messages about shapes that are not tensors yet. */
static const char *dims_str(int n, const int64_t *dims, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < n && used < len; d++)
        used += (size_t)snprintf(buf + used, len - used, d ? ", %lld" : "%lld", (long long)dims[d]);
    if (used < len)
        snprintf(buf + used, len - used, "]");
    return buf;
}

/* The axis counted from the front, or -1 with a message naming the op and the shape. */
static int checked_axis(tg_tape *tape, const char *op, const tg_tensor *x, int axis)
{
    int d = axis < 0 ? axis + x->ndim : axis;
    if (d >= 0 && d < x->ndim)
        return d;
    char s[64];
    tg_op_fail(tape, "%s: axis %d is out of range for shape %s", op, axis,
               tg_shape_str(x, s, sizeof s));
    return -1;
}

/* ---- strided walks: permute, transpose, broadcast_to, slice ---------------------------- */

/* Moves to the next output element, keeping `offset` on the matching input element. */
static void walk_next(const walk *w, int64_t *index, int64_t *offset)
{
    for (int d = w->ndim - 1; d >= 0; d--) {
        *offset += w->stride[d];
        if (++index[d] < w->shape[d])
            return;
        *offset -= w->stride[d] * w->shape[d];
        index[d] = 0;
    }
}

static void walk_backward(tg_tape *tape, const tg_node *node)
{
    const walk *w = node->saved;
    tg_tensor *x = node->in[0], *y = node->out;
    void *gx = tg_op_grad(tape, x);
    if (!gx)
        return;

    int64_t index[TG_MAX_DIMS] = {0}, offset = w->base;
    for (int64_t i = 0; i < y->size; i++, walk_next(w, index, &offset))
        tg_accumulate(x->dtype, gx, offset, tg_load(y->dtype, y->grad, i));
}

static tg_tensor *walk_apply(tg_tape *tape, const char *op, tg_tensor *x, const walk *plan)
{
    walk *w = tg_op_alloc(tape, sizeof *w);
    tg_tensor *y = w ? tg_op_output(tape, x->dtype, plan->ndim, plan->shape, 1, &x) : NULL;
    if (!y)
        return NULL;
    *w = *plan;

    int64_t index[TG_MAX_DIMS] = {0}, offset = w->base;
    for (int64_t i = 0; i < y->size; i++, walk_next(w, index, &offset))
        tg_store(y->dtype, y->data, i, tg_load(x->dtype, x->data, offset));

    tg_node *node = tg_op_record(tape, op, walk_backward, y, 1, &x);
    if (node)
        node->saved = w;
    return y;
}

/* The walk of a permutation already checked to list each of x's dimensions once. */
static tg_tensor *apply_permutation(tg_tape *tape, const char *op, tg_tensor *x, const int *perm)
{
    int64_t stride[TG_MAX_DIMS];
    contiguous_strides(x, stride);
    walk w = {.ndim = x->ndim};
    for (int d = 0; d < x->ndim; d++) {
        w.shape[d] = x->shape[perm[d]];
        w.stride[d] = stride[perm[d]];
    }
    return walk_apply(tape, op, x, &w);
}

tg_tensor *tg_permute(tg_tape *tape, tg_tensor *x, const int *perm)
{
    if (!tg_op_inputs_present(tape, 1, &x))
        return NULL;
    if (x->ndim > 0 && !perm)
        return tg_op_fail(tape, "permute: perm is NULL for a %d-D tensor", x->ndim);

    int64_t listed[TG_MAX_DIMS];
    bool seen[TG_MAX_DIMS] = {false}, valid = true;
    for (int d = 0; d < x->ndim; d++) {
        listed[d] = perm[d];
        valid = valid && perm[d] >= 0 && perm[d] < x->ndim && !seen[perm[d]];
        if (valid)
            seen[perm[d]] = true;
    }
    if (!valid) {
        char p[64], s[64];
        return tg_op_fail(tape, "permute: %s is not a permutation of the %d dimensions of %s",
                          dims_str(x->ndim, listed, p, sizeof p), x->ndim,
                          tg_shape_str(x, s, sizeof s));
    }

    return apply_permutation(tape, "permute", x, perm);
}

tg_tensor *tg_transpose(tg_tape *tape, tg_tensor *x)
{
    if (!tg_op_inputs_present(tape, 1, &x))
        return NULL;
    if (x->ndim != 2) {
        char s[64];
        return tg_op_fail(tape, "transpose: needs a 2-D tensor, got %s; use tg_permute",
                          tg_shape_str(x, s, sizeof s));
    }

    return apply_permutation(tape, "transpose", x, (const int[]){1, 0});
}

tg_tensor *tg_broadcast_to(tg_tape *tape, tg_tensor *x, int ndim, const int64_t *shape)
{
    if (!tg_op_inputs_present(tape, 1, &x))
        return NULL;
    char s[64], t[64];
    if (ndim < x->ndim || ndim > TG_MAX_DIMS || (ndim > 0 && !shape))
        return tg_op_fail(tape, "broadcast_to: cannot stretch %s to %d dimensions",
                          tg_shape_str(x, s, sizeof s), ndim);

    int64_t stride[TG_MAX_DIMS];
    contiguous_strides(x, stride);
    walk w = {.ndim = ndim};
    for (int d = 0; d < ndim; d++) {
        int e = d - (ndim - x->ndim); /* x's dimension aligned with d, if any */
        int64_t size = e >= 0 ? x->shape[e] : 1;
        if (shape[d] < 0 || (size != shape[d] && size != 1))
            return tg_op_fail(tape,
                              "broadcast_to: cannot stretch %s to %s (size %lld against "
                              "%lld, and it is not 1)",
                              tg_shape_str(x, s, sizeof s), dims_str(ndim, shape, t, sizeof t),
                              (long long)size, (long long)shape[d]);
        w.shape[d] = shape[d];
        w.stride[d] = e >= 0 && size == shape[d] ? stride[e] : 0;
    }

    return walk_apply(tape, "broadcast_to", x, &w);
}

tg_tensor *tg_slice(tg_tape *tape, tg_tensor *x, int axis, int64_t start, int64_t stop,
                    int64_t step)
{
    if (!tg_op_inputs_present(tape, 1, &x))
        return NULL;
    int d = checked_axis(tape, "slice", x, axis);
    if (d < 0)
        return NULL;
    if (start < 0 || start > stop || stop > x->shape[d] || step < 1) {
        char s[64];
        return tg_op_fail(tape,
                          "slice: [%lld, %lld) step %lld does not fit axis %d of %s; "
                          "it needs 0 <= start <= stop <= %lld and step >= 1",
                          (long long)start, (long long)stop, (long long)step, axis,
                          tg_shape_str(x, s, sizeof s), (long long)x->shape[d]);
    }

    walk w = {.ndim = x->ndim};
    contiguous_strides(x, w.stride);
    for (int e = 0; e < x->ndim; e++)
        w.shape[e] = x->shape[e];
    w.shape[d] = (stop - start + step - 1) / step;
    w.base = start * w.stride[d];
    w.stride[d] *= step;
    return walk_apply(tape, "slice", x, &w);
}

/* ---- reshape ---------------------------------------------------------------------------- */

static void reshape_backward(tg_tape *tape, const tg_node *node)
{
    tg_tensor *x = node->in[0], *y = node->out;
    void *gx = tg_op_grad(tape, x);
    if (!gx)
        return;

    for (int64_t i = 0; i < x->size; i++)
        tg_accumulate(x->dtype, gx, i, tg_load(y->dtype, y->grad, i));
}

/* The requested shape with a -1 replaced by what makes the sizes agree, or false. */
static bool infer_shape(const tg_tensor *x, int ndim, const int64_t *shape, int64_t *out)
{
    int64_t known = 1;
    int unknown = -1;
    for (int d = 0; d < ndim; d++) {
        out[d] = shape[d];
        if (shape[d] == -1 && unknown < 0)
            unknown = d;
        else if (shape[d] < 0)
            return false;
        else
            known *= shape[d];
    }
    if (unknown < 0)
        return known == x->size;
    if (known == 0 || x->size % known != 0)
        return false;
    out[unknown] = x->size / known;
    return true;
}

tg_tensor *tg_reshape(tg_tape *tape, tg_tensor *x, int ndim, const int64_t *shape)
{
    if (!tg_op_inputs_present(tape, 1, &x))
        return NULL;
    char s[64], t[64];
    if (ndim < 0 || ndim > TG_MAX_DIMS || (ndim > 0 && !shape))
        return tg_op_fail(tape, "reshape: cannot reshape %s into %d dimensions",
                          tg_shape_str(x, s, sizeof s), ndim);
    int64_t resolved[TG_MAX_DIMS];
    if (!infer_shape(x, ndim, shape, resolved))
        return tg_op_fail(tape, "reshape: cannot reshape %s (%lld elements) into %s",
                          tg_shape_str(x, s, sizeof s), (long long)x->size,
                          dims_str(ndim, shape, t, sizeof t));

    tg_tensor *y = tg_op_output(tape, x->dtype, ndim, resolved, 1, &x);
    if (!y)
        return NULL;
    memcpy(y->data, x->data, (size_t)x->size * tg_dtype_size(x->dtype));

    tg_op_record(tape, "reshape", reshape_backward, y, 1, &x);
    return y;
}

/* ---- index_select ----------------------------------------------------------------------- */

typedef struct selection {
    axis_view v; /* of the input */
    int64_t count;
    int64_t *indices;
} selection;

static void index_select_backward(tg_tape *tape, const tg_node *node)
{
    const selection *s = node->saved;
    tg_tensor *x = node->in[0], *y = node->out;
    void *gx = tg_op_grad(tape, x);
    if (!gx)
        return;

    for (int64_t o = 0; o < s->v.outer; o++) {
        for (int64_t c = 0; c < s->count; c++) {
            int64_t from = (o * s->count + c) * s->v.inner;
            int64_t to = (o * s->v.n + s->indices[c]) * s->v.inner;
            for (int64_t j = 0; j < s->v.inner; j++)
                tg_accumulate(x->dtype, gx, to + j, tg_load(y->dtype, y->grad, from + j));
        }
    }
}

static void index_select_forward(const selection *s, const tg_tensor *x, tg_tensor *y)
{
    size_t block = (size_t)s->v.inner * tg_dtype_size(x->dtype);
    for (int64_t o = 0; o < s->v.outer; o++)
        for (int64_t c = 0; c < s->count; c++)
            memcpy((char *)y->data + (size_t)(o * s->count + c) * block,
                   (const char *)x->data + (size_t)(o * s->v.n + s->indices[c]) * block, block);
}

/* A copy of the indices in the tape's memory, or NULL with a message naming a bad one. */
static int64_t *checked_indices(tg_tape *tape, const tg_tensor *x, int axis, int d,
                                const int64_t *indices, int64_t count)
{
    int64_t *copy = tg_op_alloc(tape, (size_t)count * sizeof *copy);
    for (int64_t c = 0; copy && c < count; c++) {
        if (indices[c] < 0 || indices[c] >= x->shape[d]) {
            char s[64];
            return tg_op_fail(tape,
                              "index_select: indices[%lld] = %lld is out of range for "
                              "axis %d of %s",
                              (long long)c, (long long)indices[c], axis,
                              tg_shape_str(x, s, sizeof s));
        }
        copy[c] = indices[c];
    }
    return copy;
}

tg_tensor *tg_index_select(tg_tape *tape, tg_tensor *x, int axis, const int64_t *indices,
                           int64_t count)
{
    if (!tg_op_inputs_present(tape, 1, &x))
        return NULL;
    int d = checked_axis(tape, "index_select", x, axis);
    if (d < 0)
        return NULL;
    if (count < 0 || (count > 0 && !indices))
        return tg_op_fail(tape,
                          "index_select: count is %lld and indices is %s; it needs "
                          "count >= 0 and an array of that many indices",
                          (long long)count, indices ? "an array" : "NULL");
    selection *s = tg_op_alloc(tape, sizeof *s);
    int64_t *copy = s ? checked_indices(tape, x, axis, d, indices, count) : NULL;
    if (!copy)
        return NULL;
    *s = (selection){view_along(x, d), count, copy};

    int64_t shape[TG_MAX_DIMS];
    for (int e = 0; e < x->ndim; e++)
        shape[e] = e == d ? count : x->shape[e];
    tg_tensor *y = tg_op_output(tape, x->dtype, x->ndim, shape, 1, &x);
    if (!y)
        return NULL;
    index_select_forward(s, x, y);

    tg_node *node = tg_op_record(tape, "index_select", index_select_backward, y, 1, &x);
    if (node)
        node->saved = s;
    return y;
}

/* ---- concat ----------------------------------------------------------------------------- */

/*
 * A node holds at most TG_MAX_INPUTS inputs, so concat keeps its full list in the tape's memory
 * and names only the first ones in the node; its backward reads the list. The tape checks for
 * in-place writes only to the inputs a node names, which is enough here: concat's backward
 * reads no input's values, only the output gradient.
 */
typedef struct joined {
    int n, axis;
    tg_tensor **xs;
} joined;

static void concat_backward(tg_tape *tape, const tg_node *node)
{
    const joined *jn = node->saved;
    tg_tensor *y = node->out;
    axis_view out = view_along(y, jn->axis);

    int64_t offset = 0;
    for (int i = 0; i < jn->n; i++) {
        tg_tensor *x = jn->xs[i];
        axis_view v = view_along(x, jn->axis);
        void *gx = tg_op_grad(tape, x);
        for (int64_t o = 0; gx && o < v.outer; o++) {
            int64_t from = (o * out.n + offset) * v.inner, to = o * v.n * v.inner;
            for (int64_t t = 0; t < v.n * v.inner; t++)
                tg_accumulate(x->dtype, gx, to + t, tg_load(y->dtype, y->grad, from + t));
        }
        offset += v.n;
    }
}

static void concat_forward(const joined *jn, tg_tensor *y)
{
    size_t size = tg_dtype_size(y->dtype);
    axis_view out = view_along(y, jn->axis);
    int64_t offset = 0;
    for (int i = 0; i < jn->n; i++) {
        const tg_tensor *x = jn->xs[i];
        axis_view v = view_along(x, jn->axis);
        size_t block = (size_t)(v.n * v.inner) * size;
        for (int64_t o = 0; o < v.outer; o++)
            memcpy((char *)y->data + (size_t)((o * out.n + offset) * v.inner) * size,
                   (const char *)x->data + (size_t)o * block, block);
        offset += v.n;
    }
}

/* Fails unless every input has x0's shape apart from the axis. */
static bool shapes_join(tg_tape *tape, tg_tensor *const *xs, int n, int axis)
{
    for (int i = 1; i < n; i++) {
        bool fits = xs[i]->ndim == xs[0]->ndim;
        for (int d = 0; fits && d < xs[0]->ndim; d++)
            fits = d == axis || xs[i]->shape[d] == xs[0]->shape[d];
        if (!fits) {
            char s[64], t[64];
            tg_op_fail(tape,
                       "concat: input %d has shape %s and input 0 has %s; they may "
                       "differ only along axis %d",
                       i, tg_shape_str(xs[i], s, sizeof s), tg_shape_str(xs[0], t, sizeof t), axis);
            return false;
        }
    }
    return true;
}

tg_tensor *tg_concat(tg_tape *tape, tg_tensor *const *xs, int n, int axis)
{
    if (tape && (n < 1 || !xs))
        return tg_op_fail(tape, "concat: needs at least one tensor, got %d", n);
    if (!tg_op_inputs_present(tape, n, xs) || !tg_op_check_dtypes(tape, "concat", n, xs))
        return NULL;
    int d = checked_axis(tape, "concat", xs[0], axis);
    if (d < 0 || !shapes_join(tape, xs, n, d))
        return NULL;
    joined *jn = tg_op_alloc(tape, sizeof *jn);
    tg_tensor **list = jn ? tg_op_alloc(tape, (size_t)n * sizeof *list) : NULL;
    if (!list)
        return NULL;
    memcpy(list, xs, (size_t)n * sizeof *list);
    *jn = (joined){n, d, list};

    int64_t shape[TG_MAX_DIMS];
    memcpy(shape, xs[0]->shape, sizeof shape);
    shape[d] = 0;
    for (int i = 0; i < n; i++)
        shape[d] += xs[i]->shape[d];
    tg_tensor *y = tg_op_output(tape, xs[0]->dtype, xs[0]->ndim, shape, n, xs);
    if (!y)
        return NULL;
    concat_forward(jn, y);

    int recorded = n < TG_MAX_INPUTS ? n : TG_MAX_INPUTS;
    tg_node *node = tg_op_record(tape, "concat", concat_backward, y, recorded, xs);
    if (node)
        node->saved = jn;
    return y;
}
