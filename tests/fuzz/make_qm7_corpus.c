/*
 * make_qm7_corpus.c: writes the seed files of tests/fuzz/corpus_qm7 with matio.
 *
 *     make_qm7_corpus DIR
 *
 * Every seed is a small file in one of the layouts matio can write: two molecules of two atoms
 * (X 2 x 23 x 23, zero past the atoms), T 1 x 2 and P 5 x 1. The layouts are MAT 5
 * uncompressed and zlib-compressed, in single and in double precision, and one MAT 7.3 (HDF5)
 * file, which the loader refuses from its header, as it refuses MAT 4.
 */
#include <stdio.h>
#include <string.h>

#include <matio.h>

enum { MOLECULES = 2, ATOMS = 23, MATRIX = ATOMS * ATOMS, FOLDS = 5 };

typedef struct seed {
    const char *name;
    enum mat_ft version;
    enum matio_compression compression;
    enum matio_classes class_type;
} seed;

/* Carbon and hydrogen 1.1 apart: diagonal 0.5 Z^2.4, off-diagonal Z_i Z_j / r. */
static void fill(double *X, double *T, double *P)
{
    memset(X, 0, MOLECULES * MATRIX * sizeof *X);
    for (int k = 0; k < MOLECULES; k++) {
        X[k + MOLECULES * (0 + ATOMS * 0)] = 36.858;
        X[k + MOLECULES * (1 + ATOMS * 1)] = 0.5;
        X[k + MOLECULES * (0 + ATOMS * 1)] = 5.4545;
        X[k + MOLECULES * (1 + ATOMS * 0)] = 5.4545;
        T[k] = -400.0 - 10.0 * k;
    }
    for (int f = 0; f < FOLDS; f++)
        P[f] = f % MOLECULES;
}

static int write_var(mat_t *mat, const seed *s, const char *name, int rank, size_t *dims,
                     const double *values, size_t count)
{
    float single[MOLECULES * MATRIX];
    const void *data = values;
    enum matio_types type = MAT_T_DOUBLE;
    if (s->class_type == MAT_C_SINGLE) {
        for (size_t i = 0; i < count; i++)
            single[i] = (float)values[i];
        data = single;
        type = MAT_T_SINGLE;
    }

    matvar_t *var = Mat_VarCreate(name, s->class_type, type, rank, dims, (void *)data, 0);
    int status = var ? Mat_VarWrite(mat, var, s->compression) : 1;
    Mat_VarFree(var);
    return status;
}

static int write_seed(const char *dir, const seed *s)
{
    static double X[MOLECULES * MATRIX];
    double T[MOLECULES], P[FOLDS];
    char path[512];
    fill(X, T, P);

    snprintf(path, sizeof path, "%s/%s", dir, s->name);
    mat_t *mat = Mat_CreateVer(path, NULL, s->version);
    if (!mat) {
        fprintf(stderr, "make_qm7_corpus: matio cannot write %s\n", path);
        return 1;
    }
    size_t x_dims[3] = {MOLECULES, ATOMS, ATOMS};
    size_t t_dims[2] = {1, MOLECULES}, p_dims[2] = {FOLDS, 1};
    int status = write_var(mat, s, "X", 3, x_dims, X, MOLECULES * MATRIX) |
                 write_var(mat, s, "T", 2, t_dims, T, MOLECULES) |
                 write_var(mat, s, "P", 2, p_dims, P, FOLDS);
    Mat_Close(mat);
    if (status)
        fprintf(stderr, "make_qm7_corpus: writing %s failed\n", path);
    return status;
}

int main(int argc, char **argv)
{
    static const seed seeds[] = {
        {"v5_single.mat", MAT_FT_MAT5, MAT_COMPRESSION_NONE, MAT_C_SINGLE},
        {"v5_double.mat", MAT_FT_MAT5, MAT_COMPRESSION_NONE, MAT_C_DOUBLE},
        {"v5_zlib_single.mat", MAT_FT_MAT5, MAT_COMPRESSION_ZLIB, MAT_C_SINGLE},
        {"v5_zlib_double.mat", MAT_FT_MAT5, MAT_COMPRESSION_ZLIB, MAT_C_DOUBLE},
        {"v73_single.mat", MAT_FT_MAT73, MAT_COMPRESSION_NONE, MAT_C_SINGLE},
    };
    if (argc != 2) {
        fprintf(stderr, "usage: make_qm7_corpus DIR\n");
        return 2;
    }

    int status = 0;
    for (size_t i = 0; i < sizeof seeds / sizeof *seeds; i++)
        status |= write_seed(argv[1], &seeds[i]);
    return status;
}
