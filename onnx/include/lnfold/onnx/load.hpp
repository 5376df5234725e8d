// Loading an ONNX model file with one-line errors: every failure throws lnfold::error naming the file
// and the problem (cannot open, empty, not a protobuf, not a model, an opset the adapter does not know).
#pragma once

#include <fstream>
#include <cstddef>
#include <ios>
#include <set>
#include <string>

#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>

#include "lnfold/error.hpp"

namespace lnfold::onnx {

/// Opset domains whose ops the adapter maps or reports by name. A model importing any other domain
/// is refused: its ops could be anything, including ones that change what a LayerNorm reads.
inline bool known_domain(const std::string& domain) {
  static const std::set<std::string> known{"", "ai.onnx", "ai.onnx.ml", "com.microsoft", "ai.onnx.preview.training"};
  return known.count(domain) != 0;
}

/// The highest opset of the default domain that this build of libonnx knows.
inline int max_default_opset() {
  const auto& ranges = ::onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  const auto it = ranges.find("");
  return it == ranges.end() ? 1 : it->second.second;
}

/// Checks that a parsed message is a model the adapter can read; throws lnfold::error otherwise.
inline void validate_model(const ::onnx::ModelProto& model, const std::string& what) {
  using lnfold::detail::concat;
  if (!model.has_graph() || model.opset_import_size() == 0 || model.ir_version() <= 0)
    lnfold::detail::fail(concat(what, ": not an ONNX model (no graph, opset_import or ir_version)"));
  bool has_default = false;
  for (const auto& op : model.opset_import()) {
    if (!known_domain(op.domain()))
      lnfold::detail::fail(concat(what, ": unknown opset domain '", op.domain(), "' (version ", op.version(), ")"));
    if (op.domain().empty() || op.domain() == "ai.onnx") {
      has_default = true;
      if (op.version() < 1 || op.version() > max_default_opset())
        lnfold::detail::fail(concat(what, ": opset ", op.version(), " of the default domain is not supported (this libonnx knows 1..",
                                    max_default_opset(), ")"));
    }
  }
  if (!has_default && model.graph().node_size() > 0)
    lnfold::detail::fail(concat(what, ": the model imports no opset of the default ONNX domain"));
}

/// Reads and validates `path`; throws lnfold::error with a one-line message on any failure.
inline ::onnx::ModelProto load_model(const std::string& path) {
  using lnfold::detail::concat;
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) lnfold::detail::fail(concat("cannot open '", path, "'"));
  const std::streamoff size = in.tellg();
  if (size < 0) lnfold::detail::fail(concat("cannot read '", path, "'"));
  std::string bytes(static_cast<std::size_t>(size), '\0');
  in.seekg(0);
  if (!in.read(bytes.data(), size)) lnfold::detail::fail(concat("cannot read '", path, "'"));
  if (bytes.empty()) lnfold::detail::fail(concat("'", path, "' is empty"));
  ::onnx::ModelProto model;
  if (!model.ParseFromString(bytes))
    lnfold::detail::fail(concat("'", path, "' is not a valid ONNX protobuf (truncated or corrupt)"));
  validate_model(model, concat("'", path, "'"));
  return model;
}

}  // namespace lnfold::onnx
