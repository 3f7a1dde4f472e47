/* The month of the year of a CF time coordinate ("UNIT since DATE" in one of
 * the CF calendars), for the `month` input of NetCDF grids. Climate models
 * count time in calendars of their own (CESM's noleap, HadGEM's 360_day), so
 * the elapsed time is turned into a date of that calendar, not divided by a
 * mean month: over 1850 years a 365.2425-day year drifts 15 months from a
 * 365-day one. Dates are counted as day numbers of each calendar; the
 * Gregorian and Julian ones through the Julian Day Number, which also joins
 * them into CF's default "standard" calendar (Julian up to 1582-10-04, then
 * Gregorian from 1582-10-15). */
#include "io/io_internal.h"

#include "core/internal.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum calendar {
    CAL_STANDARD,  /* "standard", "gregorian", or no calendar attribute */
    CAL_PROLEPTIC, /* "proleptic_gregorian" */
    CAL_JULIAN,    /* "julian" */
    CAL_NOLEAP,    /* "noleap", "365_day" */
    CAL_ALL_LEAP,  /* "all_leap", "366_day" */
    CAL_360_DAY    /* "360_day" */
} calendar;

static const struct {
    const char *name;
    calendar cal;
} CALENDARS[] = {{"standard", CAL_STANDARD},   {"gregorian", CAL_STANDARD}, {"proleptic_gregorian", CAL_PROLEPTIC},
                 {"julian", CAL_JULIAN},       {"noleap", CAL_NOLEAP},      {"365_day", CAL_NOLEAP},
                 {"all_leap", CAL_ALL_LEAP},   {"366_day", CAL_ALL_LEAP},   {"360_day", CAL_360_DAY}};

/* The first Gregorian day of the standard calendar, 1582-10-15, as a JDN. */
static const long GREGORIAN_START = 2299161;

