#include "event/readers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "event/dataset_testing.h"

namespace liverec {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

namespace fs = std::filesystem;

// A fresh folder per test, removed at the end.
class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("liverec_readers_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }

  std::string Path(const std::string& name) const { return (path_ / name).string(); }

  std::string Write(const std::string& name, std::string_view content) const {
    std::string path = Path(name);
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  std::string WriteGzip(const std::string& name, std::string_view content) const {
    std::string path = Path(name);
    gzFile f = gzopen(path.c_str(), "wb");
    EXPECT_NE(f, nullptr);
    EXPECT_EQ(gzwrite(f, content.data(), static_cast<unsigned>(content.size())),
              static_cast<int>(content.size()));
    EXPECT_EQ(gzclose(f), Z_OK);
    return path;
  }

 private:
  fs::path path_;
};

using testing::Row;
using testing::Rows;

std::vector<std::string> ItemKeys(const Dataset& d) {
  std::vector<std::string> keys;
  for (const Event& e : d.events) keys.push_back(d.items.Key(e.item));
  return keys;
}

StatusOr<Dataset> Parse(std::string_view bytes, std::string_view name,
                        const ReadOptions& options = {}, ReadStats* stats = nullptr) {
  return ParseDataset(bytes, name, options, stats);
}

std::string ErrorOf(std::string_view bytes, std::string_view name,
                    const ReadOptions& options = {}) {
  StatusOr<Dataset> d = Parse(bytes, name, options);
  EXPECT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  return d.status().message();
}

// --- MovieLens ------------------------------------------------------------------------------

TEST(ReadersTest, MovieLensTabFileGivesRatingsInSecondsTimesAThousand) {
  ScratchDir dir;
  std::string path = dir.Write("u.data", "196\t242\t3\t881250949\n186\t302\t4.5\t881250000\n");
  ReadStats stats;
  StatusOr<Dataset> d = ReadDataset(path, {}, &stats);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_THAT(Rows(*d), ElementsAre(Row{"186", "302", 881250000000, 4.5f, "rating", {}, ""},
                                    Row{"196", "242", 881250949000, 3.0f, "rating", {}, ""}));
  EXPECT_EQ(d->event_types.size(), 1u);
  EXPECT_EQ(stats.lines, 2u);
  EXPECT_EQ(stats.events, 2u);
  EXPECT_EQ(stats.skipped, 0u);
}

TEST(ReadersTest, MovieLensDoubleColonFileIsDetectedByNameAndContent) {
  const std::string content = "1::1193::5::978300760\r\n1::661::3::978302109\r\n";
  for (std::string_view name : {"ratings.dat", "anything"}) {
    StatusOr<Dataset> d = Parse(content, name);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_THAT(ItemKeys(*d), ElementsAre("1193", "661")) << name;
    EXPECT_EQ(d->events[0].time_ms, 978300760000);
    EXPECT_EQ(d->events[0].value, 5.0f);
  }
}

TEST(ReadersTest, MovieLensBadRatingNamesFileLineAndField) {
  std::string message = ErrorOf("1\t2\t3\t100\n\n1\t2\tgood\t100\n", "u.data");
  EXPECT_EQ(message, "u.data:3: field 'rating': expected a finite number, got 'good'");
}

TEST(ReadersTest, MovieLensWrongFieldCountSaysHowMany) {
  std::string message = ErrorOf("1\t2\t3\n", "u.data");
  EXPECT_THAT(message, HasSubstr("u.data:1: expected 4 fields"));
  EXPECT_THAT(message, HasSubstr("found 3"));
}

TEST(ReadersTest, MovieLensTimestampOverflowIsAnErrorNotUndefinedBehaviour) {
  std::string message = ErrorOf("1\t2\t3\t9223372036854775807\n", "u.data");
  EXPECT_THAT(message, HasSubstr("u.data:1: field 'timestamp'"));
}

// --- CSV ------------------------------------------------------------------------------------

constexpr std::string_view kGloboHeader =
    "user_id,session_id,session_start,session_size,click_article_id,click_timestamp,"
    "click_environment,click_deviceGroup,click_os,click_country,click_region,"
    "click_referrer_type\n";

TEST(ReadersTest, CsvGuessesGloboColumnsAndKeepsTheRestAsContext) {
  std::string content(kGloboHeader);
  content += "0,15068,1506825423000,2,157541,1506826828020,4,3,20,1,20,2\n";
  content += "7,15069,1506825423000,2,68866,1506826800000,4,1,17,1,21,1\n";
  StatusOr<Dataset> d = Parse(content, "clicks.csv");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ASSERT_EQ(d->events.size(), 2u);
  const std::vector<Row> rows = Rows(*d);
  EXPECT_EQ(rows[0].user, "7");
  EXPECT_EQ(rows[0].item, "68866");
  EXPECT_EQ(rows[0].time_ms, 1506826800000);  // already milliseconds (> 1e11)
  EXPECT_EQ(rows[0].value, 1.0f);
  EXPECT_EQ(rows[0].type, "");
  EXPECT_THAT(rows[1].context,
              ElementsAre(Pair("session_id", "15068"), Pair("session_start", "1506825423000"),
                          Pair("session_size", "2"), Pair("click_environment", "4"),
                          Pair("click_deviceGroup", "3"), Pair("click_os", "20"),
                          Pair("click_country", "1"), Pair("click_region", "20"),
                          Pair("click_referrer_type", "2")));
  EXPECT_EQ(d->context_keys.size(), 9u);
}

TEST(ReadersTest, CsvSecondsAreTurnedIntoMillisecondsByTheAutoTimeUnit) {
  StatusOr<Dataset> d = Parse("userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n", "r.csv");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_THAT(Rows(*d), ElementsAre(Row{"1", "31", 1260759144000, 2.5f, "rating", {}, ""}));
}

TEST(ReadersTest, CsvTimeUnitOptionOverridesTheGuess) {
  ReadOptions ms;
  ms.time_unit = TimeUnit::kMilliseconds;
  StatusOr<Dataset> d = Parse("user,item,time\na,b,1000\n", "x.csv", ms);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->events[0].time_ms, 1000);
  ReadOptions seconds;
  seconds.time_unit = TimeUnit::kSeconds;
  d = Parse("user,item,time\na,b,200000000000\n", "x.csv", seconds);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->events[0].time_ms, 200000000000000);
}

