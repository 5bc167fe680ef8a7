/*
 * qm7: trains Montavon et al.'s multilayer perceptron on QM7 and reports its error.
 *
 * The network, for nin binarized input features (about 2,095):
 *     Linear(nin, 400) -> squash -> Linear(400, 100) -> squash -> Linear(100, 1)
 * where Linear is the pre-bias layer Y = (X - A) W + B and squash(x) = 1.5 tanh(x / 1.5).
 * Its output y predicts the atomization energy as y * std_T + mean_T (training statistics).
 *
 * Training draws minibatches of 25 molecules uniformly with replacement, builds their inputs
 * with a fresh random realization each time, and takes a step on
 *     loss = 0.5 * sum(((Y - T) / std_T)^2)
 * by one of the update rules of qm7_model.h, with every gradient from the tape. The averaged
 * weights are what is evaluated: a molecule's prediction is the mean over 10 random
 * realizations of its input.
 *
 * A run can be checkpointed and resumed bit for bit. Everything a step depends on is either
 * in the checkpoint (the weights, their averages, the step count and the training generator)
 * or rebuilt identically from the command line: the split and the feature pipeline come from
 * the data, the fold and the seed, the learning rate from the step, and every evaluation
 * seeds its own generator afresh.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "qm7_data.h"
#include "qm7_features.h"
#include "qm7_model.h"
#include "tg_checkpoint.h"
#include "tg_ops.h"
#include "tg_tape.h"

enum { EVAL_REALIZATIONS = 10, EVAL_BATCH = 250 };

/* Exit statuses: the shell's 128 + signal number for a run stopped by SIGINT or SIGTERM. */
enum { EXIT_USAGE = 2, EXIT_SIGNAL_BASE = 128 };

/* Evaluation draws its realizations from a stream of its own, seeded from the run's seed. */
static const uint64_t EVAL_STREAM = 0x243f6a8885a308d3u;

static const int64_t DEFAULT_CHECKPOINT_EVERY = 10000;

/* The signal that asked the run to stop, or 0; the training loop polls it between steps. */
static volatile sig_atomic_t stop_signal;

typedef struct options {
    const char *data_path;
    int test_fold;
    int64_t steps;
    uint64_t seed;
    int64_t eval_every;
    int64_t batch;
    qm7_rule rule;
    const char *csv_path;
    int64_t threads;
    const char *checkpoint_path;
    int64_t checkpoint_every; /* 0 until given */
    bool resume;
    const char *evaluate_path;
} options;

typedef struct split {
    int64_t *train, *test;
    int64_t n_train, n_test;
    double mean_t, std_t;
} split;

typedef struct errors {
    double mae, rmse;
} errors;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: qm7 [options]\n"
            "  --data PATH        qm7.mat (default: $TG_QM7_PATH, else ./qm7.mat)\n"
            "  --fold K           test fold, 0-4; the other four train (default 0)\n"
            "  --steps N          training steps (default 20000; the paper used 1000000)\n"
            "  --seed S           random seed (default 1234)\n"
            "  --eval-every N     evaluate the test fold every N steps; 0: at the end only\n"
            "                     (default 0)\n"
            "  --batch B          minibatch size (default 25)\n"
            "  --rule R           paper, autodiff, autodiff-scaled or no-prebias\n"
            "                     (default paper; see examples/qm7/qm7_model.h)\n"
            "  --csv FILE         write step, test MAE and RMSE of each evaluation to FILE\n"
            "  --threads N        threads for matrix products and updates (default 1)\n"
            "  --checkpoint PATH  save the run to PATH every --checkpoint-every steps, at the\n"
            "                     end, and on SIGINT or SIGTERM, which stop the run after the\n"
            "                     current step (exit status 130 or 143). A new run refuses\n"
            "                     a PATH that exists: continue it with --resume\n"
            "  --checkpoint-every N\n"
            "                     steps between checkpoints (default 10000)\n"
            "  --resume           continue the run saved at --checkpoint PATH up to --steps;\n"
            "                     give the --data, --fold, --seed, --rule and --batch of the\n"
            "                     run that wrote it, and the result is bit for bit that of a\n"
            "                     run never stopped. The file holds the weights, their\n"
            "                     averages, the step and the generator, not these settings:\n"
            "                     only a change that alters the network's shape is caught.\n"
            "  --evaluate PATH    train nothing: score the averaged weights of checkpoint PATH\n"
            "                     on the training and test folds, with the settings of the run\n"
            "                     that wrote it\n"
            "  --help             this text\n"
            "Exit status: 0 done, 1 failed (data, checkpoint, or a loss that became NaN or\n"
            "infinite, which keeps the last checkpoint), 2 bad arguments, 130/143 stopped.\n");
}

