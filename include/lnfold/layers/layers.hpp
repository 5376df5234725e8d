// lnfold layers: the building blocks of an inference engine on your tensor types (tensor/view.hpp).
//   strided.hpp    how a tensor view is read as a [rows, cols] matrix
//   linear.hpp     y = x·Wᵀ + b / x·W + b, the product a policy (reference_gemm here)
//   embedding.hpp  y[r] = table[ids[r]]
//   norm.hpp       LayerNorm, RMSNorm and the fused r += x; y = norm(r), over a row range
//   backward.hpp   their gradients (linear, embedding, norms, fused norms), for training
//   eigen.hpp      eigen_gemm / eigen_linear (include it and link lnfold::eigen; not included here)
#pragma once

#include "lnfold/layers/backward.hpp"
#include "lnfold/layers/embedding.hpp"
#include "lnfold/layers/linear.hpp"
#include "lnfold/layers/norm.hpp"
#include "lnfold/layers/strided.hpp"
