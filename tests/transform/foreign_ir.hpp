// A foreign IR, written from scratch the way an engine's own IR might look, and the two ways of
// applying a fold plan to it (tests/transform/foreign_ir.cpp):
//   path (a)  engine::rewritable_net models lnfold::rewritable_graph; apply_fold_plan_in_place edits it;
//   path (b)  engine::net_reader models only foldable_graph; apply_fold_plan_to_weights edits the
//             tensors and returns the graph edits, which engine::apply_graph_edits makes itself.
// The sections are marked so that the lines each path needs can be counted (the issue asks for it):
//   [IR]        the IR itself (what the engine already has)
//   [READ]      reading adapter: needed by find_foldable, and by both paths
//   [PATH A]    what path (a) adds: structural edits and parameter access
//   [PATH B]    what path (b) adds: the lookup and the engine's own graph edits
//   [TEST]      evaluation through lnfold's reference evaluator (not part of an adapter)
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lnfold/eval/evaluate.hpp"
#include "lnfold/graph/ir.hpp"
#include "lnfold/graph/op.hpp"
#include "lnfold/tensor/view.hpp"
#include "lnfold/transform/apply_to_weights.hpp"

namespace engine {

// ---- [IR] ------------------------------------------------------------------------------------------

/// The engine's tensor: dims and row-major values.
template <class T>
struct blob {
  std::vector<std::int64_t> dims;
  std::vector<T> values;
};

/// A layer: its type name, inputs by index, parameters by role and name, a few attributes.
struct layer {
  std::string name{}, type{};  // Input Embed Const Dense Add Mul Gelu LN RMS ReduceSum Center Identity
  std::vector<std::size_t> inputs{};
  std::map<std::string, std::string> params{};  // role (W, B, table, value, gamma, beta) -> parameter name
  std::int64_t axis = -1;
  double eps = 1e-5;
  std::vector<std::int64_t> dims{};
};

/// A network: layers, parameters by name, named outputs in order.
template <class T>
struct net {
  std::vector<layer> layers;
  std::map<std::string, blob<T>> params;
  std::vector<std::pair<std::string, std::size_t>> outputs;
};

// ---- [READ] ----------------------------------------------------------------------------------------

template <class T>
lnfold::tensor_view<T> as_tensor_view(blob<T>& b) {
  std::vector<std::size_t> extents(b.dims.begin(), b.dims.end());
  return {b.values.data(), extents, lnfold::row_major_strides(extents)};
}
template <class T>
lnfold::tensor_view<const T> as_tensor_view(const blob<T>& b) {
  std::vector<std::size_t> extents(b.dims.begin(), b.dims.end());
  return {b.values.data(), extents, lnfold::row_major_strides(extents)};
}

/// Reads a net through lnfold's graph customization points (members): enough for find_foldable and
/// the weights-only path. Parameter ids number the parameter names in order of first appearance.
template <class T>
class net_reader {
 public:
  explicit net_reader(const net<T>& n) : net_(&n) {
    for (const auto& l : n.layers)
      for (const auto& [role, name] : l.params) id_of(name);
  }
  std::size_t node_count() const { return net_->layers.size(); }
  const std::vector<std::size_t>& node_inputs(std::size_t n) const { return net_->layers.at(n).inputs; }
  std::string_view node_name(std::size_t n) const { return net_->layers.at(n).name; }
  bool is_graph_output(std::size_t n) const {
    return std::any_of(net_->outputs.begin(), net_->outputs.end(), [&](const auto& o) { return o.second == n; });
  }
  std::optional<lnfold::shape> node_shape(std::size_t n) const { return net_->layers.at(n).dims; }
  std::string_view param_name(std::size_t p) const { return names_.at(p); }
  std::size_t param_count() const { return names_.size(); }
  lnfold::op_desc node_op(std::size_t n) const {
    using lnfold::op_kind;
    const layer& l = net_->layers.at(n);
    lnfold::op_desc op{.type = l.type, .axis = l.axis};
    const auto param = [&](const char* role) -> std::optional<lnfold::param_id> {
      const auto it = l.params.find(role);
      if (it == l.params.end()) return std::nullopt;
      return find_id(it->second);
    };
    static const std::map<std::string, op_kind> kinds{{"Input", op_kind::input},    {"Embed", op_kind::embedding},
                                                      {"Const", op_kind::constant}, {"Dense", op_kind::linear},
                                                      {"Add", op_kind::add},        {"Mul", op_kind::mul},
                                                      {"Gelu", op_kind::gelu},      {"LN", op_kind::layer_norm},
                                                      {"RMS", op_kind::rms_norm},   {"ReduceSum", op_kind::reduce_sum},
                                                      {"Center", op_kind::center},  {"Identity", op_kind::identity}};
    const auto k = kinds.find(l.type);
    op.kind = k == kinds.end() ? op_kind::unknown : k->second;
    op.weight = param(l.type == "Embed" ? "table" : l.type == "Const" ? "value" : "W");
    op.bias = param("B");
    op.gamma = param("gamma");
    op.beta = param("beta");
    op.eps = l.eps;
    if (op.kind == op_kind::reduce_sum) op.axes = {l.axis};
    return op;
  }

