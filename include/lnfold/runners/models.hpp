// The three demo / benchmark models, built the way a user would: the builder's graph, seeded random
// weights, find_foldable, apply_fold_plan; then one runner on the original graph, one on the
// converted graph, and one on the original graph with every norm removed (the limit).
//
// Weights come from lnfold::random_weights<float>(g, seed) (eval/random.hpp): portable and tied to the
// graph, but ~55 ns per value here (mt19937_64 + Box–Muller): about 7 s for GPT-2 small's 124 M
// values, 5 s for ViT-B/16, 6 s for BERT-base, plus ~1 s for apply_fold_plan's copy and centering.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lnfold/eval/random.hpp"
#include "lnfold/fold/find_foldable.hpp"
#include "lnfold/graph/architectures/bert.hpp"
#include "lnfold/graph/architectures/gpt2.hpp"
#include "lnfold/graph/architectures/vit.hpp"
#include "lnfold/runners/bert.hpp"
#include "lnfold/runners/gpt2.hpp"
#include "lnfold/runners/vit.hpp"
#include "lnfold/transform/apply_plan.hpp"

namespace lnfold::runners {

struct model_options {
  std::size_t tokens = 128;  ///< capacity: the graph's seq (GPT-2, BERT); ViT-B/16 always has 197
  tied_policy tied = tied_policy::rank1;
  /// apply_options::fold_affine for the converted model: γ/β of every norm that feeds only linears go
  /// into those linears (24 of GPT-2's 25 norms, 24 of ViT's; BERT's embedding LN feeds a residual),
  /// leaving parameter-free RMSNorms: the converted model a user would deploy.
  bool fold_affine = true;
  std::uint64_t weight_seed = 42, input_seed = 7;
  /// trained: a freshly initialized transformer's scales, as well conditioned as a trained model (a
  /// 1-ulp change of the input moves the outputs by ~1e-6, not 1e-3 as under the stress init).
  weight_init init = weight_init::trained;
};

/// A model, its conversion and their runners. Not movable: the runners point into it.
template <class Runner>
struct model_bundle {
  graph g;
  weight_set<float> weights;
  std::vector<tensor<float>> inputs;
  fold_plan plan;
  converted_model<float> converted;
  std::optional<Runner> original_runner, converted_runner, no_norm_runner;

  model_bundle() = default;
  model_bundle(const model_bundle&) = delete;
  model_bundle& operator=(const model_bundle&) = delete;
};

/// Progress reporting: called with a short description before each slow step.
using progress_fn = void (*)(const std::string&);

template <class Runner>
std::unique_ptr<model_bundle<Runner>> make_bundle(graph g, const model_options& o, progress_fn progress) {
  auto b = std::make_unique<model_bundle<Runner>>();
  b->g = std::move(g);
  if (progress) progress("random weights");
  b->weights = random_weights<float>(b->g, o.weight_seed, o.init);
  b->inputs = random_inputs<float>(b->g, o.input_seed);
  if (progress) progress("find_foldable + apply_fold_plan");
  b->plan = find_foldable(b->g, {.tied = o.tied});
  b->converted = apply_fold_plan(b->g, b->weights, b->plan, {.fold_affine = o.fold_affine});
  b->original_runner.emplace(b->g, b->weights);
  b->converted_runner.emplace(b->converted.g, b->converted.weights);
  b->no_norm_runner.emplace(b->g, b->weights, norm_policy::none);
  return b;
}

/// GPT-2 small: 12 layers, d 768, 12 heads, vocab 50257, tied head.
inline graph gpt2_small_graph(std::size_t tokens) { return build_gpt2({.seq = static_cast<std::int64_t>(tokens)}); }
/// ViT-B/16 at 224 px: 197 tokens; larger images for more tokens (tokens = (image/16)² + 1).
inline graph vit_base_graph(std::int64_t image = 224) { return build_vit({.image = image}); }
/// BERT-base: 12 layers, d 768, 12 heads, vocab 30522.
inline graph bert_base_graph(std::size_t tokens) { return build_bert({.seq = static_cast<std::int64_t>(tokens)}); }

}  // namespace lnfold::runners
