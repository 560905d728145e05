#include "train/candidates.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace liverec {
namespace {

std::vector<ItemId> Sorted(std::span<const ItemId> items) {
  std::vector<ItemId> v(items.begin(), items.end());
  std::sort(v.begin(), v.end());
  return v;
}

TEST(CandidateSetTest, WithoutWindowEveryObservedItemStays) {
  CandidateSet c;
  c.Observe(2, 10);
  c.Observe(0, 20);
  c.Observe(2, 30);
  c.Advance(1'000'000);
  EXPECT_EQ(Sorted(c.items()), (std::vector<ItemId>{0, 2}));
  EXPECT_EQ(c.Position(1), -1);
  EXPECT_EQ(c.Position(7), -1);
  EXPECT_EQ(c.items()[c.Position(2)], 2u);
}

TEST(CandidateSetTest, WindowDropsItemsWhoseLastOccurrenceIsTooOld) {
  CandidateSet c(/*active_window_ms=*/100);
  c.Observe(1, 0);
  c.Observe(2, 50);
  c.Observe(1, 120);  // refreshes item 1
  c.Advance(160);     // keeps occurrences at >= 60
  EXPECT_EQ(Sorted(c.items()), (std::vector<ItemId>{1}));
  EXPECT_EQ(c.Position(2), -1);
  c.Advance(221);
  EXPECT_TRUE(c.items().empty());
  c.Observe(2, 300);  // an item may come back
  EXPECT_EQ(Sorted(c.items()), (std::vector<ItemId>{2}));
}

TEST(CandidateSetTest, PositionsStayConsistentUnderSwapRemoval) {
  CandidateSet c(10);
  for (ItemId i = 0; i < 50; ++i) c.Observe(i, i);
  c.Advance(30);  // keeps items 20..49
  ASSERT_EQ(c.size(), 30u);
  for (ItemId i = 0; i < 50; ++i) {
    if (i < 20) {
      EXPECT_EQ(c.Position(i), -1) << i;
    } else {
      ASSERT_GE(c.Position(i), 0) << i;
      EXPECT_EQ(c.items()[c.Position(i)], i);
    }
  }
}

}  // namespace
}  // namespace liverec
