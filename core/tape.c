#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_ds.h>

#include "tg_internal.h"
#include "tg_op.h"

/*
 * The tape's memory is a list of chunks handed out front to back. Resetting rewinds every
 * chunk; if a step needed more than one chunk, the chunks are merged into one of their total
 * size, so from the next step on the same computation fits without allocating.
 */
enum { ALIGNMENT = 64, FIRST_CHUNK = 1 << 16 };

typedef struct chunk {
    unsigned char *mem;
    size_t cap;
    size_t used;
} chunk;

struct tg_tape {
    tg_node *nodes; /* stb_ds array */
    chunk *chunks;  /* stb_ds array */
    bool backward_done;
    bool grad_enabled;
    char error[512];
    tg_log_fn log;
    void *log_user;
};

static size_t round_up(size_t n)
{
    return (n + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
}

static bool add_chunk(tg_tape *tape, size_t cap)
{
    chunk c = {aligned_alloc(ALIGNMENT, round_up(cap)), round_up(cap), 0};
    if (!c.mem)
        return false;
    arrput(tape->chunks, c);
    return true;
}

tg_tape *tg_tape_new(void)
{
    tg_tape *tape = calloc(1, sizeof *tape);
    if (!tape || !add_chunk(tape, FIRST_CHUNK)) {
        free(tape);
        tg_set_last_error("tg_tape_new: out of memory");
        return NULL;
    }
    tape->grad_enabled = true;
    return tape;
}

static void free_chunks(tg_tape *tape)
{
    for (ptrdiff_t i = 0; i < arrlen(tape->chunks); i++)
        free(tape->chunks[i].mem);
    arrsetlen(tape->chunks, 0);
}

void tg_tape_free(tg_tape *tape)
{
    if (!tape)
        return;
    free_chunks(tape);
    arrfree(tape->chunks);
    arrfree(tape->nodes);
    free(tape);
}

void tg_tape_reset(tg_tape *tape)
{
    if (!tape)
        return;
    if (arrlen(tape->chunks) > 1) {
        size_t total = 0;
        for (ptrdiff_t i = 0; i < arrlen(tape->chunks); i++)
            total += tape->chunks[i].cap;
        free_chunks(tape);
        if (!add_chunk(tape, total))
            add_chunk(tape, FIRST_CHUNK); /* on failure the next alloc reports it */
    }
    for (ptrdiff_t i = 0; i < arrlen(tape->chunks); i++)
        tape->chunks[i].used = 0;

    arrsetlen(tape->nodes, 0);
    tape->backward_done = false;
    tape->error[0] = '\0';
}

const char *tg_tape_error(const tg_tape *tape)
{
    return tape && tape->error[0] ? tape->error : NULL;
}

void tg_tape_set_log(tg_tape *tape, tg_log_fn log, void *user)
{
    tape->log = log;
    tape->log_user = user;
}

bool tg_tape_set_grad_enabled(tg_tape *tape, bool enabled)
{
    bool was = tape->grad_enabled;
    tape->grad_enabled = enabled;
    return was;
}

size_t tg_tape_node_count(const tg_tape *tape)
{
    return (size_t)arrlen(tape->nodes);
}

size_t tg_tape_capacity(const tg_tape *tape)
{
    size_t total = (size_t)arrcap(tape->nodes) * sizeof(tg_node);
    for (ptrdiff_t i = 0; i < arrlen(tape->chunks); i++)
        total += tape->chunks[i].cap;
    return total;
}

void *tg_op_fail(tg_tape *tape, const char *fmt, ...)
{
    if (!tape || tape->error[0])
        return NULL;

    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tape->error, sizeof tape->error, fmt, ap);
    va_end(ap);
    if (tape->log)
        tape->log(tape->error, tape->log_user);
    return NULL;
}

void *tg_op_alloc(tg_tape *tape, size_t bytes)
{
    bytes = round_up(bytes ? bytes : 1);
    chunk *last = &tape->chunks[arrlen(tape->chunks) - 1];
    if (last->cap - last->used < bytes) {
        size_t cap = last->cap * 2 > bytes ? last->cap * 2 : bytes;
        if (!add_chunk(tape, cap))
            return tg_op_fail(tape, "out of memory: the tape could not grow by %zu bytes", cap);
        last = &tape->chunks[arrlen(tape->chunks) - 1];
    }
    void *p = last->mem + last->used;
    last->used += bytes;
    return p;
}

bool tg_op_inputs_present(tg_tape *tape, int n, tg_tensor *const *inputs)
{
    if (!tape)
        return false;
    for (int i = 0; i < n; i++) {
        if (!inputs[i])
            return false;
        if (inputs[i]->tape && inputs[i]->tape != tape) {
            tg_op_fail(tape, "an input belongs to another tape; tensors produced by ops can "
                             "only be used on the tape that made them");
            return false;
        }
    }
    return true;
}

