// The optimizer rules the models share, each stated once: SGD with L2 regularization, AdaGrad
// and Adam. A rule is the math of one update of parameters from their gradient; which
// parameters move, and when, is the caller's (the model's step, scheduled by the online
// trainer). The vector forms of SGD and AdaGrad are kernels (kernels/kernels.h), whose plain
// loops are these rules coordinate by coordinate.
//
// Thread safety: pure functions of their arguments.
#ifndef LIVEREC_EMBED_OPTIMIZER_H_
#define LIVEREC_EMBED_OPTIMIZER_H_

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "kernels/kernels.h"

namespace liverec {

// SGD with L2 regularization on one coordinate: theta -= lr * (g + reg * theta), g the loss's
// gradient. A factor pair stepped from both old values is the kernel SgdPairStep.
inline void SgdStep(float g, float lr, float reg, float* theta) {
  *theta -= lr * (g + reg * *theta);
}

// AdaGrad (Duchi, Hazan & Singer 2011), diagonal, on one coordinate: sum += g^2, then
// theta -= lr * g / sqrt(sum). sum must be positive after the add (an accumulator starts above
// zero). n coordinates at once: the kernel AdagradStep(g, lr, theta, sum, n).
inline void AdagradStep(float g, float lr, float* theta, float* sum) {
  *sum += g * g;
  *theta -= lr * g / std::sqrt(*sum);
}

// Adam (Kingma & Ba 2015) with the bias corrections folded into the step size, as in the last
// paragraph of the paper's section 2: at step t (from 1),
//   m = beta1 m + (1 - beta1) g,  v = beta2 v + (1 - beta2) g^2,
//   theta -= step_size(t) * m / (sqrt(v) + epsilon),
//   step_size(t) = lr * sqrt(1 - beta2^t) / (1 - beta1^t).
// The moments start at zero. The decays and epsilon are the model's choice.
struct AdamRule {
  double beta1 = 0.9;
  double beta2 = 0.999;
  float epsilon = 1e-8f;

  // step_size(t) for `learning_rate`; requires t >= 1.
  float StepSize(float learning_rate, uint64_t t) const;
  // One update of n coordinates of `param` and their moments m and v, with the step size of
  // the step (StepSize).
  void Update(const float* grad, float step_size, float* param, float* m, float* v, size_t n) const;
};

}  // namespace liverec

#endif  // LIVEREC_EMBED_OPTIMIZER_H_
