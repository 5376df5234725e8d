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
// Applying a fold plan also edits parameter values: transform/rewritable_graph.hpp adds those calls
// (rewritable_graph), and transform/apply_plan.hpp applies a plan to any type that models it.
// add_param(g, name, shape) -> param_id is a customization point too (the built-in IR and the graph
// builder declare parameters with it), but no concept requires it: new parameters of a rewrite are
// made with rewritable_graph's add_param_like, which also says how to store them.
// Node ids are dense because the detector keeps per-node arrays: an IR with sparse ids maps them.
#pragma once

#include <concepts>
#include <cstddef>
#include <optional>
#include <ranges>
#include <span>
#include <string_view>
#include <type_traits>

#include "lnfold/graph/detail/cpo.hpp"
#include "lnfold/graph/op.hpp"

namespace lnfold {

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

/// Reads structure: nodes, their data inputs, names, and which outputs the graph exposes.
template <class G>
concept readable_graph = detail::cpo_node_count::available<const G> &&
    detail::cpo_node_inputs::available<const G, node_id> && detail::cpo_node_name::available<const G, node_id> &&
    detail::cpo_is_graph_output::available<const G, node_id> && requires(const G& g, node_id n) {
  { lnfold::node_count(g) } -> std::convertible_to<std::size_t>;
  { lnfold::node_inputs(g, n) } -> std::ranges::input_range;
  { lnfold::node_name(g, n) } -> std::convertible_to<std::string_view>;
  { lnfold::is_graph_output(g, n) } -> std::convertible_to<bool>;
};

/// Also reads what each node does: enough for find_foldable.
template <class G>
concept foldable_graph = readable_graph<G> && detail::cpo_node_op::available<const G, node_id> &&
    detail::cpo_node_shape::available<const G, node_id> && detail::cpo_param_name::available<const G, param_id> &&
    requires(const G& g, node_id n, param_id p) {
  { lnfold::node_op(g, n) } -> std::convertible_to<op_desc>;
  { lnfold::node_shape(g, n) } -> std::convertible_to<std::optional<shape>>;
  { lnfold::param_name(g, p) } -> std::convertible_to<std::string_view>;
};

/// Its structure can also be edited: the graph half of what applying a fold plan needs (the other
/// half, parameter values, is rewritable_graph in transform/rewritable_graph.hpp).
template <class G>
concept mutable_graph = foldable_graph<G> && detail::cpo_set_node_op::available<G, node_id, op_desc> &&
    detail::cpo_add_node::available<G, std::string_view, op_desc, std::span<const node_id>, shape> &&
    detail::cpo_set_node_input::available<G, node_id, std::size_t, node_id> &&
    detail::cpo_set_graph_output::available<G, node_id, bool> &&
    requires(G& g, node_id n, std::string_view name, const op_desc& op, std::span<const node_id> in, const shape& s) {
  { lnfold::add_node(g, name, op, in, s) } -> std::convertible_to<node_id>;
};

}  // namespace lnfold
