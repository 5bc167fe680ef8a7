/*
 * prebias_gradients: the gradients of one pre-bias linear layer, as the tape computes them and
 * as Montavon et al. (2012) wrote them by hand, side by side.
 *
 * The layer is Z = (X - A) W + B. Given the upstream gradient DY = dL/dZ, the chain rule gives
 *     dW = (X - A)^T DY,   dA = -sum_rows(DY W^T),   dB = sum_rows(DY),   dX = DY W^T,
 * and that is what the tape must produce. The paper's backward keeps dW but replaces the rest:
 *     DA = -sum_rows(X - A),   DB = sum_rows(DY) + DA W,   DX = sqrt(m / n) DY W^T.
 * The program computes both, prints them element by element and checks the identities that
 * relate them. Run without arguments it uses the small layer written out below; with
 * --seed, --batch, --in or --out it draws a layer of that size at random instead.
 *
 * Shapes, used throughout:
 *     batch  rows of the input          m  fan-in          n  fan-out
 *     X [batch, m]   A [m]   W [m, n]   B [n]   Z, DY [batch, n]
 * Every matrix is a row-major array of doubles: X[i * m + k], W[k * n + j], DY[i * n + j].
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tg_nn.h"
#include "tg_rng.h"
#include "tg_tape.h"
#include "tg_tensor.h"

/*
 * The sizes are capped so that every table stays short and every row of the printed inputs
 * fits in 100 columns; with values of order one and sums this short, a correct identity holds
 * to within a few rounding errors, far inside TOLERANCE.
 */
enum { MAX_BATCH = 16, MAX_WIDTH = 8 };
static const double TOLERANCE = 1e-12;

typedef struct problem {
    int64_t batch, m, n;
    double X[MAX_BATCH * MAX_WIDTH];
    double A[MAX_WIDTH];
    double W[MAX_WIDTH * MAX_WIDTH];
    double B[MAX_WIDTH];
    double DY[MAX_BATCH * MAX_WIDTH];
} problem;

/* One set of gradients of the loss, named after the tensor each is taken with respect to. */
typedef struct grads {
    double W[MAX_WIDTH * MAX_WIDTH]; /* [m, n] */
    double A[MAX_WIDTH];             /* [m] */
    double B[MAX_WIDTH];             /* [n] */
    double X[MAX_BATCH * MAX_WIDTH]; /* [batch, m] */
} grads;

/* The numbers the summary reports; every deviation is a maximum absolute difference. */
typedef struct findings {
    double tape_vs_true[4];  /* tape against the chain-rule loops, for W, A, B, X */
    double paper_W;          /* |DW - dW| */
    double paper_A;          /* |DA - dA|: large, the two rules disagree */
    double paper_B;          /* |DB - dB| */
    double paper_B_identity; /* |(DB - dB) - DA W| */
    double paper_X_identity; /* |DX - sqrt(m/n) dX| */
    double ratio_min, ratio_max;
    int64_t ratio_count; /* elements of dX far enough from 0 to divide by */
} findings;

typedef struct options {
    bool random;
    uint64_t seed;
    int64_t batch, m, n;
} options;

/*
 * The default layer: values that are exact in binary, so gradients that agree agree to 0.
 * Each line of a matrix below is one of its rows.
 */
/* clang-format off */
static const double DEFAULT_X[4 * 3] = {
     1.0,  2.0,  0.5,
     0.0, -1.0,  1.5,
     2.0,  0.5, -0.5,
    -1.0,  1.0,  2.0,
};
static const double DEFAULT_A[3] = {0.25, -0.25, 1.0};
static const double DEFAULT_W[3 * 2] = {
     0.5,  -1.0,
     0.25,  0.75,
    -0.5,   1.0,
};
static const double DEFAULT_B[2] = {0.25, -0.5};
static const double DEFAULT_DY[4 * 2] = {
     1.0,  -0.5,
    -0.5,   0.25,
    -1.0,   1.0,
     0.25,  0.5,
};
/* clang-format on */

static void usage(const char *program)
{
    fprintf(stderr,
            "usage: %s [--seed N] [--batch B] [--in M] [--out N]\n"
            "  Without arguments: the fixed 4 x 3 -> 2 layer written in the source.\n"
            "  With any option: random values from seed N (default 1), batch B <= %d,\n"
            "  fan-in M and fan-out N <= %d (defaults 4, 3, 2).\n",
            program, MAX_BATCH, MAX_WIDTH);
}

