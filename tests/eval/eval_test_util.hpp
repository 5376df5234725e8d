// Shared helpers of the evaluator tests: weights by parameter name, tensors from literals, and an
// element-wise comparison with a tolerance in units of the element type's epsilon.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <initializer_list>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "lnfold/eval/evaluate.hpp"
#include "lnfold/graph/builder.hpp"

namespace eval_test {

using lnfold::graph;
using lnfold::node_id;
using lnfold::shape;
using lnfold::tensor;

template <class T>
tensor<T> make(const shape& dims, const std::vector<double>& values) {
  std::vector<T> v;
  for (double x : values) v.push_back(static_cast<T>(x));
  return tensor<T>(dims, std::move(v));
}

/// Weights for every parameter of `g`, given by name (each must be listed, with its declared size).
template <class T>
lnfold::weight_set<T> weights_by_name(const graph& g, const std::map<std::string, std::vector<double>>& values) {
  lnfold::weight_set<T> w;
  for (lnfold::param_id p = 0; p < g.param_count(); ++p) {
    const auto it = values.find(std::string(g.param_name(p)));
    REQUIRE(it != values.end());
    w.push_back(make<T>(g.param_shape(p), it->second));
  }
  return w;
}

/// Every node's value for the given weights and inputs.
template <class T>
std::vector<tensor<T>> run(const graph& g, const std::map<std::string, std::vector<double>>& params,
                           const std::vector<tensor<T>>& inputs) {
  return lnfold::evaluate<T>(g, weights_by_name<T>(g, params), inputs);
}

/// t has shape `dims` and every element within ulps·eps(T)·max(1, |expected|) of `expected`.
template <class T>
void check_values(const tensor<T>& t, const shape& dims, const std::vector<double>& expected, double ulps = 4.0) {
  REQUIRE(t.dims() == dims);
  REQUIRE(t.size() == expected.size());
  const double eps = static_cast<double>(std::numeric_limits<T>::epsilon());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i << ": got " << t[i] << ", expected " << expected[i]);
    CHECK(std::abs(static_cast<double>(t[i]) - expected[i]) <= ulps * eps * std::max(1.0, std::abs(expected[i])));
  }
}

}  // namespace eval_test
