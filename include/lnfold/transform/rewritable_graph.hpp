// rewritable_graph: what apply_fold_plan (transform/apply_plan.hpp) needs from a graph type to apply
// a fold plan to it: the structural edits of mutable_graph (graph/concepts.hpp) plus access to the
// parameter values, so that one applier serves lnfold's built-in IR, the ONNX adapter, a user's own
// IR, and the weights-only path (transform/apply_to_weights.hpp).
//
// The calls, found like every graph customization point (member, then ADL, then a static member of
// lnfold::graph_traits<G>; see graph/concepts.hpp); p and like are param_ids, n a node_id:
//   rewritable_graph  mutable_graph, plus
//     param_shape(g, p) -> shape                      dims of parameter p
//     visit_param(g, p, f)                            calls f(tensor_view<const T>) with p's values
//     edit_param(g, p, f)                             calls f(tensor_view<T>) and keeps what f wrote
//     copy_param(g, p, name) -> param_id              a new parameter: p's shape, storage and values
//     add_param_like(g, like, name, shape) -> param_id   a new zero-filled parameter of `shape`,
//                                                     stored the way `like` is (element type, place)
//   and two optional calls, used when present:
//     linear_scale_of(g, n) -> linear_scale           for a linear node computing
//                                                     y = weight·(x·Wᵀ) + bias·b (ONNX Gemm's alpha
//                                                     and beta); absent: both 1
//     finish_rewrite(g)                               called once after the last edit (an adapter
//                                                     that records edits writes them out here)
// T is the element type the graph stores or decodes to: float, double or long double (the
// transforms accumulate in double or wider whatever T is). The view may be strided; it is valid
// only during the call. A graph that stores narrow types (float16) decodes to a wider T in
// visit/edit and rounds once when edit_param returns.
// Parameter ids need not be dense or ordered; a new parameter gets any id not in use.
#pragma once

#include <concepts>
#include <cstddef>
#include <span>
#include <string_view>
#include <type_traits>

#include "lnfold/graph/concepts.hpp"
#include "lnfold/graph/detail/cpo.hpp"
#include "lnfold/tensor/tensor.hpp"

