// lnfold-demo: what converting LayerNorm to RMSNorm buys a real model shape, and proof that it is still
// the same model. For GPT-2 small (default), ViT-B/16 and BERT-base with seeded random weights:
//   1. the plan: how many LayerNorms fold, which sources are centered, how the tied head is handled;
//   2. the check: original vs converted outputs (max relative difference, argmax at every position);
//   3. the timing: whole forward and time inside normalization, before and after (median and min–max
//      of repeated interleaved runs after a warm-up), one table; then three RMSNorm / LayerNorm time
//      ratios measured in this process: the norm calls inside the forward, the same calls alone at the
//      model's shape, and bench_norm's fused kernels at 64 × 768, with what separates them. Reported,
//      not judged: on a shared machine noise moves them by more than the differences a pass/miss
//      word would decide. Only the output check decides the exit status.
// Usage: lnfold-demo [--model gpt2|vit|bert|all] [--tokens N] [--repeats N] [--tied rank1|untie]
//                    [--keep-affine] [--json]
// Progress goes to stderr; the report (text or JSON) to stdout. See docs/demo.md.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "lnfold/eval/compare.hpp"
#include "lnfold/norm/norm.hpp"
#include "lnfold/runners/models.hpp"

namespace {

namespace rn = lnfold::runners;

const auto demo_start = std::chrono::steady_clock::now();
std::string current_model;

void progress(const std::string& what) {
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - demo_start).count();
  std::fprintf(stderr, "\r\033[K[%5.1f s] %s: %s", s, current_model.c_str(), what.c_str());
  std::fflush(stderr);
}

struct options {
  std::vector<std::string> models{"gpt2"};
  std::size_t tokens = 128;
  bool tokens_given = false;
  int repeats = 7;
  lnfold::tied_policy tied = lnfold::tied_policy::rank1;
  bool fold_affine = true;  // --keep-affine: γ/β stay in the converted norms
  bool json = false;
};

struct stats {
  double median = 0, min = 0, max = 0;
};
stats summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return {n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), v.front(), v.back()};
}

struct result {
  std::string name, title;
  std::size_t tokens = 0;
  double max_rel_diff = 0;
  std::size_t argmax_same = 0, positions = 0;
  stats ln_ms, rms_ms, speedup, norm_before, norm_after, ln_cpu_ms, rms_cpu_ms, speedup_cpu;
  stats norm_ratio;                                        ///< per run: norm_after / norm_before inside the forward
  stats alone_ms_before, alone_ms_after, alone_run_ratio;  ///< the same norm calls alone (norms_alone), per run
  stats kernel_run_ratio;                                  ///< bench_norm's fused kernels, per repetition
  std::size_t converted_faster_runs = 0, runs = 0;         ///< runs in which the converted forward was faster
  // Σ over norm calls of each call's minimum over runs, ms: inside the forward and alone; and the
  // fused kernels' fastest time per call at bench_norm's shape, µs.
  double inside_before = 0, inside_after = 0, alone_before = 0, alone_after = 0, kernel_ln_us = 0, kernel_rms_us = 0;
  std::string plan_text;

  // Each ratio is converted / original of minima: on a shared machine noise only ever adds time (a
  // preemption inside one norm call adds milliseconds to a 2 ms total), so each call's fastest run is
  // the steadiest estimate of its cost; the medians and ranges of the per-run ratios go next to them.
  double inside_ratio() const { return inside_after / inside_before; }
  double alone_ratio() const { return alone_after / alone_before; }
  double kernel_ratio() const { return kernel_rms_us / kernel_ln_us; }
};

double total_ms(const std::vector<double>& seconds) {
  double s = 0;
  for (const double x : seconds) s += x;
  return s * 1e3;
}

