/* Histograms of z (fm_z_histogram), the variance-against-depth plot
 * (fm_plot_depth_svg) and the HTML run report (fm_report_write) on small
 * hand-made run logs: counts add up and land in the right bins, labels are
 * XML-escaped, a diverged run says where, a truncated last line is skipped
 * and malformed logs are refused with the line. The browser test
 * (tests/cli/report_browser.sh) looks at real reports. */
#include "test_support.h"

#include "report/svg.h"

#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    text[n] = 0;
    fclose(f);
    return text;
}

/* 3 inputs -> 5 linear units: z is an affine map of the batch we choose. */
static fm_net *linear_net(void)
{
    fm_layer_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.n_out = 5;
    spec.act = fm_activation_default(FM_ACT_LINEAR);
    spec.init.kind = FM_INIT_GLOROT;
    fm_net *net = NULL;
    fm_error err;
    FM_ASSERT_OK(fm_net_create(3, &spec, 1, 7, &net, &err), &err);
    return net;
}

static void test_histogram_counts(void **state)
{
    (void)state;
    fm_net *net = linear_net();
    fm_error err;
    enum { B = 40 };
    float x[B * 3];
    fm_rng rng;
    fm_rng_seed(&rng, 3);
    for (int i = 0; i < B * 3; i++)
        x[i] = (float)(3.0 * fm_rng_normal(&rng));
    FM_ASSERT_OK(fm_net_forward(net, x, B, 0, &err), &err);
    const float *z = fm_net_z(net, 0);
    uint64_t counts[16];
    fm_histogram h;
    /* A fixed range: every value counted once, in the bin a direct count gives. */
    FM_ASSERT_OK(fm_z_histogram(net, 0, 1.0, 16, counts, &h, &err), &err);
    uint64_t want[16] = {0}, below = 0, above = 0, sum = 0;
    for (int i = 0; i < B * 5; i++) {
        double v = z[i];
        if (v < -1.0)
            below++;
        else if (v > 1.0)
            above++;
        else
            want[v == 1.0 ? 15 : (int)floor((v + 1.0) * 8.0)]++;
    }
    for (int b = 0; b < 16; b++) {
        assert_int_equal(counts[b], want[b]);
        sum += counts[b];
    }
    assert_int_equal(h.below, below);
    assert_int_equal(h.above, above);
    assert_true(below + above > 0); /* the test covers the overflow path */
    assert_int_equal(sum + h.below + h.above + h.nonfinite, (uint64_t)B * 5);
    assert_int_equal(h.total, (uint64_t)B * 5);
    /* Automatic range: a "nice" number no larger than needed to hold 4 RMS. */
    FM_ASSERT_OK(fm_z_histogram(net, 0, 0.0, 16, counts, &h, &err), &err);
    double m = h.range / pow(10.0, floor(log10(h.range)));
    assert_true(fabs(m - 1) < 1e-9 || fabs(m - 1.5) < 1e-9 || fabs(m - 2) < 1e-9 || fabs(m - 2.5) < 1e-9 ||
                fabs(m - 3) < 1e-9 || fabs(m - 4) < 1e-9 || fabs(m - 5) < 1e-9 || fabs(m - 6) < 1e-9 ||
                fabs(m - 8) < 1e-9);
    double sq = 0, max_abs = 0;
    for (int i = 0; i < B * 5; i++) {
        sq += (double)z[i] * z[i];
        max_abs = fmax(max_abs, fabs(z[i]));
    }
    double wanted = fmin(4 * sqrt(sq / (B * 5)), max_abs);
    assert_true(h.range >= wanted && h.range < 1.6 * wanted);
    /* Bad arguments. */
    FM_ASSERT_FAILS(fm_z_histogram(net, 1, 1.0, 16, counts, &h, &err), &err, FM_ERR_ARG, "layer 1");
    FM_ASSERT_FAILS(fm_z_histogram(net, 0, 1.0, 0, counts, &h, &err), &err, FM_ERR_ARG, "bins");
    FM_ASSERT_FAILS(fm_z_histogram(net, 0, INFINITY, 4, counts, &h, &err), &err, FM_ERR_ARG, "finite");
    fm_net_free(net);
}