/* Parses a whole decimal integer in [lo, hi]; anything else is refused. */
static bool parse_int(const char *flag, const char *text, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = text ? strtoll(text, &end, 10) : 0;
    if (!text || errno || end == text || *end || v < lo || v > hi) {
        fprintf(stderr, "qm7: %s needs an integer from %" PRId64 " to %" PRId64 ", got '%s'\n",
                flag, lo, hi, text ? text : "");
        return false;
    }
    *out = v;
    return true;
}

static bool parse_path(const char *flag, const char *text, const char **out)
{
    if (!text || !*text) {
        fprintf(stderr, "qm7: %s needs a file name\n", flag);
        return false;
    }
    *out = text;
    return true;
}

static bool parse_rule(const char *text, qm7_rule *rule)
{
    if (!qm7_rule_parse(text, rule)) {
        fprintf(stderr, "qm7: unknown rule '%s'\n", text ? text : "");
        return false;
    }
    return true;
}

/* Parses one flag that takes a value. */
static bool parse_valued_flag(const char *flag, const char *value, options *o)
{
    int64_t v = 0;
    if (!strcmp(flag, "--data"))
        return parse_path(flag, value, &o->data_path);
    if (!strcmp(flag, "--fold"))
        return parse_int(flag, value, 0, QM7_FOLDS - 1, &v) && (o->test_fold = (int)v, true);
    if (!strcmp(flag, "--steps"))
        return parse_int(flag, value, 1, INT64_C(1000000000), &o->steps);
    if (!strcmp(flag, "--seed"))
        return parse_int(flag, value, 0, INT64_MAX, &v) && (o->seed = (uint64_t)v, true);
    if (!strcmp(flag, "--eval-every"))
        return parse_int(flag, value, 0, INT64_C(1000000000), &o->eval_every);
    if (!strcmp(flag, "--batch"))
        return parse_int(flag, value, 1, 100000, &o->batch);
    if (!strcmp(flag, "--rule"))
        return parse_rule(value, &o->rule);
    if (!strcmp(flag, "--threads"))
        return parse_int(flag, value, 1, 256, &o->threads);
    if (!strcmp(flag, "--csv"))
        return parse_path(flag, value, &o->csv_path);
    if (!strcmp(flag, "--checkpoint"))
        return parse_path(flag, value, &o->checkpoint_path);
    if (!strcmp(flag, "--checkpoint-every"))
        return parse_int(flag, value, 1, INT64_C(1000000000), &o->checkpoint_every);
    if (!strcmp(flag, "--evaluate"))
        return parse_path(flag, value, &o->evaluate_path);

    fprintf(stderr, "qm7: unknown option: %s\n", flag);
    return false;
}

/* Found before training rather than at the first save, which may be hours away. */
static bool checkpoint_folder_is_writable(const char *path)
{
    char folder[4096];
    snprintf(folder, sizeof folder, "%s", path);
    char *slash = strrchr(folder, '/');
    if (!slash)
        snprintf(folder, sizeof folder, ".");
    else
        slash[slash == folder ? 1 : 0] = '\0';
    if (access(folder, W_OK) != 0) {
        fprintf(stderr, "qm7: cannot write a checkpoint in %s: %s\n", folder, strerror(errno));
        return false;
    }
    return true;
}

/*
 * A new run must not replace a checkpoint that may hold hours of work, nor the data set: an
 * existing file at --checkpoint is only continued, with --resume.
 */
