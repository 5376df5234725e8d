// lnfold-onnx-export: writes a model from lnfold's architecture builders or edge cases as ONNX, with
// seeded random weights (eval/random.hpp), for ONNX Runtime and for lnfold-onnx.
//
//   lnfold-onnx-export NAME OUT.onnx [--layers N] [--tiny] [--ln-form op|decomposed] [--seed S] [--init stress|trained] [--folded]
//                      [--opset N] [--dtype float32|float16|bfloat16] [--weights-as float16|bfloat16]
//                      [--external-data [--data-file NAME]]
//   lnfold-onnx-export --list
//
// NAME is an architecture (build_architecture), gpt2-xl (GPT-2 XL's shape: 48 layers, d = 1600,
// 25 heads, 1.56 B parameters), or an edge case (edge_cases::all()). --folded applies
// lnfold's own fold plan (find_foldable, rank-1 ties, then apply_fold_plan in double) before writing:
// the converted model as the built-in pipeline makes it, every foldable LN an RMSNorm.
// The model passes ::onnx::checker::check_model before it is written; the file is written to a
// temporary name in OUT's directory and renamed, so OUT is either the whole model or untouched.
// --init picks random_weights' scales: stress (default; large per-row means, sharp attention, as the
// evaluator's tests use) or trained (std 0.02, attention 1/sqrt(d_h): conditioned like a real model).
// --opset 13 … 23 (default 17); --dtype: the type of every float tensor (default float32); --weights-as:
// weights stored in a 16-bit type, each Cast to --dtype where read; --external-data: every tensor of
// at least 1 KiB goes to a data file beside OUT (OUT's name + ".data", or --data-file), written in
// a stream, so models over protobuf's 2 GiB limit export. libonnx 1.12's checker runs up to opset 17.
// Exit status: 0 on success, 1 on bad input (one line on stderr), 2 on bad usage.
#include <cstdint>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include <onnx/checker.h>

#include "lnfold/onnx/check.hpp"
#include "lnfold/onnx/external_data.hpp"

#include "lnfold/eval/random.hpp"
#include "lnfold/fold/find_foldable.hpp"
#include "lnfold/graph/architectures.hpp"
#include "lnfold/onnx/export.hpp"
#include "lnfold/onnx/write.hpp"
#include "lnfold/transform/apply_plan.hpp"

