#include "svg.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ buffer */

static int sbuf_reserve(sbuf *b, size_t extra)
{
    if (b->failed)
        return 0;
    if (b->len + extra + 1 <= b->cap)
        return 1;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data) {
        b->failed = 1;
        return 0;
    }
    b->data = data;
    b->cap = cap;
    return 1;
}

void sbuf_puts(sbuf *b, const char *text)
{
    size_t n = strlen(text);
    if (!sbuf_reserve(b, n))
        return;
    memcpy(b->data + b->len, text, n + 1);
    b->len += n;
}

void sbuf_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[512];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        sbuf_puts(b, small);
        return;
    }
    if (!sbuf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sbuf_escape(sbuf *b, const char *text)
{
    if (!text)
        return;
    for (const char *p = text; *p; p++) {
        switch (*p) {
        case '&': sbuf_puts(b, "&amp;"); break;
        case '<': sbuf_puts(b, "&lt;"); break;
        case '>': sbuf_puts(b, "&gt;"); break;
        case '"': sbuf_puts(b, "&quot;"); break;
        case '\'': sbuf_puts(b, "&#39;"); break;
        default:
            /* Control characters other than tab and newline are not allowed in XML 1.0. */
            if ((unsigned char)*p < 0x20 && *p != '\t' && *p != '\n') {
                sbuf_puts(b, " ");
            } else {
                char c[2] = {*p, 0};
                sbuf_puts(b, c);
            }
        }
    }
}

void sbuf_free(sbuf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* ------------------------------------------------------------------ colours */

const char *const SVG_OKABE_ITO[8] = {SVG_BLUE, SVG_VERMILLION, SVG_GREEN, SVG_ORANGE,
                                      SVG_PURPLE, SVG_SKY, "#F0E442", "#000000"};

/* Both maps sampled at t = 0, 0.1, ..., 1 (matplotlib's tables). */
static const unsigned char VIRIDIS[11][3] = {{68, 1, 84},    {72, 36, 117},  {65, 68, 135},  {53, 95, 141},
                                             {42, 120, 142}, {33, 145, 140}, {34, 168, 132}, {68, 191, 112},
                                             {122, 209, 81}, {189, 223, 38}, {253, 231, 37}};
static const unsigned char CIVIDIS[11][3] = {{0, 34, 78},     {18, 53, 112},   {59, 73, 108},  {87, 92, 109},
                                             {112, 113, 115}, {138, 134, 120}, {165, 156, 116}, {193, 179, 105},
                                             {222, 204, 88},  {245, 222, 68},  {255, 234, 70}};

void svg_colormap(int cividis, double t, char out[8])
{
    const unsigned char(*map)[3] = cividis ? CIVIDIS : VIRIDIS;
    if (!(t > 0.0))
        t = 0.0;
    if (t > 1.0)
        t = 1.0;
    double pos = t * 10.0;
    int i = (int)pos;
    if (i > 9)
        i = 9;
    double f = pos - i;
    int rgb[3];
    for (int c = 0; c < 3; c++)
        rgb[c] = (int)lround(map[i][c] + f * (map[i + 1][c] - map[i][c]));
    snprintf(out, 8, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}

/* ------------------------------------------------------------------ numbers */

static void superscript(int e, char *buf, size_t size)
{
    static const char *const digits[10] = {"⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"};
    char plain[16];
    snprintf(plain, sizeof plain, "%d", e);
    size_t used = 0;
    buf[0] = 0;
    for (const char *p = plain; *p; p++) {
        const char *s = *p == '-' ? "⁻" : digits[*p - '0'];
        size_t n = strlen(s);
        if (used + n + 1 > size)
            break;
        memcpy(buf + used, s, n + 1);
        used += n;
    }
}

static void power_of_ten(int e, char *buf, size_t size)
{
    if (e >= -3 && e <= 4) {
        snprintf(buf, size, "%.*f", e < 0 ? -e : 0, pow(10.0, e));
        return;
    }
    char sup[48];
    superscript(e, sup, sizeof sup);
    snprintf(buf, size, "10%s", sup);
}

void svg_format_number(double v, char *buf, size_t size)
{
    if (isnan(v)) {
        snprintf(buf, size, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, size, v > 0 ? "Inf" : "-Inf");
        return;
    }
    if (v != 0.0) {
        double e = log10(fabs(v));
        if (fabs(e - round(e)) < 1e-9 && v > 0) {
            power_of_ten((int)round(e), buf, size);
            return;
        }
        if (fabs(v) >= 1e5 || fabs(v) < 1e-3) {
            int ex = (int)floor(e);
            double m = v / pow(10.0, ex);
            char sup[48];
            superscript(ex, sup, sizeof sup);
            snprintf(buf, size, "%.3g×10%s", m, sup);
            return;
        }
    }
    snprintf(buf, size, "%.3g", v);
}

/* 1, 2 or 5 x 10^k nearest above raw. */
static double nice_step(double raw)
{
    if (!(raw > 0.0) || !isfinite(raw))
        return 1.0;
    double decade = pow(10.0, floor(log10(raw)));
    double f = raw / decade;
    return (f <= 1.0 ? 1.0 : f <= 2.0 ? 2.0 : f <= 5.0 ? 5.0 : 10.0) * decade;
}

/* A linear tick label: thousands as "20k", otherwise enough decimals for the step. */
static void linear_label(double v, double step, char *buf, size_t size)
{
    if (fabs(v) < step * 1e-9) {
        snprintf(buf, size, "0");
        return;
    }
    if (step >= 1000.0 && fmod(fabs(v), 1000.0) < 1e-6 && fabs(v) < 1e9) {
        snprintf(buf, size, "%gk", v / 1000.0);
        return;
    }
    if (fabs(v) >= 1e6 || (step < 1e-3 && v != 0.0)) {
        svg_format_number(v, buf, size);
        return;
    }
    int decimals = step >= 1.0 ? 0 : (int)ceil(-log10(step) - 1e-9);
    snprintf(buf, size, "%.*f", decimals, v);
}

/* ------------------------------------------------------------------ axes */

#define MAX_TICKS 40

typedef struct scale {
    double lo, hi; /* in data units */
    int log;
    double p0, p1; /* pixels: lo maps to p0, hi to p1 */
    int n_ticks;
    double ticks[MAX_TICKS];
    int labelled[MAX_TICKS];
    double minor[MAX_TICKS * 8];
    int n_minor;
    double step; /* linear tick spacing */
} scale;

static double to_pixel(const scale *s, double v)
{
    double a = s->log ? log10(v) : v, lo = s->log ? log10(s->lo) : s->lo, hi = s->log ? log10(s->hi) : s->hi;
    return s->p0 + (a - lo) / (hi - lo) * (s->p1 - s->p0);
}

static int usable(const scale *s, double v) { return isfinite(v) && (!s->log || v > 0.0); }

/* Choose range and ticks. lo/hi: data extent (lo > hi when there is none);
 * fixed: keep the range as given; expand: round the range out to ticks. */
static void scale_setup(scale *s, const svg_axis *axis, double lo, double hi, double pixels, double spacing,
                        int expand)
{
    s->log = axis->log;
    s->n_ticks = s->n_minor = 0;
    if (axis->lo < axis->hi && (!axis->log || axis->lo > 0)) {
        lo = axis->lo;
        hi = axis->hi;
        expand = 0;
    }
    if (!(lo <= hi)) {
        lo = s->log ? 0.1 : 0.0;
        hi = s->log ? 10.0 : 1.0;
    }
    int max_ticks = (int)(pixels / spacing);
    if (max_ticks < 2)
        max_ticks = 2;
    if (max_ticks > 12)
        max_ticks = 12;
    if (s->log) {
        if (lo == hi) {
            lo /= 2.0;
            hi *= 2.0;
        }
        double elo = log10(lo), ehi = log10(hi);
        if (expand || ehi - elo >= 1.0) {
            /* Round out to decades only when the data span at least one, so a
             * narrow range is not squashed into a thin band. */
            if (expand && ehi - elo >= 0.5) {
                elo = floor(elo + 1e-9);
                ehi = ceil(ehi - 1e-9);
            }
        }
        if (ehi - elo < 1e-9)
            ehi = elo + 1.0;
        s->lo = pow(10.0, elo);
        s->hi = pow(10.0, ehi);
        int first = (int)ceil(elo - 1e-9), last = (int)floor(ehi + 1e-9);
        int decades = last - first + 1;
        int every = decades > max_ticks ? (decades + max_ticks - 1) / max_ticks : 1;
        for (int e = first; e <= last && s->n_ticks < MAX_TICKS; e++) {
            if ((e - first) % every != 0)
                continue;
            s->ticks[s->n_ticks] = pow(10.0, e);
            s->labelled[s->n_ticks++] = 1;
        }
        if (ehi - elo <= 6.0) {
            for (int e = (int)floor(elo) ; e <= last; e++)
                for (int m = 2; m <= 9 && s->n_minor < MAX_TICKS * 8; m++) {
                    double v = m * pow(10.0, e);
                    if (v > s->lo * (1 + 1e-9) && v < s->hi * (1 - 1e-9))
                        s->minor[s->n_minor++] = v;
                }
        }
        if (s->n_ticks < 3) {
            /* Less than two decades shown: label 2x and 5x too. */
            for (int i = 0; i < s->n_minor && s->n_ticks < MAX_TICKS; i++) {
                double m = s->minor[i] / pow(10.0, floor(log10(s->minor[i]) + 1e-9));
                if (fabs(m - 2.0) < 1e-6 || fabs(m - 5.0) < 1e-6) {
                    s->ticks[s->n_ticks] = s->minor[i];
                    s->labelled[s->n_ticks++] = 1;
                }
            }
        }
    } else {
        if (lo == hi) {
            double pad = lo == 0.0 ? 1.0 : fabs(lo) * 0.1;
            lo -= pad;
            hi += pad;
        }
        double step = nice_step((hi - lo) / max_ticks);
        if (axis->integer && step < 1.0)
            step = 1.0;
        if (axis->integer && lo >= 0.5 && lo <= 1.0) {
            /* Layer numbers: 1 first, then multiples of the step. */
            s->ticks[s->n_ticks] = 1.0;
            s->labelled[s->n_ticks++] = 1;
        }
        if (expand) {
            lo = floor(lo / step + 1e-9) * step;
            hi = ceil(hi / step - 1e-9) * step;
        }
        s->lo = lo;
        s->hi = hi;
        s->step = step;
        for (double t = ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9 && s->n_ticks < MAX_TICKS; t += step) {
            if (axis->integer && (t < 1.0 || (s->n_ticks && t - s->ticks[0] < 0.6 * step)))
                continue; /* no layer 0, and no label crowding the 1 */
            s->ticks[s->n_ticks] = t;
            s->labelled[s->n_ticks++] = 1;
        }
    }
    s->p0 = 0;
    s->p1 = pixels;
}

static void tick_label(const scale *s, double v, char *buf, size_t size)
{
    if (s->log) {
        double e = log10(v);
        if (fabs(e - round(e)) < 1e-9)
            power_of_ten((int)round(e), buf, size);
        else
            snprintf(buf, size, "%g", v);
    } else {
        linear_label(v, s->step, buf, size);
    }
}

/* Gridlines, ticks and labels of both axes around the plot rectangle. */
static void draw_axes(sbuf *o, const scale *xs, const scale *ys, double px, double py, double pw, double ph,
                      const char *x_label, const char *y_label)
{
    char label[64];
    sbuf_puts(o, "<g class=\"grid\" stroke=\"#e3e3e3\" stroke-width=\"1\">");
    for (int i = 0; i < ys->n_ticks; i++) {
        double y = py + ph - to_pixel(ys, ys->ticks[i]);
        sbuf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", px, y, px + pw, y);
    }
    for (int i = 0; i < xs->n_ticks; i++) {
        double x = px + to_pixel(xs, xs->ticks[i]);
        sbuf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x, py, x, py + ph);
    }
    sbuf_puts(o, "</g>");
    sbuf_printf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444\"/>", px, py,
                pw, ph);
    sbuf_puts(o, "<g class=\"ticks\" font-size=\"11\" fill=\"#333\">");
    for (int i = 0; i < ys->n_ticks; i++) {
        double y = py + ph - to_pixel(ys, ys->ticks[i]);
        tick_label(ys, ys->ticks[i], label, sizeof label);
        sbuf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>", px - 5, y, px, y);
        sbuf_printf(o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" dominant-baseline=\"middle\">", px - 7, y);
        sbuf_escape(o, label);
        sbuf_puts(o, "</text>");
    }
    for (int i = 0; i < ys->n_minor; i++) {
        double y = py + ph - to_pixel(ys, ys->minor[i]);
        sbuf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>", px - 3, y, px, y);
    }
    for (int i = 0; i < xs->n_ticks; i++) {
        double x = px + to_pixel(xs, xs->ticks[i]);
        tick_label(xs, xs->ticks[i], label, sizeof label);
        sbuf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>", x, py + ph, x,
                    py + ph + 5);
        sbuf_printf(o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", x, py + ph + 17);
        sbuf_escape(o, label);
        sbuf_puts(o, "</text>");
    }
    for (int i = 0; i < xs->n_minor; i++) {
        double x = px + to_pixel(xs, xs->minor[i]);
        sbuf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>", x, py + ph, x,
                    py + ph + 3);
    }
    sbuf_puts(o, "</g>");
    sbuf_printf(o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"12\">", px + pw / 2, py + ph + 34);
    sbuf_escape(o, x_label);
    sbuf_puts(o, "</text>");
    sbuf_printf(o,
                "<text transform=\"translate(%.1f,%.1f) rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">",
                px - 52, py + ph / 2);
    sbuf_escape(o, y_label);
    sbuf_puts(o, "</text>");
}

