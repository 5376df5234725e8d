// convert_model: applies a fold_plan (find_foldable on lnfold::onnx::graph) to a copy of the ONNX
// model: the planned initializers are centered in double and rounded back to their stored type, and
// every foldable LayerNorm becomes an RMSNorm that ONNX Runtime executes.
//
// Preserved (docs/method.md §1, §4): LN(x) = RMS(x̃) with the same γ, β and ε, where x̃ is the LN input after
// its region's sources are centered; every other model output is unchanged, because centering shifts
// each tensor of a region by a per-row multiple of 1 and every reader of the region ignores it.
// RMS(x) = γ ⊙ x / sqrt(mean(x²) + ε) + β: ε inside the root, β kept (docs/method.md §1).
//
// In order (the order of transform/apply_plan.hpp, plus stems first so that every later step reads
// the renamed inputs):
//   1. stem centerings: ReduceMean + Sub after the blocking producer, read by all its consumers;
//   2. tied parameters: untie copies the initializer for the source (a new initializer with a unique
//      name); rank-1 keeps the tie and adds (Σh)·m after the other use, m the row means the
//      centering removes (Gemm's alpha included); a tied broadcast constant gets a zero copy for its
//      reader;
//   3. per-channel scales fused into their linear; the Mul becomes an Identity;
//   4. every planned parameter centered over its axis with lnfold::center_param (transform/ccwt.hpp),
//      in double for float storage and in long double for double storage;
//   5. every foldable LN rewritten in the chosen rmsnorm_form (see below); nodes only the old LN read
//      (a decomposed pattern's mean and Sub, its Constant nodes and initializers) are removed.
// Node order, names, metadata and every initializer not listed above are kept as they were.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <onnx/onnx_pb.h>

#include "lnfold/error.hpp"
#include "lnfold/fold/plan.hpp"
#include "lnfold/onnx/attribute.hpp"
#include "lnfold/onnx/edit.hpp"
#include "lnfold/onnx/graph.hpp"
#include "lnfold/transform/ccwt.hpp"

namespace lnfold::onnx {

/// How a converted LayerNorm is written (docs/onnx.md has their speed in ONNX Runtime).
enum class rmsnorm_form {
  /// Standard ops, valid at every opset the adapter reads: Pow(x, 2) → ReduceMean → Add(ε) → Sqrt →
  /// Div(x, ·) → Mul(γ) → Add(β). A decomposed LN keeps its own nodes: only its mean and Sub go.
  decomposed,
  /// ONNX Runtime's SimplifiedLayerNormalization (default domain, since version 1, registered by
  /// ORT, not by the ONNX standard) with γ as its scale, then Add(β). Only over the last axis; an LN
  /// over another axis falls back to `decomposed`.
  simplified,
};

constexpr std::string_view to_string(rmsnorm_form f) noexcept {
  return f == rmsnorm_form::decomposed ? "decomposed" : "simplified";
}
inline std::optional<rmsnorm_form> parse_rmsnorm_form(std::string_view s) {
  if (s == "decomposed") return rmsnorm_form::decomposed;
  if (s == "simplified") return rmsnorm_form::simplified;
  return std::nullopt;
}

struct convert_options {
  rmsnorm_form form = rmsnorm_form::decomposed;
};

/// What convert_model changed, by ONNX names.
struct convert_summary {
  std::vector<std::string> converted;    ///< LNs now RMSNorms (decomposed LNs: their first ReduceMean)
  std::vector<std::string> fallbacks;    ///< of those, written `decomposed` although `simplified` was asked
  std::vector<std::string> centered;     ///< initializers or Constant values centered
  std::vector<std::string> zeroed;       ///< broadcast constants set to zero
  std::vector<std::string> untied;       ///< new initializers: copies made by the untie policy
  std::vector<std::string> rank1;        ///< new initializers: the row means of rank-1 compensation
  std::vector<std::string> fused;        ///< Mul nodes whose scale moved into the linear before them
  std::vector<std::string> stems;        ///< values centered by an inserted stem centering
};

struct conversion {
  ::onnx::ModelProto model;
  convert_summary summary;
};

namespace detail {

class converter {
 public:
  converter(const graph& g, const fold_plan& plan, const convert_options& options)
      : g_(g), plan_(plan), options_(options), ed_(g.model()) {}

