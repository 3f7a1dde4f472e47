/* The report's maps: truth, prediction and residual of one depth or time
 * slice of the NetCDF file that `fathom predict --out PRED.nc` writes.
 * That file holds NAME_prediction and NAME_residual (prediction - truth) on
 * the data's grid, so the truth is prediction - residual and no second file
 * is needed. */
#include "report_internal.h"

#include "core/internal.h"
#include "io/io_internal.h"

#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char PRED_SUFFIX[] = "_prediction";

/* The file's only *_prediction variable. */
static fm_status find_prediction(const char *path, char *name, size_t size, fm_error *err)
{
    int ncid;
    fm_status st = fm_netcdf_open(path, &ncid, err);
    if (st != FM_OK) {
        char why[sizeof err->message];
        snprintf(why, sizeof why, "%s", err ? err->message : "");
        return fm_fail(err, st, "--map: %s", why);
    }
    int nvars = 0, found = 0;
    char all[512] = "";
    size_t used = 0;
    nc_inq_nvars(ncid, &nvars);
    for (int v = 0; v < nvars; v++) {
        char var[NC_MAX_NAME + 1];
        if (nc_inq_varname(ncid, v, var) != NC_NOERR)
            continue;
        size_t len = strlen(var);
        if (used + len + 3 < sizeof all) {
            snprintf(all + used, sizeof all - used, "%s%s", used ? ", " : "", var);
            used += len + (used ? 2 : 0);
        }
        size_t n = strlen(var);
        if (n > sizeof PRED_SUFFIX - 1 && !strcmp(var + n - (sizeof PRED_SUFFIX - 1), PRED_SUFFIX)) {
            if (!found++ && n < size)
                memcpy(name, var, n + 1);
        }
    }
    nc_close(ncid);
    if (found == 1)
        return FM_OK;
    if (!found)
        return fm_fail(err, FM_ERR_ARG,
                       "--map %s: no NAME_prediction variable (write the file with fathom predict --data GRID.nc "
                       "--out PRED.nc); the variables are %s",
                       path, all[0] ? all : "(none)");
    return fm_fail(err, FM_ERR_ARG, "--map %s: %d prediction variables; name one (the variables are %s)", path, found,
                   all);
}

fm_status report_maps_load(const fm_report_maps *opt, report_maps_data *m, fm_error *err)
{
    memset(m, 0, sizeof *m);
    if (!opt->path)
        return fm_fail(err, FM_ERR_ARG, "fm_report_write_maps: no map file");
    fm_status st;
    if (opt->variable)
        snprintf(m->pred_name, sizeof m->pred_name, "%s", opt->variable);
    else if ((st = find_prediction(opt->path, m->pred_name, sizeof m->pred_name, err)) != FM_OK)
        return st;
    size_t n = strlen(m->pred_name);
    if (n <= sizeof PRED_SUFFIX - 1 || strcmp(m->pred_name + n - (sizeof PRED_SUFFIX - 1), PRED_SUFFIX) != 0)
        return fm_fail(err, FM_ERR_ARG, "--map %s: %s is not a NAME_prediction variable of fathom predict", opt->path,
                       m->pred_name);
    snprintf(m->name, sizeof m->name, "%.*s", (int)(n - (sizeof PRED_SUFFIX - 1)), m->pred_name);
    char resid_name[sizeof m->name + 16];
    snprintf(resid_name, sizeof resid_name, "%s_residual", m->name);
    if ((st = fm_grid_slice_read(opt->path, m->pred_name, opt->slice, &m->pred, err)) != FM_OK)
        return st;
    st = fm_grid_slice_read(opt->path, resid_name, opt->slice, &m->resid, err);
    if (st != FM_OK) {
        fm_grid_slice_free(&m->pred);
        if (st == FM_ERR_ARG && opt->slice < m->pred.n_slices)
            return fm_fail(err, FM_ERR_ARG,
                           "--map %s: no %s beside %s: predict on data that holds the target, so that the truth is "
                           "known",
                           opt->path, resid_name, m->pred_name);
        return st;
    }
    if (m->resid.nlon != m->pred.nlon || m->resid.nlat != m->pred.nlat) {
        report_maps_free(m);
        return fm_fail(err, FM_ERR_FORMAT, "--map %s: %s and %s are on different grids", opt->path, m->pred_name,
                       resid_name);
    }
    size_t cells = (size_t)m->pred.nlon * (size_t)m->pred.nlat;
    m->truth = fm_alloc_array(cells, sizeof *m->truth);
    if (!m->truth) {
        report_maps_free(m);
        return fm_fail(err, FM_ERR_NOMEM, "out of memory for a %zu-cell map", cells);
    }
    for (size_t i = 0; i < cells; i++) {
        double p = m->pred.values[i], r = m->resid.values[i];
        m->truth[i] = isfinite(p) && isfinite(r) ? p - r : NAN;
    }
    m->path = opt->path;
    m->slice = opt->slice;
    return FM_OK;
}

