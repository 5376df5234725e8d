// lnfold::onnx::detail::model_rewriter: an ONNX model as a rewritable_graph
// (transform/rewritable_graph.hpp), so that lnfold's one plan applier (transform/apply_plan.hpp)
// converts ONNX models too. Only what is truly ONNX lives here:
//   * parameter values: initializers and Constant values, read and written in the representation
//     they had (raw_data, float_data, double_data; edit.hpp), new ones as raw-data initializers;
//   * Gemm's alpha and beta, as linear_scale_of;
//   * writing the recorded edits into a copy of the model at finish_rewrite: value names, rewired
//     inputs, untied weights, fused scales (Mul → Identity), a bias added to a MatMul, the RMSNorm
//     forms of converted LayerNorms (rmsnorm_forms.hpp), and the nodes the applier added.
//
// Structure edits are recorded by structure_overlay (the applier's later steps read them back) and
// written once at the end:
//   * values: an added node that takes over a graph output (set_graph_output(n, false) then
//     (m, true)) gets n's value name, and n's output is renamed, so the model's output names stay;
//     any other added node writes a new unique name, and each node input rewired to it is renamed;
//   * placement: each group of added nodes (connected through each other) goes right after the
//     latest producer of any of its inputs, in the order they were added, so the model stays
//     topologically sorted; a group that reads only graph inputs and initializers goes first.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <onnx/onnx_pb.h>

#include "lnfold/error.hpp"
#include "lnfold/graph/op.hpp"
#include "lnfold/onnx/edit.hpp"
#include "lnfold/onnx/external_data.hpp"
#include "lnfold/onnx/graph.hpp"
#include "lnfold/onnx/rmsnorm_forms.hpp"
#include "lnfold/onnx/tensor.hpp"
#include "lnfold/transform/detail/structure_overlay.hpp"
#include "lnfold/transform/rewritable_graph.hpp"

namespace lnfold::onnx::detail {

class model_rewriter : public lnfold::detail::structure_overlay<graph> {
  using overlay = lnfold::detail::structure_overlay<graph>;
  using node_proto = ::onnx::NodeProto;
  static constexpr const char* fn = "lnfold::onnx::convert_model";

 public:
  /// `edited_out`: where edited tensors that were external data go (see with_param); null: into the
  /// model, as raw_data.
  model_rewriter(const graph& g, rmsnorm_form form, detail::data_file* edited_out = nullptr)
      : overlay(g), g_(g), ed_(g.model()), write_(ed_), form_(form), edited_out_(edited_out) {
    lnfold::detail::require(ed_.opset() >= 7, fn, ": opset ", ed_.opset(),
                            " is older than 7, whose broadcasting rules the RMSNorm forms do not follow");
    lnfold::detail::require(ed_.opset() <= 23, fn, ": opset ", ed_.opset(),
                            " is newer than 23, the latest whose ops the converter writes (ONNX Runtime 1.30's)");
  }

  // ---- parameters (rewritable_graph) ---------------------------------------------------------------
  // A parameter is a stored tensor as its readers see it: possibly behind a chain of Cast / Reshape /
  // Unsqueeze … (graph.hpp), so its dims and element type are the view's (param_view), and its
  // values are the stored elements in row-major order. Float and double tensors stored in the model
  // are edited in their own type and representation (edit.hpp); float16 / bfloat16 and external
  // tensors are decoded to double and written back as raw_data, rounded once to the stored type.

