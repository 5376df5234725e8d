// ONNX external data: tensors whose bytes live in a file beside the model (every model over
// protobuf's 2 GiB limit is stored this way). A tensor with data_location = EXTERNAL names, in
// external_data, a `location` (a path relative to the model file's directory), an `offset` (default
// 0) and a `length` (default: the rest of the tensor's bytes); the bytes are the tensor's raw_data,
// little-endian, as onnx.proto defines it.
//
// Reading: check_external_data validates every reference of a model at load time (one stat per
// file), so a missing file, a truncated one or an offset past its end gives one lnfold::error line
// before anything else runs; read_tensor_chunks streams one tensor's bytes in bounded chunks, and
// tensor_bytes reads a whole tensor from wherever it is stored.
//
// Writing: write_model_with_external_data writes a model with every tensor of at least
// `size_threshold` bytes moved to one data file beside it, each at an offset aligned to
// `alignment` (so runtimes can map them). Tensors that are external in the source model are copied
// from their file in chunks, never held whole in memory; tensors in memory are written from their
// own bytes, without a copy. The model file then holds only the graph and small tensors, so models
// far beyond 2 GiB write. Both files are staged (write.hpp) and renamed only when both are complete.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <onnx/onnx_pb.h>

#include "lnfold/error.hpp"
#include "lnfold/onnx/data_file.hpp"
#include "lnfold/onnx/tensor.hpp"
#include "lnfold/onnx/write.hpp"

