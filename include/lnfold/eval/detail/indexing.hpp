// Private helpers of the reference evaluator: row-major strides, broadcast strides, an odometer over
// multi-indices, the outer × axis × inner split around one axis, and the error prefix that names
// the node being evaluated. Nothing here is numerical.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "lnfold/error.hpp"
#include "lnfold/graph/builder.hpp"
#include "lnfold/graph/op.hpp"

namespace lnfold::detail::eval {

/// The node being evaluated, so that every failure names it: "lnfold::evaluate: node 'h.0.attn.q' (linear): …".
struct where {
  std::string_view name;
  std::string_view kind;
};

template <class... Parts>
void check(const where& w, bool cond, Parts&&... parts) {
  if (!cond) [[unlikely]]
    lnfold::detail::fail(lnfold::detail::concat("lnfold::evaluate: node '", w.name, "' (", w.kind,
                                                "): ", std::forward<Parts>(parts)...));
}

inline std::size_t to_size(std::int64_t v) noexcept { return static_cast<std::size_t>(v); }

inline std::size_t element_count(const shape& s) noexcept {
  std::size_t n = 1;
  for (auto d : s) n *= to_size(d);
  return n;
}

/// Row-major strides in elements.
inline std::vector<std::size_t> strides_of(const shape& s) {
  std::vector<std::size_t> st(s.size());
  std::size_t acc = 1;
  for (std::size_t k = s.size(); k-- > 0;) {
    st[k] = acc;
    acc *= to_size(s[k]);
  }
  return st;
}

/// Strides that read a tensor of shape `in` as if it had the broadcast shape `out` (NumPy rules,
/// aligned from the right): 0 along every axis where `in` is missing or has extent 1.
inline std::vector<std::size_t> broadcast_strides(const shape& in, const shape& out) {
  const std::vector<std::size_t> own = strides_of(in);
  std::vector<std::size_t> st(out.size(), 0);
  const std::size_t lead = out.size() - in.size();
  for (std::size_t k = 0; k < in.size(); ++k) st[lead + k] = in[k] == 1 ? 0 : own[k];
  return st;
}

/// Walks every multi-index of `dims` in row-major order: `do { use(index()); } while (next());`.
/// A rank-0 shape has exactly one (empty) index; a shape with a zero extent has none (check empty()).
class odometer {
 public:
  explicit odometer(const shape& dims) : dims_(dims), index_(dims.size(), 0) {}
  bool empty() const noexcept { return element_count(dims_) == 0; }
  const std::vector<std::size_t>& index() const noexcept { return index_; }
  /// Moves to the next index; false once every index has been visited.
  bool next() noexcept {
    for (std::size_t k = dims_.size(); k-- > 0;) {
      if (++index_[k] < to_size(dims_[k])) return true;
      index_[k] = 0;
    }
    return false;
  }

 private:
  shape dims_;
  std::vector<std::size_t> index_;
};

inline std::size_t offset_of(const std::vector<std::size_t>& index, const std::vector<std::size_t>& strides) noexcept {
  std::size_t off = 0;
  for (std::size_t k = 0; k < index.size(); ++k) off += index[k] * strides[k];
  return off;
}

/// A tensor seen as [outer, n, inner] around axis `a`: element (o, i, q) sits at (o·n + i)·inner + q.
struct axis_split {
  std::size_t outer = 1, n = 1, inner = 1;
};
inline axis_split split_at(const shape& s, std::size_t a) {
  axis_split r;
  for (std::size_t k = 0; k < s.size(); ++k) {
    if (k < a) r.outer *= to_size(s[k]);
    if (k > a) r.inner *= to_size(s[k]);
  }
  r.n = to_size(s[a]);
  return r;
}

/// `axis` of a rank-`rank` tensor, negative counting from the end; throws naming the node otherwise.
inline std::size_t axis_of(const where& w, const char* what, std::int64_t axis, std::size_t rank) {
  const auto a = normalize_axis(axis, rank);
  check(w, a.has_value(), what, " ", axis, " is out of range for rank ", rank);
  return *a;
}

}  // namespace lnfold::detail::eval
