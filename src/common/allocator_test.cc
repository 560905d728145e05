#include "common/allocator.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdlib>
#include <cstring>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define LIVEREC_SANITIZED_ALLOCATOR 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define LIVEREC_SANITIZED_ALLOCATOR 1
#endif

namespace liverec {
namespace {

#if defined(__GLIBC__) && !defined(LIVEREC_SANITIZED_ALLOCATOR)

size_t MappedBytes() { return mallinfo2().hblkhd; }

// Allocates and touches `bytes`, expecting them mapped on their own, then frees them, expecting
// the mapping gone.
void ExpectMappedAndReturned(size_t bytes) {
  const size_t base = MappedBytes();
  void* block = std::malloc(bytes);
  ASSERT_NE(block, nullptr);
  std::memset(block, 1, bytes);
  EXPECT_GE(MappedBytes(), base + bytes);
  std::free(block);
  EXPECT_EQ(MappedBytes(), base);
}

// glibc alone raises its mmap threshold to the largest mapped block freed so far, after which
// blocks below it come from the arenas and stay there when freed.
TEST(AllocatorTest, LargeBlocksAreMappedAndReturnedEvenAfterALargerOneWasFreed) {
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr) GTEST_SKIP() << "set by the environment";
  ConfigureAllocator(AllocatorSettings{});
  ExpectMappedAndReturned(8 << 20);
  ExpectMappedAndReturned(2 << 20);
}

TEST(AllocatorTest, ArenasAreLimitedUnlessTheEnvironmentSaysOtherwise) {
  if (std::getenv("MALLOC_ARENA_MAX") != nullptr) {
    EXPECT_EQ(ConfigureAllocator(AllocatorSettings{.arenas = 3}), 0);
  } else {
    EXPECT_EQ(ConfigureAllocator(AllocatorSettings{.arenas = 3}), 3);
    EXPECT_GE(ConfigureAllocator(AllocatorSettings{}), 1);  // one per core
  }
}

#endif

}  // namespace
}  // namespace liverec
