// Clang thread-safety annotations: lock rules written where the compiler checks them.
//
// Under clang, -Wthread-safety (on in every clang build, see the top-level CMakeLists.txt)
// reports an access to a LIVEREC_GUARDED_BY member without its lock, a call to a
// LIVEREC_REQUIRES function without the lock, and a lock still held (or released twice) at the
// end of a scope. Elsewhere (GCC) the macros expand to nothing. The attributes are described at
// https://clang.llvm.org/docs/ThreadSafetyAnalysis.html.
//
// The analysis sees only locks taken through annotated types (Mutex and MutexLock in
// common/mutex.h, RwLock, ReadLock and WriteLock in common/rw_lock.h), not std::mutex or
// std::lock_guard. It does not follow a rule that is not a lock (a member only one thread
// writes, read by that thread without its lock): such members stay unannotated, with a comment.
#ifndef LIVEREC_COMMON_THREAD_ANNOTATIONS_H_
#define LIVEREC_COMMON_THREAD_ANNOTATIONS_H_

#if defined(__clang__)
#define LIVEREC_THREAD_ANNOTATION_(x) __attribute__((x))
#else
#define LIVEREC_THREAD_ANNOTATION_(x)
#endif

// A type whose objects are locks ("mutex" names the kind in the compiler's messages).
#define LIVEREC_CAPABILITY(x) LIVEREC_THREAD_ANNOTATION_(capability(x))
// An RAII type that holds a lock from its constructor to its destructor.
#define LIVEREC_SCOPED_CAPABILITY LIVEREC_THREAD_ANNOTATION_(scoped_lockable)

// A member read or written only with the lock held (shared for reads of an RwLock).
#define LIVEREC_GUARDED_BY(x) LIVEREC_THREAD_ANNOTATION_(guarded_by(x))
// A pointer member whose pointee is read or written only with the lock held.
#define LIVEREC_PT_GUARDED_BY(x) LIVEREC_THREAD_ANNOTATION_(pt_guarded_by(x))

// The caller holds the lock(s), exclusively or at least shared.
#define LIVEREC_REQUIRES(...) LIVEREC_THREAD_ANNOTATION_(requires_capability(__VA_ARGS__))
#define LIVEREC_REQUIRES_SHARED(...) \
  LIVEREC_THREAD_ANNOTATION_(requires_shared_capability(__VA_ARGS__))
// The caller does not hold the lock(s): the function takes them.
#define LIVEREC_EXCLUDES(...) LIVEREC_THREAD_ANNOTATION_(locks_excluded(__VA_ARGS__))

// The function takes or releases the lock(s) (none named: the object itself).
#define LIVEREC_ACQUIRE(...) LIVEREC_THREAD_ANNOTATION_(acquire_capability(__VA_ARGS__))
#define LIVEREC_RELEASE(...) LIVEREC_THREAD_ANNOTATION_(release_capability(__VA_ARGS__))
#define LIVEREC_ACQUIRE_SHARED(...) \
  LIVEREC_THREAD_ANNOTATION_(acquire_shared_capability(__VA_ARGS__))
#define LIVEREC_RELEASE_SHARED(...) \
  LIVEREC_THREAD_ANNOTATION_(release_shared_capability(__VA_ARGS__))

// Turns the analysis off for one function; say why beside it.
#define LIVEREC_NO_THREAD_SAFETY_ANALYSIS LIVEREC_THREAD_ANNOTATION_(no_thread_safety_analysis)

#endif  // LIVEREC_COMMON_THREAD_ANNOTATIONS_H_
