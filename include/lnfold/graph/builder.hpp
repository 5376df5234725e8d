// lnfold::graph_builder: writes a network into the built-in IR (ir.hpp) one layer at a time and infers
// every output shape, so that architecture code reads like the model it describes:
//
//   lnfold::graph g;
//   lnfold::graph_builder b(g);
//   auto ids = b.input("input_ids", {1, 16});
//   auto x   = b.embedding("wte", ids, 50257, 768);          // [1, 16, 768], param "wte.weight"
//   auto h   = b.layer_norm("h.0.ln_1", x);                  // params "h.0.ln_1.weight" (γ), ".bias" (β)
//   auto y   = b.linear("h.0.mlp.c_fc", h, 3072, {.layout = lnfold::weight_layout::in_out});
//
// No formula is preserved here: the builder records structure only. Parameters are declared with a
// name and a shape and hold no values; whoever evaluates or transforms the graph owns the numbers.
// LayerNorm nodes get γ as `name.weight` and β as `name.bias`, normalize from `axis` to the last axis,
// and keep their ε in the op (op_desc::eps).
//
// Shapes are full static shapes, batch included; no dim is ever -1. Every method checks its arguments
// and throws lnfold::error naming the node, the argument and the shapes involved. Node names and
// parameter names must be unique (reports and graph::find rely on them). Each call costs
// O(rank + number of inputs) plus one hash lookup for the name. A call that throws leaves the graph
// unchanged.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "lnfold/error.hpp"
#include "lnfold/graph/ir.hpp"
#include "lnfold/graph/op.hpp"

namespace lnfold {

/// "[1, 16, 768]": how shapes appear in error messages and reports.
inline std::string shape_text(const shape& s) {
  std::ostringstream out;
  out << '[';
  for (std::size_t i = 0; i < s.size(); ++i) out << (i ? ", " : "") << s[i];
  out << ']';
  return std::move(out).str();
}

/// NumPy broadcasting of two shapes; nullopt when a pair of dims differs and neither is 1.
inline std::optional<shape> broadcast_shapes(const shape& a, const shape& b) {
  const std::size_t rank = std::max(a.size(), b.size());
  shape out(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    // Align from the right: dim i of the result pairs with dims counted from each shape's end.
    const std::int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const std::int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) return std::nullopt;
    out[i] = da == 1 ? db : da;
  }
  return out;
}

/// Options of graph_builder::linear.
struct linear_options {
  bool bias = true;                              ///< creates `name.bias` [out]
  weight_layout layout = weight_layout::out_in;  ///< `name.weight` is [out, in] or [in, out]
};

/// Options of graph_builder::conv; spatial vectors are empty (all 1 / all 0) or one entry per spatial axis.
struct conv_options {
  std::vector<std::int64_t> stride{};   ///< per spatial axis; empty: 1
  std::vector<std::int64_t> padding{};  ///< zeros added on both sides of each spatial axis; empty: 0
  std::int64_t groups = 1;              ///< groups == C_in == C_out: depthwise
  bool bias = true;                     ///< creates `name.bias` [C_out]
};

/// Options of graph_builder::layer_norm and rms_norm.
struct norm_options {
  double eps = 1e-5;
  bool affine = true;      ///< creates γ as `name.weight`
  bool bias = true;        ///< with affine: also creates β as `name.bias`
  std::int64_t axis = -1;  ///< normalizes from this axis to the last one
};

class graph_builder {
 public:
  /// Appends to `g`, which may already hold nodes; their names count for uniqueness.
  explicit graph_builder(graph& g) : g_(&g) {
    for (const auto& nd : g.nodes()) node_names_.insert(nd.name);
    for (const auto& p : g.params()) param_names_.insert(p.name);
  }

  graph& target() noexcept { return *g_; }
  const graph& target() const noexcept { return *g_; }

