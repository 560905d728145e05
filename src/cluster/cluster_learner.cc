#include "cluster/cluster_learner.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "cluster/event_batch.h"
#include "cluster/snapshot_log.h"
#include "common/serialize.h"
#include "model/partitioned.h"

namespace liverec::cluster {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr size_t kReadRecords = 1024;
// How often a new owner retries a takeover a concurrent append fenced before it gives the
// partition back to the next Tick.
constexpr int kTakeOverAttempts = 3;

milliseconds Until(Clock::time_point when, Clock::time_point now) {
  return std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(when - now));
}

}  // namespace

StatusOr<std::unique_ptr<ClusterLearner>> ClusterLearner::Open(
    std::string_view url, const connect::ConnectorOptions& engine, ClusterLearnerOptions options,
    ModelFactory make_model) {
  if (options.partitions == 0 || options.partitions > kMaxPartitions) {
    return InvalidArgument("cluster.partitions: " + std::to_string(options.partitions) +
                           ", expected 1 to " + std::to_string(kMaxPartitions));
  }
  if (options.round <= milliseconds(0)) {
    return InvalidArgument("cluster.round: " + std::to_string(options.round.count()) +
                           " ms, expected above 0");
  }
  LIVEREC_RETURN_IF_ERROR(connect::CheckName("node", options.node));
  if (!make_model) return InvalidArgument("cluster: no model to learn");
  std::unique_ptr<Model> prototype = make_model();
  LIVEREC_RETURN_IF_ERROR(CheckPartitionable(*prototype));
  std::unique_ptr<connect::Connector> connectors[4];
  for (std::unique_ptr<connect::Connector>& connector : connectors) {
    LIVEREC_ASSIGN_OR_RETURN(connector, connect::Connector::Open(url, engine));
  }
  LIVEREC_ASSIGN_OR_RETURN(
      std::unique_ptr<PartitionOwnership> ownership,
      PartitionOwnership::Create(connectors[3].get(),
                                 OwnershipOptions{.node = options.node,
                                                  .partitions = options.partitions,
                                                  .lease_ttl = options.lease_ttl}));
  return std::unique_ptr<ClusterLearner>(
      new ClusterLearner(std::string(url), engine, std::move(options), std::move(prototype),
                         std::move(connectors[0]), std::move(connectors[1]),
                         std::move(connectors[2]), std::move(connectors[3]), std::move(ownership)));
}

ClusterLearner::ClusterLearner(std::string url, connect::ConnectorOptions engine,
                               ClusterLearnerOptions options, std::unique_ptr<Model> prototype,
                               std::unique_ptr<connect::Connector> append,
                               std::unique_ptr<connect::Connector> read,
                               std::unique_ptr<connect::Connector> control,
                               std::unique_ptr<connect::Connector> ownership_connector,
                               std::unique_ptr<PartitionOwnership> ownership)
    : url_(std::move(url)),
      engine_(std::move(engine)),
      options_(std::move(options)),
      prototype_(std::move(prototype)),
      append_(std::move(append)),
      read_(std::move(read)),
      control_(std::move(control)),
      ownership_connector_(std::move(ownership_connector)),
      ownership_(std::move(ownership)),
      reader_(control_.get(), options_.partitions),
      round_started_(Clock::now()) {
  for (uint32_t p = 0; p < options_.partitions; ++p) {
    events_.push_back(EventFollower{.stream = EventsStream(p), .base = 0, .read = 0, .ahead = {}});
  }
  if (options_.ownership_thread) ownership_thread_ = std::thread([this] { RunOwnership(); });
}

milliseconds ClusterLearner::TickPeriod() const {
  return options_.tick > milliseconds(0) ? options_.tick : options_.lease_ttl / 3;
}

void ClusterLearner::RunOwnership() {
  MutexLock lock(&changes_mu_);
  while (!stopping_) {
    lock.Unlock();
    OwnershipChange change;
    const Status ticked = ownership_->Tick(&change);
    const Clock::time_point next = Clock::now() + TickPeriod();
    lock.Lock();
    // A partition lost after it was acquired and before Step took it is no longer to take.
    for (const uint32_t p : change.lost) {
      std::erase_if(changes_.acquired,
                    [p](const HeldPartition& held) { return held.partition == p; });
      if (std::find(changes_.lost.begin(), changes_.lost.end(), p) == changes_.lost.end()) {
        changes_.lost.push_back(p);
      }
    }
    changes_.acquired.insert(changes_.acquired.end(), change.acquired.begin(),
                             change.acquired.end());
    if (ownership_error_.ok()) ownership_error_ = ticked;
    while (!stopping_ && lock.WaitUntil(&changes_cv_, next)) {
    }
  }
}

