// libFuzzer target: arbitrary bytes as a round delta (model/capabilities.h RoundLearner), which
// a cluster's node reads from the stream engine: for mf, fm and an ensemble of them, a delta is
// either refused with Corruption by CheckRoundDelta, or accepted and then ends a round.
// Run: build/fuzz/src/model/round_delta_fuzz -max_total_time=60 [corpus_dir]
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>
#include <vector>

#include "liverec/options.h"
#include "model/capabilities.h"
#include "model/registry.h"

namespace {

using liverec::Model;

void Require(bool condition) {
  if (!condition) std::abort();
}

// Small models that learned a few events and began a round.
std::vector<std::unique_ptr<Model>> MakeModels() {
  static liverec::Options options;
  for (const char* setting :
       {"mf.dim=4", "fm.dim=4", "fm.hash_bits=8", "ensemble.members=popularity,mf,fm"}) {
    const std::string_view text(setting);
    const size_t eq = text.find('=');
    Require(options.Set(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))).ok());
  }
  std::vector<std::unique_ptr<Model>> models;
  for (const char* type : {"mf", "fm", "ensemble"}) {
    auto model =
        liverec::CreateModel(liverec::OptionView(&options, type, type), liverec::Context());
    Require(model.ok());
    liverec::RoundLearner* rounds = liverec::DiscoverCapabilities(**model).rounds;
    Require(rounds != nullptr);
    rounds->BeginRound();
    for (uint32_t i = 0; i < 50; ++i) {
      liverec::Event event;
      event.time_ms = 1000 * i;
      event.user = i % 7;
      event.item = (i * 5) % 11;
      (*model)->Learn(event);
    }
    models.push_back(std::move(model).value());
  }
  return models;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<std::unique_ptr<Model>> models = MakeModels();
  const std::string_view delta(reinterpret_cast<const char*>(data), size);
  for (const std::unique_ptr<Model>& model : models) {
    const liverec::RoundLearner* rounds = liverec::DiscoverCapabilities(*model).rounds;
    const liverec::Status checked = rounds->CheckRoundDelta(delta);
    if (!checked.ok()) {
      Require(checked.code() == liverec::StatusCode::kCorruption);
      continue;
    }
    std::unique_ptr<Model> copy = model->Clone();
    const std::vector<std::string_view> deltas = {delta, delta};
    Require(liverec::DiscoverCapabilities(*copy).rounds->EndRound(deltas, {}).ok());
  }
  return 0;
}
