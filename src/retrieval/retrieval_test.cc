#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <thread>
#include <vector>

#include "common/random.h"
#include "kernels/kernels.h"
#include "retrieval/exact_index.h"
#include "retrieval/hnsw_index.h"

#if defined(__SANITIZE_THREAD__)
// The only locks in this binary are hnswlib's: one per graph node and 65,536 more. Tracking
// their order (potential deadlocks, suppressed for hnswlib anyway, see hnsw_index.cc) takes
// ThreadSanitizer's deadlock detector 85% of the run time; data races are still detected.
extern "C" const char* __tsan_default_options() { return "detect_deadlocks=0"; }
#endif

namespace liverec {
namespace {

using ScoredId = VectorIndex::ScoredId;
using Filter = VectorIndex::Filter;

constexpr size_t kTopK = 10;
constexpr size_t kNumQueries = 200;
// Brief's target: recall@10 of HNSW against the exact scan.
constexpr double kMinRecall = 0.95;
// Lognormal sigma of item norms in MF-shaped data: norms spread over about 0.4x-2.7x.
constexpr double kMfNormSigma = 0.5;

// n row-major vectors of `dim` standard normal floats; with mf_shaped, each vector is scaled
// by exp(sigma * N(0, 1)), so norms vary like those of learned item factors.
std::vector<float> RandomVectors(size_t n, size_t dim, uint64_t seed, bool mf_shaped) {
  Random rng(seed);
  std::vector<float> v(n * dim);
  for (size_t i = 0; i < n; ++i) {
    const double scale = mf_shaped ? std::exp(kMfNormSigma * rng.Normal()) : 1.0;
    for (size_t d = 0; d < dim; ++d) v[i * dim + d] = static_cast<float>(scale * rng.Normal());
  }
  return v;
}

// The oracle: every candidate scored with Dot (the arithmetic the indexes use, bit for bit),
// sorted by score then id. vectors[id] is the vector of id when live[id].
std::vector<ScoredId> PlainTopK(const std::vector<std::vector<float>>& vectors,
                                const std::vector<bool>& live, const float* query, size_t k,
                                const Filter& allow) {
  std::vector<ScoredId> all;
  for (uint32_t id = 0; id < vectors.size(); ++id) {
    if (!live[id] || (allow && !allow(id))) continue;
    all.emplace_back(id, Dot(query, vectors[id].data(), vectors[id].size()));
  }
  std::sort(all.begin(), all.end(), [](const ScoredId& a, const ScoredId& b) {
    return a.second > b.second || (a.second == b.second && a.first < b.first);
  });
  if (all.size() > k) all.resize(k);
  return all;
}

std::vector<ScoredId> SearchOf(const VectorIndex& index, const float* query, size_t k,
                               const Filter& allow = {}) {
  std::vector<ScoredId> out;
  index.Search(query, k, allow, &out);
  return out;
}

std::vector<uint32_t> IdsOf(const std::vector<ScoredId>& results) {
  std::vector<uint32_t> ids;
  for (const ScoredId& r : results) ids.push_back(r.first);
  return ids;
}

// Mean over queries of |approx top-k ∩ exact top-k| / |exact top-k|.
double MeanRecall(const VectorIndex& approx, const VectorIndex& exact,
                  const std::vector<float>& queries, size_t k, const Filter& allow = {}) {
  const size_t dim = exact.dim();
  const size_t num_queries = queries.size() / dim;
  double sum = 0;
  for (size_t q = 0; q < num_queries; ++q) {
    std::vector<uint32_t> want = IdsOf(SearchOf(exact, &queries[q * dim], k, allow));
    std::vector<uint32_t> got = IdsOf(SearchOf(approx, &queries[q * dim], k, allow));
    std::sort(want.begin(), want.end());
    std::sort(got.begin(), got.end());
    std::vector<uint32_t> common;
    std::set_intersection(want.begin(), want.end(), got.begin(), got.end(),
                          std::back_inserter(common));
    sum += want.empty() ? 1.0 : static_cast<double>(common.size()) / want.size();
  }
  return sum / static_cast<double>(num_queries);
}

// Every result's score is the exact inner product and results are sorted best first.
void ExpectExactScoresBestFirst(const ExactIndex& exact, const float* query,
                                const std::vector<ScoredId>& results) {
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].second, Dot(query, exact.row(results[i].first), exact.dim()));
    if (i > 0) {
      EXPECT_GE(results[i - 1].second, results[i].second);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// ExactIndex against hand-computed answers and the plain loop.

TEST(ExactIndexTest, ReturnsHandComputedTopKBestFirst) {
  ExactIndex index(3);
  const float v0[] = {1, 0, 0}, v1[] = {0, 2, 0}, v2[] = {1, 1, 1}, v3[] = {-1, 0, 3};
  index.Upsert(0, v0);
  index.Upsert(1, v1);
  index.Upsert(2, v2);
  index.Upsert(3, v3);
  const float query[] = {2, 1, -1};  // scores: 2, 2, 2, -5
  const float query2[] = {1, 3, 2};  // scores: 1, 6, 6, 5
  EXPECT_EQ(SearchOf(index, query2, 3), (std::vector<ScoredId>{{1, 6.0f}, {2, 6.0f}, {3, 5.0f}}));
  EXPECT_EQ(SearchOf(index, query, 2), (std::vector<ScoredId>{{0, 2.0f}, {1, 2.0f}}));
  EXPECT_EQ(index.size(), 4u);
  EXPECT_EQ(index.dim(), 3u);
}

TEST(ExactIndexTest, EqualScoresComeOutInAscendingIdOrderAcrossBlocks) {
  constexpr uint32_t kNumIds = 1000;  // several 256-id scoring blocks
  ExactIndex index(2);
  const float same[] = {1, 1};
  // Inserted in descending order: the order of results must not depend on insertion order.
  for (uint32_t id = kNumIds; id-- > 0;) index.Upsert(id, same);
  const float better[] = {2, 2};
  index.Upsert(700, better);
  const float query[] = {1, 1};
  EXPECT_EQ(SearchOf(index, query, 4),
            (std::vector<ScoredId>{{700, 4.0f}, {0, 2.0f}, {1, 2.0f}, {2, 2.0f}}));
}

TEST(ExactIndexTest, KLargerThanSizeReturnsEveryLiveIdAndZeroKReturnsNothing) {
  ExactIndex index(1);
  const float a[] = {3}, b[] = {-1}, c[] = {2};
  index.Upsert(5, a);  // ids need not be dense or in order
  index.Upsert(2, b);
  index.Upsert(9, c);
  const float query[] = {1};
  EXPECT_EQ(SearchOf(index, query, 100), (std::vector<ScoredId>{{5, 3.0f}, {9, 2.0f}, {2, -1.0f}}));
  EXPECT_TRUE(SearchOf(index, query, 0).empty());
  EXPECT_EQ(index.size(), 3u);
  EXPECT_EQ(index.num_ids(), 10u);
  EXPECT_FALSE(index.contains(3));
}

TEST(ExactIndexTest, EmptyIndexReturnsNothing) {
  ExactIndex index(4);
  const float query[] = {1, 2, 3, 4};
  std::vector<ScoredId> out = {{1, 1.0f}};  // stale contents are replaced
  index.Search(query, kTopK, {}, &out);
  EXPECT_TRUE(out.empty());
}

TEST(ExactIndexTest, RemovedIdsAreNeverReturnedUntilUpsertedAgain) {
  ExactIndex index(1);
  const float values[] = {5, 4, 3, 2};
  for (uint32_t id = 0; id < 4; ++id) index.Upsert(id, &values[id]);
  index.Remove(0);
  index.Remove(0);   // already removed: no-op
  index.Remove(42);  // never inserted: no-op
  const float query[] = {1};
  EXPECT_EQ(SearchOf(index, query, 2), (std::vector<ScoredId>{{1, 4.0f}, {2, 3.0f}}));
  EXPECT_EQ(index.size(), 3u);
  const float revived[] = {1};
  index.Upsert(0, revived);
  EXPECT_EQ(SearchOf(index, query, 10),
            (std::vector<ScoredId>{{1, 4.0f}, {2, 3.0f}, {3, 2.0f}, {0, 1.0f}}));
  EXPECT_EQ(index.size(), 4u);
}

TEST(ExactIndexTest, UpsertReplacesTheVector) {
  ExactIndex index(2);
  const float before[] = {1, 0}, after[] = {0, 7}, other[] = {2, 2};
  index.Upsert(0, before);
  index.Upsert(1, other);
  index.Upsert(0, after);
  const float query[] = {0, 1};
  EXPECT_EQ(SearchOf(index, query, 1), (std::vector<ScoredId>{{0, 7.0f}}));
  EXPECT_EQ(index.size(), 2u);
}

TEST(ExactIndexTest, AllowFilterRestrictsResults) {
  ExactIndex index(1);
  for (uint32_t id = 0; id < 10; ++id) {
    const float value = static_cast<float>(id);
    index.Upsert(id, &value);
  }
  const float query[] = {1};
  const Filter odd = [](uint32_t id) { return id % 2 == 1; };
  EXPECT_EQ(SearchOf(index, query, 3, odd),
            (std::vector<ScoredId>{{9, 9.0f}, {7, 7.0f}, {5, 5.0f}}));
  const Filter none = [](uint32_t) { return false; };
  EXPECT_TRUE(SearchOf(index, query, 3, none).empty());
}

TEST(ExactIndexTest, UpsertBatchEqualsUpsertsInOrder) {
  constexpr size_t kDim = 5;
  constexpr size_t kStride = 8;                    // wider than dim, like an embedding table's rows
  const std::vector<uint32_t> ids = {4, 0, 7, 4};  // a repeated id: the last vector wins
  std::vector<float> rows(ids.size() * kStride, -99.0f);
  Random rng(3);
  for (size_t i = 0; i < ids.size(); ++i) {
    for (size_t d = 0; d < kDim; ++d) rows[i * kStride + d] = static_cast<float>(rng.Normal());
  }
  ExactIndex batch(kDim);
  batch.UpsertBatch(ids.data(), ids.size(), rows.data(), kStride);
  ExactIndex single(kDim);
  for (size_t i = 0; i < ids.size(); ++i) single.Upsert(ids[i], &rows[i * kStride]);
  EXPECT_EQ(batch.size(), 3u);
  const std::vector<float> query = RandomVectors(1, kDim, 4, false);
  EXPECT_EQ(SearchOf(batch, query.data(), 10), SearchOf(single, query.data(), 10));
  for (uint32_t id : {0u, 4u, 7u}) {
    EXPECT_TRUE(std::equal(batch.row(id), batch.row(id) + kDim, single.row(id)));
  }
}

TEST(ExactIndexTest, MatchesPlainLoopWithGapsRemovalsAndFilters) {
  constexpr size_t kDim = 24;  // not a multiple of 16: rows carry padding
  constexpr uint32_t kIdSpace = 3000;
  Random rng(11);
  ExactIndex index(kDim);
  std::vector<std::vector<float>> vectors(kIdSpace, std::vector<float>(kDim));
  std::vector<bool> live(kIdSpace, false);
  // Random upserts (some ids twice, some never), then removals of a tenth.
  for (int step = 0; step < 4000; ++step) {
    const uint32_t id = rng.Uniform(kIdSpace);
    for (float& x : vectors[id]) x = static_cast<float>(rng.Normal());
    index.Upsert(id, vectors[id].data());
    live[id] = true;
  }
  for (int step = 0; step < 300; ++step) {
    const uint32_t id = rng.Uniform(kIdSpace);
    index.Remove(id);
    live[id] = false;
  }
  EXPECT_EQ(index.size(), static_cast<size_t>(std::count(live.begin(), live.end(), true)));
  const Filter every_third = [](uint32_t id) { return id % 3 == 0; };
  const std::vector<float> queries = RandomVectors(20, kDim, 12, false);
  for (size_t q = 0; q < 20; ++q) {
    const float* query = &queries[q * kDim];
    for (size_t k : {1u, 10u, 300u, 5000u}) {
      EXPECT_EQ(SearchOf(index, query, k), PlainTopK(vectors, live, query, k, {}));
      EXPECT_EQ(SearchOf(index, query, k, every_third),
                PlainTopK(vectors, live, query, k, every_third));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// HnswIndex against ExactIndex.

constexpr size_t kHnswDim = 32;
constexpr uint32_t kHnswItems = 20'000;

// An HNSW index and its exact twin built from the same seeded vectors.
struct Built {
  explicit Built(bool mf_shaped, uint32_t num_items = kHnswItems)
      : hnsw(kHnswDim, HnswIndexOptions()), exact(kHnswDim) {
    const std::vector<float> v = RandomVectors(num_items, kHnswDim, 21, mf_shaped);
    std::vector<uint32_t> ids(num_items);
    for (uint32_t id = 0; id < num_items; ++id) ids[id] = id;
    hnsw.UpsertBatch(ids.data(), ids.size(), v.data(), kHnswDim);
    exact.UpsertBatch(ids.data(), ids.size(), v.data(), kHnswDim);
    queries = RandomVectors(kNumQueries, kHnswDim, 22, false);
  }
  const float* query(size_t q) const { return &queries[q * kHnswDim]; }

  HnswIndex hnsw;
  ExactIndex exact;
  std::vector<float> queries;
};

// An MF-shaped 20 K index built once for the tests that only search it (builds dominate the
// run time of this binary). Never destroyed, so no test sees it half torn down.
const Built& SharedMfShaped() {
  static const Built* const built = new Built(true);
  return *built;
}

TEST(HnswIndexTest, RecallAtTenIsHighOnRandomNormalVectors) {
  Built b(false);
  EXPECT_EQ(b.hnsw.size(), kHnswItems);
  EXPECT_EQ(b.hnsw.num_nodes(), kHnswItems);
  EXPECT_GE(MeanRecall(b.hnsw, b.exact, b.queries, kTopK), kMinRecall);
  for (size_t q = 0; q < 20; ++q) {
    HnswSearchStats stats;
    std::vector<ScoredId> out;
    b.hnsw.Search(b.query(q), kTopK, {}, &out, &stats);
    ASSERT_EQ(out.size(), kTopK);
    EXPECT_FALSE(stats.exact);
    EXPECT_EQ(stats.graph_searches, 1u);
    EXPECT_EQ(stats.last_ef, HnswIndexOptions().ef_search);
    ExpectExactScoresBestFirst(b.hnsw.exact(), b.query(q), out);
  }
}

TEST(HnswIndexTest, RecallStaysHighOnMfShapedVectorsAfterTenPercentChange) {
  Built b(true);
  EXPECT_GE(MeanRecall(b.hnsw, b.exact, b.queries, kTopK), kMinRecall);
  // Replace a tenth of the vectors by new ones of the same distribution.
  Random rng(23);
  const std::vector<float> fresh = RandomVectors(kHnswItems / 10, kHnswDim, 24, true);
  for (size_t i = 0; i < kHnswItems / 10; ++i) {
    const uint32_t id = rng.Uniform(kHnswItems);
    b.hnsw.Upsert(id, &fresh[i * kHnswDim]);
    b.exact.Upsert(id, &fresh[i * kHnswDim]);
  }
  EXPECT_EQ(b.hnsw.num_nodes(), kHnswItems);         // replaced in place
  EXPECT_GT(b.hnsw.num_relinks(), kHnswItems / 20);  // new vectors: their links re-chosen
  EXPECT_GE(MeanRecall(b.hnsw, b.exact, b.queries, kTopK), kMinRecall);
  for (size_t q = 0; q < 20; ++q) {
    ExpectExactScoresBestFirst(b.hnsw.exact(), b.query(q), SearchOf(b.hnsw, b.query(q), kTopK));
  }
}

// A copy of id's vector moved by `fraction` of its norm in a random direction.
std::vector<float> Drifted(const ExactIndex& exact, uint32_t id, double fraction, Random* rng) {
  const float* old = exact.row(id);
  std::vector<float> direction(exact.dim());
  for (float& x : direction) x = static_cast<float>(rng->Normal());
  const double scale = fraction * std::sqrt(Dot(old, old, exact.dim()) /
                                            Dot(direction.data(), direction.data(), exact.dim()));
  std::vector<float> moved(old, old + exact.dim());
  for (size_t d = 0; d < moved.size(); ++d) moved[d] += static_cast<float>(scale * direction[d]);
  return moved;
}

TEST(HnswIndexTest, SmallChangesAreWrittenInPlaceUntilTheyAddUp) {
  Built b(true, 5000);
  Random rng(25);
  // Every vector moves by 10% twice: 0.2 < repair_drift = 0.25, so no links are re-chosen.
  for (int round = 0; round < 2; ++round) {
    for (uint32_t id = 0; id < 5000; ++id) {
      const std::vector<float> moved = Drifted(b.exact, id, 0.1, &rng);
      b.hnsw.Upsert(id, moved.data());
      b.exact.Upsert(id, moved.data());
    }
  }
  EXPECT_EQ(b.hnsw.num_relinks(), 0u);
  EXPECT_GE(MeanRecall(b.hnsw, b.exact, b.queries, kTopK), kMinRecall);
  for (size_t q = 0; q < 20; ++q) {
    const std::vector<ScoredId> got = SearchOf(b.hnsw, b.query(q), kTopK);
    ExpectExactScoresBestFirst(b.exact, b.query(q), got);  // the new vectors' scores
  }
  // A third 10% step of one id crosses the threshold.
  const std::vector<float> moved = Drifted(b.exact, 7, 0.1, &rng);
  b.hnsw.Upsert(7, moved.data());
  EXPECT_EQ(b.hnsw.num_relinks(), 1u);
  // A vector far from its old place is found where it now is.
  const std::vector<float> far = Drifted(b.exact, 8, 10.0, &rng);
  b.hnsw.Upsert(8, far.data());
  EXPECT_EQ(b.hnsw.num_relinks(), 2u);
  EXPECT_EQ(SearchOf(b.hnsw, far.data(), 1)[0].first, 8u);
}

TEST(HnswIndexTest, RemovedIdsAreNeverReturned) {
  Built b(false);
  // Remove the exact best answers of the first queries (the ids the graph would find first)
  // and a tenth of all ids.
  std::vector<bool> removed(kHnswItems, false);
  for (size_t q = 0; q < 50; ++q) {
    for (const ScoredId& r : SearchOf(b.exact, b.query(q), 3)) removed[r.first] = true;
  }
  for (uint32_t id = 0; id < kHnswItems; id += 10) removed[id] = true;
  for (uint32_t id = 0; id < kHnswItems; ++id) {
    if (!removed[id]) continue;
    b.hnsw.Remove(id);
    b.exact.Remove(id);
  }
  EXPECT_EQ(b.hnsw.size(), b.exact.size());
  for (size_t q = 0; q < kNumQueries; ++q) {
    for (const ScoredId& r : SearchOf(b.hnsw, b.query(q), kTopK)) {
      EXPECT_FALSE(removed[r.first]) << "query " << q << " returned removed id " << r.first;
    }
  }
  EXPECT_GE(MeanRecall(b.hnsw, b.exact, b.queries, kTopK), kMinRecall);
  // Upserting brings an id back, with an unchanged vector too.
  const uint32_t best = SearchOf(b.exact, b.query(0), 1)[0].first;
  b.hnsw.Remove(best);
  EXPECT_NE(SearchOf(b.hnsw, b.query(0), kTopK)[0].first, best);
  b.hnsw.Upsert(best, b.hnsw.exact().row(best));
  EXPECT_EQ(SearchOf(b.hnsw, b.query(0), kTopK)[0].first, best);
}

TEST(HnswIndexTest, SelectiveFilterStillReturnsExactTopK) {
  const Built& b = SharedMfShaped();
  const Filter one_percent = [](uint32_t id) { return id % 100 == 7; };
  size_t num_exact = 0;
  for (size_t q = 0; q < kNumQueries; ++q) {
    HnswSearchStats stats;
    std::vector<ScoredId> out;
    b.hnsw.Search(b.query(q), kTopK, one_percent, &out, &stats);
    EXPECT_EQ(out, SearchOf(b.exact, b.query(q), kTopK, one_percent)) << "query " << q;
    num_exact += stats.exact;
  }
  // The first candidate list shows a ~1% pass rate: a retry would need ef ~10,000.
  EXPECT_EQ(num_exact, kNumQueries);
}

TEST(HnswIndexTest, ModerateFilterRetriesTheGraphWithLargerEf) {
  const Built& b = SharedMfShaped();
  const Filter quarter = [](uint32_t id) { return id % 4 == 0; };
  size_t num_retried = 0;
  size_t num_exact = 0;
  for (size_t q = 0; q < kNumQueries; ++q) {
    HnswSearchStats stats;
    std::vector<ScoredId> out;
    b.hnsw.Search(b.query(q), kTopK, quarter, &out, &stats);
    ASSERT_EQ(out.size(), kTopK);
    for (const ScoredId& r : out) EXPECT_EQ(r.first % 4, 0u);
    ExpectExactScoresBestFirst(b.hnsw.exact(), b.query(q), out);
    num_exact += stats.exact;
    num_retried += stats.graph_searches == 2;
  }
  // ~25 of ef_search = 100 candidates pass: one retry with ef ~400 (< max_filtered_ef), which
  // keeps the unfiltered recall at the depth (~40) where the 10 best allowed ids sit.
  EXPECT_GE(num_retried, kNumQueries * 9 / 10);
  EXPECT_LE(num_exact, kNumQueries / 10);
  EXPECT_GE(MeanRecall(b.hnsw, b.exact, b.queries, kTopK, quarter), kMinRecall);
  // A filter passing nearly everything needs no retry.
  const Filter most = [](uint32_t id) { return id % 10 != 0; };
  for (size_t q = 0; q < 20; ++q) {
    HnswSearchStats stats;
    std::vector<ScoredId> out;
    b.hnsw.Search(b.query(q), kTopK, most, &out, &stats);
    EXPECT_EQ(stats.graph_searches, 1u);
    EXPECT_FALSE(stats.exact);
  }
}

TEST(HnswIndexTest, IndexSmallerThanEfIsAnsweredExactly) {
  Built b(false, 50);
  for (size_t q = 0; q < 10; ++q) {
    HnswSearchStats stats;
    std::vector<ScoredId> out;
    b.hnsw.Search(b.query(q), kTopK, {}, &out, &stats);
    EXPECT_TRUE(stats.exact);
    EXPECT_EQ(out, SearchOf(b.exact, b.query(q), kTopK));
  }
  HnswIndex empty(kHnswDim, HnswIndexOptions());
  EXPECT_TRUE(SearchOf(empty, b.query(0), kTopK).empty());
}

TEST(HnswIndexTest, LargeKIsServedByARaisedEf) {
  Built b(false, 5000);
  constexpr size_t kLargeK = 100;  // above ef_search = 64
  HnswSearchStats stats;
  std::vector<ScoredId> out;
  b.hnsw.Search(b.query(0), kLargeK, {}, &out, &stats);
  EXPECT_EQ(out.size(), kLargeK);
  EXPECT_EQ(stats.last_ef, kLargeK);
  EXPECT_GE(MeanRecall(b.hnsw, b.exact, b.queries, kLargeK), kMinRecall);
}

TEST(HnswIndexTest, BelowMinGraphItemsSearchesAreExactAndTheGraphComesAtTheThreshold) {
  constexpr uint32_t kThreshold = 3000;
  HnswIndexOptions options;
  options.min_graph_items = kThreshold;
  HnswIndex hnsw(kHnswDim, options);
  ExactIndex exact(kHnswDim);
  const std::vector<float> v = RandomVectors(2 * kThreshold, kHnswDim, 41, true);
  const std::vector<float> queries = RandomVectors(kNumQueries, kHnswDim, 42, false);
  // Before the graph: removals, revivals and replacements touch the twin only, and every
  // search equals the exact one (scores and order too).
  for (uint32_t id = 0; id + 1 < kThreshold; ++id) {
    hnsw.Upsert(id, &v[id * kHnswDim]);
    exact.Upsert(id, &v[id * kHnswDim]);
  }
  for (uint32_t id = 0; id + 1 < kThreshold; id += 7) {
    hnsw.Remove(id);
    exact.Remove(id);
  }
  for (uint32_t id = 0; id + 1 < kThreshold; id += 21) {  // a third of the removed come back
    hnsw.Upsert(id, &v[(kThreshold + id) * kHnswDim]);
    exact.Upsert(id, &v[(kThreshold + id) * kHnswDim]);
  }
  EXPECT_FALSE(hnsw.graph_built());
  EXPECT_EQ(hnsw.num_nodes(), 0u);
  const Filter odd = [](uint32_t id) { return id % 2 == 1; };
  for (size_t q = 0; q < kNumQueries; ++q) {
    HnswSearchStats stats;
    std::vector<ScoredId> out;
    hnsw.Search(&queries[q * kHnswDim], kTopK, {}, &out, &stats);
    EXPECT_TRUE(stats.exact);
    EXPECT_EQ(out, SearchOf(exact, &queries[q * kHnswDim], kTopK));
    EXPECT_EQ(SearchOf(hnsw, &queries[q * kHnswDim], kTopK, odd),
              SearchOf(exact, &queries[q * kHnswDim], kTopK, odd));
  }
  // Upserts until the live count reaches the threshold build the graph over the live ids.
  uint32_t next = kThreshold - 1;
  while (!hnsw.graph_built()) {
    hnsw.Upsert(next, &v[next * kHnswDim]);
    exact.Upsert(next, &v[next * kHnswDim]);
    ++next;
  }
  EXPECT_EQ(hnsw.size(), kThreshold);
  EXPECT_EQ(hnsw.num_nodes(), kThreshold);
  for (; next < 2 * kThreshold; ++next) {
    hnsw.Upsert(next, &v[next * kHnswDim]);
    exact.Upsert(next, &v[next * kHnswDim]);
  }
  // Removed before the graph: never returned; removed after it: never returned either.
  for (uint32_t id = 1; id < 2 * kThreshold; id += 11) {
    hnsw.Remove(id);
    exact.Remove(id);
  }
  EXPECT_EQ(hnsw.size(), exact.size());
  size_t num_graph = 0;
  for (size_t q = 0; q < kNumQueries; ++q) {
    HnswSearchStats stats;
    std::vector<ScoredId> out;
    hnsw.Search(&queries[q * kHnswDim], kTopK, {}, &out, &stats);
    num_graph += !stats.exact;
    for (const ScoredId& r : out) EXPECT_TRUE(exact.contains(r.first)) << r.first;
    ExpectExactScoresBestFirst(hnsw.exact(), &queries[q * kHnswDim], out);
  }
  EXPECT_EQ(num_graph, kNumQueries);
  EXPECT_GE(MeanRecall(hnsw, exact, queries, kTopK), kMinRecall);
}

TEST(HnswIndexTest, SparseIdsGrowTheIndex) {
  HnswIndex index(2, HnswIndexOptions());
  Random rng(31);
  std::vector<uint32_t> ids;
  for (uint32_t i = 0; i < 3000; ++i) ids.push_back(i * 1000 + 7);  // past several doublings
  for (uint32_t id : ids) {
    const float v[] = {static_cast<float>(rng.Normal()), static_cast<float>(rng.Normal())};
    index.Upsert(id, v);
  }
  EXPECT_EQ(index.size(), ids.size());
  EXPECT_EQ(index.exact().num_ids(), size_t{ids.back()} + 1);
  const float query[] = {1, 0};
  EXPECT_EQ(SearchOf(index, query, 1), SearchOf(index.exact(), query, 1));
}

TEST(HnswIndexTest, SameUpsertsInSameOrderGiveSameResults) {
  Built a(true, 3000);
  Built b(true, 3000);
  for (size_t q = 0; q < kNumQueries; ++q) {
    EXPECT_EQ(SearchOf(a.hnsw, a.query(q), kTopK), SearchOf(b.hnsw, b.query(q), kTopK));
  }
}

TEST(HnswIndexTest, ConcurrentSearchesMatchSingleThreaded) {
  constexpr size_t kThreads = 4;
  Built b(true, 2000);  // small: this test also runs under ThreadSanitizer
  const Filter half = [](uint32_t id) { return id % 2 == 0; };
  // Half the queries filtered, so retries and exact fallbacks run concurrently too.
  const Filter one_percent = [](uint32_t id) { return id % 100 == 3; };
  const Filter all;
  auto filter_of = [&](size_t q) -> const Filter& {
    return q % 3 == 0 ? all : (q % 3 == 1 ? half : one_percent);
  };
  std::vector<std::vector<ScoredId>> want(kNumQueries);
  for (size_t q = 0; q < kNumQueries; ++q) {
    want[q] = SearchOf(b.hnsw, b.query(q), kTopK, filter_of(q));
  }

  std::vector<std::vector<std::vector<ScoredId>>> got(
      kThreads, std::vector<std::vector<ScoredId>>(kNumQueries));
  std::vector<std::thread> threads;
  for (size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Each thread walks the queries from a different start, so they overlap in time.
      for (size_t i = 0; i < kNumQueries; ++i) {
        const size_t q = (i + t * kNumQueries / kThreads) % kNumQueries;
        b.hnsw.Search(b.query(q), kTopK, filter_of(q), &got[t][q]);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (size_t t = 0; t < kThreads; ++t) {
    for (size_t q = 0; q < kNumQueries; ++q) EXPECT_EQ(got[t][q], want[q]) << t << " " << q;
  }
}

}  // namespace
}  // namespace liverec