void ClusterLearner::StopOwnership() {
  if (!ownership_thread_.joinable()) return;
  {
    MutexLock lock(&changes_mu_);
    stopping_ = true;
  }
  changes_cv_.notify_all();
  ownership_thread_.join();
}

Status ClusterLearner::EventFollower::Fill(connect::Connector* connector, connect::Position after,
                                           milliseconds wait) {
  if (after < base || after > read) {
    // Records before `after` were used up, or it lies past what was read: read from there.
    base = after;
    read = after;
    ahead.clear();
  }
  while (!ahead.empty() && ahead.front().position <= after) ahead.pop_front();
  base = after;
  if (!ahead.empty()) return Status::Ok();
  std::vector<connect::Record> records;
  LIVEREC_RETURN_IF_ERROR(connector->Read(stream, read, kReadRecords, wait, &records));
  for (connect::Record& record : records) {
    read = record.position;
    ahead.push_back(std::move(record));
  }
  return Status::Ok();
}

ClusterLearner::~ClusterLearner() { StopOwnership(); }

Status ClusterLearner::Append(uint32_t partition, std::span<const Event> events,
                              std::string_view batch_id) {
  if (partition >= options_.partitions) {
    return InvalidArgument("partition " + std::to_string(partition) + " of " +
                           std::to_string(options_.partitions));
  }
  if (events.empty()) return Status::Ok();
  if (events.size() > kMaxEventsPerBatch) {
    return InvalidArgument(std::to_string(events.size()) + " events in one append, above " +
                           std::to_string(kMaxEventsPerBatch));
  }
  const std::string payload = EncodeEventBatch(events);
  std::vector<connect::Position> positions;
  return append_->Append(EventsStream(partition), batch_id, std::span(&payload, 1), &positions);
}

Status ClusterLearner::Step(milliseconds wait) {
  const Clock::time_point now = Clock::now();
  if (now >= next_tick_) {
    LIVEREC_RETURN_IF_ERROR(TickOwnership());
    next_tick_ = Clock::now() + TickPeriod();
  }
  // Wait no longer than the next tick, and while a round of ours is open, than its end.
  const Clock::time_point round_due = round_started_ + options_.round;
  milliseconds budget = std::min(wait, Until(next_tick_, Clock::now()));
  bool learning = false;
  for (auto& [p, owned] : owned_) {
    if (owned.published || owned.closing) continue;
    // The first open partition waits for events; the others are read as they are.
    const milliseconds partition_wait =
        learning ? milliseconds(0) : std::min(budget, Until(round_due, Clock::now()));
    LIVEREC_RETURN_IF_ERROR(LearnNew(p, &owned, partition_wait));
    learning = true;
  }
  LIVEREC_RETURN_IF_ERROR(PublishDue());
  bool open = false;
  for (const auto& [p, owned] : owned_) open = open || !owned.published;
  // With a round of ours open, the round cannot end: no wait on the round log.
  return EndRounds(open ? milliseconds(0) : budget);
}

Status ClusterLearner::TickOwnership() {
  // Tick reports what changed even when it fails part way (a lease it could not renew in time
  // is lost, one it acquired is held): act on that first, then return its error.
  OwnershipChange change;
  Status ticked;
  if (ownership_thread_.joinable()) {
    MutexLock lock(&changes_mu_);
    std::swap(change, changes_);
    std::swap(ticked, ownership_error_);
  } else {
    ticked = ownership_->Tick(&change);
  }
  for (const uint32_t p : change.lost) {
    std::erase_if(to_take_over_, [p](const HeldPartition& held) { return held.partition == p; });
    if (owned_.count(p) != 0) {
      Drop(p);
      ++stats_.partitions_lost;
    }
  }
  to_take_over_.insert(to_take_over_.end(), change.acquired.begin(), change.acquired.end());
  // A takeover the engine did not answer in time is tried again at the next Tick, while the
  // lease is held; the others go on meanwhile.
  Status first_error;
  std::vector<HeldPartition> failed;
  for (const HeldPartition& held : to_take_over_) {
    const Status taken = TakeOver(held);
    if (taken.ok()) continue;
    if (taken.code() != StatusCode::kUnavailable) return taken;
    failed.push_back(held);
    if (first_error.ok()) first_error = taken;
  }
  to_take_over_ = std::move(failed);
  LIVEREC_RETURN_IF_ERROR(ticked);
  LIVEREC_RETURN_IF_ERROR(first_error);
  // A partition assigned elsewhere now is handed over once its round is published, so the
  // next owner does not learn the round again.
  for (const uint32_t p : ownership_->ToHandOver()) {
    auto it = owned_.find(p);
    if (it != owned_.end() && !it->second.published && !it->second.round_events.empty()) continue;
    if (it != owned_.end()) Drop(p);
    LIVEREC_RETURN_IF_ERROR(ownership_->Release(p));
  }
  return Status::Ok();
}

