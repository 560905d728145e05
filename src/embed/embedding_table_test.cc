#include "embed/embedding_table.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "common/serialize.h"

namespace liverec {
namespace {

constexpr size_t kDim = 20;  // not a multiple of 16: rows carry padding
constexpr float kInitStd = 0.1f;
constexpr uint64_t kSeed = 7;

// The bytes of rows [0, num_rows) including padding.
std::string RowBytes(const EmbeddingTable& table) {
  return std::string(reinterpret_cast<const char*>(table.data()),
                     table.num_rows() * table.stride() * sizeof(float));
}

std::string Saved(const EmbeddingTable& table) {
  BinaryWriter out;
  table.Save(&out);
  return out.Release();
}

TEST(EmbeddingTableTest, StrideIsDimRoundedUpToSixteenFloats) {
  EXPECT_EQ(EmbeddingTable(1, kInitStd, kSeed).stride(), 16u);
  EXPECT_EQ(EmbeddingTable(16, kInitStd, kSeed).stride(), 16u);
  EXPECT_EQ(EmbeddingTable(20, kInitStd, kSeed).stride(), 32u);
  EXPECT_EQ(EmbeddingTable(64, kInitStd, kSeed).stride(), 64u);
}

TEST(EmbeddingTableTest, StartsEmptyAndEnsureRowsNeverShrinks) {
  EmbeddingTable table(kDim, kInitStd, kSeed);
  EXPECT_EQ(table.num_rows(), 0u);
  table.EnsureRows(5);
  EXPECT_EQ(table.num_rows(), 5u);
  table.EnsureRows(2);
  EXPECT_EQ(table.num_rows(), 5u);
}

TEST(EmbeddingTableTest, InitDoesNotDependOnGrowthOrder) {
  EmbeddingTable at_once(kDim, kInitStd, kSeed);
  at_once.EnsureRows(10);
  EmbeddingTable in_steps(kDim, kInitStd, kSeed);
  in_steps.EnsureRows(3);
  in_steps.EnsureRows(4);
  in_steps.EnsureRows(10);
  EXPECT_EQ(RowBytes(at_once), RowBytes(in_steps));
}

TEST(EmbeddingTableTest, GrowthKeepsExistingRows) {
  EmbeddingTable table(kDim, kInitStd, kSeed);
  table.EnsureRows(2);
  table.row(1)[3] = 42.0f;
  table.EnsureRows(1000);
  EXPECT_EQ(table.row(1)[3], 42.0f);
}

TEST(EmbeddingTableTest, EveryRowIsAlignedAndItsPaddingIsZero) {
  EmbeddingTable table(kDim, kInitStd, kSeed);
  for (size_t n : {1, 2, 3, 17, 100}) {
    table.EnsureRows(n);
    for (size_t i = 0; i < table.num_rows(); ++i) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(table.row(i)) % 64, 0u) << "row " << i;
      for (size_t d = kDim; d < table.stride(); ++d) EXPECT_EQ(table.row(i)[d], 0.0f);
    }
  }
}

TEST(EmbeddingTableTest, InitIsNormalWithTheGivenStdAndDiffersBySeedAndRow) {
  EmbeddingTable table(kDim, kInitStd, kSeed);
  const size_t num_rows = 500;
  table.EnsureRows(num_rows);
  double sum = 0;
  double sum_sq = 0;
  for (size_t i = 0; i < num_rows; ++i) {
    for (size_t d = 0; d < kDim; ++d) {
      sum += table.row(i)[d];
      sum_sq += table.row(i)[d] * table.row(i)[d];
    }
  }
  const double count = num_rows * kDim;
  EXPECT_NEAR(sum / count, 0.0, 0.01);
  EXPECT_NEAR(std::sqrt(sum_sq / count), kInitStd, 0.01);
  EXPECT_NE(std::memcmp(table.row(0), table.row(1), kDim * sizeof(float)), 0);

  EmbeddingTable other_seed(kDim, kInitStd, kSeed + 1);
  other_seed.EnsureRows(1);
  EXPECT_NE(std::memcmp(table.row(0), other_seed.row(0), kDim * sizeof(float)), 0);
}

TEST(EmbeddingTableTest, CopiesAreDeepAndEqual) {
  EmbeddingTable table(kDim, kInitStd, kSeed);
  table.EnsureRows(7);
  EmbeddingTable copy(table);
  EXPECT_EQ(RowBytes(copy), RowBytes(table));
  copy.row(0)[0] = 5.0f;
  EXPECT_NE(table.row(0)[0], 5.0f);

  EmbeddingTable assigned(kDim, kInitStd, kSeed + 3);
  assigned.EnsureRows(2);
  assigned = table;
  EXPECT_EQ(RowBytes(assigned), RowBytes(table));
  // The copy grows exactly as the original would: the seed came along.
  assigned.EnsureRows(9);
  table.EnsureRows(9);
  EXPECT_EQ(RowBytes(assigned), RowBytes(table));
}