static bool parse_count(const char *text, int64_t max, int64_t *out)
{
    char *end;
    long long v = strtoll(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v < 1 || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_args(int argc, char **argv, options *opt)
{
    *opt = (options){.random = false, .seed = 1, .batch = 4, .m = 3, .n = 2};
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        const char *value = i + 1 < argc ? argv[++i] : NULL;
        if (!value)
            return false;

        bool ok;
        if (strcmp(flag, "--seed") == 0) {
            char *end;
            opt->seed = strtoull(value, &end, 10);
            ok = *value >= '0' && *value <= '9' && *end == '\0';
        } else if (strcmp(flag, "--batch") == 0) {
            ok = parse_count(value, MAX_BATCH, &opt->batch);
        } else if (strcmp(flag, "--in") == 0) {
            ok = parse_count(value, MAX_WIDTH, &opt->m);
        } else if (strcmp(flag, "--out") == 0) {
            ok = parse_count(value, MAX_WIDTH, &opt->n);
        } else {
            ok = false;
        }
        if (!ok)
            return false;
        opt->random = true;
    }
    return true;
}

static void default_problem(problem *p)
{
    *p = (problem){.batch = 4, .m = 3, .n = 2};
    memcpy(p->X, DEFAULT_X, sizeof DEFAULT_X);
    memcpy(p->A, DEFAULT_A, sizeof DEFAULT_A);
    memcpy(p->W, DEFAULT_W, sizeof DEFAULT_W);
    memcpy(p->B, DEFAULT_B, sizeof DEFAULT_B);
    memcpy(p->DY, DEFAULT_DY, sizeof DEFAULT_DY);
}

static void fill_normal(tg_rng *rng, double *v, int64_t count, double std)
{
    for (int64_t i = 0; i < count; i++)
        v[i] = tg_rng_normal(rng, 0.0, std);
}

/* W has the spread tg_linear_init gives it; the other values are unit normals. */
static void random_problem(const options *opt, problem *p)
{
    *p = (problem){.batch = opt->batch, .m = opt->m, .n = opt->n};
    tg_rng rng;
    tg_rng_seed(&rng, opt->seed);

    fill_normal(&rng, p->X, p->batch * p->m, 1.0);
    fill_normal(&rng, p->A, p->m, 1.0);
    fill_normal(&rng, p->W, p->m * p->n, 1.0 / sqrt((double)p->m));
    fill_normal(&rng, p->B, p->n, 1.0);
    fill_normal(&rng, p->DY, p->batch * p->n, 1.0);
}

static void print_header(const problem *p, const options *opt)
{
    printf("Pre-bias linear layer Z = (X - A) W + B in float64, with batch = %" PRId64
           ", m = %" PRId64 ", n = %" PRId64 ":\n",
           p->batch, p->m, p->n);
    printf("X [batch, m], A [m], W [m, n], B [n]; DY = dL/dZ [batch, n] is given.\n");
    printf("Compared: the tape's gradients dW, dA, dB, dX (from tg_backward) and the\n");
    printf("hand-written backward DW, DA, DB, DX of Montavon et al. (2012).\n\n");

    printf("  chain rule:  dW = (X - A)^T DY    dA = -sum_rows(DY W^T)\n");
    printf("               dB = sum_rows(DY)    dX = DY W^T\n");
    printf("  paper:       DW = (X - A)^T DY    DA = -sum_rows(X - A)\n");
    printf("               DB = sum_rows(DY) + DA W    DX = sqrt(m / n) DY W^T\n\n");

    if (opt->random)
        printf("Values: random, seed %" PRIu64 ".\n\n", opt->seed);
    else
        printf("Values: the fixed layer written in prebias_gradients.c.\n\n");
}

static void print_matrix(const char *name, const double *v, int64_t rows, int64_t cols)
{
    for (int64_t i = 0; i < rows; i++) {
        printf("  %-4s", i == 0 ? name : "");
        for (int64_t j = 0; j < cols; j++)
            printf(" %+.6f", v[i * cols + j]);
        printf("\n");
    }
}

static void print_inputs(const problem *p)
{
    printf("Inputs\n");
    print_matrix("X", p->X, p->batch, p->m);
    print_matrix("A", p->A, 1, p->m);
    print_matrix("W", p->W, p->m, p->n);
    print_matrix("B", p->B, 1, p->n);
    print_matrix("DY", p->DY, p->batch, p->n);
    printf("\n");
}

/* Overwrites a fresh tg_linear's parameters with the problem's values. */
static bool make_layer(const problem *p, tg_linear *layer)
{
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    if (!tg_linear_init(layer, TG_F64, p->m, p->n, &rng))
        return false;

    for (int64_t i = 0; i < p->m * p->n; i++)
        tg_set(layer->W, i, p->W[i]);
    for (int64_t k = 0; k < p->m; k++)
        tg_set(layer->A, k, p->A[k]);
    for (int64_t j = 0; j < p->n; j++)
        tg_set(layer->B, j, p->B[j]);
    return true;
}

static void copy_grad(const tg_tensor *t, double *out)
{
    for (int64_t i = 0; i < t->size; i++)
        out[i] = tg_grad_get(t, i);
}

/*
 * Records the layer's forward pass on a tape and runs it backward from Z with DY as Z's
 * gradient. Every error, from a bad shape to a failed allocation, surfaces at tg_backward,
 * because an op given NULL passes NULL on and the tape keeps the first message.
 */
static bool tape_backward(const problem *p, tg_tape *tape, tg_linear *layer, grads *g)
{
    tg_tensor *x = tg_tensor_from(TG_F64, 2, (int64_t[]){p->batch, p->m}, p->X);
    tg_tensor *dy = tg_tensor_from(TG_F64, 2, (int64_t[]){p->batch, p->n}, p->DY);
    bool ok = x && dy && tg_tensor_set_requires_grad(x, true);
    if (!ok) {
        fprintf(stderr, "prebias_gradients: %s\n", tg_last_error());
    } else {
        tg_tensor *z = tg_linear_forward(tape, layer, x);
        ok = tg_backward(tape, z, dy);
        if (!ok)
            fprintf(stderr, "prebias_gradients: %s\n", tg_tape_error(tape));
    }

    if (ok) {
        copy_grad(layer->W, g->W);
        copy_grad(layer->A, g->A);
        copy_grad(layer->B, g->B);
        copy_grad(x, g->X);
    }
    tg_tensor_free(x);
    tg_tensor_free(dy);
    return ok;
}

static bool tape_gradients(const problem *p, grads *g)
{
    tg_linear layer;
    tg_tape *tape = tg_tape_new();
    if (!tape || !make_layer(p, &layer)) {
        fprintf(stderr, "prebias_gradients: %s\n", tg_last_error());
        tg_tape_free(tape);
        return false;
    }

    bool ok = tape_backward(p, tape, &layer, g);
    tg_tape_free(tape);
    tg_linear_destroy(&layer);
    return ok;
}

/* (X - A)^T DY, [m, n]: the weight gradient, on which both rules agree. */
static void centred_t_dy(const problem *p, double *out)
{
    for (int64_t k = 0; k < p->m; k++) {
        for (int64_t j = 0; j < p->n; j++) {
            double acc = 0.0;
            for (int64_t i = 0; i < p->batch; i++)
                acc += (p->X[i * p->m + k] - p->A[k]) * p->DY[i * p->n + j];
            out[k * p->n + j] = acc;
        }
    }
}

/* DY W^T, [batch, m]: the gradient that flows back into the layer's input. */
static void dy_wt(const problem *p, double *out)
{
    for (int64_t i = 0; i < p->batch; i++) {
        for (int64_t k = 0; k < p->m; k++) {
            double acc = 0.0;
            for (int64_t j = 0; j < p->n; j++)
                acc += p->DY[i * p->n + j] * p->W[k * p->n + j];
            out[i * p->m + k] = acc;
        }
    }
}

static void sum_rows(const double *v, int64_t rows, int64_t cols, double *out)
{
    for (int64_t j = 0; j < cols; j++) {
        out[j] = 0.0;
        for (int64_t i = 0; i < rows; i++)
            out[j] += v[i * cols + j];
    }
}

/*
 * The chain rule, written as loops so the tape has an independent answer to match. A enters
 * as -A before the product, so its gradient is minus the input gradient summed over rows.
 */
static void chain_rule_gradients(const problem *p, grads *g)
{
    centred_t_dy(p, g->W);
    dy_wt(p, g->X);

    sum_rows(g->X, p->batch, p->m, g->A);
    for (int64_t k = 0; k < p->m; k++)
        g->A[k] = -g->A[k];

    sum_rows(p->DY, p->batch, p->n, g->B);
}

/*
 * The paper's backward. DA is the gradient of 0.5 |X - A|^2 rather than of the loss, so it
 * never sees DY; DB adds DA W to the true bias gradient; DX is the true input gradient scaled
 * by sqrt(m / n).
 */
static void paper_gradients(const problem *p, grads *g)
{
    centred_t_dy(p, g->W);

    for (int64_t k = 0; k < p->m; k++) {
        g->A[k] = 0.0;
        for (int64_t i = 0; i < p->batch; i++)
            g->A[k] -= p->X[i * p->m + k] - p->A[k];
    }

    sum_rows(p->DY, p->batch, p->n, g->B);
    for (int64_t j = 0; j < p->n; j++)
        for (int64_t k = 0; k < p->m; k++)
            g->B[j] += g->A[k] * p->W[k * p->n + j];

    double scale = sqrt((double)p->m / (double)p->n);
    dy_wt(p, g->X);
    for (int64_t i = 0; i < p->batch * p->m; i++)
        g->X[i] *= scale;
}

static void print_element_name(const char *name, int ndim, int64_t i, int64_t cols)
{
    char label[64];
    if (ndim == 1)
        snprintf(label, sizeof label, "%s[%" PRId64 "]", name, i);
    else
        snprintf(label, sizeof label, "%s[%" PRId64 ",%" PRId64 "]", name, i / cols, i % cols);
    printf("  %-9s", label);
}

/* One gradient, element by element: the tape's value, the paper's and their difference. */
static void print_comparison(const char *name, int ndim, int64_t rows, int64_t cols,
                             const double *tape, const double *paper)
{
    printf("Gradient with respect to %s [", name);
    if (ndim == 1)
        printf("%" PRId64 "]\n", cols);
    else
        printf("%" PRId64 ", %" PRId64 "]\n", rows, cols);

    char tape_head[16], paper_head[16], diff_head[24];
    snprintf(tape_head, sizeof tape_head, "tape d%s", name);
    snprintf(paper_head, sizeof paper_head, "paper D%s", name);
    snprintf(diff_head, sizeof diff_head, "D%s - d%s", name, name);
    printf("  %-9s %12s %12s %14s\n", "element", tape_head, paper_head, diff_head);

    for (int64_t i = 0; i < rows * cols; i++) {
        print_element_name(name, ndim, i, cols);
        printf(" %+12.6f %+12.6f %+14.6f\n", tape[i], paper[i], paper[i] - tape[i]);
    }
    printf("\n");
}

static void print_comparisons(const problem *p, const grads *tape, const grads *paper)
{
    print_comparison("W", 2, p->m, p->n, tape->W, paper->W);
    print_comparison("A", 1, 1, p->m, tape->A, paper->A);
    print_comparison("B", 1, 1, p->n, tape->B, paper->B);
    print_comparison("X", 2, p->batch, p->m, tape->X, paper->X);
}

static double max_abs_diff(const double *a, const double *b, int64_t count)
{
    double worst = 0.0;
    for (int64_t i = 0; i < count; i++)
        worst = fmax(worst, fabs(a[i] - b[i]));
    return worst;
}

/* Where the paper's DB and the true dB part: their difference should be exactly DA W. */
static double bias_identity_deviation(const problem *p, const grads *tape, const grads *paper)
{
    double worst = 0.0;
    for (int64_t j = 0; j < p->n; j++) {
        double da_w = 0.0;
        for (int64_t k = 0; k < p->m; k++)
            da_w += paper->A[k] * p->W[k * p->n + j];
        worst = fmax(worst, fabs((paper->B[j] - tape->B[j]) - da_w));
    }
    return worst;
}

/*
 * DX / dX elementwise; elements of dX within 1e-9 of zero are skipped, since there the
 * quotient says nothing. The identity DX = sqrt(m/n) dX is checked on all elements anyway.
 */
static void input_ratio(const problem *p, const grads *tape, const grads *paper, findings *f)
{
    double scale = sqrt((double)p->m / (double)p->n);
    f->ratio_min = INFINITY;
    f->ratio_max = -INFINITY;
    f->ratio_count = 0;
    f->paper_X_identity = 0.0;

    for (int64_t i = 0; i < p->batch * p->m; i++) {
        f->paper_X_identity = fmax(f->paper_X_identity, fabs(paper->X[i] - scale * tape->X[i]));
        if (fabs(tape->X[i]) < 1e-9)
            continue;
        double ratio = paper->X[i] / tape->X[i];
        f->ratio_min = fmin(f->ratio_min, ratio);
        f->ratio_max = fmax(f->ratio_max, ratio);
        f->ratio_count++;
    }
}

static findings compare(const problem *p, const grads *tape, const grads *truth, const grads *paper)
{
    findings f;
    int64_t nx = p->batch * p->m;
    f.tape_vs_true[0] = max_abs_diff(tape->W, truth->W, p->m * p->n);
    f.tape_vs_true[1] = max_abs_diff(tape->A, truth->A, p->m);
    f.tape_vs_true[2] = max_abs_diff(tape->B, truth->B, p->n);
    f.tape_vs_true[3] = max_abs_diff(tape->X, truth->X, nx);

    f.paper_W = max_abs_diff(paper->W, tape->W, p->m * p->n);
    f.paper_A = max_abs_diff(paper->A, tape->A, p->m);
    f.paper_B = max_abs_diff(paper->B, tape->B, p->n);
    f.paper_B_identity = bias_identity_deviation(p, tape, paper);
    input_ratio(p, tape, paper, &f);
    return f;
}

static void print_tape_check(const findings *f)
{
    printf("The tape against the chain rule computed with plain loops (max |tape - loops|)\n");
    printf("  dW = (X - A)^T DY        %.1e\n", f->tape_vs_true[0]);
    printf("  dA = -sum_rows(DY W^T)   %.1e\n", f->tape_vs_true[1]);
    printf("  dB = sum_rows(DY)        %.1e\n", f->tape_vs_true[2]);
    printf("  dX = DY W^T              %.1e\n\n", f->tape_vs_true[3]);
}

static void print_summary(const problem *p, const findings *f)
{
    double scale = sqrt((double)p->m / (double)p->n);
    printf("Where the paper's rule agrees with the tape and where it does not\n");
    printf("  W  agrees:  max |DW - dW| = %.1e\n", f->paper_W);

    printf("  A  differs: max |DA - dA| = %.6f\n", f->paper_A);
    printf("              DA = -sum_rows(X - A) does not involve DY at all\n");

    printf("  B  differs: max |DB - dB| = %.6f\n", f->paper_B);
    printf("              DB - dB = DA W, to max |(DB - dB) - DA W| = %.1e\n", f->paper_B_identity);

    printf("  X  differs: DX = sqrt(m / n) dX, sqrt(%" PRId64 " / %" PRId64 ") = %.12f\n", p->m,
           p->n, scale);
    if (f->ratio_count > 0)
        printf("              DX / dX over %" PRId64 " elements: min %.12f, max %.12f\n",
               f->ratio_count, f->ratio_min, f->ratio_max);
    else
        printf("              DX / dX is undefined: dX is 0 everywhere\n");
    printf("              max |DX - sqrt(m / n) dX| = %.1e\n\n", f->paper_X_identity);
}

static bool all_hold(const findings *f)
{
    bool ok = f->paper_W <= TOLERANCE && f->paper_B_identity <= TOLERANCE &&
              f->paper_X_identity <= TOLERANCE;
    for (int i = 0; i < 4; i++)
        ok = ok && f->tape_vs_true[i] <= TOLERANCE;
    return ok;
}

int main(int argc, char **argv)
{
    options opt;
    if (!parse_args(argc, argv, &opt)) {
        usage(argv[0]);
        return 2;
    }

    problem p;
    if (opt.random)
        random_problem(&opt, &p);
    else
        default_problem(&p);
    print_header(&p, &opt);
    print_inputs(&p);

    grads tape, truth, paper;
    if (!tape_gradients(&p, &tape))
        return 1;
    chain_rule_gradients(&p, &truth);
    paper_gradients(&p, &paper);

    print_comparisons(&p, &tape, &paper);
    findings f = compare(&p, &tape, &truth, &paper);
    print_tape_check(&f);
    print_summary(&p, &f);

    if (!all_hold(&f)) {
        printf("Some identities do not hold within %.0e: see the deviations above.\n", TOLERANCE);
        return 1;
    }
    printf("All identities hold within %.0e.\n", TOLERANCE);
    return 0;
}
