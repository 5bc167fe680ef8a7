/*
 * test_checkpoint.c: a checkpoint restores a run bit for bit; a truncated, damaged or
 * mismatched file is refused with a message that names the file and the problem, and leaves
 * the model, the averager, the step and the generator untouched; a save that fails leaves the
 * previous checkpoint in place and no temporary file behind.
 *
 * Parameters are filled with random bit patterns, with a NaN carrying a payload and a
 * negative zero at the front, so "bit for bit" is checked on values a float comparison would
 * miss. Each test works in its own directory made by mkdtemp.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tg_checkpoint.h"

/* ---- models ----------------------------------------------------------------------------- */

typedef struct spec {
    const char *name;
    tg_dtype dtype;
    int ndim;
    int64_t shape[TG_MAX_DIMS];
} spec;

/* Two layers in both dtypes, a 0-d scalar and a tensor with no elements. */
static const spec network[] = {
    {"0.W", TG_F32, 2, {2, 3}},   /* layer 0 in float32: weights */
    {"0.A", TG_F32, 1, {2}},      /* pre-bias */
    {"0.B", TG_F32, 1, {3}},      /* bias */
    {"1.W", TG_F64, 2, {3, 1}},   /* layer 1 in float64 */
    {"1.B", TG_F64, 1, {1}},      /* bias */
    {"scale", TG_F64, 0, {0}},    /* a 0-d scalar */
    {"unused", TG_F32, 2, {0, 4}} /* no elements */
};
enum { NETWORK = sizeof network / sizeof network[0] };

/* One float32 vector "w" = [1, -2]: small enough to damage at every byte. */
static const spec tiny[] = {{"w", TG_F32, 1, {2}}};
enum { TINY_BYTES = 64 + (4 + 1 + 4 + 4 + 8) + 2 * 2 * 4 + 4 };

enum { MAX_PARAMS = 8, MAX_MODELS = 3 };

typedef struct model {
    tg_param params[MAX_PARAMS];
    size_t count;
    tg_averager *avg;
} model;

static void set_bits(tg_tensor *t, int64_t i, uint64_t bits)
{
    if (t->dtype == TG_F32) {
        uint32_t u = (uint32_t)bits;
        memcpy((float *)t->data + i, &u, sizeof u);
    } else {
        memcpy((double *)t->data + i, &bits, sizeof bits);
    }
}

/* Random bits, led by a NaN with a payload and a negative zero when there is room. */
static void fill_bits(tg_tensor *t, tg_rng *rng)
{
    bool f32 = t->dtype == TG_F32;
    for (int64_t i = 0; i < t->size; i++) {
        uint64_t bits = f32 ? tg_rng_next(rng) >> 32 : tg_rng_next(rng);
        if (i == 0)
            bits = f32 ? 0x7fa00123u : 0x7ff4000000000123u;
        if (i == 1)
            bits = f32 ? 0x80000000u : 0x8000000000000000u;
        set_bits(t, i, bits);
    }
}

static void model_init(model *m, const spec *specs, size_t count, bool averaged, uint64_t seed)
{
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    assert_true(count <= MAX_PARAMS);
    m->count = count;
    for (size_t i = 0; i < count; i++) {
        const spec *s = &specs[i];
        snprintf(m->params[i].name, sizeof m->params[i].name, "%s", s->name);
        m->params[i].tensor = tg_tensor_new(s->dtype, s->ndim, s->shape);
        m->params[i].lr_scale = 1.0;
        assert_non_null(m->params[i].tensor);
        fill_bits(m->params[i].tensor, &rng);
    }
    if (!averaged)
        return;

    m->avg = tg_averager_new(m->params, count, 0.1);
    assert_non_null(m->avg);
    for (size_t i = 0; i < count; i++)
        fill_bits(tg_averager_tensor(m->avg, i), &rng);
}

static void model_destroy(model *m)
{
    for (size_t i = 0; i < m->count; i++)
        tg_tensor_free(m->params[i].tensor);
    tg_averager_free(m->avg);
    memset(m, 0, sizeof *m);
}

static size_t tensor_bytes(const tg_tensor *t) { return (size_t)t->size * tg_dtype_size(t->dtype); }

