// lnfold::onnx::graph: an ONNX ModelProto seen through lnfold's graph concepts (foldable_graph), so
// that find_foldable runs on a model file as it is, without converting it to lnfold's own IR.
//
// Id space (dense, 0 .. node_count-1): one id per tensor-producing value the detector needs to see:
//   * each graph input that is not an initializer (op_kind::input);
//   * each initializer or Constant output that some mapped node reads as *data* (op_kind::constant,
//     created on first such use); initializers read as weights (Gemm B, Conv W, LN scale…) are only
//     parameters, never nodes;
//   * each output of each node, except the internal nodes of a matched decomposed LayerNorm, which are
//     hidden behind one layer_norm id (the id of the pattern's final output);
//   * If outputs: one id per output, fed by the two branch outputs (see below).
// Parameters (param_id) are the initializers and Constant outputs, plus the names of data tensors
// used as a LayerNormalization scale or bias (so that such an LN is never taken for a bare one).
//
// Subgraphs are flattened into the same id space. Names are resolved innermost scope first, so a
// branch node reading an outer-scope initializer gets the same param id as the outer graph: the tie
// is visible. An If output is mapped as op_kind::add of its then- and else-branch outputs. That is
// exact for what the detector asks: the output is zero-mean when both branch outputs are (the
// condition does not matter), and a per-row shift of either branch output is a per-row shift of the
// output. Loop and Scan bodies are analysed with their body inputs as graph inputs (blockers, since
// loop-carried values are not tracked), and their outputs are op_kind::unknown.
//
// Weights stored behind a chain. Exporters store weights in a narrow type and Cast them where used,
// or Reshape / Unsqueeze a bias before it is added. A chain of Cast (between float types, or between
// integer types), Identity, Reshape, Flatten, Squeeze and Unsqueeze nodes on an initializer or a
// Constant, with constant shape arguments, is folded for the analysis: its output is the stored
// tensor's parameter, seen with the dims and element type at the end of the chain. Each of these ops
// keeps the row-major order of the elements, so the view is the stored elements reinterpreted with
// the view's dims: the plan's axis for such a parameter refers to the view (param::dims), and
// centering over view axis a is centering the stored tensor's flat values in lines of extent
// dims[a] and stride prod(dims[a+1:]). The converter therefore centers the *stored* tensor, in
// double, with the view's dims, and rounds back to the stored type (param::tensor->data_type()); a
// Cast in the chain then rounds to the view's type (param::type) again. chain(n, p) lists the nodes
// between the stored tensor and node n's read of p. All readers of one stored tensor through chains
// must see the same view (dims and type): a reader with another view reads the chain as ordinary
// nodes (identity / reshape of a constant node), the conservative mapping.
//
// Op support by opset: every default-domain opset from 1 on is read (the tests cover 7 to 23).
// Shapes come from shapes.hpp (ONNX inference up to opset 17, lnfold's own rules beyond and where it
// misses). Reduce* with axes as an input (opset 18), LayerNormalization (17) and RMSNormalization
// (23, and ONNX Runtime's SimplifiedLayerNormalization) are mapped; Expand is a broadcasting add of
// one input (a constant behind it is a broadcast-constant source when it is broadcast along the
// analysed axis), Tile a concat along its first repeated axis (transparent along every other axis).
// An op or a domain the adapter does not know is op_kind::unknown with its name as `type`: a blocker
// for the LNs it touches, never an error for the model.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <onnx/onnx_pb.h>

#include "lnfold/error.hpp"
#include "lnfold/graph/op.hpp"
#include "lnfold/onnx/external_data.hpp"
#include "lnfold/onnx/load.hpp"
#include "lnfold/onnx/node_attributes.hpp"
#include "lnfold/onnx/shapes.hpp"
#include "lnfold/onnx/tensor.hpp"

