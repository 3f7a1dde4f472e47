/* CSV reader and writer: exact values, every malformed case with its place
 * in the message, skipping, and atomic round trips. */
#define _POSIX_C_SOURCE 200809L /* mkdir, opendir, umask: the atomic-write tests look at the directory */

#include "test_support.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Write `text` to a scratch file named `name` and keep its path in `path`. */
static void scratch(char *path, size_t size, const char *name, const char *text)
{
    snprintf(path, size, "%s", fm_test_tmp_path(name));
    fm_test_write_text(path, text);
}

static fm_read_options options(const char *inputs, const char *targets, int skip)
{
    fm_read_options opts = {inputs, targets, skip};
    return opts;
}

static void test_reads_values_and_names(void **state)
{
    (void)state;
    char path[4096];
    scratch(path, sizeof path, "basic.csv", "depth,temp,salt\n1.5,-2,3e2\n4,5.25,6\n");
    fm_read_options opts = options(NULL, "salt", 0);
    fm_dataset *ds = NULL;
    fm_error err = {0};
    FM_ASSERT_OK(fm_csv_read(path, &opts, &ds, &err), &err);
    assert_int_equal(ds->rows, 2);
    assert_int_equal(ds->n_in, 2);
    assert_int_equal(ds->n_out, 1);
    assert_int_equal(ds->skipped, 0);
    assert_true(ds->x[0] == 1.5f && ds->x[1] == -2.0f && ds->x[2] == 4.0f && ds->x[3] == 5.25f);
    assert_true(ds->y[0] == 300.0f && ds->y[1] == 6.0f);
    assert_string_equal(ds->in_names[0], "depth");
    assert_string_equal(ds->in_names[1], "temp");
    assert_string_equal(ds->out_names[0], "salt");
    fm_dataset_free(ds);
}

static void test_selection_order_indices_and_ranges(void **state)
{
    (void)state;
    char path[4096];
    scratch(path, sizeof path, "select.csv", "a,b,c,d,e\n0,1,2,3,4\n10,11,12,13,14\n");
    fm_error err = {0};
    fm_dataset *ds = NULL;

    /* Names in the order given, not file order; a target by index. */
    fm_read_options opts = options("d, b", "0", 0);
    FM_ASSERT_OK(fm_csv_read(path, &opts, &ds, &err), &err);
    assert_int_equal(ds->n_in, 2);
    assert_true(ds->x[0] == 3.0f && ds->x[1] == 1.0f && ds->x[2] == 13.0f && ds->x[3] == 11.0f);
    assert_string_equal(ds->in_names[0], "d");
    assert_string_equal(ds->out_names[0], "a");
    assert_true(ds->y[1] == 10.0f);
    fm_dataset_free(ds);

    /* A range, and no targets: y stays NULL. */
    opts = options("1-3", NULL, 0);
    FM_ASSERT_OK(fm_csv_read(path, &opts, &ds, &err), &err);
    assert_int_equal(ds->n_in, 3);
    assert_int_equal(ds->n_out, 0);
    assert_null(ds->y);
    assert_true(ds->x[0] == 1.0f && ds->x[2] == 3.0f && ds->x[5] == 13.0f);
    fm_dataset_free(ds);

    /* NULL options: every column is an input. */
    FM_ASSERT_OK(fm_csv_read(path, NULL, &ds, &err), &err);
    assert_int_equal(ds->n_in, 5);
    assert_true(ds->x[9] == 14.0f);
    fm_dataset_free(ds);
}

static void test_header_names_beat_numbers(void **state)
{
    (void)state;
    char path[4096];
    /* A column named "2" is that column, not index 2. */
    scratch(path, sizeof path, "numeric_names.csv", "2,x,y\n7,8,9\n");
    fm_read_options opts = options("2", "y", 0);
    fm_dataset *ds = NULL;
    fm_error err = {0};
    FM_ASSERT_OK(fm_csv_read(path, &opts, &ds, &err), &err);
    assert_true(ds->x[0] == 7.0f);
    fm_dataset_free(ds);
}

