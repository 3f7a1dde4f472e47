/* Runs a harness's LLVMFuzzerTestOneInput on every file of the directories
 * given, for builds without libFuzzer: the committed seed corpus and every
 * input that once crashed a harness (tests/fuzz/regressions/) run as ordinary
 * CTest tests, under the sanitizers in the ASan build. */
#include "fuzz_support.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    size_t cap = 1 << 16, size = 0;
    unsigned char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + size, 1, cap - size, f)) > 0) {
        size += got;
        if (size == cap) {
            unsigned char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf)
        return 1;
    LLVMFuzzerTestOneInput(buf, size);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int files = 0, failures = 0;
    for (int a = 1; a < argc; a++) {
        DIR *dir = opendir(argv[a]);
        if (!dir)
            continue; /* a harness may have no regressions yet */
        struct dirent *entry;
        while ((entry = readdir(dir)) != NULL) {
            if (entry->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[a], entry->d_name);
            struct stat st;
            if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
                continue;
            failures += run_file(path);
            files++;
        }
        closedir(dir);
    }
    remove(fuzz_path(".safetensors"));
    remove(fuzz_path(".csv"));
    remove(fuzz_path(".npy"));
    remove(fuzz_path("-ubyte"));
    remove(fuzz_path(".nc"));
    remove(fuzz_path(".sgy"));
    printf("%d inputs replayed\n", files);
    return failures != 0 || files == 0;
}