static void svg_open(sbuf *o, int width, int height, const char *cls, const char *title)
{
    sbuf_printf(o,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"%s\" width=\"%d\" height=\"%d\" "
                "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" role=\"img\">",
                cls, width, height, width, height);
    sbuf_puts(o, "<title>");
    sbuf_escape(o, title ? title : "");
    sbuf_puts(o, "</title>");
    sbuf_printf(o, "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>", width, height);
    if (title) {
        sbuf_puts(o, "<text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\" fill=\"#111\">");
        sbuf_escape(o, title);
        sbuf_puts(o, "</text>");
    }
}

/* ------------------------------------------------------------------ legend */

static double legend_item_width(const svg_series *s) { return 40.0 + 6.6 * (double)strlen(s->label); }

static const char *dash_of(int style) { return style == SVG_DASHED ? "7 4" : style == SVG_DOTTED ? "2 3" : NULL; }

static void legend_swatch(sbuf *o, const svg_series *s, double x, double y)
{
    const char *dash = dash_of(s->style);
    sbuf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"%.1f\"", x, y,
                x + 28, y, s->color, s->width > 0 ? s->width : 2.0);
    if (dash)
        sbuf_printf(o, " stroke-dasharray=\"%s\"", dash);
    sbuf_puts(o, "/>");
    if (s->markers)
        sbuf_printf(o, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>", x + 14, y, s->color);
    sbuf_printf(o, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11.5\" dominant-baseline=\"middle\">", x + 33, y);
    sbuf_escape(o, s->label);
    sbuf_puts(o, "</text>");
}