static void test_quotes_crlf_bom_and_blank_tail(void **state)
{
    (void)state;
    char path[4096];
    scratch(path, sizeof path, "quoted.csv",
            "\xEF\xBB\xBF\"depth, m\",\"note\",\"t\"\"x\"\r\n"
            "\"1.25\",\"has, comma and \"\"quotes\"\"\",2\r\n"
            " 3 ,\"two\nlines\", \"4\" \r\n"
            "\r\n\r\n\n");
    fm_read_options opts = options(NULL, "t\"x", 0);
    fm_dataset *ds = NULL;
    fm_error err = {0};
    opts.inputs = "depth, m";
    /* "depth, m" contains a comma, so select it by index. */
    opts.inputs = "0";
    FM_ASSERT_OK(fm_csv_read(path, &opts, &ds, &err), &err);
    assert_int_equal(ds->rows, 2);
    assert_string_equal(ds->in_names[0], "depth, m");
    assert_string_equal(ds->out_names[0], "t\"x");
    assert_true(ds->x[0] == 1.25f && ds->x[1] == 3.0f);
    assert_true(ds->y[0] == 2.0f && ds->y[1] == 4.0f);
    fm_dataset_free(ds);
}

static void test_unselected_columns_are_not_parsed(void **state)
{
    (void)state;
    char path[4096];
    scratch(path, sizeof path, "unselected.csv", "id,x,y\nabc,1,2\n,3,4\nnan,5,6\n");
    fm_read_options opts = options("x", "y", 0);
    fm_dataset *ds = NULL;
    fm_error err = {0};
    FM_ASSERT_OK(fm_csv_read(path, &opts, &ds, &err), &err);
    assert_int_equal(ds->rows, 3);
    assert_true(ds->x[2] == 5.0f && ds->y[2] == 6.0f);
    fm_dataset_free(ds);
}

static void test_unknown_column_lists_available(void **state)
{
    (void)state;
    char path[4096];
    scratch(path, sizeof path, "unknown.csv", "depth,temp\n1,2\n");
    fm_read_options opts = options("depht", NULL, 0);
    fm_dataset *ds = NULL;
    fm_error err = {0};
    FM_ASSERT_FAILS(fm_csv_read(path, &opts, &ds, &err), &err, FM_ERR_ARG, "\"depht\"");
    assert_true(fm_test_contains(err.message, "unknown.csv"));
    assert_true(fm_test_contains(err.message, "\"depth\", \"temp\""));
    assert_null(ds);

    opts = options(NULL, "salt", 0);
    FM_ASSERT_FAILS(fm_csv_read(path, &opts, &ds, &err), &err, FM_ERR_ARG, "unknown target column \"salt\"");

    opts = options("5", NULL, 0);
    FM_ASSERT_FAILS(fm_csv_read(path, &opts, &ds, &err), &err, FM_ERR_ARG, "out of range");
    opts = options("1-0", NULL, 0);
    FM_ASSERT_FAILS(fm_csv_read(path, &opts, &ds, &err), &err, FM_ERR_ARG, "backwards");
    opts = options("depth,,temp", NULL, 0);
    FM_ASSERT_FAILS(fm_csv_read(path, &opts, &ds, &err), &err, FM_ERR_ARG, "empty entry");
    opts = options("depth,0", NULL, 0);
    FM_ASSERT_FAILS(fm_csv_read(path, &opts, &ds, &err), &err, FM_ERR_ARG, "listed twice");
}

static void test_long_column_list_is_truncated(void **state)
{
    (void)state;
    char text[8192] = "";
    size_t used = 0;
    for (int i = 0; i < 200; i++)
        used += (size_t)snprintf(text + used, sizeof text - used, "%scolumn_%03d", i ? "," : "", i);
    used += (size_t)snprintf(text + used, sizeof text - used, "\n");
    for (int i = 0; i < 200; i++)
        used += (size_t)snprintf(text + used, sizeof text - used, "%s1", i ? "," : "");
    snprintf(text + used, sizeof text - used, "\n");
    char path[4096];
    scratch(path, sizeof path, "wide.csv", text);
    fm_read_options opts = options("nope", NULL, 0);
    fm_dataset *ds = NULL;
    fm_error err = {0};
    FM_ASSERT_FAILS(fm_csv_read(path, &opts, &ds, &err), &err, FM_ERR_ARG, "(200 columns in all)");
    assert_true(fm_test_contains(err.message, "\"nope\""));
    assert_true(fm_test_contains(err.message, "\"column_000\""));
    assert_false(fm_test_contains(err.message, "column_199"));
}

