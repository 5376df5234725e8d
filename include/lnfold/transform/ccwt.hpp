// CCWT, the column-centered weight transformation: center the parameters that produce a LayerNorm's
// input, once, so that the LayerNorm can be replaced by an RMSNorm with the same γ, β and ε.
//
// Identity preserved (docs/method.md §1, fact 3). With C = I − 11ᵀ/d the centering projector over the output
// axis (size d) of a linear producer z = Wx + b,
//     Cz = (CW)x + Cb,   so   LN(Wx + b) = LN(C(Wx + b)) = RMS((CW)x + Cb)
// for every input x: CW subtracts from every column its mean over the output axis, Cb subtracts from
// the bias its mean, and the producer's output becomes exactly zero-mean, where LN and RMS agree.
// How the other parameters move: ε stays inside the root of the RMSNorm, unchanged; the bias is
// centered like the weight (Cb); γ and β stay on the RMSNorm, unchanged. Every other tensor downstream
// changes by a per-row multiple of 1 only (a find_foldable plan guarantees its readers ignore that).
//
// Which axis, per layout (docs/method.md §2): the output axis of the producer, i.e. the axis that becomes the
// normalized axis downstream:
//   linear weight [out, in] (weight_layout::out_in): axis 0;  [in, out] (in_out): axis 1;  bias: axis 0
//   conv weight [C_out, C_in, k…] (groups = 1, any spatial rank): axis 0;  bias: axis 0
//   transposed conv weight [C_in, C_out, k…] (groups = 1): axis 1;  bias: axis 0
//   embedding table [V, d]: axis 1 (every row);  additive constant: its axis along d
//   constant broadcast along d: set to zero (its mean over the broadcast copies is itself)
// Grouped and depthwise convolutions are not centerable (find_foldable refuses them); these functions
// cannot tell from the weight's shape and assume groups = 1.
//
// Precision. Each fiber's mean is accumulated in double for float storage and in long double for
// double storage (see center_accumulator), shifted by the fiber's first element so that a large common
// offset does not enter the sum; the difference is formed in that type and rounded once to the
// storage type. After rounding, a fiber of n values sums to at most about n·u·max|w| (u the unit
// round-off of the storage type), which is the unavoidable storage error; the computed mean adds
// nothing visible on top of it even when a large common offset dominates the fiber (|mean| ≫ spread),
// where a float accumulator would leave a residual mean of the order of the spread itself.
//
// Errors (lnfold::error, the message names the function, the argument and the value): axis ≥ rank or
// a wrong rank for a named layout; a bias whose length is not the weight's output size; null data with
// a non-zero size; a stride of 0 on an axis of extent > 1 (aliased elements cannot be edited in place);
// a non-finite value (reported with its index). All checks run before the first write, so a call that
// throws leaves every argument untouched.
//
// Complexity: O(N) time for N elements (one reading pass that sums every fiber, one pass that
// subtracts, both in the order of the memory layout, whatever the strides); O(N / n) extra memory for
// one slice of accumulators and one of shifts (one each per fiber, n = the centered extent); no other
// copy of the data.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "lnfold/error.hpp"
#include "lnfold/graph/op.hpp"
#include "lnfold/tensor/tensor.hpp"
#include "lnfold/tensor/view.hpp"