Status ClusterLearner::TakeOver(const HeldPartition& held) {
  const uint32_t p = held.partition;
  if (owned_.count(p) != 0) return Status::Ok();
  // End what rounds can end first, so that the round in progress is the first incomplete one:
  // the partition's last published round is then the round before it, or the round itself.
  LIVEREC_RETURN_IF_ERROR(EndRounds(milliseconds(0)));
  StatusOr<PartitionWriter> writer =
      PartitionWriter::TakeOver(control_.get(), p, options_.node, held.lease);
  for (int attempt = 1; !writer.ok() && attempt < kTakeOverAttempts &&
                        writer.status().code() == StatusCode::kFailedPrecondition;
       ++attempt) {
    writer = PartitionWriter::TakeOver(control_.get(), p, options_.node, held.lease);
  }
  if (!writer.ok()) {
    if (writer.status().code() != StatusCode::kFailedPrecondition) return writer.status();
    // Another writer keeps appending (a former owner that has not seen its lease go): leave
    // the partition to a later Tick.
    ++stats_.partitions_lost;
    return ownership_->Release(p);
  }
  const uint64_t last = writer->last().round;
  if (last + 1 < reader_.next_round() || last > reader_.next_round()) {
    return Internal("partition " + std::to_string(p) + " ended round " + std::to_string(last) +
                    " while this node is at round " + std::to_string(reader_.next_round()));
  }
  Owned owned{.writer = std::move(writer).value(),
              .copy = nullptr,
              .learned_upto = 0,
              .round_events = {},
              .published = false,
              .closing = false,
              .closing_delta = {}};
  LIVEREC_RETURN_IF_ERROR(Rebuild(p, &owned));
  owned_.emplace(p, std::move(owned));
  ++stats_.takeovers;
  return Status::Ok();
}

Status ClusterLearner::Rebuild(uint32_t p, Owned* owned) {
  std::unique_ptr<Model> copy = prototype_->Clone();
  const uint64_t current = reader_.next_round();
  // The replay reads from the streams' starts (or the snapshot's positions) on a connection of
  // its own, leaving the live readers where they are.
  LIVEREC_ASSIGN_OR_RETURN(std::unique_ptr<connect::Connector> connector,
                           connect::Connector::Open(url_, engine_));
  RoundReader history(connector.get(), options_.partitions);
  std::vector<connect::Position> upto(options_.partitions, 0);
  // A corrupt snapshot is passed over (counted): the replay then starts further back.
  StatusOr<std::optional<PartitionSnapshot>> snapshot =
      ReadLastSnapshot(connector.get(), p, options_.partitions);
  if (!snapshot.ok()) {
    if (snapshot.status().code() != StatusCode::kCorruption) return snapshot.status();
    ++stats_.snapshot_failures;
    snapshot = std::optional<PartitionSnapshot>();
  }
  // A snapshot of a round that has not ended here yet is of no use: the copy would be ahead.
  if (snapshot->has_value() && (*snapshot)->round < current) {
    const PartitionSnapshot& s = **snapshot;
    BinaryReader model_in(s.model);
    BinaryReader reader_in(s.reader);
    // Loaded into the fresh copy; one that failed to load is made again.
    if (copy->Load(&model_in).ok() && history.Load(&reader_in).ok() &&
        history.next_round() == s.round + 1) {
      upto = s.events_upto;
      ++stats_.snapshots_loaded;
    } else {
      ++stats_.snapshot_failures;
      copy = prototype_->Clone();
      history = RoundReader(connector.get(), options_.partitions);
    }
  }
  BeginCopyRounds(copy.get());
  std::vector<EventFollower> followers;
  for (uint32_t q = 0; q < options_.partitions; ++q) {
    followers.push_back(
        EventFollower{.stream = EventsStream(q), .base = upto[q], .read = upto[q], .ahead = {}});
  }
  std::vector<std::vector<Event>> events(options_.partitions);
  std::vector<RoundRecord> round;
  while (history.next_round() < current) {
    LIVEREC_ASSIGN_OR_RETURN(bool got, history.Next(milliseconds(0), &round));
    if (!got) {
      return Unavailable("round " + std::to_string(history.next_round()) +
                         " ended on this node but its round log is incomplete");
    }
    for (uint32_t q = 0; q < options_.partitions; ++q) {
      events[q].clear();
      LIVEREC_RETURN_IF_ERROR(
          ReadEvents(connector.get(), &followers[q], upto[q], round[q].events_upto, &events[q]));
      upto[q] = round[q].events_upto;
    }
    for (const Event& event : events[p]) copy->Learn(event);
    stats_.events_learned += events[p].size();
    stats_.events_replayed += events[p].size();
    LIVEREC_RETURN_IF_ERROR(EndRoundOn(p, copy.get(), nullptr, round, events));
  }
  // The round in progress: the former owner may have published it already.
  owned->learned_upto = upto[p];
  if (owned->writer.last().round == current) {
    LIVEREC_RETURN_IF_ERROR(ReadEvents(connector.get(), &followers[p], upto[p],
                                       owned->writer.last().events_upto, &owned->round_events));
    for (const Event& event : owned->round_events) copy->Learn(event);
    stats_.events_learned += owned->round_events.size();
    stats_.events_replayed += owned->round_events.size();
    owned->learned_upto = owned->writer.last().events_upto;
    owned->published = true;
  }
  owned->copy = std::move(copy);
  return Status::Ok();
}

