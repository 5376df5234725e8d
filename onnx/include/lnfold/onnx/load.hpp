// Loading an ONNX model file with one-line errors: every failure throws lnfold::error naming the file
// and the problem (cannot open, empty, not a protobuf, not a model, a bad external-data reference).
#pragma once

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <ios>
#include <string>

#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>

#include "lnfold/error.hpp"
#include "lnfold/onnx/external_data.hpp"

namespace lnfold::onnx {

/// The highest opset of the default domain that this build of libonnx knows (17 for Debian 12's
/// 1.12): its checker and its shape inference cover opsets up to this one. The adapter reads later
/// opsets with its own rules (graph.hpp, shapes.hpp).
inline int max_default_opset() {
  const auto& ranges = ::onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  const auto it = ranges.find("");
  return it == ranges.end() ? 1 : it->second.second;
}

/// The highest default-domain opset lnfold's tests cover (what ONNX Runtime 1.30 runs). Later
/// opsets are read the same way: their new ops are unknown ops, blockers for the LNs they touch.
constexpr int max_tested_opset = 23;

/// Checks that a parsed message is a model the adapter can read; throws lnfold::error otherwise.
/// Any opset version and any domain is accepted: an op the adapter does not know is a blocker for
/// the LayerNorms it touches (op_kind::unknown, named in the report), never a failure of the model.
inline void validate_model(const ::onnx::ModelProto& model, const std::string& what) {
  using lnfold::detail::concat;
  if (!model.has_graph() || model.opset_import_size() == 0 || model.ir_version() <= 0)
    lnfold::detail::fail(concat(what, ": not an ONNX model (no graph, opset_import or ir_version)"));
  bool has_default = false;
  for (const auto& op : model.opset_import()) {
    if (!op.domain().empty() && op.domain() != "ai.onnx") continue;
    has_default = true;
    if (op.version() < 1)
      lnfold::detail::fail(concat(what, ": opset ", op.version(), " of the default domain is not a version"));
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
  const std::filesystem::path file(path);
  check_external_data(model, file.has_parent_path() ? file.parent_path() : std::filesystem::path("."));
  return model;
}

}  // namespace lnfold::onnx
