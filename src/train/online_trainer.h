// OnlineTrainer: decides when a set of live models learns the events applied to them; each
// model keeps only the math of its steps (model.h, model/step_learner.h).
//
// Three schedules, every one giving each model the events in the order Learn received them, so
// the models' state is the same, bit for bit, whichever runs:
//   inline      Learn runs each model's Learn at once, model after model.
//   deferred    (SetDeferred) Learn only records the event; Flush runs each model over the
//               recorded run as one batch (Model::LearnBatch), every model on a thread of its
//               own from kParallelLearnMinEvents events on: replaying a log, applying a batch.
//   background  (SetLearnInBackground) a model that is a StepLearner (seq) records the cheap
//               part of each event where it would have learned it, inline or at Flush, and its
//               steps queue for a thread of its own, which runs them in order, concurrently
//               with Score: the parameters lag by the queued steps, which WaitForLearning
//               bounds (back-pressure) or drains. Other models learn as without it.
// Save, Clone, Load and any read of the parameters of a StepLearner require WaitForLearning(0)
// first (test-then-train ranking too: it must see every event before the one it ranks).
//
// Thread safety: one thread (the models' owner: the engine's apply thread, under the state's
// write lock) calls the methods that are not const. WaitForLearning and queued_steps may run on
// any thread, concurrently with each other and with Learn and Flush, but not with AddModel,
// ReplaceModel or SetLearnInBackground. The background threads call only StepLearner::RunStep,
// which the model synchronizes with Score and with the owner's Record.
#ifndef LIVEREC_TRAIN_ONLINE_TRAINER_H_
#define LIVEREC_TRAIN_ONLINE_TRAINER_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <span>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "common/thread_annotations.h"
#include "event/event.h"
#include "model/model.h"
#include "model/step_learner.h"

namespace liverec {

class OnlineTrainer {
 public:
  OnlineTrainer() = default;
  // Stops the background threads after the steps they are running; steps still queued are
  // dropped, so models with queued steps are to be discarded, not saved.
  ~OnlineTrainer();
  OnlineTrainer(const OnlineTrainer&) = delete;
  OnlineTrainer& operator=(const OnlineTrainer&) = delete;

  // Adds `model` after the models added before (the order they learn an event in). Not owned:
  // it must outlive the trainer or its replacement by ReplaceModel.
  void AddModel(Model* model);
  // Puts `model` in the place of the index-th model added, under the current schedules. The
  // old model's queued steps are dropped and the one running finishes first, so the caller
  // may destroy the old model on return.
  void ReplaceModel(size_t index, Model* model);
  size_t num_models() const { return models_.size(); }

  // Learns `event` with every model, now or, while deferring, at the next Flush. What the event
  // points to beyond itself (context features) must stay valid until it is learned.
  void Learn(const Event& event);

  // Deferred learning on or off; turning it off flushes.
  void SetDeferred(bool on);
  bool deferring() const { return defer_; }
  // Learns the deferred events (none: returns at once). Between a deferred Learn and the
  // flush, the models lag: nothing may read or save them then.
  void Flush();

  // Background learning on or off for StepLearner models, those added later included. Turning
  // it off waits for every queued step. The threads start from the thread that learns, when it
  // first hands them a step, and inherit its scheduling priority.
  void SetLearnInBackground(bool on);
  bool learns_in_background() const { return background_; }
  // Blocks until at most `max_queued` steps wait or run in each model's queue: 0 gives the
  // state of having learned every event so far; a bound above 0 keeps the parameters' lag
  // bounded under a flood, and makes the learning thread wait for the steps instead of
  // outrunning them. Returns at once without background learning.
  void WaitForLearning(size_t max_queued) const;
  // Steps waiting or running, summed over the models.
  size_t queued_steps() const;

 private:
  // The queue of one StepLearner's steps and the thread that runs them.
  struct Worker {
    explicit Worker(StepLearner* step_learner) : learner(step_learner) {}
    ~Worker() { Stop(); }
    // Puts steps on the queue, oldest first, and starts the thread on the first.
    void Submit(std::vector<std::unique_ptr<LearnStep>>* steps) LIVEREC_EXCLUDES(mu);
    // Steps waiting or running.
    size_t Queued() const LIVEREC_EXCLUDES(mu);
    void Wait(size_t max_queued) const LIVEREC_EXCLUDES(mu);
    // Stops the thread after the step it runs and drops the queue.
    void Stop() LIVEREC_EXCLUDES(mu);
    void Loop() LIVEREC_EXCLUDES(mu);

    StepLearner* const learner;
    mutable Mutex mu;
    mutable std::condition_variable cv;  // the queue or busy changed, or stop
    std::deque<std::unique_ptr<LearnStep>> queue LIVEREC_GUARDED_BY(mu);  // oldest first
    // The thread runs a step it took off the queue.
    bool busy LIVEREC_GUARDED_BY(mu) = false;
    bool stop LIVEREC_GUARDED_BY(mu) = false;
    // The owner's: started by Submit (under mu, beside the queue), joined by Stop (without mu,
    // which the thread needs to end); both run on the owner's thread.
    std::thread thread;
  };
  struct Slot {
    Model* model = nullptr;
    StepLearner* steps = nullptr;    // the model as a StepLearner, or null
    std::unique_ptr<Worker> worker;  // under background learning, for a StepLearner
  };

  // Learns `events` with one model under the current schedule.
  void LearnWith(Slot* slot, std::span<const Event> events);
  // Gives the slot a worker or takes it away, as background learning says.
  void Schedule(Slot* slot);

  std::vector<Slot> models_;
  bool defer_ = false;
  bool background_ = false;
  std::vector<Event> deferred_;  // events learned while deferring, not yet flushed
};

}  // namespace liverec

#endif  // LIVEREC_TRAIN_ONLINE_TRAINER_H_
