// Helpers shared by the models' tests (test code only).
#ifndef LIVEREC_MODEL_MODEL_TESTING_H_
#define LIVEREC_MODEL_MODEL_TESTING_H_

#include <cstdint>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "common/check.h"
#include "liverec/options.h"
#include "model/model.h"
#include "model/registry.h"

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

// Makes models of one type from settings, as the registry does, the same model each time (seed
// 7). Holds the Options the models' OptionView points to. `settings` name a field as written
// ("mf.dim") or as the model's own ("dim"). A bad setting stops the test program.
class ModelMaker {
 public:
  ModelMaker(const std::string& type, const std::map<std::string, std::string>& settings)
      : type_(type) {
    for (const auto& [field, value] : settings) {
      const Status status =
          options_.Set(field.find('.') == std::string::npos ? type + "." + field : field, value);
      LIVEREC_CHECK(status.ok()) << status.ToString();
    }
  }
  std::unique_ptr<Model> Make() const {
    Context context;
    context.seed = 7;
    StatusOr<std::unique_ptr<Model>> model =
        CreateModel(OptionView(&options_, type_, type_), context);
    LIVEREC_CHECK(model.ok()) << model.status().ToString();
    return std::move(model).value();
  }

 private:
  std::string type_;
  Options options_;
};

}  // namespace liverec::testing

#endif  // LIVEREC_MODEL_MODEL_TESTING_H_
