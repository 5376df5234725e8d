// find_foldable: which LayerNorms of a graph can become RMSNorm exactly, and what to center for it.
//
// An LN is foldable (docs/method.md §4) when, along its normalized axis,
//   1. walking backward from its input through transparent ops reaches only sources (centerable
//      linear producers and constants) or already zero-mean tensors;
//   2. every tensor of that zero-mean region is read only by mean-invariant consumers (LNs over the
//      axis, centering, softmax over the axis, channel slices that lead only to such consumers);
//   3. no source parameter has another use that centering would change, or the tie is resolved by
//      fold_options::tied (untie by copy, or rank-1 compensation).
// Centering the sources then changes every tensor of the region by a per-row multiple of 1 only, so
// no output of the model changes, and each LN input is exactly zero-mean: LN(x) = RMS(x), same γ, β, ε.
//
// Complexity: O(nodes + edges + Σ ranks): each (node, axis) state joins at most one region and each
// consumer edge is classified once per state.
// Throws lnfold::error when the graph has a dangling input or a cycle. Everything else (unknown ops,
// unknown shapes, bad axes) is a verdict with a reason, never an exception.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lnfold/fold/detail/graph_index.hpp"
#include "lnfold/fold/detail/large_allocator.hpp"
#include "lnfold/fold/detail/param_index.hpp"
#include "lnfold/fold/detail/regions.hpp"
#include "lnfold/fold/plan.hpp"
#include "lnfold/graph/concepts.hpp"
#include "lnfold/graph/taxonomy.hpp"

namespace lnfold {

namespace detail {

template <class G>
class fold_detector {
 public:
  fold_detector(const G& g, const fold_options& options) : ix_(g), options_(options), rb_(ix_, options_) {}

  fold_plan run() {
    find_lns();
    for (std::size_t r = 0; r < rb_.regions().size(); ++r) check_sinks(r);
    decide_regions();
    return make_plan();
  }

 private:
  enum class status : char { unknown, visiting, safe, unsafe };

  struct region_state {
    status sinks = status::unknown;
    std::optional<std::size_t> failing_sink;  // the unsafe (or failing slice) sink
    bool decided = false, foldable = false, via_stem = false;
    fold_reason reason = fold_reason::foldable;
  };

  struct ln_entry {
    node_id node;
    std::size_t region = no_region;
    fold_reason malformed = fold_reason::foldable;
  };

  struct centered_source {
    node_id node;  // the node whose params are centered
    source_kind kind;
    std::size_t state;  // its producer entry's state, for paths
    node_id reader;     // broadcast constant: the add that reads it; otherwise the node itself
    bool fused;         // a per-channel scale is fused into it first
  };

  // ---- 1. LNs and their regions ------------------------------------------------------------------

  void find_lns() {
    for (node_id n = 0; n < ix_.size(); ++n) {
      if (ix_.kind(n) != op_kind::layer_norm) continue;
      ln_entry e{n};
      const auto in = ix_.inputs(n);
      if (in.empty()) {
        e.malformed = fold_reason::unknown_op;
      } else if (!ix_.dims(in[0])) {
        e.malformed = fold_reason::unknown_shape;
      } else if (const auto axis = single_norm_axis(ix_.op(n), ix_.rank(in[0]))) {
        e.region = rb_.grow(ix_.state(in[0], *axis));
      } else {
        e.malformed = norm_axes_valid(ix_.op(n), ix_.rank(in[0])) ? fold_reason::multi_axis_norm
                                                                  : fold_reason::invalid_axis;
      }
      lns_.push_back(e);
    }
  }

  static bool norm_axes_valid(const op_view& op, std::size_t rank) {
    if (op.axes.empty()) return normalize_axis(op.axis, rank).has_value();
    return std::all_of(op.axes.begin(), op.axes.end(), [&](auto a) { return normalize_axis(a, rank).has_value(); });
  }

