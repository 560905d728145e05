// Assignment of users to experiment arms: a published hash of (salt, user) to one of
// kAssignmentBuckets buckets, and an allocation of buckets to arms that ramps by moving only the
// users it must.
//
// The hash (AssignmentBucket) is the contract a client may reproduce in any language:
//   digest = SHA-256(salt || 0x00 || user)            (salt and user as UTF-8 bytes)
//   bucket = (first 8 bytes of digest, big-endian, as an unsigned 64-bit integer) mod 10000
// e.g. in Python: int.from_bytes(hashlib.sha256(salt + b"\0" + user).digest()[:8], "big") % 10000.
// docs/http_api.md lists test vectors; assignment_test.cc checks them. SHA-256 rather than a fast
// non-cryptographic hash: buckets of similar ids ("u1", "u2") must be independent, and every
// language has it.
//
// BucketAllocation maps the buckets to arms. A fresh allocation gives arm a the contiguous
// buckets [c(a-1), c(a)), with c the cumulative bucket counts. A ramp (new shares) keeps every
// bucket whose arm does not shrink where it is: an arm that shrinks releases its highest
// buckets, an arm that grows takes the lowest released ones (arms in order). So the users who
// move are exactly the shrinking arms' excess, and a user never moves between two arms whose
// shares did not change. Bucket counts are the shares times 10000, rounded by largest remainder
// (ties to the lower arm) so that they sum to 10000.
//
// Layers (experiments that must not share users) use the same two pieces one level up: the
// layer's name is the salt, and the "arms" are the layer's experiments plus the free rest.
//
// Thread safety: AssignmentBucket is a pure function; a BucketAllocation is a value (const
// methods may run concurrently).
#ifndef LIVEREC_EXPERIMENT_ASSIGNMENT_H_
#define LIVEREC_EXPERIMENT_ASSIGNMENT_H_

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/serialize.h"
#include "liverec/status.h"

namespace liverec {

inline constexpr uint32_t kAssignmentBuckets = 10000;
// An allocation holds at most this many arms.
inline constexpr size_t kMaxArms = 64;

// The bucket of `user` under `salt` (the formula above).
uint32_t AssignmentBucket(std::string_view salt, std::string_view user);

// The bucket counts of `shares`: each share times kAssignmentBuckets, rounded by largest
// remainder so that they sum to kAssignmentBuckets. InvalidArgument naming the offending share
// ("shares[1]: expected a number in [0, 1], got 1.5"), or "shares: sum to 0.9, expected 1"
// (within 1e-6), or for no shares or more than kMaxArms.
StatusOr<std::vector<uint32_t>> BucketCounts(std::span<const double> shares);

class BucketAllocation {
 public:
  // The fresh allocation of `shares` (see the file comment); errors as BucketCounts.
  static StatusOr<BucketAllocation> Create(std::span<const double> shares);

  // Reallocates to `shares`, moving the fewest buckets (see the file comment). `shares` may
  // name more arms than before (new arms start empty, then grow) but not fewer. On error the
  // allocation is unchanged.
  Status Ramp(std::span<const double> shares);

  // The arm of `bucket` (< kAssignmentBuckets).
  uint32_t ArmOf(uint32_t bucket) const { return arm_of_[bucket]; }
  // The number of buckets of `arm`.
  uint32_t BucketsOf(uint32_t arm) const { return counts_[arm]; }
  size_t num_arms() const { return counts_.size(); }

  void Save(BinaryWriter* out) const;
  // Corruption on truncated or inconsistent bytes.
  static StatusOr<BucketAllocation> Load(BinaryReader* in);

  bool operator==(const BucketAllocation&) const = default;

 private:
  std::vector<uint8_t> arm_of_;   // by bucket
  std::vector<uint32_t> counts_;  // by arm
};

}  // namespace liverec

#endif  // LIVEREC_EXPERIMENT_ASSIGNMENT_H_
