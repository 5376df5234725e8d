// Ends the region that lnfold/detail/disable_warnings.hpp began: the warnings it silenced are
// reported again after this point. No include guard (see disable_warnings.hpp); same condition.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12 && __GNUC_MINOR__ < 3 && defined(__AVX512F__)
#pragma GCC diagnostic pop
#endif
