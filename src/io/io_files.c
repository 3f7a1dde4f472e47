/* Whole-file reads, and the atomic (temporary file + rename) writes of every file
 * the library writes: models, CSV and NPY. */
#define _POSIX_C_SOURCE 200809L /* open, fdopen, fsync, getpid: exclusive, durable temporary files */

#include "io/io_internal.h"

#include "core/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- reading */

/* Grow by doubling from a size hint, so that files whose size cannot be
 * learned in advance (pipes) still read in O(n). */
fm_status fm_read_whole_file(const char *path, char **data, size_t *size, fm_error *err)
{
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return fm_fail(err, FM_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat info;
    if (fstat(fileno(f), &info) == 0 && S_ISDIR(info.st_mode)) { /* opens, and ftell says LONG_MAX */
        fclose(f);
        return fm_fail(err, FM_ERR_IO, "%s is a directory, not a file", path);
    }

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

/* ------------------------------------------------------------ atomic writes */

fm_status fm_output_check(const char *path, fm_error *err)
{
    if (!path)
        return fm_fail(err, FM_ERR_ARG, "fm_output_check: path must not be NULL");
    if (!*path)
        return fm_fail(err, FM_ERR_ARG, "the output file name is empty");
    struct stat info;
    /* A new file or a file to replace; a directory is left to the rename,
     * which fails (EISDIR) without touching it. */
    if (lstat(path, &info) != 0 || S_ISREG(info.st_mode) || S_ISDIR(info.st_mode))
        return FM_OK;
    const char *kind = S_ISLNK(info.st_mode)    ? "a symbolic link"
                       : S_ISFIFO(info.st_mode) ? "a FIFO"
                       : S_ISSOCK(info.st_mode) ? "a socket"
                                                : "a device";
    /* Outputs are written beside the target and renamed over it, which
     * would replace the link, FIFO or device node itself by a file. */
    return fm_fail(err, FM_ERR_IO, "cannot write %s: it is %s, not a regular file (outputs replace their target: "
                   "give a file's path)", path, kind);
}

fm_status fm_atomic_open(fm_atomic_file *file, const char *path, fm_error *err)
{
    memset(file, 0, sizeof *file);
    fm_status checked = fm_output_check(path, err);
    if (checked != FM_OK)
        return checked;
    file->path = path;
    size_t size = strlen(path) + 64; /* ".tmp." + a pid + "." + a counter */
    file->tmp_path = malloc(size);
    if (!file->tmp_path)
        return fm_fail(err, FM_ERR_NOMEM, "cannot write %s: out of memory", path);

    /* The counter keeps names unique within the process, the pid between
     * processes; O_EXCL settles any remaining clash by trying another name. */
    static atomic_uint counter;
    int fd = -1, saved_errno = EEXIST;
    for (int attempt = 0; attempt < 100 && fd < 0 && saved_errno == EEXIST; attempt++) {
        struct timespec ts;
        timespec_get(&ts, TIME_UTC);
        unsigned n = atomic_fetch_add(&counter, 1u) ^ (unsigned)ts.tv_nsec;
        int len = snprintf(file->tmp_path, size, "%s.tmp.%ld.%u", path, (long)getpid(), n);
        if (len < 0 || (size_t)len >= size) {
            saved_errno = ENAMETOOLONG;
            break;
        }
        fd = open(file->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        saved_errno = fd < 0 ? errno : 0;
    }
    if (fd >= 0) {
        file->stream = fdopen(fd, "wb");
        if (file->stream)
            return FM_OK;
        saved_errno = errno;
        close(fd);
        unlink(file->tmp_path);
    }
    free(file->tmp_path);
    file->tmp_path = NULL;
    return fm_fail(err, FM_ERR_IO, "cannot write %s: cannot create a temporary file beside it: %s", path,
                   strerror(saved_errno));
}

int fm_atomic_write(fm_atomic_file *file, const void *data, size_t size)
{
    if (size == 0)
        return 1;
    errno = 0;
    if (fwrite(data, 1, size, file->stream) == size)
        return 1;
    if (!file->write_errno)
        file->write_errno = errno ? errno : EIO;
    return 0;
}

void fm_atomic_abort(fm_atomic_file *file)
{
    if (file->stream)
        fclose(file->stream);
    if (file->tmp_path)
        unlink(file->tmp_path);
    free(file->tmp_path);
    file->stream = NULL;
    file->tmp_path = NULL;
}

/* Make a rename in the directory of `path` durable. The file is complete
 * whether this works or not, so failures are not reported. */
static void sync_directory(const char *path)
{
    char *dir = fm_strdup(path);
    if (!dir)
        return;
    char *slash = strrchr(dir, '/');
    const char *dir_path = ".";
    if (slash) {
        slash[slash == dir ? 1 : 0] = '\0';
        dir_path = dir;
    }
    int fd = open(dir_path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

fm_status fm_atomic_commit(fm_atomic_file *file, fm_error *err)
{
    /* The reason as an errno value, taken at once, since later calls may change
     * errno; a sticky stream error without a known errno gets a generic reason. */
    int error = file->write_errno;
    int failed = error != 0 || ferror(file->stream);
    if (!failed && (fflush(file->stream) != 0 || fsync(fileno(file->stream)) != 0))
        failed = 1, error = errno;
    if (fclose(file->stream) != 0 && !failed)
        failed = 1, error = errno;
    file->stream = NULL;
    if (!failed && rename(file->tmp_path, file->path) != 0)
        failed = 1, error = errno;
    if (failed) {
        fm_status status = fm_fail(err, FM_ERR_IO, "cannot write %s: %s", file->path,
                                   error ? strerror(error) : "write error (is the disk full?)");
        fm_atomic_abort(file);
        return status;
    }
    free(file->tmp_path);
    file->tmp_path = NULL;
    sync_directory(file->path);
    return FM_OK;
}