  // ---- 2. condition 2: every consumer of the region is mean-invariant ----------------------------

  region_state& info(std::size_t r) {
    if (info_.size() < rb_.regions().size()) info_.resize(rb_.regions().size());
    return info_[r];
  }

  // Iterative depth-first search over channel slices (a slice is safe iff its own region is), so a
  // long chain of slices cannot overflow the stack.
  bool check_sinks(std::size_t root) {
    if (info(root).sinks != status::unknown) return info(root).sinks != status::unsafe;
    std::vector<std::pair<std::size_t, std::size_t>> stack{{root, 0}};
    info(root).sinks = status::visiting;
    while (!stack.empty()) {
      const auto [r, i] = stack.back();
      const auto sink_count = rb_.regions()[r].sinks.size();
      if (info(r).sinks == status::unsafe || i == sink_count) {
        if (info(r).sinks == status::visiting) info(r).sinks = status::safe;
        const bool failed = info(r).sinks == status::unsafe;
        stack.pop_back();
        if (failed && !stack.empty()) {
          auto& parent = info(stack.back().first);
          parent.sinks = status::unsafe;
          parent.failing_sink = stack.back().second - 1;
        }
        continue;
      }
      ++stack.back().second;
      const sink_entry sink = rb_.regions()[r].sinks[i];
      if (sink.role == consumer_role::unsafe_sink) {
        info(r).sinks = status::unsafe;
        info(r).failing_sink = i;
      } else if (sink.role == consumer_role::channel_slice) {
        const std::size_t child = rb_.grow(sink.downstream);
        auto& c = info(child);
        if (c.sinks == status::unknown) {
          c.sinks = status::visiting;
          stack.emplace_back(child, 0);
        } else if (c.sinks == status::unsafe) {
          info(r).sinks = status::unsafe;
          info(r).failing_sink = i;
        }  // visiting: a cycle through slices adds no new consumer
      }
    }
    return info(root).sinks != status::unsafe;
  }

  // ---- 3. conditions 1 and 3, stem centering -----------------------------------------------------

  void decide_regions() {
    for (const auto& ln : lns_)
      if (ln.region != no_region) decide(ln.region);
  }

  bool has_blocker(std::size_t r) const {
    const auto& ps = rb_.regions()[r].producers;
    return std::any_of(ps.begin(), ps.end(),
                       [](const producer_entry& p) { return p.what == producer_entry::kind::blocker; });
  }

  // Stem centering pays when fewer centerings are inserted than LNs are freed, and each blocker is a
  // whole producer (not, say, one broadcast input of an add).
  std::optional<std::vector<node_id>> stem_points(std::size_t r) const {
    const auto& reg = rb_.regions()[r];
    std::vector<node_id> points;
    for (const auto& p : reg.producers) {
      if (p.what != producer_entry::kind::blocker) continue;
      if (p.offender != p.node || p.reason == fold_reason::unknown_shape || p.reason == fold_reason::invalid_axis)
        return std::nullopt;
      if (std::find(points.begin(), points.end(), p.node) == points.end()) points.push_back(p.node);
    }
    if (points.size() >= reg.lns.size()) return std::nullopt;
    return points;
  }

  void decide(std::size_t r) {
    if (info(r).decided) return;
    info(r).decided = true;
    if (!check_sinks(r)) {
      info(r).reason = has_blocker(r) ? first_blocker(r).reason : failing_sink_reason(r);
      return;
    }
    if (has_blocker(r)) {
      if (!options_.stem_centering || !stem_points(r)) {
        info(r).reason = first_blocker(r).reason;
        return;
      }
      info(r).via_stem = true;
    }
    collect_sources(r);
    if (!resolve_ties(r)) {
      info(r).reason = fold_reason::tied_parameter;
      return;
    }
    info(r).foldable = true;
  }

