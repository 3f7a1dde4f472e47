/* The parts of the model file that writer and reader share (model_file_internal.h). */
#include "io/model_file_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* ------------------------------------------------------------- byte order */

void fm_swap_f32(float *values, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        unsigned char b[4], t;
        memcpy(b, &values[i], 4);
        t = b[0], b[0] = b[3], b[3] = t;
        t = b[1], b[1] = b[2], b[2] = t;
        memcpy(&values[i], b, 4);
    }
}

void fm_swap_u64(uint64_t *values, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        unsigned char b[8];
        memcpy(b, &values[i], 8);
        for (int k = 0; k < 4; k++) {
            unsigned char t = b[k];
            b[k] = b[7 - k];
            b[7 - k] = t;
        }
        memcpy(&values[i], b, 8);
    }
}

int fm_extra_tensor_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len >= FM_EXTRA_NAME_MAX || (strncmp(name, "optim.", 6) != 0 && strncmp(name, "train.", 6) != 0))
        return 0;
    for (size_t i = 6; i < len; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || name[i] == '_'))
            return 0;
    return len > 6;
}

/* ----------------------------------------------------------- tensor table */

const char *const fm_model_extra_names[FM_EXTRA_COUNT] = {"input.mean", "input.std", "target.mean", "target.std"};

void fm_tensor_name(int index, int n_layers, char *buf, size_t size)
{
    if (index < 2 * n_layers)
        snprintf(buf, size, "layers.%d.%s", index / 2, index % 2 ? "bias" : "weight");
    else
        snprintf(buf, size, "%s", fm_model_extra_names[index - 2 * n_layers]);
}

void fm_tensor_table_shapes(fm_model_tensor *t, int n_in, const int *widths, int n_layers)
{
    int prev = n_in;
    for (int i = 0; i < n_layers; i++) {
        t[2 * i] = (fm_model_tensor){.rank = 2, .shape = {(uint64_t)widths[i], (uint64_t)prev}, .elsize = 4};
        t[2 * i].count = (uint64_t)widths[i] * (uint64_t)prev;
        t[2 * i + 1] = (fm_model_tensor){.rank = 1, .shape = {(uint64_t)widths[i], 0}, .count = (uint64_t)widths[i],
                                         .elsize = 4};
        prev = widths[i];
    }
    for (int k = 0; k < FM_EXTRA_COUNT; k++) {
        uint64_t n = (uint64_t)(k < FM_EXTRA_TARGET_MEAN ? n_in : prev);
        t[2 * n_layers + k] = (fm_model_tensor){.rank = 1, .shape = {n, 0}, .count = n, .elsize = 4};
    }
}

void fm_tensor_shape_text(const fm_model_tensor *t, char *buf, size_t size)
{
    if (t->rank == 2)
        snprintf(buf, size, "[%" PRIu64 ",%" PRIu64 "]", t->shape[0], t->shape[1]);
    else
        snprintf(buf, size, "[%" PRIu64 "]", t->shape[0]);
}

/* ------------------------------------------------------------------ JSON */

cJSON *fm_json_parse_whole(const char *text) { return cJSON_ParseWithOpts(text, NULL, 1); }

/* ------------------------------------------------------------ text buffer */

void fm_tb_append(fm_text_buf *tb, const char *s, size_t n)
{
    if (tb->failed)
        return;
    if (tb->cap - tb->len <= n) {
        size_t cap = tb->cap ? tb->cap : 1024;
        while (cap - tb->len <= n) {
            if (cap > ((size_t)-1) / 2) {
                tb->failed = 1;
                return;
            }
            cap *= 2;
        }
        char *grown = realloc(tb->data, cap);
        if (!grown) {
            tb->failed = 1;
            return;
        }
        tb->data = grown;
        tb->cap = cap;
    }
    memcpy(tb->data + tb->len, s, n);
    tb->len += n;
    tb->data[tb->len] = '\0';
}

void fm_tb_puts(fm_text_buf *tb, const char *s) { fm_tb_append(tb, s, strlen(s)); }

void fm_tb_printf(fm_text_buf *tb, const char *fmt, ...)
{
    char buf[256];
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, args);
    va_end(args);
    if (n < 0 || (size_t)n >= sizeof buf)
        tb->failed = 1;
    else
        fm_tb_append(tb, buf, (size_t)n);
}
