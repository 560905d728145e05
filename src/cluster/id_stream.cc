#include "cluster/id_stream.h"

#include <cinttypes>
#include <cstdio>
#include <random>
#include <utility>

#include "common/check.h"
#include "common/strings.h"

namespace liverec::cluster {

namespace {

constexpr uint8_t kIdRecordFormat = 1;
constexpr size_t kRecordHeaderBytes = sizeof(uint8_t) + sizeof(uint32_t);  // format, count
constexpr size_t kNameLengthBytes = sizeof(uint32_t);
// Records asked of the engine per read: NATS delivers at most 1024 a pull anyway.
constexpr size_t kReadBatch = 1024;
// How long a read waits for a record known to be there (Last or our own append said so) when the
// engine does not show it yet: NATS answers a no-wait pull from a consumer that has not yet
// taken in a just-acknowledged record with "no messages". The wait ends as soon as it shows.
constexpr std::chrono::milliseconds kLaggingReadWait(5000);
// Appends of one batch before Resolve gives up: a timeout may hide an append that landed, and the
// second attempt, under the same batch id, then appends nothing.
constexpr int kAppendAttempts = 2;
constexpr uint32_t kSharedIdsTag = 0x5344494c;  // "LIDS"
constexpr uint32_t kSharedIdsVersion = 1;

// The records holding `names`, each within kMaxIdRecordNames and kMaxIdRecordBytes.
std::vector<std::string> EncodeRecords(const std::vector<std::string>& names) {
  std::vector<std::string> payloads;
  const std::span<const std::string> all(names);
  size_t begin = 0;
  size_t bytes = kRecordHeaderBytes;
  for (size_t i = 0; i < names.size(); ++i) {
    const size_t name_bytes = kNameLengthBytes + names[i].size();
    if (i - begin == kMaxIdRecordNames || bytes + name_bytes > kMaxIdRecordBytes) {
      payloads.push_back(EncodeIdRecord(all.subspan(begin, i - begin)));
      begin = i;
      bytes = kRecordHeaderBytes;
    }
    bytes += name_bytes;
  }
  if (begin < names.size()) payloads.push_back(EncodeIdRecord(all.subspan(begin)));
  return payloads;
}

}  // namespace

size_t IdRecordBytes(std::span<const std::string> names) {
  size_t bytes = kRecordHeaderBytes;
  for (const std::string& name : names) bytes += kNameLengthBytes + name.size();
  return bytes;
}

std::string EncodeIdRecord(std::span<const std::string> names) {
  LIVEREC_CHECK(!names.empty() && names.size() <= kMaxIdRecordNames) << names.size() << " names";
  LIVEREC_CHECK(IdRecordBytes(names) <= kMaxIdRecordBytes) << IdRecordBytes(names) << " bytes";
  BinaryWriter out;
  out.Put<uint8_t>(kIdRecordFormat);
  out.Put<uint32_t>(static_cast<uint32_t>(names.size()));
  for (const std::string& name : names) {
    LIVEREC_CHECK(!name.empty() && name.size() <= kMaxIdNameBytes) << name.size() << " bytes";
    out.Put<uint32_t>(static_cast<uint32_t>(name.size()));
    out.PutBytes(name.data(), name.size());
  }
  return out.Release();
}

Status DecodeIdRecord(std::string_view payload, std::vector<std::string>* names) {
  names->clear();
  const auto bad = [](const auto&... parts) { return Corruption(StrCat("id record: ", parts...)); };
  if (payload.size() > kMaxIdRecordBytes) {
    return bad(payload.size(), " bytes, more than the limit of ", kMaxIdRecordBytes);
  }
  BinaryReader in(payload);
  uint8_t format = 0;
  if (!in.Get(&format).ok()) return bad("empty, expected a format byte");
  if (format != kIdRecordFormat) {
    return bad("unknown format ", int{format}, ", this build reads ", int{kIdRecordFormat});
  }
  uint32_t count = 0;
  if (!in.Get(&count).ok()) {
    return bad("truncated name count: ", in.remaining(), " of ", sizeof(count), " bytes");
  }
  if (count == 0) return bad("no names");
  if (count > kMaxIdRecordNames) {
    return bad(count, " names, more than the limit of ", kMaxIdRecordNames);
  }
  // Each name takes at least kNameLengthBytes + 1 bytes: a count the bytes cannot hold is refused
  // before anything is reserved for it.
  if (count > in.remaining() / (kNameLengthBytes + 1)) {
    return bad("truncated: ", count, " names need at least ", count * (kNameLengthBytes + 1),
               " bytes, ", in.remaining(), " left");
  }
  std::vector<std::string> decoded;
  decoded.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t length = 0;
    const size_t offset = in.position();
    if (!in.Get(&length).ok()) {
      return bad("name ", i, ": truncated length at offset ", offset, ": ", in.remaining(), " of ",
                 sizeof(length), " bytes");
    }
    if (length == 0) return bad("name ", i, " at offset ", offset, " is empty");
    if (length > kMaxIdNameBytes) {
      return bad("name ", i, " at offset ", offset, ": ", length,
                 " bytes, longer than the limit of ", kMaxIdNameBytes);
    }
    if (length > in.remaining()) {
      return bad("name ", i, " at offset ", offset, ": truncated: ", length, " bytes, ",
                 in.remaining(), " left");
    }
    std::string& name = decoded.emplace_back(length, '\0');
    LIVEREC_CHECK(in.GetBytes(name.data(), length).ok());
  }
  if (in.remaining() != 0) {
    return bad(in.remaining(), " trailing bytes after ", count, " names, at offset ",
               in.position());
  }
  *names = std::move(decoded);
  return Status::Ok();
}

