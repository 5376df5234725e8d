// Zero-mean regions (docs/method.md §4): the (node, axis) states connected by transparent ops, with the
// producers that feed them and the consumers that read them. Each state joins one region at most,
// and every state and consumer edge is examined once, so building all regions is linear in the size
// of the graph.
#pragma once

#include <cstddef>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "lnfold/fold/detail/graph_index.hpp"
#include "lnfold/fold/detail/large_allocator.hpp"
#include "lnfold/fold/plan.hpp"
#include "lnfold/graph/taxonomy.hpp"

namespace lnfold::detail {

inline constexpr std::size_t no_region = static_cast<std::size_t>(-1);

/// A node whose output enters the region without coming through a transparent op.
struct producer_entry {
  enum class kind { source, fused_source, broadcast_constant, zero_mean, blocker } what;
  std::size_t state;  ///< the region state it feeds (for a broadcast: the add's state)
  node_id node;       ///< the producer (fused: the mul; broadcast: the constant)
  node_id offender;   ///< for blockers: the node to blame; fused: the linear; broadcast: the add
  fold_reason reason = fold_reason::foldable;
  std::optional<param_id> scale = std::nullopt;  ///< fused: the per-channel scale
  // fused: the path region_builder::fusable_scale found from the mul down to the linear
  node_id scaled = 0;                              ///< the mul's input that is not the scale
  std::optional<node_id> bias_add = std::nullopt;  ///< the add of a constant bias on the way, if any
  std::optional<node_id> bias = std::nullopt;      ///< its constant bias node
};

/// A non-transparent consumer of a region state.
struct sink_entry {
  consumer_role role;
  std::size_t state;  ///< the state it reads
  node_id consumer;   ///< for exposed outputs: the node itself
  fold_reason reason = fold_reason::foldable;
  std::size_t downstream = no_state;  ///< channel slices: the slice's own state
};

struct region_data {
  std::size_t axis_state = 0;  ///< the state it was grown from
  large_vector<node_id> lns;
  large_vector<producer_entry> producers;
  large_vector<sink_entry> sinks;
};

template <class G>
class region_builder {
 public:
  region_builder(const graph_index<G>& index, const fold_options& options)
      : ix_(index), options_(options), region_of_(index.state_count(), unassigned) {
    links_.reserve(index.size());
  }

  std::size_t region_of(std::size_t state) const {
    return region_of_[state] == unassigned ? no_region : region_of_[state];
  }
  const std::vector<region_data>& regions() const noexcept { return regions_; }
  /// Transparent links between states (each once), for path finding.
  const large_vector<std::pair<index_t, index_t>>& links() const noexcept { return links_; }

  /// The region of `state`, grown by breadth-first search the first time it is asked for.
  std::size_t grow(std::size_t start) {
    if (region_of_[start] != unassigned) return region_of_[start];
    const std::size_t r = regions_.size();
    regions_.push_back({start, {}, {}, {}});
    region_of_[start] = static_cast<index_t>(r);
    // Every state is queued once in its life, so the queue is a plain array read from the front.
    queue_.clear();
    queue_.push_back(static_cast<index_t>(start));
    for (std::size_t head = 0; head < queue_.size(); ++head) visit(r, queue_[head]);
    return r;
  }

 private:
  void visit(std::size_t r, std::size_t s) {
    const node_id n = ix_.state_node(s);
    const std::size_t a = ix_.state_axis(s);
    if (ix_.is_output(n)) regions_[r].sinks.push_back({consumer_role::unsafe_sink, s, n, fold_reason::exposed_output});
    walk_back(r, s, n, a);
    walk_forward(r, s, n, a);
  }