static void test_plot_depth_escapes(void **state)
{
    (void)state;
    fm_layer_stats stats[2][3];
    memset(stats, 0, sizeof stats);
    for (int c = 0; c < 2; c++)
        for (int l = 0; l < 3; l++) {
            stats[c][l].var_z = pow(10.0, c ? -l : l);
            stats[c][l].var_z_meanfield = stats[c][l].var_z * 1.1;
            stats[c][l].var_delta = 1e-3;
            stats[c][l].var_delta_theory = NAN; /* not drawn, not an error */
        }
    fm_depth_curve curves[2] = {{"tanh & <glorot>", stats[0], 3}, {"relu / he", stats[1], 3}};
    fm_error err;
    const char *path = fm_test_tmp_path("depth.svg");
    FM_ASSERT_OK(fm_plot_depth_svg(path, "a \"quoted\" title", curves, 2, &err), &err);
    char *svg = slurp(path);
    assert_non_null(strstr(svg, "tanh &amp; &lt;glorot&gt;"));
    assert_null(strstr(svg, "<glorot>"));
    assert_non_null(strstr(svg, "a &quot;quoted&quot; title"));
    assert_non_null(strstr(svg, "stroke-dasharray=\"7 4\"")); /* theory dashed */
    assert_non_null(strstr(svg, ">0.001</text>"));           /* a decade tick label */
    free(svg);
    FM_ASSERT_FAILS(fm_plot_depth_svg(path, NULL, curves, 0, &err), &err, FM_ERR_ARG, "curves");
}

#define RUN_RECORD                                                                                           \
    "{\"type\":\"run\",\"fathom_version\":\"0.1.0\",\"loss\":\"mse\",\"n_in\":2,\"layers\":["              \
    "{\"n_in\":2,\"n_out\":3,\"activation\":\"tanh\",\"init\":\"auto\",\"init_var_w\":0.5,\"dropout\":0}," \
    "{\"n_in\":3,\"n_out\":1,\"activation\":\"linear\",\"init\":\"auto\",\"init_var_w\":0.3,\"dropout\":0}]," \
    "\"settings\":{\"optimizer\":\"sgd\",\"lr\":0.5},\"data\":{\"path\":\"a<b>.csv\",\"train_rows\":9,"   \
    "\"val_rows\":1}}\n"

static const char *diagnose_record(int step, const char *var_z2, int nonfinite)
{
    static char line[2048];
    snprintf(line, sizeof line,
             "{\"type\":\"diagnose\",\"epoch\":1,\"step\":%d,\"loss\":0.5,\"lr\":0.5,\"layers\":["
             "{\"layer\":1,\"n_in\":2,\"n_out\":3,\"var_z\":1.0,\"var_z_meanfield\":1.0,\"var_z_linear\":1.0,"
             "\"var_delta\":0.01,\"var_delta_theory\":0.02,\"grad_w_norm\":0.1,\"saturated\":0.25,\"dead\":null,"
             "\"update_ratio\":0.001,\"nonfinite_forward\":false,\"nonfinite_backward\":false,"
             "\"z_hist\":{\"range\":2,\"counts\":[1,2,3,0],\"below\":0,\"above\":1,\"nonfinite\":0}},"
             "{\"layer\":2,\"n_in\":3,\"n_out\":1,\"var_z\":%s,\"grad_w_norm\":null,\"nonfinite_forward\":%s,"
             "\"nonfinite_backward\":%s,\"update_ratio\":0.002}]}\n",
             step, var_z2, nonfinite ? "true" : "false", nonfinite ? "true" : "false");
    return line;
}

static void write_log(const char *path, const char *tail)
{
    char text[8192];
    int n = snprintf(text, sizeof text, "%s%s", RUN_RECORD, diagnose_record(0, "0.5", 0));
    snprintf(text + n, sizeof text - (size_t)n, "%s%s", diagnose_record(7, "null", 1), tail); /* one static buffer */
    fm_test_write_text(path, text);
}