/* Lays out the legend rows from y; returns the height used (0 without labels). */
static double legend_layout(sbuf *o, const svg_series *series, int n, double x0, double y0, double width)
{
    double x = x0, y = y0 + 8;
    int any = 0;
    for (int i = 0; i < n; i++) {
        if (!series[i].label)
            continue;
        double w = legend_item_width(&series[i]);
        if (any && x + w > x0 + width) {
            x = x0;
            y += 18;
        }
        if (o)
            legend_swatch(o, &series[i], x, y);
        x += w;
        any = 1;
    }
    return any ? y - y0 + 12 : 0.0;
}

void svg_legend_render(sbuf *out, const svg_series *items, int n, int width)
{
    double h = legend_layout(NULL, items, n, 10, 0, width - 20);
    svg_open(out, width, (int)h + 6, "legend", NULL);
    legend_layout(out, items, n, 10, 2, width - 20);
    sbuf_puts(out, "</svg>");
}

/* ------------------------------------------------------------------ line chart */

static void draw_series(sbuf *o, const svg_series *s, const scale *xs, const scale *ys, double px, double py,
                        double ph, double pw)
{
    const char *dash = dash_of(s->style);
    double width = s->width > 0 ? s->width : 2.0;
    sbuf_printf(o, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"%.2f\" stroke-linejoin=\"round\"", s->color,
                width);
    if (dash)
        sbuf_printf(o, " stroke-dasharray=\"%s\"", dash);
    if (s->opacity > 0 && s->opacity < 1)
        sbuf_printf(o, " stroke-opacity=\"%.2f\"", s->opacity);
    sbuf_puts(o, " d=\"");
    /* Thin to min and max per pixel column when there are more points than pixels. */
    int thin = s->n > 2 * (int)pw;
    int pen_up = 1, have_any = 0;
    int i = 0;
    while (i < s->n) {
        if (!usable(xs, s->x[i]) || !usable(ys, s->y[i])) {
            pen_up = 1;
            i++;
            continue;
        }
        int end = i + 1;
        if (thin) {
            int column = (int)to_pixel(xs, s->x[i]);
            while (end < s->n && usable(xs, s->x[end]) && usable(ys, s->y[end]) &&
                   (int)to_pixel(xs, s->x[end]) == column)
                end++;
        }
        int lo = i, hi = i;
        for (int j = i; j < end; j++) {
            if (s->y[j] < s->y[lo])
                lo = j;
            if (s->y[j] > s->y[hi])
                hi = j;
        }
        int order[2] = {lo < hi ? lo : hi, lo < hi ? hi : lo};
        for (int k = 0; k < (lo == hi ? 1 : 2); k++) {
            int j = order[k];
            sbuf_printf(o, "%s%.1f %.1f", pen_up ? "M" : "L", px + to_pixel(xs, s->x[j]),
                        py + ph - to_pixel(ys, s->y[j]));
            pen_up = 0;
            have_any = 1;
        }
        i = end;
    }
    if (!have_any)
        sbuf_puts(o, "M0 0");
    sbuf_puts(o, "\"/>");
    if (s->markers && s->n <= 200) {
        char xv[48], yv[48];
        for (int j = 0; j < s->n; j++) {
            if (!usable(xs, s->x[j]) || !usable(ys, s->y[j]))
                continue;
            sbuf_printf(o, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.2\" fill=\"%s\">", px + to_pixel(xs, s->x[j]),
                        py + ph - to_pixel(ys, s->y[j]), s->color);
            if (s->hover) {
                svg_format_number(s->x[j], xv, sizeof xv);
                svg_format_number(s->y[j], yv, sizeof yv);
                sbuf_puts(o, "<title>");
                sbuf_escape(o, s->label ? s->label : "");
                sbuf_printf(o, ": %s, %s</title>", xv, yv);
            }
            sbuf_puts(o, "</circle>");
        }
    }
}