 protected:
  lnfold::param_id id_of(const std::string& name) {
    if (const auto id = find_id(name)) return *id;
    names_.push_back(name);
    return names_.size() - 1;
  }
  std::optional<lnfold::param_id> find_id(const std::string& name) const {
    const auto it = std::find(names_.begin(), names_.end(), name);
    if (it == names_.end()) return std::nullopt;
    return static_cast<lnfold::param_id>(it - names_.begin());
  }
  const std::string& name_of(lnfold::param_id p) const { return names_.at(p); }

  const net<T>* net_;
  std::vector<std::string> names_;
};

// ---- [PATH A] --------------------------------------------------------------------------------------

/// The engine's layer for an op_desc the applier writes (the kinds it sets or adds).
inline layer layer_for(const lnfold::op_desc& op, std::string name, const auto& name_of) {
  using lnfold::op_kind;
  static const std::map<op_kind, std::string> types{{op_kind::constant, "Const"},
                                                    {op_kind::linear, "Dense"},
                                                    {op_kind::add, "Add"},
                                                    {op_kind::mul, "Mul"},
                                                    {op_kind::layer_norm, "LN"},
                                                    {op_kind::rms_norm, "RMS"},
                                                    {op_kind::reduce_sum, "ReduceSum"},
                                                    {op_kind::center, "Center"},
                                                    {op_kind::identity, "Identity"},
                                                    {op_kind::embedding, "Embed"}};
  layer l{.name = std::move(name),
          .type = types.at(op.kind),
          .axis = op.axes.empty() ? op.axis : op.axes[0],
          .eps = op.eps};
  const auto set = [&](const char* role, const std::optional<lnfold::param_id>& p) {
    if (p) l.params[role] = name_of(*p);
  };
  set(op.kind == op_kind::embedding ? "table" : op.kind == op_kind::constant ? "value" : "W", op.weight);
  set("B", op.bias);
  set("gamma", op.gamma);
  set("beta", op.beta);
  return l;
}

/// A net that lnfold's applier edits directly (models lnfold::rewritable_graph).
template <class T>
class rewritable_net : public net_reader<T> {
 public:
  explicit rewritable_net(net<T>& n) : net_reader<T>(n), mut_(&n) {}

