#include "rank/rerank.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "common/random.h"
#include "rank/diversity.h"

namespace liverec {
namespace {

std::vector<ItemId> Items(const std::vector<ScoredCandidate>& list) {
  std::vector<ItemId> items;
  for (const ScoredCandidate& c : list) items.push_back(c.item);
  return items;
}

// `n` candidates with distinct random scores, sorted, and each item in one to three of
// `num_categories` random categories.
struct RandomCase {
  std::vector<ScoredCandidate> candidates;
  ItemCategoryTable categories;
};

RandomCase MakeRandomCase(uint64_t seed, size_t n, uint32_t num_categories) {
  Random rng(seed);
  RandomCase c;
  std::vector<std::vector<uint32_t>> cats(n);
  for (ItemId item = 0; item < n; ++item) {
    // Coarse scores: ties are common, so the tie rule is exercised.
    c.candidates.push_back({item, static_cast<float>(rng.Uniform(50))});
    const uint32_t num = 1 + rng.Uniform(3);
    for (uint32_t j = 0; j < num; ++j) cats[item].push_back(rng.Uniform(num_categories));
  }
  SortCandidates(c.candidates);
  c.categories = ItemCategoryTable(cats);
  return c;
}

ItemSimilarity NeverCalled() {
  return [](ItemId, ItemId) {
    ADD_FAILURE() << "similarity called on the plain-ranking path";
    return 0.0f;
  };
}

TEST(RerankTest, LambdaOneIsPlainTopK) {
  RandomCase c = MakeRandomCase(1, 200, 10);
  Reranker reranker;
  std::vector<ScoredCandidate> out;
  reranker.Rerank(c.candidates, 10, RerankOptions{.lambda = 1}, NeverCalled(), nullptr, &out);
  EXPECT_EQ(out, std::vector<ScoredCandidate>(c.candidates.begin(), c.candidates.begin() + 10));
  EXPECT_EQ(reranker.last_similarity_calls(), 0u);
  // The oracle agrees: argmax of rel with ties by id is the sorted order.
  std::vector<ScoredCandidate> expected;
  ref::Rerank(c.candidates, 10, RerankOptions{.lambda = 1}, NeverCalled(), nullptr, &expected);
  EXPECT_EQ(out, expected);
}

TEST(RerankTest, DuplicateHeavyListGetsDiversified) {
  // Items 0-5 are copies of one movie (category 0), scored highest; items 6-9 are each of a
  // category of their own, scored a little lower.
  std::vector<std::vector<uint32_t>> cats = {{0}, {0}, {0}, {0}, {0}, {0}, {1}, {2}, {3}, {4}};
  const ItemCategoryTable table(cats);
  std::vector<ScoredCandidate> candidates;
  for (ItemId item = 0; item < 10; ++item) {
    candidates.push_back({item, 1.0f - 0.05f * static_cast<float>(item)});
  }
  Reranker reranker;
  std::vector<ScoredCandidate> plain;
  std::vector<ScoredCandidate> diverse;
  reranker.Rerank(candidates, 5, {.lambda = 1}, table.JaccardSimilarity(), nullptr, &plain);
  reranker.Rerank(candidates, 5, {.lambda = 0.5}, table.JaccardSimilarity(), nullptr, &diverse);
  EXPECT_EQ(Items(plain), (std::vector<ItemId>{0, 1, 2, 3, 4}));
  // The best copy first, then the unlike items in score order.
  EXPECT_EQ(Items(diverse), (std::vector<ItemId>{0, 6, 7, 8, 9}));
  // Scores travel with their items.
  EXPECT_EQ(diverse[1].score, candidates[6].score);
  const std::vector<ItemId> plain_items = Items(plain);
  const std::vector<ItemId> diverse_items = Items(diverse);
  EXPECT_DOUBLE_EQ(IntraListDiversity(plain_items, table.JaccardSimilarity()), 0.0);
  EXPECT_DOUBLE_EQ(IntraListDiversity(diverse_items, table.JaccardSimilarity()), 1.0);
  // A light weight keeps copies that score far better: at lambda 0.95 a copy loses 0.05 of
  // value to its likeness, less than the 0.95 * 5/9 of relevance it leads item 6 by.
  std::vector<ScoredCandidate> mild;
  reranker.Rerank(candidates, 3, {.lambda = 0.95}, table.JaccardSimilarity(), nullptr, &mild);
  EXPECT_EQ(Items(mild), (std::vector<ItemId>{0, 1, 2}));
}

TEST(RerankTest, CategoryCapHolds) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    RandomCase c = MakeRandomCase(seed, 300, 6);
    for (double lambda : {1.0, 0.7, 0.2}) {
      const RerankOptions options{.lambda = lambda, .category_cap = 3};
      Reranker reranker;
      std::vector<ScoredCandidate> out;
      reranker.Rerank(c.candidates, 10, options, c.categories.JaccardSimilarity(),
                      c.categories.CategoriesAccessor(), &out);
      std::map<uint32_t, uint32_t> counts;
      for (const ScoredCandidate& s : out) {
        for (uint32_t category : c.categories.Categories(s.item)) ++counts[category];
      }
      for (const auto& [category, count] : counts) {
        EXPECT_LE(count, 3u) << "seed " << seed << " lambda " << lambda << " category " << category;
      }
      // Six categories, at most three items each, one to three categories per item: a list
      // can always reach 6 items, and short lists only happen when nothing eligible is left.
      EXPECT_GE(out.size(), 6u);
      std::vector<ScoredCandidate> expected;
      ref::Rerank(c.candidates, 10, options, c.categories.JaccardSimilarity(),
                  c.categories.CategoriesAccessor(), &expected);
      EXPECT_EQ(out, expected) << "seed " << seed << " lambda " << lambda;
    }
  }
}

