// lnfold::onnx::export_model: exported models pass the ONNX checker, read back through the ONNX
// adapter with the verdicts find_foldable gives on the built-in graph (both LN forms, every
// architecture at its tiny size and every edge case), and — in ONNX Runtime, the independent oracle —
// compute what lnfold's reference evaluator computes. The ONNX Runtime cases are hidden ([.ort]) and
// run by their own CTest test after the onnx_ort fixture has installed onnxruntime-node.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <onnx/checker.h>
#include <unistd.h>

#include "lnfold/eval/compare.hpp"
#include "lnfold/eval/evaluate.hpp"
#include "lnfold/eval/random.hpp"
#include "lnfold/fold/find_foldable.hpp"
#include "lnfold/graph/architectures.hpp"
#include "lnfold/onnx/export.hpp"
#include "lnfold/onnx/graph.hpp"
#include "lnfold/transform/apply_plan.hpp"

namespace {

using lnfold::onnx::ln_form;

struct named_graph {
  std::string name;
  lnfold::graph g;
};

/// Every architecture at its tiny size and every edge case that has an ONNX form (unknown_op_upstream
/// has none: see "unsupported nodes").
std::vector<named_graph> exportable_models() {
  std::vector<named_graph> out;
  for (auto arch : lnfold::architecture_names)
    out.push_back({std::string(arch), lnfold::build_architecture(arch, std::nullopt, lnfold::architecture_size::tiny)});
  std::string_view last;
  for (const auto& c : lnfold::edge_cases::all()) {
    if (c.name == last || c.name == "unknown_op_upstream") continue;
    last = c.name;
    out.push_back({std::string(c.name), c.build()});
  }
  return out;
}

const char* form_name(ln_form f) { return f == ln_form::op ? "op" : "decomposed"; }

::onnx::ModelProto exported(const lnfold::graph& g, ln_form form, std::uint64_t seed = 7) {
  return lnfold::onnx::export_model(g, lnfold::random_weights<double>(g, seed), {.ln = form});
}

/// Serialized and parsed again, as a file would be read.
::onnx::ModelProto reparsed(const ::onnx::ModelProto& m) {
  std::string bytes;
  REQUIRE(m.SerializeToString(&bytes));
  ::onnx::ModelProto back;
  REQUIRE(back.ParseFromString(bytes));
  return back;
}

struct verdict {
  bool foldable;
  std::string reason;
  bool operator==(const verdict&) const = default;
};

template <class G>
std::map<std::string, verdict> verdicts(const G& g) {
  std::map<std::string, verdict> out;
  for (const auto& v : lnfold::find_foldable(g).lns)
    out[std::string(g.node_name(v.node))] = {v.foldable, std::string(lnfold::to_string(v.reason))};
  return out;
}

std::string text(const std::map<std::string, verdict>& m) {
  std::ostringstream s;
  for (const auto& [name, v] : m)
    s << name << ": " << (v.foldable ? "foldable" : "not foldable") << " (" << v.reason << ")\n";
  return s.str();
}

/// Where the ONNX form cannot say what the built-in graph says (docs/onnx-export.md explains each):
/// the verdict the adapter gives instead, asserted so that a change on either side is noticed.
struct known_difference {
  std::string_view model, ln;
  bool in_op_form, in_decomposed_form;
  verdict onnx;
};
const std::vector<known_difference>& known_differences() {
  // GELU has no op before opset 20: its erf pattern ends in Mul(x, 1 + erf(x/√2)), a product of two
  // data tensors, so the adapter names data_product where the built-in graph says nonlinearity.
  static const verdict gelu{false, "data_product"};
  static const std::vector<known_difference> list{
      {"whisper-encoder", "layer_norm", true, true, gelu},
      {"whisper-encoder", "layers.0.self_attn_layer_norm", true, true, gelu},
      {"whisper-encoder", "layers.0.final_layer_norm", true, true, gelu},
      {"whisper-encoder", "layers.1.self_attn_layer_norm", true, true, gelu},
      {"whisper-encoder", "layers.1.final_layer_norm", true, true, gelu},
      {"ln_after_gelu", "ln", true, true, gelu},
      // ONNX has no centering op: Sub(x, ReduceMean(x)) subtracts a data tensor broadcast along the axis.
      {"explicit_center_into_ln", "ln", true, true, {false, "broadcast_along_axis"}},
      // LayerNormalization requires a Scale: a parameter-free LN gets ones, so ln_a's output is an affine one.
      {"ln_reads_plain_ln_output", "ln_b", true, false, {false, "norm_output"}},
  };
  return list;
}

std::size_t count_nodes(const ::onnx::GraphProto& g, std::string_view type) {
  std::size_t n = 0;
  for (const auto& node : g.node()) n += node.op_type() == type ? 1u : 0u;
  return n;
}

const ::onnx::TensorProto* initializer(const ::onnx::GraphProto& g, std::string_view name) {
  for (const auto& t : g.initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

}  // namespace

TEST_CASE("exported models pass the ONNX checker", "[export]") {
  for (const auto& [name, g] : exportable_models())
    for (ln_form form : {ln_form::op, ln_form::decomposed}) {
      INFO(name << ", LN as " << form_name(form));
      const auto model = exported(g, form);
      CHECK_NOTHROW(::onnx::checker::check_model(model));
    }
}

TEST_CASE("GPT-2: LN forms, the tied table, initializers equal to the weights", "[export]") {
  const lnfold::graph g = lnfold::build_architecture("gpt2", std::nullopt, lnfold::architecture_size::tiny);
  const auto weights = lnfold::random_weights<float>(g, 3);
  const auto lns = static_cast<std::size_t>(2 * lnfold::gpt2_config::tiny().layers + 1);

  const auto op = lnfold::onnx::export_model(g, weights, {.ln = ln_form::op});
  CHECK(count_nodes(op.graph(), "LayerNormalization") == lns);
  CHECK(count_nodes(op.graph(), "ReduceMean") == 0);
  CHECK(op.opset_import(0).version() == 17);

  const auto dec = lnfold::onnx::export_model(g, weights, {.ln = ln_form::decomposed, .opset = 13});
  CHECK(count_nodes(dec.graph(), "LayerNormalization") == 0);
  CHECK(count_nodes(dec.graph(), "ReduceMean") == 2 * lns);
  CHECK(count_nodes(dec.graph(), "Sqrt") == lns);
  CHECK_NOTHROW(::onnx::checker::check_model(dec));

  // The token table is one initializer read by the embedding's Gather and by lm_head's Gemm.
  std::size_t readers = 0;
  for (const auto& n : op.graph().node())
    for (const auto& in : n.input()) readers += in == "wte.weight" ? 1u : 0u;
  CHECK(readers == 2);
  // ids are int64 inputs; every initializer holds its parameter's float values as stored.
  for (const auto& in : op.graph().input()) CHECK(in.type().tensor_type().elem_type() == ::onnx::TensorProto::INT64);
  for (lnfold::param_id p = 0; p < g.param_count(); ++p) {
    const auto* t = initializer(op.graph(), g.param_name(p));
    REQUIRE(t != nullptr);
    CHECK(std::vector<std::int64_t>(t->dims().begin(), t->dims().end()) == g.param_shape(p));
    REQUIRE(t->raw_data().size() == weights[p].size() * sizeof(float));
    CHECK(std::memcmp(t->raw_data().data(), weights[p].data(), t->raw_data().size()) == 0);
  }
}

TEST_CASE("verdicts survive the round trip through ONNX", "[export]") {
  for (const auto& [name, g] : exportable_models()) {
    const auto expected = verdicts(g);
    REQUIRE(!expected.empty());
    for (ln_form form : {ln_form::op, ln_form::decomposed}) {
      INFO(name << ", LN as " << form_name(form));
      const lnfold::onnx::graph adapted(reparsed(exported(g, form)));
      auto want = expected;
      for (const auto& d : known_differences())
        if (d.model == name && (form == ln_form::op ? d.in_op_form : d.in_decomposed_form)) {
          REQUIRE(want.count(std::string(d.ln)) == 1);
          want[std::string(d.ln)] = d.onnx;
        }
      const auto got = verdicts(adapted);
      INFO("built-in graph:\n" << text(expected) << "ONNX model:\n" << text(got));
      CHECK(got == want);
    }
  }
}

TEST_CASE("unsupported nodes and bad arguments throw, naming what is wrong", "[export]") {
  const lnfold::graph custom = lnfold::edge_cases::unknown_op_upstream();
  const auto w = lnfold::random_weights<float>(custom, 1);
  CHECK_THROWS_WITH(lnfold::onnx::export_model(custom, w),
                    Catch::Contains("'custom'") && Catch::Contains("unknown") && Catch::Contains("MyCustomOp"));

  lnfold::graph g;
  lnfold::graph_builder b(g);
  const auto x = b.input("x", {1, 4, 8});
  lnfold::op_desc up;
  up.kind = lnfold::op_kind::conv_transpose;
  up.weight = b.param("up.weight", {4, 2, 1});
  b.output(g.add_node("up", up, {x}, lnfold::shape{1, 2, 8}));
  CHECK_THROWS_WITH(lnfold::onnx::export_model(g, lnfold::random_weights<float>(g, 1)),
                    Catch::Contains("'up'") && Catch::Contains("conv_transpose"));

  const lnfold::graph small = lnfold::edge_cases::input_through_linear_into_ln();
  auto weights = lnfold::random_weights<float>(small, 1);
  CHECK_THROWS_WITH(lnfold::onnx::export_model(small, weights, {.ln = ln_form::op, .opset = 16}),
                    Catch::Contains("opset 17") && Catch::Contains("16"));
  CHECK_THROWS_WITH(lnfold::onnx::export_model(small, weights, {.opset = 24}),
                    Catch::Contains("opset must be 13 … 23 (got 24)"));
  CHECK_THROWS_WITH(lnfold::onnx::export_model(small, weights, {.elem_type = ::onnx::TensorProto::DOUBLE}),
                    Catch::Contains("elem_type must be FLOAT, FLOAT16 or BFLOAT16"));
  CHECK_THROWS_WITH(lnfold::onnx::export_model(small, weights, {.weight_storage = ::onnx::TensorProto::FLOAT}),
                    Catch::Contains("weight_storage must be 0, FLOAT16 or BFLOAT16"));
  weights.pop_back();
  CHECK_THROWS_WITH(lnfold::onnx::export_model(small, weights), Catch::Contains("weights holds"));
}

// ---- ONNX Runtime as the oracle ------------------------------------------------------------------
#ifdef LNFOLD_EXPORT_RUNNER

namespace {

/// A scratch directory removed at the end of the test.
struct scratch_dir {
  std::filesystem::path path = std::filesystem::temp_directory_path() / ("lnfold-export-" + std::to_string(::getpid()));
  scratch_dir() { std::filesystem::create_directories(path); }
  ~scratch_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

void write_tensors(const std::filesystem::path& file, const ::onnx::GraphProto& g,
                   const std::vector<lnfold::tensor<double>>& inputs) {
  std::ofstream out(file);
  REQUIRE(static_cast<std::size_t>(g.input_size()) == inputs.size());
  out.precision(17);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const bool ids = g.input(static_cast<int>(i)).type().tensor_type().elem_type() == ::onnx::TensorProto::INT64;
    out << g.input(static_cast<int>(i)).name() << (ids ? " int64 " : " float32 ") << inputs[i].rank();
    for (auto d : inputs[i].dims()) out << ' ' << d;
    out << '\n';
    for (std::size_t k = 0; k < inputs[i].size(); ++k)
      out << (k ? " " : "")
          << (ids ? static_cast<double>(static_cast<std::int64_t>(inputs[i][k]))
                  : static_cast<double>(static_cast<float>(inputs[i][k])));
    out << '\n';
  }
  REQUIRE(out.good());
}

std::vector<lnfold::tensor<double>> read_tensors(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<lnfold::tensor<double>> out;
  std::string header, values;
  while (std::getline(in, header) && std::getline(in, values)) {
    std::istringstream h(header), v(values);
    std::string name, type;
    std::size_t rank = 0;
    h >> name >> type >> rank;
    lnfold::shape dims(rank);
    for (auto& d : dims) h >> d;
    lnfold::tensor<double> t(dims);
    for (std::size_t k = 0; k < t.size(); ++k) REQUIRE(v >> t[k]);
    out.push_back(std::move(t));
  }
  return out;
}

/// Models to run in ONNX Runtime, all in one node process: run_model.mjs takes any number of them, and
/// starting node and loading onnxruntime-node (~0.4 s) per model was most of these tests' time.
class ort_batch {
 public:
  explicit ort_batch(const scratch_dir& dir) : dir_(dir) {}

  /// Queues `model` on `inputs` (float32 inputs are rounded first); `stem` names its files and must
  /// be unique in the batch.
  void add(const ::onnx::ModelProto& model, const std::vector<lnfold::tensor<double>>& inputs,
           const std::string& stem) {
    const auto model_file = dir_.path / (stem + ".onnx"), in_file = dir_.path / (stem + ".in");
    {
      std::ofstream m(model_file, std::ios::binary);
      REQUIRE(model.SerializeToOstream(&m));
    }
    write_tensors(in_file, model.graph(), inputs);
    out_files_.push_back(dir_.path / (stem + ".out"));
    arguments_ += " '" + model_file.string() + "' '" + in_file.string() + "' '" + out_files_.back().string() + "'";
  }

  /// The outputs ONNX Runtime computes for every queued model, in the order they were added.
  std::vector<std::vector<lnfold::tensor<double>>> run() const {
    const std::string command = "'" LNFOLD_NODE "' '" LNFOLD_EXPORT_RUNNER "'" + arguments_;
    INFO(command);
    REQUIRE(std::system(command.c_str()) == 0);
    std::vector<std::vector<lnfold::tensor<double>>> outputs;
    for (const auto& file : out_files_) outputs.push_back(read_tensors(file));
    return outputs;
  }

 private:
  const scratch_dir& dir_;
  std::vector<std::filesystem::path> out_files_;
  std::string arguments_;
};

/// The evaluator's outputs on inputs rounded to float32, as ONNX Runtime receives them.
std::vector<lnfold::tensor<double>> float_inputs(const lnfold::graph& g, std::uint64_t seed) {
  auto inputs = lnfold::random_inputs<double>(g, seed);
  for (auto& t : inputs)
    for (auto& x : t.values()) x = static_cast<double>(static_cast<float>(x));
  return inputs;
}

}  // namespace

// float32 in ONNX Runtime against the evaluator in double on the same float32 weights and inputs:
// the worst over all models and both forms was 2.3e-6 when this was written.
constexpr double ort_tolerance = 1e-5;

TEST_CASE("ONNX Runtime computes what the evaluator computes", "[.ort]") {
  REQUIRE(std::getenv("LNFOLD_ORT_DIR") != nullptr);
  const scratch_dir dir;
  ort_batch batch(dir);
  std::vector<std::pair<std::string, std::vector<lnfold::tensor<double>>>> expected;  // label, reference outputs
  for (const auto& [name, g] : exportable_models()) {
    const auto weights = lnfold::random_weights<double>(g, 11);
    const auto inputs = float_inputs(g, 12);
    // The evaluator on the float32 weights ONNX Runtime holds.
    auto rounded = weights;
    for (auto& t : rounded)
      for (auto& x : t.values()) x = static_cast<double>(static_cast<float>(x));
    const auto reference = lnfold::evaluate_outputs<double>(g, rounded, inputs);
    for (ln_form form : {ln_form::op, ln_form::decomposed}) {
      batch.add(lnfold::onnx::export_model(g, weights, {.ln = form}), inputs, name + form_name(form));
      expected.emplace_back(name + ", LN as " + form_name(form), reference);
    }
  }
  const auto got = batch.run();
  REQUIRE(got.size() == expected.size());
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO(expected[i].first);
    const double diff = lnfold::max_rel_diff(expected[i].second, got[i]);
    worst = std::max(worst, diff);
    CHECK(diff <= ort_tolerance);
  }
  WARN("worst max_rel_diff, ONNX Runtime vs evaluator: " << worst);
}

TEST_CASE("lnfold's folded model, exported, matches the original in ONNX Runtime", "[.ort]") {
  REQUIRE(std::getenv("LNFOLD_ORT_DIR") != nullptr);
  const scratch_dir dir;
  ort_batch batch(dir);  // original, folded, original, folded, ...
  std::vector<std::string> labels;
  std::size_t folded_models = 0;
  for (const auto& [name, g] : exportable_models()) {
    const auto weights = lnfold::random_weights<double>(g, 21);
    const lnfold::fold_plan plan = lnfold::find_foldable(g);
    if (plan.foldable_count() == 0) continue;
    ++folded_models;
    const auto converted = lnfold::apply_fold_plan(g, weights, plan);
    const auto inputs = float_inputs(g, 22);
    for (ln_form form : {ln_form::op, ln_form::decomposed}) {
      const std::string stem = name + form_name(form);
      batch.add(lnfold::onnx::export_model(g, weights, {.ln = form}), inputs, stem + "-orig");
      batch.add(lnfold::onnx::export_model(converted.g, converted.weights, {.ln = form}), inputs, stem + "-fold");
      labels.push_back(name + ", LN as " + form_name(form));
    }
  }
  const auto got = batch.run();
  REQUIRE(got.size() == 2 * labels.size());
  double worst = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    INFO(labels[i]);
    const double diff = lnfold::max_rel_diff(got[2 * i], got[2 * i + 1]);
    worst = std::max(worst, diff);
    CHECK(diff <= 1e-5);
  }
  CHECK(folded_models >= 20);
  WARN("worst max_rel_diff, folded vs original in ONNX Runtime: " << worst << " over " << folded_models << " models");
}
#endif  // LNFOLD_EXPORT_RUNNER
