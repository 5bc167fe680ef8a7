/*
 * test_qm7_cli.c: the qm7 program's checkpoints, resumption, evaluation and refusals, checked
 * by running the real binary (its path is the first argument) on small fake data sets.
 *
 * The fake qm7.mat holds 60 molecules of 2 to 5 atoms (C, N, O, H) at random positions, with
 * Coulomb matrices M_ii = 0.5 Z_i^2.4 and M_ij = Z_i Z_j / |R_i - R_j| (bohr), energies of
 * -100 to -400 kcal/mol, and P 5 x 12 where fold f holds molecules f, f + 5, ..., f + 55.
 * Beside it, in one directory made by mkdtemp:
 *   other.mat    the same molecules squeezed to half the distances: more input features, so a
 *                network of another shape;
 *   hostile.mat  the same X and P, with energies of +-3e38: finite in single precision, so
 *                the loader accepts them, but a residual overflows to infinity;
 *   text.mat     a CSV file under a MATLAB name.
 * Every run is short (tens of steps); a run is compared with another by its checkpoint's bytes.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <matio.h>

#include "qm7_data.h"
#include "tg_rng.h"

enum { MOLECULES = 60, FOLD_SIZE = MOLECULES / QM7_FOLDS, MATRIX = QM7_ATOMS * QM7_ATOMS };
enum { MAX_ARGS = 32, OUTPUT_BYTES = 1 << 16 };

static const char *qm7_binary;
static char dir[64];

/* The path of a file in the test's directory; the same name always gets the same string. */
static const char *in_dir(const char *name)
{
    static struct {
        char name[32], path[128];
    } paths[32];
    static int used;
    for (int i = 0; i < used; i++)
        if (!strcmp(paths[i].name, name))
            return paths[i].path;

    assert_true(used < 32);
    snprintf(paths[used].name, sizeof paths[used].name, "%s", name);
    snprintf(paths[used].path, sizeof paths[used].path, "%s/%s", dir, name);
    return paths[used++].path;
}

/* ---- fake data ------------------------------------------------------------------------- */

typedef struct molecule {
    int atoms;
    double Z[5], R[5][3];
} molecule;

static void place_atoms(molecule *m, tg_rng *rng)
{
    static const double charges[] = {6, 7, 8, 1};
    m->atoms = 2 + (int)tg_rng_below(rng, 4);
    for (int a = 0; a < m->atoms; a++) {
        m->Z[a] = charges[a == 0 ? 0 : tg_rng_below(rng, 4)];
        for (int c = 0; c < 3; c++)
            m->R[a][c] = 1.5 * a + 0.8 * tg_rng_uniform(rng);
    }
}

/* Molecule k's matrix, column-major over the N x 23 x 23 array, distances times `scale`. */
static void write_coulomb(const molecule *m, size_t k, double scale, float *X)
{
    for (int i = 0; i < m->atoms; i++)
        for (int j = 0; j < m->atoms; j++) {
            double d2 = 0.0;
            for (int c = 0; c < 3; c++)
                d2 += (m->R[i][c] - m->R[j][c]) * (m->R[i][c] - m->R[j][c]);
            double v = i == j ? 0.5 * pow(m->Z[i], 2.4) : m->Z[i] * m->Z[j] / (scale * sqrt(d2));
            X[k + MOLECULES * ((size_t)i + QM7_ATOMS * (size_t)j)] = (float)v;
        }
}

static void write_mat(const char *name, const float *X, const float *T, const int64_t *P)
{
    mat_t *mat = Mat_CreateVer(in_dir(name), NULL, MAT_FT_MAT5);
    assert_non_null(mat);

    size_t x_dims[] = {MOLECULES, QM7_ATOMS, QM7_ATOMS}, t_dims[] = {1, MOLECULES},
           p_dims[] = {QM7_FOLDS, FOLD_SIZE};
    matvar_t *vars[] = {
        Mat_VarCreate("X", MAT_C_SINGLE, MAT_T_SINGLE, 3, x_dims, (void *)X, 0),
        Mat_VarCreate("T", MAT_C_SINGLE, MAT_T_SINGLE, 2, t_dims, (void *)T, 0),
        Mat_VarCreate("P", MAT_C_INT64, MAT_T_INT64, 2, p_dims, (void *)P, 0),
    };
    for (int v = 0; v < 3; v++) {
        assert_non_null(vars[v]);
        assert_int_equal(Mat_VarWrite(mat, vars[v], MAT_COMPRESSION_NONE), 0);
        Mat_VarFree(vars[v]);
    }
    Mat_Close(mat);
}

