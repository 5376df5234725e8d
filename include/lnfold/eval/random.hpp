// Seeded random weights and inputs for any built-in graph, scaled so that activations stay O(1)
// through deep stacks and so that folding has something to do: every source (linear, conv, table,
// additive constant) produces outputs with a clearly non-zero mean along its features, which is what
// centering removes, and LayerNorm inputs carry a large per-row mean.
//
// Each parameter gets a role from the first node (in node order) that uses it:
//   linear / conv weight   (N(0,1) + 0.5·u_c) / sqrt(fan_in): i.i.d. N(0, 1/fan_in) plus one offset
//                          u_c ~ N(0,1) per input column c (shared by all outputs), so the outputs
//                          share a per-row shift of size O(1) that centering removes.
//                          fan_in = in features (linear), C_in/groups · kernel size (conv).
//   linear / conv bias     0.1 + 0.1·N
//   embedding table [V, d] 0.5·N + r_v per row, r_v = 1 + 0.25·N (a large per-token mean)
//   LayerNorm / RMSNorm    γ = 1 + 0.1·N,  β = 0.1·N
//   constant read by a mul or div (LayerScale, a per-channel or scalar scale such as the attention's
//                          1/sqrt(d_h)): 1 + 0.2·N, kept >= 0.25 so a divisor stays away from 0.
//                          (LayerScale's real init, ~1e-6, would make the branch invisible to tests.)
//   any other constant     0.5·N + r per vector along the last axis, r = 1 + 0.25·N (positions, cls
//                          tokens, masks and biases added to scores)
//   unused parameter       0.5·N
// That default (weight_init::stress) is for tests: it makes every fold visible, but it is not a
// model anyone trains. Its attention scale (1 + 0.2·N instead of 1/sqrt(d_h)) and O(1)-per-element
// projections give attention logits of size ~10–100, so the softmaxes are nearly one-hot and a
// 12-layer post-LN stack (BERT) turns a 1-ulp change of its input into a 1e-3 change of its
// output. weight_init::trained draws what a freshly initialized transformer has (BERT's and GPT-2's
// initializer_range 0.02), which keeps a deep model as well conditioned as a trained one:
//   linear / conv weight   0.02·(N + 0.5·u_c), u_c ~ N(0,1) per input column (the shared offset
//                          folding removes, at the scale of the weights)
//   bias, β                0.02·N
//   γ                      1 + 0.02·N
//   embedding table,       0.02·(N + r_v) per row (or vector along the last axis), r_v = 1 + 0.25·N
//   additive constant
//   scale                  a scalar multiplying a matmul's output (the attention's q·kᵀ): 1/sqrt(K),
//                          K the contracted size; dividing it: sqrt(K); any other scale 1 + 0.02·N
//   unused parameter       0.02·N
// Inputs, per op_kind::input node in node order: ids — an input that reaches an embedding's id
// operand, directly or through identity / reshape / transpose / slice / gather / concat / pad — are
// integers uniform in [0, V), V = the smallest row count of the tables they index; any other input is
// N(0,1) + r per vector along the last axis, r = 1 + 0.5·N.
//
// Reproducibility: every parameter and input has its own std::mt19937_64 stream seeded from (seed,
// its id), so results depend only on the seed and the graph. Normal deviates come from our own
// Box–Muller transform and integers from our own rejection sampler, because std::normal_distribution
// and std::uniform_int_distribution are implementation-defined algorithms: libstdc++, libc++ and MSVC
// return different sequences for the same engine state (the engine itself is fully specified).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numbers>
#include <random>
#include <vector>

#include "lnfold/eval/detail/indexing.hpp"
#include "lnfold/graph/ir.hpp"
#include "lnfold/graph/op.hpp"
#include "lnfold/tensor/tensor.hpp"

namespace lnfold {
namespace detail::eval {

/// SplitMix64's finalizer: decorrelates (seed, id) pairs before they seed an engine.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// A portable source of N(0,1) deviates and uniform integers over one std::mt19937_64 stream.
class random_source {
 public:
  random_source(std::uint64_t seed, std::uint64_t stream) : engine_(mix64(seed ^ mix64(stream + 1))) {}

