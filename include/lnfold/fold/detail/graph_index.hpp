// A validated, flat snapshot of a foldable_graph that the detector can walk in linear time:
// inputs and consumers in CSR form, op kinds, shapes, one "state" slot per (node, axis), and every
// parameter use. Building it reads every customization point once per node, in one pass; it throws
// lnfold::error on a dangling input or a cycle, the only graph defects that would make the analysis
// meaningless.
//
// Ids and offsets are 32-bit and every per-node array is flat: on graphs of millions of nodes the
// detector is bound by memory traffic, so the index is kept small enough that the time per node
// stays roughly constant from 10^3 to 10^6 nodes (bench/fold.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "lnfold/error.hpp"
#include "lnfold/fold/detail/large_allocator.hpp"
#include "lnfold/graph/concepts.hpp"
#include "lnfold/graph/taxonomy.hpp"

namespace lnfold::detail {

using index_t = std::uint32_t;  ///< node, state, edge and region ids inside the detector
inline constexpr std::size_t no_state = static_cast<std::size_t>(-1);

/// One use of a parameter by a node, in node order. `slot` is the op_desc field: 0 weight, 1 bias,
/// 2 gamma, 3 beta.
struct param_entry {
  param_id param;
  index_t node;
  index_t slot;
};

/// The fields of an op_desc that the taxonomy reads (classify_producer / classify_consumer), with
/// the parameters reduced to their presence: a copy of a few bytes that never touches the graph.
struct op_view {
  op_kind kind = op_kind::unknown;
  std::int64_t axis = -1;
  std::int64_t groups = 1;
  bool keep_dims = true;
  weight_layout layout = weight_layout::out_in;
  bool weight = false, bias = false, gamma = false, beta = false;
  std::span<const std::int64_t> axes, perm, pads;
};

template <foldable_graph G>
class graph_index {
 public:
  struct use {
    index_t consumer;
    index_t input;
  };

  explicit graph_index(const G& g) : g_(g), n_(static_cast<std::size_t>(lnfold::node_count(g))) {
    require_fits(n_, "nodes");
    read_graph();
    if (!topologically_ordered_) check_acyclic();
  }

  std::size_t size() const noexcept { return n_; }
  const G& graph() const noexcept { return g_; }

  std::span<const index_t> inputs(node_id n) const {
    return {input_ids_.data() + input_begin_[n], input_begin_[n + 1] - input_begin_[n]};
  }
  std::span<const use> consumers(node_id n) const {
    return {uses_.data() + use_begin_[n], use_begin_[n + 1] - use_begin_[n]};
  }
  bool is_output(node_id n) const { return outputs_[n] != 0; }
  op_kind kind(node_id n) const { return kinds_[n]; }
  /// What the taxonomy needs of n's op, from the index alone.
  op_view op(node_id n) const {
    const op_record& r = ops_[n];
    const auto list = [&](std::size_t k) {  // axes, perm, pads: each stored as its size, then its values
      if (r.lists == 0) return std::span<const std::int64_t>();  // all three empty, the usual case
      std::size_t at = r.lists;
      for (std::size_t i = 0; i < k; ++i) at += 1 + static_cast<std::size_t>(lists_[at]);
      return std::span<const std::int64_t>(lists_.data() + at + 1, static_cast<std::size_t>(lists_[at]));
    };
    return {kinds_[n],
            r.axis,
            r.groups,
            (r.flags & keep_dims_flag) != 0,
            (r.flags & in_out_flag) != 0 ? weight_layout::in_out : weight_layout::out_in,
            (r.flags & (weight_flag << 0)) != 0,
            (r.flags & (weight_flag << 1)) != 0,
            (r.flags & (weight_flag << 2)) != 0,
            (r.flags & (weight_flag << 3)) != 0,
            list(0),
            list(1),
            list(2)};
  }
  /// The parameter in op_desc field `slot` of node n (0 weight, 1 bias, 2 gamma, 3 beta).
  std::optional<param_id> param(node_id n, std::size_t slot) const {
    for (std::size_t e = param_begin_[n]; e < param_begin_[n + 1]; ++e)
      if (params_[e].slot == slot) return params_[e].param;
    return std::nullopt;
  }
  dims_view dims(node_id n) const {
    if (!rank_known_[n]) return std::nullopt;
    return std::span<const std::int64_t>(dims_.data() + state_begin_[n], state_begin_[n + 1] - state_begin_[n]);
  }
  /// Rank if known, else 0 (no states).
  std::size_t rank(node_id n) const { return state_begin_[n + 1] - state_begin_[n]; }

  // ---- states: one per (node, axis) of a node of known rank ----
  std::size_t state_count() const noexcept { return state_begin_[n_]; }
  std::size_t state(node_id n, std::size_t axis) const { return axis < rank(n) ? state_begin_[n] + axis : no_state; }
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

  /// Every parameter use, in node order; node n's are [param_begin(n), param_begin(n + 1)).
  std::span<const param_entry> param_entries() const noexcept { return params_; }
  std::size_t param_begin(node_id n) const { return param_begin_[n]; }

  std::string name(node_id n) const { return std::string(std::string_view(lnfold::node_name(g_, n))); }

 private:
  struct op_record {
    std::int64_t axis;
    std::int64_t groups;
    index_t lists;  // where its axes, perm and pads start in lists_
    std::uint8_t flags;
  };
  static constexpr std::uint8_t keep_dims_flag = 1, in_out_flag = 2, weight_flag = 4;  // then bias, gamma, beta

  static void require_fits(std::size_t count, const char* what) {
    require(count < std::numeric_limits<index_t>::max(), "lnfold::find_foldable: the graph has ", count, " ", what,
            "; at most ", std::numeric_limits<index_t>::max() - 1, " are supported");
  }

