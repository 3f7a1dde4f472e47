/* NPY: fm_npy_read_matrix and fm_npy_read. */
#include "fathom.h"
#include "fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(data, size, ".npy");
    if (!path)
        return 0;
    fm_error err;
    float *matrix = NULL;
    size_t rows = 0;
    int cols = 0;
    if (fm_npy_read_matrix(path, &matrix, &rows, &cols, &err) == FM_OK && rows > 0 && cols > 0) {
        /* Touch every value: the reader promised rows x cols floats. */
        volatile float sum = 0.0f;
        for (size_t i = 0; i < rows * (size_t)cols; i++)
            sum += matrix[i];
        (void)sum;
    }
    free(matrix);
    fm_read_options opts = {NULL, "0", 0};
    fm_dataset *ds = NULL;
    fm_npy_read(path, &opts, &ds, &err);
    fm_dataset_free(ds);
    return 0;
}
