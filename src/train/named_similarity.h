// NamedSimilarity: what rank.similarity names, as an ItemSimilarity for re-ranking and the
// diversity metric. The one resolution of that option: the engine's recommender and replay both
// call it, and differ only in where the model that offers it comes from (the recommender: the
// first live model or ensemble member offering the basis; replay: the run's model).
//
// Thread safety: the returned function is as thread-safe as the model it reads.
#ifndef LIVEREC_TRAIN_NAMED_SIMILARITY_H_
#define LIVEREC_TRAIN_NAMED_SIMILARITY_H_

#include <string_view>

#include "model/capabilities.h"
#include "rank/similarity.h"

namespace liverec {

// Whether rank.similarity=`name` is available: "category" when the items have categories
// (`have_categories`), "embedding" and "knn" when a model with `capabilities` offers that basis
// (OffersSimilarity).
bool HasNamedSimilarity(std::string_view name, const ModelCapabilities& capabilities,
                        bool have_categories);

// The similarity rank.similarity=`name` asks for: "category" is `by_category`; "embedding" and
// "knn" are the UnitItemSimilarity of `*capabilities`, read at each call, so a caller that
// replaces its model (replay's rebuilds rediscover `*capabilities`) keeps one function.
// Requires HasNamedSimilarity; `*capabilities` must outlive the result.
ItemSimilarity NamedSimilarity(std::string_view name, const ModelCapabilities* capabilities,
                               const ItemSimilarity& by_category);

}  // namespace liverec

#endif  // LIVEREC_TRAIN_NAMED_SIMILARITY_H_