namespace lnfold::onnx {

struct graph_options {
  /// The directory of the model file: small constants stored as external data (axes, shapes, ε)
  /// are read from there for the analysis. Weights are never read.
  std::filesystem::path model_dir = ".";
  /// Pinned input sizes for shape inference (lnfold-onnx --input-shape).
  shape_options shapes{};
};

class graph {
 public:
  /// One exposed node.
  struct node {
    std::string name;
    op_desc op;
    std::vector<node_id> inputs;
    std::optional<shape> dims;
    bool output = false;
    const ::onnx::NodeProto* proto = nullptr;        ///< the producing ONNX node; null for inputs and constants
    std::vector<const ::onnx::NodeProto*> hidden{};  ///< decomposed LayerNorm: every node of the pattern
  };
  /// A parameter: a stored tensor (initializer or Constant value) as its readers see it.
  struct param {
    std::string name;  ///< the stored tensor's name
    const ::onnx::TensorProto* tensor =
        nullptr;   ///< the stored tensor; null when the parameter is a data tensor (LN scale)
    shape dims{};  ///< the dims its readers see (after a chain): the plan's axes refer to these
    int type = 0;  ///< the element type its readers see (after a chain's Cast); 0 when not known
  };

  /// Runs shape inference on the model (shapes.hpp), then maps it. Throws lnfold::error when a
  /// main-graph input has no shape and options.shapes does not pin one, when a pinned shape does
  /// not fit the model, or when the model is not one validate_model accepts.
  explicit graph(::onnx::ModelProto model, graph_options options = {})
      : model_(std::make_unique<::onnx::ModelProto>(std::move(model))), options_(std::move(options)) {
    validate_model(*model_, "the model");
    opset_ = detail::default_opset(*model_);
    auto inferred = infer_shapes(*model_, options_.shapes);
    shapes_ = std::move(inferred.shapes);
    values_ = std::move(inferred.values);
    count_uses(model_->graph());
    process(model_->graph(), true);
  }

  // ---- lnfold customization points (members) ----
  std::size_t node_count() const noexcept { return nodes_.size(); }
  std::span<const node_id> node_inputs(node_id n) const { return nodes_[n].inputs; }
  const std::string& node_name(node_id n) const { return nodes_[n].name; }
  bool is_graph_output(node_id n) const { return nodes_[n].output; }
  const op_desc& node_op(node_id n) const { return nodes_[n].op; }
  const std::optional<shape>& node_shape(node_id n) const { return nodes_[n].dims; }
  const std::string& param_name(param_id p) const { return params_[p].name; }

  // ---- for tools and the convert step ----
  const ::onnx::ModelProto& model() const noexcept { return *model_; }
  /// What the graph was read with: model_dir is where the model's external data is.
  const graph_options& options() const noexcept { return options_; }
  const node& at(node_id n) const { return nodes_[n]; }
  const param& parameter(param_id p) const { return params_[p]; }
  std::size_t param_count() const noexcept { return params_.size(); }
  /// Default-domain opset of the model.
  std::int64_t opset() const noexcept { return opset_; }
  /// The nodes through which node `n` reads parameter `p` (Cast, Reshape, … from the stored tensor
  /// on, in order); empty when it reads the stored tensor directly.
  const std::vector<const ::onnx::NodeProto*>& chain(node_id n, param_id p) const {
    static const std::vector<const ::onnx::NodeProto*> none;
    const auto it = chains_.find({n, p});
    return it == chains_.end() ? none : it->second;
  }

 private:
  struct value {
    std::optional<node_id> id;
    const ::onnx::TensorProto* constant = nullptr;  // the stored tensor
    std::optional<param_id> param;
    std::vector<const ::onnx::NodeProto*> chain{};  // folded nodes from the stored tensor to this value
    std::optional<shape> view{};                    // dims after the chain (absent: the tensor's dims)
    int view_type = 0;                              // element type after the chain
  };
  using scope = std::unordered_map<std::string, value>;
  using attr_map = detail::attr_map;

  std::unique_ptr<::onnx::ModelProto> model_;
  graph_options options_;
  std::int64_t opset_ = 1;
  std::map<std::pair<node_id, param_id>, std::vector<const ::onnx::NodeProto*>> chains_;
  std::set<const ::onnx::NodeProto*> folded_;  // chain nodes folded into a parameter's view
  std::vector<std::pair<param_id, std::vector<const ::onnx::NodeProto*>>> pending_chains_;  // see add()
  mutable std::unordered_map<const ::onnx::TensorProto*, std::unique_ptr<::onnx::TensorProto>>
      fetched_;  // small external constants
  std::vector<node> nodes_;
  std::vector<param> params_;
  std::deque<::onnx::TensorProto> owned_;  // Constant nodes written with value_float(s) / value_int(s)
  std::vector<scope> scopes_;
  shape_map shapes_;
  std::unordered_map<std::string, std::vector<std::int64_t>> values_;  // integer tensors computed from shapes
  std::unordered_map<std::string, std::size_t> uses_;                  // node inputs and graph outputs, all scopes
  std::unordered_map<std::string, std::vector<const ::onnx::NodeProto*>> consumers_;  // current graph
  std::unordered_map<std::string, const ::onnx::NodeProto*> producer_;                // current graph
  std::set<const ::onnx::NodeProto*> hidden_;

