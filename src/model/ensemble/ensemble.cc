#include "model/ensemble/ensemble.h"

#include <algorithm>
#include <cctype>
#include <cfloat>
#include <cmath>
#include <functional>
#include <string>
#include <utility>

#include "common/check.h"
#include "common/parallel.h"
#include "common/random.h"
#include "common/strings.h"
#include "model/registry.h"

namespace liverec {
namespace {

// "ensm", little-endian; format version of Save. Version 1 put each member's length before its
// bytes, version 2 after them; both load.
constexpr uint32_t kEnsembleTag = 0x6d736e65;
constexpr uint32_t kEnsembleVersion = 2;
constexpr uint32_t kEnsembleMinVersion = 1;

constexpr uint64_t kRewardSalt = 0x454e534d;  // "ENSM": the negatives of the reward

// Draws per wanted negative before Judge settles for fewer: a user whose history covers most
// of the ring (a short ring, a heavy user) must not stall Learn.
constexpr uint32_t kDrawsPerNegative = 4;

// Loaded reward pools index a dense table by item id: ids from bytes are bounded so that
// corrupt input cannot ask for gigabytes (2^28 ids, a 2 GiB table, far above any catalogue
// the engine holds in memory).
constexpr ItemId kMaxPoolItemId = ItemId{1} << 28;

// Events per LearnBatch pass: bounds the scratch of the judgements.
constexpr size_t kLearnChunk = 4096;

// Saved weights must sum to 1 up to the rounding of normalizing a few doubles.
constexpr double kWeightSumTolerance = 1e-9;

bool ValidName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// A hand-made copy constructor would have to list every field; this keeps it to the members.
std::vector<ModelMember> CloneMembers(const std::vector<ModelMember>& members) {
  std::vector<ModelMember> copies;
  copies.reserve(members.size());
  for (const ModelMember& member : members) {
    copies.push_back({member.name, member.type, member.model->Clone()});
    copies.back().capabilities = DiscoverCapabilities(*copies.back().model);
  }
  return copies;
}

}  // namespace

StatusOr<EnsembleSettings> EnsembleSettings::FromOptions(const OptionView& options) {
  EnsembleSettings settings;
  settings.fusion =
      options.String("fusion") == "rrf" ? EnsembleFusion::kRrf : EnsembleFusion::kWeighted;
  settings.learn_weights = options.Bool("learn_weights");
  settings.learning_rate = options.Float("learning_rate");
  settings.weight_floor = options.Float("weight_floor");
  settings.reward_samples = static_cast<uint32_t>(options.Int("reward_samples"));
  settings.judge_rate = options.Float("judge_rate");
  settings.reward_k = options.Float("reward_k");
  settings.reward_pool = static_cast<uint32_t>(options.Int("reward_pool"));
  settings.reward_history = static_cast<uint32_t>(options.Int("reward_history"));
  settings.rrf_k = options.Float("rrf_k");
  settings.rrf_depth = static_cast<uint32_t>(options.Int("rrf_depth"));
  const std::string segments = options.String("segments");
  for (std::string_view part : Split(segments, ',')) {
    part = Trim(part);
    if (part.empty() && Trim(segments).empty()) break;
    int64_t bound = 0;
    const uint32_t previous = settings.segments.empty() ? 1 : settings.segments.back();
    if (!ParseInt64(part, &bound) || bound <= previous || bound > settings.reward_history) {
      return InvalidArgument(options.instance() + ".segments '" + segments +
                             "': expected increasing item counts in 2.." +
                             std::to_string(settings.reward_history) + " (reward_history)");
    }
    settings.segments.push_back(static_cast<uint32_t>(bound));
  }
  return settings;
}

namespace {

// Splits `text` at the commas outside parentheses: a member's written options hold commas of
// their own.
std::vector<std::string_view> SplitMembers(std::string_view text) {
  std::vector<std::string_view> parts;
  size_t depth = 0;
  size_t begin = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '(') ++depth;
    if (text[i] == ')' && depth > 0) --depth;
    if (text[i] == ',' && depth == 0) {
      parts.push_back(text.substr(begin, i - begin));
      begin = i + 1;
    }
  }
  parts.push_back(text.substr(begin));
  return parts;
}

