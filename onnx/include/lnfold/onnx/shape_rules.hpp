// lnfold's own shape rules and constant folding of shape arithmetic, one pass over a graph in node
// order (shapes.hpp alternates them with libonnx's inference). For the ops that decide verdicts:
// pointwise and broadcasting ops, MatMul, Gemm, Transpose, Reshape, Flatten, (Un)Squeeze, Expand,
// Tile, Concat, Slice, Pad, Gather, Split, Reduce*, global pools, Shape, Size, ConstantOfShape.
// Small integer tensors (at most shape_rules::max_values elements) that describe shapes are
// folded: Shape → Gather / Slice → arithmetic → Concat → Reshape / Expand, and the Equal / Where
// pattern torch writes for expand(-1).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <onnx/onnx_pb.h>

#include "lnfold/graph/op.hpp"
#include "lnfold/onnx/node_attributes.hpp"
#include "lnfold/onnx/tensor.hpp"

namespace lnfold::onnx {

/// Shapes by value name, over every graph of a model; nullopt: rank unknown. A dim of -1 is unknown.
using shape_map = std::unordered_map<std::string, std::optional<shape>>;

namespace detail {

inline constexpr std::int64_t unknown_value = std::numeric_limits<std::int64_t>::min();

/// "1,3,224,224": dims as --input-shape takes them.
inline std::string dims_text(const shape& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(s[i]);
  }
  return out;
}

/// a + b and a · b, or unknown_value when either is unknown or the result overflows: shape arithmetic
/// in a model may hold INT64_MAX ("to the end") and must not overflow here.
inline std::int64_t checked_add(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  return a == unknown_value || b == unknown_value || __builtin_add_overflow(a, b, &r) ? unknown_value : r;
}
inline std::int64_t checked_mul(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  return a == unknown_value || b == unknown_value || __builtin_mul_overflow(a, b, &r) ? unknown_value : r;
}
/// A dim from checked arithmetic: -1 (unknown) for unknown_value or a negative result.
inline std::int64_t as_dim(std::int64_t v) { return v == unknown_value || v < 0 ? -1 : v; }
/// How many of [b, e) a Slice with `step` takes, b and e already clamped.
inline std::int64_t slice_count(std::int64_t b, std::int64_t e, std::int64_t step) {
  if (step > 0) return e > b ? 1 + (e - b - 1) / step : 0;
  if (b <= e) return 0;
  return step == std::numeric_limits<std::int64_t>::min() ? 1 : 1 + (b - e - 1) / -step;
}

/// Right-aligned NumPy broadcasting of two shapes; nullopt when they do not broadcast.
inline std::optional<shape> broadcast_shapes(const shape& a, const shape& b) {
  shape out(std::max(a.size(), b.size()));
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::int64_t x = i < out.size() - a.size() ? 1 : a[i - (out.size() - a.size())];
    const std::int64_t y = i < out.size() - b.size() ? 1 : b[i - (out.size() - b.size())];
    if (x == y) out[i] = x;
    else if (x == 1) out[i] = y;
    else if (y == 1) out[i] = x;
    else if (x < 0) out[i] = y;  // an unknown dim against a known one other than 1: must be that one
    else if (y < 0) out[i] = x;
    else return std::nullopt;
  }
  return out;
}

/// Integer values of small tensors that describe shapes (at most `max_values` elements, row-major),
/// with unknown_value for an element that is not known; `floating` marks values of a float tensor.
struct int_tensor {
  std::vector<std::int64_t> v;
  bool floating = false;
  shape dims{};
};

/// One pass of lnfold's shape rules over a graph in node order. Reads the shapes known so far
/// (`shapes`) and initializer dims, constant-folds shape arithmetic, and returns the shapes it
/// learned that are more precise than the known ones.
class shape_rules {
 public:
  static constexpr std::size_t max_values = 64;

  shape_rules(const ::onnx::GraphProto& g, const shape_map& shapes, std::int64_t opset)
      : shapes_(shapes), opset_(opset) {
    for (const auto& t : g.initializer()) {
      init_dims_[t.name()] = tensor_dims(t);
      read_constant(t.name(), t);
    }
  }

  /// The integer values folded so far, all elements known.
  std::unordered_map<std::string, std::vector<std::int64_t>> known_values() const {
    std::unordered_map<std::string, std::vector<std::int64_t>> out;
    for (const auto& [name, t] : sv_)
      if (const auto* v = ints(name); v && !t.floating) out.emplace(name, *v);
    return out;
  }

