/* SEG-Y seismic through segyio: traces in (as float32, IBM or IEEE on disk),
 * trace windows as samples, and traces out as IEEE float SEG-Y. */
#include "io/io_internal.h"

#include "core/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <segyio/segy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_ITEMS 32
#define MAX_WINDOW 4095

static const char *segy_error_text(int rc)
{
    switch (rc) {
    case SEGY_FOPEN_ERROR: return "cannot open";
    case SEGY_FSEEK_ERROR: return "seek failed (truncated file?)";
    case SEGY_FREAD_ERROR: return "read failed (truncated file?)";
    case SEGY_FWRITE_ERROR: return "write failed";
    case SEGY_TRACE_SIZE_MISMATCH:
        return "the file size is not the headers plus whole traces of the binary header's length (inconsistent "
               "trace lengths or a truncated file)";
    case SEGY_INVALID_ARGS: return "invalid header values";
    default: return "segyio error";
    }
}

/* SEG-Y rev 1 defines the sample count and the sample interval (binary
 * header and trace header alike) as unsigned 16-bit numbers, 0..65535;
 * segyio reads every 2-byte field as signed, so 40000 samples would come back
 * as -25536. */
static int unsigned_field(int32_t value) { return (int)(value & 0xFFFF); }

/* The format code with its two bytes swapped when that is a SEG-Y code
 * (1..16) and the code as read is not, else 0. A little-endian file (rev. 2
 * allows them; Seismic Unix writes them) read big-endian gives 1280 for IEEE
 * float's 5 and 256 for IBM float's 1: saying so points at the cause, where
 * the code alone looks like a corrupt header. */
static int byte_swapped_format(int format)
{
    int code = unsigned_field(format), swapped = ((code & 0xFF) << 8) | (code >> 8);
    return (code < 1 || code > 16) && swapped >= 1 && swapped <= 16 ? swapped : 0;
}

static int binary_samples(const char *bin)
{
    int32_t samples = 0;
    segy_get_bfield(bin, SEGY_BIN_SAMPLES, &samples);
    return unsigned_field(samples);
}

/* The sample interval in microseconds: the binary header's (bytes
 * 3217-3218) when it gives one, else the first trace header's (bytes
 * 117-118), else 0, unknown. SEG-Y makes the binary header's interval
 * mandatory and the file's own: a trace header that disagrees does not
 * overrule it (fixed-length files have one interval). segyio's
 * segy_sample_interval answers a disagreement, or two zeros, with a fallback
 * the caller picks (4 ms in its Python module), which would make the `time`
 * input and the intervals written after it the fallback's, silently: an
 * unknown interval stays 0 here, and what needs it refuses it. Read unsigned,
 * too: segy_sample_interval reads 40 ms as -25536 us. */
static int sample_interval(const char *bin, const char *trace_header)
{
    int32_t bin_dt = 0, trace_dt = 0;
    segy_get_bfield(bin, SEGY_BIN_INTERVAL, &bin_dt);
    segy_get_field(trace_header, SEGY_TR_SAMPLE_INTER, &trace_dt);
    int from_bin = unsigned_field(bin_dt), from_trace = unsigned_field(trace_dt);
    return from_bin ? from_bin : from_trace;
}

