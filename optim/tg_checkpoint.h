/*
 * tg_checkpoint.h: saving a training run to a file and resuming it bit for bit.
 *
 * A checkpoint holds what a run needs to continue exactly where it stopped: every parameter's
 * data, the averaged copy of every parameter when an averager is in use, the number of steps
 * taken, and the random generator's state. Gradients are not saved (each step recomputes
 * them), nor are settings the program supplies again when it resumes: learning rates,
 * lr_scale, the averager's h.
 *
 * Parameters are matched by position: entry i of the file must have the name, dtype and shape
 * of params[i]. Save while the averager is not swapped (tg_averager_swap), so that the
 * parameters hold the trained weights; the file cannot tell the two apart.
 *
 * File format, version 1. Integers are little-endian; floats are IEEE 754 binary32 or
 * binary64 stored as little-endian integers of the same width; nothing is padded.
 *
 *     offset  size       field
 *     0       8          magic 89 54 47 43 0D 0A 1A 0A ("\x89TGC\r\n\x1a\n")
 *     8       4  u32     format version, 1
 *     12      4  u32     flags: bit 0 set when averaged copies follow each parameter;
 *                        the other bits are 0
 *     16      8  i64     step
 *     24      32 u64[4]  random generator state, tg_rng.s[0] to s[3]
 *     56      8  u64     parameter count
 *     64                 the parameters, each:
 *                            u32        name length n (tg_param allows up to 31)
 *                            n bytes    name, without a terminating zero
 *                            u32        dtype: 0 float32, 1 float64
 *                            u32        ndim, 0 to 4
 *                            i64[ndim]  shape
 *                            data       size elements, row-major (size = product of shape)
 *                            data       the averaged copy, same layout, when flags bit 0
 *     end-4   4  u32     CRC-32 (the zlib and PNG polynomial) of every byte from offset 8
 *                        up to this field
 *
 * The magic's first byte is not ASCII and it contains both CR LF and LF, so a file passed
 * through a text-mode transfer is recognised as damaged rather than misread.
 *
 * Errors are reported by returning false with a message in tg_last_error() that names the
 * file and what is wrong, e.g. "run.tgc: parameter 2 (0.B) has shape [3] in the file but [4]
 * in the model".
 */
#ifndef TG_CHECKPOINT_H
#define TG_CHECKPOINT_H

#include "tg_optim.h"

/*
 * Writes the run's state to `path`, replacing any file there atomically: the bytes go to a
 * temporary file "<path>.tmp.XXXXXX" in the same directory, which is synced to disk and then
 * renamed over `path`. On failure the temporary file is removed and an existing checkpoint at
 * `path` is left as it was. A new file is readable by its owner only; a replaced file keeps
 * its permissions. `avg` may be NULL. When only the final sync of the directory fails, the new
 * checkpoint is in place but may not survive a power cut, and false is returned.
 */
bool tg_checkpoint_save(const char *path, const tg_param *params, size_t count, tg_averager *avg,
                        int64_t step, const tg_rng *rng);

/*
 * Restores a run saved by tg_checkpoint_save into `params` (and `avg`, which must be NULL
 * exactly when the file holds no averaged copies), `*step` and `*rng`; step and rng may be
 * NULL when the caller does not need them. The whole file is checked before anything is
 * written, so on failure the model, the averager, step and rng are unchanged.
 */
bool tg_checkpoint_load(const char *path, const tg_param *params, size_t count, tg_averager *avg,
                        int64_t *step, tg_rng *rng);

/*
 * The same as tg_checkpoint_load, reading a checkpoint already in memory (len bytes); `name`
 * is what error messages call it.
 */
bool tg_checkpoint_load_bytes(const void *bytes, size_t len, const char *name,
                              const tg_param *params, size_t count, tg_averager *avg, int64_t *step,
                              tg_rng *rng);

#endif
