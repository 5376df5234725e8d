// lnfold: exact LayerNorm -> RMSNorm conversion. This header includes the whole public API.
#pragma once

#include "lnfold/config.hpp"
#include "lnfold/error.hpp"
