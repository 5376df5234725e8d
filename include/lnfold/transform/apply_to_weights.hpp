// apply_fold_plan_to_weights: the weights-only path, for engines that rewrite their graph themselves.
// The plan is applied by the same applier as apply_fold_plan (detail/plan_applier.hpp), to the
// engine's own tensors, reached through a lookup from parameter id to tensor; the graph is only read.
// Every edit the applier would have made to the graph comes back as data (weight_edits), so that
// the engine makes exactly those edits, and none can be skipped without noticing: weight_edits::
// to_text lists them all, and a converted model is exact only once every one is made.
//
// What the engine receives, in apply_summary's records (transform/apply_summary.hpp):
//   converted      the LN nodes to run as RMSNorm (same γ, β, ε, axes)
//   untied         node N must read its own copy of a parameter: the copy's values are in new_params
//   zeroed_copies  reader R must read a zero constant (new_params) instead of the broadcast constant
//   rank1          after linear L (input h), add (Σ of h over `axis`, keep dims)·m, m in new_params;
//                  L's readers and graph output take the sum
//   fused          mul node M passes its input 0 through (the scale is now inside the linear and,
//                  behind a bias add, inside that bias too)
//   stems          insert x − mean(x) over `axis` after node A, read by all of A's readers
//   affine_folded  norm N loses γ and β (already folded into the linears' tensors; new biases in
//                  new_params)
// The engine's tensors of the planned parameters are edited in place (centered, scaled, folded).
// Node ids from node_count(g) on, in the records, are nodes the applier would have added; the
// engine adds its own equivalents. Parameter ids of new parameters are above every id the graph uses.
#pragma once

#include <algorithm>
#include <cstddef>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "lnfold/error.hpp"
#include "lnfold/fold/plan.hpp"
#include "lnfold/graph/concepts.hpp"
#include "lnfold/tensor/tensor.hpp"
#include "lnfold/tensor/view.hpp"
#include "lnfold/transform/apply_summary.hpp"
#include "lnfold/transform/detail/plan_applier.hpp"
#include "lnfold/transform/detail/structure_overlay.hpp"

namespace lnfold {

/// A parameter the weights-only path created: an untied or zeroed copy, rank-1 means, a new bias.
template <class T>
struct new_param {
  param_id id = 0;
  std::string name;
  tensor<T> values;
};

/// What apply_fold_plan_to_weights did to the engine's tensors and what the engine must still do.
template <class T>
struct weight_edits {
  apply_summary summary;
  std::vector<new_param<T>> new_params;

  /// The values of new parameter `id`; throws lnfold::error when it was not created here.
  const tensor<T>& values(param_id id) const {
    for (const auto& p : new_params)
      if (p.id == id) return p.values;
    detail::fail(detail::concat("lnfold::weight_edits::values: parameter ", id, " was not created by the plan"));
  }
};

namespace detail {

/// The recording model of rewritable_graph behind apply_fold_plan_to_weights: structure edits go to
/// an overlay, parameter values to the engine's tensors (existing ids) or to new_params (new ids).
template <class G, class Lookup, class T>
class weights_only_graph : public structure_overlay<G> {
 public:
  weights_only_graph(const G& g, Lookup& lookup, const fold_plan& plan) : structure_overlay<G>(g), lookup_(lookup) {
    // New parameter ids go above every id the graph or the plan uses.
    const auto see = [&](std::optional<param_id> p) {
      if (p) next_id_ = std::max(next_id_, *p + 1);
    };
    for (node_id n = 0; n < this->base_count(); ++n) {
      const op_desc op = lnfold::node_op(g, n);
      for (const auto& p : {op.weight, op.bias, op.gamma, op.beta}) see(p);
    }
    for (const auto& s : plan.sources)
      for (const auto& cp : s.params) see(cp.param);
  }

  std::string param_name(param_id p) const {
    if (const auto* q = created(p)) return q->name;
    return std::string(std::string_view(lnfold::param_name(this->base(), p)));
  }
  shape param_shape(param_id p) const {
    if (const auto* q = created(p)) return q->values.dims();
    const auto v = engine_view(p);
    return shape(v.extents.begin(), v.extents.end());
  }
  template <class F>
  void visit_param(param_id p, F&& f) const {
    if (const auto* q = created(p)) return std::forward<F>(f)(q->values.view());
    std::forward<F>(f)(tensor_view<const T>(engine_view(p)));
  }
  template <class F>
  void edit_param(param_id p, F&& f) {
    if (auto* q = created(p)) return std::forward<F>(f)(q->values.view());
    std::forward<F>(f)(engine_view(p));
  }
  param_id copy_param(param_id p, std::string_view name) {
    tensor<T> copy(param_shape(p));
    std::size_t i = 0;
    visit_param(p, [&](const auto& v) {
      for_each_indexed(v, [&](const auto& x, std::span<const std::size_t>) { copy[i++] = static_cast<T>(x); });
    });
    return create(name, std::move(copy));
  }
  param_id add_param_like(param_id, std::string_view name, const shape& s) { return create(name, tensor<T>(s)); }

