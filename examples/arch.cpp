// lnfold-arch: which LayerNorms of a well-known architecture can become RMSNorm exactly, and why not.
//
//   lnfold-arch NAME [--layers N] [--json] [--stem-centering] [--tied untie|rank1|refuse]
//                    [--convert [--standard]]
//
// Builds NAME with the built-in architecture builders (lnfold/graph/architectures.hpp; standard
// configuration unless --layers replaces the number of blocks, or of blocks per stage for swin and
// convnext), runs find_foldable and prints the report: a table for people, or JSON with --json.
// With --convert it also applies the plan to random weights and evaluates the original and the
// converted graph on the same random inputs, in double and in float, and reports the worst relative
// output difference (JSON: max_rel_diff_f64, max_rel_diff_f32). Evaluation uses the reference
// evaluator, so --convert starts from each builder's tiny configuration (same structure, small
// sizes) unless --standard asks for the real sizes (8 bytes per parameter, and minutes).
// A wrong name or flag prints one line of usage to stderr and exits with status 2.
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "lnfold/eval/compare.hpp"
#include "lnfold/eval/evaluate.hpp"
#include "lnfold/eval/random.hpp"
#include "lnfold/fold/find_foldable.hpp"
#include "lnfold/fold/report.hpp"
#include "lnfold/graph/architectures.hpp"
#include "lnfold/transform/apply_plan.hpp"

namespace {

constexpr std::string_view usage =
    "usage: lnfold-arch NAME [--layers N] [--json] [--stem-centering] [--tied untie|rank1|refuse] "
    "[--convert [--standard]]"
    "  (NAME: gpt2, opt, gptj, bert, vit, clip-vision, whisper-encoder, whisper-decoder, swin, convnext)";

struct arguments {
  std::string name;
  std::optional<std::int64_t> layers;
  bool json = false;
  bool convert = false;
  bool standard = false;
  lnfold::fold_options options;
};

std::optional<std::int64_t> parse_layers(std::string_view text) {
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size() || n < 1 || n > 10000) return std::nullopt;
  return n;
}

std::optional<lnfold::tied_policy> parse_tied(std::string_view text) {
  for (auto p : {lnfold::tied_policy::untie, lnfold::tied_policy::rank1, lnfold::tied_policy::refuse})
    if (text == lnfold::to_string(p)) return p;
  return std::nullopt;
}

bool is_architecture(std::string_view name) {
  for (auto known : lnfold::architecture_names)
    if (name == known) return true;
  return false;
}

/// The arguments, or a one-line reason they are wrong.
std::optional<arguments> parse(int argc, char** argv, std::string& problem) {
  arguments args;
  const auto reject = [&problem](std::string why) {
    problem = std::move(why);
    return std::optional<arguments>{};
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--json") {
      args.json = true;
    } else if (arg == "--convert") {
      args.convert = true;
    } else if (arg == "--standard") {
      args.standard = true;
    } else if (arg == "--stem-centering") {
      args.options.stem_centering = true;
    } else if (arg == "--layers") {
      args.layers = has_value ? parse_layers(argv[++i]) : std::nullopt;
      if (!args.layers) return reject("--layers needs a whole number from 1 to 10000");
    } else if (arg == "--tied") {
      const auto policy = has_value ? parse_tied(argv[++i]) : std::nullopt;
      if (!policy) return reject("--tied needs one of untie, rank1, refuse");
      args.options.tied = *policy;
    } else if (arg.starts_with("-")) {
      return reject("unknown option '" + std::string(arg) + "'");
    } else if (!args.name.empty()) {
      return reject("one architecture at a time (got '" + args.name + "' and '" + std::string(arg) + "')");
    } else if (!is_architecture(arg)) {
      return reject("unknown architecture '" + std::string(arg) + "'");
    } else {
      args.name = arg;
    }
  }
  if (args.name.empty()) return reject("no architecture given");
  if (args.standard && !args.convert) return reject("--standard goes with --convert");
  return args;
}

// Original vs converted on the same random inputs: the worst output difference relative to scale.
template <class T>
double converted_difference(const lnfold::graph& g, const lnfold::fold_plan& plan) {
  const auto weights = lnfold::random_weights<T>(g, 2026);
  const auto inputs = lnfold::random_inputs<T>(g, 1127);
  const auto converted = lnfold::apply_fold_plan(g, weights, plan);
  const auto before = lnfold::evaluate_outputs<T>(g, weights, inputs);
  const auto after = lnfold::evaluate_outputs<T>(converted.g, converted.weights, inputs);
  return lnfold::max_rel_diff(before, after);
}

int convert(const arguments& args) {
  const auto size = args.standard ? lnfold::architecture_size::standard : lnfold::architecture_size::tiny;
  const lnfold::graph g = lnfold::build_architecture(args.name, args.layers, size);
  const lnfold::fold_plan plan = lnfold::find_foldable(g, args.options);
  const double f64 = converted_difference<double>(g, plan), f32 = converted_difference<float>(g, plan);
  const char* size_name = args.standard ? "standard" : "tiny";
  if (args.json) {
    std::cout << "{\"architecture\": \"" << args.name << "\", \"size\": \"" << size_name
              << "\", \"lns\": " << plan.lns.size() << ", \"converted\": " << plan.foldable_count()
              << ", \"max_rel_diff_f64\": " << f64 << ", \"max_rel_diff_f32\": " << f32 << "}\n";
  } else {
    std::cout << args.name << " (" << size_name << " configuration, random weights): " << plan.foldable_count()
              << " of " << plan.lns.size() << " LayerNorms converted to RMSNorm\n"
              << "  worst relative output difference, original vs converted: " << f64 << " in double, " << f32
              << " in float\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--help" || std::string_view(argv[i]) == "-h") {
      std::cout << usage << '\n';
      return 0;
    }
  std::string problem;
  const auto args = parse(argc, argv, problem);
  if (!args) {
    std::cerr << "lnfold-arch: " << problem << ". " << usage << '\n';
    return 2;
  }
  try {
    if (args->convert) return convert(*args);
    const lnfold::graph g = lnfold::build_architecture(args->name, args->layers);
    const lnfold::fold_plan plan = lnfold::find_foldable(g, args->options);
    if (args->json) {
      std::cout << lnfold::to_json(plan, g) << '\n';
    } else {
      std::cout << args->name << " (" << (args->layers ? "--layers " + std::to_string(*args->layers) : "standard")
                << " configuration): " << g.node_count() << " nodes, " << g.param_count() << " parameters, tied "
                << lnfold::to_string(args->options.tied) << (args->options.stem_centering ? ", stem centering" : "")
                << "\n\n"
                << lnfold::to_text(plan, g);
    }
  } catch (const lnfold::error& e) {
    std::cerr << "lnfold-arch: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
