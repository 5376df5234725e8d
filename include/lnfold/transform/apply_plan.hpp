// apply_fold_plan: turns a fold_plan into weights and a graph that compute the same function with
// RMSNorm in place of every foldable LayerNorm.
//
// Preserved (docs/method.md §1, §4): for every foldable LN, LN(x) = RMS(x̃) with the same γ, β and ε, where x̃
// is the LN input after its region's sources are centered; every other observable output is
// unchanged, because centering shifts each tensor of a region by a per-row multiple of 1 and every
// reader of the region is mean-invariant.
//
// In order, so that each step sees the weights the previous one left:
//   1. tied parameters are resolved: untie copies the parameter for the source; rank-1 keeps the tie,
//      stores the means m the centering removes (V values) and adds (Σh)·m to the other use's output;
//   2. per-channel scales listed in plan.fusions are multiplied into their linear (W ← diag(s)·W,
//      b ← s ⊙ b) and the scaling node becomes an identity;
//   3. every planned parameter is centered over its axis in double precision (a broadcast constant is
//      set to zero for its reader only);
//   4. stem centerings insert `center` nodes after their blocking producer;
//   5. every foldable LN becomes an RMSNorm keeping γ, β, ε and its axes;
//   6. optionally (apply_options::fold_affine), a norm whose output only feeds linear layers hands
//      its γ and β to them: W ← W·diag(γ), b ← b + W·β, and keeps no affine of its own.
// Complexity: O(graph + Σ sizes of the touched parameters).
#pragma once

#include <algorithm>
#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "lnfold/error.hpp"
#include "lnfold/fold/plan.hpp"
#include "lnfold/graph/ir.hpp"
#include "lnfold/tensor/tensor.hpp"
#include "lnfold/transform/ccwt.hpp"

namespace lnfold {

struct apply_options {
  /// Fold γ/β of every norm whose output feeds only linear layers into those layers (docs/method.md §5).
  bool fold_affine = false;
};

/// What apply_fold_plan changed, for reports.
struct apply_summary {
  std::vector<param_id> centered;          ///< parameters centered (after untying)
  std::vector<param_id> zeroed;            ///< broadcast constants set to zero
  std::vector<node_id> converted;          ///< LNs that are now RMSNorms
  std::vector<param_id> untied_copies;     ///< new parameters: copies made by the untie policy
  std::vector<param_id> rank1_means;       ///< new parameters: the row means kept by rank-1
  std::vector<node_id> inserted_centerings;
  std::vector<node_id> affine_folded;      ///< norms whose γ/β moved into the following linears
};

template <class T>
struct converted_model {
  graph g;
  weight_set<T> weights;
  apply_summary summary;
};

namespace detail {

template <class T>
class plan_applier {
 public:
  plan_applier(graph& g, weight_set<T>& w, const fold_plan& plan, const apply_options& options)
      : g_(g), w_(w), plan_(plan), options_(options) {}

  apply_summary run() {
    validate();
    resolve_ties();  // before fusion: a fused scale must land on the source's own copy
    fuse_scales();
    center_sources();
    insert_stem_centerings();
    convert_norms();
    if (options_.fold_affine) fold_affines();
    return std::move(summary_);
  }

 private:
  void validate() const {
    require(w_.size() == g_.param_count(), "lnfold::apply_fold_plan: ", w_.size(), " weights given for a graph with ",
            g_.param_count(), " parameters");
    for (param_id p = 0; p < w_.size(); ++p)
      require(w_[p].dims() == g_.param_shape(p), "lnfold::apply_fold_plan: weight of parameter '", g_.param_name(p),
              "' has the wrong shape");
    for (const auto& v : plan_.lns)
      require(v.node < g_.node_count() && g_.node_op(v.node).kind == op_kind::layer_norm,
              "lnfold::apply_fold_plan: the plan's LN ", v.node, " is not a layer_norm of this graph (wrong plan?)");
  }

  // ---- 1. LayerScale fusion ----
  void fuse_scales() {
    for (const auto& f : plan_.fusions) {
      const op_desc lin = g_.node_op(f.linear);
      const tensor<T>& s = w_[f.scale];
      const bool in_out = lin.kind == op_kind::linear && lin.layout == weight_layout::in_out;
      const std::size_t out_axis = lin.kind == op_kind::conv_transpose || in_out ? 1 : 0;
      scale_along(w_[*lin.weight], out_axis, s, f);
      if (lin.bias) scale_along(w_[*lin.bias], 0, s, f);
      // The mul keeps reading the linear through both inputs and passes it on unchanged.
      const auto inputs = g_.node_inputs(f.mul);
      for (std::size_t i = 0; i < inputs.size(); ++i) g_.set_node_input(f.mul, i, f.linear);
      g_.set_node_op(f.mul, {.kind = op_kind::identity, .type = "fused_scale"});
    }
  }

