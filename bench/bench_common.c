/* See bench_common.h. */
#include "bench_common.h"

#include <stdlib.h>

#include <sys/resource.h>
#include <time.h>

double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double bench_peak_rss_mb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1.0;
    return (double)ru.ru_maxrss / 1024.0;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_quantile(double *v, size_t n, double q)
{
    if (n == 0)
        return 0.0;
    qsort(v, n, sizeof *v, compare_double);
    return v[(size_t)(q * (double)(n - 1) + 0.5)];
}

int bench_parse_widths(const char *s, int *w, int max, long max_width)
{
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10), count = 1;
        if (end == p || v <= 0 || v > max_width)
            return -1;
        p = end;
        if (*p == 'x') {
            count = strtol(p + 1, &end, 10);
            if (end == p + 1 || count <= 0)
                return -1;
            p = end;
        }
        if (n + count > max)
            return -1;
        for (long i = 0; i < count; i++)
            w[n++] = (int)v;
        if (*p == ',')
            p++;
        else if (*p)
            return -1;
    }
    return n;
}
