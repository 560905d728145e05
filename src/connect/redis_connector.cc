#include "connect/redis_connector.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <utility>

#include "common/mutex.h"
#include "connect/engine_values.h"

namespace liverec::connect {
namespace {

// Record ids are "1-<n>": XADD's "<ms>-*" form (Redis 7.0) keeps the time part fixed and lets
// Redis number the records from 1-0, so positions (n + 1) are contiguous and independent of
// clocks. "0-0", before every record, is position 0.
constexpr int kMinMajorVersion = 7;

// Each script runs as one atomic step in Redis. KEYS and ARGV are as each comment says;
// positions travel as decimal strings (Lua numbers are doubles, exact to 2^53).

// Position <-> id, and the stream's last position ever given (0 when the stream does not
// exist): XINFO STREAM's last-generated-id, which a trim does not move back.
constexpr const char* kPositionFunctions = R"lua(
local function pos_of(id)
  if string.sub(id, 1, 2) ~= '1-' then return 0 end
  return tonumber(string.sub(id, 3)) + 1
end
local function id_of(pos)
  if pos == 0 then return '0-0' end
  return '1-' .. string.format('%.0f', pos - 1)
end
local function str(pos) return string.format('%.0f', pos) end
local function last_position(key)
  if redis.call('EXISTS', key) == 0 then return 0 end
  local info = redis.call('XINFO', 'STREAM', key)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then return pos_of(info[i + 1]) end
  end
  return 0
end
-- The consumer groups of a stream as {name, position, ...} (none when there is no stream).
local function groups(key)
  local out = {}
  if redis.call('EXISTS', key) == 0 then return out end
  for _, group in ipairs(redis.call('XINFO', 'GROUPS', key)) do
    local name, position
    for i = 1, #group, 2 do
      if group[i] == 'name' then name = group[i + 1] end
      if group[i] == 'last-delivered-id' then position = pos_of(group[i + 1]) end
    end
    table.insert(out, name)
    table.insert(out, position)
  end
  return out
end
local function append(key, first_arg)
  local first = nil
  for i = first_arg, #ARGV do
    local id = redis.call('XADD', key, '1-*', 'p', ARGV[i])
    if first == nil then first = pos_of(id) end
  end
  return str(first)
end
)lua";

// KEYS: stream, batch key ("" for none). ARGV: de-duplication window (ms), payloads...
// Returns the first position of the batch (a repeat returns the first append's).
constexpr const char* kAppendScript = R"lua(
if KEYS[2] ~= '' then
  local seen = redis.call('GET', KEYS[2])
  if seen then return seen end
end
local first = append(KEYS[1], 2)
if KEYS[2] ~= '' then redis.call('SET', KEYS[2], first, 'PX', ARGV[1]) end
return first
)lua";

// KEYS: stream. ARGV: expected last position, payloads... Returns the first position, or
// the error "fenced: ..." when the last position is another.
constexpr const char* kAppendIfLastScript = R"lua(
local last = last_position(KEYS[1])
if last ~= tonumber(ARGV[1]) then
  return redis.error_reply('fenced: the last position is ' .. str(last) .. ', not ' .. ARGV[1])
end
return append(KEYS[1], 2)
)lua";

// KEYS: stream. Returns the last position.
constexpr const char* kLastScript = R"lua(
return str(last_position(KEYS[1]))
)lua";

// KEYS: stream. ARGV: consumer, position. Creates the consumer's group at the position, or
// moves it forward; never back. Positions count the records ever added, so they are the
// group's entries-read too, and `XINFO GROUPS` shows each consumer's lag.
constexpr const char* kCommitScript = R"lua(
local upto = tonumber(ARGV[2])
local g = groups(KEYS[1])
for i = 1, #g, 2 do
  if g[i] == ARGV[1] then
    if g[i + 1] < upto then
      redis.call('XGROUP', 'SETID', KEYS[1], ARGV[1], id_of(upto), 'ENTRIESREAD', str(upto))
    end
    return 'ok'
  end
end
redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], id_of(upto), 'MKSTREAM', 'ENTRIESREAD', str(upto))
return 'ok'
)lua";

