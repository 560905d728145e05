// Renderings of a ReplayReport: the stdout table, the JSON report and the windowed series CSV.
//
// JSON shape (other tools parse it; extend, never rename):
//   {"dataset": {"events": N, "users": N, "items": N},
//    "results": [{"model": "mf", "type": "mf", "protocol": "online", "k": 10, "recall": R,
//                 "ndcg": N, "mrr": M, "coverage": C, "events_evaluated": N, "seconds": S,
//                 "events_per_second": E, "auc": A, "auc_events": N, "cold": {...},
//                 "warm": {...}, ...}, ...]}
// "auc" is the mean over evaluated events of the share of unseen items the target outscores
// (0 with "auc_events": 0 when none was evaluated). "ild" is the mean intra-list diversity of
// the evaluated top-K lists, measured with "ild_similarity" (0 with "ild_lists": 0 and "" when
// not measured), "categories_per_list" their mean distinct categories; the top-level "rank"
// object gives the ranking stage's settings ({"diversity", "lambda", "similarity", "pool",
// "category_cap", "reranked"}; eval/replay.h).
// "validation_curve" lists the validation score after each epoch of an iterative model's
// early stopping (empty for count models and fixed epochs; "batch_epochs" is the epoch kept).
// "intervals" (when replay computed them, eval/bootstrap.h): {"level": 0.95, "resamples": 200,
// "users": N, "recall": [low, high], "ndcg": [low, high], "mrr": [low, high]}, the bootstrap
// percentile intervals over users of the row's figures.
// Rows of the loo protocol also carry "hr" (= recall, HR@k) and "users_evaluated" (= events).
#ifndef LIVEREC_EVAL_REPORT_H_
#define LIVEREC_EVAL_REPORT_H_

#include <string>

#include "eval/replay.h"

namespace liverec {

// A fixed-width table, one row per model x protocol, for people.
std::string ReportTable(const ReplayReport& report);

// The JSON report; `extra` (a JSON object's text, may be empty) is merged in at top level.
std::string ReportJson(const ReplayReport& report, const std::string& extra_json = "");

// CSV with header window_start_ms,window_end_ms,model,protocol,events,recall,ndcg,mrr.
std::string SeriesCsv(const ReplayReport& report);

// One paragraph answering "does learning online pay?" from the report's numbers: for each
// model, online and warm against static and periodic on Recall@K.
std::string OnlineVerdict(const ReplayReport& report);

}  // namespace liverec

#endif  // LIVEREC_EVAL_REPORT_H_
