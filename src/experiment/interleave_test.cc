#include "experiment/interleave.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace liverec {
namespace {

// The keys of a drafted list of `a` and `b`.
std::vector<std::string> Keys(const std::vector<std::string>& a, const std::vector<std::string>& b,
                              const std::vector<DraftedItem>& drafted) {
  std::vector<std::string> out;
  for (const DraftedItem& d : drafted) out.push_back(d.team == 0 ? a[d.index] : b[d.index]);
  return out;
}

TEST(TeamDraftTest, TeamsTakeTurnsAndPlaceEachItemOnce) {
  const std::vector<std::string> a = {"a1", "s", "a2", "a3"};
  const std::vector<std::string> b = {"s", "b1", "b2", "b3"};
  for (uint64_t seed = 0; seed < 50; ++seed) {
    const std::vector<DraftedItem> drafted = TeamDraft({a, b}, 6, seed);
    ASSERT_EQ(drafted.size(), 6u);
    const std::vector<std::string> keys = Keys(a, b, drafted);
    std::map<std::string, int> seen;
    size_t picks[2] = {0, 0};
    for (size_t i = 0; i < drafted.size(); ++i) {
      EXPECT_EQ(++seen[keys[i]], 1) << keys[i];
      ++picks[drafted[i].team];
      // Neither team is ever more than one pick ahead.
      EXPECT_LE(picks[0] > picks[1] ? picks[0] - picks[1] : picks[1] - picks[0], 1u);
    }
    // Each team's items appear in its own order.
    size_t last[2] = {0, 0};
    bool first[2] = {true, true};
    for (const DraftedItem& d : drafted) {
      if (!first[d.team]) {
        EXPECT_GT(d.index, last[d.team]);
      }
      first[d.team] = false;
      last[d.team] = d.index;
    }
  }
}

TEST(TeamDraftTest, ProbabilitiesAreTheCoinsThatMattered) {
  const std::vector<std::string> a = {"x", "a1"};
  const std::vector<std::string> b = {"x", "b1"};
  // Both teams' best is x: placed with probability 1 whoever picks; then the other team picks.
  const std::vector<DraftedItem> drafted = TeamDraft({a, b}, 2, 7);
  ASSERT_EQ(drafted.size(), 2u);
  EXPECT_EQ(drafted[0].probability, 1);
  EXPECT_EQ(drafted[1].probability, 1);
  EXPECT_NE(drafted[0].team, drafted[1].team);
  // Different bests: the coin decides the first of each round.
  const std::vector<std::string> c = {"c1", "c2"};
  const std::vector<std::string> d = {"d1", "d2"};
  const std::vector<DraftedItem> two = TeamDraft({c, d}, 4, 7);
  ASSERT_EQ(two.size(), 4u);
  EXPECT_EQ(two[0].probability, 0.5);
  EXPECT_EQ(two[1].probability, 1);
  EXPECT_EQ(two[2].probability, 0.5);
  EXPECT_EQ(two[3].probability, 1);
}

TEST(TeamDraftTest, TheCoinIsFairAndSeeded) {
  const std::vector<std::string> a = {"a"};
  const std::vector<std::string> b = {"b"};
  int first_a = 0;
  for (uint64_t seed = 0; seed < 2000; ++seed) {
    const std::vector<DraftedItem> drafted = TeamDraft({a, b}, 1, seed);
    first_a += drafted.at(0).team == 0;
    EXPECT_EQ(TeamDraft({a, b}, 1, seed)[0].team, drafted[0].team);
  }
  EXPECT_NEAR(first_a / 2000.0, 0.5, 0.05);
}

TEST(TeamDraftTest, AShortListLetsTheOtherFill) {
  const std::vector<std::string> a = {"a1"};
  const std::vector<std::string> b = {"b1", "b2", "b3"};
  const std::vector<DraftedItem> drafted = TeamDraft({a, b}, 10, 3);
  ASSERT_EQ(drafted.size(), 4u);
  int from_b = 0;
  for (const DraftedItem& d : drafted) from_b += d.team;
  EXPECT_EQ(from_b, 3);
  EXPECT_TRUE(
      TeamDraft({std::span<const std::string>(), std::span<const std::string>()}, 5, 1).empty());
}

}  // namespace
}  // namespace liverec