// KEYS: stream. ARGV: consumer. Returns its position ("0" when it has none).
constexpr const char* kCommittedScript = R"lua(
local g = groups(KEYS[1])
for i = 1, #g, 2 do
  if g[i] == ARGV[1] then return str(g[i + 1]) end
end
return '0'
)lua";

// KEYS: stream. Drops the records every group has passed; returns that position ("0" when the
// stream has no group).
constexpr const char* kTrimScript = R"lua(
local g = groups(KEYS[1])
if #g == 0 then return '0' end
local low = nil
for i = 2, #g, 2 do
  if low == nil or g[i] < low then low = g[i] end
end
redis.call('XTRIM', KEYS[1], 'MINID', id_of(low + 1))
return str(low)
)lua";

// KEYS: lease, token counter. ARGV: holder, ttl (ms). Returns {'ok', token} or {'held', holder}.
constexpr const char* kAcquireScript = R"lua(
local current = redis.call('GET', KEYS[1])
if current then
  local space = string.find(current, ' ', 1, true)
  local token = string.sub(current, 1, space - 1)
  local holder = string.sub(current, space + 1)
  if holder ~= ARGV[1] then return {'held', holder} end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {'ok', token}
end
local token = tostring(redis.call('INCR', KEYS[2]))
redis.call('SET', KEYS[1], token .. ' ' .. ARGV[1], 'PX', ARGV[2])
return {'ok', token}
)lua";

// KEYS: lease. ARGV: "<token> <holder>", ttl (ms). Returns 1 when renewed, 0 when fenced.
constexpr const char* kRenewScript = R"lua(
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
)lua";

// KEYS: lease. ARGV: "<token> <holder>". Deletes the lease if that value still holds it.
constexpr const char* kReleaseScript = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
)lua";

struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

struct ContextDeleter {
  void operator()(redisContext* context) const { redisFree(context); }
};

