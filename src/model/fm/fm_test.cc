#include "model/fm/fm.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/random.h"
#include "common/serialize.h"
#include "liverec/options.h"
#include "model/features.h"
#include "model/model_testing.h"

namespace liverec {
namespace {

using OptionMap = std::map<std::string, std::string>;
using testing::kDayMs;
using testing::kEpochMs;
using testing::kHourMs;
using testing::SaveBytes;

// Holds the Options an FmModel's OptionView points to. Small tables and factors keep the
// tests fast; every test that needs distinct rows checks it.
class FmFactory {
 public:
  explicit FmFactory(const OptionMap& overrides = {}) {
    const OptionMap defaults = {{"dim", "8"}, {"hash_bits", "14"}};
    for (const auto& [field, value] : defaults) Set(field, value);
    for (const auto& [field, value] : overrides) Set(field, value);
  }
  std::unique_ptr<FmModel> Make(const FeatureSource* features = nullptr, uint64_t seed = 42) const {
    Context context;
    context.seed = seed;
    auto model = std::make_unique<FmModel>(OptionView(&options_, "fm", "fm"), context);
    model->SetFeatureSource(features);
    return model;
  }

 private:
  void Set(const std::string& field, const std::string& value) {
    const Status status = options_.Set("fm." + field, value);
    EXPECT_TRUE(status.ok()) << status.ToString();
  }
  Options options_;
};

// A FeatureSource for tests: an event's context is a list of "key=value" texts registered with
// AddContext, found by Event::context_begin; items have metadata texts ("category:jazz").
class FakeFeatures final : public FeatureSource {
 public:
  // Registers a context; set the returned index as event.context_begin and the number of
  // pairs as event.context_size.
  uint32_t AddContext(std::vector<std::string> pairs) {
    contexts_.push_back(std::move(pairs));
    return static_cast<uint32_t>(contexts_.size() - 1);
  }
  void SetItem(ItemId item, std::vector<std::string> texts) { items_[item] = std::move(texts); }

  void EventFeatures(const Event& event, std::vector<uint64_t>* out) const override {
    if (event.context_size == 0) return;
    for (const std::string& text : contexts_.at(event.context_begin)) {
      out->push_back(FeatureHash(text));
    }
  }
  void ItemFeatures(ItemId item, std::vector<uint64_t>* out) const override {
    auto it = items_.find(item);
    if (it == items_.end()) return;
    for (const std::string& text : it->second) out->push_back(FeatureHash(text));
  }

