#include "experiment/assignment.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>

#include "common/check.h"

namespace liverec {
namespace {

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

}  // namespace

uint32_t AssignmentBucket(std::string_view salt, std::string_view user) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  LIVEREC_CHECK(ctx != nullptr) << "EVP_MD_CTX_new";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  const unsigned char separator = 0;
  const bool ok = EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
                  EVP_DigestUpdate(ctx, salt.data(), salt.size()) == 1 &&
                  EVP_DigestUpdate(ctx, &separator, 1) == 1 &&
                  EVP_DigestUpdate(ctx, user.data(), user.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx, digest, &size) == 1;
  EVP_MD_CTX_free(ctx);
  LIVEREC_CHECK(ok && size == 32) << "SHA-256 failed";
  uint64_t prefix = 0;
  for (int i = 0; i < 8; ++i) prefix = (prefix << 8) | digest[i];
  return static_cast<uint32_t>(prefix % kAssignmentBuckets);
}

StatusOr<std::vector<uint32_t>> BucketCounts(std::span<const double> shares) {
  if (shares.empty() || shares.size() > kMaxArms) {
    return InvalidArgument("shares: expected 1.." + std::to_string(kMaxArms) + " arms, got " +
                           std::to_string(shares.size()));
  }
  double sum = 0;
  for (size_t a = 0; a < shares.size(); ++a) {
    if (!(shares[a] >= 0 && shares[a] <= 1)) {  // also refuses NaN
      return InvalidArgument("shares[" + std::to_string(a) +
                             "]: expected a number in [0, 1], got " + std::to_string(shares[a]));
    }
    sum += shares[a];
  }
  if (std::abs(sum - 1) > 1e-6) {
    return InvalidArgument("shares: sum to " + Number(sum) + ", expected 1");
  }
  std::vector<uint32_t> counts(shares.size());
  std::vector<double> remainder(shares.size());
  uint32_t total = 0;
  for (size_t a = 0; a < shares.size(); ++a) {
    const double exact = shares[a] / sum * kAssignmentBuckets;
    counts[a] = static_cast<uint32_t>(std::floor(exact));
    remainder[a] = exact - counts[a];
    total += counts[a];
  }
  std::vector<size_t> order(shares.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t x, size_t y) { return remainder[x] > remainder[y]; });
  for (size_t i = 0; total < kAssignmentBuckets; ++i, ++total) ++counts[order[i % order.size()]];
  return counts;
}

StatusOr<BucketAllocation> BucketAllocation::Create(std::span<const double> shares) {
  LIVEREC_ASSIGN_OR_RETURN(std::vector<uint32_t> counts, BucketCounts(shares));
  BucketAllocation allocation;
  allocation.arm_of_.reserve(kAssignmentBuckets);
  for (size_t a = 0; a < counts.size(); ++a) {
    allocation.arm_of_.insert(allocation.arm_of_.end(), counts[a], static_cast<uint8_t>(a));
  }
  allocation.counts_ = std::move(counts);
  return allocation;
}

Status BucketAllocation::Ramp(std::span<const double> shares) {
  if (shares.size() < counts_.size()) {
    return InvalidArgument("shares: " + std::to_string(shares.size()) +
                           " arms, expected at least " + std::to_string(counts_.size()) +
                           " (arms are never removed)");
  }
  LIVEREC_ASSIGN_OR_RETURN(std::vector<uint32_t> target, BucketCounts(shares));
  std::vector<uint32_t> counts = counts_;
  counts.resize(target.size(), 0);
  // Shrinking arms release their highest buckets.
  std::vector<uint32_t> released;
  for (uint32_t bucket = kAssignmentBuckets; bucket-- > 0;) {
    const uint8_t arm = arm_of_[bucket];
    if (counts[arm] > target[arm]) {
      --counts[arm];
      released.push_back(bucket);
    }
  }
  std::sort(released.begin(), released.end());
  // Growing arms take the lowest released buckets, arms in order.
  size_t next = 0;
  for (size_t arm = 0; arm < target.size(); ++arm) {
    for (; counts[arm] < target[arm]; ++counts[arm]) {
      LIVEREC_CHECK(next < released.size()) << "bucket counts do not add up";
      arm_of_[released[next++]] = static_cast<uint8_t>(arm);
    }
  }
  LIVEREC_CHECK(next == released.size());
  counts_ = std::move(counts);
  return Status::Ok();
}

void BucketAllocation::Save(BinaryWriter* out) const {
  out->PutVector(counts_);
  out->PutVector(arm_of_);
}

StatusOr<BucketAllocation> BucketAllocation::Load(BinaryReader* in) {
  BucketAllocation allocation;
  LIVEREC_RETURN_IF_ERROR(in->GetVector(&allocation.counts_));
  LIVEREC_RETURN_IF_ERROR(in->GetVector(&allocation.arm_of_));
  if (allocation.counts_.empty() || allocation.counts_.size() > kMaxArms ||
      allocation.arm_of_.size() != kAssignmentBuckets) {
    return Corruption("bucket allocation: " + std::to_string(allocation.counts_.size()) +
                      " arms, " + std::to_string(allocation.arm_of_.size()) + " buckets");
  }
  std::vector<uint32_t> seen(allocation.counts_.size(), 0);
  for (uint8_t arm : allocation.arm_of_) {
    if (arm >= seen.size()) return Corruption("bucket allocation: arm " + std::to_string(arm));
    ++seen[arm];
  }
  if (seen != allocation.counts_) return Corruption("bucket allocation: counts disagree");
  return allocation;
}

}  // namespace liverec
