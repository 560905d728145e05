// Helpers shared by the models' tests (test code only).
#ifndef LIVEREC_MODEL_MODEL_TESTING_H_
#define LIVEREC_MODEL_MODEL_TESTING_H_

#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "model/model.h"

namespace liverec::testing {

inline constexpr int64_t kSecondMs = 1000;
inline constexpr int64_t kMinuteMs = 60 * kSecondMs;
inline constexpr int64_t kHourMs = 60 * kMinuteMs;
inline constexpr int64_t kDayMs = 24 * kHourMs;
inline constexpr double kHourS = 3600;
// A realistic stream start (2017-10-01 UTC in Unix ms): decay must not care where time starts.
inline constexpr int64_t kEpochMs = 1506816000000;

inline Event MakeEvent(int64_t time_ms, UserId user, ItemId item) {
  Event event;
  event.time_ms = time_ms;
  event.user = user;
  event.item = item;
  return event;
}

// Items 0..num_items-1.
inline std::vector<ItemId> AllItems(size_t num_items) {
  std::vector<ItemId> items(num_items);
  std::iota(items.begin(), items.end(), ItemId{0});
  return items;
}

// The scores of items 0..num_items-1 for `user`.
inline std::vector<float> ScoreAll(const Model& model, UserId user, size_t num_items) {
  const std::vector<ItemId> items = AllItems(num_items);
  std::vector<float> scores(num_items);
  model.Score(user, items, scores.data());
  return scores;
}

// The bytes Save writes: equal bytes mean equal state.
inline std::string SaveBytes(const Model& model) {
  BinaryWriter writer;
  model.Save(&writer);
  return writer.Release();
}

}  // namespace liverec::testing

#endif  // LIVEREC_MODEL_MODEL_TESTING_H_
