// The reference evaluator's kernels: one plain function per op kind, on dense row-major tensors.
//
// Numerics, for T = float and T = double alike:
//   - every dot product (linear, matmul, conv) and every sum (reduce_*, softmax, center) accumulates
//     in double and is rounded to T once per output element, so the float result is the double
//     result rounded (up to the double summation error, ~1e-16 relative per term);
//   - add / sub / mul / div are computed in T, exactly as a float engine would;
//   - activations are evaluated in double and rounded once;
//   - layer_norm / rms_norm use lnfold's long double reference (norm/reference.hpp), rounded once.
// The hot loops (linear, matmul, conv) run in i-k-j order with a contiguous innermost loop over the
// output features, so compilers vectorize them without -ffast-math (no reduction in the inner loop).
//
// Semantics follow graph_builder (graph/builder.hpp) and op.hpp; every kernel checks what it reads
// and throws lnfold::error naming the node (detail/indexing.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numbers>
#include <span>
#include <string_view>
#include <vector>

#include "lnfold/eval/detail/indexing.hpp"
#include "lnfold/graph/builder.hpp"
#include "lnfold/graph/op.hpp"
#include "lnfold/norm/reference.hpp"
#include "lnfold/tensor/tensor.hpp"

namespace lnfold::detail::eval {

// ---- producers with weights -------------------------------------------------------------------

/// y = x·Wᵀ + b (out_in) or x·W + b (in_out), contracting axis `axis` of x; that axis becomes `out`.
template <class T>
tensor<T> linear(const where& w, const tensor<T>& x, const tensor<T>& weight, const tensor<T>* bias,
                 weight_layout layout, std::int64_t axis) {
  check(w, weight.rank() == 2, "weight must be 2-D (got ", shape_text(weight.dims()), ")");
  const bool out_in = layout == weight_layout::out_in;
  const std::size_t in = to_size(weight.dim(out_in ? 1 : 0)), out = to_size(weight.dim(out_in ? 0 : 1));
  check(w, x.rank() >= 1, "input is a scalar");
  const std::size_t a = axis_of(w, "axis", axis, x.rank());
  check(w, to_size(x.dim(a)) == in, "input ", shape_text(x.dims()), " does not match weight ",
        shape_text(weight.dims()), out_in ? " [out, in]" : " [in, out]", " along axis ", axis);
  check(w, bias == nullptr || bias->dims() == shape{static_cast<std::int64_t>(out)}, "bias ",
        bias ? shape_text(bias->dims()) : "", " must be [", out, "]");

  // The weight as double [in, out], whatever its layout: row k is what input feature k adds to y.
  std::vector<double> wt(in * out);
  for (std::size_t k = 0; k < in; ++k)
    for (std::size_t j = 0; j < out; ++j)
      wt[k * out + j] = static_cast<double>(out_in ? weight[j * in + k] : weight[k * out + j]);

  shape ys = x.dims();
  ys[a] = static_cast<std::int64_t>(out);
  tensor<T> y(ys);
  const axis_split s = split_at(x.dims(), a);
  std::vector<double> acc(out * s.inner);
  for (std::size_t o = 0; o < s.outer; ++o) {
    const T* xr = x.data() + o * in * s.inner;
    for (std::size_t j = 0; j < out; ++j)
      std::fill_n(acc.begin() + static_cast<std::ptrdiff_t>(j * s.inner), s.inner,
                  bias ? static_cast<double>((*bias)[j]) : 0.0);
    if (s.inner == 1) {  // the usual case: features last
      for (std::size_t k = 0; k < in; ++k) {
        const double xk = static_cast<double>(xr[k]);
        const double* wk = wt.data() + k * out;
        for (std::size_t j = 0; j < out; ++j) acc[j] += xk * wk[j];
      }
    } else {
      for (std::size_t k = 0; k < in; ++k)
        for (std::size_t j = 0; j < out; ++j) {
          const double wkj = wt[k * out + j];
          const T* xk = xr + k * s.inner;
          double* aj = acc.data() + j * s.inner;
          for (std::size_t q = 0; q < s.inner; ++q) aj[q] += wkj * static_cast<double>(xk[q]);
        }
    }
    T* yr = y.data() + o * out * s.inner;
    for (std::size_t i = 0; i < out * s.inner; ++i) yr[i] = static_cast<T>(acc[i]);
  }
  return y;
}

/// Convolution of x [N, C_in, S…] with weight [C_out, C_in/groups, K…]: `strides` per spatial axis
/// (empty: 1), `pads` = [begin…, end…] zeros per spatial axis (empty: 0), channel axis 1.
/// Lowered per (sample, group) to im2col + an i-k-j product.
template <class T>
tensor<T> conv(const where& w, const tensor<T>& x, const tensor<T>& weight, const tensor<T>* bias, const op_desc& op) {
  check(w, x.rank() >= 3, "input ", shape_text(x.dims()), " must be [N, C, spatial…]");
  const std::size_t spatial = x.rank() - 2;
  check(w, axis_of(w, "channel axis", op.axis, x.rank()) == 1,
        "only channels-first convolution (axis 1) is supported (got axis ", op.axis, ")");
  check(w, weight.rank() == x.rank(), "weight ", shape_text(weight.dims()), " must have rank ", x.rank(), " for input ",
        shape_text(x.dims()));
  const std::int64_t groups = op.groups;
  const std::size_t n_batch = to_size(x.dim(0)), c_in = to_size(x.dim(1)), c_out = to_size(weight.dim(0));
  check(w,
        groups >= 1 && static_cast<std::int64_t>(c_in) % groups == 0 &&
            static_cast<std::int64_t>(c_out) % groups == 0 && weight.dim(1) * groups == x.dim(1),
        "groups ", groups, " do not fit input ", shape_text(x.dims()), " and weight ", shape_text(weight.dims()));
  check(w, op.strides.empty() || op.strides.size() == spatial, "strides ", shape_text(op.strides), " need ", spatial,
        " entries");
  check(w, op.pads.empty() || op.pads.size() == 2 * spatial, "pads ", shape_text(op.pads), " need ", 2 * spatial,
        " entries");
  check(w, bias == nullptr || bias->dims() == shape{static_cast<std::int64_t>(c_out)}, "bias must be [", c_out, "]");

  shape out_spatial, kernel;
  std::vector<std::int64_t> stride(spatial, 1), pad_begin(spatial, 0);
  for (std::size_t i = 0; i < spatial; ++i) {
    if (!op.strides.empty()) stride[i] = op.strides[i];
    const std::int64_t pb = op.pads.empty() ? 0 : op.pads[i], pe = op.pads.empty() ? 0 : op.pads[i + spatial];
    pad_begin[i] = pb;
    const std::int64_t k = weight.dim(i + 2), extent = x.dim(i + 2) + pb + pe;
    check(w, stride[i] >= 1 && pb >= 0 && pe >= 0 && k >= 1 && extent >= k, "kernel ",
          shape_text(shape(weight.dims().begin() + 2, weight.dims().end())), ", strides ", shape_text(op.strides),
          ", pads ", shape_text(op.pads), " do not fit input ", shape_text(x.dims()));
    kernel.push_back(k);
    out_spatial.push_back((extent - k) / stride[i] + 1);
  }
  shape ys{x.dim(0), static_cast<std::int64_t>(c_out)};
  ys.insert(ys.end(), out_spatial.begin(), out_spatial.end());
  tensor<T> y(ys);

  const std::size_t g_count = to_size(groups), cg_in = c_in / g_count, cg_out = c_out / g_count;
  const std::size_t positions = element_count(out_spatial), taps = element_count(kernel), rows = cg_in * taps;
  const shape in_spatial(x.dims().begin() + 2, x.dims().end());
  const std::vector<std::size_t> in_strides = strides_of(in_spatial);
  const std::size_t in_plane = element_count(in_spatial);
  std::vector<double> cols(rows * positions), acc(positions);
  for (std::size_t n = 0; n < n_batch; ++n) {
    for (std::size_t grp = 0; grp < g_count; ++grp) {
      // cols[(c, tap), p] = the input value tap `tap` of output position p sees in channel c (0 in the padding).
      for (std::size_t c = 0; c < cg_in; ++c) {
        const T* plane = x.data() + (n * c_in + grp * cg_in + c) * in_plane;
        odometer tap(kernel);
        std::size_t t = 0;
        do {
          double* row = cols.data() + (c * taps + t) * positions;
          odometer pos(out_spatial);
          std::size_t p = 0;
          do {
            std::size_t off = 0;
            bool inside = true;
            for (std::size_t i = 0; i < spatial && inside; ++i) {
              const std::int64_t at = static_cast<std::int64_t>(pos.index()[i]) * stride[i] - pad_begin[i] +
                                      static_cast<std::int64_t>(tap.index()[i]);
              inside = at >= 0 && at < in_spatial[i];
              if (inside) off += to_size(at) * in_strides[i];
            }
            row[p++] = inside ? static_cast<double>(plane[off]) : 0.0;
          } while (pos.next());
          ++t;
        } while (tap.next());
      }
      for (std::size_t oc = grp * cg_out; oc < (grp + 1) * cg_out; ++oc) {
        std::fill(acc.begin(), acc.end(), bias ? static_cast<double>((*bias)[oc]) : 0.0);
        const T* wrow = weight.data() + oc * rows;  // weight[oc] is [cg_in, K…], i.e. `rows` contiguous taps
        for (std::size_t r = 0; r < rows; ++r) {
          const double wv = static_cast<double>(wrow[r]);
          const double* col = cols.data() + r * positions;
          for (std::size_t p = 0; p < positions; ++p) acc[p] += wv * col[p];
        }
        T* yr = y.data() + (n * c_out + oc) * positions;
        for (std::size_t p = 0; p < positions; ++p) yr[p] = static_cast<T>(acc[p]);
      }
    }
  }
  return y;
}

/// Rows of `table` [V, d] picked by the integer ids in `ids` (carried as T): output ids.shape + [d].
template <class T>
tensor<T> embedding(const where& w, std::string_view ids_name, const tensor<T>& ids, const tensor<T>& table) {
  check(w, table.rank() == 2, "table must be [V, d] (got ", shape_text(table.dims()), ")");
  const std::size_t vocab = to_size(table.dim(0)), d = to_size(table.dim(1));
  shape ys = ids.dims();
  ys.push_back(table.dim(1));
  tensor<T> y(ys);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const T id = ids[i];
    check(
        w,
        std::isfinite(id) && std::trunc(id) == id && id >= T(0) && static_cast<double>(id) < static_cast<double>(vocab),
        "id ", id, " at flat position ", i, " of '", ids_name, "' ", shape_text(ids.dims()),
        " is not an integer in [0, ", vocab, ")");
    const T* row = table.data() + static_cast<std::size_t>(id) * d;
    std::copy(row, row + d, y.data() + i * d);
  }
  return y;
}

