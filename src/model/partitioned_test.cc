#include "model/partitioned.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/random.h"
#include "liverec/options.h"
#include "model/fm/fm.h"
#include "model/mf/mf.h"
#include "model/model_testing.h"
#include "model/popularity/popularity.h"
#include "model/registry.h"

namespace liverec {
namespace {

using testing::kEpochMs;
using testing::MakeEvent;
using testing::SaveBytes;

constexpr uint32_t kUsers = 40;
constexpr uint32_t kItems = 60;

using Factory = testing::ModelMaker;

Factory MfFactory() { return Factory("mf", {{"dim", "8"}, {"negatives", "2"}}); }
Factory FmFactory() { return Factory("fm", {{"dim", "8"}, {"hash_bits", "12"}}); }

// Users in three partitions by id; a stream where users prefer items near their own id, one
// event every 100 ms of stream time.
uint32_t ThreeWay(UserId user) { return user % 3; }

std::vector<Event> Stream(size_t n, uint64_t seed, int64_t start_ms = kEpochMs) {
  Random random(seed);
  std::vector<Event> events;
  for (size_t i = 0; i < n; ++i) {
    const auto user = static_cast<UserId>(random.Uniform(kUsers));
    const auto item = static_cast<ItemId>((user + random.Uniform(8)) % kItems);
    events.push_back(MakeEvent(start_ms + static_cast<int64_t>(i) * 100, user, item));
  }
  return events;
}

std::unique_ptr<PartitionedModel> Partitioned(const Factory& factory, uint32_t partitions,
                                              int64_t round_ms = 0) {
  StatusOr<std::unique_ptr<PartitionedModel>> model =
      PartitionedModel::Create(factory.Make(), partitions, round_ms, ThreeWay);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return std::move(model).value();
}

void LearnAll(Model* model, const std::vector<Event>& events) {
  for (const Event& e : events) model->Learn(e);
}

std::vector<Event> OfPartition(const std::vector<Event>& events, uint32_t p) {
  std::vector<Event> out;
  for (const Event& e : events) {
    if (ThreeWay(e.user) == p) out.push_back(e);
  }
  return out;
}

// The shared parameters of a model as floats: mf's item rows and biases, fm's table and w0.
std::vector<float> SharedParameters(const Model& model) {
  std::vector<float> out;
  if (const auto* mf = dynamic_cast<const MfModel*>(&model)) {
    const EmbeddingTable& items = mf->item_factors();
    for (uint32_t row = 0; row < items.num_rows(); ++row) {
      out.insert(out.end(), items.row(row), items.row(row) + items.dim());
      out.push_back(mf->item_bias(row));
    }
  } else if (const auto* fm = dynamic_cast<const FmModel*>(&model)) {
    for (uint32_t row = 0; row < fm->num_rows(); ++row) {
      const std::span<const float> v = fm->factors(row);
      out.insert(out.end(), v.begin(), v.end());
      out.push_back(fm->weight(row));
    }
    out.push_back(fm->bias());
  }
  return out;
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

class PartitionedTest : public ::testing::TestWithParam<std::string> {
 protected:
  Factory factory() const { return GetParam() == "mf" ? MfFactory() : FmFactory(); }
};

TEST_P(PartitionedTest, OnePartitionWithoutRoundsIsThePlainModel) {
  const std::vector<Event> events = Stream(600, 1);
  std::unique_ptr<PartitionedModel> partitioned =
      PartitionedModel::Create(factory().Make(), 1, 0, [](UserId) { return 0u; }).value();
  std::unique_ptr<Model> plain = factory().Make();
  LearnAll(partitioned.get(), events);
  LearnAll(plain.get(), events);
  EXPECT_EQ(SaveBytes(partitioned->copy(0)), SaveBytes(*plain));
}

TEST_P(PartitionedTest, WithinARoundEachCopyLearnsOnlyItsOwnUsers) {
  const std::vector<Event> events = Stream(600, 2);
  std::unique_ptr<PartitionedModel> partitioned = Partitioned(factory(), 3);
  LearnAll(partitioned.get(), events);
  for (uint32_t p = 0; p < 3; ++p) {
    std::unique_ptr<Model> plain = factory().Make();
    LearnAll(plain.get(), OfPartition(events, p));
    EXPECT_EQ(SaveBytes(partitioned->copy(p)), SaveBytes(*plain)) << "partition " << p;
  }
}

// The contract of RoundLearner, computed independently: copies of the round's start learn
// their partitions' events, and each shared row becomes, in float, base + d_0 + d_1 + d_2 (fm)
// or base + d_0 / n + d_1 / n + d_2 / n (mf), n the number of partitions that moved the row
// (their d_p nonzero).
TEST_P(PartitionedTest, EndRoundAddsEachPartitionsChangeInPartitionOrder) {
  const std::vector<Event> warmup = Stream(900, 3);
  const std::vector<Event> round = Stream(300, 4, warmup.back().time_ms + 100);
  std::unique_ptr<PartitionedModel> partitioned = Partitioned(factory(), 3);
  LearnAll(partitioned.get(), warmup);
  partitioned->EndRound();

  // Every item appeared in the warm-up round, so the base has every shared row.
  const std::vector<float> base = SharedParameters(partitioned->copy(0));
  std::vector<std::vector<float>> learned(3);
  for (uint32_t p = 0; p < 3; ++p) {
    EXPECT_TRUE(SameBits(SharedParameters(partitioned->copy(p)), base)) << "partition " << p;
    std::unique_ptr<Model> alone = partitioned->copy(p).Clone();
    LearnAll(alone.get(), OfPartition(round, p));
    learned[p] = SharedParameters(*alone);
    ASSERT_EQ(learned[p].size(), base.size());
  }
  // Rows of dim + 1 floats (fm's w0 last, a row of its own); a row several partitions moved
  // takes the mean of their changes.
  const size_t width = 9;
  const auto row_of = [&](size_t j) { return j / width; };
  std::vector<uint32_t> movers(base.size() / width + 1, 0);
  for (uint32_t p = 0; p < 3; ++p) {
    std::vector<bool> moved_by_p(movers.size(), false);
    for (size_t j = 0; j < base.size(); ++j) {
      if (learned[p][j] != base[j]) moved_by_p[row_of(j)] = true;
    }
    for (size_t r = 0; r < movers.size(); ++r) movers[r] += moved_by_p[r] ? 1 : 0;
  }
  std::vector<float> expected = base;
  size_t shared_rows = 0;
  for (uint32_t p = 0; p < 3; ++p) {
    for (size_t j = 0; j < base.size(); ++j) {
      const float delta = learned[p][j] - base[j];
      if (movers[row_of(j)] == 0) continue;
      expected[j] += GetParam() == "mf" ? delta / static_cast<float>(movers[row_of(j)]) : delta;
    }
  }
  for (const uint32_t n : movers) shared_rows += n > 1 ? 1 : 0;
  ASSERT_GT(shared_rows, 0u);  // rows more than one partition moved
  LearnAll(partitioned.get(), round);
  partitioned->EndRound();
  for (uint32_t p = 0; p < 3; ++p) {
    EXPECT_TRUE(SameBits(SharedParameters(partitioned->copy(p)), expected)) << "partition " << p;
  }
  EXPECT_EQ(partitioned->rounds(), 2u);
}

TEST_P(PartitionedTest, RoundsEndByStreamTimeAndCopiesAgreeAfterEach) {
  // 1,000 events 100 ms apart in rounds of 10 s: 10 rounds, the last still open.
  const std::vector<Event> events = Stream(1000, 5, 0);
  std::unique_ptr<PartitionedModel> partitioned = Partitioned(factory(), 3, 10'000);
  LearnAll(partitioned.get(), events);
  EXPECT_EQ(partitioned->rounds(), 9u);
  partitioned->EndRound();
  EXPECT_EQ(partitioned->rounds(), 10u);
  const std::vector<float> shared = SharedParameters(partitioned->copy(0));
  EXPECT_TRUE(SameBits(SharedParameters(partitioned->copy(1)), shared));
  EXPECT_TRUE(SameBits(SharedParameters(partitioned->copy(2)), shared));

  // The same run again gives the same bytes.
  std::unique_ptr<PartitionedModel> again = Partitioned(factory(), 3, 10'000);
  LearnAll(again.get(), events);
  again->EndRound();
  EXPECT_EQ(SaveBytes(*again), SaveBytes(*partitioned));
}

TEST_P(PartitionedTest, CloneMidRoundContinuesAsTheOriginal) {
  const std::vector<Event> events = Stream(800, 6, 0);
  std::unique_ptr<PartitionedModel> original = Partitioned(factory(), 3, 15'000);
  LearnAll(original.get(), std::vector<Event>(events.begin(), events.begin() + 420));
  std::unique_ptr<Model> clone = original->Clone();
  const std::vector<Event> rest(events.begin() + 420, events.end());
  LearnAll(original.get(), rest);
  LearnAll(clone.get(), rest);
  EXPECT_EQ(SaveBytes(*clone), SaveBytes(*original));
}

TEST_P(PartitionedTest, LoadAtARoundsEndContinuesAsTheOriginal) {
  const std::vector<Event> events = Stream(800, 7, 0);
  std::unique_ptr<PartitionedModel> original = Partitioned(factory(), 3, 15'000);
  LearnAll(original.get(), std::vector<Event>(events.begin(), events.begin() + 400));
  original->EndRound();
  std::unique_ptr<PartitionedModel> loaded = Partitioned(factory(), 3, 15'000);
  const std::string bytes = SaveBytes(*original);
  BinaryReader in(bytes);
  ASSERT_TRUE(loaded->Load(&in).ok());
  const std::vector<Event> rest(events.begin() + 400, events.end());
  LearnAll(original.get(), rest);
  LearnAll(loaded.get(), rest);
  EXPECT_EQ(SaveBytes(*loaded), SaveBytes(*original));

  std::unique_ptr<PartitionedModel> other = Partitioned(factory(), 2, 15'000);
  BinaryReader again(bytes);
  EXPECT_EQ(other->Load(&again).code(), StatusCode::kInvalidArgument);
}

TEST_P(PartitionedTest, EndRoundRefusesForeignBytesAndKeepsTheModel) {
  std::unique_ptr<Model> model = factory().Make();
  RoundLearner* rounds = DiscoverCapabilities(*model).rounds;
  ASSERT_NE(rounds, nullptr);
  rounds->BeginRound();
  LearnAll(model.get(), Stream(200, 8));
  const std::string before = SaveBytes(*model);
  BinaryWriter good;
  rounds->SaveRoundDelta(&good);
  const std::string bytes = good.Release();
  for (const std::string& bad :
       {std::string("junk"), bytes.substr(0, bytes.size() - 1), bytes + "x"}) {
    const std::vector<std::string_view> deltas = {bytes, bad};
    EXPECT_EQ(rounds->EndRound(deltas, {}).code(), StatusCode::kCorruption);
    EXPECT_EQ(SaveBytes(*model), before);
  }
  const std::vector<std::string_view> deltas = {bytes};
  EXPECT_TRUE(rounds->EndRound(deltas, {}).ok());
}

// Three copies end each of four rounds two ways: each adding every delta (EndCopyRound), and
// all but the first taking the shared parameters from the first (EndCopyRoundFrom). Every copy
// saves the same bytes both ways after every round.
void ExpectEndingFromAnotherCopyIsEndingAlone(const Factory& factory) {
  const std::vector<Event> events = Stream(1600, 12);
  std::vector<std::unique_ptr<Model>> alone;
  std::vector<std::unique_ptr<Model>> from;
  for (uint32_t p = 0; p < 3; ++p) {
    alone.push_back(factory.Make());
    from.push_back(factory.Make());
    BeginCopyRounds(alone.back().get());
    BeginCopyRounds(from.back().get());
  }
  for (size_t round = 0; round < 4; ++round) {
    const std::vector<Event> slice(events.begin() + static_cast<ptrdiff_t>(round * 400),
                                   events.begin() + static_cast<ptrdiff_t>(round * 400 + 400));
    std::vector<std::string> deltas;
    for (uint32_t p = 0; p < 3; ++p) {
      LearnAll(alone[p].get(), OfPartition(slice, p));
      LearnAll(from[p].get(), OfPartition(slice, p));
      deltas.push_back(SaveCopyDelta(*alone[p]));
      ASSERT_EQ(SaveCopyDelta(*from[p]), deltas.back());
    }
    const std::vector<std::string_view> views(deltas.begin(), deltas.end());
    for (uint32_t p = 0; p < 3; ++p) {
      std::vector<Event> others;
      for (uint32_t q = 0; q < 3; ++q) {
        if (q == p) continue;
        const std::vector<Event> theirs = OfPartition(slice, q);
        others.insert(others.end(), theirs.begin(), theirs.end());
      }
      ASSERT_TRUE(EndCopyRound(alone[p].get(), views, others).ok());
      const Status ended = p == 0 ? EndCopyRound(from[p].get(), views, others)
                                  : EndCopyRoundFrom(from[p].get(), *from[0], views, others);
      ASSERT_TRUE(ended.ok()) << ended.ToString();
    }
    for (uint32_t p = 0; p < 3; ++p) {
      EXPECT_TRUE(SaveBytes(*from[p]) == SaveBytes(*alone[p]))
          << "round " << round << ", partition " << p;
    }
  }
}

TEST_P(PartitionedTest, EndingARoundFromAnotherCopyIsEndingItAlone) {
  ExpectEndingFromAnotherCopyIsEndingAlone(factory());
}

TEST(PartitionedModelTest, OnlyACopyOfTheSameFmLendsItsParameters) {
  std::unique_ptr<Model> copy = FmFactory().Make();
  BeginCopyRounds(copy.get());
  for (const Factory& other : {Factory("fm", {{"dim", "4"}, {"hash_bits", "12"}}),
                               Factory("fm", {{"dim", "8"}, {"hash_bits", "10"}}), MfFactory()}) {
    std::unique_ptr<Model> lender = other.Make();
    EXPECT_EQ(EndCopyRoundFrom(copy.get(), *lender, {}, {}).code(), StatusCode::kInvalidArgument);
  }
}

INSTANTIATE_TEST_SUITE_P(Models, PartitionedTest, ::testing::Values("mf", "fm"));

TEST(PartitionedModelTest, AnEnsembleEndsARoundFromAnotherCopyAsAlone) {
  ExpectEndingFromAnotherCopyIsEndingAlone(
      Factory("ensemble", {{"members", "popularity,item_knn,mf,fm"},
                           {"mf.dim", "8"},
                           {"fm.dim", "8"},
                           {"fm.hash_bits", "12"}}));
}

// What partition p's copy of a count model learns: in each round its own events as they come,
// then the other partitions' events of the round, in partition order.
std::vector<Event> AsPartitionLearns(const std::vector<Event>& events, int64_t round_ms,
                                     uint32_t p) {
  std::vector<Event> out;
  size_t begin = 0;
  while (begin < events.size()) {
    const int64_t round = events[begin].time_ms / round_ms;
    size_t end = begin;
    while (end < events.size() && events[end].time_ms / round_ms == round) ++end;
    const std::vector<Event> slice(events.begin() + static_cast<ptrdiff_t>(begin),
                                   events.begin() + static_cast<ptrdiff_t>(end));
    const std::vector<Event> mine = OfPartition(slice, p);
    out.insert(out.end(), mine.begin(), mine.end());
    for (uint32_t q = 0; q < 3; ++q) {
      if (q == p) continue;
      const std::vector<Event> theirs = OfPartition(slice, q);
      out.insert(out.end(), theirs.begin(), theirs.end());
    }
    begin = end;
  }
  return out;
}

TEST(PartitionedModelTest, CountModelsLearnTheirOwnEventsAtOnceAndTheOthersAtTheRoundsEnd) {
  const std::vector<Event> events = Stream(1000, 9, 0);
  for (const Factory& factory : {Factory("popularity", {{"half_life", "30s"}}),
                                 Factory("item_knn", {}), Factory("transitions", {})}) {
    std::unique_ptr<PartitionedModel> partitioned = Partitioned(factory, 3, 10'000);
    EXPECT_TRUE(partitioned->whole());
    LearnAll(partitioned.get(), events);
    partitioned->EndRound();
    for (uint32_t p = 0; p < 3; ++p) {
      std::unique_ptr<Model> plain = factory.Make();
      LearnAll(plain.get(), AsPartitionLearns(events, 10'000, p));
      EXPECT_EQ(SaveBytes(partitioned->copy(p)), SaveBytes(*plain)) << plain->type() << " " << p;
    }
  }
}

TEST(PartitionedModelTest, CopiesOfCountsAgreeExactlyWithoutDecayAndToRoundingWithIt) {
  const std::vector<Event> events = Stream(1500, 11, 0);
  std::unique_ptr<PartitionedModel> plain = Partitioned(Factory("popularity", {}), 3, 10'000);
  std::unique_ptr<PartitionedModel> decayed =
      Partitioned(Factory("popularity", {{"half_life", "20s"}}), 3, 10'000);
  LearnAll(plain.get(), events);
  LearnAll(decayed.get(), events);
  plain->EndRound();
  decayed->EndRound();
  // Stored decayed counts are relative to the time of a copy's first event, its own
  // partition's; PopularityModel::Count gives the decayed count itself.
  const auto& first = dynamic_cast<const PopularityModel&>(decayed->copy(0));
  const int64_t now = events.back().time_ms;
  const std::vector<float> counts = testing::ScoreAll(plain->copy(0), 0, kItems);
  EXPECT_GT(first.Count(5, now), 0.0);
  for (uint32_t p = 1; p < 3; ++p) {
    EXPECT_EQ(testing::ScoreAll(plain->copy(p), 0, kItems), counts);
    const auto& other = dynamic_cast<const PopularityModel&>(decayed->copy(p));
    for (uint32_t i = 0; i < kItems; ++i) {
      const double count = first.Count(i, now);
      EXPECT_NEAR(other.Count(i, now), count, 1e-12 * count) << "item " << i;
    }
  }
}

TEST(PartitionedModelTest, EnsemblesExchangeTheirMembersAndKeepCountMembersWhole) {
  const Factory factory("ensemble", {{"members", "popularity,item_knn,mf,fm"},
                                     {"mf.dim", "8"},
                                     {"fm.dim", "8"},
                                     {"fm.hash_bits", "12"}});
  const std::vector<Event> events = Stream(1200, 10, 0);
  std::unique_ptr<PartitionedModel> partitioned = Partitioned(factory, 3, 10'000);
  EXPECT_FALSE(partitioned->whole());
  LearnAll(partitioned.get(), events);
  partitioned->EndRound();
  for (uint32_t p = 0; p < 3; ++p) {
    std::unique_ptr<Model> item_knn = Factory("item_knn", {}).Make();
    LearnAll(item_knn.get(), AsPartitionLearns(events, 10'000, p));
    const auto& members =
        DiscoverCapabilities(const_cast<Model&>(partitioned->copy(p))).members->members();
    ASSERT_EQ(members.size(), 4u);
    EXPECT_EQ(SaveBytes(*members[1].model), SaveBytes(*item_knn)) << "partition " << p;
    EXPECT_TRUE(
        SameBits(SharedParameters(*members[2].model),
                 SharedParameters(*DiscoverCapabilities(const_cast<Model&>(partitioned->copy(0)))
                                       .members->members()[2]
                                       .model)));
    EXPECT_TRUE(
        SameBits(SharedParameters(*members[3].model),
                 SharedParameters(*DiscoverCapabilities(const_cast<Model&>(partitioned->copy(0)))
                                       .members->members()[3]
                                       .model)));
  }
  // A run again gives the same bytes, and Clone mid-round continues as the original.
  std::unique_ptr<PartitionedModel> again = Partitioned(factory, 3, 10'000);
  LearnAll(again.get(), std::vector<Event>(events.begin(), events.begin() + 555));
  std::unique_ptr<Model> clone = again->Clone();
  const std::vector<Event> rest(events.begin() + 555, events.end());
  LearnAll(again.get(), rest);
  LearnAll(clone.get(), rest);
  again->EndRound();
  static_cast<PartitionedModel*>(clone.get())->EndRound();
  EXPECT_EQ(SaveBytes(*again), SaveBytes(*partitioned));
  EXPECT_EQ(SaveBytes(*clone), SaveBytes(*partitioned));
}

TEST(PartitionedModelTest, AnEnsembleRefusesForeignDeltasBeforeAnyMemberChanges) {
  const Factory factory(
      "ensemble",
      {{"members", "popularity,mf,fm"}, {"mf.dim", "8"}, {"fm.dim", "8"}, {"fm.hash_bits", "12"}});
  std::unique_ptr<Model> model = factory.Make();
  RoundLearner* rounds = DiscoverCapabilities(*model).rounds;
  ASSERT_NE(rounds, nullptr);
  ASSERT_TRUE(rounds->CheckRounds().ok());
  rounds->BeginRound();
  LearnAll(model.get(), Stream(300, 12));
  const std::string before = SaveBytes(*model);
  BinaryWriter good;
  rounds->SaveRoundDelta(&good);
  const std::string bytes = good.Release();
  // The first member's part is whole; the second's is cut short, or bytes trail the last.
  for (const std::string& bad : {bytes.substr(0, bytes.size() - 3), bytes + "x", std::string()}) {
    const std::vector<std::string_view> deltas = {bytes, bad};
    const Status ended = rounds->EndRound(deltas, {});
    EXPECT_EQ(ended.code(), StatusCode::kCorruption) << ended.ToString();
    EXPECT_EQ(SaveBytes(*model), before);
  }
  const std::vector<std::string_view> deltas = {bytes};
  EXPECT_TRUE(rounds->EndRound(deltas, {}).ok());
}

TEST(PartitionedModelTest, RefusesModelsThatCannotLearnInRounds) {
  const Factory seq("seq", {{"dim", "8"}});
  StatusOr<std::unique_ptr<PartitionedModel>> gradients =
      PartitionedModel::Create(seq.Make(), 4, 1000, ThreeWay);
  EXPECT_EQ(gradients.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(gradients.status().message().find("seq"), std::string::npos);

  const Factory with_seq("ensemble", {{"members", "popularity,seq"}, {"seq.dim", "8"}});
  StatusOr<std::unique_ptr<PartitionedModel>> ensemble =
      PartitionedModel::Create(with_seq.Make(), 4, 1000, ThreeWay);
  EXPECT_EQ(ensemble.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(ensemble.status().message().find("member seq"), std::string::npos);

  const Factory admitted("mf", {{"dim", "8"}, {"min_count", "2"}});
  StatusOr<std::unique_ptr<PartitionedModel>> mf =
      PartitionedModel::Create(admitted.Make(), 4, 1000, ThreeWay);
  EXPECT_EQ(mf.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(mf.status().message().find("mf.min_count"), std::string::npos);

  EXPECT_EQ(PartitionedModel::Create(MfFactory().Make(), 0, 1000, ThreeWay).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(PartitionedModelTest, UserPartitionIsStableAndSpread) {
  // The hash is part of the cluster's contract: nodes and runs must agree on it.
  EXPECT_EQ(UserPartition("alice", 16), UserPartition("alice", 16));
  std::vector<int> counts(16, 0);
  for (int u = 0; u < 16'000; ++u) ++counts[UserPartition("user-" + std::to_string(u), 16)];
  for (int c : counts) {
    EXPECT_GT(c, 850);
    EXPECT_LT(c, 1150);
  }
}

}  // namespace
}  // namespace liverec
