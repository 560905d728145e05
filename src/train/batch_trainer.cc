#include "train/batch_trainer.h"

#include <chrono>
#include <numeric>

#include "common/check.h"
#include "common/random.h"
#include "model/capabilities.h"

namespace liverec {
namespace {

constexpr uint64_t kShuffleSalt = 0x5348554646ULL;  // "SHUFF"

}  // namespace

BatchTrainOptions BatchTrainOptions::FromOptions(const Options& options, uint64_t seed) {
  BatchTrainOptions o;
  o.max_epochs = static_cast<int>(options.GetInt("", "train", "max_epochs"));
  o.patience = static_cast<int>(options.GetInt("", "train", "patience"));
  o.validation_fraction = options.GetFloat("", "train", "validation_fraction");
  o.seed = seed;
  return o;
}

void RunBatchEpoch(Model* model, std::span<const Event> events, uint64_t seed, int epoch,
                   std::vector<uint32_t>* scratch) {
  // Once per epoch, a pass over every event: the discovery costs nothing beside it.
  OrderedEpochs* ordered = DiscoverCapabilities(*model).epochs;
  if (ordered != nullptr && ordered->ordered_epochs()) {
    // A sequence model learns from what it has read of each user so far: every epoch must read
    // each user's events afresh and in order, or epoch 2 would see epoch 1's items as history.
    if (epoch > 1) ordered->ForgetHistory();
    for (const Event& e : events) model->Learn(e);
    return;
  }
  // The order depends only on (seed, epoch), so a refit repeats the trial's sequence.
  scratch->resize(events.size());
  std::iota(scratch->begin(), scratch->end(), 0u);
  Random rng(DeriveSeed(seed ^ kShuffleSalt, static_cast<uint64_t>(epoch)));
  for (size_t i = scratch->size(); i > 1; --i) {
    std::swap((*scratch)[i - 1], (*scratch)[rng.Uniform(static_cast<uint32_t>(i))]);
  }
  for (uint32_t idx : *scratch) model->Learn(events[idx]);
}

EarlyStoppingResult TrainWithEarlyStopping(Model* model, std::span<const Event> events,
                                           const BatchTrainOptions& options,
                                           const EpochScorer& score,
                                           const BestEpochCallback& on_best) {
  LIVEREC_CHECK(options.max_epochs >= 1);
  LIVEREC_CHECK(model->iterative());
  EarlyStoppingResult result;
  std::vector<uint32_t> order;
  double best = 0;
  for (int epoch = 1; epoch <= options.max_epochs; ++epoch) {
    RunBatchEpoch(model, events, options.seed, epoch, &order);
    const double value = score(*model);
    result.validation_curve.push_back(value);
    if (epoch == 1 || value > best) {
      best = value;
      result.best_epoch = epoch;
      if (on_best) on_best(*model, epoch);
    } else if (epoch - result.best_epoch >= options.patience) {
      break;
    }
  }
  return result;
}

BatchTrainResult TrainBatch(Model* model, std::span<const Event> events,
                            const BatchTrainOptions& options, const Validator& validate) {
  const auto start = std::chrono::steady_clock::now();
  BatchTrainResult result;
  auto finish = [&] {
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
  };

  if (!model->iterative()) {
    for (const Event& e : events) model->Learn(e);
    return finish();
  }

  int epochs = options.fixed_epochs;
  const size_t num_validation =
      static_cast<size_t>(static_cast<double>(events.size()) * options.validation_fraction);
  if (epochs <= 0 && (num_validation == 0 || !validate)) epochs = options.max_epochs;
  if (epochs <= 0) {
    std::span<const Event> train = events.first(events.size() - num_validation);
    std::span<const Event> validation = events.last(num_validation);
    std::unique_ptr<Model> trial = model->Clone();
    EarlyStoppingResult search = TrainWithEarlyStopping(
        trial.get(), train, options, [&](const Model& m) { return validate(m, train, validation); },
        nullptr);
    result.validation_curve = std::move(search.validation_curve);
    epochs = search.best_epoch;
  }
  std::vector<uint32_t> order;
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    RunBatchEpoch(model, events, options.seed, epoch, &order);
  }
  result.epochs = epochs;
  return finish();
}

}  // namespace liverec
