/* IDX reader: plain and gzip files written here, every malformed header, and
 * the real Fashion-MNIST test labels. */
#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

/* An IDX file of unsigned bytes: header for `ndim` dims, then `data`. */
static size_t idx_bytes(unsigned char *out, int type, int ndim, const uint32_t *dims,
                        const unsigned char *data, size_t size)
{
    size_t n = 0;
    out[n++] = 0;
    out[n++] = 0;
    out[n++] = (unsigned char)type;
    out[n++] = (unsigned char)ndim;
    for (int d = 0; d < ndim; d++) {
        out[n++] = (unsigned char)(dims[d] >> 24);
        out[n++] = (unsigned char)(dims[d] >> 16);
        out[n++] = (unsigned char)(dims[d] >> 8);
        out[n++] = (unsigned char)dims[d];
    }
    memcpy(out + n, data, size);
    return n + size;
}

static void write_gz(const char *path, const void *data, size_t size)
{
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, data, (unsigned)size), (int)size);
    assert_int_equal(gzclose(gz), Z_OK);
}

static void test_plain_and_gzip_images(void **state)
{
    (void)state;
    /* Two 2x3 "images". */
    const uint32_t dims[3] = {2, 2, 3};
    const unsigned char pixels[12] = {0, 51, 102, 153, 204, 255, 1, 2, 3, 4, 5, 6};
    unsigned char file[64];
    size_t size = idx_bytes(file, 0x08, 3, dims, pixels, sizeof pixels);

    char plain[4096], packed[4096];
    snprintf(plain, sizeof plain, "%s", fm_test_tmp_path("images.idx"));
    snprintf(packed, sizeof packed, "%s", fm_test_tmp_path("images-idx3-ubyte.gz"));
    fm_test_write_file(plain, file, size);
    write_gz(packed, file, size);

    const char *paths[2] = {plain, packed};
    for (int p = 0; p < 2; p++) {
        fm_error err = {0};
        float *m = NULL;
        size_t rows = 0;
        int cols = 0;
        FM_ASSERT_OK(fm_idx_read_matrix(paths[p], 0, &m, &rows, &cols, &err), &err);
        assert_int_equal(rows, 2);
        assert_int_equal(cols, 6);
        for (int i = 0; i < 12; i++)
            assert_true(m[i] == (float)pixels[i]);
        free(m);

        FM_ASSERT_OK(fm_idx_read_matrix(paths[p], 1, &m, &rows, &cols, &err), &err);
        assert_true(m[0] == 0.0f && m[1] == 0.2f && m[2] == 0.4f && m[5] == 1.0f);
        assert_true(m[6] == 1.0f / 255.0f);
        free(m);
    }
}

static void test_label_file_is_one_column(void **state)
{
    (void)state;
    const uint32_t dims[1] = {5};
    const unsigned char labels[5] = {9, 0, 3, 3, 7};
    unsigned char file[32];
    size_t size = idx_bytes(file, 0x08, 1, dims, labels, sizeof labels);
    char path[4096];
    snprintf(path, sizeof path, "%s", fm_test_tmp_path("labels-idx1-ubyte"));
    fm_test_write_file(path, file, size);
    fm_error err = {0};
    float *m = NULL;
    size_t rows;
    int cols;
    FM_ASSERT_OK(fm_idx_read_matrix(path, 0, &m, &rows, &cols, &err), &err);
    assert_int_equal(rows, 5);
    assert_int_equal(cols, 1);
    assert_true(m[0] == 9.0f && m[4] == 7.0f);
    free(m);
}

