// The steps of applying a fold plan, written once against rewritable_graph
// (transform/rewritable_graph.hpp). Every graph type goes through this class: the built-in IR
// (transform/weighted_graph.hpp), the ONNX adapter (onnx/convert.hpp) and the weights-only path
// (transform/apply_to_weights.hpp). docs/apply-plan.md explains each step and its order.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lnfold/error.hpp"
#include "lnfold/fold/plan.hpp"
#include "lnfold/graph/concepts.hpp"
#include "lnfold/transform/apply_summary.hpp"
#include "lnfold/transform/ccwt.hpp"
#include "lnfold/transform/rewritable_graph.hpp"

namespace lnfold::detail {

/// Calls f(element&, index) for every element of v, in row-major index order.
template <class T, class F>
void for_each_indexed(const tensor_view<T>& v, F&& f) {
  if (v.size() == 0) return;
  std::vector<std::size_t> index(v.rank(), 0);
  for (;;) {
    f(v(index), std::span<const std::size_t>(index));
    std::size_t k = v.rank();
    for (; k-- > 0;) {
      if (++index[k] < v.extents[k]) break;
      index[k] = 0;
    }
    if (k == static_cast<std::size_t>(-1)) return;
  }
}

/// The values of v in row-major order, as doubles.
template <class T>
std::vector<double> values_as_double(const tensor_view<T>& v) {
  std::vector<double> out;
  out.reserve(v.size());
  for_each_indexed(v, [&](const T& x, std::span<const std::size_t>) { out.push_back(static_cast<double>(x)); });
  return out;
}

template <class G>
class plan_applier {
 public:
  plan_applier(G& g, const fold_plan& plan, const apply_options& options) : g_(g), plan_(plan), options_(options) {}

  apply_summary run() {
    validate();
    resolve_ties();  // before fusion: a fused scale must land on the source's own copy
    fuse_scales();
    center_sources();
    insert_stem_centerings();
    convert_norms();
    if (options_.fold_affine) fold_affines();
    finish_rewrite_if_any(g_);
    return std::move(summary_);
  }

 private:
  static constexpr const char* fn = "lnfold::apply_fold_plan";

  // ---- reading the graph through its customization points ----------------------------------------

  op_desc op(node_id n) const { return lnfold::node_op(std::as_const(g_), n); }  // a copy: edits follow
  std::vector<node_id> inputs(node_id n) const {
    std::vector<node_id> out;
    for (auto in : lnfold::node_inputs(std::as_const(g_), n)) out.push_back(static_cast<node_id>(in));
    return out;
  }
  std::string name(node_id n) const { return std::string(std::string_view(lnfold::node_name(std::as_const(g_), n))); }
  std::string pname(param_id p) const {
    return std::string(std::string_view(lnfold::param_name(std::as_const(g_), p)));
  }
  std::size_t node_count() const { return static_cast<std::size_t>(lnfold::node_count(std::as_const(g_))); }
  std::optional<shape> node_dims(node_id n) const { return lnfold::node_shape(std::as_const(g_), n); }
  shape param_dims(param_id p) const { return lnfold::param_shape(std::as_const(g_), p); }

  template <class F>
  void visit(param_id p, F&& f) const {
    lnfold::visit_param(std::as_const(g_), p, std::forward<F>(f));
  }
  template <class F>
  void edit(param_id p, F&& f) {
    lnfold::edit_param(g_, p, std::forward<F>(f));
  }
  node_id add_node(const std::string& node_name, const op_desc& o, std::initializer_list<node_id> in, const shape& s) {
    const std::vector<node_id> ids(in);
    return static_cast<node_id>(lnfold::add_node(g_, std::string_view(node_name), o, std::span<const node_id>(ids), s));
  }

  // ---- 0. the plan belongs to this graph ---------------------------------------------------------

  void validate() const {
    const std::size_t n = node_count();
    for (const auto& v : plan_.lns)
      require(v.node < n && op(v.node).kind == op_kind::layer_norm, fn, ": the plan's LN ", v.node,
              " is not a layer_norm of this graph (a plan made for another graph?)");
    for (const auto& s : plan_.sources) {
      require(s.node < n, fn, ": the plan's source ", s.node, " does not exist (the graph has ", n, " nodes)");
      const op_desc o = op(s.node);
      for (const auto& cp : s.params)
        require(o.weight == cp.param || o.bias == cp.param, fn, ": the plan centers parameter ", cp.param,
                " for node '", name(s.node), "', which does not use it (a plan made for another graph?)");
    }
    for (const auto& f : plan_.fusions)
      require(f.mul < n && f.linear < n && op(f.mul).kind == op_kind::mul, fn, ": the plan's scale fusion ", f.mul,
              " is not a mul of this graph");
    for (const auto& st : plan_.stems)
      require(st.after < n, fn, ": the plan's stem centering after node ", st.after, " does not exist");
  }