TEST(ReadersTest, CsvExplicitMappingWithRatingAndTypeColumns) {
  ReadOptions o;
  o.user_col = "Who";  // matched ignoring case
  o.item_col = "what";
  o.time_col = "when";
  o.rating_col = "score";
  o.type_col = "kind";
  StatusOr<Dataset> d =
      Parse("who;what;when;score;kind;device\nu1;i1;5;0.5;view;tv\nu2;i2;6;2;buy;\n", "x.csv", o);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_THAT(Rows(*d), ElementsAre(Row{"u1", "i1", 5000, 0.5f, "view", {{"device", "tv"}}, ""},
                                    Row{"u2", "i2", 6000, 2.0f, "buy", {}, ""}));
  EXPECT_EQ(d->event_types.Key(kDefaultEventType), "view");
}

TEST(ReadersTest, CsvMappingToAMissingColumnListsTheHeader) {
  ReadOptions o;
  o.item_col = "product";
  std::string message = ErrorOf("user,item,timestamp\n", "x.csv", o);
  EXPECT_EQ(message,
            "x.csv:1: item_col 'product' names no column; the header has 'user', 'item', "
            "'timestamp'");
}

TEST(ReadersTest, CsvWithoutAGuessableUserColumnAsksForUserCol) {
  std::string message = ErrorOf("who,item,timestamp\na,b,1\n", "x.csv");
  EXPECT_THAT(message, HasSubstr("x.csv:1: cannot tell which column holds the user"));
  EXPECT_THAT(message, HasSubstr("set user_col"));
}

TEST(ReadersTest, CsvBadTimestampNamesFileLineAndField) {
  std::string message = ErrorOf("user,item,timestamp\na,b,1\na,b,abc\n", "ratings.csv");
  EXPECT_EQ(message, "ratings.csv:3: field 'timestamp': expected an integer, got 'abc'");
}

TEST(ReadersTest, CsvWrongColumnCountSaysExpectedAndFound) {
  std::string message = ErrorOf("user,item,timestamp,device\na,b,1\n", "x.csv");
  EXPECT_EQ(message, "x.csv:2: expected 4 columns (as in the header), found 3");
}

