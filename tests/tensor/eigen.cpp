// Tensor views of Eigen objects: every element of the view must be the Eigen object's element at the
// same index (addresses compared), for each storage order, stride kind, block, ref and tensor; and
// centering through such a view edits exactly the viewed elements.
// The Tensor module is included *after* the adapter on purpose: the adapters must not depend on order.
#include "lnfold/tensor/eigen.hpp"
#include "lnfold/transform/ccwt.hpp"

#include <unsupported/Eigen/CXX11/Tensor>

#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <type_traits>
#include <vector>

namespace {

/// Every (i, j) of a rank-2 view addresses m(i, j).
template <class T, class M>
void check_matrix_view(const lnfold::tensor_view<T>& v, const M& m) {
  REQUIRE(v.rank() == 2);
  REQUIRE(v.extents[0] == static_cast<std::size_t>(m.rows()));
  REQUIRE(v.extents[1] == static_cast<std::size_t>(m.cols()));
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index j = 0; j < m.cols(); ++j) {
      const std::array<std::size_t, 2> idx{static_cast<std::size_t>(i), static_cast<std::size_t>(j)};
      REQUIRE(&v(idx) == &m.coeffRef(i, j));
    }
}

template <class T, class M>
void check_vector_view(const lnfold::tensor_view<T>& v, const M& m) {
  REQUIRE(v.rank() == 1);
  REQUIRE(v.extents[0] == static_cast<std::size_t>(m.size()));
  for (Eigen::Index i = 0; i < m.size(); ++i) {
    const std::array<std::size_t, 1> idx{static_cast<std::size_t>(i)};
    REQUIRE(&v(idx) == &m.coeffRef(i));
  }
}

}  // namespace

TEMPLATE_TEST_CASE("Matrix and Array views follow Eigen's index in both storage orders", "[tensor][eigen]", float,
                   double) {
  using T = TestType;
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor> cm(3, 5);
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rm(3, 5);
  Eigen::Array<T, 4, 2> fixed;
  check_matrix_view(lnfold::as_tensor_view(cm), cm);
  check_matrix_view(lnfold::as_tensor_view(rm), rm);
  check_matrix_view(lnfold::as_tensor_view(fixed), fixed);
  CHECK(lnfold::as_tensor_view(cm).strides == std::vector<std::ptrdiff_t>{1, 3});
  CHECK(lnfold::as_tensor_view(rm).strides == std::vector<std::ptrdiff_t>{5, 1});
  const auto& ccm = cm;
  STATIC_REQUIRE(std::is_same_v<decltype(lnfold::as_tensor_view(ccm)), lnfold::tensor_view<const T>>);
  STATIC_REQUIRE(std::is_same_v<decltype(lnfold::as_tensor_view(cm)), lnfold::tensor_view<T>>);
}

TEST_CASE("vectors, rows and columns are rank-1 views with their increment", "[tensor][eigen]") {
  Eigen::MatrixXf m(4, 6);
  Eigen::VectorXf v(7);
  Eigen::RowVectorXd r(3);
  check_vector_view(lnfold::as_tensor_view(v), v);
  check_vector_view(lnfold::as_tensor_view(r), r);
  check_vector_view(lnfold::as_tensor_view(m.col(2)), m.col(2));  // a borrowed temporary
  check_vector_view(lnfold::as_tensor_view(m.row(1)), m.row(1));  // stride 4: the outer stride
  CHECK(lnfold::as_tensor_view(m.row(1)).strides == std::vector<std::ptrdiff_t>{4});
}

TEST_CASE("Map with Stride, InnerStride and OuterStride", "[tensor][eigen]") {
  std::vector<double> buf(64);
  using dyn = Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>;
  Eigen::Map<Eigen::MatrixXd, 0, dyn> both(buf.data(), 3, 4, dyn(13, 3));
  check_matrix_view(lnfold::as_tensor_view(both), both);
  Eigen::Map<Eigen::VectorXd, 0, Eigen::InnerStride<>> inner(buf.data() + 1, 5, Eigen::InnerStride<>(7));
  check_vector_view(lnfold::as_tensor_view(inner), inner);
  Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0, Eigen::OuterStride<>> outer(
      buf.data(), 4, 3, Eigen::OuterStride<>(10));
  check_matrix_view(lnfold::as_tensor_view(outer), outer);
  CHECK(lnfold::as_tensor_view(outer).strides == std::vector<std::ptrdiff_t>{10, 1});
  Eigen::Map<const Eigen::MatrixXd> cmap(buf.data(), 2, 2);
  STATIC_REQUIRE(std::is_same_v<decltype(lnfold::as_tensor_view(cmap)), lnfold::tensor_view<const double>>);
}