// ---- elementwise -----------------------------------------------------------------------------

/// f(a, b) with NumPy broadcasting, computed in T.
template <class T, class F>
tensor<T> broadcast_binary(const where& w, const tensor<T>& a, const tensor<T>& b, F f) {
  const auto ys = broadcast_shapes(a.dims(), b.dims());
  check(w, ys.has_value(), "cannot broadcast ", shape_text(a.dims()), " with ", shape_text(b.dims()));
  tensor<T> y(*ys);
  if (y.size() == 0) return y;
  const auto sa = broadcast_strides(a.dims(), *ys), sb = broadcast_strides(b.dims(), *ys);
  if (ys->empty()) {
    y[0] = f(a[0], b[0]);
    return y;
  }
  // The odometer walks every axis but the last; the last runs as a plain loop.
  const std::size_t last = ys->size() - 1, n = to_size(ys->back());
  const std::size_t la = sa[last], lb = sb[last];
  shape outer(ys->begin(), ys->end() - 1);
  odometer it(outer);
  std::vector<std::size_t> sa_outer(sa.begin(), sa.end() - 1), sb_outer(sb.begin(), sb.end() - 1);
  T* out = y.data();
  do {
    const T* pa = a.data() + offset_of(it.index(), sa_outer);
    const T* pb = b.data() + offset_of(it.index(), sb_outer);
    for (std::size_t i = 0; i < n; ++i) out[i] = f(pa[i * la], pb[i * lb]);
    out += n;
  } while (it.next());
  return y;
}

