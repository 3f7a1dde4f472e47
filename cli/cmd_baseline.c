/* fathom baseline: the classic baselines a neural field must beat, on the
 * same held-out split: predict the training mean, linear least squares on the
 * encoded inputs, and k nearest neighbours on the unit sphere (a k-d tree on
 * x, y, z; other coordinates enter as their level number, one level counting
 * as one degree of arc, as in the reference geobaselines.py). */
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const COMMAND = "baseline";
#define MAX_DIM 8
#define LEAF 8

static void usage(FILE *out)
{
    fprintf(out,
            "usage: fathom baseline --data FILE --targets VAR --split RULE [options]\n"
            "\n"
            "  --data FILE        gridded data (NetCDF), as for fathom train\n"
            "  --targets VAR      the variable to predict\n"
            "  --inputs SPEC      features of the linear baseline, an encoding spec\n"
            "                     (default lat:div:90,lon:sincos)\n"
            "  --knn-space LIST   raw coordinates of the neighbour search: lat,lon first (degrees), then\n"
            "                     others entering by level number, one level = one degree (default lat,lon)\n"
            "  --split RULE       random10, lonband or random:F: the held-out test cells\n"
            "  --k K              neighbours, weighted by inverse distance (default 5; 1-NN is always shown)\n"
            "  --help             this text\n"
            "\n"
            "Prints the test RMSE of each baseline in the target's units.\n");
}

/* ---- a k-d tree over points [n][dim] ---- */

typedef struct kd_tree {
    int dim;
    const double *pts;
    size_t *idx;   /* permutation of the points; nodes are ranges of it */
    int *split_dim;/* per node (implicit binary tree over ranges) */
    double *split_value; /* the median: left child <= it <= right child */
} kd_tree;

static int sort_dim;
static const double *sort_pts;
static int sort_stride;
static int cmp_on_dim(const void *a, const void *b)
{
    double x = sort_pts[*(const size_t *)a * (size_t)sort_stride + (size_t)sort_dim];
    double y = sort_pts[*(const size_t *)b * (size_t)sort_stride + (size_t)sort_dim];
    return (x > y) - (x < y);
}

/* Node covering idx[lo, hi): split at the median of the widest dimension. */
static void kd_build(kd_tree *t, size_t node, size_t lo, size_t hi)
{
    if (hi - lo <= LEAF)
        return;
    int best = 0;
    double best_spread = -1;
    for (int d = 0; d < t->dim; d++) {
        double mn = INFINITY, mx = -INFINITY;
        for (size_t i = lo; i < hi; i++) {
            double v = t->pts[t->idx[i] * (size_t)t->dim + (size_t)d];
            mn = v < mn ? v : mn;
            mx = v > mx ? v : mx;
        }
        if (mx - mn > best_spread) {
            best_spread = mx - mn;
            best = d;
        }
    }
    t->split_dim[node] = best;
    sort_dim = best;
    sort_pts = t->pts;
    sort_stride = t->dim;
    qsort(t->idx + lo, hi - lo, sizeof *t->idx, cmp_on_dim);
    size_t mid = lo + (hi - lo) / 2;
    /* Kept here: the children's sorts reorder idx[mid]. */
    t->split_value[node] = t->pts[t->idx[mid] * (size_t)t->dim + (size_t)best];
    kd_build(t, 2 * node + 1, lo, mid);
    kd_build(t, 2 * node + 2, mid, hi);
}

typedef struct heap {
    int k, n;
    double d2[64];
    size_t id[64];
} heap;

static void heap_offer(heap *h, double d2, size_t id)
{
    if (h->n < h->k) {
        int i = h->n++;
        h->d2[i] = d2;
        h->id[i] = id;
        while (i > 0 && h->d2[(i - 1) / 2] < h->d2[i]) { /* max-heap: sift up */
            int p = (i - 1) / 2;
            double td = h->d2[p];
            size_t ti = h->id[p];
            h->d2[p] = h->d2[i];
            h->id[p] = h->id[i];
            h->d2[i] = td;
            h->id[i] = ti;
            i = p;
        }
        return;
    }
    if (d2 >= h->d2[0])
        return;
    h->d2[0] = d2;
    h->id[0] = id;
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && h->d2[l] > h->d2[m])
            m = l;
        if (r < h->n && h->d2[r] > h->d2[m])
            m = r;
        if (m == i)
            break;
        double td = h->d2[m];
        size_t ti = h->id[m];
        h->d2[m] = h->d2[i];
        h->id[m] = h->id[i];
        h->d2[i] = td;
        h->id[i] = ti;
        i = m;
    }
}