/// The norm calls of both runners alone at the model's shape, interleaved, `reps` times after a
/// warm-up: the kernel-level time and RMS/LN ratio the forward's norm time is judged against.
template <class Runner>
void time_norms_alone(const Runner& original, const Runner& converted, std::size_t tokens, int reps, result& r) {
  rn::norm_scratch scratch(tokens, original.norms().front()->features());
  std::vector<double> before, after, ratio, min_before, min_after;
  for (int i = -1; i < reps; ++i) {
    const auto a = rn::norms_alone(original, tokens, scratch), c = rn::norms_alone(converted, tokens, scratch);
    if (i < 0) continue;
    before.push_back(total_ms(a));
    after.push_back(total_ms(c));
    ratio.push_back(after.back() / before.back());
    rn::keep_minima(min_before, a);
    rn::keep_minima(min_after, c);
  }
  r.alone_ms_before = summarize(before);
  r.alone_ms_after = summarize(after);
  r.alone_run_ratio = summarize(ratio);
  r.alone_before = total_ms(min_before);
  r.alone_after = total_ms(min_after);
}

/// bench_norm's kernel-level figure in this process: residual_add_rms_norm against residual_add_layer_norm
/// on 64 × 768 float rows with γ and β, in cache, as BM_residual_add_{rms,layer}_norm_simd/64/768
/// measure them (x with a mean of 0.5; x, the residual and y 17 cache lines apart modulo a page, as
/// bench_norm places them, so that no two streams alias). `reps` interleaved repetitions of a batch
/// of calls after a warm-up; the fastest batch of each kernel gives its time per call.
void time_kernels_like_bench_norm(int reps, result& r) {
  constexpr std::size_t rows = 64, d = 768, n = rows * d, gap = 17 * 64 / sizeof(float), calls = 20;
  std::vector<float> memory(3 * (n + gap) + 2 * d);
  std::mt19937 gen(42);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto& v : memory) v = normal(gen);
  float* const x = memory.data();
  float* const residual = x + n + gap;
  float* const y = residual + n + gap;
  float* const gamma = y + n + gap;
  float* const beta = gamma + d;
  for (std::size_t i = 0; i < n; ++i) x[i] += 0.5f;
  for (std::size_t i = 0; i < d; ++i) gamma[i] += 1.0f;
  const lnfold::matrix_ref<const float> xs(x, rows, d);
  const lnfold::matrix_ref<float> rs(residual, rows, d), ys(y, rows, d);
  const lnfold::norm_affine<float> w{gamma, beta};
  const auto per_call_us = [&](auto&& kernel) {
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t c = 0; c < calls; ++c) kernel();
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() / calls;
  };
  std::vector<double> ratio;
  double ln_min = 0, rms_min = 0;
  for (int i = -1; i < reps; ++i) {
    const double ln = per_call_us([&] { lnfold::residual_add_layer_norm(xs, rs, ys, w, 1e-5); });
    const double rms = per_call_us([&] { lnfold::residual_add_rms_norm(xs, rs, ys, w, 1e-5); });
    if (i < 0) continue;
    ratio.push_back(rms / ln);
    ln_min = i == 0 ? ln : std::min(ln_min, ln);
    rms_min = i == 0 ? rms : std::min(rms_min, rms);
  }
  r.kernel_run_ratio = summarize(ratio);
  r.kernel_ln_us = ln_min;
  r.kernel_rms_us = rms_min;
}

/// Positions (rows along the last axis) where both outputs have the same argmax.
std::pair<std::size_t, std::size_t> argmax_agreement(const std::vector<lnfold::tensor<float>>& a,
                                                     const std::vector<lnfold::tensor<float>>& b) {
  std::size_t same = 0, total = 0;
  for (std::size_t k = 0; k < a.size(); ++k) {
    const auto d = static_cast<std::size_t>(a[k].dims().back());
    for (std::size_t r = 0; r * d < a[k].size(); ++r) {
      const float* x = a[k].data() + r * d;
      const float* y = b[k].data() + r * d;
      same += (std::max_element(x, x + d) - x) == (std::max_element(y, y + d) - y) ? 1u : 0u;
      ++total;
    }
  }
  return {same, total};
}

