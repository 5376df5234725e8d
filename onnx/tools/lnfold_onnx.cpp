// lnfold-onnx: which LayerNorms of an ONNX model fold into RMSNorm, and which initializers to center.
//
//   lnfold-onnx report MODEL.onnx [--json]
//
// Exit status: 0 on success, 1 on bad input (one line on stderr naming the problem), 2 on bad usage.
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

#include "lnfold/fold/find_foldable.hpp"
#include "lnfold/fold/report.hpp"
#include "lnfold/onnx/graph.hpp"
#include "lnfold/onnx/load.hpp"

namespace {

constexpr std::string_view usage = "usage: lnfold-onnx report MODEL.onnx [--json]\n";

int report(const std::string& path, bool json) {
  const lnfold::onnx::graph g(lnfold::onnx::load_model(path));
  const lnfold::fold_plan plan = lnfold::find_foldable(g);
  std::cout << (json ? lnfold::to_json(plan, g) : lnfold::to_text(plan, g));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string command, path;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--json") json = true;
    else if (arg == "-h" || arg == "--help") return std::cout << usage, 0;
    else if (command.empty()) command = arg;
    else if (path.empty()) path = arg;
    else return std::cerr << "lnfold-onnx: unexpected argument '" << arg << "'\n" << usage, 2;
  }
  if (command != "report" || path.empty()) return std::cerr << usage, 2;
  try {
    return report(path, json);
  } catch (const std::exception& e) {
    std::cerr << "lnfold-onnx: " << e.what() << '\n';
    return 1;
  }
}