  const source_plan* broadcast_source(node_id n) const {
    for (const auto& s : plan_.sources)
      if (s.node == n && s.kind == source_kind::broadcast_constant) return &s;
    return nullptr;
  }

  // ---- 1. tied parameters ------------------------------------------------------------------------

  void resolve_ties() {
    for (const auto& c : plan_.tied) {
      if (c.resolution == tied_policy::refuse) continue;  // its region is not folded
      if (const source_plan* s = broadcast_source(c.source_use)) {
        zero_copy_for_reader(*s);
      } else if (c.resolution == tied_policy::untie) {
        untie(c.param, c.source_use);
      } else {
        compensate_rank1(c);
      }
    }
  }

  // The source gets its own copy, which step 3 centers; the other uses keep the original.
  void untie(param_id p, node_id source) {
    if (copies_.contains({source, p})) return;
    const auto q = static_cast<param_id>(
        lnfold::copy_param(g_, p, std::string_view(pname(p) + ".untied." + name(source))));
    op_desc o = op(source);
    for (auto* slot : {&o.weight, &o.bias})
      if (*slot == p) *slot = q;
    lnfold::set_node_op(g_, source, o);
    copies_[{source, p}] = q;
    summary_.untied.push_back({source, p, q});
  }

  // A constant broadcast along the axis is zeroed by centering; its reader in the region gets a zeroed
  // copy of its own, the other readers keep the original.
  void zero_copy_for_reader(const source_plan& s) {
    if (zero_copies_.contains(s.node)) return;
    require(s.reader.has_value(), fn, ": the plan's broadcast constant '", name(s.node), "' names no reader");
    const node_id constant = s.node, reader = *s.reader;
    const op_desc c = op(constant);
    require(c.kind == op_kind::constant && c.weight.has_value(), fn, ": broadcast source '", name(constant),
            "' is not a constant with a parameter");
    const auto q = static_cast<param_id>(
        lnfold::copy_param(g_, *c.weight, std::string_view(pname(*c.weight) + ".zeroed." + name(reader))));
    const auto dims = node_dims(constant);
    require(dims.has_value(), fn, ": constant '", name(constant), "' has no known shape");
    const node_id copy = add_node(name(constant) + ".zeroed", {.kind = op_kind::constant, .weight = q}, {}, *dims);
    const auto in = inputs(reader);
    for (std::size_t i = 0; i < in.size(); ++i)
      if (in[i] == constant) lnfold::set_node_input(g_, reader, i, copy);
    zero_copies_[constant] = q;
    summary_.zeroed_copies.push_back({constant, reader, copy, q});
  }