  /// Runs the rules over `g`'s nodes; returns (value name, shape) for every improvement.
  std::vector<std::pair<std::string, shape>> run(const ::onnx::GraphProto& g) {
    std::vector<std::pair<std::string, shape>> found;
    for (const auto& n : g.node()) {
      if (n.op_type() == "Constant") {
        for (const auto& a : n.attribute())
          if (a.name() == "value" && a.has_t() && n.output_size() == 1) read_constant(n.output(0), a.t());
        continue;
      }
      const auto outs = rule(n);
      for (std::size_t k = 0; k < outs.size() && k < static_cast<std::size_t>(n.output_size()); ++k) {
        if (!outs[k] || n.output(static_cast<int>(k)).empty()) continue;
        const std::string& name = n.output(static_cast<int>(k));
        const auto have = dims(name);
        if (have && !better(*outs[k], *have)) continue;
        local_[name] = *outs[k];
        found.emplace_back(name, *outs[k]);
      }
      fold(n);  // after the rule: a reshape's folded value takes the output's dims
    }
    return found;
  }

 private:
  const shape_map& shapes_;
  std::int64_t opset_;
  std::unordered_map<std::string, shape> init_dims_, local_;
  std::unordered_map<std::string, int_tensor> sv_;

  /// `a` says more than `b`: b's rank differs (b from a wrong inference cannot happen here, so a
  /// different rank means b was a placeholder), or a knows a dim b does not.
  static bool better(const shape& a, const shape& b) {
    if (a.size() != b.size()) return false;  // keep what ONNX inferred
    for (std::size_t i = 0; i < a.size(); ++i)
      if (b[i] < 0 && a[i] >= 0) return true;
    return false;
  }

  void read_constant(const std::string& name, const ::onnx::TensorProto& t) {
    if (t.data_location() == ::onnx::TensorProto::EXTERNAL) return;
    const auto count = element_count(tensor_dims(t));
    if (!count || *count > max_values) return;
    int_tensor it;
    it.dims = tensor_dims(t);
    if (auto ints = tensor_ints(t)) {
      it.v = std::move(*ints);
    } else if (auto values = tensor_values(t)) {
      it.floating = true;
      for (const double x : *values)
        it.v.push_back(x == static_cast<double>(static_cast<std::int64_t>(x)) ? static_cast<std::int64_t>(x)
                                                                              : unknown_value);
    } else {
      return;
    }
    sv_[name] = std::move(it);
  }

 public:
  std::optional<shape> dims(const std::string& name) const {
    if (name.empty()) return std::nullopt;
    if (const auto it = local_.find(name); it != local_.end()) return it->second;
    if (const auto it = shapes_.find(name); it != shapes_.end() && it->second) return it->second;
    if (const auto it = init_dims_.find(name); it != init_dims_.end()) return it->second;
    return std::nullopt;
  }
  const int_tensor* value(const std::string& name) const {
    const auto it = sv_.find(name);
    return it == sv_.end() ? nullptr : &it->second;
  }
  /// The known integer values of `name`, all elements known; nullptr otherwise.
  const std::vector<std::int64_t>* ints(const std::string& name) const {
    const int_tensor* t = value(name);
    if (!t) return nullptr;
    for (const auto x : t->v)
      if (x == unknown_value) return nullptr;
    return &t->v;
  }

 private:
  const std::string& in(const ::onnx::NodeProto& n, int i) const {
    static const std::string none;
    return i < n.input_size() ? n.input(i) : none;
  }

  /// An int list given as attribute `key` (older opsets) or as input `index` (newer ones). Outer
  /// nullopt: not known; inner nullopt: absent.
  std::optional<std::optional<std::vector<std::int64_t>>> ints_arg(const ::onnx::NodeProto& n, const attr_map& a,
                                                                   const char* key, int index) const {
    if (auto v = attr_ints(a, key)) return std::optional<std::vector<std::int64_t>>(std::move(v));
    if (in(n, index).empty()) return std::optional<std::vector<std::int64_t>>();
    if (const auto* v = ints(in(n, index))) return std::optional<std::vector<std::int64_t>>(*v);
    return std::nullopt;
  }

  // ---- constant folding of shape arithmetic ----------------------------------------------------------

  void set(const std::string& name, int_tensor t) {
    if (name.empty() || t.v.size() > max_values) return;
    sv_[name] = std::move(t);
  }

  static std::int64_t clamp_index(std::int64_t i, std::int64_t n, bool end) {
    if (i < 0) i += n;
    return std::clamp<std::int64_t>(i, 0, end ? n : std::max<std::int64_t>(n - 1, 0));
  }

