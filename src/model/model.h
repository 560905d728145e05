// Model: the interface every recommender model implements.
//
// A model learns incrementally from events in time order (Learn) and scores any set of items
// for a user (Score). The trainer (src/train) decides what to feed and when; a model's Learn is
// just the math of one step. All state round-trips through Save/Load, bit for bit, and a fresh
// model fed the same events in the same order reaches the same state (deterministic given the
// seed), which exact replay and crash recovery rely on.
//
// Ids: users and items are dense ids from the owner's id maps, assigned in order of first
// appearance; a model grows its tables when it first learns from an id. Items or users it has
// never learned from still get finite scores: kUnscored for items (below every real score), the
// model's default for unknown users.
//
// What only some models can do (candidates, histories, forgetting users, similarities,
// explanations, members) lives in narrow interfaces beside this one (model/capabilities.h),
// discovered once per model object.
//
// Thread safety: Score and other const methods may run concurrently with each other, never with
// Learn/Load (the engine learns under its state's write lock and scores under the read lock;
// replay uses one thread per model).
#ifndef LIVEREC_MODEL_MODEL_H_
#define LIVEREC_MODEL_MODEL_H_

#include <cfloat>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "common/serialize.h"
#include "event/event.h"
#include "liverec/status.h"

namespace liverec {

// The score of an item a model knows nothing about: finite, below every real score.
inline constexpr float kUnscored = -FLT_MAX;

// Runs of fewer events learn on the calling thread, models and ensemble members alike:
// starting threads would cost more than they save.
inline constexpr size_t kParallelLearnMinEvents = 64;

class Model {
 public:
  virtual ~Model() = default;

  // The model type ("popularity", "item_knn", "mf").
  virtual std::string_view type() const = 0;

  // Learns from one event. Events arrive in non-decreasing time_ms (online), or, for iterative
  // models during batch epochs, in any order.
  virtual void Learn(const Event& event) = 0;

  // Learns `events` in order: the same state as Learn on each, bit for bit. A model made of
  // independent parts (the ensemble's members) may learn them on threads of their own, from
  // kParallelLearnMinEvents events on.
  virtual void LearnBatch(std::span<const Event> events) {
    for (const Event& event : events) Learn(event);
  }

  // Writes the score of items[i] for `user` into out[i], higher is better. Must not mutate.
  virtual void Score(UserId user, std::span<const ItemId> items, float* out) const = 0;

  // True when batch training means several shuffled epochs of Learn (mf). False when one pass
  // in time order is the exact batch solution (count-based models), so a rebuild from scratch
  // on a prefix of the stream equals the online state after that prefix.
  virtual bool iterative() const = 0;

  // A deep copy (publishing, checkpoints of the best epoch).
  virtual std::unique_ptr<Model> Clone() const = 0;

  // Serializes all state, with a type tag and format version first.
  virtual void Save(BinaryWriter* out) const = 0;
  // Replaces all state with what Save wrote; Corruption on foreign or truncated bytes.
  virtual Status Load(BinaryReader* in) = 0;

  // Approximate heap bytes held.
  virtual size_t MemoryBytes() const = 0;
};

}  // namespace liverec

#endif  // LIVEREC_MODEL_MODEL_H_