TEST(ReadersTest, CsvLongBadValuesAreCutInTheMessage) {
  std::string message =
      ErrorOf("user,item,timestamp\na,b," + std::string(1000, '9') + "x\n", "x.csv");
  EXPECT_LT(message.size(), 200u);
  EXPECT_THAT(message, HasSubstr("..."));
}

TEST(ReadersTest, CsvQuotedFieldsHoldDelimitersQuotesAndLineBreaks) {
  std::string content =
      "user,\"item\",timestamp,note\n"
      "\"a,1\",\"say \"\"hi\"\"\",1,\"two\nlines\"\n"
      "b,i2,2,\"\"\n"
      "c,i3,zzz,x\n";
  std::string message = ErrorOf(content, "q.csv");
  EXPECT_EQ(message, "q.csv:5: field 'timestamp': expected an integer, got 'zzz'");
  StatusOr<Dataset> d = Parse(content.substr(0, content.find("c,i3")), "q.csv");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_THAT(Rows(*d),
              ElementsAre(Row{"a,1", "say \"hi\"", 1000, 1, "", {{"note", "two\nlines"}}, ""},
                          Row{"b", "i2", 2000, 1, "", {}, ""}));
}

TEST(ReadersTest, CsvUnterminatedQuoteIsReportedAtItsLine) {
  std::string message = ErrorOf("user,item,timestamp\na,\"b,1\nc,d,2\n", "x.csv");
  EXPECT_THAT(message, HasSubstr("x.csv:2: unterminated quoted field"));
}

TEST(ReadersTest, CsvTextAfterAClosingQuoteIsAnError) {
  std::string message = ErrorOf("user,item,timestamp\na,\"b\"x,1\n", "x.csv");
  EXPECT_THAT(message, HasSubstr("x.csv:2: unexpected character 'x' after the closing quote"));
}

TEST(ReadersTest, CsvCrlfLineEndsAndByteOrderMarkAreAccepted) {
  StatusOr<Dataset> d =
      Parse("\xEF\xBB\xBFuser,item,timestamp,device\r\na,b,1,\"tv\"\r\nc,d,2,pc\r\n", "x.csv");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_THAT(Rows(*d), ElementsAre(Row{"a", "b", 1000, 1, "", {{"device", "tv"}}, ""},
                                    Row{"c", "d", 2000, 1, "", {{"device", "pc"}}, ""}));
}

TEST(ReadersTest, CsvDelimiterIsGuessedFromTheHeader) {
  for (char delimiter : {'\t', ';', ','}) {
    std::string content = "user,x\titem\ttimestamp\nu\ti\t5\n";
    if (delimiter != '\t') {
      content = std::string("user") + delimiter + "item" + delimiter + "timestamp\nu" + delimiter +
                "i" + delimiter + "5\n";
    }
    StatusOr<Dataset> d = Parse(content, "x.tsv");
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(d->events[0].time_ms, 5000);
    EXPECT_EQ(d->items.Key(0), "i");
  }
}

TEST(ReadersTest, EmptyCsvFileIsAnErrorAndHeaderOnlyFileHasNoEvents) {
  EXPECT_EQ(ErrorOf("", "x.csv"), "x.csv:1: empty file: expected a header line");
  EXPECT_EQ(ErrorOf("\n  \n", "x.csv"), "x.csv:1: empty file: expected a header line");
  ReadStats stats;
  StatusOr<Dataset> d = Parse("user,item,timestamp\n", "x.csv", {}, &stats);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_TRUE(d->events.empty());
  EXPECT_EQ(stats.lines, 0u);
}

TEST(ReadersTest, EmptyMovieLensAndJsonlFilesHaveNoEvents) {
  for (std::string_view name : {"u.data", "x.jsonl"}) {
    StatusOr<Dataset> d = Parse("", name);
    ASSERT_TRUE(d.ok()) << name;
    EXPECT_TRUE(d->events.empty());
  }
}

TEST(ReadersTest, CsvEmptyUserIsAnError) {
  EXPECT_EQ(ErrorOf("user,item,timestamp\n,b,1\n", "x.csv"), "x.csv:2: field 'user': empty");
}

// --- JSON Lines -----------------------------------------------------------------------------