std::string plan_summary(const lnfold::graph& g, const lnfold::fold_plan& plan, const lnfold::apply_summary& s,
                         const lnfold::graph& converted) {
  std::ostringstream out;
  out << "  plan:   " << plan.foldable_count() << " of " << plan.lns.size() << " LayerNorms fold to RMSNorm";
  if (plan.foldable_count() < plan.lns.size()) out << " (" << plan.lns.size() - plan.foldable_count() << " kept)";
  const auto zeroed = static_cast<std::size_t>(
      std::count_if(s.centered.begin(), s.centered.end(), [](const lnfold::centered_record& c) { return !c.axis; }));
  out << "\n  center: " << s.centered.size() - zeroed << " parameters of " << plan.sources.size() << " sources";
  std::size_t shown = 0;
  for (const auto& src : plan.sources) {
    if (shown == 4) {
      out << ", ...";
      break;
    }
    out << (shown++ ? ", " : " (") << g.node_name(src.node);
  }
  if (shown) out << (shown < 4 ? ")" : ")");
  if (zeroed) out << "; " << zeroed << " broadcast constants zeroed";
  out << "\n  tied:   ";
  if (plan.tied.empty()) out << "no tied parameter in a folded region";
  for (const auto& t : plan.tied) {
    out << g.param_name(t.param) << " (" << g.node_name(t.source_use) << " / " << g.node_name(t.other_use) << "): ";
    if (t.resolution == lnfold::tied_policy::rank1 && !s.rank1.empty())
      out << "rank-1 compensation, tie kept; logits += (Σh)·m with " << converted.param_shape(s.rank1.front().means)[0]
          << " stored means";
    else if (t.resolution == lnfold::tied_policy::untie)
      out << "untied: the embedding gets a centered copy, the head keeps the original";
    else out << "refused";
  }
  out << "\n  affine: γ/β folded into the following linear for " << s.affine_folded.size() << " of "
      << s.converted.size() << " converted norms\n";
  return out.str();
}

template <class Runner>
result run_model(const std::string& name, const std::string& title, lnfold::graph g, std::size_t tokens,
                 const options& o) {
  current_model = name;
  progress("building");
  auto b = rn::make_bundle<Runner>(std::move(g), {.tied = o.tied, .fold_affine = o.fold_affine}, progress);
  result r;
  r.name = name;
  r.title = title;
  r.tokens = tokens;
  r.plan_text = plan_summary(b->g, b->plan, b->converted.summary, b->converted.g);

  progress("checking outputs");
  b->original_runner->forward(b->inputs, tokens);
  b->converted_runner->forward(b->inputs, tokens);
  const auto before = b->original_runner->outputs(tokens), after = b->converted_runner->outputs(tokens);
  r.max_rel_diff = lnfold::max_rel_diff(before, after);
  std::tie(r.argmax_same, r.positions) = argmax_agreement(before, after);

  progress("the norm calls alone");
  time_norms_alone(*b->original_runner, *b->converted_runner, tokens, 31, r);
  progress("the fused kernels at bench_norm's shape");
  time_kernels_like_bench_norm(31, r);

  std::vector<double> ln_ms, rms_ms, ratio, nb, na, norm_ratio, lc, rc, ratio_cpu, calls_before, calls_after;
  for (int i = -1; i < o.repeats; ++i) {  // i = -1: warm-up (one more run of each)
    progress("timing run " + std::to_string(i + 2) + "/" + std::to_string(o.repeats + 1));
    const auto a = b->original_runner->forward(b->inputs, tokens);
    const auto c = b->converted_runner->forward(b->inputs, tokens);
    if (i < 0) continue;
    ln_ms.push_back(a.total_s * 1e3);
    rms_ms.push_back(c.total_s * 1e3);
    ratio.push_back(a.total_s / c.total_s);
    nb.push_back(a.norm_s * 1e3);
    na.push_back(c.norm_s * 1e3);
    norm_ratio.push_back(c.norm_s / a.norm_s);
    rn::keep_minima(calls_before, a.norm_call_s);
    rn::keep_minima(calls_after, c.norm_call_s);
    lc.push_back(a.cpu_s * 1e3);
    rc.push_back(c.cpu_s * 1e3);
    ratio_cpu.push_back(a.cpu_s / c.cpu_s);
    r.converted_faster_runs += c.total_s < a.total_s ? 1u : 0u;
    ++r.runs;
  }
  r.ln_cpu_ms = summarize(lc);
  r.rms_cpu_ms = summarize(rc);
  r.speedup_cpu = summarize(ratio_cpu);
  r.ln_ms = summarize(ln_ms);
  r.rms_ms = summarize(rms_ms);
  r.speedup = summarize(ratio);
  r.norm_before = summarize(nb);
  r.norm_after = summarize(na);
  r.norm_ratio = summarize(norm_ratio);
  r.inside_before = total_ms(calls_before);
  r.inside_after = total_ms(calls_after);
  return r;
}

