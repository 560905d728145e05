#include "train/online_trainer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/rw_lock.h"
#include "common/serialize.h"
#include "liverec/options.h"
#include "model/model_testing.h"
#include "model/registry.h"

namespace liverec {
namespace {

using testing::SaveBytes;

// Small models that learn fast; seq steps a micro-batch of 3 examples, one per learned event.
class Models {
 public:
  Models() {
    for (const char* set :
         {"mf.dim=8", "seq.dim=8", "seq.max_len=5", "seq.blocks=2", "seq.heads=2", "seq.batch=3",
          "seq.negatives=4", "seq.stride=1", "seq.train_positions=5"}) {
      EXPECT_TRUE(options_.SetAssignment(set).ok()) << set;
    }
  }
  std::unique_ptr<Model> Make(const std::string& type) const {
    Context context;
    context.seed = 42;
    StatusOr<std::unique_ptr<Model>> model =
        CreateModel(OptionView(&options_, type, type), context);
    EXPECT_TRUE(model.ok()) << model.status().message();
    return std::move(model).value();
  }
  // seq, mf and popularity, in that order.
  std::vector<std::unique_ptr<Model>> MakeSet() const {
    std::vector<std::unique_ptr<Model>> set;
    for (const char* type : {"seq", "mf", "popularity"}) set.push_back(Make(type));
    return set;
  }

