// Creates model instances by type name. Options come from the option table through an
// OptionView ("<instance>.<field>" over "<type>.<field>" over the default).
#ifndef LIVEREC_MODEL_REGISTRY_H_
#define LIVEREC_MODEL_REGISTRY_H_

#include <memory>
#include <span>
#include <string_view>

#include "liverec/context.h"
#include "liverec/options.h"
#include "model/model.h"

namespace liverec {

// The model types this build knows: popularity, item_knn, transitions, mf, seq, fm,
// ensemble.
std::span<const std::string_view> ModelTypes();

// A fresh model of type options.type(); NotFound for an unknown type (with a suggestion).
StatusOr<std::unique_ptr<Model>> CreateModel(const OptionView& options, const Context& context);

}  // namespace liverec

#endif  // LIVEREC_MODEL_REGISTRY_H_