static void test_report_diverged(void **state)
{
    (void)state;
    fm_error err;
    char log[512]; /* fm_test_tmp_path's buffer is reused by the next call */
    snprintf(log, sizeof log, "%s", fm_test_tmp_path("div.jsonl"));
    write_log(log, "{\"type\":\"end\",\"status\":\"diverged\",\"message\":\"training diverged: the loss became NaN "
                   "at epoch 1, step 8\",\"epochs_run\":0,\"steps\":7,\"diverged\":true,"
                   "\"diagnosis\":\"- Saturated layers 1.\\n- Something <else>.\\n\"}\n");
    char html_path[512];
    snprintf(html_path, sizeof html_path, "%s", fm_test_tmp_path("div.html"));
    FM_ASSERT_OK(fm_report_write(log, html_path, &err), &err);
    char *html = slurp(html_path);
    assert_non_null(strstr(html, "Training diverged</strong> after 7 optimiser steps"));
    assert_non_null(strstr(html, "the loss became NaN at epoch 1, step 8"));
    assert_non_null(strstr(html, "first Inf or NaN of the forward pass appeared in layer 2 at step 7"));
    assert_non_null(strstr(html, "<li>Something &lt;else&gt;.</li>"));
    assert_non_null(strstr(html, "a&lt;b&gt;.csv"));
    assert_non_null(strstr(html, "diverged after step 7"));
    assert_non_null(strstr(html, "Inf or NaN")); /* the heatmap key for the non-finite cells */
    assert_non_null(strstr(html, "layer 1 · tanh"));
    assert_non_null(strstr(html, "start: step 0"));
    assert_non_null(strstr(html, "end: step 7"));
    assert_null(strstr(html, "http:/" "/" "cdn"));
    free(html);
}

static void test_report_truncated_and_malformed(void **state)
{
    (void)state;
    fm_error err;
    char log[512]; /* fm_test_tmp_path's buffer is reused by the next call */
    snprintf(log, sizeof log, "%s", fm_test_tmp_path("cut.jsonl"));
    char html_path[512];
    snprintf(html_path, sizeof html_path, "%s", fm_test_tmp_path("cut.html"));
    /* A killed run: no end record, half a line at the end. */
    write_log(log, "{\"type\":\"epoch\",\"epo");
    FM_ASSERT_OK(fm_report_write(log, html_path, &err), &err);
    char *html = slurp(html_path);
    assert_non_null(strstr(html, "No end record"));
    assert_non_null(strstr(html, "truncated last line"));
    free(html);
    /* A broken line in the middle is an error naming it. */
    write_log(log, "{oops\n{\"type\":\"end\",\"status\":\"ok\"}\n");
    FM_ASSERT_FAILS(fm_report_write(log, html_path, &err), &err, FM_ERR_FORMAT, "line 4");
    /* Diagnose records must match the run's layers. */
    char text[4096];
    snprintf(text, sizeof text, "%s%s", RUN_RECORD,
             "{\"type\":\"diagnose\",\"step\":0,\"layers\":[{\"layer\":1}]}\n");
    fm_test_write_text(log, text);
    FM_ASSERT_FAILS(fm_report_write(log, html_path, &err), &err, FM_ERR_FORMAT, "needs 2 layers");
    fm_test_write_text(log, "{\"type\":\"warning\",\"step\":1,\"message\":\"x\"}\n");
    FM_ASSERT_FAILS(fm_report_write(log, html_path, &err), &err, FM_ERR_FORMAT, "no run record");
    FM_ASSERT_FAILS(fm_report_write(fm_test_tmp_path("nothing-here.jsonl"), html_path, &err), &err, FM_ERR_IO,
                    "nothing-here.jsonl");
}

/* A heatmap with a negative row or column count is refused (the buffer's
 * failed flag), not sized from the wrapped count and printed uninitialised. */
static void test_heatmap_negative_shape(void **state)
{
    (void)state;
    double values[4] = {1, 2, 3, 4};
    for (int k = 0; k < 2; k++) {
        svg_heatmap m = {.title = "t", .rows = k ? 2 : -1, .cols = k ? -2 : 2, .values = values,
                         .x_label = "x", .y_label = "y", .value_label = "v", .width = 400, .height = 300};
        sbuf o = {0};
        svg_heatmap_render(&o, &m);
        assert_true(o.failed);
        sbuf_free(&o);
    }
}

/* ------------------------------------------------------------------ maps */

/* A prediction file as fathom predict writes it: T_prediction and
 * T_residual (depth=3, lat=4, lon=6; latitude south to north), units
 * "deg C", three fill cells at depth index 1 and optionally no prediction
 * variable at all. */