 private:
  Options options_;
};

// A stream where user u walks the items u, u+1, ... (mod num_items), users interleaved.
std::vector<Event> WalkStream(uint32_t num_users, uint32_t num_items, uint32_t steps) {
  std::vector<Event> events;
  for (uint32_t s = 0; s < steps; ++s) {
    for (UserId u = 0; u < num_users; ++u) {
      events.push_back(
          testing::MakeEvent(static_cast<int64_t>(events.size()), u, (u + s) % num_items));
    }
  }
  return events;
}

std::vector<std::string> SetBytes(const std::vector<std::unique_ptr<Model>>& set) {
  std::vector<std::string> bytes;
  for (const std::unique_ptr<Model>& model : set) bytes.push_back(SaveBytes(*model));
  return bytes;
}

void AddAll(const std::vector<std::unique_ptr<Model>>& set, OnlineTrainer* trainer) {
  for (const std::unique_ptr<Model>& model : set) trainer->AddModel(model.get());
}

// Each model learning each event by itself: the oracle.
std::vector<std::string> LearnedOneByOne(const Models& models, std::span<const Event> events) {
  std::vector<std::unique_ptr<Model>> set = models.MakeSet();
  for (const Event& e : events) {
    for (const std::unique_ptr<Model>& model : set) model->Learn(e);
  }
  return SetBytes(set);
}

TEST(OnlineTrainerTest, InlineDeferredAndBackgroundLearningEndInTheSameBytes) {
  const Models models;
  // Runs above kParallelLearnMinEvents, so the deferred flushes learn on threads.
  const std::vector<Event> events = WalkStream(6, 11, 40);
  const std::vector<std::string> expected = LearnedOneByOne(models, events);
  constexpr size_t kRun = 100;

  for (const bool background : {false, true}) {
    for (const bool deferred : {false, true}) {
      SCOPED_TRACE(std::string(background ? "background" : "foreground") +
                   (deferred ? ", deferred" : ", inline"));
      const std::vector<std::unique_ptr<Model>> set = models.MakeSet();
      OnlineTrainer trainer;
      AddAll(set, &trainer);
      trainer.SetLearnInBackground(background);
      trainer.SetDeferred(deferred);
      for (size_t e = 0; e < events.size(); ++e) {
        if (e % kRun == 0) {
          trainer.Flush();
          trainer.WaitForLearning(2);  // bounded lag, as the engine keeps it
        }
        trainer.Learn(events[e]);
      }
      trainer.SetDeferred(false);
      trainer.WaitForLearning(0);
      EXPECT_EQ(SetBytes(set), expected);
    }
  }
}

TEST(OnlineTrainerTest, DeferredLearningWaitsForTheFlush) {
  const Models models;
  const std::vector<Event> events = WalkStream(3, 5, 4);
  const std::vector<std::unique_ptr<Model>> set = models.MakeSet();
  const std::vector<std::string> fresh = SetBytes(set);
  OnlineTrainer trainer;
  AddAll(set, &trainer);
  trainer.SetDeferred(true);
  for (const Event& e : events) trainer.Learn(e);
  EXPECT_EQ(SetBytes(set), fresh);
  trainer.Flush();
  EXPECT_EQ(SetBytes(set), LearnedOneByOne(models, events));
}

TEST(OnlineTrainerTest, WaitingForBackgroundLearningBoundsTheQueuedSteps) {
  const Models models;
  const std::vector<Event> events = WalkStream(8, 20, 40);
  const std::unique_ptr<Model> seq = models.Make("seq");
  OnlineTrainer trainer;
  trainer.AddModel(seq.get());
  trainer.SetLearnInBackground(true);
  for (const size_t bound : {size_t{5}, size_t{1}, size_t{0}}) {
    trainer.SetDeferred(true);
    for (const Event& e : events) trainer.Learn(e);
    trainer.SetDeferred(false);  // the run's steps queue at once
    trainer.WaitForLearning(bound);
    // Only this thread hands out steps, so the count can only fall from here.
    EXPECT_LE(trainer.queued_steps(), bound);
  }
  EXPECT_EQ(trainer.queued_steps(), 0u);
}

TEST(OnlineTrainerTest, CloneAndLoadOfABackgroundLearnerAfterWaitingForItsSteps) {
  const Models models;
  const std::vector<Event> events = WalkStream(5, 9, 12);
  const std::unique_ptr<Model> background = models.Make("seq");
  const std::unique_ptr<Model> inline_model = models.Make("seq");
  OnlineTrainer trainer;
  trainer.AddModel(background.get());
  trainer.SetLearnInBackground(true);
  for (const Event& e : events) {
    trainer.Learn(e);
    inline_model->Learn(e);
  }
  trainer.WaitForLearning(0);
  const std::unique_ptr<Model> clone = background->Clone();
  EXPECT_EQ(SaveBytes(*clone), SaveBytes(*inline_model));
  // Load replaces a state whose steps were queued.
  for (const Event& e : events) trainer.Learn(e);
  trainer.WaitForLearning(0);
  const std::string saved = SaveBytes(*inline_model);
  BinaryReader reader(saved);
  ASSERT_TRUE(background->Load(&reader).ok());
  EXPECT_EQ(SaveBytes(*background), saved);
  // Turning it off waits, and the model learns inline again.
  for (const Event& e : events) {
    trainer.Learn(e);
    inline_model->Learn(e);
  }
  trainer.SetLearnInBackground(false);
  EXPECT_EQ(trainer.queued_steps(), 0u);
  for (const Event& e : events) {
    trainer.Learn(e);
    inline_model->Learn(e);
  }
  EXPECT_EQ(SaveBytes(*background), SaveBytes(*inline_model));
}

TEST(OnlineTrainerTest, AModelReplacedUnderBackgroundLearningLearnsInTheBackgroundToo) {
  const Models models;
  const std::vector<Event> events = WalkStream(5, 9, 12);
  OnlineTrainer trainer;
  auto old_model = models.Make("seq");
  trainer.AddModel(old_model.get());
  trainer.SetLearnInBackground(true);
  for (const Event& e : events) trainer.Learn(e);
  const std::unique_ptr<Model> replacement = models.Make("seq");
  trainer.ReplaceModel(0, replacement.get());
  old_model.reset();  // its queued steps are gone with it
  const std::unique_ptr<Model> inline_model = models.Make("seq");
  for (const Event& e : events) {
    trainer.Learn(e);
    inline_model->Learn(e);
  }
  trainer.WaitForLearning(0);
  EXPECT_EQ(SaveBytes(*replacement), SaveBytes(*inline_model));
}

// Readers score, under a lock that keeps them from the trainer's owner as the engine's state
// lock does, while the trainer's thread steps: its parameter updates must not race with them
// (TSan), and every score stays finite.
TEST(OnlineTrainerTest, ConcurrentScoresWhileLearningInTheBackground) {
  const Models models;
  const std::vector<Event> events = WalkStream(8, 40, 60);
  const std::unique_ptr<Model> model = models.Make("seq");
  OnlineTrainer trainer;
  trainer.AddModel(model.get());
  trainer.SetLearnInBackground(true);
  RwLock state_lock;
  std::atomic<bool> done{false};
  std::atomic<size_t> scored{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&, r] {
      std::vector<ItemId> items(40);
      for (ItemId i = 0; i < 40; ++i) items[i] = i;
      std::vector<float> out(items.size());
      for (UserId u = static_cast<UserId>(r); !done.load(); u = (u + 1) % 8) {
        ReadLock lock(&state_lock);
        model->Score(u, items, out.data());
        for (float x : out) ASSERT_TRUE(std::isfinite(x) || x == kUnscored);
        scored.fetch_add(1);
      }
    });
  }
  for (size_t e = 0; e < events.size(); e += 16) {
    trainer.WaitForLearning(2);
    std::lock_guard lock(state_lock);
    trainer.SetDeferred(true);
    const size_t end = std::min(events.size(), e + 16);
    for (size_t i = e; i < end; ++i) trainer.Learn(events[i]);
    trainer.SetDeferred(false);
  }
  trainer.WaitForLearning(0);
  done = true;
  for (std::thread& reader : readers) reader.join();
  EXPECT_GT(scored.load(), 0u);
  const std::unique_ptr<Model> inline_model = models.Make("seq");
  for (const Event& e : events) inline_model->Learn(e);
  EXPECT_EQ(SaveBytes(*model), SaveBytes(*inline_model));
}

}  // namespace
}  // namespace liverec
