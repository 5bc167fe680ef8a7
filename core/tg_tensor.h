/*
 * tg_tensor.h: the tensor, tapegrad's one data type.
 *
 * A tensor is a dense, contiguous, row-major array of float32 or float64 with up to
 * TG_MAX_DIMS dimensions (zero dimensions is a scalar). It may carry a gradient buffer of the
 * same dtype and shape.
 *
 * Ownership: tensors made with tg_tensor_new() belong to the caller and live until
 * tg_tensor_free() (parameters, inputs reused across steps). Tensors produced by ops belong to
 * the tape that recorded them and disappear at tg_tape_reset(); passing one to
 * tg_tensor_free() does nothing.
 *
 * Versions: every tensor counts the writes to its data in `version`. Each node of a tape notes
 * the versions of the tensors it reads, and tg_backward() refuses to differentiate through a
 * tensor written after it was recorded, whose saved values no longer match the forward pass.
 * tg_set(), tg_tensor_copy() and the optimizers count their writes; code that writes `data`
 * directly calls tg_tensor_mark_modified() after it.
 *
 * Functions outside a tape report failure by returning NULL (or false) and leave a message
 * for tg_last_error(), which is per thread.
 */
#ifndef TG_TENSOR_H
#define TG_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG_MAX_DIMS 4

typedef enum tg_dtype { TG_F32, TG_F64 } tg_dtype;

typedef struct tg_tape tg_tape;

typedef struct tg_tensor {
    tg_dtype dtype;
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    int64_t size; /* number of elements: the product of shape, 1 for a scalar */
    void *data;
    void *grad; /* NULL until a gradient exists */
    bool requires_grad;
    tg_tape *tape; /* the tape that owns this tensor, or NULL when the caller does */
    uint32_t version;       /* writes to data so far; read it with tg_tensor_version() */
    struct tg_tensor *base; /* the tensor whose data and version this one shares, or NULL */
} tg_tensor;

size_t tg_dtype_size(tg_dtype dtype);
const char *tg_dtype_name(tg_dtype dtype);

/* A zero-filled tensor owned by the caller. */
tg_tensor *tg_tensor_new(tg_dtype dtype, int ndim, const int64_t *shape);

/* A tensor owned by the caller, filled from `values` (size elements, row-major). */
tg_tensor *tg_tensor_from(tg_dtype dtype, int ndim, const int64_t *shape, const double *values);

void tg_tensor_free(tg_tensor *t);

/* Turns gradient tracking on or off; turning it on allocates a zeroed gradient. */
bool tg_tensor_set_requires_grad(tg_tensor *t, bool requires_grad);

void tg_tensor_zero_grad(tg_tensor *t);

/* Copies data (not the gradient) between tensors of the same dtype and shape. */
bool tg_tensor_copy(tg_tensor *dst, const tg_tensor *src);

/*
 * Counts one write to t's data, for code that writes t->data itself; call it after writing.
 * A tensor that shares its data (made by tg_detach) shares the count, so writing through
 * either is seen by nodes that read the other. NULL is ignored.
 */
void tg_tensor_mark_modified(tg_tensor *t);

/*
 * The number of writes counted on t's data. It starts at 0 for a new tensor and wraps after
 * 2^32 writes, which only matters if exactly that many happen between forward and backward.
 */
uint32_t tg_tensor_version(const tg_tensor *t);

/*
 * Element access by flat row-major index, converting to and from double. tg_set counts a write
 * (see tg_tensor_mark_modified).
 */
double tg_get(const tg_tensor *t, int64_t i);
void tg_set(tg_tensor *t, int64_t i, double value);
double tg_grad_get(const tg_tensor *t, int64_t i); /* 0 when there is no gradient */

bool tg_same_shape(const tg_tensor *a, const tg_tensor *b);

/* Writes a shape as "[25, 400]" into buf, for messages. */
const char *tg_shape_str(const tg_tensor *t, char *buf, size_t len);

/* Why the last failing call outside a tape failed, on this thread. */
const char *tg_last_error(void);

/* Sets that message; for code built on tapegrad that reports errors the same way. */
void tg_set_last_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