timeval ToTimeval(std::chrono::milliseconds ms) {
  return timeval{static_cast<time_t>(ms.count() / 1000),
                 static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

std::string_view ReplyText(const redisReply& reply) {
  return std::string_view(reply.str, reply.len);
}

StatusOr<Position> ParsePosition(std::string_view text) {
  const std::optional<uint64_t> position = ParseUint(text);
  if (!position) {
    return Internal("redis: expected a position, got '" + std::string(text.substr(0, 64)) + "'");
  }
  return *position;
}

// The record id of a position, and back (see kPositionFunctions).
std::string IdOf(Position position) {
  return position == 0 ? "0-0" : "1-" + std::to_string(position - 1);
}
StatusOr<Position> PositionOf(std::string_view id) {
  if (!id.starts_with("1-")) {
    return Internal("redis: record id '" + std::string(id) + "' is not a liverec id");
  }
  LIVEREC_ASSIGN_OR_RETURN(const Position seq, ParsePosition(id.substr(2)));
  return seq + 1;
}

// Redis takes one bulk string of up to proto-max-bulk-len (512 MB by default); records are
// kept far below that by ConnectorOptions::max_record_bytes.
constexpr size_t kMaxRecordBytes = size_t{512} << 20;

// The stream entry's one field, holding the record's bytes.
constexpr std::string_view kPayloadField = "p";

class RedisConnector final : public Connector {
 public:
  RedisConnector(std::string host, int port, ConnectorOptions options)
      : host_(std::move(host)), port_(port), options_(std::move(options)) {}

  Status Connect() LIVEREC_EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    LIVEREC_RETURN_IF_ERROR(ConnectLocked());
    Reply info = CommandLocked({"INFO", "server"});
    if (info == nullptr || info->type != REDIS_REPLY_STRING) return Error("INFO server", info);
    const std::string_view text = ReplyText(*info);
    constexpr std::string_view kVersionField = "redis_version:";
    const size_t at = text.find(kVersionField);
    const int major =
        at == std::string_view::npos ? 0 : std::atoi(text.data() + at + kVersionField.size());
    if (major < kMinMajorVersion) {
      return FailedPrecondition(Where() + "needs Redis 7.0 or later (XADD with '<ms>-*')");
    }
    if (options_.require_durable) {
      for (const auto& [key, wanted] :
           {std::pair<std::string, std::string>{"appendonly", "yes"}, {"appendfsync", "always"}}) {
        Reply value = CommandLocked({"CONFIG", "GET", key});
        if (value == nullptr || value->type != REDIS_REPLY_ARRAY || value->elements != 2 ||
            value->element[1]->type != REDIS_REPLY_STRING) {
          return FailedPrecondition(Where() + "cannot read the setting '" + key +
                                    "' (CONFIG GET), so cannot tell whether appends are durable");
        }
        if (ReplyText(*value->element[1]) != wanted) {
          return FailedPrecondition(Where() + "'" + key + "' is '" +
                                    std::string(ReplyText(*value->element[1])) + "', expected '" +
                                    wanted +
                                    "': acknowledged events would not survive a crash of Redis");
        }
      }
    }
    return Status::Ok();
  }

  std::string_view engine() const override { return "redis"; }

  size_t max_record_bytes() const override {
    return std::min(options_.max_record_bytes, kMaxRecordBytes);
  }

 private:
  Status DoAppend(std::string_view stream, std::string_view batch_id,
                  std::span<const std::string> payloads,
                  std::vector<Position>* positions) override {
    std::vector<std::string> args = {
        StreamKey(stream),
        batch_id.empty() ? std::string() : Key("b", stream) + ":" + std::string(batch_id),
        std::to_string(options_.dedup_window.count())};
    args.insert(args.end(), payloads.begin(), payloads.end());
    LIVEREC_ASSIGN_OR_RETURN(const std::string first, Eval(kAppend, 2, args));
    return FillPositions(first, payloads.size(), positions);
  }

  Status DoAppendIfLast(std::string_view stream, Position expected_last,
                        std::span<const std::string> payloads,
                        std::vector<Position>* positions) override {
    std::vector<std::string> args = {StreamKey(stream), std::to_string(expected_last)};
    args.insert(args.end(), payloads.begin(), payloads.end());
    LIVEREC_ASSIGN_OR_RETURN(const std::string first, Eval(kAppendIfLast, 1, args));
    return FillPositions(first, payloads.size(), positions);
  }

  Status DoRead(std::string_view stream, Position after, size_t max, std::chrono::milliseconds wait,
                std::vector<Record>* out) override LIVEREC_EXCLUDES(mu_) {
    std::vector<std::string> args = {"XREAD", "COUNT", std::to_string(max)};
    if (wait.count() > 0) {
      args.insert(args.end(), {"BLOCK", std::to_string(wait.count())});
    }
    args.insert(args.end(), {"STREAMS", StreamKey(stream), IdOf(after)});
    MutexLock lock(&mu_);
    // The socket waits for the block as well as for the command.
    Reply reply = CommandLocked(args, wait + options_.timeout);
    if (reply == nullptr || reply->type == REDIS_REPLY_ERROR) return Error("XREAD", reply);
    if (reply->type == REDIS_REPLY_NIL) return Status::Ok();  // waited, nothing came
    // [[key, [[id, [field, value]], ...]]]
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 1 ||
        reply->element[0]->elements != 2) {
      return Error("XREAD: unexpected reply", reply);
    }
    const redisReply& entries = *reply->element[0]->element[1];
    for (size_t i = 0; i < entries.elements; ++i) {
      const redisReply& entry = *entries.element[i];
      if (entry.type != REDIS_REPLY_ARRAY || entry.elements != 2 ||
          entry.element[1]->type != REDIS_REPLY_ARRAY || entry.element[1]->elements != 2 ||
          ReplyText(*entry.element[1]->element[0]) != kPayloadField) {
        return Corruption(Where() + "stream '" + std::string(stream) +
                          "' holds an entry liverec did not write");
      }
      LIVEREC_ASSIGN_OR_RETURN(const Position position, PositionOf(ReplyText(*entry.element[0])));
      out->push_back(Record{position, std::string(ReplyText(*entry.element[1]->element[1]))});
    }
    return Status::Ok();
  }

  StatusOr<Position> DoLast(std::string_view stream) override {
    LIVEREC_ASSIGN_OR_RETURN(const std::string last, Eval(kLast, 1, {StreamKey(stream)}));
    return ParsePosition(last);
  }

  Status DoCommit(std::string_view stream, std::string_view consumer, Position upto) override {
    return Eval(kCommit, 1, {StreamKey(stream), std::string(consumer), std::to_string(upto)})
        .status();
  }

  StatusOr<Position> DoCommitted(std::string_view stream, std::string_view consumer) override {
    LIVEREC_ASSIGN_OR_RETURN(const std::string position,
                             Eval(kCommitted, 1, {StreamKey(stream), std::string(consumer)}));
    return ParsePosition(position);
  }

  StatusOr<Position> DoTrim(std::string_view stream) override {
    LIVEREC_ASSIGN_OR_RETURN(const std::string low, Eval(kTrim, 1, {StreamKey(stream)}));
    return ParsePosition(low);
  }

  StatusOr<Lease> DoAcquire(std::string_view name, std::string_view holder,
                            std::chrono::milliseconds ttl) override LIVEREC_EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    Reply reply = EvalLocked(
        kAcquire, 2,
        {Key("lease", name), Key("token", name), std::string(holder), std::to_string(ttl.count())});
    if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
      return Error("acquiring lease '" + std::string(name) + "'", reply);
    }
    const std::string_view kind = ReplyText(*reply->element[0]);
    const std::string_view value = ReplyText(*reply->element[1]);
    if (kind != "ok") {
      return AlreadyExists("lease '" + std::string(name) + "' is held by '" + std::string(value) +
                           "'");
    }
    LIVEREC_ASSIGN_OR_RETURN(const Position token, ParsePosition(value));
    return Lease{std::string(name), std::string(holder), token};
  }

  Status DoRenew(const Lease& lease, std::chrono::milliseconds ttl) override {
    LIVEREC_ASSIGN_OR_RETURN(
        const std::string renewed,
        Eval(kRenew, 1, {Key("lease", lease.name), HeldValue(lease), std::to_string(ttl.count())}));
    if (renewed != "1") {
      return FailedPrecondition("fenced: lease '" + lease.name + "' with token " +
                                std::to_string(lease.token) + " is no longer held by '" +
                                lease.holder + "'");
    }
    return Status::Ok();
  }

  Status DoRelease(const Lease& lease) override {
    return Eval(kRelease, 1, {Key("lease", lease.name), HeldValue(lease)}).status();
  }

  enum ScriptId {
    kAppend,
    kAppendIfLast,
    kLast,
    kCommit,
    kCommitted,
    kTrim,
    kAcquire,
    kRenew,
    kRelease,
    kNumScripts
  };

  // Every script starts with the position functions (the lease scripts leave them unused).
  static std::string ScriptText(ScriptId id) {
    static constexpr const char* kScripts[kNumScripts] = {
        kAppendScript, kAppendIfLastScript, kLastScript,  kCommitScript, kCommittedScript,
        kTrimScript,   kAcquireScript,      kRenewScript, kReleaseScript};
    return std::string(kPositionFunctions) + kScripts[id];
  }

  // The lease key's value while `lease` holds it: "<token> <holder>".
  static std::string HeldValue(const Lease& lease) {
    return std::to_string(lease.token) + " " + lease.holder;
  }

  std::string Key(std::string_view kind, std::string_view name) const {
    return options_.prefix + ":" + std::string(kind) + ":" + std::string(name);
  }
  std::string StreamKey(std::string_view stream) const { return Key("s", stream); }

  std::string Where() const { return "redis " + host_ + ":" + std::to_string(port_) + ": "; }

  static Status FillPositions(const std::string& first_text, size_t n,
                              std::vector<Position>* positions) {
    LIVEREC_ASSIGN_OR_RETURN(const Position first, ParsePosition(first_text));
    for (size_t i = 0; i < n; ++i) positions->push_back(first + i);
    return Status::Ok();
  }

  // Runs a script and returns its string (or integer) answer. A script's error becomes
  // kFailedPrecondition when it says "fenced", kInternal otherwise.
  StatusOr<std::string> Eval(ScriptId id, int num_keys, const std::vector<std::string>& args)
      LIVEREC_EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    Reply reply = EvalLocked(id, num_keys, args);
    if (reply != nullptr && reply->type == REDIS_REPLY_STRING)
      return std::string(ReplyText(*reply));
    if (reply != nullptr && reply->type == REDIS_REPLY_INTEGER) {
      return std::to_string(reply->integer);
    }
    if (reply != nullptr && reply->type == REDIS_REPLY_ERROR &&
        ReplyText(*reply).find("fenced") != std::string_view::npos) {
      return FailedPrecondition(Where() + std::string(ReplyText(*reply)));
    }
    return Error("script", reply);
  }

  // EVALSHA, loading the script first when Redis does not know it (at the first call, and
  // after a restart of Redis).
  Reply EvalLocked(ScriptId id, int num_keys, const std::vector<std::string>& args)
      LIVEREC_REQUIRES(mu_) {
    std::vector<std::string> command = {"EVALSHA", "", std::to_string(num_keys)};
    command.insert(command.end(), args.begin(), args.end());
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (shas_[id].empty()) {
        Reply loaded = CommandLocked({"SCRIPT", "LOAD", ScriptText(id)});
        if (loaded == nullptr || loaded->type != REDIS_REPLY_STRING) return loaded;
        shas_[id] = std::string(ReplyText(*loaded));
      }
      command[1] = shas_[id];
      Reply reply = CommandLocked(command);
      if (reply != nullptr && reply->type == REDIS_REPLY_ERROR &&
          ReplyText(*reply).starts_with("NOSCRIPT")) {
        shas_[id].clear();
        continue;
      }
      return reply;
    }
    return nullptr;
  }

  Status ConnectLocked() LIVEREC_REQUIRES(mu_) {
    context_.reset(redisConnectWithTimeout(host_.c_str(), port_, ToTimeval(options_.timeout)));
    if (context_ == nullptr) return Unavailable(Where() + "cannot allocate a connection");
    if (context_->err != 0) {
      const std::string why = context_->errstr;
      context_.reset();
      return Unavailable(Where() + why);
    }
    redisSetTimeout(context_.get(), ToTimeval(options_.timeout));
    return Status::Ok();
  }

  // Sends one command and returns its reply; nullptr when the connection failed (then the next
  // command connects again). Binary-safe: every argument is sent with its length.
  Reply CommandLocked(const std::vector<std::string>& args,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(0))
      LIVEREC_REQUIRES(mu_) {
    if (context_ == nullptr || context_->err != 0) {
      last_error_ = context_ == nullptr ? "not connected" : context_->errstr;
      if (!ConnectLocked().ok()) return nullptr;
    }
    const bool longer = timeout.count() > 0;
    if (longer) redisSetTimeout(context_.get(), ToTimeval(timeout));
    std::vector<const char*> argv;
    std::vector<size_t> lengths;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lengths.push_back(a.size());
    }
    Reply reply(static_cast<redisReply*>(redisCommandArgv(
        context_.get(), static_cast<int>(argv.size()), argv.data(), lengths.data())));
    if (reply == nullptr) {
      last_error_ = context_->errstr;
      context_.reset();
      return nullptr;
    }
    if (longer) redisSetTimeout(context_.get(), ToTimeval(options_.timeout));
    return reply;
  }

  // The Status for a failed command: kUnavailable when the connection failed, kInternal with
  // Redis' own message otherwise.
  Status Error(const std::string& what, const Reply& reply) LIVEREC_REQUIRES(mu_) {
    if (reply == nullptr) return Unavailable(Where() + what + ": " + last_error_);
    if (reply->type == REDIS_REPLY_ERROR) {
      return Internal(Where() + what + ": " + std::string(ReplyText(*reply)));
    }
    return Internal(Where() + what + ": unexpected reply of type " + std::to_string(reply->type));
  }

  const std::string host_;
  const int port_;
  const ConnectorOptions options_;
  Mutex mu_;
  std::unique_ptr<redisContext, ContextDeleter> context_ LIVEREC_GUARDED_BY(mu_);
  std::string shas_[kNumScripts] LIVEREC_GUARDED_BY(mu_);
  std::string last_error_ LIVEREC_GUARDED_BY(mu_);
};

}  // namespace

StatusOr<std::unique_ptr<Connector>> OpenRedisConnector(const std::string& host, int port,
                                                        const ConnectorOptions& options) {
  auto connector = std::make_unique<RedisConnector>(host, port, options);
  LIVEREC_RETURN_IF_ERROR(connector->Connect());
  return std::unique_ptr<Connector>(std::move(connector));
}

}  // namespace liverec::connect