  std::string param_name(param_id p) const { return p < g_.param_count() ? g_.param_name(p) : tensor(p).name(); }
  shape param_shape(param_id p) const { return view_of(p).dims; }
  /// The element type p is stored in ("float16", …).
  std::string param_type_name(param_id p) const { return detail::element_type_name(tensor(p).data_type()); }
  template <class F>
  void visit_param(param_id p, F&& f) const {
    with_param(p, false, [&](const auto& v) {
      f(tensor_view<const typename std::remove_cvref_t<decltype(v)>::element>(v.view));
    });
  }
  template <class F>
  void edit_param(param_id p, F&& f) {
    with_param(p, true, [&](const auto& v) { f(v.view); });
  }
  param_id copy_param(param_id p, std::string_view name) {
    ::onnx::TensorProto copy = tensor(p);
    copy.set_name(ed_.unique_name(std::string(name)));
    return add(std::move(copy), view_of(p), p);
  }
  /// A new parameter of `dims` in the element type readers of `like` see (after its chain's Cast),
  /// read without a chain.
  param_id add_param_like(param_id like, std::string_view name, const shape& dims) {
    std::size_t size = 1;
    for (const auto d : dims) size *= static_cast<std::size_t>(d);
    const int type = view_of(like).type;
    return add(make_tensor(ed_.unique_name(std::string(name)), type, dims, std::vector<double>(size, 0.0)),
               {dims, type}, std::nullopt);
  }
  /// Gemm computes alpha·A·B + beta·C; every other linear has factors 1.
  linear_scale linear_scale_of(node_id n) const {
    linear_scale s;
    const node_proto* p = n < base_count() ? g_.at(n).proto : nullptr;
    if (p && p->op_type() == "Gemm")
      for (const auto& a : p->attribute()) {
        if (a.name() == "alpha") s.weight = static_cast<double>(a.f());
        if (a.name() == "beta") s.bias = static_cast<double>(a.f());
      }
    return s;
  }

  /// Records which added node takes over which graph output (see the top of this header).
  void set_graph_output(node_id n, bool exposed) {
    if (!exposed && is_graph_output(n)) released_ = n;
    if (exposed && n >= base_count() && released_) takeover_[n] = *std::exchange(released_, std::nullopt);
    overlay::set_graph_output(n, exposed);
  }

  /// Writes every recorded edit into the copy of the model.
  void finish_rewrite() {
    name_values();
    rename_taken_over_outputs();
    rewire_inputs();
    rewrite_changed_nodes();
    write_norms();
    write_added_nodes();
    model_ = ed_.finish();
  }

  // ---- results ---------------------------------------------------------------------------------------
  ::onnx::ModelProto take_model() { return std::move(model_); }
  /// The name of the value node id `n` produced in the original model.
  std::string original_value(node_id n) const { return original_value_name(n); }
  /// LNs written decomposed although a fused form (simplified, rmsnormalization) was asked.
  const std::vector<node_id>& fallbacks() const noexcept { return fallbacks_; }

 private:
  // ---- parameters ----------------------------------------------------------------------------------

  struct param_view {
    shape dims;
    int type = 0;
  };
  struct created_param {
    ::onnx::TensorProto* tensor;
    param_view view;
    std::optional<param_id> copy_of;  ///< a copy reads the original's chain, copied (chain_end)
  };
  /// The values of a parameter, in the view's dims, as the type T they are edited in.
  template <class T>
  struct values_view {
    using element = T;
    tensor_view<T> view;
  };

  ::onnx::TensorProto& tensor(param_id p) const {
    if (p >= g_.param_count()) return *created_.at(p - g_.param_count()).tensor;
    const auto& par = g_.parameter(p);
    ::onnx::TensorProto* t = par.tensor ? ed_.tensor(par.tensor) : nullptr;
    if (!t) t = ed_.constant_tensor(par.name);
    lnfold::detail::require(t != nullptr, fn, ": parameter '", par.name,
                            "' is not an initializer or a Constant value, so its values cannot be edited");
    return *t;
  }
  param_view view_of(param_id p) const {
    if (p >= g_.param_count()) return created_.at(p - g_.param_count()).view;
    const auto& par = g_.parameter(p);
    return {par.dims, par.type ? par.type : tensor(p).data_type()};
  }
  param_id add(::onnx::TensorProto t, param_view view, std::optional<param_id> copy_of) {
    created_.push_back({ed_.add_initializer(std::move(t)), std::move(view), copy_of});
    return g_.param_count() + created_.size() - 1;
  }