// Parses the "field=value, ..." written beside member `name` of `type` into *settings.
Status ParseMemberSettings(std::string_view text, const std::string& name, const std::string& type,
                           std::vector<std::pair<std::string, std::string>>* settings) {
  for (std::string_view assignment : Split(text, ',')) {
    assignment = Trim(assignment);
    const size_t equals = assignment.find('=');
    const std::string field(Trim(assignment.substr(0, equals)));
    if (equals == std::string_view::npos || field.empty()) {
      return InvalidArgument("ensemble.members: member '" + name + "': '" +
                             std::string(assignment) + "' is not field=value");
    }
    const std::string value(Trim(assignment.substr(equals + 1)));
    const std::string key = type + "." + field;
    if (FindOption(key) == nullptr) {
      return InvalidArgument("ensemble.members: member '" + name + "': " + type +
                             " has no option '" + field + "'");
    }
    // The table checks the value (type, range, choices) as it would for --set.
    Options check;
    const Status valid = check.Set(key, value);
    if (!valid.ok()) {
      return InvalidArgument("ensemble.members: member '" + name + "': " + valid.message());
    }
    settings->emplace_back(field, value);
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::vector<EnsembleMemberSpec>> ParseEnsembleMembers(std::string_view text) {
  std::vector<EnsembleMemberSpec> members;
  if (Trim(text).empty()) return InvalidArgument("ensemble.members: no members");
  for (std::string_view part : SplitMembers(text)) {
    part = Trim(part);
    std::string_view settings_text;
    const size_t open = part.find('(');
    if (open != std::string_view::npos) {
      if (part.back() != ')') {
        return InvalidArgument("ensemble.members: '" + std::string(part) +
                               "' opens '(' without closing it at the end");
      }
      settings_text = part.substr(open + 1, part.size() - open - 2);
      part = Trim(part.substr(0, open));
    }
    const size_t colon = part.find(':');
    const std::string name(Trim(part.substr(0, colon)));
    const std::string type =
        colon == std::string_view::npos ? name : std::string(Trim(part.substr(colon + 1)));
    if (!ValidName(name) || type.empty()) {
      return InvalidArgument("ensemble.members: '" + std::string(part) +
                             "' is not NAME or NAME:TYPE (names: letters, digits, '_')");
    }
    if (type == "ensemble") {
      return InvalidArgument("ensemble.members: member '" + name +
                             "' is an ensemble; ensembles do not nest");
    }
    const auto types = ModelTypes();
    if (std::find(types.begin(), types.end(), type) == types.end()) {
      std::string_view best = types[0];
      for (std::string_view candidate : types) {
        if (EditDistance(type, candidate) < EditDistance(type, best)) best = candidate;
      }
      return InvalidArgument("ensemble.members: member '" + name + "' has unknown type '" + type +
                             "'; did you mean '" + std::string(best) + "'?");
    }
    for (const EnsembleMemberSpec& other : members) {
      if (other.name == name) {
        return InvalidArgument("ensemble.members: member name '" + name + "' given twice");
      }
    }
    EnsembleMemberSpec spec{name, type, {}};
    if (open != std::string_view::npos) {
      LIVEREC_RETURN_IF_ERROR(ParseMemberSettings(settings_text, name, type, &spec.settings));
    }
    members.push_back(std::move(spec));
  }
  return members;
}

StatusOr<std::unique_ptr<EnsembleModel>> EnsembleModel::Create(const OptionView& options,
                                                               const Context& context) {
  LIVEREC_ASSIGN_OR_RETURN(const std::vector<EnsembleMemberSpec> specs,
                           ParseEnsembleMembers(options.String("members")));
  LIVEREC_ASSIGN_OR_RETURN(const EnsembleSettings settings, EnsembleSettings::FromOptions(options));
  // A member's written options go in as instance overrides of a copy, unless the user set the
  // same instance option: the precedence the header gives. Models read their options while
  // they are created, so the copy need not outlive this function.
  Options member_options = *options.options();
  for (const EnsembleMemberSpec& spec : specs) {
    for (const auto& [field, value] : spec.settings) {
      const std::string key = spec.name + "." + field;
      if (member_options.overrides().count(key) == 0) {
        LIVEREC_RETURN_IF_ERROR(member_options.Set(key, value));
      }
    }
  }
  std::vector<ModelMember> members;
  for (const EnsembleMemberSpec& spec : specs) {
    LIVEREC_ASSIGN_OR_RETURN(
        std::unique_ptr<Model> model,
        CreateModel(OptionView(&member_options, spec.name, spec.type), context));
    members.push_back({spec.name, spec.type, std::move(model)});
  }
  return std::make_unique<EnsembleModel>(std::move(members), settings, context.seed);
}

EnsembleModel::EnsembleModel(std::vector<ModelMember> members, const EnsembleSettings& settings,
                             uint64_t seed)
    : members_(std::move(members)),
      settings_(settings),
      reward_seed_(DeriveSeed(seed, kRewardSalt)),
      weights_(num_segments() * members_.size(), 1.0 / static_cast<double>(members_.size())),
      reward_sums_(num_segments() * members_.size(), 0.0),
      judged_(num_segments(), 0) {
  LIVEREC_CHECK(!members_.empty());
  for (size_t m = 0; m < members_.size(); ++m) {
    LIVEREC_CHECK(members_[m].model != nullptr && members_[m].type != "ensemble")
        << "member " << members_[m].name;
    members_[m].capabilities = DiscoverCapabilities(*members_[m].model);
    for (size_t other = 0; other < m; ++other) {
      LIVEREC_CHECK(members_[other].name != members_[m].name) << members_[m].name;
    }
  }
  LIVEREC_CHECK(settings.learning_rate > 0 && settings.weight_floor >= 0 &&
                settings.weight_floor < 1 && settings.reward_k > 0 &&
                settings.reward_samples >= 1 && settings.judge_rate > 0 &&
                settings.judge_rate <= 1 && settings.reward_pool >= 1 &&
                settings.reward_history >= 1 && settings.rrf_k >= 0 && settings.rrf_depth >= 1);
  for (size_t s = 0; s < settings.segments.size(); ++s) {
    LIVEREC_CHECK(settings.segments[s] > (s == 0 ? 1 : settings.segments[s - 1]) &&
                  settings.segments[s] <= settings.reward_history);
  }
}

EnsembleModel::EnsembleModel(const EnsembleModel& other)
    : members_(CloneMembers(other.members_)),
      settings_(other.settings_),
      reward_seed_(other.reward_seed_),
      num_learned_(other.num_learned_),
      weights_(other.weights_),
      reward_sums_(other.reward_sums_),
      judged_(other.judged_),
      pool_(other.pool_),
      pool_next_(other.pool_next_),
      distinct_(other.distinct_),
      histories_(other.histories_),
      pool_slots_(other.pool_slots_) {}

std::unique_ptr<Model> EnsembleModel::Clone() const {
  return std::unique_ptr<Model>(new EnsembleModel(*this));
}

size_t EnsembleModel::SegmentOf(UserId user) const {
  const size_t seen = user < histories_.size() ? histories_[user].size() : 0;
  return static_cast<size_t>(
      std::upper_bound(settings_.segments.begin(), settings_.segments.end(), seen) -
      settings_.segments.begin());
}

double EnsembleModel::weight(size_t segment, size_t m) const {
  LIVEREC_DCHECK(segment < num_segments() && m < members_.size());
  return settings_.learn_weights ? weights_[segment * members_.size() + m]
                                 : 1.0 / static_cast<double>(members_.size());
}

uint64_t EnsembleModel::judged_events() const {
  uint64_t judged = 0;
  for (uint64_t count : judged_) judged += count;
  return judged;
}

bool EnsembleModel::iterative() const {
  return std::any_of(members_.begin(), members_.end(),
                     [](const ModelMember& member) { return member.model->iterative(); });
}

bool EnsembleModel::ordered_epochs() const {
  return std::any_of(members_.begin(), members_.end(), [](const ModelMember& member) {
    return member.capabilities.epochs != nullptr && member.capabilities.epochs->ordered_epochs();
  });
}

void EnsembleModel::ForgetHistory() {
  for (ModelMember& member : members_) {
    if (member.capabilities.epochs != nullptr) member.capabilities.epochs->ForgetHistory();
  }
  histories_.clear();
}

void EnsembleModel::SetFeatureSource(const FeatureSource* source) {
  for (ModelMember& member : members_) {
    if (member.capabilities.features != nullptr)
      member.capabilities.features->SetFeatureSource(source);
  }
}

void EnsembleModel::PushToPool(ItemId item) {
  if (pool_.size() == settings_.reward_pool) {
    const ItemId evicted = pool_[pool_next_];
    pool_[pool_next_] = item;
    pool_next_ = (pool_next_ + 1) % settings_.reward_pool;
    PoolSlot& evicted_slot = pool_slots_[evicted];
    LIVEREC_DCHECK(evicted_slot.count > 0);
    if (--evicted_slot.count == 0) {
      // Swap-remove from distinct_.
      const uint32_t index = evicted_slot.index;
      const ItemId last = distinct_.back();
      distinct_[index] = last;
      pool_slots_[last].index = index;
      distinct_.pop_back();
    }
  } else {
    pool_.push_back(item);
  }
  if (item >= pool_slots_.size()) pool_slots_.resize(size_t{item} + 1);
  PoolSlot& slot = pool_slots_[item];
  if (slot.count++ == 0) {
    slot.index = static_cast<uint32_t>(distinct_.size());
    distinct_.push_back(item);
  }
}

bool EnsembleModel::IndexPool() {
  pool_slots_.clear();
  // Ids index a dense table: bound them by what the bytes could hold before allocating.
  for (const ItemId item : distinct_) {
    if (item >= kMaxPoolItemId) return false;
    if (item >= pool_slots_.size()) pool_slots_.resize(size_t{item} + 1);
  }
  std::vector<uint8_t> listed(pool_slots_.size(), 0);
  for (size_t k = 0; k < distinct_.size(); ++k) {
    if (listed[distinct_[k]]++ != 0) return false;  // a repeat in distinct_
    pool_slots_[distinct_[k]].index = static_cast<uint32_t>(k);
  }
  for (const ItemId item : pool_) {
    if (item >= listed.size() || !listed[item]) return false;  // in the ring, not in distinct_
    ++pool_slots_[item].count;
  }
  return std::all_of(distinct_.begin(), distinct_.end(),
                     [this](ItemId item) { return pool_slots_[item].count > 0; });
}

void EnsembleModel::RecordHistory(UserId user, ItemId item) {
  if (user >= histories_.size()) histories_.resize(size_t{user} + 1);
  std::vector<ItemId>& history = histories_[user];
  const auto it = std::find(history.begin(), history.end(), item);
  if (it != history.end()) {
    history.erase(it);
  } else if (history.size() == settings_.reward_history) {
    history.erase(history.begin());
  }
  history.push_back(item);
}

void EnsembleModel::DrawNegatives(const Event& event, size_t first, Random* random) {
  const auto seen = [&](ItemId item) {
    return std::binary_search(seen_.begin(), seen_.end(), item);
  };
  const uint32_t num_events = static_cast<uint32_t>(pool_.size());
  const uint32_t num_distinct = static_cast<uint32_t>(distinct_.size());
  const uint64_t max_draws = uint64_t{kDrawsPerNegative} * settings_.reward_samples;
  // The event's item is at `first`, the negatives follow.
  const size_t want = first + 1 + settings_.reward_samples;
  for (uint64_t draw = 0; draw < max_draws && judge_items_.size() < want; ++draw) {
    const ItemId negative = (random->Next() & 1) != 0 ? pool_[random->Uniform(num_events)]
                                                      : distinct_[random->Uniform(num_distinct)];
    if (negative != event.item && !seen(negative)) judge_items_.push_back(negative);
  }
  const size_t num_negatives = judge_items_.size() - first - 1;
  judge_weights_.resize(judge_items_.size());
  for (size_t k = first + 1; k < judge_items_.size(); ++k) {
    const double copies = pool_slots_[judge_items_[k]].count;
    const double q = 0.5 * copies / num_events + 0.5 / num_distinct;
    judge_weights_[k] = 1 / (static_cast<double>(num_negatives) * q);
  }
}

void EnsembleModel::Prepare(const Event& event, size_t index) {
  LIVEREC_CHECK(event.user != kInvalidId && event.item != kInvalidId);
  const bool known_user = event.user < histories_.size() && !histories_[event.user].empty();
  if (settings_.learn_weights && event.weight > 0 && !pool_.empty() && known_user) {
    Random random(DeriveSeed(reward_seed_, num_learned_));
    const bool sampled = settings_.judge_rate >= 1 || random.UniformDouble() < settings_.judge_rate;
    if (sampled) {
      // Neither the item of a repeat (replay and the server never rank it) nor a negative may
      // be one of the user's consumed items.
      seen_.assign(histories_[event.user].begin(), histories_[event.user].end());
      std::sort(seen_.begin(), seen_.end());
    }
    if (sampled && !std::binary_search(seen_.begin(), seen_.end(), event.item)) {
      const size_t first = judge_items_.size();
      judge_items_.push_back(event.item);
      DrawNegatives(event, first, &random);
      const size_t count = judge_items_.size() - first;
      if (count >= 2) {
        pending_.push_back({index, static_cast<uint32_t>(SegmentOf(event.user)), first, count});
      } else {  // no negative: nothing to judge by
        judge_items_.resize(first);
        judge_weights_.resize(first);
      }
    }
  }
  if (event.weight > 0) {
    PushToPool(event.item);
    RecordHistory(event.user, event.item);
  }
  ++num_learned_;
}

double EnsembleModel::Reward(size_t m, UserId user, const Judgement& judgement,
                             std::vector<float>* scores) const {
  const std::span<const ItemId> ranked(judge_items_.data() + judgement.first, judgement.count);
  const double* weights = judge_weights_.data() + judgement.first;
  scores->resize(ranked.size());
  members_[m].model->Score(user, ranked, scores->data());
  const float target = (*scores)[0];
  double rank = 0;
  for (size_t k = 1; k < ranked.size(); ++k) {
    const float s = (*scores)[k];
    rank += (s > target ? 1.0 : s == target ? 0.5 : 0.0) * weights[k];
  }
  return rank < settings_.reward_k ? 1.0 : 0.0;
}

void EnsembleModel::UpdateWeights(const Judgement& judgement, const double* rewards) {
  // Hedge on the user's segment. Subtracting the best reward keeps every factor <= 1 (no
  // overflow for any eta); normalization cancels it.
  const size_t num_members = members_.size();
  const double best_reward = *std::max_element(rewards, rewards + num_members);
  double* weights = weights_.data() + judgement.segment * num_members;
  double* reward_sums = reward_sums_.data() + judgement.segment * num_members;
  double sum = 0;
  for (size_t m = 0; m < num_members; ++m) {
    weights[m] *= std::exp(settings_.learning_rate * (rewards[m] - best_reward));
    sum += weights[m];
  }
  const double floor = settings_.weight_floor / static_cast<double>(num_members);
  double floored_sum = 0;
  for (size_t m = 0; m < num_members; ++m) {
    weights[m] = std::max(weights[m] / sum, floor);
    floored_sum += weights[m];
  }
  for (size_t m = 0; m < num_members; ++m) {
    weights[m] /= floored_sum;
    reward_sums[m] += rewards[m];
  }
  ++judged_[judgement.segment];
}

void EnsembleModel::Learn(const Event& event) { LearnBatch(std::span<const Event>(&event, 1)); }

void EnsembleModel::LearnBatch(std::span<const Event> events) {
  // Chunks bound the scratch (a judgement holds about S items and weights).
  for (size_t begin = 0; begin < events.size(); begin += kLearnChunk) {
    const std::span<const Event> chunk =
        events.subspan(begin, std::min(kLearnChunk, events.size() - begin));
    pending_.clear();
    judge_items_.clear();
    judge_weights_.clear();
    for (size_t i = 0; i < chunk.size(); ++i) Prepare(chunk[i], i);
    rewards_.assign(pending_.size() * members_.size(), 0.0);
    // Member m judges each pending event just before learning it, and learns the runs of
    // events between judgements as batches.
    const auto run_member = [&](size_t m) {
      thread_local std::vector<float> scores;
      size_t learned = 0;
      for (size_t j = 0; j < pending_.size(); ++j) {
        const size_t at = pending_[j].event;
        members_[m].model->LearnBatch(chunk.subspan(learned, at - learned));
        learned = at;
        rewards_[j * members_.size() + m] = Reward(m, chunk[at].user, pending_[j], &scores);
      }
      members_[m].model->LearnBatch(chunk.subspan(learned));
    };
    RunEach(members_.size(), chunk.size() >= kParallelLearnMinEvents, run_member);
    for (size_t j = 0; j < pending_.size(); ++j) {
      UpdateWeights(pending_[j], rewards_.data() + j * members_.size());
    }
  }
}

void EnsembleModel::ForgetUser(UserId user) {
  for (ModelMember& member : members_) {
    if (member.capabilities.forgetting != nullptr) member.capabilities.forgetting->ForgetUser(user);
  }
  if (user < histories_.size()) histories_[user] = std::vector<ItemId>();
}

void EnsembleModel::ForgetItems(std::span<const ItemId> items) {
  for (ModelMember& member : members_) {
    if (member.capabilities.item_forgetting != nullptr) {
      member.capabilities.item_forgetting->ForgetItems(items);
    }
  }
  thread_local std::vector<uint8_t> forgotten;
  MarkItems(items, &forgotten);
  const auto named = [&](ItemId item) { return item < forgotten.size() && forgotten[item] != 0; };
  for (std::vector<ItemId>& history : histories_) std::erase_if(history, named);
  if (std::none_of(pool_.begin(), pool_.end(), named)) return;
  // The ring, oldest first and without the items: not full any more, so the next item is
  // appended (PushToPool), and evictions start again from index 0 once it fills.
  std::vector<ItemId> ring;
  ring.reserve(pool_.size());
  for (size_t k = 0; k < pool_.size(); ++k) {
    const ItemId item = pool_[(pool_next_ + k) % pool_.size()];
    if (!named(item)) ring.push_back(item);
  }
  pool_ = std::move(ring);
  pool_next_ = 0;
  std::erase_if(distinct_, named);
  LIVEREC_CHECK(IndexPool());
}

void EnsembleModel::Observe(const Event& event) {
  LIVEREC_CHECK(event.user != kInvalidId && event.item != kInvalidId);
  for (ModelMember& member : members_) {
    if (member.capabilities.observer != nullptr) member.capabilities.observer->Observe(event);
  }
  if (event.weight > 0) RecordHistory(event.user, event.item);
}

void EnsembleModel::Score(UserId user, std::span<const ItemId> items, float* out) const {
  ScoreWithContributions(user, items, out, nullptr);
}

void EnsembleModel::ScoreWithContributions(UserId user, std::span<const ItemId> items, float* out,
                                           float* parts) const {
  const size_t n = items.size();
  const size_t segment = SegmentOf(user);
  thread_local std::vector<float> scores;
  thread_local std::vector<uint8_t> scored;  // by position: some member scored the item
  thread_local std::vector<float> top;
  scores.resize(n);
  scored.assign(n, 0);
  std::fill(out, out + n, 0.0f);
  if (parts != nullptr) std::fill(parts, parts + members_.size() * n, 0.0f);

  for (size_t m = 0; m < members_.size(); ++m) {
    const double w = weight(segment, m);
    members_[m].model->Score(user, items, scores.data());
    float* terms = parts != nullptr ? parts + m * n : nullptr;
    // One pass for what both fusions need: which items the member scores, and their moments.
    size_t num_finite = 0;
    double sum = 0;
    double sum_squares = 0;
    float min_score = FLT_MAX;
    for (size_t i = 0; i < n; ++i) {
      const float s = scores[i];
      if (s == kUnscored) continue;
      scored[i] = 1;
      ++num_finite;
      sum += s;
      sum_squares += double{s} * s;
      min_score = std::min(min_score, s);
    }
    if (num_finite == 0 || w == 0) continue;

    if (settings_.fusion == EnsembleFusion::kWeighted) {
      const double mean = sum / static_cast<double>(num_finite);
      const double variance =
          std::max(0.0, sum_squares / static_cast<double>(num_finite) - mean * mean);
      // A constant member (item_knn for a user without history) says nothing about the order.
      if (!(variance > 0)) continue;
      const double scale = w / std::sqrt(variance);
      for (size_t i = 0; i < n; ++i) {
        const float s = scores[i] == kUnscored ? min_score : scores[i];
        const float term = static_cast<float>((s - mean) * scale);
        out[i] += term;
        if (terms != nullptr) terms[i] = term;
      }
    } else {
      // Competition ranks from the member's top `depth` scores: rank(s) = 1 + #{top > s} holds
      // for every s at or above the depth-th score, since all scores above it are in the top.
      top.clear();
      for (size_t i = 0; i < n; ++i) {
        if (scores[i] != kUnscored) top.push_back(scores[i]);
      }
      const size_t depth = std::min<size_t>(settings_.rrf_depth, top.size());
      std::nth_element(top.begin(), top.begin() + static_cast<ptrdiff_t>(depth - 1), top.end(),
                       std::greater<float>());
      top.resize(depth);
      std::sort(top.begin(), top.end(), std::greater<float>());
      const float cut = top.back();
      for (size_t i = 0; i < n; ++i) {
        const float s = scores[i];
        if (s == kUnscored || s < cut) continue;
        const auto above =
            std::partition_point(top.begin(), top.end(), [s](float t) { return t > s; });
        const double rank = 1 + static_cast<double>(above - top.begin());
        const float term = static_cast<float>(w / (settings_.rrf_k + rank));
        out[i] += term;
        if (terms != nullptr) terms[i] = term;
      }
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (!scored[i]) out[i] = kUnscored;
  }
}

void EnsembleModel::Candidates(UserId user, size_t n, std::vector<ItemId>* out) const {
  if (n == 0) return;
  thread_local std::vector<std::vector<ItemId>> lists;
  thread_local std::vector<size_t> order;
  thread_local std::vector<uint8_t> taken;  // by item id: appended by this call
  lists.resize(std::max(lists.size(), members_.size()));
  order.resize(members_.size());
  for (size_t m = 0; m < members_.size(); ++m) order[m] = m;
  const size_t segment = SegmentOf(user);
  std::stable_sort(order.begin(), order.end(), [this, segment](size_t a, size_t b) {
    return weight(segment, a) > weight(segment, b);
  });
  for (size_t m = 0; m < members_.size(); ++m) {
    lists[m].clear();
    const CandidateSource* source = members_[m].capabilities.candidates;
    if (source != nullptr) source->Candidates(user, n, &lists[m]);
  }
  // Round-robin, heaviest member first, so each member's best candidates get in before any
  // member's weaker ones.
  const size_t first = out->size();
  size_t appended = 0;
  for (size_t position = 0; appended < n; ++position) {
    bool any_left = false;
    for (size_t k = 0; k < order.size() && appended < n; ++k) {
      const std::vector<ItemId>& list = lists[order[k]];
      if (position >= list.size()) continue;
      any_left = true;
      const ItemId item = list[position];
      if (item >= taken.size()) taken.resize(size_t{item} + 1, 0);
      if (taken[item]) continue;
      taken[item] = 1;
      out->push_back(item);
      ++appended;
    }
    if (!any_left) break;
  }
  for (size_t i = first; i < out->size(); ++i) taken[(*out)[i]] = 0;
}

std::vector<MemberInfo> EnsembleModel::Members() const {
  std::vector<MemberInfo> infos;
  for (size_t m = 0; m < members_.size(); ++m) {
    MemberInfo info{members_[m].name, members_[m].type, members_[m].model.get(), {}, {}};
    for (size_t s = 0; s < num_segments(); ++s) {
      info.weights.push_back(weight(s, m));
      info.mean_rewards.push_back(judged_[s] == 0 ? 0
                                                  : reward_sums_[s * members_.size() + m] /
                                                        static_cast<double>(judged_[s]));
    }
    infos.push_back(std::move(info));
  }
  return infos;
}

const Model* EnsembleModel::FindMember(std::string_view name) const {
  for (const ModelMember& member : members_) {
    if (member.name == name) return member.model.get();
  }
  return nullptr;
}

void EnsembleModel::Save(BinaryWriter* out) const {
  out->Put<uint32_t>(kEnsembleTag);
  out->Put<uint32_t>(kEnsembleVersion);
  out->Put<uint32_t>(static_cast<uint32_t>(members_.size()));
  for (const ModelMember& member : members_) {
    out->PutString(member.name);
    out->PutString(member.type);
  }
  out->PutVector(settings_.segments);
  out->Put<uint32_t>(settings_.reward_pool);
  out->Put<uint32_t>(settings_.reward_history);
  out->Put<uint64_t>(reward_seed_);
  out->Put<uint64_t>(num_learned_);
  out->PutVector(weights_);
  out->PutVector(reward_sums_);
  out->PutVector(judged_);
  out->PutVector(pool_);
  out->Put<uint64_t>(pool_next_);
  out->PutVector(distinct_);
  out->Put<uint64_t>(histories_.size());
  for (const std::vector<ItemId>& history : histories_) out->PutVector(history);
  // Each member's bytes in place, followed by their length, so that a member that reads too
  // little or too much is caught here, and nothing is buffered: `out` may stream to a file.
  for (const ModelMember& member : members_) {
    CountingSink counter(out);
    {
      BinaryWriter member_out(&counter);
      member.model->Save(&member_out);
    }
    out->Put<uint64_t>(counter.bytes());
  }
}

Status EnsembleModel::Load(BinaryReader* in) {
  uint32_t version = 0;
  LIVEREC_RETURN_IF_ERROR(
      in->ExpectHeader(kEnsembleTag, kEnsembleMinVersion, kEnsembleVersion, "ensemble", &version));
  uint32_t num_members = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&num_members));
  if (num_members != members_.size()) {
    return FailedPrecondition("ensemble: state was saved with " + std::to_string(num_members) +
                              " members, this model has " + std::to_string(members_.size()));
  }
  for (const ModelMember& member : members_) {
    std::string name;
    std::string type;
    LIVEREC_RETURN_IF_ERROR(in->GetString(&name).WithPrefix("ensemble member name"));
    LIVEREC_RETURN_IF_ERROR(in->GetString(&type).WithPrefix("ensemble member type"));
    if (name != member.name || type != member.type) {
      return FailedPrecondition("ensemble: state was saved with member " + name + ":" + type +
                                " where this model has " + member.name + ":" + member.type);
    }
  }
  std::vector<uint32_t> segments;
  uint32_t pool_capacity = 0;
  uint32_t history_capacity = 0;
  LIVEREC_RETURN_IF_ERROR(in->GetVector(&segments).WithPrefix("ensemble segments"));
  LIVEREC_RETURN_IF_ERROR(in->Get(&pool_capacity));
  LIVEREC_RETURN_IF_ERROR(in->Get(&history_capacity));
  if (segments != settings_.segments || pool_capacity != settings_.reward_pool ||
      history_capacity != settings_.reward_history) {
    return FailedPrecondition(
        "ensemble: state was saved with other segments, reward_pool (" +
        std::to_string(pool_capacity) + ") or reward_history (" + std::to_string(history_capacity) +
        ") than this model's (reward_pool " + std::to_string(settings_.reward_pool) +
        ", reward_history " + std::to_string(settings_.reward_history) + ")");
  }

  uint64_t reward_seed = 0;
  uint64_t num_learned = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&reward_seed));
  LIVEREC_RETURN_IF_ERROR(in->Get(&num_learned));
  std::vector<double> weights;
  std::vector<double> reward_sums;
  std::vector<uint64_t> judged;
  LIVEREC_RETURN_IF_ERROR(in->GetVector(&weights).WithPrefix("ensemble weights"));
  LIVEREC_RETURN_IF_ERROR(in->GetVector(&reward_sums).WithPrefix("ensemble rewards"));
  LIVEREC_RETURN_IF_ERROR(in->GetVector(&judged).WithPrefix("ensemble judged events"));
  const size_t cells = num_segments() * num_members;
  if (weights.size() != cells || reward_sums.size() != cells || judged.size() != num_segments()) {
    return Corruption("ensemble: " + std::to_string(weights.size()) + " weights, " +
                      std::to_string(reward_sums.size()) + " reward sums and " +
                      std::to_string(judged.size()) + " judged counts for " +
                      std::to_string(num_segments()) + " segments of " +
                      std::to_string(num_members) + " members");
  }
  for (size_t s = 0; s < num_segments(); ++s) {
    double weight_sum = 0;
    for (size_t m = 0; m < num_members; ++m) {
      const double w = weights[s * num_members + m];
      const double reward_sum = reward_sums[s * num_members + m];
      if (!(w >= 0 && w <= 1) || !(reward_sum >= 0 && reward_sum <= judged[s])) {
        return Corruption("ensemble: member " + members_[m].name + " has weight " +
                          std::to_string(w) + " and reward sum " + std::to_string(reward_sum) +
                          " in segment " + std::to_string(s));
      }
      weight_sum += w;
    }
    if (std::abs(weight_sum - 1) > kWeightSumTolerance) {
      return Corruption("ensemble: weights of segment " + std::to_string(s) + " sum to " +
                        std::to_string(weight_sum));
    }
  }

  EnsembleModel staged(*this);  // members are replaced below, from their own bytes
  staged.reward_seed_ = reward_seed;
  staged.num_learned_ = num_learned;
  staged.weights_ = std::move(weights);
  staged.reward_sums_ = std::move(reward_sums);
  staged.judged_ = std::move(judged);
  LIVEREC_RETURN_IF_ERROR(in->GetVector(&staged.pool_).WithPrefix("ensemble reward pool"));
  LIVEREC_RETURN_IF_ERROR(in->Get(&staged.pool_next_));
  LIVEREC_RETURN_IF_ERROR(in->GetVector(&staged.distinct_).WithPrefix("ensemble reward pool"));
  // The ring fills by appending and wraps only once full.
  const size_t pool_size = staged.pool_.size();
  if (pool_size > pool_capacity || staged.pool_next_ >= pool_capacity ||
      (staged.pool_next_ != 0 && pool_size < pool_capacity) || !staged.IndexPool()) {
    return Corruption("ensemble: reward pool of " + std::to_string(pool_size) + " items (" +
                      std::to_string(staged.distinct_.size()) + " listed distinct), next " +
                      std::to_string(staged.pool_next_) + ", capacity " +
                      std::to_string(pool_capacity));
  }

  uint64_t num_users = 0;
  LIVEREC_RETURN_IF_ERROR(in->Get(&num_users));
  if (num_users > in->remaining() / sizeof(uint64_t) || num_users > kInvalidId) {
    return Corruption("ensemble: " + std::to_string(num_users) + " users in " +
                      std::to_string(in->remaining()) + " bytes");
  }
  staged.histories_.assign(num_users, {});
  for (uint64_t u = 0; u < num_users; ++u) {
    std::vector<ItemId>& history = staged.histories_[u];
    LIVEREC_RETURN_IF_ERROR(in->GetVector(&history).WithPrefix("ensemble history"));
    if (history.size() > history_capacity) {
      return Corruption("ensemble: history of user " + std::to_string(u) + " holds " +
                        std::to_string(history.size()) + " items, more than " +
                        std::to_string(history_capacity));
    }
  }

  for (ModelMember& member : staged.members_) {
    const std::string what = "ensemble member " + member.name;
    if (version == 1) {  // length-prefixed
      std::string bytes;
      LIVEREC_RETURN_IF_ERROR(in->GetString(&bytes).WithPrefix(what));
      BinaryReader reader(bytes);
      LIVEREC_RETURN_IF_ERROR(member.model->Load(&reader).WithPrefix(what));
      if (reader.remaining() != 0) {
        return Corruption(what + ": " + std::to_string(reader.remaining()) +
                          " bytes left after its state");
      }
      continue;
    }
    const size_t start = in->position();
    LIVEREC_RETURN_IF_ERROR(member.model->Load(in).WithPrefix(what));
    const uint64_t read = in->position() - start;
    uint64_t written = 0;
    LIVEREC_RETURN_IF_ERROR(in->Get(&written).WithPrefix(what + " length"));
    if (read != written) {
      return Corruption(what + ": its state was " + std::to_string(written) + " bytes, " +
                        std::to_string(read) + " were read");
    }
  }
  *this = std::move(staged);
  return Status::Ok();
}

