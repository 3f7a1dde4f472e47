/* The values of a NetCDF variable as a user of the file means them: the
 * conventions of netCDF and CF that turn stored numbers into values, shared by
 * every reader of NetCDF data in the library (grids, coordinates, map slices).
 *  - _Unsigned = "true" on a signed integer type (the netCDF-3 way to store
 *    unsigned bytes, shorts and ints): stored values are read as unsigned.
 *  - _FillValue (netCDF's default fill for the type when it is absent),
 *    missing_value (one or more) and values outside valid_min / valid_max /
 *    valid_range mark missing cells, as do NaNs.
 *  - scale_factor and add_offset unpack: value = stored * scale + offset.
 * Missing values are compared with the stored numbers, in the variable's type
 * when the attribute has it (exact even for 64-bit integers); an attribute of
 * another type is converted, and one no stored number can equal (-9999 on an
 * unsigned byte, 1e40 on a float) is ignored instead of failing the rest of
 * the list. Valid ranges are in stored units too, except that on a packed
 * variable a range of the packing attributes' type (and not the variable's)
 * is in unpacked units, as CF allows. */
#include "io/io_internal.h"

#include "core/internal.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <netcdf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_FILLS = 8 };

/* How the stored numbers of one variable become values. */
typedef struct packing {
    nc_type type;
    int as_unsigned;    /* _Unsigned = "true" on NC_BYTE, NC_SHORT, NC_INT or NC_INT64 */
    double wrap;        /* 2^bits of the type when as_unsigned */
    double scale, offset;
    nc_type pack_type;  /* type of scale_factor / add_offset; NC_NAT when neither */
    double valid_min, valid_max; /* -inf, +inf when not given */
    int valid_unpacked; /* the range is in unpacked units */
} packing;

static double type_bits(nc_type type)
{
    switch (type) {
    case NC_BYTE: return 8;
    case NC_SHORT: return 16;
    case NC_INT: return 32;
    default: return 64;
    }
}