  /// The inferred output shape of `n`.
  const shape& shape_of(node_id n) const {
    const auto& s = g_->node_shape(n);
    detail::require(s.has_value(), "lnfold::graph_builder: node '", g_->node_name(n), "' has no known shape");
    return *s;
  }
  std::int64_t dim(node_id n, std::int64_t axis) const { return shape_of(n)[checked_axis(n, axis, g_->node_name(n))]; }

  // ---- graph boundary and stored tensors ------------------------------------------------------

  /// A graph input (data or integer ids). Every dim must be >= 1.
  node_id input(std::string_view name, shape s) {
    require_static(name, s, "input shape");
    return append(name, op(op_kind::input), std::span<const node_id>{}, std::move(s));
  }
  /// Marks `n` as a graph output (an exposed tensor).
  void output(node_id n) { g_->set_graph_output(n, true); }

  /// Declares a stored tensor called `name`.
  param_id param(std::string_view name, shape s) {
    detail::require(!name.empty(), "lnfold::graph_builder::param: empty parameter name");
    detail::require(param_names_.insert(std::string(name)).second, "lnfold::graph_builder::param: a parameter named '",
                    name, "' already exists");
    return g_->add_param(name, std::move(s));
  }
  /// A stored tensor used as data (positions, a cls token, a scale): a param and a constant node, both `name`.
  node_id constant(std::string_view name, shape s) {
    require_new_names(name, {""});
    return constant_from(name, param(name, std::move(s)));
  }
  /// A constant node reading an existing parameter.
  node_id constant_from(std::string_view name, param_id value) {
    auto o = op(op_kind::constant);
    o.weight = value;
    return append(name, std::move(o), std::span<const node_id>{}, g_->param_shape(value));
  }

  // ---- producers: linear maps with weights ------------------------------------------------------

  /// y = x·Wᵀ + b over the last axis of x; creates `name.weight` and, with options.bias, `name.bias`.
  node_id linear(std::string_view name, node_id x, std::int64_t out_features, linear_options o = {}) {
    detail::require(out_features >= 1, "lnfold::graph_builder::linear: '", name, "': out_features must be >= 1 (got ",
                    out_features, ")");
    require_new_names(name, {"weight", "bias"});
    const std::int64_t in = last_dim(x, name);
    const shape w = o.layout == weight_layout::out_in ? shape{out_features, in} : shape{in, out_features};
    return tied_linear(name, x, param(concat_name(name, "weight"), w), o);
  }
  /// A linear layer using an existing weight (a tied output head); `o.layout` says how it is stored.
  /// (A separate name, because param_id and an int feature count would make one overload set ambiguous.)
  node_id tied_linear(std::string_view name, node_id x, param_id weight, linear_options o = {}) {
    const shape& w = g_->param_shape(weight);
    detail::require(w.size() == 2, "lnfold::graph_builder::tied_linear: '", name, "': weight '", g_->param_name(weight),
                    "' must be 2-D (got ", shape_text(w), ")");
    const bool out_in = o.layout == weight_layout::out_in;
    const std::int64_t in = out_in ? w[1] : w[0], out = out_in ? w[0] : w[1];
    detail::require(last_dim(x, name) == in, "lnfold::graph_builder::linear: '", name, "': input ",
                    shape_text(shape_of(x)), " does not match weight ", shape_text(w), " (",
                    out_in ? "[out, in]" : "[in, out]", ")");
    require_new_names(name, {"bias"});
    auto op_ = op(op_kind::linear);
    op_.layout = o.layout;
    op_.weight = weight;
    if (o.bias) op_.bias = param(concat_name(name, "bias"), {out});
    shape s = shape_of(x);
    s.back() = out;
    return append(name, std::move(op_), {x}, std::move(s));
  }

