// What applying a fold plan did, as data: one record per edit, with the node and parameter ids an
// engine needs to act on it. apply_fold_plan returns it for every graph type; the weights-only path
// (transform/apply_to_weights.hpp) returns it as the list of graph edits left for the engine to make.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "lnfold/graph/op.hpp"

namespace lnfold {

struct apply_options {
  /// Fold γ/β of every norm whose output feeds only linear layers into those layers
  /// (docs/apply-plan.md, step 6): W ← W·diag(γ), b ← b + W·β; the norm keeps no affine.
  bool fold_affine = false;
};

/// A parameter centered over `axis` of its own dims; no axis: a broadcast constant set to zero.
struct centered_record {
  param_id param = 0;
  std::optional<std::size_t> axis;
  node_id source = 0;  ///< the producer it was centered for
};

/// A node that now reads its own copy of a tied parameter (tied_policy::untie): the copy is centered,
/// the other uses keep the original.
struct untie_record {
  node_id node = 0;
  param_id original = 0;
  param_id copy = 0;
};

/// A constant broadcast along the normalized axis, which centering sets to zero, is also read by
/// other nodes: `reader` now reads `copy_node`, a new constant holding the zeroed copy `copy`.
struct zeroed_copy_record {
  node_id constant = 0;
  node_id reader = 0;
  node_id copy_node = 0;
  param_id copy = 0;
};

/// Rank-1 compensation (tied_policy::rank1) of a linear `linear` reading h that shares its weight W
/// with a centered source: W = W̃ + m·1ᵀ over the centered axis, so y = W̃·h + (Σ h)·m. Every reader
/// of `linear` (and the graph output, if it was one) now reads `compensated` =
/// linear + (reduce_sum of h over `axis`, keep dims) · m.
struct rank1_record {
  node_id linear = 0;
  node_id input = 0;       ///< h
  std::int64_t axis = -1;  ///< axis of h the sum runs over: the one the linear contracts (-1; -2 for W·x)
  param_id tied = 0;       ///< W, still shared, now centered
  param_id means = 0;      ///< m, [outputs] for axis -1, [outputs, 1] for -2; a linear_scale is included
  node_id sum = 0, means_node = 0, correction = 0, compensated = 0;  ///< the nodes added, in order
};

/// A per-channel scale fused into the linear before it (LayerScale): W ← diag(s)·W, b ← s ⊙ b (and
/// a constant bias added between them, when there is one); the `mul` node now passes its input 0,
/// `scaled` (what it multiplied: the linear, or the bias add or reshape after it), through
/// unchanged (op_kind::identity).
struct fusion_record {
  node_id mul = 0;
  node_id linear = 0;
  param_id scale = 0;
  node_id scaled = 0;
};

/// An explicit centering inserted after `after` over `axis`; every reader of `after` reads `center`.
struct stem_record {
  node_id after = 0;
  std::size_t axis = 0;
  node_id center = 0;
};

/// A norm's γ and β moved into the linear layers that read it, directly or through reshapes that
/// keep the last axis (apply_options::fold_affine).
struct affine_fold_record {
  struct reader {
    node_id linear = 0;
    std::optional<param_id> new_bias;  ///< created when the linear had no bias and β needed one
  };
  node_id norm = 0;
  std::vector<reader> linears;
};

/// Everything apply_fold_plan did, in the order it did it.
struct apply_summary {
  std::vector<untie_record> untied;
  std::vector<zeroed_copy_record> zeroed_copies;
  std::vector<rank1_record> rank1;
  std::vector<fusion_record> fused;
  std::vector<centered_record> centered;
  std::vector<stem_record> stems;
  std::vector<node_id> converted;  ///< LayerNorm nodes that are now RMSNorms (same γ, β, ε, axes)
  std::vector<affine_fold_record> affine_folded;
};

}  // namespace lnfold
