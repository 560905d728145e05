// StepLearner: the narrow interface of a model whose learning step costs more than an event
// should wait for (seq: a forward and backward pass per micro-batch), through which the online
// trainer (train/online_trainer.h) runs those steps on a thread of its own.
//
// Learning an event splits in two: Record, the cheap part that scoring reads at once (histories,
// counts, new rows), done by the caller of Learn; and the steps it completes, handed back
// instead of run. Running every step handed back, in order, gives the state of Learn on the
// same events, bit for bit: a step is fixed when it is handed back (what it derives from is in
// it), so it gives the same result whenever it runs.
//
// Thread safety: Record, and the Model methods that mutate (Learn, Observe, ForgetUser), run on
// one thread; RunStep on one thread, possibly another, concurrently with them and with Score.
// The model synchronizes the two with a lock of its own, held by RunStep only while it writes
// the parameters, so neither Record nor Score waits on a step's computation. Save, Clone, Load
// and the model's accessors of its parameters require every step handed back to have run.
#ifndef LIVEREC_MODEL_STEP_LEARNER_H_
#define LIVEREC_MODEL_STEP_LEARNER_H_

#include <memory>
#include <vector>

#include "event/event.h"

namespace liverec {

// One unit of a StepLearner's learning (seq: a full micro-batch), opaque to everyone but the
// model that handed it back.
class LearnStep {
 public:
  virtual ~LearnStep() = default;
};

class StepLearner {
 public:
  virtual ~StepLearner() = default;

  // Learns the cheap part of `event` and appends the steps it completes to *steps, oldest
  // first, without running them (usually none: a step per micro-batch of examples).
  virtual void Record(const Event& event, std::vector<std::unique_ptr<LearnStep>>* steps) = 0;

  // Runs `step`, which this model handed back, after every step handed back before it.
  virtual void RunStep(const LearnStep& step) = 0;
};

}  // namespace liverec

#endif  // LIVEREC_MODEL_STEP_LEARNER_H_
