/*
 * tg_op.h: the interface between the tape and the ops that record on it.
 *
 * An op is a forward kernel plus a backward rule. Its public function checks its arguments,
 * makes its output with tg_op_output(), computes it, and records a node with tg_op_record()
 * when the output needs a gradient. The backward rule receives that node after the output's
 * gradient is complete and adds its contribution to each input's gradient, obtained with
 * tg_op_grad(). Nothing outside the op's own file knows how to differentiate it.
 */
#ifndef TG_OP_H
#define TG_OP_H

#include <stdarg.h>

#include "tg_tape.h"

#define TG_MAX_INPUTS 3

typedef struct tg_node tg_node;
typedef void (*tg_backward_fn)(tg_tape *tape, const tg_node *node);

struct tg_node {
    const char *op; /* the op's name, for messages */
    tg_backward_fn backward;
    tg_tensor *out;
    tg_tensor *in[TG_MAX_INPUTS];
    int n_in;
    double arg[2];  /* constant arguments, such as a scale factor */
    int64_t iarg[2]; /* integer arguments, such as an axis */
    const void *rule; /* op-specific description shared by a family of ops */
    void *saved;      /* op-specific values saved for backward, in the tape's memory */
    /* Set by tg_op_record: the tensors' versions then, which tg_backward checks are unchanged. */
    uint32_t in_version[TG_MAX_INPUTS];
    uint32_t out_version;
};

/*
 * Records an error on the tape (the first one wins) and returns NULL, so an op can write
 * `return tg_op_fail(tape, "...", ...);`.
 */
void *tg_op_fail(tg_tape *tape, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* True when every input is non-NULL; an op returns NULL at once otherwise. */
bool tg_op_inputs_present(tg_tape *tape, int n, tg_tensor *const *inputs);

/* Fails with a message naming `op` unless all inputs share one dtype. */
bool tg_op_check_dtypes(tg_tape *tape, const char *op, int n, tg_tensor *const *inputs);

/*
 * An uninitialised output tensor in the tape's memory. It needs a gradient when any of the n
 * inputs does.
 */
tg_tensor *tg_op_output(tg_tape *tape, tg_dtype dtype, int ndim, const int64_t *shape,
                        int n, tg_tensor *const *inputs);

/*
 * Appends a node for `out` when it needs a gradient and returns it so the op can fill in
 * arguments; returns NULL (and records nothing) when no gradient is needed, or on failure.
 * Call it after computing `out`: it notes the versions of `out` and the inputs, and backward
 * refuses the node if any of them is written afterwards.
 */
tg_node *tg_op_record(tg_tape *tape, const char *op, tg_backward_fn backward, tg_tensor *out,
                      int n, tg_tensor *const *inputs);

/* Memory that lives until the tape is reset, aligned for any element type. */
void *tg_op_alloc(tg_tape *tape, size_t bytes);

/*
 * The gradient buffer of `t` for a backward rule to accumulate into, zeroed when it is first
 * made; NULL when `t` needs no gradient (the rule then skips that input). A rule is not run
 * when its output has no elements.
 */
void *tg_op_grad(tg_tape *tape, tg_tensor *t);

/* Element loads and stores in double, for kernels written once for both dtypes. */
static inline double tg_load(tg_dtype dtype, const void *p, int64_t i)
{
    return dtype == TG_F32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}

static inline void tg_store(tg_dtype dtype, void *p, int64_t i, double v)
{
    if (dtype == TG_F32)
        ((float *)p)[i] = (float)v;
    else
        ((double *)p)[i] = v;
}

static inline void tg_accumulate(tg_dtype dtype, void *p, int64_t i, double v)
{
    if (dtype == TG_F32)
        ((float *)p)[i] += (float)v;
    else
        ((double *)p)[i] += v;
}

#endif