static void write_prediction_nc(const char *path, int with_prediction)
{
    int nc, d[3], vdepth, vlat, vlon, vpred, vres;
    assert_int_equal(nc_create(path, NC_CLOBBER, &nc), NC_NOERR);
    nc_def_dim(nc, "depth", 3, &d[0]);
    nc_def_dim(nc, "lat", 4, &d[1]);
    nc_def_dim(nc, "lon", 6, &d[2]);
    nc_def_var(nc, "depth", NC_DOUBLE, 1, &d[0], &vdepth);
    nc_put_att_text(nc, vdepth, "units", 1, "m");
    nc_put_att_text(nc, vdepth, "positive", 4, "down");
    nc_def_var(nc, "lat", NC_DOUBLE, 1, &d[1], &vlat);
    nc_put_att_text(nc, vlat, "units", 13, "degrees_north");
    nc_def_var(nc, "lon", NC_DOUBLE, 1, &d[2], &vlon);
    nc_put_att_text(nc, vlon, "units", 12, "degrees_east");
    float fill = -1e34f;
    const char *names[2] = {with_prediction ? "T_prediction" : "T_other", "T_residual"};
    int *vars[2] = {&vpred, &vres};
    for (int k = 0; k < 2; k++) {
        nc_def_var(nc, names[k], NC_FLOAT, 3, d, vars[k]);
        nc_put_att_text(nc, *vars[k], "units", 5, "deg C");
        nc_put_att_float(nc, *vars[k], "_FillValue", NC_FLOAT, 1, &fill);
    }
    assert_int_equal(nc_enddef(nc), NC_NOERR);
    double depth[3] = {0, 50, 200}, lat[4] = {-67.5, -22.5, 22.5, 67.5}, lon[6] = {30, 90, 150, 210, 270, 330};
    nc_put_var_double(nc, vdepth, depth);
    nc_put_var_double(nc, vlat, lat);
    nc_put_var_double(nc, vlon, lon);
    float pred[3][4][6], res[3][4][6];
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 6; j++) {
                pred[k][i][j] = (float)(30.0 - 10.0 * fabs(lat[i]) / 22.5 - k);
                res[k][i][j] = (float)(0.5 * (j - 2.5)); /* -1.25 .. 1.25: not symmetric in count */
            }
    pred[1][0][0] = pred[1][0][1] = pred[1][3][5] = fill; /* land */
    res[1][0][0] = res[1][0][1] = res[1][3][5] = fill;
    res[1][2][3] = 4.0f; /* one large residual */
    assert_int_equal(nc_put_var_float(nc, vpred, &pred[0][0][0]), NC_NOERR);
    assert_int_equal(nc_put_var_float(nc, vres, &res[0][0][0]), NC_NOERR);
    assert_int_equal(nc_close(nc), NC_NOERR);
}

static void test_grid_slice_read(void **state)
{
    (void)state;
    fm_error err;
    char nc[512];
    snprintf(nc, sizeof nc, "%s", fm_test_tmp_path("slice.nc"));
    write_prediction_nc(nc, 1);
    fm_grid_slice s;
    FM_ASSERT_OK(fm_grid_slice_read(nc, "T_prediction", 1, &s, &err), &err);
    assert_int_equal(s.nlon, 6);
    assert_int_equal(s.nlat, 4);
    assert_int_equal(s.n_slices, 3);
    assert_string_equal(s.units, "deg C");
    assert_string_equal(s.slice_dim, "depth");
    assert_string_equal(s.slice_axis, "depth");
    assert_string_equal(s.slice_units, "m");
    assert_true(s.slice_value == 50.0);
    assert_true(s.lat[0] == -67.5 && s.lon[5] == 330.0);
    assert_true(isnan(s.values[0]) && isnan(s.values[1]) && isnan(s.values[3 * 6 + 5]));
    assert_true(fabs(s.values[2] - (30.0 - 10.0 * 3 - 1)) < 1e-6);
    fm_grid_slice_free(&s);
    FM_ASSERT_FAILS(fm_grid_slice_read(nc, "T_prediction", 3, &s, &err), &err, FM_ERR_ARG, "slice 3 is out of range");
    FM_ASSERT_FAILS(fm_grid_slice_read(nc, "nope", 0, &s, &err), &err, FM_ERR_ARG, "T_residual");
    FM_ASSERT_FAILS(fm_grid_slice_read(nc, "depth", 0, &s, &err), &err, FM_ERR_FORMAT, "no longitude");
}

