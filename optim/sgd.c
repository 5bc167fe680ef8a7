#include "tg_optim.h"

void tg_sgd_step(const tg_param *params, size_t count, double lr)
{
    for (size_t i = 0; i < count; i++) {
        tg_tensor *p = params[i].tensor;
        if (!p->grad)
            continue;
        double step = lr * params[i].lr_scale;
        if (p->dtype == TG_F32) {
            float *w = p->data;
            const float *g = p->grad;
            for (int64_t j = 0; j < p->size; j++)
                w[j] -= (float)step * g[j];
        } else {
            double *w = p->data;
            const double *g = p->grad;
            for (int64_t j = 0; j < p->size; j++)
                w[j] -= step * g[j];
        }
    }
}

void tg_zero_grads(const tg_param *params, size_t count)
{
    for (size_t i = 0; i < count; i++)
        tg_tensor_zero_grad(params[i].tensor);
}
