#include "embed/row_admission.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/random.h"
#include "common/serialize.h"

namespace liverec {
namespace {

constexpr uint32_t kNoRow = RowAdmission::kNoRow;
constexpr int64_t kTtlMs = 1000;

std::string Saved(const RowAdmission& rows) {
  BinaryWriter out;
  rows.Save(&out);
  return out.Release();
}

// Every row below num_rows() is live or free; the live list and the id -> row map agree.
void ExpectConsistent(const RowAdmission& rows) {
  std::set<uint32_t> live;
  for (size_t k = 0; k < rows.num_live(); ++k) {
    const uint32_t row = rows.live_row(k);
    ASSERT_LT(row, rows.num_rows());
    EXPECT_EQ(rows.live_position(row), k);
    EXPECT_TRUE(live.insert(row).second) << "row " << row << " listed twice";
    ASSERT_NE(rows.id_of_row(row), kInvalidId);
    EXPECT_EQ(rows.Find(rows.id_of_row(row)), row);
  }
  for (uint32_t row = 0; row < rows.num_rows(); ++row) {
    if (live.count(row) == 0) {
      EXPECT_EQ(rows.id_of_row(row), kInvalidId) << "row " << row;
    }
  }
}

TEST(RowAdmissionTest, DefaultsMapEveryIdToItsOwnRow) {
  RowAdmission rows(AdmissionOptions{});
  ASSERT_TRUE(rows.dense());
  EXPECT_EQ(rows.Find(0), kNoRow);
  const RowAdmission::Touched touched = rows.Touch(5, 0);
  EXPECT_EQ(touched.row, 5u);
  EXPECT_FALSE(touched.fresh);  // the owner's table initializes new rows by id already
  EXPECT_EQ(rows.num_rows(), 6u);
  EXPECT_EQ(rows.num_live(), 6u);
  EXPECT_EQ(rows.Find(3), 3u);  // ids below the highest get rows too
  EXPECT_EQ(rows.Find(6), kNoRow);
  EXPECT_EQ(rows.Touch(2, -100).row, 2u);  // time never matters
  EXPECT_EQ(rows.num_rows(), 6u);
  EXPECT_EQ(rows.MemoryBytes(), 0u);
}

TEST(RowAdmissionTest, AnIdGetsARowOnItsMinCountThTouch) {
  RowAdmission rows(AdmissionOptions{.min_count = 3});
  ASSERT_FALSE(rows.dense());
  EXPECT_EQ(rows.Touch(7, 0).row, kNoRow);
  EXPECT_EQ(rows.Touch(9, 1).row, kNoRow);
  EXPECT_EQ(rows.Touch(7, 2).row, kNoRow);
  EXPECT_EQ(rows.Find(7), kNoRow);
  const RowAdmission::Touched third = rows.Touch(7, 3);
  EXPECT_EQ(third.row, 0u);
  EXPECT_TRUE(third.fresh);
  EXPECT_EQ(rows.Find(7), 0u);
  EXPECT_EQ(rows.Find(9), kNoRow);
  const RowAdmission::Touched fourth = rows.Touch(7, 4);
  EXPECT_EQ(fourth.row, 0u);
  EXPECT_FALSE(fourth.fresh);
  EXPECT_EQ(rows.Touch(9, 5).row, kNoRow);
  EXPECT_EQ(rows.Touch(9, 6).row, 1u);
  EXPECT_EQ(rows.num_rows(), 2u);
  ExpectConsistent(rows);
}

TEST(RowAdmissionTest, CountsHalveAfterEveryHalvingPeriodOfTouches) {
  constexpr uint32_t kPeriod = RowAdmission::kHalvingTouches;
  RowAdmission rows(AdmissionOptions{.min_count = 2});
  // Touch 0 of the stream counts id 1, then the other ids fill the period; its count halves
  // to 0 before touch kPeriod, which is its first again.
  EXPECT_EQ(rows.Touch(1, 0).row, kNoRow);
  for (uint32_t id = 2; id <= kPeriod; ++id) rows.Touch(id, 0);
  EXPECT_EQ(rows.Touch(1, 0).row, kNoRow);
  EXPECT_NE(rows.Touch(1, 0).row, kNoRow);
  // Within a period two touches suffice.
  EXPECT_EQ(rows.Touch(kPeriod + 1, 0).row, kNoRow);
  EXPECT_NE(rows.Touch(kPeriod + 1, 0).row, kNoRow);
}

TEST(RowAdmissionTest, AnEvictedIdThatStillHasItsCountGetsARowOnItsFirstTouchBack) {
  RowAdmission rows(AdmissionOptions{.min_count = 3, .idle_ttl_ms = kTtlMs});
  for (int64_t t = 0; t < 3; ++t) rows.Touch(5, t);
  ASSERT_NE(rows.Find(5), kNoRow);
  rows.Touch(6, 2000);  // evicts 5
  EXPECT_EQ(rows.Find(5), kNoRow);
  EXPECT_TRUE(rows.Touch(5, 2001).fresh);
}

TEST(RowAdmissionTest, RowsIdleLongerThanTheTtlAreEvictedAndReusedLastFreedFirst) {
  RowAdmission rows(AdmissionOptions{.idle_ttl_ms = kTtlMs});
  EXPECT_EQ(rows.Touch(10, 0).row, 0u);
  EXPECT_EQ(rows.Touch(11, 100).row, 1u);
  EXPECT_EQ(rows.Touch(12, 200).row, 2u);
  EXPECT_EQ(rows.Touch(11, 1000).row, 1u);  // 10 idle exactly the TTL: kept; 11 refreshed
  EXPECT_EQ(rows.Find(10), 0u);
  // At 1250, 10 (idle 1250) and 12 (idle 1050) go, 10 first; 11 stays. The new id takes the
  // row freed last.
  const RowAdmission::Touched touched = rows.Touch(13, 1250);
  EXPECT_EQ(touched.row, 2u);
  EXPECT_TRUE(touched.fresh);
  EXPECT_EQ(rows.Find(10), kNoRow);
  EXPECT_EQ(rows.Find(12), kNoRow);
  EXPECT_EQ(rows.Find(11), 1u);
  EXPECT_EQ(rows.id_of_row(0), kInvalidId);
  EXPECT_EQ(rows.num_evicted(), 2u);
  // A returning id is a new id: it takes the next free row, fresh.
  const RowAdmission::Touched back = rows.Touch(10, 1300);
  EXPECT_EQ(back.row, 0u);
  EXPECT_TRUE(back.fresh);
  EXPECT_EQ(rows.num_rows(), 3u);
  ExpectConsistent(rows);
}

TEST(RowAdmissionTest, AnIdIdleTooLongIsEvictedBeforeItsOwnTouch) {
  RowAdmission rows(AdmissionOptions{.idle_ttl_ms = kTtlMs});
  EXPECT_EQ(rows.Touch(4, 0).row, 0u);
  const RowAdmission::Touched again = rows.Touch(4, 5000);
  EXPECT_EQ(again.row, 0u);
  EXPECT_TRUE(again.fresh);  // its old row was evicted first, then given back afresh
  EXPECT_EQ(rows.num_evicted(), 1u);
}

TEST(RowAdmissionTest, OlderTouchesStampTheClockAndNeverEvictEarly) {
  RowAdmission rows(AdmissionOptions{.idle_ttl_ms = kTtlMs});
  rows.Touch(1, 5000);
  rows.Touch(2, 100);  // out of order (a shuffled epoch): stamped 5000
  EXPECT_EQ(rows.clock_ms(), 5000);
  rows.Touch(3, 5900);
  EXPECT_NE(rows.Find(2), kNoRow);
  rows.Touch(3, 6001);
  EXPECT_EQ(rows.Find(1), kNoRow);
  EXPECT_EQ(rows.Find(2), kNoRow);
  EXPECT_NE(rows.Find(3), kNoRow);
}

// The brute-force twin: the ids touched within the TTL, by last touch.
TEST(RowAdmissionTest, RowsAreExactlyTheIdsTouchedWithinTheTtl) {
  RowAdmission rows(AdmissionOptions{.idle_ttl_ms = kTtlMs});
  std::map<uint32_t, int64_t> last_touch;
  Random rng(3);
  int64_t now = 0;
  size_t peak = 0;
  for (int e = 0; e < 20000; ++e) {
    now += rng.Uniform(40);
    const uint32_t id = rng.Uniform(e % 1000 < 500 ? 50 : 5000);  // calm and busy phases
    for (auto it = last_touch.begin(); it != last_touch.end();) {
      it = now - it->second > kTtlMs ? last_touch.erase(it) : std::next(it);
    }
    last_touch[id] = now;
    peak = std::max(peak, last_touch.size());
    const uint32_t row = rows.Touch(id, now).row;
    ASSERT_NE(row, kNoRow);
    ASSERT_EQ(rows.num_live(), last_touch.size()) << "event " << e;
    if (e % 997 == 0) {
      for (const auto& [known, time] : last_touch) ASSERT_NE(rows.Find(known), kNoRow);
      ExpectConsistent(rows);
    }
  }
  EXPECT_EQ(rows.num_rows(), peak);  // freed rows are reused before new ones are made
}

// What a stream of endless new ids leaves behind: 1 M distinct ids, one every 10 ms, with a
// touch of one of 10 popular ids after every third of them.
struct StreamResult {
  size_t rows = 0;
  size_t bytes = 0;
  size_t popular_with_rows = 0;
};

StreamResult StreamDistinctIds(const AdmissionOptions& options) {
  constexpr uint32_t kDistinct = 1'000'000;
  constexpr uint32_t kPopular = 10;
  constexpr uint32_t kPopularEvery = 4;
  constexpr size_t kMeasureEvery = 65536;
  RowAdmission rows(options);
  size_t peak_bytes = 0;
  uint32_t next_id = kPopular;
  for (uint32_t e = 0; next_id < kPopular + kDistinct; ++e) {
    const int64_t time_ms = int64_t{e} * 10;
    const uint32_t id = e % kPopularEvery == 0 ? (e / kPopularEvery) % kPopular : next_id++;
    rows.Touch(id, time_ms);
    if (e % kMeasureEvery == 0) peak_bytes = std::max(peak_bytes, rows.MemoryBytes());
  }
  StreamResult result;
  result.rows = rows.num_rows();
  result.bytes = std::max(peak_bytes, rows.MemoryBytes());
  for (uint32_t id = 0; id < kPopular; ++id) result.popular_with_rows += rows.Find(id) != kNoRow;
  return result;
}

TEST(RowAdmissionTest, MemoryStaysBoundedOnAMillionDistinctIds) {
  // Without admission the rows would be the ids: 1 M rows.
  constexpr size_t kSketchBytes = size_t{RowAdmission::kSketchDepth}
                                  << RowAdmission::kSketchWidthBits;
  // Every id gets a row at once; a 1 s TTL keeps about the last 100 events' ids.
  const StreamResult ttl_only = StreamDistinctIds({.min_count = 1, .idle_ttl_ms = 1000});
  EXPECT_LE(ttl_only.rows, 200u);
  EXPECT_LE(ttl_only.bytes, 64u << 10);
  EXPECT_EQ(ttl_only.popular_with_rows, 10u);
  // One-off ids never get a row, bar the sketch's rare false positives; popular ones do.
  const StreamResult counted = StreamDistinctIds({.min_count = 2, .idle_ttl_ms = 60 * 60 * 1000});
  EXPECT_LE(counted.rows, 5000u);
  EXPECT_LE(counted.bytes, kSketchBytes + (1u << 20));
  EXPECT_EQ(counted.popular_with_rows, 10u);
}

std::vector<std::pair<uint32_t, int64_t>> RandomTouches(size_t n, uint64_t seed) {
  Random rng(seed);
  std::vector<std::pair<uint32_t, int64_t>> touches;
  int64_t now = 1'506'816'000'000;
  for (size_t e = 0; e < n; ++e) {
    now += rng.Uniform(30);
    touches.emplace_back(rng.Uniform(e % 3 == 0 ? 20 : 3000), now);
  }
  return touches;
}

constexpr AdmissionOptions kBounded{.min_count = 2, .idle_ttl_ms = kTtlMs};

TEST(RowAdmissionTest, SameTouchesGiveIdenticalBytes) {
  RowAdmission a(kBounded);
  RowAdmission b(kBounded);
  for (const auto& [id, time] : RandomTouches(5000, 4)) {
    const RowAdmission::Touched ta = a.Touch(id, time);
    const RowAdmission::Touched tb = b.Touch(id, time);
    ASSERT_EQ(ta.row, tb.row);
    ASSERT_EQ(ta.fresh, tb.fresh);
  }
  EXPECT_EQ(Saved(a), Saved(b));
  EXPECT_GT(a.num_evicted(), 0u);
}

TEST(RowAdmissionTest, SaveLoadThenContinueEqualsAnUninterruptedRun) {
  for (const AdmissionOptions& options :
       {AdmissionOptions{}, kBounded, AdmissionOptions{.min_count = 3}}) {
    const auto touches = RandomTouches(6000, 5);
    const size_t cut = 2500;
    RowAdmission uninterrupted(options);
    RowAdmission first(options);
    for (size_t e = 0; e < cut; ++e) first.Touch(touches[e].first, touches[e].second);
    const std::string bytes = Saved(first);
    RowAdmission resumed(options);
    for (const auto& [id, time] : RandomTouches(100, 6)) resumed.Touch(id, time);
    BinaryReader in(bytes);
    ASSERT_TRUE(resumed.Load(&in).ok());
    EXPECT_EQ(in.remaining(), 0u);
    EXPECT_EQ(Saved(resumed), bytes);
    for (size_t e = 0; e < touches.size(); ++e) {
      const RowAdmission::Touched expected =
          uninterrupted.Touch(touches[e].first, touches[e].second);
      if (e < cut) continue;
      const RowAdmission::Touched got = resumed.Touch(touches[e].first, touches[e].second);
      ASSERT_EQ(got.row, expected.row) << "touch " << e;
      ASSERT_EQ(got.fresh, expected.fresh) << "touch " << e;
    }
    EXPECT_EQ(Saved(resumed), Saved(uninterrupted));
    ExpectConsistent(resumed);
  }
}

TEST(RowAdmissionTest, EveryTruncationIsCorruptionAndLeavesTheStateUnchanged) {
  RowAdmission rows(kBounded);
  for (const auto& [id, time] : RandomTouches(300, 7)) rows.Touch(id, time);
  const std::string bytes = Saved(rows);
  RowAdmission target(kBounded);
  for (const auto& [id, time] : RandomTouches(200, 8)) target.Touch(id, time);
  const std::string target_bytes = Saved(target);
  // The sketch is most of the bytes; every short read fails the same way inside it.
  for (size_t len = 0; len < bytes.size(); len += len < 4096 ? 3 : 65521) {
    BinaryReader in(std::string_view(bytes).substr(0, len));
    EXPECT_EQ(target.Load(&in).code(), StatusCode::kCorruption) << "length " << len;
  }
  EXPECT_EQ(Saved(target), target_bytes);
}

TEST(RowAdmissionTest, InconsistentRowsAreCorruption) {
  RowAdmission rows(AdmissionOptions{.idle_ttl_ms = kTtlMs});
  rows.Touch(1, 0);
  rows.Touch(2, 10);
  std::string bytes = Saved(rows);
  // id_of_row starts after the header (tag, version, mode, clock, rows, evicted) and its
  // length; make row 1 claim id 1 too.
  const size_t second_owner = 4 + 4 + 1 + 8 + 8 + 8 + 8 + 4;
  const uint32_t one = 1;
  bytes.replace(second_owner, sizeof(one), reinterpret_cast<const char*>(&one), sizeof(one));
  RowAdmission target(AdmissionOptions{.idle_ttl_ms = kTtlMs});
  BinaryReader in(bytes);
  EXPECT_EQ(target.Load(&in).code(), StatusCode::kCorruption);
}

TEST(RowAdmissionTest, LoadingTheOtherModeIsInvalidArgument) {
  RowAdmission dense(AdmissionOptions{});
  dense.Touch(3, 0);
  RowAdmission bounded(kBounded);
  const std::string dense_bytes = Saved(dense);
  const std::string bounded_bytes = Saved(bounded);
  BinaryReader in(dense_bytes);
  EXPECT_EQ(bounded.Load(&in).code(), StatusCode::kInvalidArgument);
  BinaryReader back(bounded_bytes);
  EXPECT_EQ(dense.Load(&back).code(), StatusCode::kInvalidArgument);
}

TEST(RowAdmissionTest, LoadKeepsItsOwnOptions) {
  RowAdmission once(AdmissionOptions{.min_count = 1, .idle_ttl_ms = kTtlMs});
  once.Touch(1, 0);
  RowAdmission twice(AdmissionOptions{.min_count = 2, .idle_ttl_ms = 10 * kTtlMs});
  const std::string bytes = Saved(once);
  BinaryReader in(bytes);
  ASSERT_TRUE(twice.Load(&in).ok());
  EXPECT_EQ(twice.Find(1), 0u);
  EXPECT_EQ(twice.Touch(2, 5000).row, kNoRow);  // now counted first
  EXPECT_NE(twice.Find(1), kNoRow);             // and idle for 5 s under a 10 s TTL
}

}  // namespace
}  // namespace liverec