static void test_column_in_both_lists(void **state)
{
    (void)state;
    char path[4096];
    scratch(path, sizeof path, "both.csv", "a,b\n1,2\n");
    fm_read_options opts = options("a,b", "b", 0);
    fm_dataset *ds = NULL;
    fm_error err = {0};
    FM_ASSERT_FAILS(fm_csv_read(path, &opts, &ds, &err), &err, FM_ERR_ARG,
                    "column \"b\" is both an input and a target");
    /* Every column a target leaves no inputs. */
    opts = options(NULL, "a,b", 0);
    FM_ASSERT_FAILS(fm_csv_read(path, &opts, &ds, &err), &err, FM_ERR_ARG, "no input columns");
}

static void test_duplicate_header(void **state)
{
    (void)state;
    char path[4096];
    scratch(path, sizeof path, "dup.csv", "a,b,a\n1,2,3\n");
    fm_dataset *ds = NULL;
    fm_error err = {0};
    FM_ASSERT_FAILS(fm_csv_read(path, NULL, &ds, &err), &err, FM_ERR_FORMAT, "dup.csv:1:");
    assert_true(fm_test_contains(err.message, "\"a\" appears twice (0-based columns 0 and 2)"));
}

static void test_bad_values_name_file_line_and_column(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        const char *needle;
    } cases[] = {
        {"abc", "bad.csv:3: column \"depth\": \"abc\" is not a number"},
        {"", "bad.csv:3: column \"depth\": missing value"},
        {"nan", "bad.csv:3: column \"depth\": \"nan\" is not a finite number"},
        {"-inf", "bad.csv:3: column \"depth\": \"-inf\" is not a finite number"},
        {"1e999", "bad.csv:3: column \"depth\": \"1e999\" is out of the float range"},
        {"1e39", "bad.csv:3: column \"depth\": \"1e39\" is out of the float range"},
        {"1.5x", "bad.csv:3: column \"depth\": \"1.5x\" is not a number"},
        {"\"\"", "bad.csv:3: column \"depth\": missing value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[256], path[4096];
        snprintf(text, sizeof text, "id,depth\n1,2\n2,%s\n3,4\n", cases[i].value);
        scratch(path, sizeof path, "bad.csv", text);
        fm_dataset *ds = NULL;
        fm_error err = {0};
        FM_ASSERT_FAILS(fm_csv_read(path, NULL, &ds, &err), &err, FM_ERR_FORMAT, cases[i].needle);
        assert_null(ds);

        /* The same row is skipped and counted on request. */
        fm_read_options opts = options(NULL, NULL, 1);
        FM_ASSERT_OK(fm_csv_read(path, &opts, &ds, &err), &err);
        assert_int_equal(ds->rows, 2);
        assert_int_equal(ds->skipped, 1);
        assert_true(ds->x[0] == 1.0f && ds->x[1] == 2.0f && ds->x[2] == 3.0f && ds->x[3] == 4.0f);
        fm_dataset_free(ds);
    }
}

static void test_float_limits_are_kept(void **state)
{
    (void)state;
    char path[4096];
    /* FLT_MAX as %.9g prints it (just above FLT_MAX in decimal) and an underflow to zero. */
    scratch(path, sizeof path, "limits.csv", "x\n3.40282347e+38\n-3.40282347e+38\n1e-50\n0x1p-3\n");
    fm_dataset *ds = NULL;
    fm_error err = {0};
    FM_ASSERT_OK(fm_csv_read(path, NULL, &ds, &err), &err);
    assert_int_equal(ds->rows, 4);
    assert_true(ds->x[0] == 3.40282347e+38f && ds->x[1] == -3.40282347e+38f);
    assert_true(ds->x[2] == 0.0f && ds->x[3] == 0.125f);
    fm_dataset_free(ds);
}

static void test_wrong_field_count(void **state)
{
    (void)state;
    char path[4096];
    scratch(path, sizeof path, "fields.csv", "a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n");
    fm_dataset *ds = NULL;
    fm_error err = {0};
    FM_ASSERT_FAILS(fm_csv_read(path, NULL, &ds, &err), &err, FM_ERR_FORMAT,
                    "fields.csv:3: expected 3 fields, found 2");
    fm_read_options opts = options(NULL, NULL, 1);
    FM_ASSERT_OK(fm_csv_read(path, &opts, &ds, &err), &err);
    assert_int_equal(ds->rows, 2);
    assert_int_equal(ds->skipped, 2);
    assert_true(ds->x[3] == 10.0f && ds->x[5] == 12.0f);
    fm_dataset_free(ds);

    /* An empty line in the middle is a row with one field. */
    scratch(path, sizeof path, "fields.csv", "a,b\n1,2\n\n3,4\n");
    FM_ASSERT_FAILS(fm_csv_read(path, NULL, &ds, &err), &err, FM_ERR_FORMAT,
                    "fields.csv:3: expected 2 fields, found 1");
}