static void write_text_file(const char *name)
{
    FILE *file = fopen(in_dir(name), "w");
    assert_non_null(file);
    for (int line = 0; line < 64; line++)
        fputs("molecule,energy\n", file);
    fclose(file);
}

/* One molecule of the 60 has -3e38 and the rest +3e38: the mean is near +3e38, and Y - T
 * for that molecule is about 6e38, past FLT_MAX. */
static void make_hostile_energies(float *T)
{
    for (int k = 0; k < MOLECULES; k++)
        T[k] = 3e38f;
    T[1] = -3e38f; /* in fold 1, so it trains when fold 0 is the test fold */
}

static void write_data_sets(void)
{
    static float X[MOLECULES * MATRIX], squeezed[MOLECULES * MATRIX];
    float T[MOLECULES], hostile[MOLECULES];
    int64_t P[QM7_FOLDS * FOLD_SIZE];
    tg_rng rng;
    tg_rng_seed(&rng, 7);

    for (size_t k = 0; k < MOLECULES; k++) {
        molecule m;
        place_atoms(&m, &rng);
        write_coulomb(&m, k, 1.0, X);
        write_coulomb(&m, k, 0.5, squeezed);
        T[k] = (float)(-100.0 * m.atoms + 50.0 * tg_rng_uniform(&rng));
    }
    for (int f = 0; f < QM7_FOLDS; f++)
        for (int i = 0; i < FOLD_SIZE; i++)
            P[f + QM7_FOLDS * i] = f + QM7_FOLDS * i;
    make_hostile_energies(hostile);

    write_mat("qm7.mat", X, T, P);
    write_mat("other.mat", squeezed, T, P);
    write_mat("hostile.mat", X, hostile, P);
    write_text_file("text.mat");
}

/* ---- running the program --------------------------------------------------------------- */

typedef struct result {
    int status; /* exit status, or 128 + signal for a run killed by one */
    char out[OUTPUT_BYTES], err[OUTPUT_BYTES];
} result;

static void read_file(const char *path, char *buf, size_t len)
{
    FILE *file = fopen(path, "r");
    size_t n = file ? fread(buf, 1, len - 1, file) : 0;
    buf[n] = '\0';
    if (file)
        fclose(file);
}

/* Starts qm7 with args (NULL-terminated) and its output going to out.txt and err.txt. */
static pid_t start_qm7(const char *const *args)
{
    const char *argv[MAX_ARGS] = {qm7_binary};
    for (int i = 0; args[i]; i++)
        argv[i + 1] = args[i];

    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen(in_dir("out.txt"), "w", stdout) || !freopen(in_dir("err.txt"), "w", stderr))
            _exit(126);
        execv(qm7_binary, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static void finish_qm7(pid_t pid, result *r)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        assert_int_equal(errno, EINTR);
    r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    read_file(in_dir("out.txt"), r->out, sizeof r->out);
    read_file(in_dir("err.txt"), r->err, sizeof r->err);
}

static result *run_qm7(const char *const *args)
{
    static result r;
    finish_qm7(start_qm7(args), &r);
    return &r;
}

#define QM7(...) run_qm7((const char *const[]){__VA_ARGS__, NULL})

/* ---- assertions ------------------------------------------------------------------------ */

static void assert_mentions(const char *text, const char *needle)
{
    if (!strstr(text, needle)) {
        print_error("expected \"%s\" in:\n%s\n", needle, text);
        fail();
    }
}

static void assert_exit(const result *r, int status)
{
    if (r->status != status) {
        print_error("exit status %d, expected %d\nstdout:\n%s\nstderr:\n%s\n", r->status, status,
                    r->out, r->err);
        fail();
    }
}

static void read_bytes(const char *path, char **bytes, long *len)
{
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    assert_int_equal(fseek(file, 0, SEEK_END), 0);
    *len = ftell(file);
    rewind(file);
    *bytes = malloc((size_t)*len + 1);
    assert_non_null(*bytes);
    assert_int_equal(fread(*bytes, 1, (size_t)*len, file), (size_t)*len);
    fclose(file);
}

