/* Printing per-layer statistics: an aligned table for people, CSV and JSON
 * for programs (column names documented in docs/theory.md). */
#ifndef FATHOM_PROBE_OUTPUT_H
#define FATHOM_PROBE_OUTPUT_H

#include "fathom.h"

#include <cjson/cJSON.h>
#include <stdio.h>

/* format: "table", "csv" or "json". A table also names the first layer whose
 * values overflowed or became NaN. */
void probe_print(FILE *out, const char *format, fm_net *net, const fm_layer_stats *stats, int batch, int tty);

/* One layer as a JSON object (NaN and Inf as null; "nonfinite" says which). */
cJSON *probe_layer_json(fm_net *net, const fm_layer_stats *s);

#endif
