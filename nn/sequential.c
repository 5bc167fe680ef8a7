#include <stdio.h>
#include <stdlib.h>

#include <stb/stb_ds.h>

#include "tg_nn.h"

typedef enum layer_kind { LAYER_LINEAR, LAYER_SQUASH } layer_kind;

typedef struct layer {
    layer_kind kind;
    tg_linear linear;
} layer;

struct tg_sequential {
    layer *layers;    /* stb_ds array */
    tg_param *params; /* stb_ds array, rebuilt when a linear layer is added */
};

tg_sequential *tg_sequential_new(void)
{
    return calloc(1, sizeof(tg_sequential));
}

void tg_sequential_free(tg_sequential *seq)
{
    if (!seq)
        return;
    for (ptrdiff_t i = 0; i < arrlen(seq->layers); i++)
        if (seq->layers[i].kind == LAYER_LINEAR)
            tg_linear_destroy(&seq->layers[i].linear);
    arrfree(seq->layers);
    arrfree(seq->params);
    free(seq);
}

static void add_param(tg_sequential *seq, size_t layer_index, const char *what, tg_tensor *t)
{
    tg_param p = {.tensor = t, .lr_scale = 1.0};
    snprintf(p.name, sizeof p.name, "%zu.%s", layer_index, what);
    arrput(seq->params, p);
}

bool tg_sequential_add_linear(tg_sequential *seq, tg_dtype dtype, int64_t fan_in,
                              int64_t fan_out, tg_rng *rng)
{
    layer l = {.kind = LAYER_LINEAR};
    if (!tg_linear_init(&l.linear, dtype, fan_in, fan_out, rng))
        return false;

    size_t index = (size_t)arrlen(seq->layers);
    arrput(seq->layers, l);
    add_param(seq, index, "W", l.linear.W);
    add_param(seq, index, "A", l.linear.A);
    add_param(seq, index, "B", l.linear.B);
    return true;
}

bool tg_sequential_add_squash(tg_sequential *seq)
{
    layer l = {.kind = LAYER_SQUASH};
    arrput(seq->layers, l);
    return true;
}

tg_tensor *tg_sequential_forward(tg_tape *tape, tg_sequential *seq, tg_tensor *x)
{
    for (ptrdiff_t i = 0; i < arrlen(seq->layers); i++) {
        const layer *l = &seq->layers[i];
        x = l->kind == LAYER_LINEAR ? tg_linear_forward(tape, &l->linear, x) : tg_squash(tape, x);
    }
    return x;
}

size_t tg_sequential_layer_count(const tg_sequential *seq)
{
    return (size_t)arrlen(seq->layers);
}

tg_linear *tg_sequential_linear(tg_sequential *seq, size_t i)
{
    if (i >= (size_t)arrlen(seq->layers) || seq->layers[i].kind != LAYER_LINEAR)
        return NULL;
    return &seq->layers[i].linear;
}

tg_param *tg_sequential_params(tg_sequential *seq, size_t *count)
{
    *count = (size_t)arrlen(seq->params);
    return seq->params;
}