static void test_line_numbers_count_quoted_newlines(void **state)
{
    (void)state;
    char path[4096];
    scratch(path, sizeof path, "lines.csv", "note,x\n\"a\nb\nc\",1\nok,zz\n");
    fm_dataset *ds = NULL;
    fm_error err = {0};
    fm_read_options opts = options("x", NULL, 0);
    FM_ASSERT_FAILS(fm_csv_read(path, &opts, &ds, &err), &err, FM_ERR_FORMAT, "lines.csv:5: column \"x\"");
}

static void test_quote_errors(void **state)
{
    (void)state;
    char path[4096];
    fm_dataset *ds = NULL;
    fm_error err = {0};
    scratch(path, sizeof path, "quote.csv", "a,b\n1,2\n\"3,4\n5,6\n");
    FM_ASSERT_FAILS(fm_csv_read(path, NULL, &ds, &err), &err, FM_ERR_FORMAT,
                    "quote.csv:3: a quoted field is never closed");

    scratch(path, sizeof path, "quote.csv", "a,b\n1,2\n\"3\"x,4\n5,6\n");
    FM_ASSERT_FAILS(fm_csv_read(path, NULL, &ds, &err), &err, FM_ERR_FORMAT,
                    "quote.csv:3: unexpected text after a closing quote");
    fm_read_options opts = options(NULL, NULL, 1);
    FM_ASSERT_OK(fm_csv_read(path, &opts, &ds, &err), &err);
    assert_int_equal(ds->rows, 2);
    assert_int_equal(ds->skipped, 1);
    assert_true(ds->x[2] == 5.0f);
    fm_dataset_free(ds);
}

static void test_empty_inputs(void **state)
{
    (void)state;
    char path[4096];
    fm_dataset *ds = NULL;
    fm_error err = {0};
    scratch(path, sizeof path, "empty.csv", "");
    FM_ASSERT_FAILS(fm_csv_read(path, NULL, &ds, &err), &err, FM_ERR_FORMAT, "empty.csv: the file is empty");
    scratch(path, sizeof path, "empty.csv", "\xEF\xBB\xBF\r\n\n");
    FM_ASSERT_FAILS(fm_csv_read(path, NULL, &ds, &err), &err, FM_ERR_FORMAT, "empty.csv: the file is empty");
    scratch(path, sizeof path, "empty.csv", "a,b\r\n\r\n");
    FM_ASSERT_FAILS(fm_csv_read(path, NULL, &ds, &err), &err, FM_ERR_FORMAT, "empty.csv: no data rows");
    scratch(path, sizeof path, "empty.csv", "a,b\nx,1\ny,2\n");
    fm_read_options opts = options(NULL, NULL, 1);
    FM_ASSERT_FAILS(fm_csv_read(path, &opts, &ds, &err), &err, FM_ERR_FORMAT, "all 2 data rows are bad");
    assert_true(fm_test_contains(err.message, "empty.csv:2: column \"a\": \"x\" is not a number"));
    FM_ASSERT_FAILS(fm_csv_read(fm_test_tmp_path("does-not-exist.csv"), NULL, &ds, &err), &err, FM_ERR_IO,
                    "does-not-exist.csv");
    FM_ASSERT_FAILS(fm_csv_read(NULL, NULL, &ds, &err), &err, FM_ERR_ARG, "");
}