TEST(ReadersTest, JsonlEventsWithAllFields) {
  std::string content =
      R"({"user": "u1", "item": 9, "type": "click", "value": 2.5, "timestamp": 1700000000000,)"
      R"( "context": {"device": "mobile", "hour": 7, "ratio": 0.25}, "id": "e1"})"
      "\n\n"
      R"({"user": 42, "item": "i9", "timestamp": 1699999999999, "id": null})"
      "\n";
  StatusOr<Dataset> d = Parse(content, "events.ndjson");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_THAT(Rows(*d), ElementsAre(Row{"42", "i9", 1699999999999, 1, "", {}, ""},
                                    Row{"u1",
                                        "9",
                                        1700000000000,
                                        2.5f,
                                        "click",
                                        {{"device", "mobile"}, {"hour", "7"}, {"ratio", "0.25"}},
                                        "e1"}));
}

TEST(ReadersTest, JsonlTypeIdZeroIsTheFirstTypeInTheFile) {
  std::string content = R"({"user":"a","item":"b","type":"view","timestamp":9})"
                        "\n"
                        R"({"user":"a","item":"c","type":"buy","timestamp":1})"
                        "\n";
  StatusOr<Dataset> d = Parse(content, "x.jsonl");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->event_types.Key(0), "view");
  EXPECT_EQ(d->events[0].type, 1);  // the buy, first in time
  EXPECT_EQ(d->events[1].type, 0);
}

TEST(ReadersTest, JsonlUnknownFieldIsNamedWithASuggestion) {
  std::string message = ErrorOf(R"({"user":"a","item":"b","timestmap":1})"
                                "\n",
                                "x.jsonl");
  EXPECT_THAT(message, HasSubstr("x.jsonl:1: field 'timestmap': unknown field"));
  EXPECT_THAT(message, HasSubstr("did you mean 'timestamp'"));
}

TEST(ReadersTest, JsonlTruncatedLineIsInvalidJsonAtItsLine) {
  std::string message = ErrorOf(
      "{\"user\":\"a\",\"item\":\"b\",\"timestamp\":1}\n{\"user\":\"a\",\"item\":\"b\",\"time",
      "x.jsonl");
  EXPECT_THAT(message, HasSubstr("x.jsonl:2: invalid JSON"));
}

TEST(ReadersTest, JsonlFieldTypesAreChecked) {
  auto error = [](std::string_view line) { return ErrorOf(std::string(line) + "\n", "x.jsonl"); };
  EXPECT_EQ(error(R"({"user":"a","item":"b","timestamp":1,"value":"5"})"),
            "x.jsonl:1: field 'value': expected a number, got a string");
  EXPECT_EQ(error(R"({"user":"a","item":"b","timestamp":1.5})"),
            "x.jsonl:1: field 'timestamp': expected an integer (ms), got a number");
  EXPECT_EQ(error(R"({"user":true,"item":"b","timestamp":1})"),
            "x.jsonl:1: field 'user': expected a string or an integer, got a boolean");
  EXPECT_EQ(error(R"({"item":"b","timestamp":1})"), "x.jsonl:1: field 'user': missing");
  EXPECT_EQ(error(R"({"user":"a","item":"b"})"), "x.jsonl:1: field 'timestamp': missing");
  EXPECT_EQ(error(R"({"user":"a","item":"b","timestamp":1,"context":{"d":[1]}})"),
            "x.jsonl:1: field 'context.d': expected a string or a number, got an array");
  EXPECT_EQ(error(R"({"user":"a","item":"b","timestamp":1,"context":"tv"})"),
            "x.jsonl:1: field 'context': expected an object, got a string");
  EXPECT_EQ(error(R"({"user":"a","user":"b","item":"b","timestamp":1})"),
            "x.jsonl:1: field 'user': given twice");
  EXPECT_EQ(error(R"(["user"])"), "x.jsonl:1: expected a JSON object, got an array");
}

// --- Shared behaviour -----------------------------------------------------------------------

