/* Status codes and error messages: the library reports, the caller decides. */
#include "core/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *fm_status_name(fm_status status)
{
    switch (status) {
    case FM_OK: return "ok";
    case FM_ERR_ARG: return "invalid argument";
    case FM_ERR_NOMEM: return "out of memory";
    case FM_ERR_IO: return "input/output error";
    case FM_ERR_FORMAT: return "malformed file";
    case FM_ERR_NUMERIC: return "numerical failure";
    case FM_ERR_STOPPED: return "stopped";
    }
    return "unknown status";
}

fm_status fm_error_set(fm_error *err, fm_status status, const char *fmt, ...)
{
    if (err && !fmt) {
        /* The status is still the caller's: only the message is missing. */
        err->status = status;
        snprintf(err->message, sizeof err->message, "fm_error_set: no message (fmt is NULL)");
    } else if (err) {
        va_list args;
        va_start(args, fmt);
        err->status = status;
        vsnprintf(err->message, sizeof err->message, fmt, args);
        va_end(args);
    }
    return status;
}

void fm_error_clear(fm_error *err)
{
    if (err) {
        err->status = FM_OK;
        err->message[0] = '\0';
    }
}

int fm_mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > (size_t)-1 / a)
        return 0;
    *out = a * b;
    return 1;
}

/* The countdown of fm_test_fail_allocation: one thread-local counter read per
 * array allocation, none of which is in a training step's loop. */
static _Thread_local long allocations_until_failure = 0;

long fm_test_fail_allocation(long nth)
{
    long left = allocations_until_failure;
    allocations_until_failure = nth > 0 ? nth : 0;
    return left;
}

static int allocation_fails(void) { return allocations_until_failure > 0 && --allocations_until_failure == 0; }

void *fm_alloc_array(size_t count, size_t size)
{
    size_t bytes;
    if (!fm_mul_size(count, size, &bytes) || allocation_fails())
        return NULL;
    return malloc(bytes ? bytes : 1);
}

void *fm_calloc_array(size_t count, size_t size)
{
    if ((count != 0 && size > (size_t)-1 / count) || allocation_fails())
        return NULL;
    return calloc(count ? count : 1, size ? size : 1);
}

char *fm_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    if (copy)
        memcpy(copy, s, n);
    return copy;
}

double fm_now_seconds(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