  // W = W̃ + m·1ᵀ over the centered axis, so W·h = W̃·h + m·(1ᵀh): the other use, a linear that
  // contracts the centered axis, gets (Σh)·m added after it, computed from its own input h.
  void compensate_rank1(const tied_conflict& c) {
    if (!compensated_.insert({c.other_use, c.param}).second) return;
    const op_desc use = op(c.other_use);
    const shape w_dims = param_dims(c.param);
    require(use.kind == op_kind::linear && use.weight == c.param && w_dims.size() == 2 && c.axis.has_value(), fn,
            ": rank-1 compensation needs a linear using '", pname(c.param), "' as its 2-D weight, not '",
            name(c.other_use), "' (", to_string(use.kind), ")");
    const std::size_t contracted = use.layout == weight_layout::out_in ? 1 : 0;
    require(*c.axis == contracted, fn, ": rank-1 compensation of '", name(c.other_use), "' needs '", pname(c.param),
            "' centered over the axis the linear contracts (", contracted, "), not axis ", *c.axis);
    require(use.axis == -1 || use.axis == -2, fn, ": rank-1 compensation of '", name(c.other_use),
            "': the linear contracts axis ", use.axis, "; only -1 (x·Wᵀ) and -2 (W·x) are supported");
    const double scale = linear_scale_or_unit(std::as_const(g_), c.other_use).weight;
    const auto outs = w_dims[1 - contracted];

    // m: the means centering removes (the same computation as center_param's), times the linear's factor.
    std::vector<double> means;
    const std::string tied_name = "the tied weight '" + pname(c.param) + "'";
    visit(c.param, [&](const auto& w) {
      const auto centers = find_fiber_centers(w, contracted, true, fn, tied_name.c_str());
      for (std::size_t o = 0; o < centers.shift.size(); ++o)
        means.push_back(scale * static_cast<double>(static_cast<long double>(centers.shift[o]) +
                                                    static_cast<long double>(centers.offset[o])));
    });
    const std::string base = name(c.other_use);
    const shape m_dims = use.axis == -2 ? shape{outs, 1} : shape{outs};
    const auto m = static_cast<param_id>(
        lnfold::add_param_like(g_, c.param, std::string_view(pname(c.param) + ".rank1_means"), m_dims));
    edit(m, [&](const auto& v) {
      std::size_t i = 0;
      for_each_indexed(v, [&](auto& x, std::span<const std::size_t>) {
        x = static_cast<std::remove_reference_t<decltype(x)>>(means[i++]);
      });
    });

    const node_id h = inputs(c.other_use).at(0);
    const auto h_dims = node_dims(h), out_dims = node_dims(c.other_use);
    require(h_dims && h_dims->size() >= 2 && out_dims, fn, ": rank-1 compensation of '", base,
            "' needs the shapes of the linear and its input");
    shape sum_dims = *h_dims;
    sum_dims[sum_dims.size() - (use.axis == -2 ? 2 : 1)] = 1;
    rank1_record r{c.other_use, h, use.axis, c.param, m};
    r.sum = add_node(base + ".rank1_sum", {.kind = op_kind::reduce_sum, .axes = {use.axis}, .keep_dims = true}, {h},
                     sum_dims);
    r.means_node = add_node(base + ".rank1_means", {.kind = op_kind::constant, .weight = m}, {}, m_dims);
    r.correction = add_node(base + ".rank1_correction", {.kind = op_kind::mul}, {r.sum, r.means_node}, *out_dims);
    r.compensated = redirect_readers(c.other_use, [&] {
      return add_node(base + ".rank1_compensated", {.kind = op_kind::add}, {c.other_use, r.correction}, *out_dims);
    });
    summary_.rank1.push_back(r);
  }

  // Makes every reader of `n`, and the graph output flag, go to make() instead (the new node itself
  // reads n).
  template <class Make>
  node_id redirect_readers(node_id n, Make make) {
    std::vector<std::pair<node_id, std::size_t>> readers;
    for (node_id c = 0; c < node_count(); ++c) {
      const auto in = inputs(c);
      for (std::size_t i = 0; i < in.size(); ++i)
        if (in[i] == n) readers.emplace_back(c, i);
    }
    const node_id replacement = make();
    for (const auto& [c, i] : readers) lnfold::set_node_input(g_, c, i, replacement);
    if (lnfold::is_graph_output(std::as_const(g_), n)) {
      lnfold::set_graph_output(g_, n, false);
      lnfold::set_graph_output(g_, replacement, true);
    }
    return replacement;
  }

  // ---- 2. LayerScale fusion ----------------------------------------------------------------------

  void fuse_scales() {
    for (const auto& f : plan_.fusions) {
      const op_desc lin = op(f.linear);  // after ties: the source's own copies
      require(lin.weight.has_value(), fn, ": scale fusion into '", name(f.linear), "', which has no weight");
      std::vector<double> s;
      visit(f.scale, [&](const auto& v) { s = values_as_double(v); });
      const bool in_out = lin.kind == op_kind::linear && lin.layout == weight_layout::in_out;
      scale_along(*lin.weight, lin.kind == op_kind::conv_transpose || in_out ? 1 : 0, s, f);
      if (lin.bias) scale_along(*lin.bias, 0, s, f);
      if (f.bias) scale_bias_constant(*f.bias, s, f);
      // The mul reads what it scaled through every input and passes input 0 on unchanged.
      const auto in = inputs(f.mul);
      for (std::size_t i = 0; i < in.size(); ++i) lnfold::set_node_input(g_, f.mul, i, f.scaled);
      lnfold::set_node_op(g_, f.mul, op_desc{.kind = op_kind::identity, .type = "fused_scale"});
      summary_.fused.push_back({f.mul, f.linear, f.scale, f.scaled});
    }
  }

  // The constant bias of mul(add(linear, b), s): scaled along the axis it is centered over (the
  // plan's source entry for it), after ties gave it its own copy if it needed one.
  void scale_bias_constant(node_id bias, const std::vector<double>& s, const scale_fusion& f) {
    const op_desc c = op(bias);
    std::optional<std::size_t> axis;
    for (const auto& src : plan_.sources)
      if (src.node == bias && !src.params.empty()) axis = src.params[0].axis;
    require(c.kind == op_kind::constant && c.weight && axis, fn, ": the bias '", name(bias),
            "' of the scale fused into '", name(f.linear), "' is not a constant the plan centers");
    scale_along(*c.weight, *axis, s, f);
  }

