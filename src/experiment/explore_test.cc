#include "experiment/explore.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

#include "common/random.h"

namespace liverec {
namespace {

std::vector<PoolItem> Pool() {
  return {{10, 0.9f}, {11, 0.8f}, {12, 0.5f}, {13, 0.4f}, {14, 0.1f}};
}

TEST(ExploreSpecTest, ParsesAndPrintsBack) {
  for (const char* text : {"none", "epsilon:0.05", "softmax:0.5", "squarecb:10"}) {
    StatusOr<ExploreSpec> spec = ExploreSpec::Parse(text);
    ASSERT_TRUE(spec.ok()) << text << ": " << spec.status().ToString();
    EXPECT_EQ(spec->ToString(), text);
  }
  EXPECT_FALSE(ExploreSpec::Parse("").value().active());
  for (const char* text : {"epsilon", "epsilon:2", "epsilon:-0.1", "softmax:0", "squarecb:-1",
                           "greedy:1", "epsilon:0.1x", "softmax:nan", "epsilon:"}) {
    const Status s = ExploreSpec::Parse(text).status();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << text;
    EXPECT_NE(s.message().find("explore:"), std::string::npos) << s.message();
  }
}

TEST(ExploreTest, WithoutExplorationTheListIsThePoolsTop) {
  std::vector<ShownItem> out;
  Explore(ExploreSpec{}, Pool(), 3, 1, &out);
  ASSERT_EQ(out.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(out[i].item, Pool()[i].item);
    EXPECT_EQ(out[i].probability, 1);
  }
  Explore(ExploreSpec{ExploreKind::kEpsilon, 0}, Pool(), 9, 1, &out);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[0].item, 10u);
  EXPECT_EQ(out[0].probability, 1);
}

TEST(ExploreTest, TheSameSeedDrawsTheSameList) {
  const ExploreSpec spec{ExploreKind::kSoftmax, 0.2};
  std::vector<ShownItem> a, b, c;
  Explore(spec, Pool(), 4, 42, &a);
  Explore(spec, Pool(), 4, 42, &b);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].item, b[i].item);
    EXPECT_EQ(a[i].probability, b[i].probability);
  }
  bool differs = false;
  for (uint64_t seed = 0; seed < 50 && !differs; ++seed) {
    Explore(spec, Pool(), 4, seed, &c);
    for (size_t i = 0; i < c.size(); ++i) differs |= c[i].item != a[i].item;
  }
  EXPECT_TRUE(differs);
}

// The recorded probabilities are those the draws follow: at the first position they are the
// marginal frequencies; at the second, the frequencies given the first item.
TEST(ExploreTest, RecordedProbabilitiesMatchTheDraws) {
  constexpr int kDraws = 40000;
  for (const ExploreSpec& spec :
       {ExploreSpec{ExploreKind::kEpsilon, 0.3}, ExploreSpec{ExploreKind::kSoftmax, 0.25},
        ExploreSpec{ExploreKind::kSquareCb, 5}}) {
    std::map<ItemId, int> first;
    std::map<ItemId, double> first_p;
    std::map<ItemId, int> second_after_best;
    std::map<ItemId, double> second_p;
    int best_first = 0;
    std::vector<ShownItem> out;
    for (int d = 0; d < kDraws; ++d) {
      Explore(spec, Pool(), 2, DeriveSeed(3, d), &out);
      ++first[out[0].item];
      first_p[out[0].item] = out[0].probability;
      if (out[0].item == 10) {
        ++best_first;
        ++second_after_best[out[1].item];
        second_p[out[1].item] = out[1].probability;
      }
    }
    double total_p = 0;
    for (const auto& [item, count] : first) {
      const double p = first_p[item];
      total_p += p;
      EXPECT_NEAR(count / static_cast<double>(kDraws), p, 5 * std::sqrt(p * (1 - p) / kDraws))
          << spec.ToString() << " item " << item;
    }
    EXPECT_NEAR(total_p, 1, 1e-9) << spec.ToString();
    for (const auto& [item, count] : second_after_best) {
      const double p = second_p[item];
      EXPECT_NEAR(count / static_cast<double>(best_first), p,
                  5 * std::sqrt(p * (1 - p) / best_first) + 1e-9)
          << spec.ToString() << " item " << item;
    }
    // The best item is the likeliest first choice under every rule.
    for (const auto& [item, count] : first) EXPECT_LE(count, first[10]) << spec.ToString();
  }
}

TEST(ExploreTest, SquareCbExploresLessAsGammaGrows) {
  std::vector<ShownItem> out;
  double previous = 0;
  for (double gamma : {0.0, 10.0, 100.0, 1e6}) {
    Explore(ExploreSpec{ExploreKind::kSquareCb, gamma}, Pool(), 1, 5, &out);
    // The first draw's probability of the best item, whatever was drawn, is 1 - the others';
    // recompute it from a draw that picked the best item.
    double best = 0;
    for (uint64_t seed = 0; seed < 200 && best == 0; ++seed) {
      Explore(ExploreSpec{ExploreKind::kSquareCb, gamma}, Pool(), 1, seed, &out);
      if (out[0].item == 10) best = out[0].probability;
    }
    EXPECT_GT(best, previous) << gamma;
    previous = best;
  }
  EXPECT_GT(previous, 0.999);
}

}  // namespace
}  // namespace liverec
