// The batch trainer: fits a fresh model on a block of history, the way a nightly job would.
//
// Count-based models (Model::iterative() == false) are fit exactly by one pass in time order.
// Iterative models (mf) are fit by epochs of SGD over the events in shuffled order; models that
// learn from each user's sequence (OrderedEpochs, seq) read every epoch in time order instead,
// and forget the per-user history they read before each epoch after the first. Unless
// `fixed_epochs` is set, the number of epochs is chosen by early stopping: the latest
// `validation_fraction` of the events is held out, a trial model is trained epoch by epoch on
// the rest and scored by `validate` after each epoch, training stops after `patience` epochs
// without improvement, and the model is then refit from scratch on all events for the best
// number of epochs (so the freshest history is not lost to validation).
//
// The trainer is the scheduler; the model's Learn is the solver (one step per event). The epoch
// primitives (RunBatchEpoch, TrainWithEarlyStopping) are public for protocols that hold out
// validation events otherwise (eval/loo.h keeps the best epoch's model instead of refitting).
#ifndef LIVEREC_TRAIN_BATCH_TRAINER_H_
#define LIVEREC_TRAIN_BATCH_TRAINER_H_

#include <functional>
#include <span>
#include <vector>

#include "event/event.h"
#include "liverec/options.h"
#include "model/model.h"

namespace liverec {

struct BatchTrainOptions {
  int max_epochs = 20;  // >= 1
  int patience = 2;
  double validation_fraction = 0.1;
  int fixed_epochs = 0;  // > 0: skip validation and train exactly this many epochs
  uint64_t seed = 42;    // shuffling

  // Reads train.max_epochs, train.patience, train.validation_fraction.
  static BatchTrainOptions FromOptions(const Options& options, uint64_t seed);
};

struct BatchTrainResult {
  int epochs = 0;                        // epochs of the final fit (0 for count models)
  std::vector<double> validation_curve;  // validation score after each trial epoch
  double seconds = 0;
};

// Scores a trial model on held-out events (higher is better); `train` is what it learned from.
using Validator = std::function<double(const Model& model, std::span<const Event> train,
                                       std::span<const Event> validation)>;

// Fits `model`, which must be fresh (never learned), on `events` (in time order).
BatchTrainResult TrainBatch(Model* model, std::span<const Event> events,
                            const BatchTrainOptions& options, const Validator& validate);

// Feeds `model` epoch number `epoch` (1-based) of a batch fit on `events` (in time order): every
// event once through Learn. A model with ordered epochs (OrderedEpochs, model/capabilities.h)
// reads them in time order, after ForgetHistory() when epoch > 1; any other model reads them in
// an order shuffled by (seed, epoch) alone, so a refit repeats a trial's sequence. `scratch` is
// reused between calls (its content is irrelevant).
void RunBatchEpoch(Model* model, std::span<const Event> events, uint64_t seed, int epoch,
                   std::vector<uint32_t>* scratch);

struct EarlyStoppingResult {
  int best_epoch = 0;                    // 1-based; the first of equal best scores
  std::vector<double> validation_curve;  // score after each epoch run
};

// Scores a model after an epoch; higher is better.
using EpochScorer = std::function<double(const Model& model)>;
// Called after each epoch that scores better than every earlier one (always after epoch 1).
using BestEpochCallback = std::function<void(const Model& model, int epoch)>;

// Trains `model` on `events` epoch by epoch (RunBatchEpoch with options.seed), for at most
// options.max_epochs epochs, scoring it with `score` after each; stops once options.patience
// epochs in a row have not improved on the best score. `on_best` may be null. Requires
// options.max_epochs >= 1 and an iterative model; fixed_epochs is ignored.
EarlyStoppingResult TrainWithEarlyStopping(Model* model, std::span<const Event> events,
                                           const BatchTrainOptions& options,
                                           const EpochScorer& score,
                                           const BestEpochCallback& on_best);

}  // namespace liverec

#endif  // LIVEREC_TRAIN_BATCH_TRAINER_H_
