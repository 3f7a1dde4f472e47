/* Data-parallel training without MPI: K threads stand in for K processes
 * through an in-process fm_collective (sums in rank order behind barriers).
 * Checks the sharding and permutation logic of fm_train: K shards of a data
 * set train to the weights one process gets (within float rounding) and all
 * K end identical; fingerprints, standardisation and evaluation of shards sum
 * to those of the whole; a shard that fails makes every rank fail with its
 * rank named, and so does an allocation that fails on one rank, each of its
 * allocations in turn (none may leave the other rank waiting in a sum; the
 * ranks run the same code, so rank 1 stands for any); fm_data_read_shard's
 * blocks (CSV, NPY, IDX) concatenate to the whole file. */
#define _GNU_SOURCE
#include "test_support.h"

#include "core/internal.h"
#include "io/io_internal.h"
#include "nn/train_state.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

enum { MAX_RANKS = 4, N_IN = 3, N_OUT = 1, ROWS = 301, VAL_ROWS = 57 };

/* ------------------------------------------------ an in-process collective */

typedef struct group {
    int size;
    pthread_barrier_t barrier;
    void *slot[MAX_RANKS];
    fm_status status[MAX_RANKS];
    char message[MAX_RANKS][512];
} group;

typedef struct member {
    group *g;
    int rank;
} member;

/* Every rank publishes its buffer, then each sums all in rank order into a
 * private copy: the same bits on every rank, as MPI_Allreduce gives. */
#define DEFINE_SUM(name, type)                                                       \
    static fm_status name(type *v, size_t n, void *user, fm_error *err)             \
    {                                                                                \
        member *m = user;                                                            \
        (void)err;                                                                   \
        type *sum = calloc(n ? n : 1, sizeof *sum);                                  \
        m->g->slot[m->rank] = v;                                                     \
        pthread_barrier_wait(&m->g->barrier);                                        \
        for (int r = 0; r < m->g->size; r++)                                         \
            for (size_t i = 0; i < n; i++)                                           \
                sum[i] += ((type *)m->g->slot[r])[i];                                \
        pthread_barrier_wait(&m->g->barrier);                                        \
        memcpy(v, sum, n * sizeof *sum);                                             \
        free(sum);                                                                   \
        return FM_OK;                                                                \
    }
DEFINE_SUM(sum_doubles, double)
DEFINE_SUM(sum_floats, float)

static fm_status agree(fm_status local, fm_error *err, void *user)
{
    member *m = user;
    m->g->status[m->rank] = local;
    snprintf(m->g->message[m->rank], 512, "%s", local != FM_OK && err ? err->message : "");
    pthread_barrier_wait(&m->g->barrier);
    int first = -1;
    for (int r = 0; r < m->g->size && first < 0; r++)
        if (m->g->status[r] != FM_OK)
            first = r;
    fm_status verdict = first < 0 ? FM_OK : m->g->status[first];
    char text[600] = "";
    if (first >= 0)
        snprintf(text, sizeof text, "rank %d: %s", first, m->g->message[first]);
    pthread_barrier_wait(&m->g->barrier);
    if (verdict != FM_OK)
        fm_error_set(err, verdict, "%.500s", text);
    return verdict;
}

/* ------------------------------------------------------------- the data */

static fm_dataset *make_data(size_t rows, uint64_t seed)
{
    fm_error err;
    fm_dataset *ds;
    FM_ASSERT_OK(fm_dataset_alloc(rows, N_IN, N_OUT, &ds, &err), &err);
    fm_rng rng;
    fm_rng_seed(&rng, seed);
    for (size_t r = 0; r < rows; r++) {
        float *x = ds->x + r * N_IN;
        for (int i = 0; i < N_IN; i++)
            x[i] = (float)(3.0 * fm_rng_normal(&rng) + 10.0 * i);
        ds->y[r] = (float)(sin(0.3 * x[0]) + 0.02 * (x[1] - 10.0) * (x[2] - 20.0));
    }
    return ds;
}

/* Rows [begin, end) of ds. */
static fm_dataset *block(const fm_dataset *ds, size_t begin, size_t end)
{
    fm_error err;
    fm_dataset *part;
    FM_ASSERT_OK(fm_dataset_alloc(end - begin, ds->n_in, ds->n_out, &part, &err), &err);
    memcpy(part->x, ds->x + begin * (size_t)ds->n_in, (end - begin) * (size_t)ds->n_in * sizeof(float));
    memcpy(part->y, ds->y + begin * (size_t)ds->n_out, (end - begin) * (size_t)ds->n_out * sizeof(float));
    return part;
}

