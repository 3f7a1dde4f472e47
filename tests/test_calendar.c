/* The month of the year of CF time coordinates in each CF calendar
 * (src/io/calendar.c), against dates worked out independently: proleptic
 * Gregorian ones with Python's datetime (e.g. 1970-01-01 + 19000.25 days =
 * 2022-01-08 06:00); the standard calendar's Julian part by the Julian Day
 * Numbers of its two reference points (Julian 0001-01-01 is JDN 1721424, two
 * days before Gregorian 0001-01-01, JDN 1721426; Julian 1582-10-04 is
 * followed by Gregorian 1582-10-15); the model calendars by counting (noleap:
 * 365-day years, so day 674899 after 0001-01-01 is 1849 * 365 + 14 days
 * later, 1850-01-15; 360_day: twelve 30-day months). A date d of a month of
 * L days at time of day f is month index + (d - 1 + f) / L. */
#include "test_support.h"

#include "core/internal.h"
#include "io/io_internal.h"

#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double month_of(const char *units, const char *calendar, double value)
{
    fm_error err;
    double v = value;
    FM_ASSERT_OK(fm_time_to_month(units, calendar, &v, 1, "test", &err), &err);
    return v;
}

static void test_standard_and_proleptic_gregorian(void **state)
{
    (void)state;
    assert_float_equal(month_of("days since 1970-01-01", "proleptic_gregorian", 19000.25), 7.25 / 31, 1e-12);
    assert_float_equal(month_of("days since 1970-01-01", "", 19000.25), 7.25 / 31, 1e-12);
    assert_float_equal(month_of("hours since 2000-01-01 12:00:00", NULL, 12), 1.0 / 31, 1e-12);
    assert_float_equal(month_of("seconds since 2000-01-01t12:00:00z", "gregorian", 43200), 1.0 / 31, 1e-12);
    assert_float_equal(month_of("days since 1850-01-01", "standard", 51149.5), 15.5 / 31, 1e-12);
    /* 1917-07-16 proleptic; two days earlier from the Julian 0001-01-01 */
    assert_float_equal(month_of("days since 0001-01-01", "proleptic_gregorian", 700000), 6 + 15.0 / 31, 1e-12);
    assert_float_equal(month_of("days since 0001-01-01", "standard", 700000), 6 + 13.0 / 31, 1e-12);
    /* across the Gregorian reform */
    assert_float_equal(month_of("days since 1582-10-04", "standard", 1), 9 + 14.0 / 31, 1e-12);
    assert_float_equal(month_of("days since 1582-10-04", "proleptic_gregorian", 1), 9 + 4.0 / 31, 1e-12);
    /* 1900 is a leap year of the Julian calendar only */
    assert_float_equal(month_of("days since 1900-02-28", "julian", 1), 1 + 28.0 / 29, 1e-12);
    assert_float_equal(month_of("days since 1900-02-28", "proleptic_gregorian", 1), 2.0, 1e-12);
    assert_float_equal(month_of("days since 1900-02-28", "standard", 1), 2.0, 1e-12);
    assert_float_equal(month_of("days since 2000-02-28", "standard", 1), 1 + 28.0 / 29, 1e-12);
}

static void test_model_calendars(void **state)
{
    (void)state;
    assert_float_equal(month_of("days since 0001-01-01 00:00:00", "noleap", 674899), 14.0 / 31, 1e-12);
    assert_float_equal(month_of("days since 0001-01-01", "365_day", 674899 + 365 * 140), 14.0 / 31, 1e-12);
    assert_float_equal(month_of("days since 0001-01-01", "360_day", 719655), 0.5, 1e-12);
    assert_float_equal(month_of("days since 2001-02-28", "all_leap", 1), 1 + 28.0 / 29, 1e-12);
    assert_float_equal(month_of("days since 2001-02-28", "366_day", 1), 1 + 28.0 / 29, 1e-12);
    assert_float_equal(month_of("days since 2000-02-28", "noleap", 1), 2.0, 1e-12);
    assert_float_equal(month_of("days since 2000-02-29", "360_day", 1), 1 + 29.0 / 30, 1e-12);
    /* before the reference date */
    assert_float_equal(month_of("days since 2000-01-01", "noleap", -1), 11 + 30.0 / 31, 1e-12);
    assert_float_equal(month_of("days since 2000-01-01", "360_day", -0.5), 11 + 29.5 / 30, 1e-12);
    /* the mean month this replaces put 1850-01-15 of noleap in October */
    double v = month_of("days since 0001-01-01", "noleap", 674899);
    assert_true(v < 1);
    /* a missing time stays missing */
    double values[2] = {NAN, 31};
    fm_error err;
    FM_ASSERT_OK(fm_time_to_month("days since 2000-01-01", "", values, 2, "test", &err), &err);
    assert_true(isnan(values[0]));
    assert_float_equal(values[1], 1.0, 1e-12);
}