  // ---- shapes and uses ---------------------------------------------------------------------------

  template <class F>
  static void for_each_subgraph(const ::onnx::NodeProto& n, F&& f) {
    for (const auto& a : n.attribute()) {
      if (a.has_g()) f(a.g());
      for (const auto& g : a.graphs()) f(g);
    }
  }

  void count_uses(const ::onnx::GraphProto& g) {
    for (const auto& n : g.node()) {
      for (const auto& i : n.input()) ++uses_[i];
      for_each_subgraph(n, [&](const ::onnx::GraphProto& sub) { count_uses(sub); });
    }
    for (const auto& o : g.output()) ++uses_[o.name()];
  }

  std::optional<shape> dims_of(const std::string& name) const {
    if (const auto it = shapes_.find(name); it != shapes_.end() && it->second) return it->second;
    if (const value* v = lookup(name); v && v->constant) return v->view ? *v->view : tensor_dims(*v->constant);
    return std::nullopt;
  }
  std::optional<std::size_t> rank_of(const std::string& name) const {
    const auto d = dims_of(name);
    return d ? std::optional<std::size_t>(d->size()) : std::nullopt;
  }
  std::size_t uses(const std::string& name) const {
    const auto it = uses_.find(name);
    return it == uses_.end() ? 0 : it->second;
  }

  // ---- scopes, values, nodes ---------------------------------------------------------------------

  // Innermost scope first: a subgraph sees the values of every enclosing graph.
  template <class Scopes>
  static auto find_value(Scopes& scopes, const std::string& name) -> decltype(&scopes.front().begin()->second) {
    for (auto it = scopes.rbegin(); it != scopes.rend(); ++it)
      if (const auto f = it->find(name); f != it->end()) return &f->second;
    return nullptr;
  }
  const value* lookup(const std::string& name) const { return find_value(scopes_, name); }
  value* lookup(const std::string& name) { return find_value(scopes_, name); }
  const ::onnx::TensorProto* constant_of(const std::string& name) const {
    const value* v = lookup(name);
    return v ? v->constant : nullptr;
  }
  /// `t` with its data readable for the analysis: a small tensor stored as external data is read
  /// once from options.model_dir (at most 64 KiB: axes, shapes, ε; never a weight).
  const ::onnx::TensorProto* readable(const ::onnx::TensorProto* t) const {
    if (!t || t->data_location() != ::onnx::TensorProto::EXTERNAL) return t;
    auto& slot = fetched_[t];
    if (!slot) {
      try {
        if (tensor_byte_size(*t) <= 65536) {
          auto copy = std::make_unique<::onnx::TensorProto>();
          copy->set_name(t->name());
          copy->set_data_type(t->data_type());
          *copy->mutable_dims() = t->dims();
          copy->set_raw_data(tensor_bytes(*t, options_.model_dir));
          slot = std::move(copy);
        }
      } catch (const lnfold::error&) {
        // unreadable here: the value stays unknown to the analysis (load_model reports bad references)
      }
    }
    return slot ? slot.get() : t;
  }
  std::optional<double> constant_scalar(const std::string& name) const {
    const auto* t = readable(constant_of(name));
    return t ? tensor_scalar(*t) : std::nullopt;
  }

  param_id add_param(std::string name, const ::onnx::TensorProto* t) {
    params_.push_back({std::move(name), t, t ? tensor_dims(*t) : shape{}, t ? t->data_type() : 0});
    return params_.size() - 1;
  }
  /// Adds a node; the parameter chains param_of recorded since the last node are this node's reads.
  node_id add(std::string name, op_desc op, std::vector<node_id> inputs, std::optional<shape> dims,
              const ::onnx::NodeProto* proto) {
    nodes_.push_back({std::move(name), std::move(op), std::move(inputs), std::move(dims), false, proto, {}});
    const node_id id = nodes_.size() - 1;
    for (auto& [p, chain] : pending_chains_) chains_[{id, p}] = std::move(chain);
    pending_chains_.clear();
    return id;
  }
  void define(const std::string& name, node_id id) { scopes_.back()[name].id = id; }

