// Features: what feature-aware models (fm) read about an event and an item beyond its ids.
//
// A feature is a 64-bit hash of its text: "device=mobile" for an event's context pair,
// "category:news", "tag:sport", "token:goal" for an item's metadata. Hashes of text rather than
// interned ids, so a feature means the same in replay, in the server and after a restart, and a
// model maps them into a table of its own size (the hashing trick).
//
// The owner of the events implements FeatureSource: the Dataset and its item metadata in replay,
// the engine state in the server.
#ifndef LIVEREC_MODEL_FEATURES_H_
#define LIVEREC_MODEL_FEATURES_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/random.h"
#include "event/event.h"

namespace liverec {

// A stable 64-bit hash of `text` (FNV-1a, then a SplitMix64 finalizer so that the low bits a
// table index takes are well mixed). The same on every machine and in every release: features
// saved in a snapshot must keep their meaning.
inline uint64_t FeatureHash(std::string_view text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return SplitMix64(h);
}

// The feature of an event's context pair: FeatureHash("key=value").
inline uint64_t ContextFeature(std::string_view key, std::string_view value) {
  std::string text;
  text.reserve(key.size() + 1 + value.size());
  text.append(key).append(1, '=').append(value);
  return FeatureHash(text);
}

// Appends the names of an item's metadata features: "category:" + c per category, "tag:" + t
// per tag and "token:" + w per text token, in that order. Replay and the server both build
// item features from these names, so a feature means the same in either, and explanations
// name a feature by its position in this list.
inline void AppendItemFeatureNames(std::span<const std::string> categories,
                                   std::span<const std::string> tags,
                                   std::span<const std::string> tokens,
                                   std::vector<std::string>* out) {
  for (const std::string& c : categories) out->push_back("category:" + c);
  for (const std::string& t : tags) out->push_back("tag:" + t);
  for (const std::string& w : tokens) out->push_back("token:" + w);
}

// Appends the features (FeatureHash of each name above) of an item's metadata.
inline void AppendItemFeatures(std::span<const std::string> categories,
                               std::span<const std::string> tags,
                               std::span<const std::string> tokens, std::vector<uint64_t>* out) {
  std::vector<std::string> names;
  AppendItemFeatureNames(categories, tags, tokens, &names);
  for (const std::string& name : names) out->push_back(FeatureHash(name));
}

class FeatureSource {
 public:
  virtual ~FeatureSource() = default;
  // Appends to *out the features of `event`'s context pairs ("key=value"), one per pair.
  virtual void EventFeatures(const Event& event, std::vector<uint64_t>* out) const = 0;
  // Appends to *out the features of `item`'s metadata (categories, tags, text tokens); nothing
  // for items without metadata.
  virtual void ItemFeatures(ItemId item, std::vector<uint64_t>* out) const = 0;
};

}  // namespace liverec

#endif  // LIVEREC_MODEL_FEATURES_H_