namespace lnfold::onnx {

/// Where an external tensor's bytes are.
struct external_location {
  std::string location;  ///< as written in the model: relative to the model's directory
  std::uint64_t offset = 0;
  std::optional<std::uint64_t> length;  ///< absent: the tensor's whole byte size
};

/// The external-data reference of `t`, or nullopt when its data is stored in the model. Throws
/// lnfold::error naming the tensor when the reference is malformed (no location, an absolute path or
/// one with "..", a bad offset or length).
inline std::optional<external_location> external_location_of(const ::onnx::TensorProto& t) {
  using lnfold::detail::concat;
  if (t.data_location() != ::onnx::TensorProto::EXTERNAL) return std::nullopt;
  external_location loc;
  bool has_location = false;
  const auto number = [&](const std::string& key, const std::string& text) {
    std::uint64_t v = 0;
    bool ok = !text.empty() && text.size() <= 20;
    for (const char c : text) ok = ok && c >= '0' && c <= '9';
    if (ok) {
      errno = 0;
      v = std::strtoull(text.c_str(), nullptr, 10);
      ok = errno == 0;
    }
    if (!ok)
      lnfold::detail::fail(concat("tensor '", t.name(), "': external data ", key, " '", text, "' is not a byte count"));
    return v;
  };
  for (const auto& kv : t.external_data()) {
    if (kv.key() == "location") {
      loc.location = kv.value();
      has_location = true;
    } else if (kv.key() == "offset") {
      loc.offset = number("offset", kv.value());
    } else if (kv.key() == "length") {
      loc.length = number("length", kv.value());
    }
  }
  if (!has_location || loc.location.empty())
    lnfold::detail::fail(concat("tensor '", t.name(), "': stored as external data without a location"));
  const std::filesystem::path p(loc.location);
  bool escapes = p.is_absolute();
  for (const auto& part : p) escapes = escapes || part == "..";
  if (escapes)
    lnfold::detail::fail(concat("tensor '", t.name(), "': external data location '", loc.location,
                                "' must be a relative path inside the model's directory"));
  return loc;
}

/// The number of bytes `t`'s data takes as raw_data: element count times element size. Throws
/// lnfold::error for element types without a fixed size (strings, sub-byte types) or bad dims.
inline std::uint64_t tensor_byte_size(const ::onnx::TensorProto& t) {
  using T = ::onnx::TensorProto;
  const std::size_t size = element_size(t.data_type());
  const auto count = element_count(tensor_dims(t));
  if (size == 0 || !count || *count > UINT64_MAX / size)
    lnfold::detail::fail(lnfold::detail::concat("tensor '", t.name(), "': element type ",
                                                T::DataType_Name(static_cast<T::DataType>(t.data_type())),
                                                " with dims ", t.dims_size(), " has no fixed byte size"));
  return *count * size;
}

namespace detail {

/// An open external-data file: a descriptor and its size. Closed on destruction.
class external_file {
 public:
  external_file(const std::filesystem::path& path, const std::string& tensor) : path_(path.string()) {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    struct ::stat st {};
    if (fd_ < 0 || ::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
      const std::string reason = fd_ < 0 ? std::strerror(errno) : "not a regular file";
      if (fd_ >= 0) ::close(fd_);
      lnfold::detail::fail(lnfold::detail::concat("tensor '", tensor, "': cannot open its external data file '", path_,
                                                  "' (", reason, ")"));
    }
    size_ = static_cast<std::uint64_t>(st.st_size);
  }
  external_file(const external_file&) = delete;
  external_file& operator=(const external_file&) = delete;
  ~external_file() { ::close(fd_); }
  std::uint64_t size() const noexcept { return size_; }
  const std::string& path() const noexcept { return path_; }
  /// Reads exactly `n` bytes at `offset` into `out`; throws naming the tensor on a short read.
  void read(char* out, std::size_t n, std::uint64_t offset, const std::string& tensor) const {
    for (std::size_t done = 0; done < n;) {
      const ::ssize_t got = ::pread(fd_, out + done, n - done, static_cast<::off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0)
        lnfold::detail::fail(lnfold::detail::concat("tensor '", tensor, "': cannot read ", n, " bytes at offset ",
                                                    offset, " of '", path_, "' (",
                                                    got < 0 ? std::strerror(errno) : "end of file", ")"));
      done += static_cast<std::size_t>(got);
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

/// Reads `size` bytes in chunks of at most `chunk`: read(buffer, n, at) fills n bytes from position
/// `at` (0 … size), then sink(buffer, n) takes them. Memory: one chunk.
template <class Read, class Sink>
void in_chunks(std::uint64_t size, std::size_t chunk, Read&& read, Sink&& sink) {
  std::string buffer(static_cast<std::size_t>(std::min<std::uint64_t>(chunk, size)), '\0');
  for (std::uint64_t done = 0; done < size;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), size - done));
    read(buffer.data(), n, done);
    sink(static_cast<const char*>(buffer.data()), n);
    done += n;
  }
}

/// Makes `t` refer to `length` bytes at `offset` of the file `location` (external data).
inline void set_external_reference(::onnx::TensorProto& t, const std::string& location, std::uint64_t offset,
                                   std::uint64_t length) {
  t.clear_external_data();
  t.set_data_location(::onnx::TensorProto::EXTERNAL);
  for (const auto& [key, value] : {std::pair<const char*, std::string>{"location", location},
                                   {"offset", std::to_string(offset)},
                                   {"length", std::to_string(length)}}) {
    auto* kv = t.add_external_data();
    kv->set_key(key);
    kv->set_value(value);
  }
}

/// Checks that `loc` of tensor `t` lies inside a file of `file_size` bytes and matches the tensor's
/// byte size; returns that size.
inline std::uint64_t checked_extent(const ::onnx::TensorProto& t, const external_location& loc, std::uint64_t file_size,
                                    const std::string& file) {
  using lnfold::detail::concat;
  const std::uint64_t need = tensor_byte_size(t);
  if (loc.length && *loc.length != need)
    lnfold::detail::fail(concat("tensor '", t.name(), "': external data length ", *loc.length, " does not match its ",
                                need, " bytes (dims and element type)"));
  if (loc.offset > file_size)
    lnfold::detail::fail(concat("tensor '", t.name(), "': external data offset ", loc.offset, " is past the end of '",
                                file, "' (", file_size, " bytes)"));
  if (file_size - loc.offset < need)
    lnfold::detail::fail(concat("tensor '", t.name(), "': external data file '", file,
                                "' is truncated: ", file_size - loc.offset, " bytes from offset ", loc.offset,
                                ", the tensor needs ", need));
  return need;
}

template <class F>
void for_each_tensor(::onnx::GraphProto& g, F&& f) {
  for (auto& t : *g.mutable_initializer()) f(t);
  for (auto& n : *g.mutable_node())
    for (auto& a : *n.mutable_attribute()) {
      if (a.has_t()) f(*a.mutable_t());
      for (auto& t : *a.mutable_tensors()) f(t);
      if (a.has_g()) for_each_tensor(*a.mutable_g(), f);
      for (auto& sub : *a.mutable_graphs()) for_each_tensor(sub, f);
    }
}

template <class F>
void for_each_tensor(const ::onnx::GraphProto& g, F&& f) {
  for (const auto& t : g.initializer()) f(t);
  for (const auto& n : g.node())
    for (const auto& a : n.attribute()) {
      if (a.has_t()) f(a.t());
      for (const auto& t : a.tensors()) f(t);
      if (a.has_g()) for_each_tensor(a.g(), f);
      for (const auto& sub : a.graphs()) for_each_tensor(sub, f);
    }
}

/// The bytes of a tensor kept in the model's typed fields (float_data, int32_data, …) as raw_data.
inline std::string typed_field_bytes(const ::onnx::TensorProto& t) {
  using T = ::onnx::TensorProto;
  std::string out;
  const auto put = [&](const void* p, std::size_t n) { out.append(static_cast<const char*>(p), n); };
  switch (t.data_type()) {
    case T::FLOAT:
    case T::COMPLEX64:
      for (const float v : t.float_data()) put(&v, 4);
      break;
    case T::DOUBLE:
    case T::COMPLEX128:
      for (const double v : t.double_data()) put(&v, 8);
      break;
    case T::INT64:
      for (const std::int64_t v : t.int64_data()) put(&v, 8);
      break;
    case T::UINT64:
      for (const std::uint64_t v : t.uint64_data()) put(&v, 8);
      break;
    case T::UINT32:
      for (const std::uint64_t v : t.uint64_data()) {
        const auto u = static_cast<std::uint32_t>(v);
        put(&u, 4);
      }
      break;
    default: {  // int32 and narrower, bool, float16, bfloat16: one element per int32_data entry
      const std::size_t size = element_size(t.data_type());
      if (size == 0 || size > 4)
        lnfold::detail::fail(lnfold::detail::concat("tensor '", t.name(), "': element type ",
                                                    T::DataType_Name(static_cast<T::DataType>(t.data_type())),
                                                    " cannot be written as raw bytes"));
      for (const std::int32_t v : t.int32_data()) put(&v, size);  // little-endian: the low bytes first
    }
  }
  return out;
}

}  // namespace detail

namespace detail {

/// Tensors swapped out of a model (O(1) each) for skeletons that keep their name, dims, element
/// type, doc string and segment and hold no data, so that the model can be serialized or checked
/// without them; every one is swapped back when this object is destroyed, also by an exception.
class swapped_out_tensors {
 public:
  swapped_out_tensors() = default;
  swapped_out_tensors(const swapped_out_tensors&) = delete;
  swapped_out_tensors& operator=(const swapped_out_tensors&) = delete;
  ~swapped_out_tensors() {
    for (auto& [in_model, original] : held_) in_model->Swap(&original);
  }

