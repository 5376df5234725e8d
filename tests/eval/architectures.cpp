// Every architecture's tiny() config (and every edge-case graph) evaluates with random weights and
// inputs to finite outputs of the declared shapes, in float and in double, and the two agree.
#include "lnfold/graph/architectures.hpp"
#include "lnfold/eval/evaluate.hpp"
#include "lnfold/eval/random.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using lnfold::graph;
using lnfold::tensor;

namespace {

struct arch_case {
  const char* name;
  graph (*build)();
};

const std::vector<arch_case>& tiny_architectures() {
  static const std::vector<arch_case> cases{
      {"gpt2", [] { return lnfold::build_gpt2(lnfold::gpt2_config::tiny()); }},
      {"opt", [] { return lnfold::build_opt(lnfold::opt_config::tiny()); }},
      {"gptj", [] { return lnfold::build_gptj(lnfold::gptj_config::tiny()); }},
      {"bert", [] { return lnfold::build_bert(lnfold::bert_config::tiny()); }},
      {"vit", [] { return lnfold::build_vit(lnfold::vit_config::tiny()); }},
      {"clip-vision", [] { return lnfold::build_clip_vision(lnfold::clip_vision_config::tiny()); }},
      {"whisper-encoder", [] { return lnfold::build_whisper_encoder(lnfold::whisper_encoder_config::tiny()); }},
      {"whisper-decoder", [] { return lnfold::build_whisper_decoder(lnfold::whisper_decoder_config::tiny()); }},
      {"swin", [] { return lnfold::build_swin(lnfold::swin_config::tiny()); }},
      {"convnext", [] { return lnfold::build_convnext(lnfold::convnext_config::tiny()); }},
  };
  return cases;
}

template <class T>
bool all_finite(const tensor<T>& t) {
  return std::all_of(t.values().begin(), t.values().end(), [](T v) { return std::isfinite(v); });
}

/// Nodes on the longest input-to-node path: how many times a value is rounded to T before it arrives.
std::size_t depth(const graph& g, lnfold::node_id n) {
  std::vector<std::size_t> d(g.node_count(), 1);
  for (lnfold::node_id v = 0; v < g.node_count(); ++v)
    for (auto in : g.node_inputs(v)) d[v] = std::max(d[v], d[in] + 1);
  return d[n];
}

double rms(const tensor<double>& t) {
  double s = 0.0;
  for (double v : t.values()) s += v * v;
  return std::sqrt(s / static_cast<double>(std::max<std::size_t>(t.size(), 1)));
}

}  // namespace

TEMPLATE_TEST_CASE("every tiny architecture evaluates to finite outputs of the declared shapes", "[eval][arch]", float,
                   double) {
  for (const auto& c : tiny_architectures()) {
    INFO("architecture " << c.name);
    const graph g = c.build();
    const auto weights = lnfold::random_weights<TestType>(g, 7);
    const auto inputs = lnfold::random_inputs<TestType>(g, 8);
    const auto values = lnfold::evaluate<TestType>(g, weights, inputs);
    REQUIRE(values.size() == g.node_count());
    const auto outputs = lnfold::graph_output_nodes(g);
    REQUIRE_FALSE(outputs.empty());
    for (auto n : outputs) {
      INFO("output " << g.node_name(n));
      CHECK(values[n].dims() == g.node_shape(n).value());
      CHECK(all_finite(values[n]));
      CHECK(rms(lnfold::tensor<double>(
                values[n].dims(), std::vector<double>(values[n].values().begin(), values[n].values().end()))) > 0.01);
    }
    // Every intermediate value is finite and has its declared shape (evaluate checks the shapes).
    for (lnfold::node_id n = 0; n < g.node_count(); ++n) {
      INFO("node " << g.node_name(n));
      CHECK(all_finite(values[n]));
    }
  }
}

TEST_CASE("float and double evaluations of every tiny architecture agree", "[eval][arch]") {
  const std::uint64_t seed = GENERATE(11u, 23u, 37u, 41u, 59u);
  for (const auto& c : tiny_architectures()) {
    INFO("architecture " << c.name);
    const graph g = c.build();
    const auto wf = lnfold::random_weights<float>(g, seed);
    const auto wd = lnfold::random_weights<double>(g, seed);
    const auto xf = lnfold::random_inputs<float>(g, seed + 1);
    const auto xd = lnfold::random_inputs<double>(g, seed + 1);
    const auto of = lnfold::evaluate_outputs<float>(g, wf, xf);
    const auto od = lnfold::evaluate_outputs<double>(g, wd, xd);
    REQUIRE(of.size() == od.size());
    for (std::size_t k = 0; k < of.size(); ++k) {
      const double scale = std::max(1.0, rms(od[k]));
      double worst = 0.0;
      for (std::size_t i = 0; i < od[k].size(); ++i)
        worst = std::max(worst, std::abs(static_cast<double>(of[k][i]) - od[k][i]) / scale);
      // Each node rounds its value to float once (relative error <= u = 2^-24; sums and dot products
      // accumulate in double, so no error grows with the reduction length) and the weights are rounded
      // once. Every op on the path passes an incoming relative error on with a gain of O(1): the norms
      // renormalize, the linears' N(0, 1/fan_in) weights preserve norms, softmax and the activations
      // are 1-Lipschitz up to ~1.1. So the difference, relative to max(1, rms) of the output, stays
      // below c·u·depth with depth the longest path of roundings; over seeds the measured c is <= 1.3,
      // and c = 8 leaves room for other seeds while a single wrong op (an error of O(1)) cannot pass.
      const double tolerance = 8.0 * 0x1p-24 * static_cast<double>(depth(g, lnfold::graph_output_nodes(g)[k]));
      INFO("output " << k << ": worst difference / max(1, rms) = " << worst << ", tolerance " << tolerance);
      CHECK(worst <= tolerance);
    }
  }
}

TEMPLATE_TEST_CASE("every edge-case graph evaluates, except the one with an unknown op", "[eval][arch]", float,
                   double) {
  for (const auto& c : lnfold::edge_cases::all()) {
    INFO("edge case " << c.name);
    const graph g = c.build();
    const auto weights = lnfold::random_weights<TestType>(g, 3);
    const auto inputs = lnfold::random_inputs<TestType>(g, 4);
    if (c.name == std::string_view("unknown_op_upstream")) {
      CHECK_THROWS_AS(lnfold::evaluate<TestType>(g, weights, inputs), lnfold::error);
      continue;
    }
    const auto outputs = lnfold::evaluate_outputs<TestType>(g, weights, inputs);
    const auto nodes = lnfold::graph_output_nodes(g);
    REQUIRE(outputs.size() == nodes.size());
    for (std::size_t k = 0; k < outputs.size(); ++k) {
      CHECK(outputs[k].dims() == g.node_shape(nodes[k]).value());
      CHECK(all_finite(outputs[k]));
    }
  }
}
