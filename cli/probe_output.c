#include "probe_output.h"

#include <math.h>
#include <string.h>

typedef struct column {
    const char *name;
    size_t offset; /* of a double in fm_layer_stats */
} column;

#define COLUMN(field) {#field, offsetof(fm_layer_stats, field)}
static const column COLUMNS[] = {
    COLUMN(var_w),     COLUMN(mean_z),          COLUMN(var_z),       COLUMN(var_z_linear), COLUMN(var_z_meanfield),
    COLUMN(mean_a),    COLUMN(var_a),           COLUMN(saturated),   COLUMN(dead),         COLUMN(inactive),
    COLUMN(var_delta), COLUMN(var_delta_theory), COLUMN(grad_w_norm), COLUMN(chi1),
};
enum { N_COLUMNS = sizeof COLUMNS / sizeof COLUMNS[0] };

static double value_of(const fm_layer_stats *s, int c)
{
    double v;
    memcpy(&v, (const char *)s + COLUMNS[c].offset, sizeof v);
    return v;
}

static void activation_text(fm_net *net, int layer, char *buf, size_t size)
{
    fm_activation_format(&fm_net_layer(net, layer)->act, buf, size);
}

cJSON *probe_layer_json(fm_net *net, const fm_layer_stats *s)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    char act[96];
    activation_text(net, s->layer - 1, act, sizeof act);
    cJSON_AddNumberToObject(o, "layer", s->layer);
    cJSON_AddNumberToObject(o, "n_in", s->n_in);
    cJSON_AddNumberToObject(o, "n_out", s->n_out);
    cJSON_AddStringToObject(o, "activation", act);
    for (int c = 0; c < N_COLUMNS; c++) {
        double v = value_of(s, c);
        if (isfinite(v))
            cJSON_AddNumberToObject(o, COLUMNS[c].name, v);
        else
            cJSON_AddNullToObject(o, COLUMNS[c].name);
    }
    cJSON_AddBoolToObject(o, "nonfinite_forward", (s->nonfinite & FM_NONFINITE_FORWARD) != 0);
    cJSON_AddBoolToObject(o, "nonfinite_backward", (s->nonfinite & FM_NONFINITE_BACKWARD) != 0);
    return o;
}

/* Shares as percentages; "-" where a column does not apply to the activation. */
static void cell(char *buf, size_t size, double v, int share, int applies_when_nan)
{
    if (isnan(v) && !applies_when_nan)
        snprintf(buf, size, "-");
    else if (isnan(v))
        snprintf(buf, size, "nan");
    else if (isinf(v))
        snprintf(buf, size, v > 0 ? "inf" : "-inf");
    else if (share)
        snprintf(buf, size, "%.1f", 100.0 * v);
    else
        snprintf(buf, size, "%.3g", v);
}