size_t EnsembleModel::MemoryBytes() const {
  // An unordered_map node: the value, the next pointer and the cached hash; plus a bucket.
  size_t bytes = (pool_.capacity() + distinct_.capacity()) * sizeof(ItemId) +
                 pool_slots_.capacity() * sizeof(PoolSlot) +
                 histories_.capacity() * sizeof(std::vector<ItemId>) +
                 (weights_.capacity() + reward_sums_.capacity()) * sizeof(double);
  for (const std::vector<ItemId>& history : histories_)
    bytes += history.capacity() * sizeof(ItemId);
  for (const ModelMember& member : members_) bytes += member.model->MemoryBytes();
  return bytes;
}

Status EnsembleModel::CheckRounds() const {
  for (const ModelMember& member : members_) {
    if (member.capabilities.rounds != nullptr) {
      LIVEREC_RETURN_IF_ERROR(
          member.capabilities.rounds->CheckRounds().WithPrefix("ensemble member " + member.name));
    } else if (member.model->iterative()) {
      return InvalidArgument("ensemble member " + member.name + " (" + member.type +
                             ") learns by gradients and cannot learn in rounds");
    }
  }
  return Status::Ok();
}

void EnsembleModel::BeginRound() {
  for (ModelMember& member : members_) {
    if (member.capabilities.rounds != nullptr) member.capabilities.rounds->BeginRound();
  }
}

