#include "model/seq/seq.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/random.h"
#include "common/serialize.h"
#include "kernels/kernels.h"
#include "liverec/options.h"
#include "model/capabilities.h"
#include "model/model_testing.h"
#include "model/registry.h"

namespace liverec {
namespace {

using OptionMap = std::map<std::string, std::string>;
using testing::SaveBytes;

// Holds the Options a SeqModel's OptionView points to.
class SeqFactory {
 public:
  explicit SeqFactory(const OptionMap& overrides) {
    for (const auto& [field, value] : overrides) {
      const Status status = options_.Set("seq." + field, value);
      EXPECT_TRUE(status.ok()) << status.ToString();
    }
  }
  std::unique_ptr<SeqModel> Make(uint64_t seed = 42) const {
    Context context;
    context.seed = seed;
    return std::make_unique<SeqModel>(OptionView(&options_, "seq", "seq"), context);
  }

 private:
  Options options_;
};

// Small sizes that keep every test fast but exercise two blocks and two heads; an example per
// learned event (stride 1).
OptionMap SmallOptions() {
  return {{"dim", "8"},
          {"max_len", "5"},
          {"blocks", "2"},
          {"heads", "2"},
          {"batch", "3"},
          {"negatives", "4"},
          {"stride", "1"},
          {"loss", "softmax"},
          {"learning_rate", "0.01"},
          {"train_positions", "5"}};
}

Event MakeEvent(UserId user, ItemId item, int64_t time_ms = 0) {
  return testing::MakeEvent(time_ms, user, item);
}

// A stream where user u walks the items u, u+1, ... (mod num_items), users interleaved.
std::vector<Event> WalkStream(uint32_t num_users, uint32_t num_items, uint32_t steps) {
  std::vector<Event> events;
  for (uint32_t s = 0; s < steps; ++s) {
    for (UserId u = 0; u < num_users; ++u) {
      events.push_back(MakeEvent(u, (u + s) % num_items, events.size()));
    }
  }
  return events;
}

std::vector<float> TensorValues(const seq::NetworkParams<float>& net) {
  std::vector<float> values;
  for (std::span<const float> t : net.Tensors()) values.insert(values.end(), t.begin(), t.end());
  return values;
}

std::vector<float> ItemRow(const SeqModel& model, ItemId item) {
  const float* row = model.item_embeddings().row(item);
  return std::vector<float>(row, row + model.item_embeddings().dim());
}

TEST(SeqModelTest, LearnAppendsToTheHistoryAndDropsTheOldestPastMaxLen) {
  auto model = SeqFactory(SmallOptions()).Make();
  for (ItemId i = 0; i < 7; ++i) model->Learn(MakeEvent(0, i));
  const std::vector<ItemId> expected = {2, 3, 4, 5, 6};
  EXPECT_EQ(std::vector<ItemId>(model->history(0).begin(), model->history(0).end()), expected);
  EXPECT_TRUE(model->history(1).empty());
}

TEST(SeqModelTest, FirstEventOfAUserMakesNoExampleAndAFullBatchSteps) {
  auto model = SeqFactory(SmallOptions()).Make();  // batch 3
  model->Learn(MakeEvent(0, 0));
  model->Learn(MakeEvent(1, 1));
  EXPECT_EQ(model->pending_examples(), 0u);
  model->Learn(MakeEvent(0, 1));
  model->Learn(MakeEvent(1, 2));
  EXPECT_EQ(model->pending_examples(), 2u);
  EXPECT_EQ(model->optimizer_steps(), 0u);
  model->Learn(MakeEvent(0, 2));
  EXPECT_EQ(model->pending_examples(), 0u);
  EXPECT_EQ(model->optimizer_steps(), 1u);
}

TEST(SeqModelTest, EveryStrideThLearnedEventOfAUserMakesAnExample) {
  OptionMap options = SmallOptions();
  options["stride"] = "3";
  options["batch"] = "100";
  auto model = SeqFactory(options).Make();
  model->Learn(MakeEvent(0, 0));  // no history: not counted
  model->Learn(MakeEvent(0, 1));
  model->Learn(MakeEvent(1, 1));
  model->Learn(MakeEvent(0, 2));
  EXPECT_EQ(model->untrained_events(0), 2u);
  EXPECT_EQ(model->pending_examples(), 0u);
  model->Learn(MakeEvent(0, 3));
  EXPECT_EQ(model->untrained_events(0), 0u);
  EXPECT_EQ(model->pending_examples(), 1u);
  for (ItemId i = 4; i < 7; ++i) model->Learn(MakeEvent(0, i));
  EXPECT_EQ(model->pending_examples(), 2u);
  EXPECT_EQ(model->untrained_events(1), 0u);
}

TEST(SeqModelTest, ForgetHistoryQueuesExamplesOfTheUntrainedTailsAndKeepsParameters) {
  OptionMap options = SmallOptions();
  options["stride"] = "3";
  options["batch"] = "100";
  auto model = SeqFactory(options).Make();
  for (ItemId i = 0; i < 3; ++i) model->Learn(MakeEvent(0, i));  // 2 untrained
  for (ItemId i = 0; i < 4; ++i) model->Learn(MakeEvent(1, i));  // an example, 0 untrained
  model->Learn(MakeEvent(2, 5));                                 // no history: nothing
  model->Observe(MakeEvent(3, 5));
  ASSERT_EQ(model->pending_examples(), 1u);
  const std::vector<float> network = TensorValues(model->network());
  model->ForgetHistory();
  EXPECT_EQ(model->pending_examples(), 2u);
  EXPECT_EQ(TensorValues(model->network()), network);
  EXPECT_EQ(model->untrained_events(0), 0u);
  EXPECT_TRUE(model->history(0).empty());
  EXPECT_TRUE(model->history(3).empty());
  // The next pass counts afresh.
  model->Learn(MakeEvent(0, 1));
  model->Learn(MakeEvent(0, 2));
  EXPECT_EQ(model->untrained_events(0), 1u);
}

TEST(SeqModelTest, TheNextLearnTrainsTheQueuedTailsAMicroBatchPerStep) {
  OptionMap options = SmallOptions();
  options["stride"] = "3";
  options["batch"] = "1";
  auto model = SeqFactory(options).Make();
  for (UserId u = 0; u < 3; ++u) {
    for (ItemId i = 0; i < 3; ++i) model->Learn(MakeEvent(u, i));  // 2 untrained each
  }
  ASSERT_EQ(model->optimizer_steps(), 0u);
  model->ForgetHistory();
  ASSERT_EQ(model->pending_examples(), 3u);
  model->Learn(MakeEvent(0, 4));
  EXPECT_EQ(model->optimizer_steps(), 3u);
  EXPECT_EQ(model->pending_examples(), 0u);
}

TEST(SeqModelTest, ObserveAppendsToTheHistoryWithoutLearning) {
  auto model = SeqFactory(SmallOptions()).Make();
  for (const Event& e : WalkStream(3, 6, 3)) model->Learn(e);
  const std::vector<float> network = TensorValues(model->network());
  const std::vector<float> row = ItemRow(*model, 2);
  const size_t pending = model->pending_examples();
  model->Observe(MakeEvent(0, 4));
  model->Observe(MakeEvent(0, 5));
  EXPECT_EQ(model->history(0).back(), 5u);
  EXPECT_EQ(model->pending_examples(), pending);
  EXPECT_EQ(TensorValues(model->network()), network);
  EXPECT_EQ(ItemRow(*model, 2), row);
}

TEST(SeqModelTest, NegativeFeedbackIsIgnored) {
  auto model = SeqFactory(SmallOptions()).Make();
  for (const Event& e : WalkStream(3, 6, 3)) model->Learn(e);
  const std::string before = SaveBytes(*model);
  Event skip = MakeEvent(0, 3);
  skip.weight = -1;
  model->Learn(skip);
  model->Observe(skip);
  EXPECT_EQ(SaveBytes(*model), before);
}

TEST(SeqModelTest, ScoreIsTheDotOfTheUserVectorWithLearnedItemRows) {
  auto model = SeqFactory(SmallOptions()).Make();
  for (const Event& e : WalkStream(4, 6, 5)) model->Learn(e);  // items 0..5 learned
  model->Learn(MakeEvent(9, 9));                               // rows 6..8 exist, unlearned
  std::vector<float> h(8);
  ASSERT_TRUE(model->UserVector(2, h.data()));
  const std::vector<ItemId> items = {0, 5, 7, 9, 3, 1000};
  std::vector<float> scores(items.size());
  model->Score(2, items, scores.data());
  for (size_t r : {0, 1, 3, 4}) {
    EXPECT_NEAR(scores[r], ref::Dot(h.data(), model->item_embeddings().row(items[r]), 8), 1e-5)
        << "item " << items[r];
  }
  EXPECT_EQ(scores[2], kUnscored);  // a row, never learned
  EXPECT_EQ(scores[5], kUnscored);  // no row
}

TEST(SeqModelTest, UserWithoutHistoryScoresLearnedItemsByPopularity) {
  auto model = SeqFactory(SmallOptions()).Make();
  model->Learn(MakeEvent(0, 1));
  model->Learn(MakeEvent(1, 1));
  model->Learn(MakeEvent(2, 3));
  std::vector<float> h(8);
  EXPECT_FALSE(model->UserVector(7, h.data()));
  const std::vector<float> scores = testing::ScoreAll(*model, 7, 4);
  EXPECT_EQ(scores, (std::vector<float>{kUnscored, 2.0f, kUnscored, 1.0f}));
}

TEST(SeqModelTest, UserVectorEqualsTheDoublePrecisionNetworkOnTheHistory) {
  auto model = SeqFactory(SmallOptions()).Make();
  for (const Event& e : WalkStream(4, 7, 9)) model->Learn(e);
  // The network and the item rows in double.
  seq::NetworkParams<double> net;
  net.Resize(8, 5, 2);
  std::vector<std::span<double>> to = net.Tensors();
  const std::vector<std::span<const float>> from = model->network().Tensors();
  ASSERT_EQ(to.size(), from.size());
  for (size_t t = 0; t < to.size(); ++t) std::copy(from[t].begin(), from[t].end(), to[t].begin());
  std::vector<std::vector<double>> rows;
  for (ItemId item : model->history(3)) {
    const float* row = model->item_embeddings().row(item);
    rows.emplace_back(row, row + 8);
  }
  std::vector<const double*> pointers;
  for (const auto& row : rows) pointers.push_back(row.data());
  seq::Matrix<double> x, out;
  seq::NetworkCache<double> cache;
  seq::EmbedForward<double>(pointers, net.positions, std::sqrt(8.0), &x);
  seq::NetworkForward(net, x, 0, 2, /*masks=*/nullptr, &out, &cache);
  std::vector<float> h(8);
  ASSERT_TRUE(model->UserVector(3, h.data()));
  for (int c = 0; c < 8; ++c) EXPECT_NEAR(h[c], out(out.rows() - 1, c), 1e-4) << c;
}

TEST(SeqModelTest, HistoryItemsWithoutARowAreLeftOut) {
  auto model = SeqFactory(SmallOptions()).Make();
  for (const Event& e : WalkStream(2, 5, 4)) model->Learn(e);
  model->Observe(MakeEvent(10, 2));
  model->Observe(MakeEvent(10, 3));
  model->Observe(MakeEvent(11, 2));
  model->Observe(MakeEvent(11, 100));  // never learned: no row
  model->Observe(MakeEvent(11, 3));
  std::vector<float> h10(8), h11(8);
  ASSERT_TRUE(model->UserVector(10, h10.data()));
  ASSERT_TRUE(model->UserVector(11, h11.data()));
  EXPECT_EQ(h10, h11);
}

// The first Adam step from zero moments is sign descent: every parameter with a gradient g
// moves by learning_rate * g / (|g| + eps'), i.e. by the learning rate against the sign of g.
// Oracle: the gradient of the batch loss computed in double by seq::ExampleLoss.
void CheckFirstAdamStep(const std::string& loss_name, seq::LossKind loss_kind) {
  OptionMap options = SmallOptions();
  options["loss"] = loss_name;
  options["negatives"] = "0";  // no random negatives: the oracle knows the whole batch
  options["batch"] = "2";
  options["dropout"] = "0";  // the oracle runs without dropout masks
  auto model = SeqFactory(options).Make();
  model->Learn(MakeEvent(0, 1));
  model->Learn(MakeEvent(0, 2));  // example [1] -> 2
  model->Learn(MakeEvent(1, 3));
  ASSERT_EQ(model->pending_examples(), 1u);
  auto before = model->Clone();
  model->Learn(MakeEvent(0, 3));  // example [1, 2] -> 3: the batch is full
  ASSERT_EQ(model->optimizer_steps(), 1u);
  const auto& old_model = static_cast<const SeqModel&>(*before);

  seq::NetworkParams<double> net;
  net.Resize(8, 5, 2);
  std::vector<std::span<double>> net_values = net.Tensors();
  const std::vector<std::span<const float>> old_values = old_model.network().Tensors();
  for (size_t t = 0; t < net_values.size(); ++t) {
    std::copy(old_values[t].begin(), old_values[t].end(), net_values[t].begin());
  }
  // Item rows 0..3; slots are item ids.
  seq::Matrix<double> items(4, 8);
  for (ItemId i = 0; i < 4; ++i) {
    for (int c = 0; c < 8; ++c) items(i, c) = old_model.item_embeddings().row(i)[c];
  }
  seq::NetworkParams<double> grad;
  grad.Resize(8, 5, 2);
  seq::Matrix<double> d_items = seq::Matrix<double>::Zero(4, 8);
  seq::BatchScratch<double> scratch;
  seq::ExampleSpec spec;
  spec.num_heads = 2;
  spec.embed_scale = std::sqrt(8.0);
  spec.loss = loss_kind;
  spec.weight = 1.0 / 3;  // three trained positions in the batch
  const std::vector<uint32_t> inputs1 = {1}, targets1 = {2};
  const std::vector<uint32_t> inputs2 = {1, 2}, targets2 = {2, 3};
  spec.input_slots = inputs1;
  spec.target_slots = targets1;
  seq::ExampleLoss<double>(net, items, spec, &grad, &d_items, &scratch);
  spec.input_slots = inputs2;
  spec.target_slots = targets2;
  seq::ExampleLoss<double>(net, items, spec, &grad, &d_items, &scratch);

  constexpr float kLearningRate = 0.01f;
  // Below this |g| Adam's epsilon and float rounding of the gradient blur the sign.
  constexpr double kClearGradient = 1e-4;
  constexpr double kTolerance = 2e-5;
  size_t moved = 0;
  auto check = [&](float old_value, float new_value, double g, const std::string& what) {
    if (g == 0) {
      EXPECT_EQ(new_value, old_value) << what;
    } else if (std::fabs(g) > kClearGradient) {
      const double expected = old_value - (g > 0 ? kLearningRate : -kLearningRate);
      EXPECT_NEAR(new_value, expected, kTolerance) << what << " g " << g;
      ++moved;
    }
  };
  const std::vector<std::span<const float>> new_values = model->network().Tensors();
  const std::vector<std::span<const double>> grads = std::as_const(grad).Tensors();
  for (size_t t = 0; t < grads.size(); ++t) {
    for (size_t k = 0; k < grads[t].size(); ++k) {
      check(old_values[t][k], new_values[t][k], grads[t][k],
            "tensor " + std::to_string(t) + " entry " + std::to_string(k));
    }
  }
  for (ItemId i = 0; i < 4; ++i) {
    for (int c = 0; c < 8; ++c) {
      check(old_model.item_embeddings().row(i)[c], model->item_embeddings().row(i)[c],
            d_items(i, c), "item " + std::to_string(i));
    }
  }
  EXPECT_GT(moved, 500u);
  if (loss_kind == seq::LossKind::kFull) {
    // Item 0 is in no example but in every softmax: its row has a gradient.
    EXPECT_GT(d_items.row(0).squaredNorm(), 0.0);
  } else {
    // Item 0 was in no example: its row has no gradient and stays.
    EXPECT_EQ(d_items.row(0).squaredNorm(), 0.0);
  }
}

TEST(SeqModelTest, FirstAdamStepMovesEachParameterByTheLearningRateAgainstItsGradient) {
  CheckFirstAdamStep("bce", seq::LossKind::kBce);
}

TEST(SeqModelTest, FirstFullSoftmaxStepMovesEveryItemRowAgainstItsGradient) {
  CheckFirstAdamStep("full", seq::LossKind::kFull);
}

TEST(SeqModelTest, SameEventsInTheSameOrderGiveBitIdenticalState) {
  const SeqFactory factory(SmallOptions());
  auto a = factory.Make();
  auto b = factory.Make();
  for (const Event& e : WalkStream(5, 9, 12)) {
    a->Learn(e);
    b->Learn(e);
  }
  EXPECT_GT(a->optimizer_steps(), 10u);
  EXPECT_EQ(SaveBytes(*a), SaveBytes(*b));
  auto c = factory.Make(/*seed=*/7);
  for (const Event& e : WalkStream(5, 9, 12)) c->Learn(e);
  EXPECT_NE(SaveBytes(*a), SaveBytes(*c));
}

// Learns events[0, 31), observes one event, saves, loads into a model of another seed and
// learns the rest: must end bit-identical to an uninterrupted run.
void ExpectSaveLoadContinueEqualsAnUninterruptedRun(const SeqFactory& factory) {
  const std::vector<Event> events = WalkStream(5, 9, 12);
  constexpr size_t kHalf = 31;
  const Event observed = MakeEvent(20, 4);
  auto uninterrupted = factory.Make();
  for (size_t e = 0; e < events.size(); ++e) {
    if (e == kHalf) uninterrupted->Observe(observed);
    uninterrupted->Learn(events[e]);
  }
  auto first = factory.Make();
  for (size_t e = 0; e < kHalf; ++e) first->Learn(events[e]);
  first->Observe(observed);
  ASSERT_GT(first->pending_examples(), 0u);  // a partial micro-batch crosses the save
  const std::string saved = SaveBytes(*first);
  auto resumed = factory.Make(/*seed=*/99);  // every seeded stream must come from the bytes
  BinaryReader reader(saved);
  ASSERT_TRUE(resumed->Load(&reader).ok());
  EXPECT_EQ(reader.remaining(), 0u);
  EXPECT_EQ(SaveBytes(*resumed), saved);
  for (size_t e = kHalf; e < events.size(); ++e) resumed->Learn(events[e]);
  EXPECT_EQ(SaveBytes(*resumed), SaveBytes(*uninterrupted));
}

TEST(SeqModelTest, SaveLoadContinueEqualsAnUninterruptedRun) {
  for (const char* loss : {"softmax", "full"}) {
    for (const char* stride : {"1", "2"}) {
      SCOPED_TRACE(std::string("loss ") + loss + ", stride " + stride);
      OptionMap options = SmallOptions();
      options["stride"] = stride;
      options["loss"] = loss;
      ExpectSaveLoadContinueEqualsAnUninterruptedRun(SeqFactory(options));
    }
  }
}

TEST(SeqModelTest, CloneContinuesLikeTheOriginal) {
  const SeqFactory factory(SmallOptions());
  const std::vector<Event> events = WalkStream(4, 8, 10);
  auto model = factory.Make();
  for (size_t e = 0; e < 17; ++e) model->Learn(events[e]);
  std::unique_ptr<Model> clone = model->Clone();
  for (size_t e = 17; e < events.size(); ++e) {
    model->Learn(events[e]);
    clone->Learn(events[e]);
  }
  EXPECT_EQ(SaveBytes(*clone), SaveBytes(*model));
}

// The online trainer's background learning is Record on one thread and RunStep on another,
// steps running late: the state once they have run is the state of Learn, bit for bit
// (train/online_trainer_test.cc runs them on the trainer's thread, readers included).
void ExpectRecordingThenRunningTheStepsLateEndsInTheStateOfLearn(const SeqFactory& factory) {
  const std::vector<Event> events = WalkStream(6, 11, 30);
  auto learned = factory.Make();
  for (const Event& e : events) learned->Learn(e);
  auto recorded = factory.Make();
  std::vector<std::unique_ptr<LearnStep>> steps;
  size_t run = 0;
  for (size_t e = 0; e < events.size(); ++e) {
    recorded->Record(events[e], &steps);
    // The steps lag by up to a few, as the engine keeps them.
    for (; run + 2 < steps.size(); ++run) recorded->RunStep(*steps[run]);
  }
  EXPECT_EQ(steps.size(), learned->optimizer_steps());
  EXPECT_GT(steps.size(), 50u);
  for (; run < steps.size(); ++run) recorded->RunStep(*steps[run]);
  EXPECT_EQ(SaveBytes(*recorded), SaveBytes(*learned));
  EXPECT_EQ(testing::ScoreAll(*recorded, 3, 11), testing::ScoreAll(*learned, 3, 11));
  // Learn is Record then the steps, and a clone continues alike.
  const std::unique_ptr<Model> clone = recorded->Clone();
  for (const Event& e : events) {
    clone->Learn(e);
    learned->Learn(e);
  }
  EXPECT_EQ(SaveBytes(*clone), SaveBytes(*learned));
}

TEST(SeqModelTest, RecordingThenRunningTheStepsLateEndsInTheStateOfLearn) {
  for (const char* loss : {"softmax", "full"}) {
    SCOPED_TRACE(std::string("loss ") + loss);
    OptionMap options = SmallOptions();
    options["loss"] = loss;
    ExpectRecordingThenRunningTheStepsLateEndsInTheStateOfLearn(SeqFactory(options));
  }
}

TEST(SeqModelTest, LoadRejectsEveryTruncationAndLeavesTheModelUnchanged) {
  const SeqFactory factory(SmallOptions());
  auto source = factory.Make();
  for (const Event& e : WalkStream(3, 6, 4)) source->Learn(e);
  source->Learn(MakeEvent(0, 5));
  ASSERT_GT(source->pending_examples(), 0u);
  const std::string saved = SaveBytes(*source);
  auto target = factory.Make(5);
  for (const Event& e : WalkStream(2, 4, 3)) target->Learn(e);
  const std::string target_before = SaveBytes(*target);
  for (size_t length = 0; length < saved.size(); ++length) {
    BinaryReader reader(std::string_view(saved).substr(0, length));
    const Status status = target->Load(&reader);
    ASSERT_FALSE(status.ok()) << length;
    ASSERT_EQ(status.code(), StatusCode::kCorruption) << length << ": " << status.ToString();
  }
  EXPECT_EQ(SaveBytes(*target), target_before);
}

TEST(SeqModelTest, LoadRejectsForeignBytes) {
  auto model = SeqFactory(SmallOptions()).Make();
  const std::string before = SaveBytes(*model);
  Options options;
  StatusOr<std::unique_ptr<Model>> mf = CreateModel(OptionView(&options, "mf", "mf"), Context());
  ASSERT_TRUE(mf.ok());
  const std::string mf_bytes = SaveBytes(**mf);
  BinaryReader reader(mf_bytes);
  EXPECT_EQ(model->Load(&reader).code(), StatusCode::kCorruption);
  EXPECT_EQ(SaveBytes(*model), before);
}

TEST(SeqModelTest, LoadRejectsAnotherShape) {
  OptionMap wide = SmallOptions();
  wide["dim"] = "16";
  const std::string saved = SaveBytes(*SeqFactory(wide).Make());
  auto model = SeqFactory(SmallOptions()).Make();
  BinaryReader reader(saved);
  EXPECT_EQ(model->Load(&reader).code(), StatusCode::kInvalidArgument);
}

TEST(SeqModelTest, ForgetHistoryClearsHistoriesAndKeepsParameters) {
  auto model = SeqFactory(SmallOptions()).Make();
  for (const Event& e : WalkStream(3, 6, 4)) model->Learn(e);
  const std::vector<float> network = TensorValues(model->network());
  const size_t pending = model->pending_examples();
  model->ForgetHistory();
  EXPECT_TRUE(model->history(0).empty());
  std::vector<float> h(8);
  EXPECT_FALSE(model->UserVector(0, h.data()));
  EXPECT_EQ(TensorValues(model->network()), network);
  EXPECT_EQ(model->pending_examples(), pending);
  // The next epoch starts each user afresh: their first event makes no example.
  model->Learn(MakeEvent(0, 1));
  EXPECT_EQ(model->pending_examples(), pending);
}

TEST(SeqModelTest, CreateModelRejectsHeadsThatDoNotDivideDim) {
  Options options;
  ASSERT_TRUE(options.Set("seq.dim", "10").ok());
  ASSERT_TRUE(options.Set("seq.heads", "3").ok());
  StatusOr<std::unique_ptr<Model>> model =
      CreateModel(OptionView(&options, "seq", "seq"), Context());
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kInvalidArgument);
  Options good;
  StatusOr<std::unique_ptr<Model>> seq = CreateModel(OptionView(&good, "seq", "seq"), Context());
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ((*seq)->type(), "seq");
  const OrderedEpochs* epochs = DiscoverCapabilities(**seq).epochs;
  ASSERT_NE(epochs, nullptr);
  EXPECT_TRUE(epochs->ordered_epochs());
}

// Each user walks the item cycle 0, 1, ..., n-1, 0, ... from their own offset: the next item
// is a function of the last one, which the model must learn from the stream alone.
TEST(SeqModelTest, LearnsADeterministicSuccessorPatternWithEitherSoftmax) {
  constexpr uint32_t kUsers = 30;
  constexpr uint32_t kItems = 20;
  for (const char* loss : {"softmax", "full"}) {
    auto model = SeqFactory({{"dim", "16"},
                             {"max_len", "5"},
                             {"blocks", "1"},
                             {"heads", "1"},
                             {"batch", "8"},
                             {"stride", "1"},
                             {"loss", loss},
                             {"negatives", "10"},
                             {"learning_rate", "0.01"}})
                     .Make();
    for (const Event& e : WalkStream(kUsers, kItems, 40)) model->Learn(e);
    uint32_t hits = 0;
    for (UserId u = 0; u < kUsers; ++u) {
      const std::vector<float> scores = testing::ScoreAll(*model, u, kItems);
      const auto best = std::max_element(scores.begin(), scores.end()) - scores.begin();
      const ItemId next = (model->history(u).back() + 1) % kItems;
      if (static_cast<ItemId>(best) == next) ++hits;
    }
    EXPECT_GE(hits, kUsers * 9 / 10) << loss;
  }
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// Timing at the default sizes, printed for the record (no assertion on time: machines vary).
TEST(SeqModelTest, ReportsTheCostOfAStepAndOfScoringAtDefaultSizes) {
  using Clock = std::chrono::steady_clock;
  Options options;
  auto model = SeqFactory({}).Make();
  constexpr uint32_t kItems = 1682;
  constexpr uint32_t kUsers = 16;
  const auto max_len = static_cast<uint32_t>(options.GetInt("seq", "seq", "max_len"));
  Random rng(3);
  for (ItemId i = 0; i < kItems; ++i) model->Learn(MakeEvent(1000 + i, i));  // no examples
  for (UserId u = 0; u < kUsers; ++u) {
    for (uint32_t t = 0; t < max_len; ++t) model->Observe(MakeEvent(u, rng.Uniform(kItems)));
  }
  std::vector<double> step_ms;
  while (step_ms.size() < 15) {
    const Event e = MakeEvent(rng.Uniform(kUsers), rng.Uniform(kItems));
    const uint64_t steps = model->optimizer_steps();
    const auto start = Clock::now();
    model->Learn(e);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (model->optimizer_steps() > steps) step_ms.push_back(ms);
  }
  const auto batch = options.GetInt("seq", "seq", "batch");
  std::printf("[ timing ] seq step, batch %lld, full histories: median %.2f ms (%.2f ms/example)\n",
              static_cast<long long>(batch), Median(step_ms), Median(step_ms) / batch);

  auto score_us = [&](const SeqModel& m, uint32_t num_items) {
    const std::vector<ItemId> items = testing::AllItems(num_items);
    std::vector<float> scores(num_items);
    std::vector<double> times;
    for (int q = 0; q < 20; ++q) {
      const auto start = Clock::now();
      m.Score(static_cast<UserId>(q % kUsers), items, scores.data());
      times.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    }
    EXPECT_NE(scores[0], kUnscored);
    return Median(times);
  };
  std::printf("[ timing ] seq Score over %u items: median %.0f us\n", kItems,
              score_us(*model, kItems));
  constexpr uint32_t kManyItems = 100'000;
  for (ItemId i = kItems; i < kManyItems; ++i) model->Learn(MakeEvent(1000 + i, i));
  std::printf("[ timing ] seq Score over %u items: median %.0f us\n", kManyItems,
              score_us(*model, kManyItems));
}

}  // namespace
}  // namespace liverec