  /// The node id of a value read as data; constants get their constant node on first use.
  std::optional<node_id> data(const std::string& name) {
    if (name.empty()) return std::nullopt;
    value* v = lookup(name);
    if (!v) return std::nullopt;
    if (!v->id && v->constant) {
      op_desc op;
      op.kind = op_kind::constant;
      op.type = v->chain.empty() ? "Initializer" : "Initializer (through " + v->chain.back()->op_type() + ")";
      op.weight = v->param;
      auto saved = std::move(pending_chains_);  // a constant node reads only its own chain
      pending_chains_.clear();
      if (v->param && !v->chain.empty()) pending_chains_.emplace_back(*v->param, v->chain);
      v->id = add(name, std::move(op), {}, v->view ? *v->view : tensor_dims(*v->constant), nullptr);
      pending_chains_ = std::move(saved);
    }
    return v->id;
  }

  // ---- attributes --------------------------------------------------------------------------------

  static attr_map attrs(const ::onnx::NodeProto& n) { return detail::attrs(n); }
  static std::int64_t attr_int(const attr_map& m, const char* key, std::int64_t fallback) {
    return detail::attr_int(m, key, fallback);
  }
  static double attr_float(const attr_map& m, const char* key, double fallback) {
    return detail::attr_float(m, key, fallback);
  }
  static std::optional<std::vector<std::int64_t>> attr_ints(const attr_map& m, const char* key) {
    return detail::attr_ints(m, key);
  }
  static bool standard(const ::onnx::NodeProto& n) { return detail::standard(n); }

  /// An int list given as attribute `key` (older opsets) or as constant input `index` (newer ones).
  /// Outer nullopt: not constant; inner nullopt: absent.
  std::optional<std::optional<std::vector<std::int64_t>>> ints_arg(const ::onnx::NodeProto& n, const attr_map& m,
                                                                   const char* key, int index) const {
    if (auto a = attr_ints(m, key)) return std::optional<std::vector<std::int64_t>>(std::move(a));
    if (index >= n.input_size() || n.input(index).empty()) return std::optional<std::vector<std::int64_t>>();
    const auto* t = readable(constant_of(n.input(index)));
    if (!t) {
      if (const auto it = values_.find(n.input(index)); it != values_.end())
        return std::optional<std::vector<std::int64_t>>(it->second);
      return std::nullopt;
    }
    auto v = tensor_ints(*t);
    if (!v) return std::nullopt;
    return std::optional<std::vector<std::int64_t>>(std::move(v));
  }

  // ---- one graph ---------------------------------------------------------------------------------

  /// Maps `g` in a new scope; returns the ids of its outputs (nullopt: not a tensor the detector sees).
  std::vector<std::optional<node_id>> process(const ::onnx::GraphProto& g, bool main) {
    scopes_.emplace_back();
    for (const auto& init : g.initializer()) {
      auto& v = scopes_.back()[init.name()];
      v.constant = &init;
      v.param = add_param(init.name(), &init);
    }
    for (const auto& in : g.input()) {
      if (scopes_.back().count(in.name())) continue;  // IR < 4: initializers are listed as inputs too
      auto dims = main ? dims_of(in.name()) : in.has_type() ? detail::shape_of(in.type()) : std::nullopt;
      if (main && !dims) lnfold::detail::fail(lnfold::detail::concat("graph input '", in.name(), "' has no shape"));
      op_desc op;
      op.kind = op_kind::input;
      op.type = main ? "graph input" : "subgraph input";
      define(in.name(), add(in.name(), std::move(op), {}, std::move(dims), nullptr));
    }
    // Index this graph's nodes, and register Constant outputs first: a pattern may read a constant
    // that is written after the node where the match starts.
    auto saved_consumers = std::move(consumers_);
    auto saved_producer = std::move(producer_);
    consumers_.clear();
    producer_.clear();
    for (const auto& n : g.node()) {
      for (const auto& i : n.input()) consumers_[i].push_back(&n);
      for (const auto& o : n.output()) producer_[o] = &n;
      if (n.op_type() == "Constant" && standard(n)) register_constant(n);
    }
    if (main) fold_chains(g);
    for (const auto& n : g.node())
      if (!hidden_.count(&n) && !folded_.count(&n) &&
          !(n.op_type() == "Constant" && standard(n) && constant_of(n.output(0))))
        map(n);
    std::vector<std::optional<node_id>> outs;
    for (const auto& o : g.output()) {
      outs.push_back(data(o.name()));
      if (main && outs.back()) nodes_[*outs.back()].output = true;
    }
    consumers_ = std::move(saved_consumers);
    producer_ = std::move(saved_producer);
    scopes_.pop_back();
    return outs;
  }

