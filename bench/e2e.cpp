// bench_e2e: whole forward passes with lnfold's layers (Eigen GEMM, SIMD norms), single thread, batch 1.
//
//   BM_<model>/<variant>/<tokens>   model ∈ {gpt2, vit, bert}: GPT-2 small, ViT-B/16 at 384 px (577
//                                   tokens, run on the first 32 / 128 / 512), BERT-base;
//                                   tokens ∈ {32, 128, 512}
//   BM_sweep/<variant>/<d>/<tokens> a 4-layer pre-LN stack (GPT-2 blocks, d/64 heads, vocab 256) for
//                                   d ∈ {64 … 1024}: where normalization is a visible share
//   BM_<model>/norms_alone/<original|converted>/<tokens>
//                                   the model's norm calls alone, back to back on [tokens, d] rows
//                                   (runners' norms_alone): the kernel-level time at the model's shape
//                                   that the forward's norm_ms is judged against
// variant: original (LayerNorm, fused residual adds), converted (what find_foldable + apply_fold_plan
// return: RMSNorm, rank-1 tied head, γ/β folded into the following linears), no_norm (the original with every norm removed, residual adds
// kept: the limit of any normalization optimisation). Every model is built once, on first use, with
// seeded random weights (GPT-2 small takes ~10 s to build). Counters: norm_ms = time inside norms
// and the residual adds fused with them, per forward; norm_share = norm_ms / forward time.
// Ratios within one run (original / converted) are the figures to read. See docs/demo.md.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lnfold/runners/models.hpp"

namespace {

namespace rn = lnfold::runners;

enum variant : std::int64_t { original = 0, converted = 1, no_norm = 2 };

template <class Runner>
Runner& pick(rn::model_bundle<Runner>& b, std::int64_t v) {
  return v == original ? *b.original_runner : v == converted ? *b.converted_runner : *b.no_norm_runner;
}

template <class Runner>
void run(benchmark::State& state, rn::model_bundle<Runner>& b, std::int64_t v, std::size_t tokens) {
  Runner& r = pick(b, v);
  r.forward(b.inputs, tokens);  // warm-up: first touch of buffers and weights
  double norm_s = 0, total_s = 0;
  for (auto _ : state) {
    const auto t = r.forward(b.inputs, tokens);
    norm_s += t.norm_s;
    total_s += t.total_s;
  }
  state.counters["norm_ms"] = benchmark::Counter(norm_s * 1e3, benchmark::Counter::kAvgIterations);
  state.counters["norm_share"] = norm_s / total_s;
}

template <class Runner>
void run_norms_alone(benchmark::State& state, rn::model_bundle<Runner>& b, std::int64_t v, std::size_t tokens) {
  const Runner& r = pick(b, v);
  rn::norm_scratch scratch(tokens, r.norms().front()->features());
  double norm_s = 0;
  for (auto _ : state)
    for (const double call : rn::norms_alone(r, tokens, scratch)) norm_s += call;
  state.counters["norm_ms"] = benchmark::Counter(norm_s * 1e3, benchmark::Counter::kAvgIterations);
}

rn::model_bundle<rn::gpt2_runner>& gpt2() {
  static const auto b = rn::make_bundle<rn::gpt2_runner>(rn::gpt2_small_graph(512), {}, nullptr);
  return *b;
}
rn::model_bundle<rn::vit_runner>& vit() {
  static const auto b = rn::make_bundle<rn::vit_runner>(rn::vit_base_graph(384), {}, nullptr);
  return *b;
}
rn::model_bundle<rn::bert_runner>& bert() {
  static const auto b = rn::make_bundle<rn::bert_runner>(rn::bert_base_graph(512), {}, nullptr);
  return *b;
}
rn::model_bundle<rn::gpt2_runner>& stack(std::int64_t d) {
  static std::map<std::int64_t, std::unique_ptr<rn::model_bundle<rn::gpt2_runner>>> cache;
  auto& b = cache[d];
  if (!b)
    b = rn::make_bundle<rn::gpt2_runner>(
        lnfold::build_gpt2({.layers = 4, .d = d, .heads = d / 64, .vocab = 256, .positions = 512, .seq = 512}), {},
        nullptr);
  return *b;
}

const char* variant_name(std::int64_t v) {
  return v == original ? "original" : v == converted ? "converted" : "no_norm";
}

// Names like BM_gpt2/original/128 (Google Benchmark appends /real_time: wall time is what is timed,
// as the runners' norm clock does).
// With --benchmark_repetitions, a "min" aggregate is reported besides mean / median / stddev: on a
// shared machine the noise only ever adds time, so the minimum is the steadiest estimate of the cost.
template <class Fn>
void add(const std::string& name, Fn fn) {
  benchmark::RegisterBenchmark(name.c_str(), fn)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->ComputeStatistics("min", [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); });
}

const bool registered = [] {
  rn::keep_freed_memory_mapped();
  for (std::int64_t tokens : {32, 128, 512})
    for (std::int64_t v : {original, converted, no_norm}) {
      const std::string tail = std::string("/") + variant_name(v) + "/" + std::to_string(tokens);
      const auto t = static_cast<std::size_t>(tokens);
      add("BM_gpt2" + tail, [=](benchmark::State& s) { run(s, gpt2(), v, t); });
      add("BM_vit" + tail, [=](benchmark::State& s) { run(s, vit(), v, t); });
      add("BM_bert" + tail, [=](benchmark::State& s) { run(s, bert(), v, t); });
      if (v == no_norm) continue;
      const std::string alone = std::string("/norms_alone/") + variant_name(v) + "/" + std::to_string(tokens);
      add("BM_gpt2" + alone, [=](benchmark::State& s) { run_norms_alone(s, gpt2(), v, t); });
      add("BM_vit" + alone, [=](benchmark::State& s) { run_norms_alone(s, vit(), v, t); });
      add("BM_bert" + alone, [=](benchmark::State& s) { run_norms_alone(s, bert(), v, t); });
    }
  for (std::int64_t d : {64, 128, 256, 512, 1024})
    for (std::int64_t tokens : {32, 128, 512})
      for (std::int64_t v : {original, converted, no_norm})
        add(std::string("BM_sweep/") + variant_name(v) + "/" + std::to_string(d) + "/" + std::to_string(tokens),
            [=](benchmark::State& s) { run(s, stack(d), v, static_cast<std::size_t>(tokens)); });
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