TEST(RerankTest, AContinuedListCountsTheItemsAboveItForCapAndSimilarity) {
  Reranker reranker;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    RandomCase c = MakeRandomCase(300 + seed, 200, 6);
    // The first 40 candidates were listed by another source; the rest continue the list.
    std::vector<ItemId> above;
    for (size_t i = 0; i < 4; ++i) above.push_back(c.candidates[10 * i].item);
    const std::span<const ScoredCandidate> rest(c.candidates.begin() + 40, c.candidates.end());
    for (double lambda : {1.0, 0.6}) {
      const RerankOptions options{.lambda = lambda, .category_cap = 2, .continues = above};
      std::vector<ScoredCandidate> out;
      std::vector<ScoredCandidate> expected;
      reranker.Rerank(rest, 6, options, c.categories.JaccardSimilarity(),
                      c.categories.CategoriesAccessor(), &out);
      ref::Rerank(rest, 6, options, c.categories.JaccardSimilarity(),
                  c.categories.CategoriesAccessor(), &expected);
      EXPECT_EQ(out, expected) << "seed " << seed << " lambda " << lambda;
      std::map<uint32_t, uint32_t> counts;
      for (ItemId item : above) {
        for (uint32_t category : c.categories.Categories(item)) ++counts[category];
      }
      // An item is listed only while each of its categories holds fewer than 2 listed items,
      // those above included.
      for (const ScoredCandidate& s : out) {
        for (uint32_t category : c.categories.Categories(s.item)) {
          EXPECT_LT(counts[category], 2u) << "seed " << seed << " category " << category;
        }
        for (uint32_t category : c.categories.Categories(s.item)) ++counts[category];
      }
    }
  }
  // Without a cap, the items above still repel similar ones: the best candidate shares its
  // only category with the item above and loses to the next one (value 0.4 - 0.6 against 0).
  const ItemCategoryTable table({{0}, {0}, {1}});
  const std::vector<ScoredCandidate> candidates = {{1, 1.0f}, {2, 0.9f}};
  const std::vector<ItemId> above = {0};
  std::vector<ScoredCandidate> out;
  reranker.Rerank(candidates, 1, {.lambda = 0.4, .continues = above}, table.JaccardSimilarity(),
                  nullptr, &out);
  EXPECT_EQ(out, (std::vector<ScoredCandidate>{{2, 0.9f}}));
}

