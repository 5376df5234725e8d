// Reading the small constant tensors that decide how an ONNX node is mapped: axes, shapes, slice
// bounds, split sizes, pads, an epsilon or the exponent of a Pow. Weights are never read here (only
// named), so models whose weights live in external data still analyse.
// Also the element codecs every reader and writer of float tensors shares: decode_raw / encode_raw
// turn little-endian raw bytes of float, double, float16 and bfloat16 into doubles and back
// (narrow types rounded to nearest even, float16.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "lnfold/error.hpp"
#include "lnfold/onnx/float16.hpp"

namespace lnfold::onnx {

/// The dims of a stored tensor.
inline std::vector<std::int64_t> tensor_dims(const ::onnx::TensorProto& t) {
  // Sized, then filled: the range constructor from protobuf's iterators, inlined at -O3, draws a
  // false -Wfree-nonheap-object from GCC 12 in some callers.
  std::vector<std::int64_t> dims(static_cast<std::size_t>(t.dims_size()));
  for (std::size_t i = 0; i < dims.size(); ++i) dims[i] = t.dims(static_cast<int>(i));
  return dims;
}

/// Bytes per element of an ONNX element type with a fixed width; 0 for strings and sub-byte types.
inline std::size_t element_size(int data_type) {
  using T = ::onnx::TensorProto;
  switch (data_type) {
    case T::FLOAT:
    case T::INT32:
    case T::UINT32: return 4;
    case T::DOUBLE:
    case T::INT64:
    case T::UINT64:
    case T::COMPLEX64: return 8;
    case T::COMPLEX128: return 16;
    case T::FLOAT16:
    case T::BFLOAT16:
    case T::INT16:
    case T::UINT16: return 2;
    case T::INT8:
    case T::UINT8:
    case T::BOOL: return 1;
    default: return 0;
  }
}

/// Whether `data_type` is one of the float types lnfold reads and centers (float, double, float16,
/// bfloat16).
inline bool is_float_type(int data_type) {
  using T = ::onnx::TensorProto;
  return data_type == T::FLOAT || data_type == T::DOUBLE || data_type == T::FLOAT16 || data_type == T::BFLOAT16;
}

/// The element count of a tensor of dims `dims`; nullopt when a dim is negative or the count overflows.
inline std::optional<std::uint64_t> element_count(const std::vector<std::int64_t>& dims) {
  std::uint64_t n = 1;
  for (const auto d : dims) {
    if (d < 0) return std::nullopt;
    if (d != 0 && n > UINT64_MAX / static_cast<std::uint64_t>(d)) return std::nullopt;
    n *= static_cast<std::uint64_t>(d);
  }
  return n;
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

inline std::optional<std::vector<double>> narrow_from_raw(const std::string& raw, narrow_float f) {
  if (raw.size() % 2 != 0) return std::nullopt;
  std::vector<double> out(raw.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const auto lo = static_cast<unsigned char>(raw[2 * i]), hi = static_cast<unsigned char>(raw[2 * i + 1]);
    out[i] = decode_narrow(static_cast<std::uint16_t>(lo | (hi << 8)), f);
  }
  return out;
}

}  // namespace detail

/// Little-endian raw bytes of element type `data_type` (float, double, float16, bfloat16) as
/// doubles, exactly. Throws lnfold::error naming the type for any other type, or when the byte
/// count is not a multiple of the element size.
inline std::vector<double> decode_raw(int data_type, const std::string& raw) {
  using T = ::onnx::TensorProto;
  std::optional<std::vector<double>> v;
  switch (data_type) {
    case T::FLOAT: v = detail::from_raw<float>(raw); break;
    case T::DOUBLE: v = detail::from_raw<double>(raw); break;
    case T::FLOAT16: v = detail::narrow_from_raw(raw, narrow_float::float16); break;
    case T::BFLOAT16: v = detail::narrow_from_raw(raw, narrow_float::bfloat16); break;
    default:
      lnfold::detail::fail(lnfold::detail::concat("lnfold::onnx::decode_raw: element type ",
                                                  T::DataType_Name(static_cast<T::DataType>(data_type)),
                                                  " is not a float type (float, double, float16, bfloat16)"));
  }
  if (!v)
    lnfold::detail::fail(lnfold::detail::concat("lnfold::onnx::decode_raw: ", raw.size(),
                                                " bytes are not a whole number of ",
                                                T::DataType_Name(static_cast<T::DataType>(data_type)), " elements"));
  return std::move(*v);
}

/// `values` rounded once to element type `data_type` (float, double, float16, bfloat16; to
/// nearest, ties to even) as little-endian raw bytes. Throws lnfold::error for any other type.
inline std::string encode_raw(int data_type, std::span<const double> values) {
  using T = ::onnx::TensorProto;
  std::string out;
  switch (data_type) {
    case T::FLOAT:
      out.resize(values.size() * 4);
      for (std::size_t i = 0; i < values.size(); ++i) {
        const auto f = static_cast<float>(values[i]);  // the default rounding mode: to nearest even
        std::memcpy(out.data() + 4 * i, &f, 4);
      }
      return out;
    case T::DOUBLE:
      out.resize(values.size() * 8);
      if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
      return out;
    case T::FLOAT16:
    case T::BFLOAT16: {
      const auto f = data_type == T::FLOAT16 ? narrow_float::float16 : narrow_float::bfloat16;
      out.resize(values.size() * 2);
      for (std::size_t i = 0; i < values.size(); ++i) {
        const std::uint16_t bits = encode_narrow(values[i], f);
        out[2 * i] = static_cast<char>(bits & 0xffu);
        out[2 * i + 1] = static_cast<char>(bits >> 8);
      }
      return out;
    }
    default:
      lnfold::detail::fail(lnfold::detail::concat("lnfold::onnx::encode_raw: element type ",
                                                  T::DataType_Name(static_cast<T::DataType>(data_type)),
                                                  " is not a float type (float, double, float16, bfloat16)"));
  }
}
inline std::string encode_raw(int data_type, const std::vector<double>& values) {
  return encode_raw(data_type, std::span<const double>(values));
}

/// The values of a small numeric tensor as doubles (float, double, float16, bfloat16, int32, int64
/// and the narrower integer types); nullopt for other element types or data stored outside the model.
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
      case T::FLOAT16: return detail::narrow_from_raw(t.raw_data(), narrow_float::float16);
      case T::BFLOAT16: return detail::narrow_from_raw(t.raw_data(), narrow_float::bfloat16);
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
    case T::FLOAT16:
    case T::BFLOAT16:  // one 16-bit pattern per int32_data element (onnx.proto)
      for (const auto v : t.int32_data())
        out.push_back(decode_narrow(static_cast<std::uint16_t>(v),
                                    t.data_type() == T::FLOAT16 ? narrow_float::float16 : narrow_float::bfloat16));
      return out;
    default: return std::nullopt;
  }
}

/// The values of an integer tensor (axes, shapes, bounds); nullopt when it is not one.
inline std::optional<std::vector<std::int64_t>> tensor_ints(const ::onnx::TensorProto& t) {
  using T = ::onnx::TensorProto;
  if (t.data_type() != T::INT64 && t.data_type() != T::INT32 && t.data_type() != T::INT16 && t.data_type() != T::INT8 &&
      t.data_type() != T::UINT8)
    return std::nullopt;
  if (t.has_raw_data() && t.data_type() == T::INT64 && t.data_location() != T::EXTERNAL) {
    // int64 bounds such as INT64_MAX do not survive a round trip through double: read them directly.
    const std::string& raw = t.raw_data();
    if (raw.size() % sizeof(std::int64_t) != 0) return std::nullopt;
    std::vector<std::int64_t> out(raw.size() / sizeof(std::int64_t));
    for (std::size_t i = 0; i < out.size(); ++i)
      std::memcpy(&out[i], raw.data() + i * sizeof(std::int64_t), sizeof(std::int64_t));
    return out;
  }
  if (!t.has_raw_data() && t.data_type() == T::INT64)
    return std::vector<std::int64_t>(t.int64_data().begin(), t.int64_data().end());
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
