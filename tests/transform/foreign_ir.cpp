// A foreign IR (tests/transform/foreign_ir.hpp: its own layer struct, tensor type and string-named
// parameters) converted both ways a user can: (a) through the generic applier, the IR modelling
// rewritable_graph; (b) through the weights-only path plus the engine's own graph edits. The net has
// a tied LM head, a LayerScale, a region freed by stem centering and an LN that must stay.
// Both conversions must compute the original's outputs: 1e-12 relative in double, 1e-5 in float
// (docs/apply-plan.md), for the tied policies rank1 and untie, with and without affine folding.
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "foreign_ir.hpp"
#include "lnfold/eval/compare.hpp"
#include "lnfold/fold/find_foldable.hpp"
#include "lnfold/transform/apply_plan.hpp"
#include "lnfold/transform/apply_to_weights.hpp"

static_assert(lnfold::foldable_graph<engine::net_reader<double>>);
static_assert(!lnfold::rewritable_graph<engine::net_reader<double>>);
static_assert(lnfold::rewritable_graph<engine::rewritable_net<double>>);
static_assert(lnfold::rewritable_graph<engine::rewritable_net<float>>);
static_assert(lnfold::rewritable_graph<lnfold::weighted_graph<float>>);

namespace {

constexpr std::int64_t d = 8, tokens = 5, vocab = 11, hidden = 16;

template <class T>
constexpr double tolerance = std::is_same_v<T, double> ? 1e-12 : 1e-5;

/// ids -> tok + pos -> [ln1 -> fc1 -> gelu -> fc2 -> LayerScale] residual -> lnf -> head (tied to
/// the token table); x2 -> gelu(fc) + fc2 -> s.ln and s.ln2 (both freed by one stem centering);
/// x3 -> n.ln and a linear that reads x3 itself, so n.ln cannot fold.
template <class T>
engine::net<T> make_net(std::uint64_t seed) {
  using engine::layer;
  engine::net<T> n;
  const std::vector<std::int64_t> row{1, tokens, d};
  n.layers = {
      layer{.name = "ids", .type = "Input", .dims = {1, tokens}},                                  // 0
      {.name = "tok", .type = "Embed", .inputs = {0}, .params = {{"table", "wte"}}, .dims = row},  // 1
      {.name = "pos", .type = "Const", .params = {{"value", "wpe"}}, .dims = {tokens, d}},         // 2
      {.name = "h0", .type = "Add", .inputs = {1, 2}, .dims = row},                                // 3
      {.name = "ln1", .type = "LN", .inputs = {3}, .params = {{"gamma", "ln1.g"}, {"beta", "ln1.b"}}, .dims = row},
      {.name = "fc1", .type = "Dense", .inputs = {4}, .params = {{"W", "fc1.W"}}, .dims = {1, tokens, hidden}},
      {.name = "act", .type = "Gelu", .inputs = {5}, .dims = {1, tokens, hidden}},  // 6
      {.name = "fc2", .type = "Dense", .inputs = {6}, .params = {{"W", "fc2.W"}, {"B", "fc2.B"}}, .dims = row},
      {.name = "ls.scale", .type = "Const", .params = {{"value", "ls.s"}}, .dims = {d}},  // 8
      {.name = "ls", .type = "Mul", .inputs = {7, 8}, .dims = row},                       // 9
      {.name = "h1", .type = "Add", .inputs = {3, 9}, .dims = row},                       // 10
      {.name = "lnf", .type = "LN", .inputs = {10}, .params = {{"gamma", "lnf.g"}, {"beta", "lnf.b"}}, .dims = row},
      {.name = "head", .type = "Dense", .inputs = {11}, .params = {{"W", "wte"}}, .dims = {1, tokens, vocab}},
      {.name = "x2", .type = "Input", .dims = row},  // 13
      {.name = "s.fc", .type = "Dense", .inputs = {13}, .params = {{"W", "s.fc.W"}, {"B", "s.fc.B"}}, .dims = row},
      {.name = "s.act", .type = "Gelu", .inputs = {14}, .dims = row},                                  // 15
      {.name = "s.fc2", .type = "Dense", .inputs = {13}, .params = {{"W", "s.fc2.W"}}, .dims = row},   // 16
      {.name = "s.add", .type = "Add", .inputs = {15, 16}, .dims = row},                               // 17
      {.name = "s.ln", .type = "LN", .inputs = {17}, .params = {{"gamma", "s.ln.g"}}, .dims = row},    // 18
      {.name = "x3", .type = "Input", .dims = row},                                                    // 19
      {.name = "n.ln", .type = "LN", .inputs = {19}, .params = {{"gamma", "n.ln.g"}}, .dims = row},    // 20
      {.name = "n.lin", .type = "Dense", .inputs = {19}, .params = {{"W", "n.W"}}, .dims = row},       // 21
      {.name = "s.ln2", .type = "LN", .inputs = {17}, .params = {{"gamma", "s.ln2.g"}}, .dims = row},  // 22
  };
  n.outputs = {{"logits", 12}, {"side", 18}, {"plain", 20}, {"probe", 21}, {"side2", 22}};
  const std::map<std::string, std::vector<std::int64_t>> shapes{
      {"wte", {vocab, d}},    {"wpe", {tokens, d}}, {"ln1.g", {d}},      {"ln1.b", {d}},  {"fc1.W", {hidden, d}},
      {"fc2.W", {d, hidden}}, {"fc2.B", {d}},       {"ls.s", {d}},       {"lnf.g", {d}},  {"lnf.b", {d}},
      {"s.fc.W", {d, d}},     {"s.fc.B", {d}},      {"s.fc2.W", {d, d}}, {"s.ln.g", {d}}, {"n.ln.g", {d}},
      {"s.ln2.g", {d}},       {"n.W", {d, d}}};
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (const auto& [name, dims] : shapes) {
    std::size_t size = 1;
    for (auto e : dims) size *= static_cast<std::size_t>(e);
    std::vector<T> values(size);
    // An offset per parameter, so that every centering removes a visible mean.
    const double offset = 0.5 * normal(rng);
    for (auto& v : values) v = static_cast<T>(offset + 0.5 * normal(rng));
    n.params[name] = {dims, std::move(values)};
  }
  return n;
}

template <class T>
std::vector<lnfold::tensor<T>> make_inputs(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<lnfold::tensor<T>> in;
  in.emplace_back(lnfold::shape{1, tokens});
  for (auto& v : in.back().values()) v = static_cast<T>(rng() % vocab);
  for (int k = 0; k < 2; ++k) {
    in.emplace_back(lnfold::shape{1, tokens, d});
    for (auto& v : in.back().values()) v = static_cast<T>(2.0 + normal(rng));  // rows with a large mean
  }
  return in;
}

template <class T>
std::size_t count_type(const engine::net<T>& n, const std::string& type) {
  return static_cast<std::size_t>(
      std::count_if(n.layers.begin(), n.layers.end(), [&](const engine::layer& l) { return l.type == type; }));
}

}  // namespace

