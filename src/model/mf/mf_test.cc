#include "model/mf/mf.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/random.h"
#include "common/serialize.h"
#include "kernels/kernels.h"
#include "liverec/options.h"

namespace liverec {
namespace {

using OptionMap = std::map<std::string, std::string>;

// Holds the Options an MfModel's OptionView points to.
class MfFactory {
 public:
  explicit MfFactory(const OptionMap& overrides) {
    for (const auto& [field, value] : overrides) {
      const Status status = options_.Set("mf." + field, value);
      EXPECT_TRUE(status.ok()) << status.ToString();
    }
  }
  std::unique_ptr<MfModel> Make(uint64_t seed = 42) const {
    Context context;
    context.seed = seed;
    return std::make_unique<MfModel>(OptionView(&options_, "mf", "mf"), context);
  }

 private:
  Options options_;
};

Event MakeEvent(UserId user, ItemId item, float value = 1.0f) {
  Event event;
  event.user = user;
  event.item = item;
  event.value = value;
  return event;
}

std::string Saved(const Model& model) {
  BinaryWriter out;
  model.Save(&out);
  return out.Release();
}

std::vector<float> RandomVector(Random* rng, size_t n, double std) {
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(rng->Normal() * std);
  return v;
}

std::vector<float> Row(const EmbeddingTable& table, size_t i) {
  return std::vector<float>(table.row(i), table.row(i) + table.dim());
}

// Central difference of `loss` in one float parameter, using the perturbation the float can
// actually hold.
double NumericDerivative(float* param, const std::function<double()>& loss) {
  constexpr float kStep = 1e-3f;
  const float original = *param;
  *param = original + kStep;
  const double up_delta = static_cast<double>(*param) - original;
  const double up = loss();
  *param = original - kStep;
  const double down_delta = static_cast<double>(original) - *param;
  const double down = loss();
  *param = original;
  return (up - down) / (up_delta + down_delta);
}

void ExpectNearDerivative(float analytic, double numeric, const std::string& what) {
  EXPECT_NEAR(analytic, numeric, 1e-3 * (1 + std::fabs(numeric))) << what;
}

TEST(MfGradientTest, SquaredGradientMatchesFiniteDifferences) {
  Random rng(1);
  constexpr size_t kDim = 5;
  std::vector<float> p = RandomVector(&rng, kDim, 0.5);
  std::vector<float> q = RandomVector(&rng, kDim, 0.5);
  float b_u = 0.0f;  // implicit mode: no user bias, no offset
  float b_i = 0.3f;
  const float reg = 0.1f;
  for (float target : {0.0f, 1.0f}) {
    auto loss = [&] { return SquaredPairLoss(p, q, b_u, b_i, 0.0f, target, reg); };
    const PairGradient grad = SquaredPairGradient(p, q, b_u, b_i, 0.0f, target, reg);
    for (size_t k = 0; k < kDim; ++k) {
      ExpectNearDerivative(grad.p[k], NumericDerivative(&p[k], loss), "p " + std::to_string(k));
      ExpectNearDerivative(grad.q_i[k], NumericDerivative(&q[k], loss), "q " + std::to_string(k));
    }
    ExpectNearDerivative(grad.b_i, NumericDerivative(&b_i, loss), "b_i");
  }
}

TEST(MfGradientTest, RatingGradientMatchesFiniteDifferences) {
  Random rng(2);
  constexpr size_t kDim = 6;
  std::vector<float> p = RandomVector(&rng, kDim, 0.5);
  std::vector<float> q = RandomVector(&rng, kDim, 0.5);
  float b_u = -0.4f;
  float b_i = 0.7f;
  const float mu = 3.5f;
  const float value = 4.0f;
  const float reg = 0.05f;
  auto loss = [&] { return SquaredPairLoss(p, q, b_u, b_i, mu, value, reg); };
  const PairGradient grad = SquaredPairGradient(p, q, b_u, b_i, mu, value, reg);
  EXPECT_NEAR(grad.slope, mu + b_u + b_i + ref::Dot(p.data(), q.data(), kDim) - value, 1e-5);
  for (size_t k = 0; k < kDim; ++k) {
    ExpectNearDerivative(grad.p[k], NumericDerivative(&p[k], loss), "p " + std::to_string(k));
    ExpectNearDerivative(grad.q_i[k], NumericDerivative(&q[k], loss), "q " + std::to_string(k));
  }
  ExpectNearDerivative(grad.b_u, NumericDerivative(&b_u, loss), "b_u");
  ExpectNearDerivative(grad.b_i, NumericDerivative(&b_i, loss), "b_i");
}

TEST(MfGradientTest, BprGradientMatchesFiniteDifferences) {
  Random rng(3);
  constexpr size_t kDim = 7;
  std::vector<float> p = RandomVector(&rng, kDim, 0.7);
  std::vector<float> q_i = RandomVector(&rng, kDim, 0.7);
  std::vector<float> q_j = RandomVector(&rng, kDim, 0.7);
  float b_i = 0.2f;
  float b_j = -0.5f;
  const float reg = 0.02f;
  auto loss = [&] { return BprPairLoss(p, q_i, q_j, b_i, b_j, reg); };
  const PairGradient grad = BprPairGradient(p, q_i, q_j, b_i, b_j, reg);
  for (size_t k = 0; k < kDim; ++k) {
    ExpectNearDerivative(grad.p[k], NumericDerivative(&p[k], loss), "p " + std::to_string(k));
    ExpectNearDerivative(grad.q_i[k], NumericDerivative(&q_i[k], loss), "q_i " + std::to_string(k));
    ExpectNearDerivative(grad.q_j[k], NumericDerivative(&q_j[k], loss), "q_j " + std::to_string(k));
  }
  ExpectNearDerivative(grad.b_i, NumericDerivative(&b_i, loss), "b_i");
  ExpectNearDerivative(grad.b_j, NumericDerivative(&b_j, loss), "b_j");
}

TEST(MfGradientTest, BprLossAndSlopeStayFiniteForExtremeMargins) {
  EXPECT_FLOAT_EQ(BprSlope(0.0f), -0.5f);
  EXPECT_EQ(BprSlope(1e4f), 0.0f);
  EXPECT_FLOAT_EQ(BprSlope(-1e4f), -1.0f);
  const std::vector<float> p = {100.0f};
  const std::vector<float> q_i = {100.0f};
  const std::vector<float> q_j = {-100.0f};
  EXPECT_NEAR(BprPairLoss(p, q_i, q_j, 0, 0, 0), 0.0, 1e-12);
  EXPECT_NEAR(BprPairLoss(p, q_j, q_i, 0, 0, 0), 2e4, 1e-6);
}

// The parameters a step on (user, items) touches, copied out of a model.
struct Snapshot {
  std::vector<float> p;
  std::vector<std::vector<float>> q;
  std::vector<float> b_i;
  float b_u = 0;
};

Snapshot Take(const MfModel& model, UserId user, const std::vector<ItemId>& items) {
  Snapshot s;
  s.p = Row(model.user_factors(), user);
  for (ItemId i : items) {
    s.q.push_back(Row(model.item_factors(), i));
    s.b_i.push_back(model.item_bias(i));
  }
  s.b_u = model.user_bias(user);
  return s;
}

void ExpectStep(const std::vector<float>& after, const std::vector<float>& before,
                const std::vector<float>& grad, float lr, const std::string& what) {
  ASSERT_EQ(after.size(), before.size());
  for (size_t k = 0; k < after.size(); ++k) {
    EXPECT_NEAR(after[k], before[k] - lr * grad[k], 1e-6) << what << " " << k;
  }
}

constexpr float kLearningRate = 0.05f;
constexpr float kRegularization = 0.01f;

// The step tests watch the item biases move, so they learn them in implicit mode too.
OptionMap StepOptions(const std::string& mode, const std::string& loss, int negatives) {
  return {{"dim", "8"},
          {"item_bias", "true"},
          {"mode", mode},
          {"loss", loss},
          {"negatives", std::to_string(negatives)},
          {"learning_rate", "0.05"},
          {"regularization", "0.01"},
          {"init_std", "0.3"}};
}

TEST(MfLearnTest, ImplicitSquaredLearnTakesTheGradientStepAndLowersThePairLoss) {
  MfFactory factory(StepOptions("implicit", "squared", 0));
  auto model = factory.Make();
  model->Learn(MakeEvent(0, 0));  // creates the rows
  const Snapshot before = Take(*model, 0, {0});
  const PairGradient grad =
      SquaredPairGradient(before.p, before.q[0], 0, before.b_i[0], 0, 1.0f, kRegularization);
  model->Learn(MakeEvent(0, 0));
  const Snapshot after = Take(*model, 0, {0});
  ExpectStep(after.p, before.p, grad.p, kLearningRate, "p");
  ExpectStep(after.q[0], before.q[0], grad.q_i, kLearningRate, "q");
  EXPECT_NEAR(after.b_i[0], before.b_i[0] - kLearningRate * grad.b_i, 1e-6);
  EXPECT_EQ(after.b_u, 0.0f);
  EXPECT_LT(SquaredPairLoss(after.p, after.q[0], 0, after.b_i[0], 0, 1, kRegularization),
            SquaredPairLoss(before.p, before.q[0], 0, before.b_i[0], 0, 1, kRegularization));
}

TEST(MfLearnTest, RatingLearnUpdatesTheMeanFirstThenTakesTheGradientStep) {
  MfFactory factory(StepOptions("rating", "squared", 4));
  auto model = factory.Make();
  model->Learn(MakeEvent(1, 2, 3.0f));
  EXPECT_DOUBLE_EQ(model->global_mean(), 3.0);
  const Snapshot before = Take(*model, 1, {2});
  const float mu = 4.0f;  // the mean of 3 and 5
  const PairGradient grad = SquaredPairGradient(before.p, before.q[0], before.b_u, before.b_i[0],
                                                mu, 5.0f, kRegularization);
  model->Learn(MakeEvent(1, 2, 5.0f));
  EXPECT_DOUBLE_EQ(model->global_mean(), mu);
  const Snapshot after = Take(*model, 1, {2});
  ExpectStep(after.p, before.p, grad.p, kLearningRate, "p");
  ExpectStep(after.q[0], before.q[0], grad.q_i, kLearningRate, "q");
  EXPECT_NEAR(after.b_u, before.b_u - kLearningRate * grad.b_u, 1e-6);
  EXPECT_NEAR(after.b_i[0], before.b_i[0] - kLearningRate * grad.b_i, 1e-6);
  EXPECT_LT(
      SquaredPairLoss(after.p, after.q[0], after.b_u, after.b_i[0], mu, 5, kRegularization),
      SquaredPairLoss(before.p, before.q[0], before.b_u, before.b_i[0], mu, 5, kRegularization));
  // Rating mode draws no negatives: items 0 and 1 were never touched.
  EXPECT_EQ(model->item_bias(0), 0.0f);
  EXPECT_EQ(model->item_bias(1), 0.0f);
}

TEST(MfLearnTest, BprLearnTakesTheGradientStepAndLowersThePairLoss) {
  MfFactory factory(StepOptions("implicit", "bpr", 1));
  auto model = factory.Make();
  model->Learn(MakeEvent(0, 1));  // rows for items 0 and 1; the only negative of 1 is 0
  const Snapshot before = Take(*model, 0, {1, 0});
  const PairGradient grad = BprPairGradient(before.p, before.q[0], before.q[1], before.b_i[0],
                                            before.b_i[1], kRegularization);
  model->Learn(MakeEvent(0, 1));
  const Snapshot after = Take(*model, 0, {1, 0});
  ExpectStep(after.p, before.p, grad.p, kLearningRate, "p");
  ExpectStep(after.q[0], before.q[0], grad.q_i, kLearningRate, "q_i");
  ExpectStep(after.q[1], before.q[1], grad.q_j, kLearningRate, "q_j");
  EXPECT_NEAR(after.b_i[0], before.b_i[0] - kLearningRate * grad.b_i, 1e-6);
  EXPECT_NEAR(after.b_i[1], before.b_i[1] - kLearningRate * grad.b_j, 1e-6);
  EXPECT_LT(
      BprPairLoss(after.p, after.q[0], after.q[1], after.b_i[0], after.b_i[1], kRegularization),
      BprPairLoss(before.p, before.q[0], before.q[1], before.b_i[0], before.b_i[1],
                  kRegularization));
}

TEST(MfLearnTest, NegativesAreUniformOverTheOtherKnownItems) {
  constexpr ItemId kNumItems = 4;
  constexpr ItemId kPositive = 2;
  MfFactory factory(StepOptions("implicit", "squared", 1));
  auto model = factory.Make();
  // Another user's event makes every item known without making it one that user 0 consumed
  // (mf.exclude_consumed, on by default, would draw such an item again).
  model->Learn(MakeEvent(1, kNumItems - 1));
  std::map<ItemId, int> picks;
  constexpr int kEvents = 3000;
  for (int e = 0; e < kEvents; ++e) {
    std::vector<float> biases_before;
    for (ItemId i = 0; i < kNumItems; ++i) biases_before.push_back(model->item_bias(i));
    model->Learn(MakeEvent(0, kPositive));
    for (ItemId i = 0; i < kNumItems; ++i) {
      if (i != kPositive && model->item_bias(i) != biases_before[i]) ++picks[i];
    }
  }
  EXPECT_EQ(picks.count(kPositive), 0u);
  int total = 0;
  for (const auto& [item, count] : picks) {
    total += count;
    // Each of the three others: 1000 expected, a binomial std of about 26.
    EXPECT_NEAR(count, kEvents / 3, 150) << "item " << item;
  }
  EXPECT_EQ(total, kEvents);
}

std::vector<Event> MixedEvents(size_t n, uint64_t seed);

// Implicit squared with mf.exclude_consumed, small enough for many users per item.
OptionMap SmallOptionsForConsumed() {
  return {{"dim", "16"}, {"negatives", "6"}, {"exclude_consumed", "true"}};
}

// Counts, per item, the events of `user` on `positive` whose negatives moved the item's bias.
std::map<ItemId, int> NegativePicks(MfModel* model, UserId user, ItemId positive, ItemId num_items,
                                    int events) {
  std::map<ItemId, int> picks;
  for (int e = 0; e < events; ++e) {
    std::vector<float> biases_before;
    for (ItemId i = 0; i < num_items; ++i) biases_before.push_back(model->item_bias(i));
    model->Learn(MakeEvent(user, positive));
    for (ItemId i = 0; i < num_items; ++i) {
      if (i != positive && model->item_bias(i) != biases_before[i]) ++picks[i];
    }
  }
  return picks;
}

TEST(MfLearnTest, SampledNegativesNeverIncludeTheUsersConsumedItems) {
  constexpr ItemId kNumItems = 40;
  constexpr ItemId kPositive = 0;
  const std::vector<ItemId> consumed = {3, 17, 28};
  for (const bool exclude : {true, false}) {
    OptionMap options = StepOptions("implicit", "squared", 4);
    options["exclude_consumed"] = exclude ? "true" : "false";
    MfFactory factory(options);
    auto model = factory.Make();
    for (ItemId i = 0; i < kNumItems; ++i) model->Learn(MakeEvent(1, i));  // every item known
    for (const ItemId item : consumed) model->Learn(MakeEvent(0, item));
    const std::map<ItemId, int> picks = NegativePicks(model.get(), 0, kPositive, kNumItems, 500);
    int consumed_picks = 0;
    for (const ItemId item : consumed) consumed_picks += picks.count(item) ? picks.at(item) : 0;
    if (exclude) {
      EXPECT_EQ(consumed_picks, 0);
      // Items only other users consumed stay negatives for user 0.
      EXPECT_EQ(picks.size(), kNumItems - 1 - consumed.size());
    } else {
      // 2,000 negatives over 39 items: about 154 land on the three consumed items.
      EXPECT_GT(consumed_picks, 80);
    }
  }
}

TEST(MfLearnTest, ConsumedListsStartOverWithTheUserAndLoseForgottenItems) {
  constexpr ItemId kNumItems = 20;
  OptionMap options = StepOptions("implicit", "squared", 4);
  options["exclude_consumed"] = "true";
  MfFactory factory(options);
  auto model = factory.Make();
  for (ItemId i = 0; i < kNumItems; ++i) model->Learn(MakeEvent(1, i));
  model->Learn(MakeEvent(0, 5));
  model->Learn(MakeEvent(0, 6));
  EXPECT_EQ(NegativePicks(model.get(), 0, 0, kNumItems, 200).count(5), 0u);
  // A forgotten item is no longer the user's: it may be a negative again (its row, reset, is
  // learned as a new item's).
  const ItemId forgotten = 5;
  model->ForgetItems(std::span<const ItemId>(&forgotten, 1));
  EXPECT_GT(NegativePicks(model.get(), 0, 0, kNumItems, 200).count(5), 0u);
  EXPECT_EQ(NegativePicks(model.get(), 0, 0, kNumItems, 200).count(6), 0u);
  // A forgotten user starts with an empty list.
  model->ForgetUser(0);
  EXPECT_GT(NegativePicks(model.get(), 0, 0, kNumItems, 200).count(6), 0u);
}

// The consumed lists round-trip through Save, Load and Clone in MfStateTest (the option is on
// by default); here, that they change what is learned.
TEST(MfLearnTest, ExcludingConsumedItemsChangesWhatIsLearned) {
  OptionMap options = SmallOptionsForConsumed();
  const std::vector<Event> events = MixedEvents(600, 21);
  auto with = MfFactory(options).Make();
  for (const Event& e : events) with->Learn(e);
  options["exclude_consumed"] = "false";
  auto without = MfFactory(options).Make();
  for (const Event& e : events) without->Learn(e);
  EXPECT_NE(Saved(*with), Saved(*without));
}

TEST(MfLearnTest, ASingleKnownItemGetsNoNegatives) {
  MfFactory factory(StepOptions("implicit", "squared", 4));
  auto model = factory.Make();
  model->Learn(MakeEvent(0, 0));
  model->Learn(MakeEvent(0, 0));
  EXPECT_EQ(model->item_factors().num_rows(), 1u);
  EXPECT_GT(model->item_bias(0), 0.0f);  // only pulled toward 1
}

TEST(MfLearnTest, ImplicitModeWithoutItemBiasScoresThePlainDotProduct) {
  OptionMap options = StepOptions("implicit", "squared", 2);
  options["item_bias"] = "false";
  MfFactory factory(options);
  auto model = factory.Make();
  for (ItemId i = 0; i < 4; ++i) model->Learn(MakeEvent(0, i));
  std::vector<ItemId> items = {0, 1, 2, 3};
  std::vector<float> scores(items.size());
  model->Score(0, items, scores.data());
  for (ItemId i = 0; i < 4; ++i) {
    EXPECT_EQ(model->item_bias(i), 0.0f);
    const float* p = model->user_factors().row(0);
    const float* q = model->item_factors().row(i);
    double dot = 0;
    for (size_t k = 0; k < 8; ++k) dot += static_cast<double>(p[k]) * q[k];
    EXPECT_NEAR(scores[i], dot, 1e-5);
  }
}

// Users [0, 25) click items [0, 50); users [25, 50) click items [50, 100).
std::vector<Event> ClusteredClicks(int epochs, uint64_t seed) {
  constexpr UserId kUsers = 50;
  constexpr ItemId kItemsPerCluster = 50;
  constexpr int kClicksPerUserAndEpoch = 20;
  Random rng(seed);
  std::vector<Event> events;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    for (int c = 0; c < kClicksPerUserAndEpoch; ++c) {
      for (UserId u = 0; u < kUsers; ++u) {
        const ItemId cluster = u < kUsers / 2 ? 0 : 1;
        events.push_back(MakeEvent(u, cluster * kItemsPerCluster + rng.Uniform(kItemsPerCluster)));
      }
    }
  }
  return events;
}

void ExpectOwnClusterOutscoresTheOther(const MfModel& model) {
  std::vector<ItemId> items(100);
  for (ItemId i = 0; i < items.size(); ++i) items[i] = i;
  std::vector<float> scores(items.size());
  for (UserId u = 0; u < 50; ++u) {
    model.Score(u, items, scores.data());
    double first = 0;
    double second = 0;
    for (ItemId i = 0; i < 50; ++i) first += scores[i];
    for (ItemId i = 50; i < 100; ++i) second += scores[i];
    const double own = u < 25 ? first : second;
    const double other = u < 25 ? second : first;
    EXPECT_GT(own / 50, other / 50 + 0.1) << "user " << u;
  }
}

TEST(MfLearnTest, SquaredLossLearnsPlantedClusters) {
  MfFactory factory(OptionMap{{"dim", "8"}, {"negatives", "4"}});
  auto model = factory.Make();
  for (const Event& e : ClusteredClicks(10, 5)) model->Learn(e);
  ExpectOwnClusterOutscoresTheOther(*model);
}

TEST(MfLearnTest, BprLossLearnsPlantedClusters) {
  MfFactory factory(OptionMap{{"dim", "8"}, {"negatives", "4"}, {"loss", "bpr"}});
  auto model = factory.Make();
  for (const Event& e : ClusteredClicks(10, 6)) model->Learn(e);
  ExpectOwnClusterOutscoresTheOther(*model);
}

TEST(MfLearnTest, RatingModeLearnsTheMeanAndTheBiases) {
  // r(u, i) = 3 + user_offset[u] + item_offset[i]: an additive data set biases explain.
  const float user_offset[] = {-1.0f, 0.0f, 0.5f, 1.0f};
  const float item_offset[] = {-0.5f, 0.0f, 0.25f, 0.75f};
  MfFactory factory(OptionMap{{"mode", "rating"},
                              {"dim", "2"},
                              {"init_std", "0.01"},
                              {"regularization", "0.001"},
                              {"learning_rate", "0.05"}});
  auto model = factory.Make();
  double sum = 0;
  int count = 0;
  for (int epoch = 0; epoch < 300; ++epoch) {
    for (UserId u = 0; u < 4; ++u) {
      for (ItemId i = 0; i < 4; ++i) {
        const float r = 3.0f + user_offset[u] + item_offset[i];
        model->Learn(MakeEvent(u, i, r));
        sum += r;
        ++count;
      }
    }
  }
  EXPECT_NEAR(model->global_mean(), sum / count, 1e-9);
  for (UserId u = 0; u + 1 < 4; ++u) EXPECT_LT(model->user_bias(u), model->user_bias(u + 1));
  for (ItemId i = 0; i + 1 < 4; ++i) EXPECT_LT(model->item_bias(i), model->item_bias(i + 1));
  const std::vector<ItemId> items = {0, 1, 2, 3};
  float scores[4];
  for (UserId u = 0; u < 4; ++u) {
    model->Score(u, items, scores);
    for (ItemId i = 0; i < 4; ++i) {
      EXPECT_NEAR(scores[i], 3.0f + user_offset[u] + item_offset[i], 0.05)
          << "user " << u << ", item " << i;
    }
  }
}

TEST(MfScoreTest, KnownUserScoresBiasPlusDot) {
  MfFactory factory(OptionMap{{"dim", "19"}});
  auto model = factory.Make();
  for (const Event& e : ClusteredClicks(1, 7)) model->Learn(e);
  const std::vector<ItemId> items = {3, 99, 0, 50, 3};
  std::vector<float> scores(items.size());
  model->Score(7, items, scores.data());
  const float* p = model->user_factors().row(7);
  for (size_t r = 0; r < items.size(); ++r) {
    const float* q = model->item_factors().row(items[r]);
    EXPECT_NEAR(scores[r], model->item_bias(items[r]) + ref::Dot(p, q, 19), 1e-5);
    // A batch scores each item exactly as a batch of one does.
    float alone = 0;
    model->Score(7, std::span<const ItemId>(&items[r], 1), &alone);
    EXPECT_EQ(scores[r], alone);
  }
}

TEST(MfScoreTest, UnknownItemsScoreUnscoredAndLeaveTheOthersAlone) {
  MfFactory factory(OptionMap{{"dim", "8"}});
  auto model = factory.Make();
  model->Learn(MakeEvent(0, 0));
  model->Learn(MakeEvent(0, 2));
  const std::vector<ItemId> items = {3, 0, 1000, 2, kInvalidId, 1};
  std::vector<float> scores(items.size());
  model->Score(0, items, scores.data());
  EXPECT_EQ(scores[0], kUnscored);
  EXPECT_EQ(scores[2], kUnscored);
  EXPECT_EQ(scores[4], kUnscored);
  for (size_t r : {1, 3, 5}) {
    EXPECT_GT(scores[r], kUnscored);
    float alone = 0;
    model->Score(0, std::span<const ItemId>(&items[r], 1), &alone);
    EXPECT_EQ(scores[r], alone);
  }
}

TEST(MfScoreTest, UnknownUsersScoreTheItemBias) {
  MfFactory factory(OptionMap{{"dim", "8"}});
  auto model = factory.Make();
  model->Learn(MakeEvent(3, 0));  // users 0-2 get rows but are never learned from
  model->Learn(MakeEvent(3, 1));
  ASSERT_EQ(model->user_factors().num_rows(), 4u);
  EXPECT_TRUE(model->knows_user(3));
  const std::vector<ItemId> items = {0, 1, 2};
  for (UserId unknown : {UserId{1}, UserId{4}, UserId{1000}, kInvalidId}) {
    EXPECT_FALSE(model->knows_user(unknown));
    float scores[3];
    model->Score(unknown, items, scores);
    EXPECT_EQ(scores[0], model->item_bias(0)) << "user " << unknown;
    EXPECT_EQ(scores[1], model->item_bias(1)) << "user " << unknown;
    EXPECT_EQ(scores[2], kUnscored);
  }
}

TEST(MfScoreTest, UnknownUsersScoreMeanPlusItemBiasInRatingMode) {
  MfFactory factory(OptionMap{{"dim", "8"}, {"mode", "rating"}});
  auto model = factory.Make();
  model->Learn(MakeEvent(0, 0, 4.0f));
  model->Learn(MakeEvent(0, 1, 2.0f));
  float score = 0;
  const ItemId item = 1;
  model->Score(5, std::span<const ItemId>(&item, 1), &score);
  EXPECT_FLOAT_EQ(score, 3.0f + model->item_bias(1));
}

OptionMap SmallOptions(const std::string& mode, const std::string& loss) {
  return {{"dim", "16"}, {"mode", mode}, {"loss", loss}, {"negatives", "3"}};
}

std::vector<Event> MixedEvents(size_t n, uint64_t seed) {
  Random rng(seed);
  std::vector<Event> events;
  for (size_t e = 0; e < n; ++e) {
    events.push_back(MakeEvent(rng.Uniform(30), rng.Uniform(60), 1.0f + rng.Uniform(5)));
  }
  return events;
}

class MfStateTest : public testing::TestWithParam<std::pair<std::string, std::string>> {
 protected:
  MfFactory factory_{SmallOptions(GetParam().first, GetParam().second)};
};

TEST_P(MfStateTest, SameEventsGiveIdenticalBytes) {
  const std::vector<Event> events = MixedEvents(500, 11);
  auto a = factory_.Make();
  auto b = factory_.Make();
  for (const Event& e : events) a->Learn(e);
  for (const Event& e : events) b->Learn(e);
  EXPECT_EQ(Saved(*a), Saved(*b));
  auto other_seed = factory_.Make(/*seed=*/43);
  for (const Event& e : events) other_seed->Learn(e);
  EXPECT_NE(Saved(*a), Saved(*other_seed));
}

TEST_P(MfStateTest, SaveLoadThenContinueEqualsAnUninterruptedRun) {
  const std::vector<Event> events = MixedEvents(600, 12);
  const size_t cut = 250;
  auto uninterrupted = factory_.Make();
  for (const Event& e : events) uninterrupted->Learn(e);

  auto first = factory_.Make();
  for (size_t e = 0; e < cut; ++e) first->Learn(events[e]);
  const std::string bytes = Saved(*first);
  // Loaded into a model that has learned other things already: Load replaces everything.
  auto resumed = factory_.Make();
  for (const Event& e : MixedEvents(40, 99)) resumed->Learn(e);
  BinaryReader in(bytes);
  ASSERT_TRUE(resumed->Load(&in).ok());
  EXPECT_EQ(in.remaining(), 0u);
  EXPECT_EQ(Saved(*resumed), bytes);
  for (size_t e = cut; e < events.size(); ++e) resumed->Learn(events[e]);
  EXPECT_EQ(Saved(*resumed), Saved(*uninterrupted));
}

TEST_P(MfStateTest, CloneIsADeepCopy) {
  auto model = factory_.Make();
  for (const Event& e : MixedEvents(200, 13)) model->Learn(e);
  const std::string before = Saved(*model);
  std::unique_ptr<Model> clone = model->Clone();
  EXPECT_EQ(Saved(*clone), before);
  for (const Event& e : MixedEvents(50, 14)) clone->Learn(e);
  EXPECT_EQ(Saved(*model), before);
  EXPECT_NE(Saved(*clone), before);
}

TEST_P(MfStateTest, EveryTruncationIsCorruptionAndLeavesTheModelUnchanged) {
  auto model = factory_.Make();
  for (const Event& e : MixedEvents(30, 15)) model->Learn(e);
  const std::string bytes = Saved(*model);
  auto target = factory_.Make();
  for (const Event& e : MixedEvents(20, 16)) target->Learn(e);
  const std::string target_bytes = Saved(*target);
  for (size_t len = 0; len < bytes.size(); len += 7) {
    BinaryReader in(std::string_view(bytes).substr(0, len));
    EXPECT_EQ(target->Load(&in).code(), StatusCode::kCorruption) << "length " << len;
  }
  EXPECT_EQ(Saved(*target), target_bytes);
}

INSTANTIATE_TEST_SUITE_P(
    Variants, MfStateTest,
    testing::Values(std::pair<std::string, std::string>{"implicit", "squared"},
                    std::pair<std::string, std::string>{"implicit", "bpr"},
                    std::pair<std::string, std::string>{"rating", "squared"}),
    [](const testing::TestParamInfo<std::pair<std::string, std::string>>& param_info) {
      return param_info.param.first + "_" + param_info.param.second;
    });

TEST(MfLoadTest, OtherDimOrModeIsInvalidArgument) {
  MfFactory factory(OptionMap{{"dim", "8"}});
  auto model = factory.Make();
  model->Learn(MakeEvent(0, 1));
  const std::string bytes = Saved(*model);
  for (const OptionMap& other :
       {OptionMap{{"dim", "9"}}, OptionMap{{"dim", "8"}, {"mode", "rating"}}}) {
    MfFactory other_factory(other);
    auto target = other_factory.Make();
    BinaryReader in(bytes);
    EXPECT_EQ(target->Load(&in).code(), StatusCode::kInvalidArgument);
  }
}

TEST(MfLoadTest, ForeignBytesAreCorruption) {
  MfFactory factory(OptionMap{});
  auto model = factory.Make();
  BinaryWriter out;
  out.Put<uint32_t>(12345);
  out.Put<uint32_t>(1);
  BinaryReader in(out.data());
  EXPECT_EQ(model->Load(&in).code(), StatusCode::kCorruption);
}

TEST(MfLoadTest, ReadsFormatVersionOneAsARowPerId) {
  // Version 1 has no consumed lists: the model it is compared with keeps none either.
  MfFactory factory(OptionMap{{"dim", "8"}, {"exclude_consumed", "false"}});
  auto model = factory.Make();
  for (const Event& e : MixedEvents(50, 17)) model->Learn(e);
  const std::string bytes = Saved(*model);
  // Version 1 is version 3 without the trailing consumed lists (a u64 length and a u32 count
  // per user row, then a u64 length and no ids: mf.exclude_consumed is off) and the two dense
  // row admissions before them (tag, version, mode, clock, rows, evictions), and with another
  // version number.
  constexpr size_t kDenseAdmissionBytes = 4 + 4 + 1 + 8 + 8 + 8;
  const size_t consumed_bytes = 8 + 4 * model->user_factors().num_rows() + 8;
  std::string version_one =
      bytes.substr(0, bytes.size() - 2 * kDenseAdmissionBytes - consumed_bytes);
  const uint32_t one = 1;
  version_one.replace(sizeof(uint32_t), sizeof(one), reinterpret_cast<const char*>(&one),
                      sizeof(one));
  auto loaded = factory.Make();
  BinaryReader in(version_one);
  ASSERT_TRUE(loaded->Load(&in).ok());
  EXPECT_EQ(Saved(*loaded), bytes);  // the events were at time 0, as Load sets the clocks

  MfFactory admitting(OptionMap{{"dim", "8"}, {"exclude_consumed", "false"}, {"min_count", "2"}});
  auto target = admitting.Make();
  BinaryReader again(version_one);
  EXPECT_EQ(target->Load(&again).code(), StatusCode::kInvalidArgument);
}

// Admission (mf.min_count, mf.idle_ttl): rows for the ids active now, not for every id ever.

constexpr int64_t kMinuteMs = 60'000;

Event TimedEvent(int64_t time_ms, UserId user, ItemId item, float value = 1.0f) {
  Event event = MakeEvent(user, item, value);
  event.time_ms = time_ms;
  return event;
}

OptionMap WithAdmission(const std::string& min_count, const std::string& idle_ttl,
                        OptionMap options = {{"dim", "8"}, {"negatives", "3"}}) {
  options["min_count"] = min_count;
  options["idle_ttl"] = idle_ttl;
  return options;
}

std::vector<ItemId> IdsBelow(ItemId n) {
  std::vector<ItemId> ids(n);
  for (ItemId i = 0; i < n; ++i) ids[i] = i;
  return ids;
}

std::vector<float> ScoresOf(const Model& model, UserId user, const std::vector<ItemId>& items) {
  std::vector<float> scores(items.size());
  model.Score(user, items, scores.data());
  return scores;
}

TEST(MfAdmissionTest, DefaultsGiveEveryIdItsOwnRow) {
  MfFactory factory(OptionMap{{"dim", "8"}});
  auto model = factory.Make();
  EXPECT_TRUE(model->user_rows().dense());
  EXPECT_TRUE(model->item_rows().dense());
  model->Learn(TimedEvent(0, 3, 5));
  EXPECT_EQ(model->user_factors().num_rows(), 4u);
  EXPECT_EQ(model->item_factors().num_rows(), 6u);
  EXPECT_EQ(model->user_row(2), 2u);
  EXPECT_EQ(model->item_row(5), 5u);
  model->Learn(TimedEvent(365 * 24 * 60 * kMinuteMs, 0, 0));  // a year later: nothing evicted
  EXPECT_EQ(model->item_row(5), 5u);
}

TEST(MfAdmissionTest, IdsBelowMinCountScoreAsUnknownAndLearnNothing) {
  MfFactory factory(WithAdmission("2", "0"));
  auto model = factory.Make();
  model->Learn(TimedEvent(0, 0, 0));
  EXPECT_EQ(model->user_row(0), RowAdmission::kNoRow);
  EXPECT_EQ(model->item_row(0), RowAdmission::kNoRow);
  EXPECT_EQ(model->user_factors().num_rows(), 0u);
  EXPECT_EQ(ScoresOf(*model, 0, {0})[0], kUnscored);

  model->Learn(TimedEvent(1, 1, 0));  // item 0's second event: a row; user 1 has none
  ASSERT_NE(model->item_row(0), RowAdmission::kNoRow);
  EXPECT_EQ(model->user_row(1), RowAdmission::kNoRow);
  const std::vector<float> fresh_q = Row(model->item_factors(), model->item_row(0));
  model->Learn(TimedEvent(2, 2, 0));  // user 2's first event: counted, nothing learned
  EXPECT_EQ(Row(model->item_factors(), model->item_row(0)), fresh_q);
  EXPECT_FALSE(model->knows_user(2));
  EXPECT_EQ(ScoresOf(*model, 2, {0})[0], 0.0f);  // an unknown user's score: b_i = 0

  model->Learn(TimedEvent(3, 0, 0));  // user 0's second event: both have rows, a step
  EXPECT_TRUE(model->knows_user(0));
  EXPECT_NE(Row(model->item_factors(), model->item_row(0)), fresh_q);
  EXPECT_GT(ScoresOf(*model, 0, {0})[0], kUnscored);
}

TEST(MfAdmissionTest, AReusedRowStartsAsTheNewIdsOwnRow) {
  const OptionMap options = WithAdmission("1", "1m");
  MfFactory factory(options);
  auto model = factory.Make();
  for (int e = 0; e < 30; ++e) model->Learn(TimedEvent(e * 1000, e % 4, e % 7));
  const size_t user_rows = model->user_factors().num_rows();
  const size_t item_rows = model->item_factors().num_rows();
  // Ten minutes later every earlier row is idle: the new ids take freed rows.
  const int64_t later = 10 * kMinuteMs;
  model->Learn(TimedEvent(later, 7, 9));
  EXPECT_EQ(model->user_factors().num_rows(), user_rows);
  EXPECT_EQ(model->item_factors().num_rows(), item_rows);
  EXPECT_EQ(model->user_rows().num_live(), 1u);
  EXPECT_EQ(model->item_rows().num_live(), 1u);
  for (UserId u = 0; u < 4; ++u) EXPECT_FALSE(model->knows_user(u));
  // A model that never saw the earlier ids learns the same from the same event.
  auto fresh = factory.Make();
  fresh->Learn(TimedEvent(later, 7, 9));
  EXPECT_EQ(Row(model->user_factors(), model->user_row(7)),
            Row(fresh->user_factors(), fresh->user_row(7)));
  EXPECT_EQ(Row(model->item_factors(), model->item_row(9)),
            Row(fresh->item_factors(), fresh->item_row(9)));
  EXPECT_EQ(model->item_bias(9), fresh->item_bias(9));
  const std::vector<ItemId> items = {9, 0, 6};
  EXPECT_EQ(ScoresOf(*model, 7, items), ScoresOf(*fresh, 7, items));
  EXPECT_EQ(ScoresOf(*model, 7, items)[1], kUnscored);  // item 0 was evicted
}

TEST(MfAdmissionTest, MemoryStaysBoundedOnEndlessNewIds) {
  MfFactory factory(WithAdmission("1", "1s"));
  auto model = factory.Make();
  constexpr uint32_t kEvents = 20000;
  size_t peak_bytes = 0;
  for (uint32_t e = 0; e < kEvents; ++e) {
    model->Learn(TimedEvent(int64_t{e} * 10, e, e % 5 == 0 ? e % 3 : kEvents + e));
    peak_bytes = std::max(peak_bytes, model->MemoryBytes());
  }
  // About 100 events fall within a second: rows for ~100 users and ~100 items, not 20,000.
  EXPECT_LE(model->user_factors().num_rows(), 128u);
  EXPECT_LE(model->item_factors().num_rows(), 128u);
  EXPECT_LE(peak_bytes, 256u << 10);
  EXPECT_GT(model->user_rows().num_evicted(), kEvents - 128);
}

// Ids renumbered in order of first appearance, as the engine's id maps and datasets assign
// them, with one event a second.
std::vector<Event> InOrderOfFirstAppearance(const std::vector<Event>& events) {
  std::map<UserId, UserId> users;
  std::map<ItemId, ItemId> items;
  std::vector<Event> renumbered;
  for (size_t e = 0; e < events.size(); ++e) {
    Event event = events[e];
    event.user = users.try_emplace(event.user, static_cast<UserId>(users.size())).first->second;
    event.item = items.try_emplace(event.item, static_cast<ItemId>(items.size())).first->second;
    event.time_ms = static_cast<int64_t>(e) * 1000;
    renumbered.push_back(event);
  }
  return renumbered;
}

TEST(MfAdmissionTest, DefaultsEqualAdmissionThatNeverEvicts) {
  const std::vector<Event> events = InOrderOfFirstAppearance(ClusteredClicks(3, 8));
  for (const char* loss : {"squared", "bpr"}) {
    const OptionMap base = {{"dim", "8"}, {"negatives", "4"}, {"loss", loss}};
    MfFactory dense(base);
    MfFactory bounded(WithAdmission("1", "1000d", base));
    auto a = dense.Make();
    auto b = bounded.Make();
    ASSERT_TRUE(a->item_rows().dense());
    ASSERT_FALSE(b->item_rows().dense());
    for (const Event& e : events) {
      a->Learn(e);
      b->Learn(e);
    }
    const std::vector<ItemId> items = IdsBelow(101);  // item 100 was never seen
    for (UserId u = 0; u < 51; ++u) {
      ASSERT_EQ(ScoresOf(*a, u, items), ScoresOf(*b, u, items)) << loss << ", user " << u;
    }
  }
}

// Users and items come back after gaps longer than a minute, so with min_count 2 and a 1 min
// TTL ids are counted, admitted, evicted and readmitted all through the stream.
std::vector<Event> ChurningEvents(size_t n, uint64_t seed) {
  Random rng(seed);
  std::vector<Event> events;
  int64_t time_ms = 1'506'816'000'000;
  for (size_t e = 0; e < n; ++e) {
    time_ms += rng.Uniform(4000);
    events.push_back(TimedEvent(time_ms, rng.Uniform(40), rng.Uniform(60), 1.0f + rng.Uniform(5)));
  }
  return events;
}

TEST(MfAdmissionTest, SameEventsGiveIdenticalBytesAndSaveLoadContinuesExactly) {
  for (const auto& [mode, loss] : {std::pair{"implicit", "squared"}, std::pair{"implicit", "bpr"},
                                   std::pair{"rating", "squared"}}) {
    MfFactory factory(WithAdmission("2", "1m", SmallOptions(mode, loss)));
    const std::vector<Event> events = ChurningEvents(1200, 18);
    const size_t cut = 500;
    auto uninterrupted = factory.Make();
    auto twin = factory.Make();
    for (const Event& e : events) uninterrupted->Learn(e);
    for (const Event& e : events) twin->Learn(e);
    EXPECT_EQ(Saved(*uninterrupted), Saved(*twin)) << mode << " " << loss;
    EXPECT_GT(uninterrupted->item_rows().num_evicted(), 0u);
    EXPECT_GT(uninterrupted->user_rows().num_evicted(), 0u);

    auto first = factory.Make();
    for (size_t e = 0; e < cut; ++e) first->Learn(events[e]);
    const std::string bytes = Saved(*first);
    auto resumed = factory.Make();
    for (const Event& e : ChurningEvents(40, 99)) resumed->Learn(e);
    BinaryReader in(bytes);
    ASSERT_TRUE(resumed->Load(&in).ok());
    EXPECT_EQ(in.remaining(), 0u);
    for (size_t e = cut; e < events.size(); ++e) resumed->Learn(events[e]);
    EXPECT_EQ(Saved(*resumed), Saved(*uninterrupted)) << mode << " " << loss;
    const std::vector<ItemId> items = IdsBelow(60);
    for (UserId u = 0; u < 40; ++u) {
      ASSERT_EQ(ScoresOf(*resumed, u, items), ScoresOf(*uninterrupted, u, items));
    }
  }
}

TEST(MfAdmissionTest, AdmissionOnInOneModelAndOffInTheOtherIsInvalidArgument) {
  MfFactory on(WithAdmission("1", "1h"));
  MfFactory off(OptionMap{{"dim", "8"}, {"negatives", "3"}});
  auto a = on.Make();
  auto b = off.Make();
  a->Learn(TimedEvent(0, 0, 0));
  b->Learn(TimedEvent(0, 0, 0));
  const std::string a_bytes = Saved(*a);
  const std::string b_bytes = Saved(*b);
  BinaryReader into_off(a_bytes);
  EXPECT_EQ(b->Load(&into_off).code(), StatusCode::kInvalidArgument);
  BinaryReader into_on(b_bytes);
  EXPECT_EQ(a->Load(&into_on).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Saved(*a), a_bytes);
}

TEST(MfModelTest, DescribesItselfAndCountsItsMemory) {
  MfFactory factory(OptionMap{{"dim", "64"}});
  auto model = factory.Make();
  EXPECT_EQ(model->type(), "mf");
  EXPECT_TRUE(model->iterative());
  const size_t empty = model->MemoryBytes();
  model->Learn(MakeEvent(99, 199));
  EXPECT_GE(model->MemoryBytes(), empty + (100 + 200) * 64 * sizeof(float));
}

}  // namespace
}  // namespace liverec
