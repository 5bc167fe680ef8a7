#include <stdlib.h>

#include "tg_optim.h"

struct tg_averager {
    tg_tensor **params;
    tg_tensor **copies;
    size_t count;
    double h;
};

tg_averager *tg_averager_new(const tg_param *params, size_t count, double h)
{
    if (!(h > 0.0)) {
        tg_set_last_error("tg_averager_new: h must be positive, got %g", h);
        return NULL;
    }
    tg_averager *avg = calloc(1, sizeof *avg);
    if (!avg)
        return NULL;
    avg->params = calloc(count ? count : 1, sizeof *avg->params);
    avg->copies = calloc(count ? count : 1, sizeof *avg->copies);
    avg->count = count;
    avg->h = h;
    if (!avg->params || !avg->copies) {
        tg_averager_free(avg);
        return NULL;
    }

    for (size_t i = 0; i < count; i++) {
        tg_tensor *p = params[i].tensor;
        avg->params[i] = p;
        avg->copies[i] = tg_tensor_new(p->dtype, p->ndim, p->shape);
        if (!avg->copies[i]) {
            tg_averager_free(avg);
            return NULL;
        }
        tg_tensor_copy(avg->copies[i], p);
    }
    return avg;
}

void tg_averager_free(tg_averager *avg)
{
    if (!avg)
        return;
    for (size_t i = 0; i < avg->count && avg->copies; i++)
        tg_tensor_free(avg->copies[i]);
    free(avg->params);
    free(avg->copies);
    free(avg);
}

double tg_averager_rate(const tg_averager *avg, int64_t t)
{
    double inv_h = 1.0 / avg->h;
    return inv_h / (inv_h + (double)t);
}

void tg_averager_update(tg_averager *avg, int64_t t)
{
    double a = tg_averager_rate(avg, t);
    for (size_t i = 0; i < avg->count; i++) {
        tg_tensor *p = avg->params[i], *q = avg->copies[i];
        if (p->dtype == TG_F32) {
            const float *w = p->data;
            float *m = q->data, fa = (float)a, fb = (float)(1.0 - a);
            for (int64_t j = 0; j < p->size; j++)
                m[j] = fa * w[j] + fb * m[j];
        } else {
            const double *w = p->data;
            double *m = q->data;
            for (int64_t j = 0; j < p->size; j++)
                m[j] = a * w[j] + (1.0 - a) * m[j];
        }
    }
}

void tg_averager_swap(tg_averager *avg)
{
    for (size_t i = 0; i < avg->count; i++) {
        void *data = avg->params[i]->data;
        avg->params[i]->data = avg->copies[i]->data;
        avg->copies[i]->data = data;
    }
}

tg_tensor *tg_averager_tensor(tg_averager *avg, size_t i)
{
    return i < avg->count ? avg->copies[i] : NULL;
}