/// f applied to every element, evaluated in double and rounded once.
template <class T, class F>
tensor<T> pointwise(const tensor<T>& x, F f) {
  tensor<T> y(x.dims());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = static_cast<T>(f(static_cast<double>(x[i])));
  return y;
}

inline double sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }
inline double gelu_erf(double v) { return 0.5 * v * (1.0 + std::erf(v / std::numbers::sqrt2)); }
inline double gelu_tanh(double v) {
  const double c = std::sqrt(2.0 / std::numbers::pi);
  return 0.5 * v * (1.0 + std::tanh(c * (v + 0.044715 * v * v * v)));
}
inline double quick_gelu(double v) { return v * sigmoid(1.702 * v); }
inline double silu(double v) { return v * sigmoid(v); }
inline double relu(double v) { return v > 0.0 ? v : 0.0; }

/// The activation a pointwise op computes: `kind` decides, except for gelu (the `type` "gelu_tanh" /
/// "gelu_new" / "gelu_pytorch_tanh" selects the tanh form, "quick_gelu" the sigmoid form, anything
/// else the exact erf form) and for elementwise (the `type` must name a known function).
using activation_fn = double (*)(double);
inline activation_fn activation_for(const where& w, op_kind kind, std::string_view type) {
  const auto by_type = [](std::string_view t) -> activation_fn {
    if (t == "gelu_tanh" || t == "gelu_new" || t == "gelu_pytorch_tanh") return gelu_tanh;
    if (t == "quick_gelu") return quick_gelu;
    if (t == "gelu") return gelu_erf;
    if (t == "relu") return relu;
    if (t == "silu" || t == "swish") return silu;
    if (t == "sigmoid") return sigmoid;
    if (t == "tanh") return [](double v) { return std::tanh(v); };
    return nullptr;
  };
  switch (kind) {
    case op_kind::gelu: {
      const activation_fn f = by_type(type);
      return f == gelu_tanh || f == quick_gelu ? f : gelu_erf;
    }
    case op_kind::relu: return relu;
    case op_kind::silu: return silu;
    case op_kind::tanh: return [](double v) { return std::tanh(v); };
    case op_kind::sigmoid: return sigmoid;
    default: break;
  }
  const activation_fn f = by_type(type);
  check(w, f != nullptr, "unknown elementwise type '", type,
        "' (known: gelu, gelu_tanh, gelu_new, gelu_pytorch_tanh, quick_gelu, relu, silu, swish, sigmoid, tanh)");
  return f;
}