  /// Calls f(values_view<T>) with p's values seen with the view's dims; writes them back if `write`.
  /// Float and double tensors are edited as their own type (embedded ones in their own fields,
  /// edit.hpp); float16 and bfloat16 ones as doubles, rounded once to their type when written back.
  /// An external tensor is read into memory for the call only; written back, it goes to the data
  /// file being written when there is one (data_file.hpp), else into the model as raw_data.
  template <class F>
  void with_param(param_id p, bool write, F&& f) const {
    ::onnx::TensorProto& t = tensor(p);
    const shape& dims = view_of(p).dims;
    std::vector<std::size_t> extents(dims.begin(), dims.end());
    const auto strides = row_major_strides(extents);
    std::size_t count = 1;
    for (const auto e : extents) count *= e;
    const auto check = [&](std::size_t stored) {
      lnfold::detail::require(stored == count, fn, ": parameter '", t.name(), "' holds ", stored,
                              " values, its readers see dims of ", count);
    };
    const int type = t.data_type();
    const bool wide = type == ::onnx::TensorProto::FLOAT || type == ::onnx::TensorProto::DOUBLE;
    lnfold::detail::require(wide || type == ::onnx::TensorProto::FLOAT16 || type == ::onnx::TensorProto::BFLOAT16,
                            "tensor '", t.name(), "' has element type ", detail::element_type_name(type),
                            "; convert edits float, double, float16 and bfloat16 tensors");
    const bool external = t.data_location() == ::onnx::TensorProto::EXTERNAL;
    if (wide && !external) {
      const auto call = [&](auto& v) {
        using T = std::remove_reference_t<decltype(v[0])>;
        check(v.size());
        f(values_view<T>{tensor_view<T>{v.data(), extents, strides}});
      };
      if (write) edit_values(t, call);
      else with_values(t, call);
      return;
    }
    check(static_cast<std::size_t>(tensor_byte_size(t) / element_size(type)));
    if (wide) {
      const auto edit = [&](auto zero) {
        using T = decltype(zero);
        std::vector<T> v(count);
        auto* out = reinterpret_cast<char*>(v.data());
        for_each_chunk(t, [&](const char* bytes, std::size_t n) { out = std::copy_n(bytes, n, out); });
        f(values_view<T>{tensor_view<T>{v.data(), extents, strides}});
        if (write)
          store(t, [&](const auto& put) {
            put(std::string_view(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T)));
          });
      };
      if (type == ::onnx::TensorProto::FLOAT) edit(0.0f);
      else edit(0.0);
      return;
    }
    std::vector<double> v;
    v.reserve(count);
    for_each_chunk(t, [&](const char* bytes, std::size_t n) {
      const auto part = decode_raw(type, std::string(bytes, n));
      v.insert(v.end(), part.begin(), part.end());
    });
    f(values_view<double>{tensor_view<double>{v.data(), extents, strides}});
    if (!write) return;
    store(t, [&](const auto& put) {  // rounded once to the stored type, 1 Mi elements at a time
      for (std::size_t i = 0; i < v.size(); i += std::size_t{1} << 20)
        put(encode_raw(type, std::span<const double>(v).subspan(i, std::min(v.size() - i, std::size_t{1} << 20))));
    });
  }

  /// Calls sink(bytes, n) over the stored bytes of `t` in order, in chunks of at most 4 MiB when
  /// they are in a file (the source model's external data, or the data file being written).
  template <class Sink>
  void for_each_chunk(const ::onnx::TensorProto& t, Sink&& sink) const {
    const auto loc = external_location_of(t);
    if (!loc) {
      const std::string bytes = tensor_bytes(t, g_.options().model_dir);
      sink(bytes.data(), bytes.size());
    } else if (edited_out_ && loc->location == edited_out_->staging_location()) {
      detail::in_chunks(
          tensor_byte_size(t), std::size_t{4} << 20,
          [&](char* out, std::size_t n, std::uint64_t at) { edited_out_->read(out, n, loc->offset + at); }, sink);
    } else {
      read_tensor_chunks(t, g_.options().model_dir, sink);
    }
  }

