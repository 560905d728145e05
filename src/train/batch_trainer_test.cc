#include "train/batch_trainer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "common/random.h"
#include "model/capabilities.h"
#include "model/model_testing.h"
#include "model/registry.h"

namespace liverec {
namespace {

std::vector<Event> RandomEvents(size_t n, uint32_t users, uint32_t items, uint64_t seed) {
  Random rng(seed);
  std::vector<Event> events(n);
  // Ids by first appearance, as Dataset guarantees: item ids grow with the stream.
  for (size_t i = 0; i < n; ++i) {
    events[i].user = rng.Uniform(users);
    events[i].item = rng.Uniform(std::min<uint32_t>(items, 2 + static_cast<uint32_t>(i)));
    events[i].time_ms = static_cast<int64_t>(i) * 1000;
  }
  return events;
}

std::unique_ptr<Model> Fresh(const std::string& type, const Options& options) {
  Context context;
  auto model = CreateModel(OptionView(&options, type, type), context);
  EXPECT_TRUE(model.ok());
  return std::move(model).value();
}

std::string Bytes(const Model& model) { return testing::SaveBytes(model); }

// An iterative model that only writes down what the trainer does to it, in a log shared with its
// clones: "<instance>:L<time_s>" for Learn, "<instance>:F" for ForgetHistory.
class RecordingModel final : public Model, public OrderedEpochs {
 public:
  using Log = std::vector<std::string>;
  RecordingModel(bool ordered, std::shared_ptr<Log> log, int instance = 0)
      : ordered_(ordered), log_(std::move(log)), instance_(instance) {}

  std::string_view type() const override { return "recording"; }
  void Learn(const Event& event) override {
    log_->push_back(std::to_string(instance_) + ":L" + std::to_string(event.time_ms / 1000));
    ++learned_;
  }
  void Score(UserId, std::span<const ItemId> items, float* out) const override {
    std::fill(out, out + items.size(), 0.0f);
  }
  bool iterative() const override { return true; }
  bool ordered_epochs() const override { return ordered_; }
  void ForgetHistory() override { log_->push_back(std::to_string(instance_) + ":F"); }
  std::unique_ptr<Model> Clone() const override {
    auto copy = std::make_unique<RecordingModel>(ordered_, log_, instance_ + 1);
    copy->learned_ = learned_;
    return copy;
  }
  void Save(BinaryWriter* out) const override { out->Put<uint64_t>(learned_); }
  Status Load(BinaryReader*) override { return Internal("a recording model does not load"); }
  size_t MemoryBytes() const override { return 0; }

  uint64_t learned() const { return learned_; }