void print_text(const std::vector<result>& results, const options& o) {
  for (const auto& r : results) {
    std::printf("%s, %zu tokens, batch 1, float, 1 thread\n%s", r.title.c_str(), r.tokens, r.plan_text.c_str());
    std::printf("  check:  max relative difference of the outputs %.2g (float); argmax identical at %zu of %zu "
                "positions: %s\n\n",
                r.max_rel_diff, r.argmax_same, r.positions,
                r.max_rel_diff <= 1e-4 && r.argmax_same == r.positions ? "same model" : "MISMATCH");
  }
  std::printf(
      "Median of %d interleaved runs after a warm-up; [min-max]. forward and norm: wall clock; CPU time: "
      "std::clock of the whole forward. norm = inside LayerNorm/RMSNorm and the residual adds fused with them.\n",
      o.repeats);
  std::printf("%-6s %6s  %-24s %-24s %-20s %-20s %-22s %-22s %s\n", "model", "tokens", "forward LN (ms)",
              "forward RMS (ms)", "speedup", "speedup (CPU time)", "norm LN (ms)", "norm RMS (ms)", "norm share");
  for (const auto& r : results) {
    char a[64], b[64], c[64], d[64], e[64], f[64];
    std::snprintf(f, sizeof f, "%.3f [%.3f-%.3f]", r.speedup_cpu.median, r.speedup_cpu.min, r.speedup_cpu.max);
    std::snprintf(a, sizeof a, "%.1f [%.1f-%.1f]", r.ln_ms.median, r.ln_ms.min, r.ln_ms.max);
    std::snprintf(b, sizeof b, "%.1f [%.1f-%.1f]", r.rms_ms.median, r.rms_ms.min, r.rms_ms.max);
    std::snprintf(c, sizeof c, "%.3f [%.3f-%.3f]", r.speedup.median, r.speedup.min, r.speedup.max);
    std::snprintf(d, sizeof d, "%.3f [%.3f-%.3f]", r.norm_before.median, r.norm_before.min, r.norm_before.max);
    std::snprintf(e, sizeof e, "%.3f [%.3f-%.3f]", r.norm_after.median, r.norm_after.min, r.norm_after.max);
    std::printf("%-6s %6zu  %-24s %-24s %-20s %-20s %-22s %-22s %.2f%%\n", r.name.c_str(), r.tokens, a, b, c, f, d, e,
                100.0 * r.norm_before.median / r.ln_ms.median);
  }
  std::printf("\nnorm share = norm LN / forward LN: no change to normalization can speed the forward up by more "
              "than 1/(1 - share). The converted forward was the faster of its interleaved pair in");
  for (const auto& r : results)
    std::printf("%s %zu of %zu runs (%s)", &r == &results.front() ? "" : ",", r.converted_faster_runs, r.runs,
                r.name.c_str());
  std::printf(".\n");

  std::printf(
      "\nNormalization time, converted / original (RMS/LN; below 1: the converted norms are faster), three ways "
      "in this process:\n"
      "  inside = the norm calls of the forward passes (%d runs), alone = the same calls back to back at the "
      "model's [tokens, d] (31 runs),\n"
      "  ms = sum over the norm calls of each call's fastest run; kernel = bench_norm's "
      "BM_residual_add_{rms,layer}_norm_simd/64/768, µs per call of the fastest of 31 batches.\n"
      "  The ratio of the fastest times comes first, then the median [min-max] of the per-run ratios.\n",
      o.repeats);
  std::printf("%-6s %6s  %-10s %-10s %-30s %-10s %-10s %-30s %-8s %-8s %s\n", "model", "tokens", "inside LN",
              "inside RMS", "inside RMS/LN", "alone LN", "alone RMS", "alone RMS/LN", "kern LN", "kern RMS",
              "kernel RMS/LN");
  for (const auto& r : results) {
    char a[64], b[64], c[64];
    std::snprintf(a, sizeof a, "%.3f (%.3f [%.3f-%.3f])", r.inside_ratio(), r.norm_ratio.median, r.norm_ratio.min,
                  r.norm_ratio.max);
    std::snprintf(b, sizeof b, "%.3f (%.3f [%.3f-%.3f])", r.alone_ratio(), r.alone_run_ratio.median,
                  r.alone_run_ratio.min, r.alone_run_ratio.max);
    std::snprintf(c, sizeof c, "%.3f (%.3f [%.3f-%.3f])", r.kernel_ratio(), r.kernel_run_ratio.median,
                  r.kernel_run_ratio.min, r.kernel_run_ratio.max);
    std::printf("%-6s %6zu  %-10.3f %-10.3f %-30s %-10.3f %-10.3f %-30s %-8.2f %-8.2f %s\n", r.name.c_str(), r.tokens,
                r.inside_before, r.inside_after, a, r.alone_before, r.alone_after, b, r.kernel_ln_us, r.kernel_rms_us,
                c);
  }
  std::printf(
      "\nWhat separates them (docs/demo.md): kernel is what RMSNorm saves in arithmetic, every operand in cache. "
      "alone is the model's own\nnorm calls: its [tokens, d], and converted norms that read no gamma/beta where "
      "affine folding moved them into the next linear.\ninside adds the forward's cache state: between two norms "
      "the matrix products stream megabytes of weights, so the residual\nstream comes back from L3 or memory, and "
      "those bytes cost LayerNorm and RMSNorm the same: the more of a call is memory, the closer\nits ratio is to "
      "1. The ranges show how far this machine's noise moves each ratio from run to run.\n");
}

