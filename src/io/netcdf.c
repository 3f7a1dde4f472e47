/* NetCDF grids in and out (netCDF-C): a gridded variable becomes one sample
 * per valid cell, with its coordinates (or other variables on the same grid)
 * as inputs; predictions go back onto the same grid as a NetCDF file that
 * ncview, Panoply, xarray and GMT can show. */
#include "io/io_internal.h"

#include "core/internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netcdf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ITEMS 64

typedef enum axis_kind { AXIS_OTHER = 0, AXIS_LON, AXIS_LAT, AXIS_DEPTH, AXIS_TIME } axis_kind;
static const char *const AXIS_WORD[] = {"other", "lon", "lat", "depth", "time"};

typedef struct axis {
    int dimid;
    char name[NC_MAX_NAME + 1];
    size_t len;
    int varid;       /* coordinate variable, -1 when the dimension has none */
    int text;        /* the coordinate variable holds text (labels), not numbers */
    axis_kind kind;
    double *values;  /* len values (0, 1, 2, ... without a coordinate variable) */
} axis;

typedef struct grid {
    const char *path;
    int ncid;
    int ndims;
    axis axes[NC_MAX_VAR_DIMS];
    size_t cells;
    int lon_axis;        /* index into axes, -1 if none */
    int drop_last_lon;   /* the last longitude repeats the first + 360 */
} grid;

/* ------------------------------------------------------------ small helpers */

static fm_status nc_fail(fm_error *err, const char *path, const char *what, int code)
{
    return fm_fail(err, code == NC_ENOMEM ? FM_ERR_NOMEM : FM_ERR_FORMAT, "%s: %s: %s", path, what,
                   nc_strerror(code));
}

/* The text of an attribute (lower-cased when `lower`), "" when absent. */
static void att_text(int ncid, int varid, const char *att, char *buf, size_t size, int lower)
{
    buf[0] = '\0';
    nc_type type;
    size_t len;
    if (nc_inq_att(ncid, varid, att, &type, &len) != NC_NOERR || type != NC_CHAR || len + 1 > size)
        return;
    if (nc_get_att_text(ncid, varid, att, buf) != NC_NOERR) {
        buf[0] = '\0';
        return;
    }
    buf[len] = '\0';
    if (lower)
        for (char *p = buf; *p; p++)
            *p = (char)tolower((unsigned char)*p);
}

static int contains(const char *s, const char *word) { return strstr(s, word) != NULL; }

/* Which coordinate an axis is: CF `axis`, then `standard_name`, then
 * `units` (degrees_east / degrees_north, "X since DATE"), then `positive`
 * (a vertical axis), then the name (Ferret's X/Y/Z/T axis names included). */
