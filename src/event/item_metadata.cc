#include "event/item_metadata.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <optional>

#include "common/strings.h"
#include "event/data_file.h"
#include "event/json_line.h"

namespace liverec {
namespace {

namespace dom = simdjson::dom;

constexpr size_t kMinTokenBytes = 2;  // single letters and digits carry no topic
constexpr char kMovieLensSeparator = '|';
// u.item's fields before the genre flags: id, title, release date, video release date, URL.
constexpr size_t kMovieLensLeadingFields = 5;
constexpr size_t kMovieLensIdField = 0;
constexpr size_t kMovieLensTitleField = 1;
constexpr std::string_view kGenreFileName = "u.genre";

bool IsTokenByte(unsigned char c) { return std::isalnum(c) != 0 || c >= 0x80; }

void AddDistinct(std::string_view value, std::vector<std::string>* out) {
  if (std::find(out->begin(), out->end(), value) == out->end()) out->emplace_back(value);
}

// The parse of one file: the table under construction and where each item was given.
class MetadataParse {
 public:
  MetadataParse(std::string_view name, const IdMap& items) : name_(name), items_(items) {
    table_.items.resize(items.size());
    first_line_.resize(items.size(), 0);
  }

  // Feeds each non-blank line of `data` to `parse_line`
  // (Status(std::string_view line, std::string* key, ItemMetadataRecord* metadata)) and stores
  // what it gives; the first error fails the parse.
  template <typename ParseLine>
  Status ParseLines(std::string_view data, ParseLine parse_line) {
    LineCursor lines(data);
    std::string_view line;
    size_t line_no = 0;
    while (lines.NextNonBlank(&line, &line_no)) {
      std::string key;
      ItemMetadataRecord metadata;
      Status s = parse_line(line, &key, &metadata);
      if (!s.ok()) return LineError(name_, line_no, s.message());
      LIVEREC_RETURN_IF_ERROR(Add(line_no, key, std::move(metadata)));
    }
    return Status::Ok();
  }

  ItemMetadataTable Release() { return std::move(table_); }

 private:
  // Stores `metadata` for `key` if it is an item of the data set.
  Status Add(size_t line_no, std::string_view key, ItemMetadataRecord metadata) {
    ++table_.entries;
    const uint32_t id = items_.Find(key);
    if (id == kInvalidId) return Status::Ok();
    if (first_line_[id] != 0) {
      return LineError(name_, line_no,
                       FieldMessage("item", Quote(key) + " given twice (first on line " +
                                                std::to_string(first_line_[id]) + ")"));
    }
    first_line_[id] = line_no;
    ++table_.matched;
    table_.items[id] = std::move(metadata);
    return Status::Ok();
  }