namespace lnfold {

/// The type a fiber's sum and mean are computed in, for storage type T. Sums run over w − shift (the
/// fiber's first element), so their error is at most about n·u_A·spread, against the unavoidable
/// u_T·spread of rounding each centered value to storage. float: double (u_A = 2⁻⁵³), 29 bits of
/// margin, so the mean is exact to float precision for any realistic n. double: long double (64-bit
/// significand on x86, u_A = 2⁻⁶⁴): a double accumulator would leave a mean error up to n times the
/// storage rounding; 11 extra bits keep it below it for n up to ~2000 and degrade gracefully beyond.
/// The cost (x87 arithmetic) is irrelevant for a one-time O(N) transform. Where long double is double
/// (MSVC, AArch64 macOS) double storage gets plain double accumulation.
template <class T>
struct center_accumulator {
  using type = double;
};
template <>
struct center_accumulator<double> {
  using type = long double;
};
template <>
struct center_accumulator<long double> {
  using type = long double;
};
template <class T>
using center_accumulator_t = typename center_accumulator<std::remove_cv_t<T>>::type;

namespace detail {

inline std::string format_index(std::span<const std::size_t> index) {
  std::string s = "[";
  for (std::size_t k = 0; k < index.size(); ++k) s += (k ? ", " : "") + std::to_string(index[k]);
  return s + "]";
}

/// Checks every view the transforms take: consistent rank, data present, and (when it is written)
/// no two indices naming the same element through a zero stride.
template <class T>
void check_view(const tensor_view<T>& v, const char* fn, const char* arg, bool written) {
  require(v.strides.size() == v.extents.size(), fn, ": ", arg, " has ", v.extents.size(), " extents but ",
          v.strides.size(), " strides");
  require(v.size() == 0 || v.data != nullptr, fn, ": ", arg, " has null data but ", v.size(), " elements (extents ",
          format_index(v.extents), ")");
  if (written && v.size() > 1)
    for (std::size_t k = 0; k < v.rank(); ++k)
      require(v.strides[k] != 0 || v.extents[k] <= 1, fn, ": ", arg, " has stride 0 on axis ", k, " of extent ",
              v.extents[k], ": its elements alias and cannot be centered in place");
}

inline void check_axis(std::size_t axis, std::size_t rank, const std::vector<std::size_t>& extents, const char* fn,
                       const char* arg) {
  require(axis < rank, fn, ": axis must be < the rank of ", arg, " (got axis ", axis, " for rank ", rank, ", extents ",
          format_index(extents), ")");
}

/// Calls run(offsets, slice_offset, n, inner_strides, inner_slice_stride) once per innermost run of
/// the views: the elements at offsets[v] + i·inner_strides[v] (i < n) of view v, whose fibers along
/// `axis` are numbered slice_offset + i·inner_slice_stride (row-major over the other axes). Loops are
/// ordered by decreasing |stride| of view 0, so view 0 is read in memory order whatever its layout.
/// Preconditions: rank ≥ 1, axis < rank, no extent is zero, every view has these extents.
template <std::size_t N, class Run>
void for_each_run(const std::vector<std::size_t>& extents,
                  const std::array<const std::vector<std::ptrdiff_t>*, N>& strides, std::size_t axis, Run&& run) {
  const std::size_t rank = extents.size();
  std::vector<std::ptrdiff_t> slice(rank, 0);
  std::ptrdiff_t s = 1;
  for (std::size_t k = rank; k-- > 0;)
    if (k != axis) {
      slice[k] = s;
      s *= static_cast<std::ptrdiff_t>(extents[k]);
    }
  std::vector<std::size_t> order(rank);
  std::iota(order.begin(), order.end(), std::size_t{0});
  const auto& s0 = *strides[0];
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return std::abs(s0[a]) > std::abs(s0[b]); });
  const std::size_t inner = order[rank - 1];
  std::array<std::ptrdiff_t, N> inner_strides{};
  for (std::size_t v = 0; v < N; ++v) inner_strides[v] = (*strides[v])[inner];

  std::vector<std::size_t> index(rank - 1, 0);  // odometer over order[0 .. rank-2]
  std::array<std::ptrdiff_t, N> offsets{};
  std::ptrdiff_t slice_offset = 0;
  for (;;) {
    run(offsets, static_cast<std::size_t>(slice_offset), extents[inner], inner_strides,
        static_cast<std::size_t>(slice[inner]));
    std::size_t j = rank - 1;
    for (; j-- > 0;) {
      const std::size_t k = order[j];
      if (++index[j] < extents[k]) {
        for (std::size_t v = 0; v < N; ++v) offsets[v] += (*strides[v])[k];
        slice_offset += slice[k];
        break;
      }
      const auto back = static_cast<std::ptrdiff_t>(extents[k] - 1);
      for (std::size_t v = 0; v < N; ++v) offsets[v] -= (*strides[v])[k] * back;
      slice_offset -= slice[k] * back;
      index[j] = 0;
    }
    if (j == static_cast<std::size_t>(-1)) return;  // every outer index wrapped around: done
  }
}

/// The first non-finite element of v in row-major index order, if any.
template <class T>
std::optional<std::vector<std::size_t>> find_non_finite(const tensor_view<T>& v) {
  if (v.size() == 0) return std::nullopt;
  std::vector<std::size_t> index(v.rank(), 0);
  for (;;) {
    if (!std::isfinite(v(index))) return index;
    std::size_t k = v.rank();
    for (; k-- > 0;) {
      if (++index[k] < v.extents[k]) break;
      index[k] = 0;
    }
    if (k == static_cast<std::size_t>(-1)) return std::nullopt;
  }
}