static int is_true(int ncid, int varid, const char *att)
{
    nc_type type;
    size_t len;
    char text[16];
    if (nc_inq_att(ncid, varid, att, &type, &len) != NC_NOERR || type != NC_CHAR || len == 0 || len >= sizeof text ||
        nc_get_att_text(ncid, varid, att, text) != NC_NOERR)
        return 0;
    text[len] = '\0';
    for (char *p = text; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return !strcmp(text, "true");
}

static int numeric(nc_type type) { return type >= NC_BYTE && type <= NC_UINT64 && type != NC_CHAR; }

/* A numeric attribute of exactly `want` values into out (doubles): 0 when
 * absent, 1 when read, FM_ERR_FORMAT when present but not `want` finite
 * numbers (a packing attribute of 40 values would be a damaged file, not a
 * convention). */
static fm_status number_att(int ncid, int varid, const char *path, const char *var, const char *att, size_t want,
                            double *out, nc_type *type_out, int *present, fm_error *err)
{
    nc_type type;
    size_t len;
    *present = 0;
    if (nc_inq_att(ncid, varid, att, &type, &len) != NC_NOERR)
        return FM_OK;
    if (!numeric(type) || len != want)
        return fm_fail(err, FM_ERR_FORMAT, "%s: attribute %s of variable %s has %zu %s; it should have %zu number%s",
                       path, att, var, len, numeric(type) ? "values" : "non-numeric values", want, want == 1 ? "" : "s");
    int rc = nc_get_att_double(ncid, varid, att, out);
    if (rc != NC_NOERR)
        return fm_fail(err, FM_ERR_FORMAT, "%s: cannot read attribute %s of variable %s: %s", path, att, var,
                       nc_strerror(rc));
    for (size_t i = 0; i < want; i++)
        if (!isfinite(out[i]))
            return fm_fail(err, FM_ERR_FORMAT, "%s: attribute %s of variable %s is not a finite number", path, att,
                           var);
    if (type_out)
        *type_out = type;
    *present = 1;
    return FM_OK;
}

static fm_status read_packing(int ncid, int varid, const char *path, const char *var, nc_type type, packing *p,
                              fm_error *err)
{
    memset(p, 0, sizeof *p);
    p->type = type;
    p->scale = 1.0;
    p->pack_type = NC_NAT;
    p->valid_min = -INFINITY;
    p->valid_max = INFINITY;
    p->as_unsigned = (type == NC_BYTE || type == NC_SHORT || type == NC_INT || type == NC_INT64) &&
                     is_true(ncid, varid, "_Unsigned");
    p->wrap = p->as_unsigned ? ldexp(1.0, (int)type_bits(type)) : 0.0;
    int present;
    nc_type t;
    fm_status st = number_att(ncid, varid, path, var, "scale_factor", 1, &p->scale, &t, &present, err);
    if (st != FM_OK)
        return st;
    if (present)
        p->pack_type = t;
    if ((st = number_att(ncid, varid, path, var, "add_offset", 1, &p->offset, &t, &present, err)) != FM_OK)
        return st;
    if (present)
        p->pack_type = t;
    double range[2];
    nc_type range_type = NC_NAT;
    if ((st = number_att(ncid, varid, path, var, "valid_range", 2, range, &range_type, &present, err)) != FM_OK)
        return st;
    if (present) {
        p->valid_min = range[0];
        p->valid_max = range[1];
    } else {
        nc_type min_type = NC_NAT, max_type = NC_NAT;
        if ((st = number_att(ncid, varid, path, var, "valid_min", 1, range, &min_type, &present, err)) != FM_OK)
            return st;
        if (present)
            p->valid_min = range[0];
        if ((st = number_att(ncid, varid, path, var, "valid_max", 1, range + 1, &max_type, &present, err)) != FM_OK)
            return st;
        if (present)
            p->valid_max = range[1];
        range_type = min_type != NC_NAT ? min_type : max_type;
    }
    p->valid_unpacked = p->pack_type != NC_NAT && range_type != NC_NAT && range_type != type && range_type == p->pack_type;
    if (p->valid_min > p->valid_max)
        return fm_fail(err, FM_ERR_FORMAT, "%s: variable %s has a valid range [%g, %g] that holds no value", path, var,
                       p->valid_min, p->valid_max);
    return FM_OK;
}

/* 1 when some stored number of the type [lo, hi] (integers when `integer`) equals x. */
static int storable(double x, double lo, double hi, int integer)
{
    return (!integer || x == floor(x)) && x >= lo && x <= hi;
}

/* Missing-value attributes of `att` into fills[*n_fills...] as stored
 * numbers: in the variable's type through `getatt` when the attribute has it,
 * else as doubles converted when some stored number can equal them. */
#define ADD_FILLS(ctype, getatt, lo, hi, integer, att, max_len)                                                \
    do {                                                                                                       \
        nc_type atype_;                                                                                        \
        size_t alen_;                                                                                          \
        if (nc_inq_att(ncid, varid, (att), &atype_, &alen_) != NC_NOERR || alen_ < 1 || alen_ > (max_len) ||     \
            !numeric(atype_))                                                                                  \
            break;                                                                                             \
        if (atype_ == p->type) {                                                                               \
            ctype got_[MAX_FILLS];                                                                             \
            if (getatt(ncid, varid, (att), got_) == NC_NOERR)                                                  \
                for (size_t m_ = 0; m_ < alen_ && n_fills < MAX_FILLS; m_++)                                   \
                    fills[n_fills++] = got_[m_];                                                               \
        } else {                                                                                               \
            double got_[MAX_FILLS];                                                                            \
            if (nc_get_att_double(ncid, varid, (att), got_) == NC_NOERR)                                       \
                for (size_t m_ = 0; m_ < alen_ && n_fills < MAX_FILLS; m_++) {                                 \
                    double x_ = got_[m_];                                                                      \
                    if (p->as_unsigned && x_ >= (double)(hi) + 1 && x_ < p->wrap)                              \
                        x_ -= p->wrap; /* 255 for an unsigned byte is stored as -1 */                          \
                    if (storable(x_, (double)(lo), (double)(hi), (integer)))                                   \
                        fills[n_fills++] = (ctype)x_;                                                          \
                }                                                                                              \
        }                                                                                                      \
    } while (0)

#define READ_TYPED(ctype, getter, getatt, default_fill, lo, hi, integer)                                       \
    do {                                                                                                       \
        ctype *buf = fm_alloc_array(n, sizeof *buf); /* NOLINT(bugprone-macro-parentheses): ctype is a type */   \
        if (!buf)                                                                                              \
            return fm_fail(err, FM_ERR_NOMEM, "%s: out of memory for %s (%zu values)", path, name, n);        \
        int get_rc = getter(ncid, varid, start, count, buf);                                                   \
        if (get_rc != NC_NOERR) {                                                                              \
            free(buf);                                                                                         \
            return fm_fail(err, FM_ERR_FORMAT, "%s: cannot read variable %s (is the file truncated?): %s",     \
                           path, name, nc_strerror(get_rc));                                                   \
        }                                                                                                      \
        ctype fills[MAX_FILLS];                                                                                \
        int n_fills = 0;                                                                                       \
        if (nc_inq_atttype(ncid, varid, "_FillValue", &(nc_type){0}) == NC_NOERR)                              \
            ADD_FILLS(ctype, getatt, lo, hi, integer, "_FillValue", 1);                                        \
        else                                                                                                   \
            fills[n_fills++] = (ctype)(default_fill);                                                          \
        ADD_FILLS(ctype, getatt, lo, hi, integer, "missing_value", MAX_FILLS - 1);                             \
        for (size_t i = 0; i < n; i++) {                                                                       \
            ctype v = buf[i];                                                                                  \
            int ok = v == v;                                                                                   \
            for (int f = 0; f < n_fills; f++)                                                                  \
                ok &= v != fills[f];                                                                           \
            double x = (double)v;                                                                              \
            if (p->as_unsigned && x < 0)                                                                       \
                x += p->wrap;                                                                                  \
            valid[i] &= (unsigned char)ok;                                                                     \
            values[i] = x;                                                                                     \
        }                                                                                                      \
        free(buf);                                                                                             \
    } while (0)

static fm_status read_stored(int ncid, int varid, const char *path, const char *name, const size_t *start,
                             const size_t *count, size_t n, const packing *p, double *values, unsigned char *valid,
                             fm_error *err)
{
    switch (p->type) {
    case NC_FLOAT: READ_TYPED(float, nc_get_vara_float, nc_get_att_float, NC_FILL_FLOAT, -FLT_MAX, FLT_MAX, 0); break;
    case NC_DOUBLE:
        READ_TYPED(double, nc_get_vara_double, nc_get_att_double, NC_FILL_DOUBLE, -DBL_MAX, DBL_MAX, 0);
        break;
    case NC_BYTE: READ_TYPED(signed char, nc_get_vara_schar, nc_get_att_schar, NC_FILL_BYTE, -128, 127, 1); break;
    case NC_SHORT: READ_TYPED(short, nc_get_vara_short, nc_get_att_short, NC_FILL_SHORT, -32768, 32767, 1); break;
    case NC_INT:
        READ_TYPED(int, nc_get_vara_int, nc_get_att_int, NC_FILL_INT, -2147483648.0, 2147483647.0, 1);
        break;
    case NC_UBYTE: READ_TYPED(unsigned char, nc_get_vara_uchar, nc_get_att_uchar, NC_FILL_UBYTE, 0, 255, 1); break;
    case NC_USHORT:
        READ_TYPED(unsigned short, nc_get_vara_ushort, nc_get_att_ushort, NC_FILL_USHORT, 0, 65535, 1);
        break;
    case NC_UINT: READ_TYPED(unsigned int, nc_get_vara_uint, nc_get_att_uint, NC_FILL_UINT, 0, 4294967295.0, 1); break;
    /* 64-bit bounds a double can hold below 2^63 and 2^64 */
    case NC_INT64:
        READ_TYPED(long long, nc_get_vara_longlong, nc_get_att_longlong, NC_FILL_INT64, -9223372036854775808.0,
                   9223372036854774784.0, 1);
        break;
    case NC_UINT64:
        READ_TYPED(unsigned long long, nc_get_vara_ulonglong, nc_get_att_ulonglong, NC_FILL_UINT64, 0,
                   18446744073709549568.0, 1);
        break;
    default: return fm_fail(err, FM_ERR_FORMAT, "%s: variable %s is not numeric", path, name);
    }
    return FM_OK;
}

fm_status fm_netcdf_read_values(int ncid, int varid, const char *path, const char *name, const size_t *start,
                                const size_t *count, size_t n, double *values, unsigned char *valid, fm_error *err)
{
    nc_type type;
    int rc = nc_inq_vartype(ncid, varid, &type);
    if (rc != NC_NOERR)
        return fm_fail(err, rc == NC_ENOMEM ? FM_ERR_NOMEM : FM_ERR_FORMAT, "%s: %s: %s", path, name,
                       nc_strerror(rc));
    if (!numeric(type))
        return fm_fail(err, FM_ERR_FORMAT, "%s: variable %s is not numeric", path, name);
    packing p;
    fm_status st = read_packing(ncid, varid, path, name, type, &p, err);
    if (st == FM_OK)
        st = read_stored(ncid, varid, path, name, start, count, n, &p, values, valid, err);
    if (st != FM_OK)
        return st;
    const int ranged = p.valid_min > -INFINITY || p.valid_max < INFINITY;
    for (size_t i = 0; i < n; i++) {
        double unpacked = values[i] * p.scale + p.offset;
        if (ranged) {
            double x = p.valid_unpacked ? unpacked : values[i];
            valid[i] &= (unsigned char)(x >= p.valid_min && x <= p.valid_max);
        }
        values[i] = unpacked;
    }
    return FM_OK;
}

int fm_netcdf_numeric(int ncid, int varid)
{
    nc_type type;
    return nc_inq_vartype(ncid, varid, &type) == NC_NOERR && numeric(type);
}
