// random_weights / random_inputs: deterministic, portable, in the documented ranges and scales.
#include "lnfold/eval/random.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <vector>

#include "lnfold/eval/compare.hpp"
#include "lnfold/eval/evaluate.hpp"
#include "lnfold/graph/architectures.hpp"

using lnfold::graph;
using lnfold::graph_builder;
using lnfold::node_id;
using lnfold::tensor;

namespace {

struct stats {
  double mean = 0, var = 0;
};
template <class Range>
stats stats_of(const Range& values) {
  stats s;
  double n = 0;
  for (auto v : values) {
    s.mean += static_cast<double>(v);
    ++n;
  }
  s.mean /= n;
  for (auto v : values) s.var += (static_cast<double>(v) - s.mean) * (static_cast<double>(v) - s.mean);
  s.var /= n;
  return s;
}

}  // namespace

TEST_CASE("random_source: N(0,1) moments, unbiased integers, and a fixed sequence", "[eval][random]") {
  lnfold::detail::eval::random_source rng(42, 0);
  std::vector<double> xs(200000);
  for (auto& x : xs) x = rng.normal();
  const stats s = stats_of(xs);
  // Standard errors: mean 1/sqrt(n) ≈ 0.0022, variance sqrt(2/n) ≈ 0.0032; 5 sigma bounds.
  CHECK(std::abs(s.mean) < 0.012);
  CHECK(std::abs(s.var - 1.0) < 0.016);
  const double tail = static_cast<double>(
      std::count_if(xs.begin(), xs.end(), [](double x) { return std::abs(x) > 1.96; }));
  CHECK(tail / static_cast<double>(xs.size()) == Approx(0.05).margin(0.003));

  std::vector<int> counts(7, 0);
  for (int i = 0; i < 70000; ++i) ++counts[static_cast<std::size_t>(rng.below(7))];
  for (int c : counts) CHECK(std::abs(c - 10000) < 500);  // ~5 sigma

  // The same (seed, stream) gives the same sequence; another stream another one. mt19937_64 is fully
  // specified by the standard, and the transform is ours, so these hold on every standard library.
  lnfold::detail::eval::random_source a(7, 3), b(7, 3), c(7, 4);
  const double a0 = a.normal(), a1 = a.normal();
  CHECK(a0 == b.normal());
  CHECK(a1 == b.normal());
  CHECK(a0 != c.normal());
}

TEMPLATE_TEST_CASE("random weights and inputs are deterministic per seed and float is double rounded", "[eval][random]",
                   float, double) {
  const graph g = lnfold::build_gpt2(lnfold::gpt2_config::tiny());
  const auto w1 = lnfold::random_weights<TestType>(g, 5), w2 = lnfold::random_weights<TestType>(g, 5);
  const auto w3 = lnfold::random_weights<TestType>(g, 6);
  const auto wd = lnfold::random_weights<double>(g, 5);
  REQUIRE(w1.size() == g.param_count());
  for (lnfold::param_id p = 0; p < g.param_count(); ++p) {
    INFO("param " << g.param_name(p));
    CHECK(w1[p].dims() == g.param_shape(p));
    CHECK(std::equal(w1[p].values().begin(), w1[p].values().end(), w2[p].values().begin()));
    if (w1[p].size() > 1) CHECK_FALSE(std::equal(w1[p].values().begin(), w1[p].values().end(), w3[p].values().begin()));
    for (std::size_t i = 0; i < wd[p].size(); ++i) CHECK(w1[p][i] == static_cast<TestType>(wd[p][i]));
  }
  const auto x1 = lnfold::random_inputs<TestType>(g, 5), x2 = lnfold::random_inputs<TestType>(g, 5);
  REQUIRE(x1.size() == 2);
  for (std::size_t k = 0; k < x1.size(); ++k)
    CHECK(std::equal(x1[k].values().begin(), x1[k].values().end(), x2[k].values().begin()));
}

