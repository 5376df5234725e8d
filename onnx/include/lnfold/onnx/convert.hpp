// convert_model: applies a fold_plan (find_foldable on lnfold::onnx::graph) to a copy of the ONNX
// model, with lnfold's one plan applier (transform/apply_plan.hpp) on the model seen as a
// rewritable_graph (rewriter.hpp). The steps and their order are the applier's (docs/apply-plan.md):
// tied parameters untied or rank-1 compensated (Gemm's alpha included), LayerScales fused, the
// planned initializers centered in double (long double for double storage) and written back in the
// representation they had, stem centerings inserted, every foldable LayerNorm written in the chosen
// rmsnorm_form, and optionally γ/β folded into the linears after a norm.
//
// Preserved (docs/transforms.md): LN(x) = RMS(x̃) with the same γ, β and ε, where x̃ is the LN input
// after its region's sources are centered; every other model output is unchanged.
// Node order, names, metadata and every initializer not listed in the summary are kept as they
// were; nodes only an old LN read (a decomposed pattern's mean and Sub, its constants) are removed.
// convert_model_to_file does the same and writes the result, streaming a model with external data
// (each edited tensor written as soon as it is edited): for models larger than memory.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "lnfold/fold/plan.hpp"
#include "lnfold/onnx/check.hpp"
#include "lnfold/onnx/data_file.hpp"
#include "lnfold/onnx/external_data.hpp"
#include "lnfold/onnx/graph.hpp"
#include "lnfold/onnx/rewriter.hpp"
#include "lnfold/onnx/rmsnorm_forms.hpp"
#include "lnfold/onnx/write.hpp"
#include "lnfold/transform/apply_plan.hpp"