  /// Stores the new bytes of `t`, which write(put) gives in order through put(string_view): into
  /// the data file being written when `t` was external and there is one (over its earlier bytes if
  /// it is already there), else into the model as raw_data.
  template <class Writer>
  void store(::onnx::TensorProto& t, Writer&& write) const {
    const auto loc = external_location_of(t);
    if (!loc || !edited_out_) {
      std::string raw;
      write([&](std::string_view bytes) { raw.append(bytes); });
      t.set_raw_data(std::move(raw));
      t.clear_float_data();
      t.clear_double_data();
      t.clear_int32_data();  // float16 / bfloat16 may have been stored there
      t.clear_external_data();
      t.set_data_location(::onnx::TensorProto::DEFAULT);
      return;
    }
    const std::string staged = edited_out_->staging_location();
    if (loc->location == staged) {
      std::uint64_t at = loc->offset;
      write([&](std::string_view bytes) {
        edited_out_->overwrite(bytes, at);
        at += bytes.size();
      });
      return;
    }
    const std::uint64_t offset = edited_out_->start_tensor();
    write([&](std::string_view bytes) { edited_out_->write(bytes); });
    detail::set_external_reference(t, staged, offset, tensor_byte_size(t));
  }

  /// The value name reader `n` must read parameter `p` under: the tensor itself, or, behind a chain,
  /// the chain's last output; for a copy of a chained parameter, a copy of that chain reading the
  /// copied tensor, written once per copy right after the original chain.
  std::string chain_end(node_id n, param_id p) {
    if (p < g_.param_count()) {
      const auto& chain = n < base_count() ? g_.chain(n, p) : no_chain_;
      return chain.empty() ? param_name(p) : chain.back()->output(0);
    }
    const created_param& c = created_.at(p - g_.param_count());
    if (!c.copy_of) return param_name(p);
    if (const auto it = copied_chain_end_.find(p); it != copied_chain_end_.end()) return it->second;
    const auto* chain = &no_chain_;
    for (node_id r = 0; r < base_count() && chain->empty(); ++r) chain = &g_.chain(r, *c.copy_of);
    std::string previous = param_name(p);
    std::vector<node_proto> copies;
    for (const node_proto* link : *chain) {
      node_proto copy = *link;
      copy.set_name(ed_.unique_name((link->name().empty() ? link->output(0) : link->name()) + "/lnfold_copy"));
      copy.set_input(0, previous);
      copy.set_output(0, ed_.unique_name(link->output(0) + "/" + param_name(p)));
      previous = copy.output(0);
      copies.push_back(std::move(copy));
    }
    if (!copies.empty()) ed_.insert_after(ed_.node(chain->back()), std::move(copies));
    return copied_chain_end_[p] = previous;
  }

  // ---- values --------------------------------------------------------------------------------------

  /// The protos (of the copy) that node id `n` stands for: a decomposed LN's whole pattern.
  std::vector<node_proto*> protos(node_id n) const {
    std::vector<node_proto*> out;
    if (n >= base_count()) return out;
    const auto& nd = g_.at(n);
    if (!nd.hidden.empty()) {
      for (const auto* h : nd.hidden) out.push_back(ed_.node(h));
    } else if (nd.proto) {
      out.push_back(ed_.node(nd.proto));
    }
    return out;
  }
  /// The proto (of the copy) writing base node n's value; null for inputs and initializers.
  node_proto* producer(node_id n) const {
    const auto& nd = g_.at(n);
    if (!nd.hidden.empty()) return ed_.node(nd.hidden.back());
    return nd.proto ? ed_.node(nd.proto) : nullptr;
  }

  std::string original_value_name(node_id n) const {
    const auto& nd = g_.at(n);
    if (!nd.hidden.empty()) return nd.hidden.back()->output(0);
    if (!nd.proto) return nd.name;
    const std::string base = nd.proto->name().empty() ? nd.proto->output(0) : nd.proto->name();
    for (int k = 0; k < nd.proto->output_size(); ++k)
      if (nd.name == (k ? base + ":" + std::to_string(k) : base)) return nd.proto->output(k);
    return nd.proto->output(0);
  }

