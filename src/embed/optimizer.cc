#include "embed/optimizer.h"

#include <cmath>

namespace liverec {

float AdamRule::StepSize(float learning_rate, uint64_t t) const {
  const auto steps = static_cast<double>(t);
  return static_cast<float>(learning_rate * std::sqrt(1.0 - std::pow(beta2, steps)) /
                            (1.0 - std::pow(beta1, steps)));
}

void AdamRule::Update(const float* grad, float step_size, float* param, float* m, float* v,
                      size_t n) const {
  const auto b1 = static_cast<float>(beta1);
  const auto b2 = static_cast<float>(beta2);
  for (size_t k = 0; k < n; ++k) {
    m[k] = b1 * m[k] + (1.0f - b1) * grad[k];
    v[k] = b2 * v[k] + (1.0f - b2) * grad[k] * grad[k];
    param[k] -= step_size * m[k] / (std::sqrt(v[k]) + epsilon);
  }
}

}  // namespace liverec
