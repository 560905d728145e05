#include "serve/ingest_sizes.h"

#include <gtest/gtest.h>

namespace liverec {
namespace {

TEST(IngestBodySizesTest, NothingIsEstimatedBeforeABodyWasSeen) {
  IngestBodySizes sizes;
  EXPECT_EQ(sizes.LeastLikelyEvents(1 << 20), 0u);
  sizes.Observe(0, 10);
  sizes.Observe(1000, 0);
  EXPECT_EQ(sizes.LeastLikelyEvents(1 << 20), 0u);
}

TEST(IngestBodySizesTest, EstimatesHalfTheEventsOfAverageSize) {
  IngestBodySizes sizes;
  sizes.Observe(100000, 1000);  // 100 bytes an event
  EXPECT_EQ(sizes.LeastLikelyEvents(100000), 500u);
  EXPECT_EQ(sizes.LeastLikelyEvents(0), 0u);
  // A body of ordinary events is never estimated above what it holds.
  for (int i = 0; i < 100; ++i) sizes.Observe(100000, 1000);
  EXPECT_LE(sizes.LeastLikelyEvents(100000), 1000u);
}

TEST(IngestBodySizesTest, FollowsAChangeOfEventSizeWithinAFewDozenBodies) {
  IngestBodySizes sizes;
  for (int i = 0; i < 50; ++i) sizes.Observe(100000, 1000);
  for (int i = 0; i < 100; ++i) sizes.Observe(400000, 1000);  // events four times larger
  // About 400 bytes an event now: a 400 KB body holds about 1,000, estimated at half.
  EXPECT_NEAR(static_cast<double>(sizes.LeastLikelyEvents(400000)), 500.0, 10.0);
}

}  // namespace
}  // namespace liverec
