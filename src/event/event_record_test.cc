// Tests of the event record codec: round trips, one hand-computed encoding, every truncation and
// every single-byte change of encoded records, varint edge cases and the limits.
#include "event/event_record.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/random.h"

namespace liverec {
namespace {

using Bytes = std::vector<uint8_t>;

std::string FromBytes(const Bytes& b) { return std::string(b.begin(), b.end()); }

std::string Encode(const EventRecord& r) {
  std::string out;
  EncodeEventRecord(r, &out);
  return out;
}

EventRecord TypicalRecord() {
  EventRecord r;
  r.user = "user-48213";
  r.item = "item-9921";
  r.type = "click";
  r.value = 1;
  r.time_ms = 1'700'000'123'456;
  r.context = {{"device", "mobile"}, {"os", "android"}, {"page", "home"}};
  r.id = "ev-1";
  r.recommendation_id = "rec-77";
  return r;
}

// Strings whose lengths need two-byte varints, so truncation and flips hit multi-byte varints.
EventRecord LongFieldRecord() {
  EventRecord r;
  r.user = std::string(200, 'u');
  r.item = std::string(128, 'i');
  r.type = "view";
  r.value = -0.5f;
  r.time_ms = -1;
  r.context = {{std::string(130, 'k'), "v"}};
  return r;
}

void ExpectRoundTrip(const EventRecord& r) {
  const std::string bytes = Encode(r);
  EXPECT_EQ(bytes.size(), EventRecordEncodedSize(r));
  EventRecord decoded;
  const Status s = DecodeEventRecord(bytes, &decoded);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(decoded, r);
}

Status DecodeBytes(const Bytes& b) {
  EventRecord r;
  return DecodeEventRecord(FromBytes(b), &r);
}

TEST(EventRecordTest, TypicalRecordRoundTrips) { ExpectRoundTrip(TypicalRecord()); }

TEST(EventRecordTest, DefaultRecordWithEmptyStringsRoundTrips) {
  ExpectRoundTrip(EventRecord{});
  EventRecord with_empty_pair;
  with_empty_pair.context = {{"", ""}};
  ExpectRoundTrip(with_empty_pair);
}

TEST(EventRecordTest, UnicodeAndBinaryBytesRoundTrip) {
  EventRecord r;
  r.user = "Zoë 🙂 ユーザー";
  r.item = std::string("a\0b\xff\xfe", 5);
  r.type = "\xc3\xa9v\xc3\xa9nement";
  r.context = {{"城市", "北京"}, {std::string(1, '\0'), "\x80\x81"}};
  r.id = "\xf0\x9f\x94\x91";
  ExpectRoundTrip(r);
}

TEST(EventRecordTest, ZeroAndManyContextPairsRoundTrip) {
  EventRecord r = TypicalRecord();
  r.context.clear();
  ExpectRoundTrip(r);
  for (size_t i = 0; i < kMaxEventRecordContextPairs; ++i) {
    r.context.emplace_back("k" + std::to_string(i), "v" + std::to_string(i * 7));
  }
  ExpectRoundTrip(r);
}

TEST(EventRecordTest, ExtremeTimestampsAndValuesRoundTrip) {
  const int64_t times[] = {0, -1, -1'000'000'000'000, std::numeric_limits<int64_t>::min(),
                           std::numeric_limits<int64_t>::max()};
  const float values[] = {0.0f,
                          -0.0f,
                          -3.5f,
                          std::numeric_limits<float>::max(),
                          std::numeric_limits<float>::lowest(),
                          std::numeric_limits<float>::denorm_min()};
  for (const int64_t t : times) {
    for (const float v : values) {
      EventRecord r = TypicalRecord();
      r.time_ms = t;
      r.value = v;
      ExpectRoundTrip(r);
    }
  }
  // -0.0f == 0.0f, so check the sign survives bit for bit.
  EventRecord r;
  r.value = -0.0f;
  EventRecord decoded;
  ASSERT_TRUE(DecodeEventRecord(Encode(r), &decoded).ok());
  EXPECT_TRUE(std::signbit(decoded.value));
}

TEST(EventRecordTest, StringsExactlyAtTheLimitRoundTrip) {
  EventRecord r;
  r.user = std::string(kMaxEventRecordStringBytes, 'x');
  r.context = {{std::string(kMaxEventRecordStringBytes, 'k'), "v"}};
  EXPECT_EQ(CheckEventRecordLimits(r), std::nullopt);
  ExpectRoundTrip(r);
}

TEST(EventRecordTest, RandomRecordsRoundTrip) {
  Random rng(20261123);
  const auto random_string = [&rng](uint32_t max_len) {
    std::string s(rng.Uniform(max_len + 1), '\0');
    for (char& c : s) c = static_cast<char>(rng.Uniform(256));
    return s;
  };
  for (int n = 0; n < 500; ++n) {
    EventRecord r;
    r.user = random_string(20);
    r.item = random_string(300);
    r.type = random_string(8);
    r.value = static_cast<float>(rng.Normal() * 100);
    r.time_ms = static_cast<int64_t>(rng.Next());
    const uint32_t num_pairs = rng.Uniform(6);
    for (uint32_t i = 0; i < num_pairs; ++i)
      r.context.emplace_back(random_string(10), random_string(150));
    r.id = random_string(4);
    r.recommendation_id = random_string(4);
    ExpectRoundTrip(r);
  }
}

TEST(EventRecordTest, SmallRecordHasTheHandComputedEncoding) {
  EventRecord r;
  r.user = "u1";
  r.item = "i";
  r.type = "click";
  r.value = 2.0f;   // IEEE 754 binary32 0x40000000
  r.time_ms = 300;  // 0x12C
  r.context = {{"d", "m"}};
  r.recommendation_id = "r";
  const Bytes expected = {
      0x01,                                            // version
      0x02, 'u',  '1',                                 // user
      0x01, 'i',                                       // item
      0x05, 'c',  'l',  'i',  'c',  'k',               // type
      0x00, 0x00, 0x00, 0x40,                          // value, f32 LE
      0x2C, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // time_ms, i64 LE
      0x01,                                            // one context pair
      0x01, 'd',  0x01, 'm',                           // context[0] key, value
      0x00,                                            // id absent
      0x01, 'r',                                       // recommendation_id
  };
  EXPECT_EQ(Encode(r), FromBytes(expected));
}

TEST(EventRecordTest, LongLengthsAndNegativeTimeHaveTheHandComputedEncoding) {
  const std::string bytes = Encode(LongFieldRecord());
  // 200 = 0b1'1001000 -> C8 01; then the 200 bytes of user.
  ASSERT_GE(bytes.size(), 3u);
  EXPECT_EQ(bytes.substr(0, 3), FromBytes({0x01, 0xC8, 0x01}));
  // 128 -> 80 01 for item.
  EXPECT_EQ(bytes.substr(203, 2), FromBytes({0x80, 0x01}));
  // After type ("view"): value -0.5f = 0xBF000000, then time_ms -1 = eight FF bytes.
  const size_t value_pos = 1 + 2 + 200 + 2 + 128 + 1 + 4;
  EXPECT_EQ(bytes.substr(value_pos, 12),
            FromBytes({0x00, 0x00, 0x00, 0xBF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}));
}

TEST(EventRecordTest, EncodeAppendsToExistingBytes) {
  std::string out = "prefix";
  EncodeEventRecord(TypicalRecord(), &out);
  EXPECT_EQ(out, "prefix" + Encode(TypicalRecord()));
}

TEST(EventRecordTest, DecodeOverwritesEveryFieldOfAReusedRecord) {
  EventRecord out = LongFieldRecord();
  out.context.resize(10, {"stale", "stale"});
  out.id = "stale";
  const EventRecord small = TypicalRecord();
  ASSERT_TRUE(DecodeEventRecord(Encode(small), &out).ok());
  EXPECT_EQ(out, small);
}

TEST(EventRecordTest, ValidateRefusesNonFiniteValues) {
  for (const float v :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
        -std::numeric_limits<float>::infinity()}) {
    EventRecord r = TypicalRecord();
    r.value = v;
    const std::optional<FieldError> e = ValidateEventRecord(r);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->code, StatusCode::kInvalidArgument);
    EXPECT_EQ(e->field, "value");
    EXPECT_EQ(e->reason.rfind("not finite", 0), 0u) << e->reason;
  }
}