TEST(ReadersTest, SkipBadCountsLinesAndKeepsTheFirstTenMessages) {
  std::string content = "user,item,timestamp\n";
  for (int i = 0; i < 15; ++i) content += "bad" + std::to_string(i) + ",x,notatime\n";
  for (int i = 0; i < 5; ++i) content += "u" + std::to_string(i) + ",i,7\n";
  ReadOptions o;
  o.skip_bad = true;
  ReadStats stats;
  StatusOr<Dataset> d = Parse(content, "x.csv", o, &stats);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(stats.lines, 20u);
  EXPECT_EQ(stats.events, 5u);
  EXPECT_EQ(stats.skipped, 15u);
  ASSERT_EQ(stats.first_errors.size(), 10u);
  EXPECT_EQ(stats.first_errors[0],
            "x.csv:2: field 'timestamp': expected an integer, got 'notatime'");
  EXPECT_THAT(stats.first_errors[9], HasSubstr("x.csv:11:"));
  // A skipped line leaves nothing behind in the id maps.
  EXPECT_EQ(d->users.size(), 5u);
  EXPECT_EQ(d->users.Find("bad0"), kInvalidId);
  EXPECT_EQ(d->items.size(), 1u);
}

TEST(ReadersTest, SkipBadAlsoSkipsBadJsonLines) {
  ReadOptions o;
  o.skip_bad = true;
  ReadStats stats;
  StatusOr<Dataset> d = Parse(
      "{\"user\":\"a\",\"item\":\"b\",\"timestamp\":1}\n{oops\n{\"user\":\"a\",\"item\":\"c\","
      "\"timestamp\":2,\"color\":1}\n",
      "x.jsonl", o, &stats);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(stats.events, 1u);
  EXPECT_EQ(stats.skipped, 2u);
  EXPECT_EQ(d->items.Find("c"), kInvalidId);
}

TEST(ReadersTest, SortIsStableForTiesAndIdsFollowFirstAppearanceInTime) {
  // File order: (z, i1, t=5), (y, i2, t=3), (z, i3, t=3), (x, i4, t=5).
  StatusOr<Dataset> d = Parse("user,item,timestamp\nz,i1,5\ny,i2,3\nz,i3,3\nx,i4,5\n", "x.csv");
  ASSERT_TRUE(d.ok());
  EXPECT_THAT(ItemKeys(*d), ElementsAre("i2", "i3", "i1", "i4"));
  std::vector<UserId> users;
  for (const Event& e : d->events) users.push_back(e.user);
  EXPECT_THAT(users, ElementsAre(0, 1, 1, 2));
  EXPECT_EQ(d->users.Key(0), "y");
  EXPECT_EQ(d->users.Key(1), "z");
  EXPECT_EQ(d->users.Key(2), "x");
  for (ItemId i = 0; i < 4; ++i) EXPECT_EQ(d->events[i].item, i);
}

TEST(ReadersTest, MaxEventsStopsInFileOrderBeforeSorting) {
  ReadOptions o;
  o.max_events = 2;
  ReadStats stats;
  StatusOr<Dataset> d =
      Parse("user,item,timestamp\na,i1,30\na,i2,20\na,i3,10\n", "x.csv", o, &stats);
  ASSERT_TRUE(d.ok());
  EXPECT_THAT(ItemKeys(*d), ElementsAre("i2", "i1"));
  EXPECT_EQ(stats.lines, 2u);
}

TEST(ReadersTest, ContentDecidesTheFormatWhenTheNameDoesNot) {
  StatusOr<Dataset> json = Parse("\n{\"user\":\"a\",\"item\":\"b\",\"timestamp\":1}\n", "events");
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  EXPECT_EQ(json->events[0].time_ms, 1);
  StatusOr<Dataset> tab = Parse("1\t2\t3\t4\n", "ratings");
  ASSERT_TRUE(tab.ok()) << tab.status().ToString();
  EXPECT_EQ(tab->events[0].time_ms, 4000);
  StatusOr<Dataset> csv = Parse("user,item,timestamp\na,b,1\n", "events");
  ASSERT_TRUE(csv.ok()) << csv.status().ToString();
  EXPECT_EQ(csv->events[0].time_ms, 1000);
}

TEST(ReadersTest, ExplicitFormatOverridesTheName) {
  ReadOptions o;
  o.format = DataFormat::kJsonl;
  StatusOr<Dataset> d = Parse("{\"user\":\"a\",\"item\":\"b\",\"timestamp\":1}\n", "x.csv", o);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
}