Status ClusterLearner::LearnNew(uint32_t p, Owned* owned, milliseconds wait) {
  EventFollower& follower = events_[p];
  LIVEREC_RETURN_IF_ERROR(follower.Fill(read_.get(), owned->learned_upto, wait));
  std::vector<Event> events;
  while (!follower.ahead.empty()) {
    if (options_.round_events > 0 && owned->round_events.size() >= options_.round_events) break;
    const connect::Record& record = follower.ahead.front();
    events.clear();
    LIVEREC_RETURN_IF_ERROR(
        DecodeEventBatch(record.payload, &events)
            .WithPrefix(follower.stream + " record " + std::to_string(record.position)));
    for (const Event& event : events) owned->copy->Learn(event);
    owned->round_events.insert(owned->round_events.end(), events.begin(), events.end());
    owned->learned_upto = record.position;
    stats_.events_learned += events.size();
    follower.base = record.position;
    follower.ahead.pop_front();
  }
  return Status::Ok();
}

Status ClusterLearner::Publish(Owned* owned, bool* fenced) {
  if (!owned->closing) {
    owned->closing_delta = SaveCopyDelta(*owned->copy);
    owned->closing = true;
  }
  // A retry after an error is the same record: Publish recognizes it if it landed.
  const Status published = owned->writer.Publish(owned->learned_upto, owned->closing_delta);
  if (published.code() == StatusCode::kFailedPrecondition) {
    *fenced = true;  // another node took the partition over: what it learned is lost
    return Status::Ok();
  }
  LIVEREC_RETURN_IF_ERROR(published);
  owned->published = true;
  owned->closing = false;
  owned->closing_delta.clear();
  return Status::Ok();
}

Status ClusterLearner::PublishRounds(bool open_ones_too) {
  std::vector<uint32_t> fenced;
  Status status;
  for (auto& [p, owned] : owned_) {
    if (owned.published || (!owned.closing && !open_ones_too)) continue;
    bool was_fenced = false;
    status = Publish(&owned, &was_fenced);
    if (was_fenced) fenced.push_back(p);
    if (!status.ok()) break;
  }
  for (const uint32_t p : fenced) {
    Drop(p);
    ++stats_.partitions_lost;
  }
  return status;
}

Status ClusterLearner::PublishDue() {
  bool due = force_round_ || Clock::now() >= round_started_ + options_.round;
  for (const auto& [p, owned] : owned_) {
    due = due || (options_.round_events > 0 && owned.round_events.size() >= options_.round_events);
  }
  LIVEREC_RETURN_IF_ERROR(PublishRounds(due));
  if (due) force_round_ = false;
  return Status::Ok();
}