/* Cells drawn in a map's <g class="cells">: the sum of its runs' areas. */
static long map_cells(const char *svg)
{
    const char *g = strstr(svg, "<g class=\"cells\"");
    assert_non_null(g);
    const char *end = strstr(g, "</g>");
    long area = 0;
    for (const char *p = strchr(g, 'M'); p && p < end; p = strchr(p + 1, 'M')) {
        int x, y, w, h, w2;
        if (sscanf(p, "M%d %dh%dv%dh-%dz", &x, &y, &w, &h, &w2) == 5) {
            assert_int_equal(w, w2);
            area += (long)w * h;
        }
    }
    return area;
}

static void test_report_maps(void **state)
{
    (void)state;
    fm_error err;
    char log[512], nc[512], html_path[512];
    snprintf(log, sizeof log, "%s", fm_test_tmp_path("map.jsonl"));
    snprintf(nc, sizeof nc, "%s", fm_test_tmp_path("map.nc"));
    snprintf(html_path, sizeof html_path, "%s", fm_test_tmp_path("map.html"));
    write_log(log, "{\"type\":\"end\",\"status\":\"ok\"}\n");
    write_prediction_nc(nc, 1);
    remove(html_path);
    fm_report_maps maps = {nc, NULL, 1};
    FM_ASSERT_OK(fm_report_write_maps(log, html_path, &maps, &err), &err);
    char *html = slurp(html_path);
    assert_non_null(strstr(html, "Maps: T at depth 50 m"));
    assert_non_null(strstr(html, "truth of T, depth 50 m"));
    assert_non_null(strstr(html, "prediction of T, depth 50 m"));
    assert_non_null(strstr(html, "residual (prediction − truth) of T, depth 50 m"));
    /* Three maps, each 4 x 6 cells all drawn, three of them grey. */
    const char *at = html;
    int n_maps = 0;
    while ((at = strstr(at, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"map\""))) {
        const char *close = strstr(at, "</svg>");
        assert_non_null(close);
        size_t len = (size_t)(close - at) + 6;
        char *svg = malloc(len + 1);
        assert_non_null(svg);
        memcpy(svg, at, len);
        svg[len] = 0;
        assert_int_equal(map_cells(svg), 24);
        assert_non_null(strstr(svg, "data-rows=\"4\" data-cols=\"6\" data-missing=\"3\""));
        /* North up: the south-west fill cells of the file are the bottom row. */
        assert_non_null(strstr(svg, "fill=\"" SVG_MAP_MISSING "\" d=\"M5 0h1v1h-1zM0 3h2v1h-2z\""));
        assert_non_null(strstr(svg, "land, no data"));
        /* Balanced elements: as many <text> as </text>, one <svg>. */
        int open = 0, closed = 0;
        for (const char *p = svg; (p = strstr(p, "<text")); p++)
            open++;
        for (const char *p = svg; (p = strstr(p, "</text>")); p++)
            closed++;
        assert_int_equal(open, closed);
        assert_null(strstr(svg + 1, "<svg"));
        if (n_maps < 2) {
            /* Truth and prediction: one scale, units on the colour bar. */
            assert_non_null(strstr(svg, "class=\"cbar-label\""));
            assert_non_null(strstr(svg, ">T (deg C)</text>"));
            assert_non_null(strstr(svg, "data-diverging=\"0\""));
            /* Both maps span truth and prediction: -1 - 1.25 to 19 + 1.25. */
            assert_non_null(strstr(svg, "data-lo=\"-2.25\" data-hi=\"20.25\""));
        } else {
            /* The residual: symmetric about 0, labelled with the units. */
            assert_non_null(strstr(svg, ">prediction − truth (deg C)</text>"));
            assert_non_null(strstr(svg, "data-diverging=\"1\""));
            double lo = 0, hi = 0;
            const char *d = strstr(svg, "data-lo=\"");
            assert_int_equal(sscanf(d, "data-lo=\"%lf\" data-hi=\"%lf\"", &lo, &hi), 2);
            assert_true(hi > 0 && lo == -hi);
            assert_true(hi == 1.25); /* the 99th percentile of |residual|: the one 4.0 is clipped */
            assert_non_null(strstr(svg, ">0</text>")); /* a tick at 0 */
            assert_non_null(strstr(svg, "#f7f7f7") || strstr(svg, "#f6f6f6") ? svg : NULL);
        }
        free(svg);
        n_maps++;
        at = close;
    }
    assert_int_equal(n_maps, 3);
    /* Longitude ticks every 60 degrees across 0..360, latitude every 45. */
    assert_non_null(strstr(html, ">60°E</text>"));
    assert_non_null(strstr(html, ">120°W</text>"));
    assert_non_null(strstr(html, ">180°</text>"));
    assert_non_null(strstr(html, ">45°N</text>"));
    assert_non_null(strstr(html, ">45°S</text>"));
    free(html);

    /* Bad inputs fail before anything is written. */
    remove(html_path);
    maps.slice = 3;
    FM_ASSERT_FAILS(fm_report_write_maps(log, html_path, &maps, &err), &err, FM_ERR_ARG, "slice 3 is out of range");
    assert_null(fopen(html_path, "rb"));
    maps.slice = 0;
    write_prediction_nc(nc, 0);
    FM_ASSERT_FAILS(fm_report_write_maps(log, html_path, &maps, &err), &err, FM_ERR_ARG, "no NAME_prediction");
    assert_null(fopen(html_path, "rb"));
    maps.variable = "T_other";
    FM_ASSERT_FAILS(fm_report_write_maps(log, html_path, &maps, &err), &err, FM_ERR_ARG, "not a NAME_prediction");
    maps.variable = NULL;
    maps.path = fm_test_tmp_path("missing.nc");
    FM_ASSERT_FAILS(fm_report_write_maps(log, html_path, &maps, &err), &err, FM_ERR_IO, "missing.nc");
    assert_null(fopen(html_path, "rb"));
    /* a name longer than NetCDF allows, refused when the prediction variable
     * is looked for (the fuzz input that overflowed netCDF-C's copy) */
    maps.path = FATHOM_TEST_DATA_DIR "/../fuzz/regressions/netcdf/long-name.nc";
    FM_ASSERT_FAILS(fm_report_write_maps(log, html_path, &maps, &err), &err, FM_ERR_FORMAT,
                    "--map: " FATHOM_TEST_DATA_DIR "/../fuzz/regressions/netcdf/long-name.nc: NetCDF header: a "
                    "dimension name of 770 bytes");
    assert_null(fopen(html_path, "rb"));
}

