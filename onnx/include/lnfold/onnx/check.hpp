// Checking a converted model with libonnx's checker, including ONNX Runtime's
// SimplifiedLayerNormalization, which the ONNX standard does not define.
//
// ONNX Runtime registers SimplifiedLayerNormalization in the default domain, since version 1:
// inputs X and scale (T), outputs Y (T) and an optional inv_std_var (float); attributes axis
// (default -1) and epsilon (default 1e-5); T one of float16, float, double, bfloat16. The schema
// below states that signature (written from ORT's documentation of the op, not copied) so that
// onnx::checker::check_model validates such nodes (inputs, outputs, attributes, types) like any
// standard op. It cannot check what the op computes: converted models are also run in ORT.
#pragma once

#include <string>

#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/defs/shape_inference.h>

#include "lnfold/error.hpp"
#include "lnfold/onnx/external_data.hpp"
#include "lnfold/onnx/load.hpp"
#include "lnfold/onnx/node_attributes.hpp"

namespace lnfold::onnx {

/// Registers ORT's SimplifiedLayerNormalization signature with libonnx once per process (a no-op
/// when a schema of that name is already known).
inline void register_ort_simplified_layer_norm() {
  static const bool registered = [] {
    if (::onnx::OpSchemaRegistry::Schema("SimplifiedLayerNormalization", 1, "")) return true;
    ::onnx::OpSchema schema("SimplifiedLayerNormalization", "onnxruntime contrib op (signature)", 0);
    schema.SetDomain("")
        .SinceVersion(1)
        .SetDoc("ONNX Runtime's RMSNorm: Y = X / sqrt(mean(X^2 over axis..) + epsilon) * scale")
        .Attr("axis", "first normalized axis", ::onnx::AttributeProto::INT, static_cast<std::int64_t>(-1))
        .Attr("epsilon", "added inside the root", ::onnx::AttributeProto::FLOAT, 1e-5f)
        .AllowUncheckedAttributes()
        .Input(0, "X", "input", "T")
        .Input(1, "scale", "gamma", "T")
        .Output(0, "Y", "output", "T")
        .Output(1, "inv_std_var", "1 / rms", "U", ::onnx::OpSchema::Optional)
        .TypeConstraint("T", {"tensor(float16)", "tensor(float)", "tensor(double)", "tensor(bfloat16)"}, "float types")
        .TypeConstraint("U", {"tensor(float)"}, "float")
        .TypeAndShapeInferenceFunction(::onnx::propagateShapeAndTypeFromFirstInput);
    ::onnx::OpSchemaRegistry::OpSchemaRegisterOnce once(schema);
    return true;
  }();
  (void)registered;
}

/// Whether this libonnx's checker can validate `model`: its default-domain opset is one the
/// library knows (max_default_opset(), 17 for libonnx 1.12). Later opsets changed the signatures of
/// ops such as ReduceMean (axes as an input, opset 18), which the older schemas would reject; such
/// models are validated by loading and running them in ONNX Runtime (onnx/ort/) instead.
inline bool checker_covers(const ::onnx::ModelProto& model) {
  for (const auto& op : model.opset_import())
    if ((op.domain().empty() || op.domain() == "ai.onnx") && op.version() > max_default_opset()) return false;
  return true;
}

/// Runs onnx::checker::check_model; throws lnfold::error with the checker's first line on failure,
/// and when the checker does not cover the model's opset (checker_covers): a caller that validates
/// newer opsets another way tests checker_covers first.
/// External data: libonnx's checker looks for the data files relative to the working directory, not
/// to the model's, so external tensors are checked by check_external_data when read and written
/// (external_data.hpp) and shown to the checker as one-byte inline tensors of their name, dims and
/// type; `model` is modified while it is checked and restored before the call returns or throws.
inline void check_converted_model(::onnx::ModelProto& model) {
  if (!checker_covers(model))
    lnfold::detail::fail(lnfold::detail::concat(
        "the converted model cannot be checked: it imports opset ", detail::default_opset(model),
        " of the default domain, and this libonnx's checker knows opsets up to ", max_default_opset()));
  detail::swapped_out_tensors held;
  detail::for_each_tensor(*model.mutable_graph(), [&](::onnx::TensorProto& t) {
    if (t.data_location() != ::onnx::TensorProto::EXTERNAL) return;
    held.swap_out(t);
    t.set_raw_data(std::string(1, '\0'));  // the checker wants one value field; it does not count elements
  });
  register_ort_simplified_layer_norm();
  try {
    ::onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    std::string what = e.what();
    if (const auto nl = what.find('\n'); nl != std::string::npos) what.resize(nl);
    lnfold::detail::fail(lnfold::detail::concat("the converted model fails the ONNX checker: ", what));
  }
}

}  // namespace lnfold::onnx
