// lnfold-train: does training with CBWC + RMSNorm keep up with LayerNorm? A small pre-LN vision
// transformer (vit.hpp) on Fashion-MNIST, trained with lnfold's layers forward and backward, in three
// variants — layer_norm, rms_norm (the naive swap), cbwc_rms_norm (the paper's method) — each with
// dropout off (CBWC is then exactly the LayerNorm model) and on (the equivalence is broken), over
// several seeds. Every variant gets the same configuration; the same seed gives it the same initial
// values, batch order and dropout masks.
//
// Usage: lnfold-train [--quick] [--data DIR] [--json [FILE]] [--curves FILE] [--threads N]
//                     [--epochs N] [--train-images N] [--test-images N] [--seeds N]
// Prints a table (stdout) and a progress bar (stderr); --json writes issue 15's summary to FILE, or to
// stdout instead of the table; --curves writes every run's per-epoch test accuracy, loss and times
// (scripts/training_figure.py draws them). Runs go over --threads worker threads (default: every
// core), one run per thread, so times are measured with the other runs alongside. See docs/training.md.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "idx.hpp"
#include "lnfold/runners/common.hpp"
#include "report.hpp"
#include "vit.hpp"

namespace {

using namespace lnfold_train;

struct options {
  std::string data = "/usr/share/datasets/fashion-mnist";
  bool quick = false;
  bool json = false;
  std::string json_path;  // empty: stdout
  std::string curves_path;
  std::size_t threads = std::max(1u, std::thread::hardware_concurrency());
  // The run's configuration: the same for every variant (see docs/training.md for how it was chosen).
  std::size_t epochs = 6, train_images = 12000, test_images = 10000, seeds = 5, batch = 128;
  double lr = 1e-3, dropout = 0.1;
  vit_config model;
};

[[noreturn]] void usage(const std::string& problem) {
  std::fprintf(stderr,
               "lnfold-train: %s\n"
               "usage: lnfold-train [--quick] [--data DIR] [--json [FILE]] [--curves FILE] [--threads N]\n"
               "                    [--epochs N] [--train-images N] [--test-images N] [--seeds N]\n",
               problem.c_str());
  std::exit(2);
}

std::size_t positive(const std::string& flag, const char* value) {
  char* end = nullptr;
  const unsigned long v = std::strtoul(value, &end, 10);
  if (end == value || *end != '\0' || v == 0) usage(flag + " needs a positive integer (got '" + value + "')");
  return v;
}

options parse(int argc, char** argv) {
  options o;
  bool epochs = false, train = false, test = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--quick") o.quick = true;
    else if (a == "--data") o.data = value();
    else if (a == "--json") {
      o.json = true;
      if (i + 1 < argc && argv[i + 1][0] != '-') o.json_path = argv[++i];
    } else if (a == "--curves") o.curves_path = value();
    else if (a == "--threads") o.threads = positive(a, value());
    else if (a == "--epochs") o.epochs = positive(a, value()), epochs = true;
    else if (a == "--train-images") o.train_images = positive(a, value()), train = true;
    else if (a == "--test-images") o.test_images = positive(a, value()), test = true;
    else if (a == "--seeds") o.seeds = positive(a, value());
    else if (a == "--help" || a == "-h") usage("trains three norm variants of a small ViT on Fashion-MNIST");
    else usage("unknown argument '" + a + "'");
  }
  if (o.quick) {  // a smoke run: every variant and seed, little data
    if (!epochs) o.epochs = 2;
    if (!train) o.train_images = 1024;
    if (!test) o.test_images = 1000;
  }
  return o;
}

/// Images as normalized rows [count, 784] ((x/255 − mean)/std of the training pixels) and labels.
struct tensor_set {
  mat<float> x;
  std::vector<int> y;
};

tensor_set prepare(const image_set& s, std::size_t count, double mean_px, double std_px) {
  count = std::min(count, s.count);
  const std::size_t n = s.rows * s.cols;
  tensor_set t{mat<float>(static_cast<Eigen::Index>(count), static_cast<Eigen::Index>(n)), std::vector<int>(count)};
  for (std::size_t i = 0; i < count; ++i) {
    for (std::size_t j = 0; j < n; ++j)
      t.x(static_cast<Eigen::Index>(i),
          static_cast<Eigen::Index>(j)) = static_cast<float>((s.pixels[i * n + j] / 255.0 - mean_px) / std_px);
    t.y[i] = s.labels[i];
  }
  return t;
}

