// Every architecture builder, and a lookup by name for tools and tests:
//   build_architecture("gpt2")               GPT-2 small, as gpt2_config{} describes it
//   build_architecture("swin", 1)            Swin-T with one block per stage
// Structure only (see builder.hpp): no weights are allocated, so even GPT-J 6B builds in milliseconds.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "lnfold/error.hpp"
#include "lnfold/graph/architectures/bert.hpp"
#include "lnfold/graph/architectures/clip_vision.hpp"
#include "lnfold/graph/architectures/convnext.hpp"
#include "lnfold/graph/architectures/edge_cases.hpp"
#include "lnfold/graph/architectures/gpt2.hpp"
#include "lnfold/graph/architectures/gptj.hpp"
#include "lnfold/graph/architectures/opt.hpp"
#include "lnfold/graph/architectures/swin.hpp"
#include "lnfold/graph/architectures/vit.hpp"
#include "lnfold/graph/architectures/whisper.hpp"

namespace lnfold {

/// The names build_architecture accepts, in a stable order.
inline constexpr std::array<std::string_view, 10> architecture_names{
    "gpt2", "opt", "gptj", "bert", "vit", "clip-vision", "whisper-encoder", "whisper-decoder", "swin", "convnext"};

/// Which configuration build_architecture starts from.
enum class architecture_size {
  standard,  ///< the real model's sizes (GPT-2 small, BERT-base, …)
  tiny,      ///< the same structure at small sizes (each config's tiny()), for evaluating with weights
};

/// Architecture `name` at `size`; `layers`, when given, replaces the number of blocks (for the
/// staged models Swin and ConvNeXt: the number of blocks in every stage).
/// Throws lnfold::error on an unknown name or layers < 1.
inline graph build_architecture(std::string_view name, std::optional<std::int64_t> layers = std::nullopt,
                                architecture_size size = architecture_size::standard) {
  detail::require(!layers || *layers >= 1, "lnfold::build_architecture: layers must be >= 1 (got ", layers.value_or(0),
                  ")");
  const bool tiny = size == architecture_size::tiny;
  const auto with_layers = [&](auto config) {
    if (tiny) config = decltype(config)::tiny();
    if (layers) config.layers = *layers;
    return config;
  };
  const auto with_depths = [&](auto config) {
    if (tiny) config = decltype(config)::tiny();
    if (layers)
      for (auto& depth : config.depths) depth = *layers;
    return config;
  };
  if (name == "gpt2") return build_gpt2(with_layers(gpt2_config{}));
  if (name == "opt") return build_opt(with_layers(opt_config{}));
  if (name == "gptj") return build_gptj(with_layers(gptj_config{}));
  if (name == "bert") return build_bert(with_layers(bert_config{}));
  if (name == "vit") return build_vit(with_layers(vit_config{}));
  if (name == "clip-vision") return build_clip_vision(with_layers(clip_vision_config{}));
  if (name == "whisper-encoder") return build_whisper_encoder(with_layers(whisper_encoder_config{}));
  if (name == "whisper-decoder") return build_whisper_decoder(with_layers(whisper_decoder_config{}));
  if (name == "swin") return build_swin(with_depths(swin_config{}));
  if (name == "convnext") return build_convnext(with_depths(convnext_config{}));
  detail::fail(detail::concat("lnfold::build_architecture: unknown architecture '", name,
                              "' (known: gpt2, opt, gptj, bert, vit, clip-vision, whisper-encoder, whisper-decoder, "
                              "swin, convnext)"));
}

}  // namespace lnfold