TEST(RerankTest, CapShortensTheListWhenThePoolRunsOut) {
  const ItemCategoryTable table({{0}, {0}, {0}, {1}, {}});
  const std::vector<ScoredCandidate> candidates = {{0, 5}, {1, 4}, {2, 3}, {3, 2}, {4, 1}};
  Reranker reranker;
  std::vector<ScoredCandidate> out;
  reranker.Rerank(candidates, 5, {.lambda = 1, .category_cap = 1}, nullptr,
                  table.CategoriesAccessor(), &out);
  // One of category 0, one of category 1, and the item without categories is never capped.
  EXPECT_EQ(Items(out), (std::vector<ItemId>{0, 3, 4}));
}

TEST(RerankTest, TiesGoToTheLowerItemIdWhateverTheInputOrder) {
  // Equal scores and no similarity: every value ties.
  std::vector<ScoredCandidate> candidates;
  for (ItemId item : {7u, 3u, 9u, 1u, 5u}) candidates.push_back({item, 2.0f});
  SortCandidates(candidates);
  auto zero = [](ItemId, ItemId) { return 0.0f; };
  Reranker reranker;
  std::vector<ScoredCandidate> out;
  reranker.Rerank(candidates, 3, {.lambda = 0.5}, zero, nullptr, &out);
  EXPECT_EQ(Items(out), (std::vector<ItemId>{1, 3, 5}));

  // The same candidates in another order give the same list, on every path.
  RandomCase c = MakeRandomCase(7, 100, 5);
  std::vector<ScoredCandidate> shuffled = c.candidates;
  Random rng(3);
  for (size_t i = shuffled.size() - 1; i > 0; --i) {
    std::swap(shuffled[i], shuffled[rng.Uniform(static_cast<uint32_t>(i + 1))]);
  }
  std::vector<ScoredCandidate> a;
  std::vector<ScoredCandidate> b;
  reranker.Rerank(c.candidates, 10, {.lambda = 0.6}, c.categories.JaccardSimilarity(), nullptr, &a);
  reranker.Rerank(shuffled, 10, {.lambda = 0.6}, c.categories.JaccardSimilarity(), nullptr, &b);
  EXPECT_EQ(a, b);
  for (const RerankOptions& options :
       {RerankOptions{.lambda = 1}, RerankOptions{.lambda = 1, .pool = 30},
        RerankOptions{.lambda = 1, .category_cap = 2}, RerankOptions{.lambda = 0.3, .pool = 40}}) {
    reranker.Rerank(c.candidates, 10, options, c.categories.JaccardSimilarity(),
                    c.categories.CategoriesAccessor(), &a);
    reranker.Rerank(shuffled, 10, options, c.categories.JaccardSimilarity(),
                    c.categories.CategoriesAccessor(), &b);
    EXPECT_EQ(a, b) << "lambda " << options.lambda << " pool " << options.pool;
  }
}