TEST(EventRecordTest, ValidateNamesTheStringFieldOverTheLimit) {
  const std::string too_long(kMaxEventRecordStringBytes + 1, 'x');
  const auto check = [&](void (*set)(EventRecord*, const std::string&), const char* field) {
    EventRecord r = TypicalRecord();
    set(&r, too_long);
    const std::optional<FieldError> e = ValidateEventRecord(r);
    ASSERT_TRUE(e.has_value()) << field;
    EXPECT_EQ(*e, (FieldError{field, "longer than 65536 bytes (65537)", StatusCode::kOutOfRange}));
  };
  check([](EventRecord* r, const std::string& s) { r->user = s; }, "user");
  check([](EventRecord* r, const std::string& s) { r->item = s; }, "item");
  check([](EventRecord* r, const std::string& s) { r->type = s; }, "type");
  check([](EventRecord* r, const std::string& s) { r->context[2].first = s; }, "context[2].key");
  check([](EventRecord* r, const std::string& s) { r->context[1].second = s; }, "context[1].value");
  check([](EventRecord* r, const std::string& s) { r->id = s; }, "id");
  check([](EventRecord* r, const std::string& s) { r->recommendation_id = s; },
        "recommendation_id");
}

TEST(EventRecordTest, ValidateRefusesTooManyContextPairs) {
  EventRecord r = TypicalRecord();
  r.context.resize(kMaxEventRecordContextPairs + 1);
  const std::optional<FieldError> e = ValidateEventRecord(r);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(*e,
            (FieldError{"context", "1025 pairs, over the limit 1024", StatusCode::kOutOfRange}));
}

