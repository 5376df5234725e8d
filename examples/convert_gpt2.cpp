// lnfold-convert-gpt2: the whole conversion on a small GPT-2, step by step.
//
//   1. build a GPT-2 graph (2 layers, d = 64, vocab 512) and give it random weights;
//   2. find_foldable: which LayerNorms fold, what to center, how the tied lm_head is handled;
//   3. apply_fold_plan: center those parameters in double, swap the LNs for RMSNorm;
//   4. evaluate both models on the same random tokens, in double and in float, and print the worst
//      relative difference of the logits.
// Usage: lnfold-convert-gpt2 [--tied rank1|untie]
#include <cstdio>
#include <iostream>
#include <string_view>

#include "lnfold/eval/compare.hpp"
#include "lnfold/eval/evaluate.hpp"
#include "lnfold/eval/random.hpp"
#include "lnfold/fold/find_foldable.hpp"
#include "lnfold/fold/report.hpp"
#include "lnfold/graph/architectures/gpt2.hpp"
#include "lnfold/transform/apply_plan.hpp"

namespace {

template <class T>
double logits_difference(const lnfold::graph& g, const lnfold::fold_plan& plan) {
  const auto weights = lnfold::random_weights<T>(g, 42);
  const auto tokens = lnfold::random_inputs<T>(g, 7);
  const auto converted = lnfold::apply_fold_plan(g, weights, plan);
  return lnfold::max_rel_diff(lnfold::evaluate_outputs<T>(g, weights, tokens),
                              lnfold::evaluate_outputs<T>(converted.g, converted.weights, tokens));
}

}  // namespace

int main(int argc, char** argv) {
  lnfold::fold_options options;
  if (argc == 3 && std::string_view(argv[1]) == "--tied" && std::string_view(argv[2]) == "untie") {
    options.tied = lnfold::tied_policy::untie;
  } else if (!(argc == 1 ||
               (argc == 3 && std::string_view(argv[1]) == "--tied" && std::string_view(argv[2]) == "rank1"))) {
    std::cerr << "usage: lnfold-convert-gpt2 [--tied rank1|untie]\n";
    return 2;
  }
  const lnfold::graph g = lnfold::build_gpt2(
      {.layers = 2, .d = 64, .heads = 4, .vocab = 512, .positions = 64, .seq = 16});
  std::cout << "GPT-2, 2 layers, d = 64, vocab 512: " << g.node_count() << " nodes, " << g.param_count()
            << " parameters\n\n";

  const lnfold::fold_plan plan = lnfold::find_foldable(g, options);
  std::cout << lnfold::to_text(plan, g) << '\n';

  const auto weights = lnfold::random_weights<double>(g, 42);
  const auto converted = lnfold::apply_fold_plan(g, weights, plan);
  const auto& s = converted.summary;
  std::cout << "Applied: " << s.converted.size() << " LayerNorms are now RMSNorms; " << s.centered.size()
            << " parameters centered";
  if (!s.rank1.empty())
    std::cout << "; lm_head keeps the tie and adds (Σh)·m (" << converted.weights[s.rank1.front().means].size()
              << " means stored)";
  if (!s.untied.empty()) std::cout << "; " << s.untied.size() << " parameter(s) untied by copy";
  std::cout << ".\n\n";

  std::printf("worst relative logits difference, original vs converted: %.3g (double), %.3g (float)\n",
              logits_difference<double>(g, plan), logits_difference<float>(g, plan));
  return 0;
}
