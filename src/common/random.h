// Deterministic pseudo-random numbers. Every random stream in liverec is a Random seeded from
// the Context seed (and a purpose-specific salt), so runs are reproducible bit for bit.
//
// Random is xoshiro256** (Blackman & Vigna, 2018), seeded through splitmix64.
// Thread safety: none; one Random per thread / per owner.
#ifndef LIVEREC_COMMON_RANDOM_H_
#define LIVEREC_COMMON_RANDOM_H_

#include <cmath>
#include <cstdint>

namespace liverec {

// One step of splitmix64: a good 64-bit mixer; also used to derive seeds and hash ids.
inline uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Derives an independent seed for a purpose ("salt") from a root seed.
inline uint64_t DeriveSeed(uint64_t root, uint64_t salt) {
  return SplitMix64(root ^ SplitMix64(salt));
}

class Random {
 public:
  explicit Random(uint64_t seed) { Seed(seed); }

  void Seed(uint64_t seed) {
    for (uint64_t& s : s_) {
      seed = SplitMix64(seed);
      s = seed;
    }
    has_spare_normal_ = false;
  }

  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, n) for n >= 1 (Lemire's multiply-shift; bias below 2^-32 for n < 2^32).
  uint32_t Uniform(uint32_t n) {
    return static_cast<uint32_t>(((Next() >> 32) * static_cast<uint64_t>(n)) >> 32);
  }

  // Uniform in [0, 1).
  double UniformDouble() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  float UniformFloat() { return static_cast<float>(Next() >> 40) * 0x1.0p-24f; }

  // Standard normal (Marsaglia's polar method).
  double Normal() {
    if (has_spare_normal_) {
      has_spare_normal_ = false;
      return spare_normal_;
    }
    double u, v, s;
    do {
      u = 2 * UniformDouble() - 1;
      v = 2 * UniformDouble() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s == 0);
    double m = std::sqrt(-2 * std::log(s) / s);
    spare_normal_ = v * m;
    has_spare_normal_ = true;
    return u * m;
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  uint64_t s_[4];
  double spare_normal_ = 0;
  bool has_spare_normal_ = false;
};

}  // namespace liverec

#endif  // LIVEREC_COMMON_RANDOM_H_