static void kd_search(const kd_tree *t, size_t node, size_t lo, size_t hi, const double *q, heap *h)
{
    if (hi - lo <= LEAF) {
        for (size_t i = lo; i < hi; i++) {
            const double *p = t->pts + t->idx[i] * (size_t)t->dim;
            double d2 = 0;
            for (int d = 0; d < t->dim; d++)
                d2 += (p[d] - q[d]) * (p[d] - q[d]);
            heap_offer(h, d2, t->idx[i]);
        }
        return;
    }
    size_t mid = lo + (hi - lo) / 2;
    int d = t->split_dim[node];
    double split = t->split_value[node];
    double diff = q[d] - split;
    int first_left = diff < 0;
    if (first_left)
        kd_search(t, 2 * node + 1, lo, mid, q, h);
    else
        kd_search(t, 2 * node + 2, mid, hi, q, h);
    if (h->n < h->k || diff * diff < h->d2[0]) {
        if (first_left)
            kd_search(t, 2 * node + 2, mid, hi, q, h);
        else
            kd_search(t, 2 * node + 1, lo, mid, q, h);
    }
}

/* ---- features ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Points [rows][dim]: x, y, z of (lat, lon) and the level number of each
 * further column times pi/180. */
static double *knn_points(const fm_dataset *ds, const double *levels_sorted[], const size_t n_levels[], int dim)
{
    double *p = malloc(ds->rows * (size_t)dim * sizeof *p);
    if (!p)
        return NULL;
    const double r = M_PI / 180.0;
    for (size_t i = 0; i < ds->rows; i++) {
        const float *x = ds->x + i * (size_t)ds->n_in;
        double lat = x[0] * r, lon = x[1] * r;
        double *o = p + i * (size_t)dim;
        o[0] = cos(lat) * cos(lon);
        o[1] = cos(lat) * sin(lon);
        o[2] = sin(lat);
        for (int c = 2; c < ds->n_in; c++) {
            double v = x[c];
            const double *lv = levels_sorted[c];
            size_t lo = 0, hi = n_levels[c];
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (lv[mid] < v)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            o[c + 1] = (double)lo * r;
        }
    }
    return p;
}

/* Solve the normal equations of least squares with an intercept (double,
 * Gaussian elimination with partial pivoting); coef has n_in + 1 entries. */
static int linear_fit(const fm_dataset *tr, double *coef)
{
    int n = tr->n_in + 1;
    double *a = calloc((size_t)n * (size_t)(n + 1), sizeof *a);
    if (!a)
        return 0;
    double f[65];
    for (size_t i = 0; i < tr->rows; i++) {
        f[0] = 1.0;
        for (int j = 0; j < tr->n_in; j++)
            f[j + 1] = tr->x[i * (size_t)tr->n_in + (size_t)j];
        double y = tr->y[i * (size_t)tr->n_out];
        for (int r = 0; r < n; r++) {
            for (int c = 0; c < n; c++)
                a[r * (n + 1) + c] += f[r] * f[c];
            a[r * (n + 1) + n] += f[r] * y;
        }
    }
    for (int col = 0; col < n; col++) {
        int piv = col;
        for (int r = col + 1; r < n; r++)
            if (fabs(a[r * (n + 1) + col]) > fabs(a[piv * (n + 1) + col]))
                piv = r;
        for (int c = 0; c <= n; c++) {
            double t = a[col * (n + 1) + c];
            a[col * (n + 1) + c] = a[piv * (n + 1) + c];
            a[piv * (n + 1) + c] = t;
        }
        double d = a[col * (n + 1) + col];
        if (fabs(d) < 1e-300)
            d = 1e-300; /* a constant feature: its coefficient stays ~0 */
        for (int r = 0; r < n; r++) {
            if (r == col)
                continue;
            double m = a[r * (n + 1) + col] / d;
            for (int c = col; c <= n; c++)
                a[r * (n + 1) + c] -= m * a[col * (n + 1) + c];
        }
    }
    for (int r = 0; r < n; r++) {
        double d = a[r * (n + 1) + r];
        coef[r] = fabs(d) < 1e-300 ? 0.0 : a[r * (n + 1) + n] / d;
    }
    free(a);
    return 1;
}