  void scale_along(tensor<T>& t, std::size_t axis, const tensor<T>& s, const scale_fusion& f) {
    const std::size_t n = static_cast<std::size_t>(t.dim(axis));
    require(s.size() == n, "lnfold::apply_fold_plan: scale '", g_.param_name(f.scale), "' has ", s.size(),
            " values, the linear '", g_.node_name(f.linear), "' has ", n, " outputs");
    std::size_t inner = 1;
    for (std::size_t k = axis + 1; k < t.rank(); ++k) inner *= static_cast<std::size_t>(t.dim(k));
    for (std::size_t i = 0; i < t.size(); ++i) {
      const double scaled = static_cast<double>(t[i]) * static_cast<double>(s[(i / inner) % n]);
      t[i] = static_cast<T>(scaled);
    }
  }

  // ---- 2. tied parameters ----
  void resolve_ties() {
    for (const auto& c : plan_.tied) {
      if (c.resolution == tied_policy::refuse) continue;  // its region is not folded
      if (g_.node_op(c.source_use).kind == op_kind::constant && is_broadcast_source(c.source_use)) {
        untie_broadcast_constant(c.source_use);
        continue;
      }
      if (c.resolution == tied_policy::untie) untie(c.param, c.source_use);
      else compensate_rank1(c);
    }
  }

  bool is_broadcast_source(node_id n) const {
    return std::any_of(plan_.sources.begin(), plan_.sources.end(),
                       [&](const source_plan& s) { return s.node == n && s.kind == source_kind::broadcast_constant; });
  }

  // The source gets its own copy, which step 3 centers; the other uses keep the original.
  void untie(param_id p, node_id source) {
    if (copies_.contains({source, p})) return;
    const param_id q = add_param_copy(p, std::string(g_.param_name(p)) + ".untied." + std::string(g_.node_name(source)));
    op_desc op = g_.node_op(source);
    for (auto* slot : {&op.weight, &op.bias})
      if (*slot == p) *slot = q;
    g_.set_node_op(source, op);
    copies_[{source, p}] = q;
    summary_.untied_copies.push_back(q);
  }

  param_id add_param_copy(param_id p, const std::string& name) {
    const param_id q = g_.add_param(name, g_.param_shape(p));
    require(q == w_.size(), "lnfold::apply_fold_plan: the graph's new parameter ids are not dense");
    w_.push_back(w_[p]);
    return q;
  }

  // W̃ = W − m·1ᵀ over the centered axis, so W·h = W̃·h + m·(1ᵀh): the other use (a linear that
  // contracts the centered axis) adds (Σh)·m, computed from its own input h.
  void compensate_rank1(const tied_conflict& c) {
    if (compensated_.contains({c.other_use, c.param})) return;
    compensated_.insert({c.other_use, c.param});
    const op_desc op = g_.node_op(c.other_use);  // a copy: adding nodes below may move the graph's
    const tensor<T>& w = w_[c.param];
    require(op.kind == op_kind::linear && op.weight == c.param && w.rank() == 2,
            "lnfold::apply_fold_plan: rank-1 compensation needs a linear using '", g_.param_name(c.param),
            "' as its 2-D weight, not '", g_.node_name(c.other_use), "'");
    const bool out_in = op.layout == weight_layout::out_in;
    const std::size_t outs = static_cast<std::size_t>(w.dim(out_in ? 0 : 1)), ins = static_cast<std::size_t>(w.dim(out_in ? 1 : 0));
    tensor<T> means(shape{static_cast<std::int64_t>(outs)});
    for (std::size_t o = 0; o < outs; ++o) {
      double sum = 0;
      for (std::size_t i = 0; i < ins; ++i) sum += static_cast<double>(w[out_in ? o * ins + i : i * outs + o]);
      means[o] = static_cast<T>(sum / static_cast<double>(ins));
    }
    const std::string base = std::string(g_.node_name(c.other_use));
    const param_id m = g_.add_param(base + ".rank1_means", means.dims());
    w_.push_back(std::move(means));
    summary_.rank1_means.push_back(m);

    const node_id h = g_.node_inputs(c.other_use)[0];
    shape sum_shape = *g_.node_shape(h);
    sum_shape.back() = 1;
    const node_id total = g_.add_node(base + ".rank1_sum", {.kind = op_kind::reduce_sum, .axes = {-1}}, {h}, sum_shape);
    const node_id mean_node = g_.add_node(base + ".rank1_means", {.kind = op_kind::constant, .weight = m}, {},
                                          shape{static_cast<std::int64_t>(outs)});
    const auto out_shape = g_.node_shape(c.other_use);
    const node_id correction = g_.add_node(base + ".rank1_correction", {.kind = op_kind::mul}, {total, mean_node}, out_shape);
    const node_id fixed = redirect_consumers(c.other_use, [&](node_id head) {
      return g_.add_node(base + ".rank1_compensated", {.kind = op_kind::add}, {head, correction}, out_shape);
    });
    (void)fixed;
  }

