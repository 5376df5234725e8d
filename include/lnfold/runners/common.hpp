// What the model runners share: reading a (graph, weights) pair by node name, norms that follow the
// graph's op kind, the attention core, GELU, and the clock around normalization.
//
// A runner executes one architecture's forward pass with lnfold's layers (Eigen GEMM, SIMD norms).
// It knows the architecture's *structure* (which node feeds which, as the builder in
// graph/architectures/ lays it out) but takes every *decision* from the graph it is given: for each
// norm node, layer_norm → the LayerNorm kernel, rms_norm → the RMSNorm kernel, with the γ / β that
// node references (none after affine folding); for each linear, the weight / bias parameters and the
// layout its node references (an untied copy, a bias created by affine folding). Nodes the runner
// cannot execute (a stem centering, a norm over another axis) make it throw, naming the node, rather
// than compute something else.
#pragma once

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lnfold/detail/disable_warnings.hpp"  // GCC bug 105593 in the AVX-512 code Eigen inlines

#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>

#include "lnfold/detail/restore_warnings.hpp"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "lnfold/error.hpp"
#include "lnfold/graph/ir.hpp"
#include "lnfold/layers/eigen.hpp"
#include "lnfold/layers/from_graph.hpp"
#include "lnfold/layers/layers.hpp"
#include "lnfold/tensor/tensor.hpp"

namespace lnfold::runners {

using mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using linear = layers::eigen_linear<float>;

/// What happens at each norm node of the graph.
enum class norm_policy {
  graph,  ///< what the graph says: LayerNorm or RMSNorm kernel (fused with the residual add before it)
  none,   ///< the norm is removed (the residual add stays): the limit of any norm optimisation
};

/// Keeps memory the process frees mapped, so a forward pass takes no page faults. Eigen's GEMM
/// packs its left operand into a buffer it allocates and frees on every product; for GPT-2's
/// 50257-wide head that buffer is 53 MB, above glibc's largest mmap threshold (32 MB), so glibc
/// mapped and unmapped it on every forward: ~13 000 page faults per forward pass (perf stat -e
/// page-faults; strace shows the 53 MB mmap / munmap pair), in every model variant alike, all
/// inside the head's GEMM (none inside a norm). Serving every allocation from the heap and never
/// trimming it makes the later forwards fault-free. Call once, before allocating; no-op outside glibc.
inline void keep_freed_memory_mapped() {
#ifdef __GLIBC__
  mallopt(M_MMAP_MAX, 0);              // no allocation goes to mmap: all from the heap
  mallopt(M_TRIM_THRESHOLD, INT_MAX);  // and the heap's top is never returned to the kernel
#endif
}

/// Where a norm call writes its output y. The norm's input x is the output of the matrix product
/// just before it, still in cache; the residual was last touched one block earlier and comes back
/// from L3 or memory (the products in between stream 9–19 MB of weights). Writing y over x saves a
/// cold buffer: a separate y would be fetched for ownership from memory on every call.
enum class norm_output {
  into_input,     ///< y = x: the pre-LN stream (GPT-2, ViT), y read by the next linears
  into_residual,  ///< y = residual: post-LN (BERT), the normalized stream is the residual
  separate,       ///< y is its own buffer (x is read-only, e.g. a weight table)
};

/// Rows [0, rows) of a row-major buffer as the views the layers take.
inline matrix_ref<float> ref(mat& m, std::size_t rows) { return {m.data(), rows, static_cast<std::size_t>(m.cols())}; }
inline matrix_ref<const float> cref(const mat& m, std::size_t rows) {
  return {m.data(), rows, static_cast<std::size_t>(m.cols())};
}
inline layers::strided_matrix<float> strided(mat& m, std::size_t rows) { return layers::as_strided(ref(m, rows)); }
inline layers::strided_matrix<const float> cstrided(const mat& m, std::size_t rows) {
  return layers::as_strided(cref(m, rows));
}

/// A (graph, weights) pair, read by node name.
class model_ref {
 public:
  model_ref(const graph& g, const weight_set<float>& w) : g_(&g), w_(&w) {
    require(w.size() == g.param_count(), "lnfold::runners: ", w.size(), " weights for ", g.param_count(),
            " parameters");
    for (const auto& n : g.nodes())
      require(n.op.kind != op_kind::center && n.op.kind != op_kind::unknown, "lnfold::runners: node '", n.name, "' (",
              to_string(n.op.kind), ") is not supported by the runners");
  }
  const graph& g() const { return *g_; }
  /// The node called `name`, or nullopt. O(nodes).
  std::optional<node_id> find(std::string_view name) const {
    for (node_id n = 0; n < g_->node_count(); ++n)
      if (g_->node_name(n) == name) return n;
    return std::nullopt;
  }
  node_id node(std::string_view name) const { return g_->find(name); }
  const op_desc& op(std::string_view name) const { return g_->node_op(node(name)); }
  /// The node `name` after checking its kind.
  const op_desc& op(std::string_view name, op_kind kind) const {
    const op_desc& o = op(name);
    require(o.kind == kind, "lnfold::runners: node '", name, "' is ", to_string(o.kind), ", expected ",
            to_string(kind));
    return o;
  }
  const tensor<float>& param(param_id p) const { return (*w_)[p]; }
  const tensor<float>& weight_of(std::string_view name) const {
    const op_desc& o = op(name);
    require(o.weight.has_value(), "lnfold::runners: node '", name, "' has no weight");
    return param(*o.weight);
  }
  /// The linear node `name` as a layer (layers/from_graph.hpp).
  linear make_linear(std::string_view name) const {
    return layers::linear_from_node<float, layers::eigen_gemm>(*g_, *w_, node(name));
  }
  const weight_set<float>& weights() const { return *w_; }
  /// Input k of node `name`.
  node_id input_of(std::string_view name, std::size_t k) const { return g_->node_inputs(node(name))[k]; }
  std::string_view name_of(node_id n) const { return g_->node_name(n); }

