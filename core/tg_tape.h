/*
 * tg_tape.h: the tape that records ops and runs them backward.
 *
 * Every op takes the tape explicitly. While it runs, an op whose inputs need gradients
 * records a node: its inputs, its output and its backward rule. tg_backward() walks the nodes
 * in reverse and accumulates into every gradient it reaches, so a tensor used twice receives
 * the sum of both contributions. Leaf gradients (caller-owned tensors) accumulate across calls
 * until the caller zeroes them.
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
 * dtype and shape. Returns false (with a message on the tape) if the tape holds an error, if
 * the root needs no gradient or was recorded on another tape, or if `upstream` does not fit.
 */
bool tg_backward(tg_tape *tape, tg_tensor *root, const tg_tensor *upstream);

/*
 * With gradients disabled, ops compute their outputs but record nothing and save nothing for
 * backward, as for evaluation. Returns the previous setting, so a scope can restore it.
 */
bool tg_tape_set_grad_enabled(tg_tape *tape, bool enabled);

/* Number of recorded nodes, and bytes of memory the tape holds; for tests and benchmarks. */
size_t tg_tape_node_count(const tg_tape *tape);
size_t tg_tape_capacity(const tg_tape *tape);

#endif