  void fold(const ::onnx::NodeProto& n) {
    if (!standard(n) || n.output_size() < 1) return;
    const std::string& t = n.op_type();
    const attr_map a = attrs(n);
    const std::string& out = n.output(0);
    if (t == "Shape") {
      const auto d = dims(in(n, 0));
      if (!d) return;
      const auto r = static_cast<std::int64_t>(d->size());
      std::int64_t b = attr_int(a, "start", 0), e = attr_int(a, "end", r);
      b = std::clamp<std::int64_t>(b < 0 ? b + r : b, 0, r);
      e = std::clamp<std::int64_t>(e < 0 ? e + r : e, 0, r);
      int_tensor s;
      for (std::int64_t i = b; i < e; ++i)
        s.v.push_back((*d)[static_cast<std::size_t>(i)] < 0 ? unknown_value : (*d)[static_cast<std::size_t>(i)]);
      s.dims = {static_cast<std::int64_t>(s.v.size())};
      return set(out, std::move(s));
    }
    if (t == "Size") {
      const auto d = dims(in(n, 0));
      if (!d) return;
      std::int64_t p = 1;
      for (const auto x : *d) p = x < 0 ? unknown_value : checked_mul(p, x);
      return set(out, {{p}, false, {}});
    }
    const int_tensor* x = value(in(n, 0));
    if (t == "ConstantOfShape") {
      const auto* s = ints(in(n, 0));
      if (!s || s->size() != 1 || (*s)[0] < 0 || static_cast<std::size_t>((*s)[0]) > max_values) return;
      std::int64_t fill = 0;
      bool floating = true;
      for (const auto& at : n.attribute())
        if (at.name() == "value" && at.has_t()) {
          if (auto iv = tensor_ints(at.t()); iv && iv->size() == 1) fill = (*iv)[0], floating = false;
          else if (auto fv = tensor_scalar(at.t()))
            fill = *fv == static_cast<double>(static_cast<std::int64_t>(*fv)) ? static_cast<std::int64_t>(*fv)
                                                                              : unknown_value;
        }
      return set(out, {std::vector<std::int64_t>(static_cast<std::size_t>((*s)[0]), fill), floating, {(*s)[0]}});
    }
    if (t == "Range") {
      const auto *s = ints(in(n, 0)), *l = ints(in(n, 1)), *d = ints(in(n, 2));
      if (!s || !l || !d || s->size() != 1 || l->size() != 1 || d->size() != 1 || (*d)[0] == 0) return;
      int_tensor r;
      for (std::int64_t v = (*s)[0]; (*d)[0] > 0 ? v < (*l)[0] : v > (*l)[0]; v = checked_add(v, (*d)[0])) {
        if (r.v.size() >= max_values || v == unknown_value) return;
        r.v.push_back(v);
      }
      r.dims = {static_cast<std::int64_t>(r.v.size())};
      return set(out, std::move(r));
    }
    if (!x) return;
    if (t == "Cast") {
      int_tensor c = *x;
      const auto to = attr_int(a, "to", 0);
      c.floating = to == ::onnx::TensorProto::FLOAT || to == ::onnx::TensorProto::DOUBLE ||
                   to == ::onnx::TensorProto::FLOAT16 || to == ::onnx::TensorProto::BFLOAT16;
      if (to == ::onnx::TensorProto::BOOL)
        for (auto& v : c.v) v = v == unknown_value ? v : v != 0;
      return set(out, std::move(c));
    }
    if (t == "Identity" || t == "Floor" || t == "Ceil" || t == "Round" || t == "CastLike") return set(out, *x);
    if (t == "Squeeze" || t == "Unsqueeze" || t == "Reshape" || t == "Flatten") {
      const auto d = dims(out);  // the rule ran first: a reshape keeps the values, in their order
      if (!d || std::find(d->begin(), d->end(), -1) != d->end() || element_count(*d) != x->v.size()) return;
      int_tensor c = *x;
      c.dims = *d;
      return set(out, std::move(c));
    }
    if (t == "Transpose") {
      const std::size_t r = x->dims.size();
      auto perm = attr_ints(a, "perm");
      if (!perm) {
        perm.emplace();
        for (std::size_t i = r; i-- > 0;) perm->push_back(static_cast<std::int64_t>(i));
      }
      if (perm->size() != r || element_count(x->dims) != x->v.size()) return;
      int_tensor c;
      c.floating = x->floating;
      for (std::size_t i = 0; i < r; ++i) {
        const auto k = normalize_axis((*perm)[i], r);
        if (!k) return;
        c.dims.push_back(x->dims[*k]);
      }
      c.v.resize(x->v.size());
      std::vector<std::int64_t> stride(r, 1);  // of x
      for (std::size_t i = r; i-- > 1;) stride[i - 1] = stride[i] * x->dims[i];
      std::vector<std::int64_t> index(r, 0);  // over c, row-major
      for (std::size_t flat = 0; flat < c.v.size(); ++flat) {
        std::int64_t from = 0;
        for (std::size_t i = 0; i < r; ++i)
          from +=
              index[i] *
              stride[static_cast<std::size_t>((*perm)[i] < 0 ? (*perm)[i] + static_cast<std::int64_t>(r) : (*perm)[i])];
        c.v[flat] = x->v[static_cast<std::size_t>(from)];
        for (std::size_t i = r; i-- > 0;) {
          if (++index[i] < c.dims[i]) break;
          index[i] = 0;
        }
      }
      return set(out, std::move(c));
    }
    if (t == "Neg" || t == "Abs" || t == "Not") {
      int_tensor c = *x;
      for (auto& v : c.v)
        if (v != unknown_value) v = t == "Neg" ? -v : t == "Abs" ? std::abs(v) : v == 0;
      return set(out, std::move(c));
    }
    if (t == "Gather") {
      const int_tensor* idx = value(in(n, 1));
      if (!idx || attr_int(a, "axis", 0) != 0 || x->dims.size() != 1) return;
      int_tensor g;
      g.floating = x->floating;
      g.dims = idx->dims;
      for (auto i : idx->v) {
        if (i == unknown_value) return;
        if (i < 0) i += static_cast<std::int64_t>(x->v.size());
        if (i < 0 || i >= static_cast<std::int64_t>(x->v.size())) return;
        g.v.push_back(x->v[static_cast<std::size_t>(i)]);
      }
      return set(out, std::move(g));
    }
    if (t == "Slice") {
      // The output's dims come from the rule (slice_rule): walk them and map each index back.
      const auto d = dims(out);
      const auto b = slice_bounds(n, a);
      const std::size_t r = x->dims.size();
      if (!d || !b || d->size() != r || element_count(x->dims) != x->v.size()) return;
      std::vector<std::int64_t> first(r, 0), step(r, 1);
      for (const auto& [k, start, stride] : *b) {
        if (k >= r) return;
        first[k] = start;
        step[k] = stride;
      }
      int_tensor c;
      c.floating = x->floating;
      c.dims = *d;
      const auto count = element_count(*d);
      if (!count) return;
      std::vector<std::int64_t> stride_x(r, 1);
      for (std::size_t i = r; i-- > 1;) stride_x[i - 1] = stride_x[i] * x->dims[i];
      std::vector<std::int64_t> index(r, 0);
      for (std::uint64_t flat = 0; flat < *count; ++flat) {
        std::int64_t from = 0;
        for (std::size_t i = 0; i < r; ++i) from += (first[i] + index[i] * step[i]) * stride_x[i];
        c.v.push_back(x->v[static_cast<std::size_t>(from)]);
        for (std::size_t i = r; i-- > 0;) {
          if (++index[i] < (*d)[i]) break;
          index[i] = 0;
        }
      }
      return set(out, std::move(c));
    }
    if (t == "Concat") {
      int_tensor c;
      c.floating = x->floating;
      for (int i = 0; i < n.input_size(); ++i) {
        const int_tensor* p = value(n.input(i));
        if (!p || p->dims.size() != 1) return;
        c.v.insert(c.v.end(), p->v.begin(), p->v.end());
      }
      c.dims = {static_cast<std::int64_t>(c.v.size())};
      return set(out, std::move(c));
    }
    static const std::unordered_set<std::string> binary{
        "Add", "Sub", "Mul", "Div", "Mod", "Max", "Min", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual",
        "And", "Or"};
    if (binary.count(t) && n.input_size() == 2) {
      const int_tensor* y = value(in(n, 1));
      if (!y) return;
      const std::size_t size = std::max(x->v.size(), y->v.size());
      if ((x->v.size() != size && x->v.size() != 1) || (y->v.size() != size && y->v.size() != 1)) return;
      int_tensor r;
      r.dims = x->dims.size() >= y->dims.size() ? x->dims : y->dims;
      if (r.dims.size() == 1) r.dims[0] = static_cast<std::int64_t>(size);
      const bool floating = x->floating || y->floating;
      r.floating = floating && (t == "Add" || t == "Sub" || t == "Mul" || t == "Div" || t == "Max" || t == "Min");
      for (std::size_t i = 0; i < size; ++i) {
        const std::int64_t p = x->v[x->v.size() == 1 ? 0 : i], q = y->v[y->v.size() == 1 ? 0 : i];
        std::int64_t v = unknown_value;
        if (p != unknown_value && q != unknown_value) {
          if (t == "Add") v = checked_add(p, q);
          else if (t == "Sub") v = q == unknown_value ? q : checked_add(p, -q);  // -q: q is not INT64_MIN
          else if (t == "Mul") v = checked_mul(p, q);
          else if (t == "Div" && q != 0)
            v = floating ? (p % q == 0 ? p / q : unknown_value) : p / q - ((p % q != 0) && ((p < 0) != (q < 0)));
          else if (t == "Mod" && q != 0)
            v = p % q != 0 && ((p % q < 0) != (q < 0)) ? p % q + q : p % q;  // fmod = 0: the divisor's sign
          else if (t == "Max") v = std::max(p, q);
          else if (t == "Min") v = std::min(p, q);
          else if (t == "Equal") v = p == q;
          else if (t == "Less") v = p < q;
          else if (t == "Greater") v = p > q;
          else if (t == "LessOrEqual") v = p <= q;
          else if (t == "GreaterOrEqual") v = p >= q;
          else if (t == "And") v = p != 0 && q != 0;
          else if (t == "Or") v = p != 0 || q != 0;
        }
        r.v.push_back(v);
      }
      return set(out, std::move(r));
    }
    if (t == "Where" && n.input_size() == 3) {
      const int_tensor *p = value(in(n, 1)), *q = value(in(n, 2));
      if (!p || !q) return;
      const std::size_t size = std::max({x->v.size(), p->v.size(), q->v.size()});
      for (const auto* s : {x, p, q})
        if (s->v.size() != size && s->v.size() != 1) return;
      int_tensor r;
      r.floating = p->floating || q->floating;
      r.dims = size == 1 && x->dims.empty() && p->dims.empty() && q->dims.empty()
                   ? shape{}
                   : shape{static_cast<std::int64_t>(size)};
      for (std::size_t i = 0; i < size; ++i) {
        const std::int64_t c = x->v[x->v.size() == 1 ? 0 : i];
        const std::int64_t u = p->v[p->v.size() == 1 ? 0 : i], w = q->v[q->v.size() == 1 ? 0 : i];
        r.v.push_back(c == unknown_value ? (u == w ? u : unknown_value) : c != 0 ? u : w);
      }
      return set(out, std::move(r));
    }
    if ((t == "ReduceProd" || t == "ReduceSum") && x->dims.size() == 1) {
      std::int64_t r = t == "ReduceProd" ? 1 : 0;
      for (const auto v : x->v)
        r = v == unknown_value || r == unknown_value ? unknown_value : t == "ReduceProd" ? r * v : r + v;
      int_tensor s{{r}, x->floating, {}};
      if (attr_int(a, "keepdims", 1) != 0) s.dims = {1};
      return set(out, std::move(s));
    }
  }