  void register_constant(const ::onnx::NodeProto& n) {
    if (n.output_size() != 1) return;
    const ::onnx::TensorProto* t = nullptr;
    for (const auto& a : n.attribute()) {
      if (a.name() == "value" && a.has_t()) {
        t = &a.t();
      } else if (a.name() == "value_float" || a.name() == "value_floats" || a.name() == "value_int" ||
                 a.name() == "value_ints") {
        auto& o = owned_.emplace_back();
        const bool is_float = a.name().rfind("value_float", 0) == 0;
        o.set_data_type(is_float ? ::onnx::TensorProto::FLOAT : ::onnx::TensorProto::INT64);
        if (a.name() == "value_float") o.add_float_data(a.f());
        if (a.name() == "value_int") o.add_int64_data(a.i());
        if (a.name() == "value_floats") {
          o.add_dims(a.floats_size());
          for (const float f : a.floats()) o.add_float_data(f);
        }
        if (a.name() == "value_ints") {
          o.add_dims(a.ints_size());
          for (const auto i : a.ints()) o.add_int64_data(i);
        }
        t = &o;
      }
    }
    if (!t) return;  // sparse or string constants: mapped as unknown ops
    auto& v = scopes_.back()[n.output(0)];
    v.constant = t;
    v.param = add_param(n.output(0), t);
  }

  /// Folds constant chains of the main graph (see the top of this header): every Cast, Identity,
  /// Reshape, Flatten, Squeeze or Unsqueeze whose data input is a stored tensor (or a folded chain
  /// on one) and whose other inputs are constants becomes a value of that tensor's parameter, seen
  /// with its own dims and type. A stored tensor whose readers would see different views keeps all
  /// its chains as ordinary nodes.
  void fold_chains(const ::onnx::GraphProto& g) {
    static const std::set<std::string> chain_ops{"Cast", "Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze"};
    struct candidate {
      const ::onnx::NodeProto* node;
      std::string root;
      value v;
    };
    std::vector<candidate> cands;
    std::unordered_map<std::string, std::size_t> by_output;
    std::unordered_map<std::string, std::size_t> candidate_reads;  // per value: reads by candidate nodes
    const auto is_int = [](int t) {
      using T = ::onnx::TensorProto;
      return t == T::INT64 || t == T::INT32 || t == T::INT16 || t == T::INT8 || t == T::UINT64 || t == T::UINT32 ||
             t == T::UINT16 || t == T::UINT8;
    };
    for (const auto& n : g.node()) {
      if (!standard(n) || !chain_ops.count(n.op_type()) || n.input_size() < 1 || n.output_size() != 1) continue;
      const value* src = nullptr;
      std::string root = n.input(0);
      if (const auto it = by_output.find(n.input(0)); it != by_output.end()) {
        src = &cands[it->second].v;
        root = cands[it->second].root;
      } else if (const value* v = lookup(n.input(0)); v && v->constant && v->param && !v->id) {
        src = v;
      }
      if (!src) continue;
      bool args_constant = true;
      for (int i = 1; i < n.input_size(); ++i)
        args_constant = args_constant && (n.input(i).empty() || constant_of(n.input(i)) || by_output.count(n.input(i)));
      const auto view = dims_of(n.output(0));
      if (!args_constant || !view || std::find(view->begin(), view->end(), -1) != view->end()) continue;
      const int from = src->view_type ? src->view_type : src->constant->data_type();
      int to = from;
      if (n.op_type() == "Cast") {
        to = static_cast<int>(attr_int(attrs(n), "to", 0));
        if (!((is_float_type(from) && is_float_type(to)) || (is_int(from) && is_int(to)))) continue;
      }
      candidate c{&n, root, *src};
      c.v.id.reset();
      c.v.chain.push_back(&n);
      c.v.view = *view;
      c.v.view_type = to;
      for (const auto& i : n.input()) ++candidate_reads[i];
      by_output[n.output(0)] = cands.size();
      cands.push_back(std::move(c));
    }
    // One view per stored tensor: collect the views its readers outside the chains see.
    std::map<std::string, std::set<std::pair<shape, int>>> views;
    const auto read_outside = [&](const std::string& name) {
      const auto it = candidate_reads.find(name);
      return uses(name) > (it == candidate_reads.end() ? 0 : it->second);
    };
    for (const auto& c : cands) {
      if (read_outside(c.node->output(0))) views[c.root].insert({*c.v.view, c.v.view_type});
      if (read_outside(c.root)) {
        const auto* t = constant_of(c.root);
        views[c.root].insert({tensor_dims(*t), t->data_type()});
      }
    }
    for (auto& c : cands) {
      const auto it = views.find(c.root);
      if (it == views.end() || it->second.size() != 1) continue;
      auto& p = params_[*c.v.param];
      p.dims = it->second.begin()->first;
      p.type = it->second.begin()->second;
      folded_.insert(c.node);
      scopes_.back()[c.node->output(0)] = std::move(c.v);
    }
  }

