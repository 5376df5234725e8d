// Detection cost: find_foldable on synthetic pre-LN stacks of 10^3 to 10^6 nodes. The per-node time
// (reported as items_per_second) should stay flat across sizes: the algorithm is linear.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "lnfold/fold/find_foldable.hpp"
#include "lnfold/graph/ir.hpp"

namespace {

// embedding -> L x [x + W2·gelu(W1·LN(x))] -> LN -> head: every LN foldable, one region.
lnfold::graph pre_ln_stack(std::int64_t nodes) {
  using namespace lnfold;
  constexpr std::int64_t d = 64, tokens = 8;
  const shape hidden{1, tokens, d};
  graph g;
  const auto ids = g.add_node("ids", {.kind = op_kind::input}, {}, shape{1, tokens});
  node_id x = g.add_node("wte", {.kind = op_kind::embedding, .weight = g.add_param("wte", {1000, d})}, {ids}, hidden);
  const auto linear = [&](const std::string& name, node_id in) {
    return g.add_node(
        name,
        {.kind = op_kind::linear, .weight = g.add_param(name + ".w", {d, d}), .bias = g.add_param(name + ".b", {d})},
        {in}, hidden);
  };
  const auto layer_norm = [&](const std::string& name, node_id in) {
    return g.add_node(name,
                      {.kind = op_kind::layer_norm,
                       .eps = 1e-5,
                       .gamma = g.add_param(name + ".g", {d}),
                       .beta = g.add_param(name + ".b", {d})},
                      {in}, hidden);
  };
  for (std::int64_t l = 0; static_cast<std::int64_t>(g.node_count()) + 6 < nodes; ++l) {
    const std::string p = "h." + std::to_string(l) + ".";
    const auto act = g.add_node(p + "act", {.kind = op_kind::gelu}, {linear(p + "fc1", layer_norm(p + "ln", x))},
                                hidden);
    x = g.add_node(p + "resid", {.kind = op_kind::add}, {x, linear(p + "fc2", act)}, hidden);
  }
  g.set_graph_output(linear("head", layer_norm("ln_f", x)));
  return g;
}

// Baseline: one pass reading what any detector must read of each node (inputs, op, shape, output
// flag). Its per-node time grows with size too, as the graph outgrows the caches: the floor set by
// the IR's own memory traffic, against which find_foldable's growth reads as a ratio.
void BM_read_graph(benchmark::State& state) {
  const lnfold::graph g = pre_ln_stack(state.range(0));
  for (auto _ : state) {
    std::size_t sum = 0;
    for (lnfold::node_id n = 0; n < g.node_count(); ++n) {
      for (auto in : g.node_inputs(n)) sum += in;
      const auto& op = g.node_op(n);
      sum += static_cast<std::size_t>(op.kind) + (op.weight ? 1u : 0u) + (op.gamma ? 1u : 0u);
      if (const auto& s = g.node_shape(n)) sum += s->size();
      sum += g.is_graph_output(n) ? 1u : 0u;
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(g.node_count()));
  state.counters["nodes"] = static_cast<double>(g.node_count());
}
BENCHMARK(BM_read_graph)->RangeMultiplier(10)->Range(1000, 1000000)->MinTime(2.0)->Unit(benchmark::kMillisecond);

void BM_find_foldable(benchmark::State& state) {
  const lnfold::graph g = pre_ln_stack(state.range(0));
  for (auto _ : state) {
    auto plan = lnfold::find_foldable(g);
    benchmark::DoNotOptimize(plan);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(g.node_count()));
  state.counters["nodes"] = static_cast<double>(g.node_count());
}
// MinTime: at 10^6 nodes one iteration is dominated by first-touch page faults of fresh arrays.
BENCHMARK(BM_find_foldable)->RangeMultiplier(10)->Range(1000, 1000000)->MinTime(2.0)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
