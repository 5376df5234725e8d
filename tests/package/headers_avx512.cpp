// Compiled, never run: lnfold's public headers as a user with an AVX-512 machine compiles them
// (tests/package/CMakeLists.txt: -march=sapphirerapids -O2, lnfold's warning set). <immintrin.h>
// comes first and outside any bracket, as in a user's file that includes it, xsimd or Eigen before
// lnfold: the warnings GCC 12.1-12.2 raises in its AVX-512 intrinsics (bug 105593) must still be
// silenced wherever they are inlined into lnfold's code. Every function below instantiates and
// emits kernels, since those warnings come from the optimizer, not the parser.
#include <immintrin.h>

#include <cstddef>

#include <lnfold/lnfold.hpp>
#if defined(LNFOLD_WITH_EIGEN)
#include <lnfold/layers/eigen.hpp>
#include <lnfold/tensor/eigen.hpp>
#endif

namespace lnfold_avx512 {

template <class T>
void norms(lnfold::matrix_ref<const T> x, lnfold::matrix_ref<T> r, lnfold::matrix_ref<T> y, lnfold::norm_affine<T> w) {
  lnfold::layer_norm(x, y, w, 1e-5);
  lnfold::rms_norm(x, y, w, 1e-5);
  lnfold::residual_add_layer_norm(x, r, y, w, 1e-5);
  lnfold::residual_add_rms_norm(x, r, y, w, 1e-5);
  lnfold::layers::layer_norm<T>(x.cols, 1e-5)(x, y);
  lnfold::layers::rms_norm<T>(x.cols, 1e-5).residual(x, r, y);
  // The backward kernels (norm/backward.hpp) and the layers' backward (layers/backward.hpp): x stands
  // for ∂L/∂y, y for ∂L/∂x, r for the residual after the add.
  const lnfold::norm_affine_grads grads{};
  const lnfold::matrix_ref<const T> residual = r;
  lnfold::layer_norm_backward(x, x, y, w, grads, 1e-5);
  lnfold::rms_norm_backward(x, x, y, w, grads, 1e-5);
  lnfold::residual_add_layer_norm_backward(residual, x, y, w, grads, 1e-5);
  lnfold::residual_add_rms_norm_backward(residual, x, y, w, grads, 1e-5);
  lnfold::layers::norm_backward(lnfold::layers::layer_norm<T>(x.cols, 1e-5), x, x, y, grads);
  lnfold::layers::residual_norm_backward(lnfold::layers::rms_norm<T>(x.cols, 1e-5), residual, x, y, grads);
}

void norms_float(lnfold::matrix_ref<const float> x, lnfold::matrix_ref<float> r, lnfold::matrix_ref<float> y,
                 lnfold::norm_affine<float> w) {
  norms(x, r, y, w);
}

void norms_double(lnfold::matrix_ref<const double> x, lnfold::matrix_ref<double> r, lnfold::matrix_ref<double> y,
                  lnfold::norm_affine<double> w) {
  norms(x, r, y, w);
}

// The 16-bit kernels: AVX-512 conversions and AVX-512 BF16 rounding (kernels/convert.hpp), with γ, β
// in the 16-bit type (w) and in float (wf).
template <class T>
void narrow_norms(lnfold::matrix_ref<const T> x, lnfold::matrix_ref<T> r, lnfold::matrix_ref<T> y,
                  lnfold::norm_affine<T> w, lnfold::norm_affine<float> wf) {
  lnfold::layer_norm(x, y, w, 1e-5);
  lnfold::rms_norm(x, y, wf, 1e-5);
  lnfold::residual_add_layer_norm(x, r, y, wf, 1e-5);
  lnfold::residual_add_rms_norm(x, r, y, w, 1e-5);
}

template void narrow_norms<lnfold::float16_t>(lnfold::matrix_ref<const lnfold::float16_t>,
                                              lnfold::matrix_ref<lnfold::float16_t>,
                                              lnfold::matrix_ref<lnfold::float16_t>,
                                              lnfold::norm_affine<lnfold::float16_t>, lnfold::norm_affine<float>);
template void narrow_norms<lnfold::bfloat16_t>(lnfold::matrix_ref<const lnfold::bfloat16_t>,
                                               lnfold::matrix_ref<lnfold::bfloat16_t>,
                                               lnfold::matrix_ref<lnfold::bfloat16_t>,
                                               lnfold::norm_affine<lnfold::bfloat16_t>, lnfold::norm_affine<float>);

#if defined(LNFOLD_WITH_EIGEN)
void eigen_linear(lnfold::layers::strided_matrix<const float> x, lnfold::tensor_view<const float> weight,
                  lnfold::layers::strided_matrix<float> y) {
  lnfold::layers::eigen_linear<float>(weight, lnfold::weight_layout::out_in)(x, y);
}
#endif

}  // namespace lnfold_avx512