static axis_kind classify(int ncid, const axis *ax)
{
    char text[256];
    if (ax->varid >= 0) {
        att_text(ncid, ax->varid, "axis", text, sizeof text, 1);
        if (!strcmp(text, "x"))
            return AXIS_LON;
        if (!strcmp(text, "y"))
            return AXIS_LAT;
        if (!strcmp(text, "z"))
            return AXIS_DEPTH;
        if (!strcmp(text, "t"))
            return AXIS_TIME;
        att_text(ncid, ax->varid, "standard_name", text, sizeof text, 1);
        if (!strcmp(text, "longitude"))
            return AXIS_LON;
        if (!strcmp(text, "latitude"))
            return AXIS_LAT;
        if (!strcmp(text, "depth") || !strcmp(text, "height") || !strcmp(text, "altitude"))
            return AXIS_DEPTH;
        if (!strcmp(text, "time"))
            return AXIS_TIME;
        att_text(ncid, ax->varid, "units", text, sizeof text, 1);
        if (!strncmp(text, "degree", 6) && (contains(text, "east") || !strcmp(text + strlen(text) - 1, "e")))
            return AXIS_LON;
        if (!strncmp(text, "degree", 6) && (contains(text, "north") || !strcmp(text + strlen(text) - 1, "n")))
            return AXIS_LAT;
        if (contains(text, " since "))
            return AXIS_TIME;
        att_text(ncid, ax->varid, "positive", text, sizeof text, 1);
        if (!strcmp(text, "up") || !strcmp(text, "down"))
            return AXIS_DEPTH;
    }
    char name[NC_MAX_NAME + 1];
    snprintf(name, sizeof name, "%s", ax->name);
    for (char *p = name; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (contains(name, "lon"))
        return AXIS_LON;
    if (contains(name, "lat"))
        return AXIS_LAT;
    if (contains(name, "depth") || contains(name, "lev") || !strcmp(name, "z"))
        return AXIS_DEPTH;
    if (contains(name, "time") || !strcmp(name, "t"))
        return AXIS_TIME;
    return AXIS_OTHER;
}

static axis_kind generic_kind(const char *name)
{
    if (!strcmp(name, "lon") || !strcmp(name, "longitude"))
        return AXIS_LON;
    if (!strcmp(name, "lat") || !strcmp(name, "latitude"))
        return AXIS_LAT;
    if (!strcmp(name, "depth") || !strcmp(name, "level") || !strcmp(name, "z"))
        return AXIS_DEPTH;
    if (!strcmp(name, "time") || !strcmp(name, "month"))
        return AXIS_TIME;
    return AXIS_OTHER;
}

/* "a (d1=n1 d2=n2)" list of a file's variables, for messages. */
static void list_variables(int ncid, char *buf, size_t size)
{
    int nvars = 0;
    buf[0] = '\0';
    nc_inq_nvars(ncid, &nvars);
    size_t len = 0;
    for (int v = 0; v < nvars && len + 1 < size; v++) {
        char name[NC_MAX_NAME + 1];
        int ndims, dimids[NC_MAX_VAR_DIMS];
        if (nc_inq_var(ncid, v, name, NULL, &ndims, dimids, NULL) != NC_NOERR)
            continue;
        len += (size_t)snprintf(buf + len, size - len, "%s%s(", v ? ", " : "", name);
        for (int d = 0; d < ndims && len + 1 < size; d++) {
            char dname[NC_MAX_NAME + 1];
            size_t dlen = 0;
            nc_inq_dim(ncid, dimids[d], dname, &dlen);
            len += (size_t)snprintf(buf + len, size - len, "%s%s=%zu", d ? " " : "", dname, dlen);
        }
        if (len + 1 < size)
            len += (size_t)snprintf(buf + len, size - len, ")");
    }
}

/* For a netCDF-4 file with groups: " (the root group's; ... groups ...)",
 * since a variable inside a group is not found by its name. "" otherwise. */
static void list_groups(int ncid, char *buf, size_t size)
{
    int n = 0, ids[64]; /* more groups than fm_netcdf_open measures: not listed */
    buf[0] = '\0';
    if (nc_inq_grps(ncid, &n, NULL) != NC_NOERR || n <= 0 || n > 64 || nc_inq_grps(ncid, &n, ids) != NC_NOERR)
        return;
    size_t len = (size_t)snprintf(buf, size, " (of the root group: fathom reads no variable inside a group; the file's groups are");
    for (int i = 0; i < n && len + 1 < size; i++) {
        char name[NC_MAX_NAME + 1] = "";
        nc_inq_grpname(ids[i], name);
        len += (size_t)snprintf(buf + len, size - len, "%s %s", i ? "," : "", name);
    }
    if (len + 1 < size)
        snprintf(buf + len, size - len, ")");
}

static void describe_dims(const grid *g, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int d = 0; d < g->ndims && len + 1 < size; d++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s=%zu (%s)", d ? ", " : "", g->axes[d].name, g->axes[d].len,
                                AXIS_WORD[g->axes[d].kind]);
}

/* ------------------------------------------------------------ reading values */

/* ------------------------------------------------------------ the grid */

static void grid_close(grid *g)
{
    for (int d = 0; d < g->ndims; d++)
        free(g->axes[d].values);
    if (g->ncid >= 0)
        nc_close(g->ncid);
    g->ncid = -1;
    g->ndims = 0;
}

static fm_status grid_open(const char *path, grid *g, fm_error *err)
{
    memset(g, 0, sizeof *g);
    g->path = path;
    g->lon_axis = -1;
    return fm_netcdf_open(path, &g->ncid, err);
}