  template <class... Parts>
  static void require(bool ok, const Parts&... parts) {
    lnfold::detail::require(ok, parts...);
  }

 private:
  const graph* g_;
  const weight_set<float>* w_;
};

/// Records the wall time of each normalization call (and the residual add fused with it), in call
/// order. Two steady_clock reads per call: ~50 ns on this machine, against tens of µs per norm.
/// Per-call times let a reader take each call's minimum over runs: on a shared machine a single
/// preemption inside one call adds milliseconds to a pass whose norms take two.
class norm_clock {
 public:
  void reset() noexcept { calls_.clear(); }
  double seconds() const noexcept {
    std::int64_t ns = 0;
    for (const std::int64_t c : calls_) ns += c;
    return static_cast<double>(ns) * 1e-9;
  }
  /// Each call's time in seconds, in call order.
  std::vector<double> call_seconds() const {
    std::vector<double> s;
    s.reserve(calls_.size());
    for (const std::int64_t c : calls_) s.push_back(static_cast<double>(c) * 1e-9);
    return s;
  }
  template <class F>
  void time(F&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    calls_.push_back(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
  }

 private:
  std::vector<std::int64_t> calls_;
};

/// One norm node of the graph, run the way the graph (and the policy) says: the layer is
/// layers::norm_from_node's (LayerNorm or RMSNorm, the node's γ / β). `output` is where the runner's
/// forward passes y (what norms_alone replays).
class graph_norm {
 public:
  graph_norm(const model_ref& m, std::string_view name, norm_policy policy, norm_output output)
      : name_(name),
        policy_(policy),
        output_(output),
        norm_(layers::norm_from_node(m.g(), m.weights(), m.node(name))) {}
  op_kind kind() const noexcept {
    return norm_.kind() == layers::norm_kind::layer ? op_kind::layer_norm : op_kind::rms_norm;
  }
  const std::string& name() const noexcept { return name_; }
  std::size_t features() const noexcept { return norm_.features(); }
  norm_output output() const noexcept { return output_; }