static void print_table(FILE *out, fm_net *net, const fm_layer_stats *stats, int n_layers, int batch)
{
    fprintf(out, "%5s %13s %-10s %9s %9s %9s %9s %9s %9s %9s %6s %6s %9s %9s %9s %6s\n", "layer", "n_in->n_out",
            "act", "Var[W]", "mean z", "Var z", "lin", "mf", "mean a", "Var a", "sat%", "dead%", "Var dz", "dz th",
            "|dW|", "chi1");
    for (int l = 0; l < n_layers; l++) {
        const fm_layer_stats *s = &stats[l];
        char act[96], shape[32], cells[N_COLUMNS][32];
        activation_text(net, l, act, sizeof act);
        if (strlen(act) > 10)
            strcpy(act + 7, "...");
        snprintf(shape, sizeof shape, "%d->%d", s->n_in, s->n_out);
        for (int c = 0; c < N_COLUMNS; c++) {
            const char *name = COLUMNS[c].name;
            int share = !strcmp(name, "saturated") || !strcmp(name, "dead") || !strcmp(name, "inactive");
            int not_applicable = share || !strcmp(name, "chi1");
            cell(cells[c], sizeof cells[c], value_of(s, c), share, !not_applicable || s->nonfinite != 0);
        }
        /* One column for dead (ReLU) or inactive (leaky, ELU, SELU) units. */
        const char *units = isnan(s->dead) ? cells[9] : cells[8];
        fprintf(out, "%5d %13s %-10s %9s %9s %9s %9s %9s %9s %9s %6s %6s %9s %9s %9s %6s\n", s->layer, shape, act,
                cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6], cells[7], units, cells[10],
                cells[11], cells[12], cells[13]);
    }
    int bad = fm_stats_first_nonfinite(stats, n_layers);
    int bad_backward = fm_stats_first_nonfinite_backward(stats, n_layers);
    fprintf(out, "%d samples. lin: Var z by the lecture's product formula; mf: by mean-field theory; dead%%: "
                 "ReLU units off on every sample (inactive for leaky/ELU/SELU).\n",
            batch);
    if (bad)
        fprintf(out, "Forward values overflowed to Inf or became NaN first at layer %d.\n", bad);
    if (bad_backward)
        fprintf(out, "Backward gradients overflowed or became NaN first at layer %d (counting down from the output).\n",
                bad_backward);
}

static void print_csv(FILE *out, fm_net *net, const fm_layer_stats *stats, int n_layers)
{
    fprintf(out, "layer,n_in,n_out,activation");
    for (int c = 0; c < N_COLUMNS; c++)
        fprintf(out, ",%s", COLUMNS[c].name);
    fprintf(out, ",nonfinite_forward,nonfinite_backward\n");
    for (int l = 0; l < n_layers; l++) {
        char act[96];
        activation_text(net, l, act, sizeof act);
        /* Activation texts may hold commas (selu:ALPHA,LAMBDA): quote them. */
        fprintf(out, "%d,%d,%d,\"%s\"", stats[l].layer, stats[l].n_in, stats[l].n_out, act);
        for (int c = 0; c < N_COLUMNS; c++) {
            double v = value_of(&stats[l], c);
            if (isnan(v))
                fprintf(out, ",");
            else if (isinf(v))
                fprintf(out, ",%s", v > 0 ? "inf" : "-inf");
            else
                fprintf(out, ",%.9g", v);
        }
        fprintf(out, ",%d,%d\n", (stats[l].nonfinite & FM_NONFINITE_FORWARD) != 0,
                (stats[l].nonfinite & FM_NONFINITE_BACKWARD) != 0);
    }
}

void probe_print(FILE *out, const char *format, fm_net *net, const fm_layer_stats *stats, int batch, int tty)
{
    (void)tty;
    int n_layers = fm_net_n_layers(net);
    if (strcmp(format, "csv") == 0) {
        print_csv(out, net, stats, n_layers);
    } else if (strcmp(format, "json") == 0) {
        cJSON *root = cJSON_CreateObject();
        cJSON *layers = cJSON_AddArrayToObject(root, "layers");
        cJSON_AddNumberToObject(root, "samples", batch);
        int bad = fm_stats_first_nonfinite(stats, n_layers);
        int bad_backward = fm_stats_first_nonfinite_backward(stats, n_layers);
        if (bad)
            cJSON_AddNumberToObject(root, "first_nonfinite_layer", bad);
        else
            cJSON_AddNullToObject(root, "first_nonfinite_layer");
        if (bad_backward)
            cJSON_AddNumberToObject(root, "first_nonfinite_layer_backward", bad_backward);
        else
            cJSON_AddNullToObject(root, "first_nonfinite_layer_backward");
        for (int l = 0; l < n_layers; l++)
            cJSON_AddItemToArray(layers, probe_layer_json(net, &stats[l]));
        char *text = cJSON_Print(root);
        if (text)
            fprintf(out, "%s\n", text);
        cJSON_free(text);
        cJSON_Delete(root);
    } else {
        print_table(out, net, stats, n_layers, batch);
    }
}
