// Test helpers: look verdicts up by the LN's name, count them, and name the offender's op kind.
#pragma once

#include <string>
#include <string_view>

#include "lnfold/fold/find_foldable.hpp"
#include "lnfold/graph/ir.hpp"

namespace lnfold::test {

inline const ln_verdict& verdict_of(const fold_plan& plan, const graph& g, std::string_view ln) {
  const ln_verdict* v = plan.verdict(g.find(ln));
  if (!v) throw std::logic_error("not a LayerNorm: " + std::string(ln));
  return *v;
}

inline op_kind offender_kind(const ln_verdict& v, const graph& g) {
  return v.offender ? g.node_op(*v.offender).kind : op_kind::unknown;
}

inline std::string offender_name(const ln_verdict& v, const graph& g) {
  return v.offender ? std::string(g.node_name(*v.offender)) : std::string("(none)");
}

/// Names of the foldable LNs, in node order, joined by spaces: readable in a failed CHECK.
inline std::string foldable_names(const fold_plan& plan, const graph& g) {
  std::string out;
  for (const auto& v : plan.lns)
    if (v.foldable) {
      if (!out.empty()) out += ' ';
      out += g.node_name(v.node);
    }
  return out;
}

}  // namespace lnfold::test