/* Every byte the model holds, parameters then averaged copies, in one buffer. */
static unsigned char *model_contents(model *m, size_t *len)
{
    size_t total = 0;
    for (size_t i = 0; i < m->count; i++)
        total += tensor_bytes(m->params[i].tensor) * (m->avg ? 2 : 1);

    unsigned char *out = malloc(total ? total : 1), *at = out;
    assert_non_null(out);
    for (size_t i = 0; i < m->count; i++) {
        tg_tensor *t = m->params[i].tensor;
        memcpy(at, t->data, tensor_bytes(t));
        at += tensor_bytes(t);
        if (m->avg) {
            memcpy(at, tg_averager_tensor(m->avg, i)->data, tensor_bytes(t));
            at += tensor_bytes(t);
        }
    }
    *len = total;
    return out;
}

static void assert_same_contents(model *a, model *b)
{
    size_t len_a, len_b;
    unsigned char *bytes_a = model_contents(a, &len_a), *bytes_b = model_contents(b, &len_b);
    assert_int_equal(len_a, len_b);
    assert_memory_equal(bytes_a, bytes_b, len_a);
    free(bytes_a);
    free(bytes_b);
}

/* ---- files ------------------------------------------------------------------------------ */

typedef struct fixture {
    char dir[64];
    char path[128]; /* <dir>/run.tgc */
    model models[MAX_MODELS];
    int n_models;
} fixture;

static model *new_model(fixture *fx, const spec *specs, size_t count, bool averaged, uint64_t seed)
{
    assert_true(fx->n_models < MAX_MODELS);
    model *m = &fx->models[fx->n_models++];
    model_init(m, specs, count, averaged, seed);
    return m;
}

static int fixture_setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    snprintf(fx->dir, sizeof fx->dir, "/tmp/tg_checkpoint_XXXXXX");
    if (!mkdtemp(fx->dir)) {
        free(fx);
        return -1;
    }
    snprintf(fx->path, sizeof fx->path, "%s/run.tgc", fx->dir);
    *state = fx;
    return 0;
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char child[512];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        remove_tree(child);
    }
    if (d)
        closedir(d);
    remove(path);
}

static int fixture_teardown(void **state)
{
    fixture *fx = *state;
    for (int i = 0; i < fx->n_models; i++)
        model_destroy(&fx->models[i]);
    remove_tree(fx->dir);
    free(fx);
    return 0;
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)

static unsigned char *read_bytes(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    unsigned char *bytes = malloc(*len ? *len : 1);
    assert_non_null(bytes);
    assert_int_equal(fread(bytes, 1, *len, f), *len);
    fclose(f);
    return bytes;
}

static void write_bytes(const char *path, const void *bytes, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* The names in a directory, sorted and joined by spaces, to compare with one string. */
static void list_dir(const char *dir, char *out, size_t cap)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    assert_true(n >= 0);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            size_t used = strlen(out);
            snprintf(out + used, cap - used, "%s%s", used ? " " : "", names[i]->d_name);
        }
        free(names[i]);
    }
    free(names);
}

/* CRC-32 bit by bit from its definition (reflected polynomial 0xEDB88320), apart from zlib. */
static uint32_t crc32_by_definition(const unsigned char *b, size_t n)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= b[i];
        for (int k = 0; k < 8; k++)
            crc = crc & 1 ? (crc >> 1) ^ 0xedb88320u : crc >> 1;
    }
    return ~crc;
}