  void set_node_op(std::size_t n, const lnfold::op_desc& op) {
    layer& l = mut_->layers.at(n);
    layer edited = layer_for(op, l.name, [&](lnfold::param_id p) { return this->name_of(p); });
    edited.inputs = l.inputs;
    edited.dims = l.dims;
    l = std::move(edited);
  }
  std::size_t add_node(std::string_view name, const lnfold::op_desc& op, std::span<const std::size_t> inputs,
                       const lnfold::shape& dims) {
    layer l = layer_for(op, std::string(name), [&](lnfold::param_id p) { return this->name_of(p); });
    l.inputs.assign(inputs.begin(), inputs.end());
    l.dims = dims;
    mut_->layers.push_back(std::move(l));
    return mut_->layers.size() - 1;
  }
  void set_node_input(std::size_t n, std::size_t index, std::size_t input) {
    mut_->layers.at(n).inputs.at(index) = input;
  }
  /// A new output takes the name of the one just withdrawn (the logits stay "logits").
  void set_graph_output(std::size_t n, bool exposed) {
    auto& outs = mut_->outputs;
    if (!exposed) {
      const auto it = std::find_if(outs.begin(), outs.end(), [&](const auto& o) { return o.second == n; });
      if (it != outs.end()) it->second = withdrawn;
    } else {
      const auto it = std::find_if(outs.begin(), outs.end(), [&](const auto& o) { return o.second == withdrawn; });
      if (it != outs.end()) it->second = n;
      else outs.emplace_back(mut_->layers.at(n).name, n);
    }
  }
  lnfold::shape param_shape(std::size_t p) const { return mut_->params.at(this->name_of(p)).dims; }
  template <class F>
  void visit_param(std::size_t p, F&& f) const {
    f(as_tensor_view(std::as_const(mut_->params.at(this->name_of(p)))));
  }
  template <class F>
  void edit_param(std::size_t p, F&& f) {
    f(as_tensor_view(mut_->params.at(this->name_of(p))));
  }
  std::size_t copy_param(std::size_t p, std::string_view name) {
    blob<T> copy = mut_->params.at(this->name_of(p));
    mut_->params[std::string(name)] = std::move(copy);
    return this->id_of(std::string(name));
  }
  std::size_t add_param_like(std::size_t, std::string_view name, const lnfold::shape& dims) {
    std::size_t size = 1;
    for (auto d : dims) size *= static_cast<std::size_t>(d);
    mut_->params[std::string(name)] = blob<T>{dims, std::vector<T>(size, T(0))};
    return this->id_of(std::string(name));
  }

