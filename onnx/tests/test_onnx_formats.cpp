// lnfold::onnx on the forms current exporters write: float16 / bfloat16 codecs, opsets 18–23
// (Reduce* axes as an input, RMSNormalization), unknown ops and domains, weights behind constant
// chains (Cast, Reshape, …), Expand / Tile, shape arithmetic, and pinned input sizes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "lnfold/fold/find_foldable.hpp"
#include "lnfold/fold/report.hpp"
#include "lnfold/onnx/convert.hpp"
#include "lnfold/onnx/float16.hpp"
#include "lnfold/onnx/graph.hpp"
#include "lnfold/onnx/tensor.hpp"
#include "model_builder.hpp"

namespace {

using lnfold::fold_reason;
using lnfold::op_kind;
using lnfold::onnx::narrow_float;
using lnfold_test::model_builder;
using P = ::onnx::TensorProto;

/// The nearest pattern of format `f` to `x` by exhaustive search over all finite patterns (ties:
/// the even mantissa), the oracle for encode_narrow. Values beyond the largest finite value plus
/// half an ulp are infinity.
std::uint16_t nearest_by_search(double x, narrow_float f) {
  std::uint16_t best = 0;
  double best_diff = std::numeric_limits<double>::infinity();
  for (std::uint32_t h = 0; h < 0x8000; ++h) {
    const double v = lnfold::onnx::decode_narrow(static_cast<std::uint16_t>(h), f);
    if (!std::isfinite(v)) continue;
    const double d = std::fabs(std::fabs(x) - v);
    if (d < best_diff || (d == best_diff && (h & 1u) == 0)) {
      best = static_cast<std::uint16_t>(h);
      best_diff = d;
    }
  }
  // Overflow: IEEE rounds to infinity at or above max + ulp/2 (max's ulp).
  const std::uint16_t max_finite = f == narrow_float::float16 ? 0x7bff : 0x7f7f;
  const double max = lnfold::onnx::decode_narrow(max_finite, f);
  const double ulp = max - lnfold::onnx::decode_narrow(static_cast<std::uint16_t>(max_finite - 1), f);
  if (std::fabs(x) >= max + ulp / 2) best = f == narrow_float::float16 ? 0x7c00 : 0x7f80;
  return static_cast<std::uint16_t>(best | (std::signbit(x) ? 0x8000u : 0u));
}

::onnx::NodeProto* find_node(model_builder& b, const std::string& name) {
  for (auto& n : *b.g().mutable_node())
    if (n.name() == name) return &n;
  return nullptr;
}

std::optional<lnfold::node_id> node_named(const lnfold::onnx::graph& g, const std::string& name) {
  for (lnfold::node_id n = 0; n < g.node_count(); ++n)
    if (g.node_name(n) == name) return n;
  return std::nullopt;
}

/// A float initializer stored as `type` (float16 / bfloat16 raw data), values 0.5 + (i mod 7) / 8.
void narrow_init(model_builder& b, const std::string& name, std::vector<std::int64_t> dims, int type) {
  auto* t = b.g().add_initializer();
  t->set_name(name);
  t->set_data_type(type);
  std::int64_t n = 1;
  for (auto d : dims) t->add_dims(d), n *= d;
  std::vector<double> v(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = 0.5 + static_cast<double>(i % 7) / 8;
  t->set_raw_data(lnfold::onnx::encode_raw(type, v));
}

/// x → MatMul(W) → Add(b) → LayerNormalization, with W [8, 16] and b [16] stored as `storage`
/// (W16, b16) and each read through a Cast to float (cast_w, cast_b).
model_builder cast_weights_model(int storage) {
  model_builder b(17);
  b.input("x", {2, 4, 8});
  narrow_init(b, "W16", {8, 16}, storage);
  narrow_init(b, "b16", {16}, storage);
  lnfold::onnx::set_attribute(b.node("Cast", {"W16"}, {"W"}, "cast_w"), "to", std::int64_t{P::FLOAT});
  lnfold::onnx::set_attribute(b.node("Cast", {"b16"}, {"b"}, "cast_b"), "to", std::int64_t{P::FLOAT});
  b.node("MatMul", {"x", "W"}, {"h"}, "proj");
  b.node("Add", {"h", "b"}, {"hb"}, "bias");
  b.node("LayerNormalization", {"hb"}, {"y"}, "ln");
  b.output("y", {2, 4, 16});
  return b;
}

void int_init(model_builder& b, const std::string& name, std::vector<std::int64_t> values, bool scalar = false) {
  auto* t = b.g().add_initializer();
  t->set_name(name);
  t->set_data_type(P::INT64);
  if (!scalar) t->add_dims(static_cast<std::int64_t>(values.size()));
  for (auto v : values) t->add_int64_data(v);
}

}  // namespace

// ---- float16 / bfloat16 ----------------------------------------------------------------------------

TEST_CASE("float16 and bfloat16: every pattern decodes and encodes back to itself") {
  for (const auto f : {narrow_float::float16, narrow_float::bfloat16}) {
    CAPTURE(static_cast<int>(f));
    std::size_t nans = 0;
    for (std::uint32_t h = 0; h <= 0xffff; ++h) {
      const double v = lnfold::onnx::decode_narrow(static_cast<std::uint16_t>(h), f);
      if (std::isnan(v)) {
        ++nans;
        CHECK(std::isnan(lnfold::onnx::round_to_narrow(v, f)));
        continue;
      }
      REQUIRE(lnfold::onnx::encode_narrow(v, f) == h);
    }
    CHECK(nans == (f == narrow_float::float16 ? 2u * 1023u : 2u * 127u));
  }
  CHECK(lnfold::onnx::decode_narrow(0x3c00, narrow_float::float16) == 1.0);
  CHECK(lnfold::onnx::decode_narrow(0x0001, narrow_float::float16) == std::ldexp(1.0, -24));  // smallest subnormal
  CHECK(lnfold::onnx::decode_narrow(0x7bff, narrow_float::float16) == 65504.0);
  CHECK(lnfold::onnx::decode_narrow(0x3f80, narrow_float::bfloat16) == 1.0);
  CHECK(lnfold::onnx::decode_narrow(0x7f7f, narrow_float::bfloat16) == std::ldexp(255.0, 120));
}

TEST_CASE("float16 and bfloat16 encoding rounds to nearest even, as an exhaustive search finds") {
  std::mt19937_64 rng(7);
  for (const auto f : {narrow_float::float16, narrow_float::bfloat16}) {
    CAPTURE(static_cast<int>(f));
    // Midpoints between neighbours (the ties), a quarter past them, and random values over the range.
    std::vector<double> xs;
    for (std::uint32_t h = 0; h < 0x7c00 && (f == narrow_float::float16 || h < 0x7f80); h += 37) {
      const double lo = lnfold::onnx::decode_narrow(static_cast<std::uint16_t>(h), f);
      const double hi = lnfold::onnx::decode_narrow(static_cast<std::uint16_t>(h + 1), f);
      if (!std::isfinite(hi)) continue;
      xs.push_back((lo + hi) / 2);
      xs.push_back(lo + (hi - lo) / 4);
      xs.push_back(-(lo + hi) / 2);
    }
    const double top = f == narrow_float::float16 ? 70000.0 : 3.5e38;
    for (int i = 0; i < 300; ++i) xs.push_back(std::uniform_real_distribution<double>(-top, top)(rng));
    for (int i = 0; i < 300; ++i)
      xs.push_back(std::ldexp(std::uniform_real_distribution<double>(-1, 1)(rng), -(i % 40)));
    for (const double x : xs) {
      CAPTURE(x);
      REQUIRE(lnfold::onnx::encode_narrow(x, f) == nearest_by_search(x, f));
    }
  }
  // The named rows: overflow, underflow to ±0, infinities, NaN, signed zero.
  CHECK(lnfold::onnx::encode_narrow(65520.0, narrow_float::float16) == 0x7c00);  // max + ulp/2: a tie, to infinity
  CHECK(lnfold::onnx::encode_narrow(65519.99, narrow_float::float16) == 0x7bff);
  CHECK(lnfold::onnx::encode_narrow(std::ldexp(1.0, -25), narrow_float::float16) ==
        0x0000);  // half the smallest subnormal: even
  CHECK(lnfold::onnx::encode_narrow(std::ldexp(1.5, -25), narrow_float::float16) == 0x0001);
  CHECK(lnfold::onnx::encode_narrow(-std::ldexp(1.0, -30), narrow_float::float16) == 0x8000);
  CHECK(lnfold::onnx::encode_narrow(-std::numeric_limits<double>::infinity(), narrow_float::bfloat16) == 0xff80);
  CHECK(lnfold::onnx::encode_narrow(1e300, narrow_float::bfloat16) == 0x7f80);
  CHECK(std::isnan(lnfold::onnx::decode_narrow(lnfold::onnx::encode_narrow(std::nan(""), narrow_float::float16),
                                               narrow_float::float16)));
  CHECK(lnfold::onnx::encode_narrow(-0.0, narrow_float::float16) == 0x8000);
  // 1 + 2^-8 lies exactly between bfloat16's 1 and 1 + 2^-7: to the even one, 1.
  CHECK(lnfold::onnx::encode_narrow(1.0 + std::ldexp(1.0, -8), narrow_float::bfloat16) == 0x3f80);
  CHECK(lnfold::onnx::encode_narrow(1.0 + 3 * std::ldexp(1.0, -8), narrow_float::bfloat16) == 0x3f82);
}

TEST_CASE("encode_raw / decode_raw round-trip float, double, float16 and bfloat16, tensor_values reads them") {
  const std::vector<double> v{0.0, -1.5, 3.140625, 1e-3, -65504.0, 2.5e-6};
  for (const int type : {P::FLOAT, P::DOUBLE, P::FLOAT16, P::BFLOAT16}) {
    CAPTURE(type);
    const std::string raw = lnfold::onnx::encode_raw(type, v);
    CHECK(raw.size() == v.size() * lnfold::onnx::element_size(type));
    const auto back = lnfold::onnx::decode_raw(type, raw);
    REQUIRE(back.size() == v.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
      const double expected = type == P::FLOAT16    ? lnfold::onnx::round_to_narrow(v[i], narrow_float::float16)
                              : type == P::BFLOAT16 ? lnfold::onnx::round_to_narrow(v[i], narrow_float::bfloat16)
                              : type == P::FLOAT    ? static_cast<double>(static_cast<float>(v[i]))
                                                    : v[i];
      CHECK(back[i] == expected);
    }
    P t;
    t.set_data_type(type);
    t.add_dims(static_cast<std::int64_t>(v.size()));
    t.set_raw_data(raw);
    CHECK(lnfold::onnx::tensor_values(t) == back);
  }
  P typed;  // float16 in int32_data: one bit pattern per element
  typed.set_data_type(P::FLOAT16);
  typed.add_int32_data(0x3c00);
  typed.add_int32_data(0xc000);
  CHECK(lnfold::onnx::tensor_values(typed) == std::vector<double>{1.0, -2.0});
  CHECK_THROWS_WITH(lnfold::onnx::decode_raw(P::INT64, std::string(8, '\0')),
                    Catch::Contains("INT64") && Catch::Contains("not a float type"));
  CHECK_THROWS_WITH(lnfold::onnx::decode_raw(P::FLOAT16, std::string(3, '\0')), Catch::Contains("3 bytes"));
  CHECK_THROWS_WITH(lnfold::onnx::encode_raw(P::STRING, {1.0}), Catch::Contains("STRING"));
}

TEST_CASE("make_tensor writes a constant in the model's type: float16 and bfloat16 rounded once, int64 exact") {
  // The constants a conversion inserts (ε, the exponent 2, zeros, axes) must have the element type of
  // the values they meet: a float16 model's Add(mean_square, ε) needs a float16 ε.
  const std::vector<double> v{1e-5, 2.0, -0.1};
  for (const int type : {P::FLOAT, P::DOUBLE, P::FLOAT16, P::BFLOAT16}) {
    CAPTURE(type);
    const P t = lnfold::onnx::make_tensor("c", type, {3}, v);
    CHECK(t.data_type() == type);
    CHECK(t.raw_data() == lnfold::onnx::encode_raw(type, v));
  }
  CHECK(lnfold::onnx::tensor_values(lnfold::onnx::make_tensor("c", P::FLOAT16, {}, {1e-5})) ==
        std::vector<double>{std::ldexp(168.0, -24)});  // 1e-5 is subnormal in float16: 168 · 2^-24
  const P axes = lnfold::onnx::make_tensor("axes", P::INT64, {2}, {-1, 3});
  CHECK(axes.data_type() == P::INT64);
  CHECK(lnfold::onnx::tensor_values(axes) == std::vector<double>{-1.0, 3.0});
  CHECK_THROWS_WITH(lnfold::onnx::make_tensor("s", P::STRING, {1}, {1.0}), Catch::Contains("STRING"));
}

// ---- opsets past 17 --------------------------------------------------------------------------------

TEST_CASE("Opset 18: a decomposed LN with ReduceMean axes as an input folds, shapes are not ONNX 1.12's") {
  for (const int opset : {18, 21, 23}) {
    CAPTURE(opset);
    model_builder b(opset);
    b.input("x", {2, 4, 8});
    b.init("W", {8, 8});
    b.init("gamma", {8});
    b.init("beta", {8});
    b.node("MatMul", {"x", "W"}, {"h"}, "proj");
    b.decomposed_layer_norm(false);
    for (auto& n : *b.g().mutable_node())  // axes attribute -> input, as opset 18 writes it
      if (n.op_type() == "ReduceMean") {
        const auto axis = n.attribute(0).ints(0);
        n.clear_attribute();
        int_init(b, n.name() + ".axes", {axis});
        n.add_input(n.name() + ".axes");
      }
    b.output("y", {2, 4, 8});
    const lnfold::onnx::graph g(b.m);
    const auto plan = lnfold::find_foldable(g);
    REQUIRE(plan.lns.size() == 1);
    CHECK(plan.lns[0].foldable);
    CHECK(g.node_op(plan.lns[0].node).axes == std::vector<std::int64_t>{2});
    // libonnx 1.12 would infer ReduceMean-13 (axes ignored): every axis reduced, [1, 1, 1].
    const auto y = g.node_shape(plan.lns[0].node);
    REQUIRE(y);
    CHECK(*y == lnfold::shape{2, 4, 8});
  }
}

TEST_CASE("Opset 23: RMSNormalization is an rms_norm, a region it reads is not safe, its output is not zero-mean") {
  model_builder b(23);
  b.input("x", {2, 8});
  b.init("W", {8, 8});
  b.init("W2", {8, 8});
  b.init("scale", {8});
  b.node("MatMul", {"x", "W"}, {"h"}, "proj");
  b.node("LayerNormalization", {"h"}, {"y"}, "ln");
  auto& rms = b.node("RMSNormalization", {"h", "scale"}, {"r"}, "rms");
  lnfold::onnx::set_float_attribute(rms, "epsilon", 1e-6f);
  b.node("MatMul", {"r", "W2"}, {"r2"}, "proj2");
  b.node("LayerNormalization", {"r"}, {"z"}, "ln_after_rms");
  b.output("y", {2, 8});
  b.output("z", {2, 8});
  b.output("r2", {2, 8});
  const lnfold::onnx::graph g(b.m);
  const auto rn = node_named(g, "rms");
  REQUIRE(rn);
  CHECK(g.node_op(*rn).kind == op_kind::rms_norm);
  CHECK(g.node_op(*rn).eps == Approx(1e-6));
  CHECK(g.node_op(*rn).gamma.has_value());
  const auto plan = lnfold::find_foldable(g);
  REQUIRE(plan.lns.size() == 2);
  for (const auto& v : plan.lns) {
    CAPTURE(g.node_name(v.node));
    CHECK_FALSE(v.foldable);
    CHECK(v.reason == (g.node_name(v.node) == "ln" ? fold_reason::rms_norm_consumer : fold_reason::norm_output));
  }
}

TEST_CASE("An op of an unknown domain blocks the LNs it touches and no other, the model loads") {
  model_builder b(18);
  auto* custom = b.m.add_opset_import();
  custom->set_domain("com.example.custom");
  custom->set_version(1);
  b.input("x", {2, 8});
  b.init("W", {8, 8});
  b.init("V", {8, 8});
  b.node("MatMul", {"x", "W"}, {"h"}, "proj");
  b.node("LayerNormalization", {"h"}, {"y"}, "ln_ok");
  auto& c = b.node("Frobnicate", {"x"}, {"f"}, "custom");
  c.set_domain("com.example.custom");
  b.node("Add", {"f", "h2"}, {"s"}, "mix");
  b.node("MatMul", {"x", "V"}, {"h2"}, "proj2");
  b.node("LayerNormalization", {"s"}, {"z"}, "ln_blocked");
  b.output("y", {2, 8});
  b.output("z", {2, 8});
  for (const bool typed : {false, true}) {
    CAPTURE(typed);
    // Nothing infers a custom op's shape: without a value_info the LN's input shape is unknown.
    if (typed) b.typed(b.g().add_value_info(), "f", {2, 8});
    const lnfold::onnx::graph g(b.m);
    const auto plan = lnfold::find_foldable(g);
    REQUIRE(plan.lns.size() == 2);
    for (const auto& v : plan.lns) {
      CAPTURE(g.node_name(v.node));
      if (g.node_name(v.node) == "ln_ok") {
        CHECK(v.foldable);
      } else if (!typed) {
        CHECK(v.reason == fold_reason::unknown_shape);
      } else {
        CHECK(v.reason == fold_reason::unknown_op);
        REQUIRE(v.offender);
        CHECK(g.node_op(*v.offender).type == "com.example.custom:Frobnicate");
      }
    }
  }
}

// ---- constant chains --------------------------------------------------------------------------------

TEST_CASE("A float16 weight behind a Cast is the stored tensor's parameter, seen as float") {
  for (const int storage : {P::FLOAT16, P::BFLOAT16}) {
    CAPTURE(storage);
    const lnfold::onnx::graph g(cast_weights_model(storage).m);
    const auto plan = lnfold::find_foldable(g);
    REQUIRE(plan.lns.size() == 1);
    CHECK(plan.lns[0].foldable);
    std::vector<std::string> centered;
    for (const auto& s : plan.sources)
      for (const auto& p : s.params) {
        centered.push_back(g.param_name(p.param));
        const auto& par = g.parameter(p.param);
        REQUIRE(par.tensor);
        CHECK(par.tensor->data_type() == storage);  // the converter centers the stored tensor
        CHECK(par.type == P::FLOAT);                // as its readers see it
        const auto& chain = g.chain(s.node, p.param);
        REQUIRE(chain.size() == 1);
        CHECK(chain[0]->op_type() == "Cast");
      }
    std::sort(centered.begin(), centered.end());
    CHECK(centered == std::vector<std::string>{"W16", "b16"});
    CHECK_FALSE(node_named(g, "cast_w"));  // folded, not a node
  }
}

TEST_CASE(
    "Converting float16 / bfloat16 weights behind a Cast: centered in storage, the residue reported and bounded") {
  // A centered fiber stored in T keeps a mean of at most T's relative rounding error times max|w|:
  // each element moves by at most half an ulp of its own magnitude (2^-11 float16, 2^-8 bfloat16,
  // relative), so their mean moves by at most that times max|w|.
  for (const auto& [storage, bound] : {std::pair{P::FLOAT16, 0x1p-11}, std::pair{P::BFLOAT16, 0x1p-8}}) {
    CAPTURE(storage);
    const lnfold::onnx::graph g(cast_weights_model(storage).m);
    const auto result = lnfold::onnx::convert_model(g, lnfold::find_foldable(g));
    const auto& s = result.summary;
    REQUIRE(s.residuals.size() == 2);
    for (const auto& r : s.residuals) {
      CAPTURE(r.param);
      CHECK(r.type == lnfold::onnx::detail::element_type_name(storage));
      CHECK(r.relative_mean <= bound);
    }
    // Independently: the stored W16 decoded, its rows (fibers over the output axis) summed.
    const ::onnx::TensorProto* w = nullptr;
    for (const auto& t : result.model.graph().initializer())
      if (t.name() == "W16") w = &t;
    REQUIRE(w != nullptr);
    CHECK(w->data_type() == storage);  // still narrow, still read through its Cast
    const auto v = lnfold::onnx::decode_raw(storage, w->raw_data());
    REQUIRE(v.size() == 8 * 16);
    double worst = 0, scale = 0;
    for (std::size_t i = 0; i < 8; ++i) {
      double sum = 0;
      for (std::size_t j = 0; j < 16; ++j) sum += v[i * 16 + j], scale = std::max(scale, std::fabs(v[i * 16 + j]));
      worst = std::max(worst, std::fabs(sum / 16));
    }
    REQUIRE(scale > 0);
    CHECK(worst / scale <= bound);
    const auto w_residual = std::find_if(s.residuals.begin(), s.residuals.end(),
                                         [](const auto& r) { return r.param == "W16"; });
    REQUIRE(w_residual != s.residuals.end());
    CHECK(w_residual->relative_mean == Approx(worst / scale).margin(1e-15));
    CHECK(s.largest_residual().relative_mean >= w_residual->relative_mean);
  }
}

TEST_CASE("A bias reshaped and cast before the add: the chain's view dims are the parameter's") {
  model_builder b(18);
  b.input("x", {2, 4, 8});
  b.init("W", {8, 16});
  narrow_init(b, "b16", {16}, P::FLOAT16);
  int_init(b, "shape", {1, 1, 16});
  lnfold::onnx::set_attribute(b.node("Cast", {"b16"}, {"bf"}, "cast_b"), "to", std::int64_t{P::FLOAT});
  b.node("Reshape", {"bf", "shape"}, {"b3"}, "reshape_b");
  b.node("MatMul", {"x", "W"}, {"h"}, "proj");
  b.node("Add", {"h", "b3"}, {"hb"}, "bias");
  b.node("LayerNormalization", {"hb"}, {"y"}, "ln");
  b.output("y", {2, 4, 16});
  const lnfold::onnx::graph g(b.m);
  const auto plan = lnfold::find_foldable(g);
  REQUIRE(plan.lns.size() == 1);
  CHECK(plan.lns[0].foldable);
  bool seen = false;
  for (const auto& s : plan.sources)
    for (const auto& p : s.params)
      if (g.param_name(p.param) == "b16") {
        seen = true;
        CHECK(g.parameter(p.param).dims == lnfold::shape{1, 1, 16});
        CHECK(p.axis == std::optional<std::size_t>(2));  // over the view's last axis
        CHECK(g.chain(s.node, p.param).size() == 2);
      }
  CHECK(seen);
}

TEST_CASE("A stored tensor read through two different views keeps its chains as nodes: the tie stays visible") {
  model_builder b(17);
  b.input("x", {2, 8});
  b.init("W", {8, 8});
  int_init(b, "flat", {64});
  b.node("MatMul", {"x", "W"}, {"h"}, "proj");  // W read directly, [8, 8]
  b.node("Reshape", {"W", "flat"}, {"wflat"}, "flatten_w");
  b.node("LayerNormalization", {"h"}, {"y"}, "ln");
  b.output("y", {2, 8});
  b.output("wflat", {64});
  const lnfold::onnx::graph g(b.m);
  const auto r = node_named(g, "flatten_w");
  REQUIRE(r);  // not folded: a reshape node of the constant
  CHECK(g.node_op(*r).kind == op_kind::reshape);
  const auto plan = lnfold::find_foldable(g);
  REQUIRE(plan.lns.size() == 1);
  // W is centered for the LN and also read (as data, exposed) by the reshape: a conflict the
  // default policy resolves by untying; refusing it must name the tie.
  lnfold::fold_options refuse;
  refuse.tied = lnfold::tied_policy::refuse;
  CHECK(lnfold::find_foldable(g, refuse).lns[0].reason == fold_reason::tied_parameter);
}

// ---- what exporters write ----------------------------------------------------------------------------

TEST_CASE("A class token Expand-ed over the batch and concatenated: a source, so the LN folds") {
  for (const int opset : {13, 18}) {
    CAPTURE(opset);
    model_builder b(opset);
    b.input("x", {3, 4, 8});
    b.init("W", {8, 8});
    b.init("cls", {1, 1, 8});
    int_init(b, "target", {3, -1, -1});
    int_init(b, "minus_one", {-1, -1, -1});
    b.node("MatMul", {"x", "W"}, {"h"}, "patches");
    // torch's expand(-1): Where(Equal(shape, -1), ones, shape)
    b.node("Equal", {"target", "minus_one"}, {"is_keep"}, "eq");
    int_init(b, "ones", {1, 1, 1});
    b.node("Where", {"is_keep", "ones", "target"}, {"expand_shape"}, "where");
    b.node("Expand", {"cls", "expand_shape"}, {"cls_b"}, "expand");
    lnfold::onnx::set_attribute(b.node("Concat", {"cls_b", "h"}, {"tokens"}, "concat"), "axis", std::int64_t{1});
    b.node("LayerNormalization", {"tokens"}, {"y"}, "ln");
    b.output("y", {3, 5, 8});
    const lnfold::onnx::graph g(b.m);
    const auto e = node_named(g, "expand");
    REQUIRE(e);
    CHECK(g.node_op(*e).kind == op_kind::add);
    CHECK(g.node_shape(*e) == std::optional<lnfold::shape>(lnfold::shape{3, 1, 8}));
    const auto plan = lnfold::find_foldable(g);
    REQUIRE(plan.lns.size() == 1);
    CHECK(plan.lns[0].foldable);
    bool cls = false;
    for (const auto& s : plan.sources)
      for (const auto& p : s.params) cls |= g.param_name(p.param) == "cls" && p.axis == std::optional<std::size_t>(2);
    CHECK(cls);
  }
}

TEST_CASE("Expand of a data tensor along the normalized axis blocks, Tile along tokens is transparent") {
  model_builder b(17);
  b.input("x", {2, 4, 8});
  b.input("gate", {2, 4, 1});
  b.init("W", {8, 8});
  int_init(b, "full", {2, 4, 8});
  int_init(b, "reps", {1, 2, 1});
  b.node("MatMul", {"x", "W"}, {"h"}, "proj");
  b.node("Tile", {"h", "reps"}, {"tiled"}, "tile");
  b.node("LayerNormalization", {"tiled"}, {"y"}, "ln_tiled");
  b.node("Expand", {"gate", "full"}, {"gate_full"}, "expand_gate");
  b.node("Add", {"h", "gate_full"}, {"s"}, "add_gate");
  b.node("LayerNormalization", {"s"}, {"z"}, "ln_gated");
  b.output("y", {2, 8, 8});
  b.output("z", {2, 4, 8});
  const lnfold::onnx::graph g(b.m);
  const auto plan = lnfold::find_foldable(g);
  REQUIRE(plan.lns.size() == 2);
  // h feeds both LNs: one region. The broadcast gate (a graph input, so data) blocks it.
  for (const auto& v : plan.lns) {
    CAPTURE(g.node_name(v.node));
    CHECK_FALSE(v.foldable);
    CHECK(v.reason == fold_reason::broadcast_along_axis);
  }
  const auto t = node_named(g, "tile");
  REQUIRE(t);
  CHECK(g.node_shape(*t) == std::optional<lnfold::shape>(lnfold::shape{2, 8, 8}));
  // Without the gate the region folds through the Tile.
  model_builder c = b;
  c.g().mutable_output()->RemoveLast();
  auto* nodes = c.g().mutable_node();
  nodes->erase(nodes->end() - 3, nodes->end());
  const lnfold::onnx::graph h(c.m);
  const auto folded = lnfold::find_foldable(h);
  REQUIRE(folded.lns.size() == 1);
  CHECK(folded.lns[0].foldable);
}

TEST_CASE("Shape arithmetic at opset 18: Shape → Gather → Div → Concat → Reshape is folded, the LN after it folds") {
  model_builder b(18);
  b.input("x", {2, 6, 8});
  b.init("W", {8, 8});
  int_init(b, "zero", {0}, true);
  int_init(b, "one", {1}, true);
  int_init(b, "two", {2}, true);
  int_init(b, "axis0", {0});
  int_init(b, "minus1", {-1});
  b.node("MatMul", {"x", "W"}, {"h"}, "proj");
  b.node("Shape", {"h"}, {"hs"}, "shape");
  b.node("Gather", {"hs", "zero"}, {"batch"}, "g0");
  b.node("Gather", {"hs", "one"}, {"tokens"}, "g1");
  b.node("Div", {"tokens", "two"}, {"half"}, "halve");  // windows of 2 tokens
  b.node("Unsqueeze", {"batch", "axis0"}, {"b1"}, "u0");
  b.node("Unsqueeze", {"half", "axis0"}, {"h1"}, "u1");
  lnfold::onnx::set_attribute(b.node("Concat", {"b1", "h1", "two_vec", "minus1"}, {"target"}, "cat"), "axis",
                              std::int64_t{0});
  int_init(b, "two_vec", {2});
  b.node("Reshape", {"h", "target"}, {"windows"}, "partition");  // [2, 3, 2, 8]
  b.node("LayerNormalization", {"windows"}, {"y"}, "ln");
  b.output("y", {2, 3, 2, 8});
  const lnfold::onnx::graph g(b.m);
  const auto r = node_named(g, "partition");
  REQUIRE(r);
  CHECK(g.node_shape(*r) == std::optional<lnfold::shape>(lnfold::shape{2, 3, 2, 8}));
  const auto plan = lnfold::find_foldable(g);
  REQUIRE(plan.lns.size() == 1);
  CHECK(plan.lns[0].foldable);
}

TEST_CASE(
    "Pinned input sizes (--input-shape) make a computed reshape known, and a wrong name, rank or size is one clear error") {
  model_builder b(17);
  b.input("x", {2, 6, 8});
  auto* dims = b.g().mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
  dims->mutable_dim(0)->clear_dim_value();
  dims->mutable_dim(0)->set_dim_param("batch");
  dims->mutable_dim(1)->clear_dim_value();
  b.init("W", {8, 8});
  int_init(b, "shape", {0, 3, 2, 8});  // needs tokens = 6: only the pinned size makes this known
  b.node("MatMul", {"x", "W"}, {"h"}, "proj");
  b.node("Reshape", {"h", "shape"}, {"r"}, "split_tokens");
  b.node("LayerNormalization", {"r"}, {"y"}, "ln");
  b.output("y", {-1, 3, 2, 8});
  lnfold::onnx::graph_options pinned;
  pinned.shapes.input_shapes["x"] = {4, 6, 8};
  const lnfold::onnx::graph g(b.m, pinned);
  const auto x = node_named(g, "x");
  REQUIRE(x);
  CHECK(g.node_shape(*x) == std::optional<lnfold::shape>(lnfold::shape{4, 6, 8}));
  const auto r = node_named(g, "split_tokens");
  REQUIRE(r);
  CHECK(g.node_shape(*r) == std::optional<lnfold::shape>(lnfold::shape{4, 3, 2, 8}));
  CHECK(lnfold::find_foldable(g).lns.at(0).foldable);

  const auto fails = [&](const char* name, lnfold::shape s, const char* message) {
    lnfold::onnx::graph_options o;
    o.shapes.input_shapes[name] = std::move(s);
    CHECK_THROWS_WITH(lnfold::onnx::graph(b.m, o), Catch::Contains(message));
  };
  fails("y", {1}, "the model has no input named 'y'");
  fails("x", {4, 6}, "input 'x' has rank 3, not 2");
  fails("x", {4, 6, 9}, "input 'x' has size 8 at axis 2 in the model, not 9");
  fails("x", {4, 0, 8}, "needs sizes > 0");
  CHECK_THROWS_WITH(lnfold::onnx::graph(b.m, {.shapes = {.input_shapes = {{"W", {8, 8}}}}}),
                    Catch::Contains("no input named 'W'"));
  (void)find_node;
}
