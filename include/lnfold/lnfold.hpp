// lnfold: exact LayerNorm -> RMSNorm conversion. This header includes the whole public API.
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
