// libFuzzer entry point: feeds arbitrary bytes through ParseItemMetadata (u.item and JSON
// Lines) and ParseGenreNames. The first byte picks the format, the file name (which drives
// auto-detection) and whether custom genre names apply; the rest is the file. Any crash,
// sanitizer report or broken table invariant is a finding; error statuses are not.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/check.h"
#include "event/item_metadata.h"

namespace liverec {
namespace {

constexpr std::array<ItemMetadataFormat, 4> kFormats = {
    ItemMetadataFormat::kAuto, ItemMetadataFormat::kMovieLens, ItemMetadataFormat::kJsonl,
    ItemMetadataFormat::kAuto};
constexpr std::array<std::string_view, 4> kNames = {"fuzz", "u.item", "fuzz.jsonl", "fuzz.json"};
// Keys a fuzzer finds quickly ("1", "a"), so that matched items are exercised too.
constexpr std::array<std::string_view, 5> kItemKeys = {"1", "2", "10", "a", "item"};

// What every table the parser returns must satisfy.
void CheckInvariants(const ItemMetadataTable& table, const IdMap& items) {
  LIVEREC_CHECK(table.items.size() == items.size());
  LIVEREC_CHECK(table.matched <= table.entries);
  size_t non_empty = 0;
  for (const ItemMetadataRecord& m : table.items) {
    non_empty += m.empty() ? 0 : 1;
    LIVEREC_CHECK(m.tokens.size() <= kMaxTextTokens);
    for (const std::string& t : m.tokens) LIVEREC_CHECK(t.size() >= 2);
    for (const std::string& c : m.categories) LIVEREC_CHECK(!c.empty());
    for (const std::string& t : m.tags) LIVEREC_CHECK(!t.empty());
  }
  LIVEREC_CHECK(non_empty <= table.matched);
}

}  // namespace
}  // namespace liverec

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace liverec;
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  IdMap items;
  for (std::string_view key : kItemKeys) items.GetOrAdd(key);
  ItemMetadataOptions options;
  options.format = kFormats[selector & 3];
  const std::string_view name = kNames[(selector >> 2) & 3];
  if ((selector & 0x10) != 0) {
    // The same bytes as a u.genre file; its names, when valid, apply to the u.item parse.
    StatusOr<std::vector<std::string>> genres = ParseGenreNames(bytes, "u.genre");
    if (genres.ok()) {
      LIVEREC_CHECK(!genres->empty());
      options.genre_names = *genres;
    } else {
      LIVEREC_CHECK(!genres.status().message().empty());
    }
  }
  StatusOr<ItemMetadataTable> table = ParseItemMetadata(bytes, name, items, options);
  if (table.ok()) {
    CheckInvariants(*table, items);
  } else {
    LIVEREC_CHECK(!table.status().message().empty());
  }
  return 0;
}
