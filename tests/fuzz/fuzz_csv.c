/* CSV: fm_csv_read with the first byte choosing the column selection. */
#include "fathom.h"
#include "fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const fm_read_options variants[] = {
        {NULL, NULL, 0}, {NULL, "0", 0}, {"0-1", "2", 1}, {"a,b", "c", 0}, {NULL, "y", 1}, {"x", NULL, 0},
    };
    unsigned choice = size ? data[0] % (sizeof variants / sizeof variants[0]) : 0;
    const char *path = fuzz_write(size ? data + 1 : data, size ? size - 1 : 0, ".csv");
    if (!path)
        return 0;
    fm_error err;
    fm_dataset *ds = NULL;
    if (fm_csv_read(path, &variants[choice], &ds, &err) == FM_OK && !ds)
        abort();
    fm_dataset_free(ds);
    return 0;
}