TEST_CASE("id inputs are integers covering the row range of the tables they index", "[eval][random]") {
  // BERT: 64 words, 2 token types, 64 positions; OPT's position table has positions + 2 rows.
  const graph bert = lnfold::build_bert(
      {.layers = 1, .d = 16, .heads = 2, .ffn = 32, .vocab = 64, .positions = 64, .seq = 64, .batch = 4});
  const auto in = lnfold::random_inputs<double>(bert, 3);
  REQUIRE(in.size() == 3);
  const auto range = [](const tensor<double>& t) {
    std::set<double> seen(t.values().begin(), t.values().end());
    for (double v : seen) CHECK(v == std::trunc(v));
    return seen;
  };
  const auto words = range(in[0]), types = range(in[1]), positions = range(in[2]);
  CHECK(*words.begin() >= 0);
  CHECK(*words.rbegin() <= 63);
  CHECK(words.size() > 50);  // 256 draws from 64 values
  CHECK(types == std::set<double>{0, 1});
  CHECK(*positions.rbegin() <= 63);

  const graph opt = lnfold::build_opt(lnfold::opt_config::tiny());
  const auto opt_in = lnfold::random_inputs<double>(opt, 3);
  CHECK(*std::max_element(opt_in[1].values().begin(), opt_in[1].values().end()) <= 33);

  // An id input reaching its embedding through a reshape is still found.
  graph g;
  graph_builder b(g);
  const node_id ids = b.input("ids", {2, 4});
  b.output(b.embedding("emb", b.reshape("flat", ids, {8}), 3, 2));
  const auto flat_in = lnfold::random_inputs<float>(g, 9);
  for (float v : flat_in[0].values()) CHECK((v == 0.0f || v == 1.0f || v == 2.0f));
}

TEST_CASE("weights follow the documented scales per role", "[eval][random]") {
  graph g;
  graph_builder b(g);
  const node_id ids = b.input("ids", {1, 4});
  const node_id table = b.embedding("table", ids, 512, 256);
  const node_id ln = b.layer_norm("ln", table);
  const node_id fc = b.linear("fc", ln, 256);
  const node_id fc_t = b.linear("fc_t", fc, 128, {.layout = lnfold::weight_layout::in_out});
  const node_id scale = b.constant("ls.gamma", {128});
  const node_id scaled = b.mul("ls", fc_t, scale);
  const node_id pos = b.constant("pos", {1, 4, 128});
  b.output(b.add("out", scaled, pos));
  const auto w = lnfold::random_weights<double>(g, 77);
  const auto at = [&](const char* name) -> const tensor<double>& { return w[g.find_param(name)]; };

  // Linear weights: variance (1 + 0.25) / fan_in over all elements, of which 0.25/fan_in is the
  // per-input-column offset shared by every output.
  const stats fc_w = stats_of(at("fc.weight").values());
  CHECK(fc_w.var * 256 == Approx(1.25).epsilon(0.1));
  std::vector<double> column_means(256, 0.0);  // fc.weight is [out, in]: a column is one input
  for (std::size_t o = 0; o < 256; ++o)
    for (std::size_t i = 0; i < 256; ++i) column_means[i] += at("fc.weight")[o * 256 + i] / 256.0;
  CHECK(stats_of(column_means).var * 256 == Approx(0.25 + 1.0 / 256).epsilon(0.25));
  std::vector<double> row_means(256, 0.0);  // fc_t.weight is [in, out]: a row is one input
  for (std::size_t i = 0; i < 256; ++i)
    for (std::size_t o = 0; o < 128; ++o) row_means[i] += at("fc_t.weight")[i * 128 + o] / 128.0;
  CHECK(stats_of(row_means).var * 256 == Approx(0.25 + 1.0 / 128).epsilon(0.25));
  CHECK(stats_of(at("fc.bias").values()).mean == Approx(0.1).margin(0.03));

  // Table: rows offset by ~1, noise 0.5 within a row.
  const stats t = stats_of(at("table.weight").values());
  CHECK(t.mean == Approx(1.0).margin(0.05));
  std::vector<double> first_row(at("table.weight").values().begin(), at("table.weight").values().begin() + 256);
  CHECK(std::sqrt(stats_of(first_row).var) == Approx(0.5).epsilon(0.15));

  CHECK(stats_of(at("ln.weight").values()).mean == Approx(1.0).margin(0.03));
  CHECK(std::sqrt(stats_of(at("ln.weight").values()).var) == Approx(0.1).epsilon(0.2));
  CHECK(stats_of(at("ln.bias").values()).mean == Approx(0.0).margin(0.03));

  // A constant read by a mul is a scale: around 1, never below 0.25. Any other constant is additive.
  CHECK(stats_of(at("ls.gamma").values()).mean == Approx(1.0).margin(0.06));
  CHECK(*std::min_element(at("ls.gamma").values().begin(), at("ls.gamma").values().end()) >= 0.25);
  CHECK(std::sqrt(stats_of(at("ls.gamma").values()).var) == Approx(0.2).epsilon(0.25));
  CHECK(stats_of(at("pos").values()).mean == Approx(1.0).margin(0.3));
}