std::string DrawBatchNonce() {
  std::random_device device;
  const uint64_t v = (uint64_t{device()} << 32) ^ uint64_t { device() };
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64, v);
  return buf;
}

SharedIds::SharedIds(connect::Connector* connector, std::string stream, std::string node)
    : connector_(connector),
      stream_(std::move(stream)),
      node_(std::move(node)),
      nonce_(DrawBatchNonce()) {}

std::string SharedIds::NextBatchId() {
  return StrCat(node_, "/", stream_, "/", nonce_, "-", next_batch_++);
}

Status SharedIds::Resolve(std::span<const std::string> names, std::vector<uint32_t>* ids) {
  ids->clear();
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i].empty()) return InvalidArgument(StrCat(stream_, ": names[", i, "]: empty"));
    if (names[i].size() > kMaxIdNameBytes) {
      return InvalidArgument(StrCat(stream_, ": names[", i, "]: ", names[i].size(),
                                    " bytes, longer than the limit of ", kMaxIdNameBytes));
    }
  }
  MutexLock lock(&mu_);
  // Each pass appends the names nobody here is appending, or waits for those another call is
  // appending; it ends when every name has an id. A call that fails leaves its names to the
  // others, which then take them on in their next pass.
  for (;;) {
    std::vector<std::string> mine;
    bool others_appending = false;
    std::unordered_set<std::string_view> seen;
    for (const std::string& name : names) {
      if (ids_.contains(name) || !seen.insert(name).second) continue;
      if (in_flight_.contains(name)) {
        others_appending = true;
      } else {
        mine.push_back(name);
      }
    }
    if (mine.empty()) {
      if (!others_appending) break;
      lock.Wait(&in_flight_done_);
      continue;
    }
    if (names_.size() + mine.size() > kMaxSharedIds) {
      return ResourceExhausted(StrCat(stream_, ": ", mine.size(), " new names on top of ",
                                      names_.size(), " would pass the limit of ", kMaxSharedIds,
                                      " ids"));
    }
    for (const std::string& name : mine) in_flight_.insert(name);
    const std::string batch_id = NextBatchId();
    lock.Unlock();
    const Status status = AppendAndRead(mine, batch_id);
    lock.Lock();
    for (const std::string& name : mine) in_flight_.erase(name);
    in_flight_done_.notify_all();
    LIVEREC_RETURN_IF_ERROR(status);
    // Reading up to our own record counted every name in it, unless the engine took the batch
    // for an earlier one of the same id (which the nonce is there to prevent).
    for (const std::string& name : mine) {
      if (!ids_.contains(name)) {
        return Internal(StrCat(stream_, ": batch '", batch_id, "' was read back without name ",
                               Quote(name), ": the engine took it for another batch of that id"));
      }
    }
  }
  ids->reserve(names.size());
  for (const std::string& name : names) ids->push_back(ids_.find(name)->second);
  return Status::Ok();
}