  // Makes every reader of `n` (and the graph output flag) read make(n) instead.
  template <class Make>
  node_id redirect_consumers(node_id n, Make make) {
    std::vector<std::pair<node_id, std::size_t>> readers;
    for (node_id c = 0; c < g_.node_count(); ++c) {
      const auto in = g_.node_inputs(c);
      for (std::size_t i = 0; i < in.size(); ++i)
        if (in[i] == n) readers.emplace_back(c, i);
    }
    const node_id replacement = make(n);
    for (const auto& [c, i] : readers) g_.set_node_input(c, i, replacement);
    if (g_.is_graph_output(n)) {
      g_.set_graph_output(n, false);
      g_.set_graph_output(replacement, true);
    }
    return replacement;
  }

  // A constant shared with other readers: the reader that must see zero gets its own zero constant.
  void untie_broadcast_constant(node_id constant) {
    if (fresh_zero_.contains(constant)) return;
    const auto it = std::find_if(plan_.sources.begin(), plan_.sources.end(), [&](const source_plan& s) {
      return s.node == constant && s.kind == source_kind::broadcast_constant;
    });
    const node_id reader = *it->reader;
    const param_id p = *g_.node_op(constant).weight;
    const param_id q = add_param_copy(p, std::string(g_.param_name(p)) + ".zeroed." + std::string(g_.node_name(reader)));
    const node_id copy = g_.add_node(std::string(g_.node_name(constant)) + ".zeroed", {.kind = op_kind::constant, .weight = q},
                                     {}, g_.node_shape(constant));
    const auto in = g_.node_inputs(reader);
    for (std::size_t i = 0; i < in.size(); ++i)
      if (in[i] == constant) g_.set_node_input(reader, i, copy);
    fresh_zero_[constant] = q;
    summary_.untied_copies.push_back(q);
  }

  // ---- 3. centering ----
  void center_sources() {
    std::set<param_id> done;
    for (const auto& s : plan_.sources)
      for (const auto& cp : s.params) {
        param_id p = cp.param;
        if (const auto it = copies_.find({s.node, p}); it != copies_.end()) p = it->second;
        if (const auto it = fresh_zero_.find(s.node); it != fresh_zero_.end()) p = it->second;
        if (!done.insert(p).second) continue;  // shared by several sources: centering is idempotent anyway
        center_param(w_[p].view(), cp.axis);
        (cp.axis ? summary_.centered : summary_.zeroed).push_back(p);
      }
  }

  // ---- 4. stem centering ----
  void insert_stem_centerings() {
    for (const auto& st : plan_.stems) {
      const std::string name = std::string(g_.node_name(st.after)) + ".stem_center";
      const auto sh = g_.node_shape(st.after);
      const node_id c = redirect_consumers(st.after, [&](node_id after) {
        return g_.add_node(name, {.kind = op_kind::center, .axis = static_cast<std::int64_t>(st.axis)}, {after}, sh);
      });
      summary_.inserted_centerings.push_back(c);
    }
  }

  // ---- 5. LN -> RMSNorm ----
  void convert_norms() {
    for (const auto& v : plan_.lns) {
      if (!v.foldable) continue;
      op_desc op = g_.node_op(v.node);
      op.kind = op_kind::rms_norm;
      g_.set_node_op(v.node, std::move(op));
      summary_.converted.push_back(v.node);
    }
  }

