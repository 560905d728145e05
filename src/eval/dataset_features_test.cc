#include "eval/dataset_features.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace liverec {
namespace {

// Three events: u1 on a (mobile, ref=search), u2 on b (desktop), u1 on c (no context).
Dataset ThreeEvents() {
  Dataset d;
  d.Add("u1", "a", 1000);
  d.AddContext("device", "mobile");
  d.AddContext("ref", "search");
  d.Add("u2", "b", 2000);
  d.AddContext("device", "desktop");
  d.Add("u1", "c", 3000);
  return d;
}

std::vector<uint64_t> Hashes(std::initializer_list<std::string_view> texts) {
  std::vector<uint64_t> out;
  for (std::string_view text : texts) out.push_back(FeatureHash(text));
  return out;
}

TEST(DatasetFeaturesTest, EventFeaturesHashEachContextPairAsKeyEqualsValue) {
  const Dataset d = ThreeEvents();
  const DatasetFeatures features(d, nullptr);
  EXPECT_EQ(features.num_context_features(), 3u);
  std::vector<uint64_t> out = {7};  // appends, keeping what is there
  features.EventFeatures(d.events[0], &out);
  EXPECT_EQ(out,
            (std::vector<uint64_t>{7, FeatureHash("device=mobile"), FeatureHash("ref=search")}));
  out.clear();
  features.EventFeatures(d.events[1], &out);
  EXPECT_EQ(out, Hashes({"device=desktop"}));
  out.clear();
  features.EventFeatures(d.events[2], &out);
  EXPECT_TRUE(out.empty());
  features.ItemFeatures(0, &out);  // no metadata given
  EXPECT_TRUE(out.empty());
}

TEST(DatasetFeaturesTest, OnlyTheListedContextKeysBecomeFeatures) {
  const Dataset d = ThreeEvents();
  const std::vector<std::string> keys = {"ref", "no_such_key"};
  const DatasetFeatures features(d, nullptr, keys);
  EXPECT_EQ(features.num_context_features(), 1u);
  std::vector<uint64_t> out;
  features.EventFeatures(d.events[0], &out);
  EXPECT_EQ(out, Hashes({"ref=search"}));
  out.clear();
  features.EventFeatures(d.events[1], &out);
  EXPECT_TRUE(out.empty());
}

TEST(DatasetFeaturesTest, ItemFeaturesHashCategoriesTagsAndTokensWithTheirPrefixes) {
  const Dataset d = ThreeEvents();
  ItemMetadataTable metadata;
  metadata.items.resize(d.num_items());
  metadata.items[1].categories = {"news", "world"};
  metadata.items[1].tags = {"sport"};
  metadata.items[1].tokens = {"goal"};
  metadata.items[2].tokens = {"rain"};
  const DatasetFeatures features(d, &metadata);
  EXPECT_EQ(features.num_items_with_features(), 2u);
  std::vector<uint64_t> out;
  features.ItemFeatures(1, &out);
  EXPECT_EQ(out, Hashes({"category:news", "category:world", "tag:sport", "token:goal"}));
  out.clear();
  features.ItemFeatures(0, &out);
  EXPECT_TRUE(out.empty());
  features.ItemFeatures(2, &out);
  EXPECT_EQ(out, Hashes({"token:rain"}));
  out.clear();
  features.ItemFeatures(3, &out);  // beyond the data set
  features.ItemFeatures(kInvalidId, &out);
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace liverec
