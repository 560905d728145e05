#include "engine/log_entry.h"

#include <cmath>
#include <cstring>

#include "common/check.h"

namespace liverec {
namespace {

Status CheckString(std::string_view field, const std::string& s) {
  if (s.size() > kMaxEventRecordStringBytes) {
    return OutOfRange(std::string(field) + ": longer than " +
                      std::to_string(kMaxEventRecordStringBytes) + " bytes (" +
                      std::to_string(s.size()) + ")");
  }
  return Status::Ok();
}

Status CheckCount(std::string_view field, size_t n) {
  if (n > kMaxEventRecordContextPairs) {
    return OutOfRange(std::string(field) + ": more than " +
                      std::to_string(kMaxEventRecordContextPairs) + " entries (" +
                      std::to_string(n) + ")");
  }
  return Status::Ok();
}

std::string Indexed(std::string_view field, size_t i) {
  return std::string(field) + "[" + std::to_string(i) + "]";
}

void PutString(std::string_view s, std::string* out) {
  PutVarint64(s.size(), out);
  out->append(s);
}

void PutF32(float v, std::string* out) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(bits >> (8 * i)));
}

void PutZigzag(int64_t v, std::string* out) {
  PutVarint64((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63), out);
}

void PutF64(double v, std::string* out) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(bits >> (8 * i)));
}

// Reads the body of a non-event entry, checking every length against the bytes left.
class Decoder {
 public:
  explicit Decoder(std::string_view bytes) : bytes_(bytes) {}

  Status Varint(std::string_view field, uint64_t* v) {
    size_t at = pos_;
    Status s = GetVarint64(bytes_, &pos_, v);
    if (!s.ok()) return Error(field, at, s.message());
    return Status::Ok();
  }
  Status Count(std::string_view field, size_t* n) {
    uint64_t v = 0;
    LIVEREC_RETURN_IF_ERROR(Varint(field, &v));
    if (v > kMaxEventRecordContextPairs) return Error(field, pos_, "count over the limit");
    *n = static_cast<size_t>(v);
    return Status::Ok();
  }
  Status String(std::string_view field, std::string* s) {
    uint64_t n = 0;
    LIVEREC_RETURN_IF_ERROR(Varint(field, &n));
    if (n > kMaxEventRecordStringBytes) return Error(field, pos_, "length over the limit");
    if (n > bytes_.size() - pos_) return Error(field, pos_, "length past the end");
    s->assign(bytes_.substr(pos_, n));
    pos_ += n;
    return Status::Ok();
  }
  Status Byte(std::string_view field, uint8_t* b) {
    if (pos_ >= bytes_.size()) return Error(field, pos_, "truncated");
    *b = static_cast<uint8_t>(bytes_[pos_++]);
    return Status::Ok();
  }
  Status F64(std::string_view field, double* v) {
    if (bytes_.size() - pos_ < 8) return Error(field, pos_, "truncated");
    uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) {
      bits |= static_cast<uint64_t>(static_cast<uint8_t>(bytes_[pos_ + i])) << (8 * i);
    }
    pos_ += 8;
    std::memcpy(v, &bits, sizeof(bits));
    if (!std::isfinite(*v)) return Error(field, pos_ - 8, "not a finite number");
    return Status::Ok();
  }
  Status F32(std::string_view field, float* v) {
    if (bytes_.size() - pos_ < 4) return Error(field, pos_, "truncated");
    uint32_t bits = 0;
    for (int i = 0; i < 4; ++i) {
      bits |= static_cast<uint32_t>(static_cast<uint8_t>(bytes_[pos_ + i])) << (8 * i);
    }
    pos_ += 4;
    std::memcpy(v, &bits, sizeof(bits));
    if (!std::isfinite(*v)) return Error(field, pos_ - 4, "not a finite number");
    return Status::Ok();
  }
  Status Zigzag(std::string_view field, int64_t* v) {
    uint64_t u = 0;
    LIVEREC_RETURN_IF_ERROR(Varint(field, &u));
    *v = static_cast<int64_t>(u >> 1) ^ -static_cast<int64_t>(u & 1);
    return Status::Ok();
  }
  Status End() {
    if (pos_ != bytes_.size()) return Error("entry", pos_, "trailing bytes");
    return Status::Ok();
  }

 private:
  Status Error(std::string_view field, size_t at, std::string_view what) const {
    return Corruption("log entry: " + std::string(field) + " at byte " + std::to_string(at) + ": " +
                      std::string(what));
  }

  std::string_view bytes_;
  size_t pos_ = 2;  // after kind and version
};