static void test_malformed_files(void **state)
{
    (void)state;
    const uint32_t dims[2] = {2, 3};
    const unsigned char data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    char path[4096];
    snprintf(path, sizeof path, "%s", fm_test_tmp_path("broken.idx"));
    unsigned char file[128];
    fm_error err = {0};
    float *m = NULL;
    size_t rows;
    int cols;

    size_t size = idx_bytes(file, 0x08, 2, dims, data, 5);
    fm_test_write_file(path, file, size);
    FM_ASSERT_FAILS(fm_idx_read_matrix(path, 1, &m, &rows, &cols, &err), &err, FM_ERR_FORMAT,
                    "broken.idx: truncated: the header announces 6 data bytes but only 5 follow");
    size = idx_bytes(file, 0x08, 2, dims, data, 8);
    fm_test_write_file(path, file, size);
    FM_ASSERT_FAILS(fm_idx_read_matrix(path, 1, &m, &rows, &cols, &err), &err, FM_ERR_FORMAT,
                    "broken.idx: extra bytes after the 6 data bytes");
    size = idx_bytes(file, 0x0D, 2, dims, data, 6);
    fm_test_write_file(path, file, size);
    FM_ASSERT_FAILS(fm_idx_read_matrix(path, 1, &m, &rows, &cols, &err), &err, FM_ERR_FORMAT,
                    "IDX type 0x0D (float) is not supported");
    size = idx_bytes(file, 0x08, 0, dims, data, 6);
    fm_test_write_file(path, file, size);
    FM_ASSERT_FAILS(fm_idx_read_matrix(path, 1, &m, &rows, &cols, &err), &err, FM_ERR_FORMAT,
                    "zero dimensions");
    const uint32_t zero[2] = {0, 3};
    size = idx_bytes(file, 0x08, 2, zero, data, 0);
    fm_test_write_file(path, file, size);
    FM_ASSERT_FAILS(fm_idx_read_matrix(path, 1, &m, &rows, &cols, &err), &err, FM_ERR_FORMAT,
                    "dimension 0 is zero");
    const uint32_t negative[2] = {2, 0x80000000u};
    size = idx_bytes(file, 0x08, 2, negative, data, 0);
    fm_test_write_file(path, file, size);
    FM_ASSERT_FAILS(fm_idx_read_matrix(path, 1, &m, &rows, &cols, &err), &err, FM_ERR_FORMAT,
                    "dimension 1 is negative");
    /* A header announcing 2^31 x 2^31 x 2^31 values must fail without a
     * huge allocation. */
    const uint32_t huge[3] = {0x7fffffff, 0x7fffffff, 0x7fffffff};
    size = idx_bytes(file, 0x08, 3, huge, data, 8);
    fm_test_write_file(path, file, size);
    FM_ASSERT_FAILS(fm_idx_read_matrix(path, 1, &m, &rows, &cols, &err), &err, FM_ERR_FORMAT,
                    "not supported");
    const uint32_t big[2] = {0x7fffffff, 0x7fffffff};
    size = idx_bytes(file, 0x08, 2, big, data, 8);
    fm_test_write_file(path, file, size);
    FM_ASSERT_FAILS(fm_idx_read_matrix(path, 1, &m, &rows, &cols, &err), &err, FM_ERR_FORMAT,
                    "announces 4611686014132420609 data bytes but only 8 follow");
    /* The header itself cut short. */
    size = idx_bytes(file, 0x08, 2, dims, data, 0);
    fm_test_write_file(path, file, 6);
    FM_ASSERT_FAILS(fm_idx_read_matrix(path, 1, &m, &rows, &cols, &err), &err, FM_ERR_FORMAT,
                    "truncated IDX header (2 dimensions announced)");
    fm_test_write_file(path, file, 3);
    FM_ASSERT_FAILS(fm_idx_read_matrix(path, 1, &m, &rows, &cols, &err), &err, FM_ERR_FORMAT,
                    "truncated IDX header");
    fm_test_write_text(path, "P5\n28 28\n255\n");
    FM_ASSERT_FAILS(fm_idx_read_matrix(path, 1, &m, &rows, &cols, &err), &err, FM_ERR_FORMAT,
                    "not an IDX file (it starts with 0x50 0x35");
    FM_ASSERT_FAILS(fm_idx_read_matrix(fm_test_tmp_path("absent-ubyte.gz"), 1, &m, &rows, &cols, &err), &err,
                    FM_ERR_IO, "absent-ubyte.gz");
    assert_null(m);
}

