#include "engine/deletions.h"

#include <fstream>
#include <sstream>

#include "common/serialize.h"
#include "store/posix_file.h"

namespace liverec {
namespace {

constexpr uint32_t kDeletionsTag = 0x4c454444;  // "DDEL"
constexpr uint32_t kDeletionsVersion = 1;
constexpr unsigned kDeletionsFileMode = 0600;

}  // namespace

StatusOr<DeletionRegistry> DeletionRegistry::Open(const std::string& path) {
  DeletionRegistry registry;
  registry.path_ = path;
  std::ifstream in(path, std::ios::binary);
  if (!in) return registry;
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string bytes = buffer.str();
  BinaryReader reader(bytes);
  auto corrupt = [&](const Status& status) { return Corruption(path + ": " + status.message()); };
  if (Status s = reader.ExpectHeader(kDeletionsTag, kDeletionsVersion, "deletions"); !s.ok()) {
    return corrupt(s);
  }
  uint64_t n = 0;
  if (Status s = reader.Get(&n); !s.ok()) return corrupt(s);
  for (uint64_t i = 0; i < n; ++i) {
    DeletionRecord r;
    Status s = reader.GetString(&r.info.deletion);
    if (s.ok()) s = reader.GetString(&r.info.state);
    if (s.ok()) s = reader.Get(&r.info.requested_unix_ms);
    if (s.ok()) s = reader.Get(&r.info.data_erased_ms);
    if (s.ok()) s = reader.Get(&r.info.complete_ms);
    if (s.ok()) s = reader.GetString(&r.info.error);
    if (s.ok()) s = reader.GetString(&r.user_key);
    if (s.ok()) s = reader.Get(&r.deletion_seq);
    if (s.ok()) s = reader.Get(&r.first_seq);
    if (!s.ok()) return corrupt(s);
    registry.order_.push_back(r.info.deletion);
    registry.records_[r.info.deletion] = std::move(r);
  }
  if (reader.remaining() != 0) return Corruption(path + ": trailing bytes");
  return registry;
}

Status DeletionRegistry::Put(DeletionRecord record) {
  const std::string id = record.info.deletion;
  if (!records_.contains(id)) order_.push_back(id);
  records_[id] = std::move(record);
  return Write();
}

const DeletionRecord* DeletionRegistry::Find(const std::string& deletion) const {
  auto it = records_.find(deletion);
  return it == records_.end() ? nullptr : &it->second;
}

std::vector<DeletionRecord> DeletionRegistry::Unfinished() const {
  std::vector<DeletionRecord> out;
  for (const std::string& id : order_) {
    const DeletionRecord& r = records_.at(id);
    if (r.info.state != "complete") out.push_back(r);
  }
  return out;
}

Status DeletionRegistry::Write() const {
  BinaryWriter out;
  out.Put(kDeletionsTag);
  out.Put(kDeletionsVersion);
  out.Put<uint64_t>(order_.size());
  for (const std::string& id : order_) {
    const DeletionRecord& r = records_.at(id);
    out.PutString(r.info.deletion);
    out.PutString(r.info.state);
    out.Put(r.info.requested_unix_ms);
    out.Put(r.info.data_erased_ms);
    out.Put(r.info.complete_ms);
    out.PutString(r.info.error);
    out.PutString("");  // the user: never written (deletions.h), kept for the format
    out.Put(r.deletion_seq);
    out.Put(r.first_seq);
  }
  return ReplaceFileDurably(path_, out.data(), kDeletionsFileMode);
}

}  // namespace liverec
