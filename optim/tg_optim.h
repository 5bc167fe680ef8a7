/*
 * tg_optim.h: optimizers over a list of parameters (see tg_param in tg_nn.h).
 */
#ifndef TG_OPTIM_H
#define TG_OPTIM_H

#include "tg_nn.h"

/* Stochastic gradient descent: p -= lr * lr_scale_p * grad_p for every parameter. */
void tg_sgd_step(const tg_param *params, size_t count, double lr);

void tg_zero_grads(const tg_param *params, size_t count);

/*
 * Weight averaging. The averager keeps a copy of every parameter, starting from the values they
 * have when it is made. After training step t (counted from 1) tg_averager_update() moves each
 * copy toward the current value:
 *     avg = a_t p + (1 - a_t) avg,    a_t = (1/h) / (1/h + t),
 * so early steps are forgotten at a rate set by h (0.1 in Montavon et al.'s QM7 network).
 */
typedef struct tg_averager tg_averager;

tg_averager *tg_averager_new(const tg_param *params, size_t count, double h);
void tg_averager_free(tg_averager *avg);
void tg_averager_update(tg_averager *avg, int64_t t);

/* The weight a_t that tg_averager_update gives the current value at step t. */
double tg_averager_rate(const tg_averager *avg, int64_t t);

/*
 * Exchanges the parameters' data with the averaged copies, so a forward pass runs on the
 * averaged weights; a second call puts the trained weights back. Raw data pointers taken from
 * the parameters before a swap point at the other copy after it.
 */
void tg_averager_swap(tg_averager *avg);

/* The averaged copy of parameter i, in the order given to tg_averager_new. */
tg_tensor *tg_averager_tensor(tg_averager *avg, size_t i);

/*
 * The whole update of a training step in one pass over memory: for every parameter the SGD
 * step, then the averaging update for step t, then the gradient is zeroed. The result is
 * bit-identical to tg_sgd_step(), tg_averager_update() and tg_zero_grads() called in turn,
 * and does not depend on the number of threads. `params` must be the list the averager was
 * made from; returns false (with tg_last_error()) otherwise.
 */
bool tg_sgd_average_step(const tg_param *params, size_t count, double lr, tg_averager *avg,
                         int64_t t);

#endif
