/* Whole-file reads and atomic (temporary file + rename) writes for the data formats. */
#define _POSIX_C_SOURCE 200809L /* fileno, fsync: make the data durable before the rename */

#include "io/io_internal.h"

#include "core/internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Grow by doubling from a size hint, so that files whose size cannot be
 * learned in advance (pipes) still read in O(n). */
fm_status fm_read_whole_file(const char *path, char **data, size_t *size, fm_error *err)
{
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return fm_fail(err, FM_ERR_IO, "cannot open %s: %s", path, strerror(errno));

    /* Room for the file, one byte more (so that the first read already
     * meets the end and nothing is copied) and the NUL. */
    size_t capacity = 1 << 16;
    if (fseek(f, 0, SEEK_END) == 0) {
        long end = ftell(f);
        if (end > 0 && (unsigned long)end < SIZE_MAX - 2)
            capacity = (size_t)end + 2;
        rewind(f);
    }
    char *buf = malloc(capacity);
    if (!buf) {
        fclose(f);
        return fm_fail(err, FM_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, capacity);
    }
    size_t used = 0;
    for (;;) {
        if (capacity - used < 2) {
            if (capacity > SIZE_MAX / 2) {
                free(buf);
                fclose(f);
                return fm_fail(err, FM_ERR_NOMEM, "%s: file too large", path);
            }
            char *grown = realloc(buf, capacity * 2);
            if (!grown) {
                free(buf);
                fclose(f);
                return fm_fail(err, FM_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, capacity * 2);
            }
            buf = grown;
            capacity *= 2;
        }
        size_t got = fread(buf + used, 1, capacity - used - 1, f);
        used += got;
        if (got == 0)
            break;
    }
    int failed = ferror(f);
    int saved_errno = errno;
    fclose(f);
    if (failed) {
        free(buf);
        return fm_fail(err, FM_ERR_IO, "cannot read %s: %s", path,
                       saved_errno ? strerror(saved_errno) : "read error");
    }
    buf[used] = '\0';
    *data = buf;
    *size = used;
    return FM_OK;
}

fm_status fm_atomic_open(fm_atomic_file *file, const char *path, fm_error *err)
{
    memset(file, 0, sizeof *file);
    file->path = path;
    size_t len = strlen(path);
    /* path + ".tmp-" + 16 hex digits + NUL */
    file->tmp_path = malloc(len + 22);
    if (!file->tmp_path)
        return fm_fail(err, FM_ERR_NOMEM, "%s: out of memory", path);

    /* "wx" (C11 exclusive create) refuses an existing name, so two writers
     * cannot share a temporary file; a fresh suffix is tried on a clash. The
     * suffix needs to be unlikely to repeat, not unpredictable. */
    uint64_t salt = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20) ^ (uint64_t)(uintptr_t)file;
    int saved_errno = 0;
    for (int attempt = 0; attempt < 16; attempt++) {
        uint64_t suffix = fm_splitmix64(salt + (uint64_t)attempt);
        snprintf(file->tmp_path, len + 22, "%s.tmp-%016llx", path, (unsigned long long)suffix);
        file->stream = fopen(file->tmp_path, "wx");
        if (file->stream)
            return FM_OK;
        saved_errno = errno;
        if (saved_errno != EEXIST)
            break;
    }
    free(file->tmp_path);
    file->tmp_path = NULL;
    return fm_fail(err, FM_ERR_IO, "cannot write %s: cannot create a temporary file beside it: %s", path,
                   strerror(saved_errno));
}

void fm_atomic_abort(fm_atomic_file *file)
{
    if (file->stream)
        fclose(file->stream);
    if (file->tmp_path)
        remove(file->tmp_path);
    free(file->tmp_path);
    file->stream = NULL;
    file->tmp_path = NULL;
}

fm_status fm_atomic_commit(fm_atomic_file *file, fm_error *err)
{
    /* An fwrite error is sticky but errno may have changed since, so it gets
     * a generic reason. */
    const char *reason = NULL;
    if (ferror(file->stream))
        reason = "write error (is the disk full?)";
    else if (fflush(file->stream) != 0 || fsync(fileno(file->stream)) != 0)
        reason = strerror(errno);
    if (fclose(file->stream) != 0 && !reason)
        reason = strerror(errno);
    file->stream = NULL;
    if (!reason && rename(file->tmp_path, file->path) != 0)
        reason = strerror(errno);
    if (reason) {
        /* strerror's buffer may be reused by the clean-up, so copy it first. */
        fm_status status = fm_fail(err, FM_ERR_IO, "cannot write %s: %s", file->path, reason);
        fm_atomic_abort(file);
        return status;
    }
    free(file->tmp_path);
    file->tmp_path = NULL;
    return FM_OK;
}