  void name_values() {
    value_.resize(node_count());
    for (node_id n = 0; n < base_count(); ++n) {
      value_[n] = original_value_name(n);
      // An untied constant: its readers read the copy (through a copy of its chain, if any).
      if (const op_desc* op = changed_op(n); op && op->kind == op_kind::constant && op->weight)
        value_[n] = chain_end(n, *op->weight);
    }
    for (node_id m = base_count(); m < node_count(); ++m) {
      const op_desc op = node_op(m);
      if (op.kind == op_kind::constant) {
        lnfold::detail::require(op.weight.has_value(), fn, ": added constant '", node_name(m), "' has no parameter");
        value_[m] = chain_end(m, *op.weight);
      } else if (const auto it = takeover_.find(m); it != takeover_.end()) {
        value_[m] = value_[it->second];
        value_[it->second] = ed_.unique_name(value_[it->second] + "/lnfold_raw");
      } else {
        value_[m] = ed_.unique_name(node_name(m));
      }
      lnfold::detail::require(!is_graph_output(m) || takeover_.count(m), fn, ": added node '", node_name(m),
                              "' is a graph output that replaces none");
    }
  }

  void rename_taken_over_outputs() {
    for (const auto& [m, n] : takeover_) {
      node_proto* p = producer(n);
      lnfold::detail::require(p != nullptr, fn, ": '", node_name(n), "' is a graph output without a producing node");
      for (auto& o : *p->mutable_output())
        if (o == value_[m]) o = value_[n];
    }
  }

  /// Every base node input that now reads another value: renamed in the node's protos (and in the
  /// subgraph outputs an If, Loop or Scan node stands for).
  void rewire_inputs() {
    for (node_id c = 0; c < base_count(); ++c) {
      const auto before = g_.node_inputs(c);
      const auto after = node_inputs(c);
      for (std::size_t i = 0; i < before.size(); ++i) {
        const std::string old_name = original_value_name(before[i]);
        if (old_name != value_[after[i]]) replace_reads(c, old_name, value_[after[i]]);
      }
    }
  }
  void replace_reads(node_id c, const std::string& from, const std::string& to) {
    for (node_proto* p : protos(c)) {
      for (auto& i : *p->mutable_input())
        if (i == from) i = to;
      for (auto& a : *p->mutable_attribute()) {
        const auto rename_outputs = [&](::onnx::GraphProto& sub) {
          for (auto& o : *sub.mutable_output())
            if (o.name() == from) o.set_name(to);
        };
        if (a.has_g()) rename_outputs(*a.mutable_g());
        for (auto& s : *a.mutable_graphs()) rename_outputs(s);
      }
    }
  }

  // ---- nodes whose op changed ----------------------------------------------------------------------

  void rewrite_changed_nodes() {
    for (node_id n = 0; n < base_count(); ++n) {
      const op_desc* now = changed_op(n);
      if (!now) continue;
      const op_desc& before = g_.node_op(n);
      if (before.kind == op_kind::layer_norm) continue;  // write_norms
      if (before.kind == op_kind::mul && now->kind == op_kind::identity) {
        fuse_scale(n);
      } else if (before.kind == now->kind && before.kind == op_kind::constant) {
        // the value name carries the untied copy (name_values)
      } else if (before.kind == now->kind && before.layout == now->layout && before.axis == now->axis) {
        if (before.weight != now->weight) rename_param(n, *before.weight, *now->weight);
        if (before.bias && before.bias != now->bias) rename_param(n, *before.bias, *now->bias);
        if (!before.bias && now->bias) add_bias(n, chain_end(n, *now->bias));
      } else {
        lnfold::detail::fail(lnfold::detail::concat(fn, ": cannot write '", g_.at(n).name, "' as ",
                                                    to_string(now->kind), " (it was ", to_string(before.kind), ")"));
      }
    }
  }

