/*
 * tg_tape.h: the tape that records ops and runs them backward.
 *
 * Every op takes the tape explicitly. While it runs, an op whose inputs need gradients
 * records a node: its inputs, its output and its backward rule. tg_backward() walks the nodes
 * in reverse and accumulates into every gradient it reaches, so a tensor used twice receives
 * the sum of both contributions.
 *
 * Gradients: a leaf (a caller-owned tensor that requires a gradient) accumulates across
 * backward passes, on any tape, until the caller zeroes it. An intermediate (a tensor an op
 * produced) holds in t->grad its gradient from the latest pass, or NULL if that pass did not
 * reach it; it is readable until the tape is reset.
 *
 * One pass per recording: a second tg_backward() on the same tape is refused, because it
 * would add the same gradients into the leaves again. A caller that wants another pass (a
 * second root, another upstream) runs every pass but the last with tg_backward_retain().
 *
 * In-place writes: backward refuses a node if a tensor it read, or the output it made, was
 * written since it was recorded (see tg_tensor_version), since its rule would use the new
 * values. Optimizers write after backward, so a training step never trips this.
 *
 * The tape owns all the tensors its ops produce and the memory their backward rules save.
 * tg_tape_reset() releases them at once and keeps the memory for the next step, so a training
 * loop that records the same computation every step stops allocating after the first.
 *
 * Errors: an op given a bad argument records a message on the tape and returns NULL; an op
 * given NULL returns NULL without a new message. A caller can therefore build a whole
 * expression and check the result once. Only the first message is kept.
 */
#ifndef TG_TAPE_H
#define TG_TAPE_H

#include "tg_tensor.h"

typedef void (*tg_log_fn)(const char *message, void *user);

tg_tape *tg_tape_new(void);
void tg_tape_free(tg_tape *tape);

/* Frees every tensor the tape produced, forgets its nodes and clears its error. */
void tg_tape_reset(tg_tape *tape);

/* The first error recorded since the last reset, or NULL. */
const char *tg_tape_error(const tg_tape *tape);

/* Errors are also passed to `log` as they are recorded; by default nothing is printed. */
void tg_tape_set_log(tg_tape *tape, tg_log_fn log, void *user);

/*
 * Backpropagates from `root`. With `upstream` NULL the root must have one element and its
 * gradient is taken as 1; otherwise `upstream` gives the root's gradient and must match its
 * dtype and shape. Returns false with a message on the tape, before any leaf gradient changes,
 * if the tape holds an error (which is left as the message), if the root is NULL, needs no
 * gradient or was recorded on another tape, if `upstream` does not fit, if the tape already
 * ran its last pass, or if a tensor the pass reads was written since it was recorded. One
 * case is found only midway: a write under an op's fourth or later input (a concat of many
 * tensors), which a node does not list; the pass then stops there, and leaves may already
 * hold part of it.
 */
bool tg_backward(tg_tape *tape, tg_tensor *root, const tg_tensor *upstream);

/*
 * The same pass, leaving the tape open for another one. Each pass starts the intermediates'
 * gradients afresh, so they are not counted twice, and takes new buffers for them from the
 * tape's memory until reset; leaves accumulate the sum of all passes.
 */
bool tg_backward_retain(tg_tape *tape, tg_tensor *root, const tg_tensor *upstream);

/*
 * With gradients disabled, ops compute their outputs but record nothing and save nothing for
 * backward, as for evaluation; their outputs need no gradient. Returns the previous setting,
 * so a scope can restore it. The setting survives tg_tape_reset().
 */
bool tg_tape_set_grad_enabled(tg_tape *tape, bool enabled);

/*
 * A tensor of the tape that shares x's data, without a copy, and stops gradients: it needs no
 * gradient, so nothing recorded from it passes a gradient back to x. It shares x's version
 * too, so a write through either is caught by nodes that read the other. Valid until the tape
 * is reset and while x's data lives. Returns NULL for a NULL x, or with a message on the tape
 * when x belongs to another tape.
 */
tg_tensor *tg_detach(tg_tape *tape, tg_tensor *x);

/*
 * Number of recorded nodes; bytes of the tape's memory handed out since the last reset; and
 * bytes the tape holds in all. For tests and benchmarks.
 */
size_t tg_tape_node_count(const tg_tape *tape);
size_t tg_tape_used(const tg_tape *tape);
size_t tg_tape_capacity(const tg_tape *tape);

#endif