  /// Swaps `t` out; `t` is left a skeleton for the caller to complete.
  void swap_out(::onnx::TensorProto& t) {
    auto& [in_model, original] = held_.emplace_back(&t, ::onnx::TensorProto{});
    original.Swap(&t);
    t.set_name(original.name());
    t.mutable_dims()->CopyFrom(original.dims());
    t.set_data_type(original.data_type());
    if (original.has_doc_string()) t.set_doc_string(original.doc_string());
    if (original.has_segment()) *t.mutable_segment() = original.segment();
  }

 private:
  std::deque<std::pair<::onnx::TensorProto*, ::onnx::TensorProto>> held_;  // deque: no moves on growth
};

}  // namespace detail

/// Checks every external-data reference of `model` (all graphs, initializers and attribute tensors)
/// against the files in `model_dir`: the file opens, the offset is inside it, the tensor's bytes
/// fit, a given length matches the tensor. Throws lnfold::error with one line naming the tensor,
/// the file and the numbers. Cost: one open and fstat per distinct file.
/// `written_early`, when not empty, is the staging location of a data file being written
/// (data_file.hpp): references to it are not checked against `model_dir`.
inline void check_external_data(const ::onnx::ModelProto& model, const std::filesystem::path& model_dir,
                                const std::string& written_early = {}) {
  std::map<std::string, std::uint64_t> sizes;
  detail::for_each_tensor(model.graph(), [&](const ::onnx::TensorProto& t) {
    const auto loc = external_location_of(t);
    if (!loc || (!written_early.empty() && loc->location == written_early)) return;
    const std::string file = (model_dir / loc->location).string();
    auto it = sizes.find(file);
    if (it == sizes.end()) it = sizes.emplace(file, detail::external_file(file, t.name()).size()).first;
    detail::checked_extent(t, *loc, it->second, file);
  });
}

/// Streams the bytes of external tensor `t` (its file resolved against `model_dir`) to
/// `sink(const char* data, std::size_t n)` in chunks of at most `chunk` bytes: memory stays
/// O(chunk) whatever the tensor's size. Throws lnfold::error when `t` is not external or its
/// reference is bad (see check_external_data).
template <class Sink>
void read_tensor_chunks(const ::onnx::TensorProto& t, const std::filesystem::path& model_dir, Sink&& sink,
                        std::size_t chunk = std::size_t{4} << 20) {
  const auto loc = external_location_of(t);
  lnfold::detail::require(loc.has_value(), "lnfold::onnx::read_tensor_chunks: tensor '", t.name(),
                          "' is not external data");
  lnfold::detail::require(chunk > 0, "lnfold::onnx::read_tensor_chunks: chunk must be > 0");
  const detail::external_file file(model_dir / loc->location, t.name());
  const std::uint64_t size = detail::checked_extent(t, *loc, file.size(), file.path());
  detail::in_chunks(
      size, chunk, [&](char* out, std::size_t n, std::uint64_t at) { file.read(out, n, loc->offset + at, t.name()); },
      sink);
}

/// The raw little-endian bytes of `t`, wherever they are stored: raw_data, the typed fields, or an
/// external file resolved against `model_dir`. Holds the whole tensor in memory.
inline std::string tensor_bytes(const ::onnx::TensorProto& t, const std::filesystem::path& model_dir) {
  if (t.data_location() == ::onnx::TensorProto::EXTERNAL) {
    std::string out;
    out.reserve(static_cast<std::size_t>(tensor_byte_size(t)));
    read_tensor_chunks(t, model_dir, [&](const char* p, std::size_t n) { out.append(p, n); });
    return out;
  }
  if (t.has_raw_data()) return t.raw_data();
  return detail::typed_field_bytes(t);
}

/// Whether any tensor of `model` (initializers and attribute tensors, in every graph) is stored as
/// external data.
inline bool has_external_data(const ::onnx::ModelProto& model) {
  bool any = false;
  detail::for_each_tensor(model.graph(), [&](const ::onnx::TensorProto& t) {
    any = any || t.data_location() == ::onnx::TensorProto::EXTERNAL;
  });
  return any;
}

struct external_data_options {
  /// The data file's name, in the model file's directory; empty: the model's file name + ".data".
  std::string data_file{};
  /// Tensors of at least this many bytes go to the data file; smaller ones stay in the model.
  std::uint64_t size_threshold = 1024;
  /// Every external tensor starts at a multiple of this (zero padding between): 4096 lets a runtime
  /// map tensors page by page. 1: no padding.
  std::uint64_t alignment = 4096;
  /// The directory the model's *existing* external references are relative to (the directory of
  /// the file it was loaded from); their bytes are copied from there in chunks.
  std::filesystem::path source_dir = ".";
};

struct external_data_summary {
  std::string data_path;      ///< the data file written (empty when no tensor reached the threshold)
  std::size_t tensors = 0;    ///< tensors written to it
  std::uint64_t bytes = 0;    ///< its size, padding included
  std::uint64_t largest = 0;  ///< the largest tensor's byte size
};

namespace detail {

/// The data file's path for a model written to `path` with `options` (options.data_file, or the
/// model's file name + ".data", in the model's directory); throws when the name is not a plain file
/// name other than the model's.
inline std::string data_path_for(const std::string& path, const external_data_options& options) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const std::string data_name = options.data_file.empty() ? target.filename().string() + ".data" : options.data_file;
  lnfold::detail::require(
      fs::path(data_name).filename() == fs::path(data_name) && data_name != target.filename().string() &&
          data_name != "." && data_name != "..",
      "lnfold::onnx::write_model_with_external_data: data_file must be a plain file name other than the "
      "model's (got '",
      data_name, "')");
  return target.has_parent_path() ? (target.parent_path() / data_name).string() : data_name;
}

/// write_model_with_external_data, continuing `data` when it is not null: a data file for
/// data_path_for(path, options) that already holds tensors, written before the model (data_file.hpp);
/// those tensors refer to it by its staging_location() and stay where they are, whatever their size.
inline external_data_summary write_model_and_data(::onnx::ModelProto& model, const std::string& path,
                                                  const external_data_options& options, data_file* data = nullptr) {
  namespace fs = std::filesystem;
  using lnfold::detail::concat;
  const std::string data_path = data_path_for(path, options);
  const fs::path dir = fs::path(data_path).parent_path();
  const std::string data_name = fs::path(data_path).filename().string();
  lnfold::detail::require(!data || data->file().target() == data_path,
                          "lnfold::onnx::write_model_with_external_data: the staged data file is for '",
                          data ? data->file().target() : std::string(), "', not '", data_path, "'");
  const std::string staged = data ? data->staging_location() : std::string();
  const auto written_early = [&](const ::onnx::TensorProto& t) {
    const auto loc = external_location_of(t);
    return data && loc && loc->location == staged;
  };

  // Which tensors move: the check reads every existing reference before anything is written.
  check_external_data(model, options.source_dir, staged);
  std::vector<::onnx::TensorProto*> moving;
  detail::for_each_tensor(*model.mutable_graph(), [&](::onnx::TensorProto& t) {
    if (t.data_type() == ::onnx::TensorProto::STRING || t.data_type() == ::onnx::TensorProto::UNDEFINED) return;
    // An external tensor of the source stays external whatever its size: its location is relative
    // to the source's directory, so it cannot stay as it is.
    if (t.data_location() == ::onnx::TensorProto::EXTERNAL || tensor_byte_size(t) >= options.size_threshold)
      moving.push_back(&t);
  });

  // Each moving tensor is swapped out (O(1)) for a skeleton with the new reference while the model
  // is serialized; `held` swaps every one back, also when something throws.
  detail::swapped_out_tensors held;

  external_data_summary summary;
  std::optional<data_file> own;
  if (!moving.empty() && !data) data = &own.emplace(data_path, options.alignment);
  for (::onnx::TensorProto* t : moving) {
    const std::uint64_t size = tensor_byte_size(*t);
    std::uint64_t offset = 0;
    if (written_early(*t)) {
      offset = external_location_of(*t)->offset;
    } else {
      offset = data->start_tensor();
      if (t->data_location() == ::onnx::TensorProto::EXTERNAL) {
        read_tensor_chunks(*t, options.source_dir, [&](const char* p, std::size_t n) { data->write(p, n); });
      } else if (t->has_raw_data()) {
        lnfold::detail::require(t->raw_data().size() == size, "tensor '", t->name(), "': raw_data holds ",
                                t->raw_data().size(), " bytes, its dims and element type need ", size);
        data->write(t->raw_data());
      } else {
        const std::string bytes = detail::typed_field_bytes(*t);
        lnfold::detail::require(bytes.size() == size, "tensor '", t->name(), "': holds ", bytes.size(),
                                " bytes of data, its dims and element type need ", size);
        data->write(bytes);
      }
    }
    held.swap_out(*t);
    detail::set_external_reference(*t, data_name, offset, size);
    ++summary.tensors;
    summary.largest = std::max(summary.largest, size);
  }

  if (model.ByteSizeLong() > static_cast<std::size_t>(INT32_MAX))
    lnfold::detail::fail(concat("cannot serialize the model for '", path, "': ", model.ByteSizeLong(),
                                " bytes without its external tensors (protobuf messages are limited to 2 GiB)"));
  std::string bytes;
  if (!model.SerializeToString(&bytes)) lnfold::detail::fail(concat("cannot serialize the model for '", path, "'"));
  detail::staged_file out(path);
  out.write(bytes);
  out.finish();
  if (!data) {
    out.commit();
    return summary;
  }
  staged_file& data_out = data->file();
  data_out.finish();
  summary.data_path = data_path;
  summary.bytes = data_out.written();

  // Keep the old data file under a temporary name until the model is in place, to put it back if
  // the model's rename fails.
  std::string backup;
  std::error_code ec;
  if (fs::exists(data_path, ec)) {
    backup = (dir / ("." + data_name + ".lnfold-old-" + std::to_string(::getpid()))).string();
    ::unlink(backup.c_str());
    if (::link(data_path.c_str(), backup.c_str()) != 0) backup.clear();  // no hard links here: no undo
  }
  data_out.commit();
  try {
    out.commit();
  } catch (...) {
    if (!backup.empty()) ::rename(backup.c_str(), data_path.c_str());
    else ::unlink(data_path.c_str());
    throw;
  }
  if (!backup.empty()) ::unlink(backup.c_str());
  return summary;
}

}  // namespace detail

/// Writes `model` to `path` with every tensor (initializers and attribute tensors, in every graph)
/// of at least options.size_threshold bytes stored in the data file beside it, as ONNX external data,
/// and every tensor that was external data already, whatever its size.
/// `model` is modified while it is written and restored before the call returns or throws: its
/// tensors keep their data and locations. Both files are written under temporary names and fsynced;
/// then the data file is renamed into place, then the model file. If that last rename fails, the
/// previous data file is put back. Readers see the old pair or the new one, except in the moment
/// between the two renames, when a reader of an old model file could meet the new data file.
/// Throws lnfold::error on any I/O failure, a bad source reference, a tensor without a fixed byte
/// size, a data file name that equals the model's, or a model still over 2 GiB without its large
/// tensors. No file is created or changed on failure. Memory: the model's own bytes plus a 4 MiB
/// copy buffer. Cost: one pass over every tensor's bytes.
inline external_data_summary write_model_with_external_data(::onnx::ModelProto& model, const std::string& path,
                                                            const external_data_options& options = {}) {
  return detail::write_model_and_data(model, path, options);
}

}  // namespace lnfold::onnx
