/* FM_HOT_LOOP marks the element-wise kernels a training step spends its
 * non-GEMM time in (activations, optimiser updates, bias sums).
 *
 * The library is built for plain x86-64 so that one binary runs everywhere,
 * which limits GCC's vectoriser to 4-wide SSE2. On a machine with AVX-512 the
 * same loops run 3-5 times faster 16 wide (measured in docs/benchmarks.md:
 * SELU forward 3.6 -> 0.75 ns per element, the 8-64-64-1 network's step
 * 23 -> 10 us). target_clones compiles each marked function three times
 * (x86-64-v4: AVX-512; x86-64-v3: AVX2; baseline) and picks one at load time
 * through an ifunc, so the portable build gets the wide loops without
 * -march=native.
 *
 * The clones give bit-identical results: the project builds with
 * -ffp-contract=off (CMakeLists.txt; no FMA contraction even where the ISA
 * has it), and without -ffast-math GCC never reorders a float reduction, so every
 * clone performs the same roundings in the same order.
 *
 * The optimize attribute asks for the -O3 vectoriser cost model also when the
 * rest of the build is -O2 (RelWithDebInfo): see activation.c. Other compilers
 * (clang for the fuzz build) get plain functions. */
#ifndef FATHOM_CORE_HOT_LOOP_H
#define FATHOM_CORE_HOT_LOOP_H

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(FATHOM_NO_TARGET_CLONES)
#define FM_HOT_LOOP                                                                                            \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"),                              \
                   optimize("tree-vectorize", "vect-cost-model=dynamic")))
#elif defined(__GNUC__) && !defined(__clang__)
#define FM_HOT_LOOP __attribute__((optimize("tree-vectorize", "vect-cost-model=dynamic")))
#else
#define FM_HOT_LOOP
#endif

#endif
