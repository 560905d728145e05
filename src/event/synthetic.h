// A seeded synthetic event stream with planted structure, for tests, demos and benchmarks.
//
// Users and items have latent vectors in `dim` dimensions. Each event picks a user (activity
// skewed, Zipf-like), then an item among the available ones with probability proportional to
// exp(affinity * <u, v> + log popularity(t)). Drift makes the stream non-stationary, so a model
// frozen at some time decays while one that learns online keeps up:
//   - interest drift: every user vector moves toward a new random direction over time;
//   - new items arrive at a steady rate and old ones retire after a lifetime;
//   - popularity waves: each item's popularity follows a bump that rises and fades.
// The same options and seed give the same Dataset, bit for bit.
#ifndef LIVEREC_EVENT_SYNTHETIC_H_
#define LIVEREC_EVENT_SYNTHETIC_H_

#include <cstdint>
#include <string>

#include "event/dataset.h"
#include "liverec/status.h"

namespace liverec {

struct SyntheticOptions {
  uint64_t seed = 1;
  uint32_t num_users = 1000;
  uint32_t num_initial_items = 500;
  uint64_t num_events = 100000;
  uint32_t dim = 8;       // planted latent dimension
  double affinity = 4.0;  // weight of <u, v> in the choice logit; 0 = no structure
  int64_t start_time_ms = 1'700'000'000'000;
  double events_per_day = 10000;    // stream-time rate
  double drift_per_day = 0.05;      // fraction of a user's vector replaced per day (0 = none)
  double new_items_per_day = 20;    // arrivals
  double item_lifetime_days = 0;    // 0 = items never retire
  double popularity_wave_days = 0;  // 0 = no waves; else the width of each item's bump
  double rating_noise = 0.5;        // std of the rating around the planted affinity (1..5)
};

// Validates `options` (InvalidArgument naming the field) and generates the stream.
StatusOr<Dataset> GenerateSynthetic(const SyntheticOptions& options);

// Writes a dataset as CSV with header "user,item,rating,timestamp[,context keys...]"
// (timestamps in ms), or as JSON Lines events, chosen by the extension (.csv / .jsonl).
Status WriteDataset(const Dataset& dataset, const std::string& path);

}  // namespace liverec

#endif  // LIVEREC_EVENT_SYNTHETIC_H_