  /// Convolution over NCL / NCHW / … input (channel axis 1); `kernel` has one size per spatial axis.
  /// Creates `name.weight` [C_out, C_in/groups, k…] and, with options.bias, `name.bias` [C_out].
  node_id conv(std::string_view name, node_id x, std::int64_t out_channels, const std::vector<std::int64_t>& kernel,
               conv_options o = {}) {
    const shape& in = shape_of(x);
    const std::size_t spatial = kernel.size();
    detail::require(spatial >= 1 && in.size() == spatial + 2, "lnfold::graph_builder::conv: '", name, "': input ",
                    shape_text(in), " must be [N, C, ", spatial, " spatial dims] for kernel ", shape_text(kernel));
    if (o.stride.empty()) o.stride.assign(spatial, 1);
    if (o.padding.empty()) o.padding.assign(spatial, 0);
    detail::require(o.stride.size() == spatial && o.padding.size() == spatial, "lnfold::graph_builder::conv: '", name,
                    "': stride ", shape_text(o.stride), " and padding ", shape_text(o.padding), " need ", spatial,
                    " entries");
    const std::int64_t c_in = in[1];
    detail::require(o.groups >= 1 && c_in % o.groups == 0 && out_channels % o.groups == 0,
                    "lnfold::graph_builder::conv: '", name, "': groups ", o.groups, " must divide C_in ", c_in,
                    " and C_out ", out_channels);
    shape out{in[0], out_channels};
    for (std::size_t i = 0; i < spatial; ++i) {
      const std::int64_t extent = in[i + 2] + 2 * o.padding[i];
      detail::require(kernel[i] >= 1 && o.stride[i] >= 1 && o.padding[i] >= 0 && extent >= kernel[i],
                      "lnfold::graph_builder::conv: '", name, "': kernel ", shape_text(kernel), ", stride ",
                      shape_text(o.stride), ", padding ", shape_text(o.padding), " do not fit input ", shape_text(in));
      out.push_back((extent - kernel[i]) / o.stride[i] + 1);
    }
    require_new_names(name, {"weight", "bias"});
    shape w{out_channels, c_in / o.groups};
    w.insert(w.end(), kernel.begin(), kernel.end());
    auto op_ = op(op_kind::conv);
    op_.axis = 1;
    op_.groups = o.groups;
    op_.strides = o.stride;
    op_.pads = o.padding;
    op_.pads.insert(op_.pads.end(), o.padding.begin(), o.padding.end());
    op_.weight = param(concat_name(name, "weight"), std::move(w));
    if (o.bias) op_.bias = param(concat_name(name, "bias"), {out_channels});
    return append(name, std::move(op_), {x}, std::move(out));
  }

  /// Rows of a new table `name.weight` [vocab, d] gathered by the integer ids in `ids`: output ids.shape + [d].
  node_id embedding(std::string_view name, node_id ids, std::int64_t vocab, std::int64_t d) {
    detail::require(vocab >= 1 && d >= 1, "lnfold::graph_builder::embedding: '", name, "': vocab ", vocab, " and d ", d,
                    " must be >= 1");
    require_new_names(name, {"weight"});
    return embedding(name, ids, param(concat_name(name, "weight"), {vocab, d}));
  }
  /// Rows of an existing table [V, d].
  node_id embedding(std::string_view name, node_id ids, param_id table) {
    const shape& t = g_->param_shape(table);
    detail::require(t.size() == 2, "lnfold::graph_builder::embedding: '", name, "': table '", g_->param_name(table),
                    "' must be [V, d] (got ", shape_text(t), ")");
    auto op_ = op(op_kind::embedding);
    op_.weight = table;
    shape s = shape_of(ids);
    s.push_back(t[1]);
    return append(name, std::move(op_), {ids}, std::move(s));
  }

  // ---- elementwise and products ---------------------------------------------------------------------

  node_id add(std::string_view name, node_id a, node_id b) { return binary(op_kind::add, name, a, b); }
  node_id sub(std::string_view name, node_id a, node_id b) { return binary(op_kind::sub, name, a, b); }
  node_id mul(std::string_view name, node_id a, node_id b) { return binary(op_kind::mul, name, a, b); }
  node_id div(std::string_view name, node_id a, node_id b) { return binary(op_kind::div, name, a, b); }

