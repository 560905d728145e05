// Team-draft interleaving (Radlinski, Kurup and Joachims, "How does clickthrough data reflect
// retrieval quality?", CIKM 2008): two rankers' lists merged into one, each shown item credited
// to the ranker ("team") that placed it, so that one list compares two rankers on the same user
// at the same moment; a list whose clicks fall more on one team's items is a vote for it.
//
// The draft: while the list is short and either list has an item not yet placed, the team that
// has placed fewer items picks next (a fair coin when they are even); it places its best item
// not yet placed. Each placed item carries its probability given the items above it: 1/2 when
// the coin chose and the teams' next items differ, 1 otherwise.
//
// Seeded (serving derives the seed from the recommendation id), so a replay draws the same list.
//
// Thread safety: a pure function of its arguments.
#ifndef LIVEREC_EXPERIMENT_INTERLEAVE_H_
#define LIVEREC_EXPERIMENT_INTERLEAVE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace liverec {

// The exploration policy a drafted list reports (Recommendations::explore, the decision's).
inline constexpr std::string_view kTeamDraftPolicy = "team_draft";

struct DraftedItem {
  uint8_t team = 0;  // 0 or 1: the list it came from
  size_t index = 0;  // its position in that list
  double probability = 1;
};

// Merges `lists[0]` and `lists[1]` (item keys, best first, each without repeats) into at most
// `k` items. An item both lists hold is placed once, by the team that picks it first.
std::vector<DraftedItem> TeamDraft(const std::array<std::span<const std::string>, 2>& lists,
                                   size_t k, uint64_t seed);

}  // namespace liverec

#endif  // LIVEREC_EXPERIMENT_INTERLEAVE_H_
