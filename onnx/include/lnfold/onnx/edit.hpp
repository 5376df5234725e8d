// Editing a copy of an ONNX model in place: what the convert step needs and nothing more.
//
// model_editor copies the model once and maps every TensorProto and NodeProto of the original (as
// lnfold::onnx::graph points at them) to its counterpart in the copy, so edits land on the right
// object even when names repeat across subgraph scopes. Untouched messages are never rebuilt: their
// bytes serialize as they were read. Node insertions and removals are queued and applied by
// finish(), which reorders the nodes of each graph by moving pointers, never by copying nodes.
//
// Tensor values: float and double tensors are read and written in the representation they had
// (raw_data stays raw_data, float_data stays float_data), so a centered initializer keeps its form.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <onnx/onnx_pb.h>

#include "lnfold/error.hpp"
#include "lnfold/onnx/tensor.hpp"
#include "lnfold/tensor/tensor.hpp"

namespace lnfold::onnx {

namespace detail {

inline const char* element_type_name(int type) {
  return ::onnx::TensorProto::DataType_IsValid(type)
             ? ::onnx::TensorProto::DataType_Name(static_cast<::onnx::TensorProto::DataType>(type)).c_str()
             : "invalid";
}

template <class T>
constexpr int element_type_of() {
  return std::is_same_v<T, float> ? ::onnx::TensorProto::FLOAT : ::onnx::TensorProto::DOUBLE;
}

/// The values of a float or double tensor as tensor<T> with its dims.
template <class T>
lnfold::tensor<T> read_values(const ::onnx::TensorProto& t) {
  lnfold::tensor<T> out(typename lnfold::tensor<T>::shape(t.dims().begin(), t.dims().end()));
  if (t.has_raw_data()) {
    lnfold::detail::require(t.raw_data().size() == out.size() * sizeof(T), "tensor '", t.name(), "' has ",
                            t.raw_data().size(), " bytes of raw data for ", out.size(), " elements");
    std::memcpy(out.data(), t.raw_data().data(), t.raw_data().size());  // ONNX raw data is little-endian
    return out;
  }
  const auto copy = [&](const auto& field) {
    lnfold::detail::require(static_cast<std::size_t>(field.size()) == out.size(), "tensor '", t.name(), "' has ",
                            field.size(), " values for ", out.size(), " elements");
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<T>(field[static_cast<int>(i)]);
  };
  if constexpr (std::is_same_v<T, float>) copy(t.float_data());
  else copy(t.double_data());
  return out;
}

template <class T>
void write_values(::onnx::TensorProto& t, const lnfold::tensor<T>& v) {
  if (t.has_raw_data()) {
    t.set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T)));
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    for (std::size_t i = 0; i < v.size(); ++i) t.set_float_data(static_cast<int>(i), v[i]);
  } else {
    for (std::size_t i = 0; i < v.size(); ++i) t.set_double_data(static_cast<int>(i), v[i]);
  }
}

}  // namespace detail

/// Calls f(tensor<T>&) with a decoded copy of the values of a float or double tensor (T float or
/// double); nothing is written back. Throws lnfold::error for other element types and for external
/// data.
template <class F>
void with_values(const ::onnx::TensorProto& t, F&& f) {
  using lnfold::detail::concat;
  if (t.data_location() == ::onnx::TensorProto::EXTERNAL)
    lnfold::detail::fail(concat("tensor '", t.name(), "' is stored as external data, which convert does not rewrite"));
  if (t.data_type() == ::onnx::TensorProto::FLOAT) {
    auto v = detail::read_values<float>(t);
    f(v);
  } else if (t.data_type() == ::onnx::TensorProto::DOUBLE) {
    auto v = detail::read_values<double>(t);
    f(v);
  } else {
    lnfold::detail::fail(concat("tensor '", t.name(), "' has element type ", detail::element_type_name(t.data_type()),
                                "; convert edits float and double tensors only"));
  }
}

/// Calls f(tensor<T>&) with the values of a float or double tensor and writes them back in the
/// same representation. Throws lnfold::error for other element types and for external data.
template <class F>
void edit_values(::onnx::TensorProto& t, F&& f) {
  with_values(t, [&](auto& v) {
    f(v);
    detail::write_values(t, v);
  });
}