 private:
  bool ordered_;
  std::shared_ptr<Log> log_;
  int instance_;
  uint64_t learned_ = 0;
};

// The log entries of `epochs` time-ordered epochs over events 0..num_events-1 of `instance`,
// with a ForgetHistory before each epoch after the first.
std::vector<std::string> OrderedEpochs(int instance, int epochs, int num_events) {
  const std::string prefix = std::to_string(instance) + ":";
  std::vector<std::string> log;
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    if (epoch > 1) log.push_back(prefix + "F");
    for (int i = 0; i < num_events; ++i) log.push_back(prefix + "L" + std::to_string(i));
  }
  return log;
}

TEST(BatchTrainerTest, OrderedEpochsReadEventsInTimeOrderAndForgetHistoryBetweenEpochs) {
  std::vector<Event> events = RandomEvents(5, 3, 4, 4);
  auto log = std::make_shared<RecordingModel::Log>();
  RecordingModel model(/*ordered=*/true, log);
  BatchTrainOptions o;
  o.fixed_epochs = 3;
  BatchTrainResult r = TrainBatch(&model, events, o, nullptr);
  EXPECT_EQ(r.epochs, 3);
  EXPECT_EQ(*log, OrderedEpochs(0, 3, 5));
}

TEST(BatchTrainerTest, OrderedEpochsAlsoRuleTheTrialAndTheRefit) {
  std::vector<Event> events = RandomEvents(5, 3, 4, 5);
  auto log = std::make_shared<RecordingModel::Log>();
  RecordingModel model(/*ordered=*/true, log);
  // Epoch 2 is best; epochs 3 and 4 do not improve on it, so the trial stops after epoch 4.
  const std::vector<double> curve = {0.2, 0.5, 0.4, 0.3, 0.9};
  int calls = 0;
  Validator validate = [&](const Model&, std::span<const Event>, std::span<const Event>) {
    return curve[calls++];
  };
  BatchTrainOptions o;
  o.max_epochs = 5;
  o.patience = 2;
  o.validation_fraction = 0.4;  // the trial learns from the first 3 events
  BatchTrainResult r = TrainBatch(&model, events, o, validate);
  EXPECT_EQ(r.epochs, 2);
  EXPECT_EQ(calls, 4);
  std::vector<std::string> expected = OrderedEpochs(1, 4, 3);  // the trial is a clone
  const std::vector<std::string> refit = OrderedEpochs(0, 2, 5);
  expected.insert(expected.end(), refit.begin(), refit.end());
  EXPECT_EQ(*log, expected);
}

TEST(BatchTrainerTest, UnorderedEpochsAreShuffledPermutationsWithoutForgetting) {
  constexpr int kEvents = 50;
  std::vector<Event> events = RandomEvents(kEvents, 10, 20, 6);
  auto log = std::make_shared<RecordingModel::Log>();
  RecordingModel model(/*ordered=*/false, log);
  BatchTrainOptions o;
  o.fixed_epochs = 2;
  TrainBatch(&model, events, o, nullptr);
  ASSERT_EQ(log->size(), 2u * kEvents);
  const std::vector<std::string> in_order = OrderedEpochs(0, 1, kEvents);
  std::vector<std::string> first(log->begin(), log->begin() + kEvents);
  std::vector<std::string> second(log->begin() + kEvents, log->end());
  EXPECT_NE(first, in_order);
  EXPECT_NE(first, second);
  std::sort(first.begin(), first.end());
  std::sort(second.begin(), second.end());
  std::vector<std::string> sorted = in_order;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(first, sorted);
  EXPECT_EQ(second, sorted);
}

TEST(BatchTrainerTest, EarlyStoppingReportsEveryImprovementAndStopsAfterPatience) {
  std::vector<Event> events = RandomEvents(7, 3, 4, 7);
  auto log = std::make_shared<RecordingModel::Log>();
  RecordingModel model(/*ordered=*/true, log);
  // An equal score is no improvement: epochs 3 and 4 exhaust the patience after epoch 2.
  const std::vector<double> curve = {0.1, 0.3, 0.3, 0.2, 0.5};
  int calls = 0;
  std::vector<std::pair<int, uint64_t>> improvements;  // (epoch, events learned by then)
  BatchTrainOptions o;
  o.max_epochs = 5;
  o.patience = 2;
  EarlyStoppingResult r = TrainWithEarlyStopping(
      &model, events, o, [&](const Model&) { return curve[calls++]; },
      [&](const Model& m, int epoch) {
        improvements.emplace_back(epoch, static_cast<const RecordingModel&>(m).learned());
      });
  EXPECT_EQ(r.best_epoch, 2);
  EXPECT_EQ(r.validation_curve, std::vector<double>(curve.begin(), curve.begin() + 4));
  EXPECT_EQ(improvements, (std::vector<std::pair<int, uint64_t>>{{1, 7}, {2, 14}}));
  EXPECT_EQ(*log, OrderedEpochs(0, 4, 7));
}

TEST(BatchTrainerTest, CountModelsAreFitByOnePassInTimeOrder) {
  Options options;
  std::vector<Event> events = RandomEvents(2000, 50, 80, 1);
  for (const char* type : {"popularity", "item_knn"}) {
    auto direct = Fresh(type, options);
    for (const Event& e : events) direct->Learn(e);
    auto batch = Fresh(type, options);
    BatchTrainResult r = TrainBatch(batch.get(), events, BatchTrainOptions(), nullptr);
    EXPECT_EQ(r.epochs, 0);
    EXPECT_EQ(Bytes(*batch), Bytes(*direct)) << type;
  }
}

TEST(BatchTrainerTest, EarlyStoppingPicksTheBestEpochAndRefitsOnEverything) {
  Options options;
  ASSERT_TRUE(options.Set("mf.dim", "8").ok());
  std::vector<Event> events = RandomEvents(3000, 40, 60, 2);
  // A planted validation curve peaking at epoch 3.
  const std::vector<double> curve = {0.1, 0.3, 0.5, 0.4, 0.45, 0.2, 0.1};
  int calls = 0;
  size_t validation_size = 0;
  Validator validate = [&](const Model&, std::span<const Event> train,
                           std::span<const Event> validation) {
    validation_size = validation.size();
    EXPECT_EQ(train.size() + validation.size(), events.size());
    return curve[calls++];
  };
  BatchTrainOptions o;
  o.max_epochs = 7;
  o.patience = 2;
  o.validation_fraction = 0.2;
  auto model = Fresh("mf", options);
  BatchTrainResult r = TrainBatch(model.get(), events, o, validate);
  EXPECT_EQ(r.epochs, 3);
  EXPECT_EQ(calls, 5);  // epochs 4 and 5 did not improve on epoch 3
  EXPECT_EQ(r.validation_curve.size(), 5u);
  EXPECT_EQ(validation_size, 600u);

  BatchTrainOptions fixed = o;
  fixed.fixed_epochs = 3;
  auto refit = Fresh("mf", options);
  TrainBatch(refit.get(), events, fixed, nullptr);
  EXPECT_EQ(Bytes(*model), Bytes(*refit));
}

TEST(BatchTrainerTest, ShufflingIsDeterministicPerSeed) {
  Options options;
  ASSERT_TRUE(options.Set("mf.dim", "8").ok());
  std::vector<Event> events = RandomEvents(1000, 30, 40, 3);
  BatchTrainOptions o;
  o.fixed_epochs = 2;
  auto a = Fresh("mf", options);
  auto b = Fresh("mf", options);
  auto c = Fresh("mf", options);
  TrainBatch(a.get(), events, o, nullptr);
  TrainBatch(b.get(), events, o, nullptr);
  o.seed = 43;
  TrainBatch(c.get(), events, o, nullptr);
  EXPECT_EQ(Bytes(*a), Bytes(*b));
  EXPECT_NE(Bytes(*a), Bytes(*c));
}

}  // namespace
}  // namespace liverec
