#include "train/named_similarity.h"

#include "common/check.h"

namespace liverec {

bool HasNamedSimilarity(std::string_view name, const ModelCapabilities& capabilities,
                        bool have_categories) {
  if (name == "category") return have_categories;
  return OffersSimilarity(capabilities, name);
}

ItemSimilarity NamedSimilarity(std::string_view name, const ModelCapabilities* capabilities,
                               const ItemSimilarity& by_category) {
  if (name == "category") {
    LIVEREC_CHECK(by_category != nullptr) << "rank.similarity=category without categories";
    return by_category;
  }
  LIVEREC_CHECK(OffersSimilarity(*capabilities, name)) << "rank.similarity=" << name;
  return [capabilities](ItemId a, ItemId b) {
    return capabilities->unit_similarity->UnitSimilarity(a, b);
  };
}

}  // namespace liverec
