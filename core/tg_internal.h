/* tg_internal.h: helpers shared by the files of core/, not part of the public API. */
#ifndef TG_INTERNAL_H
#define TG_INTERNAL_H

#include "tg_tensor.h"

/* Checks dtype and shape and computes the element count; on failure explains in `why`. */
bool tg_shape_valid(tg_dtype dtype, int ndim, const int64_t *shape, int64_t *size,
                    char *why, size_t why_len);

/*
 * Bytes added after every data and gradient buffer. BLIS 0.9.0's cblas_sgemm with beta != 0
 * reads one element past the end of C; the slack keeps that read inside the allocation.
 */
enum { TG_BUFFER_SLACK = 64 };

/* Fills in a tensor's header; data and grad stay NULL. */
void tg_tensor_init(tg_tensor *t, tg_dtype dtype, int ndim, const int64_t *shape, int64_t size);

#endif