  // ---- shape rules ---------------------------------------------------------------------------------

  using outputs = std::vector<std::optional<shape>>;

  static std::optional<std::size_t> axis_in(std::int64_t axis, std::size_t rank) { return normalize_axis(axis, rank); }

  outputs rule(const ::onnx::NodeProto& n) const {
    const std::string& t = n.op_type();
    if (!standard(n) && !(n.domain() == "com.microsoft" && t == "SimplifiedLayerNormalization") &&
        n.domain() != hidden_domain)
      return {};
    const attr_map a = attrs(n);
    const auto x = dims(in(n, 0));
    if (same_shape_unary(t)) return {x};
    static const std::unordered_set<std::string> broadcasting{
        "Add",      "Sub",        "Mul",       "Div",         "Pow",
        "Max",      "Min",        "Sum",       "Mean",        "Where",
        "Equal",    "Less",       "Greater",   "LessOrEqual", "GreaterOrEqual",
        "And",      "Or",         "Xor",       "PRelu",       "Mod",
        "BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor"};
    if (broadcasting.count(t)) {
      std::optional<shape> s = x;
      for (int i = 1; s && i < n.input_size(); ++i) {
        const auto d = dims(n.input(i));
        s = d ? broadcast_shapes(*s, *d) : std::nullopt;
      }
      return {s};
    }
    if (t == "MatMul") {
      auto p = x, q = dims(in(n, 1));
      if (!p || !q || p->empty() || q->empty()) return {};
      const bool v1 = p->size() == 1, v2 = q->size() == 1;
      if (v1) p->insert(p->begin(), 1);
      if (v2) q->push_back(1);
      const auto batch = broadcast_shapes(shape(p->begin(), p->end() - 2), shape(q->begin(), q->end() - 2));
      if (!batch) return {};
      shape o = *batch;
      if (!v1) o.push_back((*p)[p->size() - 2]);
      if (!v2) o.push_back(q->back());
      return {o};
    }
    if (t == "Gemm") {
      const auto q = dims(in(n, 1));
      if (!x || !q || x->size() != 2 || q->size() != 2) return {};
      return {shape{(*x)[attr_int(a, "transA", 0) ? 1 : 0], (*q)[attr_int(a, "transB", 0) ? 0 : 1]}};
    }
    if (!x) return {};
    const std::size_t r = x->size();
    if (t == "Transpose") {
      auto perm = attr_ints(a, "perm");
      shape o(r);
      for (std::size_t i = 0; i < r; ++i) {
        const std::int64_t p = perm ? (i < perm->size() ? (*perm)[i] : -1) : static_cast<std::int64_t>(r - 1 - i);
        const auto k = axis_in(p, r);
        if (!k || (perm && perm->size() != r)) return {};
        o[i] = (*x)[*k];
      }
      return {o};
    }
    if (t == "Reshape") return {reshape_rule(n, a, *x)};
    if (t == "Flatten") {
      const auto k = axis_in(attr_int(a, "axis", 1), r + 1);
      if (!k) return {};
      std::int64_t p = 1, q = 1;
      for (std::size_t i = 0; i < r; ++i) {
        auto& side = i < *k ? p : q;
        side = side < 0 || (*x)[i] < 0 ? -1 : as_dim(checked_mul(side, (*x)[i]));
      }
      return {shape{p, q}};
    }
    if (t == "Squeeze" || t == "Unsqueeze") {
      const auto axes = opset_ < 13 ? std::optional(attr_ints(a, "axes")) : ints_arg(n, a, "axes", 1);
      if (!axes) return {};
      if (t == "Squeeze") {
        shape o;
        for (std::size_t i = 0; i < r; ++i) {
          bool drop = false;
          if (*axes) {
            for (const auto ax : **axes) drop = drop || axis_in(ax, r) == i;
          } else {
            if ((*x)[i] < 0) return {};
            drop = (*x)[i] == 1;
          }
          if (!drop) o.push_back((*x)[i]);
        }
        return {o};
      }
      if (!*axes) return {};
      const std::size_t out_rank = r + (*axes)->size();
      std::vector<bool> inserted(out_rank, false);
      for (const auto ax : **axes) {
        const auto k = axis_in(ax, out_rank);
        if (!k || inserted[*k]) return {};
        inserted[*k] = true;
      }
      shape o;
      std::size_t j = 0;
      for (std::size_t i = 0; i < out_rank; ++i) o.push_back(inserted[i] ? 1 : (*x)[j++]);
      return {o};
    }
    if (t == "Expand") {
      const int_tensor* s = value(in(n, 1));
      if (!s) return {};
      shape target;
      for (const auto v : s->v) target.push_back(v == unknown_value ? -1 : v);
      // Expand's -1 handling: an unknown target element broadcasts against x's dim like an unknown.
      return {broadcast_shapes(*x, target)};
    }
    if (t == "Tile") {
      const auto* reps = ints(in(n, 1));
      if (!reps || reps->size() != r) return {};
      shape o(r);
      for (std::size_t i = 0; i < r; ++i) o[i] = (*x)[i] < 0 ? -1 : as_dim(checked_mul((*x)[i], (*reps)[i]));
      return {o};
    }
    if (t == "Concat") {
      const auto k = axis_in(attr_int(a, "axis", 0), r);
      if (!k) return {};
      shape o = *x;
      for (int i = 1; i < n.input_size(); ++i) {
        const auto d = dims(n.input(i));
        if (!d || d->size() != r) return {};
        o[*k] = o[*k] < 0 || (*d)[*k] < 0 ? -1 : as_dim(checked_add(o[*k], (*d)[*k]));
      }
      return {o};
    }
    if (t == "Slice") return {slice_rule(n, a, *x)};
    if (t == "Pad") {
      auto pads = ints_arg(n, a, opset_ < 2 ? "paddings" : "pads", 1);
      if (!pads || !*pads) return {};
      std::vector<std::int64_t> axes;
      if (!in(n, 3).empty()) {
        const auto* v = ints(in(n, 3));
        if (!v) return {};
        axes = *v;
      } else {
        for (std::size_t i = 0; i < r; ++i) axes.push_back(static_cast<std::int64_t>(i));
      }
      if ((*pads)->size() != 2 * axes.size()) return {};
      shape o = *x;
      for (std::size_t i = 0; i < axes.size(); ++i) {
        const auto k = axis_in(axes[i], r);
        if (!k) return {};
        if (o[*k] >= 0) o[*k] = as_dim(checked_add(o[*k], checked_add((**pads)[i], (**pads)[i + axes.size()])));
      }
      return {o};
    }
    if (t == "Gather") {
      const auto idx = dims(in(n, 1));
      const auto k = axis_in(attr_int(a, "axis", 0), r);
      if (!idx || !k) return {};
      shape o(x->begin(), x->begin() + static_cast<std::ptrdiff_t>(*k));
      o.insert(o.end(), idx->begin(), idx->end());
      o.insert(o.end(), x->begin() + static_cast<std::ptrdiff_t>(*k) + 1, x->end());
      return {o};
    }
    if (t == "Split") {
      const auto k = axis_in(attr_int(a, "axis", 0), r);
      const auto split = ints_arg(n, a, "split", 1);
      if (!k || !split) return {};
      const auto parts = static_cast<std::int64_t>(n.output_size());
      std::vector<std::int64_t> sizes;
      if (*split) {
        sizes = **split;
      } else if ((*x)[*k] >= 0 && parts > 0) {
        const std::int64_t d = (*x)[*k];
        const std::int64_t chunk = attr_int(a, "num_outputs", 0) > 0 ? (d + parts - 1) / parts : d / parts;
        for (std::int64_t i = 0; i < parts; ++i) sizes.push_back(std::min(chunk, d - i * chunk));
      }
      if (static_cast<std::int64_t>(sizes.size()) != parts) return {};
      outputs o;
      for (const auto s : sizes) {
        shape d = *x;
        d[*k] = s;
        o.push_back(d);
      }
      return o;
    }
    static const std::unordered_set<std::string> reductions{
        "ReduceMean", "ReduceSum", "ReduceMax",    "ReduceMin",       "ReduceProd",
        "ReduceL1",   "ReduceL2",  "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"};
    if (reductions.count(t)) {
      const bool axes_input = opset_ >= 18 || (t == "ReduceSum" && opset_ >= 13);
      const auto axes = axes_input ? ints_arg(n, a, "axes", 1) : std::optional(attr_ints(a, "axes"));
      if (!axes) return {};
      const bool keep = attr_int(a, "keepdims", 1) != 0;
      if (!*axes && attr_int(a, "noop_with_empty_axes", 0) != 0) return {x};
      std::vector<bool> reduced(r, !*axes);
      if (*axes)
        for (const auto ax : **axes) {
          const auto k = axis_in(ax, r);
          if (!k) return {};
          reduced[*k] = true;
        }
      shape o;
      for (std::size_t i = 0; i < r; ++i)
        if (!reduced[i]) o.push_back((*x)[i]);
        else if (keep) o.push_back(1);
      return {o};
    }
    if (t == "GlobalAveragePool" || t == "GlobalMaxPool") {
      shape o = *x;
      for (std::size_t i = 2; i < r; ++i) o[i] = 1;
      return {o};
    }
    if (t == "ArgMax" || t == "ArgMin") {
      const auto k = axis_in(attr_int(a, "axis", 0), r);
      if (!k) return {};
      shape o = *x;
      if (attr_int(a, "keepdims", 1) != 0) o[*k] = 1;
      else o.erase(o.begin() + static_cast<std::ptrdiff_t>(*k));
      return {o};
    }
    if (t == "Shape") {
      const auto rr = static_cast<std::int64_t>(r);
      std::int64_t b = attr_int(a, "start", 0), e = attr_int(a, "end", rr);
      b = std::clamp<std::int64_t>(b < 0 ? b + rr : b, 0, rr);
      e = std::clamp<std::int64_t>(e < 0 ? e + rr : e, 0, rr);
      return {shape{std::max<std::int64_t>(e - b, 0)}};
    }
    if (t == "Size") return {shape{}};
    if (t == "ConstantOfShape") {
      const auto* s = ints(in(n, 0));
      return s ? outputs{shape(s->begin(), s->end())} : outputs{};
    }
    return {};
  }