/// A new tensor of `type` (FLOAT, DOUBLE, FLOAT16, BFLOAT16 or INT64) with `dims`, the values
/// stored as raw data, each rounded once to the type (to nearest even, encode_raw): the inserted
/// constants of a converted float16 or bfloat16 model (ε, the exponent 2, zeros) are in its type.
inline ::onnx::TensorProto make_tensor(const std::string& name, int type, const std::vector<std::int64_t>& dims,
                                       const std::vector<double>& values) {
  ::onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(type);
  for (const auto d : dims) t.add_dims(d);
  if (type != ::onnx::TensorProto::INT64) {
    t.set_raw_data(encode_raw(type, values));  // names the type when it is not a float type
    return t;
  }
  std::string raw(values.size() * sizeof(std::int64_t), '\0');
  for (std::size_t i = 0; i < values.size(); ++i) {
    const auto x = static_cast<std::int64_t>(values[i]);
    std::memcpy(raw.data() + i * sizeof x, &x, sizeof x);
  }
  t.set_raw_data(std::move(raw));
  return t;
}

class model_editor {
 public:
  explicit model_editor(const ::onnx::ModelProto& original) : out_(original) {
    map_graph(original.graph(), *out_.mutable_graph());
    for (const auto* copy : copies_) {
      names_.insert(copy->name());
      for (const auto& o : copy->output()) names_.insert(o);
    }
    collect_value_names(out_.graph());
  }

  ::onnx::ModelProto& model() noexcept { return out_; }
  std::int64_t opset() const {
    for (const auto& op : out_.opset_import())
      if (op.domain().empty() || op.domain() == "ai.onnx") return op.version();
    return 1;
  }

  /// The copy of a tensor of the original model (an initializer or a Constant's value).
  ::onnx::TensorProto* tensor(const ::onnx::TensorProto* original) const {
    const auto it = tensors_.find(original);
    return it == tensors_.end() ? nullptr : it->second;
  }
  /// The value tensor of the Constant node writing `name` in the copy, turning a value_float(s)
  /// attribute into an equivalent `value` tensor so that it can be edited like any other.
  ::onnx::TensorProto* constant_tensor(const std::string& name) {
    for (auto* copy : copies_) {
      if (copy->op_type() != "Constant" || copy->output_size() != 1 || copy->output(0) != name) continue;
      for (auto& a : *copy->mutable_attribute()) {
        if (a.name() == "value" && a.has_t()) return a.mutable_t();
        if (a.name() == "value_float" || a.name() == "value_floats") {
          ::onnx::TensorProto t;
          t.set_data_type(::onnx::TensorProto::FLOAT);
          if (a.name() == "value_floats") t.add_dims(a.floats_size());
          if (a.name() == "value_float") t.add_float_data(a.f());
          for (const float f : a.floats()) t.add_float_data(f);
          a.Clear();
          a.set_name("value");
          a.set_type(::onnx::AttributeProto::TENSOR);
          *a.mutable_t() = std::move(t);
          return a.mutable_t();
        }
      }
    }
    return nullptr;
  }
  ::onnx::NodeProto* node(const ::onnx::NodeProto* original) const {
    const auto it = nodes_.find(original);
    lnfold::detail::require(it != nodes_.end(), "model_editor: node not in the model");
    return it->second;
  }
  ::onnx::GraphProto* graph_of(const ::onnx::NodeProto* copy) const { return graph_of_.at(copy); }
  /// Position of a node of the copy in model order (a subgraph's nodes follow the node that owns
  /// it): new nodes anchored after the latest of their inputs' producers are in topological order.
  std::size_t position(const ::onnx::NodeProto* copy) const {
    if (positions_.empty())
      for (std::size_t i = 0; i < copies_.size(); ++i) positions_[copies_[i]] = i;
    return positions_.at(copy);
  }