// Delta: each member with rounds' delta as a string, in member order.
void EnsembleModel::SaveRoundDelta(BinaryWriter* out) const {
  for (const ModelMember& member : members_) {
    if (member.capabilities.rounds == nullptr) continue;
    BinaryWriter delta;
    member.capabilities.rounds->SaveRoundDelta(&delta);
    out->PutString(delta.data());
  }
}

Status EnsembleModel::SplitRoundDelta(std::string_view delta,
                                      std::vector<std::vector<std::string_view>>* by_member) const {
  std::string_view rest = delta;
  for (size_t m = 0; m < members_.size(); ++m) {
    const RoundLearner* rounds = members_[m].capabilities.rounds;
    if (rounds == nullptr) continue;
    BinaryReader in(rest);
    uint64_t size = 0;
    LIVEREC_RETURN_IF_ERROR(in.Get(&size).WithPrefix("ensemble round delta"));
    if (size > in.remaining()) {
      return Corruption("ensemble round delta: member " + members_[m].name + " has " +
                        std::to_string(size) + " bytes, " + std::to_string(in.remaining()) +
                        " remain");
    }
    const std::string_view member_delta = rest.substr(sizeof(size), size);
    LIVEREC_RETURN_IF_ERROR(
        rounds->CheckRoundDelta(member_delta).WithPrefix("ensemble member " + members_[m].name));
    if (by_member != nullptr) (*by_member)[m].push_back(member_delta);
    rest.remove_prefix(sizeof(size) + size);
  }
  if (!rest.empty()) {
    return Corruption("ensemble round delta: " + std::to_string(rest.size()) +
                      " bytes after the last member's");
  }
  return Status::Ok();
}