TEMPLATE_TEST_CASE("a foreign IR converts exactly through the generic applier and through the weights-only path", "",
                   float, double) {
  using T = TestType;
  const engine::net<T> original = make_net<T>(17);
  const auto inputs = make_inputs<T>(23);
  const auto reference = engine::evaluate(original, inputs);

  for (const auto policy : {lnfold::tied_policy::rank1, lnfold::tied_policy::untie})
    for (const bool fold_affine : {false, true}) {
      INFO("tied " << lnfold::to_string(policy) << (fold_affine ? ", affine folded" : ""));
      const engine::net_reader<T> reader(original);
      const auto plan = lnfold::find_foldable(reader, {.tied = policy, .stem_centering = true});
      REQUIRE(plan.lns.size() == 5);
      for (const auto& v : plan.lns) CHECK(v.foldable == (reader.node_name(v.node) != "n.ln"));
      REQUIRE(plan.fusions.size() == 1);
      REQUIRE(plan.stems.size() == 1);
      REQUIRE(plan.tied.size() == 1);
      CHECK(plan.tied[0].resolution == policy);
      CHECK(plan.tied[0].axis == std::optional<std::size_t>(1));
      const lnfold::apply_options options{.fold_affine = fold_affine};

      // (a) the generic applier edits the net through its rewritable_graph members.
      engine::net<T> a = original;
      engine::rewritable_net<T> ra(a);
      const lnfold::apply_summary sa = lnfold::apply_fold_plan_in_place(ra, plan, options);
      const double diff_a = lnfold::max_rel_diff(reference, engine::evaluate(a, inputs));
      INFO("(a) max relative output difference " << diff_a);
      CHECK(diff_a <= tolerance<T>);

      // (b) the weights-only path edits the tensors; the test's own code makes the graph edits.
      engine::net<T> b = original;
      const engine::net_reader<T> rb(b);
      const auto edits = lnfold::apply_fold_plan_to_weights(
          rb, plan, [&](lnfold::param_id p) -> engine::blob<T>& { return b.params.at(std::string(rb.param_name(p))); },
          options);
      engine::apply_graph_edits(b, rb, edits);
      const double diff_b = lnfold::max_rel_diff(reference, engine::evaluate(b, inputs));
      INFO("(b) max relative output difference " << diff_b << "; edits:\n" << lnfold::to_text(edits, rb));
      CHECK(diff_b <= tolerance<T>);

      // Both paths report the same edits and leave the same kinds of layers.
      const auto& sb = edits.summary;
      CHECK(sa.converted == sb.converted);
      CHECK(sa.converted.size() == 4);
      CHECK(sa.stems.size() == 1);
      CHECK(sa.fused.size() == 1);
      CHECK(sa.rank1.size() == sb.rank1.size());
      CHECK(sa.untied.size() == sb.untied.size());
      CHECK(sa.affine_folded.size() == sb.affine_folded.size());
      for (const auto* n : {&a, &b}) {
        CHECK(count_type(*n, "RMS") == 4);
        CHECK(count_type(*n, "LN") == 1);
        CHECK(count_type(*n, "Center") == 1);
      }
      if (policy == lnfold::tied_policy::rank1) {
        REQUIRE(sa.rank1.size() == 1);
        CHECK(reader.node_name(sa.rank1[0].linear) == "head");
        CHECK(a.layers[12].params.at("W") == "wte");  // the tie is kept
        CHECK(a.params.at("wte.rank1_means").values.size() == static_cast<std::size_t>(vocab));
      } else {
        REQUIRE(sa.untied.size() == 1);
        CHECK(reader.node_name(sa.untied[0].node) == "tok");
        CHECK(a.layers[1].params.at("table") != "wte");
        CHECK(a.layers[12].params.at("W") == "wte");
      }
      if (fold_affine) {
        // ln1 -> fc1; lnf -> head only once untied (with rank-1 the head's weight stays shared and
        // lnf is also read by the correction's sum); s.ln and s.ln2 are exposed.
        REQUIRE(sa.affine_folded.size() == (policy == lnfold::tied_policy::untie ? 2u : 1u));
        CHECK(reader.node_name(sa.affine_folded[0].norm) == "ln1");
        CHECK(a.layers[4].params.empty());
        CHECK(a.layers[5].params.count("B") == 1);  // β needed a bias fc1 did not have
        CHECK(b.layers[5].params.count("B") == 1);
      }
    }
}