TEST(EventRecordTest, ValidateRefusesARecordOverOneMebibyte) {
  EventRecord r;
  r.user = "u";
  r.item = "i";
  // 16 values of 64 KiB are exactly 1 MiB on their own; with the rest the record is over.
  for (int i = 0; i < 16; ++i) {
    r.context.emplace_back("k", std::string(kMaxEventRecordStringBytes, 'v'));
  }
  const std::optional<FieldError> e = ValidateEventRecord(r);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, StatusCode::kOutOfRange);
  // The field of an error of the whole record is "".
  EXPECT_EQ(e->field, "");
  EXPECT_EQ(e->reason.rfind("encoded size ", 0), 0u) << e->reason;
  r.context.pop_back();
  EXPECT_EQ(ValidateEventRecord(r), std::nullopt);
}

TEST(EventRecordTest, ValidateRefusesAnEmptyUserOrItemAndANegativeTimestamp) {
  EventRecord r = TypicalRecord();
  EXPECT_EQ(ValidateEventRecord(r), std::nullopt);
  r.user.clear();
  EXPECT_EQ(ValidateEventRecord(r), (FieldError{"user", "expected a non-empty string"}));
  r = TypicalRecord();
  r.item.clear();
  EXPECT_EQ(ValidateEventRecord(r), (FieldError{"item", "expected a non-empty string"}));
  r = TypicalRecord();
  r.time_ms = -1;
  EXPECT_EQ(ValidateEventRecord(r), (FieldError{"timestamp", "expected Unix milliseconds >= 0"}));
  // The format holds such records: only the limits bound what can be encoded.
  EXPECT_EQ(CheckEventRecordLimits(r), std::nullopt);
  EXPECT_EQ(CheckEventRecordLimits(EventRecord{}), std::nullopt);
}

TEST(EventRecordDeathTest, EncodingAnUnvalidatedRecordAborts) {
  EventRecord r;
  r.value = std::numeric_limits<float>::quiet_NaN();
  std::string out;
  EXPECT_DEATH(EncodeEventRecord(r, &out), "value: not finite");
}

TEST(EventRecordTest, EveryTruncationIsCorruption) {
  for (const EventRecord& r : {TypicalRecord(), LongFieldRecord(), EventRecord{}}) {
    const std::string bytes = Encode(r);
    for (size_t len = 0; len < bytes.size(); ++len) {
      EventRecord out;
      const Status s = DecodeEventRecord(std::string_view(bytes).substr(0, len), &out);
      EXPECT_EQ(s.code(), StatusCode::kCorruption) << "length " << len;
      EXPECT_EQ(s.message().rfind("event record byte ", 0), 0u) << s.message();
    }
  }
}