/* ------------------------------------------------------------ one rank */

typedef struct job {
    member m;
    fm_collective coll;
    fm_dataset *train, *val;
    fm_optim_kind optim;
    int batch;
    fm_status status;
    fm_error err;
    float *params;    /* result */
    size_t n_params;
    double val_loss, val_metric;
    uint64_t train_hash;
    float mean[N_IN], std[N_IN];
    long fail_allocation;  /* fm_test_fail_allocation's n for this rank's thread (0: none) */
    long allocations_left; /* its countdown at the end: above 0, no allocation failed */
} job;

static fm_status checkpoint_hash(const fm_train_state *state, void *user, fm_error *err)
{
    (void)err;
    ((job *)user)->train_hash = state->train_hash;
    return FM_OK;
}

/* Standardise on the whole (collective) data, train, evaluate: the work of
 * one rank, whose failures go back through j->status (no cmocka assertions
 * in a thread). Its own set-up ends in an agreement, as the CLI's does. */
static void run_rank(job *j)
{
    const fm_collective *coll = j->coll.size > 0 ? &j->coll : NULL;
    fm_error *err = &j->err;
    fm_standardizer *sx = NULL;
    j->status = fm_standardizer_fit_collective(j->train->x, j->train->rows, N_IN, coll, &sx, err);
    if (coll)
        j->status = coll->agree(j->status, err, coll->user);
    if (j->status != FM_OK) {
        fm_standardizer_free(sx); /* a rank that did not fail has one */
        return;
    }
    memcpy(j->mean, sx->mean, sizeof j->mean);
    memcpy(j->std, sx->std, sizeof j->std);
    fm_standardize(sx, j->train->x, j->train->rows);
    if (j->val)
        fm_standardize(sx, j->val->x, j->val->rows);
    fm_standardizer_free(sx);
    fm_layer_spec layers[3] = {{16, fm_activation_default(FM_ACT_TANH), {FM_INIT_AUTO, 0, 0}, 0},
                               {16, fm_activation_default(FM_ACT_RELU), {FM_INIT_AUTO, 0, 0}, 0},
                               {N_OUT, fm_activation_default(FM_ACT_LINEAR), {FM_INIT_AUTO, 0, 0}, 0}};
    fm_net *net = NULL;
    fm_optim *opt = NULL;
    fm_optim_config oc = fm_optim_config_default(j->optim);
    oc.momentum = j->optim == FM_OPTIM_SGD ? 0.9 : 0.0;
    j->status = fm_net_create(N_IN, layers, 3, 11, &net, err);
    if (j->status == FM_OK)
        j->status = fm_optim_create(&oc, fm_net_n_params(net), &opt, err);
    if (coll)
        j->status = coll->agree(j->status, err, coll->user);
    if (j->status == FM_OK) {
        fm_loss loss = {FM_LOSS_MSE, 1.0};
        fm_train_options to = fm_train_options_default();
        to.epochs = 4;
        to.batch = j->batch;
        to.patience = 3;
        to.seed = 7;
        to.collective = coll;
        to.checkpoint_every = 7; /* the callback records the run's fingerprint; checkpoints agree across ranks */
        to.on_checkpoint = checkpoint_hash;
        to.checkpoint_user = j;
        fm_train_result res;
        j->status = fm_train(net, opt, &loss, &to, j->train, j->val, NULL, NULL, &res, err);
        if (j->status == FM_OK)
            j->status = fm_evaluate_collective(net, &loss, j->val, coll, &j->val_loss, &j->val_metric, err);
        j->n_params = fm_net_n_params(net);
        j->params = malloc(j->n_params * sizeof(float));
        if (j->params)
            memcpy(j->params, fm_net_params(net), j->n_params * sizeof(float));
    }
    fm_optim_free(opt);
    fm_net_free(net);
}

static void *run_job(void *arg)
{
    job *j = arg;
    fm_test_fail_allocation(j->fail_allocation);
    run_rank(j);
    j->allocations_left = fm_test_fail_allocation(0);
    return NULL;
}

