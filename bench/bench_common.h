/* Clock, memory and order statistics shared by the benchmark programs
 * (bench_train.c, fann_train.c): each peer measures itself the same way. */
#ifndef FATHOM_BENCH_COMMON_H
#define FATHOM_BENCH_COMMON_H

#include <stddef.h>

/* CLOCK_MONOTONIC in seconds. */
double bench_now_s(void);

/* The process's peak resident set so far, in MB (getrusage; Linux reports
 * KiB), -1 if unknown. */
double bench_peak_rss_mb(void);

/* The q-quantile (0..1, nearest rank) of v[0..n-1]; sorts v. 0 for n = 0. */
double bench_quantile(double *v, size_t n, double q);

/* "784,512x4,10": layer widths, WxK standing for K layers of width W, each in
 * 1..max_width, into w[0..max-1]: how many, or -1 for a malformed list. */
int bench_parse_widths(const char *s, int *w, int max, long max_width);

#endif
