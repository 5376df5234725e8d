// Private: the attributes the norm kernels are compiled with.
#pragma once

// The kernels are written with small lambdas over constant indices (static_for); they must all be
// inlined, or the accumulators leave the registers: force it where the compiler allows.
// The block loops are already unrolled by hand: at -O3 GCC would unroll them again, schedule all
// the loads first and spill the accumulators.
// The reductions themselves stay out of line (LNFOLD_NORM_OUT_OF_LINE): inlined into the row loop,
// GCC 12 allocated the registers of the LayerNorm loop worse and it ran 5–7% slower in cache. The
// rare rows' scalar path (scaled.hpp) is out of line and cold (LNFOLD_NORM_COLD), out of the loop's way.
#if defined(__GNUC__) || defined(__clang__)
#define LNFOLD_NORM_INLINE [[gnu::always_inline]] inline
#define LNFOLD_NORM_LAMBDA_INLINE __attribute__((always_inline))
#define LNFOLD_NORM_OUT_OF_LINE [[gnu::noinline]]
#define LNFOLD_NORM_COLD [[gnu::noinline, gnu::cold]]
#define LNFOLD_NORM_NO_UNROLL _Pragma("GCC unroll 1")
// A hint that the cache line at `address` will be written soon (PREFETCHW where the target has it,
// else a plain prefetch): see output_row::vectors (apply.hpp) for why.
#define LNFOLD_NORM_PREFETCH_FOR_WRITE(address) __builtin_prefetch((address), 1, 3)
#else
#define LNFOLD_NORM_INLINE inline
#define LNFOLD_NORM_LAMBDA_INLINE
#define LNFOLD_NORM_OUT_OF_LINE
#define LNFOLD_NORM_COLD
#define LNFOLD_NORM_NO_UNROLL
#define LNFOLD_NORM_PREFETCH_FOR_WRITE(address) static_cast<void>(address)
#endif
