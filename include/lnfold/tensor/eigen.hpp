// Tensor views of Eigen objects, so the transforms edit Eigen-held weights in place. This is the only
// lnfold header that includes Eigen; link lnfold::eigen to use it.
//
// Adapted (through lnfold::tensor_traits, see tensor/view.hpp):
//   - every dense expression with direct access: Eigen::Matrix, Eigen::Array, Eigen::Map (with any
//     Stride / InnerStride / OuterStride), Eigen::Block (also non-contiguous), Eigen::Ref, and the
//     Transpose of any of them;
//   - Eigen::Tensor and Eigen::TensorMap (include unsupported/Eigen/CXX11/Tensor yourself, before or
//     after this header: it is not included here, to keep its compile time out of other users).
// Index order is Eigen's, whatever the storage order: a matrix gives extents [rows, cols] (strides
// [outer, inner] when row-major, [inner, outer] when column-major); a type that is a vector at compile
// time (VectorXf, RowVectorXd, m.col(j), m.row(i)) gives extents [size] with its inner stride; a
// rank-N Eigen::Tensor gives extents dims[0..N) with column-major strides (1, d0, d0·d1, …) by
// default or row-major ones with Eigen::RowMajor. So "axis k" always means Eigen's k-th index.
// Elements are const in the view when the object or its scalar is const (const Matrix&, Ref<const …>,
// Map<const …>, Block<const …>, TensorMap<const Tensor<…>>).
//
// Complexity: O(rank); no element is copied.
#pragma once

#include <cstddef>
#include <type_traits>

#include "lnfold/detail/disable_warnings.hpp"  // GCC bug 105593 in the AVX-512 code Eigen inlines

#include <Eigen/Core>

#include "lnfold/detail/restore_warnings.hpp"

#include "lnfold/tensor/view.hpp"

namespace lnfold {

namespace detail {

/// A dense Eigen expression whose elements sit in memory at data() + i·stride_i + j·stride_j.
template <class X>
concept eigen_direct_dense = std::is_base_of_v<Eigen::DenseBase<X>, X> &&
    ((Eigen::internal::traits<X>::Flags & Eigen::DirectAccessBit) != 0);

template <class X>
auto eigen_dense_view(X& x) {
  using element = std::remove_pointer_t<decltype(x.data())>;
  tensor_view<element> v;
  v.data = x.data();
  if constexpr (X::IsVectorAtCompileTime) {
    v.extents = {static_cast<std::size_t>(x.size())};
    v.strides = {static_cast<std::ptrdiff_t>(x.innerStride())};
  } else {
    const auto inner = static_cast<std::ptrdiff_t>(x.innerStride());
    const auto outer = static_cast<std::ptrdiff_t>(x.outerStride());
    v.extents = {static_cast<std::size_t>(x.rows()), static_cast<std::size_t>(x.cols())};
    if constexpr (X::IsRowMajor) v.strides = {outer, inner};
    else v.strides = {inner, outer};
  }
  return v;
}

}  // namespace detail

/// Any directly-addressable dense Eigen object (Matrix, Array, Map, Block, Ref, Transpose).
template <class X>
requires detail::eigen_direct_dense<X>
struct tensor_traits<X> {
  static auto view(X& x) { return detail::eigen_dense_view(x); }
  static auto view(const X& x) { return detail::eigen_dense_view(x); }
};

// Temporaries of these refer to elements owned elsewhere. A Ref<const M> may hold a private copy of
// what it was built from, so only the mutable Ref is borrowed.
template <class P, int O, class S>
inline constexpr bool enable_borrowed_tensor<Eigen::Map<P, O, S>> = true;
template <class P, int R, int C, bool I>
inline constexpr bool enable_borrowed_tensor<Eigen::Block<P, R, C, I>> = true;
template <class P, int O, class S>
inline constexpr bool enable_borrowed_tensor<Eigen::Ref<P, O, S>> = !std::is_const_v<P>;
template <class P>
inline constexpr bool enable_borrowed_tensor<Eigen::Transpose<P>> = true;

}  // namespace lnfold

// ---- Eigen::Tensor / TensorMap ----------------------------------------------------------------------
// Declared here (same parameters as Eigen 3.3/3.4's TensorForwardDeclarations.h, without the defaults,
// which Eigen gives) so the adapters exist whatever the include order, without paying for the Tensor
// module in translation units that do not use it. Their bodies are instantiated only on use, when the
// user has included unsupported/Eigen/CXX11/Tensor.
namespace Eigen {
template <typename Scalar_, int NumIndices_, int Options_, typename IndexType_>
class Tensor;
template <typename PlainObjectType, int Options_, template <class> class MakePointer_>
class TensorMap;
}  // namespace Eigen

namespace lnfold {
namespace detail {

template <class X>
auto eigen_tensor_view(X& x) {
  using element = std::remove_pointer_t<decltype(x.data())>;
  constexpr auto rank = static_cast<std::size_t>(X::NumIndices);
  tensor_view<element> v;
  v.data = x.data();
  v.extents.resize(rank);
  v.strides.resize(rank);
  const auto& dims = x.dimensions();
  for (std::size_t k = 0; k < rank; ++k) v.extents[k] = static_cast<std::size_t>(dims[k]);
  std::ptrdiff_t s = 1;
  if constexpr (static_cast<int>(X::Layout) == static_cast<int>(Eigen::RowMajor)) {
    for (std::size_t k = rank; k-- > 0;) {
      v.strides[k] = s;
      s *= static_cast<std::ptrdiff_t>(v.extents[k]);
    }
  } else {
    for (std::size_t k = 0; k < rank; ++k) {
      v.strides[k] = s;
      s *= static_cast<std::ptrdiff_t>(v.extents[k]);
    }
  }
  return v;
}

}  // namespace detail

template <class S, int N, int O, class I>
struct tensor_traits<Eigen::Tensor<S, N, O, I>> {
  static auto view(Eigen::Tensor<S, N, O, I>& x) { return detail::eigen_tensor_view(x); }
  static auto view(const Eigen::Tensor<S, N, O, I>& x) { return detail::eigen_tensor_view(x); }
};

/// A TensorMap's constness is that of its element type (a const map still writes through, as in Eigen).
template <class P, int O, template <class> class M>
struct tensor_traits<Eigen::TensorMap<P, O, M>> {
  static auto view(const Eigen::TensorMap<P, O, M>& x) { return detail::eigen_tensor_view(x); }
};

template <class P, int O, template <class> class M>
inline constexpr bool enable_borrowed_tensor<Eigen::TensorMap<P, O, M>> = true;

}  // namespace lnfold
