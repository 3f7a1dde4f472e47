/* A small SVG writer for fathom's plots: line charts with linear or log axes,
 * heatmaps on a log or linear colour scale, histograms, legends and "nice"
 * ticks, all written as text into a growing buffer (XML-escaped). Our own
 * rather than a plotting library because the pictures must be one
 * self-contained file with no runtime dependency, and the few chart kinds we
 * need fit in a few hundred lines. Colours: Okabe-Ito for lines (safe for
 * colour-blind readers), viridis and cividis for heatmaps. */
#ifndef FATHOM_REPORT_SVG_H
#define FATHOM_REPORT_SVG_H

#include <stddef.h>

/* A growing text buffer. `failed` records an allocation failure; writing
 * then stops and the caller reports FM_ERR_NOMEM. */
typedef struct sbuf {
    char *data;
    size_t len, cap;
    int failed;
    int next_id; /* for ids unique within one document (clip paths) */
} sbuf;

void sbuf_puts(sbuf *b, const char *text);
void sbuf_printf(sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Text with & < > " ' escaped (valid in XML/HTML text and attributes). */
void sbuf_escape(sbuf *b, const char *text);
void sbuf_free(sbuf *b);

/* The eight Okabe-Ito colours, black last. */
extern const char *const SVG_OKABE_ITO[8];
#define SVG_BLUE "#0072B2"
#define SVG_VERMILLION "#D55E00"
#define SVG_SKY "#56B4E9"
#define SVG_ORANGE "#E69F00"
#define SVG_GREEN "#009E73"
#define SVG_PURPLE "#CC79A7"
#define SVG_GREY "#7f7f7f"

/* Colour at t in [0, 1] of viridis or cividis as "#rrggbb". */
void svg_colormap(int cividis, double t, char out[8]);

/* A number for tick labels and tooltips: 3 significant digits, "1e-06"
 * written as 10⁻⁶ when it is a power of ten. */
void svg_format_number(double v, char *buf, size_t size);

typedef struct svg_axis {
    const char *label; /* with unit, e.g. "step" or "Var[z]" */
    int log;           /* 1: log10 scale (values <= 0 are not drawn) */
    double lo, hi;     /* range; lo >= hi (e.g. both 0): from the data */
    int integer;       /* ticks on whole numbers only (layer numbers) */
} svg_axis;

enum { SVG_SOLID = 0, SVG_DASHED, SVG_DOTTED };

typedef struct svg_series {
    const char *label;  /* legend text; NULL: not in the legend */
    const double *x, *y;
    int n;
    const char *color;
    int style;          /* SVG_SOLID, SVG_DASHED, SVG_DOTTED */
    int markers;        /* circles at the points (skipped when more than 200 points) */
    double width;       /* stroke width (0: 2) */
    double opacity;     /* 0: 1 */
    int hover;          /* a <title> with the values on each marker */
} svg_series;

typedef struct svg_line_chart {
    const char *title;
    svg_axis x, y;
    const svg_series *series;
    int n_series;
    int width, height;
    double vline;           /* a vertical marker at this x (NAN: none) */
    const char *vline_label;
    double hline;           /* a horizontal reference at this y (NAN: none) */
    const char *hline_label;
    const char *empty_text; /* shown when no series has a drawable point */
} svg_line_chart;

/* A complete <svg> element. Series longer than the plot is wide are
 * thinned to the minimum and maximum of each pixel column, so spikes stay. */
void svg_line_chart_render(sbuf *out, const svg_line_chart *chart);

typedef struct svg_heatmap {
    const char *title;
    int rows, cols;
    const double *values; /* [rows][cols]; NAN: no data; +-INFINITY: overflow or NaN in the run */
    int log;              /* log10 colour scale */
    double lo, hi;        /* colour range; lo >= hi: from the data */
    int cividis;          /* cividis instead of viridis */
    const char *x_label;  /* columns span x0 .. x1 evenly */
    double x0, x1;
    const char *y_label;  /* rows are numbered 1 .. rows, row 1 at the top */
    const char *value_label; /* colour bar */
    int percent;          /* values are shares: colour bar in % */
    int width, height;
} svg_heatmap;

/* A complete <svg> element. Columns are averaged (in log space for a log
 * scale) down to what the width shows; a column with an infinite entry stays
 * infinite. Carries its values in data- attributes for the hover script. */
void svg_heatmap_render(sbuf *out, const svg_heatmap *map);

typedef struct svg_hist {
    double range;          /* bins split [-range, range] */
    int bins;
    const double *counts;  /* [bins]; NULL: absent */
    double outside, total; /* beyond +-range (incl. non-finite), and all values */
} svg_hist;

/* A small histogram panel: `first` filled (sky blue), `second` outlined
 * (vermillion), as density per unit z on a shared axis. */
void svg_histogram_render(sbuf *out, const char *title, const svg_hist *first, const svg_hist *second, int width,
                          int height);

/* A legend as its own small <svg>: swatches with labels in a row. */
void svg_legend_render(sbuf *out, const svg_series *items, int n, int width);

/* ------------------------------------------------------------------ maps */

/* Finer grids are averaged in blocks down to at most this many cells. */
#define SVG_MAP_MAX_ROWS 180
#define SVG_MAP_MAX_COLS 360
/* Colour levels of a map (one <path> per level). */
#define SVG_MAP_LEVELS 64
/* Land and missing cells. */
#define SVG_MAP_MISSING "#c8c8c8"

/* A lon x lat field on an evenly spaced grid (plate carree). */
typedef struct svg_map {
    const char *title;
    int rows, cols;           /* latitudes x longitudes */
    const double *values;     /* [rows][cols], NaN where missing */
    const double *lon, *lat;  /* [cols], [rows] cell centres in degrees */
    double lo, hi;            /* colour range; values beyond take the end colours */
    int diverging;            /* 1: the blue-white-red scale (residuals), else viridis */
    const char *value_label;  /* the colour bar's label, with units */
    int width;                /* pixels; the height follows the grid's aspect */
} svg_map;

/* ColorBrewer RdBu reversed, t in [0, 1]: blue (low) - white - red (high). */
void svg_diverging(double t, char out[8]);

/* A map panel: north up, west left, cells as runs of one colour per level,
 * degree ticks, a colour bar and a key for missing cells. */
void svg_map_render(sbuf *out, const svg_map *m);

#endif