int cmd_baseline(int argc, char **argv)
{
    static const struct option options[] = {
        {"data", required_argument, 0, 'd'},   {"targets", required_argument, 0, 'g'},
        {"inputs", required_argument, 0, 'i'}, {"knn-space", required_argument, 0, 'n'},
        {"split", required_argument, 0, 's'},  {"k", required_argument, 0, 'k'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0},
    };
    const char *data_path = NULL, *targets = NULL, *inputs = "lat:div:90,lon:sincos", *space = "lat,lon",
               *split = NULL;
    long k = 5;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'd': data_path = optarg; break;
        case 'g': targets = optarg; break;
        case 'i': inputs = optarg; break;
        case 'n': space = optarg; break;
        case 's': split = optarg; break;
        case 'k':
            if (!cli_parse_int(optarg, 1, 64, &k))
                return cli_usage_error(COMMAND, "--k \"%s\" must be an integer in 1..64", optarg);
            break;
        case 'h': usage(stdout); return EXIT_OK;
        default: return cli_usage_error(COMMAND, "unknown option or missing value: %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error(COMMAND, "unexpected argument \"%s\"", argv[optind]);
    if (!data_path || !targets || !split)
        return cli_usage_error(COMMAND, "--data, --targets and --split are required");
    fm_error err = {FM_OK, ""};
    fm_holdout holdout;
    if (fm_holdout_parse(split, &holdout, &err) != FM_OK)
        return cli_report(COMMAND, &err);

    fm_dataset *lin = NULL, *geo = NULL, *lin_tr = NULL, *lin_te = NULL, *geo_tr = NULL, *geo_te = NULL;
    double *levels[MAX_DIM] = {0}, *pts_tr = NULL, *pts_te = NULL;
    size_t n_levels[MAX_DIM] = {0};
    kd_tree tree = {0};
    fm_read_options lin_opts = {inputs, targets, 0}, geo_opts = {space, targets, 0};
    fm_status st = fm_data_read(data_path, NULL, &lin_opts, &lin, &err);
    if (st == FM_OK)
        st = fm_data_read(data_path, NULL, &geo_opts, &geo, &err);
    if (st != FM_OK)
        goto done;
    if (geo->n_in < 2 || geo->n_in + 1 > MAX_DIM || lin->n_in > 64 || lin->n_out != 1) {
        st = fm_error_set(&err, FM_ERR_ARG,
                          "--knn-space needs lat,lon and at most %d more columns; --inputs at most 64 features; one "
                          "target",
                          MAX_DIM - 3);
        goto done;
    }
    /* Tables have no grid index: their rows are the cells, numbered in order. */
    int same_cells = lin->rows == geo->rows && !lin->grid_index == !geo->grid_index &&
                     (!lin->grid_index || memcmp(lin->grid_index, geo->grid_index, lin->rows * sizeof *lin->grid_index) == 0);
    if (!same_cells) {
        st = fm_error_set(&err, FM_ERR_ARG, "--inputs and --knn-space select different cells");
        goto done;
    }
    st = fm_dataset_split_holdout(lin, &holdout, &lin_tr, &lin_te, &err);
    if (st == FM_OK)
        st = fm_dataset_split_holdout(geo, &holdout, &geo_tr, &geo_te, &err);
    if (st != FM_OK)
        goto done;
    if (lin_tr->rows < (size_t)k || lin_te->rows == 0) {
        st = fm_error_set(&err, FM_ERR_ARG, "split %s leaves %zu training and %zu test rows", split, lin_tr->rows,
                          lin_te->rows);
        goto done;
    }
    /* Level numbers of the extra coordinates, over all rows. */
    for (int col = 2; col < geo->n_in; col++) {
        double *v = malloc(geo->rows * sizeof *v);
        if (!v) {
            st = fm_error_set(&err, FM_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < geo->rows; i++)
            v[i] = geo->x[i * (size_t)geo->n_in + (size_t)col];
        qsort(v, geo->rows, sizeof *v, cmp_double);
        size_t m = 0;
        for (size_t i = 0; i < geo->rows; i++)
            if (m == 0 || v[i] != v[m - 1])
                v[m++] = v[i];
        levels[col] = v;
        n_levels[col] = m;
    }
    int dim = geo->n_in + 1;
    pts_tr = knn_points(geo_tr, (const double **)levels, n_levels, dim);
    pts_te = knn_points(geo_te, (const double **)levels, n_levels, dim);
    tree.dim = dim;
    tree.pts = pts_tr;
    tree.idx = malloc(geo_tr->rows * sizeof *tree.idx);
    tree.split_dim = calloc(4 * (geo_tr->rows / LEAF + 1) + 4, sizeof *tree.split_dim);
    tree.split_value = calloc(4 * (geo_tr->rows / LEAF + 1) + 4, sizeof *tree.split_value);
    if (!pts_tr || !pts_te || !tree.idx || !tree.split_dim || !tree.split_value) {
        st = fm_error_set(&err, FM_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < geo_tr->rows; i++)
        tree.idx[i] = i;
    kd_build(&tree, 0, 0, geo_tr->rows);

    double mean = 0;
    for (size_t i = 0; i < lin_tr->rows; i++)
        mean += lin_tr->y[i];
    mean /= (double)lin_tr->rows;
    double coef[66];
    if (!linear_fit(lin_tr, coef)) {
        st = fm_error_set(&err, FM_ERR_NOMEM, "out of memory");
        goto done;
    }
    double se_mean = 0, se_lin = 0, se_nn1 = 0, se_knn = 0;
    for (size_t i = 0; i < lin_te->rows; i++) {
        double y = lin_te->y[i];
        double p = coef[0];
        for (int j = 0; j < lin_te->n_in; j++)
            p += coef[j + 1] * lin_te->x[i * (size_t)lin_te->n_in + (size_t)j];
        heap h = {(int)k, 0, {0}, {0}};
        kd_search(&tree, 0, 0, geo_tr->rows, pts_te + i * (size_t)dim, &h);
        /* 1-NN is the nearest of the k; inverse-distance weights as
         * scikit-learn's weights='distance' (an exact match takes all). */
        int nearest = 0, exact = 0;
        for (int j = 1; j < h.n; j++)
            if (h.d2[j] < h.d2[nearest])
                nearest = j;
        double wsum = 0, wy = 0, exact_sum = 0;
        for (int j = 0; j < h.n; j++) {
            double yj = geo_tr->y[h.id[j]];
            if (h.d2[j] == 0) {
                exact++;
                exact_sum += yj;
            }
            double w = 1.0 / sqrt(h.d2[j]);
            wsum += w;
            wy += w * yj;
        }
        double knn = exact ? exact_sum / exact : wy / wsum;
        double nn1 = geo_tr->y[h.id[nearest]];
        se_mean += (mean - y) * (mean - y);
        se_lin += (p - y) * (p - y);
        se_nn1 += (nn1 - y) * (nn1 - y);
        se_knn += (knn - y) * (knn - y);
    }
    double n = (double)lin_te->rows;
    printf("baselines for %s on %s, split %s: %zu training rows, %zu test rows\n", targets, data_path, split,
           lin_tr->rows, lin_te->rows);
    printf("  %-8s test RMSE %.4g\n", "mean", sqrt(se_mean / n));
    printf("  %-8s test RMSE %.4g   (least squares on %s)\n", "linear", sqrt(se_lin / n), inputs);
    printf("  %-8s test RMSE %.4g   (nearest cell on the unit sphere; space %s)\n", "knn1", sqrt(se_nn1 / n), space);
    char name[16];
    snprintf(name, sizeof name, "knn%ld", k);
    printf("  %-8s test RMSE %.4g   (%ld neighbours, inverse-distance weights)\n", name, sqrt(se_knn / n), k);

done:;
    int rc = st == FM_OK ? EXIT_OK : cli_report(COMMAND, &err);
    for (int i = 0; i < MAX_DIM; i++)
        free(levels[i]);
    free(pts_tr);
    free(pts_te);
    free(tree.idx);
    free(tree.split_dim);
    free(tree.split_value);
    fm_dataset_free(lin);
    fm_dataset_free(geo);
    fm_dataset_free(lin_tr);
    fm_dataset_free(lin_te);
    fm_dataset_free(geo_tr);
    fm_dataset_free(geo_te);
    return rc;
}