  const producer_entry& first_blocker(std::size_t r) const {
    const auto& ps = rb_.regions()[r].producers;
    return *std::find_if(ps.begin(), ps.end(),
                         [](const producer_entry& p) { return p.what == producer_entry::kind::blocker; });
  }

  // Follows failing slices down to the unsafe consumer that breaks the region.
  std::pair<fold_reason, node_id> failing_sink(std::size_t r) {
    for (;;) {
      const sink_entry& s = rb_.regions()[r].sinks[*info(r).failing_sink];
      if (s.role == consumer_role::unsafe_sink) return {s.reason, s.consumer};
      r = rb_.region_of(s.downstream);
    }
  }
  fold_reason failing_sink_reason(std::size_t r) { return failing_sink(r).first; }

  void collect_sources(std::size_t r) {
    if (sources_.size() <= r) sources_.resize(rb_.regions().size());
    auto& list = sources_[r];
    if (source_mark_.empty()) source_mark_.assign(ix_.size(), no_region);
    for (const auto& p : rb_.regions()[r].producers) {
      using K = producer_entry::kind;
      if (p.what == K::zero_mean || p.what == K::blocker) continue;
      const node_id n = p.what == K::fused_source ? p.offender : p.node;
      if (source_mark_[n] == r) continue;  // a constant broadcast into several adds of the region
      source_mark_[n] = r;
      const bool fused = p.what == K::fused_source;
      list.push_back({n, p.what == K::broadcast_constant ? source_kind::broadcast_constant : kind_of_source(n), p.state,
                      p.what == K::broadcast_constant ? p.offender : n, fused});
      if (fused) fusions_.push_back(fusion_of(p, r));
    }
  }

  // The fusion a fused_source producer stands for, as region_builder::fusable_scale found it.
  static scale_fusion fusion_of(const producer_entry& p, std::size_t r) {
    return scale_fusion{p.node, p.offender, *p.scale, r, p.bias_add, p.bias, p.scaled};
  }

  source_kind kind_of_source(node_id n) const {
    switch (ix_.kind(n)) {
      case op_kind::conv: return source_kind::conv;
      case op_kind::conv_transpose: return source_kind::conv_transpose;
      case op_kind::embedding: return source_kind::embedding;
      case op_kind::constant: return source_kind::constant;
      default: return source_kind::linear;
    }
  }

  // At most a weight and a bias: a fixed array, so checking a million sources allocates nothing.
  struct source_params {
    std::array<centered_param, 2> items;
    std::size_t size = 0;
    const centered_param* begin() const { return items.data(); }
    const centered_param* end() const { return items.data() + size; }
  };

  // The parameters a source centers, each with the axis of its own dims to center over (docs/method.md §2).
  source_params params_of(const centered_source& s) const {
    const op_view op = ix_.op(s.node);
    const auto weight = ix_.param(s.node, 0), bias = ix_.param(s.node, 1);
    source_params out;
    const auto add = [&](std::optional<param_id> p, std::optional<std::size_t> axis) {
      if (p) out.items[out.size++] = {*p, axis};
    };
    switch (s.kind) {
      case source_kind::linear:
        add(weight, op.layout == weight_layout::out_in ? 0 : 1);
        add(bias, 0);
        break;
      case source_kind::conv:
        add(weight, 0);
        add(bias, 0);
        break;
      case source_kind::conv_transpose:
        add(weight, 1);
        add(bias, 0);
        break;
      case source_kind::embedding: add(weight, 1); break;
      case source_kind::constant: add(weight, ix_.state_axis(s.state)); break;
      case source_kind::broadcast_constant: add(weight, std::nullopt); break;
    }
    return out;
  }