void svg_line_chart_render(sbuf *o, const svg_line_chart *c)
{
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int s = 0; s < c->n_series; s++)
        for (int i = 0; i < c->series[s].n; i++) {
            double x = c->series[s].x[i], y = c->series[s].y[i];
            if (!isfinite(x) || !isfinite(y) || (c->x.log && x <= 0) || (c->y.log && y <= 0))
                continue;
            xlo = fmin(xlo, x);
            xhi = fmax(xhi, x);
            ylo = fmin(ylo, y);
            yhi = fmax(yhi, y);
        }
    int empty = !(xlo <= xhi);
    if (isfinite(c->vline) && !empty) {
        /* The marker (e.g. where a run diverged) may lie past the last point. */
        xlo = fmin(xlo, c->vline);
        xhi = fmax(xhi, c->vline);
    }
    if (isfinite(c->hline) && !empty && (!c->y.log || c->hline > 0)) {
        ylo = fmin(ylo, c->hline);
        yhi = fmax(yhi, c->hline);
    }
    double px = 72, py = 34, pw = c->width - px - 18;
    double legend_h = legend_layout(NULL, c->series, c->n_series, px, 0, pw);
    double ph = c->height - py - 44 - legend_h;
    if (ph < 40)
        ph = 40;
    int height = (int)(py + ph + 44 + legend_h);
    scale xs, ys;
    scale_setup(&xs, &c->x, xlo, xhi, pw, c->x.integer ? 36 : 80, 0);
    scale_setup(&ys, &c->y, ylo, yhi, ph, 32, 1);
    svg_open(o, c->width, height, "chart", c->title);
    draw_axes(o, &xs, &ys, px, py, pw, ph, c->x.label, c->y.label);
    int clip = ++o->next_id;
    sbuf_printf(o, "<clipPath id=\"clip%d\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/></clipPath>",
                clip, px - 4, py - 4, pw + 8, ph + 8);
    sbuf_printf(o, "<g clip-path=\"url(#clip%d)\">", clip);
    if (isfinite(c->hline) && usable(&ys, c->hline)) {
        double y = py + ph - to_pixel(&ys, c->hline);
        sbuf_printf(o,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555\" stroke-dasharray=\"2 4\"/>",
                    px, y, px + pw, y);
        if (c->hline_label) {
            sbuf_printf(o, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10.5\" fill=\"#555\" text-anchor=\"end\">",
                        px + pw - 4, y - 4);
            sbuf_escape(o, c->hline_label);
            sbuf_puts(o, "</text>");
        }
    }
    for (int s = 0; s < c->n_series; s++)
        draw_series(o, &c->series[s], &xs, &ys, px, py, ph, pw);
    sbuf_puts(o, "</g>");
    if (isfinite(c->vline) && c->vline >= xs.lo && c->vline <= xs.hi) {
        double x = px + to_pixel(&xs, c->vline);
        sbuf_printf(o,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\" "
                    "stroke-dasharray=\"5 3\"/>",
                    x, py, x, py + ph, SVG_VERMILLION);
        if (c->vline_label) {
            int right = x > px + pw * 0.7;
            sbuf_printf(o, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11.5\" font-weight=\"bold\" fill=\"%s\" "
                           "text-anchor=\"%s\">",
                        right ? x - 5 : x + 5, py + 14, SVG_VERMILLION, right ? "end" : "start");
            sbuf_escape(o, c->vline_label);
            sbuf_puts(o, "</text>");
        }
    }
    if (empty) {
        sbuf_printf(o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\" fill=\"#666\">",
                    px + pw / 2, py + ph / 2);
        sbuf_escape(o, c->empty_text ? c->empty_text : "no finite values to draw");
        sbuf_puts(o, "</text>");
    }
    legend_layout(o, c->series, c->n_series, px, py + ph + 44, pw);
    sbuf_puts(o, "</svg>");
}

/* ------------------------------------------------------------------ heatmap */

#define HEATMAP_LEVELS 64
#define HEATMAP_MAX_CELLS 40000
#define NO_DATA_COLOUR "#ececec"
#define NONFINITE_COLOUR SVG_VERMILLION