fm_status fm_segy_read_traces(const char *path, float **traces, size_t *n_traces, int *n_samples, int *interval_us,
                              fm_error *err)
{
    if (traces)
        *traces = NULL;
    if (!path || !traces || !n_traces || !n_samples) /* interval_us may be NULL */
        return fm_fail(err, FM_ERR_ARG, "fm_segy_read_traces: path, traces, n_traces and n_samples must not be NULL");
    struct stat sb;
    if (stat(path, &sb) != 0)
        return fm_fail(err, FM_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    if (sb.st_size < SEGY_TEXT_HEADER_SIZE + SEGY_BINARY_HEADER_SIZE)
        return fm_fail(err, FM_ERR_FORMAT, "%s: not a SEG-Y file: %lld bytes, shorter than the 3600 bytes of its headers",
                       path, (long long)sb.st_size);
    segy_file *fp = segy_open(path, "rb");
    if (!fp)
        return fm_fail(err, FM_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    char bin[SEGY_BINARY_HEADER_SIZE];
    fm_status st = FM_OK;
    float *data = NULL;
    int rc = segy_binheader(fp, bin);
    if (rc != SEGY_OK) {
        st = fm_fail(err, FM_ERR_FORMAT, "%s: cannot read the binary header: %s", path, segy_error_text(rc));
        goto done;
    }
    int format = segy_format(bin), samples = binary_samples(bin);
    int interval = 0; /* us; 0: neither header gives one */
    if (format != SEGY_IBM_FLOAT_4_BYTE && format != SEGY_IEEE_FLOAT_4_BYTE) {
        if (byte_swapped_format(format))
            st = fm_fail(err, FM_ERR_FORMAT,
                         "%s: not a SEG-Y file fathom reads: sample format code %d, which byte-swapped is %d: the "
                         "file looks little-endian (byte-swapped); fathom reads big-endian SEG-Y (format 1, IBM "
                         "float, or 5, IEEE float)",
                         path, format, byte_swapped_format(format));
        else
            st = fm_fail(err, FM_ERR_FORMAT,
                         "%s: not a SEG-Y file fathom reads: sample format code %d (expected 1, IBM float, or 5, "
                         "IEEE float)",
                         path, format);
        goto done;
    }
    if (samples <= 0) {
        st = fm_fail(err, FM_ERR_FORMAT, "%s: the binary header gives %d samples per trace", path, samples);
        goto done;
    }
    /* Without this segyio assumes IBM floats whatever the header says. */
    segy_set_format(fp, format);
    long trace0 = segy_trace0(bin);
    int trsize = segy_trsize(format, samples), count = 0;
    if (trace0 < 0 || trsize <= 0) {
        st = fm_fail(err, FM_ERR_FORMAT, "%s: invalid binary header (extended headers or sample count)", path);
        goto done;
    }
    rc = segy_traces(fp, &count, trace0, trsize);
    if (rc != SEGY_OK || count <= 0) {
        st = fm_fail(err, FM_ERR_FORMAT, "%s: %s", path,
                     rc != SEGY_OK ? segy_error_text(rc) : "no traces after the headers");
        goto done;
    }
    size_t total;
    if (!fm_mul_size((size_t)count, (size_t)samples, &total) || !(data = fm_alloc_array(total, sizeof *data))) {
        st = fm_fail(err, FM_ERR_NOMEM, "%s: out of memory for %d traces of %d samples", path, count, samples);
        goto done;
    }
    for (int t = 0; t < count; t++) {
        char header[SEGY_TRACE_HEADER_SIZE];
        int32_t trace_samples = 0;
        if ((rc = segy_traceheader(fp, t, header, trace0, trsize)) != SEGY_OK) {
            st = fm_fail(err, FM_ERR_FORMAT, "%s: trace %d: header: %s", path, t, segy_error_text(rc));
            goto done;
        }
        segy_get_field(header, SEGY_TR_SAMPLE_COUNT, &trace_samples);
        if (unsigned_field(trace_samples) != 0 && unsigned_field(trace_samples) != samples) {
            st = fm_fail(err, FM_ERR_FORMAT,
                         "%s: inconsistent trace lengths: trace %d has %d samples, the binary header says %d", path, t,
                         unsigned_field(trace_samples), samples);
            goto done;
        }
        if (t == 0)
            interval = sample_interval(bin, header);
        float *trace = data + (size_t)t * (size_t)samples;
        if ((rc = segy_readtrace(fp, t, trace, trace0, trsize)) != SEGY_OK) {
            st = fm_fail(err, FM_ERR_FORMAT, "%s: trace %d: %s", path, t, segy_error_text(rc));
            goto done;
        }
        segy_to_native(format, samples, trace);
        for (int s = 0; s < samples; s++)
            if (!isfinite(trace[s])) {
                st = fm_fail(err, FM_ERR_FORMAT, "%s: trace %d, sample %d is not finite", path, t, s);
                goto done;
            }
    }
    *traces = data;
    data = NULL;
    *n_traces = (size_t)count;
    *n_samples = samples;
    if (interval_us)
        *interval_us = interval;
done:
    free(data);
    segy_close(fp);
    return st;
}

/* Where a written section's headers come from: fathom's own (fp NULL) or a
 * template section's, byte for byte. */
typedef struct header_source {
    segy_file *fp; /* the template, open for reading, or NULL */
    const char *path;
    char *head; /* its first trace0 bytes: textual, binary and extended textual headers */
    long trace0;
    int trsize;
} header_source;

/* Write traces as IEEE float32 SEG-Y to a temporary file renamed into place,
 * with fathom's headers or those of `like`. */
static fm_status write_section(const char *path, const float *traces, size_t n_traces, int n_samples,
                               int interval_us, const header_source *like, fm_error *err)
{
    fm_status checked = fm_output_check(path, err);
    if (checked != FM_OK)
        return checked;
    size_t tmp_len = strlen(path) + 48;
    char *tmp = malloc(tmp_len);
    float *buf = fm_alloc_array((size_t)n_samples, sizeof *buf);
    if (!tmp || !buf) {
        free(tmp);
        free(buf);
        return fm_fail(err, FM_ERR_NOMEM, "out of memory");
    }
    snprintf(tmp, tmp_len, "%s.tmp.%ld", path, (long)getpid());
    fm_status st = FM_OK;
    segy_file *fp = NULL;
    int rc = SEGY_OK;
    long trace0 = SEGY_TEXT_HEADER_SIZE + SEGY_BINARY_HEADER_SIZE;
    if (like) {
        /* segyio writes textual headers only from ASCII (converting to
         * EBCDIC), which would not give back the template's bytes: they are
         * written as they are, and segyio then adds the traces. */
        trace0 = like->trace0;
        FILE *f = fopen(tmp, "wb");
        int written = f && fwrite(like->head, 1, (size_t)trace0, f) == (size_t)trace0;
        if (f && fclose(f) != 0)
            written = 0;
        fp = written ? segy_open(tmp, "r+b") : NULL;
    } else {
        fp = segy_open(tmp, "w+b");
    }
    if (!fp) {
        st = fm_fail(err, FM_ERR_IO, "cannot create %s: %s", path, strerror(errno));
        remove(tmp);
        goto done;
    }
    segy_set_format(fp, SEGY_IEEE_FLOAT_4_BYTE);
    if (!like) {
        char text[SEGY_TEXT_HEADER_SIZE + 1];
        memset(text, ' ', SEGY_TEXT_HEADER_SIZE);
        text[SEGY_TEXT_HEADER_SIZE] = '\0';
        const char *lines[] = {"C 1 SEG-Y REV1 WRITTEN BY FATHOM", "C 2 IEEE FLOAT32 SAMPLES (FORMAT 5)"};
        for (int i = 0; i < 2; i++)
            memcpy(text + 80 * i, lines[i], strlen(lines[i]));
        char bin[SEGY_BINARY_HEADER_SIZE];
        memset(bin, 0, sizeof bin);
        segy_set_bfield(bin, SEGY_BIN_INTERVAL, interval_us);
        segy_set_bfield(bin, SEGY_BIN_SAMPLES, n_samples);
        segy_set_bfield(bin, SEGY_BIN_FORMAT, SEGY_IEEE_FLOAT_4_BYTE);
        segy_set_bfield(bin, SEGY_BIN_SEGY_REVISION, 0x0100);
        rc = segy_write_textheader(fp, 0, text);
        if (rc == SEGY_OK)
            rc = segy_write_binheader(fp, bin);
    }
    const int trsize = segy_trsize(SEGY_IEEE_FLOAT_4_BYTE, n_samples);
    size_t bad_template_trace = n_traces;
    for (size_t t = 0; rc == SEGY_OK && t < n_traces; t++) {
        char header[SEGY_TRACE_HEADER_SIZE];
        if (like) {
            if ((rc = segy_traceheader(like->fp, (int)t, header, like->trace0, like->trsize)) != SEGY_OK) {
                bad_template_trace = t;
                break;
            }
        } else {
            memset(header, 0, sizeof header);
            segy_set_field(header, SEGY_TR_SEQ_LINE, (int32_t)t + 1);
            segy_set_field(header, SEGY_TR_SEQ_FILE, (int32_t)t + 1);
            segy_set_field(header, SEGY_TR_ENSEMBLE, (int32_t)t + 1);
            segy_set_field(header, SEGY_TR_SAMPLE_COUNT, n_samples);
            segy_set_field(header, SEGY_TR_SAMPLE_INTER, interval_us);
        }
        rc = segy_write_traceheader(fp, (int)t, header, trace0, trsize);
        if (rc != SEGY_OK)
            break;
        memcpy(buf, traces + t * (size_t)n_samples, (size_t)n_samples * sizeof *buf);
        segy_from_native(SEGY_IEEE_FLOAT_4_BYTE, n_samples, buf);
        rc = segy_writetrace(fp, (int)t, buf, trace0, trsize);
    }
    if (rc == SEGY_OK)
        rc = segy_flush(fp, false);
    int close_rc = segy_close(fp);
    if (rc == SEGY_OK)
        rc = close_rc;
    if (rc != SEGY_OK) {
        if (bad_template_trace < n_traces)
            st = fm_fail(err, FM_ERR_FORMAT, "%s: trace %zu: header: %s", like->path, bad_template_trace,
                         segy_error_text(rc));
        else
            st = fm_fail(err, FM_ERR_IO, "cannot write %s: %s", path, segy_error_text(rc));
        remove(tmp);
        goto done;
    }
    int fd = open(tmp, O_RDWR);
    if (fd < 0 || fsync(fd) != 0 || rename(tmp, path) != 0) {
        st = fm_fail(err, FM_ERR_IO, "cannot write %s: %s", path, strerror(errno));
        remove(tmp);
    }
    if (fd >= 0)
        close(fd);
done:
    free(tmp);
    free(buf);
    return st;
}

fm_status fm_segy_write_traces(const char *path, const float *traces, size_t n_traces, int n_samples,
                               int interval_us, fm_error *err)
{
    if (!path || !traces)
        return fm_fail(err, FM_ERR_ARG, "fm_segy_write_traces: path and traces must not be NULL");
    if (n_traces == 0 || n_samples <= 0 || n_samples > 65535 || n_traces > 2147483647u ||
        interval_us <= 0 || interval_us > 65535)
        return fm_fail(err, FM_ERR_ARG, "%s: SEG-Y needs 1..65535 samples per trace and an interval of 1..65535 us",
                       path);
    return write_section(path, traces, n_traces, n_samples, interval_us, NULL, err);
}

fm_status fm_segy_write_like(const char *template_path, const char *path, const float *traces, size_t n_traces,
                             int n_samples, fm_error *err)
{
    if (!template_path || !path || !traces)
        return fm_fail(err, FM_ERR_ARG, "fm_segy_write_like: template_path, path and traces must not be NULL");
    if (n_traces == 0 || n_samples <= 0)
        return fm_fail(err, FM_ERR_ARG, "%s: SEG-Y needs at least one trace of at least one sample", path);
    struct stat sb;
    if (stat(template_path, &sb) != 0)
        return fm_fail(err, FM_ERR_IO, "cannot open %s: %s", template_path, strerror(errno));
    if (sb.st_size < SEGY_TEXT_HEADER_SIZE + SEGY_BINARY_HEADER_SIZE)
        return fm_fail(err, FM_ERR_FORMAT, "%s: not a SEG-Y file: %lld bytes, shorter than the 3600 bytes of its headers",
                       template_path, (long long)sb.st_size);
    header_source like = {segy_open(template_path, "rb"), template_path, NULL, 0, 0};
    if (!like.fp)
        return fm_fail(err, FM_ERR_IO, "cannot open %s: %s", template_path, strerror(errno));
    char bin[SEGY_BINARY_HEADER_SIZE];
    fm_status st = FM_OK;
    FILE *f = NULL;
    int rc = segy_binheader(like.fp, bin), count = 0;
    if (rc != SEGY_OK) {
        st = fm_fail(err, FM_ERR_FORMAT, "%s: cannot read the binary header: %s", template_path, segy_error_text(rc));
        goto done;
    }
    int format = segy_format(bin), samples = binary_samples(bin);
    like.trace0 = segy_trace0(bin);
    like.trsize = samples > 0 ? segy_trsize(format, samples) : -1;
    if (like.trace0 < SEGY_TEXT_HEADER_SIZE + SEGY_BINARY_HEADER_SIZE || like.trsize <= 0 ||
        segy_traces(like.fp, &count, like.trace0, like.trsize) != SEGY_OK) {
        st = fm_fail(err, FM_ERR_FORMAT, "%s: not a SEG-Y section whose headers can be copied (format code %d%s, %d samples)",
                     template_path, format,
                     byte_swapped_format(format) ? ": the file looks little-endian (byte-swapped)" : "", samples);
        goto done;
    }
    /* Each trace header describes the trace written in its place: another
     * geometry would give traces the wrong headers. */
    if ((size_t)count != n_traces || samples != n_samples) {
        st = fm_fail(err, FM_ERR_ARG, "%s: %zu traces x %d samples do not fit the headers of %s, %d traces x %d samples",
                     path, n_traces, n_samples, template_path, count, samples);
        goto done;
    }
    if (!(like.head = malloc((size_t)like.trace0))) {
        st = fm_fail(err, FM_ERR_NOMEM, "out of memory");
        goto done;
    }
    f = fopen(template_path, "rb");
    if (!f || fread(like.head, 1, (size_t)like.trace0, f) != (size_t)like.trace0) {
        st = fm_fail(err, FM_ERR_IO, "cannot read the headers of %s", template_path);
        goto done;
    }
    /* The samples are IEEE floats now, whatever the template held; format 5
     * came with SEG-Y rev. 1, so an older revision code would misdescribe
     * them. Everything else (sample count and interval included) is the
     * template's. */
    char *out_bin = like.head + SEGY_TEXT_HEADER_SIZE;
    int32_t revision = 0;
    segy_get_bfield(out_bin, SEGY_BIN_SEGY_REVISION, &revision);
    if (format != SEGY_IEEE_FLOAT_4_BYTE && unsigned_field(revision) < 0x0100)
        segy_set_bfield(out_bin, SEGY_BIN_SEGY_REVISION, 0x0100);
    segy_set_bfield(out_bin, SEGY_BIN_FORMAT, SEGY_IEEE_FLOAT_4_BYTE);
    st = write_section(path, traces, n_traces, n_samples, 0, &like, err);
done:
    if (f)
        fclose(f);
    free(like.head);
    segy_close(like.fp);
    return st;
}

/* ------------------------------------------------------------ as a dataset */

typedef enum item_kind { ITEM_WINDOW, ITEM_TRACE, ITEM_TIME, ITEM_HEADER } item_kind;

typedef struct segy_item {
    item_kind kind;
    int window;     /* ITEM_WINDOW: odd width */
    int field;      /* ITEM_HEADER: segyio field */
    int scaled;     /* ITEM_HEADER: a coordinate, under the coordinate scalar */
    char name[32];
} segy_item;

/* SEG-Y stores coordinates as integers with a scalar (bytes 71-72) that the
 * standard applies to the source, group and CDP coordinates (bytes 73-88 and
 * 181-188), not to the offset or the line numbers. */
static const struct {
    const char *name;
    int field;
    int scaled;
} HEADER_FIELDS[] = {
    {"cdp_x", SEGY_TR_CDP_X, 1},  {"cdp_y", SEGY_TR_CDP_Y, 1},         {"offset", SEGY_TR_OFFSET, 0},
    {"iline", SEGY_TR_INLINE, 0}, {"xline", SEGY_TR_CROSSLINE, 0},
};

/* A coordinate in its units: the stored integer times the coordinate
 * scalar, which divides when negative (-100: centimetres stored, metres
 * meant) and is 1 when 0 (SEG-Y rev. 1, bytes 71-72). */
static double scaled_coordinate(const char *header, int32_t stored)
{
    int32_t scalar = 0;
    segy_get_field(header, SEGY_TR_SOURCE_GROUP_SCALAR, &scalar);
    if (scalar < 0)
        return (double)stored / -(double)scalar;
    return scalar > 0 ? (double)stored * (double)scalar : (double)stored;
}

static fm_status parse_items(const char *path, const char *spec, segy_item *items, int *n_items, int *width,
                             fm_error *err)
{
    *n_items = 0;
    *width = 0;
    char buf[512];
    if (!spec || !*spec)
        spec = "window:1";
    if (strlen(spec) >= sizeof buf)
        return fm_fail(err, FM_ERR_ARG, "%s: input spec too long", path);
    strcpy(buf, spec);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        while (*tok == ' ')
            tok++;
        if (*n_items == MAX_ITEMS)
            return fm_fail(err, FM_ERR_ARG, "%s: more than %d input items", path, MAX_ITEMS);
        segy_item it = {ITEM_WINDOW, 1, 0, 0, ""};
        snprintf(it.name, sizeof it.name, "%s", tok);
        if (!strncmp(tok, "window", 6) && (tok[6] == '\0' || tok[6] == ':')) {
            char *end = NULL;
            long w = tok[6] ? strtol(tok + 7, &end, 10) : 1;
            if ((tok[6] && (end == tok + 7 || *end)) || w < 1 || w > MAX_WINDOW || w % 2 == 0)
                return fm_fail(err, FM_ERR_ARG, "%s: \"%s\": the window must be an odd number of samples, 1..%d", path,
                               tok, MAX_WINDOW);
            it.window = (int)w;
        } else if (!strcmp(tok, "trace")) {
            it.kind = ITEM_TRACE;
        } else if (!strcmp(tok, "time")) {
            it.kind = ITEM_TIME;
        } else {
            it.kind = ITEM_HEADER;
            it.field = -1;
            for (size_t k = 0; k < sizeof HEADER_FIELDS / sizeof HEADER_FIELDS[0]; k++)
                if (!strcmp(tok, HEADER_FIELDS[k].name)) {
                    it.field = HEADER_FIELDS[k].field;
                    it.scaled = HEADER_FIELDS[k].scaled;
                }
            if (it.field < 0)
                return fm_fail(err, FM_ERR_ARG,
                               "%s: unknown SEG-Y input \"%s\" (known: window:W, trace, time, cdp_x, cdp_y, offset, "
                               "iline, xline)",
                               path, tok);
        }
        *width += it.kind == ITEM_WINDOW ? it.window : 1;
        items[(*n_items)++] = it;
    }
    if (*n_items == 0)
        return fm_fail(err, FM_ERR_ARG, "%s: no inputs", path);
    return FM_OK;
}

fm_status fm_segy_read(const char *path, const char *inputs, const char *targets, fm_segy_shape *shape,
                       fm_dataset **out, fm_error *err)
{
    *out = NULL;
    if (targets && strspn(targets, " \t") != strlen(targets))
        return fm_fail(err, FM_ERR_ARG,
                       "%s: SEG-Y has no named target columns; give the targets as a second file with --target-data",
                       path);
    segy_item items[MAX_ITEMS];
    int n_items, width;
    fm_status st = parse_items(path, inputs, items, &n_items, &width, err);
    if (st != FM_OK)
        return st;
    float *traces = NULL;
    size_t n_traces;
    int ns, dt;
    st = fm_segy_read_traces(path, &traces, &n_traces, &ns, &dt, err);
    if (st != FM_OK)
        return st;
    double *fields = NULL;
    int need_headers = 0;
    for (int i = 0; i < n_items; i++) {
        need_headers |= items[i].kind == ITEM_HEADER;
        /* Without an interval the sample times are unknown; inventing one
         * (segyio's 4 ms) would give a model wrong times. */
        if (items[i].kind == ITEM_TIME && dt == 0) {
            free(traces);
            return fm_fail(err, FM_ERR_FORMAT,
                           "%s: the input \"time\" needs the sample interval, but the binary header (bytes "
                           "3217-3218) and the first trace header (bytes 117-118) both give 0 us; set it in the "
                           "file or leave \"time\" out",
                           path);
        }
    }
    if (need_headers) {
        fields = fm_alloc_array(n_traces * (size_t)n_items, sizeof *fields);
        segy_file *fp = segy_open(path, "rb");
        char bin[SEGY_BINARY_HEADER_SIZE];
        if (!fields || !fp || segy_binheader(fp, bin) != SEGY_OK) {
            st = fm_fail(err, fields ? FM_ERR_IO : FM_ERR_NOMEM, "%s: cannot read trace headers", path);
        } else {
            long trace0 = segy_trace0(bin);
            int trsize = segy_trsize(segy_format(bin), ns);
            for (size_t t = 0; st == FM_OK && t < n_traces; t++) {
                char header[SEGY_TRACE_HEADER_SIZE];
                if (segy_traceheader(fp, (int)t, header, trace0, trsize) != SEGY_OK)
                    st = fm_fail(err, FM_ERR_FORMAT, "%s: cannot read the header of trace %zu", path, t);
                for (int i = 0; st == FM_OK && i < n_items; i++) {
                    int32_t v = 0;
                    if (items[i].kind == ITEM_HEADER)
                        segy_get_field(header, items[i].field, &v);
                    fields[t * (size_t)n_items + (size_t)i] =
                        items[i].kind == ITEM_HEADER && items[i].scaled ? scaled_coordinate(header, v) : (double)v;
                }
            }
        }
        if (fp)
            segy_close(fp);
    }
    fm_dataset *ds = NULL;
    size_t rows = n_traces * (size_t)ns;
    if (st == FM_OK)
        st = fm_dataset_alloc(rows, width, 0, &ds, err);
    if (st == FM_OK) {
        ds->grid_index = fm_alloc_array(rows, sizeof *ds->grid_index);
        ds->in_names = fm_calloc_array((size_t)width, sizeof *ds->in_names);
        if (!ds->grid_index || !ds->in_names)
            st = fm_fail(err, FM_ERR_NOMEM, "%s: out of memory for %zu samples", path, rows);
    }
    for (int i = 0, j = 0; st == FM_OK && i < n_items; i++) {
        if (items[i].kind != ITEM_WINDOW) {
            if (!(ds->in_names[j++] = fm_strdup(items[i].name)))
                st = fm_fail(err, FM_ERR_NOMEM, "out of memory");
            continue;
        }
        int half = items[i].window / 2;
        for (int k = -half; k <= half; k++) {
            char name[32];
            snprintf(name, sizeof name, k == 0 ? "s" : "s%+d", k);
            if (!(ds->in_names[j++] = fm_strdup(name)))
                st = fm_fail(err, FM_ERR_NOMEM, "out of memory");
        }
    }
    for (size_t t = 0; st == FM_OK && t < n_traces; t++) {
        const float *trace = traces + t * (size_t)ns;
        for (int s = 0; s < ns; s++) {
            size_t r = t * (size_t)ns + (size_t)s;
            float *x = ds->x + r * (size_t)width;
            int j = 0;
            for (int i = 0; i < n_items; i++) {
                switch (items[i].kind) {
                case ITEM_WINDOW: {
                    int half = items[i].window / 2;
                    for (int k = -half; k <= half; k++) {
                        int at = s + k;
                        x[j++] = at >= 0 && at < ns ? trace[at] : 0.0f;
                    }
                    break;
                }
                case ITEM_TRACE: x[j++] = (float)t; break;
                case ITEM_TIME: x[j++] = (float)(s * (double)dt / 1000.0); break;
                case ITEM_HEADER: x[j++] = (float)fields[t * (size_t)n_items + (size_t)i]; break;
                }
            }
            ds->grid_index[r] = r;
        }
    }
    free(traces);
    free(fields);
    if (st != FM_OK) {
        fm_dataset_free(ds);
        return st;
    }
    if (shape) {
        shape->traces = n_traces;
        shape->samples = ns;
    }
    *out = ds;
    return FM_OK;
}