TEST_CASE("Block, Ref and Transpose are non-contiguous views", "[tensor][eigen]") {
  Eigen::MatrixXf m(7, 9);
  auto block = m.block(1, 2, 4, 3);
  check_matrix_view(lnfold::as_tensor_view(block), block);
  check_matrix_view(lnfold::as_tensor_view(m.block(2, 1, 3, 5)), m.block(2, 1, 3, 5));
  Eigen::Ref<Eigen::MatrixXf, 0, Eigen::OuterStride<>> ref = m.block(0, 3, 5, 2);
  check_matrix_view(lnfold::as_tensor_view(ref), ref);
  Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> cref = m.block(0, 3, 5, 2);
  STATIC_REQUIRE(std::is_same_v<decltype(lnfold::as_tensor_view(cref)), lnfold::tensor_view<const float>>);
  auto t = m.transpose();
  check_matrix_view(lnfold::as_tensor_view(t), t);
  STATIC_REQUIRE(lnfold::enable_borrowed_tensor<Eigen::Block<Eigen::MatrixXf>>);
  STATIC_REQUIRE_FALSE(lnfold::enable_borrowed_tensor<Eigen::MatrixXf>);
  STATIC_REQUIRE_FALSE(lnfold::enable_borrowed_tensor<Eigen::Ref<const Eigen::MatrixXf>>);
  // Expressions without direct access are not tensors.
  STATIC_REQUIRE_FALSE(lnfold::tensor_like<decltype(m + m)>);
}

TEST_CASE("Eigen::Tensor and TensorMap: column-major by default, row-major on request, rank 0", "[tensor][eigen]") {
  Eigen::Tensor<float, 3> cm(2, 3, 4);
  const auto v = lnfold::as_tensor_view(cm);
  CHECK(v.extents == std::vector<std::size_t>{2, 3, 4});
  CHECK(v.strides == std::vector<std::ptrdiff_t>{1, 2, 6});
  Eigen::Tensor<double, 3, Eigen::RowMajor> rm(2, 3, 4);
  CHECK(lnfold::as_tensor_view(rm).strides == std::vector<std::ptrdiff_t>{12, 4, 1});
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t j = 0; j < 3; ++j)
      for (std::size_t k = 0; k < 4; ++k) {
        const std::array<std::size_t, 3> idx{i, j, k};
        const auto a = static_cast<Eigen::Index>(i), b = static_cast<Eigen::Index>(j), c = static_cast<Eigen::Index>(k);
        REQUIRE(&v(idx) == &cm(a, b, c));
        REQUIRE(&lnfold::as_tensor_view(rm)(idx) == &rm(a, b, c));
      }
  Eigen::TensorMap<Eigen::Tensor<float, 2>> map(cm.data(), 6, 4);
  const auto mv = lnfold::as_tensor_view(map);
  CHECK(mv.data == cm.data());
  CHECK(mv.strides == std::vector<std::ptrdiff_t>{1, 6});
  Eigen::TensorMap<Eigen::Tensor<const float, 2>> cmap(cm.data(), 6, 4);
  STATIC_REQUIRE(std::is_same_v<decltype(lnfold::as_tensor_view(cmap)), lnfold::tensor_view<const float>>);
  Eigen::Tensor<double, 0> scalar;
  const auto sv = lnfold::as_tensor_view(scalar);
  CHECK(sv.rank() == 0);
  CHECK(sv.size() == 1);
  CHECK(sv.data == scalar.data());
}

TEMPLATE_TEST_CASE("centering through Eigen views edits exactly the viewed elements", "[tensor][eigen][ccwt]", float,
                   double) {
  using T = TestType;
  using M = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  M big = M::Random(9, 11);
  const M before = big;
  // A [out, in] weight stored as a Block of a bigger column-major matrix: center over axis 0 (rows).
  auto w = big.block(2, 3, 5, 4);
  lnfold::center_linear_weight(w, lnfold::weight_layout::out_in);
  for (Eigen::Index i = 0; i < big.rows(); ++i)
    for (Eigen::Index j = 0; j < big.cols(); ++j) {
      const bool inside = i >= 2 && i < 7 && j >= 3 && j < 7;
      if (!inside) REQUIRE(big(i, j) == before(i, j));
    }
  const auto tol = static_cast<double>(8 * std::numeric_limits<T>::epsilon());
  for (Eigen::Index j = 0; j < 4; ++j) {
    CHECK(std::abs(static_cast<double>(w.col(j).sum())) <= tol);
    const M orig = before.block(2, 3, 5, 4);
    const T mean = orig.col(j).mean();
    CHECK(static_cast<double>((w.col(j) - (orig.col(j).array() - mean).matrix()).cwiseAbs().maxCoeff()) <= tol);
  }
  // A row-major [in, out] weight: center over axis 1.
  Eigen::Matrix<T, 6, 3, Eigen::RowMajor> io = Eigen::Matrix<T, 6, 3, Eigen::RowMajor>::Random();
  io.array() += T(5);
  lnfold::center_linear_weight(io, lnfold::weight_layout::in_out);
  CHECK(static_cast<double>(io.rowwise().sum().cwiseAbs().maxCoeff()) <= 3 * 6 * tol);
  // An Eigen::Tensor conv weight [C_out, C_in, kh, kw] in column-major storage.
  Eigen::Tensor<T, 4> conv(5, 3, 2, 2);
  conv.setRandom();
  lnfold::center_conv_weight(conv);
  for (Eigen::Index c = 0; c < 3; ++c)
    for (Eigen::Index a = 0; a < 2; ++a)
      for (Eigen::Index b = 0; b < 2; ++b) {
        double s = 0;
        for (Eigen::Index o = 0; o < 5; ++o) s += static_cast<double>(conv(o, c, a, b));
        CHECK(std::abs(s) <= 5 * tol);
      }
}
