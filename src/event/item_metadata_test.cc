#include "event/item_metadata.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace liverec {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

namespace fs = std::filesystem;

IdMap Items(std::initializer_list<std::string_view> keys) {
  IdMap map;
  for (std::string_view key : keys) map.GetOrAdd(key);
  return map;
}

// One u.item line with the 19 genre flags given as a string of 0/1 characters.
std::string MovieLensLine(std::string_view id, std::string_view title, std::string_view flags) {
  std::string line = std::string(id) + "|" + std::string(title) + "|01-Jan-1995||http://x";
  for (char f : flags) line += std::string("|") + f;
  return line + "\n";
}

constexpr std::string_view kNoGenres = "0000000000000000000";

TEST(TextTokensTest, SplitsLowerCasesDropsShortAndRepeatedTokens) {
  EXPECT_THAT(TextTokens("Usual Suspects, The (1995)"),
              ElementsAre("usual", "suspects", "the", "1995"));
  EXPECT_THAT(TextTokens("a B c-3PO the THE x"), ElementsAre("3po", "the"));
  EXPECT_THAT(TextTokens(" ,.;  "), IsEmpty());
  // Bytes >= 0x80 are word bytes: a Latin-1 "Café" and a UTF-8 "Café" stay whole.
  EXPECT_THAT(TextTokens("Caf\xe9 Fl\xc3\xb8r"), ElementsAre("caf\xe9", "fl\xc3\xb8r"));
}

TEST(TextTokensTest, KeepsAtMostTheFirstMaxTokens) {
  std::string text;
  for (size_t i = 0; i < kMaxTextTokens + 10; ++i) text += "w" + std::to_string(i) + " ";
  const std::vector<std::string> tokens = TextTokens(text);
  ASSERT_EQ(tokens.size(), kMaxTextTokens);
  EXPECT_EQ(tokens.front(), "w0");
  EXPECT_EQ(tokens.back(), "w" + std::to_string(kMaxTextTokens - 1));
}

TEST(ItemMetadataTest, MovieLensFlagsBecomeCategoriesAndTheTitleTokens) {
  // Item 2 has Action (1), Adventure (2) and Thriller (16); item 9 is not in the data set.
  const std::string bytes = MovieLensLine("1", "Toy Story (1995)", "0001110000000000000") +
                            MovieLensLine("2", "GoldenEye (1995)", "0110000000000000100") + "\n" +
                            MovieLensLine("9", "Elsewhere (1990)", kNoGenres);
  const IdMap items = Items({"2", "1", "3"});
  StatusOr<ItemMetadataTable> table = ParseItemMetadata(bytes, "u.item", items);
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  ASSERT_EQ(table->items.size(), 3u);
  EXPECT_EQ(table->entries, 3u);
  EXPECT_EQ(table->matched, 2u);
  const ItemMetadataRecord& golden_eye = table->items[0];  // key "2" is id 0
  EXPECT_THAT(golden_eye.categories, ElementsAre("Action", "Adventure", "Thriller"));
  EXPECT_THAT(golden_eye.tokens, ElementsAre("goldeneye", "1995"));
  EXPECT_THAT(golden_eye.tags, IsEmpty());
  EXPECT_THAT(table->items[1].categories, ElementsAre("Animation", "Children's", "Comedy"));
  EXPECT_TRUE(table->items[2].empty());  // "3" is not in the file
}

TEST(ItemMetadataTest, GenreNamesComeFromUGenreWhenGiven) {
  StatusOr<std::vector<std::string>> names = ParseGenreNames("b|1\na|0\n\nc|2\n", "u.genre");
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  EXPECT_THAT(*names, ElementsAre("a", "b", "c"));
  ItemMetadataOptions options;
  options.genre_names = *names;
  StatusOr<ItemMetadataTable> table =
      ParseItemMetadata("7|Seven|d||u|1|0|1\n", "u.item", Items({"7"}), options);
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  EXPECT_THAT(table->items[0].categories, ElementsAre("a", "c"));
}

