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
    if (!tape)
        return;
    tape->log = log;
    tape->log_user = user;
}

bool tg_tape_set_grad_enabled(tg_tape *tape, bool enabled)
{
    if (!tape) {
        tg_set_last_error("tg_tape_set_grad_enabled: the tape is NULL");
        return false;
    }
    bool was = tape->grad_enabled;
    tape->grad_enabled = enabled;
    return was;
}

size_t tg_tape_node_count(const tg_tape *tape)
{
    return tape ? (size_t)arrlen(tape->nodes) : 0;
}

size_t tg_tape_used(const tg_tape *tape)
{
    size_t total = 0;
    for (ptrdiff_t i = 0; tape && i < arrlen(tape->chunks); i++)
        total += tape->chunks[i].used;
    return total;
}

size_t tg_tape_capacity(const tg_tape *tape)
{
    if (!tape)
        return 0;
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
    void *data = t ? tg_op_alloc(tape, (size_t)size * tg_dtype_size(dtype) + TG_BUFFER_SLACK)
                   : NULL;
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
    for (int i = 0; i < n; i++) {
        node.in[i] = inputs[i];
        node.in_version[i] = tg_tensor_version(inputs[i]);
    }
    node.out_version = tg_tensor_version(out);
    arrput(tape->nodes, node);
    return &tape->nodes[arrlen(tape->nodes) - 1];
}

/*
 * A caller-owned tensor whose requires_grad was set without tg_tensor_set_requires_grad has
 * no buffer yet; it gets one of its own, since tape memory would vanish at reset under it.
 */
static void *new_grad(tg_tape *tape, tg_tensor *t)
{
    size_t bytes = (size_t)t->size * tg_dtype_size(t->dtype);
    if (!t->tape) {
        void *g = calloc(1, bytes + TG_BUFFER_SLACK);
        return g ? g : tg_op_fail(tape, "backward: out of memory for a leaf's gradient");
    }
    void *g = tg_op_alloc(tape, bytes + TG_BUFFER_SLACK);
    if (g)
        memset(g, 0, bytes);
    return g;
}

void *tg_op_grad(tg_tape *tape, tg_tensor *t)
{
    if (!t->requires_grad)
        return NULL;
    if (!t->grad)
        t->grad = new_grad(tape, t);
    return t->grad;
}

static bool check_seed(tg_tape *tape, const tg_tensor *root, const tg_tensor *upstream)
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
    return true;
}

static bool check_root(tg_tape *tape, const tg_tensor *root, const tg_tensor *upstream)
{
    if (!root)
        return tg_op_fail(tape, "backward: the root is NULL");
    /* Seeding a foreign root would put its gradient in this tape's memory. */
    if (root->tape && root->tape != tape)
        return tg_op_fail(tape, "backward: the root belongs to another tape; run backward on "
                                "the tape that recorded it");
    if (!root->requires_grad && !tape->grad_enabled)
        return tg_op_fail(tape, "backward: the root needs no gradient because gradients are "
                                "disabled on this tape, so nothing was recorded; turn them "
                                "on with tg_tape_set_grad_enabled before the forward pass");
    if (!root->requires_grad)
        return tg_op_fail(tape, "backward: the root does not depend on any tensor that "
                                "requires a gradient (inputs made by tg_detach need none)");
    if (tape->backward_done)
        return tg_op_fail(tape, "backward: this tape already ran backward; to run another "
                                "pass, run the earlier ones with tg_backward_retain, or reset "
                                "the tape and record the computation again");
    return check_seed(tape, root, upstream);
}

/* Starting every intermediate from no buffer makes "has a gradient" mean "this pass reached it". */
static void forget_intermediate_grads(tg_tape *tape)
{
    for (ptrdiff_t i = 0; i < arrlen(tape->nodes); i++)
        tape->nodes[i].out->grad = NULL;
}

