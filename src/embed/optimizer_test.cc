#include "embed/optimizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace liverec {
namespace {

TEST(OptimizerTest, SgdStepMovesAgainstTheGradientAndTheWeightDecay) {
  float theta = 2.0f;
  SgdStep(/*g=*/0.5f, /*lr=*/0.1f, /*reg=*/0.25f, &theta);
  EXPECT_FLOAT_EQ(theta, 2.0f - 0.1f * (0.5f + 0.25f * 2.0f));
}

TEST(OptimizerTest, AdagradStepOnOneCoordinateIsTheKernelsStep) {
  const std::vector<float> grads = {0.5f, -1.5f, 3.0f, 1e-3f};
  float theta = 0.25f;
  float sum = 0.1f;
  std::vector<float> kernel_theta(1, theta);
  std::vector<float> kernel_sum(1, sum);
  for (float g : grads) {
    AdagradStep(g, 0.05f, &theta, &sum);
    AdagradStep(&g, 0.05f, kernel_theta.data(), kernel_sum.data(), 1);
    EXPECT_EQ(theta, kernel_theta[0]);
    EXPECT_EQ(sum, kernel_sum[0]);
  }
  EXPECT_FLOAT_EQ(sum, 0.1f + 0.25f + 2.25f + 9.0f + 1e-6f);
}

// From zero moments, the first step is sign descent: m / sqrt(v) = g / |g| once the bias
// corrections are folded in, so each coordinate moves by the learning rate.
TEST(OptimizerTest, FirstAdamStepMovesEachCoordinateByTheLearningRate) {
  constexpr AdamRule kAdam{.beta1 = 0.9, .beta2 = 0.98, .epsilon = 1e-8f};
  constexpr float kLearningRate = 0.01f;
  const std::vector<float> grad = {0.5f, -2.0f, 1e-2f};
  std::vector<float> param = {1.0f, 1.0f, 1.0f};
  std::vector<float> m(grad.size(), 0.0f);
  std::vector<float> v(grad.size(), 0.0f);
  const float step_size = kAdam.StepSize(kLearningRate, 1);
  EXPECT_FLOAT_EQ(step_size, static_cast<float>(kLearningRate * std::sqrt(0.02) / 0.1));
  kAdam.Update(grad.data(), step_size, param.data(), m.data(), v.data(), grad.size());
  for (size_t k = 0; k < grad.size(); ++k) {
    EXPECT_NEAR(param[k], 1.0f - std::copysign(kLearningRate, grad[k]), 1e-6f) << k;
    EXPECT_FLOAT_EQ(m[k], 0.1f * grad[k]);
  }
}

}  // namespace
}  // namespace liverec
