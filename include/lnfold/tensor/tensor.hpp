// lnfold::tensor_view and lnfold::tensor: the two tensor types the transforms and the reference
// evaluator work on.
//
// tensor_view<T> is a non-owning strided view: data pointer, extents, and strides in elements (any
// sign, any order; zero-size extents allowed). It is what every transform takes, so a user's tensor
// type only has to produce one (see tensor/view.hpp for the customization point) and lnfold never
// copies the user's data beyond what the math needs.
// tensor<T> is an owning dense row-major tensor: lnfold's own weights (the built-in IR keeps weights
// outside the graph, indexed by param_id) and the evaluator's activations.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "lnfold/error.hpp"

namespace lnfold {

template <class T>
struct tensor_view {
  T* data = nullptr;
  std::vector<std::size_t> extents;
  std::vector<std::ptrdiff_t> strides;  ///< in elements, one per extent

  std::size_t rank() const noexcept { return extents.size(); }
  std::size_t size() const noexcept {
    std::size_t n = 1;
    for (auto e : extents) n *= e;
    return n;
  }
  /// Element at a multi-index; no bounds checks (the view's producer guarantees them).
  T& operator()(std::span<const std::size_t> index) const noexcept {
    std::ptrdiff_t offset = 0;
    for (std::size_t k = 0; k < index.size(); ++k) offset += static_cast<std::ptrdiff_t>(index[k]) * strides[k];
    return data[offset];
  }
  operator tensor_view<const T>() const { return {data, extents, strides}; }  // NOLINT: T* -> const T*
};

/// Row-major strides for `extents`.
inline std::vector<std::ptrdiff_t> row_major_strides(std::span<const std::size_t> extents) {
  std::vector<std::ptrdiff_t> strides(extents.size());
  std::ptrdiff_t s = 1;
  for (std::size_t k = extents.size(); k-- > 0;) {
    strides[k] = s;
    s *= static_cast<std::ptrdiff_t>(extents[k]);
  }
  return strides;
}

template <class T>
class tensor {
 public:
  using shape = std::vector<std::int64_t>;  // the same type as lnfold::shape; tensor/ stands alone

  tensor() = default;
  /// A zero-filled tensor of `dims` (all >= 0; throws lnfold::error otherwise).
  explicit tensor(const shape& dims) : dims_(dims) {
    std::size_t n = 1;
    for (auto d : dims) {
      detail::require(d >= 0, "lnfold::tensor: dims must be >= 0 (got ", d, ")");
      n *= static_cast<std::size_t>(d);
    }
    values_.assign(n, T{});
  }
  tensor(const shape& dims, std::vector<T> values) : tensor(dims) {
    detail::require(values.size() == values_.size(), "lnfold::tensor: ", values.size(), " values given for a shape of ",
                    values_.size(), " elements");
    values_ = std::move(values);
  }

  const shape& dims() const noexcept { return dims_; }
  std::size_t rank() const noexcept { return dims_.size(); }
  std::int64_t dim(std::size_t k) const { return dims_.at(k); }
  std::size_t size() const noexcept { return values_.size(); }
  T* data() noexcept { return values_.data(); }
  const T* data() const noexcept { return values_.data(); }
  std::span<T> values() noexcept { return values_; }
  std::span<const T> values() const noexcept { return values_; }
  T& operator[](std::size_t i) noexcept { return values_[i]; }
  const T& operator[](std::size_t i) const noexcept { return values_[i]; }

  tensor_view<T> view() { return {data(), extents(), row_major_strides(extents())}; }
  tensor_view<const T> view() const { return {data(), extents(), row_major_strides(extents())}; }

  /// Same values, another shape with the same number of elements (throws lnfold::error otherwise).
  tensor reshaped(const shape& dims) const { return tensor(dims, values_); }

 private:
  std::vector<std::size_t> extents() const {
    std::vector<std::size_t> e;
    for (auto d : dims_) e.push_back(static_cast<std::size_t>(d));
    return e;
  }
  shape dims_;
  std::vector<T> values_;
};

/// Weights of a built-in graph: one tensor per param_id (index = id, shape = the parameter's shape).
template <class T>
using weight_set = std::vector<tensor<T>>;

}  // namespace lnfold