  /// `base`, or `base` with a numeric suffix, unused by any value or node of the model so far.
  std::string unique_name(const std::string& base) {
    std::string name = base;
    for (int k = 1; names_.count(name); ++k) name = base + "_" + std::to_string(k);
    names_.insert(name);
    return name;
  }

  /// Adds an initializer to the main graph (visible in every subgraph); below IR 4 it is also
  /// listed as a graph input, as those versions require.
  ::onnx::TensorProto* add_initializer(::onnx::TensorProto t) {
    auto& g = *out_.mutable_graph();
    if (out_.ir_version() < 4) {
      auto* in = g.add_input();
      in->set_name(t.name());
      auto* tt = in->mutable_type()->mutable_tensor_type();
      tt->set_elem_type(t.data_type());
      auto* sh = tt->mutable_shape();
      for (const auto d : t.dims()) sh->add_dim()->set_dim_value(d);
    }
    auto* added = g.add_initializer();
    *added = std::move(t);
    return added;
  }

  /// Queues `n` (a node of the copy) for removal; the values it read become candidates for cleanup.
  void remove(::onnx::NodeProto* n) {
    removed_.insert(n);
    for (const auto& i : n->input()) released_.insert(i);
    for (const auto& o : n->output()) released_.insert(o);
  }
  /// Queues new nodes to go right after `anchor` (a node of the copy), in the order given.
  void insert_after(const ::onnx::NodeProto* anchor, std::vector<::onnx::NodeProto> nodes) {
    auto& list = after_[anchor];
    for (auto& n : nodes) list.push_back(std::move(n));
  }
  /// Queues new nodes at the start of the main graph.
  void insert_at_front(std::vector<::onnx::NodeProto> nodes) {
    for (auto& n : nodes) front_.push_back(std::move(n));
  }

  /// Every node input (in all graphs) and subgraph output reading `from` now reads `to`, except the
  /// nodes in `keep`. Main-graph outputs keep their names. Nodes queued for insertion are not
  /// renamed: call this before queueing the nodes that write `to`.
  void rename_reads(const std::string& from, const std::string& to,
                    const std::set<const ::onnx::NodeProto*>& keep = {}) {
    for (auto* copy : copies_) {
      if (keep.count(copy)) continue;
      for (auto& i : *copy->mutable_input())
        if (i == from) i = to;
    }
    for (auto* g : subgraphs_)
      for (auto& o : *g->mutable_output())
        if (o.name() == from) o.set_name(to);
  }

  /// Applies the queued insertions and removals, then drops Constant nodes, initializers and
  /// value_info entries that only removed nodes used. Returns the edited model.
  ::onnx::ModelProto finish() {
    std::set<::onnx::GraphProto*> graphs{out_.mutable_graph()};
    for (const auto& entry : graph_of_) graphs.insert(entry.second);
    for (auto* g : graphs) rebuild(*g, g == out_.mutable_graph());
    drop_dead_values();
    return std::move(out_);
  }

 private:
  void map_graph(const ::onnx::GraphProto& a, ::onnx::GraphProto& b) {
    if (&b != out_.mutable_graph()) subgraphs_.push_back(&b);
    for (int i = 0; i < a.initializer_size(); ++i) tensors_[&a.initializer(i)] = b.mutable_initializer(i);
    for (int i = 0; i < a.node_size(); ++i) {
      const auto& na = a.node(i);
      auto* nb = b.mutable_node(i);
      nodes_[&na] = nb;
      graph_of_[nb] = &b;
      copies_.push_back(nb);
      for (int k = 0; k < na.attribute_size(); ++k) {
        const auto& aa = na.attribute(k);
        auto* ab = nb->mutable_attribute(k);
        if (aa.has_t()) tensors_[&aa.t()] = ab->mutable_t();
        if (aa.has_g()) map_graph(aa.g(), *ab->mutable_g());
        for (int j = 0; j < aa.graphs_size(); ++j) map_graph(aa.graphs(j), *ab->mutable_graphs(j));
      }
    }
  }