  std::string_view name_;
  const IdMap& items_;
  ItemMetadataTable table_;
  std::vector<size_t> first_line_;  // by ItemId; 0 = not given yet
};

// ---------------------------------------------------------------------------------------------
// MovieLens u.item.

Status ParseMovieLensLine(std::string_view line, const std::vector<std::string>& genres,
                          std::string* key, ItemMetadataRecord* metadata) {
  const std::vector<std::string_view> fields = Split(line, kMovieLensSeparator);
  const size_t expected = kMovieLensLeadingFields + genres.size();
  if (fields.size() != expected) {
    return InvalidArgument(
        FieldMessage("genres", "expected " + std::to_string(expected) +
                                   " '|'-separated fields (5 + " + std::to_string(genres.size()) +
                                   " genre flags), got " + std::to_string(fields.size())));
  }
  const std::string_view id = Trim(fields[kMovieLensIdField]);
  if (id.empty()) return InvalidArgument(FieldMessage("item", "empty"));
  for (size_t g = 0; g < genres.size(); ++g) {
    const std::string_view flag = Trim(fields[kMovieLensLeadingFields + g]);
    if (flag == "1") {
      AddDistinct(genres[g], &metadata->categories);
    } else if (flag != "0") {
      return InvalidArgument(FieldMessage(genres[g], "expected 0 or 1, got " + Quote(flag)));
    }
  }
  metadata->tokens = TextTokens(fields[kMovieLensTitleField]);
  *key = std::string(id);
  return Status::Ok();
}

Status ParseMovieLens(std::string_view data, const std::vector<std::string>& genres,
                      MetadataParse* p) {
  return p->ParseLines(data,
                       [&](std::string_view line, std::string* key, ItemMetadataRecord* metadata) {
                         return ParseMovieLensLine(line, genres, key, metadata);
                       });
}

// ---------------------------------------------------------------------------------------------
// JSON Lines.

constexpr std::array<std::string_view, 4> kJsonFields = {"item", "categories", "tags", "text"};
enum JsonField : size_t { kItem, kCategories, kTags, kText };

// The text of a string or integer element into *out; false for other types.
bool KeyText(dom::element el, std::string* out) {
  if (IsJsonInteger(el)) {
    NumberText buf;
    *out = std::string(IntegerText(el, buf));
    return true;
  }
  std::string_view text;
  if (el.get_string().get(text) != simdjson::SUCCESS) return false;
  *out = std::string(text);
  return true;
}

class JsonlMetadataParser {
 public:
  // Parses one line into its item key and metadata.
  Status ParseLine(std::string_view line, std::string* key, ItemMetadataRecord* metadata) {
    dom::object obj;
    LIVEREC_RETURN_IF_ERROR(parser_.ParseObject(line, &obj));
    std::array<std::optional<dom::element>, kJsonFields.size()> fields;
    LIVEREC_RETURN_IF_ERROR(SortJsonFields(obj, kJsonFields, JsonNullMember::kGiven, fields));
    if (!fields[kItem].has_value()) {
      return InvalidArgument(FieldMessage(kJsonFields[kItem], "missing"));
    }
    if (!KeyText(*fields[kItem], key)) {
      return InvalidArgument(
          JsonTypeError(kJsonFields[kItem], "a string or an integer", *fields[kItem]));
    }
    if (key->empty()) return InvalidArgument(FieldMessage(kJsonFields[kItem], "empty"));
    LIVEREC_RETURN_IF_ERROR(
        List(fields[kCategories], kJsonFields[kCategories], &metadata->categories));
    LIVEREC_RETURN_IF_ERROR(List(fields[kTags], kJsonFields[kTags], &metadata->tags));
    if (fields[kText].has_value()) {
      std::string_view text;
      if (fields[kText]->get_string().get(text) != simdjson::SUCCESS) {
        return InvalidArgument(JsonTypeError(kJsonFields[kText], "a string", *fields[kText]));
      }
      metadata->tokens = TextTokens(text);
    }
    return Status::Ok();
  }

 private:
  // An optional array of non-empty strings or integers, kept distinct.
  static Status List(const std::optional<dom::element>& field, std::string_view name,
                     std::vector<std::string>* out) {
    if (!field.has_value()) return Status::Ok();
    dom::array array;
    if (field->get(array) != simdjson::SUCCESS) {
      return InvalidArgument(JsonTypeError(name, "an array of strings", *field));
    }
    size_t index = 0;
    for (dom::element el : array) {
      const std::string element_name = std::string(name) + "[" + std::to_string(index++) + "]";
      std::string text;
      if (!KeyText(el, &text)) {
        return InvalidArgument(JsonTypeError(element_name, "a string or an integer", el));
      }
      if (text.empty()) return InvalidArgument(FieldMessage(element_name, "empty"));
      AddDistinct(text, out);
    }
    return Status::Ok();
  }

