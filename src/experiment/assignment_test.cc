#include "experiment/assignment.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace liverec {
namespace {

// Computed independently: int.from_bytes(hashlib.sha256(salt + b"\0" + user).digest()[:8],
// "big") % 10000 in Python.
TEST(AssignmentBucketTest, MatchesThePublishedVectors) {
  EXPECT_EQ(AssignmentBucket("", ""), 3192u);
  EXPECT_EQ(AssignmentBucket("exp1", "u1"), 3979u);
  EXPECT_EQ(AssignmentBucket("exp1", "u2"), 2823u);
  EXPECT_EQ(AssignmentBucket("checkout-2026", "alice"), 8150u);
  EXPECT_EQ(AssignmentBucket("s", "\xc3\xa9l\xc3\xa8ve"), 3472u);
}

TEST(AssignmentBucketTest, SpreadsSimilarIdsEvenly) {
  constexpr int kUsers = 100000;
  std::vector<int> tenths(10, 0);
  for (int u = 0; u < kUsers; ++u)
    ++tenths[AssignmentBucket("salt", "u" + std::to_string(u)) / 1000];
  // Each tenth expects 10000 users, sd ~95: 5 sd either way.
  for (int count : tenths) EXPECT_NEAR(count, kUsers / 10, 475);
  // Another salt re-buckets users independently of the first.
  int same_half = 0;
  for (int u = 0; u < 10000; ++u) {
    const std::string user = "u" + std::to_string(u);
    same_half += (AssignmentBucket("a", user) < 5000) == (AssignmentBucket("b", user) < 5000);
  }
  EXPECT_NEAR(same_half, 5000, 250);
}

TEST(BucketCountsTest, RoundsByLargestRemainder) {
  EXPECT_EQ(BucketCounts(std::vector<double>{0.5, 0.5}).value(),
            (std::vector<uint32_t>{5000, 5000}));
  EXPECT_EQ(BucketCounts(std::vector<double>{1.0 / 3, 1.0 / 3, 1.0 / 3}).value(),
            (std::vector<uint32_t>{3334, 3333, 3333}));
  EXPECT_EQ(BucketCounts(std::vector<double>{0.95, 0.05}).value(),
            (std::vector<uint32_t>{9500, 500}));
}

TEST(BucketCountsTest, NamesTheBadShare) {
  Status s = BucketCounts(std::vector<double>{0.5, 1.5}).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("shares[1]"), std::string::npos) << s.message();
  s = BucketCounts(std::vector<double>{0.5, 0.4}).status();
  EXPECT_NE(s.message().find("sum to 0.9"), std::string::npos) << s.message();
  EXPECT_FALSE(BucketCounts(std::vector<double>{}).ok());
  EXPECT_FALSE(BucketCounts(std::vector<double>{std::nan(""), 1}).ok());
}

std::vector<uint32_t> Arms(const BucketAllocation& allocation) {
  std::vector<uint32_t> arms(kAssignmentBuckets);
  for (uint32_t b = 0; b < kAssignmentBuckets; ++b) arms[b] = allocation.ArmOf(b);
  return arms;
}

TEST(BucketAllocationTest, RampMovesOnlyTheShrinkingArmsExcess) {
  BucketAllocation allocation =
      BucketAllocation::Create(std::vector<double>{0.2, 0.3, 0.5}).value();
  const std::vector<uint32_t> before = Arms(allocation);
  ASSERT_TRUE(allocation.Ramp(std::vector<double>{0.2, 0.1, 0.7}).ok());
  const std::vector<uint32_t> after = Arms(allocation);
  int moved = 0;
  for (uint32_t b = 0; b < kAssignmentBuckets; ++b) {
    if (before[b] == after[b]) continue;
    ++moved;
    EXPECT_EQ(before[b], 1u);  // only arm 1 shrank
    EXPECT_EQ(after[b], 2u);   // only arm 2 grew
  }
  EXPECT_EQ(moved, 2000);
  EXPECT_EQ(allocation.BucketsOf(0), 2000u);
  EXPECT_EQ(allocation.BucketsOf(1), 1000u);
  EXPECT_EQ(allocation.BucketsOf(2), 7000u);
}

TEST(BucketAllocationTest, RampUpAndBackKeepsEveryoneElse) {
  // A 1 % treatment ramped to 10 % and then 50 %: each step moves exactly the new share.
  BucketAllocation allocation = BucketAllocation::Create(std::vector<double>{1.0}).value();
  ASSERT_TRUE(allocation.Ramp(std::vector<double>{0.99, 0.01}).ok());
  std::vector<uint32_t> previous = Arms(allocation);
  for (double share : {0.10, 0.50}) {
    ASSERT_TRUE(allocation.Ramp(std::vector<double>{1 - share, share}).ok());
    const std::vector<uint32_t> now = Arms(allocation);
    for (uint32_t b = 0; b < kAssignmentBuckets; ++b) {
      if (previous[b] == 1) {
        EXPECT_EQ(now[b], 1u) << "a treated user left the treatment";
      }
    }
    EXPECT_EQ(allocation.BucketsOf(1), static_cast<uint32_t>(share * kAssignmentBuckets));
    previous = now;
  }
}

TEST(BucketAllocationTest, RefusesFewerArmsAndBadSharesUnchanged) {
  BucketAllocation allocation = BucketAllocation::Create(std::vector<double>{0.5, 0.5}).value();
  const BucketAllocation before = allocation;
  EXPECT_FALSE(allocation.Ramp(std::vector<double>{1.0}).ok());
  EXPECT_FALSE(allocation.Ramp(std::vector<double>{0.7, 0.7}).ok());
  EXPECT_EQ(allocation, before);
}

TEST(BucketAllocationTest, SaveLoadRoundTripsAndRefusesDamage) {
  BucketAllocation allocation = BucketAllocation::Create(std::vector<double>{0.3, 0.7}).value();
  ASSERT_TRUE(allocation.Ramp(std::vector<double>{0.6, 0.4}).ok());
  BinaryWriter out;
  allocation.Save(&out);
  BinaryReader in(out.data());
  StatusOr<BucketAllocation> loaded = BucketAllocation::Load(&in);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(*loaded, allocation);

  std::string bytes = out.data();
  bytes[bytes.size() - 1] = 7;  // the last bucket names an arm that does not exist
  BinaryReader damaged(bytes);
  EXPECT_EQ(BucketAllocation::Load(&damaged).status().code(), StatusCode::kCorruption);
  BinaryReader truncated(std::string_view(out.data()).substr(0, 20));
  EXPECT_FALSE(BucketAllocation::Load(&truncated).ok());
}

}  // namespace
}  // namespace liverec