  // Condition 3. Every other use of a centered parameter must be the same kind of source, centered
  // the same way, in a region whose consumers are all mean-invariant; anything else is a conflict the
  // policy resolves (or refuses).
  bool resolve_ties(std::size_t r) {
    std::vector<tied_conflict> conflicts;
    for (std::size_t i = 0; i < sources_[r].size(); ++i) {
      const centered_source s = sources_[r][i];  // a copy: growing regions below may touch sources_
      for (const auto& cp : params_of(s))
        for (const auto& use : uses_of(s.node, cp.param))
          if (use.node != s.node && !same_source_use(use, cp, s.kind, s.fused))
            conflicts.push_back(
                {cp.param, s.node, use.node, s.fused ? untie_or_refuse() : resolution(use, cp), r, cp.axis});
      if (s.kind == source_kind::broadcast_constant) {
        // Zeroing the constant for this add must not reach its other readers.
        for (const auto& u : ix_.consumers(s.node))
          if (const auto weight = ix_.param(s.node, 0); u.consumer != s.reader && weight)
            conflicts.push_back({*weight, s.node, u.consumer, untie_or_refuse(), r, std::nullopt});
      }
    }
    for (const auto& c : conflicts)
      if (c.resolution == tied_policy::refuse) {
        refused_[r] = c;
        return false;
      }
    tied_.insert(tied_.end(), conflicts.begin(), conflicts.end());
    return true;
  }

  tied_policy untie_or_refuse() const {
    return options_.tied == tied_policy::refuse ? tied_policy::refuse : tied_policy::untie;
  }

  using param_use = param_entry;

  // Every use in the graph of parameter `p`, which node `n` uses; the index is built on first need.
  std::span<const param_use> uses_of(node_id n, param_id p) {
    if (!param_uses_) param_uses_.emplace(ix_.param_entries());
    return param_uses_->uses_of(ix_.param_entries(), ix_.param_begin(n), ix_.param_begin(n + 1), p);
  }

  bool same_source_use(const param_use& use, const centered_param& cp, source_kind kind, bool fused) {
    if (fused || kind == source_kind::broadcast_constant) return false;
    const node_id u = use.node;
    if (kind_of_source(u) != kind || !is_source_kind(ix_.kind(u))) return false;
    const auto axis = source_axis(u, kind, cp);
    if (!axis) return false;
    const std::size_t s = ix_.state(u, *axis);
    if (s == no_state) return false;
    std::vector<carried_axis> unused;
    const auto pc = classify_producer(ix_.op(u), ix_.dims(u), ix_.input_dims(u), ix_.input_kinds(u), *axis, unused);
    if (pc.role != producer_role::source) return false;
    const centered_source other{u, kind, s, u, false};
    const auto other_params = params_of(other);
    const bool same_axis = std::any_of(other_params.begin(), other_params.end(), [&](const centered_param& q) {
      return q.param == cp.param && q.axis == cp.axis;
    });
    return same_axis && check_sinks(rb_.grow(s));
  }

  static bool is_source_kind(op_kind k) {
    return k == op_kind::linear || k == op_kind::conv || k == op_kind::conv_transpose || k == op_kind::embedding ||
           k == op_kind::constant;
  }

  // The output axis along which node u acts as a source.
  std::optional<std::size_t> source_axis(node_id u, source_kind kind, const centered_param& cp) const {
    const auto dims = ix_.dims(u);
    if (!dims || dims->empty()) return std::nullopt;
    if (kind == source_kind::constant) return cp.axis;
    if (kind == source_kind::embedding) return dims->size() - 1;
    return detail::op_axis(ix_.op(u).axis, dims);
  }

  // Rank-1 compensation applies to a linear that contracts the very axis that was centered: then
  // W h = W̃ h + m (1ᵀh) and the head adds (Σh)·m (docs/method.md §5).
  tied_policy resolution(const param_use& use, const centered_param& cp) const {
    if (options_.tied != tied_policy::rank1) return options_.tied;
    const op_view op = ix_.op(use.node);
    const std::size_t input_axis = op.layout == weight_layout::out_in ? 1 : 0;
    if (op.kind == op_kind::linear && ix_.param(use.node, 0) == use.param && cp.axis == input_axis)
      return tied_policy::rank1;
    return tied_policy::untie;
  }