  conversion run() {
    lnfold::detail::require(ed_.opset() >= 7, "lnfold::onnx::convert_model: opset ", ed_.opset(),
                            " is older than 7, whose broadcasting rules the RMSNorm forms do not follow");
    insert_stem_centerings();
    resolve_ties();
    fuse_scales();
    center_sources();
    convert_norms();
    return {ed_.finish(), std::move(summary_)};
  }

 private:
  using node_proto = ::onnx::NodeProto;

  // ---- names and nodes -------------------------------------------------------------------------

  /// The nodes of the copy that node id `n` stands for (a decomposed LN: all of its pattern).
  std::vector<node_proto*> protos(node_id n) const {
    std::vector<node_proto*> out;
    const auto& nd = g_.at(n);
    if (!nd.hidden.empty()) {
      for (const auto* h : nd.hidden) out.push_back(ed_.node(h));
    } else if (nd.proto) {
      out.push_back(ed_.node(nd.proto));
    }
    return out;
  }

  /// The ONNX value node id `n` produces (in the copy, after earlier renames of outputs).
  std::string value_name(node_id n) const {
    const auto& nd = g_.at(n);
    if (!nd.hidden.empty()) return ed_.node(nd.hidden.back())->output(0);
    if (!nd.proto) return nd.name;
    const node_proto* p = ed_.node(nd.proto);
    const std::string base = nd.proto->name().empty() ? nd.proto->output(0) : nd.proto->name();
    for (int k = 0; k < nd.proto->output_size(); ++k)
      if (nd.name == (k ? base + ":" + std::to_string(k) : base)) return p->output(k);
    return p->output(0);
  }

  node_proto make_node(const std::string& op, std::vector<std::string> inputs, const std::string& output,
                       const std::string& base) {
    node_proto n;
    n.set_op_type(op);
    n.set_name(ed_.unique_name(base + "/" + op));
    for (auto& i : inputs) n.add_input(std::move(i));
    if (!output.empty()) n.add_output(output);
    return n;
  }
  std::string add_constant(const std::string& base, int type, std::vector<std::int64_t> dims, std::vector<double> values) {
    const std::string name = ed_.unique_name(base);
    ed_.add_initializer(make_tensor(name, type, dims, values));
    return name;
  }

  /// ReduceMean / ReduceSum over `axes` with keepdims=1; axes as attribute or input, as the opset says
  /// (ReduceSum takes an input from opset 13, ReduceMean from 18).
  node_proto reduce(const std::string& op, const std::string& in, const std::string& out, std::int64_t axis,
                    const std::string& base) {
    const bool axes_input = ed_.opset() >= (op == "ReduceSum" ? 13 : 18);
    std::vector<std::string> inputs{in};
    if (axes_input) inputs.push_back(add_constant(base + "/axes", ::onnx::TensorProto::INT64, {1}, {static_cast<double>(axis)}));
    node_proto n = make_node(op, std::move(inputs), out, base);
    if (!axes_input) set_attribute(n, "axes", std::vector<std::int64_t>{axis});
    set_attribute(n, "keepdims", 1);
    return n;
  }

  static void replace_inputs(node_proto& n, const std::string& from, const std::string& to) {
    for (auto& i : *n.mutable_input())
      if (i == from) i = to;
  }

  // ---- tensors -----------------------------------------------------------------------------------

  ::onnx::TensorProto& param_tensor(param_id p) {
    const auto& par = g_.parameter(p);
    ::onnx::TensorProto* t = par.tensor ? ed_.tensor(par.tensor) : nullptr;
    if (!t) t = ed_.constant_tensor(par.name);
    lnfold::detail::require(t != nullptr, "lnfold::onnx::convert_model: parameter '", par.name,
                            "' is not an initializer or a Constant value, so it cannot be centered");
    return *t;
  }
  /// The tensor node `n` reads for parameter `p` after ties were resolved.
  ::onnx::TensorProto& tensor_for(node_id n, param_id p) {
    if (const auto it = fresh_zero_.find(n); it != fresh_zero_.end()) return *it->second;
    if (const auto it = copies_.find({n, p}); it != copies_.end()) return *it->second;
    return param_tensor(p);
  }
  static int elem_type(const ::onnx::TensorProto& t) { return t.data_type(); }

  // ---- 1. stem centering -------------------------------------------------------------------------

