#include "event/readers.h"

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "common/strings.h"
#include "event/csv_reader.h"
#include "event/data_file.h"
#include "event/event_parse.h"
#include "event/jsonl_reader.h"
#include "event/movielens_reader.h"

namespace liverec {
namespace {

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

// The file name without folders and without a trailing ".gz", lower-cased.
std::string BaseName(std::string_view name) {
  std::string lower = LowerBaseName(name);
  if (EndsWith(lower, ".gz")) lower.resize(lower.size() - 3);
  return lower;
}

DataFormat DetectFormat(std::string_view name, std::string_view data) {
  std::string base = BaseName(name);
  if (base == "u.data" || EndsWith(base, ".data") || base == "ratings.dat" ||
      EndsWith(base, ".dat")) {
    return DataFormat::kMovieLens;
  }
  if (EndsWith(base, ".jsonl") || EndsWith(base, ".ndjson")) return DataFormat::kJsonl;
  if (EndsWith(base, ".csv") || EndsWith(base, ".tsv")) return DataFormat::kCsv;
  std::string_view first = FirstNonBlankLine(data);
  std::string_view trimmed = Trim(first);
  if (!trimmed.empty() && trimmed.front() == '{') return DataFormat::kJsonl;
  if (LooksLikeMovieLens(first)) return DataFormat::kMovieLens;
  return DataFormat::kCsv;
}

bool IsDataFileName(std::string_view file_name) {
  std::string base = BaseName(file_name);
  for (std::string_view ext : {".csv", ".tsv", ".jsonl", ".ndjson"}) {
    if (EndsWith(base, ext)) return true;
  }
  return false;
}

// A file path as given, or the data file inside a folder.
StatusOr<std::string> ResolvePath(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    return IOError("cannot open " + Quote(path, path.size()) + ": " +
                   (ec ? ec.message() : std::string("no such file or directory")));
  }
  if (!fs::is_directory(status)) return path;
  std::string folder = path;
  if (!folder.empty() && folder.back() != '/') folder += '/';
  for (std::string_view known : {"u.data", "ratings.dat"}) {
    for (std::string_view suffix : {"", ".gz"}) {
      std::string candidate = folder + std::string(known) + std::string(suffix);
      if (fs::is_regular_file(candidate, ec)) return candidate;
    }
  }
  std::vector<std::string> data_files;
  std::vector<std::string> all_files;
  for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    all_files.push_back(name);
    // Manifests, readmes and licences describe a data set; they are never its events.
    const std::string lower = ToLower(name);
    const bool documentation = StartsWith(lower, "manifest") || StartsWith(lower, "readme") ||
                               StartsWith(lower, "license") || StartsWith(lower, "licence");
    if (it->is_regular_file(ec) && IsDataFileName(name) && !documentation) {
      data_files.push_back(name);
    }
  }
  if (ec) return IOError("cannot list " + Quote(path, path.size()) + ": " + ec.message());
  if (data_files.size() == 1) return folder + data_files[0];
  std::sort(data_files.begin(), data_files.end());
  std::sort(all_files.begin(), all_files.end());
  const std::vector<std::string>& listed = data_files.empty() ? all_files : data_files;
  return InvalidArgument(
      "folder " + Quote(path, path.size()) +
      " should hold u.data, ratings.dat or exactly one *.csv/*.tsv/*.jsonl/*.ndjson(.gz) file "
      "(manifests and readmes aside); " +
      (data_files.empty() ? "it holds " : "found several: ") +
      (listed.empty() ? std::string("nothing") : QuotedList(listed)));
}

}  // namespace

StatusOr<DataFormat> ParseDataFormat(std::string_view name) {
  if (name == "auto") return DataFormat::kAuto;
  if (name == "movielens") return DataFormat::kMovieLens;
  if (name == "csv") return DataFormat::kCsv;
  if (name == "jsonl") return DataFormat::kJsonl;
  return InvalidArgument("unknown data format " + Quote(name) +
                         "; valid: auto, movielens, csv, jsonl");
}

StatusOr<Dataset> ParseDataset(std::string_view bytes, std::string_view name,
                               const ReadOptions& options, ReadStats* stats) {
  if (StartsWith(bytes, kUtf8Bom)) bytes.remove_prefix(kUtf8Bom.size());
  DataFormat format =
      options.format == DataFormat::kAuto ? DetectFormat(name, bytes) : options.format;
  EventParse p(name, options);
  Status status;
  switch (format) {
    case DataFormat::kMovieLens:
      status = ParseMovieLens(bytes, p);
      break;
    case DataFormat::kCsv:
      status = ParseCsv(bytes, p);
      break;
    case DataFormat::kJsonl:
      status = ParseJsonl(bytes, p);
      break;
    case DataFormat::kAuto:
      status = Internal("format detection returned kAuto");
      break;
  }
  if (!status.ok()) {
    if (stats != nullptr) *stats = p.stats();
    return status;
  }
  Dataset dataset = p.Finish();
  if (stats != nullptr) *stats = p.stats();
  return dataset;
}

StatusOr<Dataset> ReadDataset(const std::string& path, const ReadOptions& options,
                              ReadStats* stats) {
  LIVEREC_ASSIGN_OR_RETURN(std::string file, ResolvePath(path));
  LIVEREC_ASSIGN_OR_RETURN(std::string bytes, ReadFileBytes(file));
  return ParseDataset(bytes, file, options, stats);
}

}  // namespace liverec
