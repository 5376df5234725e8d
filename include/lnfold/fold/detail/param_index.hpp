// Every use of every parameter, grouped by parameter, for condition 3 (tied parameters). Parameter
// ids may be any values (pointers, hashes), so uses are grouped by a radix sort over the id: linear
// in the number of uses and sequential in memory, unlike a hash map or a comparison sort followed by
// binary searches on graphs with millions of parameters. An IR that numbers parameters as it builds
// lists them in order already, and then nothing is sorted or copied.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "lnfold/fold/detail/graph_index.hpp"
#include "lnfold/fold/detail/large_allocator.hpp"

namespace lnfold::detail {

class param_index {
 public:
  /// `entries`: graph_index::param_entries(), which must outlive the index.
  explicit param_index(std::span<const param_entry> entries) : sorted_(entries) {
    for (std::size_t i = 1; i < entries.size(); ++i)
      if (entries[i - 1].param > entries[i].param) {
        sort(entries);
        return;
      }
  }

  /// Every use of parameter `p`, found among entries[first, last) (one node's uses); empty if absent.
  /// O(uses of p).
  std::span<const param_entry> uses_of(std::span<const param_entry> entries, std::size_t first, std::size_t last,
                                       param_id p) const {
    for (std::size_t e = first; e < last; ++e) {
      if (entries[e].param != p) continue;
      const std::size_t k = position_.empty() ? e : position_[e];
      std::size_t lo = k, hi = k + 1;
      while (lo > 0 && sorted_[lo - 1].param == p) --lo;
      while (hi < sorted_.size() && sorted_[hi].param == p) ++hi;
      return sorted_.subspan(lo, hi - lo);
    }
    return {};
  }

 private:
  struct keyed {
    param_id key;
    index_t entry;
  };

  // Stable LSD radix sort over 8-bit digits (256 buckets keep the scatter cache-friendly), skipping
  // the digits that every id shares.
  void sort(std::span<const param_entry> entries) {
    constexpr unsigned bits = 8, digits = sizeof(param_id) * 8 / bits;
    constexpr std::size_t buckets = std::size_t{1} << bits;
    large_vector<keyed> a(entries.size()), b(entries.size());
    std::vector<std::size_t> start(digits * buckets, 0);
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const param_id key = entries[i].param;
      a[i] = {key, static_cast<index_t>(i)};
      for (unsigned d = 0; d < digits; ++d) ++start[d * buckets + ((key >> (d * bits)) & (buckets - 1))];
    }
    for (unsigned d = 0; d < digits; ++d) {
      const auto count = std::span(start).subspan(d * buckets, buckets);
      if (std::find(count.begin(), count.end(), entries.size()) != count.end()) continue;  // one bucket
      std::size_t sum = 0;
      for (auto& c : count) sum += std::exchange(c, sum);
      for (const auto& x : a) b[count[(x.key >> (d * bits)) & (buckets - 1)]++] = x;
      a.swap(b);
    }
    own_.resize(entries.size());
    position_.resize(entries.size());
    for (std::size_t k = 0; k < a.size(); ++k) {
      own_[k] = entries[a[k].entry];
      position_[a[k].entry] = static_cast<index_t>(k);
    }
    sorted_ = own_;
  }

  std::span<const param_entry> sorted_;  // every use, grouped by parameter
  large_vector<param_entry> own_;        // the sorted copy, when the graph's order was not sorted
  large_vector<index_t> position_;       // per entry: where it is in own_ (empty: same place)
};

}  // namespace lnfold::detail