  void insert_stem_centerings() {
    for (const auto& st : plan_.stems) {
      const auto& nd = g_.at(st.after);
      const std::string y = value_name(st.after);
      const std::string base = y + "/lnfold_stem";
      const std::string centered = ed_.unique_name(y + "/lnfold_centered");
      ed_.rename_reads(y, centered);
      const std::string mean = ed_.unique_name(base + "/mean");
      std::vector<node_proto> nodes;
      nodes.push_back(reduce("ReduceMean", y, mean, static_cast<std::int64_t>(st.axis), base));
      nodes.push_back(make_node("Sub", {y, mean}, centered, base));
      const ::onnx::NodeProto* producer = nd.hidden.empty() ? nd.proto : nd.hidden.back();
      if (producer) {
        ed_.insert_after(ed_.node(producer), std::move(nodes));
      } else {
        lnfold::detail::require(nd.op.kind == op_kind::input && nd.op.type == "graph input",
                                "lnfold::onnx::convert_model: stem centering after '", y,
                                "', which is not a node output or a main-graph input");
        ed_.insert_at_front(std::move(nodes));
      }
      summary_.stems.push_back(y);
    }
  }

  // ---- 2. tied parameters ------------------------------------------------------------------------

  void resolve_ties() {
    for (const auto& c : plan_.tied) {
      if (c.resolution == tied_policy::refuse) continue;  // its region is not folded
      if (is_broadcast_source(c.source_use)) {
        zero_copy_for_reader(c.source_use);
      } else if (c.resolution == tied_policy::untie) {
        untie(c.param, c.source_use);
      } else {
        compensate_rank1(c);
      }
    }
  }

  bool is_broadcast_source(node_id n) const {
    for (const auto& s : plan_.sources)
      if (s.node == n && s.kind == source_kind::broadcast_constant) return true;
    return false;
  }

  /// The nodes (of the copy) that read parameter `p` through node id `source`: the source itself,
  /// or, for a constant node, every node reading it as data.
  std::vector<node_proto*> readers_of(node_id source) const {
    if (g_.node_op(source).kind != op_kind::constant) return protos(source);
    std::vector<node_proto*> out;
    for (node_id n = 0; n < g_.node_count(); ++n)
      for (const node_id i : g_.node_inputs(n))
        if (i == source) {
          for (auto* p : protos(n)) out.push_back(p);
          break;
        }
    return out;
  }

  void untie(param_id p, node_id source) {
    if (copies_.count({source, p})) return;
    const std::string& name = g_.param_name(p);
    ::onnx::TensorProto copy = param_tensor(p);
    copy.set_name(ed_.unique_name(name + ".untied"));
    const std::string copy_name = copy.name();
    copies_[{source, p}] = ed_.add_initializer(std::move(copy));
    for (auto* n : readers_of(source)) replace_inputs(*n, name, copy_name);
    summary_.untied.push_back(copy_name);
  }

  void zero_copy_for_reader(node_id constant) {
    if (fresh_zero_.count(constant)) return;
    node_id reader = 0;
    for (const auto& s : plan_.sources)
      if (s.node == constant && s.kind == source_kind::broadcast_constant) reader = *s.reader;
    const param_id p = *g_.node_op(constant).weight;
    const std::string& name = g_.param_name(p);
    ::onnx::TensorProto copy = param_tensor(p);
    copy.set_name(ed_.unique_name(name + ".zeroed"));
    const std::string copy_name = copy.name();
    fresh_zero_[constant] = ed_.add_initializer(std::move(copy));
    for (auto* n : protos(reader)) replace_inputs(*n, name, copy_name);
    summary_.untied.push_back(copy_name);
  }

