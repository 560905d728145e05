#include "rank/diversity.h"

#include <gtest/gtest.h>

#include <cmath>
#include <utility>
#include <vector>

#include "rank/similarity.h"

namespace liverec {
namespace {

TEST(DiversityTest, IntraListDiversityIsTheMeanPairwiseDistance) {
  // sim(0,1) = 0.5, sim(0,2) = 0, sim(1,2) = 0.2: distances 0.5, 1, 0.8, mean 2.3 / 3.
  auto sim = [](ItemId a, ItemId b) {
    if (a > b) std::swap(a, b);
    if (a == 0 && b == 1) return 0.5f;
    if (a == 1 && b == 2) return 0.2f;
    return 0.0f;
  };
  const std::vector<ItemId> list = {0, 1, 2};
  EXPECT_NEAR(IntraListDiversity(list, sim), 2.3 / 3, 1e-7);
  // Order does not matter; a list of fewer than two items has no pairs.
  const std::vector<ItemId> reversed = {2, 1, 0};
  EXPECT_NEAR(IntraListDiversity(reversed, sim), 2.3 / 3, 1e-7);
  const std::vector<ItemId> one = {1};
  EXPECT_EQ(IntraListDiversity(one, sim), 0.0);
  EXPECT_EQ(IntraListDiversity({}, sim), 0.0);
}

TEST(DiversityTest, JaccardOfCategorySets) {
  // Item 0 {1, 2}, item 1 {2, 3, 4} (given unsorted, with a repeat), item 2 none, item 3 {1, 2}.
  const ItemCategoryTable table({{2, 1}, {4, 2, 3, 4}, {}, {1, 2}});
  EXPECT_EQ(table.num_items(), 4u);
  EXPECT_EQ(table.num_categories(), 5u);
  EXPECT_EQ(std::vector<uint32_t>(table.Categories(1).begin(), table.Categories(1).end()),
            (std::vector<uint32_t>{2, 3, 4}));
  EXPECT_FLOAT_EQ(table.Jaccard(0, 1), 1.0f / 4);
  EXPECT_FLOAT_EQ(table.Jaccard(1, 0), 1.0f / 4);
  EXPECT_FLOAT_EQ(table.Jaccard(0, 3), 1.0f);
  EXPECT_FLOAT_EQ(table.Jaccard(0, 2), 0.0f);  // no metadata: like nothing
  EXPECT_FLOAT_EQ(table.Jaccard(2, 2), 0.0f);
  EXPECT_FLOAT_EQ(table.Jaccard(0, 99), 0.0f);  // beyond the table
  EXPECT_TRUE(table.Categories(99).empty());

  const std::vector<uint32_t> x = {1, 5, 9};
  const std::vector<uint32_t> y = {5, 9, 11, 12};
  EXPECT_FLOAT_EQ(SortedJaccard(x, y), 2.0f / 5);
  EXPECT_FLOAT_EQ(SortedJaccard(x, {}), 0.0f);

  const std::vector<ItemId> list = {0, 1, 2, 3};
  EXPECT_EQ(CategoryCoverage(list, table.CategoriesAccessor()), 4u);
  // Pairs: (0,1) .75, (0,2) 1, (0,3) 0, (1,2) 1, (1,3) .75, (2,3) 1.
  EXPECT_NEAR(IntraListDiversity(list, table.JaccardSimilarity()), 4.5 / 6, 1e-7);
}

}  // namespace
}  // namespace liverec