void svg_heatmap_render(sbuf *o, const svg_heatmap *m)
{
    /* A negative count would wrap in the size_t cell count below: a huge
     * allocation, or one whose cells are never written but are printed. */
    if (m->rows < 0 || m->cols < 0) {
        o->failed = 1;
        return;
    }
    double px = 60, py = 34, pw = m->width - px - 110, ph = m->height - py - 48;
    int cols_out = m->cols;
    int budget = HEATMAP_MAX_CELLS / (m->rows > 0 ? m->rows : 1);
    if (cols_out > (int)(pw / 3))
        cols_out = (int)(pw / 3);
    if (cols_out > budget)
        cols_out = budget;
    if (cols_out < 1)
        cols_out = 1;
    if (cols_out > m->cols)
        cols_out = m->cols > 0 ? m->cols : 1;
    size_t cells = (size_t)m->rows * (size_t)cols_out;
    double *agg = malloc((cells ? cells : 1) * sizeof *agg);
    if (!agg) {
        o->failed = 1;
        return;
    }
    /* Aggregate columns; find the colour range. */
    double lo = INFINITY, hi = -INFINITY;
    int any_nonfinite = 0, any_missing = 0;
    for (int r = 0; r < m->rows; r++)
        for (int j = 0; j < cols_out; j++) {
            int a = (int)((long long)j * m->cols / cols_out), b = (int)((long long)(j + 1) * m->cols / cols_out);
            if (b <= a)
                b = a + 1;
            double sum = 0.0;
            int n = 0, inf = 0, zero = 0;
            for (int k = a; k < b && k < m->cols; k++) {
                double v = m->values[(size_t)r * m->cols + k];
                if (isinf(v))
                    inf = 1;
                else if (isnan(v))
                    continue;
                else if (m->log && v <= 0.0)
                    zero++;
                else {
                    sum += m->log ? log10(v) : v;
                    n++;
                }
            }
            double v = inf ? INFINITY : n ? (m->log ? pow(10.0, sum / n) : sum / n) : zero ? 0.0 : NAN;
            agg[(size_t)r * cols_out + j] = v;
            if (isinf(v))
                any_nonfinite = 1;
            else if (isnan(v))
                any_missing = 1;
            else if (!m->log || v > 0) {
                lo = fmin(lo, v);
                hi = fmax(hi, v);
            }
        }
    svg_axis caxis = {m->value_label, m->log, m->lo, m->hi, 0};
    if (m->log && lo < hi && hi / lo > 1e12)
        lo = hi / 1e12; /* beyond twelve decades the colours would be meaningless */
    scale cs;
    scale_setup(&cs, &caxis, lo <= hi ? lo : NAN, lo <= hi ? hi : NAN, ph, 30, 1);
    /* Each column is centred on its step: the axis runs half a spacing beyond both ends. */
    double half = m->cols > 1 ? 0.5 * (m->x1 - m->x0) / (m->cols - 1) : 0.5;
    double x0 = m->x0 - half, x1 = m->x1 + half;
    svg_open(o, m->width, m->height, "heatmap", m->title);
    /* Geometry and values for the hover script. */
    sbuf_printf(o, "<g class=\"hm-data\" data-px=\"%.1f\" data-py=\"%.1f\" data-pw=\"%.1f\" data-ph=\"%.1f\" "
                   "data-rows=\"%d\" data-cols=\"%d\" data-x0=\"%.17g\" data-x1=\"%.17g\" data-xlabel=\"",
                px, py, pw, ph, m->rows, cols_out, x0, x1);
    sbuf_escape(o, m->x_label);
    sbuf_puts(o, "\" data-ylabel=\"");
    sbuf_escape(o, m->y_label);
    sbuf_puts(o, "\" data-vlabel=\"");
    sbuf_escape(o, m->value_label);
    sbuf_printf(o, "\" data-percent=\"%d\" data-v=\"", m->percent);
    for (size_t i = 0; i < cells; i++)
        sbuf_printf(o, "%s%.3g", i ? " " : "", m->percent && isfinite(agg[i]) ? 100 * agg[i] : agg[i]);
    sbuf_puts(o, "\"/>");
    double cw = pw / cols_out, rh = ph / (m->rows > 0 ? m->rows : 1);
    sbuf_puts(o, "<g shape-rendering=\"crispEdges\">");
    for (int r = 0; r < m->rows; r++) {
        int j = 0;
        while (j < cols_out) {
            char colour[8];
            double v = agg[(size_t)r * cols_out + j];
            const char *fill;
            int level = -1;
            if (isinf(v)) {
                fill = NONFINITE_COLOUR;
            } else if (isnan(v)) {
                fill = NO_DATA_COLOUR;
            } else {
                double t = (m->log ? (v > 0 ? log10(v) : -INFINITY) - log10(cs.lo) : v - cs.lo) /
                           (m->log ? log10(cs.hi) - log10(cs.lo) : cs.hi - cs.lo);
                level = (int)lround((t < 0 ? 0 : t > 1 ? 1 : t) * (HEATMAP_LEVELS - 1));
                svg_colormap(m->cividis, (double)level / (HEATMAP_LEVELS - 1), colour);
                fill = colour;
            }
            /* Merge a run of cells of the same colour into one rectangle. */
            int end = j + 1;
            while (end < cols_out) {
                double w = agg[(size_t)r * cols_out + end];
                int same;
                if (isinf(v) || isnan(v))
                    same = (isinf(v) && isinf(w)) || (isnan(v) && isnan(w));
                else if (!isfinite(w))
                    same = 0;
                else {
                    double t = (m->log ? (w > 0 ? log10(w) : -INFINITY) - log10(cs.lo) : w - cs.lo) /
                               (m->log ? log10(cs.hi) - log10(cs.lo) : cs.hi - cs.lo);
                    same = (int)lround((t < 0 ? 0 : t > 1 ? 1 : t) * (HEATMAP_LEVELS - 1)) == level;
                }
                if (!same)
                    break;
                end++;
            }
            sbuf_printf(o, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"/>", px + j * cw,
                        py + r * rh, (end - j) * cw + 0.3, rh + 0.3, fill);
            j = end;
        }
    }
    sbuf_puts(o, "</g>");
    /* Axes: x as the span of the columns, y as row numbers. */
    svg_axis xa = {m->x_label, 0, x0, x1 > x0 ? x1 : x0 + 1, 0};
    svg_axis ya = {m->y_label, 0, 0.5, m->rows + 0.5, 1};
    scale xs, ys;
    scale_setup(&xs, &xa, 0, 0, pw, 80, 0);
    scale_setup(&ys, &ya, 0, 0, ph, 22, 0);
    /* Rows run top to bottom: relabel ticks as row numbers counted from the top. */
    sbuf_printf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444\"/>", px, py,
                pw, ph);
    sbuf_puts(o, "<g font-size=\"11\" fill=\"#333\">");
    char label[64];
    for (int i = 0; i < xs.n_ticks; i++) {
        double x = px + to_pixel(&xs, xs.ticks[i]);
        tick_label(&xs, xs.ticks[i], label, sizeof label);
        sbuf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>", x, py + ph, x,
                    py + ph + 5);
        sbuf_printf(o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>", x, py + ph + 17, label);
    }
    for (int i = 0; i < ys.n_ticks; i++) {
        int row = (int)lround(ys.ticks[i]);
        if (row < 1 || row > m->rows)
            continue;
        double y = py + (row - 0.5) * rh;
        sbuf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>", px - 5, y, px, y);
        sbuf_printf(o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" dominant-baseline=\"middle\">%d</text>",
                    px - 7, y, row);
    }
    sbuf_puts(o, "</g>");
    sbuf_printf(o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"12\">", px + pw / 2, py + ph + 34);
    sbuf_escape(o, m->x_label);
    sbuf_puts(o, "</text>");
    sbuf_printf(o, "<text transform=\"translate(%.1f,%.1f) rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">",
                px - 40, py + ph / 2);
    sbuf_escape(o, m->y_label);
    sbuf_puts(o, "</text>");
    /* Colour bar. */
    int grad = ++o->next_id;
    double bx = px + pw + 16, bw = 14;
    sbuf_printf(o, "<linearGradient id=\"cbar%d\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">", grad);
    for (int i = 0; i <= 10; i++) {
        char colour[8];
        svg_colormap(m->cividis, i / 10.0, colour);
        sbuf_printf(o, "<stop offset=\"%.1f\" stop-color=\"%s\"/>", i / 10.0, colour);
    }
    sbuf_puts(o, "</linearGradient>");
    sbuf_printf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"url(#cbar%d)\" stroke=\"#444\"/>",
                bx, py, bw, ph, grad);
    sbuf_puts(o, "<g font-size=\"10.5\" fill=\"#333\">");
    for (int i = 0; i < cs.n_ticks; i++) {
        if (cs.ticks[i] < cs.lo * (1 - 1e-9) || cs.ticks[i] > cs.hi * (1 + 1e-9) + (m->log ? 0 : 1e-12))
            continue;
        double y = py + ph - to_pixel(&cs, cs.ticks[i]);
        if (m->percent)
            snprintf(label, sizeof label, "%g%%", fabs(cs.ticks[i]) < 1e-12 ? 0.0 : 100 * cs.ticks[i]);
        else
            tick_label(&cs, cs.ticks[i], label, sizeof label);
        sbuf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>", bx + bw, y,
                    bx + bw + 4, y);
        sbuf_printf(o, "<text x=\"%.1f\" y=\"%.1f\" dominant-baseline=\"middle\">", bx + bw + 6, y);
        sbuf_escape(o, label);
        sbuf_puts(o, "</text>");
    }
    sbuf_puts(o, "</g>");
    sbuf_printf(o, "<text transform=\"translate(%.1f,%.1f) rotate(-90)\" text-anchor=\"middle\" font-size=\"11\">",
                bx + bw + 62, py + ph / 2);
    sbuf_escape(o, m->value_label);
    sbuf_puts(o, "</text>");
    /* Key for the special colours, under the plot. */
    double kx = px;
    if (any_nonfinite) {
        sbuf_printf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"10\" fill=\"%s\"/>"
                       "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10.5\">Inf or NaN</text>",
                    kx + pw - 190, py + ph + 26, NONFINITE_COLOUR, kx + pw - 174, py + ph + 35);
    }
    if (any_missing) {
        sbuf_printf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"10\" fill=\"%s\" stroke=\"#aaa\"/>"
                       "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10.5\">no data</text>",
                    kx + pw - 90, py + ph + 26, NO_DATA_COLOUR, kx + pw - 74, py + ph + 35);
    }
    sbuf_puts(o, "</svg>");
    free(agg);
}

