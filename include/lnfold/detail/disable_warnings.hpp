// Silences, for the lnfold code between this header and restore_warnings.hpp, the warnings a known
// compiler bug raises there, and nothing else. Eigen's DisableStupidWarnings.h /
// ReenableStupidWarnings.h are the model: no include guard, since each bracketed header includes
// this one at its top and restore_warnings.hpp at its end, and the brackets nest.
//
// GCC 12.1 and 12.2, bug 105593 (https://gcc.gnu.org/bugzilla/show_bug.cgi?id=105593, fixed in
// 12.3 and 13.1): the AVX-512 intrinsics build the "don't care" operand of a masked builtin from a
// self-initialized local (`__m512 __Y = __Y;` in _mm512_undefined_ps and its siblings). Once such an
// intrinsic is inlined into a caller, -Wuninitialized and -Wmaybe-uninitialized report that local,
// in avx512fintrin.h, at every use: 50 warnings for one rms_norm call compiled with
// -march=skylake-avx512 -Wall, 459 for lnfold-demo. GCC checks a middle-end warning against the
// diagnostic pragmas of every location on its inlining stack, so bracketing lnfold's kernel headers
// silences the warnings whose chain runs through lnfold's code even when <immintrin.h> was included
// first, outside any bracket, by the user, Eigen or xsimd. Only with AVX-512 enabled, where the
// buggy intrinsics can be used at all; every other compiler, version and target keeps both warnings.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12 && __GNUC_MINOR__ < 3 && defined(__AVX512F__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