  std::optional<shape> reshape_rule(const ::onnx::NodeProto& n, const attr_map& a, const shape& in_dims) const {
    const int_tensor* target = value(in(n, 1));
    std::vector<std::int64_t> tv;
    if (target) {
      tv = target->v;
    } else if (const auto s = attr_ints(a, "shape")) {  // Reshape-1
      tv = *s;
    } else {
      return std::nullopt;
    }
    shape o(tv.size());
    std::int64_t known = 1;
    std::optional<std::size_t> infer;
    bool all_known = true;
    for (std::size_t i = 0; i < tv.size(); ++i) {
      std::int64_t d = tv[i];
      if (d == 0 && attr_int(a, "allowzero", 0) == 0) d = i < in_dims.size() ? in_dims[i] : -1;
      if (tv[i] == -1) {
        if (infer) return std::nullopt;
        infer = i;
        d = -1;
      } else if (d == unknown_value || d < 0) {
        d = -1;
        all_known = false;
      } else {
        known = checked_mul(known, d);
      }
      o[i] = d;
    }
    if (infer && all_known && known > 0 && std::find(in_dims.begin(), in_dims.end(), -1) == in_dims.end()) {
      std::int64_t total = 1;
      for (const auto d : in_dims) total = checked_mul(total, d);
      o[*infer] = total != unknown_value && total % known == 0 ? total / known : -1;
    }
    return o;
  }