static bool checkpoint_path_is_safe(const options *o)
{
    struct stat checkpoint, data;
    if (!o->checkpoint_path)
        return true;
    if (stat(o->checkpoint_path, &checkpoint) != 0)
        return checkpoint_folder_is_writable(o->checkpoint_path);
    if (stat(o->data_path, &data) == 0 && data.st_dev == checkpoint.st_dev &&
        data.st_ino == checkpoint.st_ino) {
        fprintf(stderr, "qm7: --checkpoint %s is the data file\n", o->checkpoint_path);
        return false;
    }
    if (!o->resume) {
        fprintf(stderr,
                "qm7: %s exists; pass --resume to continue that run, or remove the file "
                "to start a new one\n",
                o->checkpoint_path);
        return false;
    }
    return true;
}

/* The flags that only make sense together, or apart. */
static bool check_combination(options *o)
{
    if (o->resume && !o->checkpoint_path) {
        fprintf(stderr, "qm7: --resume needs --checkpoint PATH, the file to resume from\n");
        return false;
    }
    if (o->checkpoint_every && !o->checkpoint_path) {
        fprintf(stderr, "qm7: --checkpoint-every needs --checkpoint PATH\n");
        return false;
    }
    if (o->evaluate_path && o->checkpoint_path) {
        fprintf(stderr, "qm7: --evaluate trains nothing; it cannot be combined with "
                        "--checkpoint or --resume\n");
        return false;
    }
    if (o->checkpoint_path && !o->checkpoint_every)
        o->checkpoint_every = DEFAULT_CHECKPOINT_EVERY;
    return checkpoint_path_is_safe(o);
}