Status DecodeStrings(Decoder* d, std::string_view field, std::vector<std::string>* out) {
  size_t n = 0;
  LIVEREC_RETURN_IF_ERROR(d->Count(field, &n));
  out->resize(n);
  for (size_t i = 0; i < n; ++i) LIVEREC_RETURN_IF_ERROR(d->String(field, &(*out)[i]));
  return Status::Ok();
}

}  // namespace

Status ValidateItemMetadata(const ItemMetadata& m) {
  LIVEREC_RETURN_IF_ERROR(CheckCount("categories", m.categories.size()));
  for (size_t i = 0; i < m.categories.size(); ++i) {
    LIVEREC_RETURN_IF_ERROR(CheckString(Indexed("categories", i), m.categories[i]));
  }
  LIVEREC_RETURN_IF_ERROR(CheckCount("tags", m.tags.size()));
  for (size_t i = 0; i < m.tags.size(); ++i) {
    LIVEREC_RETURN_IF_ERROR(CheckString(Indexed("tags", i), m.tags[i]));
  }
  LIVEREC_RETURN_IF_ERROR(CheckString("text", m.text));
  LIVEREC_RETURN_IF_ERROR(CheckCount("properties", m.properties.size()));
  for (const auto& [name, value] : m.properties) {
    LIVEREC_RETURN_IF_ERROR(CheckString("properties." + name, name));
    if (!std::isfinite(value)) {
      return InvalidArgument("properties." + name + ": expected a finite number");
    }
  }
  return Status::Ok();
}

Status ValidateUserMetadata(const UserMetadata& m) {
  LIVEREC_RETURN_IF_ERROR(CheckCount("attributes", m.attributes.size()));
  for (const auto& [name, value] : m.attributes) {
    LIVEREC_RETURN_IF_ERROR(CheckString("attributes", name));
    LIVEREC_RETURN_IF_ERROR(CheckString("attributes." + name, value));
  }
  return Status::Ok();
}

Status ValidateDecision(const DecisionRecord& d) {
  LIVEREC_RETURN_IF_ERROR(CheckString("recommendation_id", d.recommendation_id));
  LIVEREC_RETURN_IF_ERROR(CheckString("user", d.user));
  LIVEREC_RETURN_IF_ERROR(CheckString("model", d.model));
  LIVEREC_RETURN_IF_ERROR(CheckString("experiment", d.experiment));
  LIVEREC_RETURN_IF_ERROR(CheckString("arm", d.arm));
  LIVEREC_RETURN_IF_ERROR(CheckString("explore", d.explore));
  LIVEREC_RETURN_IF_ERROR(CheckString("error", d.error));
  LIVEREC_RETURN_IF_ERROR(CheckCount("items", d.items.size()));
  for (size_t i = 0; i < d.items.size(); ++i) {
    LIVEREC_RETURN_IF_ERROR(CheckString(Indexed("items", i), d.items[i].item));
    LIVEREC_RETURN_IF_ERROR(CheckString(Indexed("items", i) + ".team", d.items[i].team));
    if (!std::isfinite(d.items[i].score) || !std::isfinite(d.items[i].probability)) {
      return InvalidArgument(Indexed("items", i) + ": expected finite score and probability");
    }
  }
  return Status::Ok();
}

