#include "cluster/snapshot_log.h"

#include <algorithm>
#include <chrono>
#include <span>
#include <utility>

#include "common/serialize.h"
#include "common/strings.h"
#include "store/crc32c.h"

namespace liverec::cluster {
namespace {

constexpr uint8_t kPieceFormat = 1;
// format, partition, round, index, count, body bytes, body crc
constexpr size_t kPieceHeaderBytes = 1 + 4 + 8 + 4 + 4 + 8 + 4;
constexpr uint32_t kBodyTag = 0x504e534c;  // "LSNP"
constexpr uint32_t kBodyVersion = 1;
constexpr char kTrimConsumer[] = "snapshots";
// Records asked of the engine per read.
constexpr size_t kReadBatch = 256;

}  // namespace

std::string SnapshotsStream(uint32_t partition) { return StrCat("snapshots.", partition); }

std::vector<std::string> EncodeSnapshotRecords(const PartitionSnapshot& snapshot,
                                               size_t max_record_bytes) {
  BinaryWriter body_out;
  body_out.Put<uint32_t>(kBodyTag);
  body_out.Put<uint32_t>(kBodyVersion);
  body_out.Put<uint32_t>(static_cast<uint32_t>(snapshot.events_upto.size()));
  body_out.Put<uint64_t>(snapshot.round);
  body_out.PutString(snapshot.reader);
  for (const connect::Position position : snapshot.events_upto) body_out.Put<uint64_t>(position);
  body_out.PutString(snapshot.model);
  const std::string body = body_out.Release();
  const uint32_t crc = Crc32c(body.data(), body.size());
  const size_t piece_bytes = std::max<size_t>(max_record_bytes, 64) - kPieceHeaderBytes;
  const size_t count = std::max<size_t>(1, (body.size() + piece_bytes - 1) / piece_bytes);
  std::vector<std::string> records;
  records.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const std::string_view piece =
        std::string_view(body).substr(i * piece_bytes, std::min(piece_bytes, body.size()));
    BinaryWriter out;
    out.Put<uint8_t>(kPieceFormat);
    out.Put<uint32_t>(snapshot.partition);
    out.Put<uint64_t>(snapshot.round);
    out.Put<uint32_t>(static_cast<uint32_t>(i));
    out.Put<uint32_t>(static_cast<uint32_t>(count));
    out.Put<uint64_t>(body.size());
    out.Put<uint32_t>(crc);
    out.PutBytes(piece.data(), piece.size());
    records.push_back(out.Release());
  }
  return records;
}

Status DecodeSnapshotPiece(std::string_view payload, SnapshotPiece* piece) {
  BinaryReader in(payload);
  uint8_t format = 0;
  LIVEREC_RETURN_IF_ERROR(in.Get(&format).WithPrefix("snapshot record format"));
  if (format != kPieceFormat) {
    return Corruption(
        StrCat("snapshot record format ", int{format}, ", expected ", int{kPieceFormat}));
  }
  SnapshotPiece p;
  LIVEREC_RETURN_IF_ERROR(in.Get(&p.partition).WithPrefix("snapshot record partition"));
  LIVEREC_RETURN_IF_ERROR(in.Get(&p.round).WithPrefix("snapshot record round"));
  LIVEREC_RETURN_IF_ERROR(in.Get(&p.index).WithPrefix("snapshot record piece index"));
  LIVEREC_RETURN_IF_ERROR(in.Get(&p.count).WithPrefix("snapshot record piece count"));
  LIVEREC_RETURN_IF_ERROR(in.Get(&p.body_bytes).WithPrefix("snapshot record body bytes"));
  LIVEREC_RETURN_IF_ERROR(in.Get(&p.body_crc).WithPrefix("snapshot record body crc"));
  if (p.round == 0) return Corruption("snapshot record of round 0");
  if (p.count == 0 || p.index >= p.count) {
    return Corruption(StrCat("snapshot record piece ", p.index, " of ", p.count));
  }
  if (in.remaining() > p.body_bytes) {
    return Corruption(StrCat("snapshot record piece of ", in.remaining(),
                             " bytes, larger than its body of ", p.body_bytes));
  }
  p.bytes.assign(payload.substr(in.position()));
  *piece = std::move(p);
  return Status::Ok();
}