namespace lnfold::onnx {

struct convert_options {
  rmsnorm_form form = rmsnorm_form::decomposed;
  /// Fold γ/β of every norm whose output feeds only linear layers into those layers.
  bool fold_affine = false;
};

/// What convert_model changed, by ONNX names.
struct convert_summary {
  std::vector<std::string> converted;      ///< LNs now RMSNorms (decomposed LNs: their first ReduceMean)
  std::vector<std::string> fallbacks;      ///< of those, written `decomposed` although a fused form was asked
  std::vector<std::string> centered;       ///< initializers or Constant values centered
  std::vector<std::string> zeroed;         ///< broadcast constants set to zero
  std::vector<std::string> untied;         ///< new initializers: copies made by the untie policy
  std::vector<std::string> rank1;          ///< new initializers: the row means of rank-1 compensation
  std::vector<std::string> fused;          ///< Mul nodes whose scale moved into the linear before them
  std::vector<std::string> stems;          ///< values centered by an inserted stem centering
  std::vector<std::string> affine_folded;  ///< norms whose γ/β moved into the linears after them
  /// What storage left of each centering: the largest |fiber mean| of the tensor as written, relative
  /// to its largest |value| (largest_relative_fiber_mean); float rounding leaves ~1e-8, float16 ~1e-4.
  struct residual {
    std::string param;
    std::string type;  ///< the element type it is stored in
    double relative_mean = 0;
  };
  std::vector<residual> residuals;  ///< one per centered tensor, in `centered`'s order
  /// The largest of `residuals` (a default residual when nothing was centered).
  residual largest_residual() const {
    residual worst;
    for (const auto& r : residuals)
      if (r.relative_mean >= worst.relative_mean) worst = r;
    return worst;
  }
  apply_summary edits;  ///< the same, by node and parameter id of `g`
};

struct conversion {
  ::onnx::ModelProto model;
  convert_summary summary;
};

namespace detail {

/// Applies `plan` through `model` (a rewriter of g's model) and says what changed, by ONNX names.
inline convert_summary rewrite(model_rewriter& model, const graph& g, const fold_plan& plan,
                               const convert_options& options) {
  convert_summary s;
  s.edits = apply_fold_plan_in_place(model, plan, {.fold_affine = options.fold_affine});
  for (const auto& c : s.edits.centered) {
    if (!c.axis) continue;
    double r = 0;
    model.visit_param(c.param, [&](const auto& v) { r = largest_relative_fiber_mean(v, *c.axis); });
    s.residuals.push_back({model.param_name(c.param), model.param_type_name(c.param), r});
  }
  const auto node_name = [&](node_id n) { return g.node_name(n); };
  for (const auto n : s.edits.converted) s.converted.push_back(node_name(n));
  for (const auto n : model.fallbacks()) s.fallbacks.push_back(node_name(n));
  for (const auto& c : s.edits.centered) (c.axis ? s.centered : s.zeroed).push_back(model.param_name(c.param));
  for (const auto& u : s.edits.untied) s.untied.push_back(model.param_name(u.copy));
  for (const auto& z : s.edits.zeroed_copies) s.untied.push_back(model.param_name(z.copy));
  for (const auto& r : s.edits.rank1) s.rank1.push_back(model.param_name(r.means));
  for (const auto& f : s.edits.fused) s.fused.push_back(node_name(f.mul));
  for (const auto& st : s.edits.stems) s.stems.push_back(model.original_value(st.after));
  for (const auto& a : s.edits.affine_folded) s.affine_folded.push_back(node_name(a.norm));
  return s;
}

}  // namespace detail

/// Applies `plan` (find_foldable on `g`) to a copy of g's model; see the top of this header.
/// Throws lnfold::error (one line naming the tensor or node) when a planned parameter cannot be
/// edited (an element type other than float, double, float16 or bfloat16, a non-finite value), when
/// the opset is older than 7 or newer than 23, or when a norm without γ and of unknown width is asked
/// in the simplified form. Tensors of g's model stored as external data stay external unless the plan
/// edits them: those are read (from g.options().model_dir) and returned in the model as raw_data, so
/// for a model larger than memory use convert_model_to_file.
inline conversion convert_model(const graph& g, const fold_plan& plan, const convert_options& options = {}) {
  detail::model_rewriter model(g, options.form);
  conversion out;
  out.summary = detail::rewrite(model, g, plan, options);
  out.model = model.take_model();
  return out;
}

/// What convert_model_to_file did.
struct file_conversion {
  convert_summary summary;
  /// Whether libonnx's checker validated the model before it was written (checker_covers: false
  /// when its opset is past the checker's; validate it by running it, e.g. in ONNX Runtime).
  bool checked = false;
  external_data_summary data;  ///< the data file written beside the model (data_path empty: none)
};

/// Converts g's model as convert_model does and writes it to `out`: checked first when
/// checker_covers it (check_converted_model; a failure throws and writes nothing), then written
/// atomically (write.hpp). A model with external data is written with it (OUT.data beside OUT, see
/// external_data.hpp), and streamed: each tensor the plan edits is read, edited and written to the
/// staged OUT.data at once (data_file.hpp); the others are copied in chunks. So memory holds the
/// graph without its weights plus one tensor at a time: the largest edited tensor (float and double
/// ones in their own type; float16 and bfloat16 ones as doubles, 4 times their stored size), which
/// lets models larger than memory convert. On any error neither file is written.
inline file_conversion convert_model_to_file(const graph& g, const fold_plan& plan, const std::string& out,
                                             const convert_options& options = {}) {
  const external_data_options write_options{.source_dir = g.options().model_dir};
  std::optional<detail::data_file> data;
  if (has_external_data(g.model())) data.emplace(detail::data_path_for(out, write_options), write_options.alignment);
  detail::model_rewriter model(g, options.form, data ? &*data : nullptr);
  file_conversion result;
  result.summary = detail::rewrite(model, g, plan, options);
  ::onnx::ModelProto converted = model.take_model();
  result.checked = checker_covers(converted);
  if (result.checked) check_converted_model(converted);
  if (data) result.data = detail::write_model_and_data(converted, out, write_options, &*data);
  else write_model_atomically(converted, out);  // no external data in, none out
  return result;
}

}  // namespace lnfold::onnx
