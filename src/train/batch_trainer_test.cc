#include "train/batch_trainer.h"

#include <gtest/gtest.h>

#include "common/random.h"
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