static void test_bad_units_and_calendars(void **state)
{
    (void)state;
    fm_error err;
    double v = 1;
    FM_ASSERT_FAILS(fm_time_to_month("days since 2000-13-45", "", &v, 1, "f.nc: time axis T", &err), &err,
                    FM_ERR_FORMAT, "not a date of its calendar");
    assert_true(fm_test_contains(err.message, "f.nc: time axis T"));
    FM_ASSERT_FAILS(fm_time_to_month("days since 2001-02-29", "standard", &v, 1, "t", &err), &err, FM_ERR_FORMAT,
                    "not a date");
    FM_ASSERT_FAILS(fm_time_to_month("days since 1582-10-10", "standard", &v, 1, "t", &err), &err, FM_ERR_FORMAT,
                    "do not exist");
    FM_ASSERT_FAILS(fm_time_to_month("months since 2000-01-01", "", &v, 1, "t", &err), &err, FM_ERR_FORMAT,
                    "days, hours, minutes or seconds");
    FM_ASSERT_FAILS(fm_time_to_month("days", "", &v, 1, "t", &err), &err, FM_ERR_FORMAT, "UNIT since");
    FM_ASSERT_FAILS(fm_time_to_month("days since yesterday", "", &v, 1, "t", &err), &err, FM_ERR_FORMAT, "Y-M-D");
    FM_ASSERT_FAILS(fm_time_to_month("days since 2000-01-01", "martian", &v, 1, "t", &err), &err, FM_ERR_FORMAT,
                    "calendar \"martian\"");
    FM_ASSERT_FAILS(fm_time_to_month("days since 2000-01-01", "none", &v, 1, "t", &err), &err, FM_ERR_FORMAT,
                    "360_day");
    v = 1e12;
    FM_ASSERT_FAILS(fm_time_to_month("days since 2000-01-01", "", &v, 1, "t", &err), &err, FM_ERR_FORMAT,
                    "100,000 years");
}

/* Through the NetCDF reader: a CESM-like noleap time axis. */
static void test_month_input_of_a_noleap_grid(void **state)
{
    (void)state;
    const char *path = fm_test_tmp_path("noleap.nc");
    int nc, t_dim, x_dim, t, v;
    assert_int_equal(nc_create(path, NC_CLOBBER, &nc), NC_NOERR);
    assert_int_equal(nc_def_dim(nc, "time", 3, &t_dim), NC_NOERR);
    assert_int_equal(nc_def_dim(nc, "x", 2, &x_dim), NC_NOERR);
    assert_int_equal(nc_def_var(nc, "time", NC_DOUBLE, 1, &t_dim, &t), NC_NOERR);
    const char *units = "days since 0001-01-01 00:00:00";
    assert_int_equal(nc_put_att_text(nc, t, "units", strlen(units), units), NC_NOERR);
    assert_int_equal(nc_put_att_text(nc, t, "calendar", 6, "noleap"), NC_NOERR);
    int dims[2] = {t_dim, x_dim};
    assert_int_equal(nc_def_var(nc, "T", NC_FLOAT, 2, dims, &v), NC_NOERR);
    assert_int_equal(nc_enddef(nc), NC_NOERR);
    /* 1850-01-15, 1850-07-16 12:00 (day 196 of the year), 1851-12-31 */
    const double times[3] = {674899, 674885 + 196.5, 674885 + 365 + 364};
    assert_int_equal(nc_put_var_double(nc, t, times), NC_NOERR);
    const float temps[6] = {1, 2, 3, 4, 5, 6};
    assert_int_equal(nc_put_var_float(nc, v, temps), NC_NOERR);
    assert_int_equal(nc_close(nc), NC_NOERR);
    fm_error err;
    fm_dataset *ds = NULL;
    const fm_read_options opts = {"month", "T", 0};
    FM_ASSERT_OK(fm_data_read(path, NULL, &opts, &ds, &err), &err);
    assert_int_equal(ds->rows, 6);
    const double want[3] = {14.0 / 31, 6 + 15.5 / 31, 11 + 30.0 / 31};
    for (size_t r = 0; r < 6; r++)
        assert_float_equal(ds->x[r], (float)want[r / 2], 1e-6);
    fm_dataset_free(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_standard_and_proleptic_gregorian),
        cmocka_unit_test(test_model_calendars),
        cmocka_unit_test(test_bad_units_and_calendars),
        cmocka_unit_test(test_month_input_of_a_noleap_grid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
