// Helpers shared by the store module's tests (test code only).
#ifndef LIVEREC_STORE_STORE_TESTING_H_
#define LIVEREC_STORE_STORE_TESTING_H_

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "common/random.h"
#include "store/log_reader.h"
#include "store/sealing.h"

namespace liverec::testing {

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void WriteFile(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

inline std::string RandomBytes(Random& rng, size_t size) {
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(rng.Next());
  return bytes;
}

// Every record of the log in `dir` from `from_seq` on, as LogReader returns them, and how the
// reading ended.
struct ReadResult {
  Status status;
  std::vector<std::pair<uint64_t, std::string>> records;  // (seq, payload)
  uint64_t torn_tail_bytes = 0;
};

inline ReadResult ReadLog(const std::string& dir, uint64_t from_seq,
                          std::shared_ptr<const Keyring> keys = nullptr) {
  ReadResult result;
  StatusOr<std::unique_ptr<LogReader>> reader = LogReader::Open(dir, from_seq, std::move(keys));
  if (!reader.ok()) {
    result.status = reader.status();
    return result;
  }
  LogRecord record;
  while (true) {
    StatusOr<bool> more = (*reader)->Next(&record);
    if (!more.ok()) {
      result.status = more.status();
      break;
    }
    if (!*more) break;
    result.records.emplace_back(record.seq, std::string(record.payload));
  }
  result.torn_tail_bytes = (*reader)->torn_tail_bytes();
  return result;
}

// A fixture with a fresh temporary directory root_, removed with everything in it afterwards.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "liverec_store_test_XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  std::string root_;
};

}  // namespace liverec::testing

#endif  // LIVEREC_STORE_STORE_TESTING_H_