  void scale_along(param_id p, std::size_t axis, const std::vector<double>& s, const scale_fusion& f) {
    edit(p, [&](const auto& t) {
      require(axis < t.rank() && t.extents[axis] == s.size(), fn, ": scale '", pname(f.scale), "' has ", s.size(),
              " values, the linear '", name(f.linear), "' has ", axis < t.rank() ? t.extents[axis] : 0, " outputs");
      for_each_indexed(t, [&](auto& x, std::span<const std::size_t> i) {
        x = static_cast<std::remove_reference_t<decltype(x)>>(static_cast<double>(x) * s[i[axis]]);
      });
    });
  }

  // ---- 3. centering ------------------------------------------------------------------------------

  void center_sources() {
    std::set<param_id> done;
    for (const auto& s : plan_.sources)
      for (const auto& cp : s.params) {
        param_id p = cp.param;
        if (const auto it = copies_.find({s.node, p}); it != copies_.end()) p = it->second;
        if (const auto it = zero_copies_.find(s.node); it != zero_copies_.end()) p = it->second;
        if (!done.insert(p).second) continue;  // shared by several sources: centering is idempotent anyway
        try {
          edit(p, [&](const auto& v) { center_param(v, cp.axis); });
        } catch (const error& e) {  // name the parameter: center_param only knows its view
          fail(concat(fn, ": cannot center '", pname(p), "' for '", name(s.node), "': ", e.what()));
        }
        summary_.centered.push_back({p, cp.axis, s.node});
      }
  }

  // ---- 4. stem centering -------------------------------------------------------------------------

  void insert_stem_centerings() {
    for (const auto& st : plan_.stems) {
      const auto dims = node_dims(st.after);
      require(dims.has_value(), fn, ": stem centering after '", name(st.after), "', whose shape is not known");
      const node_id c = redirect_readers(st.after, [&] {
        return add_node(name(st.after) + ".stem_center",
                        {.kind = op_kind::center, .axis = static_cast<std::int64_t>(st.axis)}, {st.after}, *dims);
      });
      summary_.stems.push_back({st.after, st.axis, c});
    }
  }

  // ---- 5. LN -> RMSNorm --------------------------------------------------------------------------

  void convert_norms() {
    for (const auto& v : plan_.lns) {
      if (!v.foldable) continue;
      op_desc o = op(v.node);
      o.kind = op_kind::rms_norm;  // γ, β, ε and the axes stay: exact once the input is zero-mean
      lnfold::set_node_op(g_, v.node, o);
      summary_.converted.push_back(v.node);
    }
  }

  // ---- 6. affine folding -------------------------------------------------------------------------
  // A norm over the last axis whose readers are linear layers contracting that axis (directly or
  // through reshapes that keep the last axis, which map rows to rows), each its weight's and bias's
  // only user, hands its affine to them: W·(γ ⊙ n + β) + b = (W·diag(γ))·n + (b + W·β).

  void fold_affines() {
    const std::size_t count = node_count();
    readers_.assign(count, {});
    uses_.clear();
    for (node_id n = 0; n < count; ++n) {
      for (node_id in : inputs(n)) readers_[in].push_back(n);
      const op_desc o = op(n);
      for (const auto& p : {o.weight, o.bias, o.gamma, o.beta})
        if (p) ++uses_[*p];
    }
    for (node_id n = 0; n < count; ++n) {
      const op_desc norm = op(n);
      if (norm.kind != op_kind::layer_norm && norm.kind != op_kind::rms_norm) continue;
      if ((!norm.gamma && !norm.beta) || lnfold::is_graph_output(std::as_const(g_), n)) continue;
      const auto dims = node_dims(n);
      if (!over_last_axis_only(n, norm) || !dims) continue;
      std::vector<node_id> linears;
      if (!linear_readers(n, dims->back(), norm, linears) || linears.empty()) continue;
      affine_fold_record rec{n, {}};
      for (node_id r : linears) rec.linears.push_back({r, absorb_affine(norm, r)});
      op_desc plain = norm;
      plain.gamma.reset();
      plain.beta.reset();
      lnfold::set_node_op(g_, n, plain);
      summary_.affine_folded.push_back(std::move(rec));
    }
  }