  static std::string name_of(const ::onnx::NodeProto& n) { return n.name().empty() ? n.output(0) : n.name(); }

  /// Adds the node for output 0 of `n` and an unknown node for each other non-empty output.
  void emit(const ::onnx::NodeProto& n, op_desc op, std::vector<node_id> inputs) {
    if (n.output_size() == 0) return;
    if (!n.output(0).empty()) define(n.output(0), add(name_of(n), std::move(op), inputs, dims_of(n.output(0)), &n));
    pending_chains_.clear();  // they were output 0's reads
    for (int k = 1; k < n.output_size(); ++k) {
      if (n.output(k).empty()) continue;
      op_desc extra;
      extra.type = n.op_type() + " output " + std::to_string(k);
      define(n.output(k),
             add(name_of(n) + ":" + std::to_string(k), std::move(extra), inputs, dims_of(n.output(k)), &n));
    }
  }

  std::vector<node_id> data_inputs(const ::onnx::NodeProto& n, int first = 0, int last = -1) {
    std::vector<node_id> in;
    const int end = last < 0 ? n.input_size() : std::min(last, n.input_size());
    for (int i = first; i < end; ++i)
      if (auto id = data(n.input(i))) in.push_back(*id);
    return in;
  }

  void emit_unknown(const ::onnx::NodeProto& n, std::string type) {
    op_desc op;
    op.type = std::move(type);
    emit(n, std::move(op), data_inputs(n));
  }

  /// The parameter of a value read as a weight; records the chain it is read through for the node
  /// added next (add()).
  std::optional<param_id> param_of(const std::string& name) {
    const value* v = lookup(name);
    if (!v || !v->param) return std::nullopt;
    if (!v->chain.empty()) pending_chains_.emplace_back(*v->param, v->chain);
    return v->param;
  }

  // ---- the op mapping (graph_ops.hpp) ------------------------------------------------------------

  void map(const ::onnx::NodeProto& n);
  /// Mul(x, Sigmoid(x)) or Mul(x, Sigmoid(Mul(x, c))) with a constant c: swish. Returns x.
  const std::string* swish_input(const ::onnx::NodeProto& n) const;
  void map_slice(const ::onnx::NodeProto& n, const attr_map& a, op_desc op);
  void map_split(const ::onnx::NodeProto& n, const attr_map& a);
  void map_if(const ::onnx::NodeProto& n, const attr_map& a);

  // ---- the decomposed LayerNorm ------------------------------------------------------------------
  //   m1 = ReduceMean(X, axes=[a]); d = Sub(X, m1); s = Pow(d, 2) (or Mul(d, d)); v = ReduceMean(s, [a]);
  //   ve = Add(v, eps); r = Sqrt(ve); y = Div(d, r); [y = Mul(y, γ)]; [y = Add(y, β)]
  // Every intermediate must be read only inside the pattern and must not be a graph output.