  JsonLineParser parser_;
};

Status ParseJsonl(std::string_view data, MetadataParse* p) {
  JsonlMetadataParser parser;
  return p->ParseLines(data,
                       [&](std::string_view line, std::string* key, ItemMetadataRecord* metadata) {
                         return parser.ParseLine(line, key, metadata);
                       });
}

// ---------------------------------------------------------------------------------------------
// Format detection.

ItemMetadataFormat DetectFormat(std::string_view name, std::string_view data) {
  const std::string base = LowerBaseName(name);
  for (std::string_view ext : {".jsonl", ".ndjson", ".json"}) {
    if (EndsWith(base, ext)) return ItemMetadataFormat::kJsonl;
  }
  if (base == "u.item" || EndsWith(base, ".item")) return ItemMetadataFormat::kMovieLens;
  const std::string_view first = Trim(FirstNonBlankLine(data));
  return !first.empty() && first.front() == '{' ? ItemMetadataFormat::kJsonl
                                                : ItemMetadataFormat::kMovieLens;
}

}  // namespace

StatusOr<ItemMetadataFormat> ParseItemMetadataFormat(std::string_view name) {
  if (name == "auto") return ItemMetadataFormat::kAuto;
  if (name == "movielens") return ItemMetadataFormat::kMovieLens;
  if (name == "jsonl") return ItemMetadataFormat::kJsonl;
  return InvalidArgument("unknown item metadata format " + Quote(name) +
                         "; expected auto, movielens or jsonl");
}

std::vector<std::string> MovieLens100kGenres() {
  return {"unknown",     "Action", "Adventure", "Animation", "Children's", "Comedy",  "Crime",
          "Documentary", "Drama",  "Fantasy",   "Film-Noir", "Horror",     "Musical", "Mystery",
          "Romance",     "Sci-Fi", "Thriller",  "War",       "Western"};
}

std::vector<std::string> TextTokens(std::string_view text) {
  std::vector<std::string> tokens;
  size_t pos = 0;
  while (pos < text.size() && tokens.size() < kMaxTextTokens) {
    while (pos < text.size() && !IsTokenByte(static_cast<unsigned char>(text[pos]))) ++pos;
    const size_t begin = pos;
    while (pos < text.size() && IsTokenByte(static_cast<unsigned char>(text[pos]))) ++pos;
    if (pos - begin < kMinTokenBytes) continue;
    AddDistinct(ToLower(text.substr(begin, pos - begin)), &tokens);
  }
  return tokens;
}

StatusOr<std::vector<std::string>> ParseGenreNames(std::string_view bytes, std::string_view name) {
  struct Entry {
    size_t line_no;
    int64_t index;
    std::string_view genre;
  };
  std::vector<Entry> entries;
  LineCursor lines(bytes);
  std::string_view line;
  size_t line_no = 0;
  while (lines.NextNonBlank(&line, &line_no)) {
    const std::vector<std::string_view> fields = Split(line, kMovieLensSeparator);
    if (fields.size() != 2) {
      return LineError(name, line_no,
                       FieldMessage("index", "expected 'name|index', got " + Quote(line)));
    }
    Entry entry{line_no, 0, Trim(fields[0])};
    if (entry.genre.empty()) return LineError(name, line_no, FieldMessage("name", "empty"));
    if (!ParseInt64(Trim(fields[1]), &entry.index)) {
      return LineError(name, line_no,
                       FieldMessage("index", "expected an integer, got " + Quote(Trim(fields[1]))));
    }
    entries.push_back(entry);
  }
  if (entries.empty()) return InvalidArgument(std::string(name) + ": no genres");
  // n lines must number their genres 0..n-1, the positions of u.item's flags.
  std::vector<std::string> names(entries.size());
  std::vector<bool> given(entries.size(), false);
  for (const Entry& entry : entries) {
    if (entry.index < 0 || static_cast<uint64_t>(entry.index) >= entries.size()) {
      return LineError(
          name, entry.line_no,
          FieldMessage("index", "expected 0.." + std::to_string(entries.size() - 1) +
                                    " (one per genre line), got " + std::to_string(entry.index)));
    }
    const auto i = static_cast<size_t>(entry.index);
    if (given[i]) {
      return LineError(name, entry.line_no,
                       FieldMessage("index", std::to_string(i) + " given twice"));
    }
    given[i] = true;
    names[i] = std::string(entry.genre);
  }
  return names;
}

StatusOr<ItemMetadataTable> ParseItemMetadata(std::string_view bytes, std::string_view name,
                                              const IdMap& items,
                                              const ItemMetadataOptions& options) {
  const ItemMetadataFormat format =
      options.format == ItemMetadataFormat::kAuto ? DetectFormat(name, bytes) : options.format;
  MetadataParse parse(name, items);
  if (format == ItemMetadataFormat::kJsonl) {
    LIVEREC_RETURN_IF_ERROR(ParseJsonl(bytes, &parse));
  } else {
    const std::vector<std::string> genres =
        options.genre_names.empty() ? MovieLens100kGenres() : options.genre_names;
    LIVEREC_RETURN_IF_ERROR(ParseMovieLens(bytes, genres, &parse));
  }
  return parse.Release();
}

StatusOr<ItemMetadataTable> ReadItemMetadata(const std::string& path, const IdMap& items,
                                             ItemMetadataFormat format) {
  LIVEREC_ASSIGN_OR_RETURN(std::string bytes, ReadPlainFile(path));
  ItemMetadataOptions options;
  options.format = format == ItemMetadataFormat::kAuto ? DetectFormat(path, bytes) : format;
  if (options.format == ItemMetadataFormat::kMovieLens) {
    const std::filesystem::path genre_path =
        std::filesystem::path(path).parent_path() / std::string(kGenreFileName);
    std::error_code ec;
    if (std::filesystem::is_regular_file(genre_path, ec)) {
      LIVEREC_ASSIGN_OR_RETURN(std::string genre_bytes, ReadPlainFile(genre_path.string()));
      LIVEREC_ASSIGN_OR_RETURN(options.genre_names,
                               ParseGenreNames(genre_bytes, genre_path.string()));
    }
  }
  return ParseItemMetadata(bytes, path, items, options);
}

}  // namespace liverec
