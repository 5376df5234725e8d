// The op taxonomy of docs/method.md §3: how one node treats a per-row shift along the axis `a` of the
// LayerNorm under analysis.
//
// Two questions, one per direction:
//  * producer side (walking backward from an LN): is this node's output zero-mean along `a` when its
//    inputs are? -> transparent (and which inputs carry `a`, at which of their axes), source
//    (centerable producer), zero_mean (already centered), or blocker (with a reason);
//  * consumer side (walking forward from a centered source): does a uniform shift `c·1` along `a` in
//    input i stay a uniform shift in the output? -> transparent (at which output axis), safe_sink
//    (mean-invariant: LN over `a`, centering, softmax over `a`), channel_slice (keeps the shift
//    uniform but not zero mean; safe iff what it feeds is), or unsafe_sink (with a reason).
// Both are pure functions of the op, the output shape and the input shapes: the detector adds the
// graph-level facts (graph outputs, tied parameters, LayerScale fusion).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "lnfold/graph/op.hpp"

namespace lnfold {

/// Why a LayerNorm is not foldable, or why a node blocks or breaks a zero-mean region.
enum class fold_reason {
  foldable,              ///< no problem
  graph_input,           ///< the stream starts at a graph input
  nonlinearity,          ///< a nonlinear op (GELU, softmax over another axis, max pooling, 1/x)
  norm_output,           ///< the affine output of a norm (γ, β) or an RMSNorm output is not zero-mean
  per_channel_scale,     ///< a scale varying along the axis that cannot be fused into a linear
  data_product,          ///< a product of two data tensors both varying along the axis (GLU gate)
  grouped_conv,          ///< depthwise / grouped convolution: centering would make it dense
  concat_along_axis,     ///< pieces are shifted by different amounts
  slice_along_axis,      ///< a channel slice is not zero-mean
  pad_along_axis,        ///< the padding is not shifted with the rest
  broadcast_along_axis,  ///< a non-constant tensor broadcast along the axis is added
  reduces_axis,          ///< a reduction over the axis itself
  mixes_axis,            ///< a linear / conv / matmul reads the axis as its contraction (no norm in between)
  axis_not_preserved,    ///< a reshape, gather or batch matmul splits, merges or drops the axis
  exposed_output,        ///< the tensor is a graph output: centering would change it
  rms_norm_consumer,     ///< an RMSNorm reads the tensor: RMSNorm is not shift-invariant
  norm_over_other_axis,  ///< a norm over another axis (or several) reads the tensor
  norm_parameter_input,  ///< a LayerNorm reads the tensor through an input other than the normalized one
  tied_parameter,        ///< a source parameter has another use centering would change (policy: refuse)
  unknown_op,            ///< the graph could not describe this op
  unknown_shape,         ///< the rank or a needed dim is unknown
  invalid_axis,          ///< an axis attribute is out of range for the tensor's rank
  multi_axis_norm,       ///< the LayerNorm normalizes over several axes (not supported)
};

constexpr std::string_view to_string(fold_reason r) noexcept {
  switch (r) {
    case fold_reason::foldable: return "foldable";
    case fold_reason::graph_input: return "graph_input";
    case fold_reason::nonlinearity: return "nonlinearity";
    case fold_reason::norm_output: return "norm_output";
    case fold_reason::per_channel_scale: return "per_channel_scale";
    case fold_reason::data_product: return "data_product";
    case fold_reason::grouped_conv: return "grouped_conv";
    case fold_reason::concat_along_axis: return "concat_along_axis";
    case fold_reason::slice_along_axis: return "slice_along_axis";
    case fold_reason::pad_along_axis: return "pad_along_axis";
    case fold_reason::broadcast_along_axis: return "broadcast_along_axis";
    case fold_reason::reduces_axis: return "reduces_axis";
    case fold_reason::mixes_axis: return "mixes_axis";
    case fold_reason::axis_not_preserved: return "axis_not_preserved";
    case fold_reason::exposed_output: return "exposed_output";
    case fold_reason::rms_norm_consumer: return "rms_norm_consumer";
    case fold_reason::norm_over_other_axis: return "norm_over_other_axis";
    case fold_reason::norm_parameter_input: return "norm_parameter_input";
    case fold_reason::tied_parameter: return "tied_parameter";
    case fold_reason::unknown_op: return "unknown_op";
    case fold_reason::unknown_shape: return "unknown_shape";
    case fold_reason::invalid_axis: return "invalid_axis";
    case fold_reason::multi_axis_norm: return "multi_axis_norm";
  }
  return "unknown";
}

/// A sentence fragment for reports: what the reason means to someone fixing the model.
constexpr std::string_view describe(fold_reason r) noexcept {
  switch (r) {
    case fold_reason::foldable: return "foldable";
    case fold_reason::graph_input: return "a graph input, which cannot be centered";
    case fold_reason::nonlinearity: return "a nonlinearity, whose output is not zero-mean";
    case fold_reason::norm_output: return "a norm's affine output, which is not zero-mean";
    case fold_reason::per_channel_scale: return "a per-channel scale that cannot be fused into a linear";
    case fold_reason::data_product: return "a product of two data tensors";
    case fold_reason::grouped_conv: return "a grouped / depthwise convolution, which cannot be centered";
    case fold_reason::concat_along_axis: return "a concat along the normalized axis";
    case fold_reason::slice_along_axis: return "a slice along the normalized axis, which is not zero-mean";
    case fold_reason::pad_along_axis: return "padding along the normalized axis";
    case fold_reason::broadcast_along_axis: return "an add of a non-constant tensor broadcast along the axis";
    case fold_reason::reduces_axis: return "a reduction over the normalized axis";
    case fold_reason::mixes_axis: return "a layer that contracts the normalized axis without a norm in between";
    case fold_reason::axis_not_preserved: return "an op that splits, merges or drops the normalized axis";
    case fold_reason::exposed_output: return "a graph output, which centering would change";
    case fold_reason::rms_norm_consumer: return "an RMSNorm, which is not shift-invariant";
    case fold_reason::norm_over_other_axis: return "a norm over another axis";
    case fold_reason::norm_parameter_input:
      return "a LayerNorm that reads it as a scale or bias input, not as the tensor it normalizes";
    case fold_reason::tied_parameter: return "a tied parameter whose other use centering would change";
    case fold_reason::unknown_op: return "an op lnfold does not know (treated as a blocker)";
    case fold_reason::unknown_shape: return "a tensor whose shape is not known";
    case fold_reason::invalid_axis: return "an axis out of range";
    case fold_reason::multi_axis_norm: return "a norm over several axes (not supported)";
  }
  return "unknown";
}

/// Shape of a tensor as the taxonomy sees it; nullopt when the rank is unknown.
using dims_view = std::optional<std::span<const std::int64_t>>;

/// An input of a node that carries the analysed axis (`axis` in the input's own dims), or that is
/// broadcast along it (`axis` empty: the input is constant along the analysed axis).
struct carried_axis {
  std::size_t input = 0;
  std::optional<std::size_t> axis;
};

enum class producer_role { transparent, source, zero_mean, blocker };

struct producer_class {
  producer_role role = producer_role::blocker;
  fold_reason reason = fold_reason::foldable;  ///< for blockers
  std::optional<std::size_t> culprit_input;    ///< for blockers caused by one input (a per-channel scale)
};

/// Producer side: how node `op` with output dims `out` relates, along its output axis `axis`, to
/// its inputs (dims `in`, op kinds `in_kinds`). For transparent nodes, the inputs that carry the
/// axis (or are broadcast along it) are appended to `through`.
/// `Op` is op_desc or any type with the same members read here (kind, axis, axes, perm, pads,
/// keep_dims, groups, and bias / gamma / beta tested for presence), e.g. the detector's compact copy.
template <class Op>
producer_class classify_producer(const Op& op, dims_view out, std::span<const dims_view> in,
                                 std::span<const op_kind> in_kinds, std::size_t axis,
                                 std::vector<carried_axis>& through);

enum class consumer_role { transparent, safe_sink, channel_slice, unsafe_sink };

struct consumer_class {
  consumer_role role = consumer_role::unsafe_sink;
  fold_reason reason = fold_reason::foldable;  ///< for unsafe sinks
  std::size_t out_axis = 0;                    ///< for transparent and channel_slice
};

/// Consumer side: how node `op` treats a uniform shift along axis `axis` of its input `input`.
/// `Op` as for classify_producer.
template <class Op>
consumer_class classify_consumer(const Op& op, dims_view out, std::span<const dims_view> in,
                                 std::span<const op_kind> in_kinds, std::size_t input, std::size_t axis);

// ------------------------------------------------------------------------------------------------
namespace detail {

constexpr std::optional<std::size_t> op_axis(std::int64_t axis, dims_view dims) {
  if (!dims) return std::nullopt;
  return normalize_axis(axis, dims->size());
}

// Right-aligned NumPy broadcasting: where output axis `a` lands in an input, if the input has it
// with the full size (nullopt when the input is broadcast along it).
inline std::optional<std::size_t> broadcast_source_axis(std::span<const std::int64_t> out,
                                                        std::span<const std::int64_t> in, std::size_t a) {
  const std::size_t lead = out.size() - std::min(out.size(), in.size());
  if (a < lead) return std::nullopt;
  const std::size_t k = a - lead;
  if (in[k] == 1 && out[a] != 1) return std::nullopt;
  return k;
}

// Product of dims after `k`; nullopt if one is unknown.
inline std::optional<std::int64_t> trailing_size(std::span<const std::int64_t> d, std::size_t k) {
  std::int64_t p = 1;
  for (std::size_t i = k + 1; i < d.size(); ++i) {
    if (d[i] < 0) return std::nullopt;
    p *= d[i];
  }
  return p;
}

// A reshape keeps axis `k` of `from` intact iff some axis of `to` has the same size and the same
// number of elements after it: then the axis has the same stride and extent on both sides.
struct reshape_match {
  bool known = true;
  std::optional<std::size_t> axis;
};
inline reshape_match reshape_axis(std::span<const std::int64_t> from, std::span<const std::int64_t> to, std::size_t k) {
  const auto tail = trailing_size(from, k);
  if (!tail || from[k] < 0) return {false, std::nullopt};
  for (std::size_t j = 0; j < to.size(); ++j) {
    if (to[j] != from[k]) continue;
    const auto t = trailing_size(to, j);
    if (!t) return {false, std::nullopt};
    if (*t == *tail) return {true, j};
  }
  return {true, std::nullopt};
}

// The single axis a norm normalizes, or nullopt when it normalizes several (or a bad axis).
template <class Op>
std::optional<std::size_t> single_norm_axis(const Op& op, std::size_t rank) {
  if (!op.axes.empty()) return op.axes.size() == 1 ? normalize_axis(op.axes[0], rank) : std::nullopt;
  const auto first = normalize_axis(op.axis, rank);
  if (!first || *first + 1 != rank) return std::nullopt;
  return first;
}

inline bool varies_along(const dims_view& out, const dims_view& in, std::size_t a) {
  return broadcast_source_axis(*out, *in, a).has_value();
}

}  // namespace detail

template <class Op>
producer_class classify_producer(const Op& op, dims_view out, std::span<const dims_view> in,
                                 std::span<const op_kind> in_kinds, std::size_t a, std::vector<carried_axis>& through) {
  using R = producer_role;
  const auto blocker = [](fold_reason r, std::optional<std::size_t> culprit = std::nullopt) {
    return producer_class{R::blocker, r, culprit};
  };
  const auto pass = [&](std::size_t input, std::optional<std::size_t> axis) { through.push_back({input, axis}); };
  const producer_class transparent{R::transparent, fold_reason::foldable, std::nullopt};
  if (!out) return blocker(fold_reason::unknown_shape);
  for (std::size_t i = 0; i < in.size(); ++i)
    if (!in[i] && op.kind != op_kind::embedding) return blocker(fold_reason::unknown_shape);
  const std::size_t rank = out->size();

  switch (op.kind) {
    case op_kind::input: return blocker(fold_reason::graph_input);
    case op_kind::constant: return {R::source, fold_reason::foldable, std::nullopt};
    case op_kind::identity:
      if (in.empty()) return blocker(fold_reason::unknown_op);
      pass(0, a);
      return transparent;
    case op_kind::linear:
    case op_kind::conv:
    case op_kind::conv_transpose: {
      const auto feature = detail::op_axis(op.axis, out);
      if (!feature) return blocker(fold_reason::invalid_axis);
      if (a == *feature) {
        if (op.kind != op_kind::linear && op.groups != 1) return blocker(fold_reason::grouped_conv);
        return {R::source, fold_reason::foldable, std::nullopt};
      }
      // Linear mixes only along its feature axis, so the others pass through; a conv also mixes
      // (with zero padding) along space, so only its batch axis passes. A bias is constant along
      // every other axis: a per-row offset that is not zero-mean there.
      if (in.empty() || in[0]->size() != rank) return blocker(fold_reason::axis_not_preserved);
      if (op.bias) return blocker(fold_reason::broadcast_along_axis);
      if (op.kind != op_kind::linear && a != 0) return blocker(fold_reason::mixes_axis);
      pass(0, a);
      return transparent;
    }
    case op_kind::embedding:
      if (a + 1 == rank) return {R::source, fold_reason::foldable, std::nullopt};
      return blocker(fold_reason::axis_not_preserved);
    case op_kind::add:
    case op_kind::sub:
      for (std::size_t i = 0; i < in.size(); ++i) pass(i, detail::broadcast_source_axis(*out, *in[i], a));
      return transparent;
    case op_kind::mul:
    case op_kind::div: {
      if (in.size() != 2) return blocker(fold_reason::unknown_op);
      const bool v0 = detail::varies_along(out, in[0], a), v1 = detail::varies_along(out, in[1], a);
      if (v0 && !v1) {  // x * s, x / s with s constant along the axis (scalar, per token, drop-path)
        pass(0, detail::broadcast_source_axis(*out, *in[0], a));
        return transparent;
      }
      if (v1 && !v0) {
        if (op.kind == op_kind::div) return blocker(fold_reason::nonlinearity, 1);
        pass(1, detail::broadcast_source_axis(*out, *in[1], a));
        return transparent;
      }
      // Both vary along the axis: a per-channel constant scale (maybe fusable), or two data tensors.
      for (std::size_t i = 0; i < 2; ++i)
        if (in_kinds[i] == op_kind::constant && (op.kind == op_kind::mul || i == 1))
          return blocker(fold_reason::per_channel_scale, i);
      return blocker(fold_reason::data_product);
    }
    case op_kind::matmul:
      if (in.size() != 2 || rank < 2 || in[0]->size() < 2 || in[1]->size() < 2)
        return blocker(fold_reason::axis_not_preserved);
      if (a + 1 == rank) {
        pass(1, in[1]->size() - 1);
        return transparent;
      }
      if (a + 2 == rank) {
        pass(0, in[0]->size() - 2);
        return transparent;
      }
      return blocker(fold_reason::axis_not_preserved);
    case op_kind::softmax:
    case op_kind::reduce_max: return blocker(fold_reason::nonlinearity);
    case op_kind::reduce_mean:
    case op_kind::reduce_sum: {
      if (in.empty()) return blocker(fold_reason::unknown_op);
      const std::size_t in_rank = in[0]->size();
      std::vector<bool> reduced(in_rank, false);
      for (auto ax : op.axes) {
        const auto k = normalize_axis(ax, in_rank);
        if (!k) return blocker(fold_reason::invalid_axis);
        reduced[*k] = true;
      }
      // Output axis a is the a-th kept input axis (or axis a itself with keep_dims).
      std::size_t kept = 0;
      for (std::size_t k = 0; k < in_rank; ++k) {
        const bool hit = op.keep_dims ? k == a : (!reduced[k] && kept == a);
        if (hit) {
          if (reduced[k]) return blocker(fold_reason::reduces_axis);
          pass(0, k);
          return transparent;
        }
        if (!reduced[k]) ++kept;
      }
      return blocker(fold_reason::invalid_axis);
    }
    case op_kind::concat:
    case op_kind::slice:
    case op_kind::pad: {
      if (in.empty()) return blocker(fold_reason::unknown_op);
      if (op.kind == op_kind::pad) {
        if (op.pads.size() != 2 * rank) return blocker(fold_reason::invalid_axis);
        if (op.pads[a] != 0 || op.pads[a + rank] != 0) return blocker(fold_reason::pad_along_axis);
        pass(0, a);
        return transparent;
      }
      const auto along = detail::op_axis(op.axis, out);
      if (!along) return blocker(fold_reason::invalid_axis);
      if (*along == a)
        return blocker(op.kind == op_kind::concat ? fold_reason::concat_along_axis : fold_reason::slice_along_axis);
      for (std::size_t i = 0; i < in.size(); ++i) pass(i, a);
      return transparent;
    }
    case op_kind::gather: {
      if (in.empty()) return blocker(fold_reason::unknown_op);
      const auto along = detail::op_axis(op.axis, in[0]);
      if (!along) return blocker(fold_reason::invalid_axis);
      if (op.keep_dims) {
        if (*along == a) return blocker(fold_reason::slice_along_axis);
        pass(0, a);
      } else {
        pass(0, a < *along ? a : a + 1);  // the gathered axis is dropped from the output
      }
      return transparent;
    }
    case op_kind::transpose:
      if (op.perm.size() != rank || in.empty() || in[0]->size() != rank) return blocker(fold_reason::invalid_axis);
      if (const auto k = normalize_axis(op.perm[a], rank)) {
        pass(0, *k);
        return transparent;
      }
      return blocker(fold_reason::invalid_axis);
    case op_kind::reshape: {
      if (in.empty()) return blocker(fold_reason::unknown_op);
      const auto m = detail::reshape_axis(*out, *in[0], a);
      if (!m.known) return blocker(fold_reason::unknown_shape);
      if (!m.axis) return blocker(fold_reason::axis_not_preserved);
      pass(0, *m.axis);
      return transparent;
    }
    case op_kind::layer_norm: {
      // Without γ and β an LN's output is exactly zero-mean along the one axis it normalizes.
      const auto norm_axis = detail::single_norm_axis(op, rank);
      if (norm_axis == a && !op.gamma && !op.beta) return {R::zero_mean, fold_reason::foldable, std::nullopt};
      return blocker(fold_reason::norm_output);
    }
    case op_kind::rms_norm: return blocker(fold_reason::norm_output);
    case op_kind::center: {
      const auto along = detail::op_axis(op.axis, out);
      if (!along) return blocker(fold_reason::invalid_axis);
      if (*along == a) return {R::zero_mean, fold_reason::foldable, std::nullopt};
      pass(0, a);  // centering along another axis is linear and shared across `a`
      return transparent;
    }
    case op_kind::unknown: return blocker(fold_reason::unknown_op);
    default:  // the pointwise nonlinearities, listed once: is_nonlinearity (op.hpp)
      break;
  }
  return blocker(is_nonlinearity(op.kind) ? fold_reason::nonlinearity : fold_reason::unknown_op);
}

template <class Op>
consumer_class classify_consumer(const Op& op, dims_view out, std::span<const dims_view> in,
                                 std::span<const op_kind> in_kinds, std::size_t i, std::size_t k) {
  using R = consumer_role;
  const auto unsafe = [](fold_reason r) { return consumer_class{R::unsafe_sink, r, 0}; };
  const auto to = [](std::size_t axis) { return consumer_class{R::transparent, fold_reason::foldable, axis}; };
  const consumer_class safe{R::safe_sink, fold_reason::foldable, 0};
  if (!out || !in[i]) return unsafe(fold_reason::unknown_shape);
  const std::size_t rank = out->size(), in_rank = in[i]->size();
  // Where a right-aligned elementwise op puts input axis k.
  const std::size_t aligned = k + (rank - std::min(rank, in_rank));

  switch (op.kind) {
    case op_kind::input:
    case op_kind::constant:
    case op_kind::embedding:  // reads integer ids, never a float stream
      return unsafe(fold_reason::unknown_op);
    case op_kind::identity: return to(k);
    case op_kind::linear:
    case op_kind::conv:
    case op_kind::conv_transpose: {
      const auto feature = detail::op_axis(op.axis, in[i]);
      if (!feature) return unsafe(fold_reason::invalid_axis);
      if (i != 0) return unsafe(fold_reason::mixes_axis);
      if (k == *feature)
        return unsafe(op.kind != op_kind::linear && op.groups != 1 ? fold_reason::grouped_conv
                                                                   : fold_reason::mixes_axis);
      if (op.kind != op_kind::linear && k != 0) return unsafe(fold_reason::mixes_axis);
      return to(k);
    }
    case op_kind::add:
    case op_kind::sub: return to(aligned);
    case op_kind::mul:
    case op_kind::div: {
      if (in.size() != 2 || !in[1 - i]) return unsafe(fold_reason::unknown_shape);
      if (op.kind == op_kind::div && i == 1) return unsafe(fold_reason::nonlinearity);
      if (!detail::varies_along(out, in[1 - i], aligned)) return to(aligned);
      return unsafe(in_kinds[1 - i] == op_kind::constant ? fold_reason::per_channel_scale : fold_reason::data_product);
    }
    case op_kind::matmul:
      if (in.size() != 2 || rank < 2 || in_rank < 2) return unsafe(fold_reason::axis_not_preserved);
      if (i == 0 && k + 2 == in_rank) return to(rank - 2);
      if (i == 1 && k + 1 == in_rank) return to(rank - 1);
      return unsafe(k + 2 >= in_rank ? fold_reason::mixes_axis : fold_reason::axis_not_preserved);
    case op_kind::softmax: {
      const auto along = detail::op_axis(op.axis, out);
      if (along == k) return safe;
      return unsafe(fold_reason::nonlinearity);
    }
    case op_kind::reduce_max: return unsafe(fold_reason::nonlinearity);
    case op_kind::reduce_mean:
    case op_kind::reduce_sum: {
      std::vector<bool> reduced(in_rank, false);
      for (auto ax : op.axes) {
        const auto r = normalize_axis(ax, in_rank);
        if (!r) return unsafe(fold_reason::invalid_axis);
        reduced[*r] = true;
      }
      if (reduced[k]) return unsafe(fold_reason::reduces_axis);
      if (op.keep_dims) return to(k);
      return to(static_cast<std::size_t>(
          std::count(reduced.begin(), reduced.begin() + static_cast<std::ptrdiff_t>(k), false)));
    }
    case op_kind::concat: {
      const auto along = detail::op_axis(op.axis, out);
      if (!along) return unsafe(fold_reason::invalid_axis);
      return *along == k ? unsafe(fold_reason::concat_along_axis) : to(k);
    }
    case op_kind::slice: {
      const auto along = detail::op_axis(op.axis, out);
      if (!along) return unsafe(fold_reason::invalid_axis);
      return *along == k ? consumer_class{R::channel_slice, fold_reason::foldable, k} : to(k);
    }
    case op_kind::gather: {
      const auto along = detail::op_axis(op.axis, in[i]);
      if (!along) return unsafe(fold_reason::invalid_axis);
      if (*along == k)
        return op.keep_dims ? consumer_class{R::channel_slice, fold_reason::foldable, k}
                            : unsafe(fold_reason::axis_not_preserved);
      return to(op.keep_dims || k < *along ? k : k - 1);
    }
    case op_kind::pad:
      if (op.pads.size() != 2 * rank) return unsafe(fold_reason::invalid_axis);
      if (op.pads[k] != 0 || op.pads[k + rank] != 0) return unsafe(fold_reason::pad_along_axis);
      return to(k);
    case op_kind::transpose: {
      if (op.perm.size() != rank || in_rank != rank) return unsafe(fold_reason::invalid_axis);
      for (std::size_t j = 0; j < rank; ++j)
        if (normalize_axis(op.perm[j], rank) == k) return to(j);
      return unsafe(fold_reason::invalid_axis);
    }
    case op_kind::reshape: {
      const auto m = detail::reshape_axis(*in[i], *out, k);
      if (!m.known) return unsafe(fold_reason::unknown_shape);
      if (!m.axis) return unsafe(fold_reason::axis_not_preserved);
      return to(*m.axis);
    }
    case op_kind::layer_norm:
      return detail::single_norm_axis(op, in_rank) == k ? safe : unsafe(fold_reason::norm_over_other_axis);
    case op_kind::rms_norm: return unsafe(fold_reason::rms_norm_consumer);
    case op_kind::center: {
      const auto along = detail::op_axis(op.axis, out);
      if (!along) return unsafe(fold_reason::invalid_axis);
      return *along == k ? safe : to(k);
    }
    case op_kind::unknown: return unsafe(fold_reason::unknown_op);
    default:  // the pointwise nonlinearities, listed once: is_nonlinearity (op.hpp)
      break;
  }
  return unsafe(is_nonlinearity(op.kind) ? fold_reason::nonlinearity : fold_reason::unknown_op);
}

}  // namespace lnfold
