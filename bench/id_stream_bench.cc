// liverec-id-stream-bench: memory and speed on a stream of endless new ids, of mf alone or of
// the server's whole state (--engine).
//
// Streams --events events through an mf model, one every --step-ms of stream time. Every event
// has a user id never seen before; its item is, with probability --popular-share, one of
// --popular popular items (skewed toward the first), otherwise also a new id. The stream runs
// twice, each time in a child process of its own so that each peak RSS (getrusage ru_maxrss of
// that child) is its own: with row admission (--min-count, --idle-ttl), then without it (every
// id a row, mf's defaults) on --off-events events, fewer if the tables would not fit.
//
//   liverec-id-stream-bench [--events 10000000] [--off-events N] [--min-count 2]
//                           [--idle-ttl 1h] [--engine] [--set key=value ...]
//
// One line per run: events/s of Learn alone, peak RSS, mf's own MemoryBytes at the end, and
// the rows the tables hold (user/item) against the ids that owned one at the end (live).
//
// --engine: the events go through an EngineState, as the server applies them (learning in
// runs of 512 events), with the server's default models (the ensemble) or those of --set; the
// run with admission also sets engine.user_idle_ttl to --idle-ttl, so idle users are forgotten
// and their ids reused. Each run prints the peak RSS so far at every tenth of the stream, then
// its line: events/s, peak RSS, the user id space against the users known, the users forgotten,
// the items known and forgotten (engine.item_idle_ttl, by --set), the models' MemoryBytes, and
// the longest Apply (an idle sweep's work, which the server does under its write lock).
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/random.h"
#include "engine/engine_state.h"
#include "liverec/context.h"
#include "liverec/options.h"
#include "model/mf/mf.h"

namespace {

constexpr int64_t kStreamStartMs = 1'700'000'000'000;
constexpr double kBytesPerMiB = 1024.0 * 1024.0;
constexpr double kKiBPerMiB = 1024.0;

struct StreamSpec {
  uint64_t events = 10'000'000;
  uint32_t popular = 1000;
  double popular_share = 0.2;
  int64_t step_ms = 10;
};

double PeakRssMiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / kKiBPerMiB;  // Linux reports KiB
}

// The stream's events in order: event e is user e's (a new user each time) at e * step_ms,
// on a popular item with probability popular_share, else on a new item.
class IdStream {
 public:
  IdStream(const StreamSpec& spec, uint64_t seed)
      : spec_(spec),
        rng_(seed),
        popular_threshold_(
            static_cast<uint64_t>(spec.popular_share * static_cast<double>(UINT64_MAX))),
        next_item_(spec.popular) {}

  int64_t TimeMs(uint64_t e) const {
    return kStreamStartMs + static_cast<int64_t>(e) * spec_.step_ms;
  }
  // The next event's item.
  uint64_t NextItem() {
    if (rng_.Next() < popular_threshold_) {
      // The minimum of two uniform draws: item k is drawn about twice as often as item P - k.
      return std::min(rng_.Uniform(spec_.popular), rng_.Uniform(spec_.popular));
    }
    return next_item_++;
  }
  uint64_t new_items() const { return next_item_ - spec_.popular; }

 private:
  const StreamSpec& spec_;
  liverec::Random rng_;
  uint64_t popular_threshold_;
  uint64_t next_item_;
};

// Runs the stream through a fresh mf in this process and prints its line.
int RunStream(const StreamSpec& spec, const liverec::Options& options, const std::string& label) {
  const double rss_before_mib = PeakRssMiB();
  liverec::Context context;
  liverec::MfModel model(liverec::OptionView(&options, "mf", "mf"), context);
  IdStream stream(spec, context.seed);
  liverec::Event event;
  const auto start = std::chrono::steady_clock::now();
  for (uint64_t e = 0; e < spec.events; ++e) {
    event.time_ms = stream.TimeMs(e);
    event.user = static_cast<liverec::UserId>(e);
    event.item = static_cast<liverec::ItemId>(stream.NextItem());
    model.Learn(event);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "id_stream %s events=%llu events_per_s=%.0f peak_rss_mib=%.0f (%.0f before the model) "
      "model_mib=%.1f user_rows=%zu item_rows=%zu live_users=%zu live_items=%zu new_items=%llu\n",
      label.c_str(), static_cast<unsigned long long>(spec.events),
      static_cast<double>(spec.events) / seconds, PeakRssMiB(), rss_before_mib,
      static_cast<double>(model.MemoryBytes()) / kBytesPerMiB, model.user_factors().num_rows(),
      model.item_factors().num_rows(), model.user_rows().num_live(), model.item_rows().num_live(),
      static_cast<unsigned long long>(stream.new_items()));
  std::fflush(stdout);
  return 0;
}

