// RwLock: a reader-writer lock that prefers writers, and ReadLock, its scoped shared hold.
//
// Under a steady stream of readers (recommendation requests), glibc's default reader-preferring
// lock could starve a writer (the engine's apply thread, a model's background trainer)
// indefinitely; this one queues new readers behind a waiting writer. It also counts the readers
// blocked in lock_shared, so that a writer that takes the lock again and again can let them in
// first (preferring writers, the lock alone would starve them).
//
// Use std::lock_guard for the exclusive hold. Not recursive: a thread that holds the lock shared
// must not take it again, since a writer queued in between would deadlock both.
#ifndef LIVEREC_COMMON_RW_LOCK_H_
#define LIVEREC_COMMON_RW_LOCK_H_

#include <pthread.h>

#include <atomic>

namespace liverec {

class RwLock {
 public:
  RwLock() {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&lock_, &attr);
    pthread_rwlockattr_destroy(&attr);
  }
  ~RwLock() { pthread_rwlock_destroy(&lock_); }
  void lock() { pthread_rwlock_wrlock(&lock_); }
  void unlock() { pthread_rwlock_unlock(&lock_); }
  void lock_shared() {
    readers_waiting_.fetch_add(1, std::memory_order_relaxed);
    pthread_rwlock_rdlock(&lock_);
    readers_waiting_.fetch_sub(1, std::memory_order_relaxed);
  }
  void unlock_shared() { pthread_rwlock_unlock(&lock_); }

  // Readers blocked in lock_shared now.
  int readers_waiting() const { return readers_waiting_.load(std::memory_order_relaxed); }

  RwLock(const RwLock&) = delete;
  RwLock& operator=(const RwLock&) = delete;

 private:
  pthread_rwlock_t lock_;
  std::atomic<int> readers_waiting_{0};
};

class ReadLock {
 public:
  explicit ReadLock(RwLock* lock) : lock_(lock) { lock_->lock_shared(); }
  ~ReadLock() { lock_->unlock_shared(); }
  ReadLock(const ReadLock&) = delete;
  ReadLock& operator=(const ReadLock&) = delete;

 private:
  RwLock* lock_;
};

}  // namespace liverec

#endif  // LIVEREC_COMMON_RW_LOCK_H_