  /// residual += x; y = norm(residual)   (policy none: residual += x; y is not written).
  void residual(matrix_ref<const float> x, matrix_ref<float> residual, matrix_ref<float> y, norm_clock& clock) const {
    clock.time([&] {
      if (policy_ == norm_policy::none) {
        for (std::size_t r = 0; r < x.rows; ++r) {
          float* out = residual.row(r);
          const float* in = x.row(r);
          for (std::size_t j = 0; j < x.cols; ++j) out[j] += in[j];
        }
      } else {
        norm_.residual(x, residual, y);
      }
    });
  }
  bool removed() const noexcept { return policy_ == norm_policy::none; }

 private:
  std::string name_;
  norm_policy policy_;
  norm_output output_;
  layers::any_norm<float> norm_;
};

/// GELU, exact erf form (what the graph's gelu op computes), in place; Eigen's vectorized erf.
inline void gelu_inplace(mat& m, std::size_t rows) {
  auto a = m.topRows(static_cast<Eigen::Index>(rows)).array();
  a = 0.5f * a * (1.0f + (a * 0.70710678118654752f).erf());
}

/// Softmax over each row of the top-left [rows, cols] block, in place.
template <class M>
void softmax_rows(M&& s) {
  for (Eigen::Index r = 0; r < s.rows(); ++r) {
    auto row = s.row(r).array();
    row = (row - row.maxCoeff()).exp();
    row /= row.sum();
  }
}

/// Multi-head attention core on q, k, v [T, H·dh] (any row strides): for each head h,
/// ctx[:, h] = softmax(q_h·k_hᵀ·scale + mask) · v_h, mask [T, T] optional (row stride mask_stride).
/// scores is scratch of at least [T, T].
inline void attention(const float* q, const float* k, const float* v, Eigen::Index qkv_stride, Eigen::Index tokens,
                      Eigen::Index heads, Eigen::Index dh, float scale, const float* mask, Eigen::Index mask_stride,
                      mat& scores, mat& ctx) {
  using cmap = Eigen::Map<const mat, Eigen::Unaligned, Eigen::OuterStride<>>;
  for (Eigen::Index h = 0; h < heads; ++h) {
    cmap qh(q + h * dh, tokens, dh, Eigen::OuterStride<>(qkv_stride));
    cmap kh(k + h * dh, tokens, dh, Eigen::OuterStride<>(qkv_stride));
    cmap vh(v + h * dh, tokens, dh, Eigen::OuterStride<>(qkv_stride));
    auto s = scores.topLeftCorner(tokens, tokens);
    s.noalias() = qh * kh.transpose();
    s *= scale;
    if (mask) s += cmap(mask, tokens, tokens, Eigen::OuterStride<>(mask_stride));
    softmax_rows(s);
    ctx.block(0, h * dh, tokens, dh).noalias() = s * vh;
  }
}

/// The input of `g` called `name`, as given in node order (the order evaluate / random_inputs use).
inline const tensor<float>& input_named(const graph& g, const std::vector<tensor<float>>& inputs,
                                        std::string_view name) {
  std::size_t k = 0;
  for (node_id n = 0; n < g.node_count(); ++n) {
    if (g.node_op(n).kind != op_kind::input) continue;
    if (g.node_name(n) == name) {
      lnfold::detail::require(k < inputs.size(), "lnfold::runners: input '", name, "' not given");
      return inputs[k];
    }
    ++k;
  }
  lnfold::detail::fail(lnfold::detail::concat("lnfold::runners: the graph has no input '", name, "'"));
}

/// Timing of one forward pass.
struct forward_times {
  double total_s = 0;               ///< the whole forward, wall clock (steady_clock)
  double cpu_s = 0;                 ///< the whole forward, process CPU time (std::clock): robust on a shared machine
  double norm_s = 0;                ///< inside normalization and the residual adds fused with it
  std::vector<double> norm_call_s;  ///< norm_s call by call, in execution order
};

/// What every runner shares: the model it reads, its token capacity, the norm clock and the timed
/// frame of a forward pass. `Derived` names itself (`static constexpr const char* name`), lists its
/// norm nodes in execution order (`norms()`) and runs the body of a forward pass on the first
/// `tokens` positions (`run(inputs, tokens)`, private, with this class as a friend).
template <class Derived>
class runner_base {
 public:
  std::size_t capacity() const noexcept { return capacity_; }