/* For test_allocation_failure_stops_all: rank inject_rank's thread fails its
 * inject_nth allocation (none when inject_rank < 0). */
static int inject_rank = -1;
static long inject_nth = 0;

/* Train on `ranks` threads, the data cut into blocks (the validation data
 * into blocks too, one of them empty when val_empty_rank >= 0). */
static void run_group(int ranks, fm_optim_kind optim, int batch, const fm_dataset *train, const fm_dataset *val,
                      int val_empty_rank, job *jobs)
{
    static group g;
    memset(&g, 0, sizeof g);
    g.size = ranks;
    pthread_barrier_init(&g.barrier, NULL, (unsigned)ranks);
    pthread_t threads[MAX_RANKS];
    size_t val_begin = 0;
    for (int r = 0; r < ranks; r++) {
        job *j = &jobs[r];
        memset(j, 0, sizeof *j);
        j->m = (member){&g, r};
        j->coll = (fm_collective){r, ranks, sum_doubles, sum_floats, agree, &j->m};
        if (ranks == 1)
            j->coll.size = 0; /* no collective at all: the one-process path */
        size_t begin, end;
        fm_error err;
        FM_ASSERT_OK(fm_shard_range("train", train->rows, r, ranks, &begin, &end, &err), &err);
        j->train = block(train, begin, end);
        size_t val_end = val_begin + val->rows / (size_t)ranks;
        if (r == ranks - 1)
            val_end = val->rows;
        if (r == val_empty_rank)
            val_end = val_begin;
        j->val = block(val, val_begin, val_end);
        val_begin = val_end;
        j->optim = optim;
        j->batch = batch;
        j->fail_allocation = r == inject_rank ? inject_nth : 0;
        pthread_create(&threads[r], NULL, run_job, j);
    }
    for (int r = 0; r < ranks; r++)
        pthread_join(threads[r], NULL);
    pthread_barrier_destroy(&g.barrier);
}

static void free_jobs(job *jobs, int ranks)
{
    for (int r = 0; r < ranks; r++) {
        fm_dataset_free(jobs[r].train);
        fm_dataset_free(jobs[r].val);
        free(jobs[r].params);
    }
}

static double max_rel_diff(const float *a, const float *b, size_t n)
{
    double diff = 0.0, scale = 0.0;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs(a[i]));
    }
    return diff / scale;
}

/* K shards train to one process's weights, and the K ranks agree bit for bit. */
static void test_shards_train_like_one_process(void **state)
{
    (void)state;
    fm_dataset *train = make_data(ROWS, 1), *val = make_data(VAL_ROWS, 2);
    const fm_optim_kind kinds[2] = {FM_OPTIM_SGD, FM_OPTIM_ADAM};
    for (int k = 0; k < 2; k++) {
        job one[1], many[MAX_RANKS];
        run_group(1, kinds[k], 32, train, val, -1, one);
        FM_ASSERT_OK(one[0].status, &one[0].err);
        for (int ranks = 2; ranks <= 3; ranks++) {
            /* batch 5 with 3 ranks: some ranks have no row of some batches */
            int batch = ranks == 3 ? 5 : 32;
            if (batch != 32) {
                free_jobs(one, 1);
                run_group(1, kinds[k], batch, train, val, -1, one);
            }
            run_group(ranks, kinds[k], batch, train, val, ranks == 3 ? 1 : -1, many);
            for (int r = 0; r < ranks; r++) {
                FM_ASSERT_OK(many[r].status, &many[r].err);
                assert_memory_equal(many[r].params, many[0].params, many[0].n_params * sizeof(float));
                assert_true(many[r].val_loss == many[0].val_loss);
                assert_true(many[r].train_hash == one[0].train_hash);
                assert_memory_equal(many[r].mean, one[0].mean, sizeof one[0].mean);
            }
            double rel = max_rel_diff(one[0].params, many[0].params, one[0].n_params);
            if (!(rel < 1e-5))
                fail_msg("%s, %d ranks: weights differ from one process's by %.3g relative", fm_optim_name(kinds[k]),
                         ranks, rel);
            assert_true(fabs(many[0].val_loss - one[0].val_loss) <= 1e-5 * one[0].val_loss);
            free_jobs(many, ranks);
        }
        free_jobs(one, 1);
    }
    fm_dataset_free(train);
    fm_dataset_free(val);
}