static void assert_same_bytes(const char *path_a, const char *path_b)
{
    char *a, *b;
    long len_a, len_b;
    read_bytes(path_a, &a, &len_a);
    read_bytes(path_b, &b, &len_b);
    bool same = len_a == len_b && memcmp(a, b, (size_t)len_a) == 0;
    free(a);
    free(b);
    if (!same) {
        print_error("%s and %s differ\n", path_a, path_b);
        fail();
    }
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void copy_file(const char *from, const char *to)
{
    char *bytes;
    long len;
    read_bytes(from, &bytes, &len);
    FILE *file = fopen(to, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(bytes, 1, (size_t)len, file), (size_t)len);
    fclose(file);
    free(bytes);
}

/* The report line that starts with `prefix`, up to the molecule count (timings vary). */
static void report_line(const char *out, const char *prefix, char *line, size_t len)
{
    const char *start = strstr(out, prefix);
    assert_non_null(start);
    const char *end = strstr(start, "molecules");
    assert_non_null(end);
    snprintf(line, len, "%.*s", (int)(end - start), start);
}

/* ---- resuming -------------------------------------------------------------------------- */

static const char *const DATA = "--data";

static void resumed_run_ends_bit_identical_to_an_uninterrupted_one(void **state)
{
    const char *data = in_dir("qm7.mat"), *a = in_dir("a.tgc"), *b = in_dir("b.tgc");
    assert_exit(QM7(DATA, data, "--steps", "40", "--checkpoint", a), 0);

    assert_exit(QM7(DATA, data, "--steps", "20", "--checkpoint", b), 0);
    result *r = QM7(DATA, data, "--steps", "40", "--checkpoint", b, "--resume");
    assert_exit(r, 0);
    assert_mentions(r->out, "at step 20");
    assert_mentions(r->out, "trained 20 steps");
    assert_mentions(r->out, "steps 21 to 40 of a resumed run");

    assert_same_bytes(a, b);
}

/* Checkpoints every 7 steps and evaluations on the way change nothing of the result. */
static void checkpoints_and_evaluations_on_the_way_leave_the_run_unchanged(void **state)
{
    const char *data = in_dir("qm7.mat"), *a = in_dir("a.tgc"), *c = in_dir("c.tgc");
    assert_exit(QM7(DATA, data, "--steps", "40", "--checkpoint", a), 0);

    assert_exit(QM7(DATA, data, "--steps", "40", "--checkpoint", c, "--checkpoint-every", "7",
                    "--eval-every", "5"),
                0);
    assert_same_bytes(a, c);
}

/* The same seed and thread count give the same bits, with the update split over two threads. */
static void two_runs_on_two_threads_end_bit_identical(void **state)
{
    const char *data = in_dir("qm7.mat"), *a = in_dir("t2a.tgc"), *b = in_dir("t2b.tgc");
    assert_exit(QM7(DATA, data, "--steps", "30", "--threads", "2", "--checkpoint", a), 0);
    assert_exit(QM7(DATA, data, "--steps", "30", "--threads", "2", "--checkpoint", b), 0);

    assert_same_bytes(a, b);
}

/* Runs until `sig` stops it, sent once the first line shows the handlers are in place. */
static result *run_until_signal(const char *checkpoint, int sig)
{
    static result r;
    remove(in_dir("out.txt"));
    pid_t pid = start_qm7((const char *const[]){DATA, in_dir("qm7.mat"), "--steps", "100000000",
                                                "--checkpoint", checkpoint, NULL});

    char out[OUTPUT_BYTES] = "";
    for (int tries = 0; tries < 6000 && !strstr(out, "input features"); tries++) {
        nanosleep(&(struct timespec){0, 10000000}, NULL);
        read_file(in_dir("out.txt"), out, sizeof out);
    }
    assert_int_equal(kill(pid, sig), 0);
    finish_qm7(pid, &r);
    return &r;
}

static long stopped_step(const result *r)
{
    const char *at = strstr(r->err, "interrupted at step ");
    assert_non_null(at);
    return strtol(at + strlen("interrupted at step "), NULL, 10);
}

static void sigint_saves_the_step_reached_and_exits_130(void **state)
{
    const char *s = in_dir("s.tgc"), *u = in_dir("u.tgc");
    result *r = run_until_signal(s, SIGINT);
    assert_exit(r, 130);
    long step = stopped_step(r);
    assert_true(step >= 1);
    char expected[256];
    snprintf(expected, sizeof expected,
             "interrupted at step %ld; checkpoint saved to %s; resume with --resume", step, s);
    assert_mentions(r->err, expected);

    /* Resumed 10 steps further, it matches a run that went there without stopping. */
    char steps[32];
    snprintf(steps, sizeof steps, "%ld", step + 10);
    assert_exit(QM7(DATA, in_dir("qm7.mat"), "--steps", steps, "--checkpoint", s, "--resume"), 0);
    assert_exit(QM7(DATA, in_dir("qm7.mat"), "--steps", steps, "--checkpoint", u), 0);
    assert_same_bytes(s, u);
}

static void sigterm_saves_and_exits_143(void **state)
{
    const char *s = in_dir("t.tgc");
    result *r = run_until_signal(s, SIGTERM);
    assert_exit(r, 143);
    stopped_step(r);
    assert_exit(QM7(DATA, in_dir("qm7.mat"), "--steps", "100000000", "--evaluate", s), 0);
}

static void resume_refuses_a_checkpoint_of_another_network(void **state)
{
    const char *a = in_dir("a.tgc");
    assert_exit(QM7(DATA, in_dir("qm7.mat"), "--steps", "5", "--checkpoint", a), 0);

    result *r = QM7(DATA, in_dir("other.mat"), "--steps", "10", "--checkpoint", a, "--resume");
    assert_exit(r, 1);
    assert_mentions(r->err, "qm7: cannot resume: ");
    assert_mentions(r->err, "in the file but [");
    assert_mentions(r->err, "in the model");
}

static void resume_refuses_a_missing_checkpoint(void **state)
{
    result *r = QM7(DATA, in_dir("qm7.mat"), "--checkpoint", in_dir("none.tgc"), "--resume");
    assert_exit(r, 1);
    assert_mentions(r->err, "cannot resume");
    assert_mentions(r->err, "none.tgc");
}

static void resume_refuses_a_checkpoint_past_the_last_step(void **state)
{
    const char *a = in_dir("a.tgc");
    assert_exit(QM7(DATA, in_dir("qm7.mat"), "--steps", "12", "--checkpoint", a), 0);

    result *r = QM7(DATA, in_dir("qm7.mat"), "--steps", "10", "--checkpoint", a, "--resume");
    assert_exit(r, 1);
    assert_mentions(r->err, "is at step 12, past --steps 10");
}

static void resuming_a_finished_run_trains_nothing_and_reports_it(void **state)
{
    const char *a = in_dir("a.tgc"), *kept = in_dir("kept.tgc");
    assert_exit(QM7(DATA, in_dir("qm7.mat"), "--steps", "12", "--checkpoint", a), 0);
    copy_file(a, kept);

    result *r = QM7(DATA, in_dir("qm7.mat"), "--steps", "12", "--checkpoint", a, "--resume");
    assert_exit(r, 0);
    assert_mentions(r->out, "nothing to train: the checkpoint is at step 12 already");
    assert_mentions(r->out, "test fold 0 ");
    assert_same_bytes(a, kept);
}

/* ---- evaluating ------------------------------------------------------------------------ */

static void evaluate_reports_what_the_run_reported_at_its_end(void **state)
{
    const char *a = in_dir("a.tgc");
    result *r = QM7(DATA, in_dir("qm7.mat"), "--steps", "30", "--checkpoint", a);
    assert_exit(r, 0);
    char trained_test[256], trained_training[256];
    report_line(r->out, "\ntest fold 0 ", trained_test, sizeof trained_test);
    report_line(r->out, "\ntraining folds ", trained_training, sizeof trained_training);

    r = QM7(DATA, in_dir("qm7.mat"), "--evaluate", a);
    assert_exit(r, 0);
    assert_mentions(r->out, "step 30, averaged weights");
    assert_mentions(r->out, "MAE");
    assert_mentions(r->out, "RMSE");
    assert_mentions(r->out, trained_test);
    assert_mentions(r->out, trained_training);
}

static void evaluate_refuses_a_file_that_is_not_a_checkpoint(void **state)
{
    result *r = QM7(DATA, in_dir("qm7.mat"), "--evaluate", in_dir("text.mat"));
    assert_exit(r, 1);
    assert_mentions(r->err, "qm7: cannot evaluate: ");
    assert_mentions(r->err, "text.mat");
}

/* ---- a loss that stops being finite ---------------------------------------------------- */

static void nonfinite_loss_stops_the_run_and_keeps_the_last_checkpoint(void **state)
{
    const char *a = in_dir("a.tgc"), *kept = in_dir("kept.tgc");
    assert_exit(QM7(DATA, in_dir("qm7.mat"), "--steps", "20", "--checkpoint", a), 0);
    copy_file(a, kept);

    /* The same network, so the checkpoint loads; the energies make the loss overflow. */
    result *r = QM7(DATA, in_dir("hostile.mat"), "--steps", "60", "--checkpoint", a, "--resume");
    assert_exit(r, 1);
    assert_mentions(r->err, "qm7: loss became ");
    assert_mentions(r->err, "; the last checkpoint (step 20) is kept");
    assert_same_bytes(a, kept);
}

static void nonfinite_loss_before_any_checkpoint_leaves_the_file_alone(void **state)
{
    const char *fresh = in_dir("fresh.tgc");
    remove(fresh);

    result *r = QM7(DATA, in_dir("hostile.mat"), "--steps", "60", "--checkpoint", fresh);
    assert_exit(r, 1);
    assert_mentions(r->err, "qm7: loss became ");
    assert_mentions(r->err, "no checkpoint was saved yet; ");
    assert_false(exists(fresh));
}

/* A folder the checkpoint cannot be written to is refused before any training. */
static void a_checkpoint_folder_that_cannot_be_written_is_refused_at_once(void **state)
{
    result *r = QM7(DATA, in_dir("qm7.mat"), "--steps", "5", "--checkpoint",
                    in_dir("no/such/folder/x.tgc"));
    assert_exit(r, 2);
    assert_mentions(r->err, "cannot write a checkpoint in ");
    assert_mentions(r->err, "no/such/folder: No such file or directory");
}

/* A new run refuses to replace a checkpoint, or the data set, at --checkpoint. */
static void a_new_run_leaves_an_existing_checkpoint_alone(void **state)
{
    const char *data = in_dir("qm7.mat"), *a = in_dir("a.tgc"), *kept = in_dir("kept.tgc");
    assert_exit(QM7(DATA, data, "--steps", "3", "--checkpoint", a), 0);
    copy_file(a, kept);

    result *r = QM7(DATA, data, "--steps", "5", "--checkpoint", a);
    assert_exit(r, 2);
    assert_mentions(r->err, "a.tgc exists; pass --resume to continue that run");
    assert_same_bytes(a, kept);

    r = QM7(DATA, data, "--steps", "5", "--checkpoint", data, "--resume");
    assert_exit(r, 2);
    assert_mentions(r->err, "qm7.mat is the data file");
}

/* ---- refusals -------------------------------------------------------------------------- */

/* Each argument list is refused before any data is read: status 2 and the usage text. */
static void malformed_arguments_get_the_usage_and_status_2(void **state)
{
    const char *data = in_dir("qm7.mat"), *c = in_dir("never.tgc");
    const struct {
        const char *args[8];
        const char *message;
    } cases[] = {
        {{"--steps", "ten"}, "--steps needs an integer from 1 to 1000000000, got 'ten'"},
        {{"--steps", "-5"}, "got '-5'"},
        {{"--steps", "12x"}, "got '12x'"},
        {{"--steps", "99999999999999999999"}, "got '99999999999999999999'"},
        {{"--seed", "-1"}, "--seed needs an integer from 0"},
        {{"--steps", ""}, "got ''"},
        {{"--steps"}, "--steps needs an integer"},
        {{"--fold", "5"}, "--fold needs an integer from 0 to 4, got '5'"},
        {{"--data", ""}, "--data needs a file name"},
        {{"--checkpoint"}, "--checkpoint needs a file name"},
        {{"--rule", "adam"}, "unknown rule 'adam'"},
        {{"--bogus", "1"}, "unknown option: --bogus"},
        {{"stray"}, "unexpected argument: stray"},
        {{"--checkpoint", c, "--checkpoint-every", "0"}, "--checkpoint-every needs an integer"},
        {{"--checkpoint-every", "10"}, "--checkpoint-every needs --checkpoint PATH"},
        {{"--resume"}, "--resume needs --checkpoint PATH"},
        {{"--evaluate"}, "--evaluate needs a file name"},
        {{"--evaluate", c, "--checkpoint", c}, "cannot be combined"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *args[12] = {DATA, data};
        for (int k = 0; cases[i].args[k]; k++)
            args[2 + k] = cases[i].args[k];
        result *r = run_qm7(args);
        assert_exit(r, 2);
        assert_mentions(r->err, cases[i].message);
        assert_mentions(r->err, "usage: qm7 [options]");
        assert_false(exists(c));
    }
}

static void help_prints_the_usage_on_stdout_and_succeeds(void **state)
{
    result *r = QM7("--help");
    assert_exit(r, 0);
    assert_mentions(r->out, "--checkpoint-every N");
    assert_mentions(r->out, "--resume");
    assert_mentions(r->out, "--evaluate PATH");
}

static void a_missing_data_file_is_refused_with_status_1(void **state)
{
    result *r = QM7(DATA, in_dir("absent.mat"), "--steps", "5");
    assert_exit(r, 1);
    assert_mentions(r->err, "qm7: qm7_load: cannot open ");
    assert_mentions(r->err, "absent.mat: No such file or directory");
}

static void a_data_file_that_is_not_matlab_is_refused_with_status_1(void **state)
{
    result *r = QM7(DATA, in_dir("text.mat"), "--steps", "5");
    assert_exit(r, 1);
    assert_mentions(r->err, "text.mat is not a MATLAB 5 file: it has no MAT-file header");
}

/* ---- the suite ------------------------------------------------------------------------- */

static int make_directory(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/test_qm7_cli_XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    write_data_sets();
    return 0;
}

static int remove_directory(void **state)
{
    static const char *const files[] = {
        "qm7.mat", "other.mat", "hostile.mat", "text.mat", "out.txt", "err.txt", "a.tgc",
        "b.tgc",   "c.tgc",     "s.tgc",       "t.tgc",    "u.tgc",   "kept.tgc"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        remove(in_dir(files[i]));
    return rmdir(dir);
}

/* Each test starts without checkpoints, so none sees another's. */
static int remove_checkpoints(void **state)
{
    static const char *const files[] = {"a.tgc", "b.tgc", "c.tgc",   "s.tgc",
                                        "t.tgc", "u.tgc", "kept.tgc"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        remove(in_dir(files[i]));
    return 0;
}

#define TEST(name) cmocka_unit_test_setup(name, remove_checkpoints)

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_qm7_cli PATH-TO-qm7\n");
        return 2;
    }
    qm7_binary = argv[1];

    const struct CMUnitTest tests[] = {
        TEST(resumed_run_ends_bit_identical_to_an_uninterrupted_one),
        TEST(checkpoints_and_evaluations_on_the_way_leave_the_run_unchanged),
        TEST(two_runs_on_two_threads_end_bit_identical),
        TEST(sigint_saves_the_step_reached_and_exits_130),
        TEST(sigterm_saves_and_exits_143),
        TEST(resume_refuses_a_checkpoint_of_another_network),
        TEST(resume_refuses_a_missing_checkpoint),
        TEST(resume_refuses_a_checkpoint_past_the_last_step),
        TEST(resuming_a_finished_run_trains_nothing_and_reports_it),
        TEST(evaluate_reports_what_the_run_reported_at_its_end),
        TEST(evaluate_refuses_a_file_that_is_not_a_checkpoint),
        TEST(nonfinite_loss_stops_the_run_and_keeps_the_last_checkpoint),
        TEST(nonfinite_loss_before_any_checkpoint_leaves_the_file_alone),
        TEST(a_new_run_leaves_an_existing_checkpoint_alone),
        TEST(a_checkpoint_folder_that_cannot_be_written_is_refused_at_once),
        TEST(malformed_arguments_get_the_usage_and_status_2),
        TEST(help_prints_the_usage_on_stdout_and_succeeds),
        TEST(a_missing_data_file_is_refused_with_status_1),
        TEST(a_data_file_that_is_not_matlab_is_refused_with_status_1),
    };
    return cmocka_run_group_tests(tests, make_directory, remove_directory);
}