  /// Uniform in [0, 1), 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

  /// N(0, 1) by the Box–Muller transform (both deviates of a pair are used).
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = 1.0 - uniform();  // (0, 1]: log stays finite
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2.0 * std::numbers::pi * u2);
    has_spare_ = true;
    return r * std::cos(2.0 * std::numbers::pi * u2);
  }

  /// Uniform in [0, n), n >= 1, without modulo bias (rejects the incomplete top block).
  std::uint64_t below(std::uint64_t n) {
    const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() -
                                std::numeric_limits<std::uint64_t>::max() % n;
    std::uint64_t v = engine_();
    while (v >= limit) v = engine_();
    return v % n;
  }

 private:
  std::mt19937_64 engine_;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

enum class param_role { unused, linear_weight, conv_weight, bias, table, gamma, beta, scale, additive };

struct param_use {
  param_role role = param_role::unused;
  weight_layout layout = weight_layout::out_in;  ///< linear_weight
  /// scale: the contracted size K of the matmul whose output it multiplies (+K) or divides (−K); 0 otherwise.
  std::int64_t attention_k = 0;
};

/// Which node reads which: readers[v] lists the nodes with v among their inputs.
inline std::vector<std::vector<node_id>> readers_of(const graph& g) {
  std::vector<std::vector<node_id>> readers(g.node_count());
  for (node_id v = 0; v < g.node_count(); ++v)
    for (node_id in : g.node_inputs(v))
      if (in < g.node_count()) readers[in].push_back(v);
  return readers;
}

/// For a scalar constant `c` read by a mul (or as the divisor of a div) whose other operand is a
/// matmul's output: +K (mul) or −K (div), K the matmul's contracted size; 0 otherwise.
inline std::int64_t attention_scale_k(const graph& g, node_id c, const std::vector<node_id>& readers) {
  const auto& cs = g.node_shape(c);
  if (!cs || std::any_of(cs->begin(), cs->end(), [](std::int64_t e) { return e != 1; })) return 0;
  for (node_id r : readers) {
    const op_kind k = g.node_op(r).kind;
    const auto& in = g.node_inputs(r);
    if (in.size() != 2 || !(k == op_kind::mul || (k == op_kind::div && in[1] == c))) continue;
    const node_id other = in[0] == c ? in[1] : in[0];
    if (other >= g.node_count() || g.node_op(other).kind != op_kind::matmul) continue;
    const auto& a = g.node_shape(g.node_inputs(other)[0]);
    if (a && !a->empty() && a->back() > 0) return k == op_kind::mul ? a->back() : -a->back();
  }
  return 0;
}

inline std::vector<param_use> param_uses(const graph& g) {
  std::vector<param_use> uses(g.param_count());
  const auto readers = readers_of(g);
  const auto assign = [&](const std::optional<param_id>& p, param_use u) {
    if (p && *p < uses.size() && uses[*p].role == param_role::unused) uses[*p] = u;
  };
  for (node_id v = 0; v < g.node_count(); ++v) {
    const op_desc& op = g.node_op(v);
    switch (op.kind) {
      case op_kind::linear:
        assign(op.weight, {param_role::linear_weight, op.layout});
        assign(op.bias, {param_role::bias});
        break;
      case op_kind::conv:
      case op_kind::conv_transpose:
        assign(op.weight, {param_role::conv_weight});
        assign(op.bias, {param_role::bias});
        break;
      case op_kind::embedding: assign(op.weight, {param_role::table}); break;
      case op_kind::layer_norm:
      case op_kind::rms_norm:
        assign(op.gamma, {param_role::gamma});
        assign(op.beta, {param_role::beta});
        break;
      case op_kind::constant: {
        const bool scales = std::any_of(readers[v].begin(), readers[v].end(), [&](node_id r) {
          const op_kind k = g.node_op(r).kind;
          return k == op_kind::mul || k == op_kind::div;
        });
        assign(op.weight, {scales ? param_role::scale : param_role::additive, weight_layout::out_in,
                           scales ? attention_scale_k(g, v, readers[v]) : 0});
        break;
      }
      default: break;
    }
  }
  return uses;
}

/// scale·(noise·N + (1 + spread·N)) per vector along the last axis (one offset per row, shared by its elements).
template <class T>
void fill_offset_rows(tensor<T>& t, random_source& rng, double noise, double spread, double scale = 1.0) {
  const std::size_t row = t.rank() == 0 ? 1 : to_size(t.dims().back());
  double offset = 1.0;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (i % row == 0) offset = 1.0 + spread * rng.normal();
    t[i] = static_cast<T>(scale * (noise * rng.normal() + offset));
  }
}

