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
// As a trainable layer: cbwc_parameter<T> (below) owns V and W = C·V for one parameter, over the axis a
// fold plan names for it (centered_param::axis; none for a constant broadcast along the normalized
// axis, whose centered form is 0), or the axis of a named layout (linear, conv, transposed conv,
// embedding, bias, constant). The forward pass reads weight(); the backward turns ∂L/∂W into ∂L/∂V
// (project); an optimizer then edits V (sgd_step, or update with any rule) and W is recomputed.
// Layers that keep a view of weight() (layers/linear.hpp, layers/embedding.hpp) see every update:
// W is rewritten in place, never reallocated.
// Axes are those of CCWT (transform/ccwt.hpp): the producer's output axis, e.g. 0 for [out, in].
// Non-finite values propagate (no exception) because these run every step and a loss scaler must see
// inf/nan gradients; shape misuse throws lnfold::error naming the function, argument and value.
// Complexity: O(N) time, O(N / n) extra memory (one accumulator and one shift per fiber), no copy of the data.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

#include "lnfold/error.hpp"
#include "lnfold/fold/plan.hpp"
#include "lnfold/graph/op.hpp"
#include "lnfold/tensor/tensor.hpp"
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
                         static_cast<center_accumulator_t<T>>(scale), "lnfold::apply_projected_update", "w", "delta");
}

/// One CBWC-parametrized parameter (see the top of this header): owns V and W = C·V over `axis`.
/// T is float, double or long double. Copying copies both tensors.
template <class T>
class cbwc_parameter {
  static_assert(std::is_floating_point_v<T>, "lnfold::cbwc_parameter: T must be a floating-point type");

 public:
  /// V = `initial`, W = C·V over `axis`; no axis: a constant broadcast along the normalized axis,
  /// W = 0 for every V and ∂L/∂V = 0. Throws lnfold::error: axis ≥ rank, a non-finite initial value
  /// (naming its index). O(N).
  cbwc_parameter(tensor<T> initial, std::optional<std::size_t> axis) : v_(std::move(initial)), axis_(axis) {
    constexpr const char* fn = "lnfold::cbwc_parameter";
    const auto view = std::as_const(v_).view();
    if (axis_) detail::check_axis(*axis_, view.rank(), view.extents, fn, "initial");
    if (const auto bad = detail::find_non_finite(view))
      detail::fail(detail::concat(fn, ": initial must be finite (got ", view(*bad), " at index ",
                                  detail::format_index(*bad), ")"));
    w_ = v_;
    refresh();
  }
  /// The parameter of a fold plan's source (fold/plan.hpp): `initial` holds its current value.
  cbwc_parameter(const centered_param& planned, tensor<T> initial) : cbwc_parameter(std::move(initial), planned.axis) {}

  /// Named layouts (the axes of center_linear_weight, center_conv_weight, …); each also throws when
  /// the rank does not fit the layout.
  static cbwc_parameter linear_weight(tensor<T> w, weight_layout layout) {
    require_rank(w, 2, 2, "linear_weight", "a matrix");
    return {std::move(w), std::size_t{layout == weight_layout::out_in ? 0U : 1U}};
  }
  static cbwc_parameter conv_weight(tensor<T> w) {
    require_rank(w, 3, static_cast<std::size_t>(-1), "conv_weight", "[C_out, C_in, k...] of rank >= 3");
    return {std::move(w), std::size_t{0}};
  }
  static cbwc_parameter conv_transpose_weight(tensor<T> w) {
    require_rank(w, 3, static_cast<std::size_t>(-1), "conv_transpose_weight", "[C_in, C_out, k...] of rank >= 3");
    return {std::move(w), std::size_t{1}};
  }
  static cbwc_parameter embedding(tensor<T> table) {
    require_rank(table, 2, 2, "embedding", "[V, d]");
    return {std::move(table), std::size_t{1}};
  }
  static cbwc_parameter bias(tensor<T> b) {
    require_rank(b, 1, 1, "bias", "a vector");
    return {std::move(b), std::size_t{0}};
  }
  static cbwc_parameter constant(tensor<T> c, std::size_t axis) { return {std::move(c), axis}; }

  /// V, the free parameter.
  const tensor<T>& value() const noexcept { return v_; }
  /// W = C·V: what the forward pass uses. Its storage stays put for the parameter's lifetime.
  const tensor<T>& weight() const noexcept { return w_; }
  const std::optional<std::size_t>& axis() const noexcept { return axis_; }

  /// ∂L/∂W → ∂L/∂V = C·∂L/∂W, in place; grad has V's extents (any strides). Non-finite gradients
  /// propagate. Throws lnfold::error on other extents. O(N).
  template <class G>
  requires writable_tensor_like<G>
  void project(G&& grad) const {
    const auto g = as_tensor_view(grad);
    detail::require_same_extents(g, std::as_const(v_).view(), "lnfold::cbwc_parameter::project", "grad", "value");
    if (axis_) project_gradient(g, *axis_);
    else detail::zero_all(g);
  }

  /// Plain SGD on V: V ← V − lr·C·grad_w, then W ← C·V (grad_w = ∂L/∂W, V's extents, left unchanged).
  /// Throws lnfold::error on other extents or a non-finite lr. O(N).
  template <class G>
  requires tensor_like<G>
  void sgd_step(const G& grad_w, double lr) {
    const auto g = as_tensor_view(grad_w);
    detail::require_same_extents(g, std::as_const(v_).view(), "lnfold::cbwc_parameter::sgd_step", "grad_w", "value");
    if (axis_) apply_projected_update(v_, g, *axis_, lr);
    refresh();
  }

  /// Any other update rule: f(V) edits the tensor V in place (keeping its shape), given ∂L/∂V from
  /// project(); then W ← C·V. Throws lnfold::error when f changed V's shape.
  template <class F>
  void update(F&& f) {
    const auto dims = v_.dims();
    std::forward<F>(f)(v_);
    detail::require(v_.dims() == dims, "lnfold::cbwc_parameter::update: the update changed the value's shape");
    refresh();
  }

 private:
  static void require_rank(const tensor<T>& t, std::size_t lo, std::size_t hi, const char* layout, const char* what) {
    detail::require(t.rank() >= lo && t.rank() <= hi, "lnfold::cbwc_parameter::", layout, ": the tensor must be ", what,
                    " (got rank ", t.rank(), ")");
  }
  /// W ← C·V, in place in W's storage.
  void refresh() {
    if (axis_) cbwc_weight(std::as_const(v_).view(), *axis_, w_.view());
    else detail::zero_all(w_.view());
  }

  tensor<T> v_;
  std::optional<std::size_t> axis_;
  tensor<T> w_;
};

}  // namespace lnfold