  void link(std::size_t r, std::size_t from, node_id to_node, std::size_t to_axis) {
    const std::size_t t = ix_.state(to_node, to_axis);
    if (t == no_state) {  // the taxonomy mapped to an axis the node does not have: a malformed shape
      regions_[r].producers.push_back(
          {producer_entry::kind::blocker, from, to_node, to_node, fold_reason::invalid_axis});
      return;
    }
    links_.emplace_back(static_cast<index_t>(from), static_cast<index_t>(t));
    if (region_of_[t] == unassigned) {
      region_of_[t] = static_cast<index_t>(r);
      queue_.push_back(static_cast<index_t>(t));
    }
  }

  void walk_back(std::size_t r, std::size_t s, node_id n, std::size_t a) {
    using K = producer_entry::kind;
    auto& producers = regions_[r].producers;
    through_.clear();
    const auto in = ix_.inputs(n);
    const producer_class pc = classify_producer(ix_.op(n), ix_.dims(n), ix_.input_dims(n), ix_.input_kinds(n), a,
                                                through_);
    switch (pc.role) {
      case producer_role::transparent:
        for (const auto& t : through_) {
          const node_id m = in[t.input];
          if (t.axis) link(r, s, m, *t.axis);
          else if (ix_.kind(m) == op_kind::constant) producers.push_back({K::broadcast_constant, s, m, n});
          else producers.push_back({K::blocker, s, n, m, fold_reason::broadcast_along_axis});
        }
        return;
      case producer_role::source: producers.push_back({K::source, s, n, n}); return;
      case producer_role::zero_mean: producers.push_back({K::zero_mean, s, n, n}); return;
      case producer_role::blocker:
        if (pc.reason == fold_reason::per_channel_scale && options_.fuse_scales) {
          if (auto f = fusable_scale(n, a, *pc.culprit_input)) {
            producers.push_back({K::fused_source, s, n, f->linear, fold_reason::foldable,
                                 ix_.param(in[*pc.culprit_input], 0), in[1 - *pc.culprit_input], f->bias_add, f->bias});
            // The bias a LayerScale multiplies together with the linear is centered like any constant.
            if (f->bias) producers.push_back({K::source, f->bias_state, *f->bias, *f->bias});
            return;
          }
        }
        producers.push_back({K::blocker, s, n, pc.culprit_input ? in[*pc.culprit_input] : n, pc.reason});
        return;
    }
  }

  struct fusable {
    node_id linear;
    std::optional<node_id> bias_add;  ///< mul(add(linear, bias), γ): the add
    std::optional<node_id> bias;      ///< and its constant bias
    std::size_t bias_state = no_state;
  };

  // LayerScale: mul(linear(x), γ) folds when the linear is centerable along the axis, so that γ can be
  // multiplied into its weight first. Exporters put more between the two, all accepted: the linear's
  // bias as its own add of a constant b (scaled and centered too), and reshapes, transposes or
  // identities that keep the axis (a Gemm wrapped in Reshapes, ConvNeXt's permute) on either side
  // of that add. Each node on the way, and b, must have the next one as its only reader.
  std::optional<fusable> fusable_scale(node_id mul, std::size_t a, std::size_t scale_input) {
    const auto in = ix_.inputs(mul);
    if (!ix_.op(in[scale_input]).weight) return std::nullopt;
    const auto below = through_shape_ops(in[1 - scale_input], mul, a);
    if (!below) return std::nullopt;
    const auto [m, axis] = *below;
    if (ix_.kind(m) != op_kind::add) {
      if (centerable_linear(m, axis)) return fusable{m, std::nullopt, std::nullopt, no_state};
      return std::nullopt;
    }
    const auto terms = ix_.inputs(m);
    if (terms.size() != 2) return std::nullopt;
    for (std::size_t k = 0; k < 2; ++k) {
      const node_id bias = terms[1 - k];
      if (ix_.kind(bias) != op_kind::constant || !ix_.op(bias).weight || !only_read_by(bias, m)) continue;
      const auto axis_in_bias = broadcast_source_axis(*ix_.dims(m), *ix_.dims(bias), axis);
      const std::size_t bias_state = axis_in_bias ? ix_.state(bias, *axis_in_bias) : no_state;
      const auto lin = through_shape_ops(terms[k], m, axis);
      if (bias_state != no_state && lin && centerable_linear(lin->first, lin->second))
        return fusable{lin->first, m, bias, bias_state};
    }
    return std::nullopt;
  }

