/*
 * checkpoint.c: the file format described in tg_checkpoint.h.
 *
 * Saving streams the file through a CRC into a temporary file and renames it into place.
 * Loading holds the whole file in memory and walks it twice: the first walk checks every
 * length against the bytes actually present and every entry against the model, the second
 * copies the data, so a refused file changes nothing.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "tg_checkpoint.h"

static const unsigned char magic[8] = {0x89, 'T', 'G', 'C', '\r', '\n', 0x1a, '\n'};

enum {
    FORMAT_VERSION = 1,
    FLAG_AVERAGED = 1,
    HEADER_BYTES = 64, /* magic, version, flags, step, rng state, parameter count */
    CRC_BYTES = 4,
    DTYPE_CODE_F32 = 0,
    DTYPE_CODE_F64 = 1,
};

/* What a checkpoint describes, as the caller passed it. */
typedef struct run {
    const tg_param *params;
    size_t count;
    tg_averager *avg;
} run;

static void store_le(unsigned char *b, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t load_le(const unsigned char *b, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

/* An element's bit pattern, so that NaN payloads and signed zeros survive the round trip. */
static uint64_t element_bits(const tg_tensor *t, int64_t i)
{
    if (t->dtype == TG_F32) {
        uint32_t u;
        memcpy(&u, (const float *)t->data + i, sizeof u);
        return u;
    }
    uint64_t u;
    memcpy(&u, (const double *)t->data + i, sizeof u);
    return u;
}

static void set_element_bits(tg_tensor *t, int64_t i, uint64_t bits)
{
    if (t->dtype == TG_F32) {
        uint32_t u = (uint32_t)bits;
        memcpy((float *)t->data + i, &u, sizeof u);
    } else {
        memcpy((double *)t->data + i, &bits, sizeof bits);
    }
}

static tg_tensor *averaged_copy(const run *m, size_t i)
{
    return m->avg ? tg_averager_tensor(m->avg, i) : NULL;
}

static bool same_layout(const tg_tensor *a, const tg_tensor *b)
{
    return a && b && a->dtype == b->dtype && tg_same_shape(a, b);
}

/* Refuses parameters the format cannot describe, and an averager made for other tensors. */
static bool check_run(const char *who, const run *m)
{
    if (m->count && !m->params) {
        tg_set_last_error("%s: %zu parameters but params is NULL", who, m->count);
        return false;
    }
    for (size_t i = 0; i < m->count; i++) {
        const tg_param *p = &m->params[i];
        if (!memchr(p->name, '\0', sizeof p->name)) {
            tg_set_last_error("%s: the name of parameter %zu is not terminated", who, i);
            return false;
        }
        if (!p->tensor) {
            tg_set_last_error("%s: parameter %zu (%s) has no tensor", who, i, p->name);
            return false;
        }
        if (m->avg && !same_layout(averaged_copy(m, i), p->tensor)) {
            tg_set_last_error("%s: the averager's copy %zu does not match parameter %zu (%s)", who,
                              i, i, p->name);
            return false;
        }
    }
    if (m->avg && averaged_copy(m, m->count)) {
        tg_set_last_error("%s: the averager holds more than the %zu parameters given", who,
                          m->count);
        return false;
    }
    return true;
}

/* Output that keeps a running CRC of everything written through it. */
typedef struct writer {
    FILE *f;
    uLong crc;
} writer;

static bool put(writer *w, const void *bytes, size_t n)
{
    w->crc = crc32_z(w->crc, bytes, n);
    return fwrite(bytes, 1, n, w->f) == n;
}

static bool put_le(writer *w, uint64_t v, int n)
{
    unsigned char b[8];
    store_le(b, v, n);
    return put(w, b, (size_t)n);
}

/* Elements are encoded through a buffer, so the file's byte order is not the host's. */
static bool put_data(writer *w, const tg_tensor *t)
{
    unsigned char buf[4096];
    size_t width = tg_dtype_size(t->dtype), used = 0;

    for (int64_t i = 0; i < t->size; i++) {
        store_le(buf + used, element_bits(t, i), (int)width);
        used += width;
        if (used == sizeof buf) {
            if (!put(w, buf, used))
                return false;
            used = 0;
        }
    }
    return put(w, buf, used);
}

static bool put_param(writer *w, const tg_param *p, const tg_tensor *copy)
{
    const tg_tensor *t = p->tensor;
    size_t name_len = strlen(p->name);
    uint32_t code = t->dtype == TG_F32 ? DTYPE_CODE_F32 : DTYPE_CODE_F64;

    bool ok = put_le(w, name_len, 4) && put(w, p->name, name_len) && put_le(w, code, 4) &&
              put_le(w, (uint64_t)t->ndim, 4);
    for (int d = 0; ok && d < t->ndim; d++)
        ok = put_le(w, (uint64_t)t->shape[d], 8);

    return ok && put_data(w, t) && (!copy || put_data(w, copy));
}

static bool put_checkpoint(FILE *f, const run *m, int64_t step, const tg_rng *rng)
{
    if (fwrite(magic, 1, sizeof magic, f) != sizeof magic)
        return false;

    writer w = {f, crc32_z(0, NULL, 0)};
    bool ok = put_le(&w, FORMAT_VERSION, 4) && put_le(&w, m->avg ? FLAG_AVERAGED : 0, 4) &&
              put_le(&w, (uint64_t)step, 8);
    for (int k = 0; ok && k < 4; k++)
        ok = put_le(&w, rng->s[k], 8);
    ok = ok && put_le(&w, m->count, 8);

    for (size_t i = 0; ok && i < m->count; i++)
        ok = put_param(&w, &m->params[i], averaged_copy(m, i));

    unsigned char crc[CRC_BYTES];
    store_le(crc, w.crc, CRC_BYTES);
    return ok && fwrite(crc, 1, sizeof crc, f) == sizeof crc;
}

/* "<path>.tmp.XXXXXX" extends path, so it lies in the same directory and rename is atomic. */
static char *temp_template(const char *path)
{
    static const char suffix[] = ".tmp.XXXXXX";
    size_t n = strlen(path);
    char *tmp = malloc(n + sizeof suffix);
    if (tmp) {
        memcpy(tmp, path, n);
        memcpy(tmp + n, suffix, sizeof suffix);
    }
    return tmp;
}

/* Replacing a checkpoint should not change who may read it; failing that, owner-only stays. */
static void keep_permissions(const char *path, int fd)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
        (void)fchmod(fd, st.st_mode & 07777);
}

/*
 * Fills the temporary file, gets it to the disk and renames it over path. Returns what
 * failed, with errno saying why, or NULL. The descriptor is closed in every case.
 */
static const char *write_temp(int fd, const char *tmp, const char *path, const run *m, int64_t step,
                              const tg_rng *rng)
{
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        int err = errno;
        close(fd);
        errno = err;
        return "cannot open the temporary file";
    }

    const char *failure = NULL;
    if (!put_checkpoint(f, m, step, rng) || fflush(f) != 0)
        failure = "cannot write the temporary file";
    else if (fsync(fileno(f)) != 0)
        failure = "cannot sync the temporary file";
    int err = errno;

    if (fclose(f) != 0 && !failure) {
        failure = "cannot close the temporary file";
        err = errno;
    }
    if (!failure && rename(tmp, path) != 0) {
        failure = "cannot rename the temporary file over it";
        err = errno;
    }
    errno = err;
    return failure;
}

