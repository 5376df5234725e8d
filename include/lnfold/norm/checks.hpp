// Private: the argument checks shared by every public norm entry point. They run once per call,
// never per row, and throw lnfold::error naming the function, the argument and the value.
#pragma once

#include <cmath>
#include <cstddef>

#include "lnfold/error.hpp"
#include "lnfold/norm/matrix_ref.hpp"

namespace lnfold::detail {

/// Checks one matrix argument named `name` (e.g. "x") against the expected shape of x.
template <class T>
void check_matrix(const char* fn, const char* name, const matrix_ref<T>& m, std::size_t rows, std::size_t cols) {
  require(m.rows == rows && m.cols == cols, fn, ": ", name, " shape [", m.rows, ", ", m.cols, "] must equal x shape [",
          rows, ", ", cols, "]");
  require(m.row_stride >= m.cols, fn, ": ", name, ".row_stride must be >= ", name, ".cols (got ", m.row_stride, " < ",
          m.cols, ")");
  require(m.data != nullptr || m.rows == 0, fn, ": ", name, ".data must not be null when ", name,
          ".rows > 0 (got rows = ", m.rows, ")");
}

/// Two views of the same data must be the same view: in-place works row by row, a partial
/// overlap (same start, other stride) would read rows already overwritten.
template <class T, class U>
void check_alias(const char* fn, const char* a, const matrix_ref<T>& ma, const char* b, const matrix_ref<U>& mb) {
  require(static_cast<const void*>(ma.data) != static_cast<const void*>(mb.data) || ma.row_stride == mb.row_stride, fn,
          ": ", b, " aliases ", a, " so ", b, ".row_stride must equal ", a, ".row_stride (got ", mb.row_stride, " and ",
          ma.row_stride, ")");
}

/// The checks every norm call shares; y may be of another element type (the reference writes
/// long double).
template <class X, class Y>
void check_norm_args(const char* fn, const matrix_ref<X>& x, const matrix_ref<Y>& y, double eps, std::size_t row_begin,
                     std::size_t row_end) {
  require(x.cols > 0, fn, ": x.cols (d) must be > 0 (got ", x.cols, ")");
  require(std::isfinite(eps) && eps > 0.0, fn, ": eps must be finite and > 0 (got ", eps, ")");
  check_matrix(fn, "x", x, x.rows, x.cols);
  check_matrix(fn, "y", y, x.rows, x.cols);
  check_alias(fn, "x", x, "y", y);
  require(row_begin <= row_end, fn, ": row_begin must be <= row_end (got ", row_begin, " > ", row_end, ")");
  require(row_end <= x.rows, fn, ": row_end must be <= rows (got ", row_end, " > ", x.rows, ")");
}

/// The checks of a fused residual-add norm call.
template <class X, class R, class Y>
void check_fused_args(const char* fn, const matrix_ref<X>& x, const matrix_ref<R>& residual, const matrix_ref<Y>& y,
                      double eps, std::size_t row_begin, std::size_t row_end) {
  check_norm_args(fn, x, y, eps, row_begin, row_end);
  check_matrix(fn, "residual", residual, x.rows, x.cols);
  check_alias(fn, "x", x, "residual", residual);
  check_alias(fn, "residual", residual, "y", y);
}

}  // namespace lnfold::detail