  /// Batched product over the last two axes: [..., m, k] · [..., k, n] -> [..., m, n]; batch dims broadcast.
  node_id matmul(std::string_view name, node_id a, node_id b) {
    const shape &sa = shape_of(a), &sb = shape_of(b);
    const auto mismatch = [&] {
      return detail::concat("lnfold::graph_builder::matmul: '", name, "': cannot multiply ", shape_text(sa), " by ",
                            shape_text(sb));
    };
    detail::require(sa.size() >= 2 && sb.size() >= 2 && sa.back() == sb[sb.size() - 2], mismatch());
    auto batch = broadcast_shapes(shape(sa.begin(), sa.end() - 2), shape(sb.begin(), sb.end() - 2));
    detail::require(batch.has_value(), mismatch());
    batch->push_back(sa[sa.size() - 2]);
    batch->push_back(sb.back());
    return append(name, op(op_kind::matmul), {a, b}, std::move(*batch));
  }

  node_id softmax(std::string_view name, node_id x, std::int64_t axis = -1) {
    auto op_ = op(op_kind::softmax);
    checked_axis(x, axis, name);
    op_.axis = axis;
    return append(name, std::move(op_), {x}, shape_of(x));
  }

  node_id gelu(std::string_view name, node_id x) { return activation(name, x, op_kind::gelu); }
  node_id relu(std::string_view name, node_id x) { return activation(name, x, op_kind::relu); }
  node_id silu(std::string_view name, node_id x) { return activation(name, x, op_kind::silu); }
  node_id tanh(std::string_view name, node_id x) { return activation(name, x, op_kind::tanh); }
  node_id sigmoid(std::string_view name, node_id x) { return activation(name, x, op_kind::sigmoid); }
  /// Any pointwise nonlinearity: `kind` one of gelu … elementwise; `type` names it in reports ("quick_gelu").
  node_id activation(std::string_view name, node_id x, op_kind kind, std::string_view type = {}) {
    detail::require(is_nonlinearity(kind), "lnfold::graph_builder::activation: '", name, "': ", to_string(kind),
                    " is not a pointwise nonlinearity");
    auto op_ = op(kind);
    if (!type.empty()) op_.type = std::string(type);
    return append(name, std::move(op_), {x}, shape_of(x));
  }

  // ---- normalization ------------------------------------------------------------------------------

  /// LayerNorm over axes [axis, rank): γ = `name.weight`, β = `name.bias`, both shaped like those axes.
  node_id layer_norm(std::string_view name, node_id x, norm_options o = {}) {
    return norm(op_kind::layer_norm, name, x, o);
  }
  /// RMSNorm (ε inside the root) over axes [axis, rank); γ and β as for layer_norm.
  node_id rms_norm(std::string_view name, node_id x, norm_options o = {}) {
    return norm(op_kind::rms_norm, name, x, o);
  }
  /// x − mean(x) over `axis`.
  node_id center(std::string_view name, node_id x, std::int64_t axis = -1) {
    auto op_ = op(op_kind::center);
    checked_axis(x, axis, name);
    op_.axis = axis;
    return append(name, std::move(op_), {x}, shape_of(x));
  }

  // ---- re-indexing --------------------------------------------------------------------------------

  /// Dropout at inference, a cast: passes x through.
  node_id identity(std::string_view name, node_id x) { return append(name, op(op_kind::identity), {x}, shape_of(x)); }