namespace lnfold {

/// The factors of a linear node: y = weight·(x·Wᵀ) + bias·b. Only ONNX's Gemm has factors other
/// than 1 (alpha, beta); the rank-1 correction and affine folding must see them.
struct linear_scale {
  double weight = 1.0;
  double bias = 1.0;
};

LNFOLD_DETAIL_GRAPH_CPO(param_shape, "param_shape(g, p)");
LNFOLD_DETAIL_GRAPH_CPO(visit_param, "visit_param(g, p, f)");
LNFOLD_DETAIL_GRAPH_CPO(edit_param, "edit_param(g, p, f)");
LNFOLD_DETAIL_GRAPH_CPO(copy_param, "copy_param(g, p, name)");
LNFOLD_DETAIL_GRAPH_CPO(add_param_like, "add_param_like(g, like, name, shape)");
LNFOLD_DETAIL_GRAPH_CPO(linear_scale_of, "linear_scale_of(g, n)");
LNFOLD_DETAIL_GRAPH_CPO(finish_rewrite, "finish_rewrite(g)");

namespace detail {

/// Stands for the callables the applier passes to visit_param / edit_param: accepts a view of any
/// element type, so a graph whose calls take a generic callable (or a std::function over its own
/// element type) passes the concept check.
struct param_visitor_probe {
  template <class T>
  void operator()(const tensor_view<T>&) const {}
};

}  // namespace detail

/// A graph whose structure and parameter values apply_fold_plan can edit (see the top of this header).
template <class G>
concept rewritable_graph = mutable_graph<G> && detail::cpo_param_shape::available<const G, param_id> &&
    detail::cpo_visit_param::available<const G, param_id, detail::param_visitor_probe> &&
    detail::cpo_edit_param::available<G, param_id, detail::param_visitor_probe> &&
    detail::cpo_copy_param::available<G, param_id, std::string_view> &&
    detail::cpo_add_param_like::available<G, param_id, std::string_view, shape> &&
    requires(G& g, const G& cg, param_id p, std::string_view name, const shape& s) {
  { lnfold::param_shape(cg, p) } -> std::convertible_to<shape>;
  { lnfold::copy_param(g, p, name) } -> std::convertible_to<param_id>;
  { lnfold::add_param_like(g, p, name, s) } -> std::convertible_to<param_id>;
};

namespace detail {

/// linear_scale_of(g, n) when the graph provides it, else {1, 1}.
template <class G>
linear_scale linear_scale_or_unit(const G& g, node_id n) {
  if constexpr (cpo_linear_scale_of::available<const G, node_id>) return lnfold::linear_scale_of(g, n);
  else return {};
}

/// finish_rewrite(g) when the graph provides it.
template <class G>
void finish_rewrite_if_any(G& g) {
  if constexpr (cpo_finish_rewrite::available<G>) lnfold::finish_rewrite(g);
}

// One static_assert per missing call, naming it, instead of a list of unsatisfied constraints.
template <class G>
constexpr bool assert_rewritable_graph() {
#define LNFOLD_DETAIL_HOW                                                           \
  ": add a member function, a free function found by ADL, or a static member of a " \
  "lnfold::graph_traits<G> specialization (see lnfold/transform/rewritable_graph.hpp)"
  static_assert(foldable_graph<G>, "lnfold::apply_fold_plan: the graph type does not model foldable_graph: "
                                   "call lnfold::find_foldable on it to see which call is missing");
  static_assert(
      cpo_set_node_op::available<G, node_id, op_desc>,
      "lnfold::apply_fold_plan: the graph type does not provide set_node_op(g, n, op_desc)" LNFOLD_DETAIL_HOW);
  static_assert(
      cpo_add_node::available<G, std::string_view, op_desc, std::span<const node_id>, shape>,
      "lnfold::apply_fold_plan: the graph type does not provide add_node(g, name, op_desc, inputs, shape)" LNFOLD_DETAIL_HOW);
  static_assert(
      cpo_set_node_input::available<G, node_id, std::size_t, node_id>,
      "lnfold::apply_fold_plan: the graph type does not provide set_node_input(g, n, index, input)" LNFOLD_DETAIL_HOW);
  static_assert(
      cpo_set_graph_output::available<G, node_id, bool>,
      "lnfold::apply_fold_plan: the graph type does not provide set_graph_output(g, n, bool)" LNFOLD_DETAIL_HOW);
  static_assert(cpo_param_shape::available<const G, param_id>,
                "lnfold::apply_fold_plan: the graph type does not provide param_shape(g, p)" LNFOLD_DETAIL_HOW);
  static_assert(cpo_visit_param::available<const G, param_id, param_visitor_probe>,
                "lnfold::apply_fold_plan: the graph type does not provide visit_param(g, p, f) (const, calling "
                "f with a lnfold::tensor_view<const T>)" LNFOLD_DETAIL_HOW);
  static_assert(cpo_edit_param::available<G, param_id, param_visitor_probe>,
                "lnfold::apply_fold_plan: the graph type does not provide edit_param(g, p, f) (calling f with a "
                "lnfold::tensor_view<T>)" LNFOLD_DETAIL_HOW);
  static_assert(cpo_copy_param::available<G, param_id, std::string_view>,
                "lnfold::apply_fold_plan: the graph type does not provide copy_param(g, p, name)" LNFOLD_DETAIL_HOW);
  static_assert(
      cpo_add_param_like::available<G, param_id, std::string_view, shape>,
      "lnfold::apply_fold_plan: the graph type does not provide add_param_like(g, like, name, shape)" LNFOLD_DETAIL_HOW);
#undef LNFOLD_DETAIL_HOW
  constexpr bool all_calls = foldable_graph<G> && cpo_set_node_op::available<G, node_id, op_desc> &&
                             cpo_add_node::available<G, std::string_view, op_desc, std::span<const node_id>, shape> &&
                             cpo_set_node_input::available<G, node_id, std::size_t, node_id> &&
                             cpo_set_graph_output::available<G, node_id, bool> &&
                             cpo_param_shape::available<const G, param_id> &&
                             cpo_visit_param::available<const G, param_id, param_visitor_probe> &&
                             cpo_edit_param::available<G, param_id, param_visitor_probe> &&
                             cpo_copy_param::available<G, param_id, std::string_view> &&
                             cpo_add_param_like::available<G, param_id, std::string_view, shape>;
  static_assert(!all_calls || rewritable_graph<G>,
                "lnfold::apply_fold_plan: the graph type provides every call of rewritable_graph, but one returns "
                "the wrong type (see the list in lnfold/transform/rewritable_graph.hpp)");
  return rewritable_graph<G>;
}

}  // namespace detail
}  // namespace lnfold
