/* OpenBLAS 0.3.21 (Debian 12) does not recognise recent CPUs such as Intel's
 * family 6 model 207 and falls back to its generic "Prescott" SSE3 kernels,
 * which run sgemm 3-4 times slower (docs/benchmarks.md). OpenBLAS reads its
 * kernel choice (OPENBLAS_CORETYPE) from the environment when it loads, so
 * the choice has to be made before a program starts: the CLI restarts itself
 * with it, bench/run.sh asks bench_train for it. */
#ifndef FATHOM_CLI_BLAS_KERNELS_H
#define FATHOM_CLI_BLAS_KERNELS_H

/* The newest kernel set this CPU supports ("SkylakeX" with AVX-512, "Haswell"
 * with AVX2 and FMA) when the loaded OpenBLAS fell back to Prescott; NULL when
 * OpenBLAS's own choice should stand (it recognised the CPU, or the CPU has
 * neither). */
const char *cli_blas_kernels_for_cpu(void);

#endif
