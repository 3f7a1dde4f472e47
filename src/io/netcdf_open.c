/* Opening a NetCDF file for reading, with the checks netCDF-C leaves out.
 * Every reader of NetCDF in the library opens through fm_netcdf_open, so a
 * damaged file is refused with a message before any name, count or value of
 * it is used: netCDF-C 4.9 trusts a classic header's counts (allocating what
 * they claim), reads data past the end of a truncated file as fill values and
 * copies over-long names into its callers' fixed NC_MAX_NAME + 1 buffers. */
#include "io/io_internal.h"

#include "core/internal.h"

#include <errno.h>
#include <limits.h>
#include <netcdf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

static size_t pad4(size_t n) { return (n + 3) & ~(size_t)3; }

/* Sizes from a file's header, saturating: a sum or product that overflows is
 * SIZE_MAX (more than any file holds) rather than a small wrapped value. */
static size_t sat_add(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }
static size_t sat_mul(size_t a, size_t b)
{
    size_t out;
    return fm_mul_size(a, b, &out) ? out : SIZE_MAX;
}

static size_t type_size(nc_type type)
{
    switch (type) {
    case NC_BYTE: case NC_CHAR: case NC_UBYTE: return 1;
    case NC_SHORT: case NC_USHORT: return 2;
    case NC_INT: case NC_UINT: case NC_FLOAT: return 4;
    default: return 8;
    }
}

static size_t attributes_size(int ncid, int varid, int natts)
{
    size_t size = 8; /* tag and count (or ABSENT) */
    for (int a = 0; a < natts; a++) {
        char name[NC_MAX_NAME + 1];
        nc_type type;
        size_t len;
        if (nc_inq_attname(ncid, varid, a, name) != NC_NOERR || nc_inq_att(ncid, varid, name, &type, &len) != NC_NOERR)
            continue;
        size += 4 + pad4(strlen(name)) + 4 + 4 + pad4(len * type_size(type));
    }
    return size;
}

/* A classic (CDF-1, -2, -5) file must hold its header and every variable's
 * data; netCDF-C reads the part of a truncated file that is missing as fill
 * values without an error, so the size is checked here: the header computed
 * from its contents (a lower bound when the writer left free space) plus the
 * data of every variable. */
