// Every public norm entry point rejects misuse with lnfold::error, and the message names the
// function and the offending argument.
#include "norm_test_util.hpp"

#include <functional>
#include <limits>
#include <string>

using namespace norm_test;

namespace {

struct call_args {
  matrix_ref<const float> x;
  matrix_ref<float> r;
  matrix_ref<float> y;
  double eps;
  std::size_t row_begin, row_end;
};

struct entry {
  std::string name;
  bool fused, ranged;
  std::function<void(const call_args&)> call;
};

std::vector<entry> entries() {
  using A = call_args;
  return {
      {"lnfold::layer_norm", false, false, [](const A& a) { lnfold::layer_norm(a.x, a.y, {}, a.eps); }},
      {"lnfold::rms_norm", false, false, [](const A& a) { lnfold::rms_norm(a.x, a.y, {}, a.eps); }},
      {"lnfold::layer_norm_rows", false, true,
       [](const A& a) { lnfold::layer_norm_rows(a.x, a.y, {}, a.eps, a.row_begin, a.row_end); }},
      {"lnfold::rms_norm_rows", false, true,
       [](const A& a) { lnfold::rms_norm_rows(a.x, a.y, {}, a.eps, a.row_begin, a.row_end); }},
      {"lnfold::residual_add_layer_norm", true, false,
       [](const A& a) { lnfold::residual_add_layer_norm(a.x, a.r, a.y, {}, a.eps); }},
      {"lnfold::residual_add_rms_norm", true, false,
       [](const A& a) { lnfold::residual_add_rms_norm(a.x, a.r, a.y, {}, a.eps); }},
      {"lnfold::residual_add_layer_norm_rows", true, true,
       [](const A& a) { lnfold::residual_add_layer_norm_rows(a.x, a.r, a.y, {}, a.eps, a.row_begin, a.row_end); }},
      {"lnfold::residual_add_rms_norm_rows", true, true,
       [](const A& a) { lnfold::residual_add_rms_norm_rows(a.x, a.r, a.y, {}, a.eps, a.row_begin, a.row_end); }},
      {"lnfold::reference_layer_norm", false, false,
       [](const A& a) { lnfold::reference_layer_norm(a.x, a.y, {}, a.eps); }},
      {"lnfold::reference_rms_norm", false, false, [](const A& a) { lnfold::reference_rms_norm(a.x, a.y, {}, a.eps); }},
      {"lnfold::reference_residual_add_layer_norm", true, false,
       [](const A& a) { lnfold::reference_residual_add_layer_norm(a.x, a.r, a.y, {}, a.eps); }},
      {"lnfold::reference_residual_add_rms_norm", true, false,
       [](const A& a) { lnfold::reference_residual_add_rms_norm(a.x, a.r, a.y, {}, a.eps); }},
  };
}

void check_rejects(const entry& e, const call_args& a, std::initializer_list<std::string> needles) {
  check_rejects_named(
      e.name, [&] { e.call(a); }, needles);
}

}  // namespace

TEST_CASE("norm entry points reject bad arguments, naming them", "[norm]") {
  std::vector<float> xb(64, 1.0f), rb(64, 1.0f), yb(64, 0.0f);
  const call_args good{{xb.data(), 3, 4}, {rb.data(), 3, 4}, {yb.data(), 3, 4}, 1e-5, 0, 3};
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  for (const entry& e : entries()) {
    CHECK_NOTHROW(e.call(good));
    call_args a = good;
    a.x.cols = a.y.cols = a.r.cols = 0;
    check_rejects(e, a, {"x.cols", "(got 0)"});
    for (double eps : {0.0, -1.0, nan, inf}) {
      a = good;
      a.eps = eps;
      check_rejects(e, a, {"eps"});
    }
    a = good;
    a.x.data = nullptr;
    check_rejects(e, a, {"x.data", "rows = 3"});
    a = good;
    a.y.data = nullptr;
    check_rejects(e, a, {"y.data"});
    a = good;
    a.x.row_stride = 3;
    check_rejects(e, a, {"x.row_stride", "3 < 4"});
    a = good;
    a.y.row_stride = 2;
    check_rejects(e, a, {"y.row_stride", "2 < 4"});
    a = good;
    a.y.rows = 2;
    check_rejects(e, a, {"y shape [2, 4]", "x shape [3, 4]"});
    a = good;
    a.y.cols = 5;
    a.y.row_stride = 5;
    check_rejects(e, a, {"y shape [3, 5]"});
    a = good;
    a.y = matrix_ref<float>(xb.data(), 3, 4, 5);  // y aliases x with another stride
    a.x.row_stride = 4;
    check_rejects(e, a, {"y aliases x", "row_stride"});
    if (e.fused) {
      a = good;
      a.r.data = nullptr;
      check_rejects(e, a, {"residual.data"});
      a = good;
      a.r.cols = 3;
      check_rejects(e, a, {"residual shape [3, 3]"});
      a = good;
      a.r.row_stride = 1;
      check_rejects(e, a, {"residual.row_stride"});
    }
    if (e.ranged) check_row_range(e, good);
    // rows == 0: a no-op even with null data, but d and eps are still checked.
    a = call_args{{nullptr, 0, 4}, {nullptr, 0, 4}, {nullptr, 0, 4}, 1e-5, 0, 0};
    CHECK_NOTHROW(e.call(a));
    a.eps = -1;
    check_rejects(e, a, {"eps"});
  }
}

TEST_CASE("a failed check writes nothing", "[norm]") {
  std::vector<float> x(12, 1.0f), y(12, 7.0f);
  CHECK_THROWS_AS(lnfold::layer_norm_rows(matrix_ref<const float>(x.data(), 3, 4), matrix_ref<float>(y.data(), 3, 4),
                                          {}, 1e-5, 0, 4),
                  lnfold::error);
  for (float v : y) CHECK(v == 7.0f);
}