TEST(RerankTest, VisitInScoreOrderEqualsThePlainLoop) {
  Reranker reranker;  // reused: scratch from one call must not leak into the next
  for (uint64_t seed = 0; seed < 30; ++seed) {
    RandomCase c = MakeRandomCase(100 + seed, 150 + 10 * seed, 8);
    for (double lambda : {0.0, 0.3, 0.5, 0.9, 0.99}) {
      for (size_t pool : {size_t{1}, size_t{20}, size_t{5000}}) {
        for (uint32_t cap : {0u, 2u}) {
          const RerankOptions options{.lambda = lambda, .pool = pool, .category_cap = cap};
          std::vector<ScoredCandidate> out;
          std::vector<ScoredCandidate> expected;
          reranker.Rerank(c.candidates, 10, options, c.categories.JaccardSimilarity(),
                          c.categories.CategoriesAccessor(), &out);
          ref::Rerank(c.candidates, 10, options, c.categories.JaccardSimilarity(),
                      c.categories.CategoriesAccessor(), &expected);
          ASSERT_EQ(out, expected)
              << "seed " << seed << " lambda " << lambda << " pool " << pool << " cap " << cap;
          const size_t considered = std::min(pool, c.candidates.size());
          EXPECT_LE(reranker.last_similarity_calls(), 9 * considered);
          for (const ScoredCandidate& s : out) {
            EXPECT_LT(std::find(c.candidates.begin(), c.candidates.end(), s) - c.candidates.begin(),
                      static_cast<ptrdiff_t>(considered));
          }
        }
      }
    }
  }
}

TEST(RerankTest, HighLambdaVisitsFewCandidates) {
  // 2,000 candidates with spread-out scores and at most moderate similarity: a light diversity
  // weight only reorders the head, and the visit stops long before the tail.
  std::vector<ScoredCandidate> candidates;
  for (ItemId item = 0; item < 2000; ++item) {
    candidates.push_back({item, 1.0f - 0.0005f * static_cast<float>(item)});
  }
  auto sim = [](ItemId a, ItemId b) { return (a % 4) == (b % 4) ? 0.5f : 0.0f; };
  Reranker reranker;
  std::vector<ScoredCandidate> out;
  reranker.Rerank(candidates, 10, {.lambda = 0.9}, sim, nullptr, &out);
  EXPECT_EQ(out.size(), 10u);
  // Without the early stop the visit would make up to 9 * 2,000 calls, the plain loop ~90,000;
  // and only the head of the pool is ever put in order.
  EXPECT_LT(reranker.last_similarity_calls(), 2000u);
  EXPECT_LT(reranker.last_ordered(), 300u);
  std::vector<ScoredCandidate> expected;
  ref::Rerank(candidates, 10, {.lambda = 0.9}, sim, nullptr, &expected);
  EXPECT_EQ(out, expected);
}

TEST(RerankTest, SimilarityAboveOneCountsAsOne) {
  RandomCase c = MakeRandomCase(9, 300, 4);
  auto loose = [&](ItemId a, ItemId b) { return 3 * c.categories.Jaccard(a, b); };
  auto clamped = [&](ItemId a, ItemId b) { return std::min(3 * c.categories.Jaccard(a, b), 1.0f); };
  Reranker reranker;
  for (double lambda : {0.5, 0.9}) {
    std::vector<ScoredCandidate> out;
    std::vector<ScoredCandidate> expected;
    reranker.Rerank(c.candidates, 10, {.lambda = lambda}, loose, nullptr, &out);
    ref::Rerank(c.candidates, 10, {.lambda = lambda}, clamped, nullptr, &expected);
    EXPECT_EQ(out, expected) << lambda;
  }
}

TEST(RerankTest, EdgeCases) {
  Reranker reranker;
  std::vector<ScoredCandidate> out = {{1, 1}};
  reranker.Rerank({}, 10, {.lambda = 0.5}, NeverCalled(), nullptr, &out);
  EXPECT_TRUE(out.empty());
  const std::vector<ScoredCandidate> two = {{4, 1}, {2, 0}};
  reranker.Rerank(two, 0, {.lambda = 0.5}, NeverCalled(), nullptr, &out);
  EXPECT_TRUE(out.empty());
  // k beyond the pool: the whole pool.
  auto same = [](ItemId, ItemId) { return 1.0f; };
  reranker.Rerank(two, 10, {.lambda = 0.0}, same, nullptr, &out);
  EXPECT_EQ(Items(out), (std::vector<ItemId>{4, 2}));
}

}  // namespace
}  // namespace liverec
