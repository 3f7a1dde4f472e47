/*
 * fathom: deep dense neural networks whose signal propagation you can see.
 *
 * The one public header. Every public name starts with fm_ or FM_.
 *
 * Conventions
 *  - Row-major, batch-major matrices: a batch of B samples of width n is a
 *    float array [B][n]. Weights of a layer are [n_out][n_in] (PyTorch
 *    nn.Linear layout); z = a_prev W^T + b.
 *  - Every function that can fail returns an fm_status and, when `err` is not
 *    NULL, writes a human-readable message into it. The library never prints,
 *    exits or aborts on bad input.
 *  - Objects come in fm_x_create / fm_x_free pairs; every free accepts NULL.
 *    Pointers returned by accessors are borrowed: valid until the owning
 *    object is freed (or, for batch buffers, until the next forward pass).
 */
#ifndef FATHOM_H
#define FATHOM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FM_VERSION_STRING "0.1.0"
/* Version of the model file's metadata layout (docs/formats.md). */
#define FM_MODEL_FORMAT_VERSION 1

/* ------------------------------------------------------------------ errors */

typedef enum fm_status {
    FM_OK = 0,
    FM_ERR_ARG = 1,      /* an argument or option is invalid */
    FM_ERR_NOMEM = 2,    /* an allocation failed or a size overflowed */
    FM_ERR_IO = 3,       /* a file could not be opened, read or written */
    FM_ERR_FORMAT = 4,   /* a file's contents are malformed */
    FM_ERR_NUMERIC = 5,  /* a loss or gradient became Inf or NaN */
    FM_ERR_STOPPED = 6   /* a callback asked to stop (not a failure) */
} fm_status;

typedef struct fm_error {
    fm_status status;
    char message[512];
} fm_error;

/* Short name of a status ("ok", "invalid argument", ...). Static string. */
const char *fm_status_name(fm_status status);

/* Fill err (when not NULL) with a status and a printf-style message; returns
 * the status. For programs that report their own errors the library's way. */