TEST(EmbeddingTableTest, SaveLoadRoundTripsAndLoadedTableGrowsLikeTheOriginal) {
  EmbeddingTable table(kDim, kInitStd, kSeed);
  table.EnsureRows(13);
  table.row(4)[2] = -3.5f;
  const std::string bytes = Saved(table);

  EmbeddingTable loaded(kDim, 1.0f, /*seed=*/999);
  loaded.EnsureRows(40);
  BinaryReader in(bytes);
  ASSERT_TRUE(loaded.Load(&in).ok());
  EXPECT_EQ(in.remaining(), 0u);
  EXPECT_EQ(loaded.num_rows(), 13u);
  EXPECT_EQ(RowBytes(loaded), RowBytes(table));
  EXPECT_EQ(Saved(loaded), bytes);

  loaded.EnsureRows(20);
  table.EnsureRows(20);
  EXPECT_EQ(RowBytes(loaded), RowBytes(table));
}

TEST(EmbeddingTableTest, EmptyTableRoundTrips) {
  EmbeddingTable table(kDim, kInitStd, kSeed);
  const std::string bytes = Saved(table);
  EmbeddingTable loaded(kDim, kInitStd, kSeed);
  BinaryReader in(bytes);
  ASSERT_TRUE(loaded.Load(&in).ok());
  EXPECT_EQ(loaded.num_rows(), 0u);
}

TEST(EmbeddingTableTest, LoadOfEveryTruncationIsCorruptionAndLeavesTheTableAlone) {
  EmbeddingTable table(kDim, kInitStd, kSeed);
  table.EnsureRows(3);
  const std::string bytes = Saved(table);
  EmbeddingTable target(kDim, kInitStd, kSeed + 1);
  target.EnsureRows(2);
  const std::string before = RowBytes(target);
  for (size_t len = 0; len < bytes.size(); ++len) {
    BinaryReader in(std::string_view(bytes).substr(0, len));
    const Status status = target.Load(&in);
    EXPECT_EQ(status.code(), StatusCode::kCorruption) << "length " << len;
    EXPECT_EQ(RowBytes(target), before);
  }
}

TEST(EmbeddingTableTest, LoadOfAnotherDimIsCorruption) {
  EmbeddingTable table(kDim, kInitStd, kSeed);
  table.EnsureRows(3);
  const std::string bytes = Saved(table);
  EmbeddingTable other(kDim + 1, kInitStd, kSeed);
  BinaryReader in(bytes);
  const Status status = other.Load(&in);
  EXPECT_EQ(status.code(), StatusCode::kCorruption);
  EXPECT_NE(status.message().find("dim"), std::string::npos) << status.ToString();
}

TEST(EmbeddingTableTest, LoadOfForeignBytesIsCorruption) {
  const std::string bytes(64, 'x');
  EmbeddingTable table(kDim, kInitStd, kSeed);
  BinaryReader in(bytes);
  EXPECT_EQ(table.Load(&in).code(), StatusCode::kCorruption);
}

TEST(EmbeddingTableTest, HugeStoredRowCountIsCorruptionNotAnAllocation) {
  BinaryWriter out;
  out.Put<uint32_t>(0x54424d45);  // the table's tag
  out.Put<uint32_t>(1);
  out.Put<uint64_t>(kDim);
  out.Put<float>(kInitStd);
  out.Put<uint64_t>(kSeed);
  out.Put<uint64_t>(uint64_t{1} << 60);
  EmbeddingTable table(kDim, kInitStd, kSeed);
  BinaryReader in(out.data());
  EXPECT_EQ(table.Load(&in).code(), StatusCode::kCorruption);
}

TEST(EmbeddingTableTest, MemoryBytesCoversTheRows) {
  EmbeddingTable table(kDim, kInitStd, kSeed);
  table.EnsureRows(100);
  EXPECT_GE(table.MemoryBytes(), 100 * table.stride() * sizeof(float));
}

TEST(EmbeddingTableTest, EmbeddingCosineIsClampedToZeroOneAndScaleFree) {
  const std::vector<float> x = {1, 0, 0, 2};
  const std::vector<float> twice_x = {2, 0, 0, 4};
  const std::vector<float> y = {0, 3, 0, 0};
  const std::vector<float> minus_x = {-1, 0, 0, -2};
  const std::vector<float> zero = {0, 0, 0, 0};
  const std::vector<float> half = {1, 0, 0, 0};  // cos with x = 1 / sqrt(5)
  EXPECT_NEAR(EmbeddingCosine(x.data(), twice_x.data(), 4), 1.0f, 1e-6);
  EXPECT_FLOAT_EQ(EmbeddingCosine(x.data(), y.data(), 4), 0.0f);
  EXPECT_FLOAT_EQ(EmbeddingCosine(x.data(), minus_x.data(), 4), 0.0f);
  EXPECT_FLOAT_EQ(EmbeddingCosine(x.data(), zero.data(), 4), 0.0f);
  EXPECT_NEAR(EmbeddingCosine(x.data(), half.data(), 4), 1 / std::sqrt(5.0f), 1e-6);
}

}  // namespace
}  // namespace liverec