  // ---- 4. the plan, with per-LN reasons and paths ------------------------------------------------

  fold_plan make_plan() {
    fold_plan plan;
    plan.regions.resize(rb_.regions().size());
    std::size_t source_count = 0;
    for (std::size_t r = 0; r < sources_.size(); ++r) source_count += info(r).foldable ? sources_[r].size() : 0;
    plan.sources.reserve(source_count);
    plan.lns.reserve(lns_.size());
    for (std::size_t r = 0; r < rb_.regions().size(); ++r) {
      auto& out = plan.regions[r];
      const auto& st = info(r);
      out.lns.assign(rb_.regions()[r].lns.begin(), rb_.regions()[r].lns.end());
      out.foldable = st.foldable;
      out.reason = st.foldable ? fold_reason::foldable : st.reason;
      if (!st.foldable && st.decided) out.offender = region_offender(r);
      if (!st.foldable) continue;
      for (const auto& s : sources_[r]) {
        std::optional<node_id> reader;
        if (s.kind == source_kind::broadcast_constant) reader = s.reader;
        const auto params = params_of(s);
        plan.sources.push_back({s.node, s.kind, {params.begin(), params.end()}, r, reader});
      }
      if (st.via_stem) {
        const auto points = stem_points(r);
        for (node_id n : *points) plan.stems.push_back({n, stem_axis(r, n), r});
      }
    }
    for (const auto& f : fusions_)
      if (info(f.region).foldable) plan.fusions.push_back(f);
    plan.tied = tied_;
    for (const auto& [r, c] : refused_) plan.tied.push_back(c);
    for (const auto& ln : lns_) plan.lns.push_back(verdict(ln));
    return plan;
  }

  std::size_t stem_axis(std::size_t r, node_id n) const {
    for (const auto& p : rb_.regions()[r].producers)
      if (p.what == producer_entry::kind::blocker && p.node == n) return ix_.state_axis(p.state);
    return 0;
  }

  node_id region_offender(std::size_t r) {
    const auto& st = info(r);
    if (st.reason == fold_reason::tied_parameter) return refused_.at(r).other_use;
    if (has_blocker(r)) return first_blocker(r).offender;
    return failing_sink(r).second;
  }

  struct seed {
    std::size_t state;
    fold_reason reason;
    node_id offender;
    fold_condition failed;
  };

  // Where a failing region goes wrong, as BFS seeds: its blockers (condition 1), else its unsafe
  // consumers (condition 2), else its refused ties (condition 3).
  std::vector<seed> seeds(std::size_t r) {
    std::vector<seed> out;
    const auto& reg = rb_.regions()[r];
    if (has_blocker(r)) {
      for (const auto& p : reg.producers)
        if (p.what == producer_entry::kind::blocker)
          out.push_back({p.state, p.reason, p.offender, fold_condition::zero_mean_input});
    } else if (info(r).sinks == status::unsafe) {
      for (std::size_t i = 0; i < reg.sinks.size(); ++i) {
        const auto& s = reg.sinks[i];
        if (s.role == consumer_role::unsafe_sink)
          out.push_back({s.state, s.reason, s.consumer, fold_condition::safe_consumers});
        else if (s.role == consumer_role::channel_slice && info(rb_.region_of(s.downstream)).sinks == status::unsafe) {
          const auto [reason, who] = failing_sink(rb_.region_of(s.downstream));
          out.push_back({s.state, reason, who, fold_condition::safe_consumers});
        }
      }
    } else {
      const auto& c = refused_.at(r);
      for (const auto& s : sources_[r])
        if (s.node == c.source_use)
          out.push_back({s.state, fold_reason::tied_parameter, c.other_use, fold_condition::untied_sources});
    }
    return out;
  }

