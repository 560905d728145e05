// An SVG line chart of windowed Recall@K over stream time, one line per model x protocol:
// colour by model, dash pattern by protocol, axes with dates and percentages, a legend.
// Self-contained (no scripts, no external fonts); readable at its natural size (1000 x 560).
#ifndef LIVEREC_EVAL_CHART_H_
#define LIVEREC_EVAL_CHART_H_

#include <string>

#include "eval/replay.h"

namespace liverec {

std::string RecallChartSvg(const ReplayReport& report, const std::string& title);

}  // namespace liverec

#endif  // LIVEREC_EVAL_CHART_H_
