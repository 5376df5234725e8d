// lnfold::weighted_graph<T>: the built-in IR and its weights seen as one rewritable_graph
// (transform/rewritable_graph.hpp), so that apply_fold_plan runs on them like on any other graph.
// lnfold::graph keeps only the structure and the parameters' names and shapes; the values live in a
// weight_set<T> indexed by param_id. This view edits both in place and keeps them in step: a new
// parameter is declared in the graph and its values appended to the weight set.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>
#include <utility>

#include "lnfold/error.hpp"
#include "lnfold/graph/ir.hpp"
#include "lnfold/tensor/tensor.hpp"

namespace lnfold {

template <class T>
class weighted_graph {
 public:
  /// Throws lnfold::error unless `weights` holds one tensor per parameter of `g`, shaped as declared.
  weighted_graph(graph& g, weight_set<T>& weights) : g_(&g), w_(&weights) {
    detail::require(weights.size() == g.param_count(), "lnfold::weighted_graph: ", weights.size(),
                    " weights given for a graph with ", g.param_count(), " parameters");
    for (param_id p = 0; p < weights.size(); ++p)
      detail::require(weights[p].dims() == g.param_shape(p), "lnfold::weighted_graph: the weight of parameter '",
                      g.param_name(p), "' has the wrong shape");
  }

  // ---- reading (foldable_graph): the graph's --------------------------------------------------------
  std::size_t node_count() const noexcept { return g_->node_count(); }
  std::span<const node_id> node_inputs(node_id n) const { return g_->node_inputs(n); }
  std::string_view node_name(node_id n) const { return g_->node_name(n); }
  bool is_graph_output(node_id n) const { return g_->is_graph_output(n); }
  const op_desc& node_op(node_id n) const { return g_->node_op(n); }
  const std::optional<shape>& node_shape(node_id n) const { return g_->node_shape(n); }
  std::string_view param_name(param_id p) const { return g_->param_name(p); }

  // ---- editing the structure (mutable_graph) --------------------------------------------------------
  void set_node_op(node_id n, const op_desc& op) { g_->set_node_op(n, op); }
  node_id add_node(std::string_view name, const op_desc& op, std::span<const node_id> inputs, const shape& s) {
    return g_->add_node(name, op, inputs, s);
  }
  void set_node_input(node_id n, std::size_t index, node_id input) { g_->set_node_input(n, index, input); }
  void set_graph_output(node_id n, bool exposed) { g_->set_graph_output(n, exposed); }

  // ---- parameter values (rewritable_graph) ----------------------------------------------------------
  const shape& param_shape(param_id p) const { return g_->param_shape(p); }
  template <class F>
  void visit_param(param_id p, F&& f) const {
    std::forward<F>(f)(std::as_const((*w_)[checked(p)]).view());
  }
  template <class F>
  void edit_param(param_id p, F&& f) {
    std::forward<F>(f)((*w_)[checked(p)].view());
  }
  param_id copy_param(param_id p, std::string_view name) {
    tensor<T> values = (*w_)[checked(p)];  // a copy first: growing the weight set moves its tensors
    return append(name, std::move(values));
  }
  param_id add_param_like(param_id, std::string_view name, const shape& s) { return append(name, tensor<T>(s)); }

  graph& structure() noexcept { return *g_; }
  weight_set<T>& weights() noexcept { return *w_; }

 private:
  param_id checked(param_id p) const {
    detail::require(p < w_->size(), "lnfold::weighted_graph: parameter ", p, " does not exist (the graph has ",
                    w_->size(), " parameters)");
    return p;
  }
  param_id append(std::string_view name, tensor<T> values) {
    const param_id q = g_->add_param(name, values.dims());
    w_->push_back(std::move(values));
    return q;
  }

  graph* g_;
  weight_set<T>* w_;
};

}  // namespace lnfold
