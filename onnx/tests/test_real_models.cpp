// The verdicts issue 6 expects on real models: every LN of the six openWakeWord heads foldable,
// none of PP-OCRv4 rec's five (its residual stream starts at a swish).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "lnfold/fold/find_foldable.hpp"
#include "lnfold/onnx/graph.hpp"

namespace {

int failures = 0;

void expect(bool ok, const std::string& what) {
  if (!ok) {
    ++failures;
    std::printf("FAILED: %s\n", what.c_str());
  }
}

lnfold::fold_plan analyse(const std::string& path, lnfold::onnx::graph** keep = nullptr) {
  static std::unique_ptr<lnfold::onnx::graph> g;
  g = std::make_unique<lnfold::onnx::graph>(lnfold::onnx::load_model(path));
  if (keep) *keep = g.get();
  return lnfold::find_foldable(*g);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return std::printf("usage: test_onnx_real_models DIR\n"), 2;
  const std::string dir = argv[1];
  if (!std::filesystem::exists(dir + "/models/hey_jarvis_v0.1.onnx")) return std::printf("models missing\n"), 77;
  const std::pair<const char*, std::size_t> heads[] = {
      {"hello_deepa", 2}, {"hello_deepa_old", 2}, {"namaste_deepa", 2},
      {"hey_jarvis_v0.1", 4}, {"hey_mycroft_v0.1", 2}, {"hey_rhasspy_v0.1", 2}};
  for (const auto& [name, count] : heads) {
    const auto plan = analyse(dir + "/models/" + name + ".onnx");
    expect(plan.lns.size() == count, std::string(name) + ": LN count " + std::to_string(plan.lns.size()));
    expect(plan.foldable_count() == count, std::string(name) + ": foldable " + std::to_string(plan.foldable_count()));
    expect(!plan.sources.empty(), std::string(name) + ": sources to center");
  }
  {  // hey_jarvis: two of its LNs sit in an If branch and read outer-scope initializers
    lnfold::onnx::graph* g = nullptr;
    const auto plan = analyse(dir + "/models/hey_jarvis_v0.1.onnx", &g);
    std::size_t in_branch = 0;
    for (std::size_t n = 0; n < g->node_count(); ++n)
      if (g->node_op(n).type == "If") ++in_branch;
    expect(in_branch >= 1, "hey_jarvis: an If output node");
    bool verifier = false;
    for (const auto& s : plan.sources)
      for (const auto& p : s.params) verifier |= g->param_name(p.param).rfind("verifier_model.", 0) == 0;
    expect(verifier, "hey_jarvis: the If branch's outer-scope weights are sources");
  }
  {
    lnfold::onnx::graph* g = nullptr;
    const auto plan = analyse(dir + "/assets/ch_PP-OCRv4_rec_infer.onnx", &g);
    expect(plan.lns.size() == 5, "PP-OCRv4 rec: 5 LNs, got " + std::to_string(plan.lns.size()));
    for (const auto& v : plan.lns) {
      expect(!v.foldable && v.reason == lnfold::fold_reason::nonlinearity,
             "PP-OCRv4 rec: " + g->node_name(v.node) + " refused as nonlinearity, got " + std::string(to_string(v.reason)));
      expect(v.offender && g->node_op(*v.offender).kind == lnfold::op_kind::silu, "PP-OCRv4 rec: the offender is a swish");
    }
  }
  std::printf("%s\n", failures ? "some checks FAILED" : "all real-model checks passed");
  return failures ? 1 : 0;
}
