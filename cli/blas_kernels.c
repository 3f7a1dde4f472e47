/* Which OpenBLAS kernel set to ask for (cli/blas_kernels.h). */
#include "blas_kernels.h"

#include <cblas.h>
#include <string.h>

const char *cli_blas_kernels_for_cpu(void)
{
    const char *core = openblas_get_corename();
    if (!core || strcmp(core, "Prescott") != 0)
        return NULL; /* OpenBLAS knows this CPU: its own choice stands */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "Haswell";
    return NULL; /* an SSE3-only CPU: Prescott is right */
}