  // Multi-source BFS from a failing region's seeds over its transparent links: every state learns
  // its nearest seed, the next hop toward it and the last state before it, so each LN's path is
  // reported in O(1) however long the stream.
  void trace_region(std::size_t r) {
    if (traced_.size() < rb_.regions().size()) traced_.resize(rb_.regions().size(), 0);
    if (traced_[r]) return;
    traced_[r] = 1;
    build_adjacency();
    region_seeds_[r] = seeds(r);
    const auto& sd = region_seeds_[r];
    std::vector<std::size_t> queue;  // each state is queued once: read from the front, never popped
    for (std::size_t i = 0; i < sd.size(); ++i) {
      auto& t = trace_[sd[i].state];
      if (t.seed != no_state) continue;
      t = {i, 0, no_state, no_state};
      queue.push_back(sd[i].state);
    }
    for (std::size_t head = 0; head < queue.size(); ++head) {
      const std::size_t s = queue[head];
      for (std::size_t e = adj_begin_[s]; e < adj_begin_[s + 1]; ++e) {
        const std::size_t t = adj_[e];
        if (trace_[t].seed != no_state) continue;
        trace_[t] = {trace_[s].seed, trace_[s].dist + 1, s, trace_[s].next == no_state ? t : trace_[s].last};
        queue.push_back(t);
      }
    }
  }

  void build_adjacency() {
    if (!adj_begin_.empty()) return;
    const auto& links = rb_.links();
    adj_begin_.assign(ix_.state_count() + 1, 0);
    for (const auto& [a, b] : links) {
      ++adj_begin_[a + 1];
      ++adj_begin_[b + 1];
    }
    for (std::size_t i = 0; i < ix_.state_count(); ++i) adj_begin_[i + 1] += adj_begin_[i];
    adj_.resize(adj_begin_.back());
    std::vector<std::size_t> fill(adj_begin_.begin(), adj_begin_.end() - 1);
    for (const auto& [a, b] : links) {
      adj_[fill[a]++] = b;
      adj_[fill[b]++] = a;
    }
    trace_.assign(ix_.state_count(), {});
  }

  ln_verdict verdict(const ln_entry& ln) {
    ln_verdict v;
    v.node = ln.node;
    if (ln.region == no_region) {
      v.reason = ln.malformed;
      v.failed = fold_condition::well_formed;
      v.offender = ln.node;
      return v;
    }
    v.region = ln.region;
    const auto& st = info(ln.region);
    v.foldable = st.foldable;
    v.needs_stem_centering = st.via_stem;
    if (st.foldable) return v;
    trace_region(ln.region);
    const std::size_t start = ix_.state(ix_.inputs(ln.node)[0], ix_.state_axis(rb_.regions()[ln.region].axis_state));
    const std::size_t s0 = start != no_state && trace_[start].seed != no_state ? start : no_state;
    if (s0 == no_state) {  // cannot happen for a region with seeds; report the region's reason
      v.reason = st.reason;
      v.failed = fold_condition::zero_mean_input;
      v.offender = region_offender(ln.region);
      return v;
    }
    const auto& t0 = trace_[s0];
    const seed& sd = region_seeds_[ln.region][t0.seed];
    v.reason = sd.reason;
    v.failed = sd.failed;
    v.offender = sd.offender;
    // The path: the LN's input, up to two more hops, then the last state before the seed, the seed.
    std::size_t s = s0;
    for (int hop = 0; hop < 3 && s != no_state; ++hop, s = trace_[s].next) v.path.push_back(ix_.state_node(s));
    if (s != no_state) {
      if (t0.last != no_state && trace_[t0.last].dist > 0 &&
          std::find(v.path.begin(), v.path.end(), ix_.state_node(t0.last)) == v.path.end())
        v.path.push_back(ix_.state_node(t0.last));
      v.path.push_back(ix_.state_node(sd.state));
    }
    if (v.path.back() != sd.offender) v.path.push_back(sd.offender);
    v.path_length = t0.dist + 1 + (ix_.state_node(sd.state) != sd.offender ? 1 : 0);
    return v;
  }