  // ---- 6. affine folding ----
  // A norm whose only readers are linear layers contracting its axis, with weights nobody else uses,
  // hands its affine to them: W·(γ ⊙ n + β) + b = (W·diag(γ))·n + (b + W·β).
  void fold_affines() {
    std::vector<std::vector<node_id>> readers(g_.node_count());
    std::vector<std::size_t> param_uses(g_.param_count(), 0);
    for (node_id n = 0; n < g_.node_count(); ++n) {
      for (auto in : g_.node_inputs(n)) readers[in].push_back(n);
      const op_desc& op = g_.node_op(n);
      for (auto p : {op.weight, op.bias, op.gamma, op.beta})
        if (p) ++param_uses[*p];
    }
    for (node_id n = 0; n < g_.node_count(); ++n) {
      const op_desc norm = g_.node_op(n);  // a copy: absorbing edits the graph
      if (norm.kind != op_kind::layer_norm && norm.kind != op_kind::rms_norm) continue;
      if ((!norm.gamma && !norm.beta) || g_.is_graph_output(n) || readers[n].empty()) continue;
      const bool foldable = std::all_of(readers[n].begin(), readers[n].end(), [&](node_id r) {
        const op_desc& op = g_.node_op(r);
        return op.kind == op_kind::linear && (op.axis == -1 || op.axis + 1 == static_cast<std::int64_t>(g_.node_shape(r)->size())) &&
               norm.axes.empty() && g_.node_inputs(r).size() == 1 && op.weight && param_uses[*op.weight] == 1 &&
               (!op.bias || param_uses[*op.bias] == 1);
      });
      if (!foldable) continue;
      for (node_id r : readers[n]) absorb_affine(n, r);
      op_desc plain = norm;
      plain.gamma.reset();
      plain.beta.reset();
      g_.set_node_op(n, std::move(plain));
      summary_.affine_folded.push_back(n);
    }
  }

  void absorb_affine(node_id norm, node_id linear) {
    const op_desc nop = g_.node_op(norm);
    op_desc op = g_.node_op(linear);
    const bool out_in = op.layout == weight_layout::out_in;
    const shape wshape = w_[*op.weight].dims();
    const std::size_t outs = static_cast<std::size_t>(wshape[out_in ? 0 : 1]), ins = static_cast<std::size_t>(wshape[out_in ? 1 : 0]);
    if (nop.beta && !op.bias) {  // β needs somewhere to go; created before any reference into w_ is taken
      op.bias = g_.add_param(std::string(g_.node_name(linear)) + ".bias_from_beta", shape{static_cast<std::int64_t>(outs)});
      w_.emplace_back(shape{static_cast<std::int64_t>(outs)});
      g_.set_node_op(linear, op);
    }
    tensor<T>& w = w_[*op.weight];
    const auto at = [&](std::size_t o, std::size_t i) -> T& { return w[out_in ? o * ins + i : i * outs + o]; };
    if (nop.beta) {
      const tensor<T>& beta = w_[*nop.beta];
      tensor<T>& bias = w_[*op.bias];
      for (std::size_t o = 0; o < outs; ++o) {
        double sum = static_cast<double>(bias[o]);
        for (std::size_t i = 0; i < ins; ++i) sum += static_cast<double>(at(o, i)) * static_cast<double>(beta[i]);
        bias[o] = static_cast<T>(sum);
      }
    }
    if (nop.gamma) {
      const tensor<T>& gamma = w_[*nop.gamma];
      for (std::size_t o = 0; o < outs; ++o)
        for (std::size_t i = 0; i < ins; ++i) at(o, i) = static_cast<T>(static_cast<double>(at(o, i)) * static_cast<double>(gamma[i]));
    }
  }

  graph& g_;
  weight_set<T>& w_;
  const fold_plan& plan_;
  const apply_options& options_;
  apply_summary summary_;
  std::map<std::pair<node_id, param_id>, param_id> copies_;
  std::set<std::pair<node_id, param_id>> compensated_;
  std::map<node_id, param_id> fresh_zero_;
};

}  // namespace detail

/// Applies `plan` (from find_foldable on `g`) in place: see the top of this header for the steps.
/// Preconditions: weights[p] has g.param_shape(p) for every parameter; the plan was made for `g`.
/// Throws lnfold::error when they do not hold, or when a weight to center is not finite (nothing is
/// changed by a failed centering, but earlier steps may have run: use apply_fold_plan for all or
/// nothing).
template <class T>
apply_summary apply_fold_plan_in_place(graph& g, weight_set<T>& weights, const fold_plan& plan,
                                       const apply_options& options = {}) {
  return detail::plan_applier<T>(g, weights, plan, options).run();
}

/// Applies `plan` to copies of `g` and `weights`; the inputs are not modified.
template <class T>
converted_model<T> apply_fold_plan(const graph& g, const weight_set<T>& weights, const fold_plan& plan,
                                   const apply_options& options = {}) {
  converted_model<T> out{g, weights, {}};
  out.summary = apply_fold_plan_in_place(out.g, out.weights, plan, options);
  return out;
}

}  // namespace lnfold
