#include "train/batch_trainer.h"

#include <chrono>
#include <numeric>

#include "common/check.h"
#include "common/random.h"

namespace liverec {
namespace {

constexpr uint64_t kShuffleSalt = 0x5348554646ULL;  // "SHUFF"

// One epoch: every event once, in an order shuffled by the epoch's own generator, so an epoch's
// order depends only on (seed, epoch) and refits repeat the trial's sequence.
void RunEpoch(Model* model, std::span<const Event> events, uint64_t seed, int epoch,
              std::vector<uint32_t>* order) {
  order->resize(events.size());
  std::iota(order->begin(), order->end(), 0u);
  Random rng(DeriveSeed(seed ^ kShuffleSalt, static_cast<uint64_t>(epoch)));
  for (size_t i = order->size(); i > 1; --i) {
    std::swap((*order)[i - 1], (*order)[rng.Uniform(static_cast<uint32_t>(i))]);
  }
  for (uint32_t idx : *order) model->Learn(events[idx]);
}

}  // namespace

BatchTrainOptions BatchTrainOptions::FromOptions(const Options& options, uint64_t seed) {
  BatchTrainOptions o;
  o.max_epochs = static_cast<int>(options.GetInt("", "train", "max_epochs"));
  o.patience = static_cast<int>(options.GetInt("", "train", "patience"));
  o.validation_fraction = options.GetFloat("", "train", "validation_fraction");
  o.seed = seed;
  return o;
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

  std::vector<uint32_t> order;
  int epochs = options.fixed_epochs;
  const size_t num_validation =
      static_cast<size_t>(static_cast<double>(events.size()) * options.validation_fraction);
  if (epochs <= 0 && (num_validation == 0 || !validate)) epochs = options.max_epochs;
  if (epochs <= 0) {
    std::span<const Event> train = events.first(events.size() - num_validation);
    std::span<const Event> validation = events.last(num_validation);
    std::unique_ptr<Model> trial = model->Clone();
    double best = -1;
    int best_epoch = 1;
    for (int epoch = 1; epoch <= options.max_epochs; ++epoch) {
      RunEpoch(trial.get(), train, options.seed, epoch, &order);
      double score = validate(*trial, train, validation);
      result.validation_curve.push_back(score);
      if (score > best) {
        best = score;
        best_epoch = epoch;
      } else if (epoch - best_epoch >= options.patience) {
        break;
      }
    }
    epochs = best_epoch;
  }
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    RunEpoch(model, events, options.seed, epoch, &order);
  }
  result.epochs = epochs;
  return finish();
}

}  // namespace liverec