Status SharedIds::AppendAndRead(const std::vector<std::string>& names,
                                const std::string& batch_id) {
  const std::vector<std::string> payloads = EncodeRecords(names);
  std::vector<connect::Position> positions;
  Status status;
  for (int attempt = 0; attempt < kAppendAttempts; ++attempt) {
    status = connector_->Append(stream_, batch_id, payloads, &positions);
    if (status.code() != StatusCode::kUnavailable) break;
  }
  if (!status.ok()) return status.WithPrefix(StrCat(stream_, ": appending batch '", batch_id, "'"));
  LIVEREC_CHECK(positions.size() == payloads.size()) << positions.size() << " positions";
  return ReadUpTo(positions.back());
}

Status SharedIds::ReadUpTo(connect::Position target) {
  std::vector<connect::Record> records;
  std::chrono::milliseconds wait(0);
  for (;;) {
    connect::Position from = 0;
    {
      MutexLock lock(&mu_);
      if (position_ >= target) return Status::Ok();
      from = position_;
    }
    records.clear();
    LIVEREC_RETURN_IF_ERROR(connector_->Read(stream_, from, kReadBatch, wait, &records));
    if (records.empty()) {
      if (wait == std::chrono::milliseconds(0)) {
        wait = kLaggingReadWait;
        continue;
      }
      return FailedPrecondition(StrCat(stream_, ": the stream shows nothing after position ", from,
                                       " within ", kLaggingReadWait.count(),
                                       " ms, though it holds a record at position ", target,
                                       " (was the id stream trimmed?)"));
    }
    wait = std::chrono::milliseconds(0);
    MutexLock lock(&mu_);
    LIVEREC_RETURN_IF_ERROR(ApplyLocked(records));
  }
}

Status SharedIds::ApplyLocked(const std::vector<connect::Record>& records) {
  std::vector<std::string> names;
  for (const connect::Record& record : records) {
    if (record.position <= position_) continue;
    const std::string where = StrCat("stream '", stream_, "' position ", record.position);
    const Status status = DecodeIdRecord(record.payload, &names);
    if (!status.ok()) return status.WithPrefix(where);
    // The names new to the map, counted before anything changes, so that a record that would
    // pass the limit changes nothing.
    std::unordered_set<std::string_view> fresh;
    for (const std::string& name : names) {
      if (!ids_.contains(name)) fresh.insert(name);
    }
    if (names_.size() + fresh.size() > kMaxSharedIds) {
      return ResourceExhausted(StrCat(where, ": ", fresh.size(), " new names on top of ",
                                      names_.size(), " would pass the limit of ", kMaxSharedIds,
                                      " ids"));
    }
    for (std::string& name : names) {
      if (ids_.contains(name)) continue;
      const uint32_t id = static_cast<uint32_t>(names_.size());
      names_.push_back(std::move(name));
      ids_.emplace(names_.back(), id);
    }
    position_ = record.position;
  }
  return Status::Ok();
}

Status SharedIds::CatchUp(std::chrono::milliseconds wait) {
  // Up to the stream's last record as the engine states it, rather than until a read comes back
  // empty: a read may come back empty before a record the engine has acknowledged (see
  // kLaggingReadWait), and under a steady flow of appends the reads might never end.
  LIVEREC_ASSIGN_OR_RETURN(connect::Position last, connector_->Last(stream_));
  connect::Position from = 0;
  {
    MutexLock lock(&mu_);
    from = position_;
  }
  if (last <= from) {
    if (wait <= std::chrono::milliseconds(0)) return Status::Ok();
    std::vector<connect::Record> records;
    LIVEREC_RETURN_IF_ERROR(connector_->Read(stream_, from, kReadBatch, wait, &records));
    if (records.empty()) return Status::Ok();
    {
      MutexLock lock(&mu_);
      LIVEREC_RETURN_IF_ERROR(ApplyLocked(records));
    }
    LIVEREC_ASSIGN_OR_RETURN(last, connector_->Last(stream_));
  }
  return ReadUpTo(last);
}