fm_status fm_error_set(fm_error *err, fm_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ------------------------------------------------------------ random numbers */

/* xoshiro256** seeded through splitmix64. Each object that needs randomness
 * owns one; there is no global generator. */
typedef struct fm_rng {
    uint64_t s[4];
} fm_rng;

void fm_rng_seed(fm_rng *rng, uint64_t seed);
uint64_t fm_rng_next(fm_rng *rng);
/* Uniform double in [0, 1) with 53 random bits. */
double fm_rng_uniform(fm_rng *rng);
/* Standard normal N(0, 1) (Marsaglia polar method, computed in double). */
double fm_rng_normal(fm_rng *rng);
/* out[i] = mean + sd * N(0, 1) for i < n, using both values of each polar
 * pair (fm_rng_normal discards one): twice as fast for the millions of
 * weights of a deep network. A different stream from n fm_rng_normal calls. */
void fm_rng_normal_fill(fm_rng *rng, float *out, size_t n, double mean, double sd);
/* Uniform integer in [0, n), unbiased. n > 0. */
uint64_t fm_rng_below(fm_rng *rng, uint64_t n);
/* The splitmix64 finaliser, used for deterministic per-sample hashing. */
uint64_t fm_splitmix64(uint64_t x);

/* -------------------------------------------------------------- activations */

typedef enum fm_act_kind {
    FM_ACT_LINEAR = 0,
    FM_ACT_SIGMOID,
    FM_ACT_TANH,
    FM_ACT_RELU,
    FM_ACT_LEAKY_RELU, /* alpha = negative slope (default 0.01) */
    FM_ACT_ELU,        /* alpha (default 1) */
    FM_ACT_SELU,       /* alpha, lambda (Klambauer et al. 2017 defaults) */
    FM_ACT_GELU,       /* exact (erf) form */
    FM_ACT_SILU,       /* z * sigmoid(z) */
    FM_ACT_SOFTPLUS,   /* log(1 + e^z) */
    FM_ACT_SOFTMAX,    /* output layer only, fused with cross-entropy */
    FM_ACT_SINE,       /* sin(omega0 z), SIREN (Sitzmann et al. 2020); alpha = omega0 (default 30) */
    FM_ACT_COUNT
} fm_act_kind;

#define FM_SELU_ALPHA 1.6732632423543772848170429916717
#define FM_SELU_LAMBDA 1.0507009873554804934193349852946

typedef struct fm_activation {
    fm_act_kind kind;
    double alpha;  /* leaky slope, ELU alpha or SELU alpha; unused otherwise */
    double lambda; /* SELU scale; unused otherwise */
} fm_activation;

/* The activation `kind` with its default parameters. */
fm_activation fm_activation_default(fm_act_kind kind);

/* Parse "NAME" or "NAME:P1[,P2]": e.g. "relu", "leaky_relu:0.2", "elu:1.0",
 * "sine" or "sine:OMEGA0" (default 30), "selu" or "selu:ALPHA,LAMBDA" (the lecture's swapped pair is
 * "selu:1.0507009873554805,1.6732632423543772"). */
fm_status fm_activation_parse(const char *spec, fm_activation *out, fm_error *err);

/* Canonical text of an activation, parsable by fm_activation_parse
 * (parameters included when they differ from the defaults). */
void fm_activation_format(const fm_activation *act, char *buf, size_t size);

/* Name of an activation kind ("relu", ...); NULL for an invalid kind. */
const char *fm_act_name(fm_act_kind kind);

/* a[i] = phi(z[i]) for i < n. Softmax is row-wise and needs the row width:
 * use fm_softmax_rows for it. */
void fm_act_forward(const fm_activation *act, const float *z, float *a, size_t n);

/* phi'(z) for one value, in double (also for the gradient checks). For
 * softmax it returns 1 (the Jacobian is applied by the fused loss). */
double fm_act_derivative(const fm_activation *act, double z);
/* phi(z) for one value, in double. Softmax: returns z. */
double fm_act_value(const fm_activation *act, double z);
/* Both at once, sharing the transcendental functions they have in common
 * (the mean-field quadrature needs both at every node): bit for bit what the
 * two functions above give. */
void fm_act_value_derivative(const fm_activation *act, double z, double *value, double *derivative);

/* FM_OK when the activation's kind and parameters are valid (the rules of
 * fm_activation_parse: leaky slope in [0, 1], ELU/SELU alpha, SELU lambda and
 * sine omega0 positive and finite); fm_net_create checks every layer's. */
fm_status fm_activation_check(const fm_activation *act, fm_error *err);

/* grad_z[i] = grad_a[i] * phi'(z[i]); grad_z may alias grad_a. */
void fm_act_backward(const fm_activation *act, const float *z, const float *grad_a,
                     float *grad_z, size_t n);

/* Row-wise softmax of z [rows][cols] into a (a may alias z). */
void fm_softmax_rows(const float *z, float *a, size_t rows, size_t cols);

/* Largest value of |phi'(z)| over z (1 for relu, 1/4 for sigmoid, ...);
 * used to judge saturation. */
double fm_act_max_derivative(const fm_activation *act);

/* ------------------------------------------------------------- initialisers */

typedef enum fm_init_kind {
    FM_INIT_AUTO = 0,   /* the variance-preserving choice for the layer's activation */
    FM_INIT_FIXED,      /* Var[W] = param                                         */
    FM_INIT_GLOROT,     /* Var[W] = 2 / (n_in + n_out)                             */
    FM_INIT_HE,         /* Var[W] = 2 / ((1 + s^2) n_in), s = leaky slope (0 otherwise) */
    FM_INIT_LECUN,      /* Var[W] = 1 / n_in                                       */
    FM_INIT_ORTHOGONAL, /* W = gain * Q, Q with orthonormal rows (or columns);
                         * Var[W] = gain^2 / max(n_in, n_out); gain = param (default 1) */
    FM_INIT_TORCH,      /* PyTorch's nn.Linear default: U(+-1/sqrt(n_in)),
                         * Var[W] = 1 / (3 n_in); bias U(+-1/sqrt(n_in)) too */
    FM_INIT_SIREN,      /* SIREN hidden layers (Sitzmann et al. 2020): U(+-sqrt(6/n_in)/omega0),
                         * Var[W] = 2 / (n_in omega0^2), omega0 the layer's sine
                         * parameter (1 for other activations); `auto` for sine */
    FM_INIT_SIREN_FIRST,/* SIREN first layer: U(+-1/n_in), Var[W] = 1 / (3 n_in^2), so that
                         * omega0 z spans several periods over inputs in [-1, 1] */
    FM_INIT_COUNT
} fm_init_kind;

typedef struct fm_init {
    fm_init_kind kind;
    int uniform;  /* 0: normal N(0, Var); 1: uniform U(+-sqrt(3 Var)). Orthogonal ignores it. */
    double param; /* FIXED: the variance; ORTHOGONAL: the gain; unused otherwise */
} fm_init;

/* Parse "auto", "normal:VAR", "uniform:VAR", "glorot", "glorot_uniform",
 * "he", "he_uniform", "lecun", "lecun_uniform", "orthogonal[:GAIN]",
 * "torch". ("xavier"/"kaiming" are accepted as aliases.) */
fm_status fm_init_parse(const char *spec, fm_init *out, fm_error *err);
/* FM_OK when the initialiser's kind and parameter are valid: a fixed variance
 * in [0, 1e60] (float32 weights stay finite), an orthogonal gain in (0, 1e30];
 * fm_net_create checks every layer's. */
fm_status fm_init_check(const fm_init *init, fm_error *err);
void fm_init_format(const fm_init *init, char *buf, size_t size);

/* The concrete initialiser that `auto` means for an activation:
 * relu, gelu, silu, softplus, elu: he; leaky_relu: he with its slope;
 * selu, linear, tanh: lecun; sigmoid, softmax: glorot; sine: siren (uniform,
 * the hidden-layer rule: give the first layer siren_first with --init-at 1=siren_first).
 * Normal except for siren. */
fm_init fm_init_auto_for(const fm_activation *act);

/* The weight variance an initialiser gives a layer (auto resolved with act). */
double fm_init_variance(const fm_init *init, const fm_activation *act, int n_in, int n_out);

/* Fill w [n_out][n_in] (and b [n_out], zeroed except for FM_INIT_TORCH).
 * Orthogonal needs scratch memory and may fail with FM_ERR_NOMEM. */
fm_status fm_init_fill(const fm_init *init, const fm_activation *act, int n_in, int n_out,
                       float *w, float *b, fm_rng *rng, fm_error *err);

/* ----------------------------------------------------------------- network */

/* Largest width and depth accepted (to reject absurd input before allocating). */
#define FM_MAX_WIDTH 1000000
#define FM_MAX_LAYERS 10000

typedef struct fm_layer_spec {
    int n_out;          /* width of the layer (> 0) */
    fm_activation act;  /* its activation */
    fm_init init;       /* its initialiser */
    double dropout;     /* drop probability applied to this layer's output in
                         * training, 0 <= p < 1; SELU layers use alpha-dropout,
                         * others inverted dropout. Ignored on the output layer. */
} fm_layer_spec;

typedef struct fm_net fm_net;

/* Create a network with n_in inputs and n_layers layers, initialised from
 * `seed`. The same seed gives bit-identical weights. */
fm_status fm_net_create(int n_in, const fm_layer_spec *layers, int n_layers, uint64_t seed,
                        fm_net **out, fm_error *err);
void fm_net_free(fm_net *net);

int fm_net_n_in(const fm_net *net);
int fm_net_n_out(const fm_net *net);
int fm_net_n_layers(const fm_net *net);
const fm_layer_spec *fm_net_layer(const fm_net *net, int layer);
uint64_t fm_net_seed(const fm_net *net);
fm_rng *fm_net_rng(fm_net *net);

/* All parameters, contiguous: for each layer W [n_out][n_in] then b [n_out].
 * Gradients have the same layout. */
size_t fm_net_n_params(const fm_net *net);
float *fm_net_params(fm_net *net);
float *fm_net_grads(fm_net *net);
float *fm_net_weight(fm_net *net, int layer);      /* view into params */
float *fm_net_bias(fm_net *net, int layer);        /* view into params */
float *fm_net_weight_grad(fm_net *net, int layer); /* view into grads */
float *fm_net_bias_grad(fm_net *net, int layer);   /* view into grads */

/* Reserve buffers for batches of up to `batch` samples (done automatically by
 * the first forward pass of a larger batch; training reserves once). */
fm_status fm_net_reserve(fm_net *net, int batch, fm_error *err);

/* Forward pass of `batch` samples x [batch][n_in]. training != 0 applies
 * dropout. Keeps z and a of every layer until the next forward pass. */
fm_status fm_net_forward(fm_net *net, const float *x, int batch, int training, fm_error *err);

/* Views of the last forward pass: z (pre-activation) and a (activation, before
 * dropout) of a layer, each [batch][n_out]; the output is a of the last layer. */
const float *fm_net_z(const fm_net *net, int layer);
const float *fm_net_a(const fm_net *net, int layer);
const float *fm_net_output(const fm_net *net);

/* dL/dz of each layer after the last backward pass, [batch][n_out]. */
const float *fm_net_delta(const fm_net *net, int layer);

/* Backward pass for the last forward pass. grad_out is dL/dz of the output
 * layer [batch][n_out] (as fm_loss_compute returns it). Overwrites the
 * gradient block (does not accumulate). */
fm_status fm_net_backward(fm_net *net, const float *x, const float *grad_out_z, fm_error *err);

/* The backward pass fused with a plain SGD step (no momentum, no weight
 * decay): each layer's parameters move by -lr times their gradient as soon as
 * it is known (the weight update is the dW GEMM itself, beta = 1), so the
 * gradient is never written out and no separate pass over the parameters is
 * made. Equal to fm_net_backward followed by an SGD step up to the rounding of
 * W - lr g (one rounding instead of two where the BLAS kernel uses FMA). The
 * gradient block is left undefined. fm_train uses it when nothing needs the
 * gradient itself (plain SGD, no clipping, no statistics that step). */
fm_status fm_net_backward_sgd(fm_net *net, const float *x, const float *grad_out_z, float lr, fm_error *err);

/* Convenience for inference: forward in chunks, copy outputs to y [rows][n_out]. */
fm_status fm_net_predict(fm_net *net, const float *x, size_t rows, float *y, fm_error *err);

/* ------------------------------------------------------------------ losses */

typedef enum fm_loss_kind {
    FM_LOSS_MSE = 0,   /* mean over all elements of (a - y)^2 */
    FM_LOSS_CROSS_ENTROPY, /* softmax output; targets are class indices [B][1] */
    FM_LOSS_BCE,       /* sigmoid output, fused (BCEWithLogits); targets in [0,1] */
    FM_LOSS_HUBER,     /* PyTorch HuberLoss(delta), mean over all elements */
    FM_LOSS_COUNT
} fm_loss_kind;

typedef struct fm_loss {
    fm_loss_kind kind;
    double delta; /* Huber threshold (default 1) */
} fm_loss;

fm_status fm_loss_parse(const char *spec, fm_loss *out, fm_error *err); /* "mse", "cross_entropy"/"ce", "bce", "huber[:DELTA]" */
void fm_loss_format(const fm_loss *loss, char *buf, size_t size);
const char *fm_loss_name(fm_loss_kind kind);

/* Width of the target rows a loss expects for an output of width n_out
 * (1 for cross-entropy, n_out otherwise). */
int fm_loss_target_width(const fm_loss *loss, int n_out);

/* Check that a loss fits a network's output activation (cross-entropy needs
 * softmax, bce needs sigmoid, mse/huber refuse softmax). */
fm_status fm_loss_check(const fm_loss *loss, const fm_activation *output_act, fm_error *err);

/* Loss of the output layer (z and a [batch][n_out]) against targets
 * [batch][target width]; writes dL/dz into grad_z [batch][n_out] when it is
 * not NULL. *value receives the mean loss (double). Bad class indices or
 * non-finite values give FM_ERR_ARG / FM_ERR_NUMERIC. */
fm_status fm_loss_compute(const fm_loss *loss, const fm_activation *output_act, const float *z,
                          const float *a, const float *targets, int batch, int n_out,
                          double *value, float *grad_z, fm_error *err);

/* -------------------------------------------------------------- optimisers */

typedef enum fm_optim_kind { FM_OPTIM_SGD = 0, FM_OPTIM_ADAM, FM_OPTIM_ADAMW, FM_OPTIM_COUNT } fm_optim_kind;

typedef enum fm_schedule_kind { FM_SCHEDULE_CONSTANT = 0, FM_SCHEDULE_STEP, FM_SCHEDULE_COSINE } fm_schedule_kind;

typedef struct fm_optim_config {
    fm_optim_kind kind;
    double lr;            /* learning rate mu */
    double momentum;      /* SGD */
    double dampening;     /* SGD */
    int nesterov;         /* SGD */
    double beta1, beta2;  /* Adam(W) */
    double eps;           /* Adam(W) */
    double weight_decay;  /* L2 for SGD/Adam, decoupled for AdamW */
    double clip_norm;     /* > 0: clip the global gradient norm to this */
    fm_schedule_kind schedule;
    int step_size;        /* STEP: epochs between decays */
    double gamma;         /* STEP: decay factor */
    double lr_min;        /* COSINE: final learning rate */
} fm_optim_config;

/* PyTorch's defaults: SGD lr 0.01; Adam betas (0.9, 0.999), eps 1e-8; AdamW
 * weight decay 0.01; no clipping; constant schedule. */
fm_optim_config fm_optim_config_default(fm_optim_kind kind);
fm_status fm_optim_parse_kind(const char *name, fm_optim_kind *out, fm_error *err);
const char *fm_optim_name(fm_optim_kind kind);

typedef struct fm_optim fm_optim;

fm_status fm_optim_create(const fm_optim_config *config, size_t n_params, fm_optim **out, fm_error *err);
void fm_optim_free(fm_optim *opt);
const fm_optim_config *fm_optim_get_config(const fm_optim *opt);

/* The optimiser's state, for checkpoints (see "checkpoints and resume"):
 * steps taken, and its moment buffers of n_params floats each (which 0: SGD's
 * momentum buffer or Adam's first moment; which 1: Adam's second moment), or
 * NULL when the optimiser keeps none. Borrowed; writable, so that a resumed
 * run can put a saved state back. */
long fm_optim_steps(const fm_optim *opt);
void fm_optim_set_steps(fm_optim *opt, long steps);
float *fm_optim_buffer(fm_optim *opt, int which);
size_t fm_optim_n_params(const fm_optim *opt);

/* One update of params from grads with learning rate lr (PyTorch's rules). */
void fm_optim_step(fm_optim *opt, float *params, const float *grads, double lr);
/* What a measured step saw of one parameter range: sums in double over the
 * range of the update, the values before it and the gradient. */
typedef struct fm_update_sums {
    double update_sq;             /* sum of (new - old)^2 */
    double before_sum, before_sq; /* sum of old and of old^2 */
    double grad_sq;               /* sum of g^2 */
} fm_update_sums;

/* The same update, also measuring it over n_ranges parameter ranges (sorted,
 * disjoint, inside the block; e.g. each layer's weights and biases): sums[r]
 * for range r, so that sqrt(update_sq / before_sq) is the update-to-weight
 * ratio, and the moments of the weights and of their gradient need no pass
 * of their own. Old values are kept a chunk at a time in cache, never as a
 * copy of the whole block; the values, old and new, and the gradient are read
 * once, in one pass. */
void fm_optim_step_measured(fm_optim *opt, float *params, const float *grads, double lr, const size_t *begin,
                            const size_t *length, int n_ranges, fm_update_sums *sums);

/* Learning rate for an epoch (0-based) of `epochs` under the schedule. */
double fm_schedule_lr(const fm_optim_config *config, int epoch, int epochs);

/* Global L2 norm of the gradient (double); scales the gradient by
 * max_norm / (norm + 1e-6) when that is below 1 (torch clip_grad_norm_). */
double fm_clip_grad_norm(float *grads, size_t n, double max_norm);

/* FM_OK when a new file can take the place of path: it does not exist, is a
 * regular file, or is a directory (the write then fails without touching
 * it). Every writer of the library checks this first, since it writes a
 * temporary file and renames it over the target, which would replace a
 * symbolic link, FIFO or device node itself: those are FM_ERR_IO, an empty
 * path FM_ERR_ARG. */
fm_status fm_output_check(const char *path, fm_error *err);

/* ------------------------------------------------------------------ data */

/* A table of samples: inputs x [rows][n_in] and targets y [rows][n_out]
 * (y may be NULL when there are no targets). Names are owned copies. */
typedef struct fm_dataset {
    size_t rows;
    int n_in;
    int n_out;
    float *x;
    float *y;
    char **in_names;  /* n_in names (may be NULL) */
    char **out_names; /* n_out names (may be NULL) */
    size_t skipped;   /* rows skipped as bad (when asked to skip) */
    /* Gridded data (NetCDF, SEG-Y); NULL for plain tables. Per row: the
     * row-major index of the sample in the source variable (the split rules
     * hash it), and its longitude in degrees wrapped to [0, 360) (NaN when
     * the grid has no longitude axis). fm_dataset_split and
     * fm_dataset_split_holdout carry them along. */
    uint64_t *grid_index;
    double *lon;
    /* The input encoding the reader applied (canonical fm_encoding spec,
     * e.g. "lat:div:90,lon:sincos,depth:log1p,fourier:64:1:1"), or NULL when
     * the inputs are the columns as they are. fathom train stores it in the
     * model's training settings under "encoding". */
    char *encoding;
    /* Global index of row 0 when this dataset is one process's shard of a
     * data set spread over several (fm_data_read_shard of a table; 0
     * otherwise, and for a NetCDF grid block until the caller sets it). The
     * validation split (fm_dataset_split) and the row-number rule of
     * fm_dataset_split_holdout number rows from it, so that every process
     * selects the rows one process would. Datasets the splits return start
     * at 0 again. */
    size_t row_offset;
} fm_dataset;

void fm_dataset_free(fm_dataset *ds); /* frees the contents and the struct */

/* Allocate an empty dataset with room for rows x (n_in + n_out). */
fm_status fm_dataset_alloc(size_t rows, int n_in, int n_out, fm_dataset **out, fm_error *err);

/* Split off the rows whose index i satisfies
 * fm_splitmix64(seed ^ i) % 1e6 < fraction * 1e6 into *val (deterministic);
 * the rest stay in *train. Both are new datasets. */
fm_status fm_dataset_split(const fm_dataset *all, double fraction, uint64_t seed, fm_dataset **train,
                           fm_dataset **val, fm_error *err);

/* Column selection for readers. A spec is a comma-separated list of names
 * (CSV header names) or 0-based indices and ranges "0-7" (any format). NULL
 * or "" for inputs means every column not used as a target. */
typedef struct fm_read_options {
    const char *inputs;
    const char *targets;
    int skip_bad_rows; /* 1: skip rows with missing/non-numeric values and count them */
} fm_read_options;

/* CSV with a header line. Comma separated; fields may be quoted. */
fm_status fm_csv_read(const char *path, const fm_read_options *opts, fm_dataset **out, fm_error *err);
/* Write a [rows][cols] matrix with a header line; atomic (temp file + rename). */
fm_status fm_csv_write(const char *path, const float *data, size_t rows, int cols,
                       char *const *names, fm_error *err);

/* NPY: 2-D (or 1-D, as one column) float32/float64, C order, little endian. */
fm_status fm_npy_read_matrix(const char *path, float **data, size_t *rows, int *cols, fm_error *err);
fm_status fm_npy_read(const char *path, const fm_read_options *opts, fm_dataset **out, fm_error *err);
/* Write float32 [rows][cols], atomic. */
fm_status fm_npy_write(const char *path, const float *data, size_t rows, int cols, fm_error *err);

/* IDX (optionally gzip-compressed) as in MNIST/Fashion-MNIST: unsigned-byte
 * images of any shape, flattened to rows and scaled to [0, 1] when `scale`;
 * label files give one column. */
fm_status fm_idx_read_matrix(const char *path, int scale, float **data, size_t *rows, int *cols, fm_error *err);

/* Read any supported format by extension (.csv, .npy, .idx/.gz/-ubyte,
 * NetCDF .nc/.cdf/.nc4, SEG-Y .sgy/.segy). When target_path is not NULL the
 * targets come from that file (all its columns) and `opts->targets` must be
 * NULL.
 *  - opts->inputs may be an encoding spec (see fm_encoding): the reader
 *    selects the raw columns, applies the encoding and records it in
 *    ds->encoding.
 *  - NetCDF: --targets names the gridded variable(s); one row per cell where
 *    every selected variable is valid (not its own _FillValue/missing_value,
 *    not NaN; the others are counted in ds->skipped). Inputs are the
 *    variable's coordinate axes, by their names in the file or as lon, lat,
 *    depth, time (found by the CF attributes units/axis/standard_name and
 *    Ferret's names), or other variables on the same grid. Longitudes are
 *    wrapped to [0, 360); a duplicated wrap-around column (last = first + 360)
 *    is left out. Rows keep their grid index and longitude.
 *  - SEG-Y: one row per trace sample; inputs "window:W" (W odd: the W samples
 *    centred on it, zero beyond the trace ends; default 1), optionally with
 *    "trace", "time" (ms, by the interval of fm_segy_read_traces;
 *    FM_ERR_FORMAT when no header gives one) and the trace-header fields
 *    cdp_x, cdp_y (under the coordinate scalar of bytes 71-72), offset,
 *    iline, xline, e.g. "window:31,time". No targets: use --target-data
 *    with a second SEG-Y file of the same geometry (the same number of traces
 *    and of samples per trace; another geometry is FM_ERR_FORMAT naming both,
 *    even when the row counts agree).
 *  - "PATH#SPLIT:train" or "PATH#SPLIT:test" (SPLIT a fm_holdout spec, e.g.
 *    "levitus.cdf#lonband:test") keeps only that part of the rows (when PATH
 *    itself, with the '#', is not an existing file). */
fm_status fm_data_read(const char *path, const char *target_path, const fm_read_options *opts,
                       fm_dataset **out, fm_error *err);

/* One process's share of a data file, for training on several processes
 * (fm_collective); shard `shard` (0-based) of `n_shards` is read.
 *  - Tables: the rows of the file (after skipping bad rows where asked) are
 *    cut into `n_shards` contiguous blocks of nearly equal size. NPY and IDX
 *    seek to the block; CSV scans every line (the header is checked
 *    everywhere) but parses and keeps only its block. Bad rows skipped
 *    (--skip-bad-rows) count in the shard whose block of file rows held them.
 *  - NetCDF: the grid is cut instead, into blocks of its outermost dimension
 *    (that of the first target: depth, time or latitude, say): its indices
 *    are split into `n_shards` nearly equal contiguous ranges (the first
 *    len % n_shards one longer), and a shard reads (hyperslabs) and holds
 *    only its range of the targets and of the input variables on the grid;
 *    the 1-D coordinate axes are read whole. Its rows are the valid cells of
 *    the block, with the grid indices (in the whole variable) and longitudes
 *    of fm_data_read, so blocks of different sizes in rows are normal. A shard
 *    whose range is empty (fewer indices than shards) or holds no valid cell
 *    is FM_ERR_ARG naming the process and the range. row_offset stays 0: how
 *    many rows the blocks before hold is known only where they were read
 *    (fm_collective_rows gives it; fathom train sets it so).
 *  - SEG-Y reads the whole selection and keeps the block of its rows.
 * Concatenating shards 0..n_shards-1 gives the rows fm_data_read returns, in
 * the same order. A "PATH#SPLIT:part" selector keeps that part of the
 * shard's own rows (SEG-Y: of the whole selection, then cut); FM_ERR_ARG when
 * none of them is in it. On a table without grid indices it numbers
 * rows from the block's first file row (row_offset), which is the whole-file
 * numbering unless rows were skipped: that combination is FM_ERR_ARG.
 * n_shards 1 is fm_data_read. */
fm_status fm_data_read_shard(const char *path, const char *target_path, const fm_read_options *opts, int shard,
                             int n_shards, fm_dataset **out, fm_error *err);

/* --------------------------------------------------------- standardisation */

typedef struct fm_standardizer {
    int n;
    float *mean; /* [n] */
    float *std;  /* [n]; a constant column gets std 1 */
} fm_standardizer;

/* Fit mean and population standard deviation of data [rows][n] (double sums).
 * Non-finite values give FM_ERR_NUMERIC naming the column. */
fm_status fm_standardizer_fit(const float *data, size_t rows, int n, fm_standardizer **out, fm_error *err);
typedef struct fm_collective fm_collective; /* defined with training below */
/* fm_standardizer_fit over the rows of every process of a collective (each
 * passes its own shard; all get the same standardiser, fitted on the whole
 * data set). coll NULL or of size 1: fm_standardizer_fit, bit for bit. Every
 * process must call it; a process whose data hold a non-finite value returns
 * that error while the others carry on, so follow it with coll->agree. */
fm_status fm_standardizer_fit_collective(const float *data, size_t rows, int n, const fm_collective *coll,
                                         fm_standardizer **out, fm_error *err);
fm_status fm_standardizer_create(int n, const float *mean, const float *std, fm_standardizer **out, fm_error *err);
void fm_standardizer_free(fm_standardizer *s);
void fm_standardize(const fm_standardizer *s, float *data, size_t rows);   /* (x - mean) / std */
void fm_unstandardize(const fm_standardizer *s, float *data, size_t rows); /* x * std + mean */

/* ------------------------------------------------------------------ model */

/* A trained model: the network, its standardisation and what it was trained on. */
typedef struct fm_model {
    fm_net *net;
    fm_standardizer *input_std;  /* may be NULL */
    fm_standardizer *target_std; /* may be NULL (classification) */
    fm_loss loss;
    char **in_names;   /* n_in input column names (may be NULL) */
    char **out_names;  /* n_out target column names (may be NULL) */
    int n_target_names;
    char *training_json; /* training settings as a JSON object text (may be NULL) */
} fm_model;

void fm_model_free(fm_model *model); /* frees everything it owns, and itself */

/* Save as safetensors (docs/formats.md), atomically. */
fm_status fm_model_save(const fm_model *model, const char *path, fm_error *err);
/* Load and validate every field. */
fm_status fm_model_load(const char *path, fm_model **out, fm_error *err);

/* ----------------------------------------------------------------- training */

typedef struct fm_layer_stats fm_layer_stats; /* defined with the probe below */
typedef struct fm_train_progress fm_train_progress;

/* Called every diagnose_every steps with the statistics of the batch in hand
 * (measured and theory columns) and, per layer, the update-to-weight ratio
 * ||W_after - W_before|| / ||W_before|| of that step. Borrowed arrays of
 * n_layers entries, valid during the call. */
typedef void (*fm_diagnose_callback)(const fm_train_progress *progress, const fm_layer_stats *stats,
                                     const double *update_ratio, int n_layers, void *user);

/* The complete state of a training run between two steps (defined with
 * "checkpoints and resume" below). */
typedef struct fm_train_state fm_train_state;
/* Called at checkpoint moments with a borrowed view of the run's state (valid
 * during the call; the network's parameters are the run's current ones). A
 * status other than FM_OK stops training with that status and message. */
typedef fm_status (*fm_checkpoint_callback)(const fm_train_state *state, void *user, fm_error *err);

/* Data-parallel training over several processes (docs/scaling.md). The
 * library itself knows no message passing: a program that runs K processes
 * (fathom train under mpirun, src/dist/mpi_collective.c) hands each its rank
 * and these operations, which every process must call in the same order:
 *  - sum_doubles / sum_floats: replace v[0..n) on every process by the
 *    element-wise sum over all processes (MPI_Allreduce with MPI_SUM), the
 *    same result on every process;
 *  - agree: every process passes its own status (and, when it is not FM_OK,
 *    its message in *err); all return the status of the lowest-ranked process
 *    that failed, with err set to "rank R: <its message>", or FM_OK when none
 *    failed. It is how a failure on one process stops all, never a hang.
 * A failing collective operation itself (the transport broke) returns
 * FM_ERR_IO; MPI's default handler aborts the job instead. */
struct fm_collective {
    int rank; /* 0 .. size-1 */
    int size; /* number of processes */
    fm_status (*sum_doubles)(double *v, size_t n, void *user, fm_error *err);
    fm_status (*sum_floats)(float *v, size_t n, void *user, fm_error *err);
    fm_status (*agree)(fm_status local, fm_error *err, void *user);
    void *user;
};

/* Where a process's rows lie among everyone's: *offset the rows of the
 * processes of lower rank, *total the rows of all. coll NULL: 0 and rows. */
fm_status fm_collective_rows(const fm_collective *coll, size_t rows, size_t *offset, size_t *total, fm_error *err);

typedef struct fm_train_options {
    int epochs;
    int batch;
    int shuffle;          /* 1: reshuffle each epoch */
    int patience;         /* > 0: early stopping on validation loss */
    uint64_t seed;        /* shuffling and dropout */
    double progress_interval; /* seconds between progress callbacks (0: every batch) */
    int diagnose_every;   /* > 0: call on_diagnose every N steps (from the first) */
    fm_diagnose_callback on_diagnose;
    void *diagnose_user;
    /* Exploding loss: stop when the loss, smoothed over ~20 steps, exceeds
     * explode_factor times its minimum and its starting value (0: off;
     * default 100). Non-finite losses and gradients always stop training. */
    double explode_factor;
    /* Vanishing gradients: warn (progress->warning) when the RMS gradient of
     * the first layer's weights stays below vanish_ratio times the last
     * layer's for 3 checks in a row (0: off; default 1e-5). */
    double vanish_ratio;
    /* Checkpoints and resume (see that section). on_checkpoint is called
     * after every checkpoint_every-th optimiser step (0: never), when training
     * stops at stop_after_step steps (0: no such stop; returns FM_ERR_STOPPED),
     * and when a progress callback stops it. */
    size_t checkpoint_every;
    size_t stop_after_step;
    fm_checkpoint_callback on_checkpoint;
    void *checkpoint_user;
    /* Not NULL: continue this saved state (fm_checkpoint_load) instead of
     * starting afresh; it must come from a run with the same options, data
     * and optimiser settings, or FM_ERR_ARG names the difference. Borrowed. */
    const fm_train_state *resume;
    /* Not NULL and of size > 1: train data-parallel over the collective's
     * processes. Each process passes its own shard of the training (and
     * validation) rows, in rank order (fm_data_read_shard; concatenated they
     * are the whole data set), the same network, optimiser and options.
     * Every process draws the same shuffle of the global rows; global batch b
     * is rows order[b*batch ..) and each process computes the gradient of its
     * rows of it, scaled by its share, so that one sum (sum_floats) over the
     * contiguous gradient block gives the gradient of the whole batch; every
     * process then takes the same optimiser step and the weights stay
     * identical. Losses, divergence checks, validation, early stopping and
     * diagnostics are of the global data, so every process stops at the same
     * step. Checkpoints describe the global run: one written by K processes
     * resumes on any number. Call on_checkpoint on every process (let one
     * write); a failure there, or anywhere on any process, stops all with
     * "rank R: ...". Dropout draws differ per process. Borrowed; NULL or size
     * 1: one process, bit for bit as without it. */
    const fm_collective *collective;
} fm_train_options;

fm_train_options fm_train_options_default(void);

struct fm_train_progress {
    int epoch;            /* 0-based */
    int epochs;
    size_t batch_index;   /* within the epoch */
    size_t batches;       /* per epoch */
    size_t step;          /* global optimiser steps so far */
    double lr;
    double train_loss;    /* running mean over the epoch so far */
    double val_loss;      /* NaN when there is no validation data or not yet */
    double val_metric;    /* accuracy (classification) or RMSE in standardised units; NaN if none */
    double samples_per_s;
    double elapsed_s;
    double eta_s;         /* estimated time left */
    int end_of_epoch;     /* 1 when called after an epoch */
    double batch_loss;    /* loss of the last batch */
    const char *warning;  /* a warning raised since the last call, or NULL */
};

/* Called during training; return non-zero to stop (training then returns
 * FM_ERR_STOPPED after keeping the weights it has). */
typedef int (*fm_train_callback)(const fm_train_progress *progress, void *user);

typedef struct fm_train_result {
    int epochs_run;
    size_t steps;
    double final_train_loss;
    double best_val_loss; /* NaN without validation */
    int best_epoch;       /* -1 without validation */
    int stopped_early;
    int diverged;         /* training stopped because it diverged (FM_ERR_NUMERIC) */
    int restored_epoch;   /* after divergence: the weights are those at the end of
                           * this many completed epochs (0: the initial ones) */
    int vanishing_warned; /* the vanishing-gradient warning was raised */
} fm_train_result;

/* Train `net` on `train` (already standardised) with the optimiser and loss.
 * `val` may be NULL. With patience, the best weights seen are restored at the
 * end. A loss or gradient that becomes non-finite, or a loss that explodes,
 * stops training with FM_ERR_NUMERIC naming the epoch, step and learning rate,
 * and the weights of the last completed epoch are restored (result->restored_epoch).
 * The optimiser is left as the diverging step left it (its moments may hold
 * Inf or NaN: steps that fuse or measure the update apply it before the
 * gradient is seen to be non-finite); give a retry a fresh one.
 * No allocation happens inside a step. */
fm_status fm_train(fm_net *net, fm_optim *opt, const fm_loss *loss, const fm_train_options *opts,
                   const fm_dataset *train, const fm_dataset *val, fm_train_callback on_progress,
                   void *user, fm_train_result *result, fm_error *err);

/* Mean loss and metric (accuracy for cross-entropy, otherwise RMSE of the
 * standardised outputs) of a dataset. */
fm_status fm_evaluate(fm_net *net, const fm_loss *loss, const fm_dataset *data, double *loss_value,
                      double *metric, fm_error *err);

/* fm_evaluate over the shards of every process of a collective: each passes
 * its own rows (possibly none) and all get the loss and metric of the whole
 * data set. A failure on any process is agreed (coll->agree) and returned by
 * all. coll NULL or size 1: fm_evaluate. */
fm_status fm_evaluate_collective(fm_net *net, const fm_loss *loss, const fm_dataset *data, const fm_collective *coll,
                                 double *loss_value, double *metric, fm_error *err);

/* ------------------------------------------------------ checkpoints and resume */

/* A checkpoint is the model file of a run in progress plus everything needed to
 * continue it bit-identically (docs/formats.md, "Checkpoint files"): the
 * optimiser's moments and step count, the dropout and shuffle RNGs, the epoch,
 * the batch within it and the epoch's shuffle order, the running epoch loss,
 * the early-stopping state (best loss and epoch, bad epochs, best weights),
 * the last-good weights kept for divergence, the explosion detector, and the
 * run's defining options with fingerprints of its training and validation data.
 *
 * Typical use: set fm_train_options.on_checkpoint to a function that calls
 * fm_checkpoint_save; later, fm_checkpoint_load, create an optimiser with the
 * same configuration, set fm_train_options.resume and call fm_train with the
 * same data and options. Resuming gives the weights an uninterrupted run would
 * have, bit for bit, on the same build and BLAS thread count. */

/* Where a state stands: the epoch in progress (0-based; epochs when done),
 * batches of it already done, and global optimiser steps taken. */
int fm_train_state_epoch(const fm_train_state *state);
size_t fm_train_state_batch(const fm_train_state *state);
size_t fm_train_state_steps(const fm_train_state *state);
/* 1 when the run it describes has nothing left to do (finished or stopped early). */
int fm_train_state_finished(const fm_train_state *state);
void fm_train_state_free(fm_train_state *state); /* a loaded state; NULL is fine */

/* Write `model` (its network holds the run's current weights) and `state`
 * atomically to `path` (temporary file, fsync, rename, directory fsync): at
 * any instant `path` holds the previous checkpoint or this one, complete.
 * fm_model_load and `fathom info` read the model part of a checkpoint. */
fm_status fm_checkpoint_save(const char *path, const fm_model *model, const fm_train_state *state, fm_error *err);

/* Load a checkpoint: the model (as fm_model_load) and the training state,
 * each validated against the other. Caller frees both. */
fm_status fm_checkpoint_load(const char *path, fm_model **model, fm_train_state **state, fm_error *err);

/* Bytes a training run needs, estimated from the architecture before anything
 * is allocated: parameters and gradients, the optimiser's moments, the kept
 * weight copies (last good; best, with early stopping), the per-batch buffers
 * of every layer (z, a, dL/dz, and dropout's two) and the shuffle order. The
 * sum saturates at UINT64_MAX rather than overflowing. optim_buffers: 0 plain
 * SGD, 1 SGD with momentum, 2 Adam(W). */
uint64_t fm_train_memory_estimate(int n_in, const fm_layer_spec *layers, int n_layers, int batch, int optim_buffers,
                                  int early_stopping, size_t train_rows);

/* Physical memory of this machine in bytes (sysconf), 0 when unknown. */
uint64_t fm_physical_memory(void);

/* ------------------------------------------------------------------ theory */

/* E[f(u)] for u ~ N(0, 1), by Gauss-Legendre quadrature against the Gaussian
 * density on [-12, 12], split at 0 (where every piecewise activation has its
 * kink when z = sqrt(q) u) with panels refined geometrically towards 0 so that
 * steep functions such as tanh(100 u) are resolved. Deterministic, about
 * 1e-13 absolute accuracy for the activations here; plain Gauss-Hermite
 * converges only like n^-2 for SELU's kink (see docs/theory.md). */
double fm_gauss_expectation(double (*f)(double u, void *user), void *user);

/* Mean-field recursion (Poole et al. 2016): the second moment of the next
 * pre-activation, q' = sigma_w2 E[phi(sqrt(q) u)^2] + sigma_b2, where sigma_w2 =
 * n_in Var[W] and sigma_b2 = Var[b]. */
double fm_meanfield_next_q(const fm_activation *act, double q, double sigma_w2, double sigma_b2);

/* chi_1 = sigma_w2 E[phi'(sqrt(q) u)^2]: the factor by which the gradient's
 * variance grows per layer (< 1 vanishing, > 1 exploding, 1 critical). */
double fm_meanfield_chi1(const fm_activation *act, double q, double sigma_w2);

/* E[phi'(sqrt(q) u)^2], the backward factor of one layer without sigma_w2. */
double fm_meanfield_derivative_moment(const fm_activation *act, double q);

/* Both expectations at once, one quadrature sweep sharing its nodes:
 * *phi_sq = E[phi(sqrt(q) u)^2] (the next q is sigma_w2 *phi_sq + sigma_b2)
 * and *dphi_sq = E[phi'(sqrt(q) u)^2], each bit for bit what the separate
 * functions give. For a q that is negative, NaN or Inf, *phi_sq = q and
 * *dphi_sq = NaN. */
void fm_meanfield_moments(const fm_activation *act, double q, double *phi_sq, double *dphi_sq);

/* The fixed point q* of the recursion from q0 (Steffensen's accelerated
 * iteration, relative change 1e-13). Returns Inf if q grows without bound and
 * 0 if it collapses. */
double fm_meanfield_fixed_point(const fm_activation *act, double sigma_w2, double sigma_b2, double q0);

/* The weight variance sigma_w2 at which chi_1(q*) = 1 for a bias variance
 * (ReLU, sigma_b2 = 0: 2; tanh, 0: 1; tanh, 0.05: ~1.761), by bisection on
 * [lo, hi]. FM_ERR_ARG when chi_1 - 1 does not change sign there. */
fm_status fm_meanfield_critical_weight_var(const fm_activation *act, double sigma_b2, double lo, double hi,
                                           double *sigma_w2, fm_error *err);

/* SELU's moment map g (Klambauer et al. 2017, eqs. 4-5) in closed form: the
 * mean and variance (mu', nu') of the next layer's activations when the
 * current ones have mean mu and variance nu, and the weights into a unit sum
 * to omega with squares summing to tau (normalised weights: omega 0, tau 1). */
void fm_selu_moment_map(double mu, double nu, double omega, double tau, double alpha, double lambda,
                        double *mu_next, double *nu_next);

/* Jacobian d(mu', nu')/d(mu, nu) of the map (central differences in double),
 * row-major [2][2], and its spectral norm (largest singular value). At
 * (0, 1, 0, 1) with the standard constants the norm is ~0.7877 < 1: the fixed
 * point (0, 1) attracts. */
void fm_selu_jacobian(double mu, double nu, double omega, double tau, double alpha, double lambda, double jac[4]);
double fm_spectral_norm_2x2(const double m[4]);

/* ------------------------------------------------------------------- probe */

/* Statistics of one layer for one batch, measured beside theory. Entries that
 * do not apply are NaN (e.g. dead units of a tanh layer). */
struct fm_layer_stats {
    int layer;              /* 1-based */
    int n_in, n_out;
    double var_w;           /* empirical variance of the layer's weights */
    double sigma_b2;        /* E[b^2] of its biases: the mean-field bias variance */
    double mean_z, var_z;   /* pre-activation, over units and samples */
    double mean_a, var_a;   /* activation */
    double var_z_linear;    /* the lecture's product formula: E[x^2] prod n_j Var[W_j] */
    double var_z_meanfield; /* q_l of the mean-field recursion */
    double saturated;       /* share of (unit, sample) with |phi'(z)| < 1% of its maximum */
    double dead;            /* ReLU: share of units with z <= 0 on every sample */
    double inactive;        /* leaky ReLU, ELU, SELU: share negative on every sample */
    double var_delta;       /* Var[dL/dz] */
    double var_delta_theory;/* backward recursion from the output layer's measured value */
    double grad_w_norm;     /* ||dL/dW||_2 (Frobenius) */
    double chi1;            /* mean-field chi_1 at this layer's q */
    int nonfinite;          /* bits: FM_NONFINITE_FORWARD (z, a, W or b hold Inf or NaN),
                             * FM_NONFINITE_BACKWARD (dL/dz or dL/dW do) */
};

#define FM_NONFINITE_FORWARD 1
#define FM_NONFINITE_BACKWARD 2

/* Measured columns from the last forward and backward pass of `net` (the
 * theory columns are left NaN). stats has room for fm_net_n_layers entries.
 * Works on the batch in hand; allocates nothing. */
void fm_stats_measure(fm_net *net, fm_layer_stats *stats);

/* fm_stats_measure in two parts, for training, whose measured optimiser step
 * (fm_optim_step_measured) reads the parameters and their gradient anyway:
 * fm_stats_measure_batch fills the columns of the batch (z, a, dL/dz,
 * saturated, dead and inactive units, their non-finite flags) and leaves
 * var_w, sigma_b2 and grad_w_norm NaN; fm_stats_params_from_sums fills those
 * and their flags from the step's sums, measured before the update:
 * sums[2 l] over layer l's weights and sums[2 l + 1] over its biases. */
void fm_stats_measure_batch(fm_net *net, fm_layer_stats *stats);
void fm_stats_params_from_sums(fm_net *net, const fm_update_sums *sums, fm_layer_stats *stats);

/* Theory columns: the linear-regime product formula and the mean-field
 * recursion, started from the input's mean second moment input_q, with each
 * layer's measured weight variance (sigma_w2 = n_in Var[W]) and bias second
 * moment (stats' sigma_b2 = E[b^2]); the backward recursion starts from the
 * last layer's measured var_delta. Call after fm_stats_measure (or its two
 * parts). */
void fm_stats_theory(fm_net *net, double input_q, fm_layer_stats *stats);

/* A full probe: forward x [batch][n_in] (no dropout), backward from grad_out
 * (dL/dz of the output, [batch][n_out]) or, when grad_out is NULL, from a
 * random N(0, 1) output gradient drawn from `seed`; then measure and predict. */
fm_status fm_probe(fm_net *net, const float *x, int batch, const float *grad_out, uint64_t seed,
                   fm_layer_stats *stats, fm_error *err);

/* A probe whose backward pass starts from a loss: forward x (no dropout), the
 * loss against targets [batch][fm_loss_target_width], its dL/dz, backward;
 * then measure and predict. *loss_value receives the loss (may be NULL). */
fm_status fm_probe_with_loss(fm_net *net, const float *x, int batch, const fm_loss *loss, const float *targets,
                             double *loss_value, fm_layer_stats *stats, fm_error *err);

/* Where the signal first overflowed or became NaN: the lowest layer (1-based)
 * with non-finite forward values, 0 if none. */
int fm_stats_first_nonfinite(const fm_layer_stats *stats, int n_layers);
/* The same for the backward pass, which runs from the output: the highest
 * layer with non-finite gradients, 0 if none. */
int fm_stats_first_nonfinite_backward(const fm_layer_stats *stats, int n_layers);

/* A short diagnosis of a network's statistics in plain words, with advice:
 * non-finite values, dead or inactive ReLU units, saturated layers, vanishing
 * or exploding gradients across depth, chi_1 far from 1. Writes at most size
 * bytes (NUL-terminated); returns the number of findings (0: all well). */
int fm_stats_advice(const fm_layer_stats *stats, int n_layers, char *buf, size_t size);

/* ------------------------------------------------------- learning-rate finder */

/* A learning-rate range test (Smith 2017, "Cyclical learning rates"; fastai's
 * lr_find): optimiser steps on shuffled mini-batches with the learning rate
 * growing exponentially from lr_min to lr_max,
 *     lr_i = lr_min * (lr_max / lr_min)^(i / (steps - 1)),  i = 0 .. steps-1,
 * recording the loss of each step's batch (before the step) and its
 * exponentially smoothed value with bias correction,
 *     m_i = beta m_{i-1} + (1 - beta) loss_i,   smoothed_i = m_i / (1 - beta^(i+1)).
 * The test stops early when the smoothed loss exceeds stop_factor times its
 * minimum (tracked from step steps/10 on, when the average has settled), or
 * when the loss or the gradient stops being finite. */
typedef struct fm_lr_find_options {
    double lr_min;      /* first learning rate (> 0; default 1e-6) */
    double lr_max;      /* last learning rate (> lr_min; default 10) */
    int steps;          /* optimiser steps at most (>= 10; default 200) */
    int batch;          /* mini-batch size (default 32) */
    uint64_t seed;      /* shuffling (default 1) */
    double beta;        /* smoothing factor in [0, 1) (default 0.98) */
    double stop_factor; /* stop when smoothed > stop_factor * its minimum (> 1; 0: never; default 4) */
} fm_lr_find_options;

fm_lr_find_options fm_lr_find_options_default(void);

typedef struct fm_lr_find_result {
    int steps_taken;        /* entries written to the buffers */
    int stopped_early;      /* 1: the smoothed loss exceeded stop_factor x its minimum;
                             * 2: the loss or the gradient became non-finite (the last
                             *    entry holds that step's loss, possibly Inf or NaN) */
    double suggested_lr;    /* where the smoothed loss falls fastest against log lr */
    int suggested_index;    /* its step, or -1 when no descent was found (then
                             * suggested_lr is min_loss_lr / 10) */
    double min_loss_lr;     /* the learning rate at the minimum smoothed loss */
    int min_index;          /* its step */
    double min_loss;        /* the minimum smoothed loss */
    double min_loss_lr_10;  /* min_loss_lr / 10, fastai's other rule of thumb */
} fm_lr_find_result;

/* Run the range test on `net` with a fresh optimiser built from `config`
 * (its lr and schedule are ignored; a clip_norm > 0 clips each step's
 * gradient) on `train` (already standardised), writing up to opts->steps
 * entries into the caller's buffers lrs, losses and smoothed (smoothed may be
 * NULL). Afterwards the network's parameters are put back as they were, so a
 * run can follow with the suggested rate. Allocates before the first step and
 * not inside steps; never prints. Bad options give FM_ERR_ARG (lr_min <= 0,
 * lr_max <= lr_min, steps < 10, non-finite rates, ...); a loss that becomes
 * non-finite is not an error (result->stopped_early says so). The suggestion:
 * the steepest negative slope of the smoothed loss against log lr (see
 * fm_lr_suggest). */
fm_status fm_lr_range_test(fm_net *net, const fm_optim_config *config, const fm_loss *loss,
                           const fm_dataset *train, const fm_lr_find_options *opts, double *lrs,
                           double *losses, double *smoothed, fm_lr_find_result *result, fm_error *err);

/* The suggestion rules of fm_lr_range_test, applied to n recorded learning
 * rates and smoothed losses (a non-finite entry ends the usable part), of
 * which the first `skip` are settling steps and ignored (the range test skips
 * steps/10: the smoothed loss there rests on a few batches).
 *  - min_loss_lr: the rate at the smallest smoothed loss (min_loss_lr_10 a
 *    tenth of it);
 *  - suggested_lr: the rate where the smoothed loss falls fastest against
 *    log lr: the most negative least-squares slope over the 2w + 1 steps
 *    around a step, w = max(1, n/20), searched over the descent into the
 *    minimum, i.e. the two decades of rate below min_loss_lr (further down
 *    the curve is flat and its noise gives spurious slopes). Without any
 *    descent it falls back to min_loss_lr / 10 (suggested_index -1).
 * Fills the suggestion fields of result (not steps_taken or stopped_early).
 * FM_ERR_ARG when n < 2, the first entry is not finite or skip < 0. */
fm_status fm_lr_suggest(const double *lrs, const double *smoothed, int n, int skip, fm_lr_find_result *result,
                        fm_error *err);

/* ------------------------------------------------- histograms, plots, reports */

/* Most bins fm_z_histogram accepts. */
#define FM_HISTOGRAM_MAX_BINS 1024

typedef struct fm_histogram {
    double range;       /* the bins split [-range, range] into equal parts */
    int bins;
    uint64_t below;     /* finite values below -range */
    uint64_t above;     /* finite values above +range */
    uint64_t nonfinite; /* Inf or NaN */
    uint64_t total;     /* all values: batch x n_out */
} fm_histogram;

/* Histogram of the pre-activations z of `layer` (0-based) from the last
 * forward pass, over every sample and unit: counts[bins] (caller's array)
 * of equal bins over [-range, range] (a value equal to range goes into the
 * last bin). range <= 0 chooses it: 4 x the RMS of z, at most max |z|,
 * rounded up to 1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 x 10^k (1 when z is all 0). Allocates
 * nothing; FM_ERR_ARG for a bad layer, bins outside 1..FM_HISTOGRAM_MAX_BINS
 * or a non-finite range. */
fm_status fm_z_histogram(const fm_net *net, int layer, double range, int bins, uint64_t *counts,
                         fm_histogram *info, fm_error *err);

/* One curve of a variance-against-depth chart: a configuration's probe
 * statistics (borrowed) and its legend label. */
typedef struct fm_depth_curve {
    const char *label;
    const fm_layer_stats *stats;
    int n_layers;
} fm_depth_curve;

/* Write an SVG file (atomically) with two log-scale panels against layer
 * number: Var[z] measured (solid, markers) beside mean-field theory (dashed),
 * and Var[dL/dz] measured beside its backward recursion (dashed); one
 * Okabe-Ito colour per curve (at most 8). title may be NULL. */
fm_status fm_plot_depth_svg(const char *svg_path, const char *title, const fm_depth_curve *curves, int n_curves,
                            fm_error *err);

/* Render a run log (the JSON Lines file of fathom train --log/--diagnose,
 * docs/formats.md) as one self-contained HTML page (inline SVG and CSS, a
 * few lines of inline script for hover values; no network): losses and
 * learning rate against step, variance of z and dL/dz against depth at the
 * start, middle and end with theory dashed, heatmaps of gradient RMS, dead
 * and saturated shares and update ratios per layer and step, histograms of
 * z, settings, data, final metrics and the diagnosis; a run that diverged
 * says where. Written atomically. FM_ERR_IO when a file cannot be read or
 * written, FM_ERR_FORMAT when the log has no run record or a line is not
 * JSON (a truncated last line, as a killed run leaves, is skipped). */
fm_status fm_report_write(const char *jsonl_path, const char *html_path, fm_error *err);

/* One lon x lat slice of a gridded NetCDF variable, for maps: the variable
 * must have a longitude and a latitude dimension (found as fm_dataset_read
 * finds them: CF axis/standard_name/units, then the name) and at most one
 * other dimension longer than 1 (depth or time), of which index `slice` is
 * read. values [nlat][nlon] in the file's order (lat[0] is row 0), NaN where
 * the value is the _FillValue, a missing_value or NaN; scale_factor and
 * add_offset applied. Everything malloc'd; fm_grid_slice_free releases it. */
typedef struct fm_grid_slice {
    int nlon, nlat;
    double *lon, *lat;   /* [nlon], [nlat]: coordinate values (0, 1, ... without coordinate variables) */
    double *values;      /* [nlat][nlon] */
    char units[128];     /* the variable's units attribute, "" when absent */
    char long_name[256]; /* its long_name, "" when absent */
    char slice_dim[128]; /* the sliced dimension's name, "" for a 2-D variable */
    char slice_axis[8];  /* "depth", "time" or "" (unknown, or 2-D): what the sliced dimension is */
    char slice_units[128];
    double slice_value;  /* its coordinate at `slice` (the index without a coordinate variable); NAN for 2-D */
    size_t n_slices;     /* length of the sliced dimension (1 for 2-D) */
} fm_grid_slice;

/* FM_ERR_IO when the file cannot be opened, FM_ERR_ARG when `var` is not in
 * it (the message lists the variables) or slice >= n_slices, FM_ERR_FORMAT
 * when the variable has no lon/lat pair or more than one other dimension. */
fm_status fm_grid_slice_read(const char *path, const char *var, size_t slice, fm_grid_slice *out, fm_error *err);
void fm_grid_slice_free(fm_grid_slice *s);

/* Maps on a report page (fm_report_write_maps): the NetCDF file that
 * `fathom predict --out PRED.nc` writes from NetCDF data, holding
 * NAME_prediction and NAME_residual (prediction - truth) on the data's grid;
 * truth is drawn as prediction - residual. */
typedef struct fm_report_maps {
    const char *path;     /* PRED.nc */
    const char *variable; /* NAME_prediction to draw; NULL: the file's only *_prediction variable */
    size_t slice;         /* index of the depth or time dimension */
} fm_report_maps;

/* fm_report_write with a "Maps" section: truth, prediction and residual of
 * one depth or time slice as lon x lat maps (truth and prediction on one
 * viridis scale, the residual on a blue-white-red scale symmetric about 0,
 * land and missing cells grey). maps NULL: as fm_report_write. A map file
 * that cannot be drawn (no prediction variable, no residual, a slice out of
 * range) fails before anything is written. */
fm_status fm_report_write_maps(const char *jsonl_path, const char *html_path, const fm_report_maps *maps,
                               fm_error *err);

/* ------------------------------------------------------- geoscience data */

/* Held-out test sets that geoscientists trust. Each rule decides from a row's
 * grid index (the sample's row-major index in the source variable) and its
 * longitude alone, so the same cells are held out in every program
 * (reference: geobaselines.py, docs/formats.md "Splits"):
 *  - "random10": fm_splitmix64(grid_index) % 10 == 0 (about 10 %);
 *  - "random:F": fm_splitmix64(grid_index) % 1000000 < F * 1e6 (0 < F < 1);
 *  - "lonband":  floor((lon mod 360) / 10) % 10 == 0: the longitude bands
 *    0-10, 100-110, 200-210 and 300-310 E (about 11 %), spatial blocks that
 *    a model must bridge rather than interpolate.
 * Rows without a grid index (CSV, NPY) use their row number; "lonband" needs
 * longitudes (FM_ERR_ARG without). */
typedef enum fm_holdout_kind { FM_HOLDOUT_RANDOM10 = 0, FM_HOLDOUT_RANDOM, FM_HOLDOUT_LONBAND } fm_holdout_kind;

typedef struct fm_holdout {
    fm_holdout_kind kind;
    double fraction; /* FM_HOLDOUT_RANDOM only */
} fm_holdout;

fm_status fm_holdout_parse(const char *spec, fm_holdout *out, fm_error *err);
void fm_holdout_format(const fm_holdout *holdout, char *buf, size_t size);
/* 1 when the sample belongs to the held-out (test) part. */
int fm_holdout_contains(const fm_holdout *holdout, uint64_t grid_index, double lon);
/* New datasets of the rows outside (*train) and inside (*test) the held-out
 * part; grid indices, longitudes, names and the encoding are carried along.
 * Either pointer may be NULL when that part is not wanted. */
fm_status fm_dataset_split_holdout(const fm_dataset *all, const fm_holdout *holdout, fm_dataset **train,
                                   fm_dataset **test, fm_error *err);

/* Input encodings: how coordinates become network inputs. A spec is a
 * comma-separated list of items:
 *   NAME[:OP...]            a column (CSV name, NPY index, NetCDF axis or
 *                           variable) and the operations applied in turn:
 *       sincos[:PERIOD]     two features sin(2 pi v / PERIOD), cos(...)
 *                           (PERIOD default 360: longitude in degrees; 12: months)
 *       log1p               log(1 + v) (depth), v > -1
 *       div:S               v / S (bring degrees of latitude to [-1, 1] with div:90)
 *   fourier:N:SCALE[:SEED]  2N Fourier features of all the features above
 *                           (Tancik et al. 2020): with B [N][d] drawn N(0, SCALE^2)
 *                           from SEED (default 1), sin(2 pi B v) then cos(2 pi B v),
 *                           appended after them.
 * The projection is regenerated from the seed, so the spec alone carries the
 * whole encoding; fm_encoding_format writes it back with every parameter. */
typedef struct fm_encoding fm_encoding;

fm_status fm_encoding_parse(const char *spec, fm_encoding **out, fm_error *err);
void fm_encoding_free(fm_encoding *enc);
/* 1 when every item is a plain column (no operation, no Fourier features). */
int fm_encoding_is_identity(const fm_encoding *enc);
/* The raw columns the encoding reads, in order (borrowed names). */
int fm_encoding_n_raw(const fm_encoding *enc);
const char *fm_encoding_raw_name(const fm_encoding *enc, int i);
/* Width and names of the encoded features ("lat", "sin_lon", "cos_lon",
 * "log1p_depth", "ff_sin_0", ...; borrowed). */
int fm_encoding_n_out(const fm_encoding *enc);
const char *fm_encoding_feature_name(const fm_encoding *enc, int j);
/* out [rows][n_out] from raw [rows][n_raw]. A non-finite result (log1p of a
 * value <= -1) is FM_ERR_FORMAT naming the row and the column. */
fm_status fm_encoding_apply(const fm_encoding *enc, const float *raw, size_t rows, float *out, fm_error *err);
/* The canonical spec (malloc'd, free it), parsable by fm_encoding_parse. */
char *fm_encoding_format(const fm_encoding *enc);
/* The encoding a model was trained with: the "encoding" entry of its
 * training settings. *out is NULL (and FM_OK returned) when it has none. */
fm_status fm_model_encoding(const fm_model *model, fm_encoding **out, fm_error *err);

/* NetCDF output on the grid of `grid_var` in `template_path` (the file the
 * rows were read from): the same dimensions, coordinate variables and global
 * attributes, and for each output j the float variables NAME_prediction and,
 * when truth is not NULL, NAME_residual (prediction - truth), NAME =
 * names[j]; cells without a row hold the fill value. rows x n_out values in
 * pred (and truth), placed by grid_index. Written atomically (temporary file
 * renamed into place); nothing is left behind on failure. */
fm_status fm_netcdf_write_predictions(const char *template_path, const char *grid_var, const char *out_path,
                                      const uint64_t *grid_index, size_t rows, int n_out, char *const *names,
                                      const float *pred, const float *truth, fm_error *err);

/* SEG-Y (through segyio; IEEE float or IBM float data, read as float32):
 * traces [n_traces][n_samples] (malloc'd) and the sample interval in
 * microseconds: the binary header's (bytes 3217-3218) when it is not 0, even
 * where trace headers disagree, else the first trace header's (bytes
 * 117-118), else 0 (unknown; fm_data_read then refuses the "time" input).
 * Traces of different lengths are FM_ERR_FORMAT. */
fm_status fm_segy_read_traces(const char *path, float **traces, size_t *n_traces, int *n_samples,
                              int *interval_us, fm_error *err);
/* Write traces as SEG-Y rev. 1, IEEE float32 (format 5), atomically; trace
 * headers carry the trace number, CDP (1-based), sample count and interval. */
fm_status fm_segy_write_traces(const char *path, const float *traces, size_t n_traces, int n_samples,
                               int interval_us, fm_error *err);
/* Write traces as IEEE float32 SEG-Y (format 5), atomically, with the headers
 * of the section in template_path: its textual, binary and extended textual
 * headers and each trace's 240-byte header are copied byte for byte
 * (coordinates, inline/crossline, scalars, sample count and interval stay
 * the template's); only the binary header's sample format becomes 5, and a
 * revision code below 1 becomes 1 when the format changes (format 5 came with
 * rev. 1). The template must hold n_traces traces of n_samples samples
 * (FM_ERR_ARG otherwise, naming both geometries). */
fm_status fm_segy_write_like(const char *template_path, const char *path, const float *traces, size_t n_traces,
                             int n_samples, fm_error *err);

#ifdef __cplusplus
}
#endif

#endif /* FATHOM_H */