Status ValidateExperimentSpecLimits(const ExperimentSpec& e) {
  LIVEREC_RETURN_IF_ERROR(CheckString("name", e.name));
  LIVEREC_RETURN_IF_ERROR(CheckCount("arms", e.arms.size()));
  for (size_t i = 0; i < e.arms.size(); ++i) {
    const ExperimentArm& arm = e.arms[i];
    LIVEREC_RETURN_IF_ERROR(CheckString(Indexed("arms", i) + ".name", arm.name));
    LIVEREC_RETURN_IF_ERROR(CheckString(Indexed("arms", i) + ".model", arm.model));
    LIVEREC_RETURN_IF_ERROR(CheckString(Indexed("arms", i) + ".explore", arm.explore));
    if (!std::isfinite(arm.share) || (arm.diversity && !std::isfinite(*arm.diversity))) {
      return InvalidArgument(Indexed("arms", i) + ": expected finite numbers");
    }
  }
  LIVEREC_RETURN_IF_ERROR(CheckString("type", e.type));
  LIVEREC_RETURN_IF_ERROR(CheckString("learning", e.learning));
  LIVEREC_RETURN_IF_ERROR(CheckString("salt", e.salt));
  LIVEREC_RETURN_IF_ERROR(CheckString("layer", e.layer));
  if (!std::isfinite(e.traffic)) return InvalidArgument("traffic: expected a finite number");
  return Status::Ok();
}

void EncodeLogEntry(const LogEntry& entry, std::string* out) {
  out->push_back(static_cast<char>(entry.kind));
  if (entry.kind == LogEntryKind::kEvent) {
    EncodeEventRecord(entry.event, out);
    return;
  }
  out->push_back(static_cast<char>(kLogEntryVersion));
  switch (entry.kind) {
    case LogEntryKind::kPutItem: {
      LIVEREC_CHECK(ValidateItemMetadata(entry.item).ok());
      const ItemMetadata& m = entry.item;
      PutString(entry.key, out);
      PutVarint64(m.categories.size(), out);
      for (const std::string& c : m.categories) PutString(c, out);
      PutVarint64(m.tags.size(), out);
      for (const std::string& t : m.tags) PutString(t, out);
      PutString(m.text, out);
      PutVarint64(m.properties.size(), out);
      for (const auto& [name, value] : m.properties) {
        PutString(name, out);
        PutF64(value, out);
      }
      out->push_back(m.available ? 1 : 0);
      break;
    }
    case LogEntryKind::kDeleteItem:
      PutString(entry.key, out);
      break;
    case LogEntryKind::kPutUser:
      LIVEREC_CHECK(ValidateUserMetadata(entry.user).ok());
      PutString(entry.key, out);
      PutVarint64(entry.user.attributes.size(), out);
      for (const auto& [name, value] : entry.user.attributes) {
        PutString(name, out);
        PutString(value, out);
      }
      break;
    case LogEntryKind::kRollback:
      PutVarint64(entry.rollback_seq, out);
      break;
    case LogEntryKind::kDecision: {
      const DecisionRecord& d = entry.decision;
      LIVEREC_CHECK(ValidateDecision(d).ok());
      PutString(d.recommendation_id, out);
      PutString(d.user, out);
      PutZigzag(d.time_ms, out);
      PutString(d.model, out);
      PutVarint64(d.model_version, out);
      PutString(d.experiment, out);
      PutString(d.arm, out);
      PutString(d.explore, out);
      PutVarint64(d.items.size(), out);
      for (const DecisionRecord::Shown& shown : d.items) {
        PutString(shown.item, out);
        PutF32(shown.score, out);
        PutF64(shown.probability, out);
        PutString(shown.team, out);
      }
      PutVarint64(d.latency_us, out);
      PutString(d.error, out);
      break;
    }
    case LogEntryKind::kPutExperiment: {
      const ExperimentSpec& e = entry.experiment;
      LIVEREC_CHECK(ValidateExperimentSpecLimits(e).ok());
      PutString(e.name, out);
      PutString(e.type, out);
      PutVarint64(e.arms.size(), out);
      for (const ExperimentArm& arm : e.arms) {
        PutString(arm.name, out);
        PutString(arm.model, out);
        PutF64(arm.share, out);
        out->push_back(static_cast<char>((arm.diversity ? 1 : 0) | (arm.category_cap ? 2 : 0)));
        if (arm.diversity) PutF64(*arm.diversity, out);
        if (arm.category_cap) PutZigzag(*arm.category_cap, out);
        PutString(arm.explore, out);
      }
      PutString(e.learning, out);
      PutString(e.salt, out);
      PutString(e.layer, out);
      PutF64(e.traffic, out);
      PutZigzag(entry.time_ms, out);
      break;
    }
    case LogEntryKind::kStopExperiment:
      LIVEREC_CHECK(entry.experiment.name.size() <= kMaxEventRecordStringBytes);
      PutString(entry.experiment.name, out);
      PutZigzag(entry.time_ms, out);
      break;
    case LogEntryKind::kErased:
      break;
    case LogEntryKind::kDeleteUser:
      LIVEREC_CHECK(entry.key.size() <= kMaxEventRecordStringBytes);
      PutString(entry.key, out);
      PutString(entry.deletion, out);
      break;
    case LogEntryKind::kUnlearned:
      PutString(entry.deletion, out);
      break;
    case LogEntryKind::kEvent:
      break;
  }
}