// ---- products and reductions -------------------------------------------------------------------

/// [..., m, k] · [..., k, n] -> [..., m, n], batch dims broadcast (NumPy matmul for rank >= 2).
template <class T>
tensor<T> matmul(const where& w, const tensor<T>& a, const tensor<T>& b) {
  check(w, a.rank() >= 2 && b.rank() >= 2 && a.dims().back() == b.dim(b.rank() - 2), "cannot multiply ",
        shape_text(a.dims()), " by ", shape_text(b.dims()));
  const shape ba(a.dims().begin(), a.dims().end() - 2), bb(b.dims().begin(), b.dims().end() - 2);
  auto batch = broadcast_shapes(ba, bb);
  check(w, batch.has_value(), "cannot broadcast the batch dims of ", shape_text(a.dims()), " and ",
        shape_text(b.dims()));
  const std::size_t m = to_size(a.dim(a.rank() - 2)), k = to_size(a.dims().back()), n = to_size(b.dims().back());
  shape ys = *batch;
  ys.push_back(static_cast<std::int64_t>(m));
  ys.push_back(static_cast<std::int64_t>(n));
  tensor<T> y(ys);
  if (y.size() == 0) return y;
  const auto sa = broadcast_strides(ba, *batch), sb = broadcast_strides(bb, *batch);  // in matrices
  odometer it(*batch);
  std::vector<double> acc(n);
  T* out = y.data();
  do {
    const T* am = a.data() + offset_of(it.index(), sa) * m * k;
    const T* bm = b.data() + offset_of(it.index(), sb) * k * n;
    for (std::size_t i = 0; i < m; ++i) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (std::size_t kk = 0; kk < k; ++kk) {
        const double aik = static_cast<double>(am[i * k + kk]);
        const T* brow = bm + kk * n;
        for (std::size_t j = 0; j < n; ++j) acc[j] += aik * static_cast<double>(brow[j]);
      }
      for (std::size_t j = 0; j < n; ++j) out[j] = static_cast<T>(acc[j]);
      out += n;
    }
  } while (it.next());
  return y;
}

