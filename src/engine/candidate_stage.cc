#include "engine/candidate_stage.h"

#include <algorithm>
#include <string>

#include "common/check.h"
#include "retrieval/exact_index.h"
#include "retrieval/hnsw_index.h"

namespace liverec {
namespace {

// Per-thread scratch of Retrieve: no allocation per request once warm.
struct RetrieveScratch {
  std::vector<float> query;
  std::vector<VectorIndex::ScoredId> found;
};

}  // namespace

RetrievalSettings RetrievalSettings::FromOptions(const Options& options) {
  RetrievalSettings settings;
  const std::string kind = options.GetString("", "rank", "retrieval");
  if (kind == "auto") settings.kind = RetrievalKind::kAuto;
  if (kind == "hnsw") settings.kind = RetrievalKind::kHnsw;
  if (kind == "exact") settings.kind = RetrievalKind::kExact;
  settings.hnsw_min_items = static_cast<size_t>(options.GetInt("", "rank", "hnsw_min_items"));
  settings.hnsw_ef = static_cast<size_t>(options.GetInt("", "rank", "hnsw_ef"));
  settings.hnsw_m = static_cast<size_t>(options.GetInt("", "rank", "hnsw_m"));
  return settings;
}

void RetrievalIndexes::Add(const Model* model, EmbeddingRetrieval* source, bool member) {
  if (settings_.kind == RetrievalKind::kScan) return;
  const size_t dim = source->retrieval_dim();
  // An ensemble member's graph would cost learning time (an HNSW insertion per changed item)
  // for the few candidates the member adds to the ensemble's own: under kAuto a member is
  // searched exactly, while its catalogue is small enough for that to be cheap.
  const bool bounded = settings_.kind == RetrievalKind::kAuto && member;
  std::unique_ptr<VectorIndex> index;
  if (settings_.kind == RetrievalKind::kExact || bounded) {
    index = std::make_unique<ExactIndex>(dim);
  } else {
    HnswIndexOptions options;
    if (settings_.hnsw_ef > 0) options.ef_search = settings_.hnsw_ef;
    if (settings_.hnsw_m > 0) options.m = settings_.hnsw_m;
    if (settings_.kind == RetrievalKind::kAuto) options.min_graph_items = settings_.hnsw_min_items;
    index = std::make_unique<HnswIndex>(dim, options);
  }
  entries_.push_back(Entry{model, source, std::move(index)});
  if (bounded) entries_.back().max_items = settings_.hnsw_min_items;
  Reindex(&entries_.back());
}

void RetrievalIndexes::DropIfOutgrown(Entry* entry) {
  // Dropped for good (until the next Add): the model's changes are no longer taken, which
  // costs nothing, as a model lists each changed item once.
  if (entry->index->size() > entry->max_items) entry->index.reset();
}

void RetrievalIndexes::Update(Entry* entry, ItemId item) {
  if (entry->source->RetrievalVector(item, vector_.data())) {
    entry->index->Upsert(item, vector_.data());
    entry->id_bound = std::max(entry->id_bound, size_t{item} + 1);
  } else {
    entry->index->Remove(item);
  }
}

void RetrievalIndexes::Reindex(Entry* entry) {
  // Starts the model's next list of changes: everything up to here is read below.
  (void)entry->source->TakeChangedItems(&changed_);
  entry->source->RetrievalItems(&changed_);
  vector_.resize(entry->source->retrieval_dim());
  std::vector<uint8_t> listed(entry->id_bound, 0);
  for (ItemId item : changed_) {
    Update(entry, item);
    if (item < listed.size()) listed[item] = 1;
  }
  // Ids that lost their vectors (evicted rows); Remove of an absent id does nothing.
  for (size_t id = 0; id < listed.size(); ++id) {
    if (listed[id] == 0) entry->index->Remove(static_cast<uint32_t>(id));
  }
  DropIfOutgrown(entry);
}

void RetrievalIndexes::Sync() {
  for (Entry& entry : entries_) {
    if (entry.index == nullptr) continue;
    if (!entry.source->TakeChangedItems(&changed_)) {
      Reindex(&entry);
      continue;
    }
    vector_.resize(entry.source->retrieval_dim());
    for (ItemId item : changed_) Update(&entry, item);
    DropIfOutgrown(&entry);
  }
}

const RetrievalIndexes::Entry* RetrievalIndexes::FindEntry(const Model* model) const {
  for (const Entry& entry : entries_) {
    if (entry.model == model) return entry.index != nullptr ? &entry : nullptr;
  }
  return nullptr;
}

const VectorIndex* RetrievalIndexes::Find(const Model* model) const {
  const Entry* entry = FindEntry(model);
  return entry != nullptr ? entry->index.get() : nullptr;
}

bool RetrievalIndexes::Retrieve(const Model* model, UserId user, size_t n,
                                const VectorIndex::Filter& admit, std::vector<ItemId>* out) const {
  const Entry* entry = FindEntry(model);
  if (entry == nullptr) return false;
  thread_local RetrieveScratch scratch;
  scratch.query.resize(entry->source->retrieval_dim());
  entry->source->RetrievalQuery(user, scratch.query.data());
  entry->index->Search(scratch.query.data(), n, admit, &scratch.found);
  out->clear();
  for (const auto& [item, score] : scratch.found) out->push_back(item);
  // Ascending ids, as the full scan lists them: Score's top-k breaks ties by position, so the
  // same order gives the same ties.
  std::sort(out->begin(), out->end());
  return true;
}

}  // namespace liverec
