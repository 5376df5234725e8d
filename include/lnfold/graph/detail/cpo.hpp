// The customization-point machinery of lnfold's graph concepts: lnfold::graph_traits and the macro
// that defines one customization point object (member, then ADL, then graph_traits). Shared by
// graph/concepts.hpp (reading and editing structure) and transform/rewritable_graph.hpp (editing
// parameters), so that every call a graph type provides is found the same way.
#pragma once

#include <type_traits>

namespace lnfold {

/// Specialize with static member functions to adapt a graph type you cannot change.
template <class G>
struct graph_traits {};

namespace detail {
template <class>
inline constexpr bool always_false = false;
}  // namespace detail

// Defines lnfold::NAME as a customization point object (member, then ADL, then graph_traits) and
// detail::cpo_NAME::available<G, Args...>, the concept that is true when one of the three exists.
// The deleted NAME() stops ordinary lookup at the detail namespace, so step 2 finds only ADL overloads.
#define LNFOLD_DETAIL_GRAPH_CPO(NAME, CALL)                                                             \
  namespace detail::cpo_##NAME {                                                                        \
    void NAME() = delete;                                                                               \
    template <class G, class... A>                                                                      \
    concept has_member = requires(G & g, A && ... a) {                                                  \
      g.NAME(static_cast<A&&>(a)...);                                                                   \
    };                                                                                                  \
    template <class G, class... A>                                                                      \
    concept has_adl = requires(G & g, A && ... a) {                                                     \
      NAME(g, static_cast<A&&>(a)...);                                                                  \
    };                                                                                                  \
    template <class G, class... A>                                                                      \
    concept has_traits = requires(G & g, A && ... a) {                                                  \
      ::lnfold::graph_traits<std::remove_const_t<G>>::NAME(g, static_cast<A&&>(a)...);                  \
    };                                                                                                  \
    template <class G, class... A>                                                                      \
    concept available = has_member<G, A...> || has_adl<G, A...> || has_traits<G, A...>;                 \
    struct fn {                                                                                         \
      template <class G, class... A>                                                                    \
      constexpr decltype(auto) operator()(G& g, A&&... a) const {                                       \
        if constexpr (has_member<G, A...>) return g.NAME(static_cast<A&&>(a)...);                       \
        else if constexpr (has_adl<G, A...>) return NAME(g, static_cast<A&&>(a)...);                    \
        else if constexpr (has_traits<G, A...>)                                                         \
          return ::lnfold::graph_traits<std::remove_const_t<G>>::NAME(g, static_cast<A&&>(a)...);       \
        else                                                                                            \
          static_assert(::lnfold::detail::always_false<G>,                                              \
                        "lnfold: this graph type does not provide " CALL                                \
                        ": add a member function, a free function found by ADL, or a static member "    \
                        "of a lnfold::graph_traits<G> specialization (see lnfold/graph/concepts.hpp)"); \
      }                                                                                                 \
    };                                                                                                  \
  }                                                                                                     \
  inline constexpr detail::cpo_##NAME::fn NAME {}

}  // namespace lnfold