/// Accuracy of the model on a set, forward only, in batches; also the time per image.
double evaluate(vit<float>& model, const tensor_set& s, std::size_t batch, double* us_per_image) {
  std::size_t correct = 0;
  mat<float> logits, images;
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t start = 0; start < s.y.size(); start += batch) {
    const std::size_t n = std::min(batch, s.y.size() - start);
    images = s.x.middleRows(static_cast<Eigen::Index>(start), static_cast<Eigen::Index>(n));
    model.forward(images, logits, false, nullptr);
    for (std::size_t i = 0; i < n; ++i) {
      Eigen::Index best = 0;
      logits.row(static_cast<Eigen::Index>(i)).maxCoeff(&best);
      correct += best == s.y[start + i] ? 1U : 0U;
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (us_per_image) *us_per_image = 1e6 * seconds / static_cast<double>(s.y.size());
  return static_cast<double>(correct) / static_cast<double>(s.y.size());
}

struct job {
  norm_choice norm;
  double dropout;
  std::uint64_t seed;
};

/// One training run. `steps_done` counts optimizer steps for the progress bar.
run_result train_one(const options& o, const job& j, const tensor_set& train, const tensor_set& test,
                     std::atomic<std::size_t>& steps_done) {
  vit_config cfg = o.model;
  cfg.dropout = j.dropout;
  vit<float> model(cfg, j.norm, j.seed);
  rng order(j.seed * 7919 + 17), dropout_rng(j.seed * 104729 + 3);
  const std::size_t n = train.y.size(), per_epoch = (n + o.batch - 1) / o.batch, total = per_epoch * o.epochs;
  const std::size_t warmup = std::max<std::size_t>(1, total / 20);
  std::vector<std::size_t> index(n);
  std::iota(index.begin(), index.end(), std::size_t{0});
  run_result r{j.norm, j.dropout, j.seed, {}, {}, {}, {}, 0};
  mat<float> images(static_cast<Eigen::Index>(o.batch), train.x.cols()), logits, dlogits;
  std::vector<int> labels;
  std::size_t step = 0;
  for (std::size_t epoch = 0; epoch < o.epochs; ++epoch) {
    for (std::size_t i = n; i > 1; --i) std::swap(index[i - 1], index[order.below(i)]);  // Fisher–Yates
    const double norm_before = model.norm_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    double loss_sum = 0;
    for (std::size_t start = 0; start < n; start += o.batch) {
      const std::size_t b = std::min(o.batch, n - start);
      images.resize(static_cast<Eigen::Index>(b), train.x.cols());
      labels.resize(b);
      for (std::size_t i = 0; i < b; ++i) {
        images.row(static_cast<Eigen::Index>(i)) = train.x.row(static_cast<Eigen::Index>(index[start + i]));
        labels[i] = train.y[index[start + i]];
      }
      model.forward(images, logits, true, &dropout_rng);
      std::size_t correct = 0;
      loss_sum += softmax_cross_entropy(logits, labels, dlogits, correct);
      model.backward(dlogits);
      // Linear warm-up over the first 5% of the steps, then cosine decay to 0.
      const double s = static_cast<double>(step);
      const double lr = o.lr * std::min(1.0, (s + 1) / static_cast<double>(warmup)) * 0.5 *
                        (1 + std::cos(3.141592653589793 * s / static_cast<double>(total)));
      model.step(lr, true);
      ++step;
      steps_done.fetch_add(1, std::memory_order_relaxed);
    }
    r.epoch_ms.push_back(1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    r.norm_ms.push_back(1e3 * (model.norm_seconds() - norm_before));
    r.train_loss.push_back(loss_sum / static_cast<double>(per_epoch));
    double us = 0;
    r.test_accuracy.push_back(evaluate(model, test, o.batch, &us));
    r.inference_us_per_image = us;  // the last epoch's evaluation
  }
  return r;
}

std::string duration(double s) {
  char buf[32];
  const auto m = static_cast<long>(s) / 60, sec = static_cast<long>(s) % 60;
  std::snprintf(buf, sizeof buf, "%ldm%02lds", m, sec);
  return buf;
}

/// The progress bar on stderr: redrawn in place on a terminal, a line per 10% otherwise.
class progress {
 public:
  explicit progress(std::size_t total)
      : total_(total), tty_(isatty(2) != 0), start_(std::chrono::steady_clock::now()) {}
  void show(std::size_t steps, std::size_t runs_done, std::size_t runs, bool last = false) {
    const double f = total_ ? static_cast<double>(steps) / static_cast<double>(total_) : 1.0;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const int decile = static_cast<int>(f * 10);
    if (!tty_ && !last && decile <= last_decile_) return;
    last_decile_ = decile;
    constexpr int width = 30;
    const int filled = static_cast<int>(f * width);
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.resize(width, '.');
    std::string eta = "estimating";
    if (f > 0.01) eta = duration(elapsed * (1 - f) / f).append(" left").insert(0, 1, '~');
    std::fprintf(stderr, "%s[%s] %3.0f%%  %zu/%zu runs done  %s elapsed, %s%s", tty_ ? "\r\033[K" : "", bar.c_str(),
                 100 * f, runs_done, runs, duration(elapsed).c_str(), last ? "done" : eta.c_str(),
                 tty_ && !last ? "" : "\n");
    std::fflush(stderr);
  }

 private:
  std::size_t total_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  int last_decile_ = -1;
};

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  // Eigen's GEMM allocates and frees its packing buffers on every product; above glibc's mmap
  // threshold each one came back as fresh, zeroed pages (clear_page took 9% of a run's profile).
  lnfold::runners::keep_freed_memory_mapped();
  try {
    const image_set train_set = load_split(o.data, "train"), test_set = load_split(o.data, "t10k");
    double sum = 0, sq = 0;
    for (auto p : train_set.pixels) {
      sum += p / 255.0;
      sq += (p / 255.0) * (p / 255.0);
    }
    const double npx = static_cast<double>(train_set.pixels.size());
    const double mean_px = sum / npx, std_px = std::sqrt(sq / npx - mean_px * mean_px);
    const tensor_set train = prepare(train_set, o.train_images, mean_px, std_px);
    const tensor_set test = prepare(test_set, o.test_images, mean_px, std_px);

    std::vector<job> jobs;  // seed-major, so every variant runs alongside every other
    for (std::size_t s = 0; s < o.seeds; ++s)
      for (double p : {0.0, o.dropout})
        for (auto n : {norm_choice::layer_norm, norm_choice::rms_norm, norm_choice::cbwc_rms_norm})
          jobs.push_back({n, p, s + 1});
    const std::size_t per_run = (train.y.size() + o.batch - 1) / o.batch * o.epochs;
    std::fprintf(stderr,
                 "lnfold-train: %zu runs (3 norms x dropout {0, %.2f} x %zu seeds), %zu epochs of %zu training "
                 "images, %zu test images, d %zu, %zu blocks, %zu threads\n",
                 jobs.size(), o.dropout, o.seeds, o.epochs, train.y.size(), test.y.size(), o.model.d, o.model.blocks,
                 o.threads);

    std::vector<run_result> results(jobs.size());
    std::atomic<std::size_t> next{0}, steps{0}, finished{0};
    std::mutex error_mutex;
    std::exception_ptr error;
    std::vector<std::thread> workers;
    for (std::size_t t = 0; t < std::min(o.threads, jobs.size()); ++t)
      workers.emplace_back([&] {
        for (std::size_t k; (k = next.fetch_add(1)) < jobs.size();) {
          try {
            results[k] = train_one(o, jobs[k], train, test, steps);
          } catch (...) {
            const std::lock_guard<std::mutex> lock(error_mutex);
            if (!error) error = std::current_exception();
            next = jobs.size();
          }
          finished.fetch_add(1);
        }
      });
    progress bar(per_run * jobs.size());
    while (finished.load() < jobs.size()) {
      bar.show(steps.load(), finished.load(), jobs.size());
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    for (auto& w : workers) w.join();
    if (error) std::rethrow_exception(error);
    bar.show(steps.load(), finished.load(), jobs.size(), true);

    const auto summary = summarize(results);
    const std::string dataset = "fashion-mnist";
    if (!o.curves_path.empty()) {
      std::ostringstream config;
      config << "{\"d\": " << o.model.d << ", \"heads\": " << o.model.heads << ", \"mlp\": " << o.model.mlp
             << ", \"blocks\": " << o.model.blocks << ", \"patch\": " << o.model.patch << ", \"batch\": " << o.batch
             << ", \"lr\": " << o.lr << ", \"train_images\": " << train.y.size()
             << ", \"test_images\": " << test.y.size() << ", \"threads\": " << o.threads << "}";
      write_file_atomically(o.curves_path, curves_json(results, dataset, o.epochs, config.str()));
    }
    if (o.json && o.json_path.empty()) {
      std::cout << summary_json(summary, dataset, o.epochs);
    } else {
      if (o.json) write_file_atomically(o.json_path, summary_json(summary, dataset, o.epochs));
      std::cout << table(summary, o.epochs);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lnfold-train: %s\n", e.what());
    return 1;
  }
}