static fm_status check_classic_size(int ncid, const char *path, fm_error *err)
{
    int format = 0;
    if (nc_inq_format(ncid, &format) != NC_NOERR ||
        (format != NC_FORMAT_CLASSIC && format != NC_FORMAT_64BIT_OFFSET && format != NC_FORMAT_CDF5))
        return FM_OK;
    const size_t wide = format == NC_FORMAT_CDF5 ? 8 : 4;
    const size_t offset = format == NC_FORMAT_CLASSIC ? 4 : 8;
    int ndims = 0, nvars = 0, ngatts = 0, unlimited = -1;
    nc_inq(ncid, &ndims, &nvars, &ngatts, &unlimited);
    size_t header = 4 + wide + 8 + 8;
    for (int d = 0; d < ndims; d++) {
        char name[NC_MAX_NAME + 1];
        size_t len;
        if (nc_inq_dim(ncid, d, name, &len) == NC_NOERR)
            header += 4 + pad4(strlen(name)) + wide;
    }
    header += attributes_size(ncid, NC_GLOBAL, ngatts);
    size_t records = 0, record_size = 0, data = 0;
    if (unlimited >= 0)
        nc_inq_dimlen(ncid, unlimited, &records);
    for (int v = 0; v < nvars; v++) {
        char name[NC_MAX_NAME + 1];
        nc_type type;
        int vndims, dimids[NC_MAX_VAR_DIMS], natts;
        if (nc_inq_var(ncid, v, name, &type, &vndims, dimids, &natts) != NC_NOERR)
            continue;
        header += 4 + pad4(strlen(name)) + 4 + wide * (size_t)vndims + attributes_size(ncid, v, natts) + 4 + wide + offset;
        size_t count = type_size(type);
        int is_record = vndims > 0 && dimids[0] == unlimited;
        for (int d = is_record; d < vndims; d++) {
            size_t len = 0;
            nc_inq_dimlen(ncid, dimids[d], &len);
            count = sat_mul(count, len);
        }
        if (is_record)
            record_size = sat_add(record_size, sat_add(count, 3) & ~(size_t)3);
        else
            data = sat_add(data, sat_add(count, 3) & ~(size_t)3);
    }
    size_t expected = sat_add(sat_add(header, data), sat_mul(records, record_size));
    FILE *f = fopen(path, "rb");
    long size = -1;
    if (f && fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (f)
        fclose(f);
    if (size >= 0 && (size_t)size < expected)
        return fm_fail(err, FM_ERR_FORMAT, "%s: truncated NetCDF file: %ld bytes, but its header and data need at least %zu",
                       path, size, expected);
    return FM_OK;
}

/* A walk over a classic (CDF-1, -2, -5) header before netCDF-C reads it:
 * netCDF-C allocates every name, attribute and list at the size the header
 * claims before it notices that the file is shorter (a 300-byte file can ask
 * for 4 GB), so each count and length is checked against the bytes left in
 * the file first, and every name against NC_MAX_NAME. Other files (HDF5-based
 * netCDF-4) are left to netCDF-C and check_names. */
typedef struct classic_walk {
    FILE *f;
    unsigned long long pos, size;
    int wide;   /* bytes of a count or length: 4, or 8 in CDF-5 */
    int cdf5;
    int bad;
    /* the first name longer than NC_MAX_NAME: its length, where it starts
     * and whose it is ("a dimension", "an attribute", "a variable") */
    unsigned long long long_name, long_name_at;
    const char *long_name_of;
} classic_walk;

static unsigned long long walk_left(const classic_walk *w) { return w->size - w->pos; }

static unsigned long long walk_number(classic_walk *w, int bytes)
{
    unsigned char b[8];
    if (w->bad || walk_left(w) < (unsigned long long)bytes || fread(b, 1, (size_t)bytes, w->f) != (size_t)bytes) {
        w->bad = 1;
        return 0;
    }
    w->pos += (unsigned long long)bytes;
    unsigned long long v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | b[i];
    return v;
}

/* Skip n bytes padded to a multiple of 4. */
static void walk_skip(classic_walk *w, unsigned long long n)
{
    if (w->bad || n > walk_left(w)) {
        w->bad = 1;
        return;
    }
    n = (n + 3) & ~3ull;
    if (n > walk_left(w))
        n = walk_left(w); /* the padding of the last item may be missing */
    if (fseeko(w->f, (off_t)(w->pos + n), SEEK_SET) != 0)
        w->bad = 1;
    w->pos += n;
}

/* A name's length, checked against NC_MAX_NAME: netCDF-C reads longer names
 * from a classic header without complaint and then copies them whole into the
 * caller's NC_MAX_NAME + 1 bytes in nc_inq_dim, nc_inq_var and nc_inq_attname
 * (a stack overflow in every program that reads names the documented way). */
static unsigned long long walk_name_length(classic_walk *w, const char *of)
{
    unsigned long long at = w->pos, len = walk_number(w, w->wide);
    if (!w->bad && len > NC_MAX_NAME) {
        w->long_name = len;
        w->long_name_at = at;
        w->long_name_of = of;
        w->bad = 1;
    }
    return len;
}

static void walk_name(classic_walk *w, const char *of) { walk_skip(w, walk_name_length(w, of)); }

/* A name into buf (cut to fit, NUL-terminated), then past its padding. */
static void walk_text(classic_walk *w, char *buf, size_t size)
{
    buf[0] = '\0';
    unsigned long long len = walk_name_length(w, "a variable");
    if (w->bad || len > walk_left(w)) {
        w->bad = 1;
        return;
    }
    size_t keep = len < size - 1 ? (size_t)len : size - 1;
    if (fread(buf, 1, keep, w->f) != keep) {
        w->bad = 1;
        keep = 0;
    }
    buf[keep] = '\0';
    walk_skip(w, len); /* w->pos is still where the text starts: walk_skip seeks from there */
}

/* A list's tag and count: 0 when ABSENT; a count that cannot fit in the rest
 * of the file at `least` bytes an element is bad. */
static unsigned long long walk_list(classic_walk *w, unsigned long long tag, unsigned long long least)
{
    unsigned long long t = walk_number(w, 4), n = walk_number(w, w->wide);
    if (t == 0 && n == 0)
        return 0;
    if (t != tag || n > walk_left(w) / least)
        w->bad = 1;
    return w->bad ? 0 : n;
}

static int walk_type(classic_walk *w)
{
    unsigned long long type = walk_number(w, 4);
    if (type >= NC_BYTE && type <= (w->cdf5 ? NC_UINT64 : NC_DOUBLE))
        return (int)type;
    w->bad = 1;
    return NC_BYTE;
}

static void walk_attributes(classic_walk *w)
{
    unsigned long long n = walk_list(w, 0x0C, 2ull * (unsigned)w->wide + 4);
    for (unsigned long long a = 0; a < n && !w->bad; a++) {
        walk_name(w, "an attribute");
        size_t size = type_size(walk_type(w));
        unsigned long long len = walk_number(w, w->wide);
        if (len > walk_left(w) / size)
            w->bad = 1;
        else
            walk_skip(w, len * size);
    }
}

/* Saturating arithmetic on header values: a result past the largest value
 * means "more than any file holds". */
static unsigned long long ull_add(unsigned long long a, unsigned long long b)
{
    return a > ULLONG_MAX - b ? ULLONG_MAX : a + b;
}
static unsigned long long ull_mul(unsigned long long a, unsigned long long b)
{
    return b && a > ULLONG_MAX / b ? ULLONG_MAX : a * b;
}

/* Besides its counts and lengths, the walk checks where each variable's data
 * lies: netCDF-C reads the bytes past the end of the file as fill values
 * without an error, so a damaged "begin" offset, or a file cut short in its
 * data, would read as zeros. A variable's data runs from its begin for its
 * size in bytes (the product of its dimensions and its type's size); a record
 * variable's begin is that of its first record, and record i lies i * recsize
 * further on, recsize the sum of the record variables' sizes per record (each
 * padded to 4 bytes, unpadded when there is only one, as netCDF-C lays them
 * out). Sizes come from the dimensions, not from the header's vsize, which
 * the format allows to be wrong for large variables. */
static fm_status check_classic_header(const char *path, fm_error *err)
{
    classic_walk w = {fopen(path, "rb"), 0, 0, 4, 0, 0, 0, 0, NULL};
    if (!w.f)
        return fm_fail(err, FM_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    unsigned char magic[4];
    if (fread(magic, 1, 4, w.f) != 4 || memcmp(magic, "CDF", 3) != 0 ||
        (magic[3] != 1 && magic[3] != 2 && magic[3] != 5) || fseeko(w.f, 0, SEEK_END) != 0) {
        fclose(w.f);
        return FM_OK; /* not a classic file: netCDF-C decides */
    }
    off_t end = ftello(w.f);
    w.size = end > 0 ? (unsigned long long)end : 0;
    w.pos = 4;
    w.cdf5 = magic[3] == 5;
    w.wide = w.cdf5 ? 8 : 4;
    const unsigned long long offset = magic[3] == 1 ? 4 : 8;
    if (fseeko(w.f, 4, SEEK_SET) != 0)
        w.bad = 1;
    unsigned long long numrecs = walk_number(&w, w.wide);
    /* STREAMING (all ones): netCDF-C counts the records from the file size */
    const int streaming = numrecs == (w.cdf5 ? ULLONG_MAX : 0xFFFFFFFFull);
    const unsigned long long n_dims = walk_list(&w, 0x0A, 2ull * (unsigned)w.wide);
    /* n_dims fits in the file at 8 bytes a dimension: as much memory as the file's size at most */
    unsigned long long *dim_len = fm_alloc_array(n_dims ? (size_t)n_dims : 1, sizeof *dim_len);
    if (!dim_len) {
        fclose(w.f);
        return fm_fail(err, FM_ERR_NOMEM, "%s: out of memory for %llu dimensions", path, n_dims);
    }
    unsigned long long record_dim = n_dims; /* the dimension of length 0 in the header; none yet */
    for (unsigned long long d = 0; d < n_dims && !w.bad; d++) {
        walk_name(&w, "a dimension");
        dim_len[d] = walk_number(&w, w.wide);
        if (dim_len[d] == 0 && record_dim == n_dims)
            record_dim = d;
    }
    walk_attributes(&w);
    unsigned long long n = walk_list(&w, 0x0B, 4ull * (unsigned)w.wide + 8 + offset);
    /* The first non-record variable whose data ends past the file; the record
     * variable whose first record ends last, and the record layout. */
    char beyond[NC_MAX_NAME + 1] = "", last_record[NC_MAX_NAME + 1] = "";
    unsigned long long beyond_end = 0, first_record_end = 0, record_size = 0, last_record_size = 0;
    for (unsigned long long v = 0; v < n && !w.bad; v++) {
        char name[NC_MAX_NAME + 1];
        walk_text(&w, name, sizeof name);
        unsigned long long ndims = walk_number(&w, w.wide), size = 1;
        int is_record = 0;
        if (ndims > walk_left(&w) / (unsigned)w.wide)
            w.bad = 1;
        for (unsigned long long k = 0; k < ndims && !w.bad; k++) {
            unsigned long long dimid = walk_number(&w, w.wide);
            if (dimid >= n_dims)
                w.bad = 1;
            else if (k == 0 && dimid == record_dim)
                is_record = 1;
            else
                size = ull_mul(size, dim_len[dimid]);
        }
        walk_attributes(&w);
        size = ull_mul(size, type_size(walk_type(&w)));
        walk_number(&w, w.wide); /* vsize */
        unsigned long long begin = walk_number(&w, (int)offset), data_end = ull_add(begin, size);
        if (is_record) {
            last_record_size = size;
            record_size = ull_add(record_size, ull_add(size, 3) & ~3ull);
            if (data_end >= first_record_end) {
                first_record_end = data_end;
                snprintf(last_record, sizeof last_record, "%s", name);
            }
        } else if (data_end > w.size && !beyond[0]) {
            beyond_end = data_end;
            snprintf(beyond, sizeof beyond, "%s", name);
        }
    }
    unsigned long long at = w.pos;
    fclose(w.f);
    free(dim_len);
    if (w.long_name)
        return fm_fail(err, FM_ERR_FORMAT,
                       "%s: NetCDF header: %s name of %llu bytes at byte %llu; NetCDF names have at most %d", path,
                       w.long_name_of, w.long_name, w.long_name_at, NC_MAX_NAME);
    if (w.bad)
        return fm_fail(err, FM_ERR_FORMAT,
                       "%s: corrupt or truncated NetCDF header: a count, name, type or attribute near byte %llu does "
                       "not fit in the file's %llu bytes",
                       path, at, w.size);
    if (last_record[0] && record_size == (ull_add(last_record_size, 3) & ~3ull))
        record_size = last_record_size; /* one record variable: its records are not padded */
    unsigned long long records_end =
        last_record[0] && numrecs > 0 && !streaming ? ull_add(first_record_end, ull_mul(numrecs - 1, record_size)) : 0;
    if (!beyond[0] && records_end > w.size) {
        beyond_end = records_end;
        snprintf(beyond, sizeof beyond, "%s", last_record);
    }
    if (beyond[0])
        return fm_fail(err, FM_ERR_FORMAT,
                       "%s: variable \"%s\" needs bytes up to %llu but the file has %llu: truncated or damaged", path,
                       beyond, beyond_end, w.size);
    return FM_OK;
}

/* Names in a netCDF-4 (HDF5) file, which the classic walk does not see:
 * netCDF-C keeps attribute names at the length HDF5 stores (up to 65535
 * bytes; its attribute messages count the name in two bytes) and copies them
 * whole in nc_inq_attname. Dimension and variable names it cuts to
 * NC_MAX_NAME with a strncpy into a stack buffer that it does not terminate,
 * so what it keeps of a longer one is the first 256 bytes and whatever
 * followed on its stack: their length here says only "longer than 256".
 * Each name is read into a zeroed buffer that holds any of them and
 * measured. */
enum { HDF5_NAME_MAX = 65536 };

static fm_status check_names(int ncid, const char *path, fm_error *err)
{
    int format = 0;
    if (nc_inq_format(ncid, &format) != NC_NOERR || (format != NC_FORMAT_NETCDF4 && format != NC_FORMAT_NETCDF4_CLASSIC))
        return FM_OK;
    char *name = calloc(HDF5_NAME_MAX + NC_MAX_NAME + 1, 1);
    if (!name)
        return fm_fail(err, FM_ERR_NOMEM, "%s: out of memory checking its names", path);
    int ndims = 0, nvars = 0;
    nc_inq_nvars(ncid, &nvars);
    /* a netCDF-4 file's dimension ids need not run from 0 */
    if (nc_inq_dimids(ncid, &ndims, NULL, 0) != NC_NOERR || ndims < 0)
        ndims = 0;
    int *dimids = fm_alloc_array(ndims ? (size_t)ndims : 1, sizeof *dimids);
    if (!dimids) {
        free(name);
        return fm_fail(err, FM_ERR_NOMEM, "%s: out of memory for %d dimensions", path, ndims);
    }
    if (ndims && nc_inq_dimids(ncid, &ndims, dimids, 0) != NC_NOERR)
        ndims = 0;
    const char *what = NULL;
    size_t len = 0;
    for (int d = 0; d < ndims && !what; d++)
        if (nc_inq_dimname(ncid, dimids[d], name) == NC_NOERR && (len = strlen(name)) > NC_MAX_NAME)
            what = "a dimension";
    free(dimids);
    int ngroups = 0, groups[64];
    if (nc_inq_grps(ncid, &ngroups, NULL) == NC_NOERR && ngroups > 0 && ngroups <= 64 &&
        nc_inq_grps(ncid, &ngroups, groups) == NC_NOERR) /* named in messages (list_groups) */
        for (int i = 0; i < ngroups && !what; i++)
            if (nc_inq_grpname(groups[i], name) == NC_NOERR && (len = strlen(name)) > NC_MAX_NAME)
                what = "a group";
    for (int v = -1; v < nvars && !what; v++) { /* -1: NC_GLOBAL */
        int natts = 0;
        if (v >= 0 && nc_inq_varname(ncid, v, name) == NC_NOERR && (len = strlen(name)) > NC_MAX_NAME) {
            what = "a variable";
            break;
        }
        if (nc_inq_varnatts(ncid, v, &natts) != NC_NOERR)
            continue;
        for (int a = 0; a < natts && !what; a++)
            if (nc_inq_attname(ncid, v, a, name) == NC_NOERR && (len = strlen(name)) > NC_MAX_NAME)
                what = "an attribute";
    }
    free(name);
    if (what && !strcmp(what, "an attribute"))
        return fm_fail(err, FM_ERR_FORMAT, "%s: an attribute name of %zu bytes; NetCDF names have at most %d", path, len,
                       NC_MAX_NAME);
    if (what)
        return fm_fail(err, FM_ERR_FORMAT, "%s: %s name longer than %d bytes, the most NetCDF allows", path, what,
                       NC_MAX_NAME);
    return FM_OK;
}

fm_status fm_netcdf_open(const char *path, int *ncid, fm_error *err)
{
    *ncid = -1;
    FILE *probe = fopen(path, "rb");
    if (!probe)
        return fm_fail(err, FM_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    fclose(probe);
    fm_status st = check_classic_header(path, err);
    if (st != FM_OK)
        return st;
    int rc = nc_open(path, NC_NOWRITE, ncid);
    if (rc != NC_NOERR) {
        *ncid = -1;
        if (rc > 0) /* netCDF-C passes the system's errno through */
            return fm_fail(err, FM_ERR_IO, "cannot open %s: %s", path, strerror(rc));
        if (rc == NC_ENOTNC)
            return fm_fail(err, FM_ERR_FORMAT, "%s: not a NetCDF file (%s)", path, nc_strerror(rc));
        return fm_fail(err, FM_ERR_FORMAT, "%s: cannot read it as NetCDF (is it truncated?): %s", path,
                       nc_strerror(rc));
    }
    st = check_classic_size(*ncid, path, err);
    if (st == FM_OK)
        st = check_names(*ncid, path, err);
    if (st != FM_OK) {
        nc_close(*ncid);
        *ncid = -1;
    }
    return st;
}