/// Where every fiber of a view is centered: its mean is shift[q] + offset[q] (q = the fiber's number,
/// row-major over the other axes), with shift[q] the fiber's first element. Summing w − shift instead of
/// w keeps the sum at the scale of the fiber's spread, not of its mean, so a large common offset
/// (|mean| ≫ spread) costs no accuracy; w − shift is exact in the accumulator for neighbouring values.
template <class T>
struct fiber_centers {
  using value_type = std::remove_const_t<T>;
  using A = center_accumulator_t<T>;
  std::vector<value_type> shift;
  std::vector<A> offset;

  /// w minus its fiber's mean, in the accumulator type.
  A centered(value_type w, std::size_t q) const { return (static_cast<A>(w) - static_cast<A>(shift[q])) - offset[q]; }
};

/// The first element of every fiber of v along `axis`.
template <class T>
std::vector<std::remove_const_t<T>> fiber_firsts(const tensor_view<T>& v, std::size_t axis) {
  auto firsts_extents = v.extents;
  firsts_extents[axis] = 1;
  std::vector<std::remove_const_t<T>> first(v.size() / v.extents[axis]);
  for_each_run<1>(firsts_extents, {&v.strides}, axis,
                  [&](const std::array<std::ptrdiff_t, 1>& off, std::size_t q, std::size_t n,
                      const std::array<std::ptrdiff_t, 1>& s, std::size_t qs) {
                    for (std::size_t i = 0; i < n; ++i)
                      first[q + i * qs] = v.data[off[0] + static_cast<std::ptrdiff_t>(i) * s[0]];
                  });
  return first;
}

/// Σ (w − shift)·scale over every fiber of v along `axis`.
template <class A, class T, class U>
std::vector<A> fiber_sums(const tensor_view<T>& v, std::size_t axis, const std::vector<U>& shift, A scale) {
  std::vector<A> acc(shift.size(), A(0));
  for_each_run<1>(v.extents, {&v.strides}, axis,
                  [&](const std::array<std::ptrdiff_t, 1>& off, std::size_t q, std::size_t n,
                      const std::array<std::ptrdiff_t, 1>& s, std::size_t qs) {
                    const T* p = v.data + off[0];
                    if (qs == 0) {  // the run is (part of) one fiber: one register accumulator
                      const auto c = static_cast<A>(shift[q]);
                      A t = acc[q];
                      for (std::size_t i = 0; i < n; ++i)
                        t += (static_cast<A>(p[static_cast<std::ptrdiff_t>(i) * s[0]]) - c) * scale;
                      acc[q] = t;
                    } else {
                      for (std::size_t i = 0; i < n; ++i)
                        acc[q + i * qs] += (static_cast<A>(p[static_cast<std::ptrdiff_t>(i) * s[0]]) -
                                            static_cast<A>(shift[q + i * qs])) *
                                           scale;
                    }
                  });
  return acc;
}

/// The centers of every fiber of v along `axis` (v non-empty, checked). With `reject_non_finite` a
/// non-finite element throws (naming fn, arg and its index) before anything is written; otherwise
/// non-finite values simply propagate.
template <class T>
fiber_centers<T> find_fiber_centers(const tensor_view<T>& v, std::size_t axis, bool reject_non_finite, const char* fn,
                                    const char* arg) {
  using A = center_accumulator_t<T>;
  const auto n = static_cast<A>(v.extents[axis]);
  fiber_centers<T> c{fiber_firsts(v, axis), {}};
  c.offset = fiber_sums<A>(v, axis, c.shift, A(1));
  const bool finite = std::all_of(c.offset.begin(), c.offset.end(), [](A a) { return std::isfinite(a); });
  if (!finite) {
    if (const auto bad = find_non_finite(v)) {
      if (reject_non_finite)
        fail(concat(fn, ": ", arg, " must be finite (got ", v(*bad), " at index ", format_index(*bad), ")"));
    } else {
      // Finite elements whose differences overflow the accumulator (possible only where long double
      // is double): sum (w − shift)/n instead, which cannot overflow.
      c.offset = fiber_sums<A>(v, axis, c.shift, A(1) / n);
      return c;
    }
  }
  for (auto& a : c.offset) a /= n;
  return c;
}