/// exp(x − max) / Σ exp(x − max) along `axis`, in double.
template <class T>
tensor<T> softmax(const where& w, const tensor<T>& x, std::int64_t axis) {
  const std::size_t a = axis_of(w, "axis", axis, x.rank());
  const axis_split s = split_at(x.dims(), a);
  tensor<T> y(x.dims());
  std::vector<double> e(s.n);
  for (std::size_t o = 0; o < s.outer; ++o)
    for (std::size_t q = 0; q < s.inner; ++q) {
      const std::size_t base = o * s.n * s.inner + q;
      double mx = -std::numeric_limits<double>::infinity();
      for (std::size_t i = 0; i < s.n; ++i) mx = std::max(mx, static_cast<double>(x[base + i * s.inner]));
      double sum = 0.0;
      for (std::size_t i = 0; i < s.n; ++i) sum += e[i] = std::exp(static_cast<double>(x[base + i * s.inner]) - mx);
      for (std::size_t i = 0; i < s.n; ++i) y[base + i * s.inner] = static_cast<T>(e[i] / sum);
    }
  return y;
}

enum class reduction { mean, sum, max };

/// Reduces over `axes` (distinct, any order), accumulating in double; keep_dims keeps them as 1.
template <class T>
tensor<T> reduce(const where& w, const tensor<T>& x, const std::vector<std::int64_t>& axes, bool keep_dims,
                 reduction r) {
  check(w, !axes.empty(), "no axes to reduce");
  std::vector<bool> reduced(x.rank(), false);
  for (auto ax : axes) {
    const std::size_t a = axis_of(w, "axis", ax, x.rank());
    check(w, !reduced[a], "axis ", ax, " listed twice in ", shape_text(axes));
    reduced[a] = true;
  }
  shape kept = x.dims(), ys;
  std::size_t count = 1;
  for (std::size_t k = 0; k < x.rank(); ++k) {
    if (reduced[k]) {
      count *= to_size(kept[k]);
      kept[k] = 1;
      if (keep_dims) ys.push_back(1);
    } else {
      ys.push_back(x.dim(k));
    }
  }
  const double init = r == reduction::max ? -std::numeric_limits<double>::infinity() : 0.0;
  std::vector<double> acc(element_count(kept), init);
  const auto to_out = broadcast_strides(kept, x.dims());  // 0 along the reduced axes
  if (x.size() > 0) {
    odometer it(x.dims());
    std::size_t i = 0;
    do {
      double& slot = acc[offset_of(it.index(), to_out)];
      const double v = static_cast<double>(x[i++]);
      slot = r == reduction::max ? std::max(slot, v) : slot + v;
    } while (it.next());
  }
  tensor<T> y(ys);
  for (std::size_t i = 0; i < acc.size(); ++i)
    y[i] = static_cast<T>(r == reduction::mean ? acc[i] / static_cast<double>(count) : acc[i]);
  return y;
}

// ---- norms -----------------------------------------------------------------------------------

/// The axes a norm normalizes, increasing: op.axes when given, else [op.axis, rank).
inline std::vector<std::size_t> norm_axes(const where& w, const op_desc& op, std::size_t rank) {
  std::vector<std::size_t> axes;
  if (op.axes.empty()) {
    for (std::size_t k = axis_of(w, "axis", op.axis, rank); k < rank; ++k) axes.push_back(k);
    return axes;
  }
  for (auto ax : op.axes) axes.push_back(axis_of(w, "axis", ax, rank));
  std::sort(axes.begin(), axes.end());
  check(w, std::adjacent_find(axes.begin(), axes.end()) == axes.end(), "axes ", shape_text(op.axes), " repeat an axis");
  return axes;
}

/// Output axis j reads input axis perm[j].
template <class T>
tensor<T> transpose(const where& w, const tensor<T>& x, const std::vector<std::int64_t>& perm) {
  std::vector<bool> seen(x.rank(), false);
  bool valid = perm.size() == x.rank();
  for (std::size_t j = 0; valid && j < perm.size(); ++j) {
    valid = perm[j] >= 0 && to_size(perm[j]) < x.rank() && !seen[to_size(perm[j])];
    if (valid) seen[to_size(perm[j])] = true;
  }
  check(w, valid, "perm ", shape_text(perm), " is not a permutation of the axes of ", shape_text(x.dims()));
  const auto in_strides = strides_of(x.dims());
  shape ys(x.rank());
  std::vector<std::size_t> st(x.rank());
  for (std::size_t j = 0; j < perm.size(); ++j) {
    ys[j] = x.dim(to_size(perm[j]));
    st[j] = in_strides[to_size(perm[j])];
  }
  tensor<T> y(ys);
  if (y.size() == 0) return y;
  odometer it(ys);
  std::size_t i = 0;
  do y[i++] = x[offset_of(it.index(), st)];
  while (it.next());
  return y;
}