Status DecodeSnapshotBody(std::string_view body, PartitionSnapshot* snapshot) {
  BinaryReader in(body);
  LIVEREC_RETURN_IF_ERROR(in.ExpectHeader(kBodyTag, kBodyVersion, "snapshot"));
  PartitionSnapshot s;
  uint32_t partitions = 0;
  LIVEREC_RETURN_IF_ERROR(in.Get(&partitions).WithPrefix("snapshot partitions"));
  LIVEREC_RETURN_IF_ERROR(in.Get(&s.round).WithPrefix("snapshot round"));
  if (s.round == 0) return Corruption("a snapshot of round 0");
  LIVEREC_RETURN_IF_ERROR(in.GetString(&s.reader).WithPrefix("snapshot round reader"));
  if (partitions > in.remaining() / sizeof(uint64_t)) {
    return Corruption(
        StrCat("snapshot of ", partitions, " partitions in ", in.remaining(), " bytes"));
  }
  s.events_upto.resize(partitions);
  for (uint32_t q = 0; q < partitions; ++q) {
    LIVEREC_RETURN_IF_ERROR(
        in.Get(&s.events_upto[q]).WithPrefix(StrCat("snapshot events position ", q)));
  }
  LIVEREC_RETURN_IF_ERROR(in.GetString(&s.model).WithPrefix("snapshot model"));
  if (in.remaining() != 0) {
    return Corruption(StrCat("snapshot: ", in.remaining(), " trailing bytes"));
  }
  s.partition = snapshot->partition;  // the body does not hold it
  *snapshot = std::move(s);
  return Status::Ok();
}

Status WriteSnapshot(connect::Connector* connector, const PartitionSnapshot& snapshot) {
  const std::string stream = SnapshotsStream(snapshot.partition);
  const std::vector<std::string> records =
      EncodeSnapshotRecords(snapshot, connector->max_record_bytes());
  std::vector<connect::Position> positions;
  LIVEREC_RETURN_IF_ERROR(
      connector->Append(stream, StrCat("snapshot-", snapshot.round), records, &positions));
  // Everything before this snapshot may go.
  LIVEREC_RETURN_IF_ERROR(connector->Commit(stream, kTrimConsumer, positions.front() - 1));
  return connector->Trim(stream).status();
}

StatusOr<std::optional<PartitionSnapshot>> ReadLastSnapshot(connect::Connector* connector,
                                                            uint32_t partition,
                                                            uint32_t partitions) {
  const std::string stream = SnapshotsStream(partition);
  std::optional<PartitionSnapshot> last;
  // The snapshot being assembled: its first piece's fields, and the body so far.
  std::optional<SnapshotPiece> first;
  std::string body;
  uint32_t next_index = 0;
  connect::Position after = 0;
  for (;;) {
    std::vector<connect::Record> records;
    LIVEREC_RETURN_IF_ERROR(
        connector->Read(stream, after, kReadBatch, std::chrono::milliseconds(0), &records));
    if (records.empty()) break;
    for (const connect::Record& record : records) {
      after = record.position;
      const auto where = [&](const Status& status) {
        return status.WithPrefix(StrCat(stream, " record ", record.position));
      };
      SnapshotPiece piece;
      LIVEREC_RETURN_IF_ERROR(where(DecodeSnapshotPiece(record.payload, &piece)));
      if (piece.partition != partition) {
        return where(Corruption(StrCat("a snapshot of partition ", piece.partition)));
      }
      // A first piece starts a snapshot; a piece that does not continue the one under way
      // (its writer stopped part way) drops it.
      if (piece.index == 0) {
        body = std::move(piece.bytes);
        first = std::move(piece);
        next_index = 0;
      } else if (!first || piece.round != first->round || piece.index != next_index ||
                 piece.count != first->count || piece.body_bytes != first->body_bytes ||
                 piece.body_crc != first->body_crc) {
        first.reset();
        continue;
      } else {
        body += piece.bytes;
      }
      if (body.size() > first->body_bytes) {
        return where(Corruption("snapshot pieces longer than their body"));
      }
      ++next_index;
      if (next_index < first->count) continue;
      if (body.size() != first->body_bytes || Crc32c(body.data(), body.size()) != first->body_crc) {
        return where(Corruption("a snapshot whose body does not match its size or CRC32C"));
      }
      PartitionSnapshot snapshot;
      snapshot.partition = partition;
      LIVEREC_RETURN_IF_ERROR(where(DecodeSnapshotBody(body, &snapshot)));
      if (snapshot.round != first->round || snapshot.events_upto.size() != partitions) {
        return where(Corruption(StrCat(
            "a snapshot of round ", snapshot.round, " with ", snapshot.events_upto.size(),
            " partitions, in a record of round ", first->round, " of a cluster of ", partitions)));
      }
      last = std::move(snapshot);
      first.reset();
    }
  }
  return last;
}

}  // namespace liverec::cluster