/// v ← v − mean (per fiber), rounding once to the storage type.
template <class T>
void subtract_find_fiber_centers(const tensor_view<T>& v, std::size_t axis, const fiber_centers<T>& c) {
  for_each_run<1>(v.extents, {&v.strides}, axis,
                  [&](const std::array<std::ptrdiff_t, 1>& off, std::size_t q, std::size_t n,
                      const std::array<std::ptrdiff_t, 1>& s, std::size_t qs) {
                    T* p = v.data + off[0];
                    for (std::size_t i = 0; i < n; ++i) {
                      T& w = p[static_cast<std::ptrdiff_t>(i) * s[0]];
                      w = static_cast<T>(c.centered(w, q + i * qs));
                    }
                  });
}

template <class T>
void zero_all(const tensor_view<T>& v) {
  if (v.size() == 0) return;
  if (v.rank() == 0) {
    *v.data = T(0);
    return;
  }
  for_each_run<1>(v.extents, {&v.strides}, 0,
                  [&](const std::array<std::ptrdiff_t, 1>& off, std::size_t, std::size_t n,
                      const std::array<std::ptrdiff_t, 1>& s, std::size_t) {
                    for (std::size_t i = 0; i < n; ++i) v.data[off[0] + static_cast<std::ptrdiff_t>(i) * s[0]] = T(0);
                  });
}

template <class T>
void require_writable_floating() {
  static_assert(!std::is_const_v<T>, "lnfold: centering edits the tensor in place: pass a view of mutable elements");
  static_assert(std::is_floating_point_v<T>, "lnfold: centering needs float, double or long double elements");
}

/// Validated center_over_axis with the caller's names in the messages.
template <class T>
void center_over_axis_as(const tensor_view<T>& v, std::size_t axis, const char* fn, const char* arg) {
  require_writable_floating<T>();
  check_view(v, fn, arg, true);
  check_axis(axis, v.rank(), v.extents, fn, arg);
  if (v.size() == 0) return;
  subtract_find_fiber_centers(v, axis, find_fiber_centers(v, axis, true, fn, arg));
}

/// Validated zeroing of a broadcast constant, with the caller's names in the messages.
template <class T>
void zero_broadcast_as(const tensor_view<T>& v, const char* fn, const char* arg) {
  require_writable_floating<T>();
  check_view(v, fn, arg, true);
  if (const auto bad = find_non_finite(v))
    fail(concat(fn, ": ", arg, " must be finite (got ", v(*bad), " at index ", format_index(*bad), ")"));
  zero_all(v);
}

template <class T>
void require_rank(const tensor_view<T>& v, std::size_t min_rank, std::size_t max_rank, const char* fn, const char* arg,
                  const char* what) {
  require(v.rank() >= min_rank && v.rank() <= max_rank, fn, ": ", arg, " must be ", what, " (got rank ", v.rank(),
          ", extents ", format_index(v.extents), ")");
}

/// Centers a weight and its bias: every check on both first, then the writes.
template <class T, class U>
void center_weight_and_bias(const tensor_view<T>& w, std::size_t w_axis, const tensor_view<U>& b, const char* fn) {
  require_writable_floating<T>();
  require_writable_floating<U>();
  check_view(w, fn, "weight", true);
  check_view(b, fn, "bias", true);
  require_rank(b, 1, 1, fn, "bias", "a vector");
  require(b.extents[0] == w.extents[w_axis], fn, ": bias has ", b.extents[0],
          " elements but the weight's output dimension (axis ", w_axis, " of ", format_index(w.extents), ") is ",
          w.extents[w_axis]);
  if (w.size() == 0) return;
  const auto w_mean = find_fiber_centers(w, w_axis, true, fn, "weight");
  const auto b_mean = find_fiber_centers(b, 0, true, fn, "bias");
  subtract_find_fiber_centers(w, w_axis, w_mean);
  subtract_find_fiber_centers(b, 0, b_mean);
}

template <class X>
concept non_view_writable = writable_tensor_like<X> && !is_tensor_view<X>;

/// Neither a tensor_view nor a writable adapted tensor: the overloads taking it exist only to say why.
template <class X>
concept not_centerable = !is_tensor_view<X> && !non_view_writable<X>;

/// Instantiated for an argument that cannot be centered; names the customization it lacks.
template <class X>
constexpr bool explain_not_centerable() {
  static_assert(tensor_like<X>,
                "lnfold::center_param / center_over_axis: the argument's type provides no tensor view: add a "
                "member x.as_tensor_view(), a free function as_tensor_view(x) found by ADL, or a static view(x) "
                "in a lnfold::tensor_traits<X> specialization (see lnfold/tensor/view.hpp)");
  static_assert(!tensor_like<X>, "lnfold::center_param / center_over_axis: the argument's view has read-only "
                                 "elements; centering edits them in place");
  return true;  // one of the two assertions above has fired
}

}  // namespace detail