static uint64_t le(const unsigned char *b, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static void put_le(unsigned char *b, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

/* Recomputes the trailing checksum, so an edit reaches the checks behind it. */
static void reseal(unsigned char *b, size_t len)
{
    put_le(b + len - 4, crc32_by_definition(b + 8, len - 12), 4);
}

static void save(const char *path, model *m, int64_t step, const tg_rng *rng)
{
    if (!tg_checkpoint_save(path, m->params, m->count, m->avg, step, rng))
        fail_msg("save failed: %s", tg_last_error());
}

/* Saves the model at step 100 and returns the file's bytes. */
static unsigned char *saved_bytes(const char *path, model *m, size_t *len)
{
    tg_rng rng;
    tg_rng_seed(&rng, 7);
    save(path, m, 100, &rng);
    return read_bytes(path, len);
}

/*
 * Loads path into m expecting a refusal whose message names the file and contains `part`,
 * and checks that nothing the load could write has changed. `what` says which case failed.
 */
static void check_refused(const char *path, model *m, const char *part, const char *what,
                          const char *file, int line)
{
    size_t len_before, len_after;
    unsigned char *before = model_contents(m, &len_before);
    int64_t step = -42;
    tg_rng rng = {{1, 2, 3, 4}};

    bool loaded = tg_checkpoint_load(path, m->params, m->count, m->avg, &step, &rng);
    const char *msg = tg_last_error();
    unsigned char *after = model_contents(m, &len_after);
    bool untouched = !memcmp(before, after, len_before) && step == -42 && rng.s[0] == 1 &&
                     rng.s[1] == 2 && rng.s[2] == 3 && rng.s[3] == 4;
    free(before);
    free(after);

    if (loaded)
        print_error("%s: the load succeeded\n", what);
    else if (!msg || !strstr(msg, path) || !strstr(msg, part))
        print_error("%s: message \"%s\" lacks \"%s\"\n", what, msg ? msg : "", part);
    else if (!untouched)
        print_error("%s: the refused load changed the model, step or rng\n", what);
    else
        return;
    _fail(file, line);
}

#define assert_refused(path, m, part) check_refused(path, m, part, #part, __FILE__, __LINE__)

static void assert_message(const char *expected)
{
    const char *msg = tg_last_error();
    if (!msg || strcmp(msg, expected) != 0)
        fail_msg("message \"%s\", expected \"%s\"", msg ? msg : "", expected);
}

/* ---- round trips ------------------------------------------------------------------------ */

static void a_saved_run_resumes_bit_for_bit(void **state)
{
    fixture *fx = *state;
    model *trained = new_model(fx, network, NETWORK, true, 1);
    model *fresh = new_model(fx, network, NETWORK, true, 2);
    tg_rng rng, restored_rng = {{0}};
    tg_rng_seed(&rng, 2012);
    tg_rng_normal(&rng, 0, 1);
    int64_t restored_step = 0;

    save(fx->path, trained, 1234567890123LL, &rng);
    assert_true(tg_checkpoint_load(fx->path, fresh->params, fresh->count, fresh->avg,
                                   &restored_step, &restored_rng));

    assert_same_contents(fresh, trained);
    assert_int_equal(restored_step, 1234567890123LL);
    assert_memory_equal(&restored_rng, &rng, sizeof rng);
    for (int k = 0; k < 10; k++)
        assert_int_equal(tg_rng_next(&restored_rng), tg_rng_next(&rng));
}

static void a_run_without_an_averager_resumes_bit_for_bit(void **state)
{
    fixture *fx = *state;
    model *trained = new_model(fx, network, NETWORK, false, 3);
    model *fresh = new_model(fx, network, NETWORK, false, 4);
    tg_rng rng = {{5, 6, 7, 8}}, restored_rng;
    int64_t restored_step;

    save(fx->path, trained, -1, &rng);
    assert_true(tg_checkpoint_load(fx->path, fresh->params, fresh->count, NULL, &restored_step,
                                   &restored_rng));

    assert_same_contents(fresh, trained);
    assert_int_equal(restored_step, -1);
    assert_memory_equal(&restored_rng, &rng, sizeof rng);
}

static void step_and_rng_may_be_left_out_of_a_load(void **state)
{
    fixture *fx = *state;
    model *trained = new_model(fx, network, NETWORK, true, 5);
    model *fresh = new_model(fx, network, NETWORK, true, 6);
    tg_rng rng = {{1, 1, 1, 1}};

    save(fx->path, trained, 9, &rng);

    assert_true(tg_checkpoint_load(fx->path, fresh->params, fresh->count, fresh->avg, NULL, NULL));
    assert_same_contents(fresh, trained);
}

static void a_checkpoint_in_memory_loads_like_the_file(void **state)
{
    fixture *fx = *state;
    model *trained = new_model(fx, network, NETWORK, true, 7);
    model *fresh = new_model(fx, network, NETWORK, true, 8);
    size_t len;
    unsigned char *bytes = saved_bytes(fx->path, trained, &len);
    int64_t step = 0;

    assert_true(tg_checkpoint_load_bytes(bytes, len, "memory", fresh->params, fresh->count,
                                         fresh->avg, &step, NULL));

    assert_same_contents(fresh, trained);
    assert_int_equal(step, 100);
    free(bytes);
}

/* ---- the format ------------------------------------------------------------------------- */

static void the_file_is_laid_out_as_documented(void **state)
{
    fixture *fx = *state;
    model *m = new_model(fx, tiny, 1, true, 0);
    tg_tensor *w = m->params[0].tensor, *w_avg = tg_averager_tensor(m->avg, 0);
    tg_set(w, 0, 1.0);
    tg_set(w, 1, -2.0);
    tg_set(w_avg, 0, 0.5);
    tg_set(w_avg, 1, 4.0);
    tg_rng rng = {{0x1111, 0x2222, 0x3333, 0x4444}};
    save(fx->path, m, 77, &rng);
    size_t len;
    unsigned char *b = read_bytes(fx->path, &len);

    assert_int_equal(len, TINY_BYTES);
    assert_memory_equal(b, "\x89TGC\r\n\x1a\n", 8);
    assert_int_equal(le(b + 8, 4), 1);  /* version */
    assert_int_equal(le(b + 12, 4), 1); /* flags: averaged copies follow */
    assert_int_equal(le(b + 16, 8), 77);
    assert_int_equal(le(b + 24, 8), 0x1111);
    assert_int_equal(le(b + 48, 8), 0x4444);
    assert_int_equal(le(b + 56, 8), 1); /* parameter count */

    assert_int_equal(le(b + 64, 4), 1); /* name length */
    assert_int_equal(b[68], 'w');
    assert_int_equal(le(b + 69, 4), 0);          /* float32 */
    assert_int_equal(le(b + 73, 4), 1);          /* ndim */
    assert_int_equal(le(b + 77, 8), 2);          /* shape */
    assert_int_equal(le(b + 85, 4), 0x3f800000); /* 1.0f */
    assert_int_equal(le(b + 89, 4), 0xc0000000); /* -2.0f */
    assert_int_equal(le(b + 93, 4), 0x3f000000); /* averaged 0.5f */
    assert_int_equal(le(b + 97, 4), 0x40800000); /* averaged 4.0f */
    assert_int_equal(le(b + 101, 4), crc32_by_definition(b + 8, len - 12));
    free(b);
}

static void the_reference_crc_is_the_standard_crc32(void **state)
{
    /* The check value every CRC-32 implementation publishes. */
    assert_int_equal(crc32_by_definition((const unsigned char *)"123456789", 9), 0xcbf43926u);
}

/* ---- refusals: damage ------------------------------------------------------------------- */

static void every_truncation_is_refused(void **state)
{
    fixture *fx = *state;
    model *m = new_model(fx, tiny, 1, true, 9);
    size_t len;
    unsigned char *full = saved_bytes(fx->path, m, &len);
    char what[64];

    for (size_t n = 0; n < len; n++) {
        const char *part = n < 8    ? "is too short to be a tapegrad checkpoint"
                           : n < 68 ? "is truncated"
                                    : "checksum mismatch";
        write_bytes(fx->path, full, n);
        snprintf(what, sizeof what, "the first %zu of %zu bytes", n, len);
        check_refused(fx->path, m, part, what, __FILE__, __LINE__);
    }
    free(full);
}

static void every_flipped_bit_is_refused(void **state)
{
    fixture *fx = *state;
    model *m = new_model(fx, tiny, 1, true, 10);
    size_t len;
    unsigned char *b = saved_bytes(fx->path, m, &len);
    char what[64];

    for (size_t pos = 0; pos < len; pos++) {
        const char *part = pos < 8 ? "magic" : pos < 12 ? "format version" : "checksum mismatch";
        for (int bit = 0; bit < 8; bit++) {
            b[pos] ^= (unsigned char)(1u << bit);
            write_bytes(fx->path, b, len);
            b[pos] ^= (unsigned char)(1u << bit);
            snprintf(what, sizeof what, "bit %d of byte %zu flipped", bit, pos);
            check_refused(fx->path, m, part, what, __FILE__, __LINE__);
        }
    }
    free(b);
}

static void a_file_with_another_magic_is_refused(void **state)
{
    fixture *fx = *state;
    model *m = new_model(fx, tiny, 1, true, 11);
    size_t len;
    unsigned char *b = saved_bytes(fx->path, m, &len);
    memcpy(b, "PK\x03\x04\x14\x00\x00\x00", 8);
    write_bytes(fx->path, b, len);

    assert_refused(fx->path, m, "is not a tapegrad checkpoint");
    free(b);
}

static void a_text_file_is_not_a_checkpoint(void **state)
{
    fixture *fx = *state;
    model *m = new_model(fx, tiny, 1, true, 12);
    static const char text[] = "step = 100\nlearning rate = 0.001\nweights: see run.csv\n"
                               "this line makes the file longer than a checkpoint header\n";
    write_bytes(fx->path, text, sizeof text - 1);

    assert_refused(fx->path, m, "is not a tapegrad checkpoint");
}

static void a_checkpoint_sent_through_a_text_mode_transfer_is_refused(void **state)
{
    fixture *fx = *state;
    model *m = new_model(fx, tiny, 1, true, 13);
    size_t len;
    unsigned char *b = saved_bytes(fx->path, m, &len);

    /* CR LF at bytes 4 and 5 becomes LF. */
    memmove(b + 4, b + 5, len - 5);
    write_bytes(fx->path, b, len - 1);

    assert_refused(fx->path, m, "magic is damaged, as by a text-mode transfer");
    free(b);
}

static void a_newer_format_version_is_refused(void **state)
{
    fixture *fx = *state;
    model *m = new_model(fx, tiny, 1, true, 14);
    size_t len;
    unsigned char *b = saved_bytes(fx->path, m, &len);
    put_le(b + 8, 2, 4);
    reseal(b, len);
    write_bytes(fx->path, b, len);

    assert_refused(fx->path, m,
                   "checkpoint format version 2 is not supported (this build reads version 1)");
    free(b);
}

static void a_missing_file_is_refused(void **state)
{
    fixture *fx = *state;
    model *m = new_model(fx, tiny, 1, true, 15);

    assert_refused(fx->path, m, "cannot open (No such file or directory)");
}

static void a_directory_is_refused(void **state)
{
    fixture *fx = *state;
    model *m = new_model(fx, tiny, 1, true, 16);
    assert_int_equal(mkdir(fx->path, 0700), 0);

    assert_refused(fx->path, m, "is not a regular file");
}

/* ---- refusals: a file that describes another model -------------------------------------- */

static void a_shape_that_differs_from_the_model_is_refused(void **state)
{
    fixture *fx = *state;
    static const spec wider[] = {
        {"0.W", TG_F32, 2, {2, 3}},
        {"0.A", TG_F32, 1, {2}},
        {"0.B", TG_F32, 1, {4}}, /* [3] in the saved model */
    };
    model *saved = new_model(fx, network, 3, true, 17);
    model *m = new_model(fx, wider, 3, true, 18);
    char expected[256];
    tg_rng rng = {{1, 2, 3, 4}};
    save(fx->path, saved, 1, &rng);

    snprintf(expected, sizeof expected,
             "%s: parameter 2 (0.B) has shape [3] in the file but [4] in the model", fx->path);
    assert_refused(fx->path, m, "parameter 2 (0.B) has shape [3] in the file but [4] in");
    assert_message(expected);
}

static void a_name_that_differs_from_the_model_is_refused(void **state)
{
    fixture *fx = *state;
    model *saved = new_model(fx, network, 3, true, 19);
    model *m = new_model(fx, network, 3, true, 20);
    snprintf(m->params[1].name, sizeof m->params[1].name, "0.bias");
    tg_rng rng = {{1, 2, 3, 4}};
    save(fx->path, saved, 1, &rng);

    assert_refused(fx->path, m, "parameter 1 is named \"0.A\" in the file but \"0.bias\" in");
}

static void a_dtype_that_differs_from_the_model_is_refused(void **state)
{
    fixture *fx = *state;
    static const spec in_f64[] = {{"w", TG_F64, 1, {2}}};
    model *saved = new_model(fx, tiny, 1, true, 21);
    model *m = new_model(fx, in_f64, 1, true, 22);
    tg_rng rng = {{1, 2, 3, 4}};
    save(fx->path, saved, 1, &rng);

    assert_refused(fx->path, m, "parameter 0 (w) is float32 in the file but float64 in the model");
}

static void a_parameter_count_that_differs_from_the_model_is_refused(void **state)
{
    fixture *fx = *state;
    model *saved = new_model(fx, network, 3, true, 23);
    model *m = new_model(fx, network, 2, true, 24);
    tg_rng rng = {{1, 2, 3, 4}};
    save(fx->path, saved, 1, &rng);

    assert_refused(fx->path, m, "holds 3 parameters but the model has 2");
}

static void averaged_copies_need_an_averager_and_an_averager_needs_them(void **state)
{
    fixture *fx = *state;
    model *with = new_model(fx, tiny, 1, true, 25);
    model *without = new_model(fx, tiny, 1, false, 26);
    tg_rng rng = {{1, 2, 3, 4}};

    save(fx->path, with, 1, &rng);
    assert_refused(fx->path, without, "holds averaged copies of the parameters but no averager");

    save(fx->path, without, 1, &rng);
    assert_refused(fx->path, with, "holds no averaged copies but an averager was given");
}

/* ---- refusals: lengths in a well-sealed file are still checked ------------------------- */

/* Saves the tiny model, writes `v` (n bytes) at `offset`, reseals, and expects `part`. */
static void check_sealed_edit(fixture *fx, model *m, size_t offset, uint64_t v, int n,
                              const char *part, int line)
{
    size_t len;
    unsigned char *b = saved_bytes(fx->path, m, &len);
    char what[64];
    put_le(b + offset, v, n);
    reseal(b, len);
    write_bytes(fx->path, b, len);
    free(b);
    snprintf(what, sizeof what, "%d bytes at offset %zu set to %llu", n, offset,
             (unsigned long long)v);
    check_refused(fx->path, m, part, what, __FILE__, line);
}

static void lengths_and_codes_in_a_sealed_file_are_checked(void **state)
{
    fixture *fx = *state;
    model *m = new_model(fx, tiny, 1, true, 27);

    check_sealed_edit(fx, m, 12, 0x3, 4, "has unknown flags 0x3", __LINE__);
    check_sealed_edit(fx, m, 56, 1ULL << 63, 8,
                      "holds 9223372036854775808 parameters but the model has 1", __LINE__);
    check_sealed_edit(fx, m, 64, 0xffffffff, 4, "ends inside parameter 0 (w)", __LINE__);
    check_sealed_edit(fx, m, 64, 2, 4, "parameter 0 is named \"w?\" in the file", __LINE__);
    check_sealed_edit(fx, m, 69, 7, 4, "parameter 0 (w) has unknown dtype code 7", __LINE__);
    check_sealed_edit(fx, m, 73, 0xffffffff, 4,
                      "parameter 0 (w) has 4294967295 dimensions in the file (at most 4)",
                      __LINE__);
    check_sealed_edit(fx, m, 73, 2, 4, "parameter 0 (w) has shape [2, ", __LINE__);
    check_sealed_edit(fx, m, 77, (uint64_t)-2, 8,
                      "parameter 0 (w) has shape [-2] in the file but [2] in the model", __LINE__);
}

static void bytes_after_the_last_parameter_are_refused(void **state)
{
    fixture *fx = *state;
    model *m = new_model(fx, tiny, 1, true, 40);
    size_t len;
    unsigned char *b = saved_bytes(fx->path, m, &len);
    unsigned char longer[TINY_BYTES + 5] = {0};
    assert_int_equal(len, TINY_BYTES);
    memcpy(longer, b, len - 4);
    reseal(longer, sizeof longer);
    write_bytes(fx->path, longer, sizeof longer);

    assert_refused(fx->path, m, "has 5 unexpected bytes after the last parameter");
    free(b);
}

static void a_file_that_ends_inside_the_data_is_refused(void **state)
{
    fixture *fx = *state;
    model *m = new_model(fx, tiny, 1, true, 41);
    size_t len;
    unsigned char *b = saved_bytes(fx->path, m, &len);

    /* The last byte of the averaged copy goes; the rest is sealed again. */
    memmove(b + len - 5, b + len - 4, 4);
    reseal(b, len - 1);
    write_bytes(fx->path, b, len - 1);

    assert_refused(fx->path, m, "ends inside parameter 0 (w)");
    free(b);
}

static void a_file_that_claims_more_data_than_it_holds_is_refused(void **state)
{
    fixture *fx = *state;
    static const spec huge[] = {{"w", TG_F64, 2, {1 << 10, 1 << 10}}};
    model *m = new_model(fx, huge, 1, false, 28);
    model *t = new_model(fx, tiny, 1, false, 29);
    size_t len;
    unsigned char *b = saved_bytes(fx->path, t, &len);

    /* The tiny file, relabelled float64 [1024, 1024]: 8 MiB announced, 8 bytes present. */
    unsigned char edited[128];
    memcpy(edited, b, 69);
    put_le(edited + 69, 1, 4);
    put_le(edited + 73, 2, 4);
    put_le(edited + 77, 1 << 10, 8);
    put_le(edited + 85, 1 << 10, 8);
    memcpy(edited + 93, b + 85, 8);
    reseal(edited, 93 + 8 + 4);
    write_bytes(fx->path, edited, 93 + 8 + 4);

    assert_refused(fx->path, m, "ends inside parameter 0 (w)");
    free(b);
}

/* ---- saving ----------------------------------------------------------------------------- */

static void saving_again_replaces_the_checkpoint_and_leaves_no_temporary_file(void **state)
{
    fixture *fx = *state;
    model *first = new_model(fx, network, NETWORK, true, 30);
    model *second = new_model(fx, network, NETWORK, true, 31);
    model *fresh = new_model(fx, network, NETWORK, true, 32);
    tg_rng rng = {{1, 2, 3, 4}};
    char names[256];

    save(fx->path, first, 1, &rng);
    save(fx->path, second, 2, &rng);

    assert_true(tg_checkpoint_load(fx->path, fresh->params, fresh->count, fresh->avg, NULL, NULL));
    assert_same_contents(fresh, second);
    list_dir(fx->dir, names, sizeof names);
    assert_string_equal(names, "run.tgc");
}

/* The file size limit makes write(2) fail with EFBIG, as a full disk fails with ENOSPC. */
static void a_save_that_cannot_write_keeps_the_previous_checkpoint(void **state)
{
    fixture *fx = *state;
    static const spec big[] = {{"w", TG_F64, 2, {64, 64}}};
    model *old_run = new_model(fx, big, 1, true, 33);
    model *new_run = new_model(fx, big, 1, true, 34);
    tg_rng rng = {{1, 2, 3, 4}};
    size_t len_before, len_after;
    char names[256];
    save(fx->path, old_run, 1, &rng);
    unsigned char *before = read_bytes(fx->path, &len_before);

    struct rlimit saved_limit, limit;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved_limit), 0);
    limit = saved_limit;
    limit.rlim_cur = 1000;
    void (*saved_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &limit), 0);
    bool saved = tg_checkpoint_save(fx->path, new_run->params, 1, new_run->avg, 2, &rng);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved_limit), 0);
    signal(SIGXFSZ, saved_handler);

    assert_false(saved);
    assert_non_null(strstr(tg_last_error(), "cannot write the temporary file (File too large); "
                                            "a checkpoint already there is unchanged"));
    unsigned char *after = read_bytes(fx->path, &len_after);
    assert_int_equal(len_after, len_before);
    assert_memory_equal(after, before, len_before);
    list_dir(fx->dir, names, sizeof names);
    assert_string_equal(names, "run.tgc");
    free(before);
    free(after);
}

