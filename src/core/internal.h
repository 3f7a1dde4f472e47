/* Internal helpers shared by the library's sources; not part of the public API. */
#ifndef FATHOM_INTERNAL_H
#define FATHOM_INTERNAL_H

#include "fathom.h"

#include <stdarg.h>
#include <stddef.h>

#if defined(__GNUC__)
#define FM_PRINTF(fmt_index, args_index) __attribute__((format(printf, fmt_index, args_index)))
#else
#define FM_PRINTF(fmt_index, args_index)
#endif

/* The library's short name for fm_error_set: `return fm_fail(err, FM_ERR_ARG, "...")`.
 * It evaluates to `status` itself rather than to fm_error_set's result, so that
 * readers and the static analyzer (which does not see fm_error_set's body in
 * error.c) know that `return fm_fail(err, FM_ERR_IO, ...)` returns FM_ERR_IO and
 * that a caller's `if (status != FM_OK) return status;` covers it. `status` is
 * evaluated twice: pass a constant or a variable, not an expression with side
 * effects or one that reads errno. fm_fail_status is a function rather than a
 * bare `(status)` so that a statement `fm_fail(...);` draws no unused-value
 * warning; it is small enough for the analyzer to follow at any call depth. */
static inline fm_status fm_fail_status(fm_status status)
{
    return status;
}
#define fm_fail(err, status, ...) (fm_error_set((err), (status), __VA_ARGS__), fm_fail_status(status))

/* Mark err as success. */
void fm_error_clear(fm_error *err);

/* a * b without overflow; returns 0 and leaves *out untouched on overflow. */
int fm_mul_size(size_t a, size_t b, size_t *out);

/* malloc of count elements of size bytes, NULL on overflow or failure. */
void *fm_alloc_array(size_t count, size_t size);
void *fm_calloc_array(size_t count, size_t size);

/* Tests only: the nth call of fm_alloc_array or fm_calloc_array from now on,
 * in the calling thread, returns NULL as if memory had run out (0: none).
 * Per thread, so that a test can fail one allocation of one of the threads
 * that stand in for the processes of a collective (tests/test_collective.c).
 * Returns the countdown it replaces: above 0, the last one never fired. */
long fm_test_fail_allocation(long nth);

/* strdup that the C11 standard library lacks. */
char *fm_strdup(const char *s);

/* x as the shortest of %.15g, %.16g and %.17g that strtod reads back as exactly
 * x ("0.2", not "0.20000000000000001"); cut short like snprintf when buf has
 * fewer than 25 bytes. For the parameters of activations, initialisers and losses
 * in model files and messages. */
void fm_format_double(char *buf, size_t size, double x);

/* Offset of the first byte that breaks UTF-8 (overlong forms, surrogates and code
 * points above U+10FFFF included), or `size` when the text is valid. core/utf8.c */
size_t fm_utf8_invalid_at(const unsigned char *s, size_t size);

/* 1 when the NUL-terminated s is valid UTF-8. */
int fm_utf8_valid(const char *s);

/* Monotonic wall-clock seconds. */
double fm_now_seconds(void);

#endif