  // One pass over the graph's customization points; then consumers by counting sort.
  void read_graph() {
    input_begin_.assign(n_ + 1, 0);
    input_ids_.reserve(2 * n_);
    use_begin_.assign(n_ + 2, 0);
    outputs_.resize(n_);
    kinds_.resize(n_);
    rank_known_.resize(n_);
    state_begin_.assign(n_ + 1, 0);
    dims_.reserve(3 * n_);
    param_begin_.assign(n_ + 1, 0);
    params_.reserve(2 * n_);
    ops_.resize(n_);
    lists_.assign(3, 0);  // shared by every op whose axes, perm and pads are all empty
    for (node_id n = 0; n < n_; ++n) {
      for (auto in : lnfold::node_inputs(g_, n)) {
        const auto m = static_cast<node_id>(in);
        require(m < n_, "lnfold::find_foldable: node ", n, " ('", name(n), "') reads input ", m,
                " which does not exist (the graph has ", n_, " nodes)");
        topologically_ordered_ = topologically_ordered_ && m < n;
        input_ids_.push_back(static_cast<index_t>(m));
        ++use_begin_[m + 2];
      }
      input_begin_[n + 1] = static_cast<index_t>(input_ids_.size());
      outputs_[n] = lnfold::is_graph_output(g_, n) ? 1 : 0;

      // Binds to the graph's own op_desc when it returns a reference (no copy), else to a temporary.
      const op_desc& op = lnfold::node_op(g_, n);
      kinds_[n] = op.kind;
      op_record& rec = ops_[n];
      rec = {op.axis, op.groups, 0, 0};
      if (op.keep_dims) rec.flags |= keep_dims_flag;
      if (op.layout == weight_layout::in_out) rec.flags |= in_out_flag;
      index_t slot = 0;
      for (const auto& p : {op.weight, op.bias, op.gamma, op.beta}) {
        if (p) {
          params_.push_back({*p, static_cast<index_t>(n), slot});
          rec.flags = static_cast<std::uint8_t>(rec.flags | (weight_flag << slot));
        }
        ++slot;
      }
      param_begin_[n + 1] = static_cast<index_t>(params_.size());
      if (!op.axes.empty() || !op.perm.empty() || !op.pads.empty()) {
        rec.lists = static_cast<index_t>(lists_.size());
        for (const auto* v : {&op.axes, &op.perm, &op.pads}) {
          lists_.push_back(static_cast<std::int64_t>(v->size()));
          lists_.insert(lists_.end(), v->begin(), v->end());
        }
      }

      // Binds to the graph's own optional when it returns a reference (no copy), else to a temporary.
      const std::optional<shape>& s = lnfold::node_shape(g_, n);
      rank_known_[n] = s ? 1 : 0;
      if (s) dims_.insert(dims_.end(), s->begin(), s->end());
      state_begin_[n + 1] = static_cast<index_t>(dims_.size());
      if (((n + 1) & 0xffff) == 0) check_sizes();
    }
    check_sizes();
    state_nodes_.resize(dims_.size());
    for (node_id n = 0; n < n_; ++n)
      for (std::size_t s = state_begin_[n]; s < state_begin_[n + 1]; ++s) state_nodes_[s] = static_cast<index_t>(n);

    // use_begin_[m + 2] counted m's uses; after the prefix sum use_begin_[m + 1] is where they start.
    // Filling advances it to where they end, which is where m + 1's start: use_begin_[m] is then m's
    // first use, as consumers() expects.
    for (std::size_t i = 2; i < n_ + 2; ++i) use_begin_[i] += use_begin_[i - 1];
    uses_.resize(input_ids_.size());
    for (node_id n = 0; n < n_; ++n) {
      const auto in = inputs(n);
      for (std::size_t i = 0; i < in.size(); ++i)
        uses_[use_begin_[in[i] + 1]++] = {static_cast<index_t>(n), static_cast<index_t>(i)};
    }
    use_begin_.pop_back();
  }

  // The 32-bit offsets must not wrap: checked every 65536 nodes, which no node can overrun alone
  // by 2^32 - 2^16 entries.
  void check_sizes() const {
    require_fits(input_ids_.size(), "edges");
    require_fits(dims_.size(), "(node, axis) states");
    require_fits(params_.size(), "parameter uses");
    require_fits(lists_.size(), "axes, perm and pads values");
  }

  // Kahn's algorithm, needed only when some node reads a later one: a node left with unprocessed
  // inputs lies on (or behind) a cycle.
  void check_acyclic() const {
    std::vector<index_t> pending(n_);
    std::vector<index_t> ready;
    for (node_id n = 0; n < n_; ++n) {
      pending[n] = static_cast<index_t>(inputs(n).size());
      if (pending[n] == 0) ready.push_back(static_cast<index_t>(n));
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

  const G& g_;
  std::size_t n_;
  bool topologically_ordered_ = true;  // every node reads only nodes before it: no cycle possible
  large_vector<index_t> input_begin_;
  large_vector<index_t> input_ids_;
  large_vector<index_t> use_begin_;
  large_vector<use> uses_;
  large_vector<char> outputs_;
  large_vector<op_kind> kinds_;
  large_vector<op_record> ops_;
  large_vector<std::int64_t> lists_;
  large_vector<char> rank_known_;
  large_vector<std::int64_t> dims_;    // all shapes, back to back; one state per dim
  large_vector<index_t> state_begin_;  // node n's states are [state_begin_[n], state_begin_[n+1])
  large_vector<index_t> state_nodes_;
  large_vector<index_t> param_begin_;
  large_vector<param_entry> params_;
  mutable std::vector<dims_view> scratch_dims_;
  mutable std::vector<op_kind> scratch_kinds_;
};

}  // namespace lnfold::detail
