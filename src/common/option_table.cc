// The one table of every liverec option. Keep entries grouped by scope, each with its unit
// and the reason for its default; docs/config.md is generated from this table
// (`liverec options --markdown`).
#include <array>

#include "liverec/options.h"

namespace liverec {
namespace {

using T = OptionType;

constexpr std::array kOptions = {
    // popularity: exponentially time-decayed counts.
    OptionSpec{"popularity.half_life", T::kDuration, "0",
               "Half-life of the exponential decay of item counts in stream time; 0 keeps "
               "all-time counts. Catalogues with long-lived items (movies) do best with 0; news "
               "wants about an hour.",
               0, 1e12},

    // item_knn: decayed co-occurrence similarity over users' recent windows.
    OptionSpec{"item_knn.window", T::kInt, "20",
               "How many of a user's most recent items co-occur with a new one, and score "
               "candidates at recommendation time. Cost per event is linear in it.",
               1, 1000},
    OptionSpec{"item_knn.half_life", T::kDuration, "0",
               "Half-life of the decay of co-occurrence and item counts in stream time; 0 keeps "
               "them forever.",
               0, 1e12},
    OptionSpec{"item_knn.similarity", T::kEnum, "cosine",
               "cosine: co(i,j)/sqrt(n_i n_j); jaccard: co(i,j)/(n_i + n_j - co(i,j)).", 0, 0,
               "cosine|jaccard"},

    // mf: biased matrix factorization trained by SGD.
    OptionSpec{"mf.dim", T::kInt, "64",
               "Latent dimension k. 64 fills four AVX2 registers per row and is where quality "
               "saturates on MovieLens-scale data.",
               1, 4096},
    OptionSpec{"mf.mode", T::kEnum, "implicit",
               "implicit: every event is a positive, with sampled negatives (ISGD / BPR style); "
               "rating: biased MF regressing the event value (mu + b_u + b_i + <p_u, q_i>).",
               0, 0, "implicit|rating"},
    OptionSpec{"mf.loss", T::kEnum, "squared",
               "Implicit-mode loss: squared (target 1 for the positive, 0 for each negative, as "
               "in ISGD) or bpr (pairwise logistic on positive minus negative).",
               0, 0, "squared|bpr"},
    OptionSpec{"mf.item_bias", T::kBool, "false",
               "Learn an item bias b_i in implicit mode (rating mode always has biases). Off by "
               "default: under sampled negatives the bias soaks up the gradient and collapses "
               "toward popularity; on MovieLens-100K online Recall@10 falls from 0.15 to 0.10.",
               0, 0},
    OptionSpec{"mf.learning_rate", T::kFloat, "0.2",
               "SGD step size. 0.2 is the best of a sweep on MovieLens-100K online.", 1e-6, 10},
    OptionSpec{"mf.regularization", T::kFloat, "0.01",
               "L2 penalty on the rows and biases touched by a step.", 0, 10},
    OptionSpec{"mf.negatives", T::kInt, "8",
               "Negatives sampled uniformly from known items per positive event (implicit). "
               "Recall on MovieLens-100K rises from 4 to 8 and flattens after; cost is linear.",
               0, 1000},
    OptionSpec{"mf.init_std", T::kFloat, "0.1",
               "Standard deviation of the normal initialization of new rows.", 0, 10},

    // train: the batch trainer (static, periodic and warm protocols; `liverec train`).
    OptionSpec{"train.max_epochs", T::kInt, "20",
               "Most passes over the training events for iterative models (mf).", 1, 10000},
    OptionSpec{"train.patience", T::kInt, "2",
               "Stop after this many epochs without a better validation Recall@K.", 1, 1000},
    OptionSpec{"train.validation_fraction", T::kFloat, "0.1",
               "Latest share of the training events held out to choose the number of epochs; "
               "the model is then refit on all training events for that many epochs.",
               0, 0.9},
    OptionSpec{"train.validation_events", T::kInt, "5000",
               "Most validation events ranked after each epoch (evenly spaced sample).", 1,
               100000000},
};

}  // namespace

std::span<const OptionSpec> AllOptions() { return kOptions; }

}  // namespace liverec
