// A validated, flat snapshot of a foldable_graph that the detector can walk in linear time:
// inputs and consumers in CSR form, op kinds, shapes, and one "state" slot per (node, axis).
// Building it reads every customization point once per node; it throws lnfold::error on a dangling
// input or a cycle, the only graph defects that would make the analysis meaningless.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "lnfold/error.hpp"
#include "lnfold/graph/concepts.hpp"
#include "lnfold/graph/taxonomy.hpp"

namespace lnfold::detail {

inline constexpr std::size_t no_state = static_cast<std::size_t>(-1);

template <foldable_graph G>
class graph_index {
 public:
  struct use {
    node_id consumer;
    std::size_t input;
  };

  explicit graph_index(const G& g) : g_(g), n_(static_cast<std::size_t>(lnfold::node_count(g))) {
    read_structure();
    check_acyclic();
    read_ops_and_shapes();
  }

  std::size_t size() const noexcept { return n_; }
  const G& graph() const noexcept { return g_; }

  std::span<const node_id> inputs(node_id n) const {
    return {input_ids_.data() + input_begin_[n], input_begin_[n + 1] - input_begin_[n]};
  }
  std::span<const use> consumers(node_id n) const {
    return {uses_.data() + use_begin_[n], use_begin_[n + 1] - use_begin_[n]};
  }
  bool is_output(node_id n) const { return outputs_[n] != 0; }
  op_kind kind(node_id n) const { return kinds_[n]; }
  const op_desc& op(node_id n) const {
    if constexpr (ops_by_reference) return *op_refs_[n];
    else return op_values_[n];
  }
  dims_view dims(node_id n) const {
    if (!rank_known_[n]) return std::nullopt;
    return std::span<const std::int64_t>(dims_.data() + state_begin_[n], state_begin_[n + 1] - state_begin_[n]);
  }
  /// Rank if known, else 0 (no states).
  std::size_t rank(node_id n) const { return state_begin_[n + 1] - state_begin_[n]; }

  // ---- states: one per (node, axis) of a node of known rank ----
  std::size_t state_count() const noexcept { return state_begin_[n_]; }
  std::size_t state(node_id n, std::size_t axis) const {
    return axis < rank(n) ? state_begin_[n] + axis : no_state;
  }
  node_id state_node(std::size_t s) const { return state_nodes_[s]; }
  std::size_t state_axis(std::size_t s) const { return s - state_begin_[state_nodes_[s]]; }

  /// Dims and kinds of n's inputs, in scratch storage valid until the next call.
  std::span<const dims_view> input_dims(node_id n) const {
    scratch_dims_.clear();
    for (auto m : inputs(n)) scratch_dims_.push_back(dims(m));
    return scratch_dims_;
  }
  std::span<const op_kind> input_kinds(node_id n) const {
    scratch_kinds_.clear();
    for (auto m : inputs(n)) scratch_kinds_.push_back(kinds_[m]);
    return scratch_kinds_;
  }

  std::string name(node_id n) const { return std::string(std::string_view(lnfold::node_name(g_, n))); }

 private:
  using op_result = decltype(lnfold::node_op(std::declval<const G&>(), node_id{}));
  static constexpr bool ops_by_reference = std::is_lvalue_reference_v<op_result>;

  void read_structure() {
    input_begin_.assign(n_ + 1, 0);
    input_ids_.reserve(2 * n_);
    outputs_.assign(n_, 0);
    std::vector<std::size_t> use_count(n_ + 1, 0);
    for (node_id n = 0; n < n_; ++n) {
      for (auto in : lnfold::node_inputs(g_, n)) {
        const auto m = static_cast<node_id>(in);
        require(m < n_, "lnfold::find_foldable: node ", n, " ('", name(n), "') reads input ", m,
                " which does not exist (the graph has ", n_, " nodes)");
        input_ids_.push_back(m);
        ++use_count[m + 1];
      }
      input_begin_[n + 1] = input_ids_.size();
      outputs_[n] = lnfold::is_graph_output(g_, n) ? 1 : 0;
    }
    use_begin_.assign(n_ + 1, 0);
    for (std::size_t i = 0; i < n_; ++i) use_begin_[i + 1] = use_begin_[i] + use_count[i + 1];
    uses_.resize(input_ids_.size());
    std::vector<std::size_t> fill(use_begin_.begin(), use_begin_.end() - 1);
    for (node_id n = 0; n < n_; ++n) {
      const auto in = inputs(n);
      for (std::size_t i = 0; i < in.size(); ++i) uses_[fill[in[i]]++] = {n, i};
    }
  }

  // Kahn's algorithm: a node left with unprocessed inputs lies on (or behind) a cycle.
  void check_acyclic() const {
    std::vector<std::size_t> pending(n_);
    std::vector<node_id> ready;
    for (node_id n = 0; n < n_; ++n) {
      pending[n] = inputs(n).size();
      if (pending[n] == 0) ready.push_back(n);
    }
    std::size_t done = 0;
    while (!ready.empty()) {
      const node_id n = ready.back();
      ready.pop_back();
      ++done;
      for (const auto& u : consumers(n))
        if (--pending[u.consumer] == 0) ready.push_back(u.consumer);
    }
    if (done == n_) return;
    for (node_id n = 0; n < n_; ++n)
      require(pending[n] == 0, "lnfold::find_foldable: the graph has a cycle through node ", n, " ('", name(n), "')");
  }

  void read_ops_and_shapes() {
    kinds_.resize(n_);
    rank_known_.assign(n_, 0);
    state_begin_.assign(n_ + 1, 0);
    dims_.reserve(3 * n_);
    if constexpr (ops_by_reference) op_refs_.reserve(n_);
    else op_values_.reserve(n_);
    for (node_id n = 0; n < n_; ++n) {
      if constexpr (ops_by_reference) {
        op_refs_.push_back(&lnfold::node_op(g_, n));
        kinds_[n] = op_refs_.back()->kind;
      } else {
        op_values_.push_back(lnfold::node_op(g_, n));
        kinds_[n] = op_values_.back().kind;
      }
      // Binds to the graph's own optional when it returns a reference (no copy), else to a temporary.
      const std::optional<shape>& s = lnfold::node_shape(g_, n);
      if (s) {
        rank_known_[n] = 1;
        dims_.insert(dims_.end(), s->begin(), s->end());
      }
      state_begin_[n + 1] = dims_.size();
    }
    state_nodes_.resize(dims_.size());
    for (node_id n = 0; n < n_; ++n)
      for (std::size_t s = state_begin_[n]; s < state_begin_[n + 1]; ++s) state_nodes_[s] = n;
  }

  const G& g_;
  std::size_t n_;
  std::vector<std::size_t> input_begin_;
  std::vector<node_id> input_ids_;
  std::vector<std::size_t> use_begin_;
  std::vector<use> uses_;
  std::vector<char> outputs_;
  std::vector<op_kind> kinds_;
  std::vector<const op_desc*> op_refs_;
  std::vector<op_desc> op_values_;
  std::vector<char> rank_known_;
  std::vector<std::int64_t> dims_;         // all shapes, back to back; one state per dim
  std::vector<std::size_t> state_begin_;  // node n's states are [state_begin_[n], state_begin_[n+1])
  std::vector<node_id> state_nodes_;
  mutable std::vector<dims_view> scratch_dims_;
  mutable std::vector<op_kind> scratch_kinds_;
};

}  // namespace lnfold::detail
