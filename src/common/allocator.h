// Process-wide settings of glibc's allocator for a long-running server.
//
// glibc gives threads their own arenas (up to eight per core) and keeps what a thread frees
// mapped in its arena; with seventy threads allocating requests, learning scratch and rows of
// every size, a half-hour soak held 29 arena heaps of 64 MB for a live heap of about 200 MB
// (docs/perf.md, "Soak"). Fewer arenas, and large blocks always taken from and given back to the
// kernel, keep the resident memory near the live heap.
#ifndef LIVEREC_COMMON_ALLOCATOR_H_
#define LIVEREC_COMMON_ALLOCATOR_H_

#include <cstddef>

namespace liverec {

struct AllocatorSettings {
  // Most malloc arenas; 0 = one per core.
  int arenas = 0;
  // Blocks at least this large are mapped on their own and unmapped when freed. Fixing the
  // threshold stops glibc from raising it to the largest block freed so far (up to 32 MiB),
  // after which such blocks are carved from, and stay in, the arenas.
  size_t mmap_threshold = size_t{1} << 20;
};

// Applies `settings` with mallopt, before the process starts its threads. A setting the
// operator gave in the environment (MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_) is left alone.
// Returns the number of arenas in force (0 when glibc's default stands); does nothing where the
// allocator is not glibc's (sanitizers).
int ConfigureAllocator(const AllocatorSettings& settings);

}  // namespace liverec

#endif  // LIVEREC_COMMON_ALLOCATOR_H_
