// Reading the small constant tensors that decide how an ONNX node is mapped: axes, shapes, slice
// bounds, split sizes, pads, an epsilon or the exponent of a Pow. Weights are never read here (only
// named), so models whose weights live in external data still analyse.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

namespace lnfold::onnx {

/// The dims of a stored tensor.
inline std::vector<std::int64_t> tensor_dims(const ::onnx::TensorProto& t) {
  return {t.dims().begin(), t.dims().end()};
}

namespace detail {

template <class T>
std::optional<std::vector<double>> from_raw(const std::string& raw) {
  if (raw.size() % sizeof(T) != 0) return std::nullopt;
  std::vector<double> out(raw.size() / sizeof(T));
  for (std::size_t i = 0; i < out.size(); ++i) {
    T v;
    std::memcpy(&v, raw.data() + i * sizeof(T), sizeof(T));  // ONNX stores raw data little-endian
    out[i] = static_cast<double>(v);
  }
  return out;
}

}  // namespace detail

/// The values of a small numeric tensor as doubles (float, double, int32, int64 and the narrower
/// integer types); nullopt for other element types or data stored outside the model.
inline std::optional<std::vector<double>> tensor_values(const ::onnx::TensorProto& t) {
  using T = ::onnx::TensorProto;
  if (t.data_location() == T::EXTERNAL) return std::nullopt;
  if (t.has_raw_data()) {
    switch (t.data_type()) {
      case T::FLOAT: return detail::from_raw<float>(t.raw_data());
      case T::DOUBLE: return detail::from_raw<double>(t.raw_data());
      case T::INT64: return detail::from_raw<std::int64_t>(t.raw_data());
      case T::INT32: return detail::from_raw<std::int32_t>(t.raw_data());
      case T::INT16: return detail::from_raw<std::int16_t>(t.raw_data());
      case T::INT8: return detail::from_raw<std::int8_t>(t.raw_data());
      case T::UINT8: return detail::from_raw<std::uint8_t>(t.raw_data());
      default: return std::nullopt;
    }
  }
  std::vector<double> out;
  switch (t.data_type()) {
    case T::FLOAT:
      for (const float v : t.float_data()) out.push_back(static_cast<double>(v));
      return out;
    case T::DOUBLE:
      for (const double v : t.double_data()) out.push_back(v);
      return out;
    case T::INT64:
      for (const auto v : t.int64_data()) out.push_back(static_cast<double>(v));
      return out;
    case T::INT32:
    case T::INT16:
    case T::INT8:
    case T::UINT8:
      for (const auto v : t.int32_data()) out.push_back(static_cast<double>(v));
      return out;
    default: return std::nullopt;
  }
}

/// The values of an integer tensor (axes, shapes, bounds); nullopt when it is not one.
inline std::optional<std::vector<std::int64_t>> tensor_ints(const ::onnx::TensorProto& t) {
  using T = ::onnx::TensorProto;
  if (t.data_type() != T::INT64 && t.data_type() != T::INT32 && t.data_type() != T::INT16 &&
      t.data_type() != T::INT8 && t.data_type() != T::UINT8)
    return std::nullopt;
  if (t.has_raw_data() && t.data_type() == T::INT64 && t.data_location() != T::EXTERNAL) {
    // int64 bounds such as INT64_MAX do not survive a round trip through double: read them directly.
    const std::string& raw = t.raw_data();
    if (raw.size() % sizeof(std::int64_t) != 0) return std::nullopt;
    std::vector<std::int64_t> out(raw.size() / sizeof(std::int64_t));
    for (std::size_t i = 0; i < out.size(); ++i) std::memcpy(&out[i], raw.data() + i * sizeof(std::int64_t), sizeof(std::int64_t));
    return out;
  }
  if (!t.has_raw_data() && t.data_type() == T::INT64) return std::vector<std::int64_t>(t.int64_data().begin(), t.int64_data().end());
  const auto v = tensor_values(t);
  if (!v) return std::nullopt;
  std::vector<std::int64_t> out;
  out.reserve(v->size());
  for (const double x : *v) out.push_back(static_cast<std::int64_t>(x));
  return out;
}

/// The one value of a tensor holding a single element (any shape), nullopt otherwise.
inline std::optional<double> tensor_scalar(const ::onnx::TensorProto& t) {
  const auto v = tensor_values(t);
  if (!v || v->size() != 1) return std::nullopt;
  return (*v)[0];
}

}  // namespace lnfold::onnx
