// lnfold::as_tensor_view: the three ways a foreign tensor type adapts (member, ADL, traits), their
// order, lnfold's own types, constness, and what is not tensor_like.
#include "lnfold/tensor/view.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <type_traits>
#include <vector>

namespace foreign {

// Adapted by a member function.
struct member_tensor {
  std::vector<float> values = std::vector<float>(6);
  lnfold::tensor_view<float> as_tensor_view() { return {values.data(), {2, 3}, {3, 1}}; }
  lnfold::tensor_view<const float> as_tensor_view() const { return {values.data(), {2, 3}, {3, 1}}; }
};

// Adapted by a free function found by ADL.
struct adl_tensor {
  std::vector<double> values = std::vector<double>(4);
};
inline lnfold::tensor_view<double> as_tensor_view(adl_tensor& t) { return {t.values.data(), {4}, {1}}; }

// Adapted through lnfold::tensor_traits (a type we pretend not to own); column-major storage.
struct traits_tensor {
  std::vector<float> values = std::vector<float>(6);
};

// Both a member and an ADL function: the member wins.
struct both_tensor {
  std::vector<float> a = std::vector<float>(2), b = std::vector<float>(2);
  lnfold::tensor_view<float> as_tensor_view() { return {a.data(), {2}, {1}}; }
};
inline lnfold::tensor_view<float> as_tensor_view(both_tensor& t) { return {t.b.data(), {2}, {1}}; }

// Not a tensor: no customization at all, or one returning the wrong type.
struct plain {};
struct wrong_member {
  int as_tensor_view() { return 0; }
};

}  // namespace foreign

template <>
struct lnfold::tensor_traits<foreign::traits_tensor> {
  static tensor_view<float> view(foreign::traits_tensor& t) { return {t.values.data(), {2, 3}, {1, 2}}; }
};

TEST_CASE("a member as_tensor_view() adapts a type, const objects give const elements", "[tensor]") {
  foreign::member_tensor t;
  STATIC_REQUIRE(lnfold::tensor_like<foreign::member_tensor>);
  STATIC_REQUIRE(lnfold::writable_tensor_like<foreign::member_tensor&>);
  STATIC_REQUIRE_FALSE(lnfold::writable_tensor_like<const foreign::member_tensor&>);
  STATIC_REQUIRE(std::is_same_v<lnfold::tensor_element_t<const foreign::member_tensor>, const float>);
  const auto v = lnfold::as_tensor_view(t);
  CHECK(v.data == t.values.data());
  CHECK(v.extents == std::vector<std::size_t>{2, 3});
  const auto& ct = t;
  STATIC_REQUIRE(std::is_same_v<decltype(lnfold::as_tensor_view(ct)), lnfold::tensor_view<const float>>);
}

TEST_CASE("a free function found by ADL adapts a type", "[tensor]") {
  foreign::adl_tensor t;
  STATIC_REQUIRE(lnfold::tensor_like<foreign::adl_tensor&>);
  const auto v = lnfold::as_tensor_view(t);
  CHECK(v.data == t.values.data());
  CHECK(v.extents == std::vector<std::size_t>{4});
}

TEST_CASE("a tensor_traits specialization adapts a type", "[tensor]") {
  foreign::traits_tensor t;
  STATIC_REQUIRE(lnfold::tensor_like<foreign::traits_tensor>);
  const auto v = lnfold::as_tensor_view(t);
  CHECK(v.data == t.values.data());
  CHECK(v.strides == std::vector<std::ptrdiff_t>{1, 2});
}

TEST_CASE("the member is preferred over ADL", "[tensor]") {
  foreign::both_tensor t;
  CHECK(lnfold::as_tensor_view(t).data == t.a.data());
}

TEST_CASE("types without a customization, or with a wrong one, are not tensor_like", "[tensor]") {
  STATIC_REQUIRE_FALSE(lnfold::tensor_like<foreign::plain>);
  STATIC_REQUIRE_FALSE(lnfold::tensor_like<foreign::wrong_member>);
  STATIC_REQUIRE_FALSE(lnfold::tensor_like<int>);
  STATIC_REQUIRE_FALSE(lnfold::tensor_like<std::vector<float>>);
}

TEST_CASE("lnfold::tensor and lnfold::tensor_view work out of the box", "[tensor]") {
  lnfold::tensor<float> t({2, 3, 4});
  STATIC_REQUIRE(lnfold::writable_tensor_like<lnfold::tensor<float>&>);
  const auto v = lnfold::as_tensor_view(t);
  CHECK(v.data == t.data());
  CHECK(v.extents == std::vector<std::size_t>{2, 3, 4});
  CHECK(v.strides == std::vector<std::ptrdiff_t>{12, 4, 1});
  const auto& ct = t;
  STATIC_REQUIRE(std::is_same_v<decltype(lnfold::as_tensor_view(ct)), lnfold::tensor_view<const float>>);

  // A view is its own view, and a borrowed temporary: viewing a prvalue view is allowed.
  const auto again = lnfold::as_tensor_view(t.view());
  CHECK(again.data == t.data());
  CHECK(again.strides == v.strides);
  STATIC_REQUIRE(lnfold::enable_borrowed_tensor<lnfold::tensor_view<double>>);
  STATIC_REQUIRE_FALSE(lnfold::enable_borrowed_tensor<lnfold::tensor<double>>);
  STATIC_REQUIRE(std::is_same_v<lnfold::tensor_element_t<lnfold::tensor_view<const double>>, const double>);
  STATIC_REQUIRE_FALSE(lnfold::writable_tensor_like<lnfold::tensor_view<const double>>);
}
