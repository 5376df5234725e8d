// apply_fold_plan: turns a fold_plan into weights and a graph that compute the same function with
// RMSNorm in place of every foldable LayerNorm, on any graph type that models rewritable_graph
// (transform/rewritable_graph.hpp): lnfold's built-in IR with its weights (weighted_graph), the ONNX
// adapter (onnx/convert.hpp), or your own IR. The steps are written once (detail/plan_applier.hpp).
//
// Preserved (docs/transforms.md, docs/apply-plan.md): for every foldable LN, LN(x) = RMS(x̃) with the
// same γ, β and ε, where x̃ is the LN input after its region's sources are centered; every other
// observable output is unchanged, because centering shifts each tensor of a region by a per-row
// multiple of 1 and every reader of the region is mean-invariant.
//
// In order, so that each step sees the weights the previous one left:
//   1. tied parameters are resolved: untie copies the parameter for the source; rank-1 keeps the tie,
//      stores the means m the centering removes and adds (Σh)·m after the other use; a broadcast
//      constant also read elsewhere gets a copy for the reader that must see it zeroed;
//   2. per-channel scales listed in plan.fusions are multiplied into their linear (W ← diag(s)·W,
//      b ← s ⊙ b) and the scaling node becomes an identity;
//   3. every planned parameter is centered over its axis in double precision or wider (center_param);
//   4. stem centerings insert `center` nodes after their blocking producer;
//   5. every foldable LN becomes an RMSNorm keeping γ, β, ε and its axes;
//   6. optionally (apply_options::fold_affine), a norm whose output only feeds linear layers hands
//      its γ and β to them: W ← W·diag(γ), b ← b + W·β, and keeps no affine of its own;
// then finish_rewrite(g), when the graph type has one.
// Complexity: O(graph · (rank-1 corrections + stems + 1) + Σ sizes of the touched parameters).
#pragma once

#include <utility>

#include "lnfold/fold/plan.hpp"
#include "lnfold/graph/ir.hpp"
#include "lnfold/tensor/tensor.hpp"
#include "lnfold/transform/apply_summary.hpp"
#include "lnfold/transform/detail/plan_applier.hpp"
#include "lnfold/transform/rewritable_graph.hpp"
#include "lnfold/transform/weighted_graph.hpp"

namespace lnfold {

/// Applies `plan` (from find_foldable on `g`) to `g` in place; see the top of this header for the
/// steps and apply_summary (transform/apply_summary.hpp) for what it returns.
/// G must model rewritable_graph; otherwise compilation stops with a static_assert naming the
/// missing call. Throws lnfold::error when the plan does not belong to `g`, or when a parameter to
/// center is not finite (nothing is changed by that failed centering, but earlier steps may have run:
/// apply the plan to a copy for all or nothing).
template <class G>
apply_summary apply_fold_plan_in_place(G& g, const fold_plan& plan, const apply_options& options = {}) {
  if constexpr (detail::assert_rewritable_graph<G>()) return detail::plan_applier<G>(g, plan, options).run();
  else return {};
}

/// The built-in IR: applies `plan` to `g` and its `weights` in place (weights[p] has
/// g.param_shape(p) for every parameter, else lnfold::error).
template <class T>
apply_summary apply_fold_plan_in_place(graph& g, weight_set<T>& weights, const fold_plan& plan,
                                       const apply_options& options = {}) {
  weighted_graph<T> model(g, weights);
  return apply_fold_plan_in_place(model, plan, options);
}

template <class T>
struct converted_model {
  graph g;
  weight_set<T> weights;
  apply_summary summary;
};

/// The built-in IR: applies `plan` to copies of `g` and `weights`; the inputs are not modified.
template <class T>
converted_model<T> apply_fold_plan(const graph& g, const weight_set<T>& weights, const fold_plan& plan,
                                   const apply_options& options = {}) {
  converted_model<T> out{g, weights, {}};
  out.summary = apply_fold_plan_in_place(out.g, out.weights, plan, options);
  return out;
}

}  // namespace lnfold
