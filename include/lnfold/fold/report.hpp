// Reports of a fold_plan for people (to_text) and for tools (to_json).
//
// JSON schema (stable fields first; more may be added):
//   {"summary": {"lns", "foldable"},
//    "lns": [{"name", "foldable", "reason", "condition", "offender", "path": [names], "path_length",
//             "stem_centering", "explanation"}],
//    "sources": [{"name", "axis", "node", "kind", "lns"}]      one per centered parameter;
//                                                               axis null: broadcast, set to zero
//    "tied": [{"param", "source_use", "other_use", "resolution"}],
//    "fusions": [{"mul", "linear", "scale", "bias"}],
//    "stem_centerings": [{"after", "axis", "frees": [names]}]}
#pragma once

#include <algorithm>
#include <cstddef>
#include <sstream>
#include <string>
#include <string_view>

#include "lnfold/error.hpp"
#include "lnfold/fold/plan.hpp"
#include "lnfold/graph/concepts.hpp"

namespace lnfold {

namespace detail {

inline std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          constexpr char hex[] = "0123456789abcdef";
          out += "\\u00";
          out += hex[(c >> 4) & 0xf];
          out += hex[c & 0xf];
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

template <class G>
std::string name_of(const G& g, node_id n) {
  return std::string(std::string_view(lnfold::node_name(g, n)));
}

// "`mlp.act` (gelu)", or the graph's own op name when it has one.
template <class G>
std::string describe_node(const G& g, node_id n) {
  const op_desc op = lnfold::node_op(g, n);
  const std::string_view kind = op.type.empty() ? to_string(op.kind) : std::string_view(op.type);
  return concat("`", name_of(g, n), "` (", kind, ")");
}

}  // namespace detail

/// One sentence on why LN `v` does (not) fold, naming the offending node and the path to it.
template <foldable_graph G>
std::string explain(const ln_verdict& v, const G& g) {
  if (v.foldable) return v.needs_stem_centering ? "foldable after inserting a centering (stem centering)" : "foldable";
  const std::string offender = v.offender ? detail::describe_node(g, *v.offender) : "?";
  std::string via;
  // The path starts at the LN's input and ends at the offender; name what lies between.
  if (v.path.size() > 2) {
    via = " via ";
    for (std::size_t i = 0; i + 1 < v.path.size(); ++i) {
      if (i) via += (i == 3 && v.path_length > v.path.size()) ? " … " : " → ";
      via += "`" + detail::name_of(g, v.path[i]) + "`";
    }
  }
  switch (v.failed) {
    case fold_condition::zero_mean_input:
      return detail::concat("input reaches ", offender, ", ", describe(v.reason), via);
    case fold_condition::safe_consumers:
      return detail::concat("its zero-mean region is also read by ", offender, ", ", describe(v.reason), via);
    case fold_condition::untied_sources:
      return detail::concat("a source parameter is also used by ", offender, " and the tied-weight policy is refuse");
    case fold_condition::well_formed: return detail::concat("the LayerNorm itself: ", describe(v.reason));
    case fold_condition::none: break;
  }
  return std::string(describe(v.reason));
}

/// A table for people: every LN with its verdict and reason, then the sources, ties, fusions and
/// stem centerings.
template <foldable_graph G>
std::string to_text(const fold_plan& plan, const G& g) {
  std::ostringstream out;
  std::size_t width = 9;
  for (const auto& v : plan.lns) width = std::max(width, detail::name_of(g, v.node).size());
  const auto pad = [&](std::string s) { return s + std::string(width + 2 - std::min(width + 1, s.size()), ' '); };
  out << pad("LayerNorm") << "verdict        reason\n";
  for (const auto& v : plan.lns) {
    out << pad(detail::name_of(g, v.node)) << (v.foldable ? "foldable       " : "NOT foldable   ");
    if (v.foldable) out << (v.needs_stem_centering ? "after stem centering" : "");
    else out << to_string(v.reason) << ": " << explain(v, g);
    out << '\n';
  }
  out << plan.foldable_count() << " of " << plan.lns.size() << " LayerNorms foldable.\n";
  if (!plan.sources.empty()) {
    std::size_t params = 0;
    for (const auto& s : plan.sources) params += s.params.size();
    out << "\nParameters to center (" << params << ", in " << plan.sources.size() << " sources):\n";
    for (const auto& s : plan.sources)
      for (const auto& p : s.params)
        out << "  " << lnfold::param_name(g, p.param) << "  over axis "
            << (p.axis ? std::to_string(*p.axis) : std::string("(broadcast: set to zero)")) << "  of "
            << detail::describe_node(g, s.node) << ", serves " << plan.regions[s.region].lns.size() << " LN(s)\n";
  }
  if (!plan.tied.empty()) {
    out << "\nTied parameters:\n";
    for (const auto& t : plan.tied)
      out << "  " << lnfold::param_name(g, t.param) << ": centered for `" << detail::name_of(g, t.source_use)
          << "`, also used by " << detail::describe_node(g, t.other_use) << " -> " << to_string(t.resolution) << '\n';
  }
  if (!plan.fusions.empty()) {
    out << "\nPer-channel scales fused into their linear first:\n";
    for (const auto& f : plan.fusions)
      out << "  " << lnfold::param_name(g, f.scale) << " (`" << detail::name_of(g, f.mul) << "`) into `"
          << detail::name_of(g, f.linear) << "`"
          << (f.bias ? detail::concat(" and its bias `", detail::name_of(g, *f.bias), "`") : "") << "\n";
  }
  if (!plan.stems.empty()) {
    out << "\nStem centerings:\n";
    for (const auto& s : plan.stems)
      out << "  after `" << detail::name_of(g, s.after) << "` over axis " << s.axis << ": frees "
          << plan.regions[s.region].lns.size() << " LN(s)\n";
  }
  return out.str();
}

/// The plan as JSON (schema at the top of this header).
template <foldable_graph G>
std::string to_json(const fold_plan& plan, const G& g) {
  using detail::json_string;
  const auto name = [&](node_id n) { return json_string(detail::name_of(g, n)); };
  const auto list = [](auto&& items, auto&& each) {
    std::string s = "[";
    bool first = true;
    for (const auto& x : items) {
      if (!first) s += ", ";
      first = false;
      s += each(x);
    }
    return s + "]";
  };
  std::ostringstream out;
  out << "{\"summary\": {\"lns\": " << plan.lns.size() << ", \"foldable\": " << plan.foldable_count() << "},\n";
  out << " \"lns\": " << list(plan.lns, [&](const ln_verdict& v) {
    return detail::concat(
        "{\"name\": ", name(v.node), ", \"foldable\": ", v.foldable ? "true" : "false",
        ", \"reason\": ", json_string(to_string(v.reason)), ", \"condition\": ", json_string(to_string(v.failed)),
        ", \"offender\": ", v.offender ? name(*v.offender) : std::string("null"), ", \"path\": ", list(v.path, name),
        ", \"path_length\": ", v.path_length, ", \"stem_centering\": ", v.needs_stem_centering ? "true" : "false",
        ", \"explanation\": ", json_string(explain(v, g)), "}");
  }) << ",\n";
  std::string sources = "[";
  for (const auto& s : plan.sources)
    for (const auto& p : s.params) {
      if (sources.size() > 1) sources += ", ";
      sources += detail::concat("{\"name\": ", json_string(std::string_view(lnfold::param_name(g, p.param))),
                                ", \"axis\": ", p.axis ? std::to_string(*p.axis) : std::string("null"),
                                ", \"node\": ", name(s.node), ", \"kind\": ", json_string(to_string(s.kind)),
                                ", \"lns\": ", plan.regions[s.region].lns.size(), "}");
    }
  out << " \"sources\": " << sources << "],\n";
  out << " \"tied\": " << list(plan.tied, [&](const tied_conflict& t) {
    return detail::concat("{\"param\": ", json_string(std::string_view(lnfold::param_name(g, t.param))),
                          ", \"source_use\": ", name(t.source_use), ", \"other_use\": ", name(t.other_use),
                          ", \"resolution\": ", json_string(to_string(t.resolution)), "}");
  }) << ",\n";
  out << " \"fusions\": " << list(plan.fusions, [&](const scale_fusion& f) {
    return detail::concat("{\"mul\": ", name(f.mul), ", \"linear\": ", name(f.linear),
                          ", \"scale\": ", json_string(std::string_view(lnfold::param_name(g, f.scale))),
                          ", \"bias\": ", f.bias ? name(*f.bias) : std::string("null"), "}");
  }) << ",\n";
  out << " \"stem_centerings\": " << list(plan.stems, [&](const stem_centering& s) {
    return detail::concat("{\"after\": ", name(s.after), ", \"axis\": ", s.axis,
                          ", \"frees\": ", list(plan.regions[s.region].lns, name), "}");
  }) << "}\n";
  return out.str();
}

}  // namespace lnfold