/* The axes of variable varid: dimensions, coordinate values, kinds. */
static fm_status grid_axes(grid *g, int varid, const char *name, fm_error *err)
{
    int dimids[NC_MAX_VAR_DIMS];
    int rc = nc_inq_var(g->ncid, varid, NULL, NULL, &g->ndims, dimids, NULL);
    if (rc != NC_NOERR)
        return nc_fail(err, g->path, name, rc);
    if (g->ndims == 0)
        return fm_fail(err, FM_ERR_FORMAT, "%s: variable %s is a scalar, not a grid", g->path, name);
    g->cells = 1;
    for (int d = 0; d < g->ndims; d++) {
        axis *ax = &g->axes[d];
        ax->dimid = dimids[d];
        ax->varid = -1;
        if ((rc = nc_inq_dim(g->ncid, dimids[d], ax->name, &ax->len)) != NC_NOERR)
            return nc_fail(err, g->path, name, rc);
        if (!fm_mul_size(g->cells, ax->len, &g->cells))
            return fm_fail(err, FM_ERR_FORMAT, "%s: variable %s has too many cells", g->path, name);
    }
    if (g->cells == 0)
        return fm_fail(err, FM_ERR_FORMAT, "%s: variable %s has no cells (a dimension of length 0)", g->path, name);
    for (int d = 0; d < g->ndims; d++) {
        axis *ax = &g->axes[d];
        int cv, cv_ndims, cv_dim;
        if (nc_inq_varid(g->ncid, ax->name, &cv) == NC_NOERR &&
            nc_inq_var(g->ncid, cv, NULL, NULL, &cv_ndims, NULL, NULL) == NC_NOERR && cv_ndims == 1 &&
            nc_inq_vardimid(g->ncid, cv, &cv_dim) == NC_NOERR && cv_dim == ax->dimid)
            ax->varid = cv;
        ax->values = fm_alloc_array(ax->len, sizeof *ax->values);
        if (!ax->values)
            return fm_fail(err, FM_ERR_NOMEM, "%s: out of memory for the %zu coordinates of axis %s", g->path, ax->len,
                           ax->name);
        if (ax->varid >= 0 && !fm_netcdf_numeric(g->ncid, ax->varid)) {
            /* Station names and other labels: the axis has no numbers to
             * offer as an input (resolve_input says so), but it still
             * spans the grid. */
            ax->text = 1;
            for (size_t i = 0; i < ax->len; i++)
                ax->values[i] = (double)i;
        } else if (ax->varid >= 0) {
            /* Coordinates unpacked like any variable; a missing one is NaN */
            unsigned char *ok = malloc(ax->len);
            if (!ok)
                return fm_fail(err, FM_ERR_NOMEM, "%s: out of memory for the %zu coordinates of axis %s", g->path,
                               ax->len, ax->name);
            memset(ok, 1, ax->len);
            size_t zero = 0;
            fm_status st = fm_netcdf_read_values(g->ncid, ax->varid, g->path, ax->name, &zero, &ax->len, ax->len,
                                                 ax->values, ok, err);
            for (size_t i = 0; i < ax->len && st == FM_OK; i++)
                if (!ok[i])
                    ax->values[i] = NAN;
            free(ok);
            if (st != FM_OK)
                return st;
        } else {
            for (size_t i = 0; i < ax->len; i++)
                ax->values[i] = (double)i;
        }
        ax->kind = classify(g->ncid, ax);
        if (ax->kind == AXIS_LON && g->lon_axis < 0) {
            g->lon_axis = d;
            if (ax->len >= 2 && ax->varid >= 0 && !ax->text)
                g->drop_last_lon = fabs(ax->values[ax->len - 1] - ax->values[0] - 360.0) < 1e-6 * 360.0;
            /* Ferret's modulo axes run past 360 (20.5 .. 379.5): wrap to [0, 360). */
            for (size_t i = 0; i < ax->len; i++) {
                double w = fmod(ax->values[i], 360.0);
                w = w < 0 ? w + 360.0 : w;
                ax->values[i] = w >= 360.0 ? 0.0 : w; /* -1e-300 + 360 rounds to 360 */
            }
        }
    }
    return FM_OK;
}

/* Month of the year in [0, 12) of each time value, in the axis's calendar
 * (fm_time_to_month). */
static fm_status time_to_month(const grid *g, const axis *ax, double *values, fm_error *err)
{
    char units[256], calendar[64], where[NC_MAX_NAME + 600];
    if (ax->varid < 0)
        return fm_fail(err, FM_ERR_FORMAT, "%s: time axis %s has no coordinate variable to take months from", g->path,
                       ax->name);
    att_text(g->ncid, ax->varid, "units", units, sizeof units, 1);
    att_text(g->ncid, ax->varid, "calendar", calendar, sizeof calendar, 1);
    snprintf(where, sizeof where, "%s: time axis %s", g->path, ax->name);
    return fm_time_to_month(units, calendar, values, ax->len, where, err);
}

typedef struct input_item {
    const char *name;
    int axis;          /* >= 0: an axis of the grid */
    int varid;         /* >= 0: a variable on the grid */
    double *values;    /* the variable's values (the block's cells) or the axis values (len) */
} input_item;