Status ClusterLearner::EndRounds(milliseconds wait) {
  // A round of ours whose publish failed may have landed all the same: publish it again (it is
  // recognized) before a round that holds it ends.
  LIVEREC_RETURN_IF_ERROR(PublishRounds(false));
  std::vector<RoundRecord> round;
  std::vector<connect::Position> before(options_.partitions);
  std::vector<std::vector<Event>> events(options_.partitions);
  for (;;) {
    for (uint32_t q = 0; q < options_.partitions; ++q) before[q] = reader_.ended(q).events_upto;
    LIVEREC_ASSIGN_OR_RETURN(bool got, reader_.Next(wait, &round));
    if (!got) return Status::Ok();
    wait = milliseconds(0);
    if (!owned_.empty()) {
      for (uint32_t q = 0; q < options_.partitions; ++q) {
        events[q].clear();
        auto it = owned_.find(q);
        if (it != owned_.end() && it->second.learned_upto == round[q].events_upto &&
            it->second.published) {
          events[q].swap(it->second.round_events);  // cleared below in any case
        } else {
          LIVEREC_RETURN_IF_ERROR(
              ReadEvents(read_.get(), &events_[q], before[q], round[q].events_upto, &events[q]));
        }
      }
    }
    // The first copy adds the deltas; the others take the shared parameters from it.
    const Model* first = nullptr;
    for (auto& [p, owned] : owned_) {
      if (!owned.published || owned.writer.last().round != round[p].round) {
        return Internal("round " + std::to_string(round[p].round) + " ended while partition " +
                        std::to_string(p) + " of this node has not published it");
      }
      LIVEREC_RETURN_IF_ERROR(EndRoundOn(p, owned.copy.get(), first, round, events));
      if (first == nullptr) first = owned.copy.get();
      owned.published = false;
      owned.round_events.clear();
    }
    ++stats_.rounds_ended;
    if (options_.snapshot_rounds != 0 && round.front().round % options_.snapshot_rounds == 0) {
      WriteSnapshots(round);
    }
    round_started_ = Clock::now();
  }
}

void ClusterLearner::WriteSnapshots(const std::vector<RoundRecord>& round) {
  PartitionSnapshot snapshot;
  snapshot.round = round.front().round;
  for (const RoundRecord& record : round) snapshot.events_upto.push_back(record.events_upto);
  BinaryWriter reader_out;
  reader_.Save(&reader_out);
  snapshot.reader = reader_out.Release();
  for (const auto& [p, owned] : owned_) {
    snapshot.partition = p;
    BinaryWriter model_out;
    owned.copy->Save(&model_out);
    snapshot.model = model_out.Release();
    if (WriteSnapshot(control_.get(), snapshot).ok()) {
      ++stats_.snapshots_written;
    } else {
      ++stats_.snapshot_failures;
    }
  }
}

Status ClusterLearner::EndRoundOn(uint32_t p, Model* copy, const Model* ended,
                                  const std::vector<RoundRecord>& round,
                                  const std::vector<std::vector<Event>>& events) {
  std::vector<std::string_view> deltas;
  for (const RoundRecord& record : round) deltas.push_back(record.delta);
  std::vector<Event> others;
  for (uint32_t q = 0; q < options_.partitions; ++q) {
    if (q != p) others.insert(others.end(), events[q].begin(), events[q].end());
  }
  return (ended == nullptr ? EndCopyRound(copy, deltas, others)
                           : EndCopyRoundFrom(copy, *ended, deltas, others))
      .WithPrefix("round " + std::to_string(round[p].round) + " on partition " + std::to_string(p));
}

Status ClusterLearner::ReadEvents(connect::Connector* connector, EventFollower* follower,
                                  connect::Position after, connect::Position upto,
                                  std::vector<Event>* out) {
  while (after < upto) {
    LIVEREC_RETURN_IF_ERROR(follower->Fill(connector, after, milliseconds(0)));
    if (follower->ahead.empty()) {
      return Unavailable(follower->stream + " ends at " + std::to_string(after) +
                         ", before the round's end at " + std::to_string(upto));
    }
    while (!follower->ahead.empty() && follower->ahead.front().position <= upto) {
      const connect::Record& record = follower->ahead.front();
      LIVEREC_RETURN_IF_ERROR(
          DecodeEventBatch(record.payload, out)
              .WithPrefix(follower->stream + " record " + std::to_string(record.position)));
      after = record.position;
      follower->base = after;
      follower->ahead.pop_front();
    }
    if (!follower->ahead.empty()) break;  // the next record is past the round's end
  }
  return Status::Ok();
}

void ClusterLearner::Drop(uint32_t p) { owned_.erase(p); }

Status ClusterLearner::Leave() {
  StopOwnership();
  force_round_ = true;
  LIVEREC_RETURN_IF_ERROR(PublishDue());
  owned_.clear();
  return ownership_->Leave();
}

std::vector<uint32_t> ClusterLearner::owned() const {
  std::vector<uint32_t> partitions;
  for (const auto& [p, owned] : owned_) partitions.push_back(p);
  return partitions;
}

const Model* ClusterLearner::copy(uint32_t partition) const {
  auto it = owned_.find(partition);
  return it == owned_.end() ? nullptr : it->second.copy.get();
}

}  // namespace liverec::cluster
