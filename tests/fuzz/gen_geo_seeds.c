/* Writes the seed corpora of fuzz_netcdf and fuzz_segy (corpus/netcdf/,
 * corpus/segy/): tiny valid files made with the netCDF-C API and fathom's
 * SEG-Y writer, and truncated or corrupted copies of them; each under 4 KB.
 * NetCDF seeds are classic (CDF-1), 64-bit offset (CDF-2) and CDF-5 files:
 * netCDF-4 (HDF5) files are several KB and would fuzz HDF5 rather than us.
 * Not built by default:
 *   cmake --build build --target fuzz_gen_geo_seeds
 *   build/tests/fuzz/fuzz_gen_geo_seeds tests/fuzz/corpus */
#include "fathom.h"

#include <math.h>
#include <netcdf.h>
#include <segyio/segy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                                                          \
    do {                                                                                                     \
        int rc_ = (call);                                                                                    \
        if (rc_ != NC_NOERR) {                                                                               \
            fprintf(stderr, "%s: %s\n", #call, nc_strerror(rc_));                                            \
            exit(1);                                                                                         \
        }                                                                                                    \
    } while (0)

static char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0)
        exit(1);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
        exit(1);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

static void spit(const char *dir, const char *name, const char *bytes, size_t size)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, size, f) != size || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    if (size >= 4096)
        fprintf(stderr, "warning: %s is %zu bytes\n", path, size);
}

static void put_text(int nc, int var, const char *att, const char *text)
{
    CHECK(nc_put_att_text(nc, var, att, strlen(text), text));
}

/* temp(time, [depth,] lat, lon) float with _FillValue (one cell filled, one
 * NaN), salt short with scale_factor/add_offset and missing_value, time a
 * record dimension when `record`, lon running 0 .. 360 with the wrap-around
 * column when `wrap`. */
static void write_grid(const char *path, int mode, int with_depth, int record, int wrap, nc_type salt_type)
{
    enum { NT = 2, NZ = 2, NY = 2, NX = 3 };
    int nc, dt, dz = -1, dy, dx, vt, vz = -1, vy, vx, vtemp, vsalt;
    CHECK(nc_create(path, NC_CLOBBER | mode, &nc));
    CHECK(nc_def_dim(nc, "time", record ? NC_UNLIMITED : NT, &dt));
    if (with_depth)
        CHECK(nc_def_dim(nc, "depth", NZ, &dz));
    CHECK(nc_def_dim(nc, "lat", NY, &dy));
    CHECK(nc_def_dim(nc, "lon", NX, &dx));
    CHECK(nc_def_var(nc, "time", NC_DOUBLE, 1, &dt, &vt));
    put_text(nc, vt, "units", "days since 2000-01-15");
    if (with_depth) {
        CHECK(nc_def_var(nc, "depth", NC_FLOAT, 1, &dz, &vz));
        put_text(nc, vz, "positive", "down");
    }
    CHECK(nc_def_var(nc, "lat", NC_FLOAT, 1, &dy, &vy));
    put_text(nc, vy, "units", "degrees_north");
    CHECK(nc_def_var(nc, "lon", NC_DOUBLE, 1, &dx, &vx));
    put_text(nc, vx, "standard_name", "longitude");
    int dims[4], nd = 0;
    dims[nd++] = dt;
    if (with_depth)
        dims[nd++] = dz;
    dims[nd++] = dy;
    dims[nd++] = dx;
    CHECK(nc_def_var(nc, "temp", NC_FLOAT, nd, dims, &vtemp));
    float fill = -1e34f;
    CHECK(nc_put_att_float(nc, vtemp, "_FillValue", NC_FLOAT, 1, &fill));
    CHECK(nc_def_var(nc, "salt", salt_type, nd, dims, &vsalt));
    short missing = -999;
    double scale = 0.01, offset = 30.0;
    CHECK(nc_put_att_short(nc, vsalt, "missing_value", salt_type, 1, &missing));
    CHECK(nc_put_att_double(nc, vsalt, "scale_factor", NC_DOUBLE, 1, &scale));
    CHECK(nc_put_att_double(nc, vsalt, "add_offset", NC_DOUBLE, 1, &offset));
    put_text(nc, NC_GLOBAL, "title", "fathom fuzz seed");
    CHECK(nc_enddef(nc));
    double t[NT] = {0, 31}, x[NX] = {0, 180, wrap ? 360 : 270};
    float z[NZ] = {0, 50}, y[NY] = {-45, 45};
    size_t start[4] = {0}, count[4];
    count[0] = NT;
    CHECK(nc_put_vara_double(nc, vt, start, count, t));
    if (with_depth)
        CHECK(nc_put_var_float(nc, vz, z));
    CHECK(nc_put_var_float(nc, vy, y));
    CHECK(nc_put_var_double(nc, vx, x));
    size_t cells = (size_t)NT * (with_depth ? NZ : 1) * NY * NX;
    float temp[NT * NZ * NY * NX];
    short salt[NT * NZ * NY * NX];
    for (size_t i = 0; i < cells; i++) {
        temp[i] = 10.0f + (float)i * 0.5f;
        salt[i] = (short)(i * 7);
    }
    temp[1] = fill;
    temp[4] = (float)NAN;
    salt[2] = missing;
    nd = 0;
    count[nd++] = NT;
    if (with_depth)
        count[nd++] = NZ;
    count[nd++] = NY;
    count[nd++] = NX;
    CHECK(nc_put_vara_float(nc, vtemp, start, count, temp));
    CHECK(nc_put_vara_short(nc, vsalt, start, count, salt));
    CHECK(nc_close(nc));
}

