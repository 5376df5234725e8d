// Comparing two models' outputs: the measure every equivalence claim in lnfold is stated in.
//
// max_rel_diff(a, b) = max over outputs k of  max_i |a_k[i] − b_k[i]|  /  max_i |a_k[i]|:
// each output's worst absolute difference relative to that output's own scale (so logits of size
// 10 and hidden states of size 1 are judged alike, and an exactly zero output does not divide by 0).
// Pair it with evaluate_outputs (evaluate.hpp), which lists a graph's outputs in node order.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "lnfold/tensor/tensor.hpp"

namespace lnfold {

/// Worst output difference relative to the output's scale; +∞ when the outputs differ in count or
/// shape, or when a difference is NaN.
template <class T>
double max_rel_diff(const std::vector<tensor<T>>& a, const std::vector<tensor<T>>& b) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  if (a.size() != b.size()) return inf;
  double worst = 0;
  for (std::size_t k = 0; k < a.size(); ++k) {
    if (a[k].dims() != b[k].dims()) return inf;
    double scale = 0, diff = 0;
    for (std::size_t i = 0; i < a[k].size(); ++i) {
      const double x = static_cast<double>(a[k][i]), y = static_cast<double>(b[k][i]);
      if (std::isnan(x - y)) return inf;
      scale = std::max(scale, std::abs(x));
      diff = std::max(diff, std::abs(x - y));
    }
    worst = std::max(worst, diff / std::max(scale, std::numeric_limits<double>::min()));
  }
  return worst;
}

}  // namespace lnfold