Status DecodeLogEntry(std::string_view bytes, LogEntry* out) {
  if (bytes.empty()) return Corruption("log entry: empty");
  const uint8_t kind = static_cast<uint8_t>(bytes[0]);
  if (kind < static_cast<uint8_t>(LogEntryKind::kEvent) ||
      kind > static_cast<uint8_t>(LogEntryKind::kUnlearned)) {
    return Corruption("log entry: unknown kind " + std::to_string(kind));
  }
  out->kind = static_cast<LogEntryKind>(kind);
  if (out->kind == LogEntryKind::kEvent) return DecodeEventRecord(bytes.substr(1), &out->event);
  if (bytes.size() < 2) return Corruption("log entry: truncated before the version");
  const auto version = static_cast<uint8_t>(bytes[1]);
  if (version < 1 || version > kLogEntryVersion) {
    return Corruption("log entry: unsupported version " + std::to_string(version));
  }
  Decoder d(bytes);
  switch (out->kind) {
    case LogEntryKind::kPutItem: {
      ItemMetadata& m = out->item;
      LIVEREC_RETURN_IF_ERROR(d.String("key", &out->key));
      LIVEREC_RETURN_IF_ERROR(DecodeStrings(&d, "categories", &m.categories));
      LIVEREC_RETURN_IF_ERROR(DecodeStrings(&d, "tags", &m.tags));
      LIVEREC_RETURN_IF_ERROR(d.String("text", &m.text));
      size_t n = 0;
      LIVEREC_RETURN_IF_ERROR(d.Count("properties", &n));
      m.properties.resize(n);
      for (auto& [name, value] : m.properties) {
        LIVEREC_RETURN_IF_ERROR(d.String("properties", &name));
        LIVEREC_RETURN_IF_ERROR(d.F64("properties", &value));
      }
      uint8_t available = 0;
      LIVEREC_RETURN_IF_ERROR(d.Byte("available", &available));
      if (available > 1) return Corruption("log entry: available: not 0 or 1");
      m.available = available == 1;
      break;
    }
    case LogEntryKind::kDeleteItem:
      LIVEREC_RETURN_IF_ERROR(d.String("key", &out->key));
      break;
    case LogEntryKind::kPutUser: {
      LIVEREC_RETURN_IF_ERROR(d.String("key", &out->key));
      size_t n = 0;
      LIVEREC_RETURN_IF_ERROR(d.Count("attributes", &n));
      out->user.attributes.resize(n);
      for (auto& [name, value] : out->user.attributes) {
        LIVEREC_RETURN_IF_ERROR(d.String("attributes", &name));
        LIVEREC_RETURN_IF_ERROR(d.String("attributes", &value));
      }
      break;
    }
    case LogEntryKind::kRollback:
      LIVEREC_RETURN_IF_ERROR(d.Varint("rollback_seq", &out->rollback_seq));
      break;
    case LogEntryKind::kDecision: {
      DecisionRecord& r = out->decision;
      LIVEREC_RETURN_IF_ERROR(d.String("recommendation_id", &r.recommendation_id));
      LIVEREC_RETURN_IF_ERROR(d.String("user", &r.user));
      LIVEREC_RETURN_IF_ERROR(d.Zigzag("time_ms", &r.time_ms));
      LIVEREC_RETURN_IF_ERROR(d.String("model", &r.model));
      LIVEREC_RETURN_IF_ERROR(d.Varint("model_version", &r.model_version));
      LIVEREC_RETURN_IF_ERROR(d.String("experiment", &r.experiment));
      LIVEREC_RETURN_IF_ERROR(d.String("arm", &r.arm));
      LIVEREC_RETURN_IF_ERROR(d.String("explore", &r.explore));
      size_t n = 0;
      LIVEREC_RETURN_IF_ERROR(d.Count("items", &n));
      r.items.resize(n);
      for (DecisionRecord::Shown& shown : r.items) {
        LIVEREC_RETURN_IF_ERROR(d.String("items.item", &shown.item));
        LIVEREC_RETURN_IF_ERROR(d.F32("items.score", &shown.score));
        LIVEREC_RETURN_IF_ERROR(d.F64("items.probability", &shown.probability));
        shown.team.clear();
        if (version >= 2) LIVEREC_RETURN_IF_ERROR(d.String("items.team", &shown.team));
      }
      r.latency_us = 0;
      r.error.clear();
      if (version >= 3) {
        uint64_t latency = 0;
        LIVEREC_RETURN_IF_ERROR(d.Varint("latency_us", &latency));
        if (latency > UINT32_MAX) return Corruption("log entry: latency_us over 32 bits");
        r.latency_us = static_cast<uint32_t>(latency);
        LIVEREC_RETURN_IF_ERROR(d.String("error", &r.error));
      }
      break;
    }
    case LogEntryKind::kPutExperiment: {
      ExperimentSpec& e = out->experiment;
      LIVEREC_RETURN_IF_ERROR(d.String("name", &e.name));
      e.type = "ab";
      if (version >= 2) LIVEREC_RETURN_IF_ERROR(d.String("type", &e.type));
      size_t n = 0;
      LIVEREC_RETURN_IF_ERROR(d.Count("arms", &n));
      e.arms.resize(n);
      for (ExperimentArm& arm : e.arms) {
        LIVEREC_RETURN_IF_ERROR(d.String("arms.name", &arm.name));
        LIVEREC_RETURN_IF_ERROR(d.String("arms.model", &arm.model));
        LIVEREC_RETURN_IF_ERROR(d.F64("arms.share", &arm.share));
        uint8_t flags = 0;
        LIVEREC_RETURN_IF_ERROR(d.Byte("arms.flags", &flags));
        if (flags > 3) return Corruption("log entry: arms.flags: unknown bits");
        if (flags & 1) {
          double diversity = 0;
          LIVEREC_RETURN_IF_ERROR(d.F64("arms.diversity", &diversity));
          arm.diversity = diversity;
        }
        if (flags & 2) {
          int64_t cap = 0;
          LIVEREC_RETURN_IF_ERROR(d.Zigzag("arms.category_cap", &cap));
          arm.category_cap = cap;
        }
        LIVEREC_RETURN_IF_ERROR(d.String("arms.explore", &arm.explore));
      }
      LIVEREC_RETURN_IF_ERROR(d.String("learning", &e.learning));
      LIVEREC_RETURN_IF_ERROR(d.String("salt", &e.salt));
      LIVEREC_RETURN_IF_ERROR(d.String("layer", &e.layer));
      LIVEREC_RETURN_IF_ERROR(d.F64("traffic", &e.traffic));
      LIVEREC_RETURN_IF_ERROR(d.Zigzag("time_ms", &out->time_ms));
      break;
    }
    case LogEntryKind::kStopExperiment:
      LIVEREC_RETURN_IF_ERROR(d.String("name", &out->experiment.name));
      LIVEREC_RETURN_IF_ERROR(d.Zigzag("time_ms", &out->time_ms));
      break;
    case LogEntryKind::kErased:
      break;
    case LogEntryKind::kDeleteUser:
      LIVEREC_RETURN_IF_ERROR(d.String("key", &out->key));
      LIVEREC_RETURN_IF_ERROR(d.String("deletion", &out->deletion));
      break;
    case LogEntryKind::kUnlearned:
      LIVEREC_RETURN_IF_ERROR(d.String("deletion", &out->deletion));
      break;
    case LogEntryKind::kEvent:
      break;
  }
  return d.End();
}

}  // namespace liverec