std::optional<uint32_t> SharedIds::Find(std::string_view name) const {
  MutexLock lock(&mu_);
  const auto it = ids_.find(name);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

const std::string& SharedIds::Name(uint32_t id) const {
  MutexLock lock(&mu_);
  LIVEREC_CHECK(id < names_.size()) << "id " << id << " of " << names_.size();
  return names_[id];
}

size_t SharedIds::size() const {
  MutexLock lock(&mu_);
  return names_.size();
}

connect::Position SharedIds::position() const {
  MutexLock lock(&mu_);
  return position_;
}

void SharedIds::Save(BinaryWriter* out) const {
  MutexLock lock(&mu_);
  out->Put<uint32_t>(kSharedIdsTag);
  out->Put<uint32_t>(kSharedIdsVersion);
  out->PutString(stream_);
  out->Put<uint64_t>(position_);
  out->Put<uint64_t>(names_.size());
  for (const std::string& name : names_) out->PutString(name);
}

Status SharedIds::Load(BinaryReader* in) {
  const std::string what = StrCat("shared ids of '", stream_, "'");
  {
    MutexLock lock(&mu_);
    if (!names_.empty() || position_ != 0) {
      return FailedPrecondition(StrCat(what, ": Load into an object that has read ", names_.size(),
                                       " names up to position ", position_));
    }
  }
  const auto bad = [&](const auto&... parts) { return Corruption(StrCat(what, ": ", parts...)); };
  LIVEREC_RETURN_IF_ERROR(in->ExpectHeader(kSharedIdsTag, kSharedIdsVersion, what));
  std::string stream;
  LIVEREC_RETURN_IF_ERROR(in->GetString(&stream).WithPrefix(what + ": stream name"));
  if (stream != stream_) {
    return InvalidArgument(StrCat(what, ": the bytes hold the ids of stream ", Quote(stream)));
  }
  uint64_t position = 0;
  uint64_t count = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&position).WithPrefix(what + ": position"));
  LIVEREC_RETURN_IF_ERROR(in->Get(&count).WithPrefix(what + ": name count"));
  if (count > kMaxSharedIds) {
    return bad(count, " names, more than the limit of ", kMaxSharedIds);
  }
  // A name takes at least its 8-byte length and one byte.
  if (count > in->remaining() / (sizeof(uint64_t) + 1)) {
    return bad("truncated: ", count, " names need at least ", count * (sizeof(uint64_t) + 1),
               " bytes, ", in->remaining(), " left");
  }
  if (count > 0 && position == 0) return bad(count, " names read from no record (position 0)");
  std::deque<std::string> names;
  std::unordered_map<std::string_view, uint32_t> ids;
  ids.reserve(count);
  for (uint64_t id = 0; id < count; ++id) {
    std::string& name = names.emplace_back();
    LIVEREC_RETURN_IF_ERROR(in->GetString(&name).WithPrefix(StrCat(what, ": name of id ", id)));
    if (name.empty() || name.size() > kMaxIdNameBytes) {
      return bad("name of id ", id, ": ", name.size(), " bytes, expected 1 to ", kMaxIdNameBytes);
    }
    const auto [it, added] = ids.emplace(name, static_cast<uint32_t>(id));
    if (!added)
      return bad("name of id ", id, " ", Quote(name), " is also the name of id ", it->second);
  }
  MutexLock lock(&mu_);
  if (!names_.empty() || position_ != 0) {
    return FailedPrecondition(what + ": another call read the stream while Load ran");
  }
  // Moving a deque hands over its blocks: the names stay where ids' views point.
  names_ = std::move(names);
  ids_ = std::move(ids);
  position_ = position;
  return Status::Ok();
}

}  // namespace liverec::cluster