  /// The kernel each norm node runs, in execution order.
  std::vector<op_kind> norm_kinds() const {
    std::vector<op_kind> kinds;
    for (const graph_norm* n : self().norms()) kinds.push_back(n->kind());
    return kinds;
  }

  /// One forward pass on `inputs` (the graph's inputs in node order) for the first `tokens`
  /// positions; the outputs stay in the runner (`outputs(tokens)`). Throws lnfold::error unless
  /// 1 <= tokens <= capacity().
  forward_times forward(const std::vector<tensor<float>>& inputs, std::size_t tokens) {
    m_.require(tokens >= 1 && tokens <= capacity_, "lnfold::runners::", Derived::name, ": tokens ", tokens,
               " not in [1, ", capacity_, "]");
    const auto t0 = std::chrono::steady_clock::now();
    const std::clock_t c0 = std::clock();
    clock_.reset();
    static_cast<Derived&>(*this).run(inputs, tokens);
    forward_times out;
    out.total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    out.norm_s = clock_.seconds();
    out.norm_call_s = clock_.call_seconds();
    out.cpu_s = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
    return out;
  }

 protected:
  runner_base(const graph& g, const weight_set<float>& w) : m_(g, w) {}
  const Derived& self() const { return static_cast<const Derived&>(*this); }

  model_ref m_;
  std::size_t capacity_ = 0;
  norm_clock clock_;
};

/// Scratch rows for norms_alone: x, residual and y of [rows, d].
struct norm_scratch {
  static constexpr float input_value = 1e-3f;  ///< small: the residual grows by x per call and must stay O(1)
  mat x, residual, y;
  norm_scratch(std::size_t rows, std::size_t d) {
    const auto r = static_cast<Eigen::Index>(rows), c = static_cast<Eigen::Index>(d);
    x = mat::Constant(r, c, input_value);
    residual = mat::Random(r, c);
    y.resize(r, c);
  }
};

/// The norm calls of `runner` alone, without the rest of the forward: each of its norm nodes, in
/// execution order, runs once on [tokens, d] rows of `scratch` (the same layer objects, kernels,
/// γ / β and clock as inside the forward), writing y into x as the forward does for its
/// `into_input` norms (x is then refilled, untimed, as the matrix product would), else into
/// scratch.y. Post-LN norms (`into_residual`) also write scratch.y, so the residual only ever
/// grows by x. Returns each call's seconds, in execution order: the kernel-level time the forward's
/// norm time is judged against. Throws lnfold::error if the scratch is not [>= tokens, d].
template <class Runner>
std::vector<double> norms_alone(const Runner& runner, std::size_t tokens, norm_scratch& scratch) {
  norm_clock clock;
  for (const graph_norm* n : runner.norms()) {
    lnfold::detail::require(n->features() == static_cast<std::size_t>(scratch.x.cols()) &&
                                tokens <= static_cast<std::size_t>(scratch.x.rows()),
                            "lnfold::runners::norms_alone: scratch of [", scratch.x.rows(), ", ", scratch.x.cols(),
                            "] for ", tokens, " rows of ", n->features());
    if (n->output() == norm_output::into_input) {
      n->residual(cref(scratch.x, tokens), ref(scratch.residual, tokens), ref(scratch.x, tokens), clock);
      scratch.x.topRows(static_cast<Eigen::Index>(tokens)).setConstant(norm_scratch::input_value);
    } else {
      n->residual(cref(scratch.x, tokens), ref(scratch.residual, tokens), ref(scratch.y, tokens), clock);
    }
  }
  return clock.call_seconds();
}

/// Element-wise minimum of per-call times over runs (`into` starts empty).
inline void keep_minima(std::vector<double>& into, const std::vector<double>& run) {
  if (into.empty()) into = run;
  for (std::size_t k = 0; k < into.size() && k < run.size(); ++k) into[k] = std::min(into[k], run[k]);
}

}  // namespace lnfold::runners
