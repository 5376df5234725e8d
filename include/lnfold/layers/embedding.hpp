// Embedding layer on any tensor type with a lnfold::as_tensor_view customization:
//
//   y[r, :] = table[ids[r], :]      table [V, d], ids integers in [0, V)
//
// ids come as any integral (or floating, as the reference evaluator carries them) range; y is read as
// [ids.size(), d] (leading axes collapsed, strided.hpp), any strides. Throws lnfold::error on an id
// out of range or a shape mismatch (before any write). The layer keeps a view of the table.
#pragma once

#include <cstddef>
#include <span>
#include <type_traits>

#include "lnfold/error.hpp"
#include "lnfold/layers/strided.hpp"
#include "lnfold/tensor/view.hpp"

namespace lnfold::layers {

template <class T>
class embedding {
 public:
  explicit embedding(tensor_view<const T> table) {
    lnfold::detail::require(table.rank() == 2, "lnfold::layers::embedding: the table must have rank 2 (got ",
                            table.rank(), ")");
    table_ = as_strided<const T>(table, "lnfold::layers::embedding", "table");
  }
  template <tensor_like Table>
  explicit embedding(const Table& table) : embedding(tensor_view<const T>(as_tensor_view(table))) {}

  std::size_t vocabulary() const noexcept { return table_.rows; }
  std::size_t features() const noexcept { return table_.cols; }

  template <class Id>
  requires std::is_arithmetic_v<Id>
  void operator()(std::span<const Id> ids, strided_matrix<T> y) const {
    lnfold::detail::require(y.rows == ids.size() && y.cols == table_.cols, "lnfold::layers::embedding: y is [", y.rows,
                            ", ", y.cols, "] for ", ids.size(), " ids of ", table_.cols, " features");
    for (auto id : ids)
      lnfold::detail::require(id >= Id(0) && static_cast<std::size_t>(id) < table_.rows && id == Id(std::size_t(id)),
                              "lnfold::layers::embedding: id ", id, " is not a row of the ", table_.rows, "-row table");
    for (std::size_t r = 0; r < ids.size(); ++r) {
      const auto v = static_cast<std::size_t>(ids[r]);
      for (std::size_t j = 0; j < table_.cols; ++j) y(r, j) = table_(v, j);
    }
  }
  template <class Id, writable_tensor_like Y>
  requires std::is_arithmetic_v<Id>
  void operator()(std::span<const Id> ids, Y&& y) const {
    (*this)(ids, as_strided<T>(as_tensor_view(y), "lnfold::layers::embedding", "y"));
  }

 private:
  strided_matrix<const T> table_{};
};

}  // namespace lnfold::layers
