// What lnfold-train reports: per run (variant × dropout × seed) the per-epoch test accuracy, loss and
// times; per variant the mean and standard deviation over seeds; a text table, the JSON summary of
// issue 15's schema and the per-epoch curves (for scripts/training_figure.py). Files are written to a
// temporary name and renamed, so a failed run never leaves a half-written file.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "vit.hpp"

namespace lnfold_train {

struct run_result {
  norm_choice norm = norm_choice::layer_norm;
  double dropout = 0;
  std::uint64_t seed = 0;
  std::vector<double> test_accuracy, train_loss, epoch_ms, norm_ms;  // one per epoch
  double inference_us_per_image = 0;
};

struct variant_summary {
  norm_choice norm = norm_choice::layer_norm;
  double dropout = 0;
  std::size_t seeds = 0;
  double accuracy_mean = 0, accuracy_std = 0;  // final test accuracy over seeds (std: sample, n − 1)
  double epoch_ms = 0, inference_us_per_image = 0, norm_ms_per_epoch = 0;  // means over seeds (and epochs)
};

inline double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}
inline double sample_std(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

/// The runs grouped by (norm, dropout), in the order the variants first appear.
inline std::vector<variant_summary> summarize(const std::vector<run_result>& runs) {
  std::vector<variant_summary> out;
  for (const auto& r : runs) {
    bool seen = false;
    for (const auto& s : out) seen = seen || (s.norm == r.norm && s.dropout == r.dropout);
    if (seen) continue;
    std::vector<double> acc, epoch, infer, norm;
    for (const auto& q : runs)
      if (q.norm == r.norm && q.dropout == r.dropout) {
        acc.push_back(q.test_accuracy.back());
        epoch.push_back(mean(q.epoch_ms));
        infer.push_back(q.inference_us_per_image);
        norm.push_back(mean(q.norm_ms));
      }
    out.push_back({r.norm, r.dropout, acc.size(), mean(acc), sample_std(acc), mean(epoch), mean(infer), mean(norm)});
  }
  return out;
}

inline std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

/// The table, and how each RMSNorm variant compares with LayerNorm at the same dropout.
inline std::string table(const std::vector<variant_summary>& s, std::size_t epochs) {
  std::ostringstream o;
  o << "norm           dropout  seeds  test accuracy (mean ± std)  epoch ms  inference µs/image  norm ms/epoch\n";
  for (const auto& v : s) {
    char line[256];
    std::snprintf(line, sizeof line, "%-14s %7.2f  %5zu  %8.2f%% ± %5.2f%%          %8.0f  %18.1f  %13.1f\n",
                  to_string(v.norm), v.dropout, v.seeds, 100 * v.accuracy_mean, 100 * v.accuracy_std, v.epoch_ms,
                  v.inference_us_per_image, v.norm_ms_per_epoch);
    o << line;
  }
  o << "(" << epochs << " epochs; accuracy on the test set after the last epoch)\n";
  for (const auto& v : s) {
    if (v.norm == norm_choice::layer_norm) continue;
    for (const auto& ln : s) {
      if (ln.norm != norm_choice::layer_norm || ln.dropout != v.dropout) continue;
      const double gap = 100 * (v.accuracy_mean - ln.accuracy_mean);
      const bool within_std = std::abs(v.accuracy_mean - ln.accuracy_mean) <= ln.accuracy_std;
      const bool within_pp = std::abs(gap) <= 1.0;
      o << to_string(v.norm) << " vs layer_norm, dropout " << fixed(v.dropout, 2) << ": " << (gap >= 0 ? "+" : "")
        << fixed(gap, 2) << " points (" << (within_std ? "within" : "outside") << " one LayerNorm std, "
        << (within_pp ? "within" : "outside") << " one point); norm time " << fixed(v.norm_ms_per_epoch, 1) << " vs "
        << fixed(ln.norm_ms_per_epoch, 1) << " ms/epoch\n";
    }
  }
  return o.str();
}

/// Issue 15's JSON summary: {"dataset", "epochs", "variants": [{"norm", "dropout", "seeds",
/// "test_accuracy_mean", "test_accuracy_std", "epoch_ms", "inference_us_per_image", "norm_ms_per_epoch"}]}.
inline std::string summary_json(const std::vector<variant_summary>& s, const std::string& dataset, std::size_t epochs) {
  std::ostringstream o;
  o.precision(6);
  o << "{\"dataset\": \"" << dataset << "\", \"epochs\": " << epochs << ", \"variants\": [";
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto& v = s[i];
    o << (i ? ",\n  " : "\n  ") << "{\"norm\": \"" << to_string(v.norm) << "\", \"dropout\": " << v.dropout
      << ", \"seeds\": " << v.seeds << ", \"test_accuracy_mean\": " << v.accuracy_mean
      << ", \"test_accuracy_std\": " << v.accuracy_std << ", \"epoch_ms\": " << v.epoch_ms
      << ", \"inference_us_per_image\": " << v.inference_us_per_image
      << ", \"norm_ms_per_epoch\": " << v.norm_ms_per_epoch << "}";
  }
  o << "\n]}\n";
  return o.str();
}

inline void json_list(std::ostringstream& o, const std::vector<double>& v) {
  o << "[";
  for (std::size_t i = 0; i < v.size(); ++i) o << (i ? ", " : "") << v[i];
  o << "]";
}

/// Every run, epoch by epoch, with the configuration that produced it.
inline std::string curves_json(const std::vector<run_result>& runs, const std::string& dataset, std::size_t epochs,
                               const std::string& config) {
  std::ostringstream o;
  o.precision(6);
  o << "{\"dataset\": \"" << dataset << "\", \"epochs\": " << epochs << ", \"config\": " << config << ", \"runs\": [";
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto& r = runs[i];
    o << (i ? ",\n  " : "\n  ") << "{\"norm\": \"" << to_string(r.norm) << "\", \"dropout\": " << r.dropout
      << ", \"seed\": " << r.seed << ", \"test_accuracy\": ";
    json_list(o, r.test_accuracy);
    o << ", \"train_loss\": ";
    json_list(o, r.train_loss);
    o << ", \"epoch_ms\": ";
    json_list(o, r.epoch_ms);
    o << ", \"norm_ms\": ";
    json_list(o, r.norm_ms);
    o << ", \"inference_us_per_image\": " << r.inference_us_per_image << "}";
  }
  o << "\n]}\n";
  return o.str();
}

/// Writes `text` to path through path + ".tmp" and a rename: the file is complete or absent.
inline void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw std::runtime_error(path + ": cannot write (" + tmp + " cannot be created)");
    f << text;
    f.flush();
    if (!f) {
      std::filesystem::remove(tmp);
      throw std::runtime_error(path + ": write failed");
    }
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace lnfold_train
