/* Small helpers shared by the cmocka tests. */
#ifndef FATHOM_TEST_SUPPORT_H
#define FATHOM_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fathom.h"

/* Path of a scratch file in the build tree: FATHOM_TEST_TMP_DIR/name.
 * Returns a static buffer (valid until the next call). */
const char *fm_test_tmp_path(const char *name);

/* Write `size` bytes to path; fails the test on error. */
void fm_test_write_file(const char *path, const void *data, size_t size);

/* Write a NUL-terminated text to path; fails the test on error. */
void fm_test_write_text(const char *path, const char *text);

/* Assert that a status is FM_OK, printing the error message otherwise. */
#define FM_ASSERT_OK(call, err)                                                            \
    do {                                                                                   \
        fm_status fm_test_status_ = (call);                                                \
        if (fm_test_status_ != FM_OK)                                                      \
            fail_msg("%s failed: %s (%s)", #call, (err)->message,                          \
                     fm_status_name(fm_test_status_));                                     \
    } while (0)

/* Assert that a call fails with `expected` and that its message contains `needle`. */
#define FM_ASSERT_FAILS(call, err, expected, needle)                                       \
    do {                                                                                   \
        fm_status fm_test_status_ = (call);                                                \
        if (fm_test_status_ != (expected))                                                 \
            fail_msg("%s: expected %s, got %s (%s)", #call, fm_status_name(expected),      \
                     fm_status_name(fm_test_status_), (err)->message);                     \
        if (!fm_test_contains((err)->message, (needle)))                                   \
            fail_msg("%s: message \"%s\" does not mention \"%s\"", #call, (err)->message,   \
                     (needle));                                                            \
    } while (0)

int fm_test_contains(const char *haystack, const char *needle);

/* Read a whole file into a malloc'd buffer (NUL-terminated, size bytes
 * before the NUL); fails the test on error. */
char *fm_test_read_file(const char *path, size_t *size);

/* 1 when path can be opened for reading. */
int fm_test_file_exists(const char *path);

#endif
