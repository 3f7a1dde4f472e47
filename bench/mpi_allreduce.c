/* Time of one MPI_Allreduce (MPI_SUM, in place) of N floats, the gradient
 * block of a network with N parameters, averaged over repetitions after a
 * warm-up: what data-parallel fathom train adds to every step.
 *   mpicc -O2 bench/mpi_allreduce.c -o mpi_allreduce && mpirun -np 2 ./mpi_allreduce N [REPS]
 * Prints "allreduce N floats K ranks: T us" on rank 0. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    int reps = argc > 2 ? atoi(argv[2]) : 200;
    float *v = calloc((size_t)n, sizeof *v);
    if (!v || n <= 0 || reps <= 0)
        MPI_Abort(MPI_COMM_WORLD, 1);
    for (int i = 0; i < 10; i++)
        MPI_Allreduce(MPI_IN_PLACE, v, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    double start = MPI_Wtime();
    for (int i = 0; i < reps; i++)
        MPI_Allreduce(MPI_IN_PLACE, v, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    double t = (MPI_Wtime() - start) / reps;
    if (rank == 0)
        printf("allreduce %ld floats %d ranks: %.1f us\n", n, size, t * 1e6);
    free(v);
    MPI_Finalize();
    return 0;
}