TEST(EventRecordTest, TruncationNamesTheFieldAndOffset) {
  EventRecord r;
  r.user = "u1";
  r.item = "i";
  r.type = "click";
  const std::string bytes = Encode(r);
  EventRecord out;
  // The value starts at 1 + 3 + 2 + 6 = 12.
  EXPECT_EQ(DecodeEventRecord(std::string_view(bytes).substr(0, 14), &out).message(),
            "event record byte 12: value: truncated (needs 4 bytes, 2 left)");
  EXPECT_EQ(DecodeEventRecord(std::string_view(bytes).substr(0, 8), &out).message(),
            "event record byte 6: type: length 5 past the end (1 bytes left)");
  EXPECT_EQ(DecodeEventRecord("", &out).message(),
            "event record byte 0: version: truncated (needs 1 bytes, 0 left)");
}

TEST(EventRecordTest, EverySingleByteChangeDecodesCanonicallyOrIsCorruption) {
  for (const EventRecord& r : {TypicalRecord(), LongFieldRecord()}) {
    const std::string bytes = Encode(r);
    int num_decoded = 0;
    for (size_t pos = 0; pos < bytes.size(); ++pos) {
      for (int v = 0; v < 256; ++v) {
        if (static_cast<uint8_t>(bytes[pos]) == v) continue;
        std::string changed = bytes;
        changed[pos] = static_cast<char>(v);
        EventRecord out;
        const Status s = DecodeEventRecord(changed, &out);
        if (s.ok()) {
          // The encoding is canonical: whatever decodes re-encodes to the same bytes.
          ++num_decoded;
          EXPECT_EQ(Encode(out), changed) << "byte " << pos << " = " << v;
        } else {
          EXPECT_EQ(s.code(), StatusCode::kCorruption) << "byte " << pos << " = " << v;
        }
      }
    }
    // Changes inside string bytes and fixed numbers still decode.
    EXPECT_GT(num_decoded, 0);
  }
}

TEST(EventRecordTest, TrailingByteIsCorruption) {
  const std::string bytes = Encode(TypicalRecord());
  EventRecord out;
  const Status s = DecodeEventRecord(bytes + '\0', &out);
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_EQ(s.message(), "event record byte " + std::to_string(bytes.size()) +
                             ": record: 1 trailing bytes after the record");
}

TEST(EventRecordTest, UnknownVersionIsCorruption) {
  std::string bytes = Encode(TypicalRecord());
  for (const int version : {0, 2, 255}) {
    bytes[0] = static_cast<char>(version);
    EventRecord out;
    const Status s = DecodeEventRecord(bytes, &out);
    EXPECT_EQ(s.code(), StatusCode::kCorruption);
    EXPECT_EQ(s.message(), "event record byte 0: version: unsupported event record version " +
                               std::to_string(version));
  }
}

TEST(EventRecordTest, NonFiniteValueInBytesIsCorruption) {
  EventRecord r;
  r.user = "u1";
  r.item = "i";
  r.type = "click";
  std::string bytes = Encode(r);
  const size_t value_pos = 12;
  for (const Bytes& value : {Bytes{0x00, 0x00, 0xC0, 0x7F}, Bytes{0x00, 0x00, 0x80, 0x7F},
                             Bytes{0x00, 0x00, 0x80, 0xFF}}) {  // NaN, +inf, -inf
    bytes.replace(value_pos, 4, FromBytes(value));
    EventRecord out;
    const Status s = DecodeEventRecord(bytes, &out);
    EXPECT_EQ(s.code(), StatusCode::kCorruption);
    EXPECT_EQ(s.message(), "event record byte 12: value: not finite");
  }
}

TEST(EventRecordTest, LengthsAndCountsOverTheLimitsAreCorruption) {
  // user length 65537 = 81 80 04.
  Status s = DecodeBytes({0x01, 0x81, 0x80, 0x04});
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_EQ(s.message(), "event record byte 1: user: length 65537 over the limit 65536");

  // A context count of 1025 = 81 08 after empty strings, value and time.
  Bytes b = {0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x3F};
  b.insert(b.end(), 8, 0x00);
  const size_t count_pos = b.size();
  b.insert(b.end(), {0x81, 0x08});
  s = DecodeBytes(b);
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_EQ(s.message(), "event record byte " + std::to_string(count_pos) +
                             ": context: 1025 pairs, over the limit 1024");

  // A huge length varint is a bad length, never an allocation.
  s = DecodeBytes({0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01});
  EXPECT_EQ(s.message(),
            "event record byte 1: user: length 18446744073709551615 over the limit 65536");
}