static bool version_unchanged(tg_tape *tape, const tg_node *node, const tg_tensor *t,
                              uint32_t recorded, int input)
{
    uint32_t now = tg_tensor_version(t);
    if (now == recorded)
        return true;

    char what[32], shape[64];
    if (input >= 0)
        snprintf(what, sizeof what, "input %d", input);
    else
        snprintf(what, sizeof what, "the output");
    return tg_op_fail(tape,
                      "backward: %s of '%s' (shape %s) was modified in place after it "
                      "was recorded (version %u then, %u now); backward would be wrong. "
                      "Write to a copy, or record the computation again after the write",
                      what, node->op, tg_shape_str(t, shape, sizeof shape), recorded, now);
}

static bool node_unchanged(tg_tape *tape, const tg_node *node)
{
    for (int i = 0; i < node->n_in; i++)
        if (!version_unchanged(tape, node, node->in[i], node->in_version[i], i))
            return false;
    return version_unchanged(tape, node, node->out, node->out_version, -1);
}

static bool reserve_input_grads(tg_tape *tape, const tg_node *node)
{
    for (int i = 0; i < node->n_in; i++)
        if (node->in[i]->requires_grad && !tg_op_grad(tape, node->in[i]))
            return false;
    return true;
}

/*
 * Walks the pass without running a rule: each node the root reaches is checked for writes
 * since it was recorded, and gives its inputs their buffers, which marks them reached. So a
 * refused pass has changed no leaf gradient.
 */
static bool prepare_pass(tg_tape *tape)
{
    for (ptrdiff_t i = arrlen(tape->nodes) - 1; i >= 0; i--) {
        const tg_node *node = &tape->nodes[i];
        if (!node->out->grad)
            continue;
        if (!node_unchanged(tape, node) || !reserve_input_grads(tape, node))
            return false;
    }
    return true;
}

/*
 * An op may keep inputs beyond TG_MAX_INPUTS in its saved values, so a node can be reached
 * through one only here, after prepare_pass; it is checked like the others before its rule
 * runs. An empty output passes nothing back, so its rule is skipped.
 */
static bool run_nodes(tg_tape *tape)
{
    for (ptrdiff_t i = arrlen(tape->nodes) - 1; i >= 0; i--) {
        const tg_node *node = &tape->nodes[i];
        if (!node->out->grad || node->out->size == 0)
            continue;
        if (!node_unchanged(tape, node))
            return false;
        node->backward(tape, node);
    }
    return tape->error[0] == '\0';
}

static bool run_pass(tg_tape *tape, tg_tensor *root, const tg_tensor *upstream)
{
    if (!tape) {
        tg_set_last_error("backward: the tape is NULL");
        return false;
    }
    if (tape->error[0] || !check_root(tape, root, upstream))
        return false;

    forget_intermediate_grads(tape);
    void *seed = tg_op_grad(tape, root);
    if (!seed || !prepare_pass(tape))
        return false;

    for (int64_t i = 0; i < root->size; i++)
        tg_accumulate(root->dtype, seed, i, upstream ? tg_get(upstream, i) : 1.0);
    return run_nodes(tape);
}

bool tg_backward(tg_tape *tape, tg_tensor *root, const tg_tensor *upstream)
{
    bool ok = run_pass(tape, root, upstream);
    if (ok)
        tape->backward_done = true;
    return ok;
}

bool tg_backward_retain(tg_tape *tape, tg_tensor *root, const tg_tensor *upstream)
{
    return run_pass(tape, root, upstream);
}

tg_tensor *tg_detach(tg_tape *tape, tg_tensor *x)
{
    if (!tape) {
        tg_set_last_error("tg_detach: the tape is NULL");
        return NULL;
    }
    if (!x)
        return NULL;
    if (x->tape && x->tape != tape)
        return tg_op_fail(tape, "detach: the tensor belongs to another tape; detach it on the "
                                "tape that made it");

    tg_tensor *t = tg_op_alloc(tape, sizeof *t);
    if (!t)
        return NULL;
    tg_tensor_init(t, x->dtype, x->ndim, x->shape, x->size);
    t->data = x->data;
    t->tape = tape;
    t->base = x->base ? x->base : x;
    return t;
}