static bool parse_options(int argc, char **argv, options *o)
{
    const char *env = getenv("TG_QM7_PATH");
    *o = (options){.data_path = env && *env ? env : "qm7.mat",
                   .steps = 20000,
                   .seed = 1234,
                   .batch = 25,
                   .rule = QM7_RULE_PAPER,
                   .threads = 1};

    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        if (!strcmp(flag, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (!strcmp(flag, "--resume")) {
            o->resume = true;
            continue;
        }
        if (strncmp(flag, "--", 2) != 0) {
            fprintf(stderr, "qm7: unexpected argument: %s\n", flag);
            return false;
        }
        if (!parse_valued_flag(flag, i + 1 < argc ? argv[i + 1] : NULL, o))
            return false;
        i++;
    }
    return check_combination(o);
}

/* The learning-rate schedule: short warm-up phases, then 0.01. */
static double learning_rate(int64_t step)
{
    if (step <= 500)
        return 0.001;
    if (step <= 2500)
        return 0.0025;
    if (step <= 12500)
        return 0.005;
    return 0.01;
}

static bool make_split(const qm7_data *data, int test_fold, split *s)
{
    *s = (split){0};
    s->train = qm7_training_indices(data, test_fold, &s->n_train);
    s->n_test = data->fold_size;
    s->test = malloc((size_t)s->n_test * sizeof *s->test);
    if (!s->train || !s->test)
        return false;
    memcpy(s->test, data->P + test_fold * data->fold_size, (size_t)s->n_test * sizeof *s->test);

    double sum = 0.0, sq = 0.0;
    for (int64_t i = 0; i < s->n_train; i++)
        sum += data->T[s->train[i]];
    s->mean_t = sum / (double)s->n_train;
    for (int64_t i = 0; i < s->n_train; i++) {
        double d = data->T[s->train[i]] - s->mean_t;
        sq += d * d;
    }
    s->std_t = sqrt(sq / (double)s->n_train);
    return true;
}

static void free_split(split *s)
{
    free(s->train);
    free(s->test);
}

/*
 * Scores molecules idx[0..n) with the network as it stands. Each molecule's prediction is the
 * mean over EVAL_REALIZATIONS realizations, drawn from a generator seeded the same way at
 * every call so that evaluating does not disturb the training stream.
 */
static bool evaluate(qm7_model *m, const qm7_features *f, const qm7_data *data, const int64_t *idx,
                     int64_t n, const split *s, uint64_t seed, errors *out)
{
    tg_tape *tape = tg_tape_new();
    tg_tensor *x = tg_tensor_new(TG_F32, 2, (int64_t[]){EVAL_BATCH, f->nfeatures});
    double *sum = calloc((size_t)n, sizeof *sum);
    bool ok = tape && x && sum;
    if (ok)
        tg_tape_set_grad_enabled(tape, false);

    tg_rng rng;
    tg_rng_seed(&rng, seed ^ EVAL_STREAM);
    for (int r = 0; r < EVAL_REALIZATIONS && ok; r++) {
        for (int64_t start = 0; start < n && ok; start += EVAL_BATCH) {
            /* The last batch may be short: a header over x's first rows shares its data. */
            tg_tensor rows = *x;
            rows.shape[0] = n - start < EVAL_BATCH ? n - start : EVAL_BATCH;
            rows.size = rows.shape[0] * f->nfeatures;
            qm7_features_make(f, data, idx + start, rows.shape[0], &rng, rows.data);

            tg_tensor *y = qm7_model_predict(tape, m, &rows);
            if (!y) {
                fprintf(stderr, "qm7: evaluation failed: %s\n", tg_tape_error(tape));
                ok = false;
            }
            for (int64_t i = 0; i < rows.shape[0] && ok; i++)
                sum[start + i] += tg_get(y, i);
            tg_tape_reset(tape);
        }
    }

    double abs_sum = 0.0, sq_sum = 0.0;
    for (int64_t i = 0; i < n && ok; i++) {
        double e = sum[i] / EVAL_REALIZATIONS - data->T[idx[i]];
        abs_sum += fabs(e);
        sq_sum += e * e;
    }
    *out = (errors){abs_sum / (double)n, sqrt(sq_sum / (double)n)};

    free(sum);
    tg_tensor_free(x);
    tg_tape_free(tape);
    return ok;
}

typedef struct trainer {
    qm7_model model;
    tg_tape *tape;
    tg_tensor *x, *t;
    int64_t *batch; /* the minibatch's molecule indices */
    tg_rng rng;
    FILE *csv;
    int64_t step;       /* steps taken, counting those before a resume */
    int64_t first_step; /* the step this invocation started after */
    int64_t saved_step; /* the step of the checkpoint at --checkpoint PATH; -1 for none */
} trainer;

/* On a terminal the progress line has no newline of its own; a message must not run into it. */
static void end_progress_line(void)
{
    if (isatty(STDERR_FILENO))
        fputc('\n', stderr);
}

static const char *nonfinite_name(double x)
{
    if (isnan(x))
        return "nan";
    return x > 0 ? "inf" : "-inf";
}

/* Why the step failed: a loss that stopped being finite is the run's fault, not the code's. */
static void report_step_failure(const trainer *tr, const options *o, int64_t step, double loss)
{
    end_progress_line();
    if (isfinite(loss)) {
        fprintf(stderr, "qm7: %s\n", tg_last_error());
        return;
    }
    fprintf(stderr, "qm7: loss became %s at step %" PRId64 "; ", nonfinite_name(loss), step);
    if (tr->saved_step >= 0)
        fprintf(stderr, "the last checkpoint (step %" PRId64 ") is kept\n", tr->saved_step);
    else if (o->checkpoint_path)
        fprintf(stderr, "no checkpoint was saved yet; %s is left as it was\n", o->checkpoint_path);
    else
        fprintf(stderr, "nothing was saved (no --checkpoint)\n");
}

/* One step on a fresh minibatch. The model refuses a non-finite loss before updating. */
static bool train_step(trainer *tr, const options *o, const qm7_features *f, const qm7_data *data,
                       const split *s, int64_t step, double *loss)
{
    int64_t rows = tr->x->shape[0];
    for (int64_t i = 0; i < rows; i++) {
        tr->batch[i] = s->train[tg_rng_below(&tr->rng, (uint64_t)s->n_train)];
        tg_set(tr->t, i, data->T[tr->batch[i]]);
    }
    qm7_features_make(f, data, tr->batch, rows, &tr->rng, tr->x->data);

    *loss = 0.0;
    if (!qm7_model_step(&tr->model, tr->tape, tr->x, tr->t, learning_rate(step), step, loss)) {
        report_step_failure(tr, o, step, *loss);
        return false;
    }
    tr->step = step;
    return true;
}

static bool trainer_init(trainer *tr, const options *o, int nin, const split *s)
{
    *tr = (trainer){.saved_step = -1};
    tg_rng_seed(&tr->rng, o->seed);
    const int64_t sizes[] = {nin, 400, 100, 1};
    if (!qm7_model_init(&tr->model, sizes, 4, TG_F32, o->rule, s->mean_t, s->std_t, &tr->rng))
        return false;
    tr->tape = tg_tape_new();
    tr->x = tg_tensor_new(TG_F32, 2, (int64_t[]){o->batch, nin});
    tr->t = tg_tensor_new(TG_F32, 2, (int64_t[]){o->batch, 1});
    tr->batch = malloc((size_t)o->batch * sizeof *tr->batch);
    return tr->tape && tr->x && tr->t && tr->batch;
}

/* A resumed run appends to its CSV file, so the rows of every part of the run stay together. */
static bool open_csv(trainer *tr, const options *o)
{
    if (!o->csv_path)
        return true;
    if (!(tr->csv = fopen(o->csv_path, o->resume ? "a" : "w"))) {
        fprintf(stderr, "qm7: cannot write %s: %s\n", o->csv_path, strerror(errno));
        return false;
    }
    if (fseek(tr->csv, 0, SEEK_END) == 0 && ftell(tr->csv) == 0)
        fprintf(tr->csv, "step,test_mae,test_rmse,seconds\n");
    return true;
}

static void trainer_free(trainer *tr)
{
    if (tr->csv)
        fclose(tr->csv);
    free(tr->batch);
    tg_tensor_free(tr->t);
    tg_tensor_free(tr->x);
    tg_tape_free(tr->tape);
    qm7_model_free(&tr->model);
}

/* Evaluates the averaged weights, leaving the trained ones in place afterwards. */
static bool evaluate_averaged(trainer *tr, const qm7_features *f, const qm7_data *data,
                              const int64_t *idx, int64_t n, const split *s, uint64_t seed,
                              errors *e)
{
    tg_averager_swap(tr->model.avg);
    bool ok = evaluate(&tr->model, f, data, idx, n, s, seed, e);
    tg_averager_swap(tr->model.avg);
    return ok;
}

/* Called only between steps, with the averager unswapped: the parameters hold the trained weights.
 */
static bool save_checkpoint(trainer *tr, const char *path)
{
    if (!tg_checkpoint_save(path, tr->model.params, tr->model.n_params, tr->model.avg, tr->step,
                            &tr->rng)) {
        fprintf(stderr, "qm7: saving the checkpoint failed: %s\n", tg_last_error());
        return false;
    }
    tr->saved_step = tr->step;
    return true;
}

/* Loads the checkpoint over the freshly built model, which it must fit parameter by parameter. */
static bool resume_run(trainer *tr, const options *o)
{
    int64_t step;
    tg_rng rng;
    if (!tg_checkpoint_load(o->checkpoint_path, tr->model.params, tr->model.n_params, tr->model.avg,
                            &step, &rng)) {
        fprintf(stderr,
                "qm7: cannot resume: %s\n(resume with the --data, --fold, --seed, --rule and "
                "--batch of the run that wrote the checkpoint)\n",
                tg_last_error());
        return false;
    }
    if (step < 0 || step > o->steps) {
        fprintf(stderr, "qm7: cannot resume: %s is at step %" PRId64 ", past --steps %" PRId64 "\n",
                o->checkpoint_path, step, o->steps);
        return false;
    }
    tr->step = tr->first_step = tr->saved_step = step;
    tr->rng = rng;
    printf("resumed %s at step %" PRId64 "\n", o->checkpoint_path, step);
    return true;
}

static void request_stop(int sig) { stop_signal = sig; }

/* SA_RESTART, so that a signal during a write of the checkpoint does not fail the write. */
static bool catch_stop_signals(bool catch)
{
    struct sigaction sa = {0};
    sa.sa_handler = catch ? request_stop : SIG_DFL;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL)) {
        fprintf(stderr, "qm7: cannot handle SIGINT and SIGTERM: %s\n", strerror(errno));
        return false;
    }
    return true;
}