Status EnsembleModel::CheckRoundDelta(std::string_view delta) const {
  return SplitRoundDelta(delta, nullptr);
}

Status EnsembleModel::EndRound(std::span<const std::string_view> deltas,
                               std::span<const Event> others) {
  return EndMembersRound(nullptr, deltas, others);
}

Status EnsembleModel::EndRoundFrom(const RoundLearner& ended_rounds,
                                   std::span<const std::string_view> deltas,
                                   std::span<const Event> others) {
  const auto* ended = dynamic_cast<const EnsembleModel*>(&ended_rounds);
  if (ended == nullptr || ended->members_.size() != members_.size()) {
    return InvalidArgument("ensemble: a round can be ended from another copy of it only");
  }
  for (size_t m = 0; m < members_.size(); ++m) {
    if ((members_[m].capabilities.rounds == nullptr) !=
        (ended->members_[m].capabilities.rounds == nullptr)) {
      return InvalidArgument("ensemble: member " + std::to_string(m) +
                             " learns in rounds in one copy and not in the other");
    }
  }
  return EndMembersRound(ended, deltas, others);
}

Status EnsembleModel::EndMembersRound(const EnsembleModel* ended,
                                      std::span<const std::string_view> deltas,
                                      std::span<const Event> others) {
  // Every partition's delta split into its members' (views into `deltas`), all checked before
  // any member changes.
  std::vector<std::vector<std::string_view>> by_member(members_.size());
  for (const std::string_view delta : deltas) {
    LIVEREC_RETURN_IF_ERROR(SplitRoundDelta(delta, &by_member));
  }
  for (size_t m = 0; m < members_.size(); ++m) {
    RoundLearner* rounds = members_[m].capabilities.rounds;
    if (rounds == nullptr) continue;
    LIVEREC_RETURN_IF_ERROR(
        ended == nullptr
            ? rounds->EndRound(by_member[m], others)
            : rounds->EndRoundFrom(*ended->members_[m].capabilities.rounds, by_member[m], others));
  }
  const auto learn_whole = [&](size_t m) {
    if (members_[m].capabilities.rounds == nullptr) members_[m].model->LearnBatch(others);
  };
  RunEach(members_.size(), others.size() >= kParallelLearnMinEvents, learn_whole);
  return Status::Ok();
}

}  // namespace liverec
