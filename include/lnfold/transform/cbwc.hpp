// CBWC, column-based weight centering: the training-time form of CCWT (docs/method.md §2). Train a network
// whose LayerNorms are RMSNorms while keeping it *exactly* the LayerNorm network.
//
// Identity preserved. Every source of a residual stream (a linear or conv writing into it, an
// embedding, an additive constant) is parametrized as W = C·V over its output axis, with V the free
// parameter and C = I − 11ᵀ/d. Then the stream is zero-mean for every input and every value of V, so
//     LN(stream) = RMS(stream)  with the same γ, β and ε (ε inside the root, β kept),
// and the model with RMSNorms computes the same function of V as the LayerNorm model computes of W.
// Training moves them together: by the chain rule ∂L/∂V = C·∂L/∂W (project_gradient), and the bias
// is a source too, so its gradient is projected the same way. Starting the LayerNorm model from W₀
// and the RMSNorm twin from V₀ = W₀ (i.e. W = C·W₀: the LN model is invariant to centering its
// sources) SGD gives identical outputs at every step, up to round-off (tests/transform/
// cbwc_training.cpp measures it).
// The cheaper equivalent keeps W itself, starts it centered (CCWT) and projects every update:
//     W ← W − s·C·Δ   (apply_projected_update),
// which keeps 1ᵀW = 0 up to round-off; in float storage re-center now and then (center_over_axis) so
// the rounding of each update does not accumulate in the column means.
// Dropout between a centered layer and the LN breaks exactness in training: its mask is per element,
// so a zero-mean vector no longer has zero mean after it. (At inference dropout is the identity and
// the fold is exact again.) Put dropout before the centered layer, or on the residual branch input.
//
// Axes are those of CCWT (transform/ccwt.hpp): the producer's output axis, e.g. 0 for [out, in].
// Non-finite values propagate (no exception) because these run every step and a loss scaler must see
// inf/nan gradients; shape misuse throws lnfold::error naming the function, argument and value.
// Complexity: O(N) time, O(N / n) extra memory (one accumulator and one shift per fiber), no copy of the data.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <vector>

#include "lnfold/error.hpp"
#include "lnfold/tensor/view.hpp"
#include "lnfold/transform/ccwt.hpp"

namespace lnfold {

namespace detail {

template <class T, class U>
void require_same_extents(const tensor_view<T>& a, const tensor_view<U>& b, const char* fn, const char* a_name,
                          const char* b_name) {
  require(a.extents == b.extents, fn, ": ", a_name, " has extents ", format_index(a.extents), " but ", b_name,
          " has extents ", format_index(b.extents));
}

/// dst ← dst_scale·dst − s·C·src over `axis` (dst_scale is 0 or 1), one rounding per element.
template <class T, class U>
void write_centered(const tensor_view<T>& dst, const tensor_view<U>& src, std::size_t axis, bool keep_dst,
                    center_accumulator_t<T> s, const char* fn, const char* dst_name, const char* src_name) {
  require_writable_floating<T>();
  static_assert(std::is_same_v<std::remove_const_t<U>, T>, "lnfold: both tensors must have the same element type");
  check_view(dst, fn, dst_name, true);
  check_view(src, fn, src_name, false);
  check_axis(axis, src.rank(), src.extents, fn, src_name);
  require_same_extents(dst, src, fn, dst_name, src_name);
  if (src.size() == 0) return;
  using A = center_accumulator_t<T>;
  const auto centers = find_fiber_centers(src, axis, false, fn, src_name);
  for_each_run<2>(dst.extents, {&dst.strides, &src.strides}, axis,
                  [&](const std::array<std::ptrdiff_t, 2>& off, std::size_t q, std::size_t n,
                      const std::array<std::ptrdiff_t, 2>& st, std::size_t qs) {
                    T* d = dst.data + off[0];
                    const U* x = src.data + off[1];
                    for (std::size_t i = 0; i < n; ++i) {
                      const auto ii = static_cast<std::ptrdiff_t>(i);
                      const A c = centers.centered(x[ii * st[1]], q + i * qs);
                      T& out = d[ii * st[0]];
                      out = static_cast<T>(keep_dst ? static_cast<A>(out) - s * c : s * c);
                    }
                  });
}

}  // namespace detail

/// Forward-pass weight of a CBWC layer: w ← C·v over `axis` (v unchanged; w and v have the same
/// extents, any strides; w may be v itself, not a partial overlap of it).
/// Throws lnfold::error: axis ≥ rank, extents differ, null data, a zero stride in w.
template <class V, class W>
  requires tensor_like<V> && writable_tensor_like<W>
void cbwc_weight(V&& v, std::size_t axis, W&& w) {
  detail::write_centered(as_tensor_view(w), as_tensor_view(v), axis, false, 1, "lnfold::cbwc_weight", "w", "v");
}

/// Backward pass of W = C·V: grad ← C·grad over `axis`, in place (∂L/∂V from ∂L/∂W; the same for a
/// bias with axis 0). Throws lnfold::error: axis ≥ rank, null data, a zero stride.
template <class G>
  requires writable_tensor_like<G>
void project_gradient(G&& grad, std::size_t axis) {
  constexpr const char* fn = "lnfold::project_gradient";
  const auto g = as_tensor_view(grad);
  using T = std::remove_const_t<tensor_element_t<G>>;
  detail::require_writable_floating<T>();
  detail::check_view(g, fn, "grad", true);
  detail::check_axis(axis, g.rank(), g.extents, fn, "grad");
  if (g.size() == 0) return;
  detail::subtract_find_fiber_centers(g, axis, detail::find_fiber_centers(g, axis, false, fn, "grad"));
}

/// The projected-update form: w ← w − scale·C·delta over `axis` (delta, e.g. a gradient or an
/// optimizer step, unchanged; same extents as w, any strides; it may alias w exactly).
/// Throws lnfold::error: axis ≥ rank, extents differ, null data, a zero stride in w, a non-finite scale.
template <class W, class D>
  requires writable_tensor_like<W> && tensor_like<D>
void apply_projected_update(W&& w, D&& delta, std::size_t axis, double scale) {
  using T = std::remove_const_t<tensor_element_t<W>>;
  detail::require(std::isfinite(scale), "lnfold::apply_projected_update: scale must be finite (got ", scale, ")");
  detail::write_centered(as_tensor_view(w), as_tensor_view(delta), axis, true,
                         static_cast<center_accumulator_t<T>>(scale), "lnfold::apply_projected_update", "w",
                         "delta");
}

}  // namespace lnfold
