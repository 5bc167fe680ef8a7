#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tg_internal.h"
#include "tg_tensor.h"

static _Thread_local char last_error[256];

void tg_set_last_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
}

const char *tg_last_error(void)
{
    return last_error[0] ? last_error : NULL;
}

size_t tg_dtype_size(tg_dtype dtype)
{
    return dtype == TG_F32 ? sizeof(float) : sizeof(double);
}

const char *tg_dtype_name(tg_dtype dtype)
{
    switch (dtype) {
    case TG_F32: return "float32";
    case TG_F64: return "float64";
    }
    return "unknown dtype";
}

bool tg_shape_valid(tg_dtype dtype, int ndim, const int64_t *shape, int64_t *size,
                    char *why, size_t why_len)
{
    if (dtype != TG_F32 && dtype != TG_F64) {
        snprintf(why, why_len, "dtype %d is neither TG_F32 nor TG_F64", (int)dtype);
        return false;
    }
    if (ndim < 0 || ndim > TG_MAX_DIMS) {
        snprintf(why, why_len, "%d dimensions (tapegrad supports 0 to %d)", ndim, TG_MAX_DIMS);
        return false;
    }
    if (ndim > 0 && !shape) {
        snprintf(why, why_len, "shape is NULL for %d dimensions", ndim);
        return false;
    }

    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) {
            snprintf(why, why_len, "dimension %d has negative size %lld", d,
                     (long long)shape[d]);
            return false;
        }
        if (shape[d] > 0 && n > (INT64_MAX / 16) / shape[d]) {
            snprintf(why, why_len, "shape is too large to address");
            return false;
        }
        n *= shape[d];
    }
    *size = n;
    return true;
}

void tg_tensor_init(tg_tensor *t, tg_dtype dtype, int ndim, const int64_t *shape, int64_t size)
{
    memset(t, 0, sizeof *t);
    t->dtype = dtype;
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++)
        t->shape[d] = shape[d];
    t->size = size;
}

tg_tensor *tg_tensor_new(tg_dtype dtype, int ndim, const int64_t *shape)
{
    char why[128];
    int64_t size;
    if (!tg_shape_valid(dtype, ndim, shape, &size, why, sizeof why)) {
        tg_set_last_error("tg_tensor_new: %s", why);
        return NULL;
    }

    tg_tensor *t = malloc(sizeof *t);
    void *data = calloc(1, (size_t)size * tg_dtype_size(dtype) + TG_BUFFER_SLACK);
    if (!t || !data) {
        free(t);
        free(data);
        tg_set_last_error("tg_tensor_new: out of memory for %lld elements", (long long)size);
        return NULL;
    }
    tg_tensor_init(t, dtype, ndim, shape, size);
    t->data = data;
    return t;
}

/* Filling a new tensor is not a write that any recorded node could have seen. */
static void store(tg_tensor *t, int64_t i, double value)
{
    if (t->dtype == TG_F32)
        ((float *)t->data)[i] = (float)value;
    else
        ((double *)t->data)[i] = value;
}

tg_tensor *tg_tensor_from(tg_dtype dtype, int ndim, const int64_t *shape, const double *values)
{
    tg_tensor *t = tg_tensor_new(dtype, ndim, shape);
    if (!t)
        return NULL;
    for (int64_t i = 0; i < t->size; i++)
        store(t, i, values[i]);
    return t;
}

void tg_tensor_free(tg_tensor *t)
{
    if (!t || t->tape)
        return;
    free(t->data);
    free(t->grad);
    free(t);
}

bool tg_tensor_set_requires_grad(tg_tensor *t, bool requires_grad)
{
    if (!t) {
        tg_set_last_error("tg_tensor_set_requires_grad: tensor is NULL");
        return false;
    }
    if (requires_grad && !t->grad && !t->tape) {
        t->grad = calloc(1, (size_t)t->size * tg_dtype_size(t->dtype) + TG_BUFFER_SLACK);
        if (!t->grad) {
            tg_set_last_error("tg_tensor_set_requires_grad: out of memory");
            return false;
        }
    }
    t->requires_grad = requires_grad;
    return true;
}

void tg_tensor_zero_grad(tg_tensor *t)
{
    if (t && t->grad)
        memset(t->grad, 0, (size_t)t->size * tg_dtype_size(t->dtype));
}

bool tg_tensor_copy(tg_tensor *dst, const tg_tensor *src)
{
    if (!dst || !src || dst->dtype != src->dtype || !tg_same_shape(dst, src)) {
        tg_set_last_error("tg_tensor_copy: tensors are NULL or differ in dtype or shape");
        return false;
    }
    memcpy(dst->data, src->data, (size_t)src->size * tg_dtype_size(src->dtype));
    tg_tensor_mark_modified(dst);
    return true;
}

/* A tensor made by tg_detach keeps its count in its base, so both names see every write. */
void tg_tensor_mark_modified(tg_tensor *t)
{
    if (!t)
        return;
    if (t->base)
        t->base->version++;
    else
        t->version++;
}

uint32_t tg_tensor_version(const tg_tensor *t)
{
    return t->base ? t->base->version : t->version;
}

double tg_get(const tg_tensor *t, int64_t i)
{
    if (t->dtype == TG_F32)
        return ((const float *)t->data)[i];
    return ((const double *)t->data)[i];
}

void tg_set(tg_tensor *t, int64_t i, double value)
{
    store(t, i, value);
    tg_tensor_mark_modified(t);
}

double tg_grad_get(const tg_tensor *t, int64_t i)
{
    if (!t->grad)
        return 0.0;
    if (t->dtype == TG_F32)
        return ((const float *)t->grad)[i];
    return ((const double *)t->grad)[i];
}

bool tg_same_shape(const tg_tensor *a, const tg_tensor *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d])
            return false;
    return true;
}

const char *tg_shape_str(const tg_tensor *t, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < t->ndim && used < len; d++)
        used += (size_t)snprintf(buf + used, len - used, d ? ", %lld" : "%lld",
                                 (long long)t->shape[d]);
    if (used < len)
        snprintf(buf + used, len - used, "]");
    return buf;
}
