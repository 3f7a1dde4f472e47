/* The CLI's choice of OpenBLAS kernels (cli/blas_kernels.c), against the CPU's
 * flags as the kernel reports them in /proc/cpuinfo (an independent reading of
 * what __builtin_cpu_supports sees).
 *
 * CTest runs this twice: as it comes, where OpenBLAS's own detection stands
 * unless it fell back to Prescott, and with OPENBLAS_CORETYPE=Prescott and
 * FATHOM_TEST_EXPECT_PRESCOTT=1, the fallback the choice exists for, so that
 * both branches are checked on any machine. A kernel set the CPU cannot run
 * (SkylakeX on an AVX2-only CPU) dies of an illegal instruction at the first
 * GEMM; a set older than the CPU allows costs 3-4x in sgemm. */
#include "test_support.h"

#include "blas_kernels.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whether the first "flags" line of /proc/cpuinfo lists `flag`. */
static int cpu_has(const char *flag)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        fail_msg("cannot read /proc/cpuinfo");
    char line[8192];
    int found = 0, seen = 0;
    while (!seen && fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags", 5) != 0)
            continue;
        seen = 1;
        char *colon = strchr(line, ':');
        for (char *tok = colon ? strtok(colon + 1, " \t\n") : NULL; tok; tok = strtok(NULL, " \t\n"))
            if (strcmp(tok, flag) == 0)
                found = 1;
    }
    fclose(f);
    if (!seen)
        fail_msg("/proc/cpuinfo has no flags line");
    return found;
}

static int cpu_has_avx512(void)
{
    return cpu_has("avx512f") && cpu_has("avx512bw") && cpu_has("avx512dq") && cpu_has("avx512vl");
}

static void test_choice_runs_on_this_cpu(void **state)
{
    (void)state;
    const char *core = openblas_get_corename();
    assert_non_null(core);
    const char *expect_prescott = getenv("FATHOM_TEST_EXPECT_PRESCOTT");
    /* the run meant for the fallback did get it (an OpenBLAS built without
     * DYNAMIC_ARCH ignores OPENBLAS_CORETYPE; Debian's has it) */
    if (expect_prescott && strcmp(expect_prescott, "1") == 0 && strcmp(core, "Prescott") != 0)
        fail_msg("OPENBLAS_CORETYPE=Prescott was not taken: OpenBLAS runs %s (a build without DYNAMIC_ARCH?)", core);
    const char *choice = cli_blas_kernels_for_cpu();
    if (strcmp(core, "Prescott") != 0) {
        if (choice)
            fail_msg("OpenBLAS chose %s itself, yet the CLI would replace it with %s", core, choice);
        return;
    }
    if (cpu_has_avx512()) {
        assert_non_null(choice);
        assert_string_equal(choice, "SkylakeX");
    } else if (cpu_has("avx2") && cpu_has("fma")) {
        assert_non_null(choice);
        assert_string_equal(choice, "Haswell");
    } else if (choice) {
        fail_msg("an SSE-only CPU would be given %s", choice);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_choice_runs_on_this_cpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
