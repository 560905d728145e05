#include "engine/log_entry.h"

#include <gtest/gtest.h>

#include <cmath>

namespace liverec {
namespace {

LogEntry PutItemEntry() {
  LogEntry e;
  e.kind = LogEntryKind::kPutItem;
  e.key = "item-7";
  e.item.categories = {"news", "sport"};
  e.item.tags = {"football"};
  e.item.text = "A match report";
  e.item.properties = {{"price", 9.5}, {"age_days", 2}};
  e.item.available = false;
  return e;
}

std::vector<LogEntry> OneOfEachKind() {
  std::vector<LogEntry> out;
  LogEntry event;
  event.kind = LogEntryKind::kEvent;
  event.event.user = "u1";
  event.event.item = "i9";
  event.event.type = "click";
  event.event.time_ms = 1700000000000;
  event.event.context = {{"device", "mobile"}};
  event.event.id = "ev-1";
  out.push_back(event);
  out.push_back(PutItemEntry());
  LogEntry del;
  del.kind = LogEntryKind::kDeleteItem;
  del.key = "item-7";
  out.push_back(del);
  LogEntry user;
  user.kind = LogEntryKind::kPutUser;
  user.key = "u1";
  user.user.attributes = {{"country", "br"}};
  out.push_back(user);
  LogEntry rollback;
  rollback.kind = LogEntryKind::kRollback;
  rollback.rollback_seq = 123456789;
  out.push_back(rollback);
  LogEntry decision;
  decision.kind = LogEntryKind::kDecision;
  decision.decision.recommendation_id = "00ff00ff00ff00ff";
  decision.decision.user = "u1";
  decision.decision.time_ms = -5;  // zigzag: a negative time survives too
  decision.decision.model = "ensemble";
  decision.decision.model_version = 77;
  decision.decision.experiment = "e1";
  decision.decision.arm = "treatment";
  decision.decision.explore = "epsilon:0.05";
  decision.decision.items = {{"i9", 1.5f, 0.95, "treatment"}, {"i4", -0.25f, 0.0125, ""}};
  decision.decision.latency_us = 300000;  // a multi-byte varint
  out.push_back(decision);
  LogEntry failure;
  failure.kind = LogEntryKind::kDecision;
  failure.decision.user = "u2";
  failure.decision.time_ms = 9;
  failure.decision.experiment = "e1";
  failure.decision.arm = "treatment";
  failure.decision.latency_us = 17;
  failure.decision.error = "failed_precondition: rank.similarity=knn needs a live item_knn model";
  out.push_back(failure);
  LogEntry put;
  put.kind = LogEntryKind::kPutExperiment;
  put.experiment.name = "e1";
  put.experiment.type = "interleave";
  put.experiment.arms = {ExperimentArm{"control", "ensemble", 0.5, {}, {}, ""},
                         ExperimentArm{"knn", "item_knn", 0.5, 0.3, int64_t{2}, "softmax:0.5"}};
  put.experiment.salt = "s";
  put.experiment.layer = "home";
  put.experiment.traffic = 0.25;
  put.time_ms = 1700000000000;
  out.push_back(put);
  LogEntry stop;
  stop.kind = LogEntryKind::kStopExperiment;
  stop.experiment.name = "e1";
  stop.time_ms = 1700000000001;
  out.push_back(stop);
  LogEntry erased;
  erased.kind = LogEntryKind::kErased;
  out.push_back(erased);
  LogEntry delete_user;
  delete_user.kind = LogEntryKind::kDeleteUser;
  delete_user.key = "u9";
  delete_user.deletion = "0123456789abcdef";
  out.push_back(delete_user);
  LogEntry unlearned;
  unlearned.kind = LogEntryKind::kUnlearned;
  unlearned.deletion = "0123456789abcdef";
  out.push_back(unlearned);
  return out;
}

TEST(LogEntryTest, EveryKindRoundTrips) {
  for (const LogEntry& entry : OneOfEachKind()) {
    std::string bytes;
    EncodeLogEntry(entry, &bytes);
    EXPECT_EQ(bytes[0], static_cast<char>(entry.kind));
    LogEntry decoded;
    ASSERT_TRUE(DecodeLogEntry(bytes, &decoded).ok()) << static_cast<int>(entry.kind);
    EXPECT_EQ(decoded, entry);
  }
}

TEST(LogEntryTest, EveryTruncationIsCorruption) {
  for (const LogEntry& entry : OneOfEachKind()) {
    std::string bytes;
    EncodeLogEntry(entry, &bytes);
    for (size_t n = 0; n < bytes.size(); ++n) {
      LogEntry decoded;
      Status status = DecodeLogEntry(std::string_view(bytes).substr(0, n), &decoded);
      EXPECT_EQ(status.code(), StatusCode::kCorruption) << "kind " << int(entry.kind) << " n " << n;
    }
  }
}

TEST(LogEntryTest, TrailingBytesUnknownKindAndVersionAreCorruption) {
  std::string bytes;
  EncodeLogEntry(PutItemEntry(), &bytes);
  LogEntry decoded;
  EXPECT_EQ(DecodeLogEntry(bytes + "x", &decoded).code(), StatusCode::kCorruption);
  std::string kind = bytes;
  kind[0] = 12;
  Status status = DecodeLogEntry(kind, &decoded);
  EXPECT_EQ(status.code(), StatusCode::kCorruption);
  EXPECT_NE(status.message().find("unknown kind 12"), std::string::npos) << status.message();
  std::string version = bytes;
  version[1] = 4;
  status = DecodeLogEntry(version, &decoded);
  EXPECT_NE(status.message().find("unsupported version 4"), std::string::npos) << status.message();
}

// A version 2 decision is version 3's without the last two fields: no latency, no error.
TEST(LogEntryTest, ReadsVersionTwoDecisions) {
  LogEntry entry = OneOfEachKind()[5];
  ASSERT_EQ(entry.kind, LogEntryKind::kDecision);
  std::string bytes;
  EncodeLogEntry(entry, &bytes);
  // Version 3 appended varint latency (300000: three bytes) and an empty error (one byte).
  std::string v2 = bytes.substr(0, bytes.size() - 4);
  v2[1] = 2;
  LogEntry decoded;
  ASSERT_TRUE(DecodeLogEntry(v2, &decoded).ok()) << DecodeLogEntry(v2, &decoded).message();
  entry.decision.latency_us = 0;
  EXPECT_EQ(decoded, entry);
}

// Version 1 entries (before interleaving) still decode: a decision's items without a team, an
// experiment without a type (ab). The bytes are what version 1 wrote.
TEST(LogEntryTest, ReadsVersionOne) {
  std::string decision("\x06\x01", 2);
  auto put_string = [](std::string_view s, std::string* out) {
    out->push_back(static_cast<char>(s.size()));
    out->append(s);
  };
  put_string("00ff00ff00ff00ff", &decision);
  put_string("u1", &decision);
  decision.push_back(2);  // zigzag time 1
  put_string("mf", &decision);
  decision.push_back(7);  // model_version
  put_string("", &decision);
  put_string("", &decision);
  put_string("none", &decision);
  decision.push_back(1);  // one item
  put_string("i1", &decision);
  const float score = 0.5f;
  const double probability = 1;
  decision.append(reinterpret_cast<const char*>(&score), sizeof(score));
  decision.append(reinterpret_cast<const char*>(&probability), sizeof(probability));
  LogEntry decoded;
  ASSERT_TRUE(DecodeLogEntry(decision, &decoded).ok());
  ASSERT_EQ(decoded.decision.items.size(), 1u);
  EXPECT_EQ(decoded.decision.items[0].item, "i1");
  EXPECT_EQ(decoded.decision.items[0].team, "");
  EXPECT_EQ(decoded.decision.model_version, 7u);

  std::string put("\x07\x01", 2);
  put_string("e1", &put);
  put.push_back(1);  // one arm
  put_string("control", &put);
  put_string("mf", &put);
  const double share = 1;
  put.append(reinterpret_cast<const char*>(&share), sizeof(share));
  put.push_back(0);  // flags
  put_string("", &put);
  put_string("pooled", &put);
  put_string("", &put);
  put_string("", &put);
  const double traffic = 1;
  put.append(reinterpret_cast<const char*>(&traffic), sizeof(traffic));
  put.push_back(4);  // zigzag time 2
  ASSERT_TRUE(DecodeLogEntry(put, &decoded).ok()) << DecodeLogEntry(put, &decoded).message();
  EXPECT_EQ(decoded.experiment.type, "ab");
  EXPECT_EQ(decoded.experiment.arms.at(0).model, "mf");
  EXPECT_EQ(decoded.time_ms, 2);
}

TEST(LogEntryTest, ValidationNamesTheField) {
  ItemMetadata m;
  m.tags = {"ok", std::string(kMaxEventRecordStringBytes + 1, 'x')};
  Status status = ValidateItemMetadata(m);
  EXPECT_EQ(status.code(), StatusCode::kOutOfRange);
  EXPECT_NE(status.message().find("tags[1]"), std::string::npos) << status.message();
  ItemMetadata nan;
  nan.properties = {{"price", std::nan("")}};
  status = ValidateItemMetadata(nan);
  EXPECT_NE(status.message().find("properties.price"), std::string::npos) << status.message();
  UserMetadata u;
  u.attributes.resize(kMaxEventRecordContextPairs + 1);
  EXPECT_EQ(ValidateUserMetadata(u).code(), StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace liverec