/* The reader's fast decimal path must agree bit for bit with strtod. */
static void test_values_match_strtod(void **state)
{
    (void)state;
    enum { COUNT = 20000 };
    static char texts[COUNT][40];
    fm_rng rng;
    fm_rng_seed(&rng, 99);
    for (int i = 0; i < COUNT; i++) {
        double magnitude = pow(10.0, (double)fm_rng_below(&rng, 70) - 35.0);
        double value = fm_rng_normal(&rng) * magnitude;
        switch (i % 5) {
        case 0: snprintf(texts[i], sizeof texts[i], "%.17g", value); break;
        case 1: snprintf(texts[i], sizeof texts[i], "%.9g", value); break;
        case 2: snprintf(texts[i], sizeof texts[i], "%.6f", value); break;
        case 3: snprintf(texts[i], sizeof texts[i], "%.3e", value); break;
        default:
            snprintf(texts[i], sizeof texts[i], "%lld.%04d", (long long)fm_rng_below(&rng, 1000000) - 500000,
                     (int)fm_rng_below(&rng, 10000));
        }
    }
    char path[4096];
    snprintf(path, sizeof path, "%s", fm_test_tmp_path("strtod.csv"));
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("v\n", f);
    for (int i = 0; i < COUNT; i++)
        fprintf(f, "%s\n", texts[i]);
    fputs("0.1\n-0\n00012.500\n.5\n5.\n1E+2\n123456789012345678\n9007199254740993\n", f);
    fclose(f);
    fm_dataset *ds = NULL;
    fm_error err = {0};
    FM_ASSERT_OK(fm_csv_read(path, NULL, &ds, &err), &err);
    assert_int_equal(ds->rows, COUNT + 8);
    for (int i = 0; i < COUNT; i++) {
        float expected = (float)strtod(texts[i], NULL);
        if (memcmp(&expected, &ds->x[i], sizeof expected) != 0)
            fail_msg("\"%s\" read as %.9g, strtod gives %.9g", texts[i], (double)ds->x[i], (double)expected);
    }
    const float tail[8] = {
        0.1f, -0.0f, 12.5f, 0.5f, 5.0f, 100.0f, 123456789012345678.0f, (float)9007199254740993.0};
    assert_memory_equal(ds->x + COUNT, tail, sizeof tail);
    fm_dataset_free(ds);
}

static void test_no_trailing_newline(void **state)
{
    (void)state;
    char path[4096];
    scratch(path, sizeof path, "notail.csv", "a,b\n1,2\n3,4");
    fm_dataset *ds = NULL;
    fm_error err = {0};
    FM_ASSERT_OK(fm_csv_read(path, NULL, &ds, &err), &err);
    assert_int_equal(ds->rows, 2);
    assert_true(ds->x[3] == 4.0f);
    fm_dataset_free(ds);
}

static void test_write_read_round_trip_is_exact(void **state)
{
    (void)state;
    enum { ROWS = 257, COLS = 3 };
    static float data[ROWS * COLS];
    fm_rng rng;
    fm_rng_seed(&rng, 42);
    for (int i = 0; i < ROWS * COLS; i++)
        data[i] = (float)(fm_rng_normal(&rng) * pow(10.0, (double)(i % 60) - 30.0));
    data[0] = 3.40282347e+38f; /* FLT_MAX */
    data[1] = 1.4e-45f;        /* smallest subnormal */
    data[2] = -0.0f;
    char *names[COLS] = {"plain", "with, comma", "with \"quote\""};
    char path[4096];
    snprintf(path, sizeof path, "%s", fm_test_tmp_path("round.csv"));
    fm_error err = {0};
    FM_ASSERT_OK(fm_csv_write(path, data, ROWS, COLS, names, &err), &err);
    fm_dataset *ds = NULL;
    FM_ASSERT_OK(fm_csv_read(path, NULL, &ds, &err), &err);
    assert_int_equal(ds->rows, ROWS);
    assert_int_equal(ds->n_in, COLS);
    assert_memory_equal(ds->x, data, sizeof data);
    for (int j = 0; j < COLS; j++)
        assert_string_equal(ds->in_names[j], names[j]);
    fm_dataset_free(ds);

    /* Without names the header numbers the columns. */
    FM_ASSERT_OK(fm_csv_write(path, data, 1, 2, NULL, &err), &err);
    char *text = fm_test_read_file(path, NULL);
    assert_true(strncmp(text, "c0,c1\n", 6) == 0);
    free(text);
}

/* Names in the tmp directory that start with `prefix` (leftover temp files). */
static int count_entries_with_prefix(const char *prefix)
{
    DIR *dir = opendir(FATHOM_TEST_TMP_DIR);
    assert_non_null(dir);
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL)
        if (strncmp(entry->d_name, prefix, strlen(prefix)) == 0)
            count++;
    closedir(dir);
    return count;
}