/// weight_init::trained (see the top of this header).
template <class T>
void fill_param_trained(tensor<T>& t, const param_use& use, random_source& rng) {
  constexpr double range = 0.02;  // BERT's and GPT-2's initializer_range
  switch (use.role) {
    case param_role::linear_weight:
    case param_role::conv_weight: {
      if (t.rank() < 2 || t.size() == 0) break;
      const bool rows_are_inputs = use.role == param_role::linear_weight && use.layout == weight_layout::in_out;
      const std::size_t outer = to_size(t.dims()[0]), per_outer = t.size() / outer;
      std::vector<double> column_offset(rows_are_inputs ? outer : per_outer);
      for (auto& u : column_offset) u = 0.5 * rng.normal();
      for (std::size_t i = 0; i < t.size(); ++i)
        t[i] = static_cast<T>(range * (rng.normal() + column_offset[rows_are_inputs ? i / per_outer : i % per_outer]));
      return;
    }
    case param_role::gamma:
      for (auto& v : t.values()) v = static_cast<T>(1.0 + range * rng.normal());
      return;
    case param_role::table:
    case param_role::additive: fill_offset_rows(t, rng, 1.0, 0.25, range); return;
    case param_role::scale:
      if (use.attention_k != 0) {
        const double k = std::sqrt(static_cast<double>(use.attention_k > 0 ? use.attention_k : -use.attention_k));
        for (auto& v : t.values()) v = static_cast<T>(use.attention_k > 0 ? 1.0 / k : k);
      } else {
        for (auto& v : t.values()) v = static_cast<T>(1.0 + range * rng.normal());
      }
      return;
    case param_role::bias:
    case param_role::beta:
    case param_role::unused: break;
  }
  for (auto& v : t.values()) v = static_cast<T>(range * rng.normal());
}

template <class T>
void fill_param(tensor<T>& t, const param_use& use, random_source& rng) {
  const shape& s = t.dims();
  switch (use.role) {
    case param_role::linear_weight:
    case param_role::conv_weight: {
      if (s.size() < 2 || t.size() == 0) break;
      // The input column of element i: (i mod in) for [out, in] / [C_out, C_in/g, K…], (i div out) for [in, out].
      const bool rows_are_inputs = use.role == param_role::linear_weight && use.layout == weight_layout::in_out;
      const std::size_t outer = to_size(s[0]), per_outer = t.size() / outer;
      const std::size_t fan_in = rows_are_inputs ? outer : per_outer;
      std::vector<double> column_offset(fan_in);
      for (auto& u : column_offset) u = 0.5 * rng.normal();
      const double scale = 1.0 / std::sqrt(static_cast<double>(fan_in));
      for (std::size_t i = 0; i < t.size(); ++i) {
        const std::size_t column = rows_are_inputs ? i / per_outer : i % per_outer;
        t[i] = static_cast<T>((rng.normal() + column_offset[column]) * scale);
      }
      return;
    }
    case param_role::bias:
      for (auto& v : t.values()) v = static_cast<T>(0.1 + 0.1 * rng.normal());
      return;
    case param_role::table: fill_offset_rows(t, rng, 0.5, 0.25); return;
    case param_role::gamma:
      for (auto& v : t.values()) v = static_cast<T>(1.0 + 0.1 * rng.normal());
      return;
    case param_role::beta:
      for (auto& v : t.values()) v = static_cast<T>(0.1 * rng.normal());
      return;
    case param_role::scale:
      for (auto& v : t.values()) v = static_cast<T>(std::max(0.25, 1.0 + 0.2 * rng.normal()));
      return;
    case param_role::additive: fill_offset_rows(t, rng, 0.5, 0.25); return;
    case param_role::unused: break;
  }
  for (auto& v : t.values()) v = static_cast<T>(0.5 * rng.normal());
}

