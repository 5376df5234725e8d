// Every public norm backward entry point (and the backward reference) rejects misuse with
// lnfold::error, and the message names the function and the offending argument.
#include "backward_util.hpp"

#include <functional>
#include <limits>
#include <string>

using namespace norm_test;

namespace {

struct call_args {
  matrix_ref<const float> x;  // x, or the residual of the fused forms
  matrix_ref<const float> dy;
  matrix_ref<float> dx;  // dx, or dresidual
  double eps;
  std::size_t row_begin, row_end;
};

struct entry {
  std::string name;
  std::string x_name, dx_name;
  bool ranged;
  std::function<void(const call_args&)> call;
};

std::vector<entry> entries() {
  using A = call_args;
  static double dg[8], db[8];
  const norm_affine_grads g{dg, db};
  return {
      {"lnfold::layer_norm_backward", "x", "dx", false,
       [g](const A& a) { lnfold::layer_norm_backward(a.x, a.dy, a.dx, {}, g, a.eps); }},
      {"lnfold::rms_norm_backward", "x", "dx", false,
       [g](const A& a) { lnfold::rms_norm_backward(a.x, a.dy, a.dx, {}, g, a.eps); }},
      {"lnfold::layer_norm_backward_rows", "x", "dx", true,
       [g](const A& a) { lnfold::layer_norm_backward_rows(a.x, a.dy, a.dx, {}, g, a.eps, a.row_begin, a.row_end); }},
      {"lnfold::rms_norm_backward_rows", "x", "dx", true,
       [g](const A& a) { lnfold::rms_norm_backward_rows(a.x, a.dy, a.dx, {}, g, a.eps, a.row_begin, a.row_end); }},
      {"lnfold::residual_add_layer_norm_backward", "residual", "dresidual", false,
       [g](const A& a) { lnfold::residual_add_layer_norm_backward(a.x, a.dy, a.dx, {}, g, a.eps); }},
      {"lnfold::residual_add_rms_norm_backward", "residual", "dresidual", false,
       [g](const A& a) { lnfold::residual_add_rms_norm_backward(a.x, a.dy, a.dx, {}, g, a.eps); }},
      {"lnfold::residual_add_layer_norm_backward_rows", "residual", "dresidual", true,
       [g](const A& a) {
         lnfold::residual_add_layer_norm_backward_rows(a.x, a.dy, a.dx, {}, g, a.eps, a.row_begin, a.row_end);
       }},
      {"lnfold::residual_add_rms_norm_backward_rows", "residual", "dresidual", true,
       [g](const A& a) {
         lnfold::residual_add_rms_norm_backward_rows(a.x, a.dy, a.dx, {}, g, a.eps, a.row_begin, a.row_end);
       }},
      {"lnfold::reference_layer_norm_backward", "x", "y", false,
       [](const A& a) { lnfold::reference_layer_norm_backward(a.x, a.dy, a.dx, {}, dg, db, a.eps); }},
      {"lnfold::reference_rms_norm_backward", "x", "y", false,
       [](const A& a) { lnfold::reference_rms_norm_backward(a.x, a.dy, a.dx, {}, dg, db, a.eps); }},
  };
}

void check_rejects(const entry& e, const call_args& a, std::initializer_list<std::string> needles) {
  check_rejects_named(
      e.name, [&] { e.call(a); }, needles);
}

}  // namespace

TEST_CASE("norm backward entry points reject bad arguments, naming them", "[norm][backward]") {
  std::vector<float> xb(64, 1.0f), dyb(64, 1.0f), dxb(64, 0.0f);
  const call_args good{{xb.data(), 3, 4}, {dyb.data(), 3, 4}, {dxb.data(), 3, 4}, 1e-5, 0, 3};
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  for (const entry& e : entries()) {
    const std::string& xn = e.x_name;
    const std::string& dxn = e.dx_name;
    CHECK_NOTHROW(e.call(good));
    call_args a = good;
    a.x.cols = a.dy.cols = a.dx.cols = 0;
    check_rejects(e, a, {xn + ".cols", "(got 0)"});
    for (double eps : {0.0, -1.0, nan, inf}) {
      a = good;
      a.eps = eps;
      check_rejects(e, a, {"eps"});
    }
    a = good;
    a.x.data = nullptr;
    check_rejects(e, a, {xn + ".data", "rows = 3"});
    a = good;
    a.dy.data = nullptr;
    check_rejects(e, a, {"dy.data"});
    a = good;
    a.dx.data = nullptr;
    check_rejects(e, a, {dxn + ".data"});
    a = good;
    a.x.row_stride = 3;
    check_rejects(e, a, {xn + ".row_stride", "3 < 4"});
    a = good;
    a.dy.row_stride = 2;
    check_rejects(e, a, {"dy.row_stride", "2 < 4"});
    a = good;
    a.dy.rows = 2;
    check_rejects(e, a, {"dy shape [2, 4]", "[3, 4]"});
    a = good;
    a.dx.cols = 5;
    a.dx.row_stride = 5;
    check_rejects(e, a, {dxn + " shape [3, 5]"});
    a = good;
    a.dx = matrix_ref<float>(dyb.data(), 3, 4, 5);  // dx aliases dy with another stride
    if (e.name.find("reference") == std::string::npos) check_rejects(e, a, {"aliases dy", "row_stride"});
    a = good;
    a.dx = matrix_ref<float>(xb.data(), 3, 4, 5);  // dx aliases x with another stride
    check_rejects(e, a, {"aliases " + xn, "row_stride"});
    if (e.ranged) check_row_range(e, good);
    a = call_args{{nullptr, 0, 4}, {nullptr, 0, 4}, {nullptr, 0, 4}, 1e-5, 0, 0};
    CHECK_NOTHROW(e.call(a));
    a.eps = -1;
    check_rejects(e, a, {"eps"});
  }
}

TEST_CASE("a failed backward check writes nothing", "[norm][backward]") {
  std::vector<float> x(12, 1.0f), dy(12, 1.0f), dx(12, 7.0f);
  std::vector<double> dg(4, 3.0);
  CHECK_THROWS_AS(lnfold::layer_norm_backward_rows(
                      matrix_ref<const float>(x.data(), 3, 4), matrix_ref<const float>(dy.data(), 3, 4),
                      matrix_ref<float>(dx.data(), 3, 4), {}, {dg.data(), nullptr}, 1e-5, 0, 4),
                  lnfold::error);
  for (float v : dx) CHECK(v == 7.0f);
  for (double v : dg) CHECK(v == 3.0);
}
