/* fathom's collective operations (fm_collective) over MPI, for data-parallel
 * training under mpirun. Compiled into the fathom program only when CMake
 * finds MPI (FATHOM_MPI); the library itself stays free of MPI. */
#ifndef FATHOM_MPI_COLLECTIVE_H
#define FATHOM_MPI_COLLECTIVE_H

#include "fathom.h"

/* 1 when this process was started by an MPI launcher (mpirun, srun with
 * PMI): only then is MPI initialised, so that a plain `fathom train` runs
 * without any MPI machinery. */
int fm_mpi_launched(void);

/* MPI_Init and a collective over MPI_COMM_WORLD in *out. */
fm_status fm_mpi_start(fm_collective *out, fm_error *err);

/* MPI_Finalize (after every process agreed on the outcome). */
void fm_mpi_stop(void);

#endif