  struct slice_axis {
    std::size_t axis;
    std::int64_t start, step;  // the first index taken (clamped) and the stride
  };
  /// The per-axis starts (clamped, as Slice defines) and steps of a Slice of the input's dims;
  /// nullopt when a bound is not known. The output dims are slice_rule's.
  std::optional<std::vector<slice_axis>> slice_bounds(const ::onnx::NodeProto& n, const attr_map& a) const {
    const auto in_dims = dims(in(n, 0));
    const auto o = in_dims ? slice_rule(n, a, *in_dims) : std::nullopt;
    if (!o) return std::nullopt;
    std::optional<std::vector<std::int64_t>> st, en, ax, sp;
    if (!slice_args(n, a, st, en, ax, sp)) return std::nullopt;
    std::vector<slice_axis> out;
    const std::size_t r = in_dims->size();
    for (std::size_t i = 0; i < st->size(); ++i) {
      const auto k = normalize_axis(ax ? (*ax)[i] : static_cast<std::int64_t>(i), r);
      const std::int64_t step = sp && i < sp->size() ? (*sp)[i] : 1;
      const std::int64_t d = (*in_dims)[*k];
      if (d < 0) return std::nullopt;
      std::int64_t b = (*st)[i];
      b = step > 0 ? std::clamp<std::int64_t>(b < 0 ? b + d : b, 0, d)
                   : std::clamp<std::int64_t>(b < 0 ? b + d : b, -1, d - 1);
      out.push_back({*k, b, step});
    }
    return out;
  }