TEST(ItemMetadataTest, BadGenreFilesNameTheLineAndField) {
  EXPECT_EQ(ParseGenreNames("a|0\nb\n", "u.genre").status().message(),
            "u.genre:2: field 'index': expected 'name|index', got 'b'");
  EXPECT_EQ(ParseGenreNames("a|0\nb|x\n", "u.genre").status().message(),
            "u.genre:2: field 'index': expected an integer, got 'x'");
  EXPECT_EQ(ParseGenreNames("a|0\nb|5\n", "u.genre").status().message(),
            "u.genre:2: field 'index': expected 0..1 (one per genre line), got 5");
  EXPECT_EQ(ParseGenreNames("a|0\nb|0\n", "u.genre").status().message(),
            "u.genre:2: field 'index': 0 given twice");
  EXPECT_EQ(ParseGenreNames("|0\n", "u.genre").status().message(),
            "u.genre:1: field 'name': empty");
  EXPECT_EQ(ParseGenreNames("\n", "u.genre").status().message(), "u.genre: no genres");
}

TEST(ItemMetadataTest, BadMovieLensLinesNameTheFileLineAndField) {
  const IdMap items = Items({"1"});
  const std::string good = MovieLensLine("1", "One", kNoGenres);
  auto error = [&](const std::string& bytes) {
    return ParseItemMetadata(bytes, "data/u.item", items).status().message();
  };
  EXPECT_EQ(error(good + "2|Two|x\n"),
            "data/u.item:2: field 'genres': expected 24 '|'-separated fields (5 + 19 genre "
            "flags), got 3");
  EXPECT_EQ(error(good + MovieLensLine("2", "Two", "0000000200000000000")),
            "data/u.item:2: field 'Documentary': expected 0 or 1, got '2'");
  EXPECT_EQ(error(MovieLensLine(" ", "Blank id", kNoGenres)), "data/u.item:1: field 'item': empty");
  EXPECT_EQ(error(good + "\n" + good),
            "data/u.item:3: field 'item': '1' given twice (first on line 1)");
}

TEST(ItemMetadataTest, JsonLinesGiveCategoriesTagsAndTextTokens) {
  const std::string bytes =
      "{\"item\": \"a\", \"categories\": [\"news\", 42, \"news\"], \"tags\": [\"sport\"], "
      "\"text\": \"Goal! Late goal wins\"}\n"
      "\r\n"
      "{\"item\": 7, \"categories\": null, \"text\": null}\n"
      "{\"item\": \"elsewhere\", \"tags\": [\"x\"]}\n";
  StatusOr<ItemMetadataTable> table = ParseItemMetadata(bytes, "meta.jsonl", Items({"7", "a"}));
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  EXPECT_EQ(table->entries, 3u);
  EXPECT_EQ(table->matched, 2u);
  const ItemMetadataRecord& a = table->items[1];
  EXPECT_THAT(a.categories, ElementsAre("news", "42"));
  EXPECT_THAT(a.tags, ElementsAre("sport"));
  EXPECT_THAT(a.tokens, ElementsAre("goal", "late", "wins"));
  EXPECT_TRUE(table->items[0].empty());
}

