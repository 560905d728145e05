// What the event readers of each format (movielens_reader.h, csv_reader.h, jsonl_reader.h)
// share: one parse's output, counters and skip_bad policy (EventParse), the validated fields of
// one line (LineEvent), and the value and time conversions.
#ifndef LIVEREC_EVENT_EVENT_PARSE_H_
#define LIVEREC_EVENT_EVENT_PARSE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "event/data_file.h"
#include "event/dataset.h"
#include "event/readers.h"
#include "liverec/status.h"

namespace liverec {

// Event::context_size is below UINT16_MAX (Dataset::AddContext).
inline constexpr size_t kMaxContextPairsPerEvent = UINT16_MAX - 1;
// The event type of MovieLens lines, and of CSV lines with a rating column and no type column.
inline constexpr std::string_view kRatingType = "rating";

// The validated fields of one line. Nothing touches the Dataset before a line is known to be
// good, so a skipped line leaves no key, type or context value behind.
struct LineEvent {
  std::string_view user;
  std::string_view item;
  std::string_view type;
  std::string_view id;
  bool has_id = false;
  float value = 1.0f;
  int64_t time_ms = 0;
};

// One parse of one file: the Dataset being built, its ReadStats and the options.
class EventParse {
 public:
  // `name` stands for the file in messages; both arguments must outlive the parse.
  EventParse(std::string_view name, const ReadOptions& options) : name_(name), options_(options) {}

  const ReadOptions& options() const { return options_; }
  Dataset& dataset() { return dataset_; }
  ReadStats& stats() { return stats_; }

  // True once options().max_events events are in.
  bool Full() const {
    return options_.max_events != 0 && dataset_.events.size() >= options_.max_events;
  }

  // "NAME:LINE: message" as an InvalidArgument status.
  Status Error(size_t line_no, std::string_view message) const {
    return LineError(name_, line_no, message);
  }

  // A malformed data line: fails the parse, or under skip_bad counts it and goes on (OK).
  Status BadLine(size_t line_no, std::string_view message);

  // Checks what interning the line could refuse (the type table, the context arena), for an
  // event with `num_context` context pairs.
  Status CheckLimits(const LineEvent& e, size_t num_context) const;

  // Adds a validated event; its context pairs follow through Dataset::AddContext.
  void Add(const LineEvent& e);

  // Feeds each non-blank line of `data` to `parse_line` (Status(std::string_view line)) until
  // the data ends or the parse is Full, counting the lines; a line it refuses goes to BadLine.
  template <typename ParseLine>
  Status ForEachLine(std::string_view data, ParseLine parse_line) {
    LineCursor lines(data);
    std::string_view line;
    size_t line_no = 0;
    while (!Full() && lines.NextNonBlank(&line, &line_no)) {
      ++stats_.lines;
      Status s = parse_line(line);
      if (!s.ok()) LIVEREC_RETURN_IF_ERROR(BadLine(line_no, s.message()));
    }
    return Status::Ok();
  }

  // Sorts the events into replay order (Dataset::SortByTime), counts them and hands the
  // Dataset over; the parse is done.
  Dataset Finish();

 private:
  std::string_view name_;
  const ReadOptions& options_;
  Dataset dataset_;
  ReadStats stats_;
};

// Parses a finite float (leading '+' and surrounding white space allowed) into *out.
bool ParseValue(std::string_view s, float* out);

// *out = v as a float; false if v is not finite or out of float range.
bool ToFiniteFloat(double v, float* out);

// *ms = seconds * 1000; false on int64 overflow.
bool SecondsToMs(int64_t seconds, int64_t* ms);

}  // namespace liverec

#endif  // LIVEREC_EVENT_EVENT_PARSE_H_
