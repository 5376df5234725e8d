// lnfold-onnx: which LayerNorms of an ONNX model fold into RMSNorm, and the conversion itself.
//
//   lnfold-onnx report MODEL.onnx [--json] [--input-shape NAME=D0,D1,... ...]
//   lnfold-onnx convert IN.onnx OUT.onnx [--tied rank1|untie|refuse] [--stem-centering]
//                       [--rmsnorm-form decomposed|simplified|rmsnormalization] [--fold-affine] [--json]
//                       [--input-shape NAME=D0,D1,... ...]
//
// --input-shape pins the sizes of a model input whose dims are dynamic, for shape inference
// (graph.hpp, shapes.hpp): a Reshape computed from shapes then has the sizes to match. Repeatable.
//
// Exit status: 0 on success, 1 on bad input (one line on stderr naming the problem; convert then
// writes nothing), 2 on bad usage, 3 when convert finds no foldable LayerNorm (nothing is written).
#include <cstdint>
#include <exception>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lnfold/fold/find_foldable.hpp"
#include "lnfold/fold/report.hpp"
#include "lnfold/onnx/check.hpp"
#include "lnfold/onnx/convert.hpp"
#include "lnfold/onnx/graph.hpp"
#include "lnfold/onnx/load.hpp"
#include "lnfold/onnx/write.hpp"