TEST(ItemMetadataTest, BadJsonLinesNameTheFileLineAndField) {
  const IdMap items = Items({"a"});
  auto error = [&](const std::string& bytes) {
    return ParseItemMetadata(bytes, "m.jsonl", items).status().message();
  };
  EXPECT_EQ(error("{\"item\": \"a\"}\n{\"categories\": []}\n"), "m.jsonl:2: field 'item': missing");
  EXPECT_EQ(error("{\"item\": true}"),
            "m.jsonl:1: field 'item': expected a string or an integer, got a boolean");
  EXPECT_EQ(error("{\"item\": \"\"}"), "m.jsonl:1: field 'item': empty");
  EXPECT_EQ(error("{\"item\": \"a\", \"categories\": \"news\"}"),
            "m.jsonl:1: field 'categories': expected an array of strings, got a string");
  EXPECT_EQ(error("{\"item\": \"a\", \"tags\": [\"x\", 1.5]}"),
            "m.jsonl:1: field 'tags[1]': expected a string or an integer, got a number");
  EXPECT_EQ(error("{\"item\": \"a\", \"tags\": [\"\"]}"), "m.jsonl:1: field 'tags[0]': empty");
  EXPECT_EQ(error("{\"item\": \"a\", \"text\": 3}"),
            "m.jsonl:1: field 'text': expected a string, got an integer");
  EXPECT_EQ(error("{\"item\": \"a\", \"catgories\": []}"),
            "m.jsonl:1: field 'catgories': unknown field; expected one of item, categories, "
            "tags, text (did you mean 'categories'?)");
  EXPECT_EQ(error("{\"item\": \"a\", \"item\": \"b\"}"), "m.jsonl:1: field 'item': given twice");
  EXPECT_THAT(error("{\"item\": "), HasSubstr("m.jsonl:1: invalid JSON"));
  EXPECT_EQ(error("[1]"), "m.jsonl:1: expected a JSON object, got an array");
  EXPECT_EQ(error("{\"item\": \"a\"}\n{\"item\": \"a\"}"),
            "m.jsonl:2: field 'item': 'a' given twice (first on line 1)");
}

TEST(ItemMetadataTest, FormatComesFromTheNameThenTheContent) {
  const IdMap items = Items({"1"});
  const std::string json = "{\"item\": \"1\", \"tags\": [\"t\"]}\n";
  const std::string movielens = MovieLensLine("1", "One Two", "1000000000000000000");
  // By content when the name says nothing.
  EXPECT_THAT(ParseItemMetadata("\n" + json, "items.txt", items)->items[0].tags, ElementsAre("t"));
  EXPECT_THAT(ParseItemMetadata(movielens, "items.txt", items)->items[0].categories,
              ElementsAre("unknown"));
  // The name wins over the content; an explicit format over both.
  EXPECT_FALSE(ParseItemMetadata(json, "x.item", items).ok());
  EXPECT_FALSE(ParseItemMetadata(movielens, "x.ndjson", items).ok());
  ItemMetadataOptions options;
  options.format = ItemMetadataFormat::kJsonl;
  EXPECT_TRUE(ParseItemMetadata(json, "u.item", items, options).ok());
  EXPECT_EQ(*ParseItemMetadataFormat("movielens"), ItemMetadataFormat::kMovieLens);
  EXPECT_EQ(ParseItemMetadataFormat("xml").status().message(),
            "unknown item metadata format 'xml'; expected auto, movielens or jsonl");
}

TEST(ItemMetadataTest, ReadItemMetadataUsesTheUGenreFileBesideIt) {
  const fs::path dir =
      fs::temp_directory_path() / ("liverec_item_metadata_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "u.item") << "5|Five|d||u|0|1\n";
  StatusOr<ItemMetadataTable> without = ReadItemMetadata((dir / "u.item").string(), Items({"5"}));
  // Without u.genre the 19 fixed genres apply, and a 2-flag line is malformed.
  EXPECT_THAT(without.status().message(), HasSubstr("u.item:1: field 'genres'"));
  std::ofstream(dir / "u.genre") << "first|0\nsecond|1\n";
  StatusOr<ItemMetadataTable> with = ReadItemMetadata((dir / "u.item").string(), Items({"5"}));
  ASSERT_TRUE(with.ok()) << with.status().ToString();
  EXPECT_THAT(with->items[0].categories, ElementsAre("second"));
  EXPECT_EQ(ReadItemMetadata((dir / "missing.jsonl").string(), Items({})).status().code(),
            StatusCode::kIOError);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace liverec
