// libFuzzer target: the records a node reads from the stream engine. The first byte picks the
// decoder (round records of deltas.<p>, event batches of events.<p>, name records of the id
// streams, snapshot pieces of snapshots.<p> and, for a piece that decodes, its bytes as a
// snapshot's body); the rest is the record. Each decoder refuses bytes with Corruption or
// accepts them, and what it accepts encodes back to the same bytes (a piece: a body that
// decodes encodes back to the same body).
// Run: build/fuzz/src/cluster/cluster_fuzz -max_total_time=60 [corpus_dir]
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/event_batch.h"
#include "cluster/id_stream.h"
#include "cluster/round_log.h"
#include "cluster/snapshot_log.h"

namespace {

void Require(bool condition) {
  if (!condition) std::abort();
}

void CheckRefusal(const liverec::Status& status) {
  Require(status.code() == liverec::StatusCode::kCorruption && !status.message().empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view payload(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      liverec::cluster::RoundRecord record;
      const liverec::Status status = liverec::cluster::DecodeRoundRecord(payload, &record);
      if (!status.ok()) {
        CheckRefusal(status);
      } else {
        Require(liverec::cluster::EncodeRoundRecord(record) == payload);
      }
      break;
    }
    case 1: {
      std::vector<liverec::Event> events;
      const liverec::Status status = liverec::cluster::DecodeEventBatch(payload, &events);
      if (!status.ok()) {
        CheckRefusal(status);
        Require(events.empty());
      } else {
        Require(liverec::cluster::EncodeEventBatch(events) == payload);
      }
      break;
    }
    case 3: {
      liverec::cluster::SnapshotPiece piece;
      const liverec::Status status = liverec::cluster::DecodeSnapshotPiece(payload, &piece);
      if (!status.ok()) {
        CheckRefusal(status);
        break;
      }
      liverec::cluster::PartitionSnapshot snapshot;
      snapshot.partition = piece.partition;
      const liverec::Status body = liverec::cluster::DecodeSnapshotBody(piece.bytes, &snapshot);
      if (!body.ok()) {
        CheckRefusal(body);
        break;
      }
      // Encoded whole in one record, the body comes back as it was.
      const std::vector<std::string> records =
          liverec::cluster::EncodeSnapshotRecords(snapshot, size_t{1} << 30);
      Require(records.size() == 1);
      liverec::cluster::SnapshotPiece again;
      Require(liverec::cluster::DecodeSnapshotPiece(records[0], &again).ok());
      Require(again.bytes == piece.bytes);
      break;
    }
    default: {
      std::vector<std::string> names;
      const liverec::Status status = liverec::cluster::DecodeIdRecord(payload, &names);
      if (!status.ok()) {
        CheckRefusal(status);
      } else {
        Require(liverec::cluster::EncodeIdRecord(names) == payload);
      }
      break;
    }
  }
  return 0;
}
