// The logged decisions of a data directory as off-policy evaluation reads them
// (experiment/off_policy.h): each list the server served, with its probabilities and clicks,
// beside the list a target model would have served the same user at the same point.
//
// The log is replayed through an engine state as recovery replays it (from the start, or from
// the snapshot the log continues when older segments were pruned); before each decision is
// applied, the engine's Recommender ranks the decision's user with the target model (no
// exploration, no experiment, consumed items left out), over the state as of that record. A
// decision is logged just after it is served, so that state may hold a few events the served
// list did not see. A click is a later event of positive weight that cites the decision's
// recommendation_id within feedback.join_window and names a shown item.
//
// Thread safety: a plain function; it reads the directory, which a running server may append
// to (records after the end seen are not read).
#ifndef LIVEREC_EVAL_LOGGED_DECISIONS_H_
#define LIVEREC_EVAL_LOGGED_DECISIONS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "experiment/off_policy.h"
#include "liverec/context.h"
#include "liverec/options.h"
#include "liverec/status.h"

namespace liverec {

struct LoggedDecisions {
  std::vector<LoggedList> lists;  // one per decision, in log order, cut to `positions`
  uint64_t records = 0;           // log records replayed
  uint64_t clicks = 0;            // clicks joined within the first `positions` items
  uint64_t first_seq = 0;         // the first record read (1 unless the log was pruned)
};

// The decisions of the data directory `data_dir` (the engine's options `options`: the models
// it ran), each with `model`'s list of the same length, both cut to the first `positions`
// items. NotFound when `model` is not a live model or member under `options`; Corruption when
// the log cannot be read or does not continue any snapshot.
StatusOr<LoggedDecisions> ReadLoggedDecisions(const std::string& data_dir, const Options& options,
                                              const Context& context, const std::string& model,
                                              size_t positions);

}  // namespace liverec

#endif  // LIVEREC_EVAL_LOGGED_DECISIONS_H_