static void netcdf_seeds(const char *dir, const char *tmp)
{
    size_t size;
    char *b;
    write_grid(tmp, 0, 0, 0, 0, NC_SHORT);
    b = slurp(tmp, &size);
    spit(dir, "classic.nc", b, size);
    spit(dir, "classic_cut_header.nc", b, 40);
    spit(dir, "classic_cut_data.nc", b, size - 20);
    memcpy(b + 3, "\x07", 1); /* unknown version byte */
    spit(dir, "bad_version.nc", b, size);
    free(b);

    write_grid(tmp, 0, 1, 1, 1, NC_SHORT);
    b = slurp(tmp, &size);
    spit(dir, "record_depth_wrap.nc", b, size);
    spit(dir, "record_cut.nc", b, size - 30);
    /* numrecs (bytes 4-7) far beyond the data */
    memcpy(b + 4, "\x00\x01\x00\x00", 4);
    spit(dir, "record_numrecs_huge.nc", b, size);
    free(b);

    write_grid(tmp, NC_64BIT_OFFSET, 1, 0, 0, NC_SHORT);
    b = slurp(tmp, &size);
    spit(dir, "offset64.nc", b, size);
    /* the length of the first dimension ("time", after magic, numrecs, tag
     * and count, name length and padded name) made huge */
    memcpy(b + 4 + 4 + 8 + 4 + 4, "\x7f\xff\xff\xf0", 4);
    spit(dir, "offset64_dim_huge.nc", b, size);
    free(b);

    write_grid(tmp, NC_64BIT_DATA, 0, 1, 0, NC_INT64);
    b = slurp(tmp, &size);
    spit(dir, "cdf5.nc", b, size);
    free(b);
    remove(tmp);
}

static void segy_seeds(const char *dir, const char *tmp)
{
    enum { SAMPLES = 16 };
    float trace[SAMPLES];
    for (int i = 0; i < SAMPLES; i++)
        trace[i] = (float)(i % 5) - 2.0f + 0.125f * (float)i;
    fm_error err;
    if (fm_segy_write_traces(tmp, trace, 1, SAMPLES, 2000, &err) != FM_OK) {
        fprintf(stderr, "%s\n", err.message);
        exit(1);
    }
    size_t size;
    char *b = slurp(tmp, &size);
    char *th = b + SEGY_TEXT_HEADER_SIZE + SEGY_BINARY_HEADER_SIZE;
    segy_set_field(th, SEGY_TR_CDP_X, 1250);
    segy_set_field(th, SEGY_TR_INLINE, 7);
    segy_set_field(th, SEGY_TR_OFFSET, -40);
    spit(dir, "ieee_1x16.sgy", b, size);
    spit(dir, "cut_trace.sgy", b, size - 10);
    spit(dir, "headers_only.sgy", b, 3600);
    /* IBM floats (format 1) */
    char *ibm = malloc(size);
    memcpy(ibm, b, size);
    segy_set_bfield(ibm + SEGY_TEXT_HEADER_SIZE, SEGY_BIN_FORMAT, SEGY_IBM_FLOAT_4_BYTE);
    float *data = (float *)(ibm + 3600 + 240);
    memcpy(data, trace, sizeof trace);
    segy_from_native(SEGY_IBM_FLOAT_4_BYTE, SAMPLES, data);
    spit(dir, "ibm_1x16.sgy", ibm, size);
    /* a trace header that disagrees on the sample count */
    segy_set_field(ibm + 3600, SEGY_TR_SAMPLE_COUNT, 9);
    spit(dir, "trace_len_mismatch.sgy", ibm, size);
    free(ibm);
    /* unsupported format code, zero samples, extended textual headers */
    char *bad = malloc(size);
    memcpy(bad, b, size);
    segy_set_bfield(bad + SEGY_TEXT_HEADER_SIZE, SEGY_BIN_FORMAT, 3);
    spit(dir, "format3.sgy", bad, size);
    memcpy(bad, b, size);
    segy_set_bfield(bad + SEGY_TEXT_HEADER_SIZE, SEGY_BIN_SAMPLES, 0);
    spit(dir, "zero_samples.sgy", bad, size);
    memcpy(bad, b, size);
    segy_set_bfield(bad + SEGY_TEXT_HEADER_SIZE, SEGY_BIN_EXT_HEADERS, 1);
    spit(dir, "ext_headers.sgy", bad, size);
    memcpy(bad, b, size);
    ((unsigned char *)bad)[3600 + 240 + 4 * 3] = 0x7f; /* a sample made Inf/NaN */
    ((unsigned char *)bad)[3600 + 240 + 4 * 3 + 1] = 0xff;
    spit(dir, "nan_sample.sgy", bad, size);
    free(bad);
    free(b);

    /* two traces of one sample */
    float two[2] = {1.5f, -0.25f};
    if (fm_segy_write_traces(tmp, two, 2, 1, 4000, &err) != FM_OK)
        exit(1);
    b = slurp(tmp, &size);
    spit(dir, "ieee_2x1.sgy", b, size);
    free(b);
    remove(tmp);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR (writes CORPUS_DIR/netcdf and CORPUS_DIR/segy)\n", argv[0]);
        return 2;
    }
    char dir[1024], tmp[1100];
    snprintf(dir, sizeof dir, "%s/netcdf", argv[1]);
    snprintf(tmp, sizeof tmp, "%s/.seed.nc", argv[1]);
    netcdf_seeds(dir, tmp);
    snprintf(dir, sizeof dir, "%s/segy", argv[1]);
    snprintf(tmp, sizeof tmp, "%s/.seed.sgy", argv[1]);
    segy_seeds(dir, tmp);
    return 0;
}