bool tg_op_check_dtypes(tg_tape *tape, const char *op, int n, tg_tensor *const *inputs)
{
    for (int i = 1; i < n; i++) {
        if (inputs[i]->dtype != inputs[0]->dtype) {
            char a[64], b[64];
            tg_op_fail(tape, "%s: input %d is %s %s but input 0 is %s %s; convert one first", op,
                       i, tg_dtype_name(inputs[i]->dtype), tg_shape_str(inputs[i], a, sizeof a),
                       tg_dtype_name(inputs[0]->dtype), tg_shape_str(inputs[0], b, sizeof b));
            return false;
        }
    }
    return true;
}

static bool any_requires_grad(int n, tg_tensor *const *inputs)
{
    for (int i = 0; i < n; i++)
        if (inputs[i]->requires_grad)
            return true;
    return false;
}

tg_tensor *tg_op_output(tg_tape *tape, tg_dtype dtype, int ndim, const int64_t *shape, int n,
                        tg_tensor *const *inputs)
{
    char why[128];
    int64_t size;
    if (!tg_shape_valid(dtype, ndim, shape, &size, why, sizeof why))
        return tg_op_fail(tape, "cannot make an output: %s", why);

    tg_tensor *t = tg_op_alloc(tape, sizeof *t);
    void *data = t ? tg_op_alloc(tape, (size_t)size * tg_dtype_size(dtype)) : NULL;
    if (!data)
        return NULL;
    tg_tensor_init(t, dtype, ndim, shape, size);
    t->data = data;
    t->tape = tape;
    t->requires_grad = tape->grad_enabled && any_requires_grad(n, inputs);
    return t;
}

tg_node *tg_op_record(tg_tape *tape, const char *op, tg_backward_fn backward, tg_tensor *out,
                      int n, tg_tensor *const *inputs)
{
    if (!out || !out->requires_grad)
        return NULL;

    tg_node node = {.op = op, .backward = backward, .out = out, .n_in = n};
    for (int i = 0; i < n; i++)
        node.in[i] = inputs[i];
    arrput(tape->nodes, node);
    return &tape->nodes[arrlen(tape->nodes) - 1];
}

void *tg_op_grad(tg_tape *tape, tg_tensor *t)
{
    if (!t->requires_grad)
        return NULL;
    if (!t->grad) {
        size_t bytes = (size_t)t->size * tg_dtype_size(t->dtype);
        t->grad = tg_op_alloc(tape, bytes);
        if (t->grad)
            memset(t->grad, 0, bytes);
    }
    return t->grad;
}

static bool seed_root(tg_tape *tape, tg_tensor *root, const tg_tensor *upstream)
{
    char a[64], b[64];
    if (!upstream && root->size != 1)
        return tg_op_fail(tape, "backward: the root has shape %s; without an upstream "
                                "gradient it must have exactly one element",
                          tg_shape_str(root, a, sizeof a));
    if (upstream && (upstream->dtype != root->dtype || !tg_same_shape(upstream, root)))
        return tg_op_fail(tape, "backward: upstream gradient is %s %s but the root is %s %s",
                          tg_dtype_name(upstream->dtype), tg_shape_str(upstream, a, sizeof a),
                          tg_dtype_name(root->dtype), tg_shape_str(root, b, sizeof b));

    void *g = tg_op_grad(tape, root);
    if (!g)
        return false;
    for (int64_t i = 0; i < root->size; i++)
        tg_accumulate(root->dtype, g, i, upstream ? tg_get(upstream, i) : 1.0);
    return true;
}

bool tg_backward(tg_tape *tape, tg_tensor *root, const tg_tensor *upstream)
{
    if (!tape)
        return false;
    if (tape->error[0])
        return false;
    if (!root)
        return tg_op_fail(tape, "backward: the root is NULL");
    /* Seeding a foreign root would put its gradient in this tape's memory. */
    if (root->tape && root->tape != tape)
        return tg_op_fail(tape, "backward: the root belongs to another tape; run backward on "
                                "the tape that recorded it");
    if (!root->requires_grad)
        return tg_op_fail(tape, "backward: the root does not depend on any tensor that "
                                "requires a gradient");
    if (tape->backward_done)
        return tg_op_fail(tape, "backward: this tape already ran backward; reset it and "
                                "record the computation again");
    if (!seed_root(tape, root, upstream))
        return false;

    for (ptrdiff_t i = arrlen(tape->nodes) - 1; i >= 0; i--) {
        const tg_node *node = &tape->nodes[i];
        if (node->out->grad)
            node->backward(tape, node);
    }
    tape->backward_done = true;
    return tape->error[0] == '\0';
}
