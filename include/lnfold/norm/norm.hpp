// lnfold norms: LayerNorm and RMSNorm kernels (SIMD, xsimd), fused residual-add variants and the
// long double reference. Formulas, ε/γ/β placement and preconditions are in each header:
//   matrix_ref.hpp  the [rows, cols] strided views and the optional affine γ, β
//   half.hpp        lnfold::float16_t and lnfold::bfloat16_t, 16-bit storage for x, y and γ, β
//   layer_norm.hpp  y = γ ⊙ (x − μ)/sqrt(σ² + ε) + β
//   rms_norm.hpp    y = γ ⊙ x/sqrt(mean(x²) + ε) + β
//   residual.hpp    r += x; y = norm(r), in one pass over memory
//   reference.hpp   the same in long double, scalar: the test oracle
//   backward.hpp    dx, dγ, dβ of both norms and of the fused variants (reference_backward.hpp: the oracle)
//   streaming.hpp   when y is written with non-temporal stores (outputs larger than the caches)
#pragma once

#include "lnfold/norm/backward.hpp"
#include "lnfold/norm/half.hpp"
#include "lnfold/norm/layer_norm.hpp"
#include "lnfold/norm/matrix_ref.hpp"
#include "lnfold/norm/reference.hpp"
#include "lnfold/norm/reference_backward.hpp"
#include "lnfold/norm/residual.hpp"
#include "lnfold/norm/rms_norm.hpp"
#include "lnfold/norm/streaming.hpp"