  // W̃ = W − m·1ᵀ over the input axis, so W·h = W̃·h + m·(Σh): after the other use y = f(h) add
  // ReduceSum(h)·m. The sum runs over the axis the linear contracts (−1, or −2 for W·x).
  void compensate_rank1(const tied_conflict& c) {
    if (!compensated_.insert({c.other_use, c.param}).second) return;
    const op_desc& op = g_.node_op(c.other_use);
    const auto& nd = g_.at(c.other_use);
    ::onnx::TensorProto& w = param_tensor(c.param);
    lnfold::detail::require(op.kind == op_kind::linear && op.weight == c.param && w.dims_size() == 2 && nd.proto,
                            "lnfold::onnx::convert_model: rank-1 compensation needs a linear using '",
                            g_.param_name(c.param), "' as its 2-D weight, not '", nd.name, "'");
    const bool out_in = op.layout == weight_layout::out_in;
    const auto outs = static_cast<std::size_t>(w.dims(out_in ? 0 : 1)), ins = static_cast<std::size_t>(w.dims(out_in ? 1 : 0));
    double alpha = 1;
    for (const auto& a : nd.proto->attribute())
      if (nd.proto->op_type() == "Gemm" && a.name() == "alpha") alpha = static_cast<double>(a.f());
    std::vector<double> means(outs, 0.0);
    ::onnx::TensorProto scratch = w;  // edit_values writes back; read from a scratch copy
    edit_values(scratch, [&](auto& v) {
      for (std::size_t o = 0; o < outs; ++o) {
        long double sum = 0;
        for (std::size_t i = 0; i < ins; ++i) sum += static_cast<long double>(v[out_in ? o * ins + i : i * outs + o]);
        means[o] = alpha * static_cast<double>(sum / static_cast<long double>(ins));
      }
    });
    node_proto* use = ed_.node(nd.proto);
    const bool left = op.axis == -2;  // MatMul(W, x): x is input 1, the sum runs over its axis -2
    const std::string h = use->input(left ? 1 : 0);
    const std::string y = use->output(0);
    const std::string base = (nd.proto->name().empty() ? y : nd.proto->name()) + "/lnfold_rank1";
    const std::string raw = ed_.unique_name(y + "/lnfold_uncompensated");
    use->set_output(0, raw);
    std::vector<std::int64_t> mdims{static_cast<std::int64_t>(outs)};
    if (left) mdims.push_back(1);
    const std::string m = add_constant(g_.param_name(c.param) + ".rank1_means", elem_type(w), mdims, means);
    const std::string sum = ed_.unique_name(base + "/sum"), correction = ed_.unique_name(base + "/correction");
    std::vector<node_proto> nodes;
    nodes.push_back(reduce("ReduceSum", h, sum, left ? -2 : -1, base));
    nodes.push_back(make_node("Mul", {sum, m}, correction, base));
    nodes.push_back(make_node("Add", {raw, correction}, y, base));
    ed_.insert_after(use, std::move(nodes));
    summary_.rank1.push_back(m);
  }

  // ---- 3. LayerScale fusion ----------------------------------------------------------------------

  void fuse_scales() {
    for (const auto& f : plan_.fusions) {
      const op_desc& lin = g_.node_op(f.linear);
      std::vector<double> s;
      ::onnx::TensorProto scale = param_tensor(f.scale);
      edit_values(scale, [&](auto& v) {
        for (std::size_t i = 0; i < v.size(); ++i) s.push_back(static_cast<double>(v[i]));
      });
      const bool in_out = lin.kind == op_kind::linear && lin.layout == weight_layout::in_out;
      scale_along(tensor_for(f.linear, *lin.weight), lin.kind == op_kind::conv_transpose || in_out ? 1 : 0, s);
      if (lin.bias) scale_along(tensor_for(f.linear, *lin.bias), 0, s);
      // The Mul passes the (now scaled) linear output on unchanged.
      for (auto* mul : protos(f.mul)) {
        std::string kept;
        for (const auto& i : mul->input())
          if (i != g_.param_name(f.scale) && kept.empty()) kept = i;
        mul->clear_input();
        mul->add_input(kept);
        mul->clear_attribute();
        mul->set_op_type("Identity");
        summary_.fused.push_back(mul->name().empty() ? mul->output(0) : mul->name());
      }
    }
  }

  static void scale_along(::onnx::TensorProto& t, int axis, const std::vector<double>& s) {
    lnfold::detail::require(axis < t.dims_size() && t.dims(axis) == static_cast<std::int64_t>(s.size()),
                            "lnfold::onnx::convert_model: scale of ", s.size(), " values does not match axis ", axis,
                            " of '", t.name(), "'");
    std::size_t inner = 1;
    for (int k = axis + 1; k < t.dims_size(); ++k) inner *= static_cast<std::size_t>(t.dims(k));
    edit_values(t, [&](auto& v) {
      using T = std::remove_reference_t<decltype(v[0])>;
      for (std::size_t i = 0; i < v.size(); ++i)
        v[i] = static_cast<T>(static_cast<double>(v[i]) * s[(i / inner) % s.size()]);
    });
  }

  // ---- 4. centering ------------------------------------------------------------------------------

