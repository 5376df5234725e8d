// lnfold's built-in graph IR: for users without an IR of their own, for the architecture builders
// and for the tests. It satisfies mutable_graph through plain members (concepts.hpp).
//
// A node has an op (op_desc), its data inputs, a name and an output shape. Weights are parameters
// referenced by param_id from the ops, so two nodes that use one stored tensor (a tied embedding and
// output head) share the id. Nodes may only read nodes added before them, so a graph built with
// add_node is acyclic; set_node_input can rewire (the detector checks for cycles).
//
// Storage is one flat array per field instead of one heap-scattered record per node, so that a pass
// over every node (find_foldable reads inputs, op, shape and output flag) streams a few bytes per
// node and its time per node stays nearly flat from 10^3 to 10^6 nodes (bench/fold.cpp). Inputs sit
// in one array indexed by offsets (CSR), names in one character arena. Ops and shapes are interned:
// a node stores a 4-byte index into a table of distinct values, because an op_desc is ~290 bytes and
// a network repeats most of them (every GELU, residual add, softmax is the same op; only ops that
// name parameters are unique) and has only a handful of distinct activation shapes.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lnfold/detail/index_view.hpp"
#include "lnfold/error.hpp"
#include "lnfold/graph/op.hpp"

namespace lnfold {

namespace detail {

/// Distinct values of T, each stored once, contiguously, and numbered by first appearance. Values
/// are found by hash, then compared with ==.
template <class T, class Hash>
class intern_table {
 public:
  /// The number of `value`, adding it if it is new. O(1) on average.
  std::uint32_t intern(T value) {
    const std::size_t h = Hash{}(value);
    for (auto [it, end] = numbers_.equal_range(h); it != end; ++it)
      if (values_[it->second] == value) return it->second;
    require(values_.size() < std::numeric_limits<std::uint32_t>::max(),
            "lnfold::graph: more than 2^32 - 1 distinct ops or shapes");
    const auto number = static_cast<std::uint32_t>(values_.size());
    values_.push_back(std::move(value));
    numbers_.emplace(h, number);
    return number;
  }
  const T& operator[](std::uint32_t number) const { return values_[number]; }

 private:
  std::vector<T> values_;
  std::unordered_multimap<std::size_t, std::uint32_t> numbers_;  // hash -> number
};

// Hashes mix the fields that usually differ; equality still compares every field.
inline std::size_t mix_hash(std::size_t h, std::size_t v) noexcept { return (h ^ v) * 0x100000001b3u; }

struct shape_hash {
  std::size_t operator()(const std::optional<shape>& s) const noexcept {
    if (!s) return 0;
    std::size_t h = mix_hash(1, s->size());
    for (auto d : *s) h = mix_hash(h, static_cast<std::size_t>(d));
    return h;
  }
};

struct op_hash {
  std::size_t operator()(const op_desc& op) const noexcept {
    constexpr std::size_t none = ~std::size_t{0};
    std::size_t h = mix_hash(static_cast<std::size_t>(op.kind), static_cast<std::size_t>(op.axis));
    for (auto v : {op.weight.value_or(none), op.bias.value_or(none), op.gamma.value_or(none), op.beta.value_or(none),
                   op.axes.size(), op.perm.size(), std::hash<std::string>{}(op.type)})
      h = mix_hash(h, v);
    return h;
  }
};

}  // namespace detail

class graph {
 public:
  /// One node as operator[] and nodes() show it. The references and the span point into the graph:
  /// valid until the next add_node or set_node_op, like references to a std::vector's elements.
  struct node {
    std::string name;
    const op_desc& op;
    std::span<const node_id> inputs;
    const std::optional<lnfold::shape>& shape;  ///< nullopt: rank not known
    bool output;                                ///< exposed as a graph output
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
  /// or a parameter reference that does not exist. O(inputs + rank + size of op) on average (the op
  /// and the shape are looked up in hash tables).
  node_id add_node(std::string_view name, op_desc op, std::span<const node_id> inputs, std::optional<lnfold::shape> s) {
    const std::size_t n = node_count();
    for (auto in : inputs)
      detail::require(in < n, "lnfold::graph::add_node: input ", in, " of node '", name,
                      "' does not exist (the graph has ", n, " nodes)");
    for (auto p : {op.weight, op.bias, op.gamma, op.beta})
      detail::require(!p || *p < params_.size(), "lnfold::graph::add_node: node '", name, "' references parameter ",
                      p.value_or(0), " which does not exist");
    detail::require(n + 1 < std::numeric_limits<std::uint32_t>::max(), "lnfold::graph::add_node: node '", name,
                    "' would be node ", n, "; at most ", std::numeric_limits<std::uint32_t>::max() - 2,
                    " are supported");
    const std::uint32_t op_number = ops_.intern(std::move(op)), shape_number = shapes_.intern(std::move(s));
    names_.append(name);
    name_end_.push_back(names_.size());
    input_ids_.insert(input_ids_.end(), inputs.begin(), inputs.end());
    input_end_.push_back(input_ids_.size());
    op_of_.push_back(op_number);
    shape_of_.push_back(shape_number);
    outputs_.push_back(0);
    return n;
  }
  node_id add_node(std::string_view name, op_desc op, std::initializer_list<node_id> inputs,
                   std::optional<lnfold::shape> s) {
    return add_node(name, std::move(op), std::span<const node_id>(inputs.begin(), inputs.size()), std::move(s));
  }

