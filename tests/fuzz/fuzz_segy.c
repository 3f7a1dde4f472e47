/* SEG-Y: fm_segy_read_traces, then fm_data_read on a .sgy file with trace
 * windows, time, trace number and trace-header fields as inputs (the second
 * pass over the trace headers). */
#include "fathom.h"
#include "fuzz_support.h"

#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(data, size, ".sgy");
    if (!path)
        return 0;
    fm_error err;
    float *traces = NULL;
    size_t n_traces = 0;
    int n_samples = 0, interval_us = 0;
    if (fm_segy_read_traces(path, &traces, &n_traces, &n_samples, &interval_us, &err) == FM_OK) {
        if (!traces || n_traces == 0 || n_samples <= 0 || interval_us < 0) /* 0: no header gives one */
            abort();
        for (size_t i = 0; i < n_traces * (size_t)n_samples; i++)
            if (!isfinite(traces[i]))
                abort();
    }
    free(traces);
    static const fm_read_options specs[] = {{NULL, NULL, 0}, {"window:3,time,trace,cdp_x,iline,offset", NULL, 0}};
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
        fm_dataset *ds = NULL;
        if (fm_data_read(path, NULL, &specs[s], &ds, &err) == FM_OK) {
            if (!ds || ds->rows != n_traces * (size_t)n_samples || ds->n_in <= 0 || !ds->x)
                abort();
            volatile float sum = 0.0f;
            for (size_t i = 0; i < ds->rows * (size_t)ds->n_in; i++)
                sum += ds->x[i];
            (void)sum;
        }
        fm_dataset_free(ds);
    }
    return 0;
}
