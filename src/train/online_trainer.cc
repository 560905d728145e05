#include "train/online_trainer.h"

#include <utility>

#include "common/check.h"
#include "common/parallel.h"
#include "model/capabilities.h"
#include "model/step_learner.h"

namespace liverec {

OnlineTrainer::~OnlineTrainer() = default;  // each Worker stops its thread

void OnlineTrainer::AddModel(Model* model) {
  LIVEREC_CHECK(model != nullptr);
  Slot& slot = models_.emplace_back();
  slot.model = model;
  slot.steps = DiscoverCapabilities(*model).step_learner;
  Schedule(&slot);
}

void OnlineTrainer::ReplaceModel(size_t index, Model* model) {
  LIVEREC_CHECK(index < models_.size() && model != nullptr) << index << " of " << models_.size();
  Slot& slot = models_[index];
  // The old model is to be destroyed: its queued steps are of no use to anyone.
  slot.worker.reset();
  slot.model = model;
  slot.steps = DiscoverCapabilities(*model).step_learner;
  Schedule(&slot);
}

void OnlineTrainer::Schedule(Slot* slot) {
  const bool background = background_ && slot->steps != nullptr;
  if (background && slot->worker == nullptr) {
    slot->worker = std::make_unique<Worker>(slot->steps);
  } else if (!background && slot->worker != nullptr) {
    slot->worker->Wait(0);
    slot->worker.reset();
  }
}

void OnlineTrainer::Learn(const Event& event) {
  if (defer_) {
    deferred_.push_back(event);
    return;
  }
  for (Slot& slot : models_) {
    if (slot.worker != nullptr) {
      LearnWith(&slot, std::span<const Event>(&event, 1));
    } else {
      slot.model->Learn(event);
    }
  }
}

void OnlineTrainer::SetDeferred(bool on) {
  if (!on) Flush();
  defer_ = on;
}

void OnlineTrainer::Flush() {
  if (deferred_.empty()) return;
  // Models share nothing, so each learns the whole run on a thread of its own.
  const std::span<const Event> events(deferred_);
  RunEach(models_.size(), events.size() >= kParallelLearnMinEvents,
          [&](size_t m) { LearnWith(&models_[m], events); });
  deferred_.clear();
}

void OnlineTrainer::LearnWith(Slot* slot, std::span<const Event> events) {
  if (slot->worker == nullptr) {
    slot->model->LearnBatch(events);
    return;
  }
  // Each event's steps go to the queue at once, so the thread starts on them while the rest of
  // the run is recorded.
  std::vector<std::unique_ptr<LearnStep>> steps;
  for (const Event& event : events) {
    slot->steps->Record(event, &steps);
    if (!steps.empty()) slot->worker->Submit(&steps);
  }
}

void OnlineTrainer::SetLearnInBackground(bool on) {
  background_ = on;
  for (Slot& slot : models_) Schedule(&slot);
}

void OnlineTrainer::WaitForLearning(size_t max_queued) const {
  for (const Slot& slot : models_) {
    if (slot.worker != nullptr) slot.worker->Wait(max_queued);
  }
}

size_t OnlineTrainer::queued_steps() const {
  size_t queued = 0;
  for (const Slot& slot : models_) {
    if (slot.worker != nullptr) queued += slot.worker->Queued();
  }
  return queued;
}

void OnlineTrainer::Worker::Submit(std::vector<std::unique_ptr<LearnStep>>* steps) {
  {
    MutexLock lock(&mu);
    for (std::unique_ptr<LearnStep>& step : *steps) queue.push_back(std::move(step));
    if (!thread.joinable()) {
      // Started from the learning thread, the thread inherits its scheduling priority.
      thread = std::thread([this] { Loop(); });
    }
  }
  steps->clear();
  cv.notify_all();
}

size_t OnlineTrainer::Worker::Queued() const {
  MutexLock lock(&mu);
  return queue.size() + (busy ? 1 : 0);
}

void OnlineTrainer::Worker::Wait(size_t max_queued) const {
  MutexLock lock(&mu);
  while (queue.size() + (busy ? 1 : 0) > max_queued) lock.Wait(&cv);
}

void OnlineTrainer::Worker::Stop() {
  {
    MutexLock lock(&mu);
    stop = true;
  }
  cv.notify_all();
  if (thread.joinable()) thread.join();
  MutexLock lock(&mu);
  queue.clear();
  stop = false;
}

void OnlineTrainer::Worker::Loop() {
  MutexLock lock(&mu);
  while (true) {
    while (!stop && queue.empty()) lock.Wait(&cv);
    if (stop) return;
    const std::unique_ptr<LearnStep> step = std::move(queue.front());
    queue.pop_front();
    busy = true;
    lock.Unlock();
    learner->RunStep(*step);
    lock.Lock();
    busy = false;
    cv.notify_all();
  }
}

}  // namespace liverec
