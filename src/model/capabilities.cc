#include "model/capabilities.h"

#include "model/step_learner.h"

namespace liverec {

std::string_view SimilarityBasisName(SimilarityBasis basis) {
  switch (basis) {
    case SimilarityBasis::kEmbedding:
      return "embedding";
    case SimilarityBasis::kCoOccurrence:
      return "knn";
  }
  return "unknown";
}

// One dynamic_cast per capability, here and only here (the trainer finds step learners here too):
// callers keep the result and test its pointers, so no caller names a concrete model type or asks
// again per request.
ModelCapabilities DiscoverCapabilities(Model& model) {
  ModelCapabilities c;
  c.candidates = dynamic_cast<const CandidateSource*>(&model);
  c.observer = dynamic_cast<HistoryObserver*>(&model);
  c.forgetting = dynamic_cast<UserForgetting*>(&model);
  c.item_forgetting = dynamic_cast<ItemForgetting*>(&model);
  c.epochs = dynamic_cast<OrderedEpochs*>(&model);
  c.features = dynamic_cast<FeatureAware*>(&model);
  c.unit_similarity = dynamic_cast<const UnitItemSimilarity*>(&model);
  c.raw_similarity = dynamic_cast<const RawItemSimilarity*>(&model);
  c.nearest_items = dynamic_cast<const NearestItems*>(&model);
  c.feature_explainer = dynamic_cast<const FeatureExplainer*>(&model);
  c.members = dynamic_cast<const MemberList*>(&model);
  c.step_learner = dynamic_cast<StepLearner*>(&model);
  c.retrieval = dynamic_cast<EmbeddingRetrieval*>(&model);
  c.rounds = dynamic_cast<RoundLearner*>(&model);
  return c;
}

void MarkItems(std::span<const ItemId> items, std::vector<uint8_t>* out) {
  out->clear();
  for (const ItemId item : items) {
    if (item >= out->size()) out->resize(size_t{item} + 1, 0);
    (*out)[item] = 1;
  }
}

bool OffersSimilarity(const ModelCapabilities& capabilities, std::string_view name) {
  return capabilities.unit_similarity != nullptr &&
         SimilarityBasisName(capabilities.unit_similarity->similarity_basis()) == name;
}

}  // namespace liverec