TEST_CASE("the weights-only path: an engine that skips an edit gets a wrong model, and the list names it") {
  const engine::net<double> original = make_net<double>(5);
  const auto inputs = make_inputs<double>(9);
  const auto reference = engine::evaluate(original, inputs);
  const engine::net_reader<double> reader(original);
  const auto plan = lnfold::find_foldable(reader, {.tied = lnfold::tied_policy::rank1, .stem_centering = true});

  engine::net<double> b = original;
  const engine::net_reader<double> rb(b);
  auto edits = lnfold::apply_fold_plan_to_weights(rb, plan, [&](lnfold::param_id p) -> engine::blob<double>& {
    return b.params.at(std::string(rb.param_name(p)));
  });
  const std::string todo = lnfold::to_text(edits, rb);
  CHECK_THAT(todo, Catch::Contains("rank-1: after 'head'"));
  CHECK_THAT(todo, Catch::Contains("stem centering: insert x - mean(x) over axis 2 after 's.act'"));
  CHECK_THAT(todo, Catch::Contains("fused scale: 'ls' passes 'fc2' through"));
  CHECK_THAT(todo, Catch::Contains("RMSNorm: 'lnf'"));

  // Applying the CCWT by hand to the planned parameters, as the old recipe did, and skipping the
  // rank-1 correction: the logits move (by ~1e-1 relative here), the other outputs do not.
  edits.summary.rank1.clear();
  engine::apply_graph_edits(b, rb, edits);
  const auto out = engine::evaluate(b, inputs);
  CHECK(lnfold::max_rel_diff(std::vector{reference[0]}, std::vector{out[0]}) > 1e-3);
  CHECK(lnfold::max_rel_diff(std::vector(reference.begin() + 1, reference.end()),
                             std::vector(out.begin() + 1, out.end())) <= 1e-12);
}

TEST_CASE("negative control: forcing the foreign net's refused LN to RMSNorm changes its output") {
  engine::net<double> a = make_net<double>(3);
  const auto inputs = make_inputs<double>(4);
  const auto reference = engine::evaluate(a, inputs);
  engine::rewritable_net<double> ra(a);
  const auto plan = lnfold::find_foldable(ra, {.stem_centering = true});
  (void)lnfold::apply_fold_plan_in_place(ra, plan);
  a.layers[20].type = "RMS";
  CHECK(lnfold::max_rel_diff(reference, engine::evaluate(a, inputs)) > 1e-6);
}
