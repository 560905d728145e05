// RwLock: a reader-writer lock that prefers writers; ReadLock and WriteLock, its scoped shared
// and exclusive holds.
//
// Under a steady stream of readers (recommendation requests), glibc's default reader-preferring
// lock could starve a writer (the engine's apply thread, a model's background trainer)
// indefinitely; this one queues new readers behind a waiting writer. It also counts the readers
// blocked in lock_shared, so that a writer that takes the lock again and again can let them in
// first (preferring writers, the lock alone would starve them).
//
// All three are known to the thread-safety analysis (common/thread_annotations.h): a member
// LIVEREC_GUARDED_BY an RwLock is read under either hold and written under WriteLock only.
// Not recursive: a thread that holds the lock shared must not take it again, since a writer
// queued in between would deadlock both.
#ifndef LIVEREC_COMMON_RW_LOCK_H_
#define LIVEREC_COMMON_RW_LOCK_H_

#include <pthread.h>

#include <atomic>

#include "common/thread_annotations.h"

namespace liverec {

class LIVEREC_CAPABILITY("mutex") RwLock {
 public:
  RwLock() {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&lock_, &attr);
    pthread_rwlockattr_destroy(&attr);
  }
  ~RwLock() { pthread_rwlock_destroy(&lock_); }
  void lock() LIVEREC_ACQUIRE() { pthread_rwlock_wrlock(&lock_); }
  void unlock() LIVEREC_RELEASE() { pthread_rwlock_unlock(&lock_); }
  void lock_shared() LIVEREC_ACQUIRE_SHARED() {
    readers_waiting_.fetch_add(1, std::memory_order_relaxed);
    pthread_rwlock_rdlock(&lock_);
    readers_waiting_.fetch_sub(1, std::memory_order_relaxed);
  }
  void unlock_shared() LIVEREC_RELEASE_SHARED() { pthread_rwlock_unlock(&lock_); }

  // Readers blocked in lock_shared now.
  int readers_waiting() const { return readers_waiting_.load(std::memory_order_relaxed); }

  RwLock(const RwLock&) = delete;
  RwLock& operator=(const RwLock&) = delete;

 private:
  pthread_rwlock_t lock_;
  std::atomic<int> readers_waiting_{0};
};

class LIVEREC_SCOPED_CAPABILITY ReadLock {
 public:
  explicit ReadLock(RwLock* lock) LIVEREC_ACQUIRE_SHARED(lock) : lock_(lock) {
    lock_->lock_shared();
  }
  ~ReadLock() LIVEREC_RELEASE() { lock_->unlock_shared(); }
  ReadLock(const ReadLock&) = delete;
  ReadLock& operator=(const ReadLock&) = delete;

 private:
  RwLock* lock_;
};

class LIVEREC_SCOPED_CAPABILITY WriteLock {
 public:
  explicit WriteLock(RwLock* lock) LIVEREC_ACQUIRE(lock) : lock_(lock) { lock_->lock(); }
  ~WriteLock() LIVEREC_RELEASE() { lock_->unlock(); }
  WriteLock(const WriteLock&) = delete;
  WriteLock& operator=(const WriteLock&) = delete;

 private:
  RwLock* lock_;
};

}  // namespace liverec

#endif  // LIVEREC_COMMON_RW_LOCK_H_