static int split_list(char *text, char **items, int max)
{
    int n = 0;
    char *p = text;
    while (*p) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        while (*p == ' ')
            p++;
        size_t len = strlen(p);
        while (len && p[len - 1] == ' ')
            p[--len] = '\0';
        if (*p) {
            if (n == max)
                return -1;
            items[n++] = p;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    return n;
}

static int same_dims(const grid *g, int ncid, int varid)
{
    int ndims, dimids[NC_MAX_VAR_DIMS];
    if (nc_inq_var(ncid, varid, NULL, NULL, &ndims, dimids, NULL) != NC_NOERR || ndims != g->ndims)
        return 0;
    for (int d = 0; d < ndims; d++)
        if (dimids[d] != g->axes[d].dimid)
            return 0;
    return 1;
}

static fm_status var_dims_text(int ncid, int varid, char *buf, size_t size)
{
    int ndims, dimids[NC_MAX_VAR_DIMS];
    size_t len = 0;
    buf[0] = '\0';
    if (nc_inq_var(ncid, varid, NULL, NULL, &ndims, dimids, NULL) != NC_NOERR)
        return FM_OK;
    for (int d = 0; d < ndims && len + 1 < size; d++) {
        char dname[NC_MAX_NAME + 1];
        size_t dlen = 0;
        nc_inq_dim(ncid, dimids[d], dname, &dlen);
        len += (size_t)snprintf(buf + len, size - len, "%s%s=%zu", d ? ", " : "", dname, dlen);
    }
    return FM_OK;
}

/* Resolve one input name: an axis by its name in the file, an axis by its
 * generic name, or a variable on the same grid. */
static fm_status resolve_input(grid *g, const char *target, input_item *item, fm_error *err)
{
    item->axis = -1;
    item->varid = -1;
    for (int d = 0; d < g->ndims; d++)
        if (!strcmp(item->name, g->axes[d].name))
            item->axis = d;
    axis_kind kind = generic_kind(item->name);
    for (int d = 0; item->axis < 0 && kind != AXIS_OTHER && d < g->ndims; d++)
        if (g->axes[d].kind == kind)
            item->axis = d;
    if (item->axis >= 0) {
        const axis *ax = &g->axes[item->axis];
        if (ax->text)
            return fm_fail(err, FM_ERR_FORMAT, "%s: coordinate variable %s holds text, not numbers: it cannot be an input",
                           g->path, ax->name);
        for (size_t i = 0; i < ax->len; i++)
            if (!isfinite(ax->values[i]))
                return fm_fail(err, FM_ERR_FORMAT, "%s: coordinate %s[%zu] is missing or not a finite number", g->path,
                               ax->name, i);
        return FM_OK;
    }
    int varid;
    char dims[512];
    describe_dims(g, dims, sizeof dims);
    if (nc_inq_varid(g->ncid, item->name, &varid) == NC_NOERR) {
        if (same_dims(g, g->ncid, varid)) {
            item->varid = varid;
            return FM_OK;
        }
        char vdims[512];
        var_dims_text(g->ncid, varid, vdims, sizeof vdims);
        return fm_fail(err, FM_ERR_FORMAT,
                       "%s: input variable %s has dimensions (%s) but %s has (%s): inputs must be axes of %s or "
                       "variables on the same grid",
                       g->path, item->name, vdims, target, dims, target);
    }
    if (kind != AXIS_OTHER)
        return fm_fail(err, FM_ERR_ARG, "%s: %s has no %s axis; its axes are %s", g->path, target,
                       AXIS_WORD[kind], dims);
    char vars[1024];
    list_variables(g->ncid, vars, sizeof vars);
    return fm_fail(err, FM_ERR_ARG,
                   "%s: no axis or variable \"%s\"; the axes of %s are %s (or lon, lat, depth, time, month); the "
                   "variables are %s",
                   g->path, item->name, target, dims, vars);
}

/* The block [*first, *last) of n indices that shard `shard` of `n_shards`
 * reads: nearly equal contiguous ranges in order, the first n % n_shards one
 * index longer (as fm_shard_range cuts rows). Empty when n < n_shards. */
static void outer_block(size_t n, int shard, int n_shards, size_t *first, size_t *last)
{
    size_t base = n / (size_t)n_shards, extra = n % (size_t)n_shards, k = (size_t)shard;
    *first = k * base + (k < extra ? k : extra);
    *last = *first + base + (k < extra ? 1 : 0);
}

fm_status fm_netcdf_read(const char *path, const char *inputs, const char *targets, fm_dataset **out,
                         fm_error *err)
{
    return fm_netcdf_read_shard(path, inputs, targets, 0, 1, out, err);
}

fm_status fm_netcdf_read_shard(const char *path, const char *inputs, const char *targets, int shard, int n_shards,
                               fm_dataset **out, fm_error *err)
{
    *out = NULL;
    if (n_shards < 1 || shard < 0 || shard >= n_shards)
        return fm_fail(err, FM_ERR_ARG, "%s: shard %d of %d does not exist", path, shard, n_shards);
    grid g;
    fm_status st = grid_open(path, &g, err);
    if (st != FM_OK)
        return st;
    char *input_text = fm_strdup(inputs ? inputs : "");
    char *target_text = fm_strdup(targets ? targets : "");
    char *in_names[MAX_ITEMS], *out_names[MAX_ITEMS];
    input_item items[MAX_ITEMS];
    double *target_values[MAX_ITEMS];
    int n_in = 0, n_out = 0, target_ids[MAX_ITEMS];
    memset(items, 0, sizeof items);
    memset(target_values, 0, sizeof target_values);
    unsigned char *valid = NULL;
    fm_dataset *ds = NULL;
    if (!input_text || !target_text) {
        st = fm_fail(err, FM_ERR_NOMEM, "out of memory");
        goto done;
    }
    n_in = split_list(input_text, in_names, MAX_ITEMS);
    n_out = split_list(target_text, out_names, MAX_ITEMS);
    if (n_in < 0 || n_out < 0) {
        st = fm_fail(err, FM_ERR_ARG, "%s: more than %d inputs or targets", path, MAX_ITEMS);
        n_in = n_in < 0 ? 0 : n_in;
        n_out = n_out < 0 ? 0 : n_out;
        goto done;
    }
    char vars[1024];
    if (n_out == 0) {
        list_variables(g.ncid, vars, sizeof vars);
        st = fm_fail(err, FM_ERR_ARG,
                     "%s: name the gridded variable with --targets VAR (its valid cells become the samples); the "
                     "variables are %s",
                     path, vars);
        goto done;
    }
    for (int t = 0; t < n_out; t++) {
        if (nc_inq_varid(g.ncid, out_names[t], &target_ids[t]) != NC_NOERR) {
            list_variables(g.ncid, vars, sizeof vars);
            char groups[300];
            list_groups(g.ncid, groups, sizeof groups);
            st = fm_fail(err, FM_ERR_ARG, "%s: no variable \"%s\"; the variables are %s%s", path, out_names[t], vars,
                         groups);
            goto done;
        }
    }
    if ((st = grid_axes(&g, target_ids[0], out_names[0], err)) != FM_OK)
        goto done;
    for (int t = 1; t < n_out; t++) {
        if (!same_dims(&g, g.ncid, target_ids[t])) {
            char a[512], b[512];
            var_dims_text(g.ncid, target_ids[0], a, sizeof a);
            var_dims_text(g.ncid, target_ids[t], b, sizeof b);
            st = fm_fail(err, FM_ERR_FORMAT, "%s: target %s has dimensions (%s) but %s has (%s)", path, out_names[t],
                         b, out_names[0], a);
            goto done;
        }
    }
    if (n_in == 0) {
        char dims[512];
        describe_dims(&g, dims, sizeof dims);
        st = fm_fail(err, FM_ERR_ARG, "%s: give --inputs, e.g. axes of %s: %s", path, out_names[0], dims);
        goto done;
    }
    for (int i = 0; i < n_in; i++) {
        items[i].name = in_names[i];
        if ((st = resolve_input(&g, out_names[0], &items[i], err)) != FM_OK)
            goto done;
        for (int t = 0; t < n_out; t++)
            if (items[i].varid == target_ids[t]) {
                st = fm_fail(err, FM_ERR_ARG, "%s: %s is both an input and a target", path, in_names[i]);
                goto done;
            }
    }

    /* This shard's block: indices [first, last) of the outermost dimension,
     * every index of the others, i.e. the cells [first * inner, last * inner)
     * of the row-major order. Only these cells are read and held (the point
     * of sharding a grid that does not fit one machine); the 1-D coordinate
     * axes were read whole above. */
    const axis *outer = &g.axes[0];
    size_t first, last;
    outer_block(outer->len, shard, n_shards, &first, &last);
    if (first == last) {
        st = fm_fail(err, FM_ERR_ARG,
                     "%s: %s is cut into blocks of its outermost dimension %s, which has %zu indices, fewer than "
                     "the %d processes that share it: process %d has no block to read (use at most %zu "
                     "processes)",
                     path, out_names[0], outer->name, outer->len, n_shards, shard, outer->len);
        goto done;
    }
    const size_t inner = g.cells / outer->len, cell0 = first * inner, cells = (last - first) * inner;
    size_t start[NC_MAX_VAR_DIMS], count[NC_MAX_VAR_DIMS];
    for (int d = 0; d < g.ndims; d++) {
        start[d] = 0;
        count[d] = g.axes[d].len;
    }
    start[0] = first;
    count[0] = last - first;

    valid = fm_alloc_array(cells, 1);
    if (!valid) {
        st = fm_fail(err, FM_ERR_NOMEM, "%s: out of memory for %zu cells", path, cells);
        goto done;
    }
    memset(valid, 1, cells);
    for (int t = 0; t < n_out; t++) {
        target_values[t] = fm_alloc_array(cells, sizeof *target_values[t]);
        if (!target_values[t]) {
            st = fm_fail(err, FM_ERR_NOMEM, "%s: out of memory for %zu cells", path, cells);
            goto done;
        }
        if ((st = fm_netcdf_read_values(g.ncid, target_ids[t], path, out_names[t], start, count, cells, target_values[t],
                              valid, err)) != FM_OK)
            goto done;
    }
    for (int i = 0; i < n_in; i++) {
        input_item *it = &items[i];
        if (it->varid >= 0) {
            it->values = fm_alloc_array(cells, sizeof *it->values);
            if (!it->values) {
                st = fm_fail(err, FM_ERR_NOMEM, "%s: out of memory for %zu cells", path, cells);
                goto done;
            }
            if ((st = fm_netcdf_read_values(g.ncid, it->varid, path, it->name, start, count, cells, it->values, valid, err)) !=
                FM_OK)
                goto done;
        } else {
            const axis *ax = &g.axes[it->axis];
            it->values = fm_alloc_array(ax->len, sizeof *it->values);
            if (!it->values) {
                st = fm_fail(err, FM_ERR_NOMEM, "%s: out of memory for the %zu values of input %s", path, ax->len,
                             it->name);
                goto done;
            }
            memcpy(it->values, ax->values, ax->len * sizeof *it->values);
            if (!strcmp(it->name, "month") && (st = time_to_month(&g, ax, it->values, err)) != FM_OK)
                goto done;
        }
    }
    /* Strides of the row-major index, and the duplicated longitude column.
     * Cell c of the block is cell cell0 + c of the whole variable: axis
     * positions, grid indices and longitudes are those of the whole. */
    size_t stride[NC_MAX_VAR_DIMS];
    stride[g.ndims - 1] = 1;
    for (int d = g.ndims - 2; d >= 0; d--)
        stride[d] = stride[d + 1] * g.axes[d + 1].len;
    if (g.drop_last_lon) {
        size_t last_lon = g.axes[g.lon_axis].len - 1;
        for (size_t c = 0; c < cells; c++)
            if (((cell0 + c) / stride[g.lon_axis]) % g.axes[g.lon_axis].len == last_lon)
                valid[c] = 0;
    }
    size_t rows = 0;
    for (size_t c = 0; c < cells; c++)
        rows += valid[c];
    if (rows == 0 && n_shards == 1) {
        st = fm_fail(err, FM_ERR_FORMAT, "%s: all %zu cells of %s are fill values or missing: no samples", path,
                     g.cells, out_names[0]);
        goto done;
    }
    if (rows == 0) {
        st = fm_fail(err, FM_ERR_ARG,
                     "%s: the block of %s that process %d of %d reads (%s indices %zu to %zu of %zu) holds no valid "
                     "cell (only fill or missing values, or the repeated longitude column): no samples for this "
                     "process (use fewer processes, or check the grid)",
                     path, out_names[0], shard, n_shards, outer->name, first, last - 1, outer->len);
        goto done;
    }
    if ((st = fm_dataset_alloc(rows, n_in, n_out, &ds, err)) != FM_OK)
        goto done;
    ds->grid_index = fm_alloc_array(rows, sizeof *ds->grid_index);
    ds->lon = g.lon_axis >= 0 ? fm_alloc_array(rows, sizeof *ds->lon) : NULL;
    if (!ds->grid_index || (g.lon_axis >= 0 && !ds->lon) || !fm_copy_names(in_names, n_in, &ds->in_names) ||
        !fm_copy_names(out_names, n_out, &ds->out_names)) {
        st = fm_fail(err, FM_ERR_NOMEM, "%s: out of memory for %zu samples", path, rows);
        goto done;
    }
    size_t r = 0;
    for (size_t c = 0; c < cells; c++) {
        if (!valid[c])
            continue;
        const size_t cell = cell0 + c;
        float *x = ds->x + r * (size_t)n_in;
        for (int i = 0; i < n_in; i++) {
            const input_item *it = &items[i];
            x[i] = (float)(it->axis >= 0 ? it->values[(cell / stride[it->axis]) % g.axes[it->axis].len]
                                         : it->values[c]);
        }
        for (int t = 0; t < n_out; t++)
            ds->y[r * (size_t)n_out + (size_t)t] = (float)target_values[t][c];
        ds->grid_index[r] = (uint64_t)cell;
        if (ds->lon)
            ds->lon[r] = g.axes[g.lon_axis].values[(cell / stride[g.lon_axis]) % g.axes[g.lon_axis].len];
        r++;
    }
    ds->skipped = cells - rows;
    /* Samples are named by their grid cell too: a shard's sample numbers
     * count within its block, the cell index within the whole variable. */
    for (size_t i = 0; i < rows * (size_t)n_in; i++)
        if (!isfinite(ds->x[i])) {
            st = fm_fail(err, FM_ERR_FORMAT, "%s: input %s of sample %zu (grid cell %llu) is beyond the float range",
                         path, in_names[i % (size_t)n_in], i / (size_t)n_in,
                         (unsigned long long)ds->grid_index[i / (size_t)n_in]);
            goto done;
        }
    for (size_t i = 0; i < rows * (size_t)n_out; i++)
        if (!isfinite(ds->y[i])) {
            st = fm_fail(err, FM_ERR_FORMAT, "%s: %s of sample %zu (grid cell %llu) is beyond the float range", path,
                         out_names[i % (size_t)n_out], i / (size_t)n_out,
                         (unsigned long long)ds->grid_index[i / (size_t)n_out]);
            goto done;
        }
    *out = ds;
    ds = NULL;

done:
    fm_dataset_free(ds);
    for (int i = 0; i < n_in; i++)
        free(items[i].values);
    for (int t = 0; t < n_out; t++)
        free(target_values[t]);
    free(valid);
    free(input_text);
    free(target_text);
    grid_close(&g);
    return st;
}

/* ------------------------------------------------------------ writing */

/* Define dimension `dimid` of `in` in `out` (once; its length now). */
static int copy_dim(int in, int dimid, int out, int *out_dimid)
{
    char name[NC_MAX_NAME + 1];
    size_t len;
    int rc = nc_inq_dim(in, dimid, name, &len);
    if (rc != NC_NOERR)
        return rc;
    if (nc_inq_dimid(out, name, out_dimid) == NC_NOERR)
        return NC_NOERR;
    return nc_def_dim(out, name, len, out_dimid);
}

/* Define variable `varid` of `in` in `out` with its dimensions and attributes. */
static int copy_var_def(int in, int varid, int out, int *out_varid)
{
    char name[NC_MAX_NAME + 1];
    nc_type type;
    int ndims, dimids[NC_MAX_VAR_DIMS], natts, out_dims[NC_MAX_VAR_DIMS];
    int rc = nc_inq_var(in, varid, name, &type, &ndims, dimids, &natts);
    if (rc != NC_NOERR)
        return rc;
    if (nc_inq_varid(out, name, out_varid) == NC_NOERR)
        return NC_NOERR;
    if (type > NC_DOUBLE) /* classic files hold the six classic types only */
        type = NC_DOUBLE;
    for (int d = 0; d < ndims; d++)
        if ((rc = copy_dim(in, dimids[d], out, &out_dims[d])) != NC_NOERR)
            return rc;
    if ((rc = nc_def_var(out, name, type, ndims, out_dims, out_varid)) != NC_NOERR)
        return rc;
    for (int a = 0; a < natts; a++) {
        char att[NC_MAX_NAME + 1];
        if ((rc = nc_inq_attname(in, varid, a, att)) != NC_NOERR)
            return rc;
        nc_type atype;
        if (nc_inq_atttype(in, varid, att, &atype) == NC_NOERR && atype > NC_DOUBLE && atype != NC_CHAR)
            continue;
        if ((rc = nc_copy_att(in, varid, att, out, *out_varid)) != NC_NOERR)
            return rc;
    }
    return NC_NOERR;
}

static int copy_var_data(int in, int varid, int out, int out_varid)
{
    nc_type type;
    int ndims, dimids[NC_MAX_VAR_DIMS];
    int rc = nc_inq_var(in, varid, NULL, &type, &ndims, dimids, NULL);
    if (rc != NC_NOERR)
        return rc;
    size_t n = 1;
    for (int d = 0; d < ndims; d++) {
        size_t len;
        if ((rc = nc_inq_dimlen(in, dimids[d], &len)) != NC_NOERR)
            return rc;
        n *= len;
    }
    if (type == NC_CHAR) {
        char *buf = malloc(n ? n : 1);
        if (!buf)
            return NC_ENOMEM;
        rc = nc_get_var_text(in, varid, buf);
        if (rc == NC_NOERR)
            rc = nc_put_var_text(out, out_varid, buf);
        free(buf);
        return rc;
    }
    double *buf = fm_alloc_array(n ? n : 1, sizeof *buf);
    if (!buf)
        return NC_ENOMEM;
    rc = nc_get_var_double(in, varid, buf);
    if (rc == NC_NOERR)
        rc = nc_put_var_double(out, out_varid, buf);
    free(buf);
    return rc;
}

static int fsync_path(const char *path, int directory)
{
    int fd = open(path, directory ? O_RDONLY : O_RDWR);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

fm_status fm_netcdf_write_predictions(const char *template_path, const char *grid_var, const char *out_path,
                                      const uint64_t *grid_index, size_t rows, int n_out, char *const *names,
                                      const float *pred, const float *truth, fm_error *err)
{
    if (!template_path || !grid_var || !out_path || !grid_index || !pred || n_out <= 0 || !names)
        return fm_fail(err, FM_ERR_ARG, "fm_netcdf_write_predictions: missing argument");
    grid g;
    fm_status st = grid_open(template_path, &g, err);
    if (st != FM_OK)
        return st;
    int in = g.ncid, gvar;
    if (nc_inq_varid(in, grid_var, &gvar) != NC_NOERR) {
        char vars[1024];
        list_variables(in, vars, sizeof vars);
        st = fm_fail(err, FM_ERR_ARG, "%s: no variable \"%s\" to take the grid from; the variables are %s",
                     template_path, grid_var, vars);
        grid_close(&g);
        return st;
    }
    if ((st = grid_axes(&g, gvar, grid_var, err)) != FM_OK) {
        grid_close(&g);
        return st;
    }
    for (size_t r = 0; r < rows; r++)
        if (grid_index[r] >= g.cells) {
            grid_close(&g);
            return fm_fail(err, FM_ERR_ARG, "%s: grid index %llu of row %zu is outside the %zu cells of %s", out_path,
                           (unsigned long long)grid_index[r], r, g.cells, grid_var);
        }
    float fill = -1e34f;
    nc_type gtype;
    float gfill;
    if (nc_inq_vartype(in, gvar, &gtype) == NC_NOERR && gtype == NC_FLOAT &&
        nc_get_att_float(in, gvar, "_FillValue", &gfill) == NC_NOERR && isfinite(gfill))
        fill = gfill;

    fm_status checked = fm_output_check(out_path, err);
    if (checked != FM_OK) {
        grid_close(&g);
        return checked;
    }
    size_t tmp_len = strlen(out_path) + 48;
    char *tmp = malloc(tmp_len);
    float *cells = fm_alloc_array(g.cells, sizeof *cells);
    if (!tmp || !cells) {
        free(tmp);
        free(cells);
        grid_close(&g);
        return fm_fail(err, FM_ERR_NOMEM, "out of memory for %zu cells", g.cells);
    }
    snprintf(tmp, tmp_len, "%s.tmp.%ld", out_path, (long)getpid());
    int outid = -1, rc = nc_create(tmp, NC_CLOBBER | NC_64BIT_OFFSET, &outid);
    if (rc != NC_NOERR) {
        st = fm_fail(err, FM_ERR_IO, "cannot create %s: %s", out_path, rc > 0 ? strerror(rc) : nc_strerror(rc));
        outid = -1;
        goto fail;
    }
    /* Dimensions and coordinate variables of the grid (with the variables
     * their "edges"/"bounds" attributes name), then the global attributes. */
    int coord_in[NC_MAX_VAR_DIMS * 3], coord_out[NC_MAX_VAR_DIMS * 3], n_coord = 0, out_dims[NC_MAX_VAR_DIMS];
    for (int d = 0; d < g.ndims && rc == NC_NOERR; d++) {
        rc = copy_dim(in, g.axes[d].dimid, outid, &out_dims[d]);
        if (rc != NC_NOERR || g.axes[d].varid < 0)
            continue;
        coord_in[n_coord] = g.axes[d].varid;
        rc = copy_var_def(in, g.axes[d].varid, outid, &coord_out[n_coord]);
        n_coord++;
        static const char *const LINKS[] = {"edges", "bounds"};
        for (int k = 0; k < 2 && rc == NC_NOERR; k++) {
            char linked[NC_MAX_NAME + 1];
            int lv;
            att_text(in, g.axes[d].varid, LINKS[k], linked, sizeof linked, 0);
            if (linked[0] && nc_inq_varid(in, linked, &lv) == NC_NOERR) {
                coord_in[n_coord] = lv;
                rc = copy_var_def(in, lv, outid, &coord_out[n_coord]);
                n_coord++;
            }
        }
    }
    int natts = 0;
    if (rc == NC_NOERR)
        rc = nc_inq_natts(in, &natts);
    for (int a = 0; a < natts && rc == NC_NOERR; a++) {
        char att[NC_MAX_NAME + 1];
        nc_type atype;
        if ((rc = nc_inq_attname(in, NC_GLOBAL, a, att)) == NC_NOERR && nc_inq_atttype(in, NC_GLOBAL, att, &atype) == NC_NOERR &&
            (atype <= NC_DOUBLE || atype == NC_CHAR))
            rc = nc_copy_att(in, NC_GLOBAL, att, outid, NC_GLOBAL);
    }
    if (rc == NC_NOERR) {
        const char *note = "predictions written by fathom predict";
        rc = nc_put_att_text(outid, NC_GLOBAL, "fathom", strlen(note), note);
    }
    char long_name[256], units[256];
    att_text(in, gvar, "long_name", long_name, sizeof long_name, 0);
    att_text(in, gvar, "units", units, sizeof units, 0);
    int n_vars = truth ? 2 * n_out : n_out;
    int *out_vars = calloc((size_t)n_vars, sizeof *out_vars);
    if (!out_vars && rc == NC_NOERR)
        rc = NC_ENOMEM;
    for (int v = 0; v < n_vars && rc == NC_NOERR; v++) {
        int j = v % n_out, residual = v >= n_out;
        char name[NC_MAX_NAME + 1], text[600];
        snprintf(name, sizeof name, "%s_%s", names[j], residual ? "residual" : "prediction");
        for (char *p = name; *p; p++)
            if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
                *p = '_';
        if ((rc = nc_def_var(outid, name, NC_FLOAT, g.ndims, out_dims, &out_vars[v])) != NC_NOERR)
            break;
        snprintf(text, sizeof text, "%s of %s by fathom", residual ? "residual (prediction - truth)" : "prediction",
                 long_name[0] && n_out == 1 ? long_name : names[j]);
        rc = nc_put_att_text(outid, out_vars[v], "long_name", strlen(text), text);
        if (rc == NC_NOERR && units[0] && n_out == 1)
            rc = nc_put_att_text(outid, out_vars[v], "units", strlen(units), units);
        if (rc == NC_NOERR)
            rc = nc_put_att_float(outid, out_vars[v], "_FillValue", NC_FLOAT, 1, &fill);
        if (rc == NC_NOERR)
            rc = nc_put_att_float(outid, out_vars[v], "missing_value", NC_FLOAT, 1, &fill);
    }
    if (rc == NC_NOERR)
        rc = nc_enddef(outid);
    for (int k = 0; k < n_coord && rc == NC_NOERR; k++)
        rc = copy_var_data(in, coord_in[k], outid, coord_out[k]);
    for (int v = 0; v < n_vars && rc == NC_NOERR; v++) {
        int j = v % n_out, residual = v >= n_out;
        for (size_t c = 0; c < g.cells; c++)
            cells[c] = fill;
        for (size_t r = 0; r < rows; r++) {
            size_t at = r * (size_t)n_out + (size_t)j;
            cells[grid_index[r]] = residual ? pred[at] - truth[at] : pred[at];
        }
        rc = nc_put_var_float(outid, out_vars[v], cells);
    }
    free(out_vars);
    if (rc != NC_NOERR) {
        st = fm_fail(err, rc == NC_ENOMEM ? FM_ERR_NOMEM : FM_ERR_IO, "cannot write %s: %s", out_path,
                     nc_strerror(rc));
        goto fail;
    }
    rc = nc_close(outid);
    outid = -1;
    if (rc != NC_NOERR) {
        st = fm_fail(err, FM_ERR_IO, "cannot write %s: %s", out_path, nc_strerror(rc));
        goto fail;
    }
    if (fsync_path(tmp, 0) != 0 || rename(tmp, out_path) != 0) {
        st = fm_fail(err, FM_ERR_IO, "cannot write %s: %s", out_path, strerror(errno));
        goto fail;
    }
    {
        /* Make the rename durable: fsync the directory. */
        char *dir = fm_strdup(out_path);
        if (dir) {
            char *slash = strrchr(dir, '/');
            if (slash)
                *(slash == dir ? slash + 1 : slash) = '\0';
            fsync_path(slash ? dir : ".", 1);
            free(dir);
        }
    }
    free(tmp);
    free(cells);
    grid_close(&g);
    return FM_OK;

fail:
    if (outid >= 0)
        nc_abort(outid);
    remove(tmp);
    free(tmp);
    free(cells);
    grid_close(&g);
    return st;
}