namespace {

constexpr std::string_view usage =
    "usage: lnfold-onnx-export NAME OUT.onnx [--layers N] [--tiny] [--ln-form op|decomposed] [--seed S] [--init stress|trained] [--folded]\n"
    "                          [--opset N] [--dtype float32|float16|bfloat16] [--weights-as float16|bfloat16]\n"
    "                          [--external-data [--data-file NAME]]\n"
    "       lnfold-onnx-export --list\n";

struct output_options {
  lnfold::onnx::export_options model{};
  bool external = false;
  std::string data_file{};
};

int parse_type(std::string_view flag, const std::string& v, bool allow_float32) {
  if (v == "float16") return ::onnx::TensorProto::FLOAT16;
  if (v == "bfloat16") return ::onnx::TensorProto::BFLOAT16;
  if (allow_float32 && v == "float32") return ::onnx::TensorProto::FLOAT;
  lnfold::detail::fail(
      lnfold::detail::concat(flag, " needs ", allow_float32 ? "float32, " : "", "float16 or bfloat16, got '", v, "'"));
}

lnfold::graph build(const std::string& name, std::optional<std::int64_t> layers, bool tiny) {
  if (name == "gpt2-xl") {  // GPT-2 XL's shape (1.56 B parameters): the external-data benchmark's model
    lnfold::detail::require(!tiny, "--tiny does not apply to gpt2-xl");
    return lnfold::build_gpt2({.layers = layers.value_or(48), .d = 1600, .heads = 25});
  }
  for (auto arch : lnfold::architecture_names)
    if (arch == name)
      return lnfold::build_architecture(name, layers,
                                        tiny ? lnfold::architecture_size::tiny : lnfold::architecture_size::standard);
  for (const auto& c : lnfold::edge_cases::all())
    if (c.name == name) {
      lnfold::detail::require(!layers, "--layers applies to architectures, not to the edge case '", name, "'");
      return c.build();
    }
  lnfold::detail::fail(lnfold::detail::concat("unknown model '", name, "' (see lnfold-onnx-export --list)"));
}

std::int64_t parse_int(std::string_view flag, const std::string& text, std::int64_t min) {
  std::size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  lnfold::detail::require(used == text.size() && !text.empty() && v >= min, flag, " needs an integer >= ", min,
                          ", got '", text, "'");
  return v;
}

int run(const std::string& name, const std::string& out, std::optional<std::int64_t> layers, bool tiny,
        std::uint64_t seed, lnfold::weight_init init, bool folded, output_options options) {
  lnfold::graph g = build(name, layers, tiny);
  options.model.graph_name = name;
  ::onnx::ModelProto model;
  if (folded) {  // lnfold's own plan applied in double
    auto weights = lnfold::random_weights<double>(g, seed, init);
    const lnfold::fold_plan plan = lnfold::find_foldable(g);
    auto converted = lnfold::apply_fold_plan(g, weights, plan);
    std::cerr << "lnfold-onnx-export: " << converted.summary.converted.size() << " of " << plan.lns.size()
              << " LayerNorms folded into RMSNorm\n";
    model = lnfold::onnx::export_model(converted.g, converted.weights, options.model);
  } else if (options.model.elem_type == ::onnx::TensorProto::FLOAT && options.model.weight_storage == 0) {
    // random_weights<float> holds each double draw rounded to float: the same bytes as rounding a
    // double weight set on export, in half the memory (GPT-2-XL-sized exports).
    model = lnfold::onnx::export_model(g, lnfold::random_weights<float>(g, seed, init), options.model);
  } else {  // 16-bit types: round each double draw once
    model = lnfold::onnx::export_model(g, lnfold::random_weights<double>(g, seed, init), options.model);
  }
  if (lnfold::onnx::checker_covers(model) && !options.external) {  // the checker needs the tensors in the model
    try {
      ::onnx::checker::check_model(model);
    } catch (const std::exception& e) {
      lnfold::detail::fail(lnfold::detail::concat("the exported model fails the ONNX checker: ", e.what()));
    }
  }
  if (options.external) {
    const auto written = lnfold::onnx::write_model_with_external_data(model, out, {.data_file = options.data_file});
    std::cerr << "lnfold-onnx-export: " << written.tensors << " tensors, " << written.bytes << " bytes in '"
              << written.data_path << "', the largest " << written.largest << " bytes\n";
  } else {
    lnfold::onnx::write_model_atomically(model, out);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string name, out;
  std::optional<std::int64_t> layers;
  bool tiny = false, folded = false;
  std::uint64_t seed = 1;
  auto init = lnfold::weight_init::stress;
  output_options options;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string_view arg = argv[i];
      const auto value = [&]() -> std::string {
        lnfold::detail::require(i + 1 < argc, arg, " needs a value");
        return argv[++i];
      };
      if (arg == "-h" || arg == "--help") return std::cout << usage, 0;
      if (arg == "--list") {
        for (auto a : lnfold::architecture_names) std::cout << a << '\n';
        std::cout << "gpt2-xl\n";
        std::string_view last;
        for (const auto& c : lnfold::edge_cases::all())
          if (c.name != last) std::cout << (last = c.name) << '\n';
        return 0;
      }
      if (arg == "--tiny") tiny = true;
      else if (arg == "--folded") folded = true;
      else if (arg == "--layers") layers = parse_int(arg, value(), 1);
      else if (arg == "--seed") seed = static_cast<std::uint64_t>(parse_int(arg, value(), 0));
      else if (arg == "--init") {
        const std::string v = value();
        lnfold::detail::require(v == "stress" || v == "trained", "--init needs stress or trained, got '", v, "'");
        init = v == "stress" ? lnfold::weight_init::stress : lnfold::weight_init::trained;
      } else if (arg == "--ln-form") {
        const std::string f = value();
        lnfold::detail::require(f == "op" || f == "decomposed", "--ln-form needs op or decomposed, got '", f, "'");
        options.model.ln = f == "op" ? lnfold::onnx::ln_form::op : lnfold::onnx::ln_form::decomposed;
      } else if (arg == "--opset") {
        options.model.opset = parse_int(arg, value(), 13);
        lnfold::detail::require(options.model.opset <= 23, "--opset needs 13 … 23, got '", options.model.opset, "'");
      } else if (arg == "--dtype") {
        options.model.elem_type = parse_type(arg, value(), true);
      } else if (arg == "--weights-as") {
        options.model.weight_storage = parse_type(arg, value(), false);
      } else if (arg == "--external-data") {
        options.external = true;
      } else if (arg == "--data-file") {
        options.data_file = value();
      } else if (arg.starts_with("--")) {
        return std::cerr << "lnfold-onnx-export: unknown option '" << arg << "'\n" << usage, 2;
      } else if (name.empty()) name = arg;
      else if (out.empty()) out = arg;
      else return std::cerr << "lnfold-onnx-export: unexpected argument '" << arg << "'\n" << usage, 2;
    }
  } catch (const std::exception& e) {
    return std::cerr << "lnfold-onnx-export: " << e.what() << '\n' << usage, 2;
  }
  if (name.empty() || out.empty()) return std::cerr << usage, 2;
  if (!options.data_file.empty() && !options.external)
    return std::cerr << "lnfold-onnx-export: --data-file needs --external-data\n" << usage, 2;
  try {
    return run(name, out, layers, tiny, seed, init, folded, options);
  } catch (const std::exception& e) {
    std::cerr << "lnfold-onnx-export: " << e.what() << '\n';
    return 1;
  }
}
