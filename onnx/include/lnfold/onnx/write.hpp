// Writing a model file atomically: the bytes go to a temporary file in the target's directory, are
// flushed to disk, and the file is renamed over the target. A reader sees the old file or the new
// one, never a part; on any failure the temporary file is removed and the target is untouched.
// detail::staged_file is that protocol for any file; external_data.hpp writes a model and its data
// file with it.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <onnx/onnx_pb.h>

#include "lnfold/error.hpp"

namespace lnfold::onnx {
namespace detail {

/// A file written under a temporary name (".NAME.lnfold-XXXXXX" in the target's directory) and
/// renamed over the target by commit(). Destroyed before commit(), it removes the temporary file.
/// Every failure throws lnfold::error "cannot write 'TARGET': …" with the system's reason.
class staged_file {
 public:
  explicit staged_file(std::string target) : target_(std::move(target)) {
    namespace fs = std::filesystem;
    const fs::path t(target_);
    std::error_code ec;
    if (fs::is_directory(t, ec))
      lnfold::detail::fail(lnfold::detail::concat("cannot write '", target_, "': it is a directory"));
    const fs::path dir = t.has_parent_path() ? t.parent_path() : fs::path(".");
    temp_ = (dir / ("." + t.filename().string() + ".lnfold-XXXXXX")).string();
    fd_ = ::mkstemp(temp_.data());
    if (fd_ < 0)
      lnfold::detail::fail(lnfold::detail::concat("cannot write '", target_, "': cannot create a file in '",
                                                  dir.string(), "' (", std::strerror(errno), ")"));
  }
  staged_file(const staged_file&) = delete;
  staged_file& operator=(const staged_file&) = delete;
  ~staged_file() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temp_.c_str());
  }

  const std::string& target() const noexcept { return target_; }
  const std::string& temp_path() const noexcept { return temp_; }

  void write(const char* data, std::size_t size) {
    for (std::size_t done = 0; done < size;) {
      const ::ssize_t n = ::write(fd_, data + done, size - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail_with("write");
      done += static_cast<std::size_t>(n);
    }
    written_ += size;
  }
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
  std::uint64_t written() const noexcept { return written_; }

  /// Reads back `size` bytes written at `offset` (before finish()).
  void read_at(char* out, std::size_t size, std::uint64_t offset) const {
    for (std::size_t done = 0; done < size;) {
      const ::ssize_t n = ::pread(fd_, out + done, size - done, static_cast<::off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail_with("read back");
      done += static_cast<std::size_t>(n);
    }
  }
  /// Writes `size` bytes over bytes already written at `offset` (before finish()).
  void write_at(const char* data, std::size_t size, std::uint64_t offset) {
    lnfold::detail::require(offset <= written_ && size <= written_ - offset, "cannot write '", target_, "': ", size,
                            " bytes at offset ", offset, " are past the ", written_, " written");
    for (std::size_t done = 0; done < size;) {
      const ::ssize_t n = ::pwrite(fd_, data + done, size - done, static_cast<::off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail_with("write");
      done += static_cast<std::size_t>(n);
    }
  }

  /// Mode 0666 minus the umask, fsync, close: the bytes are on disk under the temporary name.
  void finish() {
    const ::mode_t mask = ::umask(0);
    ::umask(mask);
    if (::fchmod(fd_, 0666 & ~mask) != 0) fail_with("chmod");
    if (::fsync(fd_) != 0) fail_with("fsync");
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail_with("close");
  }
  /// Renames the finished file over the target.
  void commit() {
    if (::rename(temp_.c_str(), target_.c_str()) != 0) fail_with("rename");
    committed_ = true;
  }

 private:
  std::string target_, temp_;
  int fd_ = -1;
  bool committed_ = false;
  std::uint64_t written_ = 0;

  [[noreturn]] void fail_with(const char* what) const {
    lnfold::detail::fail(
        lnfold::detail::concat("cannot write '", target_, "': ", what, " failed (", std::strerror(errno), ")"));
  }
};

}  // namespace detail

/// Serializes `model` to `path` atomically. Throws lnfold::error naming the path and the system's
/// reason when the directory does not exist or is not writable, when `path` is a directory, or when
/// the model does not serialize (protobuf's 2 GiB limit: write_model_with_external_data in
/// external_data.hpp writes larger models). The file gets mode 0666 minus the umask.
inline void write_model_atomically(const ::onnx::ModelProto& model, const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    lnfold::detail::fail(lnfold::detail::concat("cannot write '", path, "': it is a directory"));
  std::string bytes;
  if (!model.SerializeToString(&bytes))
    lnfold::detail::fail(
        lnfold::detail::concat("cannot serialize the model for '", path, "' (protobuf messages are limited to 2 GiB)"));
  detail::staged_file out(path);
  out.write(bytes);
  out.finish();
  out.commit();
}

}  // namespace lnfold::onnx