static void test_broken_gzip(void **state)
{
    (void)state;
    const uint32_t dims[2] = {100, 100};
    static unsigned char pixels[10000];
    for (int i = 0; i < 10000; i++)
        pixels[i] = (unsigned char)(i * 7);
    static unsigned char file[10100];
    size_t size = idx_bytes(file, 0x08, 2, dims, pixels, sizeof pixels);
    char path[4096];
    snprintf(path, sizeof path, "%s", fm_test_tmp_path("cut-idx3-ubyte.gz"));
    write_gz(path, file, size);

    size_t gz_size;
    char *gz = fm_test_read_file(path, &gz_size);
    fm_error err = {0};
    float *m = NULL;
    size_t rows;
    int cols;

    /* A gzip stream cut in the middle. */
    fm_test_write_file(path, gz, gz_size / 2);
    FM_ASSERT_FAILS(fm_idx_read_matrix(path, 1, &m, &rows, &cols, &err), &err, FM_ERR_FORMAT,
                    "cut-idx3-ubyte.gz");
    assert_true(fm_test_contains(err.message, "the compressed stream ends after"));

    /* Garbage inside the compressed data. */
    for (size_t i = 20; i < gz_size - 20; i++)
        gz[i] = (char)(gz[i] ^ 0x5a);
    fm_test_write_file(path, gz, gz_size);
    FM_ASSERT_FAILS(fm_idx_read_matrix(path, 1, &m, &rows, &cols, &err), &err, FM_ERR_FORMAT,
                    "cut-idx3-ubyte.gz: cannot decompress: ");
    assert_null(m);
    free(gz);
}

static void test_fashion_mnist_test_labels(void **state)
{
    (void)state;
    const char *path = FASHION_DIR "/t10k-labels-idx1-ubyte.gz";
    if (!fm_test_file_exists(path))
        fail_msg("%s is missing: install the Debian package dataset-fashion-mnist", path);
    fm_error err = {0};
    float *m = NULL;
    size_t rows = 0;
    int cols = 0;
    FM_ASSERT_OK(fm_idx_read_matrix(path, 0, &m, &rows, &cols, &err), &err);
    assert_int_equal(rows, 10000);
    assert_int_equal(cols, 1);
    int counts[10] = {0};
    for (size_t i = 0; i < rows; i++) {
        assert_true(m[i] >= 0.0f && m[i] <= 9.0f && m[i] == (float)(int)m[i]);
        counts[(int)m[i]]++;
    }
    for (int c = 0; c < 10; c++)
        assert_int_equal(counts[c], 1000);
    free(m);
}

static void test_fashion_mnist_test_images(void **state)
{
    (void)state;
    const char *path = FASHION_DIR "/t10k-images-idx3-ubyte.gz";
    if (!fm_test_file_exists(path))
        fail_msg("%s is missing: install the Debian package dataset-fashion-mnist", path);
    fm_error err = {0};
    float *m = NULL;
    size_t rows = 0;
    int cols = 0;
    FM_ASSERT_OK(fm_idx_read_matrix(path, 1, &m, &rows, &cols, &err), &err);
    assert_int_equal(rows, 10000);
    assert_int_equal(cols, 784);
    float lo = 1, hi = 0;
    for (size_t i = 0; i < rows * 784; i++) {
        lo = m[i] < lo ? m[i] : lo;
        hi = m[i] > hi ? m[i] : hi;
    }
    assert_true(lo == 0.0f && hi == 1.0f);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_gzip_images),     cmocka_unit_test(test_label_file_is_one_column),
        cmocka_unit_test(test_malformed_files),           cmocka_unit_test(test_broken_gzip),
        cmocka_unit_test(test_fashion_mnist_test_labels), cmocka_unit_test(test_fashion_mnist_test_images),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
