// Item metadata: the categories, tags and text of a data set's items, read from a file, for
// models that learn from item features (fm, through eval/dataset_features.h).
//
// Two formats:
//   movielens  u.item: "id|title|release date|video release date|IMDb URL|g_0|...|g_n-1", one
//              0/1 flag per genre; each set flag makes the genre's name a category, and the
//              title becomes text tokens. Genre names come from u.genre ("name|index" lines)
//              when given, else they are the 19 fixed MovieLens-100K genres.
//   jsonl      one JSON object per line:
//                {"item": "i9", "categories": ["news"], "tags": ["sport"], "text": "..."}
//              "item" is required (a non-empty string or an integer); the others are optional
//              (null = absent); categories and tags are arrays of non-empty strings or integers.
// Blank lines are skipped. Text becomes tokens (TextTokens below).
//
// Items in the file that are not in the data set are ignored: they are parsed and validated,
// then dropped, since metadata usually describes a whole catalogue and the data set only the
// items that occur in its events. An item of the data set given twice is an error; one never
// given has empty metadata.
//
// Errors: InvalidArgument "FILE:LINE: field 'NAME': REASON" (FILE is the name given); IOError
// for a file that cannot be read.
#ifndef LIVEREC_EVENT_ITEM_METADATA_H_
#define LIVEREC_EVENT_ITEM_METADATA_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "feature/id_map.h"
#include "liverec/status.h"

namespace liverec {

// At most this many distinct tokens are kept of an item's text (the first ones): a feature
// model's cost per example is linear in the item's features, and a whole article body would
// swamp the title-sized texts this is meant for.
inline constexpr size_t kMaxTextTokens = 64;

// One item's metadata as a file gives it (the server's PUT /v1/items body is ItemMetadata in
// liverec/engine.h: text kept whole, properties, availability).
struct ItemMetadataRecord {
  std::vector<std::string> categories;  // distinct, in file order
  std::vector<std::string> tags;        // distinct, in file order
  std::vector<std::string> tokens;      // TextTokens of the text

  bool empty() const { return categories.empty() && tags.empty() && tokens.empty(); }
};

struct ItemMetadataTable {
  std::vector<ItemMetadataRecord> items;  // indexed by the data set's ItemId; size = its item count
  size_t entries = 0;                     // entries read (lines holding an item)
  size_t matched = 0;                     // of which items of the data set (the others are ignored)
};

enum class ItemMetadataFormat { kAuto, kMovieLens, kJsonl };

// "auto", "movielens", "jsonl".
StatusOr<ItemMetadataFormat> ParseItemMetadataFormat(std::string_view name);

struct ItemMetadataOptions {
  // kAuto: by the name (*.jsonl, *.ndjson, *.json: jsonl; u.item, *.item: movielens), else by
  // the content (a first non-blank line starting with '{' is jsonl).
  ItemMetadataFormat format = ItemMetadataFormat::kAuto;
  // movielens: the genre names by flag position; empty = the 19 MovieLens-100K genres.
  std::vector<std::string> genre_names;
};

// The 19 genres of MovieLens-100K's u.genre, by flag position ("unknown", "Action", ...).
std::vector<std::string> MovieLens100kGenres();

// The tokens of a text: maximal runs of ASCII letters and digits and of bytes >= 0x80 (so
// UTF-8 and Latin-1 words stay whole), ASCII letters lower-cased, at least 2 bytes long,
// distinct, in order of first occurrence, at most kMaxTextTokens.
std::vector<std::string> TextTokens(std::string_view text);

// Parses u.genre: "name|index" lines, the indices 0..n-1 each exactly once. `name` stands for
// the file in error messages.
StatusOr<std::vector<std::string>> ParseGenreNames(std::string_view bytes, std::string_view name);

// Parses the whole content of a metadata file for the items of `items` (the data set's id map).
// `name` stands for the file in error messages and, with kAuto, chooses the format.
StatusOr<ItemMetadataTable> ParseItemMetadata(std::string_view bytes, std::string_view name,
                                              const IdMap& items,
                                              const ItemMetadataOptions& options = {});

// Reads the metadata file at `path` (plain text). For the movielens format, a u.genre file
// in the same folder, when there is one, names the genres.
StatusOr<ItemMetadataTable> ReadItemMetadata(const std::string& path, const IdMap& items,
                                             ItemMetadataFormat format = ItemMetadataFormat::kAuto);

}  // namespace liverec

#endif  // LIVEREC_EVENT_ITEM_METADATA_H_