// ---- the general forms ------------------------------------------------------------------------------

/// Subtracts from every 1-D fiber of v along `axis` its mean (v ← C_axis v), in place.
/// Any rank ≥ 1, any strides (negative, permuted, padded); zero-size extents are a no-op.
/// Throws lnfold::error: axis ≥ rank; null data with size > 0; a zero stride on an extent > 1; a
/// non-finite element (nothing is written then). O(N) time, O(N / extents[axis]) extra memory.
template <class T>
void center_over_axis(tensor_view<T> v, std::size_t axis) {
  detail::center_over_axis_as(v, axis, "lnfold::center_over_axis", "v");
}
template <class X>
requires detail::non_view_writable<X>
void center_over_axis(X&& x, std::size_t axis) { center_over_axis(as_tensor_view(x), axis); }
template <class X>
requires detail::not_centerable<X>
void center_over_axis(X&&, std::size_t) { static_assert(detail::explain_not_centerable<std::remove_cvref_t<X>>()); }

/// Centers one parameter of a fold plan (fold/plan.hpp centered_param): over `axis` when it is
/// given (center_over_axis), otherwise the parameter is a constant broadcast along the normalized
/// axis and is set to zero. Same errors as center_over_axis (non-finite values included in both cases).
template <class T>
void center_param(tensor_view<T> v, const std::optional<std::size_t>& axis) {
  constexpr const char* fn = "lnfold::center_param";
  if (!axis.has_value()) {
    detail::zero_broadcast_as(v, fn, "v");
    return;
  }
  detail::center_over_axis_as(v, axis.value(), fn, "v");
}
template <class X>
requires detail::non_view_writable<X>
void center_param(X&& x, const std::optional<std::size_t>& axis) { center_param(as_tensor_view(x), axis); }
template <class X>
requires detail::not_centerable<X>
void center_param(X&&, const std::optional<std::size_t>&) {
  static_assert(detail::explain_not_centerable<std::remove_reference_t<X>>());
}

/// What a centering left in v: the largest |mean| of v's fibers along `axis`, relative to the largest
/// |element| of v (0 for an all-zero or empty v). Centering in double and storing in T leaves about
/// T's rounding error here (~6e-8 float, ~5e-4 float16, ~4e-3 bfloat16): a storage, not a centering,
/// residue. Sums in long double. Throws lnfold::error when axis ≥ rank.
template <class T>
double largest_relative_fiber_mean(const tensor_view<T>& v, std::size_t axis) {
  detail::require(axis < v.rank(), "lnfold::largest_relative_fiber_mean: axis ", axis, " is not below the rank ",
                  v.rank());
  if (v.size() == 0) return 0.0;
  const std::size_t n = v.extents[axis];
  std::vector<long double> sums(v.size() / n, 0.0L);
  long double scale = 0.0L;
  std::vector<std::size_t> index(v.rank(), 0);
  for (;;) {
    std::size_t fiber = 0;  // row-major index over every axis but `axis`
    for (std::size_t k = 0; k < v.rank(); ++k)
      if (k != axis) fiber = fiber * v.extents[k] + index[k];
    const auto x = static_cast<long double>(v(index));
    sums[fiber] += x;
    scale = std::max(scale, std::fabs(x));
    std::size_t k = v.rank();
    while (k-- > 0 && ++index[k] == v.extents[k]) index[k] = 0;
    if (k == static_cast<std::size_t>(-1)) break;
  }
  if (scale == 0.0L) return 0.0;
  long double worst = 0.0L;
  for (const long double s : sums) worst = std::max(worst, std::fabs(s) / static_cast<long double>(n));
  return static_cast<double>(worst / scale);
}

// ---- named layouts (each takes a tensor_view or anything tensor_like) --------------------------------

/// Linear weight: [out, in] (out_in) centered over axis 0, [in, out] (in_out) over axis 1, i.e.
/// every column of the output axis gets mean zero. Throws also when the weight is not rank 2.
template <class X>
requires writable_tensor_like<X>
void center_linear_weight(X&& weight, weight_layout layout) {
  constexpr const char* fn = "lnfold::center_linear_weight";
  const auto w = as_tensor_view(weight);
  detail::require_rank(w, 2, 2, fn, "weight", "a matrix");
  detail::center_over_axis_as(w, layout == weight_layout::out_in ? 0 : 1, fn, "weight");
}