void print_json(const std::vector<result>& results) {
  std::printf("{\"models\": [");
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    std::printf(
        "%s\n  {\"name\": \"%s\", \"tokens\": %zu, \"max_rel_diff\": %.3g, \"argmax_equal\": %s, "
        "\"ln_ms\": %.3f, \"rms_ms\": %.3f, \"speedup\": %.4f, \"norm_ms_before\": %.4f, "
        "\"norm_ms_after\": %.4f, \"norm_share\": %.5f, "
        "\"ln_ms_range\": [%.3f, %.3f], \"rms_ms_range\": [%.3f, %.3f], \"speedup_range\": [%.4f, %.4f], "
        "\"norm_ms_before_range\": [%.4f, %.4f], \"norm_ms_after_range\": [%.4f, %.4f], "
        "\"ln_cpu_ms\": %.3f, \"rms_cpu_ms\": %.3f, \"speedup_cpu\": %.4f, \"speedup_cpu_range\": [%.4f, %.4f], "
        "\"converted_faster_runs\": %zu, \"runs\": %zu, \"inside_norm_ms_before\": %.4f, "
        "\"inside_norm_ms_after\": %.4f, \"inside_ratio\": %.4f, \"inside_ratio_median\": %.4f, "
        "\"inside_ratio_range\": [%.4f, %.4f], \"alone_norm_ms_before\": %.4f, \"alone_norm_ms_after\": %.4f, "
        "\"alone_ratio\": %.4f, \"alone_ratio_median\": %.4f, \"alone_ratio_range\": [%.4f, %.4f], "
        "\"kernel_us_ln\": %.3f, \"kernel_us_rms\": %.3f, \"kernel_ratio\": %.4f, "
        "\"kernel_ratio_median\": %.4f, \"kernel_ratio_range\": [%.4f, %.4f]}",
        i ? "," : "", r.name.c_str(), r.tokens, r.max_rel_diff, r.argmax_same == r.positions ? "true" : "false",
        r.ln_ms.median, r.rms_ms.median, r.speedup.median, r.norm_before.median, r.norm_after.median,
        r.norm_before.median / r.ln_ms.median, r.ln_ms.min, r.ln_ms.max, r.rms_ms.min, r.rms_ms.max, r.speedup.min,
        r.speedup.max, r.norm_before.min, r.norm_before.max, r.norm_after.min, r.norm_after.max, r.ln_cpu_ms.median,
        r.rms_cpu_ms.median, r.speedup_cpu.median, r.speedup_cpu.min, r.speedup_cpu.max, r.converted_faster_runs,
        r.runs, r.inside_before, r.inside_after, r.inside_ratio(), r.norm_ratio.median, r.norm_ratio.min,
        r.norm_ratio.max, r.alone_before, r.alone_after, r.alone_ratio(), r.alone_run_ratio.median,
        r.alone_run_ratio.min, r.alone_run_ratio.max, r.kernel_ln_us, r.kernel_rms_us, r.kernel_ratio(),
        r.kernel_run_ratio.median, r.kernel_run_ratio.min, r.kernel_run_ratio.max);
  }
  std::printf("\n]}\n");
}

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "lnfold-demo: %s\nusage: lnfold-demo [--model gpt2|vit|bert|all] [--tokens N] [--repeats N] "
               "[--tied rank1|untie] [--keep-affine] [--json]\n",
               why);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) usage("missing value");
      return argv[++i];
    };
    if (a == "--model") {
      const auto m = value();
      if (m == "all") o.models = {"gpt2", "vit", "bert"};
      else if (m == "gpt2" || m == "vit" || m == "bert") o.models = {std::string(m)};
      else usage("unknown model");
    } else if (a == "--tokens") {
      o.tokens = static_cast<std::size_t>(std::strtoul(std::string(value()).c_str(), nullptr, 10));
      o.tokens_given = true;
      if (o.tokens < 1 || o.tokens > 512) usage("--tokens must be in [1, 512]");
    } else if (a == "--repeats") {
      o.repeats = std::atoi(std::string(value()).c_str());
      if (o.repeats < 1) usage("--repeats must be >= 1");
    } else if (a == "--tied") {
      const auto t = value();
      if (t == "rank1") o.tied = lnfold::tied_policy::rank1;
      else if (t == "untie") o.tied = lnfold::tied_policy::untie;
      else usage("--tied takes rank1 or untie");
    } else if (a == "--keep-affine") {
      o.fold_affine = false;
    } else if (a == "--json") {
      o.json = true;
    } else {
      usage("unknown argument");
    }
  }
  rn::keep_freed_memory_mapped();
  std::vector<result> results;
  try {
    for (const auto& m : o.models) {
      if (m == "gpt2")
        results.push_back(run_model<rn::gpt2_runner>("gpt2",
                                                     "GPT-2 small (12 layers, d 768, 12 heads, vocab 50257, tied head)",
                                                     rn::gpt2_small_graph(o.tokens), o.tokens, o));
      else if (m == "vit")  // ViT-B/16 at 224 px: 197 tokens; --tokens N < 197 runs the first N
        results.push_back(run_model<rn::vit_runner>("vit", "ViT-B/16 (12 layers, d 768, 224 px)", rn::vit_base_graph(),
                                                    o.tokens_given ? std::min<std::size_t>(o.tokens, 197) : 197, o));
      else
        results.push_back(run_model<rn::bert_runner>("bert", "BERT-base (12 layers, d 768, post-LN)",
                                                     rn::bert_base_graph(o.tokens), o.tokens, o));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "\nlnfold-demo: %s\n", e.what());
    return 1;
  }
  current_model = "done";
  progress("");
  std::fprintf(stderr, "\n");
  if (o.json) print_json(results);
  else print_text(results, o);
  bool ok = true;
  for (const auto& r : results) ok = ok && r.max_rel_diff <= 1e-4 && r.argmax_same == r.positions;
  return ok ? 0 : 1;
}
