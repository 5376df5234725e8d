// Reading Fashion-MNIST (or MNIST) from its IDX files, gzip-compressed or not, as Debian's
// dataset-fashion-mnist package installs them (/usr/share/datasets/fashion-mnist/*.gz).
//
// IDX: a big-endian header — two zero bytes, a type byte (0x08: unsigned byte), the number of
// dimensions, then each dimension as a 32-bit integer — followed by the product of the dimensions in
// bytes. Images are [N, 28, 28] (magic 0x00000803), labels [N] (0x00000801).
// Every problem is a data_error whose message names the file and says what is wrong and what was
// expected: a missing file (and how to install it), a file that is not IDX, a wrong rank, data shorter
// or longer than the header promises, a corrupt gzip stream, labels outside 0..9, counts that differ.
#pragma once

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <zlib.h>

namespace lnfold_train {

struct data_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// One IDX file: its dimensions and its bytes.
struct idx_array {
  std::vector<std::size_t> dims;
  std::vector<std::uint8_t> bytes;
};

/// Reads an IDX file of unsigned bytes with `rank` dimensions (gzip or plain: zlib reads both).
inline idx_array read_idx(const std::string& path, std::size_t rank) {
  auto fail = [&](const std::string& what) { throw data_error(path + ": " + what); };
  errno = 0;
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr)
    fail(
        std::string("cannot open (") + (errno ? std::strerror(errno) : "out of memory") +
        "): install Debian's dataset-fashion-mnist package (apt-get install dataset-fashion-mnist) or pass --data DIR");
  struct closer {
    gzFile f;
    ~closer() { gzclose(f); }
  } close_on_exit{f};
  // Reads exactly n bytes, or reports how many there were.
  auto read = [&](void* to, std::size_t n, const std::string& what) {
    std::size_t got = 0;
    while (got < n) {
      const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - got, 1u << 30));
      const int r = gzread(f, static_cast<char*>(to) + got, chunk);
      if (r < 0) {
        int code = 0;
        fail(std::string("corrupt gzip data (") + gzerror(f, &code) + ")");
      }
      if (r == 0) break;
      got += static_cast<std::size_t>(r);
    }
    if (got < n)
      fail("truncated: " + what + " needs " + std::to_string(n) + " bytes, the file has " + std::to_string(got));
  };
  std::array<std::uint8_t, 4> magic{};
  read(magic.data(), 4, "the header");
  const std::uint32_t expected_magic = 0x0800u | static_cast<std::uint32_t>(rank);
  const std::uint32_t got_magic = (std::uint32_t{magic[0]} << 24) | (std::uint32_t{magic[1]} << 16) |
                                  (std::uint32_t{magic[2]} << 8) | std::uint32_t{magic[3]};
  if (got_magic != expected_magic) {
    char buf[96];
    std::snprintf(buf, sizeof buf,
                  "not an IDX file of unsigned bytes with %zu dimensions (magic 0x%08x, expected 0x%08x)", rank,
                  got_magic, expected_magic);
    fail(buf);
  }
  idx_array a;
  std::size_t total = 1;
  for (std::size_t k = 0; k < rank; ++k) {
    std::array<std::uint8_t, 4> b{};
    read(b.data(), 4, "the header");
    const std::size_t dim = (std::size_t{b[0]} << 24) | (std::size_t{b[1]} << 16) | (std::size_t{b[2]} << 8) | b[3];
    a.dims.push_back(dim);
    total *= dim;
  }
  std::string shape;
  for (std::size_t k = 0; k < rank; ++k) shape += (k ? " x " : "") + std::to_string(a.dims[k]);
  a.bytes.resize(total);
  read(a.bytes.data(), total, "the data (" + shape + ")");
  char extra = 0;
  if (gzread(f, &extra, 1) > 0) fail("has data after the " + shape + " values the header announces");
  return a;
}

/// Images as bytes [count, rows·cols] and labels 0..9.
struct image_set {
  std::size_t count = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;
  std::vector<std::uint8_t> labels;
};

/// `name` inside dir, preferring the gzip file Debian installs, else the uncompressed one.
inline std::string idx_path(const std::string& dir, const std::string& name) {
  const std::string gz = dir + "/" + name + ".gz", plain = dir + "/" + name;
  if (!std::filesystem::exists(gz) && std::filesystem::exists(plain)) return plain;
  return gz;
}

/// The images and labels of one split ("train" or "t10k") from dir.
inline image_set load_split(const std::string& dir, const std::string& split) {
  const std::string images_path = idx_path(dir, split + "-images-idx3-ubyte");
  const std::string labels_path = idx_path(dir, split + "-labels-idx1-ubyte");
  idx_array images = read_idx(images_path, 3);
  idx_array labels = read_idx(labels_path, 1);
  if (labels.dims[0] != images.dims[0])
    throw data_error(labels_path + ": " + std::to_string(labels.dims[0]) + " labels for the " +
                     std::to_string(images.dims[0]) + " images of " + images_path);
  for (std::size_t i = 0; i < labels.bytes.size(); ++i)
    if (labels.bytes[i] > 9)
      throw data_error(labels_path + ": label " + std::to_string(labels.bytes[i]) + " at index " + std::to_string(i) +
                       " is not a class 0..9");
  return {images.dims[0], images.dims[1], images.dims[2], std::move(images.bytes), std::move(labels.bytes)};
}

}  // namespace lnfold_train