  /// References returned earlier by node_op(n) keep showing the old op.
  void set_node_op(node_id n, op_desc op) { op_of_[checked(n, "set_node_op")] = ops_.intern(std::move(op)); }
  void set_node_input(node_id n, std::size_t index, node_id input) {
    const auto in = node_inputs(n);
    detail::require(index < in.size(), "lnfold::graph::set_node_input: node '", node_name(n), "' has ", in.size(),
                    " inputs, index ", index, " is out of range");
    detail::require(input < node_count(), "lnfold::graph::set_node_input: input ", input, " does not exist");
    input_ids_[input_begin(n) + index] = input;
  }
  void set_graph_output(node_id n, bool exposed = true) { outputs_[checked(n, "set_graph_output")] = exposed ? 1 : 0; }

  // ---- reading (readable_graph, foldable_graph) -------------------------------------------------

  std::size_t node_count() const noexcept { return op_of_.size(); }
  std::span<const node_id> node_inputs(node_id n) const {
    const std::size_t begin = input_begin(checked(n, "node_inputs"));
    return {input_ids_.data() + begin, input_end_[n] - begin};
  }
  std::string_view node_name(node_id n) const {
    const std::size_t begin = checked(n, "node_name") == 0 ? 0 : name_end_[n - 1];
    return std::string_view(names_).substr(begin, name_end_[n] - begin);
  }
  bool is_graph_output(node_id n) const { return outputs_[checked(n, "is_graph_output")] != 0; }
  /// node_op and node_shape return references into the tables of distinct values (nodes with equal
  /// ops or shapes share one), valid until the next add_node or set_node_op.
  const op_desc& node_op(node_id n) const { return ops_[op_of_[checked(n, "node_op")]]; }
  const std::optional<lnfold::shape>& node_shape(node_id n) const {
    return shapes_[shape_of_[checked(n, "node_shape")]];
  }

  std::size_t param_count() const noexcept { return params_.size(); }
  std::string_view param_name(param_id p) const { return param_at(p).name; }
  const lnfold::shape& param_shape(param_id p) const { return param_at(p).shape; }

  /// Node n's fields. The name is a copy; reading a single field through node_op and the other
  /// calls above copies nothing.
  node operator[](node_id n) const {
    return {std::string(node_name(n)), node_op(n), node_inputs(n), node_shape(n), is_graph_output(n)};
  }
  /// Every node, in id order, as operator[] shows it (a random-access view).
  auto nodes() const {
    return detail::index_view(node_count(), [this](node_id n) { return (*this)[n]; });
  }
  std::span<const parameter> params() const noexcept { return params_; }

  /// The first node called `name`; throws lnfold::error if there is none. O(nodes).
  node_id find(std::string_view name) const {
    for (node_id n = 0; n < node_count(); ++n)
      if (node_name(n) == name) return n;
    detail::fail(detail::concat("lnfold::graph::find: no node named '", name, "'"));
  }
  /// The first parameter called `name`; throws lnfold::error if there is none. O(params).
  param_id find_param(std::string_view name) const {
    auto it = std::find_if(params_.begin(), params_.end(), [&](const parameter& p) { return p.name == name; });
    detail::require(it != params_.end(), "lnfold::graph::find_param: no parameter named '", name, "'");
    return static_cast<param_id>(it - params_.begin());
  }

 private:
  node_id checked(node_id n, const char* what) const {
    detail::require(n < node_count(), "lnfold::graph::", what, ": node ", n, " does not exist (the graph has ",
                    node_count(), " nodes)");
    return n;
  }
  std::size_t input_begin(node_id n) const { return n == 0 ? 0 : input_end_[n - 1]; }
  const parameter& param_at(param_id p) const {
    detail::require(p < params_.size(), "lnfold::graph: parameter ", p, " does not exist (the graph has ",
                    params_.size(), " parameters)");
    return params_[p];
  }

  // Per node n: its name is names_[name_end_[n-1], name_end_[n]), its inputs likewise in input_ids_.
  std::string names_;
  std::vector<std::size_t> name_end_;
  std::vector<node_id> input_ids_;
  std::vector<std::size_t> input_end_;
  std::vector<std::uint32_t> op_of_;     // number in ops_
  std::vector<std::uint32_t> shape_of_;  // number in shapes_
  std::vector<char> outputs_;
  detail::intern_table<op_desc, detail::op_hash> ops_;
  detail::intern_table<std::optional<lnfold::shape>, detail::shape_hash> shapes_;
  std::vector<parameter> params_;
};

}  // namespace lnfold
