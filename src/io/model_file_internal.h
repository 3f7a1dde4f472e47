/* What the model file's writer (model_save.c) and reader (model_load.c) share:
 * the tensor table, byte order, JSON checks, a growable text buffer.
 * Not part of the public API.
 *
 * The file is in the safetensors layout (docs/formats.md): an 8-byte little-endian
 * header length N, N bytes of JSON header padded with spaces, then the raw
 * little-endian float32 tensors, contiguous and without gaps. The architecture,
 * loss, seed and column names travel as JSON text inside the header's string-only
 * "__metadata__" map, so PyTorch can read a model with json and numpy alone. */
#ifndef FATHOM_MODEL_FILE_INTERNAL_H
#define FATHOM_MODEL_FILE_INTERNAL_H

#include "core/internal.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A header beyond this is corrupt or hostile, not a dense network's description. */
#define FM_MODEL_MAX_HEADER ((uint64_t)100 << 20)

_Static_assert(sizeof(float) == 4, "float32 tensors need a 4-byte float");

/* ------------------------------------------------------------- byte order */

static inline int fm_host_is_little_endian(void)
{
    const uint32_t probe = 1;
    unsigned char first;
    memcpy(&first, &probe, 1);
    return first == 1;
}

/* Reverse the bytes of each of `count` floats in place. */
void fm_swap_f32(float *values, size_t count);

/* ----------------------------------------------------------- tensor table */

/* The tensors of a model, in file order: layers.{i}.weight and layers.{i}.bias for
 * every layer, then input.mean, input.std, target.mean, target.std when present. */
typedef struct fm_model_tensor {
    int rank;
    uint64_t shape[2];
    uint64_t count;      /* elements */
    uint64_t begin, end; /* byte offsets in the data section */
    float *data;         /* save: source; load: destination */
    int present;
    int elsize;          /* bytes per element: 4 (F32) or, for checkpoint tensors, 8 (U64) */
    int is_extra;        /* a checkpoint tensor (optim.*, train.*): rank 1, F32 or U64 */
} fm_model_tensor;

/* ------------------------------------------------------ checkpoint tensors */

/* A checkpoint (checkpoint.c) is a model file with a "checkpoint" metadata key
 * and extra rank-1 tensors whose names start with "optim." or "train.", stored
 * after the model's own. fm_model_load accepts and skips them in a file that
 * has the "checkpoint" key, so `fathom info` reads the model part. */
#define FM_MAX_EXTRA_TENSORS 8
#define FM_EXTRA_NAME_MAX 32

typedef struct fm_extra_tensor {
    char name[FM_EXTRA_NAME_MAX];
    int u64;        /* 1: U64 elements (uint64_t), 0: F32 (float) */
    uint64_t count; /* elements */
    void *data;     /* save: source (borrowed); load: malloc'd copy, owned by the caller */
} fm_extra_tensor;

/* 1 when `name` is a name a checkpoint tensor may have. */
int fm_extra_tensor_name_ok(const char *name);

/* fm_model_save plus a "checkpoint" metadata string (JSON text, may be NULL)
 * and n_extra extra tensors (F32 ones must be finite). */
fm_status fm_model_save_with(const fm_model *model, const char *path, const char *checkpoint_json,
                             const fm_extra_tensor *extras, int n_extra, fm_error *err);

/* fm_model_load that also hands out the "checkpoint" metadata (a malloc'd
 * copy, NULL when absent) and the extra tensors (up to FM_MAX_EXTRA_TENSORS,
 * each data malloc'd). On failure nothing is handed out. */
fm_status fm_model_load_with(const char *path, fm_model **out, char **checkpoint_json, fm_extra_tensor *extras,
                             int *n_extra, fm_error *err);

/* Reverse the bytes of each of `count` 8-byte values in place. */
void fm_swap_u64(uint64_t *values, size_t count);

/* The tensors after the layers' ones, at 2 * n_layers + FM_EXTRA_*. */
enum { FM_EXTRA_INPUT_MEAN = 0, FM_EXTRA_INPUT_STD, FM_EXTRA_TARGET_MEAN, FM_EXTRA_TARGET_STD, FM_EXTRA_COUNT };
extern const char *const fm_model_extra_names[FM_EXTRA_COUNT];

/* The name of table entry `index` ("layers.1.bias", "input.std"). */
void fm_tensor_name(int index, int n_layers, char *buf, size_t size);

/* Shapes and element counts of the 2 * n_layers + FM_EXTRA_COUNT entries of t, from
 * the architecture (n_in and the widths of the layers); every other field zero. */
void fm_tensor_table_shapes(fm_model_tensor *t, int n_in, const int *widths, int n_layers);

/* The shape as JSON text: "[3,2]" or "[3]". */
void fm_tensor_shape_text(const fm_model_tensor *t, char *buf, size_t size);

/* ------------------------------------------------------------------ JSON */

/* One JSON value and nothing after it but whitespace (cJSON_Parse alone would
 * accept "{} junk", which Python's json.loads refuses). NULL when it is not. */
cJSON *fm_json_parse_whole(const char *text);

/* ------------------------------------------------------------ text buffer */

/* A growable NUL-terminated text buffer; `failed` latches the first allocation
 * failure (or overlong fm_tb_printf), after which appends do nothing. Start from
 * {0}; the caller frees `data`. */
typedef struct fm_text_buf {
    char *data;
    size_t len, cap;
    int failed;
} fm_text_buf;

void fm_tb_append(fm_text_buf *tb, const char *s, size_t n);
void fm_tb_puts(fm_text_buf *tb, const char *s);
/* At most 255 characters per call. */
void fm_tb_printf(fm_text_buf *tb, const char *fmt, ...) FM_PRINTF(2, 3);

#endif