/* A rank whose shard holds a non-finite value stops every rank, named. */
static void test_failing_rank_stops_all(void **state)
{
    (void)state;
    fm_dataset *train = make_data(ROWS, 1), *val = make_data(VAL_ROWS, 2);
    train->x[(ROWS - 3) * N_IN + 1] = NAN; /* in the last rank's block */
    job jobs[MAX_RANKS];
    run_group(2, FM_OPTIM_ADAM, 32, train, val, -1, jobs);
    for (int r = 0; r < 2; r++) {
        assert_int_equal(jobs[r].status, FM_ERR_NUMERIC);
        if (!fm_test_contains(jobs[r].err.message, "rank 1: standardizer fit"))
            fail_msg("rank %d: %s", r, jobs[r].err.message);
    }
    free_jobs(jobs, 2);
    fm_dataset_free(train);
    fm_dataset_free(val);
}

/* Rank 1 runs out of memory at its 1st, 2nd, ... allocation through the
 * library's allocators (standardiser, network, optimiser, trainer buffers,
 * row counts, evaluation), until a run makes fewer: every time, both ranks
 * stop with FM_ERR_NOMEM and the same message naming rank 1, or (where the
 * library does without the memory) both finish with the same weights. A rank
 * left waiting in a sum would hang: the alarm turns that into a failure. */
static void test_allocation_failure_stops_all(void **state)
{
    (void)state;
    fm_dataset *train = make_data(ROWS, 1), *val = make_data(VAL_ROWS, 2);
    alarm(240); /* the whole loop takes seconds */
    int failures = 0;
    long n;
    inject_rank = 1;
    for (n = 1; n <= 5000; n++) {
        job jobs[2];
        inject_nth = n;
        run_group(2, FM_OPTIM_ADAM, 32, train, val, -1, jobs);
        int fired = jobs[1].allocations_left == 0;
        if (!fired) {
            FM_ASSERT_OK(jobs[1].status, &jobs[1].err);
            FM_ASSERT_OK(jobs[0].status, &jobs[0].err);
            free_jobs(jobs, 2);
            break;
        }
        if (jobs[0].status != jobs[1].status)
            fail_msg("allocation %ld of rank 1 failed: rank 0 says %s (%s), rank 1 %s (%s)", n,
                     fm_status_name(jobs[0].status), jobs[0].err.message, fm_status_name(jobs[1].status),
                     jobs[1].err.message);
        if (jobs[1].status == FM_OK) {
            assert_memory_equal(jobs[0].params, jobs[1].params, jobs[0].n_params * sizeof(float));
        } else {
            failures++;
            assert_int_equal(jobs[1].status, FM_ERR_NOMEM);
            for (int r = 0; r < 2; r++)
                if (!fm_test_contains(jobs[r].err.message, "rank 1: "))
                    fail_msg("allocation %ld of rank 1 failed: rank %d says \"%s\"", n, r, jobs[r].err.message);
        }
        free_jobs(jobs, 2);
    }
    inject_rank = -1;
    alarm(0);
    if (n > 5000 || failures < 10)
        fail_msg("%ld runs, %d of them stopped by the failed allocation", n - 1, failures);
    print_message("%d allocations of rank 1 failed in turn; every one stopped both ranks\n", failures);
    fm_dataset_free(train);
    fm_dataset_free(val);
}

/* Fingerprints of blocks, each from its first global row, sum to the whole's. */
static void test_fingerprints_add_up(void **state)
{
    (void)state;
    fm_dataset *all = make_data(ROWS, 3), *a = block(all, 0, 100), *b = block(all, 100, ROWS);
    uint64_t sum = fm_train_data_rows_hash(a, 0) + fm_train_data_rows_hash(b, 100);
    assert_true(fm_train_data_hash_finish(sum, ROWS, N_IN, N_OUT) == fm_train_data_hash(all));
    /* Moving a row changes it: the index is part of each row's hash. */
    uint64_t swapped = fm_train_data_rows_hash(b, 0) + fm_train_data_rows_hash(a, ROWS - 100);
    assert_true(fm_train_data_hash_finish(swapped, ROWS, N_IN, N_OUT) != fm_train_data_hash(all));
    fm_dataset_free(a);
    fm_dataset_free(b);
    fm_dataset_free(all);
}

/* ------------------------------------------------------ shard reading */

