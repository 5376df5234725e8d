// How lnfold writes an RMSNorm (and a LayerNorm that lost its affine) into an ONNX model: the part of
// applying a fold plan that only ONNX has, used by the rewriter (rewriter.hpp) once the generic
// applier has decided which LayerNorms become RMSNorms.
//
// RMS(x) = γ ⊙ x / sqrt(mean(x²) + ε) + β: ε inside the root, β kept (docs/transforms.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <onnx/onnx_pb.h>

#include "lnfold/error.hpp"
#include "lnfold/onnx/attribute.hpp"
#include "lnfold/onnx/edit.hpp"

namespace lnfold::onnx {

/// How a converted LayerNorm is written (docs/onnx.md has their speed in ONNX Runtime).
enum class rmsnorm_form {
  /// Standard ops, valid at every opset the adapter reads: Pow(x, 2) → ReduceMean → Add(ε) → Sqrt →
  /// Div(x, ·) → Mul(γ) → Add(β). A decomposed LN keeps its own nodes: only its mean and Sub go.
  decomposed,
  /// ONNX Runtime's SimplifiedLayerNormalization (default domain, since version 1, registered by
  /// ORT, not by the ONNX standard) with γ as its scale, then Add(β). Only over the last axis; an LN
  /// over another axis falls back to `decomposed`.
  simplified,
  /// The standard RMSNormalization (opset 23 of the default domain) with γ as its scale, then
  /// Add(β). Only over the last axis of a model at opset 23 or later; elsewhere it falls back to
  /// `decomposed`.
  rmsnormalization,
};

constexpr std::string_view to_string(rmsnorm_form f) noexcept {
  switch (f) {
    case rmsnorm_form::decomposed: return "decomposed";
    case rmsnorm_form::simplified: return "simplified";
    case rmsnorm_form::rmsnormalization: return "rmsnormalization";
  }
  return "unknown";
}
inline std::optional<rmsnorm_form> parse_rmsnorm_form(std::string_view s) {
  for (const auto f : {rmsnorm_form::decomposed, rmsnorm_form::simplified, rmsnorm_form::rmsnormalization})
    if (s == to_string(f)) return f;
  return std::nullopt;
}

namespace detail {

/// One norm to write: its input, affine, output and what is known of its axis.
struct norm_io {
  std::string x, gamma, beta, out, base;
  double eps = 1e-5;
  std::int64_t axis = -1;  ///< non-negative when the rank is known
  std::optional<std::size_t> rank;
  std::optional<std::int64_t> width;  ///< size of the normalized axis, when known
  int type = ::onnx::TensorProto::FLOAT;
};

/// Writes nodes into a model_editor's copy: the opset-dependent node builders and the RMSNorm forms.
class node_writer {
 public:
  explicit node_writer(model_editor& ed) : ed_(ed) {}

  ::onnx::NodeProto make_node(const std::string& op, std::vector<std::string> inputs, const std::string& output,
                              const std::string& base) {
    ::onnx::NodeProto n;
    n.set_op_type(op);
    n.set_name(ed_.unique_name(base + "/" + op));
    for (auto& i : inputs) n.add_input(std::move(i));
    if (!output.empty()) n.add_output(output);
    return n;
  }
  std::string add_constant(const std::string& base, int type, std::vector<std::int64_t> dims,
                           std::vector<double> values) {
    const std::string name = ed_.unique_name(base);
    ed_.add_initializer(make_tensor(name, type, dims, values));
    return name;
  }

