/*
 * tg_nn.h: layers built from ops, and a container that chains them.
 *
 * Layers hold their parameters as caller-owned tensors that require gradients; their forward
 * functions only compose ops, so every gradient comes from the ops' backward rules.
 */
#ifndef TG_NN_H
#define TG_NN_H

#include "tg_rng.h"
#include "tg_tape.h"

/* A parameter as optimizers see it: a name, the tensor, and a learning-rate multiplier. */
typedef struct tg_param {
    char name[32];
    tg_tensor *tensor;
    double lr_scale;
} tg_param;

/*
 * A linear layer with a pre-bias: Y = (X - A) W + B for X [batch, fan_in], with W
 * [fan_in, fan_out], A [fan_in] and B [fan_out]. A shifts the input before the product, B
 * the output after it.
 */
typedef struct tg_linear {
    tg_tensor *W, *A, *B;
    int64_t fan_in, fan_out;
    double *scratch; /* fan_in doubles for tg_linear_center, made on first use */
} tg_linear;

/* W ~ normal(0, 1/sqrt(fan_in)) drawn row by row from rng, A = 0, B = 0. */
bool tg_linear_init(tg_linear *layer, tg_dtype dtype, int64_t fan_in, int64_t fan_out,
                    tg_rng *rng);
void tg_linear_destroy(tg_linear *layer);
tg_tensor *tg_linear_forward(tg_tape *tape, const tg_linear *layer, tg_tensor *x);

/*
 * The centering step of a pre-bias layer, given a batch x [batch, fan_in] of its inputs:
 *     A += eta * sum_rows(x - A),    B += (change in A) W,
 * using W as it is before the call. A moves toward the mean of its inputs (it is a gradient
 * step on 0.5 * sum_rows |x - A|^2, not on any loss), and the change of B exactly cancels the
 * change of A in (x - A) W + B, so the layer computes the same function for every input
 * afterwards, up to rounding. Returns false (with tg_last_error()) if x does not fit.
 */
bool tg_linear_center(tg_linear *layer, const tg_tensor *x, double eta);

/* The activation 1.5 tanh(x / 1.5): close to the identity near 0, bounded by +-1.5. */
tg_tensor *tg_squash(tg_tape *tape, tg_tensor *x);

/* A chain of layers applied in order. */
typedef struct tg_sequential tg_sequential;

tg_sequential *tg_sequential_new(void);
void tg_sequential_free(tg_sequential *seq);
bool tg_sequential_add_linear(tg_sequential *seq, tg_dtype dtype, int64_t fan_in,
                              int64_t fan_out, tg_rng *rng);
bool tg_sequential_add_squash(tg_sequential *seq);
tg_tensor *tg_sequential_forward(tg_tape *tape, tg_sequential *seq, tg_tensor *x);

/* Number of layers, and the i-th linear layer (NULL when layer i is not linear). */
size_t tg_sequential_layer_count(const tg_sequential *seq);
tg_linear *tg_sequential_linear(tg_sequential *seq, size_t i);

/*
 * All parameters in layer order, named "<layer>.W", "<layer>.A", "<layer>.B"; lr_scale starts
 * at 1 and may be changed through the returned pointer. Valid until a layer is added.
 */
tg_param *tg_sequential_params(tg_sequential *seq, size_t *count);

#endif
