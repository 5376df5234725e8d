// Must not compile: this graph type has no node_shape. tests/fold/CMakeLists.txt checks that the
// compiler names the missing call in find_foldable's static_assert rather than listing unsatisfied
// constraints. With -DLNFOLD_WITH_NODE_SHAPE the type is complete and the file must compile, so the
// failure is known to come from the missing call alone.
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "lnfold/fold/find_foldable.hpp"

namespace user_ir {

struct net {
  std::vector<std::vector<std::size_t>> inputs;
};

std::size_t node_count(const net& g) { return g.inputs.size(); }
const std::vector<std::size_t>& node_inputs(const net& g, std::size_t n) { return g.inputs[n]; }
std::string node_name(const net&, std::size_t n) { return "n" + std::to_string(n); }
bool is_graph_output(const net&, std::size_t) { return false; }
lnfold::op_desc node_op(const net&, std::size_t) { return {.kind = lnfold::op_kind::identity}; }
std::string param_name(const net&, std::size_t p) { return "p" + std::to_string(p); }
#ifdef LNFOLD_WITH_NODE_SHAPE
std::optional<lnfold::shape> node_shape(const net&, std::size_t) { return lnfold::shape{1, 8}; }
#endif

}  // namespace user_ir

int main() {
  const user_ir::net g{{{}, {0}}};
  return static_cast<int>(lnfold::find_foldable(g).lns.size());
}