/// LayerNorm (Center) or RMSNorm of x over norm_axes(op), by the long double reference. γ and β, when
/// present, hold one value per normalized element (in the order of the normalized axes, increasing).
/// Axes that are not trailing are moved last, normalized, and moved back.
template <bool Center, class T>
tensor<T> norm(const where& w, const tensor<T>& x, const op_desc& op, const tensor<T>* gamma, const tensor<T>* beta) {
  check(w, std::isfinite(op.eps) && op.eps > 0, "eps must be finite and > 0 (got ", op.eps, ")");
  const std::vector<std::size_t> axes = norm_axes(w, op, x.rank());
  std::size_t d = 1;
  shape normalized;
  for (auto a : axes) {
    d *= to_size(x.dim(a));
    normalized.push_back(x.dim(a));
  }
  check(w, d > 0, "the normalized axes ", shape_text(normalized), " are empty");
  for (const auto* p : {gamma, beta})
    check(w, p == nullptr || p->size() == d, p == gamma ? "gamma " : "beta ", p ? shape_text(p->dims()) : "",
          " must have one element per normalized element ", shape_text(normalized));
  // perm: the kept axes in order, then the normalized ones.
  std::vector<std::int64_t> perm, back(x.rank());
  for (std::size_t k = 0; k < x.rank(); ++k)
    if (!std::binary_search(axes.begin(), axes.end(), k)) perm.push_back(static_cast<std::int64_t>(k));
  for (auto a : axes) perm.push_back(static_cast<std::int64_t>(a));
  bool trailing = true;
  for (std::size_t j = 0; j < perm.size(); ++j) {
    back[to_size(perm[j])] = static_cast<std::int64_t>(j);
    trailing = trailing && perm[j] == static_cast<std::int64_t>(j);
  }
  const tensor<T> rows = trailing ? x : transpose(w, x, perm);
  tensor<T> out(rows.dims());
  const std::size_t n = rows.size() / d;
  const matrix_ref<const T> xin(rows.data(), n, d);
  const matrix_ref<T> yout(out.data(), n, d);
  const norm_affine<T> affine{gamma ? gamma->data() : nullptr, beta ? beta->data() : nullptr};
  if (n > 0) {
    if constexpr (Center) reference_layer_norm(xin, yout, affine, op.eps);
    else reference_rms_norm(xin, yout, affine, op.eps);
  }
  return trailing ? out : transpose(w, out, back);
}

/// x − mean(x) along `axis`, the mean in double.
template <class T>
tensor<T> center(const where& w, const tensor<T>& x, std::int64_t axis) {
  const std::size_t a = axis_of(w, "axis", axis, x.rank());
  const axis_split s = split_at(x.dims(), a);
  tensor<T> y(x.dims());
  for (std::size_t o = 0; o < s.outer; ++o)
    for (std::size_t q = 0; q < s.inner; ++q) {
      const std::size_t base = o * s.n * s.inner + q;
      double sum = 0.0;
      for (std::size_t i = 0; i < s.n; ++i) sum += static_cast<double>(x[base + i * s.inner]);
      const double mean = sum / static_cast<double>(s.n);
      for (std::size_t i = 0; i < s.n; ++i)
        y[base + i * s.inner] = static_cast<T>(static_cast<double>(x[base + i * s.inner]) - mean);
    }
  return y;
}

// ---- re-indexing -----------------------------------------------------------------------------