  /// Output axis j is input axis perm[j].
  node_id transpose(std::string_view name, node_id x, std::vector<std::int64_t> perm) {
    const shape& in = shape_of(x);
    std::vector<bool> seen(in.size(), false);
    bool valid = perm.size() == in.size();
    for (std::size_t j = 0; valid && j < perm.size(); ++j) {
      valid = perm[j] >= 0 && static_cast<std::size_t>(perm[j]) < in.size() && !seen[static_cast<std::size_t>(perm[j])];
      if (valid) seen[static_cast<std::size_t>(perm[j])] = true;
    }
    detail::require(valid, "lnfold::graph_builder::transpose: '", name, "': ", shape_text(perm),
                    " is not a permutation of the axes of ", shape_text(in));
    shape out(in.size());
    for (std::size_t j = 0; j < perm.size(); ++j) out[j] = in[static_cast<std::size_t>(perm[j])];
    auto op_ = op(op_kind::transpose);
    op_.perm = std::move(perm);
    return append(name, std::move(op_), {x}, std::move(out));
  }

  /// Same elements, new static shape (no -1: spell every dim).
  node_id reshape(std::string_view name, node_id x, shape s) {
    require_static(name, s, "reshape target");
    detail::require(element_count(s) == element_count(shape_of(x)), "lnfold::graph_builder::reshape: '", name,
                    "': cannot reshape ", shape_text(shape_of(x)), " (", element_count(shape_of(x)), " elements) to ",
                    shape_text(s), " (", element_count(s), " elements)");
    return append(name, op(op_kind::reshape), {x}, std::move(s));
  }

  /// Joins `xs` along `axis`; every other dim must agree.
  node_id concat(std::string_view name, const std::vector<node_id>& xs, std::int64_t axis) {
    detail::require(!xs.empty(), "lnfold::graph_builder::concat: '", name, "': no inputs");
    const std::size_t a = checked_axis(xs.front(), axis, name);
    shape out = shape_of(xs.front());
    for (std::size_t i = 1; i < xs.size(); ++i) {
      const shape& s = shape_of(xs[i]);
      bool fits = s.size() == out.size();
      for (std::size_t k = 0; fits && k < s.size(); ++k) fits = k == a || s[k] == out[k];
      detail::require(fits, "lnfold::graph_builder::concat: '", name, "': cannot join ",
                      shape_text(shape_of(xs.front())), " and ", shape_text(s), " along axis ", axis);
      out[a] += s[a];
    }
    auto op_ = op(op_kind::concat);
    op_.axis = axis;
    return append(name, std::move(op_), xs, std::move(out));
  }

  /// x[begin:end:step] along `axis`, Python style: 0 <= begin, end clamped to the dim, step >= 1, non-empty.
  node_id slice(std::string_view name, node_id x, std::int64_t axis, std::int64_t begin, std::int64_t end,
                std::int64_t step = 1) {
    const std::size_t a = checked_axis(x, axis, name);
    shape out = shape_of(x);
    const std::int64_t stop = std::min(end, out[a]);
    detail::require(begin >= 0 && step >= 1 && begin < stop, "lnfold::graph_builder::slice: '", name, "': [", begin,
                    ":", end, ":", step, "] is empty or invalid for dim ", out[a], " of ", shape_text(out));
    out[a] = (stop - begin + step - 1) / step;
    auto op_ = op(op_kind::slice);
    op_.axis = axis;
    op_.begin = begin;
    op_.end = end;
    op_.step = step;
    return append(name, std::move(op_), {x}, std::move(out));
  }

  /// Picks positions `indices` along `axis` (e.g. the cls token). keep_dims false: exactly one index,
  /// and the axis disappears ([B, T, d] -> [B, d]).
  node_id gather(std::string_view name, node_id x, std::int64_t axis, std::vector<std::int64_t> indices,
                 bool keep_dims = true) {
    const std::size_t a = checked_axis(x, axis, name);
    shape out = shape_of(x);
    const bool in_range = std::all_of(indices.begin(), indices.end(),
                                      [&](std::int64_t i) { return i >= 0 && i < out[a]; });
    detail::require(!indices.empty() && in_range && (keep_dims || indices.size() == 1),
                    "lnfold::graph_builder::gather: '", name, "': indices ", shape_text(indices), " invalid for dim ",
                    out[a], " of ", shape_text(out), keep_dims ? "" : " (keep_dims = false takes exactly one index)");
    if (keep_dims) out[a] = static_cast<std::int64_t>(indices.size());
    else out.erase(out.begin() + static_cast<std::ptrdiff_t>(a));
    auto op_ = op(op_kind::gather);
    op_.axis = axis;
    op_.indices = std::move(indices);
    op_.keep_dims = keep_dims;
    return append(name, std::move(op_), {x}, std::move(out));
  }

