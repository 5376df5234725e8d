// lnfold: exact LayerNorm -> RMSNorm conversion. This header includes the whole public API except
// what needs Eigen (target lnfold::eigen): the adapters lnfold/tensor/eigen.hpp and
// lnfold/layers/eigen.hpp, and the model runners of lnfold/runners/. So the core never needs Eigen.
#pragma once

#include "lnfold/config.hpp"
#include "lnfold/error.hpp"
#include "lnfold/norm/norm.hpp"

#include "lnfold/graph/builder.hpp"
#include "lnfold/graph/concepts.hpp"
#include "lnfold/graph/ir.hpp"
#include "lnfold/graph/op.hpp"
#include "lnfold/graph/taxonomy.hpp"

#include "lnfold/fold/find_foldable.hpp"
#include "lnfold/fold/plan.hpp"
#include "lnfold/fold/report.hpp"

#include "lnfold/tensor/tensor.hpp"
#include "lnfold/tensor/view.hpp"

#include "lnfold/layers/from_graph.hpp"
#include "lnfold/layers/layers.hpp"

#include "lnfold/transform/apply_plan.hpp"
#include "lnfold/transform/apply_to_weights.hpp"
#include "lnfold/transform/cbwc.hpp"
#include "lnfold/transform/ccwt.hpp"

#include "lnfold/eval/compare.hpp"
#include "lnfold/eval/evaluate.hpp"
#include "lnfold/eval/random.hpp"
