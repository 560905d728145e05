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
#include "liverec/status.h"
#include "liverec/types.h"

namespace liverec {

class FeatureSource;

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

  // Records an event as context for scoring without learning from it: what a frozen model
  // still sees at serving time. A model whose scores read the user's recent items (item_knn)
  // updates that history here and leaves its learned parameters alone; models without such
  // state do nothing. Learn implies Observe.
  virtual void Observe(const Event& event) {}

  // Forgets what the model holds about `user` alone (recent items, the user's row and counts),
  // so that the id scores as a user never seen, and learns as a new user from its next event:
  // the engine hands the ids of users idle past engine.user_idle_ttl to new users. What their
  // events taught shared parameters (item rows, co-occurrences, popularity, and fm's hashed
  // user row, which a new owner shares as it would a hash collision) stays.
  virtual void ForgetUser(UserId user) {}

  // Writes the score of items[i] for `user` into out[i], higher is better. Must not mutate.
  virtual void Score(UserId user, std::span<const ItemId> items, float* out) const = 0;

  // The first stage of two-stage serving: appends to *out at most `n` items worth scoring for
  // `user`, without repeats, best first when the model can tell; every item appended is one
  // the model has learned. The caller then ranks these with Score instead of the whole
  // catalogue, so they should hold the model's own top n. Appending nothing means "no opinion:
  // score everything" (the default, for models without a cheap candidate source such as mf).
  // Cost should stay well below scoring the catalogue. Thread safety as Score.
  virtual void Candidates(UserId user, size_t n, std::vector<ItemId>* out) const {}

  // True when batch training means several shuffled epochs of Learn (mf). False when one pass
  // in time order is the exact batch solution (count-based models), so a rebuild from scratch
  // on a prefix of the stream equals the online state after that prefix.
  virtual bool iterative() const = 0;

  // True when Learn must read each user's events in time order even during batch epochs,
  // because it learns from the sequence it has read so far (seq). The batch trainer then feeds
  // every epoch in time order and calls ForgetHistory() before each epoch after the first;
  // otherwise iterative models get shuffled epochs.
  virtual bool ordered_epochs() const { return false; }
  // Clears the per-user history that Learn/Observe read (recent items), keeping every learned
  // parameter: the next epoch reads each user's sequence afresh. No-op for models without one.
  virtual void ForgetHistory() {}

  // Gives a feature-aware model (fm) the source of event context and item metadata features
  // (model/features.h). The caller keeps `source` alive while the model may use it and
  // mutates it only where it could also call Learn. Models that read no features ignore it.
  virtual void SetFeatureSource(const FeatureSource* source) {}

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
