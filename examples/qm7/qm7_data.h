/*
 * qm7_data.h: reading the QM7 data set from its MATLAB file (qm7.mat) with libmatio.
 *
 * The file holds, for N molecules (7,165 in the published file):
 *   X  N x 23 x 23 single   Coulomb matrices, zero past the molecule's atoms
 *   T  1 x N       single   atomization energies, kcal/mol
 *   P  5 x F       int64    five cross-validation folds of 0-based molecule indices
 * MATLAB stores arrays column-major; the loader converts to row-major, so molecule k's
 * matrix entry (i, j) is X[(k * 23 + i) * 23 + j].
 */
#ifndef QM7_DATA_H
#define QM7_DATA_H

#include <stdbool.h>
#include <stdint.h>

#define QM7_ATOMS 23
#define QM7_FOLDS 5

typedef struct qm7_data {
    int64_t n;         /* molecules */
    int64_t fold_size; /* molecules per fold */
    float *X;          /* n * 23 * 23, row-major per molecule */
    float *T;          /* n */
    int64_t *P;        /* QM7_FOLDS * fold_size: fold f's i-th index is P[f * fold_size + i] */
} qm7_data;

/*
 * Loads and validates the file. On failure returns false, leaves *data empty, and explains
 * through tg_last_error(): a file that is not MATLAB 5, a damaged one, a missing variable,
 * wrong dimensions or class, an index in P out of range, NaN or Inf in X or T.
 *
 * A hostile or damaged file is checked as far as it can be before libmatio parses it, since
 * matio trusts a file's own account of itself:
 *   - only MATLAB 5 files are read. A MATLAB 4 file (it has no header) cannot hold X, and
 *     matio allocates whatever its first bytes claim. A MATLAB 7.3 file is HDF5, and libhdf5
 *     1.10.8 (Debian 12) overruns a heap buffer and leaks on damaged ones (found by
 *     tests/fuzz/fuzz_qm7.c); convert one with MATLAB's save -v7 or scipy.io.savemat.
 *   - every element of the file must end within it, and a compressed one must inflate to the
 *     length it declares: matio reads a variable cut short as whole, with the missing values
 *     uninitialized, and a broken compressed one as zeros.
 *   - a variable's dimensions may not claim more bytes than 1032 times the file's size,
 *     deflate's best ratio, because matio allocates what they claim before reading.
 * What is left is matio's parsing of the variable headers inside a file whose elements are
 * whole. There a header can still make matio allocate what it claims (a cell or struct of
 * billions of elements, say) before the read fails; fuzzing found no crash there, but matio
 * is not written for hostile input and this loader cannot make it so.
 */
bool qm7_load(const char *path, qm7_data *data);

void qm7_free(qm7_data *data);

/*
 * The molecule indices of every fold except `test_fold`, in fold order, into a new array
 * (free with free()), and their count in *count. NULL on a bad fold or out of memory.
 */
int64_t *qm7_training_indices(const qm7_data *data, int test_fold, int64_t *count);

#endif
