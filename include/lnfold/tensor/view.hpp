// lnfold::as_tensor_view and lnfold::tensor_like: how the transforms read and edit *your* tensors in
// place, without copying them into lnfold's own types.
//
// lnfold::as_tensor_view(x) is a customization point object. For an object x of type X it looks, in
// this order, for
//   1. a member:                 x.as_tensor_view()
//   2. a free function by ADL:   as_tensor_view(x)                 (declared in X's namespace)
//   3. a traits specialization:  lnfold::tensor_traits<X>::view(x)  (static member)
// each of which must return a lnfold::tensor_view<T> (T const-qualified when the elements are
// read-only). A type providing none of the three fails with one static_assert whose instantiation
// context names the type. lnfold::tensor_view<T> and lnfold::tensor<T> work out of the box (traits
// below); tensor/eigen.hpp adapts Eigen's dense matrices, arrays, maps, blocks, refs and tensors.
//
// The view is non-owning. Calling as_tensor_view on a temporary that owns its elements (an owning
// tensor, an Eigen::Matrix) would dangle and is refused at compile time; a temporary that only refers
// to elements owned elsewhere (a tensor_view, an Eigen::Map or Block) is fine once the type opts in
// with `lnfold::enable_borrowed_tensor<X> = true`, the same idea as std::ranges::enable_borrowed_range.
//
// Complexity: as_tensor_view is O(rank) (it copies extents and strides, never elements).
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>

#include "lnfold/tensor/tensor.hpp"

namespace lnfold {

/// Specialize with `static tensor_view<T> view(X& x)` (and a const overload returning
/// tensor_view<const T> if const objects should work) to adapt a tensor type you cannot change.
template <class X>
struct tensor_traits {};

/// Set to true for a type whose temporaries refer to elements owned elsewhere (views, maps, blocks):
/// as_tensor_view then accepts such temporaries too.
template <class X>
inline constexpr bool enable_borrowed_tensor = false;

template <class T>
inline constexpr bool enable_borrowed_tensor<tensor_view<T>> = true;

namespace detail {

template <class V>
struct is_tensor_view_type : std::false_type {};
template <class T>
struct is_tensor_view_type<tensor_view<T>> : std::true_type {};

/// True for lnfold::tensor_view<T> (any T, cv-ref ignored).
template <class V>
concept is_tensor_view = is_tensor_view_type<std::remove_cvref_t<V>>::value;

template <class>
inline constexpr bool tensor_always_false = false;

/// Instantiated only when X has no customization: the compiler's note "required from
/// 'struct lnfold::detail::no_tensor_view_customization_for<X>'" names the type.
template <class X>
struct no_tensor_view_customization_for {
  static_assert(tensor_always_false<X>,
                "lnfold::as_tensor_view: this type provides no tensor view: add a member "
                "x.as_tensor_view(), a free function as_tensor_view(x) found by ADL, or a static "
                "view(x) in a lnfold::tensor_traits<X> specialization, each returning a "
                "lnfold::tensor_view<T> (see lnfold/tensor/view.hpp)");
};

template <class X>
struct owning_temporary_for {
  static_assert(tensor_always_false<X>,
                "lnfold::as_tensor_view: the argument is a temporary that owns its elements, so the "
                "view would dangle; pass an lvalue, or set lnfold::enable_borrowed_tensor<X> = true "
                "if X only refers to elements owned elsewhere");
};

namespace cpo_as_tensor_view {
// Stops ordinary lookup here, so step 2 finds only ADL overloads.
void as_tensor_view() = delete;

template <class X>
concept has_member = requires(X& x) {
  { x.as_tensor_view() } -> is_tensor_view;
};
template <class X>
concept has_adl = requires(X& x) {
  { as_tensor_view(x) } -> is_tensor_view;
};
template <class X>
concept has_traits = requires(X& x) {
  { ::lnfold::tensor_traits<std::remove_cv_t<X>>::view(x) } -> is_tensor_view;
};
template <class X>
concept available = has_member<X> || has_adl<X> || has_traits<X>;

struct fn {
  template <class X>
  constexpr auto operator()(X&& x) const {
    using obj = std::remove_reference_t<X>;
    if constexpr (!std::is_lvalue_reference_v<X> && !enable_borrowed_tensor<std::remove_cv_t<obj>>) {
      (void)sizeof(owning_temporary_for<std::remove_cv_t<obj>>);
      return tensor_view<float>{};
    } else if constexpr (has_member<obj>) {
      return x.as_tensor_view();
    } else if constexpr (has_adl<obj>) {
      return as_tensor_view(x);
    } else if constexpr (has_traits<obj>) {
      return ::lnfold::tensor_traits<std::remove_cv_t<obj>>::view(x);
    } else {
      (void)sizeof(no_tensor_view_customization_for<std::remove_cv_t<obj>>);
      return tensor_view<float>{};
    }
  }
};
}  // namespace cpo_as_tensor_view
}  // namespace detail

/// The tensor_view of x: member, then ADL, then tensor_traits (see the top of this header).
inline constexpr detail::cpo_as_tensor_view::fn as_tensor_view{};

/// X can be viewed as a lnfold::tensor_view through one of the three customizations (lvalues of X;
/// cv-qualification of X is respected: a const Eigen matrix gives a view of const elements).
template <class X>
concept tensor_like = detail::cpo_as_tensor_view::available<std::remove_reference_t<X>>;

/// The element type of X's view, e.g. `float` or `const float`.
template <class X>
requires tensor_like<X>
using tensor_element_t =
    typename std::remove_pointer_t<decltype(as_tensor_view(std::declval<std::remove_reference_t<X>&>()).data)>;

/// X's view lets lnfold write the elements (the transforms that edit in place require this).
template <class X>
concept writable_tensor_like = tensor_like<X> && !std::is_const_v<tensor_element_t<X>>;

// ---- lnfold's own types ----------------------------------------------------------------------------

template <class T>
struct tensor_traits<tensor_view<T>> {
  static tensor_view<T> view(const tensor_view<T>& v) { return v; }
};

template <class T>
struct tensor_traits<tensor<T>> {
  static tensor_view<T> view(tensor<T>& t) { return t.view(); }
  static tensor_view<const T> view(const tensor<T>& t) { return t.view(); }
};

}  // namespace lnfold