 private:
  std::vector<std::vector<std::string>> contexts_;
  std::map<ItemId, std::vector<std::string>> items_;
};

Event MakeEvent(int64_t time_ms, UserId user, ItemId item, float weight = 1.0f) {
  Event event = testing::MakeEvent(time_ms, user, item);
  event.weight = weight;
  return event;
}

Event WithContext(Event event, FakeFeatures* features, std::vector<std::string> pairs) {
  event.context_size = static_cast<uint16_t>(pairs.size());
  event.context_begin = features->AddContext(std::move(pairs));
  return event;
}

float ScoreOne(const Model& model, UserId user, ItemId item) {
  float score = 0;
  model.Score(user, std::span<const ItemId>(&item, 1), &score);
  return score;
}

// The terms of an example copied out of the model.
FmTerms TermsOf(const FmModel& model, const std::vector<FmFeature>& features) {
  FmTerms terms;
  terms.w0 = model.bias();
  for (const FmFeature& f : features) {
    terms.x.push_back(f.value);
    terms.w.push_back(model.weight(f.row));
    const std::span<const float> v = model.factors(f.row);
    terms.v.emplace_back(v.begin(), v.end());
  }
  return terms;
}

bool DistinctRows(const std::vector<FmFeature>& features) {
  std::set<uint32_t> rows;
  for (const FmFeature& f : features) rows.insert(f.row);
  return rows.size() == features.size();
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
  EXPECT_NEAR(analytic, numeric, 1e-4 * (1 + std::fabs(numeric))) << what;
}

FmTerms RandomTerms(Random* rng, size_t num_features, size_t dim) {
  FmTerms terms;
  terms.w0 = static_cast<float>(rng->Normal() * 0.3);
  const float values[] = {1.0f, 0.5f, 2.0f, 1.0f, -0.7f};
  for (size_t f = 0; f < num_features; ++f) {
    terms.x.push_back(values[f % 5]);
    terms.w.push_back(static_cast<float>(rng->Normal() * 0.3));
    std::vector<float> v(dim);
    for (float& x : v) x = static_cast<float>(rng->Normal() * 0.4);
    terms.v.push_back(std::move(v));
  }
  return terms;
}

TEST(FmGradientTest, LogLossGradientMatchesFiniteDifferences) {
  Random rng(1);
  constexpr size_t kFeatures = 6;
  constexpr size_t kDim = 5;
  constexpr float kReg = 0.03f;
  for (float label : {0.0f, 1.0f}) {
    FmTerms terms = RandomTerms(&rng, kFeatures, kDim);
    auto loss = [&] { return FmLogLoss(terms, label, kReg); };
    const FmGradient grad = FmLogLossGradient(terms, label, kReg);
    const std::string tag = "label " + std::to_string(label) + " ";
    ExpectNearDerivative(grad.w0, NumericDerivative(&terms.w0, loss), tag + "w0");
    for (size_t f = 0; f < kFeatures; ++f) {
      const std::string feature = tag + "feature " + std::to_string(f);
      ExpectNearDerivative(grad.w[f], NumericDerivative(&terms.w[f], loss), feature + " w");
      for (size_t k = 0; k < kDim; ++k) {
        ExpectNearDerivative(grad.v[f][k], NumericDerivative(&terms.v[f][k], loss),
                             feature + " v" + std::to_string(k));
      }
    }
  }
}

TEST(FmGradientTest, ScoreAndLossMatchTheirDefinitionsByHand) {
  // Two features of dim 2: y = 0.5 + 1*1 + 2*(-1) + <(1, 2), (3, -1)> * 1 * 2 = -0.5 + 2 = 1.5.
  FmTerms terms;
  terms.w0 = 0.5f;
  terms.x = {1.0f, 2.0f};
  terms.w = {1.0f, -1.0f};
  terms.v = {{1.0f, 2.0f}, {3.0f, -1.0f}};
  EXPECT_DOUBLE_EQ(FmScore(terms), 1.5);
  // Label 1: log(1 + e^-1.5); the penalty: reg / 2 * (1 + 1 + 1 + 4 + 9 + 1) = 8.5 reg.
  EXPECT_NEAR(FmLogLoss(terms, 1.0f, 0.1f), std::log1p(std::exp(-1.5)) + 0.85, 1e-6);
  EXPECT_NEAR(FmLogLoss(terms, 0.0f, 0.0f), std::log1p(std::exp(1.5)), 1e-12);
  EXPECT_NEAR(FmLogLossGradient(terms, 1.0f, 0.0f).slope, 1.0 / (1.0 + std::exp(-1.5)) - 1, 1e-7);
  // Extreme scores keep the loss and the slope finite.
  terms.w0 = 1e4f;
  EXPECT_NEAR(FmLogLoss(terms, 0.0f, 0.0f), 1e4 + 1.5 - 0.5, 1e-6);
  EXPECT_EQ(LogisticSlope(1e4f, 1.0f), 0.0f);
  EXPECT_EQ(LogisticSlope(-1e4f, 1.0f), -1.0f);
}

TEST(FmLearnTest, LearnTakesTheAdagradStepOfTheLogLossGradient) {
  FmFactory factory(
      OptionMap{{"negatives", "0"}, {"learning_rate", "0.1"}, {"regularization", "0.01"}});
  FakeFeatures features;
  features.SetItem(3, {"category:jazz", "token:blue"});
  auto model = factory.Make(&features);
  const Event event = WithContext(MakeEvent(kEpochMs, 1, 3), &features, {"device=mobile"});
  std::vector<FmFeature> example;
  model->ExampleFeatures(event, 3, &example);
  // user, device, hour, weekday | item, category, token
  ASSERT_EQ(example.size(), 7u);
  ASSERT_TRUE(DistinctRows(example));
  const float lr = 0.1f;
  // Accumulators start at kFmInitialAccumulator; track them alongside.
  float bias_sum = kFmInitialAccumulator;
  std::vector<float> w_sum(example.size(), kFmInitialAccumulator);
  std::vector<std::vector<float>> v_sum(example.size(),
                                        std::vector<float>(8, kFmInitialAccumulator));
  for (int step = 0; step < 3; ++step) {
    const FmTerms before = TermsOf(*model, example);
    const FmGradient grad = FmLogLossGradient(before, 1.0f, 0.01f);
    const double loss_before = FmLogLoss(before, 1.0f, 0.01f);
    model->Learn(event);
    const FmTerms after = TermsOf(*model, example);
    bias_sum += grad.w0 * grad.w0;
    EXPECT_NEAR(after.w0, before.w0 - lr * grad.w0 / std::sqrt(bias_sum), 1e-6) << step;
    for (size_t f = 0; f < example.size(); ++f) {
      w_sum[f] += grad.w[f] * grad.w[f];
      EXPECT_NEAR(after.w[f], before.w[f] - lr * grad.w[f] / std::sqrt(w_sum[f]), 1e-6)
          << "step " << step << " feature " << f;
      for (size_t k = 0; k < 8; ++k) {
        v_sum[f][k] += grad.v[f][k] * grad.v[f][k];
        EXPECT_NEAR(after.v[f][k], before.v[f][k] - lr * grad.v[f][k] / std::sqrt(v_sum[f][k]),
                    1e-6)
            << "step " << step << " feature " << f << " k " << k;
      }
    }
    EXPECT_LT(FmLogLoss(after, 1.0f, 0.01f), loss_before) << step;
  }
}

TEST(FmLearnTest, NegativeWeightIsALabelZeroStepWithoutSampledNegatives) {
  FmFactory factory(OptionMap{{"negatives", "3"}});
  auto model = factory.Make();
  for (ItemId i = 0; i < 4; ++i) model->Learn(MakeEvent(kEpochMs, 0, i));
  const std::string before = SaveBytes(*model);
  const float score_before = ScoreOne(*model, 0, 2);
  std::vector<FmFeature> example;
  model->ExampleFeatures(MakeEvent(kEpochMs, 0, 1), 1, &example);
  const float other_item_weight = model->weight(example.back().row);  // item 1's id row
  model->Learn(MakeEvent(kEpochMs, 0, 2, /*weight=*/-1.0f));
  EXPECT_LT(ScoreOne(*model, 0, 2), score_before);
  // No negatives were drawn: the other items' id rows did not move.
  EXPECT_EQ(model->weight(example.back().row), other_item_weight);
  // Weight 0 learns nothing (only the user's context and time, here unchanged).
  const std::string after_negative = SaveBytes(*model);
  model->Learn(MakeEvent(kEpochMs, 0, 3, /*weight=*/0.0f));
  EXPECT_NE(SaveBytes(*model), before);
  // Only the learned-event counter differs from the state before the weight-0 event.
  EXPECT_EQ(SaveBytes(*model).size(), after_negative.size());
}

TEST(FmLearnTest, NegativesAreUniformOverTheOtherLearnedItems) {
  constexpr ItemId kNumItems = 4;
  constexpr ItemId kPositive = 2;
  FmFactory factory(OptionMap{{"negatives", "1"}});
  auto model = factory.Make();
  model->Learn(MakeEvent(kEpochMs, 0, kNumItems - 1));
  std::vector<uint32_t> item_rows;
  std::vector<FmFeature> example;
  for (ItemId i = 0; i < kNumItems; ++i) {
    model->ExampleFeatures(MakeEvent(kEpochMs, 0, i), i, &example);
    item_rows.push_back(example.back().row);
  }
  std::map<ItemId, int> picks;
  constexpr int kEvents = 3000;
  for (int e = 0; e < kEvents; ++e) {
    std::vector<float> before;
    for (uint32_t row : item_rows) before.push_back(model->weight(row));
    model->Learn(MakeEvent(kEpochMs, 0, kPositive));
    for (ItemId i = 0; i < kNumItems; ++i) {
      if (i != kPositive && model->weight(item_rows[i]) != before[i]) ++picks[i];
    }
  }
  int total = 0;
  for (const auto& [item, count] : picks) {
    total += count;
    // Each of the three others: 1000 expected, a binomial std of about 26.
    EXPECT_NEAR(count, kEvents / 3, 150) << "item " << item;
  }
  EXPECT_EQ(total, kEvents);
}

TEST(FmLearnTest, TimeFeaturesAreTheUtcHourOfDayAndDayOfWeek) {
  FmFactory factory;
  auto model = factory.Make();
  auto time_rows = [&](int64_t time_ms) {
    std::vector<FmFeature> example;
    model->ExampleFeatures(MakeEvent(time_ms, 0, 0), 0, &example);
    return std::make_pair(example[1].row, example[2].row);  // hour, weekday
  };
  const int64_t t = kEpochMs + 5 * kHourMs;  // a Sunday, 05:00 UTC
  EXPECT_EQ(time_rows(t), time_rows(t + 7 * kDayMs));
  EXPECT_EQ(time_rows(t), time_rows(t + 59 * 60 * 1000));  // still 05:xx
  EXPECT_EQ(time_rows(t).first, time_rows(t + kDayMs).first);
  EXPECT_NE(time_rows(t).second, time_rows(t + kDayMs).second);
  EXPECT_NE(time_rows(t).first, time_rows(t + kHourMs).first);
  EXPECT_EQ(time_rows(t).second, time_rows(t + kHourMs).second);
  // Before 1970: 1969-12-31 23:59 is a Wednesday at hour 23, like 1970-01-07 23:00.
  EXPECT_EQ(time_rows(-60 * 1000), time_rows(6 * kDayMs + 23 * kHourMs));
  EXPECT_NE(time_rows(-60 * 1000).second, time_rows(23 * kHourMs).second);
  // Without context the user side is the user id alone.
  FmFactory no_context(OptionMap{{"use_context", "false"}});
  std::vector<FmFeature> example;
  no_context.Make()->ExampleFeatures(MakeEvent(t, 0, 0), 0, &example);
  EXPECT_EQ(example.size(), 2u);
}

TEST(FmScoreTest, ScoreEqualsThePairwiseDefinitionOnTheLatestContext) {
  FmFactory factory(OptionMap{{"negatives", "2"}});
  FakeFeatures features;
  features.SetItem(1, {"category:a", "token:x"});
  features.SetItem(2, {"category:b"});
  auto model = factory.Make(&features);
  Random rng(3);
  for (int e = 0; e < 300; ++e) {
    model->Learn(WithContext(MakeEvent(kEpochMs + e * kHourMs, rng.Uniform(4), rng.Uniform(5)),
                             &features, {"device=" + std::to_string(rng.Uniform(2))}));
  }
  const Event latest =
      WithContext(MakeEvent(kEpochMs + 400 * kHourMs, 2, 0), &features, {"device=1", "os=7"});
  model->Learn(latest);
  const std::vector<ItemId> items = {0, 1, 2, 3, 4};
  float scores[5];
  model->Score(2, items, scores);
  for (size_t r = 0; r < items.size(); ++r) {
    std::vector<FmFeature> example;
    model->ExampleFeatures(latest, items[r], &example);
    EXPECT_NEAR(scores[r], FmScore(TermsOf(*model, example)), 1e-5) << "item " << items[r];
    EXPECT_EQ(scores[r], ScoreOne(*model, 2, items[r]));  // a batch scores as one by one
  }
}

TEST(FmScoreTest, UnknownUsersScoreTheItemSideAndUnknownItemsWithoutMetadataAreUnscored) {
  FmFactory factory;
  FakeFeatures features;
  features.SetItem(9, {"category:a"});  // never learned
  auto model = factory.Make(&features);
  for (ItemId i = 0; i < 3; ++i) model->Learn(MakeEvent(kEpochMs, 0, i));
  const std::vector<ItemId> items = {0, 1, 2, 5, 9, kInvalidId};
  for (UserId user : {UserId{7}, kInvalidId}) {
    float scores[6];
    model->Score(user, items, scores);
    for (size_t r = 0; r < 3; ++r) {
      std::vector<FmFeature> example;
      model->ExampleFeatures(MakeEvent(kEpochMs, 0, items[r]), items[r], &example);
      // No user side: w0 + w_item (one item feature, no pairs).
      EXPECT_FLOAT_EQ(scores[r], model->bias() + model->weight(example.back().row));
    }
    EXPECT_EQ(scores[3], kUnscored);  // never learned, no metadata
    EXPECT_GT(scores[4], kUnscored);  // never learned, metadata: a real score
    EXPECT_EQ(scores[5], kUnscored);
  }
  EXPECT_TRUE(model->knows_user(0));
  EXPECT_FALSE(model->knows_user(7));
}

// Users 0-9 click jazz items 0-9, users 10-19 rock items 10-19; every item has its genre.
TEST(FmScoreTest, ColdStartRanksANewItemOfTheUsersCategoryAboveUnrelatedItems) {
  FmFactory factory;
  FakeFeatures features;
  for (ItemId i = 0; i < 20; ++i) features.SetItem(i, {i < 10 ? "category:jazz" : "category:rock"});
  features.SetItem(20, {"category:jazz"});  // new, never learned
  features.SetItem(21, {"category:rock"});  // new, never learned
  auto model = factory.Make(&features);
  Random rng(5);
  int64_t time_ms = kEpochMs;
  for (int round = 0; round < 40; ++round) {
    for (UserId u = 0; u < 20; ++u) {
      const ItemId base = u < 10 ? 0 : 10;
      model->Learn(MakeEvent(time_ms += 60'000, u, base + rng.Uniform(10)));
    }
  }
  const std::vector<ItemId> items = testing::AllItems(23);
  for (UserId u = 0; u < 20; ++u) {
    const bool jazz = u < 10;
    const std::vector<float> s = testing::ScoreAll(*model, u, 23);
    const float own_new = jazz ? s[20] : s[21];
    const float other_new = jazz ? s[21] : s[20];
    EXPECT_GT(own_new, other_new) << "user " << u;
    for (ItemId i = 0; i < 20; ++i) {
      if ((i < 10) != jazz) {
        EXPECT_GT(own_new, s[i]) << "user " << u << ", unrelated item " << i;
      }
    }
    EXPECT_EQ(s[22], kUnscored);
  }
}

TEST(FmScoreTest, FeatureContributionsAreTheLinearAndUserInteractionTermsOfEachFeature) {
  FmFactory factory;
  FakeFeatures features;
  for (ItemId i = 0; i < 20; ++i) {
    features.SetItem(i, {i < 10 ? "category:jazz" : "category:rock", "tag:live"});
  }
  auto model = factory.Make(&features);
  Random rng(9);
  int64_t time_ms = kEpochMs;
  int64_t user0_latest_ms = 0;
  for (int round = 0; round < 40; ++round) {
    for (UserId u = 0; u < 20; ++u) {
      model->Learn(MakeEvent(time_ms += 60'000, u, (u < 10 ? 0 : 10) + rng.Uniform(10)));
      if (u == 0) user0_latest_ms = time_ms;
    }
  }
  std::vector<float> contributions;
  model->ItemFeatureContributions(0, 3, &contributions);
  ASSERT_EQ(contributions.size(), 2u);
  // By hand: the user side of user 0 is its id row plus its latest event's hour and weekday.
  std::vector<FmFeature> example;
  model->ExampleFeatures(MakeEvent(user0_latest_ms, 0, 3), 3, &example);
  std::vector<double> user_sum(model->dim(), 0.0);
  const size_t user_features = example.size() - 3;  // minus item id and its two metadata rows
  for (size_t j = 0; j < user_features; ++j) {
    const std::span<const float> v = model->factors(example[j].row);
    for (size_t k = 0; k < v.size(); ++k) user_sum[k] += v[k];
  }
  const std::array<const char*, 2> names = {"category:jazz", "tag:live"};
  for (size_t j = 0; j < 2; ++j) {
    const uint32_t row = model->Row(FeatureHash(names[j]));
    double expected = model->weight(row);
    const std::span<const float> v = model->factors(row);
    for (size_t k = 0; k < v.size(); ++k) expected += v[k] * user_sum[k];
    EXPECT_NEAR(contributions[j], 0.5 * expected, 1e-4) << names[j];
  }
  // A jazz listener's jazz item owes more to its category than a rock listener's would.
  std::vector<float> rock_user;
  model->ItemFeatureContributions(15, 3, &rock_user);
  EXPECT_GT(contributions[0], rock_user[0]);
  model->ItemFeatureContributions(0, 99, &contributions);  // no metadata
  EXPECT_TRUE(contributions.empty());
}

// Every user clicks item 0 on mobile and item 1 on desktop, among clicks on other items.
TEST(FmScoreTest, APlantedContextEffectIsLearned) {
  for (bool use_context : {true, false}) {
    FmFactory factory(OptionMap{{"use_context", use_context ? "true" : "false"}});
    FakeFeatures features;
    auto model = factory.Make(&features);
    Random rng(6);
    int64_t time_ms = kEpochMs;
    for (int round = 0; round < 40; ++round) {
      for (UserId u = 0; u < 20; ++u) {
        model->Learn(WithContext(MakeEvent(time_ms += 60'000, u, 0), &features, {"device=mobile"}));
        model->Learn(
            WithContext(MakeEvent(time_ms += 60'000, u, 1), &features, {"device=desktop"}));
        const std::string device = rng.Uniform(2) == 0 ? "device=mobile" : "device=desktop";
        model->Learn(
            WithContext(MakeEvent(time_ms += 60'000, u, 2 + rng.Uniform(10)), &features, {device}));
      }
    }
    for (UserId u = 0; u < 20; ++u) {
      model->Observe(WithContext(MakeEvent(time_ms += 60'000, u, 5), &features, {"device=mobile"}));
      const float mobile_a = ScoreOne(*model, u, 0);
      const float mobile_b = ScoreOne(*model, u, 1);
      model->Observe(
          WithContext(MakeEvent(time_ms += 60'000, u, 5), &features, {"device=desktop"}));
      const float desktop_a = ScoreOne(*model, u, 0);
      const float desktop_b = ScoreOne(*model, u, 1);
      if (use_context) {
        EXPECT_GT(mobile_a, mobile_b) << "user " << u;
        EXPECT_GT(desktop_b, desktop_a) << "user " << u;
      } else {
        // Without context the device cannot matter; only the hour moved between the two.
        EXPECT_EQ(mobile_a, desktop_a) << "user " << u;
        EXPECT_EQ(mobile_b, desktop_b) << "user " << u;
      }
    }
  }
}

TEST(FmScoreTest, ObserveSetsTheScoringContextWithoutLearningAndOlderEventsDoNotReplaceIt) {
  FmFactory factory;
  FakeFeatures features;
  auto model = factory.Make(&features);
  for (ItemId i = 0; i < 5; ++i) {
    model->Learn(WithContext(MakeEvent(kEpochMs + i, 0, i), &features, {"device=a"}));
  }
  std::vector<FmFeature> example;
  model->ExampleFeatures(MakeEvent(kEpochMs, 0, 1), 1, &example);
  const float item_weight = model->weight(example.back().row);
  const std::vector<float> before = testing::ScoreAll(*model, 0, 5);
  const Event later = WithContext(MakeEvent(kEpochMs + kHourMs, 0, 4), &features, {"device=b"});
  model->Observe(later);
  EXPECT_EQ(model->weight(example.back().row), item_weight);
  const std::vector<float> after = testing::ScoreAll(*model, 0, 5);
  EXPECT_NE(after, before);
  for (ItemId i = 0; i < 5; ++i) {
    std::vector<FmFeature> latest;
    model->ExampleFeatures(later, i, &latest);
    EXPECT_NEAR(after[i], FmScore(TermsOf(*model, latest)), 1e-5);
  }
  // An older event (a shuffled batch epoch) leaves the latest context in place.
  model->Observe(WithContext(MakeEvent(kEpochMs, 0, 4), &features, {"device=c"}));
  EXPECT_EQ(testing::ScoreAll(*model, 0, 5), after);
}

// Events with context, metadata, negative and zero weights over 30 users and 60 items.
class FmStateTest : public ::testing::Test {
 protected:
  FmStateTest() {
    for (ItemId i = 0; i < 60; i += 3) features_.SetItem(i, {"category:" + std::to_string(i % 4)});
  }
  std::vector<Event> MixedEvents(size_t n, uint64_t seed) {
    Random rng(seed);
    std::vector<Event> events;
    for (size_t e = 0; e < n; ++e) {
      const float weights[] = {1.0f, 1.0f, 2.0f, -1.0f, 0.0f};
      Event event = MakeEvent(kEpochMs + static_cast<int64_t>(e) * 600'000, rng.Uniform(30),
                              rng.Uniform(60), weights[rng.Uniform(5)]);
      events.push_back(
          WithContext(event, &features_, {"device=" + std::to_string(rng.Uniform(3))}));
    }
    return events;
  }
  std::unique_ptr<FmModel> Make(uint64_t seed = 42) { return factory_.Make(&features_, seed); }

  FmFactory factory_{{{"negatives", "3"}, {"hash_bits", "10"}}};
  FakeFeatures features_;
};

TEST_F(FmStateTest, SameEventsGiveIdenticalBytes) {
  const std::vector<Event> events = MixedEvents(500, 11);
  auto a = Make();
  auto b = Make();
  for (const Event& e : events) a->Learn(e);
  for (const Event& e : events) b->Learn(e);
  EXPECT_EQ(SaveBytes(*a), SaveBytes(*b));
  auto other_seed = Make(/*seed=*/43);
  for (const Event& e : events) other_seed->Learn(e);
  EXPECT_NE(SaveBytes(*a), SaveBytes(*other_seed));
}

TEST_F(FmStateTest, SaveLoadThenContinueEqualsAnUninterruptedRun) {
  const std::vector<Event> events = MixedEvents(600, 12);
  const size_t cut = 250;
  auto uninterrupted = Make();
  for (const Event& e : events) uninterrupted->Learn(e);

  auto first = Make();
  for (size_t e = 0; e < cut; ++e) first->Learn(events[e]);
  const std::string bytes = SaveBytes(*first);
  // Loaded into a model with another seed that has learned other things: Load replaces all.
  auto resumed = Make(/*seed=*/7);
  for (const Event& e : MixedEvents(40, 99)) resumed->Learn(e);
  BinaryReader in(bytes);
  ASSERT_TRUE(resumed->Load(&in).ok());
  EXPECT_EQ(in.remaining(), 0u);
  EXPECT_EQ(SaveBytes(*resumed), bytes);
  for (size_t e = cut; e < events.size(); ++e) resumed->Learn(events[e]);
  EXPECT_EQ(SaveBytes(*resumed), SaveBytes(*uninterrupted));
  EXPECT_EQ(testing::ScoreAll(*resumed, 3, 70), testing::ScoreAll(*uninterrupted, 3, 70));
}

TEST_F(FmStateTest, CloneIsADeepCopy) {
  auto model = Make();
  for (const Event& e : MixedEvents(200, 13)) model->Learn(e);
  const std::string before = SaveBytes(*model);
  std::unique_ptr<Model> clone = model->Clone();
  EXPECT_EQ(SaveBytes(*clone), before);
  for (const Event& e : MixedEvents(50, 14)) clone->Learn(e);
  EXPECT_EQ(SaveBytes(*model), before);
  EXPECT_NE(SaveBytes(*clone), before);
}

TEST_F(FmStateTest, EveryTruncationIsCorruptionAndLeavesTheModelUnchanged) {
  auto model = Make();
  for (const Event& e : MixedEvents(30, 15)) model->Learn(e);
  const std::string bytes = SaveBytes(*model);
  auto target = Make();
  for (const Event& e : MixedEvents(20, 16)) target->Learn(e);
  const std::string target_bytes = SaveBytes(*target);
  for (size_t len = 0; len < bytes.size(); len += 7) {
    BinaryReader in(std::string_view(bytes).substr(0, len));
    EXPECT_EQ(target->Load(&in).code(), StatusCode::kCorruption) << "length " << len;
  }
  EXPECT_EQ(SaveBytes(*target), target_bytes);
}

TEST_F(FmStateTest, GarbageIsCorruption) {
  auto model = Make();
  for (const Event& e : MixedEvents(30, 17)) model->Learn(e);
  const std::string saved = SaveBytes(*model);
  Random rng(18);
  // Random bytes, and valid bytes with a random byte flipped past the header: every Load fails
  // cleanly or succeeds, and a failed one leaves the model as it was.
  for (int trial = 0; trial < 200; ++trial) {
    std::string bytes;
    if (trial % 2 == 0) {
      bytes.resize(rng.Uniform(400));
      for (char& c : bytes) c = static_cast<char>(rng.Uniform(256));
    } else {
      bytes = saved;
      bytes[8 + rng.Uniform(static_cast<uint32_t>(bytes.size() - 8))] ^=
          static_cast<char>(1 + rng.Uniform(255));
    }
    auto target = Make();
    const std::string target_bytes = SaveBytes(*target);
    BinaryReader in(bytes);
    const Status status = target->Load(&in);
    if (trial % 2 == 0) {
      EXPECT_EQ(status.code(), StatusCode::kCorruption) << "trial " << trial;
    }
    if (!status.ok()) {
      EXPECT_EQ(SaveBytes(*target), target_bytes) << "trial " << trial;
    }
  }
}

TEST(FmLoadTest, OtherDimHashBitsOrContextSettingIsInvalidArgument) {
  FmFactory factory;
  auto model = factory.Make();
  model->Learn(MakeEvent(kEpochMs, 0, 1));
  const std::string bytes = SaveBytes(*model);
  for (const OptionMap& other : {OptionMap{{"dim", "9"}}, OptionMap{{"hash_bits", "13"}},
                                 OptionMap{{"use_context", "false"}}}) {
    FmFactory other_factory(other);
    auto target = other_factory.Make();
    BinaryReader in(bytes);
    EXPECT_EQ(target->Load(&in).code(), StatusCode::kInvalidArgument);
  }
}

TEST(FmModelTest, UserAndItemIdsNeverShareARowUntilTheTableIsFull) {
  FmFactory factory(OptionMap{{"hash_bits", "11"}, {"use_context", "false"}});
  auto model = factory.Make();
  std::set<uint32_t> rows;
  std::vector<FmFeature> example;
  for (uint32_t id = 0; id < 1024; ++id) {
    model->ExampleFeatures(MakeEvent(kEpochMs, /*user=*/id, /*item=*/id), id, &example);
    ASSERT_EQ(example.size(), 2u);
    EXPECT_NE(example[0].row, example[1].row) << "user and item " << id;
    rows.insert(example[0].row);
    rows.insert(example[1].row);
  }
  EXPECT_EQ(rows.size(), 2048u);  // 1024 users and 1024 items fill the 2^11 rows exactly
}

TEST(FmModelTest, DescribesItselfAndCountsItsMemory) {
  FmFactory factory(OptionMap{{"dim", "16"}, {"hash_bits", "12"}});
  auto model = factory.Make();
  EXPECT_EQ(model->type(), "fm");
  EXPECT_TRUE(model->iterative());
  EXPECT_EQ(model->num_rows(), 4096u);
  EXPECT_EQ(model->dim(), 16u);
  // Factors and their accumulators: two floats per factor of every row.
  EXPECT_GE(model->MemoryBytes(), 4096u * 16 * 2 * sizeof(float));
}

}  // namespace
}  // namespace liverec