  /// ReduceMean / ReduceSum over one axis; axes as attribute or input, as the opset says (ReduceSum
  /// takes an input from opset 13, ReduceMean from 18).
  ::onnx::NodeProto reduce(const std::string& op, const std::string& in, const std::string& out, std::int64_t axis,
                           bool keep_dims, const std::string& base) {
    const bool axes_input = ed_.opset() >= (op == "ReduceSum" ? 13 : 18);
    std::vector<std::string> inputs{in};
    if (axes_input)
      inputs.push_back(add_constant(base + "/axes", ::onnx::TensorProto::INT64, {1}, {static_cast<double>(axis)}));
    ::onnx::NodeProto n = make_node(op, std::move(inputs), out, base);
    if (!axes_input) set_attribute(n, "axes", std::vector<std::int64_t>{axis});
    set_attribute(n, "keepdims", keep_dims ? 1 : 0);
    return n;
  }

  /// Pow(x, 2) → ReduceMean → Add(ε) → Sqrt → Div(x, ·) → Mul(γ) → Add(β), ending in io.out.
  std::vector<::onnx::NodeProto> decomposed_rms(const norm_io& io) {
    const auto value = [&](const char* what) { return ed_.unique_name(io.base + "/" + what); };
    const std::string two = add_constant(io.base + "/two", io.type, {}, {2.0});
    const std::string eps = add_constant(io.base + "/epsilon", io.type, {}, {io.eps});
    const std::string sq = value("square"), ms = value("mean_square"), ve = value("plus_epsilon"), r = value("rms");
    std::vector<::onnx::NodeProto> n;
    n.push_back(make_node("Pow", {io.x, two}, sq, io.base));
    n.push_back(reduce("ReduceMean", sq, ms, io.axis, true, io.base));
    n.push_back(make_node("Add", {ms, eps}, ve, io.base));
    n.push_back(make_node("Sqrt", {ve}, r, io.base));
    append_affine(n, make_node("Div", {io.x, r}, "", io.base), io);
    return n;
  }

  /// OP(x, γ) → Add(β), ending in io.out, for OP = SimplifiedLayerNormalization (ORT) or the
  /// standard RMSNormalization (opset 23); both normalize from `axis` (-1 here) to the last axis,
  /// ε inside the root. Without γ the scale is ones.
  std::vector<::onnx::NodeProto> fused_rms(const std::string& op, const norm_io& io) {
    std::string gamma = io.gamma.empty() ? ones(io) : io.gamma;  // the op needs a scale
    ::onnx::NodeProto sln = make_node(op, {io.x, gamma}, "", io.base);
    set_attribute(sln, "axis", -1);
    set_float_attribute(sln, "epsilon", static_cast<float>(io.eps));
    std::vector<::onnx::NodeProto> n;
    norm_io plain = io;
    plain.gamma.clear();
    append_affine(n, std::move(sln), plain);
    return n;
  }

  /// Ones over the normalized axis, in the norm's element type.
  std::string ones(const norm_io& io) {
    lnfold::detail::require(
        io.width.has_value(), "lnfold::onnx::convert_model: norm '", io.base,
        "' needs a scale of ones but the width of its axis is not known; use --rmsnorm-form decomposed");
    return add_constant(io.base + "/ones", io.type, {*io.width},
                        std::vector<double>(static_cast<std::size_t>(*io.width), 1.0));
  }

 private:
  /// Appends `last` and, when present, Mul(γ) and Add(β); the final node writes io.out.
  void append_affine(std::vector<::onnx::NodeProto>& n, ::onnx::NodeProto last, const norm_io& io) {
    const auto out_of = [&](bool final, const char* what) {
      return final ? io.out : ed_.unique_name(io.base + "/" + what);
    };
    std::string y = out_of(io.gamma.empty() && io.beta.empty(), "normalized");
    last.add_output(y);
    n.push_back(std::move(last));
    if (!io.gamma.empty()) {
      const std::string z = out_of(io.beta.empty(), "scaled");
      n.push_back(make_node("Mul", {y, io.gamma}, z, io.base));
      y = z;
    }
    if (!io.beta.empty()) n.push_back(make_node("Add", {y, io.beta}, io.out, io.base));
  }

  model_editor& ed_;
};

}  // namespace detail
}  // namespace lnfold::onnx
