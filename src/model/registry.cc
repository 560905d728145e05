#include "model/registry.h"

#include <array>

#include "common/strings.h"
#include "model/ensemble/ensemble.h"
#include "model/fm/fm.h"
#include "model/item_knn/item_knn.h"
#include "model/mf/mf.h"
#include "model/popularity/popularity.h"
#include "model/seq/seq.h"
#include "model/transitions/transitions.h"

namespace liverec {
namespace {
constexpr std::array<std::string_view, 7> kModelTypes = {
    "popularity", "item_knn", "transitions", "mf", "seq", "fm", "ensemble"};
}  // namespace

std::span<const std::string_view> ModelTypes() { return kModelTypes; }

StatusOr<std::unique_ptr<Model>> CreateModel(const OptionView& options, const Context& context) {
  const std::string& type = options.type();
  if (type == "popularity") return std::unique_ptr<Model>(new PopularityModel(options, context));
  if (type == "item_knn") return std::unique_ptr<Model>(new ItemKnnModel(options, context));
  if (type == "transitions") {
    return std::unique_ptr<Model>(new TransitionsModel(options, context));
  }
  if (type == "mf") return std::unique_ptr<Model>(new MfModel(options, context));
  if (type == "fm") return std::unique_ptr<Model>(new FmModel(options, context));
  if (type == "seq") {
    LIVEREC_RETURN_IF_ERROR(SeqModel::ValidateOptions(options));
    return std::unique_ptr<Model>(new SeqModel(options, context));
  }
  if (type == "ensemble") {
    LIVEREC_ASSIGN_OR_RETURN(std::unique_ptr<EnsembleModel> ensemble,
                             EnsembleModel::Create(options, context));
    return std::unique_ptr<Model>(std::move(ensemble));
  }
  std::string_view best = kModelTypes[0];
  for (std::string_view candidate : kModelTypes) {
    if (EditDistance(type, candidate) < EditDistance(type, best)) best = candidate;
  }
  return NotFound("unknown model type '" + type + "'; did you mean '" + std::string(best) + "'?");
}

}  // namespace liverec
