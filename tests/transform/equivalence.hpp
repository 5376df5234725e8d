// Test helpers: evaluate an original and a converted model on the same inputs and measure how far
// their graph outputs are apart, relative to each output's scale.
#pragma once

#include <vector>

#include "lnfold/eval/compare.hpp"
#include "lnfold/eval/evaluate.hpp"
#include "lnfold/eval/random.hpp"
#include "lnfold/graph/architectures.hpp"

namespace lnfold::test {

/// Outputs of `g` with weights `w` on `inputs`.
template <class T>
std::vector<tensor<T>> run(const graph& g, const weight_set<T>& w, const std::vector<tensor<T>>& inputs) {
  return evaluate_outputs<T>(g, w, inputs);
}

/// Total number of stored weight elements.
template <class T>
std::size_t weight_elements(const weight_set<T>& w) {
  std::size_t n = 0;
  for (const auto& t : w) n += t.size();
  return n;
}

}  // namespace lnfold::test
