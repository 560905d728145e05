#include "event/dataset.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "common/random.h"

namespace liverec {
namespace {

std::vector<std::string> Keys(const Dataset& d, bool users) {
  std::vector<std::string> out;
  for (const Event& e : d.events) out.push_back(users ? d.users.Key(e.user) : d.items.Key(e.item));
  return out;
}

TEST(DatasetTest, AddInternsKeysInOrderOfInsertion) {
  Dataset d;
  d.Add("alice", "book", 10).value = 4;
  d.Add("bob", "pen", 5);
  d.Add("alice", "pen", 7);
  ASSERT_EQ(d.events.size(), 3u);
  EXPECT_EQ(d.num_users(), 2u);
  EXPECT_EQ(d.num_items(), 2u);
  EXPECT_EQ(d.events[2].user, d.events[0].user);
  EXPECT_EQ(d.events[2].item, d.events[1].item);
  EXPECT_EQ(d.events[0].value, 4.0f);
  EXPECT_EQ(d.events[1].value, 1.0f);
  EXPECT_EQ(d.events[1].time_ms, 5);
}

TEST(DatasetTest, AddContextAppendsPairsToTheLastEvent) {
  Dataset d;
  d.Add("u", "i", 1);
  d.AddContext("device", "tv");
  d.AddContext("hour", "7");
  d.Add("u", "j", 2);
  d.Add("v", "j", 3);
  d.AddContext("device", "mobile");
  ASSERT_EQ(d.ContextOf(d.events[0]).size(), 2u);
  EXPECT_TRUE(d.ContextOf(d.events[1]).empty());
  ASSERT_EQ(d.ContextOf(d.events[2]).size(), 1u);
  const ContextPair c = d.ContextOf(d.events[2])[0];
  EXPECT_EQ(d.context_keys.Key(c.key), "device");
  EXPECT_EQ(d.context_values.Key(c.value), "mobile");
  EXPECT_EQ(c.key, d.ContextOf(d.events[0])[0].key);
}

TEST(DatasetTest, SortByTimeIsStableForTies) {
  Dataset d;
  d.Add("u", "c", 2);
  d.Add("u", "a", 1);
  d.Add("u", "d", 2);
  d.Add("u", "b", 1);
  d.Add("u", "e", 2);
  d.SortByTime();
  EXPECT_EQ(Keys(d, false), (std::vector<std::string>{"a", "b", "c", "d", "e"}));
}

TEST(DatasetTest, SortByTimeRenumbersByFirstAppearanceInTime) {
  Dataset d;
  d.Add("late", "x", 30);
  d.Add("early", "y", 10);
  d.Add("late", "y", 20);
  d.SortByTime();
  EXPECT_EQ(Keys(d, true), (std::vector<std::string>{"early", "late", "late"}));
  EXPECT_EQ(Keys(d, false), (std::vector<std::string>{"y", "y", "x"}));
  EXPECT_EQ(d.events[0].user, 0u);
  EXPECT_EQ(d.events[1].user, 1u);
  EXPECT_EQ(d.events[0].item, 0u);
  EXPECT_EQ(d.events[2].item, 1u);
  EXPECT_EQ(d.users.Find("early"), 0u);
  EXPECT_EQ(d.items.Find("x"), 1u);
}

TEST(DatasetTest, ContextStaysWithItsEventAfterSorting) {
  Dataset d;
  d.Add("u", "second", 2);
  d.AddContext("k", "for second");
  d.Add("u", "first", 1);
  d.AddContext("k", "for first");
  d.AddContext("k2", "also first");
  d.SortByTime();
  ASSERT_EQ(d.ContextOf(d.events[0]).size(), 2u);
  EXPECT_EQ(d.context_values.Key(d.ContextOf(d.events[0])[0].value), "for first");
  ASSERT_EQ(d.ContextOf(d.events[1]).size(), 1u);
  EXPECT_EQ(d.context_values.Key(d.ContextOf(d.events[1])[0].value), "for second");
}

TEST(DatasetTest, AfterSortingEachNewIdIsOneAboveTheLargestSeen) {
  Random rng(7);
  Dataset d;
  std::vector<std::pair<std::string, std::string>> added;
  for (int i = 0; i < 2000; ++i) {
    std::string user = "u" + std::to_string(rng.Uniform(50));
    std::string item = "i" + std::to_string(rng.Uniform(300));
    d.Add(user, item, rng.Uniform(100));
    added.emplace_back(user, item);
  }
  Dataset sorted = d;
  sorted.SortByTime();
  uint32_t next_user = 0;
  uint32_t next_item = 0;
  for (size_t e = 0; e < sorted.events.size(); ++e) {
    ASSERT_LE(sorted.events[e].user, next_user);
    ASSERT_LE(sorted.events[e].item, next_item);
    if (sorted.events[e].user == next_user) ++next_user;
    if (sorted.events[e].item == next_item) ++next_item;
    if (e > 0) {
      ASSERT_LE(sorted.events[e - 1].time_ms, sorted.events[e].time_ms);
    }
  }
  EXPECT_EQ(next_user, d.num_users());
  EXPECT_EQ(next_item, d.num_items());
  // Same multiset of (user key, item key, time) as before sorting.
  std::multiset<std::tuple<std::string, std::string, int64_t>> before, after;
  for (const Event& e : d.events)
    before.emplace(d.users.Key(e.user), d.items.Key(e.item), e.time_ms);
  for (const Event& e : sorted.events) {
    after.emplace(sorted.users.Key(e.user), sorted.items.Key(e.item), e.time_ms);
  }
  EXPECT_EQ(before, after);
}

}  // namespace
}  // namespace liverec