/// For an input node: the smallest table row count among the embeddings whose ids it feeds (through
/// shape-only ops); 0 when it feeds none.
inline std::int64_t id_range(const graph& g, node_id input, const std::vector<std::vector<node_id>>& readers) {
  std::int64_t vocab = 0;
  std::vector<node_id> stack{input};
  std::vector<bool> seen(g.node_count(), false);
  while (!stack.empty()) {
    const node_id v = stack.back();
    stack.pop_back();
    for (node_id r : readers[v]) {
      const op_desc& op = g.node_op(r);
      if (op.kind == op_kind::embedding && g.node_inputs(r)[0] == v && op.weight && *op.weight < g.param_count()) {
        const shape& table = g.param_shape(*op.weight);
        if (!table.empty()) vocab = vocab == 0 ? table[0] : std::min(vocab, table[0]);
      }
      const bool shape_only = op.kind == op_kind::identity || op.kind == op_kind::reshape ||
                              op.kind == op_kind::transpose || op.kind == op_kind::slice ||
                              op.kind == op_kind::gather || op.kind == op_kind::concat || op.kind == op_kind::pad;
      if (shape_only && !seen[r]) {
        seen[r] = true;
        stack.push_back(r);
      }
    }
  }
  return vocab;
}

}  // namespace detail::eval

/// How random_weights scales each parameter role (the rules at the top of this header).
enum class weight_init {
  stress,   ///< large per-row means and sharp attention: every fold is visible (tests, the evaluator)
  trained,  ///< a freshly initialized transformer's scales (std 0.02, attention 1/sqrt(d_h)): as well
            ///< conditioned as a trained model (the demo and the end-to-end benchmark)
};

/// One tensor per parameter of `g` (index = param_id, the declared shape), filled by the rules at
/// the top of this header from `seed`. Deterministic across platforms and standard libraries.
/// Cost O(parameters' elements + nodes). Throws lnfold::error only if a declared dim is negative.
template <class T>
weight_set<T> random_weights(const graph& g, std::uint64_t seed, weight_init init = weight_init::stress) {
  namespace ev = detail::eval;
  const auto uses = ev::param_uses(g);
  weight_set<T> weights;
  weights.reserve(g.param_count());
  for (param_id p = 0; p < g.param_count(); ++p) {
    tensor<T> t(g.param_shape(p));
    ev::random_source rng(seed, p);
    if (init == weight_init::trained) ev::fill_param_trained(t, uses[p], rng);
    else ev::fill_param(t, uses[p], rng);
    weights.push_back(std::move(t));
  }
  return weights;
}

/// One tensor per op_kind::input node of `g`, in node order (what evaluate expects): ids uniform in
/// [0, V) for inputs that feed embeddings, N(0,1) plus a per-row offset otherwise (see the top of this
/// header). Throws lnfold::error if an input node has no declared shape.
template <class T>
std::vector<tensor<T>> random_inputs(const graph& g, std::uint64_t seed) {
  namespace ev = detail::eval;
  const auto readers = ev::readers_of(g);
  std::vector<tensor<T>> inputs;
  for (node_id v = 0; v < g.node_count(); ++v) {
    if (g.node_op(v).kind != op_kind::input) continue;
    const auto& s = g.node_shape(v);
    detail::require(s.has_value(), "lnfold::random_inputs: input node '", g.node_name(v), "' has no declared shape");
    tensor<T> t(*s);
    // Streams of inputs are offset from those of parameters so that a graph's param 0 and input 0 differ.
    ev::random_source rng(seed, (std::uint64_t{1} << 32) + v);
    const std::int64_t vocab = ev::id_range(g, v, readers);
    if (vocab > 0) {
      for (auto& x : t.values()) x = static_cast<T>(rng.below(static_cast<std::uint64_t>(vocab)));
    } else {
      ev::fill_offset_rows(t, rng, 1.0, 0.5);
    }
    inputs.push_back(std::move(t));
  }
  return inputs;
}

}  // namespace lnfold