/// Joins `xs` along `axis`; every other dim must agree.
template <class T>
tensor<T> concat(const where& w, std::span<const tensor<T>* const> xs, std::int64_t axis) {
  check(w, !xs.empty(), "no inputs");
  const shape& first = xs.front()->dims();
  const std::size_t a = axis_of(w, "axis", axis, first.size());
  shape ys = first;
  ys[a] = 0;
  for (const tensor<T>* t : xs) {
    bool fits = t->rank() == first.size();
    for (std::size_t k = 0; fits && k < first.size(); ++k) fits = k == a || t->dim(k) == first[k];
    check(w, fits, "cannot join ", shape_text(first), " and ", shape_text(t->dims()), " along axis ", axis);
    ys[a] += t->dim(a);
  }
  tensor<T> y(ys);
  const axis_split s = split_at(ys, a);
  T* out = y.data();
  for (std::size_t o = 0; o < s.outer; ++o)
    for (const tensor<T>* t : xs) {
      const std::size_t block = to_size(t->dim(a)) * s.inner;
      out = std::copy_n(t->data() + o * block, block, out);
    }
  return y;
}

/// x[begin:end:step] along `axis`, Python style: negative begin / end count from the end, both are
/// clamped to the dim, step >= 1.
template <class T>
tensor<T> slice(const where& w, const tensor<T>& x, const op_desc& op) {
  const std::size_t a = axis_of(w, "axis", op.axis, x.rank());
  check(w, op.step >= 1, "step must be >= 1 (got ", op.step, ")");
  const std::int64_t dim = x.dim(a);
  const auto clamp = [dim](std::int64_t v) { return std::clamp(v < 0 ? v + dim : v, std::int64_t{0}, dim); };
  const std::int64_t start = clamp(op.begin), stop = clamp(op.end);
  const std::int64_t count = stop > start ? (stop - start + op.step - 1) / op.step : 0;
  shape ys = x.dims();
  ys[a] = count;
  tensor<T> y(ys);
  const axis_split s = split_at(x.dims(), a);
  T* out = y.data();
  for (std::size_t o = 0; o < s.outer; ++o)
    for (std::int64_t i = 0; i < count; ++i)
      out = std::copy_n(x.data() + (o * s.n + to_size(start + i * op.step)) * s.inner, s.inner, out);
  return y;
}

/// Positions `indices` along `axis`; keep_dims false takes exactly one index and drops the axis.
template <class T>
tensor<T> gather(const where& w, const tensor<T>& x, const op_desc& op) {
  const std::size_t a = axis_of(w, "axis", op.axis, x.rank());
  const std::int64_t dim = x.dim(a);
  check(w, !op.indices.empty() && (op.keep_dims || op.indices.size() == 1), "indices ", shape_text(op.indices),
        op.keep_dims ? " must not be empty" : " must hold exactly one index (keep_dims = false)");
  for (auto i : op.indices)
    check(w, i >= 0 && i < dim, "index ", i, " is out of range for dim ", dim, " of ", shape_text(x.dims()));
  shape ys = x.dims();
  if (op.keep_dims) ys[a] = static_cast<std::int64_t>(op.indices.size());
  else ys.erase(ys.begin() + static_cast<std::ptrdiff_t>(a));
  tensor<T> y(ys);
  const axis_split s = split_at(x.dims(), a);
  T* out = y.data();
  for (std::size_t o = 0; o < s.outer; ++o)
    for (auto i : op.indices) out = std::copy_n(x.data() + (o * s.n + to_size(i)) * s.inner, s.inner, out);
  return y;
}

/// Zero padding: `pads` = [begin_0, …, begin_{r-1}, end_0, …, end_{r-1}], all >= 0.
template <class T>
tensor<T> pad(const where& w, const tensor<T>& x, const std::vector<std::int64_t>& pads) {
  const std::size_t r = x.rank();
  check(w, pads.size() == 2 * r && std::all_of(pads.begin(), pads.end(), [](std::int64_t p) { return p >= 0; }),
        "pads ", shape_text(pads), " need ", 2 * r, " entries >= 0 for ", shape_text(x.dims()));
  shape ys = x.dims();
  for (std::size_t k = 0; k < r; ++k) ys[k] += pads[k] + pads[k + r];
  tensor<T> y(ys);
  if (x.size() == 0) return y;
  const auto st = strides_of(ys);
  std::size_t begin = 0;
  for (std::size_t k = 0; k < r; ++k) begin += to_size(pads[k]) * st[k];
  odometer it(x.dims());
  std::size_t i = 0;
  do y[begin + offset_of(it.index(), st)] = x[i++];
  while (it.next());
  return y;
}

}  // namespace lnfold::detail::eval