  node_id reduce_mean(std::string_view name, node_id x, std::vector<std::int64_t> axes, bool keep_dims = true) {
    return reduce(op_kind::reduce_mean, name, x, std::move(axes), keep_dims);
  }
  node_id reduce_sum(std::string_view name, node_id x, std::vector<std::int64_t> axes, bool keep_dims = true) {
    return reduce(op_kind::reduce_sum, name, x, std::move(axes), keep_dims);
  }
  node_id reduce_max(std::string_view name, node_id x, std::vector<std::int64_t> axes, bool keep_dims = true) {
    return reduce(op_kind::reduce_max, name, x, std::move(axes), keep_dims);
  }

  /// Zero padding; `pads` = [begin_0, …, begin_{r-1}, end_0, …, end_{r-1}], all >= 0.
  node_id pad(std::string_view name, node_id x, std::vector<std::int64_t> pads) {
    shape out = shape_of(x);
    const bool valid = pads.size() == 2 * out.size() &&
                       std::all_of(pads.begin(), pads.end(), [](std::int64_t p) { return p >= 0; });
    detail::require(valid, "lnfold::graph_builder::pad: '", name, "': pads ", shape_text(pads), " need ",
                    2 * out.size(), " entries >= 0 for ", shape_text(out));
    for (std::size_t i = 0; i < out.size(); ++i) out[i] += pads[i] + pads[i + out.size()];
    auto op_ = op(op_kind::pad);
    op_.pads = std::move(pads);
    return append(name, std::move(op_), {x}, std::move(out));
  }

  /// An op lnfold does not know (op_kind::unknown), called `type`, with the given output shape.
  node_id unknown(std::string_view name, std::string_view type, const std::vector<node_id>& inputs, shape s) {
    require_static(name, s, "output shape");
    auto op_ = op(op_kind::unknown);
    op_.type = std::string(type);
    return append(name, std::move(op_), inputs, std::move(s));
  }

 private:
  static op_desc op(op_kind k) {
    op_desc o;
    o.kind = k;
    o.type = std::string(to_string(k));
    return o;
  }
  static std::string concat_name(std::string_view a, std::string_view b) {
    std::string s(a);
    s += '.';
    s += b;
    return s;
  }
  static std::int64_t element_count(const shape& s) {
    std::int64_t n = 1;
    for (auto d : s) n *= d;
    return n;
  }
  static void require_static(std::string_view name, const shape& s, const char* what) {
    const bool ok = std::all_of(s.begin(), s.end(), [](std::int64_t d) { return d >= 1; });
    detail::require(ok, "lnfold::graph_builder: '", name, "': ", what, " ", shape_text(s),
                    " must be static with every dim >= 1");
  }

  /// Validates `axis` against x's rank and returns it normalized (non-negative).
  std::size_t checked_axis(node_id x, std::int64_t axis, std::string_view name) const {
    const auto a = normalize_axis(axis, shape_of(x).size());
    detail::require(a.has_value(), "lnfold::graph_builder: '", name, "': axis ", axis, " is out of range for ",
                    shape_text(shape_of(x)));
    return *a;
  }

  std::int64_t last_dim(node_id x, std::string_view name) const {
    const shape& s = shape_of(x);
    detail::require(!s.empty(), "lnfold::graph_builder: '", name, "': input '", g_->node_name(x), "' is a scalar");
    return s.back();
  }

