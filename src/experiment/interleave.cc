#include "experiment/interleave.h"

#include <string_view>
#include <unordered_set>

#include "common/random.h"

namespace liverec {

std::vector<DraftedItem> TeamDraft(const std::array<std::span<const std::string>, 2>& lists,
                                   size_t k, uint64_t seed) {
  Random rng(seed);
  std::vector<DraftedItem> out;
  std::unordered_set<std::string_view> placed;
  std::array<size_t, 2> next = {0, 0};   // each team's first candidate not yet looked at
  std::array<size_t, 2> picks = {0, 0};  // items each team placed
  while (out.size() < k) {
    for (size_t t = 0; t < 2; ++t) {
      while (next[t] < lists[t].size() && placed.count(lists[t][next[t]]) != 0) ++next[t];
    }
    const bool has[2] = {next[0] < lists[0].size(), next[1] < lists[1].size()};
    if (!has[0] && !has[1]) break;
    size_t team = 0;
    double probability = 1;
    if (!has[0] || !has[1]) {
      team = has[0] ? 0 : 1;
    } else if (picks[0] != picks[1]) {
      team = picks[0] < picks[1] ? 0 : 1;
    } else {
      team = rng.Uniform(2);
      // Either team would have placed this item if both have it next.
      probability = lists[0][next[0]] == lists[1][next[1]] ? 1 : 0.5;
    }
    const size_t index = next[team]++;
    placed.insert(lists[team][index]);
    ++picks[team];
    out.push_back(DraftedItem{static_cast<uint8_t>(team), index, probability});
  }
  return out;
}

}  // namespace liverec