/* ------------------------------------------------------------------ histogram */

static void hist_path(sbuf *o, const svg_hist *h, const scale *xs, double ymax, double px, double py, double ph,
                      const char *attrs)
{
    double width = 2.0 * h->range / h->bins;
    double base = py + ph;
    sbuf_printf(o, "<path %s d=\"M%.1f %.1f", attrs, px + to_pixel(xs, -h->range), base);
    for (int b = 0; b < h->bins; b++) {
        double density = h->total > 0 ? h->counts[b] / (h->total * width) : 0.0;
        double y = base - density / ymax * ph;
        double x0 = -h->range + b * width;
        sbuf_printf(o, "L%.1f %.1fL%.1f %.1f", px + to_pixel(xs, x0), y, px + to_pixel(xs, x0 + width), y);
    }
    sbuf_printf(o, "L%.1f %.1fZ\"/>", px + to_pixel(xs, h->range), base);
}

void svg_histogram_render(sbuf *o, const char *title, const svg_hist *first, const svg_hist *second, int width,
                          int height)
{
    const svg_hist *h[2] = {first && first->counts ? first : NULL, second && second->counts ? second : NULL};
    double range = 0.0, ymax = 0.0;
    for (int k = 0; k < 2; k++) {
        if (!h[k] || !(h[k]->range > 0) || h[k]->bins < 1)
            continue;
        range = fmax(range, h[k]->range);
        double w = 2.0 * h[k]->range / h[k]->bins;
        for (int b = 0; b < h[k]->bins; b++)
            if (h[k]->total > 0)
                ymax = fmax(ymax, h[k]->counts[b] / (h[k]->total * w));
    }
    double px = 12, py = 26, pw = width - 24, ph = height - py - 40;
    svg_open(o, width, height, "hist", NULL);
    sbuf_puts(o, "<text x=\"8\" y=\"16\" font-size=\"12\" font-weight=\"bold\">");
    sbuf_escape(o, title);
    sbuf_puts(o, "</text>");
    if (!(range > 0) || !(ymax > 0)) {
        sbuf_printf(o, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"11\" fill=\"#666\">no histogram"
                       "</text></svg>",
                    width / 2, height / 2);
        return;
    }
    ymax *= 1.08;
    svg_axis xa = {"z", 0, -range, range, 0};
    scale xs;
    scale_setup(&xs, &xa, 0, 0, pw, 60, 0);
    if (h[0])
        hist_path(o, h[0], &xs, ymax, px, py, ph, "fill=\"" SVG_SKY "\" fill-opacity=\"0.6\" stroke=\"" SVG_BLUE
                                                   "\" stroke-width=\"0.8\"");
    if (h[1])
        hist_path(o, h[1], &xs, ymax, px, py, ph, "fill=\"none\" stroke=\"" SVG_VERMILLION "\" stroke-width=\"1.6\"");
    sbuf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>", px, py + ph, px + pw,
                py + ph);
    char label[64];
    sbuf_puts(o, "<g font-size=\"10.5\" fill=\"#333\">");
    for (int i = 0; i < xs.n_ticks; i++) {
        double x = px + to_pixel(&xs, xs.ticks[i]);
        tick_label(&xs, xs.ticks[i], label, sizeof label);
        sbuf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>", x, py + ph, x,
                    py + ph + 4);
        sbuf_printf(o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", x, py + ph + 15);
        sbuf_escape(o, label);
        sbuf_puts(o, "</text>");
    }
    sbuf_puts(o, "</g>");
    /* Mass outside the drawn range, which a histogram would otherwise hide. */
    char note[160] = "";
    size_t used = 0;
    for (int k = 0; k < 2; k++)
        if (h[k] && h[k]->total > 0 && h[k]->outside > 0)
            used += (size_t)snprintf(note + used, sizeof note - used, "%s%s %.1f%% beyond ±%g", used ? ", " : "",
                                     k == 0 ? "start" : "end", 100.0 * h[k]->outside / h[k]->total, h[k]->range);
    if (used)
        sbuf_printf(o, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"#555\">%s</text>", px, py + ph + 29, note);
    sbuf_puts(o, "</svg>");
}

