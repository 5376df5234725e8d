// lnfold::error: what every misuse of the library throws.
//
// Misuse means a caller broke a documented precondition: a shape mismatch, an axis out of range, a
// null pointer with a non-empty extent, a non-finite or non-positive epsilon. The message always
// names the function, the argument and the offending value, e.g.
//   "lnfold::layer_norm_rows: eps must be finite and > 0 (got -1)".
// "This LayerNorm is not foldable" is *not* misuse: detection returns it as a value with a reason.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include "lnfold/config.hpp"

namespace lnfold {

/// Thrown on misuse; derives from std::invalid_argument so generic handlers catch it too.
class error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

namespace detail {

/// Concatenates anything streamable into one message string.
template <class... Parts>
std::string concat(Parts&&... parts) {
  std::ostringstream out;
  out.precision(17);
  (out << ... << std::forward<Parts>(parts));
  return std::move(out).str();
}

/// Reports misuse: throws lnfold::error, or goes through LNFOLD_ASSERT without exceptions.
[[noreturn]] inline void fail(const std::string& message) {
#if LNFOLD_HAS_EXCEPTIONS
  throw error(message);
#else
  LNFOLD_ASSERT(false, message.c_str());
  std::abort();
#endif
}

/// `require(cond, "lnfold::f: ", "d must be > 0 (got ", d, ")")`: fails with the joined message
/// when `cond` is false. The message is only built on failure, so checks cost a branch.
template <class... Parts>
inline void require(bool cond, Parts&&... parts) {
  if (!cond) [[unlikely]]
    fail(concat(std::forward<Parts>(parts)...));
}

}  // namespace detail
}  // namespace lnfold
