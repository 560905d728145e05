#include "common/allocator.h"

#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

namespace liverec {

int ConfigureAllocator(const AllocatorSettings& settings) {
#if defined(__GLIBC__)
  int arenas = 0;
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) {
    arenas = settings.arenas > 0
                 ? settings.arenas
                 : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    if (::mallopt(M_ARENA_MAX, arenas) == 0) arenas = 0;
  }
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") == nullptr && settings.mmap_threshold > 0) {
    ::mallopt(M_MMAP_THRESHOLD, static_cast<int>(settings.mmap_threshold));
  }
  return arenas;
#else
  (void)settings;
  return 0;
#endif
}

}  // namespace liverec
