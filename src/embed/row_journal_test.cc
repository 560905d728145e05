#include "embed/row_journal.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace liverec {
namespace {

// Rows of 3 floats in a map, the way a model keeps them.
struct Rows {
  std::map<uint32_t, std::vector<float>> values;
  void Change(RowJournal* journal, uint32_t row, float add) {
    std::vector<float>& v = values[row];
    v.resize(3, 0.0f);
    if (journal->active() && !journal->Contains(row)) {
      std::copy(v.begin(), v.end(), journal->Add(row));
    }
    for (float& x : v) x += add;
  }
};

TEST(RowJournalTest, RecordsEachRowOnceWithItsValueAtTheMark) {
  RowJournal journal(3);
  Rows rows;
  rows.Change(&journal, 5, 1.0f);  // before Begin: not recorded
  EXPECT_FALSE(journal.active());
  journal.Begin();
  rows.Change(&journal, 5, 2.0f);
  rows.Change(&journal, 900, 1.5f);
  rows.Change(&journal, 5, 4.0f);
  rows.Change(&journal, 70, 0.0f);  // recorded, but it did not move
  ASSERT_EQ(journal.size(), 3u);
  EXPECT_EQ(journal.row(0), 5u);
  EXPECT_EQ(journal.before(0)[0], 1.0f);
  EXPECT_EQ(journal.row(1), 900u);
  EXPECT_EQ(journal.before(1)[2], 0.0f);

  BinaryWriter out;
  WriteRowDelta(
      journal,
      [&](uint32_t row, float* v) {
        std::copy(rows.values[row].begin(), rows.values[row].end(), v);
      },
      &out);
  const std::string bytes = out.Release();
  std::vector<std::pair<uint32_t, float>> seen;
  ASSERT_TRUE(ReadRowDelta(bytes, 3, 1000, [&](uint32_t row, const float* d) {
                seen.emplace_back(row, d[1]);
              }).ok());
  // Row 70 did not move: the delta leaves it out.
  EXPECT_EQ(seen, (std::vector<std::pair<uint32_t, float>>{{5, 6.0f}, {900, 1.5f}}));

  journal.Begin();
  EXPECT_EQ(journal.size(), 0u);
  EXPECT_FALSE(journal.Contains(5));
  journal.Stop();
  EXPECT_FALSE(journal.active());
}

TEST(RowJournalTest, ReadRefusesMalformedDeltasBeforeVisitingAny) {
  RowJournal journal(2);
  journal.Begin();
  std::copy_n(std::vector<float>{1, 2}.begin(), 2, journal.Add(3));
  std::copy_n(std::vector<float>{1, 2}.begin(), 2, journal.Add(70));
  BinaryWriter out;
  WriteRowDelta(
      journal, [](uint32_t, float* v) { v[0] = v[1] = 0; }, &out);
  const std::string bytes = out.Release();
  int visits = 0;
  auto count = [&](uint32_t, const float*) { ++visits; };
  EXPECT_TRUE(ReadRowDelta(bytes, 2, 71, count).ok());
  EXPECT_EQ(visits, 2);
  visits = 0;
  EXPECT_EQ(ReadRowDelta(bytes, 3, 71, count).code(), StatusCode::kCorruption);  // width
  EXPECT_EQ(ReadRowDelta(bytes, 2, 70, count).code(), StatusCode::kCorruption);  // row limit
  EXPECT_EQ(ReadRowDelta(bytes.substr(0, bytes.size() - 1), 2, 71, count).code(),
            StatusCode::kCorruption);
  EXPECT_EQ(ReadRowDelta(bytes + "z", 2, 71, count).code(), StatusCode::kCorruption);
  EXPECT_EQ(ReadRowDelta("", 2, 71, count).code(), StatusCode::kCorruption);
  EXPECT_EQ(visits, 0);
}

}  // namespace
}  // namespace liverec
