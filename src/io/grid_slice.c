/* fm_grid_slice_read: one lon x lat slice of a gridded NetCDF variable, for
 * the maps of a report. Separate from netcdf.c (which turns whole grids into
 * samples) because a map needs only one horizontal slice, read with
 * nc_get_vara, and its own idea of the axes: longitude, latitude and the one
 * dimension that is sliced. */
#include "io/io_internal.h"

#include "core/internal.h"

#include <ctype.h>
#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { KIND_OTHER = 0, KIND_LON, KIND_LAT };

/* The text of an attribute, "" when absent or not text. */
static void att_text(int ncid, int varid, const char *att, char *buf, size_t size)
{
    nc_type type;
    size_t len;
    buf[0] = '\0';
    if (nc_inq_att(ncid, varid, att, &type, &len) != NC_NOERR || type != NC_CHAR || len + 1 > size)
        return;
    if (nc_get_att_text(ncid, varid, att, buf) != NC_NOERR)
        len = 0;
    buf[len] = '\0';
    while (len && (buf[len - 1] == '\0' || isspace((unsigned char)buf[len - 1])))
        buf[--len] = '\0';
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* Longitude or latitude: CF axis, standard_name, units, then the name. */
static int horizontal_kind(int ncid, const char *dim_name)
{
    int varid;
    char text[256];
    if (nc_inq_varid(ncid, dim_name, &varid) == NC_NOERR) {
        att_text(ncid, varid, "axis", text, sizeof text);
        lower(text);
        if (!strcmp(text, "x"))
            return KIND_LON;
        if (!strcmp(text, "y"))
            return KIND_LAT;
        if (text[0])
            return KIND_OTHER;
        att_text(ncid, varid, "standard_name", text, sizeof text);
        lower(text);
        if (!strcmp(text, "longitude"))
            return KIND_LON;
        if (!strcmp(text, "latitude"))
            return KIND_LAT;
        att_text(ncid, varid, "units", text, sizeof text);
        lower(text);
        size_t n = strlen(text);
        if (!strncmp(text, "degree", 6) && (strstr(text, "east") || text[n - 1] == 'e'))
            return KIND_LON;
        if (!strncmp(text, "degree", 6) && (strstr(text, "north") || text[n - 1] == 'n'))
            return KIND_LAT;
    }
    char name[NC_MAX_NAME + 1];
    size_t n = strlen(dim_name);
    if (n > NC_MAX_NAME)
        n = NC_MAX_NAME;
    memcpy(name, dim_name, n);
    name[n] = '\0';
    lower(name);
    if (strstr(name, "lon") || !strcmp(name, "x"))
        return KIND_LON;
    if (strstr(name, "lat") || !strcmp(name, "y"))
        return KIND_LAT;
    return KIND_OTHER;
}

/* "depth", "time" or "" for the sliced dimension: CF axis, standard_name,
 * units ("X since DATE", lengths), positive, then the name. */
static const char *slice_axis(int ncid, const char *dim_name)
{
    int varid;
    char text[256];
    if (nc_inq_varid(ncid, dim_name, &varid) == NC_NOERR) {
        att_text(ncid, varid, "axis", text, sizeof text);
        lower(text);
        if (!strcmp(text, "z"))
            return "depth";
        if (!strcmp(text, "t"))
            return "time";
        att_text(ncid, varid, "standard_name", text, sizeof text);
        lower(text);
        if (!strcmp(text, "depth") || !strcmp(text, "height") || !strcmp(text, "altitude"))
            return "depth";
        if (!strcmp(text, "time"))
            return "time";
        att_text(ncid, varid, "units", text, sizeof text);
        lower(text);
        if (strstr(text, " since "))
            return "time";
        att_text(ncid, varid, "positive", text, sizeof text);
        if (text[0])
            return "depth";
        att_text(ncid, varid, "units", text, sizeof text);
        lower(text);
        if (!strcmp(text, "m") || !strcmp(text, "meters") || !strcmp(text, "metres") || !strcmp(text, "meter") ||
            !strcmp(text, "km") || !strcmp(text, "dbar") || !strcmp(text, "decibar"))
            return "depth";
    }
    char name[NC_MAX_NAME + 1];
    size_t n = strlen(dim_name);
    if (n > NC_MAX_NAME)
        n = NC_MAX_NAME;
    memcpy(name, dim_name, n);
    name[n] = '\0';
    lower(name);
    if (strstr(name, "depth") || strstr(name, "lev") || !strcmp(name, "z"))
        return "depth";
    if (strstr(name, "time") || !strcmp(name, "t") || !strcmp(name, "month"))
        return "time";
    return "";
}

/* Coordinate values of dimension dimid (its index without a numeric
 * coordinate variable on that very dimension: a variable that only shares
 * the name, on a longer dimension, would overrun `out`), unpacked like any
 * variable; a missing coordinate is NaN. */
static fm_status read_coord(int ncid, int dimid, const char *dim_name, size_t len, double *out, const char *path,
                            fm_error *err)
{
    int varid, ndims, cv_dim;
    if (nc_inq_varid(ncid, dim_name, &varid) == NC_NOERR && nc_inq_varndims(ncid, varid, &ndims) == NC_NOERR &&
        ndims == 1 && nc_inq_vardimid(ncid, varid, &cv_dim) == NC_NOERR && cv_dim == dimid &&
        fm_netcdf_numeric(ncid, varid)) {
        unsigned char *ok = malloc(len);
        if (!ok)
            return fm_fail(err, FM_ERR_NOMEM, "out of memory for %zu coordinates", len);
        memset(ok, 1, len);
        size_t zero = 0;
        fm_status st = fm_netcdf_read_values(ncid, varid, path, dim_name, &zero, &len, len, out, ok, err);
        for (size_t i = 0; i < len && st == FM_OK; i++)
            if (!ok[i])
                out[i] = NAN;
        free(ok);
        return st;
    }
    for (size_t i = 0; i < len; i++)
        out[i] = (double)i;
    return FM_OK;
}

void fm_grid_slice_free(fm_grid_slice *s)
{
    if (!s)
        return;
    free(s->lon);
    free(s->lat);
    free(s->values);
    s->lon = s->lat = s->values = NULL;
    s->nlon = s->nlat = 0;
}

fm_status fm_grid_slice_read(const char *path, const char *var, size_t slice, fm_grid_slice *out, fm_error *err)
{
    if (!out)
        return fm_fail(err, FM_ERR_ARG, "fm_grid_slice_read: no output");
    memset(out, 0, sizeof *out);
    out->slice_value = NAN;
    if (!path || !var)
        return fm_fail(err, FM_ERR_ARG, "fm_grid_slice_read: missing argument");
    int ncid, rc;
    fm_status st = fm_netcdf_open(path, &ncid, err);
    if (st != FM_OK)
        return st;
    int varid, ndims, dimids[NC_MAX_VAR_DIMS];
    size_t len[NC_MAX_VAR_DIMS], start[NC_MAX_VAR_DIMS], count[NC_MAX_VAR_DIMS];
    char dim_names[NC_MAX_VAR_DIMS][NC_MAX_NAME + 1];
    double *buf = NULL;
    unsigned char *valid = NULL;
    if (nc_inq_varid(ncid, var, &varid) != NC_NOERR) {
        char list[512] = "";
        int nvars = 0;
        size_t used = 0;
        nc_inq_nvars(ncid, &nvars);
        for (int v = 0; v < nvars && used + 1 < sizeof list; v++) {
            char name[NC_MAX_NAME + 1];
            if (nc_inq_varname(ncid, v, name) == NC_NOERR)
                used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", name);
        }
        st = fm_fail(err, FM_ERR_ARG, "%s: no variable \"%s\"; the variables are %s", path, var,
                     list[0] ? list : "(none)");
        goto done;
    }
    nc_type type;
    if ((rc = nc_inq_var(ncid, varid, NULL, &type, &ndims, dimids, NULL)) != NC_NOERR) {
        st = fm_fail(err, FM_ERR_FORMAT, "%s: %s: %s", path, var, nc_strerror(rc));
        goto done;
    }
    if (type == NC_CHAR || type > NC_UINT64) {
        st = fm_fail(err, FM_ERR_FORMAT, "%s: variable %s is not numeric", path, var);
        goto done;
    }
    int lon_d = -1, lat_d = -1, slice_d = -1;
    for (int d = 0; d < ndims; d++) {
        if ((rc = nc_inq_dim(ncid, dimids[d], dim_names[d], &len[d])) != NC_NOERR) {
            st = fm_fail(err, FM_ERR_FORMAT, "%s: %s: %s", path, var, nc_strerror(rc));
            goto done;
        }
        int kind = horizontal_kind(ncid, dim_names[d]);
        if (kind == KIND_LON && lon_d < 0)
            lon_d = d;
        else if (kind == KIND_LAT && lat_d < 0)
            lat_d = d;
        else if (len[d] > 1) {
            if (slice_d >= 0) {
                st = fm_fail(err, FM_ERR_FORMAT,
                             "%s: %s has two dimensions besides longitude and latitude (%s and %s); a map slices one",
                             path, var, dim_names[slice_d], dim_names[d]);
                goto done;
            }
            slice_d = d;
        }
    }
    if (lon_d < 0 || lat_d < 0) {
        st = fm_fail(err, FM_ERR_FORMAT, "%s: %s has no %s dimension to draw a map on", path, var,
                     lon_d < 0 ? "longitude" : "latitude");
        goto done;
    }
    if (len[lon_d] == 0 || len[lat_d] == 0 || len[lon_d] > 100000 || len[lat_d] > 100000 ||
        len[lon_d] * len[lat_d] > 100000000) {
        st = fm_fail(err, FM_ERR_FORMAT, "%s: %s: a %zu x %zu grid cannot be drawn", path, var, len[lon_d],
                     len[lat_d]);
        goto done;
    }
    out->n_slices = slice_d >= 0 ? len[slice_d] : 1;
    if (slice >= out->n_slices) {
        st = fm_fail(err, FM_ERR_ARG, "%s: slice %zu is out of range: %s has %zu %s%s (0 to %zu)", path, slice, var,
                     out->n_slices, slice_d >= 0 ? dim_names[slice_d] : "slice", out->n_slices == 1 ? "" : " levels",
                     out->n_slices - 1);
        goto done;
    }
    out->nlon = (int)len[lon_d];
    out->nlat = (int)len[lat_d];
    size_t cells = len[lon_d] * len[lat_d];
    out->lon = fm_alloc_array(len[lon_d], sizeof *out->lon);
    out->lat = fm_alloc_array(len[lat_d], sizeof *out->lat);
    out->values = fm_alloc_array(cells, sizeof *out->values);
    buf = fm_alloc_array(cells, sizeof *buf);
    valid = malloc(cells);
    if (!out->lon || !out->lat || !out->values || !buf || !valid) {
        st = fm_fail(err, FM_ERR_NOMEM, "out of memory for a %zu-cell map", cells);
        goto done;
    }
    if ((st = read_coord(ncid, dimids[lon_d], dim_names[lon_d], len[lon_d], out->lon, path, err)) != FM_OK ||
        (st = read_coord(ncid, dimids[lat_d], dim_names[lat_d], len[lat_d], out->lat, path, err)) != FM_OK)
        goto done;
    if (slice_d >= 0) {
        snprintf(out->slice_dim, sizeof out->slice_dim, "%s", dim_names[slice_d]);
        out->slice_value = (double)slice;
        int cv, cv_ndims, cv_dim;
        size_t at = slice, one = 1;
        double value;
        unsigned char ok = 1;
        fm_error ignored;
        /* the slice's coordinate, when a numeric coordinate variable of that
         * very dimension gives one (else its index stays) */
        if (nc_inq_varid(ncid, dim_names[slice_d], &cv) == NC_NOERR && nc_inq_varndims(ncid, cv, &cv_ndims) == NC_NOERR &&
            cv_ndims == 1 && nc_inq_vardimid(ncid, cv, &cv_dim) == NC_NOERR && cv_dim == dimids[slice_d]) {
            if (fm_netcdf_numeric(ncid, cv) &&
                fm_netcdf_read_values(ncid, cv, path, dim_names[slice_d], &at, &one, 1, &value, &ok, &ignored) == FM_OK &&
                ok)
                out->slice_value = value;
            att_text(ncid, cv, "units", out->slice_units, sizeof out->slice_units);
        }
        snprintf(out->slice_axis, sizeof out->slice_axis, "%s", slice_axis(ncid, dim_names[slice_d]));
    }
    for (int d = 0; d < ndims; d++) {
        start[d] = d == slice_d ? slice : 0;
        count[d] = d == lon_d || d == lat_d ? len[d] : 1;
    }
    /* buf holds the slice's values, valid[] whether each is there */
    memset(valid, 1, cells);
    if ((st = fm_netcdf_read_values(ncid, varid, path, var, start, count, cells, buf, valid, err)) != FM_OK)
        goto done;
    /* The slice in the file's order is [lat][lon] or [lon][lat]. */
    int lat_major = lat_d < lon_d;
    for (int i = 0; i < out->nlat; i++)
        for (int j = 0; j < out->nlon; j++) {
            size_t at = lat_major ? (size_t)i * out->nlon + j : (size_t)j * out->nlat + i;
            out->values[(size_t)i * out->nlon + j] = valid[at] ? buf[at] : NAN;
        }
    att_text(ncid, varid, "units", out->units, sizeof out->units);
    att_text(ncid, varid, "long_name", out->long_name, sizeof out->long_name);

done:
    free(buf);
    free(valid);
    nc_close(ncid);
    if (st != FM_OK)
        fm_grid_slice_free(out);
    return st;
}