static long floor_div(long a, long b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

static int gregorian_leap(long y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
static int julian_leap(long y) { return floor_div(y, 4) * 4 == y; }

static int month_days(calendar cal, long y, int m)
{
    static const int DAYS[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (cal == CAL_360_DAY)
        return 30;
    if (m != 2)
        return DAYS[m - 1];
    switch (cal) {
    case CAL_NOLEAP: return 28;
    case CAL_ALL_LEAP: return 29;
    case CAL_JULIAN: return 28 + julian_leap(y);
    case CAL_PROLEPTIC: return 28 + gregorian_leap(y);
    default: return 28 + (y < 1583 ? julian_leap(y) : gregorian_leap(y));
    }
}

/* Julian Day Numbers of Gregorian and Julian dates (astronomical years: 0
 * is 1 BC), by the usual March-based formulas with floor division. */
static long gregorian_jdn(long y, int m, int d)
{
    long a = (14 - m) / 12, yy = y + 4800 - a, mm = m + 12 * a - 3;
    return d + (153 * mm + 2) / 5 + 365 * yy + floor_div(yy, 4) - floor_div(yy, 100) + floor_div(yy, 400) - 32045;
}
static long julian_jdn(long y, int m, int d)
{
    long a = (14 - m) / 12, yy = y + 4800 - a, mm = m + 12 * a - 3;
    return d + (153 * mm + 2) / 5 + 365 * yy + floor_div(yy, 4) - 32083;
}
static void gregorian_date(long jdn, long *y, int *m, int *d)
{
    long a = jdn + 32044, b = floor_div(4 * a + 3, 146097), c = a - floor_div(146097 * b, 4);
    long e = floor_div(4 * c + 3, 1461), f = c - floor_div(1461 * e, 4), g = (5 * f + 2) / 153;
    *d = (int)(f - (153 * g + 2) / 5 + 1);
    *m = (int)(g + 3 - 12 * (g / 10));
    *y = 100 * b + e - 4800 + g / 10;
}
static void julian_date(long jdn, long *y, int *m, int *d)
{
    long c = jdn + 32082, e = floor_div(4 * c + 3, 1461), f = c - floor_div(1461 * e, 4), g = (5 * f + 2) / 153;
    *d = (int)(f - (153 * g + 2) / 5 + 1);
    *m = (int)(g + 3 - 12 * (g / 10));
    *y = e - 4800 + g / 10;
}

/* A date's day number in its calendar (the JDN for the three real ones). */
static long day_number(calendar cal, long y, int m, int d)
{
    switch (cal) {
    case CAL_PROLEPTIC: return gregorian_jdn(y, m, d);
    case CAL_JULIAN: return julian_jdn(y, m, d);
    case CAL_STANDARD: {
        long g = gregorian_jdn(y, m, d);
        return g >= GREGORIAN_START ? g : julian_jdn(y, m, d);
    }
    case CAL_360_DAY: return y * 360 + (m - 1) * 30 + (d - 1);
    default: {
        long n = y * (cal == CAL_NOLEAP ? 365 : 366);
        for (int k = 1; k < m; k++)
            n += month_days(cal, y, k);
        return n + d - 1;
    }
    }
}

static void date_of(calendar cal, long n, long *y, int *m, int *d)
{
    switch (cal) {
    case CAL_PROLEPTIC: gregorian_date(n, y, m, d); return;
    case CAL_JULIAN: julian_date(n, y, m, d); return;
    case CAL_STANDARD:
        if (n >= GREGORIAN_START)
            gregorian_date(n, y, m, d);
        else
            julian_date(n, y, m, d);
        return;
    default: {
        const long year = cal == CAL_360_DAY ? 360 : cal == CAL_NOLEAP ? 365 : 366;
        *y = floor_div(n, year);
        long left = n - *y * year;
        *m = 1;
        while (left >= month_days(cal, *y, *m))
            left -= month_days(cal, *y, (*m)++);
        *d = (int)left + 1;
    }
    }
}

/* "days since 1850-01-01 00:00:00", "hours since 2000-1-1T12:00:00Z": the
 * unit in days, and the reference's day number and fraction of a day. */
static fm_status parse_units(const char *units, calendar cal, double *unit_days, long *ref_day, double *ref_frac,
                             const char *where, fm_error *err)
{
    static const struct {
        const char *word;
        double days;
    } UNITS[] = {{"days", 1},           {"day", 1},           {"d", 1},          {"hours", 1.0 / 24},
                 {"hour", 1.0 / 24},    {"hrs", 1.0 / 24},    {"hr", 1.0 / 24},  {"h", 1.0 / 24},
                 {"minutes", 1.0 / 1440}, {"minute", 1.0 / 1440}, {"mins", 1.0 / 1440}, {"min", 1.0 / 1440},
                 {"seconds", 1.0 / 86400}, {"second", 1.0 / 86400}, {"secs", 1.0 / 86400}, {"sec", 1.0 / 86400},
                 {"s", 1.0 / 86400}};
    const char *since = strstr(units, " since ");
    *unit_days = 0;
    size_t n = since ? (size_t)(since - units) : 0; /* no unit has length 0 */
    for (size_t u = 0; u < sizeof UNITS / sizeof UNITS[0] && !*unit_days; u++)
        if (strlen(UNITS[u].word) == n && !strncmp(units, UNITS[u].word, n))
            *unit_days = UNITS[u].days;
    if (!since || !*unit_days)
        return fm_fail(err, FM_ERR_FORMAT,
                       "%s has units \"%s\"; \"month\" needs \"UNIT since Y-M-D [h:m:s]\" with UNIT days, hours, "
                       "minutes or seconds (months and years have no fixed length)",
                       where, units);
    long y = 0;
    int m = 0, d = 0, hh = 0, mm = 0, used = 0;
    double ss = 0;
    const char *date = since + 7;
    while (*date == ' ')
        date++;
    if (sscanf(date, "%ld-%d-%d%n", &y, &m, &d, &used) < 3)
        return fm_fail(err, FM_ERR_FORMAT, "%s has units \"%s\": the reference date is not Y-M-D", where, units);
    const char *clock = date + used;
    if (*clock == 'T' || *clock == 't' || *clock == ' ') {
        int more = 0;
        if (sscanf(clock + 1, "%d:%d%n", &hh, &mm, &more) == 2) {
            clock += 1 + more;
            if (*clock == ':' && sscanf(clock + 1, "%lf", &ss) != 1)
                ss = -1;
        }
    }
    if (y < -4000 || y > 100000 || m < 1 || m > 12 || d < 1 || d > month_days(cal, y, m) || hh < 0 || hh > 23 ||
        mm < 0 || mm > 59 || !(ss >= 0 && ss < 61))
        return fm_fail(err, FM_ERR_FORMAT, "%s has units \"%s\": %ld-%02d-%02d %02d:%02d is not a date of its calendar",
                       where, units, y, m, d, hh, mm);
    if (cal == CAL_STANDARD && y == 1582 && m == 10 && d > 4 && d < 15)
        return fm_fail(err, FM_ERR_FORMAT,
                       "%s has units \"%s\": 1582-10-05 to 1582-10-14 do not exist in the standard calendar", where,
                       units);
    *ref_day = day_number(cal, y, m, d);
    *ref_frac = (hh * 3600.0 + mm * 60.0 + ss) / 86400.0;
    return FM_OK;
}

fm_status fm_time_to_month(const char *units, const char *calendar_name, double *values, size_t n, const char *where,
                           fm_error *err)
{
    calendar cal = CAL_STANDARD;
    if (calendar_name && *calendar_name) {
        char lower[64];
        size_t len = strlen(calendar_name);
        if (len >= sizeof lower)
            len = sizeof lower - 1;
        for (size_t i = 0; i < len; i++)
            lower[i] = (char)tolower((unsigned char)calendar_name[i]);
        lower[len] = '\0';
        size_t c = 0, count = sizeof CALENDARS / sizeof CALENDARS[0];
        while (c < count && strcmp(lower, CALENDARS[c].name) != 0)
            c++;
        if (c == count)
            return fm_fail(err, FM_ERR_FORMAT,
                           "%s has calendar \"%s\"; \"month\" knows standard (gregorian), proleptic_gregorian, "
                           "julian, noleap (365_day), all_leap (366_day) and 360_day",
                           where, calendar_name);
        cal = CALENDARS[c].cal;
    }
    double unit_days, ref_frac;
    long ref_day;
    fm_status st = parse_units(units, cal, &unit_days, &ref_day, &ref_frac, where, err);
    if (st != FM_OK)
        return st;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(values[i]))
            continue; /* a missing time stays missing */
        double t = ref_frac + values[i] * unit_days;
        if (fabs(t) > 4e7) /* about 100,000 years */
            return fm_fail(err, FM_ERR_FORMAT, "%s: time %g is more than 100,000 years from the reference date", where,
                           values[i]);
        double whole = floor(t);
        long y;
        int m, d;
        date_of(cal, ref_day + (long)whole, &y, &m, &d);
        double month = (m - 1) + ((d - 1) + (t - whole)) / month_days(cal, y, m);
        values[i] = month >= 12.0 ? 0.0 : month; /* [0, 12) */
    }
    return FM_OK;
}