  void collect_value_names(const ::onnx::GraphProto& g) {
    for (const auto& v : g.input()) names_.insert(v.name());
    for (const auto& v : g.output()) names_.insert(v.name());
    for (const auto& t : g.initializer()) names_.insert(t.name());
    for (const auto& n : g.node())
      for (const auto& a : n.attribute()) {
        if (a.has_g()) collect_value_names(a.g());
        for (const auto& s : a.graphs()) collect_value_names(s);
      }
  }

  void rebuild(::onnx::GraphProto& g, bool main) {
    auto* nodes = g.mutable_node();
    std::vector<::onnx::NodeProto*> old(static_cast<std::size_t>(nodes->size()));
    nodes->ExtractSubrange(0, nodes->size(), old.data());  // takes ownership, no copies
    if (main)
      for (auto& n : front_) *nodes->Add() = std::move(n);
    for (auto* n : old) {
      const auto it = after_.find(n);
      if (removed_.count(n)) {
        delete n;
      } else {
        nodes->AddAllocated(n);
      }
      if (it != after_.end())
        for (auto& m : it->second) *nodes->Add() = std::move(m);
    }
  }

  // Values only removed nodes read: Constant nodes writing them, initializers and value_info go too.
  void drop_dead_values() {
    std::map<std::string, std::size_t> uses;
    count_uses(out_.graph(), uses);
    const auto dead = [&](const std::string& name) { return released_.count(name) && uses[name] == 0; };
    drop_in(*out_.mutable_graph(), dead);
  }
  static void count_uses(const ::onnx::GraphProto& g, std::map<std::string, std::size_t>& uses) {
    for (const auto& n : g.node()) {
      for (const auto& i : n.input()) ++uses[i];
      for (const auto& a : n.attribute()) {
        if (a.has_g()) count_uses(a.g(), uses);
        for (const auto& s : a.graphs()) count_uses(s, uses);
      }
    }
    for (const auto& o : g.output()) ++uses[o.name()];
  }
  template <class Dead>
  static void drop_in(::onnx::GraphProto& g, const Dead& dead) {
    const auto erase_if = [](auto* field, auto pred) {
      for (int i = field->size(); i-- > 0;)
        if (pred(field->Get(i))) field->DeleteSubrange(i, 1);
    };
    erase_if(g.mutable_node(), [&](const ::onnx::NodeProto& n) {
      return n.op_type() == "Constant" && n.output_size() == 1 && dead(n.output(0));
    });
    std::set<std::string> dropped;
    erase_if(g.mutable_initializer(), [&](const ::onnx::TensorProto& t) {
      if (!dead(t.name())) return false;
      dropped.insert(t.name());
      return true;
    });
    erase_if(g.mutable_input(), [&](const ::onnx::ValueInfoProto& v) { return dropped.count(v.name()) != 0; });
    std::set<std::string> produced;
    for (const auto& n : g.node())
      for (const auto& o : n.output()) produced.insert(o);
    erase_if(g.mutable_value_info(),
             [&](const ::onnx::ValueInfoProto& v) { return dead(v.name()) && !produced.count(v.name()); });
    for (auto& n : *g.mutable_node())
      for (auto& a : *n.mutable_attribute()) {
        if (a.has_g()) drop_in(*a.mutable_g(), dead);
        for (auto& s : *a.mutable_graphs()) drop_in(s, dead);
      }
  }

  ::onnx::ModelProto out_;
  std::unordered_map<const ::onnx::TensorProto*, ::onnx::TensorProto*> tensors_;
  std::unordered_map<const ::onnx::NodeProto*, ::onnx::NodeProto*> nodes_;
  std::unordered_map<const ::onnx::NodeProto*, ::onnx::GraphProto*> graph_of_;  // copy node -> its graph
  std::vector<::onnx::NodeProto*> copies_;  // every node of the copy, in model order
  mutable std::unordered_map<const ::onnx::NodeProto*, std::size_t> positions_;
  std::vector<::onnx::GraphProto*> subgraphs_;
  std::set<std::string> names_;
  std::set<const ::onnx::NodeProto*> removed_;
  std::set<std::string> released_;
  std::map<const ::onnx::NodeProto*, std::vector<::onnx::NodeProto>> after_;
  std::vector<::onnx::NodeProto> front_;
};

}  // namespace lnfold::onnx