static void a_save_into_a_missing_directory_fails_and_creates_nothing(void **state)
{
    fixture *fx = *state;
    model *m = new_model(fx, tiny, 1, true, 35);
    tg_rng rng = {{1, 2, 3, 4}};
    char path[256], expected[400], names[256];
    snprintf(path, sizeof path, "%s/missing/run.tgc", fx->dir);

    assert_false(tg_checkpoint_save(path, m->params, 1, m->avg, 1, &rng));

    snprintf(expected, sizeof expected,
             "%s: cannot create a temporary file beside it (No such file or directory)", path);
    assert_message(expected);
    list_dir(fx->dir, names, sizeof names);
    assert_string_equal(names, "");
}

/* A directory in the way makes the final rename fail after the file is fully written. */
static void a_save_whose_rename_fails_removes_its_temporary_file(void **state)
{
    fixture *fx = *state;
    model *m = new_model(fx, tiny, 1, true, 36);
    tg_rng rng = {{1, 2, 3, 4}};
    char inside[256], names[256];
    assert_int_equal(mkdir(fx->path, 0700), 0);
    snprintf(inside, sizeof inside, "%s/keep", fx->path);
    write_bytes(inside, "x", 1);

    assert_false(tg_checkpoint_save(fx->path, m->params, 1, m->avg, 1, &rng));

    assert_non_null(strstr(tg_last_error(), "cannot rename the temporary file over it"));
    list_dir(fx->dir, names, sizeof names);
    assert_string_equal(names, "run.tgc");
    list_dir(fx->path, names, sizeof names);
    assert_string_equal(names, "keep");
}

