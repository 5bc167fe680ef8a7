#include <math.h>
#include <stdlib.h>

#include "tg_nn.h"
#include "tg_op.h"
#include "tg_ops.h"

bool tg_linear_init(tg_linear *layer, tg_dtype dtype, int64_t fan_in, int64_t fan_out, tg_rng *rng)
{
    *layer = (tg_linear){.fan_in = fan_in, .fan_out = fan_out};
    if (fan_in <= 0 || fan_out <= 0) {
        tg_set_last_error("tg_linear_init: sizes must be positive, got %lld x %lld",
                          (long long)fan_in, (long long)fan_out);
        return false;
    }
    layer->W = tg_tensor_new(dtype, 2, (int64_t[]){fan_in, fan_out});
    layer->A = tg_tensor_new(dtype, 1, (int64_t[]){fan_in});
    layer->B = tg_tensor_new(dtype, 1, (int64_t[]){fan_out});
    if (!layer->W || !layer->A || !layer->B || !tg_tensor_set_requires_grad(layer->W, true) ||
        !tg_tensor_set_requires_grad(layer->A, true) ||
        !tg_tensor_set_requires_grad(layer->B, true)) {
        tg_linear_destroy(layer);
        return false;
    }

    double std = 1.0 / sqrt((double)fan_in);
    for (int64_t i = 0; i < layer->W->size; i++)
        tg_set(layer->W, i, tg_rng_normal(rng, 0.0, std));
    return true;
}

void tg_linear_destroy(tg_linear *layer)
{
    tg_tensor_free(layer->W);
    tg_tensor_free(layer->A);
    tg_tensor_free(layer->B);
    free(layer->scratch);
    layer->W = layer->A = layer->B = NULL;
    layer->scratch = NULL;
}

tg_tensor *tg_linear_forward(tg_tape *tape, const tg_linear *layer, tg_tensor *x)
{
    /* Checked here because x - A would broadcast an input of width 1 without complaint. */
    char shape[64];
    if (x && (x->ndim != 2 || x->shape[1] != layer->fan_in))
        return tg_op_fail(tape, "linear: input has shape %s; the layer needs [batch, %lld]",
                          tg_shape_str(x, shape, sizeof shape), (long long)layer->fan_in);

    tg_tensor *centred = tg_sub(tape, x, layer->A);
    return tg_add(tape, tg_matmul(tape, centred, layer->W), layer->B);
}

tg_tensor *tg_squash(tg_tape *tape, tg_tensor *x)
{
    return tg_scale(tape, tg_tanh(tape, tg_scale(tape, x, 1.0 / 1.5)), 1.5);
}
