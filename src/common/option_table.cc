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
    OptionSpec{"item_knn.max_neighbours", T::kInt, "200",
               "Neighbours kept per item: when a list fills the table twice this many need "
               "(716 entries for 200), only the strongest this many stay. Bounds memory, "
               "snapshot size and restart time on large catalogues; top-10 lists draw on a "
               "user's 20 window items times this. 0 keeps every co-occurring pair.",
               0, 1000000},

    // transitions: decayed first-order item -> next item counts.
    OptionSpec{"transitions.half_life", T::kDuration, "0",
               "Half-life of the decay of transition counts in stream time; 0 keeps them "
               "forever. As for popularity: 0 for films, about an hour for news.",
               0, 1e12},
    OptionSpec{"transitions.window", T::kInt, "5",
               "How many of a user's last distinct items predict the next one. Cost per scored "
               "item is linear in it.",
               1, 100},
    OptionSpec{"transitions.older_weight", T::kFloat, "0.75",
               "Each step back in the user's last items multiplies its transitions' say in the "
               "score by this. Window 5 at 0.75 against 1, 3 and 5 at 0.5: best online on "
               "MovieLens-100K (Recall@10 0.156 against 0.132-0.148) and within 0.003 of the "
               "best on a Globo prefix (docs/quality.md).",
               0, 1},
    OptionSpec{"transitions.backoff", T::kFloat, "0.1",
               "Weight of the item's share of all events in its score: orders the items that "
               "never followed the user's last items by popularity instead of tying them at 0.",
               0, 1e6},

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
    OptionSpec{"mf.learning_rate", T::kFloat, "0.3",
               "SGD step size. With negatives that exclude consumed items, 0.3 is the best of "
               "0.1-0.5 at 16 negatives and of 0.25-0.35 at 24 on MovieLens-100K online; batch "
               "training (loo) prefers lower rates.",
               1e-6, 10},
    OptionSpec{"mf.regularization", T::kFloat, "0.01",
               "L2 penalty on the rows and biases touched by a step.", 0, 10},
    OptionSpec{"mf.negatives", T::kInt, "24",
               "Negatives sampled uniformly from known items per positive event (implicit). "
               "With mf.exclude_consumed, online Recall@10 on MovieLens-100K peaks at 20-24 "
               "(0.170, 8: 0.159) and keeps rising on Globo news (24: 0.367, 32: 0.396); cost "
               "is linear.",
               0, 1000},
    OptionSpec{"mf.exclude_consumed", T::kBool, "true",
               "Draw a sampled negative again (up to 8 draws) while it is an item the user "
               "consumed before: a user's own positives are not pushed toward 0. Raises online "
               "Recall@10 on MovieLens-100K by 4-5 % at 8 and 16 negatives; costs a sorted list "
               "of item ids per user and a search per draw.",
               0, 0},
    OptionSpec{"mf.init_std", T::kFloat, "0.1",
               "Standard deviation of the normal initialization of new rows.", 0, 10},
    OptionSpec{"mf.min_count", T::kInt, "1",
               "Events a user or item id needs before it gets a row; until then it scores as "
               "unknown, its events are only counted (a fixed 1 MiB count-min sketch per id "
               "space, halved every 65,536 events) and nothing is learned from them. 1 gives "
               "every id a row at its first event. On Globo news, 2 raises online Recall@10 "
               "from 0.274 to 0.336 (articles clicked once rank last), but with mf.idle_ttl=1h "
               "returning users must earn their rows again: 0.140.",
               1, 255},
    OptionSpec{"mf.idle_ttl", T::kDuration, "0",
               "A user or item row that no event touched for longer than this (stream time) is "
               "evicted and its memory reused; the id then scores as unknown and starts afresh "
               "if it returns. Bounds mf's memory on endless id streams to the ids active "
               "within it. 0 keeps rows forever. On Globo news, 1h keeps online Recall@10 at "
               "0.272 (0.274 without) and raises NDCG@10 from 0.132 to 0.148.",
               0, 1e12},

    // fm: factorization machine over hashed user, item, context, time and metadata features.
    OptionSpec{"fm.dim", T::kInt, "32",
               "Factor dimension k of every feature. Cost per example is linear in it; 16 and 64 "
               "measured within noise of 32 on MovieLens-100K and Globo online.",
               1, 1024},
    OptionSpec{"fm.hash_bits", T::kInt, "18",
               "The feature table has 2^hash_bits rows (w_f, v_f and their AdaGrad "
               "accumulators: about 8 (k + 1) bytes each, 66 MiB at 18 bits and k = 32), "
               "allocated whole at start. Features share a row when their hashes collide.",
               4, 30},
    OptionSpec{"fm.learning_rate", T::kFloat, "0.3",
               "AdaGrad base step: a parameter moves by learning_rate * g / sqrt(sum of its "
               "squared gradients). Best of 0.05-1 on MovieLens-100K online (0.05: Recall@10 "
               "0.083, 0.3: 0.140 at 4 negatives; 1: 0.082), and on Globo.",
               1e-6, 10},
    OptionSpec{"fm.regularization", T::kFloat, "0.001",
               "L2 penalty on w_f and v_f of each feature in an example (not on w0). 0.001 "
               "edges out 0.0001 on both development data sets.",
               0, 10},
    OptionSpec{"fm.negatives", T::kInt, "16",
               "Items sampled uniformly from the learned ones as label-0 examples per positive "
               "event. Cost is linear. MovieLens-100K online Recall@10: 0.140 at 4, 0.153 at 8, "
               "0.165 at 16, 0.173 at 32; Globo likewise.",
               0, 1000},
    OptionSpec{"fm.init_std", T::kFloat, "0.01",
               "Standard deviation of the normal initialization of the factors.", 0, 10},
    OptionSpec{"fm.use_context", T::kBool, "true",
               "Learn from the event's context pairs (device, referrer, ...) and its hour of day "
               "and day of week. Off: user, item and item metadata only (the comparison "
               "baseline).",
               0, 0},

    // seq: SASRec-style self-attention over each user's recent items, learned online.
    OptionSpec{"seq.dim", T::kInt, "64",
               "Model width d (item and position embeddings, attention, feed-forward). 64 as "
               "the SASRec runs it is compared with; a step costs about d^2 per position.",
               2, 1024},
    OptionSpec{"seq.max_len", T::kInt, "50",
               "Most recent items per user the network reads (and the history kept). Step and "
               "score cost grow about linearly with it; 50 is SASRec's setting for MovieLens. "
               "100 measured within the noise of 50 on MovieLens-100K (leave-last-out "
               "validation) for 1.3 times the time.",
               1, 1000},
    OptionSpec{"seq.blocks", T::kInt, "2",
               "Self-attention blocks. 2 as SASRec on MovieLens; each block adds about half of "
               "the cost of a step.",
               1, 8},
    OptionSpec{"seq.heads", T::kInt, "1",
               "Attention heads; must divide seq.dim. SASRec found one head enough.", 1, 64},
    OptionSpec{"seq.batch", T::kInt, "32",
               "Training examples (one per seq.stride learned events of a user) per Adam step. "
               "Set for batch epochs: MovieLens-100K leave-last-out best validation HR@10 0.200 "
               "at 8, 0.213 at 32 (full loss, stride 50), and a step's fixed costs (Adam over "
               "every network tensor) shared by 32 examples. One-pass (online) learning wants "
               "frequent steps: 1 with stride 10 (online Recall@10 0.163 with the sampled loss).",
               1, 4096},
    OptionSpec{"seq.learning_rate", T::kFloat, "0.001",
               "Adam step size (beta1 0.9, beta2 0.98 as SASRec). Larger rates (0.002, 0.003) "
               "make the validation curve of batch epochs zigzag, so that early stopping with "
               "patience 2 stops before the best epoch (docs/quality.md, seq).",
               1e-6, 1},
    OptionSpec{"seq.negatives", T::kInt, "300",
               "Negatives of seq.loss=softmax|bce, drawn uniformly from the item rows per step, "
               "shared by every trained position of the step. 300 rather than 100 lifts "
               "MovieLens-100K online Recall@10 from 0.158 to 0.163 for about 12 % more time per "
               "batch epoch.",
               0, 100000},
    OptionSpec{"seq.loss", T::kEnum, "full",
               "full: cross-entropy of a softmax over every item (a step costs about 6 d flops "
               "per trained position and item, so a catalogue of 100 K items wants softmax); "
               "softmax: cross-entropy over the target and seq.negatives uniform negatives "
               "(sampled softmax); bce: binary cross-entropy, target toward 1 and each negative "
               "toward 0. MovieLens-100K leave-last-out best validation HR@10 (stride 50, batch "
               "32): 0.213 full, 0.185 softmax with 300 negatives.",
               0, 0, "softmax|bce|full"},
    OptionSpec{"seq.train_positions", T::kInt, "50",
               "Positions of each example that get a loss, counted back from the newest (each "
               "predicts the next item); up to seq.max_len trains every position as SASRec. At "
               "least seq.stride, so that every learned event is a target.",
               1, 1000},
    OptionSpec{"seq.stride", T::kInt, "50",
               "Learned events of a user per training example: every stride-th event of a user "
               "makes an example of their history. An example costs a pass over the whole "
               "history, so stride 1 costs fifty times more per event than 50; and it re-trains "
               "each event in up to seq.train_positions examples per pass, which overfits in "
               "multi-epoch batch training (leave-last-out HR@10 0.11 at 1, 0.19 at 10 on "
               "MovieLens-100K with the sampled loss). With the full loss, best validation HR@10 "
               "0.210 at 25 (learning rate 0.002) for twice the time per epoch of 50 (0.213). "
               "Large strides learn "
               "too little in one pass: online learning wants 10 (online Recall@10 0.130 at 25).",
               1, 1000},
    OptionSpec{"seq.dropout", T::kFloat, "0.2",
               "Dropout rate of the input embeddings and of each attention and feed-forward "
               "output during training (none when scoring). 0.3 and 0.5 measured within the "
               "noise of 0.2 on MovieLens-100K (leave-last-out validation).",
               0, 0.9},
    OptionSpec{"seq.init_std", T::kFloat, "0.05",
               "Standard deviation of the normal initialization of item and position "
               "embeddings.",
               0, 10},

    // ensemble: member models fused with weights learned online (Hedge on sampled-rank rewards).
    OptionSpec{"ensemble.members", T::kString,
               "popularity,pop_15m:popularity(half_life=15m),pop_1h:popularity(half_life=1h),"
               "pop_1d:popularity(half_life=1d),item_knn,transitions,"
               "trans_15m:transitions(half_life=15m),trans_1h:transitions(half_life=1h),"
               "trans_1d:transitions(half_life=1d),mf,fm",
               "Member instances, comma-separated NAME, NAME:TYPE or NAME:TYPE(field=value, ...) "
               "with that instance's own defaults; each reads its options (`<name>.<field>` over "
               "what is written beside it over `<type>.<field>`). The kinds of signal the "
               "project has (trend, co-occurrence, next item, factors, context), the count "
               "models at several half-lives, so that the learned weights pick the time "
               "constant of the stream: films take the all-time counts, news the one-hour ones "
               "(docs/quality.md).",
               0, 0},
    OptionSpec{"ensemble.fusion", T::kEnum, "weighted",
               "weighted: sum of the weighted z-scores of the members' scores over the "
               "request's items; rrf: weighted reciprocal-rank fusion, w / (rrf_k + rank).",
               0, 0, "weighted|rrf"},
    OptionSpec{"ensemble.learn_weights", T::kBool, "true",
               "Learn the member weights online; off: every member weighs 1 / members and no "
               "reward is computed (cheaper Learn).",
               0, 0},
    OptionSpec{"ensemble.learning_rate", T::kFloat, "0.05",
               "Hedge step eta: a member's weight is multiplied by exp(eta * reward), reward in "
               "[0, 1], then all are normalized.",
               1e-9, 100},
    OptionSpec{"ensemble.weight_floor", T::kFloat, "0.3",
               "Share of the weight kept spread evenly: each member keeps at least this / "
               "members. Hedge alone ends on the best member; the floor keeps the others in "
               "the mix, where fusion gains, and lets a member come back when the stream "
               "drifts. 0.3 since the default holds eleven members, several of them weak on any "
               "one stream: at 0.6 their floor cost 0.005 of Recall@10 on MovieLens-100K.",
               0, 0.99},
    OptionSpec{"ensemble.reward_samples", T::kInt, "100",
               "Negatives each member's reward ranks the event's item against, to estimate its "
               "rank in a full ranking. A judged event scores members x (this + 1) items.",
               1, 100000},
    OptionSpec{"ensemble.judge_rate", T::kFloat, "0.1",
               "Fraction of the eligible events on which the members are judged (drawn per "
               "event, reproducibly). Judging costs more than the members' learning; the "
               "weights need far fewer judgements than a stream has events.",
               1e-6, 1},
    OptionSpec{"ensemble.reward_k", T::kFloat, "10",
               "A member's reward is 1 when the item's estimated full rank is below this: the "
               "K of the Recall@K the weights chase.",
               1e-3, 1e9},
    OptionSpec{"ensemble.reward_pool", T::kInt, "100000",
               "Recent positive events whose items the negatives are drawn from (a ring): all "
               "of MovieLens-100K, about 14 h of Globo clicks, near the 48 h that a news "
               "ranking considers.",
               1, 100000000},
    OptionSpec{"ensemble.reward_history", T::kInt, "100",
               "A user's most recent distinct items kept out of the reward's negatives (replay "
               "and the server never rank consumed items); their number also places the user "
               "in a segment.",
               1, 100000},
    OptionSpec{"ensemble.segments", T::kString, "5",
               "Bounds on a user's number of earlier distinct items that split users into "
               "segments with weights of their own, comma-separated and increasing: 5 gives "
               "users with 1-4 items and users with 5 or more (users never seen take the first "
               "segment's weights); empty = one set of weights. On news the trend serves light "
               "users best, personal signals the others.",
               0, 0},
    OptionSpec{"ensemble.rrf_k", T::kFloat, "60",
               "The k of reciprocal-rank fusion; 60 as in Cormack, Clarke and Buettcher (2009).", 0,
               1e6},
    OptionSpec{"ensemble.rrf_depth", T::kInt, "100",
               "Ranks of each member that count in rrf fusion; items below them get 0 from it. "
               "Bounds the partial sort.",
               1, 1000000},

    // rank: the re-ranking stage (rank/rerank.h), applied to a model's top-K list.
    OptionSpec{"rank.diversity", T::kFloat, "0",
               "Weight of novelty against relevance when a top-K list is re-ranked by maximal "
               "marginal relevance; the MMR lambda is 1 - diversity. 0 keeps the model's order "
               "and costs nothing; 1 takes the best item, then each next one least like those "
               "listed. 0 by default: diversity costs recall. MovieLens-100K online, genres as "
               "categories, Recall@10 / genre ILD at 0, 0.1, 0.3, 0.5: item_knn 0.184 / 0.79, "
               "0.182 / 0.82, 0.173 / 0.87, 0.154 / 0.92; mf 0.158 / 0.79, 0.157 / 0.84, "
               "0.145 / 0.90, 0.122 / 0.95.",
               0, 1},
    OptionSpec{"rank.candidates", T::kInt, "1000",
               "Items a model proposes for a recommendation in the server (two-stage serving): "
               "the model's own top items (popularity's, item_knn's co-occurring items, an "
               "ensemble's members' in turn), which it then ranks and re-ranks. Models without "
               "a candidate source rank the whole catalogue (fm, seq), or what rank.retrieval "
               "finds in an index of their item vectors (mf).",
               1, 10000000},
    OptionSpec{"rank.retrieval", T::kEnum, "auto",
               "How a model that scores by an inner product and proposes no candidates (mf) "
               "finds the items it ranks (its best k, a margin for rounding, and the re-ranking "
               "pool when there is one): scan = it scores the whole catalogue; exact = a "
               "brute-force index of its item vectors, kept current as it learns (the same "
               "lists as the scan, the oracle of hnsw); hnsw = an HNSW graph of them "
               "(approximate), maintained from the first item; auto = exact below "
               "rank.hnsw_min_items items, then an HNSW graph built over the vectors learned by "
               "then and maintained, for live instances; an ensemble's member (which a "
               "request may name) gets an exact index while it has at most "
               "rank.hnsw_min_items items, and is scanned above. Every search falls back to "
               "the exact scan of the admitted items when a filter (seen, unavailable, "
               "category) admits too few for the graph.",
               0, 0, "auto|scan|exact|hnsw"},
    OptionSpec{"rank.hnsw_min_items", T::kInt, "200000",
               "With rank.retrieval=auto, the catalogue size (items with a vector) at which the "
               "HNSW graph is built over the vectors learned by then; below it retrieval is "
               "exact (the scan's lists). Measured on mf learned from two events per item "
               "(docs/perf.md): at 100 K items the exact index answers in 1.4 ms with every "
               "item right, the graph in 0.94 ms at recall@10 0.91 (ef 400), so the graph only "
               "pays where the exact scan no longer fits a request's budget (15 ms at 1 M items, "
               "where the graph answers in 0.93 ms at recall@10 0.69). Building it costs "
               "0.2-1 ms per item under the write lock, once (and at each restart: 358 s for "
               "1 M items).",
               1, 1000000000},
    OptionSpec{"rank.hnsw_ef", T::kInt, "400",
               "Candidate list of an HNSW search (raised to the items asked for): the "
               "recall/latency knob. On mf learned from two events per item, recall@10 against "
               "the exact answer at 100 K items: 0.61 at 100 (0.24 ms), 0.79 at 200, 0.91 at "
               "400 (0.94 ms), 0.97 at 800 (2.0 ms); at 20 K items 0.98 at 400 (docs/perf.md).",
               1, 100000},
    OptionSpec{"rank.hnsw_m", T::kInt, "16",
               "Links per HNSW node (twice that on the base layer). 16 is hnswlib's middle "
               "ground; 32 gains about 0.03 recall@10 at equal ef but doubles query and build "
               "time.",
               2, 256},
    OptionSpec{"rank.pool", T::kInt, "5000",
               "Best-scored candidates the re-ranking chooses from. A re-ranked list costs at "
               "most (K - 1) * pool similarity evaluations, usually far fewer; scores are "
               "min-max normalized over the pool, so a small pool spreads the top scores wider "
               "and diversifies less (mf at diversity 0.3 on MovieLens-100K: Recall@10 0.151, "
               "ILD 0.87 with 200; 0.145, 0.90 with 5000). 5000 covers such a catalogue whole.",
               1, 100000000},
    OptionSpec{"rank.category_cap", T::kInt, "0",
               "At most this many items of any one category in a list; 0 = no cap. Items "
               "without categories are never capped, and a list comes out short when the pool "
               "runs out of eligible items.",
               0, 1000000},
    OptionSpec{"rank.similarity", T::kEnum, "category",
               "What makes two items alike for re-ranking: category = Jaccard of their category "
               "sets (item metadata: replay --items); embedding = cosine of the model's item "
               "vectors, clamped at 0 (mf); knn = item_knn's co-occurrence similarity. The "
               "model's own similarities spread lists over the catalogue more than over genres: "
               "item_knn with knn at diversity 0.3 lifts Recall@10 from 0.184 to 0.187 and "
               "coverage from 0.55 to 0.60 on MovieLens-100K.",
               0, 0, "category|embedding|knn"},

    // serve: the HTTP server of `liverec serve`.
    OptionSpec{"serve.host", T::kString, "127.0.0.1",
               "Address to listen on. Loopback by default: exposing the API is a deliberate "
               "choice (0.0.0.0), and needs an API key (`liverec keys add`): without one the "
               "server refuses any address but loopback (protected mode)."},
    OptionSpec{"serve.port", T::kInt, "8080", "TCP port; 0 picks a free one (printed at start).", 0,
               65535},
    OptionSpec{"serve.data_dir", T::kString, "./liverec-data",
               "Directory of the event log (log/) and snapshots (snapshots/); created if "
               "missing. One server per directory (a lock file enforces it)."},
    OptionSpec{"serve.threads", T::kInt, "64",
               "HTTP connection threads started at once. A thread serves one connection for as "
               "long as it is kept alive (up to 10,000 requests, serve.idle_timeout idle); more "
               "are started as connections arrive, up to serve.max_connections.",
               1, 1024},
    OptionSpec{"serve.malloc_arenas", T::kInt, "0",
               "Most glibc malloc arenas of the server process; 0 = one per core. glibc's own "
               "default (eight per core) let a half-hour soak's 70 threads hold 29 arena heaps "
               "of 64 MB for a live heap of 200 MB; blocks of 1 MiB and more are mapped on their "
               "own and returned when freed. MALLOC_ARENA_MAX in the environment wins.",
               0, 1024},
    OptionSpec{"serve.max_connections", T::kInt, "512",
               "Most HTTP connections served at once (each holds a thread); one more is answered "
               "503 and closed. Bounds the threads and memory slow clients can take.",
               1, 65536},
    OptionSpec{"serve.max_connections_per_client", T::kInt, "64",
               "Most HTTP connections from one client address at once; one more is answered 503 "
               "and closed, so one client cannot hold every connection of serve.max_connections.",
               1, 65536},
    OptionSpec{"serve.max_streams", T::kInt, "8",
               "Most GET /v1/stats/stream answers (the dashboard's live charts) open at once; "
               "one more is answered 429. Each holds a connection and its thread for as long "
               "as its page stays open, and costs one /v1/stats a second; 8 is a few operators "
               "with a tab or two each. Streams end when the server stops.",
               1, 1024},
    OptionSpec{"serve.request_timeout", T::kDuration, "10s",
               "Deadline to receive one whole request, headers and body, counted from its "
               "first byte (408 after it): a client trickling bytes cannot hold a thread "
               "longer. 10 s receives a 64 MiB body at 50 Mbit/s.",
               0.001, 86400},
    OptionSpec{"serve.idle_timeout", T::kDuration, "5s",
               "How long a keep-alive connection may wait between requests before it is closed.",
               0.001, 86400},
    OptionSpec{"serve.cors_origins", T::kString, "",
               "Comma-separated browser origins (https://app.example) allowed to call the API: "
               "their CORS preflights are answered and their answers carry "
               "Access-Control-Allow-Origin. A write from any other Origin is refused (403), "
               "so a web page cannot forge one. Empty: no browser origin may write."},
    OptionSpec{"serve.max_body_bytes", T::kInt, "67108864",
               "Largest request body in bytes, counted after gzip decompression (413 above it, "
               "decided from Content-Length before reading when it is declared). 64 MiB holds "
               "a batch of max_batch_events events of a few hundred bytes each.",
               1024, 1 << 30},
    OptionSpec{"serve.max_batch_events", T::kInt, "100000",
               "Most events in one POST /v1/events (413 above it).", 1, 10000000},
    OptionSpec{"serve.max_k", T::kInt, "1000", "Largest k a recommendation request may ask for.", 1,
               100000},
    OptionSpec{"serve.tls_cert", T::kString, "",
               "PEM certificate chain for HTTPS (with serve.tls_key): the server then speaks "
               "TLS 1.2+ only. SIGHUP reads both files again; open connections keep their "
               "handshake. Empty: plain HTTP, for loopback or behind a TLS proxy."},
    OptionSpec{"serve.tls_key", T::kString, "",
               "PEM private key of serve.tls_cert (readable by the server's user only)."},
    OptionSpec{"serve.timeout", T::kDuration, "30s",
               "Write timeout of one HTTP answer (a client that does not read it is dropped).",
               0.001, 86400},
    // privacy: pseudonyms of user ids (engine/pseudonyms.h).
    OptionSpec{"privacy.pseudonymize", T::kBool, "false",
               "Replace every user id, before anything is logged or stored, by a keyed hash "
               "(BLAKE2b-128 under privacy.key_file, or a key generated into "
               "<data_dir>/privacy.key on first start): no raw user id reaches the data "
               "directory, the logs or /metrics, while the API takes and answers the client's "
               "ids. Fixed for a data directory's life (the server refuses to switch)."},
    OptionSpec{"privacy.key_file", T::kString, "",
               "The pseudonym key: a file of 64 hex digits (openssl rand -hex 32), kept outside "
               "the data directory if backups of it must not link pseudonyms to users. Empty: "
               "<data_dir>/privacy.key."},
    OptionSpec{"privacy.retention", T::kDuration, "0",
               "Events and decisions older than this (in stream time: the latest event's "
               "timestamp minus it) are dropped as a user's deletion drops a user's: erased from "
               "the log and the snapshots, and every model replayed without them; again each "
               "time the cut-off moved by a tenth of it. The log keeps an empty placeholder of "
               "20 bytes per erased record. 0: kept for ever.",
               0, 1e12},
    // storage: encryption at rest (store/sealing.h, docs/formats/event_log.md).
    OptionSpec{"storage.key_file", T::kString, "",
               "Seal every log record and snapshot section written from now on with "
               "XChaCha20-Poly1305 under this key: a file of 64 hex digits (openssl rand -hex "
               "32), kept outside the data directory. Damage, truncation or a wrong key is an "
               "error naming the file and record, never wrong data. To rotate, write the new key "
               "into this file and send SIGHUP: new writes are sealed with it, and the key in "
               "use until then stays readable (at the next start, name it in "
               "storage.old_key_files until a snapshot under the new key covers the log). "
               "Empty: plain files, as before; a sealed data directory then refuses to open."},
    OptionSpec{"storage.old_key_files", T::kString, "",
               "Comma-separated key files still accepted for reading, never for writing: the "
               "keys before a rotation. Needed until a snapshot under the new key covers the "
               "log (POST /v1/admin/snapshot, or the one at shutdown); after that only a "
               "rollback to an older snapshot, or liverec export of older segments, needs "
               "them, until snapshot.keep and the log's pruning drop those files."},
    // auth: API keys, user tokens and rate limits (docs/http_api.md, "Keys and roles").
    OptionSpec{"auth.rate_limit", T::kFloat, "0",
               "Requests per second one API key may make (a token bucket per key; 429 with "
               "Retry-After beyond it), and the user tokens of one user together. 0: no limit, "
               "since a key's holder is trusted by default and a limit fitted to one deployment "
               "would cut another's load.",
               0, 1e9},
    OptionSpec{"auth.rate_burst", T::kInt, "100",
               "Requests one API key may make back to back before auth.rate_limit paces it (the "
               "bucket's size): a client that was idle may send this many at once.",
               1, 1000000000},
    OptionSpec{"auth.max_token_ttl", T::kDuration, "24h",
               "Longest lifetime a user token may be given (POST /v1/tokens ttl_s). A day: a "
               "browser session asks for a new one, and a leaked token expires.",
               1, 31536000},
    OptionSpec{"engine.models", T::kString, "ensemble",
               "Live model instances, comma-separated: a type name, or name:type for a named "
               "instance (mf_wide:mf) whose options are set as mf_wide.<field>. An ensemble's "
               "members (ensemble.members: popularity, item_knn, transitions, mf, fm, ...) serve "
               "by their names "
               "too (model=item_knn), learned once, inside it. The ensemble is the most "
               "accurate choice (docs/quality.md); `popularity,item_knn,mf` learns about three "
               "times faster (docs/perf.md)."},
    OptionSpec{"engine.default_model", T::kString, "ensemble",
               "The instance (or ensemble member) that answers recommendations that name none."},
    OptionSpec{"engine.fallback_model", T::kString, "popularity",
               "The instance (or ensemble member) that answers for users without history "
               "(marked as a fallback) and fills short lists."},
    OptionSpec{"engine.event_types", T::kString,
               "view:1,click:1,rating:1,like:2,add_to_cart:2,purchase:3,skip:-1,dislike:-1",
               "Event types and their weights: a positive weight scales what the models learn "
               "from the event, a negative one makes it negative feedback (mf learns it as a "
               "negative; count models ignore it). Events without a type get weight 1."},
    OptionSpec{"engine.unknown_event_types", T::kEnum, "accept",
               "What to do with an event type missing from engine.event_types: accept it with "
               "weight 1, or reject the event (catches typos in clients).",
               0, 0, "accept|reject"},
    OptionSpec{"engine.queue_capacity", T::kInt, "200000",
               "Most events accepted but not yet learned; a batch that does not fit is refused "
               "with 429 and Retry-After. Bounds memory at a few hundred bytes per event.",
               1, 100000000},
    OptionSpec{"engine.apply_batch", T::kInt, "512",
               "Most events learned under one hold of the write lock: readers wait at most one "
               "batch.",
               1, 1000000},
    OptionSpec{"engine.dedup_ids", T::kInt, "1000000",
               "How many of the most recent event ids are remembered to drop repeats (a client "
               "retrying a batch). 0 turns de-duplication off.",
               0, 1000000000},
    // feedback: decisions (served lists) joined with the events that cite them.
    OptionSpec{"feedback.record_decisions", T::kBool, "true",
               "Record every answer of GET /v1/recommendations as a decision in the event log "
               "(its items, scores and probabilities, model, experiment and arm), so that "
               "events citing its recommendation_id join it: clicks, impressions, experiment "
               "figures. Decisions are logged without waiting for the disk: a crash may lose "
               "the last few, whose events then count as unmatched."},
    OptionSpec{"feedback.join_window", T::kDuration, "10min",
               "Stream time after a decision during which events citing it join it; then its "
               "shown items without a click become impressions without a click (negatives for "
               "models that learn them, see feedback.negative_weight)."},
    OptionSpec{"feedback.max_open", T::kInt, "1000000",
               "Most decisions open at once; beyond, the oldest close early. Bounds memory at "
               "about 200 bytes per decision of 10 items.",
               1, 100000000},
    OptionSpec{"feedback.negative_weight", T::kFloat, "0",
               "Weight of an impression without a click as a negative event for the models that "
               "learn negatives (mf, fm): they learn it as an event of weight -w. 0 learns "
               "nothing from impressions: on simulated users with position-biased clicks, 0.1 "
               "and 0.5 lowered mf's CTR from 0.032 to 0.029 and 0.027, as most items shown and "
               "not clicked were never looked at (docs/quality.md).",
               0, 100},
    OptionSpec{"engine.user_idle_ttl", T::kDuration, "0",
               "Users without an event or a PUT for longer than this much stream time are "
               "forgotten: their id, history, metadata and every model's state of theirs (rows, "
               "recent items) go, and their id goes to the next new user, so that memory stays "
               "bounded on a stream of endless new users (anonymous visitors). A forgotten user "
               "who comes back starts as new. What their events taught shared parameters "
               "stays. Checked 16 times per TTL of stream time. 0 keeps every user.",
               0, 1e12},
    OptionSpec{"engine.item_idle_ttl", T::kDuration, "0",
               "Items that no event has named (and that were not PUT) for longer than this much "
               "stream time are forgotten: their id, metadata and every model's state of them "
               "(counts, neighbour and successor entries, rows) go, they leave users' histories, "
               "and their id goes to the next new item, which inherits nothing of them, so that "
               "memory stays bounded on a stream of endless new items (news, marketplaces). A "
               "forgotten item that comes back starts as new. Checked 16 times per TTL of stream "
               "time. 0 keeps every item.",
               0, 1e12},
    OptionSpec{"engine.max_future", T::kDuration, "5min",
               "How far past the server's clock an event's timestamp may be. Stream time only "
               "moves forward, so one event far in the future would age every user and decay "
               "out every count; 5 min covers clients whose clocks drift.",
               0, 1e12},
    OptionSpec{"engine.future_events", T::kEnum, "reject",
               "An event beyond engine.max_future: reject (400 naming the field timestamp) or "
               "clamp (stamped with the server's clock instead).",
               0, 0, "reject|clamp"},
    OptionSpec{"engine.history_length", T::kInt, "100",
               "Recent events kept per user for GET /v1/users/{id} and explanations.", 1, 100000},

    // log: the event log, the source of truth.
    OptionSpec{"log.sync", T::kEnum, "always",
               "When an event counts as durable and is acknowledged: always = after the fsync of "
               "its group commit; interval = after the next periodic fsync (log.sync_interval); "
               "never = once written to the OS (survives a crash of liverec, not of the machine).",
               0, 0, "always|interval|never"},
    OptionSpec{"log.retain", T::kEnum, "all",
               "What of the event log is kept: all = every record from the first (a user's "
               "deletion replays the models from the newest snapshot before the user's first "
               "record, so it needs the log behind every snapshot; the log then grows with the "
               "stream); snapshots = only what the kept snapshots need (bounded disk, but a user "
               "whose records were pruned cannot be deleted: DELETE /v1/users/{id} fails).",
               0, 0, "all|snapshots"},
    OptionSpec{"log.sync_interval", T::kDuration, "5ms",
               "Longest wait for the periodic fsync under log.sync=interval: bounds the "
               "acknowledgement latency while one fsync covers every event of the interval.",
               0.0001, 60},
    OptionSpec{"log.segment_size", T::kInt, "67108864",
               "Bytes after which the log starts a new segment file; old segments are deleted "
               "once every retained snapshot covers them.",
               4096, int64_t{1} << 40},
    // The server's diagnostic lines on stderr share the scope; they are not the event log.
    OptionSpec{"log.format", T::kEnum, "text",
               "Format of the server's diagnostic lines on stderr (startup, recovery, "
               "snapshots, errors, requests; not the event log): text = `liverec: message "
               "key=value ...` for a terminal; json = one JSON object per line (ts, level, msg "
               "and fields) for a log shipper.",
               0, 0, "text|json"},
    OptionSpec{"log.requests", T::kBool, "true",
               "One line per HTTP request: method, route (ids replaced by {id}, no query "
               "string, so no user id), status, duration_ms, bytes, request_id (X-Request-ID "
               "taken or made, returned in the answer) and key_id. One write(2) per line, made "
               "after the answer is sent (docs/perf.md has its cost); off for a quieter log.",
               0, 0},

    // snapshot: model versions and the starting point of recovery.
    OptionSpec{"snapshot.interval_events", T::kInt, "300000",
               "Write a snapshot after this many applied log records (0: only on request and at "
               "shutdown). Recovery replays at most this many records, about 70,000 a second "
               "with the default ensemble: restart after 3 M events takes 6.7 s with 300,000 "
               "and 9.3 s with 500,000, which ingests 2.5 % faster (docs/perf.md).",
               0, int64_t{1} << 50},
    OptionSpec{"snapshot.keep", T::kInt, "3",
               "Snapshots kept (the newest ones); older ones are deleted, and with "
               "log.retain=snapshots the log segments only they needed too.",
               1, 100000},

    // metrics: live test-then-train evaluation in the server.
    OptionSpec{"metrics.k", T::kInt, "10", "Cut-off K of the live Recall@K and NDCG@K.", 1, 1000},
    OptionSpec{"metrics.sample_rate", T::kFloat, "0.1",
               "Share of events ranked by every live model before it learns them. Ranking is a "
               "full scan of the catalogue, so it is sampled, and skipped while events queue "
               "up (learning comes first); 1 ranks every event of a calm stream.",
               0, 1},

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