// The same stream as external keys through an EngineState.
int RunEngineStream(const StreamSpec& spec, const liverec::Options& options,
                    const std::string& label) {
  constexpr uint64_t kLearnRun = 512;
  const double rss_before_mib = PeakRssMiB();
  liverec::Context context;
  liverec::StatusOr<std::unique_ptr<liverec::EngineState>> created =
      liverec::EngineState::Create(options, context);
  if (!created.ok()) {
    std::fprintf(stderr, "%s\n", created.status().message().c_str());
    return 2;
  }
  liverec::EngineState& state = **created;
  IdStream stream(spec, context.seed);
  liverec::LogEntry entry;
  entry.kind = liverec::LogEntryKind::kEvent;
  state.SetDeferredLearning(true);
  const auto start = std::chrono::steady_clock::now();
  double longest_apply_ms = 0;
  for (uint64_t e = 0; e < spec.events; ++e) {
    entry.event.time_ms = stream.TimeMs(e);
    entry.event.user = "u" + std::to_string(e);
    entry.event.item = "i" + std::to_string(stream.NextItem());
    const auto apply_start = std::chrono::steady_clock::now();
    state.Apply(e + 1, entry);
    longest_apply_ms = std::max(
        longest_apply_ms,
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - apply_start)
            .count());
    if ((e + 1) % kLearnRun == 0) state.FlushLearning();
    if ((e + 1) % (spec.events / 10) == 0) {
      std::printf("  %s after %llu events: peak_rss_mib=%.0f users=%zu\n", label.c_str(),
                  static_cast<unsigned long long>(e + 1), PeakRssMiB(), state.users().num_live());
      std::fflush(stdout);
    }
  }
  state.SetDeferredLearning(false);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  size_t model_bytes = 0;
  for (const liverec::ModelSlot& slot : state.models()) model_bytes += slot.model->MemoryBytes();
  std::printf(
      "id_stream engine %s events=%llu events_per_s=%.0f peak_rss_mib=%.0f (%.0f before the "
      "state) user_ids=%zu live_users=%zu users_forgotten=%llu items=%zu live_items=%zu "
      "items_forgotten=%llu models_mib=%.1f longest_apply_ms=%.1f\n",
      label.c_str(), static_cast<unsigned long long>(spec.events),
      static_cast<double>(spec.events) / seconds, PeakRssMiB(), rss_before_mib,
      state.users().size(), state.users().num_live(),
      static_cast<unsigned long long>(state.users_forgotten()), state.items().size(),
      state.items().num_live(), static_cast<unsigned long long>(state.items_forgotten()),
      static_cast<double>(model_bytes) / kBytesPerMiB, longest_apply_ms);
  std::fflush(stdout);
  return 0;
}

// Runs RunStream (RunEngineStream with `engine`) in a child process and waits for it.
int RunInChild(const StreamSpec& spec, const liverec::Options& options, const std::string& label,
               bool engine) {
  const pid_t child = fork();
  if (child == 0) {
    _exit(engine ? RunEngineStream(spec, options, label) : RunStream(spec, options, label));
  }
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mf on a stream of endless new ids, with and without row admission"};
  StreamSpec spec;
  uint64_t off_events = 0;
  std::string min_count = "2";
  std::string idle_ttl = "1h";
  std::vector<std::string> sets;
  app.add_option("--events", spec.events, "Events of the run with admission");
  app.add_option("--off-events", off_events,
                 "Events of the run without admission (default: --events; 0 skips it)");
  app.add_option("--popular", spec.popular, "Popular items");
  app.add_option("--popular-share", spec.popular_share, "Share of events on a popular item");
  app.add_option("--step-ms", spec.step_ms, "Stream time between events");
  app.add_option("--min-count", min_count, "mf.min_count of the run with admission");
  app.add_option("--idle-ttl", idle_ttl, "mf.idle_ttl of the run with admission");
  bool engine = false;
  app.add_flag("--engine", engine, "Stream through the server's state, not mf alone");
  app.add_option("--set", sets, "Any option key=value, for both runs");
  bool skip_off = false;
  auto* off = app.get_option("--off-events");
  CLI11_PARSE(app, argc, argv);
  if (off->count() == 0) {
    off_events = spec.events;
  } else {
    skip_off = off_events == 0;
  }

  liverec::Options base;
  auto set = [](liverec::Options* options, const std::string& assignment) {
    const liverec::Status s = options->SetAssignment(assignment);
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.message().c_str());
      std::exit(2);
    }
  };
  for (const std::string& s : sets) set(&base, s);
  liverec::Options admitting = base;
  set(&admitting, "mf.min_count=" + min_count);
  set(&admitting, "mf.idle_ttl=" + idle_ttl);
  if (engine) set(&admitting, "engine.user_idle_ttl=" + idle_ttl);

  int failed = RunInChild(spec, admitting,
                          "admission=on min_count=" + min_count + " idle_ttl=" + idle_ttl, engine);
  if (!skip_off) {
    StreamSpec off_spec = spec;
    off_spec.events = off_events;
    failed |= RunInChild(off_spec, base, "admission=off", engine);
  }
  return failed;
}