  // From `n`, an input of `reader` (axis `a` of reader's output), down through the reshapes,
  // transposes and identities that carry the axis and have one reader each: the first other node,
  // and the axis in its output.
  std::optional<std::pair<node_id, std::size_t>> through_shape_ops(node_id n, node_id reader, std::size_t a) {
    const auto first = broadcast_source_axis(*ix_.dims(reader), *ix_.dims(n), a);
    if (!first) return std::nullopt;
    std::size_t axis = *first;
    for (;;) {
      if (!only_read_by(n, reader)) return std::nullopt;
      if (const auto k = ix_.kind(n); k != op_kind::reshape && k != op_kind::transpose && k != op_kind::identity)
        return std::pair{n, axis};
      through_fusion_.clear();
      const auto pc = classify_producer(ix_.op(n), ix_.dims(n), ix_.input_dims(n), ix_.input_kinds(n), axis,
                                        through_fusion_);
      if (pc.role != producer_role::transparent || through_fusion_.size() != 1 || !through_fusion_[0].axis)
        return std::nullopt;
      reader = n;
      n = ix_.inputs(n)[through_fusion_[0].input];
      axis = *through_fusion_[0].axis;
    }
  }

  bool only_read_by(node_id n, node_id reader) const {
    const auto c = ix_.consumers(n);
    return c.size() == 1 && c[0].consumer == reader && !ix_.is_output(n);
  }

  // `lin` is a linear / conv that is a source along axis `a` of its own output.
  bool centerable_linear(node_id lin, std::size_t a) {
    const auto k = ix_.kind(lin);
    if (k != op_kind::linear && k != op_kind::conv && k != op_kind::conv_transpose) return false;
    std::vector<carried_axis> unused;
    const auto pc = classify_producer(ix_.op(lin), ix_.dims(lin), ix_.input_dims(lin), ix_.input_kinds(lin), a, unused);
    return pc.role == producer_role::source;
  }

  void walk_forward(std::size_t r, std::size_t s, node_id n, std::size_t a) {
    for (const auto& u : ix_.consumers(n)) {
      const node_id c = u.consumer;
      consumer_class cc = classify_consumer(ix_.op(c), ix_.dims(c), ix_.input_dims(c), ix_.input_kinds(c), u.input, a);
      if (ix_.kind(c) == op_kind::layer_norm && u.input != 0)
        cc = {consumer_role::unsafe_sink, fold_reason::norm_parameter_input, 0};
      switch (cc.role) {
        case consumer_role::transparent: link(r, s, c, cc.out_axis); break;
        case consumer_role::safe_sink:
          regions_[r].sinks.push_back({consumer_role::safe_sink, s, c});
          if (ix_.kind(c) == op_kind::layer_norm) regions_[r].lns.push_back(c);
          break;
        case consumer_role::channel_slice:
          regions_[r].sinks.push_back(
              {consumer_role::channel_slice, s, c, fold_reason::foldable, ix_.state(c, cc.out_axis)});
          break;
        case consumer_role::unsafe_sink:
          regions_[r].sinks.push_back({consumer_role::unsafe_sink, s, c, cc.reason});
          break;
      }
    }
  }

  static constexpr index_t unassigned = std::numeric_limits<index_t>::max();

  const graph_index<G>& ix_;
  const fold_options& options_;
  large_vector<index_t> region_of_;  // per state; regions never outnumber states
  std::vector<region_data> regions_;
  large_vector<std::pair<index_t, index_t>> links_;
  std::vector<index_t> queue_;
  std::vector<carried_axis> through_;
  std::vector<carried_axis> through_fusion_;  // fusable_scale's own: it runs while walk_back holds through_
};

}  // namespace lnfold::detail