TEST(EventRecordTest, InputOverOneMebibyteIsCorruption) {
  std::string bytes(kMaxEventRecordBytes + 1, '\0');
  bytes[0] = static_cast<char>(kEventRecordVersion);
  EventRecord out;
  const Status s = DecodeEventRecord(bytes, &out);
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_EQ(s.message(), "event record byte 0: record: size 1048577 bytes over the limit 1048576");
}

TEST(EventRecordTest, VarintEdgeValuesHaveTheirLeb128Bytes) {
  const struct {
    uint64_t v;
    Bytes bytes;
  } cases[] = {
      {0, {0x00}},
      {1, {0x01}},
      {127, {0x7F}},
      {128, {0x80, 0x01}},
      {300, {0xAC, 0x02}},
      {16383, {0xFF, 0x7F}},
      {16384, {0x80, 0x80, 0x01}},
      {uint64_t{1} << 32, {0x80, 0x80, 0x80, 0x80, 0x10}},
      {uint64_t{1} << 63, {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}},
      {std::numeric_limits<uint64_t>::max(),
       {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}},
  };
  for (const auto& c : cases) {
    std::string out = "x";
    PutVarint64(c.v, &out);
    EXPECT_EQ(out, "x" + FromBytes(c.bytes)) << c.v;
    EXPECT_EQ(Varint64Size(c.v), c.bytes.size()) << c.v;
    size_t pos = 1;
    uint64_t decoded = 0;
    ASSERT_TRUE(GetVarint64(out + "tail", &pos, &decoded).ok()) << c.v;
    EXPECT_EQ(decoded, c.v);
    EXPECT_EQ(pos, 1 + c.bytes.size());
  }
}

Status GetVarintOf(const Bytes& b) {
  size_t pos = 0;
  uint64_t v = 0;
  return GetVarint64(FromBytes(b), &pos, &v);
}

TEST(EventRecordTest, VarintLongerThanTenBytesIsRefused) {
  Bytes eleven(10, 0x80);
  eleven.push_back(0x00);
  EXPECT_EQ(GetVarintOf(eleven).message(), "varint longer than 10 bytes");
  Bytes eleven_ff(10, 0xFF);
  eleven_ff.push_back(0x01);
  EXPECT_EQ(GetVarintOf(eleven_ff).message(), "varint longer than 10 bytes");
  // Inside a record, the message says where.
  Bytes record = {0x01};
  record.insert(record.end(), eleven.begin(), eleven.end());
  EXPECT_EQ(DecodeBytes(record).message(),
            "event record byte 1: user: varint longer than 10 bytes");
}

TEST(EventRecordTest, VarintOverflowingSixtyFourBitsIsRefused) {
  Bytes b(9, 0xFF);
  b.push_back(0x02);
  EXPECT_EQ(GetVarintOf(b).message(), "varint overflows 64 bits");
  b.back() = 0x7F;
  EXPECT_EQ(GetVarintOf(b).code(), StatusCode::kCorruption);
}

TEST(EventRecordTest, NonMinimalVarintIsRefused) {
  EXPECT_EQ(GetVarintOf({0x80, 0x00}).message(), "non-minimal varint");
  EXPECT_EQ(GetVarintOf({0xFF, 0x80, 0x00}).message(), "non-minimal varint");
  EXPECT_EQ(DecodeBytes({0x01, 0x80, 0x00}).message(),
            "event record byte 1: user: non-minimal varint");
}

TEST(EventRecordTest, CutShortVarintIsRefused) {
  EXPECT_EQ(GetVarintOf({}).message(), "varint cut short after 0 bytes");
  EXPECT_EQ(GetVarintOf({0x80, 0x80}).message(), "varint cut short after 2 bytes");
}

}  // namespace
}  // namespace liverec