/// Bias of a linear or convolution: a vector, centered to mean zero.
template <class X>
requires writable_tensor_like<X>
void center_bias(X&& bias) {
  constexpr const char* fn = "lnfold::center_bias";
  const auto b = as_tensor_view(bias);
  detail::require_rank(b, 1, 1, fn, "bias", "a vector");
  detail::center_over_axis_as(b, 0, fn, "bias");
}

/// A linear's weight and bias together; also throws when the bias length is not the output size.
template <class W, class B>
requires writable_tensor_like<W> && writable_tensor_like<B>
void center_linear(W&& weight, B&& bias, weight_layout layout) {
  constexpr const char* fn = "lnfold::center_linear";
  const auto w = as_tensor_view(weight);
  detail::require_rank(w, 2, 2, fn, "weight", "a matrix");
  detail::center_weight_and_bias(w, layout == weight_layout::out_in ? 0 : 1, as_tensor_view(bias), fn);
}

/// Convolution weight [C_out, C_in, k…] (groups = 1, spatial rank ≥ 1): centered over C_out (axis 0).
template <class X>
requires writable_tensor_like<X>
void center_conv_weight(X&& weight) {
  constexpr const char* fn = "lnfold::center_conv_weight";
  const auto w = as_tensor_view(weight);
  detail::require_rank(w, 3, static_cast<std::size_t>(-1), fn, "weight", "[C_out, C_in, k...] of rank >= 3");
  detail::center_over_axis_as(w, 0, fn, "weight");
}

/// Convolution weight and bias [C_out]; also throws when the bias length is not C_out.
template <class W, class B>
requires writable_tensor_like<W> && writable_tensor_like<B>
void center_conv(W&& weight, B&& bias) {
  constexpr const char* fn = "lnfold::center_conv";
  const auto w = as_tensor_view(weight);
  detail::require_rank(w, 3, static_cast<std::size_t>(-1), fn, "weight", "[C_out, C_in, k...] of rank >= 3");
  detail::center_weight_and_bias(w, 0, as_tensor_view(bias), fn);
}

/// Transposed convolution weight [C_in, C_out, k…] (groups = 1): centered over C_out (axis 1).
template <class X>
requires writable_tensor_like<X>
void center_conv_transpose_weight(X&& weight) {
  constexpr const char* fn = "lnfold::center_conv_transpose_weight";
  const auto w = as_tensor_view(weight);
  detail::require_rank(w, 3, static_cast<std::size_t>(-1), fn, "weight", "[C_in, C_out, k...] of rank >= 3");
  detail::center_over_axis_as(w, 1, fn, "weight");
}

/// Transposed convolution weight and bias [C_out]; also throws when the bias length is not C_out.
template <class W, class B>
requires writable_tensor_like<W> && writable_tensor_like<B>
void center_conv_transpose(W&& weight, B&& bias) {
  constexpr const char* fn = "lnfold::center_conv_transpose";
  const auto w = as_tensor_view(weight);
  detail::require_rank(w, 3, static_cast<std::size_t>(-1), fn, "weight", "[C_in, C_out, k...] of rank >= 3");
  detail::center_weight_and_bias(w, 1, as_tensor_view(bias), fn);
}

/// Embedding table [V, d]: every row centered over d (axis 1).
template <class X>
requires writable_tensor_like<X>
void center_embedding(X&& table) {
  constexpr const char* fn = "lnfold::center_embedding";
  const auto t = as_tensor_view(table);
  detail::require_rank(t, 2, 2, fn, "table", "[V, d]");
  detail::center_over_axis_as(t, 1, fn, "table");
}

/// An additive constant (learned positions [T, d], a cls token [d], a token-type table) centered
/// over its axis along d.
template <class X>
requires writable_tensor_like<X>
void center_constant(X&& constant, std::size_t axis) {
  detail::center_over_axis_as(as_tensor_view(constant), axis, "lnfold::center_constant", "constant");
}

/// A constant broadcast along the normalized axis (size 1 there, or rank 0): its centered form is 0.
template <class X>
requires writable_tensor_like<X>
void center_broadcast_constant(X&& constant) {
  detail::zero_broadcast_as(as_tensor_view(constant), "lnfold::center_broadcast_constant", "constant");
}

}  // namespace lnfold