/* A 1-degree global grid (360 x 180, noisy residuals) stays small, and a
 * finer one is averaged down to at most 360 x 180 cells. */
static void test_map_size(void **state)
{
    (void)state;
    for (int fine = 0; fine < 2; fine++) {
        int cols = fine ? 1080 : 360, rows = fine ? 540 : 180;
        double *v = malloc((size_t)rows * cols * sizeof *v), *lon = malloc(cols * sizeof *lon),
               *lat = malloc(rows * sizeof *lat);
        assert_true(v && lon && lat);
        fm_rng rng;
        fm_rng_seed(&rng, 5);
        for (int j = 0; j < cols; j++)
            lon[j] = -180 + (j + 0.5) * 360.0 / cols;
        for (int i = 0; i < rows; i++)
            lat[i] = 90 - (i + 0.5) * 180.0 / rows;
        for (size_t i = 0; i < (size_t)rows * cols; i++)
            v[i] = fm_rng_normal(&rng);
        svg_map m = {"noise", rows, cols, v, lon, lat, -2, 2, 1, "r (K)", 595};
        sbuf o = {0};
        svg_map_render(&o, &m);
        assert_false(o.failed);
        assert_non_null(strstr(o.data, "data-rows=\"180\" data-cols=\"360\" data-missing=\"0\""));
        assert_int_equal(map_cells(o.data), (long)rows * cols);
        assert_true(o.len < 1500000); /* three such maps: still under ~2 MB with truth and prediction smoother */
        sbuf_free(&o);
        free(v);
        free(lon);
        free(lat);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_histogram_counts),
        cmocka_unit_test(test_heatmap_negative_shape),
        cmocka_unit_test(test_plot_depth_escapes),
        cmocka_unit_test(test_report_diverged),
        cmocka_unit_test(test_report_truncated_and_malformed),
        cmocka_unit_test(test_grid_slice_read),
        cmocka_unit_test(test_report_maps),
        cmocka_unit_test(test_map_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