  node_id binary(op_kind k, std::string_view name, node_id a, node_id b) {
    auto s = broadcast_shapes(shape_of(a), shape_of(b));
    detail::require(s.has_value(), "lnfold::graph_builder::", to_string(k), ": '", name, "': cannot broadcast ",
                    shape_text(shape_of(a)), " ('", g_->node_name(a), "') with ", shape_text(shape_of(b)), " ('",
                    g_->node_name(b), "')");
    return append(name, op(k), {a, b}, std::move(*s));
  }

  node_id norm(op_kind k, std::string_view name, node_id x, const norm_options& o) {
    const std::size_t a = checked_axis(x, o.axis, name);
    detail::require(std::isfinite(o.eps) && o.eps > 0, "lnfold::graph_builder::", to_string(k), ": '", name,
                    "': eps must be finite and > 0 (got ", o.eps, ")");
    const shape& in = shape_of(x);
    const shape normalized(in.begin() + static_cast<std::ptrdiff_t>(a), in.end());
    require_new_names(name, {"weight", "bias"});
    auto op_ = op(k);
    op_.axis = o.axis;
    op_.eps = o.eps;
    if (o.affine) {
      op_.gamma = param(concat_name(name, "weight"), normalized);
      if (o.bias) op_.beta = param(concat_name(name, "bias"), normalized);
    }
    return append(name, std::move(op_), {x}, in);
  }

  node_id reduce(op_kind k, std::string_view name, node_id x, std::vector<std::int64_t> axes, bool keep_dims) {
    const shape& in = shape_of(x);
    std::vector<bool> reduced(in.size(), false);
    detail::require(!axes.empty(), "lnfold::graph_builder::", to_string(k), ": '", name, "': no axes");
    for (auto axis : axes) {
      const std::size_t a = checked_axis(x, axis, name);
      detail::require(!reduced[a], "lnfold::graph_builder::", to_string(k), ": '", name, "': axis ", axis,
                      " listed twice in ", shape_text(axes));
      reduced[a] = true;
    }
    shape out;
    for (std::size_t i = 0; i < in.size(); ++i) {
      if (!reduced[i]) out.push_back(in[i]);
      else if (keep_dims) out.push_back(1);
    }
    auto op_ = op(k);
    op_.axes = std::move(axes);
    op_.keep_dims = keep_dims;
    return append(name, std::move(op_), {x}, std::move(out));
  }

  /// Checked before a node's parameters are created, so that a name collision changes nothing.
  void require_new_node_name(std::string_view name) const {
    detail::require(!name.empty(), "lnfold::graph_builder: empty node name");
    detail::require(!node_names_.contains(std::string(name)), "lnfold::graph_builder: a node named '", name,
                    "' already exists");
  }

  /// The node `name` and the parameters `name.suffix` ("" : `name` itself) it may create are all free.
  void require_new_names(std::string_view name, std::initializer_list<std::string_view> param_suffixes) const {
    require_new_node_name(name);
    for (auto suffix : param_suffixes) {
      const std::string p = suffix.empty() ? std::string(name) : concat_name(name, suffix);
      detail::require(!param_names_.contains(p), "lnfold::graph_builder: a parameter named '", p, "' already exists");
    }
  }

  node_id append(std::string_view name, op_desc o, std::span<const node_id> inputs, shape s) {
    require_new_node_name(name);
    const node_id n = g_->add_node(name, std::move(o), inputs, std::move(s));
    node_names_.insert(std::string(name));
    return n;
  }
  node_id append(std::string_view name, op_desc o, std::initializer_list<node_id> inputs, shape s) {
    return append(name, std::move(o), std::span<const node_id>(inputs.begin(), inputs.size()), std::move(s));
  }

  graph* g_;
  std::unordered_set<std::string> node_names_;
  std::unordered_set<std::string> param_names_;
};

}  // namespace lnfold
