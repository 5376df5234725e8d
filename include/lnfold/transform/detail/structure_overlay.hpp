// structure_overlay<G>: a read-only foldable_graph seen as a mutable_graph, by recording the edits
// beside it instead of making them. Node ops, inputs and output flags that were set are kept in the
// overlay; nodes that were added get ids from node_count(base) on. Reading through the overlay shows
// the graph as edited, so the plan applier's later steps see its earlier ones.
//
// Used where the graph cannot (or must not) be edited in place: the weights-only path
// (transform/apply_to_weights.hpp), which hands the recorded edits to the engine, and the ONNX
// adapter (onnx/convert.hpp), which writes them into a model at the end.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lnfold/error.hpp"
#include "lnfold/graph/concepts.hpp"

namespace lnfold::detail {

template <class G>
class structure_overlay {
 public:
  struct added_node {
    std::string name;
    op_desc op;
    std::vector<node_id> inputs;
    shape dims;
  };

  /// Reads the base's structure once: O(nodes + edges). The base must outlive the overlay.
  explicit structure_overlay(const G& base)
      : base_(&base), base_count_(static_cast<std::size_t>(lnfold::node_count(base))) {
    inputs_.resize(base_count_);
    outputs_.resize(base_count_);
    for (node_id n = 0; n < base_count_; ++n) {
      for (auto in : lnfold::node_inputs(base, n)) inputs_[n].push_back(static_cast<node_id>(in));
      outputs_[n] = static_cast<bool>(lnfold::is_graph_output(base, n));
    }
  }

  // ---- reading, as edited --------------------------------------------------------------------------
  std::size_t node_count() const noexcept { return base_count_ + added_.size(); }
  std::span<const node_id> node_inputs(node_id n) const { return inputs_.at(checked(n)); }
  std::string node_name(node_id n) const {
    if (n < base_count_) return std::string(std::string_view(lnfold::node_name(*base_, n)));
    return added_[checked(n) - base_count_].name;
  }
  bool is_graph_output(node_id n) const { return outputs_.at(checked(n)); }
  op_desc node_op(node_id n) const {
    if (n >= base_count_) return added_[checked(n) - base_count_].op;
    if (const auto it = ops_.find(n); it != ops_.end()) return it->second;
    return lnfold::node_op(*base_, n);
  }
  std::optional<shape> node_shape(node_id n) const {
    if (n >= base_count_) return added_[checked(n) - base_count_].dims;
    return lnfold::node_shape(*base_, n);
  }

  // ---- editing (recorded) --------------------------------------------------------------------------
  void set_node_op(node_id n, const op_desc& op) {
    if (checked(n) >= base_count_) added_[n - base_count_].op = op;
    else ops_[n] = op;
  }
  node_id add_node(std::string_view name, const op_desc& op, std::span<const node_id> inputs, const shape& dims) {
    for (auto in : inputs)
      require(in < node_count(), "lnfold::apply_fold_plan: new node '", name, "' reads node ", in,
              ", which does not exist");
    added_.push_back({std::string(name), op, {inputs.begin(), inputs.end()}, dims});
    inputs_.emplace_back(inputs.begin(), inputs.end());
    outputs_.push_back(false);
    return node_count() - 1;
  }
  void set_node_input(node_id n, std::size_t index, node_id input) {
    auto& in = inputs_.at(checked(n));
    require(index < in.size() && input < node_count(), "lnfold::apply_fold_plan: node ", n, " has no input ", index,
            " or node ", input, " does not exist");
    in[index] = input;
    if (n >= base_count_) added_[n - base_count_].inputs[index] = input;
  }
  void set_graph_output(node_id n, bool exposed) { outputs_.at(checked(n)) = exposed; }

  // ---- what changed --------------------------------------------------------------------------------
  const G& base() const noexcept { return *base_; }
  std::size_t base_count() const noexcept { return base_count_; }
  /// The new op of base node n, when it was set.
  const op_desc* changed_op(node_id n) const {
    const auto it = ops_.find(n);
    return it == ops_.end() ? nullptr : &it->second;
  }
  const std::vector<added_node>& added() const noexcept { return added_; }
  /// Was base node n exposed as a graph output before the edits?
  bool was_graph_output(node_id n) const { return static_cast<bool>(lnfold::is_graph_output(*base_, n)); }

 private:
  node_id checked(node_id n) const {
    require(n < node_count(), "lnfold::apply_fold_plan: node ", n, " does not exist (the graph has ", node_count(),
            " nodes)");
    return n;
  }

  const G* base_;
  std::size_t base_count_;
  std::vector<std::vector<node_id>> inputs_;  // every node's inputs, as edited
  std::vector<bool> outputs_;
  std::map<node_id, op_desc> ops_;  // base nodes whose op was set
  std::vector<added_node> added_;
};

}  // namespace lnfold::detail