static void a_new_checkpoint_is_private_and_a_replaced_one_keeps_its_mode(void **state)
{
    fixture *fx = *state;
    model *m = new_model(fx, tiny, 1, true, 37);
    tg_rng rng = {{1, 2, 3, 4}};
    struct stat st;

    save(fx->path, m, 1, &rng);
    assert_int_equal(stat(fx->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    assert_int_equal(chmod(fx->path, 0640), 0);
    save(fx->path, m, 2, &rng);
    assert_int_equal(stat(fx->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
}

static void a_save_refuses_an_averager_made_for_other_parameters(void **state)
{
    fixture *fx = *state;
    model *a = new_model(fx, network, 3, true, 38);
    model *b = new_model(fx, network, 2, true, 39);
    tg_rng rng = {{1, 2, 3, 4}};
    char names[256];

    assert_false(tg_checkpoint_save(fx->path, a->params, 3, b->avg, 1, &rng));
    assert_message("tg_checkpoint_save: the averager's copy 2 does not match parameter 2 (0.B)");
    assert_false(tg_checkpoint_save(fx->path, b->params, 2, a->avg, 1, &rng));
    assert_message("tg_checkpoint_save: the averager holds more than the 2 parameters given");
    list_dir(fx->dir, names, sizeof names);
    assert_string_equal(names, "");
}

static void a_save_refuses_a_missing_rng_or_tensor_and_an_unterminated_name(void **state)
{
    fixture *fx = *state;
    model *m = new_model(fx, tiny, 1, false, 42);
    tg_rng rng = {{1, 2, 3, 4}};
    char names[256];

    assert_false(tg_checkpoint_save(fx->path, m->params, 1, NULL, 1, NULL));
    assert_message("tg_checkpoint_save: rng is NULL");
    tg_param no_tensor = {.name = "w"};
    assert_false(tg_checkpoint_save(fx->path, &no_tensor, 1, NULL, 1, &rng));
    assert_message("tg_checkpoint_save: parameter 0 (w) has no tensor");
    memset(m->params[0].name, 'w', sizeof m->params[0].name);
    assert_false(tg_checkpoint_save(fx->path, m->params, 1, NULL, 1, &rng));
    assert_message("tg_checkpoint_save: the name of parameter 0 is not terminated");
    list_dir(fx->dir, names, sizeof names);
    assert_string_equal(names, "");
}

static void a_path_without_a_directory_saves_in_the_working_directory(void **state)
{
    fixture *fx = *state;
    model *trained = new_model(fx, tiny, 1, true, 43);
    model *fresh = new_model(fx, tiny, 1, true, 44);
    tg_rng rng = {{1, 2, 3, 4}};
    char cwd[512], names[256];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(fx->dir), 0);

    bool saved = tg_checkpoint_save("run.tgc", trained->params, 1, trained->avg, 1, &rng);
    assert_int_equal(chdir(cwd), 0);

    assert_true(saved);
    list_dir(fx->dir, names, sizeof names);
    assert_string_equal(names, "run.tgc");
    assert_true(tg_checkpoint_load(fx->path, fresh->params, 1, fresh->avg, NULL, NULL));
    assert_same_contents(fresh, trained);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(a_saved_run_resumes_bit_for_bit),
        TEST(a_run_without_an_averager_resumes_bit_for_bit),
        TEST(step_and_rng_may_be_left_out_of_a_load),
        TEST(a_checkpoint_in_memory_loads_like_the_file),
        TEST(the_file_is_laid_out_as_documented),
        TEST(the_reference_crc_is_the_standard_crc32),
        TEST(every_truncation_is_refused),
        TEST(every_flipped_bit_is_refused),
        TEST(a_file_with_another_magic_is_refused),
        TEST(a_text_file_is_not_a_checkpoint),
        TEST(a_checkpoint_sent_through_a_text_mode_transfer_is_refused),
        TEST(a_newer_format_version_is_refused),
        TEST(a_missing_file_is_refused),
        TEST(a_directory_is_refused),
        TEST(a_shape_that_differs_from_the_model_is_refused),
        TEST(a_name_that_differs_from_the_model_is_refused),
        TEST(a_dtype_that_differs_from_the_model_is_refused),
        TEST(a_parameter_count_that_differs_from_the_model_is_refused),
        TEST(averaged_copies_need_an_averager_and_an_averager_needs_them),
        TEST(lengths_and_codes_in_a_sealed_file_are_checked),
        TEST(bytes_after_the_last_parameter_are_refused),
        TEST(a_file_that_ends_inside_the_data_is_refused),
        TEST(a_file_that_claims_more_data_than_it_holds_is_refused),
        TEST(saving_again_replaces_the_checkpoint_and_leaves_no_temporary_file),
        TEST(a_save_that_cannot_write_keeps_the_previous_checkpoint),
        TEST(a_save_into_a_missing_directory_fails_and_creates_nothing),
        TEST(a_save_whose_rename_fails_removes_its_temporary_file),
        TEST(a_new_checkpoint_is_private_and_a_replaced_one_keeps_its_mode),
        TEST(a_save_refuses_an_averager_made_for_other_parameters),
        TEST(a_save_refuses_a_missing_rng_or_tensor_and_an_unterminated_name),
        TEST(a_path_without_a_directory_saves_in_the_working_directory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
