// Dataset readers: MovieLens (u.data, ratings.dat), CSV/TSV with a column mapping, and JSON
// Lines events. Files ending in .gz are decompressed on the fly. Every reader returns the
// stream in replay order (Dataset::SortByTime).
//
// Malformed lines give an InvalidArgument status "FILE:LINE: field 'NAME': REASON", or, with
// skip_bad, are counted and skipped (the first few messages are kept in ReadStats).
//
// This file picks the file and the format; each format has its reader (movielens_reader.h,
// csv_reader.h, jsonl_reader.h) over the shared data file layer (data_file.h).
#ifndef LIVEREC_EVENT_READERS_H_
#define LIVEREC_EVENT_READERS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "event/dataset.h"
#include "liverec/status.h"

namespace liverec {

enum class DataFormat { kAuto, kMovieLens, kCsv, kJsonl };

// "auto", "movielens", "csv", "jsonl".
StatusOr<DataFormat> ParseDataFormat(std::string_view name);

enum class TimeUnit { kAuto, kSeconds, kMilliseconds };

struct ReadOptions {
  DataFormat format = DataFormat::kAuto;
  // CSV/TSV column mapping by header name; empty = guess from the header
  // (user: "user"/"user_id"/"userId"...; item: "item"/"item_id"/"movieId"/"*article*"...;
  // time: "timestamp"/"time"/"*timestamp*"; rating: "rating"; type: "type"/"event_type").
  // Columns not mapped become context (empty cells add no pair). Without a type column the
  // event type is "rating" if there is a rating column, else "".
  std::string user_col;
  std::string item_col;
  std::string time_col;
  std::string rating_col;                // optional: Event::value
  std::string type_col;                  // optional: Event::type
  char delimiter = 0;                    // 0 = guess (',' or '\t' or ';' from the header line)
  TimeUnit time_unit = TimeUnit::kAuto;  // kAuto: values above 1e11 are milliseconds
  bool skip_bad = false;
  size_t max_events = 0;  // 0 = all; otherwise stop after this many (file order)
};

struct ReadStats {
  size_t lines = 0;  // data lines read (headers and blank lines excluded)
  size_t events = 0;
  size_t skipped = 0;                     // malformed lines skipped under skip_bad
  std::vector<std::string> first_errors;  // up to 10 messages of skipped lines
};

// Reads `path`: a file, or a folder holding u.data, ratings.dat, or exactly one
// *.csv / *.tsv / *.jsonl / *.ndjson file (optionally .gz).
StatusOr<Dataset> ReadDataset(const std::string& path, const ReadOptions& options,
                              ReadStats* stats = nullptr);

// Parses the whole content of one (already decompressed) file, as ReadDataset does. `name`
// stands for the file in error messages and, with DataFormat::kAuto, chooses the format by
// its extension ("x.csv", "x.jsonl.gz", "u.data"); when it does not, the content decides.
StatusOr<Dataset> ParseDataset(std::string_view bytes, std::string_view name,
                               const ReadOptions& options, ReadStats* stats = nullptr);

}  // namespace liverec

#endif  // LIVEREC_EVENT_READERS_H_
