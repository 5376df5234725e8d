// Writing a model file atomically: the bytes go to a temporary file in the target's directory, are
// flushed to disk, and the file is renamed over the target. A reader sees the old file or the new
// one, never a part; on any failure the temporary file is removed and the target is untouched.
#pragma once

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <onnx/onnx_pb.h>

#include "lnfold/error.hpp"

namespace lnfold::onnx {

/// Serializes `model` to `path` atomically. Throws lnfold::error naming the path and the system's
/// reason when the directory does not exist or is not writable, when `path` is a directory, or when
/// the model does not serialize (protobuf's 2 GiB limit). The file gets mode 0666 minus the umask.
inline void write_model_atomically(const ::onnx::ModelProto& model, const std::string& path) {
  using lnfold::detail::concat;
  namespace fs = std::filesystem;
  const fs::path target(path);
  std::error_code ec;
  if (fs::is_directory(target, ec)) lnfold::detail::fail(concat("cannot write '", path, "': it is a directory"));
  std::string bytes;
  if (!model.SerializeToString(&bytes))
    lnfold::detail::fail(concat("cannot serialize the model for '", path, "' (protobuf messages are limited to 2 GiB)"));
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string temp = (dir / ("." + target.filename().string() + ".lnfold-XXXXXX")).string();
  const int fd = ::mkstemp(temp.data());
  if (fd < 0)
    lnfold::detail::fail(concat("cannot write '", path, "': cannot create a file in '", dir.string(), "' (",
                                std::strerror(errno), ")"));
  const auto give_up = [&](const char* what) {
    const std::string reason = std::strerror(errno);
    ::close(fd);
    ::unlink(temp.c_str());
    lnfold::detail::fail(concat("cannot write '", path, "': ", what, " failed (", reason, ")"));
  };
  for (std::size_t done = 0; done < bytes.size();) {
    const ::ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) give_up("write");
    done += static_cast<std::size_t>(n);
  }
  const ::mode_t mask = ::umask(0);
  ::umask(mask);
  if (::fchmod(fd, 0666 & ~mask) != 0) give_up("chmod");
  if (::fsync(fd) != 0) give_up("fsync");
  if (::close(fd) != 0) {
    const std::string reason = std::strerror(errno);
    ::unlink(temp.c_str());
    lnfold::detail::fail(concat("cannot write '", path, "': close failed (", reason, ")"));
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    ::unlink(temp.c_str());
    lnfold::detail::fail(concat("cannot write '", path, "': rename failed (", reason, ")"));
  }
}

}  // namespace lnfold::onnx
