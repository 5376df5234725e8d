// Customization points and concepts through which lnfold reads (and, for transforms, edits) *your*
// graph type, without copying it into lnfold's own IR.
//
// Every call below is a customization point object in namespace lnfold. For a graph `g` of type G it
// looks, in this order, for
//   1. a member:                 g.node_count()
//   2. a free function by ADL:   node_count(g)              (declared in G's namespace)
//   3. a traits specialization:  lnfold::graph_traits<G>::node_count(g)   (static member)
// and fails with one static_assert naming the missing call otherwise. Algorithms that take a
// graph do the same up front: find_foldable static_asserts each call of foldable_graph by name.
// (Functions constrained directly by a concept, such as the reports of fold/report.hpp, report a
// missing call as an unsatisfied constraint instead.)
//
// The concepts are layered; each lists exactly the calls that must work (n: node_id, p: param_id):
//   readable_graph   node_count(g) -> size_t           nodes are 0 .. node_count-1
//                    node_inputs(g, n) -> range of ids  data inputs of n, in order
//                    node_name(g, n) -> string-like     for reports
//                    is_graph_output(g, n) -> bool      is n's output exposed by the graph?
//   foldable_graph   + node_op(g, n) -> op_desc         what n does (op.hpp); unknown ops: op_kind::unknown
//                    + node_shape(g, n) -> optional<shape>   n's output shape; nullopt: rank unknown
//                    + param_name(g, p) -> string-like  for reports
//   mutable_graph    + set_node_op(g, n, op_desc)        e.g. LayerNorm -> RMSNorm
//                    + add_node(g, name, op_desc, inputs, shape) -> node_id   appended
//                    + set_node_input(g, n, index, id)   rewire one data input of n
//                    + set_graph_output(g, n, bool)
//                    + add_param(g, name, shape) -> param_id
// Node ids are dense because the detector keeps per-node arrays: an IR with sparse ids maps them.
#pragma once

#include <concepts>
#include <cstddef>
#include <optional>
#include <ranges>
#include <span>
#include <string_view>
#include <type_traits>

#include "lnfold/graph/op.hpp"

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
#define LNFOLD_DETAIL_GRAPH_CPO(NAME, CALL)                                                          \
  namespace detail::cpo_##NAME {                                                                     \
  void NAME() = delete;                                                                              \
  template <class G, class... A>                                                                     \
  concept has_member = requires(G& g, A&&... a) { g.NAME(static_cast<A&&>(a)...); };               \
  template <class G, class... A>                                                                     \
  concept has_adl = requires(G& g, A&&... a) { NAME(g, static_cast<A&&>(a)...); };                 \
  template <class G, class... A>                                                                     \
  concept has_traits = requires(G& g, A&&... a) {                                                   \
    ::lnfold::graph_traits<std::remove_const_t<G>>::NAME(g, static_cast<A&&>(a)...);               \
  };                                                                                                 \
  template <class G, class... A>                                                                     \
  concept available = has_member<G, A...> || has_adl<G, A...> || has_traits<G, A...>;              \
  struct fn {                                                                                        \
    template <class G, class... A>                                                                   \
    constexpr decltype(auto) operator()(G& g, A&&... a) const {                                      \
      if constexpr (has_member<G, A...>)                                                             \
        return g.NAME(static_cast<A&&>(a)...);                                                       \
      else if constexpr (has_adl<G, A...>)                                                           \
        return NAME(g, static_cast<A&&>(a)...);                                                      \
      else if constexpr (has_traits<G, A...>)                                                        \
        return ::lnfold::graph_traits<std::remove_const_t<G>>::NAME(g, static_cast<A&&>(a)...);     \
      else                                                                                           \
        static_assert(::lnfold::detail::always_false<G>,                                             \
                      "lnfold: this graph type does not provide " CALL                               \
                      ": add a member function, a free function found by ADL, or a static member "  \
                      "of a lnfold::graph_traits<G> specialization (see lnfold/graph/concepts.hpp)"); \
    }                                                                                                \
  };                                                                                                 \
  }                                                                                                  \
  inline constexpr detail::cpo_##NAME::fn NAME {}