  // The linears reading `n` (a norm's output, last axis of size d), through row-preserving reshapes;
  // false when any reader is something else.
  bool linear_readers(node_id n, std::int64_t d, const op_desc& norm, std::vector<node_id>& out) const {
    for (node_id r : readers_[n]) {
      const op_desc o = op(r);
      const auto dims = node_dims(r);
      if (!dims || dims->empty()) return false;
      if (o.kind == op_kind::reshape) {
        if (lnfold::is_graph_output(std::as_const(g_), r) || dims->back() != d || !linear_readers(r, d, norm, out))
          return false;
        continue;
      }
      const bool absorbs = o.kind == op_kind::linear && o.weight &&
                           (o.axis == -1 || o.axis + 1 == static_cast<std::int64_t>(dims->size())) &&
                           inputs(r).size() == 1 && uses_.at(*o.weight) == 1 && (!o.bias || uses_.at(*o.bias) == 1) &&
                           param_dims(*o.weight).size() == 2 &&
                           (!norm.beta || linear_scale_or_unit(std::as_const(g_), r).bias != 0);
      if (!absorbs) return false;
      out.push_back(r);
    }
    return true;
  }

  bool over_last_axis_only(node_id n, const op_desc& norm) const {
    const auto dims = node_dims(n);
    if (!dims || dims->empty()) return false;
    const auto last = static_cast<std::int64_t>(dims->size()) - 1;
    if (!norm.axes.empty()) return norm.axes.size() == 1 && (norm.axes[0] == -1 || norm.axes[0] == last);
    return norm.axis == -1 || norm.axis == last;
  }

  // Returns the bias it had to create, if any.
  std::optional<param_id> absorb_affine(const op_desc& norm, node_id linear) {
    std::optional<param_id> created;
    op_desc o = op(linear);
    const bool out_in = o.layout == weight_layout::out_in;
    const shape w_dims = param_dims(*o.weight);
    const auto outs = static_cast<std::size_t>(w_dims[out_in ? 0 : 1]);
    const linear_scale factors = linear_scale_or_unit(std::as_const(g_), linear);
    const auto at = [out_in](std::size_t out, std::size_t in) {
      return out_in ? std::array<std::size_t, 2>{out, in} : std::array<std::size_t, 2>{in, out};
    };
    if (norm.beta) {
      // b ← b + (weight/bias)·W·β: the linear adds bias·b and computes weight·W·x.
      std::vector<double> beta, shift(outs, 0.0);
      visit(*norm.beta, [&](const auto& v) { beta = values_as_double(v); });
      visit(*o.weight, [&](const auto& w) {
        require(w.extents[out_in ? 1 : 0] == beta.size(), fn, ": β of ", beta.size(),
                " values does not match the inputs of '", name(linear), "'");
        for (std::size_t out = 0; out < outs; ++out) {
          double sum = 0;
          for (std::size_t in = 0; in < beta.size(); ++in) sum += static_cast<double>(w(at(out, in))) * beta[in];
          shift[out] = sum * factors.weight / factors.bias;
        }
      });
      if (!o.bias) {
        o.bias = static_cast<param_id>(lnfold::add_param_like(
            g_, *o.weight, std::string_view(name(linear) + ".bias_from_beta"), shape{static_cast<std::int64_t>(outs)}));
        lnfold::set_node_op(g_, linear, o);
        created = o.bias;
      }
      edit(*o.bias, [&](const auto& b) {
        for_each_indexed(b, [&](auto& x, std::span<const std::size_t> i) {
          x = static_cast<std::remove_reference_t<decltype(x)>>(static_cast<double>(x) + shift[i[0]]);
        });
      });
    }
    if (norm.gamma) {
      std::vector<double> gamma;
      visit(*norm.gamma, [&](const auto& v) { gamma = values_as_double(v); });
      edit(*o.weight, [&](const auto& w) {
        for_each_indexed(w, [&](auto& x, std::span<const std::size_t> i) {
          x = static_cast<std::remove_reference_t<decltype(x)>>(static_cast<double>(x) * gamma[i[out_in ? 1 : 0]]);
        });
      });
    }
    return created;
  }

  G& g_;
  const fold_plan& plan_;
  const apply_options& options_;
  apply_summary summary_;
  std::map<std::pair<node_id, param_id>, param_id> copies_;  // (source, parameter) -> its untied copy
  std::map<node_id, param_id> zero_copies_;                  // broadcast constant -> its reader's copy
  std::set<std::pair<node_id, param_id>> compensated_;
  std::vector<std::vector<node_id>> readers_;  // affine folding: every node's readers
  std::map<param_id, std::size_t> uses_;       // affine folding: how many ops name each parameter
};

}  // namespace lnfold::detail
