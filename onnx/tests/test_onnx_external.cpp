// ONNX external data: writing a model with its large tensors in a data file beside it (staged,
// aligned, streamed from an existing data file), reading it back, offsets past 4 GiB, the
// one-line errors for a missing file, a truncated one, an offset past its end and bad references,
// and converting such a model to a file with its edited tensors streamed (convert_model_to_file).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "lnfold/eval/random.hpp"
#include "lnfold/fold/find_foldable.hpp"
#include "lnfold/graph/architectures.hpp"
#include "lnfold/onnx/convert.hpp"
#include "lnfold/onnx/export.hpp"
#include "lnfold/onnx/external_data.hpp"
#include "lnfold/onnx/graph.hpp"
#include "lnfold/onnx/load.hpp"
#include "model_builder.hpp"

namespace {

namespace fs = std::filesystem;
using lnfold_test::model_builder;
using P = ::onnx::TensorProto;

/// A scratch directory, removed with everything in it.
struct scratch {
  fs::path dir;
  explicit scratch(const std::string& name)
      : dir(fs::temp_directory_path() / ("lnfold-external-" + name + "-" + std::to_string(::getpid()))) {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~scratch() { fs::remove_all(dir); }
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// x[2,4,8] → MatMul(W raw [8,16]) + b (float_data [16]) → LN(γ float16 [16]) → y; plus a small shape.
model_builder sample() {
  model_builder b(17);
  b.input("x", {2, 4, 8});
  b.random_init("W", {8, 16}, 3);         // raw_data, 512 bytes
  b.init("b", {16});                      // float_data, 64 bytes
  auto* gamma = b.g().add_initializer();  // float16 raw, 32 bytes
  gamma->set_name("gamma");
  gamma->set_data_type(P::FLOAT16);
  gamma->add_dims(16);
  gamma->set_raw_data(lnfold::onnx::encode_raw(P::FLOAT16, std::vector<double>(16, 1.25)));
  lnfold::onnx::set_attribute(b.node("Cast", {"gamma"}, {"gamma_f"}, "cast_gamma"), "to", std::int64_t{P::FLOAT});
  b.node("MatMul", {"x", "W"}, {"h"}, "proj");
  b.node("Add", {"h", "b"}, {"hb"}, "bias");
  b.node("LayerNormalization", {"hb", "gamma_f"}, {"y"}, "ln");
  b.output("y", {2, 4, 16});
  return b;
}

const P* initializer(const ::onnx::ModelProto& m, const std::string& name) {
  for (const auto& t : m.graph().initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

void set_external(P& t, const std::string& location, std::uint64_t offset, std::optional<std::uint64_t> length) {
  t.clear_raw_data();
  t.clear_float_data();
  t.clear_external_data();
  t.set_data_location(P::EXTERNAL);
  auto* kv = t.add_external_data();
  kv->set_key("location");
  kv->set_value(location);
  kv = t.add_external_data();
  kv->set_key("offset");
  kv->set_value(std::to_string(offset));
  if (length) {
    kv = t.add_external_data();
    kv->set_key("length");
    kv->set_value(std::to_string(*length));
  }
}

}  // namespace

TEST_CASE("write_model_with_external_data: large tensors move to an aligned data file, the model reads back the same") {
  const scratch s("write");
  model_builder b = sample();
  const ::onnx::ModelProto before = b.m;
  const std::string out = (s.dir / "m.onnx").string();
  const auto summary = lnfold::onnx::write_model_with_external_data(b.m, out, {.size_threshold = 64});
  CHECK(b.m.SerializeAsString() == before.SerializeAsString());  // restored
  CHECK(s.files() == std::vector<std::string>{"m.onnx", "m.onnx.data"});
  CHECK(summary.tensors == 2);  // W (512 bytes) and b (64 bytes); gamma (32) stays inside
  CHECK(summary.largest == 512);
  CHECK(summary.data_path == (s.dir / "m.onnx.data").string());
  CHECK(summary.bytes == fs::file_size(s.dir / "m.onnx.data"));

  const ::onnx::ModelProto m = lnfold::onnx::load_model(out);
  for (const char* name : {"W", "b"}) {
    CAPTURE(name);
    const P* t = initializer(m, name);
    REQUIRE(t);
    const auto loc = lnfold::onnx::external_location_of(*t);
    REQUIRE(loc);
    CHECK(loc->location == "m.onnx.data");
    CHECK(loc->offset % 4096 == 0);
    CHECK(lnfold::onnx::tensor_bytes(*t, s.dir) == lnfold::onnx::tensor_bytes(*initializer(before, name), s.dir));
  }
  CHECK_FALSE(lnfold::onnx::external_location_of(*initializer(m, "gamma")));
  // The analysis reads the model as before (weights are never read).
  const lnfold::onnx::graph g(m, {.model_dir = s.dir});
  CHECK(lnfold::find_foldable(g).lns.at(0).foldable);

  // Written again from the external model into another directory: streamed from the first data file.
  const scratch t("rewrite");
  ::onnx::ModelProto again = m;
  const auto second = lnfold::onnx::write_model_with_external_data(
      again, (t.dir / "copy.onnx").string(),
      {.data_file = "weights.bin", .size_threshold = 64, .alignment = 1, .source_dir = s.dir});
  CHECK(second.tensors == 2);
  CHECK(t.files() == std::vector<std::string>{"copy.onnx", "weights.bin"});
  CHECK(fs::file_size(t.dir / "weights.bin") == 512 + 64);  // no padding with alignment 1
  const auto copy = lnfold::onnx::load_model((t.dir / "copy.onnx").string());
  CHECK(lnfold::onnx::tensor_bytes(*initializer(copy, "W"), t.dir) ==
        lnfold::onnx::tensor_bytes(*initializer(before, "W"), s.dir));
}

TEST_CASE("A failed write leaves no file and no temporary, and an existing model and data file as they were") {
  const scratch s("fail");
  std::ofstream(s.dir / "m.onnx.data") << "old data";
  fs::create_directories(s.dir / "dir.onnx");
  model_builder b = sample();
  // The model's path is a directory: the data file was staged already and is removed.
  CHECK_THROWS_WITH(lnfold::onnx::write_model_with_external_data(b.m, (s.dir / "dir.onnx").string(),
                                                                 {.data_file = "m.onnx.data", .size_threshold = 64}),
                    Catch::Contains("it is a directory"));
  CHECK(read_file(s.dir / "m.onnx.data") == "old data");
  CHECK(s.files() == std::vector<std::string>{"dir.onnx", "m.onnx.data"});
  // A missing directory.
  CHECK_THROWS_WITH(lnfold::onnx::write_model_with_external_data(b.m, (s.dir / "missing" / "m.onnx").string(),
                                                                 {.size_threshold = 64}),
                    Catch::Contains("cannot write") && Catch::Contains("No such file or directory"));
  // A source reference that does not resolve: refused before anything is written.
  set_external(*b.g().mutable_initializer(0), "gone.bin", 0, std::nullopt);
  CHECK_THROWS_WITH(lnfold::onnx::write_model_with_external_data(b.m, (s.dir / "new.onnx").string(),
                                                                 {.size_threshold = 64, .source_dir = s.dir}),
                    Catch::Contains("tensor 'W': cannot open its external data file") && Catch::Contains("gone.bin"));
  CHECK(s.files() == std::vector<std::string>{"dir.onnx", "m.onnx.data"});
  CHECK_THROWS_WITH(
      lnfold::onnx::write_model_with_external_data(b.m, (s.dir / "x.onnx").string(), {.data_file = "x.onnx"}),
      Catch::Contains("data_file must be a plain file name other than the model's"));
}

TEST_CASE("Bad external data gets one line naming the tensor and the file: missing, truncated, offset past the end") {
  const scratch s("bad");
  model_builder b = sample();
  const auto write_model = [&](const model_builder& m) {
    const std::string path = (s.dir / "m.onnx").string();
    std::ofstream(path, std::ios::binary) << m.m.SerializeAsString();
    return path;
  };
  const std::string bytes = lnfold::onnx::tensor_bytes(b.g().initializer(0), s.dir);  // W: 512 bytes
  std::ofstream(s.dir / "w.bin", std::ios::binary) << bytes;

  model_builder ok = b;
  set_external(*ok.g().mutable_initializer(0), "w.bin", 0, 512);
  CHECK_NOTHROW(lnfold::onnx::load_model(write_model(ok)));

  const auto fails = [&](const std::string& location, std::uint64_t offset, std::optional<std::uint64_t> length,
                         const std::string& message) {
    model_builder m = b;
    set_external(*m.g().mutable_initializer(0), location, offset, length);
    CAPTURE(location, offset);
    try {
      lnfold::onnx::load_model(write_model(m));
      FAIL("no error");
    } catch (const lnfold::error& e) {
      const std::string what = e.what();
      CHECK(what.find(message) != std::string::npos);
      CHECK(what.find('\n') == std::string::npos);
      CHECK(what.find("tensor 'W'") != std::string::npos);
    }
  };
  fails("missing.bin", 0, std::nullopt,
        "cannot open its external data file '" + (s.dir / "missing.bin").string() + "' (No such file or directory)");
  fails("w.bin", 4, std::nullopt, "is truncated: 508 bytes from offset 4, the tensor needs 512");
  fails("w.bin", 9000, std::nullopt, "external data offset 9000 is past the end of");
  fails("w.bin", 0, 100, "external data length 100 does not match its 512 bytes");
  fails("/etc/passwd", 0, std::nullopt, "must be a relative path inside the model's directory");
  fails("../w.bin", 0, std::nullopt, "must be a relative path inside the model's directory");
  model_builder m = b;
  set_external(*m.g().mutable_initializer(0), "w.bin", 0, std::nullopt);
  m.g().mutable_initializer(0)->mutable_external_data(1)->set_value("12x");
  CHECK_THROWS_WITH(lnfold::onnx::load_model(write_model(m)),
                    Catch::Contains("external data offset '12x' is not a byte count"));
}

TEST_CASE("External data at offsets past 4 GiB reads and copies in chunks (sparse file)") {
  const scratch s("big");
  const std::uint64_t offset = (std::uint64_t{5} << 30) + 12345;  // 5 GiB in: beyond 32-bit offsets
  model_builder b = sample();
  const std::string bytes = lnfold::onnx::tensor_bytes(b.g().initializer(0), s.dir);
  {
    const int fd = ::open((s.dir / "big.bin").c_str(), O_CREAT | O_WRONLY, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::pwrite(fd, bytes.data(), bytes.size(), static_cast<::off_t>(offset)) ==
            static_cast<::ssize_t>(bytes.size()));
    ::close(fd);
  }
  set_external(*b.g().mutable_initializer(0), "big.bin", offset, bytes.size());
  std::ofstream(s.dir / "m.onnx", std::ios::binary) << b.m.SerializeAsString();
  const auto m = lnfold::onnx::load_model((s.dir / "m.onnx").string());
  CHECK(lnfold::onnx::tensor_bytes(*initializer(m, "W"), s.dir) == bytes);
  std::size_t chunks = 0;
  std::string streamed;
  lnfold::onnx::read_tensor_chunks(
      *initializer(m, "W"), s.dir, [&](const char* p, std::size_t n) { ++chunks, streamed.append(p, n); }, 100);
  CHECK(chunks == 6);  // 512 bytes in chunks of at most 100
  CHECK(streamed == bytes);
  ::onnx::ModelProto copy = m;
  lnfold::onnx::write_model_with_external_data(copy, (s.dir / "small.onnx").string(),
                                               {.size_threshold = 64, .source_dir = s.dir});
  const auto reread = lnfold::onnx::load_model((s.dir / "small.onnx").string());
  CHECK(lnfold::onnx::tensor_bytes(*initializer(reread, "W"), s.dir) == bytes);
  CHECK(fs::file_size(s.dir / "small.onnx.data") < 8192);
}

namespace {

/// lnfold's model `name` (an architecture at its tiny size, or an edge case) exported with `options`
/// and written to dir/NAME.onnx with every tensor of at least 64 bytes in NAME.onnx.data; the
/// written model, loaded.
::onnx::ModelProto external_export(const std::string& name, const fs::path& dir,
                                   const lnfold::onnx::export_options& options) {
  std::optional<lnfold::graph> g;
  for (const auto arch : lnfold::architecture_names)
    if (arch == name) g = lnfold::build_architecture(name, std::nullopt, lnfold::architecture_size::tiny);
  for (const auto& c : lnfold::edge_cases::all())
    if (c.name == name) g = c.build();
  REQUIRE(g);
  ::onnx::ModelProto m = lnfold::onnx::export_model(*g, lnfold::random_weights<float>(*g, 7), options);
  const std::string path = (dir / (name + ".onnx")).string();
  lnfold::onnx::write_model_with_external_data(m, path, {.size_threshold = 64});
  return lnfold::onnx::load_model(path);
}

}  // namespace

TEST_CASE(
    "convert_model_to_file streams edited external tensors: the same model as convert_model, a packed data file") {
  const lnfold::onnx::export_options narrow{.weight_storage = P::FLOAT16};
  // A tied table (untied: a copy of an external tensor, edited), a LayerScale fused through the bias
  // add (the weight edited twice: fused, then centered), float16 weights behind Casts (edited in
  // double, rounded once).
  for (const auto& [name, options, tied] :
       {std::tuple{std::string("tied_embedding"), lnfold::onnx::export_options{}, lnfold::tied_policy::untie},
        std::tuple{std::string("tied_embedding"), lnfold::onnx::export_options{}, lnfold::tied_policy::rank1},
        std::tuple{std::string("layer_scale_after_bias_add"), lnfold::onnx::export_options{},
                   lnfold::tied_policy::rank1},
        std::tuple{std::string("gpt2"), narrow, lnfold::tied_policy::untie}}) {
    CAPTURE(name, options.weight_storage, static_cast<int>(tied));
    const scratch src("convert-src"), dst("convert-dst");
    const ::onnx::ModelProto m = external_export(name, src.dir, options);
    const lnfold::onnx::graph g(m, {.model_dir = src.dir});
    const auto plan = lnfold::find_foldable(g, {.tied = tied});
    REQUIRE(plan.foldable_count() > 0);

    const auto in_memory = lnfold::onnx::convert_model(g, plan);
    const std::string out = (dst.dir / "out.onnx").string();
    const auto written = lnfold::onnx::convert_model_to_file(g, plan, out);
    CHECK(written.checked);
    CHECK(written.summary.centered == in_memory.summary.centered);
    CHECK(written.summary.untied == in_memory.summary.untied);
    CHECK(written.summary.fused == in_memory.summary.fused);
    REQUIRE(written.summary.residuals.size() == in_memory.summary.residuals.size());
    for (std::size_t i = 0; i < written.summary.residuals.size(); ++i)
      CHECK(written.summary.residuals[i].relative_mean == in_memory.summary.residuals[i].relative_mean);
    CHECK(dst.files() == std::vector<std::string>{"out.onnx", "out.onnx.data"});
    CHECK(written.data.data_path == out + ".data");

    // Tensor by tensor, the bytes of the written model are those of the in-memory conversion.
    const ::onnx::ModelProto back = lnfold::onnx::load_model(out);
    REQUIRE(back.graph().initializer_size() == in_memory.model.graph().initializer_size());
    std::vector<std::pair<std::uint64_t, std::uint64_t>> extents;  // (offset, length) in out.onnx.data
    for (const auto& t : back.graph().initializer()) {
      CAPTURE(t.name());
      const P* expected = initializer(in_memory.model, t.name());
      REQUIRE(expected);
      CHECK(lnfold::onnx::tensor_bytes(t, dst.dir) == lnfold::onnx::tensor_bytes(*expected, src.dir));
      if (const auto loc = lnfold::onnx::external_location_of(t)) {
        CHECK(loc->location == "out.onnx.data");
        extents.emplace_back(loc->offset, lnfold::onnx::tensor_byte_size(t));
      }
    }
    // Packed: each tensor at the first 4096-aligned offset after the one before, nothing else in the
    // file (a tensor edited twice was overwritten where it was, not written again).
    std::sort(extents.begin(), extents.end());
    std::uint64_t end = 0;
    for (const auto& [offset, length] : extents) {
      CHECK(offset == (end + 4095) / 4096 * 4096);
      end = offset + length;
    }
    CHECK(fs::file_size(dst.dir / "out.onnx.data") == end);
    CHECK(written.data.tensors == extents.size());
  }
}

TEST_CASE("convert_model_to_file: a failure on an external tensor leaves no file and no temporary") {
  const scratch src("fail-src"), dst("fail-dst");
  const ::onnx::ModelProto m = external_export("tied_embedding", src.dir, {});
  const lnfold::onnx::graph g(m, {.model_dir = src.dir});
  const auto plan = lnfold::find_foldable(g);
  // A NaN in the data file, in a tensor the plan centers: found while converting, after the staged
  // data file was created.
  const auto result = lnfold::onnx::convert_model(g, plan);
  REQUIRE_FALSE(result.summary.centered.empty());
  const P* victim = initializer(m, result.summary.centered.front());
  REQUIRE(victim);
  const auto loc = lnfold::onnx::external_location_of(*victim);
  REQUIRE(loc);
  {
    const int fd = ::open((src.dir / loc->location).c_str(), O_WRONLY);
    REQUIRE(fd >= 0);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    REQUIRE(::pwrite(fd, &nan, sizeof nan, static_cast<::off_t>(loc->offset)) == sizeof nan);
    ::close(fd);
  }
  CHECK_THROWS_WITH(lnfold::onnx::convert_model_to_file(g, plan, (dst.dir / "out.onnx").string()),
                    Catch::Contains("'" + victim->name() + "'") && Catch::Contains("must be finite (got nan"));
  CHECK(dst.files().empty());
}