  std::vector<new_param<T>> take_new_params() { return std::move(created_); }

 private:
  // The engine's tensor for parameter p, as a writable view.
  auto engine_view(param_id p) const {
    auto&& t = lookup_(p);
    static_assert(writable_tensor_like<decltype(t)>,
                  "lnfold::apply_fold_plan_to_weights: the lookup must return a writable tensor (an lvalue of a "
                  "type with a lnfold::as_tensor_view customization, see lnfold/tensor/view.hpp)");
    return as_tensor_view(t);
  }
  const new_param<T>* created(param_id p) const {
    for (const auto& q : created_)
      if (q.id == p) return &q;
    return nullptr;
  }
  new_param<T>* created(param_id p) {
    for (auto& q : created_)
      if (q.id == p) return &q;
    return nullptr;
  }
  param_id create(std::string_view name, tensor<T> values) {
    created_.push_back({next_id_, std::string(name), std::move(values)});
    return next_id_++;
  }

  Lookup& lookup_;
  param_id next_id_ = 0;
  std::vector<new_param<T>> created_;
};

template <class Lookup>
using looked_up_element_t =
    std::remove_const_t<tensor_element_t<std::remove_reference_t<std::invoke_result_t<Lookup&, param_id>>>>;

}  // namespace detail

/// Applies `plan` (find_foldable on `g`) to the engine's tensors: lookup(p) returns a writable
/// tensor (an lvalue of any type with a lnfold::as_tensor_view customization) for every parameter
/// id the plan names. `g` is only read (it must model foldable_graph). Returns the graph edits the
/// engine must still make and the parameters it must add (see the top of this header).
/// Throws lnfold::error like apply_fold_plan; the engine's tensors may then be partly edited.
template <class G, class Lookup>
[[nodiscard]] weight_edits<detail::looked_up_element_t<Lookup>> apply_fold_plan_to_weights(
    const G& g, const fold_plan& plan, Lookup&& lookup, const apply_options& options = {}) {
  using T = detail::looked_up_element_t<Lookup>;
  static_assert(std::is_floating_point_v<T>,
                "lnfold::apply_fold_plan_to_weights: tensors of float, double or long double");
  detail::weights_only_graph<G, std::remove_reference_t<Lookup>, T> recorder(g, lookup, plan);
  weight_edits<T> out;
  out.summary = detail::plan_applier<decltype(recorder)>(recorder, plan, options).run();
  out.new_params = recorder.take_new_params();
  return out;
}

/// The edits left for the engine, one per line, by node and parameter name.
template <class G, class T>
std::string to_text(const weight_edits<T>& e, const G& g) {
  const auto node = [&](node_id n) {
    return n < static_cast<std::size_t>(lnfold::node_count(g)) ? std::string(std::string_view(lnfold::node_name(g, n)))
                                                               : "(new node " + std::to_string(n) + ")";
  };
  const auto param = [&](param_id p) {
    for (const auto& q : e.new_params)
      if (q.id == p) return q.name;
    return std::string(std::string_view(lnfold::param_name(g, p)));
  };
  std::ostringstream out;
  const auto& s = e.summary;
  for (const auto& u : s.untied)
    out << "untie: '" << node(u.node) << "' reads its own copy '" << param(u.copy) << "' of '" << param(u.original)
        << "'\n";
  for (const auto& z : s.zeroed_copies)
    out << "zero copy: '" << node(z.reader) << "' reads '" << param(z.copy) << "' (zeros) instead of '"
        << node(z.constant) << "'\n";
  for (const auto& r : s.rank1)
    out << "rank-1: after '" << node(r.linear) << "' add (sum of '" << node(r.input) << "' over axis " << r.axis
        << ")·'" << param(r.means) << "'; its readers read the sum\n";
  for (const auto& f : s.fused)
    out << "fused scale: '" << node(f.mul) << "' passes '" << node(f.scaled) << "' through\n";
  for (const auto& st : s.stems)
    out << "stem centering: insert x - mean(x) over axis " << st.axis << " after '" << node(st.after) << "'\n";
  for (const auto n : s.converted) out << "RMSNorm: '" << node(n) << "'\n";
  for (const auto& a : s.affine_folded) {
    out << "affine folded: '" << node(a.norm) << "' drops gamma and beta";
    for (const auto& r : a.linears)
      if (r.new_bias) out << "; '" << node(r.linear) << "' gets the bias '" << param(*r.new_bias) << "'";
    out << "\n";
  }
  return out.str();
}

}  // namespace lnfold