static void test_write_is_atomic(void **state)
{
    (void)state;
    float data[2] = {1, 2};
    fm_error err = {0};

    /* The rename fails onto a non-empty directory: it must survive, and no
     * temporary file may be left beside it. */
    char dir[4096], inner[4200];
    snprintf(dir, sizeof dir, "%s", fm_test_tmp_path("atomic_target.csv"));
    mkdir(dir, 0755);
    snprintf(inner, sizeof inner, "%s/keep", dir);
    fm_test_write_text(inner, "keep");
    FM_ASSERT_FAILS(fm_csv_write(dir, data, 1, 2, NULL, &err), &err, FM_ERR_IO, "atomic_target.csv");
    assert_true(fm_test_file_exists(inner));
    assert_int_equal(count_entries_with_prefix("atomic_target.csv.tmp"), 0);

    /* A missing directory is an I/O error naming the path. */
    FM_ASSERT_FAILS(fm_csv_write(fm_test_tmp_path("no/such/dir/out.csv"), data, 1, 2, NULL, &err), &err,
                    FM_ERR_IO, "out.csv");

    /* Overwriting an existing file replaces it whole. */
    char path[4096];
    scratch(path, sizeof path, "replace.csv", "old,content\n9,9\n9,9\n9,9\n");
    FM_ASSERT_OK(fm_csv_write(path, data, 1, 2, NULL, &err), &err);
    char *text = fm_test_read_file(path, NULL);
    assert_string_equal(text, "c0,c1\n1,2\n");
    free(text);
    assert_int_equal(count_entries_with_prefix("replace.csv.tmp"), 0);

    /* The new file gets the permissions the umask gives any new file (0666 &
     * ~umask), not mkstemp's fixed 0600. */
    char fresh[4096];
    snprintf(fresh, sizeof fresh, "%s", fm_test_tmp_path("umask.csv"));
    remove(fresh);
    mode_t old_mask = umask(027);
    fm_status status = fm_csv_write(fresh, data, 1, 2, NULL, &err);
    umask(old_mask);
    FM_ASSERT_OK(status, &err);
    struct stat st;
    assert_int_equal(stat(fresh, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);

    FM_ASSERT_FAILS(fm_csv_write(path, NULL, 1, 2, NULL, &err), &err, FM_ERR_ARG, "");
    FM_ASSERT_FAILS(fm_csv_write(path, data, 1, 0, NULL, &err), &err, FM_ERR_ARG, "");
}

static void test_many_rows(void **state)
{
    (void)state;
    /* Large enough to cross buffer growth in the reader. */
    enum { ROWS = 50000 };
    char path[4096];
    snprintf(path, sizeof path, "%s", fm_test_tmp_path("many.csv"));
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("i,half,sq\n", f);
    for (int i = 0; i < ROWS; i++)
        fprintf(f, "%d,%g,%d\n", i, i * 0.5, (i % 100) * (i % 100));
    fclose(f);
    fm_read_options opts = options(NULL, "sq", 0);
    fm_dataset *ds = NULL;
    fm_error err = {0};
    FM_ASSERT_OK(fm_csv_read(path, &opts, &ds, &err), &err);
    assert_int_equal(ds->rows, ROWS);
    for (int i = 0; i < ROWS; i += 997) {
        assert_true(ds->x[2 * i] == (float)i);
        assert_true(ds->x[2 * i + 1] == (float)(i * 0.5));
        assert_true(ds->y[i] == (float)((i % 100) * (i % 100)));
    }
    fm_dataset_free(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_values_and_names),
        cmocka_unit_test(test_selection_order_indices_and_ranges),
        cmocka_unit_test(test_header_names_beat_numbers),
        cmocka_unit_test(test_quotes_crlf_bom_and_blank_tail),
        cmocka_unit_test(test_unselected_columns_are_not_parsed),
        cmocka_unit_test(test_unknown_column_lists_available),
        cmocka_unit_test(test_long_column_list_is_truncated),
        cmocka_unit_test(test_column_in_both_lists),
        cmocka_unit_test(test_duplicate_header),
        cmocka_unit_test(test_bad_values_name_file_line_and_column),
        cmocka_unit_test(test_float_limits_are_kept),
        cmocka_unit_test(test_wrong_field_count),
        cmocka_unit_test(test_line_numbers_count_quoted_newlines),
        cmocka_unit_test(test_quote_errors),
        cmocka_unit_test(test_empty_inputs),
        cmocka_unit_test(test_values_match_strtod),
        cmocka_unit_test(test_no_trailing_newline),
        cmocka_unit_test(test_write_read_round_trip_is_exact),
        cmocka_unit_test(test_write_is_atomic),
        cmocka_unit_test(test_many_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
