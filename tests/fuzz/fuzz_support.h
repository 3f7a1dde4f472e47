/* Shared by the libFuzzer harnesses: the readers take paths, so each input is
 * written to a scratch file first: in $TMPDIR or /tmp, named with the pid so
 * that parallel fuzzing jobs do not collide; or, where FATHOM_FUZZ_SCRATCH
 * names a file prefix (scripts/fuzz.sh gives a relative one), under that
 * prefix alone, so that the path, and with it every message that quotes it,
 * is the same in every run: a run from a fixed seed then explores the same
 * inputs whatever the process id or the checkout's folder. */
#ifndef FATHOM_FUZZ_SUPPORT_H
#define FATHOM_FUZZ_SUPPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Path of this process's scratch file with the given suffix (static buffer). */
static inline const char *fuzz_path(const char *suffix)
{
    static char path[512];
    const char *fixed = getenv("FATHOM_FUZZ_SCRATCH");
    const char *dir = getenv("TMPDIR");
    if (fixed && *fixed)
        snprintf(path, sizeof path, "%s%s", fixed, suffix);
    else
        snprintf(path, sizeof path, "%s/fathom-fuzz-%ld%s", dir && *dir ? dir : "/tmp", (long)getpid(), suffix);
    return path;
}

/* Write the input to the scratch file; returns its path, or NULL. */
static inline const char *fuzz_write(const uint8_t *data, size_t size, const char *suffix)
{
    const char *path = fuzz_path(suffix);
    FILE *f = fopen(path, "wb");
    if (!f)
        return NULL;
    size_t written = size ? fwrite(data, 1, size, f) : 0;
    if (fclose(f) != 0 || written != size)
        return NULL;
    return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
