// lnfold's built-in graph IR: for users without an IR of their own, for the architecture builders
// and for the tests. It satisfies mutable_graph through plain members (concepts.hpp).
//
// A node has an op (op_desc), its data inputs, a name and an output shape. Weights are parameters
// referenced by param_id from the ops, so two nodes that use one stored tensor (a tied embedding and
// output head) share the id. Nodes may only read nodes added before them, so a graph built with
// add_node is acyclic; set_node_input can rewire (the detector checks for cycles).
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lnfold/error.hpp"
#include "lnfold/graph/op.hpp"

namespace lnfold {

class graph {
 public:
  struct node {
    std::string name;
    op_desc op;
    std::vector<node_id> inputs;
    std::optional<lnfold::shape> shape;  ///< nullopt: rank not known
    bool output = false;                 ///< exposed as a graph output
  };
  struct parameter {
    std::string name;
    lnfold::shape shape;
  };

  // ---- building and editing (mutable_graph) -----------------------------------------------------

  /// Declares a stored tensor. Throws lnfold::error on a negative dim.
  param_id add_param(std::string_view name, lnfold::shape s) {
    for (auto dim : s)
      detail::require(dim >= 0, "lnfold::graph::add_param: shape of '", name, "' has negative dim ", dim);
    params_.push_back({std::string(name), std::move(s)});
    return params_.size() - 1;
  }

  /// Appends a node reading `inputs` (which must exist). Throws lnfold::error on a dangling input
  /// or a parameter reference that does not exist. O(inputs).
  node_id add_node(std::string_view name, op_desc op, std::span<const node_id> inputs,
                   std::optional<lnfold::shape> s) {
    for (auto in : inputs)
      detail::require(in < nodes_.size(), "lnfold::graph::add_node: input ", in, " of node '", name,
                      "' does not exist (the graph has ", nodes_.size(), " nodes)");
    for (auto p : {op.weight, op.bias, op.gamma, op.beta})
      detail::require(!p || *p < params_.size(), "lnfold::graph::add_node: node '", name,
                      "' references parameter ", p.value_or(0), " which does not exist");
    nodes_.push_back({std::string(name), std::move(op), {inputs.begin(), inputs.end()}, std::move(s), false});
    return nodes_.size() - 1;
  }
  node_id add_node(std::string_view name, op_desc op, std::initializer_list<node_id> inputs,
                   std::optional<lnfold::shape> s) {
    return add_node(name, std::move(op), std::span<const node_id>(inputs.begin(), inputs.size()), std::move(s));
  }

  void set_node_op(node_id n, op_desc op) { at(n, "set_node_op").op = std::move(op); }
  void set_node_input(node_id n, std::size_t index, node_id input) {
    auto& nd = at(n, "set_node_input");
    detail::require(index < nd.inputs.size(), "lnfold::graph::set_node_input: node '", nd.name, "' has ",
                    nd.inputs.size(), " inputs, index ", index, " is out of range");
    detail::require(input < nodes_.size(), "lnfold::graph::set_node_input: input ", input, " does not exist");
    nd.inputs[index] = input;
  }
  void set_graph_output(node_id n, bool exposed = true) { at(n, "set_graph_output").output = exposed; }

  // ---- reading (readable_graph, foldable_graph) -------------------------------------------------

  std::size_t node_count() const noexcept { return nodes_.size(); }
  std::span<const node_id> node_inputs(node_id n) const { return at(n, "node_inputs").inputs; }
  std::string_view node_name(node_id n) const { return at(n, "node_name").name; }
  bool is_graph_output(node_id n) const { return at(n, "is_graph_output").output; }
  const op_desc& node_op(node_id n) const { return at(n, "node_op").op; }
  const std::optional<lnfold::shape>& node_shape(node_id n) const { return at(n, "node_shape").shape; }

  std::size_t param_count() const noexcept { return params_.size(); }
  std::string_view param_name(param_id p) const { return param_at(p).name; }
  const lnfold::shape& param_shape(param_id p) const { return param_at(p).shape; }

  const node& operator[](node_id n) const { return at(n, "operator[]"); }
  std::span<const node> nodes() const noexcept { return nodes_; }
  std::span<const parameter> params() const noexcept { return params_; }

  /// The first node called `name`; throws lnfold::error if there is none. O(nodes).
  node_id find(std::string_view name) const {
    auto it = std::find_if(nodes_.begin(), nodes_.end(), [&](const node& nd) { return nd.name == name; });
    detail::require(it != nodes_.end(), "lnfold::graph::find: no node named '", name, "'");
    return static_cast<node_id>(it - nodes_.begin());
  }
  /// The first parameter called `name`; throws lnfold::error if there is none. O(params).
  param_id find_param(std::string_view name) const {
    auto it = std::find_if(params_.begin(), params_.end(), [&](const parameter& p) { return p.name == name; });
    detail::require(it != params_.end(), "lnfold::graph::find_param: no parameter named '", name, "'");
    return static_cast<param_id>(it - params_.begin());
  }

 private:
  const node& at(node_id n, const char* what) const {
    detail::require(n < nodes_.size(), "lnfold::graph::", what, ": node ", n, " does not exist (the graph has ",
                    nodes_.size(), " nodes)");
    return nodes_[n];
  }
  node& at(node_id n, const char* what) { return const_cast<node&>(std::as_const(*this).at(n, what)); }
  const parameter& param_at(param_id p) const {
    detail::require(p < params_.size(), "lnfold::graph: parameter ", p, " does not exist (the graph has ",
                    params_.size(), " parameters)");
    return params_[p];
  }

  std::vector<node> nodes_;
  std::vector<parameter> params_;
};

}  // namespace lnfold
