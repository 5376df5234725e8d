// Setting a node's attributes: the one place lnfold writes AttributeProto (convert, export, tests).
// Integers and integer lists are overloads; the float setter has its own name because an integer
// argument would otherwise convert to both. Pass a list as std::vector<std::int64_t>{…}: a braced
// `{x}` alone would pick the single-integer overload.
#pragma once

#include <cstdint>
#include <vector>

#include <onnx/onnx_pb.h>

namespace lnfold::onnx {

inline void set_attribute(::onnx::NodeProto& node, const char* name, std::int64_t value) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INT);
  a->set_i(value);
}

inline void set_attribute(::onnx::NodeProto& node, const char* name, const std::vector<std::int64_t>& values) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INTS);
  for (const auto v : values) a->add_ints(v);
}

inline void set_float_attribute(::onnx::NodeProto& node, const char* name, float value) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::FLOAT);
  a->set_f(value);
}

}  // namespace lnfold::onnx