TEST(ReadersTest, ParseDataFormatAcceptsTheFourNamesAndListsThem) {
  EXPECT_EQ(*ParseDataFormat("auto"), DataFormat::kAuto);
  EXPECT_EQ(*ParseDataFormat("movielens"), DataFormat::kMovieLens);
  EXPECT_EQ(*ParseDataFormat("csv"), DataFormat::kCsv);
  EXPECT_EQ(*ParseDataFormat("jsonl"), DataFormat::kJsonl);
  StatusOr<DataFormat> bad = ParseDataFormat("parquet");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "unknown data format 'parquet'; valid: auto, movielens, csv, jsonl");
}

// --- Files and folders ----------------------------------------------------------------------

TEST(ReadersTest, GzipFilesAreDecompressed) {
  ScratchDir dir;
  std::string content = "user,item,timestamp\n";
  for (int i = 0; i < 20000; ++i) {
    content += "u" + std::to_string(i % 97) + ",i" + std::to_string(i % 13) + "," +
               std::to_string(1000 + i) + "\n";
  }
  std::string path = dir.WriteGzip("big.csv.gz", content);
  ReadStats stats;
  StatusOr<Dataset> d = ReadDataset(path, {}, &stats);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(stats.events, 20000u);
  EXPECT_EQ(d->num_users(), 97u);
  EXPECT_EQ(d->num_items(), 13u);
  EXPECT_EQ(d->events.back().time_ms, (1000 + 19999) * 1000LL);
  // Errors name the file as given.
  std::string bad_path = dir.WriteGzip("bad.csv.gz", "user,item,timestamp\na,b,x\n");
  StatusOr<Dataset> bad = ReadDataset(bad_path, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            bad_path + ":2: field 'timestamp': expected an integer, got 'x'");
}

TEST(ReadersTest, TruncatedGzipIsCorruption) {
  ScratchDir dir;
  std::string content;
  for (int i = 0; i < 5000; ++i) content += "1\t" + std::to_string(i) + "\t3\t100\n";
  std::string path = dir.WriteGzip("u.data.gz", content);
  fs::resize_file(path, fs::file_size(path) / 2);
  StatusOr<Dataset> d = ReadDataset(path, {});
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kCorruption);
  EXPECT_THAT(d.status().message(), HasSubstr("u.data.gz"));
}

TEST(ReadersTest, MissingFileIsAnIOErrorNamingThePath) {
  ScratchDir dir;
  StatusOr<Dataset> d = ReadDataset(dir.Path("nope.csv"), {});
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kIOError);
  EXPECT_THAT(d.status().message(), HasSubstr(dir.Path("nope.csv")));
}

TEST(ReadersTest, FolderWithUDataReadsIt) {
  ScratchDir dir;
  dir.Write("ml/u.data", "1\t2\t3\t4\n");
  dir.Write("ml/u.item", "not a data file");
  dir.Write("ml/notes.csv", "ignored because u.data wins");
  StatusOr<Dataset> d = ReadDataset(dir.Path("ml"), {});
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->events.size(), 1u);
}

TEST(ReadersTest, FolderWithExactlyOneDataFileReadsIt) {
  ScratchDir dir;
  dir.Write("f/README.md", "hello");
  dir.Write("f/MANIFEST.tsv", "file\trows\n");  // describes the data; not events
  dir.WriteGzip("f/events.jsonl.gz", "{\"user\":\"a\",\"item\":\"b\",\"timestamp\":1}\n");
  StatusOr<Dataset> d = ReadDataset(dir.Path("f") + "/", {});
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->events.size(), 1u);
}

TEST(ReadersTest, FolderWithSeveralOrNoDataFilesListsWhatItFound) {
  ScratchDir dir;
  dir.Write("two/a.csv", "user,item,timestamp\n");
  dir.Write("two/b.tsv", "user\titem\ttimestamp\n");
  StatusOr<Dataset> two = ReadDataset(dir.Path("two"), {});
  ASSERT_FALSE(two.ok());
  EXPECT_THAT(two.status().message(), HasSubstr("found several: 'a.csv', 'b.tsv'"));
  dir.Write("none/readme.txt", "hello");
  StatusOr<Dataset> none = ReadDataset(dir.Path("none"), {});
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("it holds 'readme.txt'"));
}

}  // namespace
}  // namespace liverec
