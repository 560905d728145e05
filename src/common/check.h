// LIVEREC_CHECK: invariants that hold unless there is a bug. A failed check prints
// file:line, the condition and any streamed message to stderr, then aborts, in every build.
// LIVEREC_DCHECK is the same in debug builds and nothing in release builds (hot loops).
#ifndef LIVEREC_COMMON_CHECK_H_
#define LIVEREC_COMMON_CHECK_H_

#include <sstream>

namespace liverec::internal {

class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* condition);
  [[noreturn]] ~CheckFailure();
  std::ostream& stream() { return stream_; }

 private:
  std::ostringstream stream_;
};

// Makes `cond ? (void)0 : Voidify() & stream` well-typed.
struct Voidify {
  void operator&(std::ostream&) {}
};

}  // namespace liverec::internal

#define LIVEREC_CHECK(cond)                 \
  (cond) ? (void)0                          \
         : ::liverec::internal::Voidify() & \
               ::liverec::internal::CheckFailure(__FILE__, __LINE__, #cond).stream()

#ifdef NDEBUG
#define LIVEREC_DCHECK(cond) \
  while (false) LIVEREC_CHECK(cond)
#else
#define LIVEREC_DCHECK(cond) LIVEREC_CHECK(cond)
#endif

#endif  // LIVEREC_COMMON_CHECK_H_