/* ------------------------------------------------------------------ maps */

/* ColorBrewer RdBu (11 classes), reversed: blue for negative, red for positive. */
static const unsigned char RDBU[11][3] = {{5, 48, 97},    {33, 102, 172}, {67, 147, 195}, {146, 197, 222},
                                          {209, 229, 240}, {247, 247, 247}, {253, 219, 199}, {244, 165, 130},
                                          {214, 96, 77},   {178, 24, 43},   {103, 0, 31}};

void svg_diverging(double t, char out[8])
{
    if (!(t >= 0.0))
        t = 0.0;
    if (t > 1.0)
        t = 1.0;
    double f = t * 10.0;
    int i = (int)f;
    if (i > 9)
        i = 9;
    f -= i;
    int rgb[3];
    for (int k = 0; k < 3; k++)
        rgb[k] = (int)lround(RDBU[i][k] + f * (RDBU[i + 1][k] - RDBU[i][k]));
    snprintf(out, 8, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}

/* 30°E, 120°W, 0°, 180°; 45°N, 10°S, 0°. */
static void degree_label(double v, int is_lon, char *buf, size_t size)
{
    if (is_lon) {
        v = fmod(v, 360.0);
        if (v > 180.0 + 1e-9)
            v -= 360.0;
        if (v <= -180.0 + 1e-9)
            v += 360.0;
    }
    if (fabs(v) < 1e-9)
        snprintf(buf, size, "0°");
    else if (is_lon && fabs(fabs(v) - 180.0) < 1e-9)
        snprintf(buf, size, "180°");
    else
        snprintf(buf, size, "%g°%s", fabs(v), is_lon ? (v > 0 ? "E" : "W") : (v > 0 ? "N" : "S"));
}

static double degree_step(double span, double max_ticks)
{
    static const double STEPS[] = {0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10, 15, 20, 30, 45, 60, 90};
    for (size_t i = 0; i < sizeof STEPS / sizeof STEPS[0]; i++)
        if (span / STEPS[i] <= max_ticks)
            return STEPS[i];
    return nice_step(span / max_ticks);
}

/* Cell-centre extent of an evenly spaced axis, half a cell beyond both ends. */
static void axis_extent(const double *c, int n, double *lo, double *hi)
{
    double a = c[0], b = c[n - 1];
    double d = n > 1 ? fabs(b - a) / (n - 1) : 1.0;
    if (!(d > 0.0) || !isfinite(d))
        d = 1.0;
    *lo = fmin(a, b) - d / 2;
    *hi = fmax(a, b) + d / 2;
}

void svg_map_render(sbuf *o, const svg_map *m)
{
    if (m->rows <= 0 || m->cols <= 0 || !m->values || !m->lon || !m->lat) {
        o->failed = 1;
        return;
    }
    int rows = m->rows, cols = m->cols;
    int by = (rows + SVG_MAP_MAX_ROWS - 1) / SVG_MAP_MAX_ROWS, bx = (cols + SVG_MAP_MAX_COLS - 1) / SVG_MAP_MAX_COLS;
    int orows = (rows + by - 1) / by, ocols = (cols + bx - 1) / bx;
    int north_first = !(m->lat[rows - 1] > m->lat[0]); /* row 0 already at the top */
    int west_first = !(m->lon[cols - 1] < m->lon[0]);
    short *level = malloc((size_t)orows * ocols * sizeof *level);
    if (!level) {
        o->failed = 1;
        return;
    }
    double lo = m->lo, hi = m->hi;
    if (!(lo < hi)) {
        lo = (lo == lo ? lo : 0.0) - 0.5;
        hi = lo + 1.0;
    }
    /* Average each block (display order: north up, west left); level L is missing. */
    int missing = 0;
    for (int R = 0; R < orows; R++)
        for (int C = 0; C < ocols; C++) {
            double sum = 0.0;
            int n = 0;
            for (int r = R * by; r < (R + 1) * by && r < rows; r++)
                for (int c = C * bx; c < (C + 1) * bx && c < cols; c++) {
                    int fr = north_first ? r : rows - 1 - r, fc = west_first ? c : cols - 1 - c;
                    double v = m->values[(size_t)fr * cols + fc];
                    if (isfinite(v)) {
                        sum += v;
                        n++;
                    }
                }
            int lv = SVG_MAP_LEVELS;
            if (n) {
                double t = (sum / n - lo) / (hi - lo);
                lv = t <= 0.0 ? 0 : t >= 1.0 ? SVG_MAP_LEVELS - 1 : (int)(t * SVG_MAP_LEVELS);
                if (lv > SVG_MAP_LEVELS - 1)
                    lv = SVG_MAP_LEVELS - 1;
            } else {
                missing++;
            }
            level[(size_t)R * ocols + C] = (short)lv;
        }
    double lon0, lon1, lat0, lat1;
    axis_extent(m->lon, cols, &lon0, &lon1);
    axis_extent(m->lat, rows, &lat0, &lat1);
    double px = 58, py = 32, pw = m->width - px - 108;
    if (pw < 60)
        pw = 60;
    double ph = pw * (lat1 - lat0) / (lon1 - lon0);
    if (!(ph >= 60))
        ph = 60;
    if (ph > 1.2 * pw)
        ph = 1.2 * pw;
    int height = (int)ceil(py + ph + 30);
    svg_open(o, m->width, height, "map", m->title);
    sbuf_printf(o, "<g class=\"map-data\" data-rows=\"%d\" data-cols=\"%d\" data-missing=\"%d\" data-lo=\"%.9g\" "
                   "data-hi=\"%.9g\" data-diverging=\"%d\"/>",
                orows, ocols, missing, lo, hi, m->diverging);
    /* The cells: one path per colour, in units of grid cells. */
    sbuf_printf(o, "<g class=\"cells\" shape-rendering=\"crispEdges\" transform=\"translate(%.2f %.2f) scale(%.6g %.6g)\">",
                px, py, pw / cols, ph / rows);
    for (int lv = 0; lv <= SVG_MAP_LEVELS; lv++) {
        int open = 0;
        for (int R = 0; R < orows; R++) {
            const short *row = level + (size_t)R * ocols;
            for (int C = 0; C < ocols;) {
                if (row[C] != lv) {
                    C++;
                    continue;
                }
                int end = C + 1;
                while (end < ocols && row[end] == lv)
                    end++;
                if (!open) {
                    char colour[8];
                    if (lv == SVG_MAP_LEVELS)
                        snprintf(colour, sizeof colour, "%s", SVG_MAP_MISSING);
                    else if (m->diverging)
                        svg_diverging((lv + 0.5) / SVG_MAP_LEVELS, colour);
                    else
                        svg_colormap(0, (lv + 0.5) / SVG_MAP_LEVELS, colour);
                    sbuf_printf(o, "<path fill=\"%s\" d=\"", colour);
                    open = 1;
                }
                int x = C * bx, w = (end * bx < cols ? end * bx : cols) - x;
                int y = R * by, h = ((R + 1) * by < rows ? (R + 1) * by : rows) - y;
                sbuf_printf(o, "M%d %dh%dv%dh-%dz", x, y, w, h, w);
                C = end;
            }
        }
        if (open)
            sbuf_puts(o, "\"/>");
    }
    free(level);
    sbuf_puts(o, "</g>");
    sbuf_printf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444\"/>", px, py,
                pw, ph);
    /* Axes in degrees. */
    char label[64];
    sbuf_puts(o, "<g font-size=\"11\" fill=\"#333\">");
    double step = degree_step(lon1 - lon0, pw / 70);
    for (long long k = (long long)ceil(lon0 / step - 1e-9); k <= (long long)floor(lon1 / step + 1e-9); k++) {
        double t = (double)k * step;
        double x = px + (t - lon0) / (lon1 - lon0) * pw;
        degree_label(t, 1, label, sizeof label);
        sbuf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>", x, py + ph, x,
                    py + ph + 5);
        sbuf_printf(o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>", x, py + ph + 17, label);
    }
    step = degree_step(lat1 - lat0, ph / 36 < 7 ? ph / 36 : 7);
    for (long long k = (long long)ceil(lat0 / step - 1e-9); k <= (long long)floor(lat1 / step + 1e-9); k++) {
        double t = (double)k * step;
        double y = py + (lat1 - t) / (lat1 - lat0) * ph;
        degree_label(t, 0, label, sizeof label);
        sbuf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>", px - 5, y, px, y);
        sbuf_printf(o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" dominant-baseline=\"middle\">%s</text>",
                    px - 7, y, label);
    }
    sbuf_puts(o, "</g>");
    /* Colour bar. */
    int grad = ++o->next_id;
    double bxp = px + pw + 14, bw = 14;
    sbuf_printf(o, "<linearGradient id=\"mbar%d\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">", grad);
    for (int i = 0; i <= 20; i++) {
        char colour[8];
        if (m->diverging)
            svg_diverging(i / 20.0, colour);
        else
            svg_colormap(0, i / 20.0, colour);
        sbuf_printf(o, "<stop offset=\"%.2f\" stop-color=\"%s\"/>", i / 20.0, colour);
    }
    sbuf_puts(o, "</linearGradient>");
    sbuf_printf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"url(#mbar%d)\" stroke=\"#444\"/>",
                bxp, py, bw, ph, grad);
    svg_axis caxis = {m->value_label, 0, lo, hi, 0};
    scale cs;
    scale_setup(&cs, &caxis, lo, hi, ph, 30, 0);
    sbuf_puts(o, "<g class=\"cbar\" font-size=\"10.5\" fill=\"#333\">");
    for (int i = 0; i < cs.n_ticks; i++) {
        double y = py + ph - to_pixel(&cs, cs.ticks[i]);
        tick_label(&cs, cs.ticks[i], label, sizeof label);
        sbuf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>", bxp + bw, y,
                    bxp + bw + 4, y);
        sbuf_printf(o, "<text x=\"%.1f\" y=\"%.1f\" dominant-baseline=\"middle\">", bxp + bw + 6, y);
        sbuf_escape(o, label);
        sbuf_puts(o, "</text>");
    }
    sbuf_puts(o, "</g>");
    sbuf_printf(o, "<text class=\"cbar-label\" transform=\"translate(%.1f,%.1f) rotate(-90)\" text-anchor=\"middle\" "
                   "font-size=\"11\">",
                bxp + bw + 62, py + ph / 2);
    sbuf_escape(o, m->value_label);
    sbuf_puts(o, "</text>");
    if (missing)
        sbuf_printf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"10\" fill=\"%s\" stroke=\"#999\"/>"
                       "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10.5\" fill=\"#333\">land, no data</text>",
                    bxp, py + ph + 12, SVG_MAP_MISSING, bxp + 16, py + ph + 21);
    sbuf_puts(o, "</svg>");
}