  /// The Mul passes its input 0, the linear whose output the scale now lives in.
  void fuse_scale(node_id mul) {
    for (node_proto* p : protos(mul)) {
      p->clear_input();
      p->add_input(value_[node_inputs(mul)[0]]);
      p->clear_attribute();
      p->set_op_type("Identity");
    }
  }
  void rename_param(node_id n, param_id from, param_id to) {
    const std::string a = chain_end(n, from), b = chain_end(n, to);
    for (node_proto* p : protos(n))
      for (auto& i : *p->mutable_input())
        if (i == a) i = b;
  }
  /// A bias created for a linear that had none (affine folding): Gemm and Conv take it as input 2,
  /// a MatMul gets an Add after it.
  void add_bias(node_id n, const std::string& bias) {
    node_proto* p = producer(n);
    lnfold::detail::require(p != nullptr, fn, ": cannot add a bias to '", g_.at(n).name, "', which no node computes");
    const std::string& op = p->op_type();
    if (op == "Gemm" || op == "Conv" || op == "ConvTranspose") {
      while (p->input_size() < 2) p->add_input("");
      if (p->input_size() == 2) p->add_input(bias);
      else p->set_input(2, bias);
      return;
    }
    lnfold::detail::require(op == "MatMul", fn, ": cannot add a bias to '", g_.at(n).name, "' (", op, ")");
    const std::string y = p->output(0), raw = ed_.unique_name(y + "/lnfold_without_bias");
    p->set_output(0, raw);
    ed_.insert_after(p, {write_.make_node("Add", {raw, bias}, y, g_.at(n).name + "/lnfold_bias")});
  }

  // ---- norms -----------------------------------------------------------------------------------------

  void write_norms() {
    for (node_id n = 0; n < base_count(); ++n) {
      if (g_.node_op(n).kind != op_kind::layer_norm || !changed_op(n)) continue;
      const op_desc now = *changed_op(n);
      detail::norm_io io = norm_of(n, now);
      if (now.kind == op_kind::rms_norm) {
        const bool decomposed = g_.at(n).hidden.empty() ? rms_from_layer_normalization(n, io)
                                                        : rms_from_decomposed(n, io);
        if (decomposed && form_ != rmsnorm_form::decomposed) fallbacks_.push_back(n);
      } else {
        lnfold::detail::require(now.kind == op_kind::layer_norm, fn, ": cannot write LayerNorm '", g_.at(n).name,
                                "' as ", to_string(now.kind));
        strip_affine(n, io);
      }
    }
  }

  /// The norm's input, affine (as the edited op keeps it), output and axis.
  detail::norm_io norm_of(node_id n, const op_desc& now) {
    const auto& nd = g_.at(n);
    detail::norm_io io;
    io.eps = nd.op.eps;
    io.x = value_[node_inputs(n)[0]];
    io.out = value_[n];
    if (nd.dims) io.rank = nd.dims->size();
    io.base = nd.name + "/lnfold_rms";
    for (const auto& p : {nd.op.beta, nd.op.gamma})  // the type the norm computes in: its affine's, as read
      if (p && g_.parameter(*p).tensor) io.type = view_of(*p).type;
    io.axis = nd.hidden.empty() ? nd.op.axis : nd.op.axes.at(0);
    if (io.axis < 0 && io.rank) io.axis += static_cast<std::int64_t>(*io.rank);
    if (nd.dims && io.axis >= 0 && static_cast<std::size_t>(io.axis) < nd.dims->size() &&
        (*nd.dims)[static_cast<std::size_t>(io.axis)] > 0)
      io.width = (*nd.dims)[static_cast<std::size_t>(io.axis)];
    // γ and β by the names the model reads them under; none once folded into the next linears.
    if (nd.hidden.empty()) {
      const node_proto* ln = nd.proto;
      if (now.gamma && ln->input_size() > 1) io.gamma = ln->input(1);
      if (now.beta && ln->input_size() > 2) io.beta = ln->input(2);
    } else {
      std::size_t next = 7;  // hidden = [mean, Sub, square, ReduceMean, Add(ε), Sqrt, Div, (Mul γ), (Add β)]
      const auto other = [](const node_proto& p, const std::string& v) {
        return p.input(0) == v ? p.input(1) : p.input(0);
      };
      if (nd.op.gamma) {
        if (now.gamma) io.gamma = other(*nd.hidden[next], nd.hidden[next - 1]->output(0));
        ++next;
      }
      if (nd.op.beta && now.beta) io.beta = other(*nd.hidden[next], nd.hidden[next - 1]->output(0));
    }
    return io;
  }

