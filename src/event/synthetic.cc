#include "event/synthetic.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numeric>
#include <string_view>
#include <vector>

#include "common/random.h"
#include "common/strings.h"

namespace liverec {
namespace {

constexpr double kMsPerDay = 86'400'000.0;

// User activity: the user of rank r (a random permutation) has weight (r + 1)^-s. With s = 0.8
// and 1000 users the most active user makes ~6% of the events and the median one ~0.05%.
constexpr double kUserActivityExponent = 0.8;
// Items differ in appeal independently of users: log base popularity ~ N(0, sigma^2), so a
// popularity baseline has something to learn.
constexpr double kItemLogPopularitySigma = 1.0;
// Outside its wave an item keeps this fraction of its peak popularity: it fades, but never
// becomes impossible to pick. Small, because faded items pile up: with a larger floor the
// many old items together would outweigh the few current waves.
constexpr double kWaveFloor = 1e-3;
// A wave peaks this many widths after the item arrives (uniform in [min, max]).
constexpr double kWaveDelayMinWidths = 0.5;
constexpr double kWaveDelayMaxWidths = 1.5;
// Popularity is re-evaluated when stream time has moved by width / this: the bump is then
// followed to within a few percent while costing one pass over the catalogue per step, not
// one exp and one log per item per event.
constexpr double kWaveStepsPerWidth = 50;
// A user's drift target counts as reached at this cosine; a new one is then drawn.
constexpr double kTargetReachedCos = 0.95;
// Ratings: round(midpoint + slope * <u, v> + noise), clamped to [min, max]. <u, v> of unit
// vectors lies in [-1, 1], so the slope spreads the whole 1..5 range.
constexpr double kRatingMidpoint = 3.0;
constexpr double kRatingSlope = 2.5;
constexpr double kMinRating = 1.0;
constexpr double kMaxRating = 5.0;
// Rejects options whose stream would not fit in memory or in int64 milliseconds.
constexpr uint32_t kMaxDim = 1024;
constexpr double kMaxAffinity = 1000;
constexpr double kMaxItems = 1e7;
constexpr double kMaxTimeMs = 9e15;  // below 2^53: stream times stay exact in a double
constexpr std::string_view kEventType = "rating";
// Rejection sampling budget per event: this many proposals plus one per this many available
// items (a proposal costs a binary search and a dot product, an exact pass one exp per item).
constexpr size_t kMinProposals = 32;
constexpr size_t kProposalsPerItemPass = 4;

// Independent random streams, so that changing one knob does not reshuffle everything else.
enum Stream : uint64_t { kUsers = 1, kItems, kArrivals, kEvents, kRatings, kDrift };

Status Bad(std::string_view field, std::string_view requirement) {
  return InvalidArgument("synthetic option " + std::string(field) + " must be " +
                         std::string(requirement));
}

bool Finite(double v) { return std::isfinite(v); }

Status Validate(const SyntheticOptions& o) {
  if (o.num_users < 1) return Bad("num_users", "at least 1");
  if (o.num_initial_items < 1) return Bad("num_initial_items", "at least 1");
  if (o.dim < 1 || o.dim > kMaxDim) return Bad("dim", "in [1, " + std::to_string(kMaxDim) + "]");
  if (!Finite(o.affinity) || std::fabs(o.affinity) > kMaxAffinity) {
    return Bad("affinity", "in [-1000, 1000]");
  }
  if (!Finite(o.events_per_day) || o.events_per_day <= 0) {
    return Bad("events_per_day", "a positive number");
  }
  if (!Finite(o.drift_per_day) || o.drift_per_day < 0 || o.drift_per_day > 1) {
    return Bad("drift_per_day", "in [0, 1]");
  }
  if (!Finite(o.new_items_per_day) || o.new_items_per_day < 0) {
    return Bad("new_items_per_day", "a number >= 0");
  }
  if (!Finite(o.item_lifetime_days) || o.item_lifetime_days < 0) {
    return Bad("item_lifetime_days", "a number >= 0");
  }
  if (!Finite(o.popularity_wave_days) || o.popularity_wave_days < 0) {
    return Bad("popularity_wave_days", "a number >= 0");
  }
  if (!Finite(o.rating_noise) || o.rating_noise < 0) return Bad("rating_noise", "a number >= 0");
  // Generous bounds on the stream's span (exponential gaps: mean n / rate, tiny variance).
  const double days = 2.0 * static_cast<double>(o.num_events) / o.events_per_day + 1.0;
  if (std::fabs(static_cast<double>(o.start_time_ms)) + days * kMsPerDay > kMaxTimeMs) {
    return Bad("events_per_day", "large enough for num_events to end before year 285000");
  }
  if (static_cast<double>(o.num_initial_items) + o.new_items_per_day * days > kMaxItems) {
    return Bad("new_items_per_day", "small enough to keep the catalogue below 1e7 items");
  }
  return Status::Ok();
}

float Dot(const float* a, const float* b, size_t n) {
  float s = 0;
  for (size_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Scales v to unit length; a (near) zero vector is left as is.
void Normalize(float* v, size_t n) {
  float norm = std::sqrt(Dot(v, v, n));
  if (norm <= 0) return;
  for (size_t i = 0; i < n; ++i) v[i] /= norm;
}

// A uniformly random unit vector (normalized Gaussian).
void RandomUnit(Random& rng, float* v, size_t n) {
  float norm = 0;
  do {
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(rng.Normal());
    norm = Dot(v, v, n);
  } while (norm == 0);
  Normalize(v, n);
}

double Exponential(Random& rng, double mean) { return -std::log1p(-rng.UniformDouble()) * mean; }

// The generator's state. Item indexes follow arrival order; since every item lives equally
// long, the available items are always the index range [first_alive_, num_items()).
class Generator {
 public:
  explicit Generator(const SyntheticOptions& o)
      : o_(o),
        dim_(o.dim),
        wave_ms_(o.popularity_wave_days * kMsPerDay),
        lifetime_ms_(o.item_lifetime_days * kMsPerDay),
        users_rng_(DeriveSeed(o.seed, kUsers)),
        items_rng_(DeriveSeed(o.seed, kItems)),
        arrivals_rng_(DeriveSeed(o.seed, kArrivals)),
        events_rng_(DeriveSeed(o.seed, kEvents)),
        ratings_rng_(DeriveSeed(o.seed, kRatings)),
        drift_rng_(DeriveSeed(o.seed, kDrift)) {}

  StatusOr<Dataset> Run() {
    InitUsers();
    InitItems();
    Dataset d;
    d.events.reserve(o_.num_events);
    const double mean_gap_ms = kMsPerDay / o_.events_per_day;
    const uint32_t type = d.event_types.GetOrAdd(kEventType);
    double t = 0;  // ms since start_time_ms
    for (uint64_t k = 0; k < o_.num_events; ++k) {
      if (k > 0) t += Exponential(events_rng_, mean_gap_ms);
      AdvanceCatalogue(t);
      uint32_t user = PickUser();
      float* u = &user_vec_[size_t{user} * dim_];
      Drift(user, t);
      uint32_t item = PickItem(u);
      double rating = kRatingMidpoint + kRatingSlope * Dot(u, ItemVec(item), dim_) +
                      o_.rating_noise * ratings_rng_.Normal();
      rating = std::clamp(std::round(rating), kMinRating, kMaxRating);
      KeyBuffer user_key, item_key;
      Event& e = d.Add(Key('u', user, user_key), Key('i', item, item_key),
                       o_.start_time_ms + std::llround(t));
      e.value = static_cast<float>(rating);
      e.type = static_cast<EventTypeId>(type);
    }
    d.SortByTime();
    return d;
  }

 private:
  using KeyBuffer = std::array<char, 16>;

  // "u17" / "i9", spelled into `buf` (which must outlive the view).
  static std::string_view Key(char prefix, uint32_t id, KeyBuffer& buf) {
    buf[0] = prefix;
    char* end = std::to_chars(buf.data() + 1, buf.data() + buf.size(), id).ptr;
    return std::string_view(buf.data(), static_cast<size_t>(end - buf.data()));
  }

  const float* ItemVec(uint32_t item) const { return &item_vec_[size_t{item} * dim_]; }
  size_t num_items() const { return item_arrival_ms_.size(); }

  void InitUsers() {
    const size_t n = o_.num_users;
    user_vec_.resize(n * dim_);
    user_target_.resize(n * dim_);
    user_last_ms_.assign(n, 0.0);
    for (size_t i = 0; i < n; ++i) RandomUnit(users_rng_, &user_vec_[i * dim_], dim_);
    for (size_t i = 0; i < n; ++i) RandomUnit(drift_rng_, &user_target_[i * dim_], dim_);
    std::vector<uint32_t> rank(n);
    std::iota(rank.begin(), rank.end(), 0u);
    for (size_t i = n; i > 1; --i) {
      std::swap(rank[i - 1], rank[users_rng_.Uniform(static_cast<uint32_t>(i))]);
    }
    user_cdf_.resize(n);
    double total = 0;
    for (size_t i = 0; i < n; ++i) {
      total += std::pow(static_cast<double>(rank[i]) + 1.0, -kUserActivityExponent);
      user_cdf_[i] = total;
    }
  }

  // The initial catalogue looks as if items had been arriving for a while: arrivals spread
  // over one lifetime (or two wave widths) before the start, so items retire and waves peak
  // gradually instead of all at once.
  void InitItems() {
    const double span_ms = std::max(lifetime_ms_, 2.0 * wave_ms_);
    std::vector<double> arrivals(o_.num_initial_items);
    for (double& a : arrivals) a = -items_rng_.UniformDouble() * span_ms;
    std::sort(arrivals.begin(), arrivals.end());
    for (double a : arrivals) AddItem(a);
    next_arrival_ms_ = o_.new_items_per_day > 0
                           ? Exponential(arrivals_rng_, kMsPerDay / o_.new_items_per_day)
                           : HUGE_VAL;
  }

  void AddItem(double arrival_ms) {
    item_vec_.resize(item_vec_.size() + dim_);
    RandomUnit(items_rng_, &item_vec_[item_vec_.size() - dim_], dim_);
    item_arrival_ms_.push_back(arrival_ms);
    item_log_base_.push_back(kItemLogPopularitySigma * items_rng_.Normal());
    const double delay = kWaveDelayMinWidths +
                         (kWaveDelayMaxWidths - kWaveDelayMinWidths) * items_rng_.UniformDouble();
    item_wave_centre_ms_.push_back(arrival_ms + delay * wave_ms_);
    item_log_pop_.push_back(LogPopularity(num_items() - 1, log_pop_time_ms_));
    const double before = pop_cum_.empty() ? 0.0 : pop_cum_.back();
    pop_cum_.push_back(before + std::exp(item_log_pop_.back()));
  }

  double LogPopularity(size_t item, double t) const {
    double log_pop = item_log_base_[item];
    if (wave_ms_ > 0) {
      const double z = (t - item_wave_centre_ms_[item]) / wave_ms_;
      log_pop += std::log(kWaveFloor + std::exp(-0.5 * z * z));
    }
    return log_pop;
  }

  // Arrivals up to t, retirements up to t (keeping at least one item), popularity refresh.
  void AdvanceCatalogue(double t) {
    while (next_arrival_ms_ <= t) {
      AddItem(next_arrival_ms_);
      next_arrival_ms_ += Exponential(arrivals_rng_, kMsPerDay / o_.new_items_per_day);
    }
    if (lifetime_ms_ > 0) {
      while (first_alive_ + 1 < num_items() && item_arrival_ms_[first_alive_] + lifetime_ms_ <= t) {
        ++first_alive_;
      }
    }
    if (wave_ms_ > 0 && t - log_pop_time_ms_ >= wave_ms_ / kWaveStepsPerWidth) {
      log_pop_time_ms_ = t;
      double cum = first_alive_ == 0 ? 0.0 : pop_cum_[first_alive_ - 1];
      for (size_t i = first_alive_; i < num_items(); ++i) {
        item_log_pop_[i] = LogPopularity(i, t);
        cum += std::exp(item_log_pop_[i]);
        pop_cum_[i] = cum;
      }
    }
  }

  uint32_t PickUser() {
    const double r = users_rng_.UniformDouble() * user_cdf_.back();
    auto it = std::upper_bound(user_cdf_.begin(), user_cdf_.end(), r);
    return static_cast<uint32_t>(std::min<size_t>(it - user_cdf_.begin(), user_cdf_.size() - 1));
  }

  // Moves the user's vector toward its target: a fraction 1 - (1 - drift)^days is replaced
  // by the target since the user's last event; a reached target is replaced by a new one.
  void Drift(uint32_t user, double t) {
    const double days = (t - user_last_ms_[user]) / kMsPerDay;
    user_last_ms_[user] = t;
    if (o_.drift_per_day <= 0 || days <= 0) return;
    float* u = &user_vec_[size_t{user} * dim_];
    float* target = &user_target_[size_t{user} * dim_];
    const auto f = static_cast<float>(1.0 - std::pow(1.0 - o_.drift_per_day, days));
    for (size_t i = 0; i < dim_; ++i) u[i] = (1 - f) * u[i] + f * target[i];
    Normalize(u, dim_);
    if (Dot(u, target, dim_) >= kTargetReachedCos) RandomUnit(drift_rng_, target, dim_);
  }

  // Samples an available item with probability proportional to
  // exp(affinity * <u, v> + log popularity), exactly, by rejection: propose an item in
  // proportion to its popularity (a binary search in pop_cum_), accept it with probability
  // exp(affinity * <u, v> - |affinity|) <= 1, since |<u, v>| <= 1 for unit vectors. Each
  // accepted proposal has exactly the target distribution. The expected number of proposals
  // grows like exp(|affinity| - typical affinity * <u, v>), so after a budget comparable
  // to one pass over the catalogue the sampler switches to the exact pass over all logits
  // (also exact, so the mixture of the two is too).
  uint32_t PickItem(const float* u) {
    const size_t begin = first_alive_;
    const size_t n = num_items() - begin;
    const double base = begin == 0 ? 0.0 : pop_cum_[begin - 1];
    const double mass = pop_cum_.back() - base;
    const double bound = std::fabs(o_.affinity);
    const size_t budget = kMinProposals + n / kProposalsPerItemPass;
    for (size_t tries = 0; tries < budget; ++tries) {
      const double r = base + events_rng_.UniformDouble() * mass;
      auto it =
          std::upper_bound(pop_cum_.begin() + static_cast<ptrdiff_t>(begin), pop_cum_.end(), r);
      const size_t item =
          std::min<size_t>(static_cast<size_t>(it - pop_cum_.begin()), num_items() - 1);
      const double logit = o_.affinity * Dot(u, ItemVec(static_cast<uint32_t>(item)), dim_);
      if (events_rng_.UniformDouble() < std::exp(logit - bound)) return static_cast<uint32_t>(item);
    }
    return PickItemExactly(u);
  }

  // The same distribution by one pass over all available items.
  uint32_t PickItemExactly(const float* u) {
    const size_t begin = first_alive_;
    const size_t n = num_items() - begin;
    logits_.resize(n);
    const auto affinity = static_cast<float>(o_.affinity);
    double max_logit = -HUGE_VAL;
    for (size_t k = 0; k < n; ++k) {
      const double logit = affinity * Dot(u, ItemVec(static_cast<uint32_t>(begin + k)), dim_) +
                           item_log_pop_[begin + k];
      logits_[k] = logit;
      max_logit = std::max(max_logit, logit);
    }
    double total = 0;
    for (size_t k = 0; k < n; ++k) {
      total += std::exp(logits_[k] - max_logit);
      logits_[k] = total;  // now the cumulative weight
    }
    const double r = events_rng_.UniformDouble() * total;
    auto it = std::upper_bound(logits_.begin(), logits_.end(), r);
    const size_t k = std::min<size_t>(static_cast<size_t>(it - logits_.begin()), n - 1);
    return static_cast<uint32_t>(begin + k);
  }

  const SyntheticOptions& o_;
  const size_t dim_;
  const double wave_ms_;
  const double lifetime_ms_;
  Random users_rng_;
  Random items_rng_;
  Random arrivals_rng_;
  Random events_rng_;
  Random ratings_rng_;
  Random drift_rng_;

  std::vector<float> user_vec_;     // num_users x dim, unit rows
  std::vector<float> user_target_;  // num_users x dim, unit rows
  std::vector<double> user_last_ms_;
  std::vector<double> user_cdf_;  // cumulative activity weights

  std::vector<float> item_vec_;  // num_items x dim, unit rows
  std::vector<double> item_arrival_ms_;
  std::vector<double> item_log_base_;
  std::vector<double> item_wave_centre_ms_;
  std::vector<double> item_log_pop_;  // at log_pop_time_ms_
  // pop_cum_[i] = sum of exp(item_log_pop_[j]) for j <= i; only differences within the
  // available range [first_alive_, num_items()) are used.
  std::vector<double> pop_cum_;
  double log_pop_time_ms_ = 0;
  size_t first_alive_ = 0;
  double next_arrival_ms_ = HUGE_VAL;

  std::vector<double> logits_;  // scratch of PickItem
};

// ---------------------------------------------------------------------------------------------
// Writing.

constexpr size_t kFlushBytes = size_t{1} << 20;

// A file written through one buffer, gzip-compressed when the name ends in ".gz".
class OutFile {
 public:
  explicit OutFile(std::string path) : path_(std::move(path)) {}
  ~OutFile() { Close().ok(); }

  Status Open(bool gzip) {
    if (gzip) {
      gz_ = gzopen(path_.c_str(), "wb");
      if (gz_ == nullptr) return IOError("cannot create " + Quote(path_, path_.size()));
    } else {
      file_ = std::fopen(path_.c_str(), "wb");
      if (file_ == nullptr) return IOError("cannot create " + Quote(path_, path_.size()));
    }
    return Status::Ok();
  }

  std::string& buffer() { return buffer_; }

  Status MaybeFlush() { return buffer_.size() >= kFlushBytes ? Flush() : Status::Ok(); }

  Status Flush() {
    bool ok = true;
    if (gz_ != nullptr && !buffer_.empty()) {
      ok = gzwrite(gz_, buffer_.data(), static_cast<unsigned>(buffer_.size())) ==
           static_cast<int>(buffer_.size());
    } else if (file_ != nullptr && !buffer_.empty()) {
      ok = std::fwrite(buffer_.data(), 1, buffer_.size(), file_) == buffer_.size();
    }
    buffer_.clear();
    return ok ? Status::Ok() : IOError("cannot write " + Quote(path_, path_.size()));
  }

  Status Close() {
    Status s = Flush();
    bool ok = true;
    if (gz_ != nullptr) ok = gzclose(gz_) == Z_OK;
    if (file_ != nullptr) ok = std::fclose(file_) == 0;
    gz_ = nullptr;
    file_ = nullptr;
    if (s.ok() && !ok) return IOError("cannot close " + Quote(path_, path_.size()));
    return s;
  }

 private:
  std::string path_;
  gzFile gz_ = nullptr;
  FILE* file_ = nullptr;
  std::string buffer_;
};

void AppendCsvField(std::string& out, std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += s;
    return;
  }
  out += '"';
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (b < 0x20) {
      out += "\\u00";
      out += kHex[b >> 4];
      out += kHex[b & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
}

template <typename T>
void AppendNumber(std::string& out, T v) {
  char buf[32];
  char* end = std::to_chars(buf, buf + sizeof(buf), v).ptr;
  out.append(buf, static_cast<size_t>(end - buf));
}

Status WriteCsv(const Dataset& d, OutFile& out) {
  std::string& b = out.buffer();
  b += "user,item,rating,timestamp";
  for (uint32_t k = 0; k < d.context_keys.size(); ++k) {
    b += ',';
    AppendCsvField(b, d.context_keys.Key(k));
  }
  b += '\n';
  std::vector<uint32_t> row(d.context_keys.size(), kInvalidId);
  for (const Event& e : d.events) {
    AppendCsvField(b, d.users.Key(e.user));
    b += ',';
    AppendCsvField(b, d.items.Key(e.item));
    b += ',';
    AppendNumber(b, e.value);
    b += ',';
    AppendNumber(b, e.time_ms);
    for (const ContextPair& c : d.ContextOf(e)) row[c.key] = c.value;
    for (uint32_t& value : row) {
      b += ',';
      if (value != kInvalidId) AppendCsvField(b, d.context_values.Key(value));
      value = kInvalidId;
    }
    b += '\n';
    LIVEREC_RETURN_IF_ERROR(out.MaybeFlush());
  }
  return out.Close();
}

Status WriteJsonl(const Dataset& d, OutFile& out) {
  std::string& b = out.buffer();
  for (const Event& e : d.events) {
    b += "{\"user\":";
    AppendJsonString(b, d.users.Key(e.user));
    b += ",\"item\":";
    AppendJsonString(b, d.items.Key(e.item));
    if (e.type < d.event_types.size() && !d.event_types.Key(e.type).empty()) {
      b += ",\"type\":";
      AppendJsonString(b, d.event_types.Key(e.type));
    }
    b += ",\"value\":";
    AppendNumber(b, e.value);
    b += ",\"timestamp\":";
    AppendNumber(b, e.time_ms);
    if (e.context_size > 0) {
      b += ",\"context\":{";
      bool first = true;
      for (const ContextPair& c : d.ContextOf(e)) {
        if (!first) b += ',';
        first = false;
        AppendJsonString(b, d.context_keys.Key(c.key));
        b += ':';
        AppendJsonString(b, d.context_values.Key(c.value));
      }
      b += '}';
    }
    if (e.id != kInvalidId) {
      b += ",\"id\":";
      AppendJsonString(b, d.event_ids.Key(e.id));
    }
    b += "}\n";
    LIVEREC_RETURN_IF_ERROR(out.MaybeFlush());
  }
  return out.Close();
}

}  // namespace

StatusOr<Dataset> GenerateSynthetic(const SyntheticOptions& options) {
  LIVEREC_RETURN_IF_ERROR(Validate(options));
  Generator generator(options);
  return generator.Run();
}

Status WriteDataset(const Dataset& dataset, const std::string& path) {
  std::string name = ToLower(path);
  const bool gzip = EndsWith(name, ".gz");
  if (gzip) name.resize(name.size() - 3);
  const bool csv = EndsWith(name, ".csv");
  const bool jsonl = EndsWith(name, ".jsonl") || EndsWith(name, ".ndjson");
  if (!csv && !jsonl) {
    return InvalidArgument("cannot tell the format of " + Quote(path, path.size()) +
                           ": the name should end in .csv or .jsonl (optionally .gz)");
  }
  for (const Event& e : dataset.events) {
    if (!std::isfinite(e.value)) {
      return InvalidArgument("cannot write " + Quote(path, path.size()) +
                             ": an event has a non-finite value");
    }
  }
  if (csv && dataset.event_types.size() > 1) {
    return InvalidArgument("cannot write " + Quote(path, path.size()) + ": the data set has " +
                           std::to_string(dataset.event_types.size()) +
                           " event types and CSV keeps none; write .jsonl instead");
  }
  OutFile out(path);
  LIVEREC_RETURN_IF_ERROR(out.Open(gzip));
  return csv ? WriteCsv(dataset, out) : WriteJsonl(dataset, out);
}

}  // namespace liverec