  struct trace_entry {
    std::size_t seed = no_state, dist = 0, next = no_state, last = no_state;
  };

  graph_index<G> ix_;
  fold_options options_;
  region_builder<G> rb_;
  std::vector<ln_entry> lns_;
  std::vector<region_state> info_;
  std::vector<std::vector<centered_source>> sources_;  // per region
  large_vector<std::size_t> source_mark_;              // per node: the last region that listed it as a source
  std::vector<scale_fusion> fusions_;
  std::vector<tied_conflict> tied_;
  std::unordered_map<std::size_t, tied_conflict> refused_;
  std::optional<param_index> param_uses_;
  std::vector<char> traced_;
  std::unordered_map<std::size_t, std::vector<seed>> region_seeds_;
  large_vector<std::size_t> adj_begin_, adj_;
  large_vector<trace_entry> trace_;
};

}  // namespace detail

namespace detail {

// One static_assert per missing customization point, naming the call, instead of a list of
// unsatisfied constraints: the promise of lnfold/graph/concepts.hpp.
template <class G>
constexpr bool assert_foldable_graph() {
#define LNFOLD_DETAIL_HOW                                                           \
  ": add a member function, a free function found by ADL, or a static member of a " \
  "lnfold::graph_traits<G> specialization (see lnfold/graph/concepts.hpp)"
  static_assert(cpo_node_count::available<const G>,
                "lnfold::find_foldable: the graph type does not provide node_count(g)" LNFOLD_DETAIL_HOW);
  static_assert(cpo_node_inputs::available<const G, node_id>,
                "lnfold::find_foldable: the graph type does not provide node_inputs(g, n)" LNFOLD_DETAIL_HOW);
  static_assert(cpo_node_name::available<const G, node_id>,
                "lnfold::find_foldable: the graph type does not provide node_name(g, n)" LNFOLD_DETAIL_HOW);
  static_assert(cpo_is_graph_output::available<const G, node_id>,
                "lnfold::find_foldable: the graph type does not provide is_graph_output(g, n)" LNFOLD_DETAIL_HOW);
  static_assert(cpo_node_op::available<const G, node_id>,
                "lnfold::find_foldable: the graph type does not provide node_op(g, n)" LNFOLD_DETAIL_HOW);
  static_assert(cpo_node_shape::available<const G, node_id>,
                "lnfold::find_foldable: the graph type does not provide node_shape(g, n)" LNFOLD_DETAIL_HOW);
  static_assert(cpo_param_name::available<const G, param_id>,
                "lnfold::find_foldable: the graph type does not provide param_name(g, p)" LNFOLD_DETAIL_HOW);
#undef LNFOLD_DETAIL_HOW
  constexpr bool all_calls = cpo_node_count::available<const G> && cpo_node_inputs::available<const G, node_id> &&
                             cpo_node_name::available<const G, node_id> &&
                             cpo_is_graph_output::available<const G, node_id> &&
                             cpo_node_op::available<const G, node_id> && cpo_node_shape::available<const G, node_id> &&
                             cpo_param_name::available<const G, param_id>;
  static_assert(!all_calls || foldable_graph<G>,
                "lnfold::find_foldable: the graph type provides every call of foldable_graph, but one returns "
                "the wrong type (see the list in lnfold/graph/concepts.hpp)");
  return foldable_graph<G>;
}

}  // namespace detail

/// Decides, for every LayerNorm of `g`, whether it folds into an RMSNorm, and plans what to center.
/// Read-only; see the top of this header for the rules and the complexity.
/// G must model foldable_graph; otherwise compilation stops with a static_assert naming the
/// missing call.
template <class G>
fold_plan find_foldable(const G& g, const fold_options& options = {}) {
  if constexpr (detail::assert_foldable_graph<G>()) return detail::fold_detector<G>(g, options).run();
  else return {};
}

}  // namespace lnfold
