/* fm_collective over MPI_COMM_WORLD: sums are MPI_Allreduce with MPI_SUM in
 * place (the same result on every process), and agreement is one
 * MPI_Allreduce of the lowest failing rank followed by a broadcast of its
 * status and message. No other protocol: whatever the cluster's MPI does
 * (shared memory, InfiniBand, TCP) fathom uses. */
#include "dist/mpi_collective.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fm_mpi_launched(void)
{
    /* OpenMPI's mpirun, then PMI/PMIx launchers (MPICH's hydra, Slurm's srun). */
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

static fm_status mpi_failed(fm_error *err, const char *what, int code)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "error %d", code);
    return fm_error_set(err, FM_ERR_IO, "MPI %s failed: %s", what, text);
}

/* MPI counts are int: long blocks go in pieces. */
static fm_status sum_in_place(void *v, size_t n, MPI_Datatype type, size_t size, fm_error *err)
{
    char *p = v;
    while (n > 0) {
        int count = n > (size_t)INT_MAX ? INT_MAX : (int)n;
        int rc = MPI_Allreduce(MPI_IN_PLACE, p, count, type, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_failed(err, "MPI_Allreduce", rc);
        p += (size_t)count * size;
        n -= (size_t)count;
    }
    return FM_OK;
}

static fm_status sum_doubles(double *v, size_t n, void *user, fm_error *err)
{
    (void)user;
    return sum_in_place(v, n, MPI_DOUBLE, sizeof *v, err);
}

static fm_status sum_floats(float *v, size_t n, void *user, fm_error *err)
{
    (void)user;
    return sum_in_place(v, n, MPI_FLOAT, sizeof *v, err);
}

typedef struct verdict {
    int status;
    char message[sizeof ((fm_error *)0)->message];
} verdict;

static fm_status agree(fm_status local, fm_error *err, void *user)
{
    (void)user;
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int mine = local != FM_OK ? rank : size, first = size;
    int rc = MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS)
        return mpi_failed(err, "MPI_Allreduce", rc);
    if (first == size)
        return FM_OK;
    verdict v;
    memset(&v, 0, sizeof v);
    if (rank == first) {
        v.status = (int)local;
        snprintf(v.message, sizeof v.message, "%s", err && err->message[0] ? err->message : fm_status_name(local));
    }
    rc = MPI_Bcast(&v, (int)sizeof v, MPI_BYTE, first, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS)
        return mpi_failed(err, "MPI_Bcast", rc);
    char prefix[32];
    snprintf(prefix, sizeof prefix, "rank %d: ", first);
    fm_status status = v.status > 0 ? (fm_status)v.status : FM_ERR_IO;
    /* A verdict passed on again (a phase that already agreed) keeps one prefix. */
    if (strncmp(v.message, prefix, strlen(prefix)) == 0)
        return fm_error_set(err, status, "%s", v.message);
    return fm_error_set(err, status, "%s%s", prefix, v.message);
}

fm_status fm_mpi_start(fm_collective *out, fm_error *err)
{
    int provided = 0;
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS)
        return mpi_failed(err, "MPI_Init_thread", rc);
    memset(out, 0, sizeof *out);
    MPI_Comm_rank(MPI_COMM_WORLD, &out->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &out->size);
    out->sum_doubles = sum_doubles;
    out->sum_floats = sum_floats;
    out->agree = agree;
    out->user = NULL;
    return FM_OK;
}

void fm_mpi_stop(void)
{
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized)
        MPI_Finalize();
}
