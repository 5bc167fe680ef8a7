/*
 * tg_ops.h: tensor operations. Each records itself on the tape when its output needs a
 * gradient, and each has its backward rule beside its forward kernel in ops/.
 *
 * Every op works in float32 and float64 and refuses to mix them. Elementwise binary ops
 * broadcast like numpy: shapes are aligned at their last dimension, missing leading dimensions
 * count as 1, and a dimension of size 1 stretches to match the other operand. The backward of a
 * broadcast operand sums over the dimensions it was stretched along, so its gradient has the
 * operand's own shape.
 *
 * On a bad argument an op records a message on the tape and returns NULL; given a NULL input
 * it returns NULL.
 */
#ifndef TG_OPS_H
#define TG_OPS_H

#include "tg_tape.h"

/* Elementwise binary, with broadcasting. */
tg_tensor *tg_add(tg_tape *tape, tg_tensor *a, tg_tensor *b);
tg_tensor *tg_sub(tg_tape *tape, tg_tensor *a, tg_tensor *b);
tg_tensor *tg_mul(tg_tape *tape, tg_tensor *a, tg_tensor *b);
tg_tensor *tg_div(tg_tape *tape, tg_tensor *a, tg_tensor *b); /* a / b, IEEE at b = 0 */

/* a^b. d/db is 0 where a^b = 0 and NaN where a < 0, where a^b is not real around b. */
tg_tensor *tg_pow(tg_tape *tape, tg_tensor *a, tg_tensor *b);

/* The larger / smaller operand; on a tie the gradient goes to a only; NaN propagates. */
tg_tensor *tg_maximum(tg_tape *tape, tg_tensor *a, tg_tensor *b);
tg_tensor *tg_minimum(tg_tape *tape, tg_tensor *a, tg_tensor *b);

/* Elementwise unary. */
tg_tensor *tg_scale(tg_tape *tape, tg_tensor *x, double factor); /* factor * x */
tg_tensor *tg_add_scalar(tg_tape *tape, tg_tensor *x, double c); /* x + c */
tg_tensor *tg_neg(tg_tape *tape, tg_tensor *x);                  /* -x */
tg_tensor *tg_tanh(tg_tape *tape, tg_tensor *x);
tg_tensor *tg_square(tg_tape *tape, tg_tensor *x);
tg_tensor *tg_exp(tg_tape *tape, tg_tensor *x);
tg_tensor *tg_log(tg_tape *tape, tg_tensor *x);  /* log(0) = -inf with gradient +inf there */
tg_tensor *tg_sqrt(tg_tape *tape, tg_tensor *x); /* gradient +inf at 0 */
tg_tensor *tg_abs(tg_tape *tape, tg_tensor *x);  /* gradient sign(x), 0 at 0 */
tg_tensor *tg_relu(tg_tape *tape, tg_tensor *x); /* max(x, 0), gradient 0 at 0 */

/* 1 / (1 + exp(-x)) and log(1 + exp(x)), without overflow for any finite x. */
tg_tensor *tg_sigmoid(tg_tape *tape, tg_tensor *x);
tg_tensor *tg_softplus(tg_tape *tape, tg_tensor *x);

/*
 * Identity going forward; going backward the gradient is multiplied by `factor`. It rescales
 * the learning signal that reaches everything computed before it.
 */
tg_tensor *tg_grad_scale(tg_tape *tape, tg_tensor *x, double factor);

/* Matrix product of a [m, k] and b [k, n], giving [m, n]. */
tg_tensor *tg_matmul(tg_tape *tape, tg_tensor *a, tg_tensor *b);

/* op(a) op(b) for 2-D a and b, where op transposes when its flag is set; nothing is copied. */
tg_tensor *tg_matmul_t(tg_tape *tape, tg_tensor *a, tg_tensor *b, bool trans_a, bool trans_b);

/*
 * Batched product: [B, m, k] times [B, k, n] gives [B, m, n], always 3-D. A batch of 1, or a
 * 2-D operand, is shared by every batch of the other, and its gradient is the sum over them.
 */
tg_tensor *tg_matmul_batched(tg_tape *tape, tg_tensor *a, tg_tensor *b);

/* The batched product of op(a) and op(b), transposing the last two dimensions as flagged. */
tg_tensor *tg_matmul_batched_t(tg_tape *tape, tg_tensor *a, tg_tensor *b, bool trans_a,
                               bool trans_b);

