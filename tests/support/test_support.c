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