  const ::onnx::NodeProto* sole_consumer(const std::string& v, const char* type) const {
    if (uses(v) != 1) return nullptr;
    const auto it = consumers_.find(v);
    if (it == consumers_.end() || it->second.size() != 1) return nullptr;
    const auto* c = it->second.front();
    return c->op_type() == type && standard(*c) && !hidden_.count(c) ? c : nullptr;
  }
  /// The other operand of a binary `n` whose one operand is `v`.
  static const std::string* other_operand(const ::onnx::NodeProto& n, const std::string& v) {
    if (n.input_size() != 2) return nullptr;
    if (n.input(0) == v) return &n.input(1);
    if (n.input(1) == v) return &n.input(0);
    return nullptr;
  }
  std::optional<std::vector<std::int64_t>> single_reduce_axis(const ::onnx::NodeProto& n, const std::string& x) const {
    const attr_map a = attrs(n);
    if (attr_int(a, "keepdims", 1) == 0) return std::nullopt;
    const auto axes = ints_arg(n, a, "axes", 1);
    if (!axes || !*axes || (*axes)->size() != 1) return std::nullopt;
    std::int64_t ax = (**axes)[0];
    if (const auto r = rank_of(x))
      if (const auto k = normalize_axis(ax, *r)) ax = static_cast<std::int64_t>(*k);
    return std::vector<std::int64_t>{ax};
  }

  bool map_decomposed_ln(const ::onnx::NodeProto& m1) {
    if (m1.input_size() < 1 || m1.output_size() != 1) return false;
    const std::string& x = m1.input(0);
    const auto axis = single_reduce_axis(m1, x);
    if (!axis) return false;
    const auto* sub = sole_consumer(m1.output(0), "Sub");
    if (!sub || sub->input_size() != 2 || sub->input(0) != x || sub->input(1) != m1.output(0)) return false;
    const std::string& d = sub->output(0);
    const auto it = consumers_.find(d);
    if (it == consumers_.end()) return false;
    const ::onnx::NodeProto *sq = nullptr, *div = nullptr;
    for (const auto* c : it->second) {
      if (!standard(*c) || hidden_.count(c)) return false;
      if (c->op_type() == "Pow" && c->input_size() == 2 && c->input(0) == d) {
        const auto v = constant_scalar(c->input(1));
        if (!v || *v != 2.0) return false;
        if (sq && sq != c) return false;
        sq = c;
      } else if (c->op_type() == "Mul" && c->input_size() == 2 && c->input(0) == d && c->input(1) == d) {
        if (sq && sq != c) return false;
        sq = c;
      } else if (c->op_type() == "Div" && c->input_size() == 2 && c->input(0) == d && !div) {
        div = c;
      } else {
        return false;
      }
    }
    if (!sq || !div || uses(d) != (sq->op_type() == "Mul" ? 3u : 2u)) return false;
    const auto* m2 = sole_consumer(sq->output(0), "ReduceMean");
    if (!m2 || m2->input(0) != sq->output(0) || single_reduce_axis(*m2, sq->output(0)) != axis) return false;
    const auto* add_eps = sole_consumer(m2->output(0), "Add");
    if (!add_eps) return false;
    const std::string* eps_name = other_operand(*add_eps, m2->output(0));
    const auto eps = eps_name ? constant_scalar(*eps_name) : std::nullopt;
    if (!eps || !(*eps >= 0.0) || !std::isfinite(*eps)) return false;
    const auto* sqrt = sole_consumer(add_eps->output(0), "Sqrt");
    if (!sqrt || sole_consumer(sqrt->output(0), "Div") != div || div->input(1) != sqrt->output(0)) return false;

    op_desc op;
    op.kind = op_kind::layer_norm;
    op.type = "LayerNorm (decomposed)";
    op.axes = *axis;
    op.eps = *eps;
    std::vector<const ::onnx::NodeProto*> hidden{&m1, sub, sq, m2, add_eps, sqrt, div};
    std::string out = div->output(0);
    if (const auto* mul = sole_consumer(out, "Mul")) {
      const std::string* g = other_operand(*mul, out);
      if (g && constant_of(*g)) {
        op.gamma = param_of(*g);
        hidden.push_back(mul);
        out = mul->output(0);
      }
    }
    if (const auto* add = sole_consumer(out, "Add")) {
      const std::string* b = other_operand(*add, out);
      if (b && constant_of(*b)) {
        op.beta = param_of(*b);
        hidden.push_back(add);
        out = add->output(0);
      }
    }
    for (const auto* h : hidden) hidden_.insert(h);
    const auto xid = data(x);
    auto dims = dims_of(out);
    if (!dims) dims = dims_of(x);
    const node_id id = add(name_of(m1), std::move(op), xid ? std::vector<node_id>{*xid} : std::vector<node_id>{},
                           std::move(dims), &m1);
    nodes_[id].hidden = std::move(hidden);
    define(out, id);
    return true;
  }
};

}  // namespace lnfold::onnx

#include "lnfold/onnx/graph_ops.hpp"  // the op mapping: graph's member functions map, map_slice, …