static void assert_same_rows(const fm_dataset *whole, fm_dataset **parts, int n)
{
    size_t row = 0;
    for (int p = 0; p < n; p++) {
        assert_int_equal(parts[p]->n_in, whole->n_in);
        assert_int_equal(parts[p]->n_out, whole->n_out);
        assert_memory_equal(parts[p]->x, whole->x + row * (size_t)whole->n_in,
                            parts[p]->rows * (size_t)whole->n_in * sizeof(float));
        if (whole->n_out)
            assert_memory_equal(parts[p]->y, whole->y + row * (size_t)whole->n_out,
                                parts[p]->rows * (size_t)whole->n_out * sizeof(float));
        row += parts[p]->rows;
    }
    assert_int_equal(row, whole->rows);
}

static void check_shards(const char *path, const char *inputs, const char *targets, int skip_bad)
{
    fm_error err;
    fm_read_options opts = {inputs, targets, skip_bad};
    fm_dataset *whole;
    FM_ASSERT_OK(fm_data_read(path, NULL, &opts, &whole, &err), &err);
    for (int n = 1; n <= 4; n++) {
        fm_dataset *parts[4];
        for (int s = 0; s < n; s++)
            FM_ASSERT_OK(fm_data_read_shard(path, NULL, &opts, s, n, &parts[s], &err), &err);
        assert_same_rows(whole, parts, n);
        for (int s = 0; s < n; s++)
            fm_dataset_free(parts[s]);
    }
    fm_dataset_free(whole);
}

static void test_read_shards(void **state)
{
    (void)state;
    /* CSV with a quoted line break and, with --skip-bad-rows, a bad row. */
    const char *csv = fm_test_tmp_path("shards.csv");
    fm_test_write_text(csv, "a,b,note,\"t\"\n1,2,x,3\n4,5,\"two\nlines\",6\n7,8,x,9\n10,x,x,12\n13,14,x,15\n"
                            "16,17,x,18\n19,20,x,21\n");
    check_shards(csv, "a,b", "t", 1);
    fm_error err;
    fm_read_options opts = {"a,b", "t", 0};
    fm_dataset *part = NULL;
    /* Without skipping, the bad row fails the shard that holds it only. */
    FM_ASSERT_OK(fm_data_read_shard(csv, NULL, &opts, 1, 2, &part, &err), &err); /* records 4-6 */
    assert_int_equal(part->rows, 3);
    assert_int_equal(part->row_offset, 4);
    fm_dataset_free(part);
    FM_ASSERT_FAILS(fm_data_read_shard(csv, NULL, &opts, 0, 2, &part, &err), &err, FM_ERR_FORMAT, "shards.csv:6");
    FM_ASSERT_FAILS(fm_data_read_shard(csv, NULL, &opts, 0, 9, &part, &err), &err, FM_ERR_ARG, "fewer than the 9");

    /* NPY */
    float m[7 * 3];
    for (int i = 0; i < 21; i++)
        m[i] = (float)i * 0.5f;
    const char *npy = fm_test_tmp_path("shards.npy");
    FM_ASSERT_OK(fm_npy_write(npy, m, 7, 3, &err), &err);
    check_shards(npy, NULL, "2", 0);

    /* IDX, gzip-compressed: 5 images of 2 x 3 bytes */
    const char *idx = fm_test_tmp_path("shards-ubyte.gz");
    gzFile gz = gzopen(idx, "wb");
    assert_non_null(gz);
    unsigned char header[16] = {0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0, 3};
    unsigned char pixels[30];
    for (int i = 0; i < 30; i++)
        pixels[i] = (unsigned char)(i * 7);
    assert_int_equal(gzwrite(gz, header, 16), 16);
    assert_int_equal(gzwrite(gz, pixels, 30), 30);
    gzclose(gz);
    check_shards(idx, NULL, "5", 0);

    size_t begin, end;
    FM_ASSERT_OK(fm_shard_range("x", 10, 3, 4, &begin, &end, &err), &err);
    assert_int_equal(begin, 8);
    assert_int_equal(end, 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shards_train_like_one_process),
        cmocka_unit_test(test_failing_rank_stops_all),
        cmocka_unit_test(test_allocation_failure_stops_all),
        cmocka_unit_test(test_fingerprints_add_up),
        cmocka_unit_test(test_read_shards),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