  void center_sources() {
    std::set<const ::onnx::TensorProto*> done;
    for (const auto& s : plan_.sources)
      for (const auto& cp : s.params) {
        ::onnx::TensorProto& t = tensor_for(s.node, cp.param);
        if (!done.insert(&t).second) continue;  // shared by several sources: centering is idempotent
        try {
          edit_values(t, [&](auto& v) { center_param(v.view(), cp.axis); });
        } catch (const lnfold::error& e) {  // name the tensor: center_param only knows its view
          lnfold::detail::fail(lnfold::detail::concat("cannot center '", g_.param_name(cp.param), "': ", e.what()));
        }
        (cp.axis ? summary_.centered : summary_.zeroed).push_back(t.name());
      }
  }

  // ---- 5. LN -> RMSNorm --------------------------------------------------------------------------

  struct norm_io {
    std::string x, gamma, beta, out, base;
    double eps = 1e-5;
    std::int64_t axis = -1;  ///< non-negative when the rank is known
    std::optional<std::size_t> rank;
    std::optional<std::int64_t> width;  ///< size of the normalized axis, when known
    int type = ::onnx::TensorProto::FLOAT;
  };

  void convert_norms() {
    for (const auto& v : plan_.lns) {
      if (!v.foldable) continue;
      const auto& nd = g_.at(v.node);
      norm_io io;
      io.eps = nd.op.eps;
      if (nd.dims) io.rank = nd.dims->size();
      io.base = nd.name + "/lnfold_rms";
      const auto type_of = [&](const std::optional<param_id>& p) {
        if (p && g_.parameter(*p).tensor) io.type = g_.parameter(*p).tensor->data_type();
      };
      type_of(nd.op.beta);
      type_of(nd.op.gamma);
      io.axis = nd.hidden.empty() ? nd.op.axis : nd.op.axes.at(0);
      if (io.axis < 0 && io.rank) io.axis += static_cast<std::int64_t>(*io.rank);
      if (nd.dims && io.axis >= 0 && static_cast<std::size_t>(io.axis) < nd.dims->size() && (*nd.dims)[static_cast<std::size_t>(io.axis)] > 0)
        io.width = (*nd.dims)[static_cast<std::size_t>(io.axis)];
      const bool decomposed = nd.hidden.empty() ? convert_layer_normalization(nd, io) : convert_decomposed(nd, io);
      summary_.converted.push_back(nd.name);
      if (decomposed && options_.form != rmsnorm_form::decomposed) summary_.fallbacks.push_back(nd.name);
    }
  }

  bool simplified_applies(const norm_io& io) const {
    return options_.form == rmsnorm_form::simplified &&
           (io.axis == -1 || (io.rank && io.axis == static_cast<std::int64_t>(*io.rank) - 1));
  }

  /// A decomposed LN: hidden = [mean, Sub, square, ReduceMean, Add(ε), Sqrt, Div, (Mul γ), (Add β)].
  /// Each convert_* returns true when the LN was written in the decomposed form.
  bool convert_decomposed(const graph::node& nd, norm_io& io) {
    std::vector<node_proto*> h;
    for (const auto* p : nd.hidden) h.push_back(ed_.node(p));
    node_proto *mean = h[0], *sub = h[1], *square = h[2], *div = h[6];
    io.x = mean->input(0);
    io.out = h.back()->output(0);
    std::size_t next = 7;
    const auto other = [](const node_proto& n, const std::string& v) { return n.input(0) == v ? n.input(1) : n.input(0); };
    if (nd.op.gamma) io.gamma = other(*h[next++], h[6]->output(0));
    if (nd.op.beta) io.beta = other(*h[next], h[next - 1]->output(0));
    if (!simplified_applies(io)) {
      // Keep the pattern's own nodes: the square and the Div read x itself, the mean and Sub go.
      const std::string d = sub->output(0);
      replace_inputs(*square, d, io.x);
      replace_inputs(*div, d, io.x);
      ed_.remove(mean);
      ed_.remove(sub);
      return true;
    }
    for (auto* n : h) ed_.remove(n);
    ed_.insert_after(h.back(), simplified_nodes(io));
    return false;
  }