static void print_progress(const trainer *tr, int64_t steps, double elapsed, double loss)
{
    static double last_print = -1.0;
    bool tty = isatty(STDERR_FILENO);
    if (tr->step < steps && elapsed - last_print < (tty ? 0.5 : 30.0))
        return;
    last_print = elapsed;

    double rate = (double)(tr->step - tr->first_step) / elapsed;
    double left = (double)(steps - tr->step) / rate;
    fprintf(stderr, "%sstep %" PRId64 "/%" PRId64 "  %.0f steps/s  %.0f s left  loss %.3f%s",
            tty ? "\r" : "", tr->step, steps, rate, left, loss, tty ? "   " : "\n");
    if (tty && tr->step == steps)
        fputc('\n', stderr);
}

static void log_evaluation(trainer *tr, int64_t step, const errors *e, double seconds)
{
    printf("step %8" PRId64 "  test MAE %6.2f  RMSE %6.2f kcal/mol\n", step, e->mae, e->rmse);
    fflush(stdout);
    if (tr->csv) {
        fprintf(tr->csv, "%" PRId64 ",%.4f,%.4f,%.1f\n", step, e->mae, e->rmse, seconds);
        fflush(tr->csv);
    }
}

typedef enum outcome { TRAINED, FAILED, STOPPED } outcome;

