// index_view(n, f): the random-access range f(0), f(1), …, f(n − 1), each element computed when it is
// read. It is what std::views::iota(0, n) | std::views::transform(f) gives, written out because Clang 14
// cannot compile libstdc++ 12's iota_view (not even `for (auto i : std::views::iota(0, 3))`), and
// lnfold must build with GCC 12 and Clang 14 on Debian 12's standard library.
#pragma once

#include <compare>
#include <cstddef>
#include <iterator>
#include <type_traits>
#include <utility>

namespace lnfold::detail {

template <class F>
class index_view {
 public:
  class iterator {
   public:
    using value_type = std::remove_cvref_t<std::invoke_result_t<const F&, std::size_t>>;
    using difference_type = std::ptrdiff_t;
    using iterator_concept = std::random_access_iterator_tag;
    using iterator_category = std::input_iterator_tag;  // elements are values, not references

    iterator() = default;
    iterator(const F* f, std::size_t i) : f_(f), i_(i) {}

    value_type operator*() const { return (*f_)(i_); }
    value_type operator[](difference_type k) const { return *(*this + k); }
    iterator& operator++() { return *this += 1; }
    iterator operator++(int) { return std::exchange(*this, *this + 1); }
    iterator& operator--() { return *this -= 1; }
    iterator operator--(int) { return std::exchange(*this, *this - 1); }
    iterator& operator+=(difference_type k) {
      i_ = static_cast<std::size_t>(static_cast<difference_type>(i_) + k);
      return *this;
    }
    iterator& operator-=(difference_type k) { return *this += -k; }
    friend iterator operator+(iterator it, difference_type k) { return it += k; }
    friend iterator operator+(difference_type k, iterator it) { return it += k; }
    friend iterator operator-(iterator it, difference_type k) { return it -= k; }
    friend difference_type operator-(const iterator& a, const iterator& b) {
      return static_cast<difference_type>(a.i_) - static_cast<difference_type>(b.i_);
    }
    friend bool operator==(const iterator& a, const iterator& b) { return a.i_ == b.i_; }
    friend std::strong_ordering operator<=>(const iterator& a, const iterator& b) { return a.i_ <=> b.i_; }

   private:
    const F* f_ = nullptr;
    std::size_t i_ = 0;
  };
  static_assert(std::random_access_iterator<iterator>);

  index_view(std::size_t n, F f) : n_(n), f_(std::move(f)) {}

  iterator begin() const { return {&f_, 0}; }
  iterator end() const { return {&f_, n_}; }
  std::size_t size() const noexcept { return n_; }
  bool empty() const noexcept { return n_ == 0; }
  typename iterator::value_type operator[](std::size_t i) const { return f_(i); }

 private:
  std::size_t n_;
  F f_;
};

}  // namespace lnfold::detail