  /// The fused op the chosen form writes for this norm, or empty for the decomposed form: the fused
  /// ops normalize from their axis to the last, so they apply to an LN over the last axis only, and
  /// RMSNormalization needs opset 23.
  std::string fused_op(const detail::norm_io& io) const {
    const bool last_axis = io.axis == -1 || (io.rank && io.axis == static_cast<std::int64_t>(*io.rank) - 1);
    if (!last_axis) return {};
    if (form_ == rmsnorm_form::simplified) return "SimplifiedLayerNormalization";
    if (form_ == rmsnorm_form::rmsnormalization && ed_.opset() >= 23) return "RMSNormalization";
    return {};
  }

  /// Returns true when the norm was written in the decomposed form.
  bool rms_from_layer_normalization(node_id n, const detail::norm_io& io) {
    lnfold::detail::require(!io.rank || io.axis == static_cast<std::int64_t>(*io.rank) - 1, fn,
                            ": LayerNormalization '", g_.at(n).name, "' normalizes from axis ", io.axis,
                            ", not over one axis");
    node_proto* ln = producer(n);
    ed_.remove(ln);
    const std::string op = fused_op(io);
    ed_.insert_after(ln, op.empty() ? write_.decomposed_rms(io) : write_.fused_rms(op, io));
    return op.empty();
  }

  /// A decomposed LN keeps its own nodes in the decomposed form (the square and the Div read x
  /// itself; the mean and the Sub go), or is replaced by a fused form.
  bool rms_from_decomposed(node_id n, const detail::norm_io& io) {
    std::vector<node_proto*> h = protos(n);
    const std::string op = fused_op(io);
    if (op.empty()) {
      const std::string d = h[1]->output(0);
      for (node_proto* p : {h[2], h[6]})
        for (auto& i : *p->mutable_input())
          if (i == d) i = io.x;
      ed_.remove(h[0]);
      ed_.remove(h[1]);
      drop_folded_affine(n, h, io);
      return true;
    }
    for (auto* p : h) ed_.remove(p);
    ed_.insert_after(h.back(), write_.fused_rms(op, io));
    return false;
  }

  /// A LayerNorm that stays one but whose γ / β moved into the linears after it (affine folding).
  void strip_affine(node_id n, const detail::norm_io& io) {
    const auto& nd = g_.at(n);
    if (!nd.hidden.empty()) return drop_folded_affine(n, protos(n), io);
    node_proto* ln = producer(n);
    if (nd.op.gamma && io.gamma.empty()) ln->set_input(1, write_.ones(io));  // LayerNormalization needs a scale
    if (nd.op.beta && io.beta.empty() && ln->input_size() > 2) ln->mutable_input()->RemoveLast();
  }
  /// In a decomposed pattern, the Mul(γ) / Add(β) that affine folding emptied go: the nodes kept
  /// after the Div read each other in turn and the last one writes the norm's output.
  void drop_folded_affine(node_id n, const std::vector<node_proto*>& h, const detail::norm_io& io) {
    const auto& op = g_.at(n).op;
    std::vector<std::size_t> kept{6};  // the Div
    std::size_t k = 7;
    for (const auto& [had, keeps] :
         {std::pair{op.gamma.has_value(), !io.gamma.empty()}, std::pair{op.beta.has_value(), !io.beta.empty()}}) {
      if (!had) continue;
      if (keeps) kept.push_back(k);
      else ed_.remove(h[k]);
      ++k;
    }
    for (std::size_t i = 1; i < kept.size(); ++i) {
      const std::string was = g_.at(n).hidden[kept[i] - 1]->output(0);
      for (auto& in : *h[kept[i]]->mutable_input())
        if (in == was) in = h[kept[i - 1]]->output(0);
    }
    h[kept.back()]->set_output(0, io.out);
  }

