#include "test_support.h"

#include <stdio.h>
#include <string.h>

const char *fm_test_tmp_path(const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", FATHOM_TEST_TMP_DIR, name);
    return path;
}

void fm_test_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        fail_msg("cannot create %s", path);
    if (size && fwrite(data, 1, size, f) != size)
        fail_msg("cannot write %s", path);
    if (fclose(f) != 0)
        fail_msg("cannot close %s", path);
}

void fm_test_write_text(const char *path, const char *text) { fm_test_write_file(path, text, strlen(text)); }

int fm_test_contains(const char *haystack, const char *needle)
{
    return haystack && needle && strstr(haystack, needle) != NULL;
}

#include <stdlib.h> /* for the helpers below, appended after the originals */

char *fm_test_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    size_t capacity = 4096, used = 0;
    char *buf = malloc(capacity);
    if (!buf)
        fail_msg("out of memory reading %s", path);
    for (;;) {
        if (capacity - used < 2) {
            capacity *= 2;
            buf = realloc(buf, capacity);
            if (!buf)
                fail_msg("out of memory reading %s", path);
        }
        size_t got = fread(buf + used, 1, capacity - used - 1, f);
        used += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[used] = '\0';
    if (size)
        *size = used;
    return buf;
}

int fm_test_file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    fclose(f);
    return 1;
}
