// Test helper shared by the transform tests: n uniform values in [lo, hi) from a fixed seed.
#pragma once

#include <cstddef>
#include <random>
#include <vector>

namespace transform_test {

template <class T>
std::vector<T> random_values(std::size_t n, unsigned seed, double lo, double hi) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(dist(gen));
  return v;
}

}  // namespace transform_test
