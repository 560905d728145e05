#include "embed/row_journal.h"

#include <cstring>
#include <string>

#include "common/check.h"

namespace liverec {

void RowJournal::Begin() {
  for (const uint32_t row : rows_) recorded_[row] = 0;
  rows_.clear();
  before_.clear();
  active_ = true;
}

void RowJournal::Stop() {
  Begin();
  active_ = false;
}

float* RowJournal::Add(uint32_t row) {
  if (row >= recorded_.size()) recorded_.resize(size_t{row} + 1 + row / 2, 0);
  recorded_[row] = 1;
  rows_.push_back(row);
  before_.resize(before_.size() + width_);
  return before_.data() + before_.size() - width_;
}

void WriteRowDelta(const RowJournal& journal,
                   const std::function<void(uint32_t row, float* out)>& gather, BinaryWriter* out) {
  const size_t width = journal.width();
  std::vector<float> deltas;  // width floats per row written
  std::vector<uint32_t> rows;
  std::vector<float> now(width);
  for (size_t k = 0; k < journal.size(); ++k) {
    gather(journal.row(k), now.data());
    const float* before = journal.before(k);
    bool moved = false;
    for (size_t j = 0; j < width; ++j) {
      now[j] -= before[j];
      moved |= now[j] != 0.0f;
    }
    if (!moved) continue;
    rows.push_back(journal.row(k));
    deltas.insert(deltas.end(), now.begin(), now.end());
  }
  out->Put<uint32_t>(static_cast<uint32_t>(width));
  out->Put<uint64_t>(rows.size());
  for (size_t k = 0; k < rows.size(); ++k) {
    out->Put<uint32_t>(rows[k]);
    out->PutBytes(deltas.data() + k * width, width * sizeof(float));
  }
}

Status ReadRowDelta(std::string_view bytes, size_t width, uint32_t row_limit,
                    const std::function<void(uint32_t row, const float* delta)>& visit) {
  BinaryReader in(bytes);
  uint32_t saved_width = 0;
  uint64_t rows = 0;
  LIVEREC_RETURN_IF_ERROR(in.Get(&saved_width));
  LIVEREC_RETURN_IF_ERROR(in.Get(&rows));
  if (saved_width != width) {
    return Corruption("row delta of " + std::to_string(saved_width) + " floats per row, expected " +
                      std::to_string(width));
  }
  const size_t entry = sizeof(uint32_t) + width * sizeof(float);
  if (rows > in.remaining() / entry || in.remaining() != rows * entry) {
    return Corruption("row delta of " + std::to_string(rows) + " rows holds " +
                      std::to_string(in.remaining()) + " bytes, expected " +
                      std::to_string(rows * entry));
  }
  const size_t start = bytes.size() - in.remaining();
  for (uint64_t k = 0; k < rows; ++k) {
    uint32_t row = 0;
    std::memcpy(&row, bytes.data() + start + k * entry, sizeof(row));
    if (row >= row_limit) {
      return Corruption("row delta names row " + std::to_string(row) + ", expected below " +
                        std::to_string(row_limit));
    }
  }
  std::vector<float> delta(width);
  for (uint64_t k = 0; k < rows; ++k) {
    const char* p = bytes.data() + start + k * entry;
    uint32_t row = 0;
    std::memcpy(&row, p, sizeof(row));
    std::memcpy(delta.data(), p + sizeof(row), width * sizeof(float));
    visit(row, delta.data());
  }
  return Status::Ok();
}

void CountRowMovers(std::span<const std::string_view> deltas, size_t width,
                    std::vector<uint32_t>* movers) {
  movers->clear();
  for (const std::string_view delta : deltas) {
    const Status read = ReadRowDelta(delta, width, UINT32_MAX, [&](uint32_t row, const float*) {
      if (row >= movers->size()) movers->resize(size_t{row} + 1, 0);
      ++(*movers)[row];
    });
    LIVEREC_CHECK(read.ok()) << read.ToString();
  }
}

}  // namespace liverec