  // ---- nodes the applier added -------------------------------------------------------------------

  void write_added_nodes() {
    const std::size_t first = base_count(), count = node_count() - first;
    // Groups: added nodes connected through each other's inputs (union-find over added ids).
    std::vector<std::size_t> parent(count);
    std::iota(parent.begin(), parent.end(), std::size_t{0});
    const auto root = [&](std::size_t i) {
      while (parent[i] != i) i = parent[i] = parent[parent[i]];
      return i;
    };
    for (std::size_t i = 0; i < count; ++i)
      for (const node_id in : node_inputs(first + i))
        if (in >= first) parent[root(i)] = root(in - first);
    // Each group's anchor: the latest producer (in model order) of any input it reads from the model.
    std::map<std::size_t, const node_proto*> anchor;
    for (std::size_t i = 0; i < count; ++i)
      for (const node_id in : node_inputs(first + i)) {
        const node_proto* p = in < first ? producer(in) : nullptr;
        if (!p) continue;
        const node_proto*& a = anchor[root(i)];
        if (!a || ed_.position(p) > ed_.position(a)) a = p;
      }
    std::map<std::size_t, std::vector<node_proto>> queued;
    for (std::size_t i = 0; i < count; ++i)
      for (auto& p : protos_for_added(first + i)) queued[root(i)].push_back(std::move(p));
    for (auto& [group, nodes] : queued) {
      const auto a = anchor.find(group);
      if (a != anchor.end() && a->second) ed_.insert_after(a->second, std::move(nodes));
      else ed_.insert_at_front(std::move(nodes));
    }
  }

  std::vector<node_proto> protos_for_added(node_id m) {
    const op_desc op = node_op(m);
    const auto in = node_inputs(m);
    const std::string& out = value_[m];
    const std::string base = node_name(m);
    const auto input = [&](std::size_t i) { return value_[in[i]]; };
    switch (op.kind) {
      case op_kind::constant: return {};  // an initializer: readers use its name
      case op_kind::reduce_sum:
        lnfold::detail::require(op.axes.size() == 1, fn, ": added sum '", base, "' over ", op.axes.size(), " axes");
        return {write_.reduce("ReduceSum", input(0), out, op.axes[0], op.keep_dims, base)};
      case op_kind::mul: return {write_.make_node("Mul", {input(0), input(1)}, out, base)};
      case op_kind::add: return {write_.make_node("Add", {input(0), input(1)}, out, base)};
      case op_kind::identity: return {write_.make_node("Identity", {input(0)}, out, base)};
      case op_kind::center: {  // x − mean(x) over the axis
        const std::string mean = ed_.unique_name(base + "/mean");
        return {write_.reduce("ReduceMean", input(0), mean, op.axis, true, base),
                write_.make_node("Sub", {input(0), mean}, out, base)};
      }
      default:
        lnfold::detail::fail(
            lnfold::detail::concat(fn, ": cannot write the added node '", base, "' (", to_string(op.kind), ")"));
    }
  }

  const graph& g_;
  mutable model_editor ed_;  // reading a Constant's value may turn its attribute into a tensor
  detail::node_writer write_;
  rmsnorm_form form_;
  detail::data_file* edited_out_;
  std::vector<created_param> created_;  // new parameters, ids from g_.param_count() on
  std::map<param_id, std::string> copied_chain_end_;
  static inline const std::vector<const node_proto*> no_chain_{};
  std::optional<node_id> released_;      // a graph output just withdrawn
  std::map<node_id, node_id> takeover_;  // added node -> the output it took over
  std::vector<std::string> value_;       // every node's value name in the written model
  std::vector<node_id> fallbacks_;
  ::onnx::ModelProto model_;
};

}  // namespace lnfold::onnx::detail