namespace {

constexpr std::string_view usage =
    "usage: lnfold-onnx report MODEL.onnx [--json] [--input-shape NAME=D0,D1,... ...]\n"
    "       lnfold-onnx convert IN.onnx OUT.onnx [--tied rank1|untie|refuse] [--stem-centering]\n"
    "                           [--rmsnorm-form decomposed|simplified|rmsnormalization] [--fold-affine] [--json]\n"
    "                           [--input-shape NAME=D0,D1,... ...]\n";

constexpr int nothing_to_convert = 3;

struct arguments {
  std::string command;
  std::vector<std::string> paths;
  bool json = false;
  lnfold::fold_options fold{};
  lnfold::onnx::convert_options convert{};
  lnfold::onnx::shape_options shapes{};
};

/// The graph of the model at `path`, its directory the base of its external data.
lnfold::onnx::graph load_graph(const std::string& path, const arguments& args) {
  const std::filesystem::path file(path);
  return lnfold::onnx::graph(
      lnfold::onnx::load_model(path),
      {.model_dir = file.has_parent_path() ? file.parent_path() : std::filesystem::path("."), .shapes = args.shapes});
}

/// "NAME=1,3,224,224" as (NAME, dims); nullopt (with a message on stderr) when malformed.
std::optional<std::pair<std::string, lnfold::shape>> parse_input_shape(std::string_view text) {
  const auto eq = text.rfind('=');
  std::pair<std::string, lnfold::shape> out;
  bool ok = eq != std::string_view::npos && eq > 0 && eq + 1 < text.size();
  if (ok) {
    out.first = std::string(text.substr(0, eq));
    std::string_view dims = text.substr(eq + 1);
    while (ok && !dims.empty()) {
      const auto comma = dims.find(',');
      const std::string_view d = dims.substr(0, comma);
      std::int64_t v = 0;
      ok = !d.empty() && d.size() <= 12;
      for (const char c : d) ok = ok && c >= '0' && c <= '9';
      if (ok) v = std::stoll(std::string(d));
      ok = ok && v > 0;
      out.second.push_back(v);
      dims = comma == std::string_view::npos ? std::string_view() : dims.substr(comma + 1);
      ok = ok && !(comma != std::string_view::npos && dims.empty());
    }
  }
  if (!ok) {
    std::cerr << "lnfold-onnx: --input-shape takes NAME=D0,D1,... with sizes > 0 (got '" << text << "')\n";
    return std::nullopt;
  }
  return out;
}

int report(const arguments& args) {
  const lnfold::onnx::graph g = load_graph(args.paths[0], args);
  const lnfold::fold_plan plan = lnfold::find_foldable(g, args.fold);
  std::cout << (args.json ? lnfold::to_json(plan, g) : lnfold::to_text(plan, g));
  return 0;
}

std::string json_list(const std::vector<std::string>& names) {
  std::string out = "[";
  for (std::size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + lnfold::detail::json_string(names[i]);
  return out + "]";
}

int convert(const arguments& args) {
  using lnfold::detail::json_string;
  const std::string &in = args.paths[0], &out = args.paths[1];
  const lnfold::onnx::graph g = load_graph(in, args);
  const lnfold::fold_plan plan = lnfold::find_foldable(g, args.fold);
  std::vector<std::string> kept, kept_json;
  for (const auto& v : plan.lns)
    if (!v.foldable) {
      kept.push_back(g.node_name(v.node) + " (" + std::string(lnfold::to_string(v.reason)) + ")");
      kept_json.push_back("{\"name\": " + json_string(g.node_name(v.node)) +
                          ", \"reason\": " + json_string(lnfold::to_string(v.reason)) + "}");
    }
  if (plan.foldable_count() == 0) {
    std::cerr << "lnfold-onnx: nothing to convert: none of the " << plan.lns.size() << " LayerNorms of '" << in
              << "' is foldable (see lnfold-onnx report); '" << out << "' not written\n";
    return nothing_to_convert;
  }
  // A model read with external data is written with it (OUT.data), streamed: edited tensors one at
  // a time, unchanged ones copied in chunks (convert_model_to_file).
  const auto result = lnfold::onnx::convert_model_to_file(g, plan, out, args.convert);
  // libonnx 1.12's checker knows opsets up to 17; a newer model is validated by running it (ORT).
  const bool checked = result.checked;
  const std::string check_text = checked ? "passes the ONNX checker"
                                         : "not checked (opset " +
                                               std::to_string(lnfold::onnx::detail::default_opset(g.model())) +
                                               " is past this libonnx's checker: run it in ONNX Runtime to validate)";
  const auto& s = result.summary;
  const std::string& data_file = result.data.data_path;
  const auto worst = s.largest_residual();
  if (args.json) {
    std::string k = "[";
    for (std::size_t i = 0; i < kept_json.size(); ++i) k += (i ? ", " : "") + kept_json[i];
    std::cout << "{\"input\": " << json_string(in) << ", \"output\": " << json_string(out)
              << ", \"form\": " << json_string(lnfold::onnx::to_string(args.convert.form))
              << ", \"lns\": " << plan.lns.size() << ", \"converted\": " << json_list(s.converted)
              << ", \"not_converted\": " << k << "], \"fallbacks\": " << json_list(s.fallbacks)
              << ", \"centered\": " << json_list(s.centered) << ", \"zeroed\": " << json_list(s.zeroed)
              << ", \"untied\": " << json_list(s.untied) << ", \"rank1\": " << json_list(s.rank1)
              << ", \"fused\": " << json_list(s.fused) << ", \"stems\": " << json_list(s.stems)
              << ", \"affine_folded\": " << json_list(s.affine_folded)
              << ", \"largest_residual_mean\": {\"param\": " << json_string(worst.param)
              << ", \"type\": " << json_string(worst.type) << ", \"relative\": " << worst.relative_mean << "}"
              << ", \"check\": " << (checked ? "\"onnx::checker::check_model\"" : "null")
              << ", \"data_file\": " << (data_file.empty() ? "null" : json_string(data_file)) << "}\n";
    return 0;
  }
  std::cout << "converted " << s.converted.size() << " of " << plan.lns.size() << " LayerNorms to RMSNorm (form "
            << lnfold::onnx::to_string(args.convert.form) << "), centered " << s.centered.size() << " and zeroed "
            << s.zeroed.size() << " tensors, untied " << s.untied.size() << ", rank-1 compensated " << s.rank1.size()
            << ", fused " << s.fused.size() << " scales, inserted " << s.stems.size() << " stem centerings, folded "
            << s.affine_folded.size() << " norms' γ/β into their linears; " << check_text << "; wrote '" << out << "'"
            << (data_file.empty()
                    ? std::string()
                    : " with its external data in '" + data_file + "' (" + std::to_string(result.data.tensors) +
                          " tensors, " + std::to_string(result.data.bytes) + " bytes)")
            << "\n";
  if (!s.residuals.empty())
    std::cout << "  storage leaves a mean of at most " << worst.relative_mean << " of max|w| in a centered fiber ('"
              << worst.param << "', " << worst.type << ")\n";
  for (const auto& name : s.fallbacks)
    std::cout << "  " << name
              << ": written decomposed (the fused forms need the last axis; rmsnormalization, opset 23)\n";
  for (const auto& k : kept) std::cout << "  not converted: " << k << '\n';
  return 0;
}

std::optional<arguments> parse(int argc, char** argv) {
  arguments a;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto value = [&]() -> std::optional<std::string_view> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string_view(argv[++i]);
    };
    if (arg == "--json") {
      a.json = true;
    } else if (arg == "--stem-centering") {
      a.fold.stem_centering = true;
    } else if (arg == "--fold-affine") {
      a.convert.fold_affine = true;
    } else if (arg == "--tied") {
      const auto v = value();
      if (v == "rank1") a.fold.tied = lnfold::tied_policy::rank1;
      else if (v == "untie") a.fold.tied = lnfold::tied_policy::untie;
      else if (v == "refuse") a.fold.tied = lnfold::tied_policy::refuse;
      else
        return std::cerr << "lnfold-onnx: --tied takes rank1, untie or refuse (got '" << v.value_or("") << "')\n",
               std::nullopt;
    } else if (arg == "--rmsnorm-form") {
      const auto v = value();
      const auto f = v ? lnfold::onnx::parse_rmsnorm_form(*v) : std::nullopt;
      if (!f)
        return std::cerr << "lnfold-onnx: --rmsnorm-form takes decomposed, simplified or rmsnormalization (got '"
                         << v.value_or("") << "')\n",
               std::nullopt;
      a.convert.form = *f;
    } else if (arg == "--input-shape") {
      const auto v = value();
      const auto pinned = v ? parse_input_shape(*v) : parse_input_shape("");
      if (!pinned) return std::nullopt;
      if (!a.shapes.input_shapes.emplace(pinned->first, pinned->second).second)
        return std::cerr << "lnfold-onnx: --input-shape given twice for '" << pinned->first << "'\n", std::nullopt;
    } else if (arg.size() > 1 && arg[0] == '-') {
      return std::cerr << "lnfold-onnx: unknown option '" << arg << "'\n", std::nullopt;
    } else if (a.command.empty()) {
      a.command = arg;
    } else {
      a.paths.emplace_back(arg);
    }
  }
  const std::size_t want = a.command == "report" ? 1 : a.command == "convert" ? 2 : 0;
  if (want == 0 || a.paths.size() != want) return std::cerr << "lnfold-onnx: wrong arguments\n", std::nullopt;
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "-h" || std::string_view(argv[i]) == "--help") return std::cout << usage, 0;
  const auto args = parse(argc, argv);
  if (!args) return std::cerr << usage, 2;
  try {
    return args->command == "report" ? report(*args) : convert(*args);
  } catch (const std::exception& e) {
    std::cerr << "lnfold-onnx: " << e.what() << '\n';
    return 1;
  }
}