/* A checkpoint is due every checkpoint_every steps, at the last step, and when asked to stop. */
static bool checkpoint_due(const trainer *tr, const options *o)
{
    return o->checkpoint_path &&
           (tr->step % o->checkpoint_every == 0 || tr->step == o->steps || stop_signal);
}

static outcome train(trainer *tr, const options *o, const qm7_features *f, const qm7_data *data,
                     const split *s, double *seconds)
{
    double start = now_seconds(), loss = 0.0, eval_time = 0.0;
    for (int64_t step = tr->step + 1; step <= o->steps; step++) {
        if (!train_step(tr, o, f, data, s, step, &loss))
            return FAILED;
        print_progress(tr, o->steps, now_seconds() - start - eval_time, loss);

        if (o->eval_every && step % o->eval_every == 0 && step < o->steps) {
            double t0 = now_seconds();
            errors e;
            if (!evaluate_averaged(tr, f, data, s->test, s->n_test, s, o->seed, &e))
                return FAILED;
            eval_time += now_seconds() - t0;
            log_evaluation(tr, step, &e, now_seconds() - start - eval_time);
        }

        if (checkpoint_due(tr, o) && !save_checkpoint(tr, o->checkpoint_path))
            return FAILED;
        if (stop_signal)
            return STOPPED;
    }
    *seconds = now_seconds() - start - eval_time;
    return TRAINED;
}

/* The averaged weights' errors on the training folds and the test fold, as a run ends. */
static bool report_errors(trainer *tr, const options *o, const qm7_features *f,
                          const qm7_data *data, const split *s, double train_seconds)
{
    errors test, training;
    double t0 = now_seconds();
    if (!evaluate_averaged(tr, f, data, s->test, s->n_test, s, o->seed, &test))
        return false;
    double eval_seconds = now_seconds() - t0;
    if (!evaluate_averaged(tr, f, data, s->train, s->n_train, s, o->seed, &training))
        return false;

    printf("training folds  MAE %6.2f  RMSE %6.2f kcal/mol  (%" PRId64 " molecules)\n",
           training.mae, training.rmse, s->n_train);
    printf("test fold %d     MAE %6.2f  RMSE %6.2f kcal/mol  (%" PRId64 " molecules, "
           "evaluated in %.2f s)\n",
           o->test_fold, test.mae, test.rmse, s->n_test, eval_seconds);

    /* The last point of the curve: evaluations during training stop short of the last step. */
    if (tr->csv && tr->step > tr->first_step)
        fprintf(tr->csv, "%" PRId64 ",%.4f,%.4f,%.1f\n", tr->step, test.mae, test.rmse,
                train_seconds);
    return true;
}

static void report_training(const trainer *tr, double train_seconds)
{
    int64_t taken = tr->step - tr->first_step;
    if (!taken) {
        printf("nothing to train: the checkpoint is at step %" PRId64 " already\n", tr->step);
        return;
    }
    printf("trained %" PRId64 " steps in %.1f s (%.3f ms/step)", taken, train_seconds,
           1000.0 * train_seconds / (double)taken);
    if (tr->first_step)
        printf(", steps %" PRId64 " to %" PRId64 " of a resumed run", tr->first_step + 1, tr->step);
    printf("\n");
}

