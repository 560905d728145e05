// Mutex: a std::mutex the thread-safety analysis knows as a lock; MutexLock, its scoped hold,
// through which condition variables wait.
//
//   Mutex mu_;
//   std::condition_variable cv_;
//   bool ready_ LIVEREC_GUARDED_BY(mu_) = false;
//   ...
//   MutexLock lock(&mu_);
//   while (!ready_) lock.Wait(&cv_);
//
// Waits are written as loops over the condition rather than with a predicate lambda: the
// analysis checks a lambda as a function of its own, which does not hold the lock, while the
// loop's condition is checked where the lock is known to be held. The condition variables stay
// std::condition_variable on the underlying std::mutex.
#ifndef LIVEREC_COMMON_MUTEX_H_
#define LIVEREC_COMMON_MUTEX_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "common/thread_annotations.h"

namespace liverec {

class LIVEREC_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() LIVEREC_ACQUIRE() { mu_.lock(); }
  void unlock() LIVEREC_RELEASE() { mu_.unlock(); }

 private:
  friend class MutexLock;
  std::mutex mu_;
};

// Holds the mutex from construction to destruction, except while it waits on a condition
// variable (which releases and retakes it) and between Unlock and Lock.
class LIVEREC_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) LIVEREC_ACQUIRE(mu) : lock_(mu->mu_) {}
  ~MutexLock() LIVEREC_RELEASE() {}
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  // Blocks until `cv` is notified (or a spurious wake-up); the mutex is held again on return.
  void Wait(std::condition_variable* cv) { cv->wait(lock_); }
  // As Wait, up to `deadline`; false when it passed.
  template <typename Clock, typename Duration>
  bool WaitUntil(std::condition_variable* cv,
                 const std::chrono::time_point<Clock, Duration>& deadline) {
    return cv->wait_until(lock_, deadline) == std::cv_status::no_timeout;
  }

  // Releases the mutex for a while, and takes it back.
  void Unlock() LIVEREC_RELEASE() { lock_.unlock(); }
  void Lock() LIVEREC_ACQUIRE() { lock_.lock(); }

 private:
  std::unique_lock<std::mutex> lock_;
};

}  // namespace liverec

#endif  // LIVEREC_COMMON_MUTEX_H_
