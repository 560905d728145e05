// Test helpers for the engine: options on a temporary data directory and event records.
#ifndef LIVEREC_ENGINE_ENGINE_TESTING_H_
#define LIVEREC_ENGINE_ENGINE_TESTING_H_

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "event/event_record.h"
#include "liverec/options.h"

namespace liverec::testing {

// Options with serve.data_dir = dir and small, fast models, plus `sets` ("key=value").
inline Options EngineOptions(const std::string& dir,
                             std::initializer_list<std::string_view> sets = {}) {
  Options options;
  EXPECT_TRUE(options.Set("serve.data_dir", dir).ok());
  EXPECT_TRUE(options.Set("mf.dim", "8").ok());
  EXPECT_TRUE(options.Set("fm.dim", "8").ok());  // small tables: the ensemble is the default
  EXPECT_TRUE(options.Set("fm.hash_bits", "12").ok());
  EXPECT_TRUE(options.Set("metrics.sample_rate", "1").ok());
  for (std::string_view set : sets) EXPECT_TRUE(options.SetAssignment(set).ok()) << set;
  return options;
}

inline EventRecord Record(std::string user, std::string item, int64_t time_ms, std::string id = "",
                          std::string type = "") {
  EventRecord r;
  r.user = std::move(user);
  r.item = std::move(item);
  r.time_ms = time_ms;
  r.id = std::move(id);
  r.type = std::move(type);
  return r;
}

// A stream with planted structure: users in two groups, each group consuming its own half of
// the items; deterministic in `seed`.
inline std::vector<EventRecord> GroupStream(size_t num_events, uint64_t seed,
                                            int64_t start_ms = 1'700'000'000'000) {
  std::vector<EventRecord> out;
  uint64_t x = seed;
  auto next = [&x] {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return x >> 33;
  };
  for (size_t i = 0; i < num_events; ++i) {
    const uint64_t user = next() % 40;
    const uint64_t group = user % 2;
    const uint64_t item = group * 20 + next() % 20;
    out.push_back(Record("u" + std::to_string(user), "i" + std::to_string(item),
                         start_ms + static_cast<int64_t>(i) * 1000,
                         "e" + std::to_string(seed) + "-" + std::to_string(i)));
  }
  return out;
}

}  // namespace liverec::testing

#endif  // LIVEREC_ENGINE_ENGINE_TESTING_H_