/* --evaluate: the end-of-run report for a saved run, without training. */
static int evaluate_checkpoint(trainer *tr, const options *o, const qm7_features *f,
                               const qm7_data *data, const split *s)
{
    int64_t step;
    if (!tg_checkpoint_load(o->evaluate_path, tr->model.params, tr->model.n_params, tr->model.avg,
                            &step, NULL)) {
        fprintf(stderr,
                "qm7: cannot evaluate: %s\n(evaluate with the --data, --fold, --seed, --rule and "
                "--batch of the run that wrote the checkpoint)\n",
                tg_last_error());
        return 1;
    }
    printf("checkpoint %s: step %" PRId64 ", averaged weights\n", o->evaluate_path, step);
    return report_errors(tr, o, f, data, s, 0.0) ? 0 : 1;
}

static void report_stop(const trainer *tr, const options *o)
{
    end_progress_line();
    fprintf(stderr,
            "interrupted at step %" PRId64 "; checkpoint saved to %s; resume with --resume\n",
            tr->step, o->checkpoint_path);
}

/* Trains from the start or from the checkpoint, then reports; returns the exit status. */
static int train_and_report(trainer *tr, const options *o, const qm7_features *f,
                            const qm7_data *data, const split *s)
{
    if (o->resume && !resume_run(tr, o))
        return 1;
    if (!open_csv(tr, o))
        return 1;

    double seconds = 0.0;
    outcome result = train(tr, o, f, data, s, &seconds);
    if (o->checkpoint_path && !catch_stop_signals(false))
        return 1;
    if (result == STOPPED) {
        report_stop(tr, o);
        return EXIT_SIGNAL_BASE + stop_signal;
    }
    if (result == FAILED)
        return 1;

    report_training(tr, seconds);
    return report_errors(tr, o, f, data, s, seconds) ? 0 : 1;
}

static bool prepare(const options *o, qm7_data *data, split *s, qm7_features *f)
{
    tg_rng rng;
    tg_rng_seed(&rng, o->seed);
    double t0 = now_seconds();
    if (!make_split(data, o->test_fold, s) ||
        !qm7_features_fit(f, data, s->train, s->n_train, 1.0, 1.0, &rng)) {
        fprintf(stderr, "qm7: preparing the data failed: %s\n", tg_last_error());
        return false;
    }
    printf("qm7: %" PRId64 " molecules, test fold %d, %d input features (fitted in %.1f s), "
           "rule %s, seed %" PRIu64 ", %d thread(s), matrix products by %s\n",
           data->n, o->test_fold, f->nfeatures, now_seconds() - t0, qm7_rule_name(o->rule), o->seed,
           tg_num_threads(), tg_blas_name());
    fflush(stdout);
    return true;
}

static int run(const options *o)
{
    qm7_data data;
    if (!qm7_load(o->data_path, &data)) {
        fprintf(stderr,
                "qm7: %s\n(pass --data PATH or set TG_QM7_PATH; see the README for where "
                "to download qm7.mat)\n",
                tg_last_error());
        return 1;
    }

    int status = 1;
    split s = {0};
    qm7_features f = {0};
    trainer tr = {0};
    /* Caught from before the first line of output, so that a signal sent after it is not lost. */
    if (o->checkpoint_path && !catch_stop_signals(true))
        goto done;
    if (!prepare(o, &data, &s, &f))
        goto done;
    if (!trainer_init(&tr, o, f.nfeatures, &s)) {
        fprintf(stderr, "qm7: building the network failed: %s\n", tg_last_error());
        goto done;
    }
    status = o->evaluate_path ? evaluate_checkpoint(&tr, o, &f, &data, &s)
                              : train_and_report(&tr, o, &f, &data, &s);
    if (tr.csv && (fflush(tr.csv) != 0 || ferror(tr.csv))) {
        fprintf(stderr, "qm7: writing %s failed: %s\n", o->csv_path, strerror(errno));
        status = status ? status : 1;
    }

done:
    trainer_free(&tr);
    qm7_features_free(&f);
    free_split(&s);
    qm7_free(&data);
    return status;
}

int main(int argc, char **argv)
{
    options o;
    if (!parse_options(argc, argv, &o)) {
        usage(stderr);
        return EXIT_USAGE;
    }
    tg_set_num_threads((int)o.threads);
    int status = run(&o);

    /* Results that could not be written are lost, so a failed write fails the run. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "qm7: writing the results failed: %s\n", strerror(errno));
        return status ? status : 1;
    }
    return status;
}
