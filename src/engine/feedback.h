// FeedbackLoop: the join of what the engine showed with what users did next.
//
// A decision (a served list, DecisionRecord) opens when its log record is applied. An event
// that cites its recommendation_id joins it while it is open:
//   - a positive event (weight > 0) on a shown item is a click on that item (once per item),
//     credited to the item's position, the decision's model and its experiment arm;
//   - an "impression" event on a shown item marks that item as seen: a decision that received
//     any impression event counts only the items so marked as impressions (for clients that
//     render lists themselves and know what was on screen);
// and so does every positive event of the decision's user, cited or not, for the list's recall:
// the user's first positive event after the decision is on the list (at a position) or not.
// A decision closes when feedback.join_window of stream time has passed since it (or when more
// than feedback.max_open decisions are open, the oldest first). Its impressions are then final:
// each shown item is an impression, clicked or not, and each one not clicked is handed to the
// caller as a negative (the engine lets the models that learn negatives learn it, with
// feedback.negative_weight). Events citing a closed decision count as late; ids no decision
// had as unmatched.
//
// Stream time here is the largest time of a decision or event applied so far: decisions carry
// the server clock when they were served, events their own time.
//
// Deterministic in the order of the log: a state rebuilt from a snapshot and the rest of the
// log has the same open decisions, figures and experiments (Save is part of the snapshot).
//
// Thread safety: none inside; the engine's state lock covers it.
#ifndef LIVEREC_ENGINE_FEEDBACK_H_
#define LIVEREC_ENGINE_FEEDBACK_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/serialize.h"
#include "common/types.h"
#include "engine/experiments.h"
#include "engine/log_entry.h"
#include "liverec/experiment.h"
#include "liverec/options.h"

namespace liverec {

struct FeedbackOptions {
  int64_t join_window_ms = 600'000;  // feedback.join_window
  size_t max_open = 1'000'000;       // feedback.max_open
  float negative_weight = 0;         // feedback.negative_weight

  static FeedbackOptions FromOptions(const Options& options);
};

// The recommendation ids the engine makes: 16 lowercase hex digits. Parses one into *id;
// false for any other text (an event citing it is unmatched).
bool ParseRecommendationId(std::string_view text, uint64_t* id);

class FeedbackLoop {
 public:
  explicit FeedbackLoop(const FeedbackOptions& options) : options_(options) {}

  // A negative for the models: `user` did not click `item`, shown to them.
  using NegativeSink = std::function<void(const std::string& user, ItemId item, int64_t time_ms)>;

  // Opens `decision`; `item_id` resolves its items' keys (kInvalidId: unknown, left out).
  void OnDecision(const DecisionRecord& decision,
                  const std::function<ItemId(std::string_view)>& item_id,
                  const NegativeSink& negatives);
  // Joins an applied event: its user and item keys, the item's id, the event type's weight,
  // and whether it is an impression event; `time_ms` is its (stream) time.
  void OnEvent(const EventRecord& record, ItemId item, float weight, bool impression,
               int64_t time_ms, const NegativeSink& negatives);

  // The open decisions' slots naming an item marked in `forgotten` (by item id) name no item
  // from now on: they still count as impressions, but a click on the id's next owner does not
  // join them and their negatives are not learned.
  void ForgetItems(const std::vector<uint8_t>& forgotten);

  ExperimentSet& experiments() { return experiments_; }
  const ExperimentSet& experiments() const { return experiments_; }
  FeedbackStats Stats() const;
  const FeedbackOptions& options() const { return options_; }

  void Save(BinaryWriter* out) const;
  Status Load(BinaryReader* in);

 private:
  struct Slot {
    ItemId item = kInvalidId;
    float score = 0;
    bool clicked = false;
    bool seen = false;  // an impression event marked it
    int8_t team = -1;   // an interleaved list: the arm (0, 1) whose list placed it
  };
  struct Open {
    int64_t time_ms = 0;
    std::string user;
    std::string model;
    std::string experiment;
    std::string arm;
    std::vector<Slot> slots;
    bool client_impressions = false;
    bool evaluated = false;
    bool clicked_any = false;
  };
  struct ModelFigures {
    uint64_t decisions = 0;
    uint64_t impressions = 0;
    uint64_t clicks = 0;
    double concordant = 0;  // (clicked, not clicked) pairs ordered right; ties count a half
    uint64_t pairs = 0;
  };

  // Closes decisions past the join window or over the cap, oldest first.
  void Advance(int64_t time_ms, const NegativeSink& negatives);
  void Close(uint64_t id, const NegativeSink& negatives);
  // The decision's recall: its user's first positive event after it was on `item`.
  void Evaluate(Open* decision, ItemId item);

  FeedbackOptions options_;
  ExperimentSet experiments_;
  int64_t clock_ms_ = 0;
  std::unordered_map<uint64_t, Open> open_;
  std::deque<uint64_t> order_;  // open ids, oldest first
  // The latest open decision of each user, for recall.
  std::unordered_map<std::string, uint64_t> latest_;
  // Recently closed ids (at most max_open), to tell late events from unmatched ones.
  std::unordered_set<uint64_t> closed_;
  std::deque<uint64_t> closed_order_;
  uint64_t decisions_ = 0;
  uint64_t joined_ = 0;
  uint64_t late_ = 0;
  uint64_t unmatched_ = 0;
  uint64_t impressions_ = 0;
  uint64_t clicks_ = 0;
  std::vector<uint64_t> delay_counts_;  // per kDelayBounds entry
  double delay_sum_ms_ = 0;
  std::map<std::string, ModelFigures, std::less<>> models_;
};

}  // namespace liverec

#endif  // LIVEREC_ENGINE_FEEDBACK_H_
