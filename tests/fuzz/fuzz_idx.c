/* IDX (optionally gzip-compressed): fm_idx_read_matrix, scaled and not. */
#include "fathom.h"
#include "fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int scale = size > 0 && (data[size - 1] & 1);
    const char *path = fuzz_write(data, size, "-ubyte");
    if (!path)
        return 0;
    fm_error err;
    float *matrix = NULL;
    size_t rows = 0;
    int cols = 0;
    if (fm_idx_read_matrix(path, scale, &matrix, &rows, &cols, &err) == FM_OK && rows > 0 && cols > 0) {
        volatile float sum = 0.0f;
        for (size_t i = 0; i < rows * (size_t)cols; i++)
            sum += matrix[i];
        (void)sum;
    }
    free(matrix);
    return 0;
}