/*
 * Reductions. The plain form reduces every element to a scalar (zero dimensions); the _axis
 * form reduces one axis (negative counts from the end), which stays with size 1 under keepdim
 * and is removed otherwise. Over zero elements, sum is 0, mean is NaN (0 / 0), max is -inf,
 * min is +inf and logsumexp is -inf.
 */
tg_tensor *tg_sum(tg_tape *tape, tg_tensor *x);
tg_tensor *tg_sum_axis(tg_tape *tape, tg_tensor *x, int axis, bool keepdim);
tg_tensor *tg_mean(tg_tape *tape, tg_tensor *x);
tg_tensor *tg_mean_axis(tg_tape *tape, tg_tensor *x, int axis, bool keepdim);

/* The largest / smallest element; its gradient goes to the first one in row-major order. */
tg_tensor *tg_max(tg_tape *tape, tg_tensor *x);
tg_tensor *tg_max_axis(tg_tape *tape, tg_tensor *x, int axis, bool keepdim);
tg_tensor *tg_min(tg_tape *tape, tg_tensor *x);
tg_tensor *tg_min_axis(tg_tape *tape, tg_tensor *x, int axis, bool keepdim);

/* log(sum(exp(x))), computed as m + log(sum(exp(x - m))) with m the max so nothing overflows. */
tg_tensor *tg_logsumexp(tg_tape *tape, tg_tensor *x);
tg_tensor *tg_logsumexp_axis(tg_tape *tape, tg_tensor *x, int axis, bool keepdim);

/*
 * Shape ops. Each copies the elements it keeps into a new contiguous tensor, and its backward
 * adds the output gradient back to where each element came from.
 */

/* The same elements in a new shape of the same size; one dimension may be -1, inferred. */
tg_tensor *tg_reshape(tg_tape *tape, tg_tensor *x, int ndim, const int64_t *shape);

/* Output dimension d is input dimension perm[d]; perm lists each of x's dimensions once. */
tg_tensor *tg_permute(tg_tape *tape, tg_tensor *x, const int *perm);

/* The transpose of a 2-D tensor. */
tg_tensor *tg_transpose(tg_tape *tape, tg_tensor *x);

/* Indices start, start + step, ... below stop along axis; 0 <= start <= stop <= size, step >= 1. */
tg_tensor *tg_slice(tg_tape *tape, tg_tensor *x, int axis, int64_t start, int64_t stop,
                    int64_t step);

/* The n tensors joined along axis; all other dimensions must agree. */
tg_tensor *tg_concat(tg_tape *tape, tg_tensor *const *xs, int n, int axis);

/*
 * The entries indices[0..count) of x along axis, in that order, repeats allowed (x[indices] for
 * axis 0: a minibatch's rows). A repeated index receives the sum of its gradients.
 */
tg_tensor *tg_index_select(tg_tape *tape, tg_tensor *x, int axis, const int64_t *indices,
                           int64_t count);

/* x stretched to `shape` by the broadcasting rule of the binary ops. */
tg_tensor *tg_broadcast_to(tg_tape *tape, tg_tensor *x, int ndim, const int64_t *shape);

/*
 * Losses between a prediction and a target of the same shape (no broadcasting, which would
 * silently turn [n] against [n, 1] into [n, n]). Both may require gradients. The result is a
 * scalar: the sum or the mean of the elementwise loss, and the mean over zero elements is NaN.
 */
typedef enum tg_reduction { TG_REDUCE_MEAN, TG_REDUCE_SUM } tg_reduction;

tg_tensor *tg_mse(tg_tape *tape, tg_tensor *pred, tg_tensor *target, tg_reduction reduction);
tg_tensor *tg_l1(tg_tape *tape, tg_tensor *pred, tg_tensor *target, tg_reduction reduction);

/* r^2 / 2 where |r| <= delta, delta (|r| - delta / 2) beyond, for r = pred - target; delta > 0. */
tg_tensor *tg_huber(tg_tape *tape, tg_tensor *pred, tg_tensor *target, double delta,
                    tg_reduction reduction);

/* The name of the CBLAS that matrix products use, or "none" for the plain loops. */
const char *tg_blas_name(void);

/*
 * Threads for matrix products and for the passes that split over OpenMP threads (the fused
 * optimizer step). The default is 1: tapegrad uses only the calling thread until asked.
 * Results do not depend on the thread count except through the BLAS's own summation order.
 */
void tg_set_num_threads(int n);
int tg_num_threads(void);

#endif
