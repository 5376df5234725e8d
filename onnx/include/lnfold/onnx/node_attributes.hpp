// Reading an ONNX node's attributes by name, shared by the adapter (graph.hpp) and the shape
// propagation (shapes.hpp). A missing attribute reads as the fallback the ONNX op defines.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <onnx/onnx_pb.h>

namespace lnfold::onnx::detail {

using attr_map = std::unordered_map<std::string, const ::onnx::AttributeProto*>;

inline attr_map attrs(const ::onnx::NodeProto& n) {
  attr_map m;
  for (const auto& a : n.attribute()) m[a.name()] = &a;
  return m;
}
inline std::int64_t attr_int(const attr_map& m, const char* key, std::int64_t fallback) {
  const auto it = m.find(key);
  return it == m.end() ? fallback : it->second->i();
}
inline double attr_float(const attr_map& m, const char* key, double fallback) {
  const auto it = m.find(key);
  return it == m.end() ? fallback : static_cast<double>(it->second->f());
}
inline std::optional<std::vector<std::int64_t>> attr_ints(const attr_map& m, const char* key) {
  const auto it = m.find(key);
  if (it == m.end()) return std::nullopt;
  return std::vector<std::int64_t>(it->second->ints().begin(), it->second->ints().end());
}

/// A node of the default ONNX domain ("" or "ai.onnx").
inline bool standard(const ::onnx::NodeProto& n) { return n.domain().empty() || n.domain() == "ai.onnx"; }

/// The default-domain opset a model imports (1 when it imports none).
inline std::int64_t default_opset(const ::onnx::ModelProto& m) {
  std::int64_t v = 1;
  for (const auto& op : m.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") v = op.version();
  return v;
}

/// Whether op type `t` is a pointwise op whose output has its (first) input's shape. Shared by the
/// adapter's op map (the nonlinear ones are op_kind::elementwise) and the shape rules.
inline bool same_shape_unary(const std::string& t) {
  static const std::unordered_set<std::string> ops{"Identity",
                                                   "Cast",
                                                   "CastLike",
                                                   "Dropout",
                                                   "Neg",
                                                   "Relu",
                                                   "Sigmoid",
                                                   "Tanh",
                                                   "Gelu",
                                                   "Erf",
                                                   "Exp",
                                                   "Log",
                                                   "Sqrt",
                                                   "Abs",
                                                   "Reciprocal",
                                                   "LeakyRelu",
                                                   "Elu",
                                                   "Selu",
                                                   "Celu",
                                                   "HardSigmoid",
                                                   "HardSwish",
                                                   "Softplus",
                                                   "Softsign",
                                                   "Clip",
                                                   "Sin",
                                                   "Cos",
                                                   "Mish",
                                                   "ThresholdedRelu",
                                                   "Floor",
                                                   "Ceil",
                                                   "Round",
                                                   "Sign",
                                                   "Not",
                                                   "IsNaN",
                                                   "IsInf",
                                                   "Softmax",
                                                   "LogSoftmax",
                                                   "Hardmax",
                                                   "LayerNormalization",
                                                   "RMSNormalization",
                                                   "SimplifiedLayerNormalization",
                                                   "BatchNormalization",
                                                   "InstanceNormalization",
                                                   "GroupNormalization",
                                                   "LpNormalization",
                                                   "Trilu",
                                                   "CumSum",
                                                   "Shrink",
                                                   "Tan",
                                                   "Atan",
                                                   "Asin",
                                                   "Acos",
                                                   "Sinh",
                                                   "Cosh",
                                                   "Asinh",
                                                   "Acosh",
                                                   "Atanh",
                                                   "BitwiseNot",
                                                   "MeanVarianceNormalization"};
  return ops.count(t) != 0;
}

}  // namespace lnfold::onnx::detail
