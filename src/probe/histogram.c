/* Histogram of a layer's pre-activations z from the last forward pass: the
 * distribution behind the variance columns, so that saturation (mass piled up
 * beyond |z| ~ 3 for tanh) and dead ReLUs (everything below 0) can be seen. */
#include "fathom.h"

#include "nn/net_internal.h"

#include <math.h>
#include <string.h>

/* The smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k that is >= v (v > 0). */
static double nice_ceiling(double v)
{
    double decade = pow(10.0, floor(log10(v)));
    static const double steps[] = {1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (steps[i] * decade >= v * (1.0 - 1e-12))
            return steps[i] * decade;
    return 10.0 * decade;
}

fm_status fm_z_histogram(const fm_net *net, int layer, double range, int bins, uint64_t *counts,
                         fm_histogram *info, fm_error *err)
{
    if (!net || !counts || !info)
        return fm_error_set(err, FM_ERR_ARG, "fm_z_histogram: net, counts and info must not be NULL");
    if (layer < 0 || layer >= fm_net_n_layers(net))
        return fm_error_set(err, FM_ERR_ARG, "fm_z_histogram: layer %d outside 0..%d", layer,
                            fm_net_n_layers(net) - 1);
    if (bins < 1 || bins > FM_HISTOGRAM_MAX_BINS)
        return fm_error_set(err, FM_ERR_ARG, "fm_z_histogram: bins %d outside 1..%d", bins, FM_HISTOGRAM_MAX_BINS);
    if (!(range <= 0.0) && !isfinite(range))
        return fm_error_set(err, FM_ERR_ARG, "fm_z_histogram: range must be finite");
    memset(counts, 0, (size_t)bins * sizeof *counts);
    memset(info, 0, sizeof *info);
    size_t n = (size_t)fm_net_batch(net) * (size_t)fm_net_layer(net, layer)->n_out;
    const float *z = n ? fm_net_z(net, layer) : NULL;
    if (range <= 0.0) {
        /* Four RMS cover a Gaussian and leave room for heavy tails; never wider
         * than the largest value, so a narrow distribution is not one bar. */
        double sq = 0.0, max_abs = 0.0;
        size_t finite = 0;
        for (size_t i = 0; i < n; i++) {
            double v = z[i];
            if (!isfinite(v))
                continue;
            sq += v * v;
            finite++;
            if (fabs(v) > max_abs)
                max_abs = fabs(v);
        }
        double wanted = finite ? 4.0 * sqrt(sq / (double)finite) : 0.0;
        if (wanted > max_abs)
            wanted = max_abs;
        range = wanted > 1e-30 && isfinite(wanted) ? nice_ceiling(wanted) : 1.0;
    }
    info->range = range;
    info->bins = bins;
    double scale = bins / (2.0 * range);
    for (size_t i = 0; i < n; i++) {
        double v = z[i];
        info->total++;
        if (!isfinite(v)) {
            info->nonfinite++;
        } else if (v < -range) {
            info->below++;
        } else if (v > range) {
            info->above++;
        } else {
            int b = (int)((v + range) * scale);
            counts[b < bins ? b : bins - 1]++; /* v == range goes into the last bin */
        }
    }
    return FM_OK;
}