/*
 * A rename reaches the disk only with the directory that records it. Filesystems that cannot
 * sync a directory answer EINVAL; there is nothing more to do on those.
 */
static bool sync_directory(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else
        dir = strndup(path, (size_t)(slash - path));
    if (!dir)
        return false;

    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    bool ok = fd >= 0 && (fsync(fd) == 0 || errno == EINVAL);
    int err = errno;
    if (fd >= 0)
        close(fd);
    free(dir);
    errno = err;
    return ok;
}

bool tg_checkpoint_save(const char *path, const tg_param *params, size_t count, tg_averager *avg,
                        int64_t step, const tg_rng *rng)
{
    run m = {params, count, avg};
    if (!path || !rng) {
        tg_set_last_error("tg_checkpoint_save: %s is NULL", path ? "rng" : "path");
        return false;
    }
    if (!check_run("tg_checkpoint_save", &m))
        return false;

    char *tmp = temp_template(path);
    int fd = tmp ? mkstemp(tmp) : -1;
    if (fd < 0) {
        tg_set_last_error("%s: cannot create a temporary file beside it (%s)", path,
                          tmp ? strerror(errno) : "out of memory");
        free(tmp);
        return false;
    }
    keep_permissions(path, fd);

    const char *failure = write_temp(fd, tmp, path, &m, step, rng);
    if (failure) {
        tg_set_last_error("%s: %s (%s); a checkpoint already there is unchanged", path, failure,
                          strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    if (failure)
        return false;

    if (!sync_directory(path)) {
        tg_set_last_error("%s: saved, but syncing its directory failed (%s)", path,
                          strerror(errno));
        return false;
    }
    return true;
}

/* The parameter section of a file in memory, between the header and the checksum. */
typedef struct reader {
    const unsigned char *b;
    size_t end;
    size_t pos;
} reader;

/* The next n bytes, or NULL when fewer remain: no length from the file is trusted further. */
static const unsigned char *take(reader *r, uint64_t n)
{
    if (n > r->end - r->pos)
        return NULL;
    const unsigned char *p = r->b + r->pos;
    r->pos += (size_t)n;
    return p;
}

static bool take_le(reader *r, int n, uint64_t *v)
{
    const unsigned char *p = take(r, (uint64_t)n);
    if (p)
        *v = load_le(p, n);
    return p != NULL;
}

static bool refuse_magic(const unsigned char *b, const char *file)
{
    if (memcmp(b + 1, magic + 1, 3) == 0)
        tg_set_last_error("%s: the checkpoint magic is damaged, as by a text-mode transfer "
                          "that converts line endings",
                          file);
    else
        tg_set_last_error("%s: is not a tapegrad checkpoint (it does not start with the "
                          "checkpoint magic)",
                          file);
    return false;
}

/* Checks what surrounds the parameters: magic, version, minimum size and checksum. */
static bool check_envelope(const unsigned char *b, size_t len, const char *file)
{
    if (len < sizeof magic) {
        tg_set_last_error("%s: is too short to be a tapegrad checkpoint (%zu bytes)", file, len);
        return false;
    }
    if (memcmp(b, magic, sizeof magic) != 0)
        return refuse_magic(b, file);

    /* A file that ends inside the version field is reported as truncated, below. */
    uint64_t version = len >= sizeof magic + 4 ? load_le(b + sizeof magic, 4) : FORMAT_VERSION;
    if (version != FORMAT_VERSION) {
        tg_set_last_error("%s: checkpoint format version %llu is not supported (this build "
                          "reads version %d)",
                          file, (unsigned long long)version, FORMAT_VERSION);
        return false;
    }
    if (len < HEADER_BYTES + CRC_BYTES) {
        tg_set_last_error("%s: is truncated (%zu bytes; a checkpoint has at least %d)", file, len,
                          HEADER_BYTES + CRC_BYTES);
        return false;
    }

    uLong crc = crc32_z(crc32_z(0, NULL, 0), b + sizeof magic, len - sizeof magic - CRC_BYTES);
    if (load_le(b + len - CRC_BYTES, CRC_BYTES) != crc) {
        tg_set_last_error("%s: checksum mismatch: the file is damaged or truncated", file);
        return false;
    }
    return true;
}

typedef struct header {
    uint32_t flags;
    int64_t step;
    tg_rng rng;
    uint64_t count;
} header;

/* The fixed fields; check_envelope has made sure they are all present. */
static header read_header(const unsigned char *b)
{
    header h;
    uint64_t step = load_le(b + 16, 8);
    h.flags = (uint32_t)load_le(b + 12, 4);
    memcpy(&h.step, &step, sizeof h.step);
    for (int k = 0; k < 4; k++)
        h.rng.s[k] = load_le(b + 24 + 8 * k, 8);
    h.count = load_le(b + 56, 8);
    return h;
}

static bool check_header(const header *h, const char *file, const run *m)
{
    bool averaged = h->flags & FLAG_AVERAGED;
    if (h->flags & ~(uint32_t)FLAG_AVERAGED) {
        tg_set_last_error("%s: has unknown flags 0x%x", file, (unsigned)h->flags);
        return false;
    }
    if (averaged != (m->avg != NULL)) {
        tg_set_last_error(averaged ? "%s: holds averaged copies of the parameters but no "
                                     "averager was given"
                                   : "%s: holds no averaged copies but an averager was given",
                          file);
        return false;
    }
    if (h->count != m->count) {
        tg_set_last_error("%s: holds %llu parameters but the model has %zu", file,
                          (unsigned long long)h->count, m->count);
        return false;
    }
    return true;
}

/* A parameter's entry before its data; the shape is read only when ndim is possible. */
typedef struct descriptor {
    const unsigned char *name;
    uint64_t name_len;
    uint64_t dtype_code;
    uint64_t ndim;
    int64_t shape[TG_MAX_DIMS];
} descriptor;

static bool refuse_truncated(const char *file, size_t i, const tg_param *p)
{
    tg_set_last_error("%s: ends inside parameter %zu (%s)", file, i, p->name);
    return false;
}

static bool read_descriptor(reader *r, descriptor *d, const char *file, size_t i, const tg_param *p)
{
    bool ok = take_le(r, 4, &d->name_len) && (d->name = take(r, d->name_len)) != NULL &&
              take_le(r, 4, &d->dtype_code) && take_le(r, 4, &d->ndim);

    for (uint64_t k = 0; ok && d->ndim <= TG_MAX_DIMS && k < d->ndim; k++) {
        uint64_t dim = 0;
        ok = take_le(r, 8, &dim);
        memcpy(&d->shape[k], &dim, sizeof dim);
    }
    return ok || refuse_truncated(file, i, p);
}

/* A name from the file, made safe to print: at most 31 characters, non-ASCII shown as '?'. */
static void printable_name(const descriptor *d, char *out, size_t cap)
{
    size_t n = d->name_len < cap - 4 ? (size_t)d->name_len : cap - 4;
    for (size_t k = 0; k < n; k++)
        out[k] = d->name[k] >= 0x20 && d->name[k] < 0x7f ? (char)d->name[k] : '?';
    strcpy(out + n, n < d->name_len ? "..." : "");
}

static bool match_descriptor(const descriptor *d, const char *file, size_t i, const tg_param *p)
{
    const tg_tensor *t = p->tensor;
    char shown[35], file_shape[128], model_shape[128];

    if (d->name_len != strlen(p->name) || memcmp(d->name, p->name, d->name_len) != 0) {
        printable_name(d, shown, sizeof shown);
        tg_set_last_error("%s: parameter %zu is named \"%s\" in the file but \"%s\" in the model",
                          file, i, shown, p->name);
        return false;
    }
    if (d->dtype_code != DTYPE_CODE_F32 && d->dtype_code != DTYPE_CODE_F64) {
        tg_set_last_error("%s: parameter %zu (%s) has unknown dtype code %llu", file, i, p->name,
                          (unsigned long long)d->dtype_code);
        return false;
    }
    tg_dtype dtype = d->dtype_code == DTYPE_CODE_F32 ? TG_F32 : TG_F64;
    if (dtype != t->dtype) {
        tg_set_last_error("%s: parameter %zu (%s) is %s in the file but %s in the model", file, i,
                          p->name, tg_dtype_name(dtype), tg_dtype_name(t->dtype));
        return false;
    }

    if (d->ndim > TG_MAX_DIMS) {
        tg_set_last_error("%s: parameter %zu (%s) has %llu dimensions in the file (at most %d)",
                          file, i, p->name, (unsigned long long)d->ndim, TG_MAX_DIMS);
        return false;
    }

    tg_tensor in_file = {.ndim = (int)d->ndim};
    memcpy(in_file.shape, d->shape, sizeof d->shape);
    if (!tg_same_shape(&in_file, t)) {
        tg_set_last_error("%s: parameter %zu (%s) has shape %s in the file but %s in the model",
                          file, i, p->name, tg_shape_str(&in_file, file_shape, sizeof file_shape),
                          tg_shape_str(t, model_shape, sizeof model_shape));
        return false;
    }
    return true;
}

static void decode_data(tg_tensor *t, const unsigned char *src)
{
    size_t width = tg_dtype_size(t->dtype);
    for (int64_t i = 0; i < t->size; i++)
        set_element_bits(t, i, load_le(src + (size_t)i * width, (int)width));
    tg_tensor_mark_modified(t);
}

/*
 * Checks parameter i's entry against the model; when `apply` is set, also copies its data
 * in. The data's length comes from the model, which the entry has just been shown to match.
 */
static bool visit_param(reader *r, const char *file, const run *m, size_t i, bool apply)
{
    const tg_param *p = &m->params[i];
    tg_tensor *copy = averaged_copy(m, i);
    descriptor d;
    if (!read_descriptor(r, &d, file, i, p) || !match_descriptor(&d, file, i, p))
        return false;

    uint64_t bytes = (uint64_t)p->tensor->size * tg_dtype_size(p->tensor->dtype);
    const unsigned char *data = take(r, bytes);
    const unsigned char *copy_data = copy && data ? take(r, bytes) : NULL;
    if (!data || (copy && !copy_data))
        return refuse_truncated(file, i, p);

    if (apply) {
        decode_data(p->tensor, data);
        if (copy)
            decode_data(copy, copy_data);
    }
    return true;
}

static bool visit_params(reader *r, const char *file, const run *m, bool apply)
{
    for (size_t i = 0; i < m->count; i++)
        if (!visit_param(r, file, m, i, apply))
            return false;

    if (r->pos != r->end) {
        tg_set_last_error("%s: has %zu unexpected bytes after the last parameter", file,
                          r->end - r->pos);
        return false;
    }
    return true;
}

bool tg_checkpoint_load_bytes(const void *bytes, size_t len, const char *name,
                              const tg_param *params, size_t count, tg_averager *avg, int64_t *step,
                              tg_rng *rng)
{
    const unsigned char *b = bytes;
    const char *file = name ? name : "checkpoint";
    run m = {params, count, avg};
    if (!b && len) {
        tg_set_last_error("%s: %zu bytes at NULL", file, len);
        return false;
    }
    if (!check_run("tg_checkpoint_load", &m) || !check_envelope(b, len, file))
        return false;

    header h = read_header(b);
    reader r = {b, len - CRC_BYTES, HEADER_BYTES};
    if (!check_header(&h, file, &m) || !visit_params(&r, file, &m, false))
        return false;

    r.pos = HEADER_BYTES;
    visit_params(&r, file, &m, true);
    if (step)
        *step = h.step;
    if (rng)
        *rng = h.rng;
    return true;
}

/* The whole file in memory; its real size is what bounds every length read from it. */
static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        tg_set_last_error("%s: cannot open (%s)", path, strerror(errno));
        return NULL;
    }

    struct stat st;
    unsigned char *bytes = NULL;
    if (fstat(fileno(f), &st) != 0)
        tg_set_last_error("%s: cannot examine (%s)", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        tg_set_last_error("%s: is not a regular file", path);
    else if ((uintmax_t)st.st_size > SIZE_MAX)
        tg_set_last_error("%s: is too large to read", path);
    else if (!(bytes = malloc(st.st_size ? (size_t)st.st_size : 1)))
        tg_set_last_error("%s: out of memory for %lld bytes", path, (long long)st.st_size);
    else if (fread(bytes, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        tg_set_last_error("%s: cannot read all %lld bytes", path, (long long)st.st_size);
        free(bytes);
        bytes = NULL;
    } else {
        *len = (size_t)st.st_size;
    }
    fclose(f);
    return bytes;
}

bool tg_checkpoint_load(const char *path, const tg_param *params, size_t count, tg_averager *avg,
                        int64_t *step, tg_rng *rng)
{
    if (!path) {
        tg_set_last_error("tg_checkpoint_load: path is NULL");
        return false;
    }
    size_t len = 0;
    unsigned char *bytes = read_file(path, &len);
    if (!bytes)
        return false;

    bool ok = tg_checkpoint_load_bytes(bytes, len, path, params, count, avg, step, rng);
    free(bytes);
    return ok;
}