  bool convert_layer_normalization(const graph::node& nd, norm_io& io) {
    node_proto* ln = ed_.node(nd.proto);
    io.x = ln->input(0);
    if (ln->input_size() > 1) io.gamma = ln->input(1);
    if (ln->input_size() > 2) io.beta = ln->input(2);
    io.out = ln->output(0);
    lnfold::detail::require(!io.rank || io.axis == static_cast<std::int64_t>(*io.rank) - 1,
                            "lnfold::onnx::convert_model: LayerNormalization '", nd.name, "' normalizes from axis ",
                            io.axis, ", not over one axis");
    ed_.remove(ln);
    const bool simplified = simplified_applies(io);
    ed_.insert_after(ln, simplified ? simplified_nodes(io) : decomposed_nodes(io));
    return !simplified;
  }

  /// Pow(x, 2) → ReduceMean → Add(ε) → Sqrt → Div(x, ·) → Mul(γ) → Add(β), ending in io.out.
  std::vector<node_proto> decomposed_nodes(const norm_io& io) {
    const auto value = [&](const char* what) { return ed_.unique_name(io.base + "/" + what); };
    const std::string two = add_constant(io.base + "/two", io.type, {}, {2.0});
    const std::string eps = add_constant(io.base + "/epsilon", io.type, {}, {io.eps});
    const std::string sq = value("square"), ms = value("mean_square"), ve = value("plus_epsilon"), r = value("rms");
    std::vector<node_proto> n;
    n.push_back(make_node("Pow", {io.x, two}, sq, io.base));
    n.push_back(reduce("ReduceMean", sq, ms, io.axis, io.base));
    n.push_back(make_node("Add", {ms, eps}, ve, io.base));
    n.push_back(make_node("Sqrt", {ve}, r, io.base));
    append_affine(n, make_node("Div", {io.x, r}, "", io.base), io);
    return n;
  }

  /// SimplifiedLayerNormalization(x, γ) → Add(β), ending in io.out. Without γ the scale is ones.
  std::vector<node_proto> simplified_nodes(const norm_io& io) {
    std::string gamma = io.gamma;
    if (gamma.empty()) {  // the op needs a scale: ones over the normalized axis
      lnfold::detail::require(io.width.has_value(), "lnfold::onnx::convert_model: LN '", io.base,
                              "' has no scale and an unknown width; use --rmsnorm-form decomposed");
      gamma = add_constant(io.base + "/ones", io.type, {*io.width}, std::vector<double>(static_cast<std::size_t>(*io.width), 1.0));
    }
    node_proto sln = make_node("SimplifiedLayerNormalization", {io.x, gamma}, "", io.base);
    set_attribute(sln, "axis", -1);
    set_float_attribute(sln, "epsilon", static_cast<float>(io.eps));
    std::vector<node_proto> n;
    norm_io plain = io;
    plain.gamma.clear();
    append_affine(n, std::move(sln), plain);
    return n;
  }

  /// Appends `last` and, when present, Mul(γ) and Add(β); the final node writes io.out.
  void append_affine(std::vector<node_proto>& n, node_proto last, const norm_io& io) {
    const auto out_of = [&](bool final, const char* what) { return final ? io.out : ed_.unique_name(io.base + "/" + what); };
    std::string y = out_of(io.gamma.empty() && io.beta.empty(), "normalized");
    last.add_output(y);
    n.push_back(std::move(last));
    if (!io.gamma.empty()) {
      const std::string z = out_of(io.beta.empty(), "scaled");
      n.push_back(make_node("Mul", {y, io.gamma}, z, io.base));
      y = z;
    }
    if (!io.beta.empty()) n.push_back(make_node("Add", {y, io.beta}, io.out, io.base));
  }

  const graph& g_;
  const fold_plan& plan_;
  const convert_options& options_;
  model_editor ed_;
  convert_summary summary_;
  std::map<std::pair<node_id, param_id>, ::onnx::TensorProto*> copies_;
  std::map<node_id, ::onnx::TensorProto*> fresh_zero_;
  std::set<std::pair<node_id, param_id>> compensated_;
};

}  // namespace detail

/// Applies `plan` (find_foldable on `g`) to a copy of g's model; see the top of this header.
/// Throws lnfold::error (one line naming the tensor or node) when a planned parameter cannot be
/// edited (external data, an element type other than float or double, a non-finite value), when the
/// opset is older than 7, or when an LN without γ is asked in the simplified form.
inline conversion convert_model(const graph& g, const fold_plan& plan, const convert_options& options = {}) {
  return detail::converter(g, plan, options).run();
}

}  // namespace lnfold::onnx
