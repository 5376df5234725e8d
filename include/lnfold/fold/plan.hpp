// The result of detection: which LayerNorms fold, what must be centered to make them fold, and why
// the others do not. A fold_plan never touches weights; transform/ applies it.
//
// Identity preserved when a region's LNs fold (docs/method.md §1, §4): every source of the region is
// centered over the axis that becomes the LN's normalized axis, which makes each LN input exactly
// zero-mean and changes every other tensor in the region by a per-row multiple of 1 only; all the
// region's consumers are mean-invariant, so no model output changes and LN(x) = RMS(x) with the same
// γ, β and ε.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lnfold/graph/op.hpp"
#include "lnfold/graph/taxonomy.hpp"

namespace lnfold {

/// What to do when a parameter to center is also used somewhere centering would change (docs/method.md §5).
enum class tied_policy {
  untie,   ///< copy the parameter for its source uses; costs one more copy of it
  rank1,   ///< keep the tie; the other use (a linear over the centered axis) adds (Σh)·m; costs V floats.
           ///< Where rank-1 compensation does not apply, the conflict is untied instead.
  refuse,  ///< leave such regions unfolded (reason tied_parameter)
};

struct fold_options {
  tied_policy tied = tied_policy::rank1;
  /// Insert one explicit centering after a region's blocking producer when that frees the region
  /// (docs/method.md §5, stem centering: Whisper encoder, CLIP vision, BLOOM).
  bool stem_centering = false;
  /// Fuse a per-channel constant scale that directly follows a linear into it (LayerScale).
  bool fuse_scales = true;
};

/// How a source's parameters are centered.
enum class source_kind {
  linear,              ///< weight over its output axis, bias over its only axis
  conv,                ///< weight over C_out (axis 0), bias
  conv_transpose,      ///< weight over C_out (axis 1), bias
  embedding,           ///< each table row over d (axis 1)
  constant,            ///< the constant over the analysed axis
  broadcast_constant,  ///< a constant broadcast along the axis: centering it makes it zero
};

/// One parameter to center and the axis (of the parameter's own dims) to center over.
/// `axis` is empty for a broadcast constant: the mean over the broadcast copies is the value itself.
struct centered_param {
  param_id param = 0;
  std::optional<std::size_t> axis;
};

struct source_plan {
  node_id node = 0;  ///< the producer (for a fused scale: the linear)
  source_kind kind = source_kind::linear;
  std::vector<centered_param> params;  ///< weight (and bias when present)
  std::size_t region = 0;              ///< index into fold_plan::regions: the LNs it serves
  /// For a broadcast constant: the add / sub that reads it (other readers must not see it zeroed).
  std::optional<node_id> reader;
};

/// A per-channel constant scale that must be fused into the linear before centering (LayerScale):
/// mul(linear(x), s), or with a constant bias add (mul(add(linear(x), b), s)) and reshapes,
/// transposes or identities that keep the axis anywhere between the linear and the mul.
struct scale_fusion {
  node_id mul = 0;     ///< the mul node, which becomes an identity of `scaled`
  node_id linear = 0;  ///< the producer that absorbs the scale
  param_id scale = 0;
  std::size_t region = 0;
  std::optional<node_id> bias_add;  ///< the add between the linear and the mul, if any
  std::optional<node_id> bias;      ///< its constant bias node, scaled too (and centered as a source)
  node_id scaled = 0;               ///< the mul's input that is not the scale (the linear when nothing is between)
};

/// A parameter that a source shares with a use that centering would change, and its resolution.
struct tied_conflict {
  param_id param = 0;
  node_id source_use = 0;                       ///< the node that centers it
  node_id other_use = 0;                        ///< the node that must not see the change
  tied_policy resolution = tied_policy::untie;  ///< refuse: the region stays unfolded
  std::size_t region = 0;
  /// The axis of the parameter's own dims that the source centers (as in its centered_param): the
  /// axis rank-1 compensation takes the means over. None for a broadcast constant (zeroed whole).
  std::optional<std::size_t> axis;
};

/// One inserted centering that frees a whole region (only with fold_options::stem_centering).
struct stem_centering {
  node_id after = 0;       ///< insert `center` over `axis` after this node, for all its consumers
  std::size_t axis = 0;    ///< of that node's output
  std::size_t region = 0;  ///< whose LNs it frees
};

/// Which of the conditions of docs/method.md §4 an LN fails.
enum class fold_condition {
  none,             ///< foldable
  zero_mean_input,  ///< 1: walking back from its input meets a blocker
  safe_consumers,   ///< 2: its zero-mean region is also read by a consumer centering would change
  untied_sources,   ///< 3: a source parameter is tied and the policy refuses to resolve it
  well_formed,      ///< the LN itself is malformed (bad axis, unknown shape)
};

struct ln_verdict {
  node_id node = 0;
  bool foldable = false;
  fold_reason reason = fold_reason::foldable;
  fold_condition failed = fold_condition::none;
  std::optional<node_id> offender;  ///< the node that blocks (or the consumer that breaks the region)
  /// From the LN's input toward the offender: the first hops, and the last hop before the offender
  /// when the path is longer (path_length counts all hops).
  std::vector<node_id> path;
  std::size_t path_length = 0;
  bool needs_stem_centering = false;
  std::optional<std::size_t> region;  ///< none when the LN itself is malformed
};

/// A zero-mean region: tensors connected by transparent ops along one axis (docs/method.md §4).
struct region_plan {
  std::vector<node_id> lns;  ///< LNs reading the region
  bool foldable = false;
  fold_reason reason = fold_reason::foldable;
  std::optional<node_id> offender;
};

struct fold_plan {
  std::vector<ln_verdict> lns;  ///< every LayerNorm of the graph, in node order
  std::vector<region_plan> regions;
  std::vector<source_plan> sources;  ///< only for foldable regions
  std::vector<scale_fusion> fusions;
  std::vector<tied_conflict> tied;
  std::vector<stem_centering> stems;

  std::size_t foldable_count() const noexcept {
    std::size_t n = 0;
    for (const auto& v : lns) n += v.foldable ? 1 : 0;
    return n;
  }
  /// The verdict for LN node `n`, or nullptr when `n` is not a LayerNorm.
  const ln_verdict* verdict(node_id n) const noexcept {
    for (const auto& v : lns)
      if (v.node == n) return &v;
    return nullptr;
  }
};

constexpr std::string_view to_string(tied_policy p) noexcept {
  switch (p) {
    case tied_policy::untie: return "untie";
    case tied_policy::rank1: return "rank1";
    case tied_policy::refuse: return "refuse";
  }
  return "unknown";
}

constexpr std::string_view to_string(fold_condition c) noexcept {
  switch (c) {
    case fold_condition::none: return "none";
    case fold_condition::zero_mean_input: return "zero_mean_input";
    case fold_condition::safe_consumers: return "safe_consumers";
    case fold_condition::untied_sources: return "untied_sources";
    case fold_condition::well_formed: return "well_formed";
  }
  return "unknown";
}

constexpr std::string_view to_string(source_kind k) noexcept {
  switch (k) {
    case source_kind::linear: return "linear";
    case source_kind::conv: return "conv";
    case source_kind::conv_transpose: return "conv_transpose";
    case source_kind::embedding: return "embedding";
    case source_kind::constant: return "constant";
    case source_kind::broadcast_constant: return "broadcast_constant";
  }
  return "unknown";
}

}  // namespace lnfold
