#include "cluster/round_log.h"

#include <functional>
#include <utility>

#include "common/strings.h"

namespace liverec::cluster {

namespace {

constexpr uint8_t kRecordFormat = 1;
constexpr size_t kReadBatch = 256;
constexpr uint32_t kReaderTag = 0x52444c52;  // "RLDR"
constexpr uint32_t kReaderVersion = 1;

Status AtRecord(const Status& status, std::string_view stream, connect::Position position) {
  return status.WithPrefix(StrCat(stream, " record ", position));
}

// `header`'s fields with `delta` (none for a takeover) as the record's delta.
std::string EncodeWithDelta(const RoundRecord& header, std::string_view delta) {
  BinaryWriter out;
  out.Put<uint8_t>(kRecordFormat);
  out.Put<uint8_t>(header.kind);
  out.Put<uint64_t>(header.round);
  out.Put<uint64_t>(header.events_upto);
  out.Put<uint64_t>(header.token);
  out.Put<uint16_t>(static_cast<uint16_t>(header.node.size()));
  out.PutBytes(header.node.data(), header.node.size());
  if (header.kind != RoundRecord::kTakeover) {
    out.Put<uint32_t>(static_cast<uint32_t>(delta.size()));
    out.PutBytes(delta.data(), delta.size());
  }
  return out.Release();
}

// `record` without its delta: what the sequence checks and a reader's place need.
RoundRecord WithoutDelta(const RoundRecord& record) {
  return RoundRecord{.kind = record.kind,
                     .round = record.round,
                     .events_upto = record.events_upto,
                     .token = record.token,
                     .node = record.node,
                     .delta = {}};
}

}  // namespace

std::string DeltasStream(uint32_t partition) { return StrCat("deltas.", partition); }
std::string EventsStream(uint32_t partition) { return StrCat("events.", partition); }

std::string EncodeRoundRecord(const RoundRecord& record) {
  return EncodeWithDelta(record, record.delta);
}

Status DecodeRoundRecord(std::string_view payload, RoundRecord* out) {
  BinaryReader in(payload);
  uint8_t format = 0;
  uint8_t kind = 0;
  LIVEREC_RETURN_IF_ERROR(in.Get(&format).WithPrefix("round record format"));
  if (format != kRecordFormat) {
    return Corruption(
        StrCat("round record format ", int{format}, ", expected ", int{kRecordFormat}));
  }
  LIVEREC_RETURN_IF_ERROR(in.Get(&kind).WithPrefix("round record kind"));
  if (kind != RoundRecord::kTakeover && kind != RoundRecord::kRound && kind != RoundRecord::kPart) {
    return Corruption(
        StrCat("round record kind ", int{kind}, ", expected 1 (takeover), 2 (round) or 3 (part)"));
  }
  RoundRecord record;
  record.kind = static_cast<RoundRecord::Kind>(kind);
  LIVEREC_RETURN_IF_ERROR(in.Get(&record.round).WithPrefix("round record round"));
  if (record.kind == RoundRecord::kPart && record.round == 0) {
    return Corruption("round record: a part of round 0, which no round is");
  }
  LIVEREC_RETURN_IF_ERROR(in.Get(&record.events_upto).WithPrefix("round record events_upto"));
  LIVEREC_RETURN_IF_ERROR(in.Get(&record.token).WithPrefix("round record token"));
  uint16_t node_bytes = 0;
  LIVEREC_RETURN_IF_ERROR(in.Get(&node_bytes).WithPrefix("round record node"));
  record.node.resize(node_bytes);
  LIVEREC_RETURN_IF_ERROR(
      in.GetBytes(record.node.data(), node_bytes).WithPrefix("round record node"));
  if (Status status = connect::CheckName("round record node", record.node); !status.ok()) {
    return Corruption(status.message());
  }
  if (record.kind != RoundRecord::kTakeover) {
    uint32_t delta_bytes = 0;
    LIVEREC_RETURN_IF_ERROR(in.Get(&delta_bytes).WithPrefix("round record delta"));
    if (delta_bytes > kMaxRoundDeltaBytes) {
      return Corruption(StrCat("round record delta of ", delta_bytes, " bytes, above the limit of ",
                               kMaxRoundDeltaBytes));
    }
    if (delta_bytes > in.remaining()) {
      return Corruption(
          StrCat("round record delta: ", delta_bytes, " bytes, ", in.remaining(), " left"));
    }
    record.delta.resize(delta_bytes);
    LIVEREC_RETURN_IF_ERROR(
        in.GetBytes(record.delta.data(), delta_bytes).WithPrefix("round record delta"));
  }
  if (in.remaining() != 0) {
    return Corruption(StrCat("round record has ", in.remaining(), " bytes after its end"));
  }
  *out = std::move(record);
  return Status::Ok();
}

Status CheckRoundSequence(const RoundRecord& last, const RoundRecord& next) {
  if (next.events_upto < last.events_upto) {
    return Corruption(StrCat("events_upto ", next.events_upto, " is below the previous record's ",
                             last.events_upto));
  }
  if (next.token < last.token) {
    return Corruption(StrCat("token ", next.token, " is below the previous record's ", last.token));
  }
  // Where `last` leaves the log: the last round ended, and its events_upto (a part carries the
  // one of the round before its own).
  const uint64_t ended = last.kind == RoundRecord::kPart ? last.round - 1 : last.round;
  if (next.kind == RoundRecord::kTakeover) {
    if (next.round != ended || next.events_upto != last.events_upto) {
      return Corruption(StrCat("a takeover of round ", next.round, " up to ", next.events_upto,
                               " after round ", ended, " up to ", last.events_upto));
    }
    return Status::Ok();
  }
  const std::string_view what = next.kind == RoundRecord::kPart ? "a part of round " : "round ";
  if (next.round != ended + 1) {
    return Corruption(StrCat(what, next.round, " after round ", ended));
  }
  if (next.kind == RoundRecord::kPart && next.events_upto != last.events_upto) {
    return Corruption(StrCat(what, next.round, " starts at ", next.events_upto, ", not at ",
                             last.events_upto, " where round ", ended, " ended"));
  }
  if (next.node != last.node || next.token != last.token) {
    return Corruption(StrCat(what, next.round, " of ", next.node, " (token ", next.token,
                             ") follows a record of ", last.node, " (token ", last.token,
                             ") without a takeover"));
  }
  return Status::Ok();
}

// --- PartitionWriter ---

Status PartitionWriter::ReadPayload(connect::Position position, std::string* payload) {
  std::vector<connect::Record> records;
  LIVEREC_RETURN_IF_ERROR(
      connector_->Read(stream_, position - 1, 1, std::chrono::milliseconds(0), &records));
  if (records.size() != 1 || records[0].position != position) {
    return Unavailable(StrCat(stream_, ": its last record, at ", position, ", could not be read"));
  }
  *payload = std::move(records[0].payload);
  return Status::Ok();
}

Status PartitionWriter::ReadLast(connect::Position position, RoundRecord* out) {
  *out = RoundRecord();
  out->kind = RoundRecord::kTakeover;
  if (position == 0) return Status::Ok();
  std::string payload;
  LIVEREC_RETURN_IF_ERROR(ReadPayload(position, &payload));
  return AtRecord(DecodeRoundRecord(payload, out), stream_, position);
}

Status PartitionWriter::AppendNext(const RoundRecord& header, std::string_view delta) {
  const std::string payload = EncodeWithDelta(header, delta);
  std::vector<connect::Position> positions;
  Status status =
      connector_->AppendIfLast(stream_, last_position_, std::span(&payload, 1), &positions);
  if (status.code() == StatusCode::kFailedPrecondition) {
    // Either another owner wrote, or an earlier attempt of this very record went through and
    // its answer was lost: then the stream's last record is this one, after ours.
    LIVEREC_ASSIGN_OR_RETURN(connect::Position last, connector_->Last(stream_));
    if (last <= last_position_) return status;
    std::string found;
    LIVEREC_RETURN_IF_ERROR(ReadPayload(last, &found));
    if (found != payload) return status;
    positions.assign(1, last);
  } else if (!status.ok()) {
    return status;
  }
  last_position_ = positions.at(0);
  return Status::Ok();
}

StatusOr<PartitionWriter> PartitionWriter::TakeOver(connect::Connector* connector,
                                                    uint32_t partition, std::string node,
                                                    const connect::Lease& lease) {
  PartitionWriter writer(connector, partition, DeltasStream(partition));
  LIVEREC_RETURN_IF_ERROR(connect::CheckName("node", node));
  // A record's fields before its delta: those of a round record without one.
  const size_t fields = EncodeWithDelta(RoundRecord{.kind = RoundRecord::kRound,
                                                    .round = 0,
                                                    .events_upto = 0,
                                                    .token = 0,
                                                    .node = node,
                                                    .delta = {}},
                                        {})
                            .size();
  if (connector->max_record_bytes() <= fields) {
    return FailedPrecondition(StrCat("the ", connector->engine(), " connector's records hold ",
                                     connector->max_record_bytes(),
                                     " bytes, too few for a round record"));
  }
  writer.piece_bytes_ = connector->max_record_bytes() - fields;
  LIVEREC_ASSIGN_OR_RETURN(connect::Position last, connector->Last(writer.stream_));
  RoundRecord before;
  LIVEREC_RETURN_IF_ERROR(writer.ReadLast(last, &before));
  if (lease.token < before.token) {
    return FailedPrecondition(StrCat("fenced: ", writer.stream_, " was written with token ",
                                     before.token, ", above this lease's ", lease.token));
  }
  // Parts that no round record follows are dropped: the round they began is not published.
  RoundRecord takeover{.kind = RoundRecord::kTakeover,
                       .round = before.kind == RoundRecord::kPart ? before.round - 1 : before.round,
                       .events_upto = before.events_upto,
                       .token = lease.token,
                       .node = std::move(node),
                       .delta = {}};
  std::vector<connect::Position> positions;
  const std::string payload = EncodeRoundRecord(takeover);
  LIVEREC_RETURN_IF_ERROR(
      connector->AppendIfLast(writer.stream_, last, std::span(&payload, 1), &positions));
  writer.last_ = std::move(takeover);
  writer.last_position_ = positions.at(0);
  return writer;
}

Status PartitionWriter::Publish(connect::Position events_upto, std::string_view delta) {
  const size_t delta_hash = std::hash<std::string_view>{}(delta);
  if (publishing_.has_value() &&
      (publishing_->events_upto != events_upto || publishing_->delta_bytes != delta.size() ||
       publishing_->delta_hash != delta_hash)) {
    return InvalidArgument(StrCat("round ", last_.round + 1, " of ", stream_,
                                  " is partly published with other contents; publish it again "
                                  "with the same events_upto and delta"));
  }
  if (events_upto < last_.events_upto) {
    return InvalidArgument(
        StrCat("events_upto ", events_upto, " is below the last round's ", last_.events_upto));
  }
  if (delta.size() > kMaxRoundDeltaBytes) {
    return InvalidArgument(
        StrCat("a delta of ", delta.size(), " bytes is above the limit of ", kMaxRoundDeltaBytes));
  }
  if (!publishing_.has_value()) {
    publishing_ = Publishing{.events_upto = events_upto,
                             .delta_bytes = delta.size(),
                             .delta_hash = delta_hash,
                             .pieces_appended = 0};
  }
  const size_t pieces = std::max<size_t>(1, (delta.size() + piece_bytes_ - 1) / piece_bytes_);
  RoundRecord record{.kind = RoundRecord::kPart,
                     .round = last_.round + 1,
                     .events_upto = last_.events_upto,
                     .token = last_.token,
                     .node = last_.node,
                     .delta = {}};
  while (publishing_->pieces_appended + 1 < pieces) {
    LIVEREC_RETURN_IF_ERROR(AppendNext(
        record, delta.substr(publishing_->pieces_appended * piece_bytes_, piece_bytes_)));
    ++publishing_->pieces_appended;
  }
  record.kind = RoundRecord::kRound;
  record.events_upto = events_upto;
  LIVEREC_RETURN_IF_ERROR(AppendNext(record, delta.substr((pieces - 1) * piece_bytes_)));
  publishing_.reset();
  last_ = std::move(record);
  return Status::Ok();
}

// --- RoundReader ---

RoundReader::RoundReader(connect::Connector* connector, uint32_t partitions)
    : connector_(connector), logs_(partitions) {
  for (uint32_t p = 0; p < partitions; ++p) logs_[p].stream = DeltasStream(p);
}

Status RoundReader::ReadMore(uint32_t p, std::chrono::milliseconds wait) {
  Log& log = logs_[p];
  std::vector<connect::Record> records;
  LIVEREC_RETURN_IF_ERROR(connector_->Read(log.stream, log.read, kReadBatch, wait, &records));
  for (connect::Record& record : records) {
    RoundRecord decoded;
    Status status = DecodeRoundRecord(record.payload, &decoded);
    if (status.ok() && log.has_last) status = CheckRoundSequence(log.last, decoded);
    if (!status.ok()) {
      // Rounds read before the bad record are handed out first; the record is read again,
      // and named, when the reader needs what follows it.
      if (!log.rounds.empty()) return Status::Ok();
      return AtRecord(status, log.stream, record.position);
    }
    if (!log.has_last) {
      // A round log starts with its first owner's takeover of round 0. A log trimmed past its
      // start can be followed only from a snapshot that holds the reader's place in it.
      if (decoded.kind != RoundRecord::kTakeover || decoded.round != 0 ||
          decoded.events_upto != 0) {
        return FailedPrecondition(
            StrCat(log.stream, " starts at record ", record.position, " of round ", decoded.round,
                   ", not at its first takeover: this node needs a snapshot taken at or after "
                   "that round"));
      }
    }
    // Pieces of a delta wait for their round record; a takeover drops those of a round its
    // former owner did not finish publishing.
    if (decoded.kind != RoundRecord::kTakeover &&
        log.pieces.size() + decoded.delta.size() > kMaxRoundDeltaBytes) {
      return AtRecord(Corruption(StrCat("a round's delta in parts of more than ",
                                        kMaxRoundDeltaBytes, " bytes")),
                      log.stream, record.position);
    }
    log.read = record.position;
    log.has_last = true;
    if (decoded.kind == RoundRecord::kPart) {
      log.pieces += decoded.delta;
    } else if (decoded.kind == RoundRecord::kTakeover) {
      log.pieces.clear();
    } else if (!log.pieces.empty()) {
      log.pieces += decoded.delta;
      decoded.delta.swap(log.pieces);
      log.pieces.clear();
    }
    log.last = WithoutDelta(decoded);
    if (decoded.kind == RoundRecord::kRound) {
      log.rounds.emplace_back(record.position, std::move(decoded));
    }
  }
  return Status::Ok();
}

StatusOr<bool> RoundReader::Next(std::chrono::milliseconds wait, std::vector<RoundRecord>* round) {
  for (uint32_t p = 0; p < partitions(); ++p) {
    if (logs_[p].rounds.empty()) {
      LIVEREC_RETURN_IF_ERROR(ReadMore(p, std::chrono::milliseconds(0)));
    }
  }
  for (uint32_t p = 0; p < partitions(); ++p) {
    if (logs_[p].rounds.empty()) {
      // Wait on the first partition that has not ended the round; the others are read again
      // on the next call.
      LIVEREC_RETURN_IF_ERROR(ReadMore(p, wait));
      if (logs_[p].rounds.empty()) return false;
    }
  }
  for (uint32_t p = 0; p < partitions(); ++p) {
    if (logs_[p].rounds.empty()) return false;
  }
  round->clear();
  for (Log& log : logs_) {
    auto& [position, record] = log.rounds.front();
    log.ended_position = position;
    log.ended = WithoutDelta(record);
    round->push_back(std::move(record));
    log.rounds.erase(log.rounds.begin());
  }
  ++next_round_;
  return true;
}

void RoundReader::Save(BinaryWriter* out) const {
  out->Put<uint32_t>(kReaderTag);
  out->Put<uint32_t>(kReaderVersion);
  out->Put<uint32_t>(partitions());
  out->Put<uint64_t>(next_round_);
  for (const Log& log : logs_) {
    out->Put<uint64_t>(log.ended_position);
    if (log.ended_position != 0) out->PutString(EncodeRoundRecord(log.ended));
  }
}

Status RoundReader::Load(BinaryReader* in) {
  LIVEREC_RETURN_IF_ERROR(in->ExpectHeader(kReaderTag, kReaderVersion, "round reader"));
  uint32_t partitions = 0;
  uint64_t next_round = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&partitions));
  if (partitions != this->partitions()) {
    return InvalidArgument(StrCat("the round reader was saved with ", partitions,
                                  " partitions; this cluster has ", this->partitions()));
  }
  LIVEREC_RETURN_IF_ERROR(in->Get(&next_round));
  std::vector<Log> logs(partitions);
  for (uint32_t p = 0; p < partitions; ++p) {
    Log& log = logs[p];
    log.stream = DeltasStream(p);
    LIVEREC_RETURN_IF_ERROR(in->Get(&log.ended_position));
    if (log.ended_position != 0) {
      std::string payload;
      LIVEREC_RETURN_IF_ERROR(in->GetString(&payload));
      LIVEREC_RETURN_IF_ERROR(DecodeRoundRecord(payload, &log.ended).WithPrefix(log.stream));
    }
    if (log.ended.round + 1 != next_round) {
      return Corruption(StrCat(log.stream, ": ended round ", log.ended.round,
                               " in a reader at round ", next_round));
    }
    log.read = log.ended_position;
    log.has_last = log.ended_position != 0;
    log.last = log.ended;
  }
  logs_ = std::move(logs);
  next_round_ = next_round;
  return Status::Ok();
}

}  // namespace liverec::cluster