void report_maps_free(report_maps_data *m)
{
    fm_grid_slice_free(&m->pred);
    fm_grid_slice_free(&m->resid);
    free(m->truth);
    m->truth = NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* " (deg C)" or "". */
static void with_units(char *buf, size_t size, const char *what, const char *units)
{
    if (units[0])
        snprintf(buf, size, "%s (%s)", what, units);
    else
        snprintf(buf, size, "%s", what);
}

void report_section_maps(sbuf *o, const report_maps_data *m, int width)
{
    const fm_grid_slice *p = &m->pred;
    size_t cells = (size_t)p->nlon * (size_t)p->nlat;
    /* Ranges: truth and prediction share one; the residual's is symmetric
     * about 0, out to the 99th percentile of |residual| so that a few
     * outliers do not wash the map out. */
    double lo = INFINITY, hi = -INFINITY, sum = 0.0, sum2 = 0.0;
    size_t n = 0;
    double *abs_r = fm_alloc_array(cells ? cells : 1, sizeof *abs_r);
    if (!abs_r) {
        o->failed = 1;
        return;
    }
    for (size_t i = 0; i < cells; i++) {
        double t = m->truth[i], v = p->values[i], r = m->resid.values[i];
        if (isfinite(t)) {
            lo = fmin(lo, t);
            hi = fmax(hi, t);
        }
        if (isfinite(v)) {
            lo = fmin(lo, v);
            hi = fmax(hi, v);
        }
        if (isfinite(r)) {
            abs_r[n++] = fabs(r);
            sum += r;
            sum2 += r * r;
        }
    }
    double lim = 1.0;
    if (n) {
        qsort(abs_r, n, sizeof *abs_r, cmp_double);
        lim = abs_r[(size_t)floor(0.99 * (double)(n - 1))];
        if (!(lim > 0.0))
            lim = abs_r[n - 1] > 0.0 ? abs_r[n - 1] : 1.0;
    }
    double max_abs = n ? abs_r[n - 1] : NAN;
    free(abs_r);
    if (!(lo <= hi)) {
        lo = 0.0;
        hi = 1.0;
    }

    char where[512] = "", where_long[1024] = "", unit_note[512], title[1200], label[600];
    if (p->slice_dim[0]) {
        char value[64];
        snprintf(value, sizeof value, "%.6g", p->slice_value); /* 5000, not 5e+03: a coordinate */
        /* "depth 30 METERS (ZAXLEVITR 3 of 0..19)": what it is, then the file's own name and index. */
        snprintf(where, sizeof where, "%s %s%s%s", p->slice_axis[0] ? p->slice_axis : p->slice_dim, value,
                 p->slice_units[0] ? " " : "", p->slice_units);
        snprintf(where_long, sizeof where_long, "%s (%s index %zu of 0–%zu)", where, p->slice_dim, m->slice,
                 p->n_slices - 1);
    }
    sbuf_puts(o, "<section id=\"maps\"><h2>Maps: ");
    sbuf_escape(o, m->name);
    if (where_long[0]) {
        sbuf_puts(o, " at ");
        sbuf_escape(o, where_long);
    }
    sbuf_puts(o, "</h2><p class=\"note\">From ");
    sbuf_escape(o, m->path);
    sbuf_puts(o, " (");
    sbuf_escape(o, m->pred_name);
    sbuf_puts(o, "; truth = prediction − residual). Truth and prediction share one colour scale; the residual "
                 "(prediction − truth) is blue where the model is too low and red where it is too high, on a scale "
                 "symmetric about 0 out to the 99th percentile of |residual| (larger values take the end colours). "
                 "Grey: land or cells without data. Blocks of cells are averaged where the grid is finer than "
                 "360 × 180.</p>\n");
    with_units(unit_note, sizeof unit_note, m->name, p->units);
    int panel = (width - 10) / 2;
    static const char *const WHAT[3] = {"truth", "prediction", "residual (prediction − truth)"};
    const double *values[3] = {m->truth, p->values, m->resid.values};
    sbuf_puts(o, "<div class=\"row\">");
    for (int k = 0; k < 3; k++) {
        if (k == 2)
            sbuf_puts(o, "</div><div class=\"row\">");
        if (where[0])
            snprintf(title, sizeof title, "%s of %s, %s", WHAT[k], m->name, where);
        else
            snprintf(title, sizeof title, "%s of %s", WHAT[k], m->name);
        if (k == 2)
            with_units(label, sizeof label, "prediction − truth", p->units);
        else
            snprintf(label, sizeof label, "%s", unit_note);
        svg_map map = {title,  p->nlat, p->nlon, values[k], p->lon, p->lat, k == 2 ? -lim : lo, k == 2 ? lim : hi,
                       k == 2, label,   panel};
        svg_map_render(o, &map);
    }
    /* Numbers of the slice beside the residual map. */
    sbuf_puts(o, "<div class=\"card\"><h3>This slice</h3><table>");
    char text[160], num[64];
    snprintf(text, sizeof text, "%zu of %zu", n, cells);
    sbuf_printf(o, "<tr><th>cells with a prediction</th><td>%s</td></tr>", text);
    const char *u = p->units[0] ? p->units : "";
    if (n) {
        svg_format_number(sqrt(sum2 / (double)n), num, sizeof num);
        sbuf_printf(o, "<tr><th>RMSE</th><td>%s ", num);
        sbuf_escape(o, u);
        svg_format_number(sum / (double)n, num, sizeof num);
        sbuf_printf(o, "</td></tr><tr><th>mean residual (bias)</th><td>%s ", num);
        sbuf_escape(o, u);
        svg_format_number(max_abs, num, sizeof num);
        sbuf_printf(o, "</td></tr><tr><th>largest |residual|</th><td>%s ", num);
        sbuf_escape(o, u);
        svg_format_number(lim, num, sizeof num);
        sbuf_printf(o, "</td></tr><tr><th>residual colour scale</th><td>±%s ", num);
        sbuf_escape(o, u);
        sbuf_puts(o, "</td></tr>");
    }
    svg_format_number(lo, num, sizeof num);
    sbuf_printf(o, "<tr><th>truth and prediction range</th><td>%s to ", num);
    svg_format_number(hi, num, sizeof num);
    sbuf_printf(o, "%s ", num);
    sbuf_escape(o, u);
    sbuf_puts(o, "</td></tr>");
    if (p->long_name[0]) {
        sbuf_puts(o, "<tr><th>variable</th><td>");
        sbuf_escape(o, p->long_name);
        sbuf_puts(o, "</td></tr>");
    }
    sbuf_puts(o, "</table></div></div></section>\n");
}