  bool slice_args(const ::onnx::NodeProto& n, const attr_map& a, std::optional<std::vector<std::int64_t>>& st,
                  std::optional<std::vector<std::int64_t>>& en, std::optional<std::vector<std::int64_t>>& ax,
                  std::optional<std::vector<std::int64_t>>& sp) const {
    if (opset_ < 10) {
      st = attr_ints(a, "starts"), en = attr_ints(a, "ends"), ax = attr_ints(a, "axes");
    } else {
      const auto s = ints_arg(n, a, "starts", 1), e = ints_arg(n, a, "ends", 2), x = ints_arg(n, a, "axes", 3),
                 p = ints_arg(n, a, "steps", 4);
      if (!s || !e || !x || !p) return false;
      st = *s, en = *e, ax = *x, sp = *p;
    }
    return st && en && st->size() == en->size() && (!ax || ax->size() == st->size());
  }

  std::optional<shape> slice_rule(const ::onnx::NodeProto& n, const attr_map& a, const shape& in_dims) const {
    std::optional<std::vector<std::int64_t>> st, en, ax, sp;
    if (!slice_args(n, a, st, en, ax, sp)) return std::nullopt;
    shape o = in_dims;
    const std::size_t r = in_dims.size();
    for (std::size_t i = 0; i < st->size(); ++i) {
      const auto k = axis_in(ax ? (*ax)[i] : static_cast<std::int64_t>(i), r);
      const std::int64_t step = sp && i < sp->size() ? (*sp)[i] : 1;
      if (!k || step == 0) return std::nullopt;
      const std::int64_t d = in_dims[*k];
      if (d < 0) {
        o[*k] = -1;
        continue;
      }
      std::int64_t b = (*st)[i], e = (*en)[i];
      if (step > 0) {
        b = std::clamp<std::int64_t>(b < 0 ? b + d : b, 0, d);
        e = std::clamp<std::int64_t>(e < 0 ? e + d : e, 0, d);
        o[*k] = slice_count(b, e, step);
      } else {
        b = std::clamp<std::int64_t>(b < 0 ? b + d : b, -1, d - 1);
        e = std::clamp<std::int64_t>(e < 0 ? e + d : e, -1, d - 1);
        o[*k] = slice_count(b, e, step);
      }
    }
    return o;
  }

 public:
  static constexpr const char* hidden_domain = "lnfold.hidden_from_onnx_inference";
};

}  // namespace detail
}  // namespace lnfold::onnx