TEST_CASE("activations stay O(1) and LayerNorm inputs carry a large mean in a deep stack", "[eval][random]") {
  const graph g = lnfold::build_gpt2({.layers = 12, .d = 32, .heads = 4, .vocab = 64, .positions = 32, .seq = 8});
  const auto v = lnfold::evaluate<double>(g, lnfold::random_weights<double>(g, 1), lnfold::random_inputs<double>(g, 2));
  for (node_id n = 0; n < g.node_count(); ++n) {
    if (g.node_op(n).kind != lnfold::op_kind::layer_norm) continue;
    const tensor<double>& x = v[g.node_inputs(n)[0]];
    INFO("input of " << g.node_name(n));
    const stats s = stats_of(x.values());
    CHECK(std::abs(s.mean) > 0.3);   // centering has something to remove
    CHECK(std::sqrt(s.var) < 20.0);  // and the stream has not blown up
    CHECK(std::sqrt(s.var) > 0.1);
  }
  const auto& logits = v[lnfold::graph_output_nodes(g).front()];
  CHECK(std::sqrt(stats_of(logits.values()).var) < 50.0);
}

TEST_CASE("trained init: initializer_range scales, 1/sqrt(d_h) attention, and a well-conditioned post-LN stack",
          "[eval][random]") {
  const graph g = lnfold::build_bert(
      {.layers = 12, .d = 64, .heads = 4, .ffn = 256, .vocab = 64, .positions = 32, .seq = 8});
  const auto w = lnfold::random_weights<double>(g, 5, lnfold::weight_init::trained);
  const auto wf = lnfold::random_weights<float>(g, 5, lnfold::weight_init::trained);
  const auto of = [&](const auto& set, const char* node) -> const auto& {
    return set[*g.node_op(g.find(node)).weight];
  };
  for (lnfold::param_id p = 0; p < g.param_count(); ++p)
    for (std::size_t i = 0; i < w[p].size(); ++i) REQUIRE(wf[p][i] == static_cast<float>(w[p][i]));

  // The scalar multiplying q·kᵀ is 1/sqrt(d_h) exactly, d_h = 64 / 4.
  CHECK(of(w, "encoder.layer.0.attention.scale")[0] == 0.25);
  // Linear weights: std 0.02·sqrt(1 + 0.25) (i.i.d. part and the per-input-column offset).
  CHECK(std::sqrt(stats_of(of(w, "encoder.layer.0.intermediate.dense").values()).var) ==
        Approx(0.02 * std::sqrt(1.25)).epsilon(0.15));
  const auto& ln = g.node_op(g.find("embeddings.LayerNorm"));
  CHECK(stats_of(w[*ln.gamma].values()).mean == Approx(1.0).margin(0.01));
  CHECK(std::sqrt(stats_of(w[*ln.gamma].values()).var) == Approx(0.02).epsilon(0.3));
  CHECK(std::sqrt(stats_of(w[*ln.beta].values()).var) == Approx(0.02).epsilon(0.3));
  CHECK(stats_of(of(w, "embeddings.word_embeddings").values()).mean == Approx(0.02).margin(0.003));

  // Conditioning: one float ulp on the word embeddings moves the 12-layer post-LN outputs by a few
  // ulps, as in a trained model (BERT-base under the stress init: by 6e-3, see docs/demo.md).
  const auto inputs = lnfold::random_inputs<float>(g, 6);
  auto perturbed = wf;
  for (auto& v : perturbed[*g.node_op(g.find("embeddings.word_embeddings")).weight].values()) v *= 1.0f + 0x1p-23f;
  const double moved = lnfold::max_rel_diff(lnfold::evaluate_outputs<float>(g, wf, inputs),
                                            lnfold::evaluate_outputs<float>(g, perturbed, inputs));
  CAPTURE(moved);
  CHECK(moved > 0.0);
  CHECK(moved < 1e-5);
}
