// Reports: the JSON carries the documented fields, escapes names, and agrees with the plan; the
// table names every LN and its reason.
#include <catch2/catch.hpp>

#include <string>

#include "lnfold/fold/find_foldable.hpp"
#include "lnfold/fold/report.hpp"
#include "lnfold/graph/architectures/bert.hpp"
#include "lnfold/graph/architectures/gpt2.hpp"

using namespace lnfold;
using Catch::Contains;

namespace {
std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}
}  // namespace

TEST_CASE("JSON report: documented schema, one entry per LN and per centered parameter") {
  const graph g = build_bert({.layers = 2});
  const auto plan = find_foldable(g);
  const std::string json = to_json(plan, g);
  CHECK_THAT(json, Contains("\"lns\": [") && Contains("\"sources\": [") && Contains("\"tied\": [") &&
                       Contains("\"fusions\": [") && Contains("\"stem_centerings\": ["));
  CHECK(count(json, "\"condition\": ") == plan.lns.size());  // a field only LN entries have
  CHECK(count(json, "\"foldable\": true") == plan.foldable_count());
  CHECK_THAT(json, Contains("{\"name\": \"embeddings.LayerNorm\", \"foldable\": true, \"reason\": \"foldable\""));
  CHECK_THAT(json, Contains("\"reason\": \"norm_output\""));
  std::size_t params = 0;
  for (const auto& s : plan.sources) params += s.params.size();
  CHECK(count(json, "\"axis\": ") == params);
  CHECK_THAT(json, Contains("{\"name\": \"embeddings.word_embeddings.weight\", \"axis\": 1"));
}

TEST_CASE("JSON strings are escaped") { CHECK(detail::json_string("a\"b\\c\n\x01") == "\"a\\\"b\\\\c\\n\\u0001\""); }

TEST_CASE("text report: every LN, its verdict, the reason and the tie resolution") {
  const graph g = build_gpt2({.layers = 2});
  const std::string text = to_text(find_foldable(g), g);
  CHECK_THAT(text, Contains("h.1.ln_2") && Contains("ln_f") && Contains("5 of 5 LayerNorms foldable."));
  CHECK_THAT(text, Contains("wte.weight: centered for `wte`, also used by `lm_head` (linear) -> rank1"));
  const graph bert = build_bert({.layers = 1});
  const std::string refused = to_text(find_foldable(bert), bert);
  CHECK_THAT(refused, Contains("NOT foldable   norm_output: input reaches `embeddings.LayerNorm` (layer_norm)"));
}