LNFOLD_DETAIL_GRAPH_CPO(node_count, "node_count(g)");
LNFOLD_DETAIL_GRAPH_CPO(node_inputs, "node_inputs(g, n)");
LNFOLD_DETAIL_GRAPH_CPO(node_name, "node_name(g, n)");
LNFOLD_DETAIL_GRAPH_CPO(is_graph_output, "is_graph_output(g, n)");
LNFOLD_DETAIL_GRAPH_CPO(node_op, "node_op(g, n)");
LNFOLD_DETAIL_GRAPH_CPO(node_shape, "node_shape(g, n)");
LNFOLD_DETAIL_GRAPH_CPO(param_name, "param_name(g, p)");
LNFOLD_DETAIL_GRAPH_CPO(set_node_op, "set_node_op(g, n, op_desc)");
LNFOLD_DETAIL_GRAPH_CPO(add_node, "add_node(g, name, op_desc, inputs, shape)");
LNFOLD_DETAIL_GRAPH_CPO(set_node_input, "set_node_input(g, n, index, input)");
LNFOLD_DETAIL_GRAPH_CPO(set_graph_output, "set_graph_output(g, n, bool)");
LNFOLD_DETAIL_GRAPH_CPO(add_param, "add_param(g, name, shape)");

#undef LNFOLD_DETAIL_GRAPH_CPO

/// Reads structure: nodes, their data inputs, names, and which outputs the graph exposes.
template <class G>
concept readable_graph =
    detail::cpo_node_count::available<const G> &&
    detail::cpo_node_inputs::available<const G, node_id> &&
    detail::cpo_node_name::available<const G, node_id> &&
    detail::cpo_is_graph_output::available<const G, node_id> &&
    requires(const G& g, node_id n) {
      { lnfold::node_count(g) } -> std::convertible_to<std::size_t>;
      { lnfold::node_inputs(g, n) } -> std::ranges::input_range;
      { lnfold::node_name(g, n) } -> std::convertible_to<std::string_view>;
      { lnfold::is_graph_output(g, n) } -> std::convertible_to<bool>;
    };

/// Also reads what each node does: enough for find_foldable.
template <class G>
concept foldable_graph =
    readable_graph<G> &&
    detail::cpo_node_op::available<const G, node_id> &&
    detail::cpo_node_shape::available<const G, node_id> &&
    detail::cpo_param_name::available<const G, param_id> &&
    requires(const G& g, node_id n, param_id p) {
      { lnfold::node_op(g, n) } -> std::convertible_to<op_desc>;
      { lnfold::node_shape(g, n) } -> std::convertible_to<std::optional<shape>>;
      { lnfold::param_name(g, p) } -> std::convertible_to<std::string_view>;
    };

/// Can also be edited: enough for apply_fold_plan to rewrite the graph in place.
template <class G>
concept mutable_graph =
    foldable_graph<G> &&
    detail::cpo_set_node_op::available<G, node_id, op_desc> &&
    detail::cpo_add_node::available<G, std::string_view, op_desc, std::span<const node_id>, shape> &&
    detail::cpo_set_node_input::available<G, node_id, std::size_t, node_id> &&
    detail::cpo_set_graph_output::available<G, node_id, bool> &&
    detail::cpo_add_param::available<G, std::string_view, shape> &&
    requires(G& g, node_id n, std::string_view name, const op_desc& op, std::span<const node_id> in,
             const shape& s) {
      { lnfold::add_node(g, name, op, in, s) } -> std::convertible_to<node_id>;
      { lnfold::add_param(g, name, s) } -> std::convertible_to<param_id>;
    };

}  // namespace lnfold
