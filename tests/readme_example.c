/* Fits y = 2x - 1 with one linear layer and SGD. */
#include <stdio.h>

#include "tg_nn.h"
#include "tg_ops.h"
#include "tg_optim.h"

int main(void)
{
    int64_t shape[] = {4, 1}; /* a batch of 4 rows with one feature */
    tg_tensor *x = tg_tensor_from(TG_F64, 2, shape, (double[]){0, 1, 2, 3});
    tg_tensor *y = tg_tensor_from(TG_F64, 2, shape, (double[]){-1, 1, 3, 5});
    tg_rng rng;
    tg_rng_seed(&rng, 1);
    tg_linear layer;
    tg_tape *tape = tg_tape_new();
    if (!x || !y || !tape || !tg_linear_init(&layer, TG_F64, 1, 1, &rng)) {
        fprintf(stderr, "setup failed: %s\n", tg_last_error());
        return 1;
    }
    tg_param params[] = {{"W", layer.W, 1.0}, {"A", layer.A, 1.0}, {"B", layer.B, 1.0}};

    for (int step = 0; step <= 100; step++) {
        /* loss = mean((layer(x) - y)^2); the tape records each op as it runs. */
        tg_tensor *err = tg_sub(tape, tg_linear_forward(tape, &layer, x), y);
        tg_tensor *loss = tg_scale(tape, tg_sum(tape, tg_square(tape, err)), 0.25);
        if (!tg_backward(tape, loss, NULL)) {
            fprintf(stderr, "step %d: %s\n", step, tg_tape_error(tape));
            return 1;
        }
        if (step % 25 == 0)
            printf("step %3d  loss %.6f\n", step, tg_get(loss, 0));
        tg_sgd_step(params, 3, 0.05);
        tg_zero_grads(params, 3);
        tg_tape_reset(tape); /* frees loss, err and every other tensor the ops made */
    }

    tg_tape_set_grad_enabled(tape, false); /* evaluation: record nothing */
    tg_tensor *pred = tg_linear_forward(tape, &layer, x);
    printf("at x = 3: %.3f (want 5)\n", tg_get(pred, 3));

    tg_tape_free(tape);
    tg_linear_destroy(&layer);
    tg_tensor_free(x);
    tg_tensor_free(y);
    return 0;
}
