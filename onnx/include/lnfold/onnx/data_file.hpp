// detail::data_file: the external-data file of a model being written (external_data.hpp), staged
// (write.hpp) under a temporary name until it is committed together with the model file.
// Tensors are appended at aligned offsets. A tensor can also be written *before* the model is: the
// converter (convert_model_to_file, convert.hpp) writes each tensor it edits as soon as the edit is
// done, so that it never holds more than one of them. Until the model is written, such a tensor
// refers to the file by its temporary name (`staging_location()`: unique in the directory, so no
// location of the source model can equal it), and can be read back (a later step of the plan reads
// it) and overwritten in place (a later step edits it again).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "lnfold/error.hpp"
#include "lnfold/onnx/write.hpp"

namespace lnfold::onnx::detail {

class data_file {
 public:
  /// A staged data file for `path` (its final name); every tensor starts at a multiple of
  /// `alignment` bytes (zero padding between).
  data_file(const std::string& path, std::uint64_t alignment) : file_(path), alignment_(alignment) {
    lnfold::detail::require(alignment >= 1, "lnfold::onnx: the external data alignment must be >= 1");
  }

  /// The location a tensor written before the model refers to until the model is written.
  std::string staging_location() const { return std::filesystem::path(file_.temp_path()).filename().string(); }

  /// Pads to the next aligned offset and returns it: the offset of the tensor written next.
  std::uint64_t start_tensor() {
    static const std::string zeros(4096, '\0');
    for (std::uint64_t left = (alignment_ - file_.written() % alignment_) % alignment_; left > 0;) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left, zeros.size()));
      file_.write(zeros.data(), n);
      left -= n;
    }
    return file_.written();
  }
  void write(const char* data, std::size_t size) { file_.write(data, size); }
  void write(std::string_view bytes) { file_.write(bytes.data(), bytes.size()); }
  void read(char* out, std::size_t size, std::uint64_t offset) const { file_.read_at(out, size, offset); }
  void overwrite(std::string_view bytes, std::uint64_t offset) { file_.write_at(bytes.data(), bytes.size(), offset); }

  staged_file& file() noexcept { return file_; }

 private:
  staged_file file_;
  std::uint64_t alignment_;
};

}  // namespace lnfold::onnx::detail