 private:
  static constexpr std::size_t withdrawn = static_cast<std::size_t>(-1);
  net<T>* mut_;
};

// ---- [PATH B] --------------------------------------------------------------------------------------

/// Makes, in the engine's own terms, every graph edit apply_fold_plan_to_weights returned.
template <class T>
void apply_graph_edits(net<T>& n, const net_reader<T>& reader, const lnfold::weight_edits<T>& e) {
  const auto name = [&](lnfold::param_id p) {
    for (const auto& q : e.new_params)
      if (q.id == p) return q.name;
    return std::string(reader.param_name(p));
  };
  for (const auto& q : e.new_params)
    n.params[q.name] = blob<T>{q.values.dims(), {q.values.values().begin(), q.values.values().end()}};
  const auto add = [&](layer l) {
    n.layers.push_back(std::move(l));
    return n.layers.size() - 1;
  };
  // Every reader of `from` (and the output named after it) reads `to` instead.
  const auto redirect = [&](std::size_t from, std::size_t to) {
    for (std::size_t c = 0; c < n.layers.size(); ++c)
      if (c != to)
        for (auto& in : n.layers[c].inputs)
          if (in == from) in = to;
    for (auto& o : n.outputs)
      if (o.second == from) o.second = to;
  };
  const auto& s = e.summary;
  for (const auto& u : s.untied)
    for (auto& [role, p] : n.layers.at(u.node).params)
      if (p == reader.param_name(u.original)) p = name(u.copy);
  for (const auto& z : s.zeroed_copies) {
    const std::size_t c = add({.name = name(z.copy),
                               .type = "Const",
                               .params = {{"value", name(z.copy)}},
                               .dims = n.layers.at(z.constant).dims});
    for (auto& in : n.layers.at(z.reader).inputs)
      if (in == z.constant) in = c;
  }
  for (const auto& r : s.rank1) {
    const auto out_dims = n.layers.at(r.linear).dims;  // a copy: add() grows the layers
    auto sum_dims = n.layers.at(r.input).dims;
    sum_dims[sum_dims.size() - (r.axis == -2 ? 2 : 1)] = 1;
    const std::size_t sum = add(
        {.name = "rank1.sum", .type = "ReduceSum", .inputs = {r.input}, .axis = r.axis, .dims = sum_dims});
    const std::size_t m = add({.name = "rank1.m",
                               .type = "Const",
                               .params = {{"value", name(r.means)}},
                               .dims = n.params.at(name(r.means)).dims});
    const std::size_t corr = add({.name = "rank1.corr", .type = "Mul", .inputs = {sum, m}, .dims = out_dims});
    const std::size_t fixed = add({.name = "rank1.fixed", .type = "Add", .inputs = {r.linear, corr}, .dims = out_dims});
    redirect(r.linear, fixed);
  }
  for (const auto& f : s.fused)
    n.layers.at(f.mul) = {
        .name = n.layers.at(f.mul).name, .type = "Identity", .inputs = {f.scaled}, .dims = n.layers.at(f.mul).dims};
  for (const auto& st : s.stems) {
    const std::size_t c = add({.name = "stem.center",
                               .type = "Center",
                               .inputs = {st.after},
                               .axis = static_cast<std::int64_t>(st.axis),
                               .dims = n.layers.at(st.after).dims});
    redirect(st.after, c);
  }
  for (const auto ln : s.converted) n.layers.at(ln).type = "RMS";
  for (const auto& a : s.affine_folded) {
    n.layers.at(a.norm).params.erase("gamma");
    n.layers.at(a.norm).params.erase("beta");
    for (const auto& r : a.linears)
      if (r.new_bias) n.layers.at(r.linear).params["B"] = name(*r.new_bias);
  }
}

// ---- [TEST] ----------------------------------------------------------------------------------------

/// The outputs of `n`, in the order of its named outputs, computed by lnfold's reference evaluator
/// on a copy of the net in the built-in IR made through the customization points.
template <class T>
std::vector<lnfold::tensor<T>> evaluate(const net<T>& n, const std::vector<lnfold::tensor<T>>& inputs) {
  const net_reader<T> r(n);
  lnfold::graph g;
  lnfold::weight_set<T> w;
  for (std::size_t p = 0; p < r.param_count(); ++p) {
    const auto& b = n.params.at(std::string(r.param_name(p)));
    g.add_param(r.param_name(p), b.dims);
    w.emplace_back(b.dims, b.values);
  }
  // Built-in nodes may only read earlier ones: add in an order where inputs come first.
  std::vector<std::size_t> id(n.layers.size(), static_cast<std::size_t>(-1));
  for (std::size_t placed = 0; placed < n.layers.size();)
    for (std::size_t v = 0; v < n.layers.size(); ++v) {
      if (id[v] != static_cast<std::size_t>(-1)) continue;
      std::vector<lnfold::node_id> in;
      for (auto i : r.node_inputs(v)) in.push_back(id[i]);
      if (std::find(in.begin(), in.end(), static_cast<std::size_t>(-1)) != in.end()) continue;
      id[v] = g.add_node(r.node_name(v), r.node_op(v), std::span<const lnfold::node_id>(in), r.node_shape(v));
      ++placed;
    }
  // Inputs go to the evaluator in the built-in node order.
  std::vector<std::size_t> input_layers;
  for (std::size_t v = 0; v < n.layers.size(); ++v)
    if (n.layers[v].type == "Input") input_layers.push_back(v);
  std::sort(input_layers.begin(), input_layers.end(), [&](auto a, auto b) { return id[a] < id[b]; });
  std::vector<lnfold::tensor<T>> ordered;
  for (auto v : input_layers) {
    std::size_t k = 0;
    for (std::size_t u = 0; u < v; ++u) k += n.layers[u].type == "Input";
    ordered.push_back(inputs.at(k));
  }
  const auto values = lnfold::evaluate<T>(g, w, ordered);
  std::vector<lnfold::tensor<T>> out;
  for (const auto& o : n.outputs) out.push_back(values.at(id[o.second]));
  return out;
}

}  // namespace engine
