#include "lib/source/kafka/kafka_source.h"

#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

namespace flowwatch::source::kafka {
namespace {

constexpr int kPollMs = 100;
constexpr std::chrono::milliseconds kRoomWait{50};
constexpr std::chrono::milliseconds kFirstJoinWait{10000};  // see AwaitFirstAssignment
constexpr std::chrono::milliseconds kBacklogInterval{500};
constexpr std::chrono::seconds kLagLogInterval{15};

std::vector<RdKafka::TopicPartition*> MakePartitions(const std::string& topic, const std::vector<int32_t>& ids) {
  std::vector<RdKafka::TopicPartition*> out;
  for (int32_t p : ids) out.push_back(RdKafka::TopicPartition::create(topic, p));
  return out;
}

void FreePartitions(std::vector<RdKafka::TopicPartition*>* tps) {
  RdKafka::TopicPartition::destroy(*tps);
  tps->clear();
}

}  // namespace

// librdkafka's callbacks: on the consumer thread (inside consume() and
// close()), librdkafka's internal threads for logs, its background thread for
// the token refresh. A consumer left behind in close() (CloseConsumer) can
// still call back after the source is gone: Detach() makes every later
// callback leave the source alone. The token refresh never touches the source.
class KafkaSource::Callbacks : public RdKafka::RebalanceCb, public RdKafka::EventCb,
                               public RdKafka::OffsetCommitCb, public RdKafka::OAuthBearerTokenRefreshCb {
 public:
  Callbacks(KafkaSource* source, std::shared_ptr<azure::TokenCache> tokens, std::string scope)
      : source_(source), tokens_(std::move(tokens)), scope_(std::move(scope)) {}

  // Later callbacks skip the source; waits up to `wait` for those inside one
  // to return. False if one did not (the source must then outlive them).
  bool Detach(std::chrono::milliseconds wait) {
    detached_.store(true);
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (inside_.load() > 0) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }

  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    Use use(this);
    KafkaSource* source = use.source;  // null once detached: only what librdkafka needs to go on
    const bool cooperative = consumer->rebalance_protocol() == "COOPERATIVE";
    std::vector<int32_t> ids;
    for (const RdKafka::TopicPartition* tp : partitions) ids.push_back(tp->partition());
    if (source) source->counters_.rebalances.Add();
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      if (source) {
        source->OnRebalance(consumer, true, ids, cooperative, false);
        for (RdKafka::TopicPartition* tp : partitions) tp->set_offset(source->ResumeAt(tp->partition()));
      }
      RdKafka::Error* e = cooperative ? consumer->incremental_assign(partitions) : nullptr;
      if (!cooperative) consumer->assign(partitions);
      if (e != nullptr) {
        if (source) spdlog::error("kafka: assigning partitions failed: {}", e->str());
        delete e;
      }
    } else {
      if (source) {
        if (err != RdKafka::ERR__REVOKE_PARTITIONS) spdlog::error("kafka: rebalance error: {}", RdKafka::err2str(err));
        source->OnRebalance(consumer, false, ids, cooperative, consumer->assignment_lost());
      }
      RdKafka::Error* e = cooperative ? consumer->incremental_unassign(partitions) : nullptr;
      if (!cooperative) consumer->unassign();
      if (e != nullptr) {
        if (source) spdlog::error("kafka: giving up partitions failed: {}", e->str());
        delete e;
      }
    }
  }

  // Every commit's outcome, asynchronous ones included (consume() serves it).
  void offset_commit_cb(RdKafka::ErrorCode err, std::vector<RdKafka::TopicPartition*>& offsets) override {
    Use use(this);
    if (use.source) use.source->OnCommitted(err, offsets);
  }

  void oauthbearer_token_refresh_cb(RdKafka::Handle* handle, const std::string& /*oauthbearer_config*/) override {
    if (detached_.load()) {
      handle->oauthbearer_set_token_failure("closing");
      return;
    }
    Result<azure::AccessToken> token = tokens_->Get(scope_);  // the cache counts its failures
    std::string errstr;
    if (token.ok()) {
      const int64_t expires_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(token->expires_on.time_since_epoch()).count();
      if (handle->oauthbearer_set_token(token->token, expires_ms, tokens_->credential().principal(), {}, errstr) ==
          RdKafka::ERR_NO_ERROR) {
        tokens_set_.Add();
        spdlog::info("kafka: {}: Entra ID token for {} ({}), valid for {} s", handle->name(),
                     tokens_->credential().principal(), tokens_->credential().kind(),
                     std::chrono::duration_cast<std::chrono::seconds>(token->expires_on - azure::Clock::now()).count());
        return;
      }
      errstr = "librdkafka refused the token: " + errstr;  // errstr never quotes the token
    } else {
      errstr = token.status().message();
    }
    uint64_t suppressed = 0;
    if (token_log_.Allow("kafka-token", &suppressed)) {
      spdlog::warn("kafka: no Entra ID token ({}); librdkafka asks again in 10 s{}", errstr,
                   suppressed ? " (" + std::to_string(suppressed) + " similar suppressed)" : "");
    }
    handle->oauthbearer_set_token_failure(errstr);
  }

  void event_cb(RdKafka::Event& event) override {
    Use use(this);
    KafkaSource* source = use.source;
    if (source == nullptr) return;
    uint64_t suppressed = 0;
    switch (event.type()) {
      case RdKafka::Event::EVENT_ERROR:
        source->counters_.errors.Add();
        if (event.fatal()) {
          source->fatal_reason_ = RdKafka::err2str(event.err()) + ": " + event.str();
          source->fatal_.store(true);
          spdlog::error("kafka: fatal error: {}", source->fatal_reason_);
        } else if (source->log_limiter_.Allow("kafka-error", &suppressed)) {
          // Transient (a broker down, a timeout): librdkafka retries; nothing
          // is committed past what was processed.
          spdlog::warn("kafka: {}: {}{}", RdKafka::err2str(event.err()), event.str(),
                       suppressed ? " (" + std::to_string(suppressed) + " similar suppressed)" : "");
        }
        break;
      case RdKafka::Event::EVENT_LOG:
        if (event.severity() <= RdKafka::Event::EVENT_SEVERITY_WARNING &&
            source->log_limiter_.Allow("kafka-log", &suppressed)) {
          spdlog::warn("kafka: {} {}", event.fac(), event.str());
        } else {
          spdlog::debug("kafka: {} {}", event.fac(), event.str());
        }
        break;
      default:
        break;
    }
  }

  uint64_t tokens_set() const { return tokens_set_.value(); }

 private:
  // While alive, a callback is inside; `source` is null once detached. The
  // increment comes before the check and Detach sets the flag before it waits
  // (both sequentially consistent): a callback either sees the flag or is
  // waited for.
  struct Use {
    explicit Use(Callbacks* c) : c_(c) {
      c_->inside_.fetch_add(1);
      source = c_->detached_.load() ? nullptr : c_->source_;
    }
    ~Use() { c_->inside_.fetch_sub(1); }
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;
    Callbacks* c_;
    KafkaSource* source;
  };

  KafkaSource* const source_;
  std::atomic<bool> detached_{false};
  std::atomic<int> inside_{0};
  const std::shared_ptr<azure::TokenCache> tokens_;  // with Entra ID
  const std::string scope_;
  SharedCounter tokens_set_;  // the consumer's and the producer's refreshes
  LogLimiter token_log_{std::chrono::seconds(60), 5};
};

KafkaSource::KafkaSource(const KafkaSourceOptions& options, MessageHandler* handler)
    : options_(options), handler_(handler),
      callbacks_(std::make_unique<Callbacks>(this, options.tokens, options.client.oauth_scope)),
      log_limiter_(std::chrono::seconds(60), 5) {}

KafkaSource::~KafkaSource() {
  // librdkafka's threads call back into this object (event_cb: the log limiter,
  // the counters) until its handles are destroyed: destroy them first, before
  // the members they use (ASan caught a log callback after the limiter was gone).
  consumer_.reset();
  dead_letters_.reset();
}

Result<std::unique_ptr<KafkaSource>> KafkaSource::Create(const KafkaSourceOptions& options, MessageHandler* handler) {
  std::unique_ptr<KafkaSource> source(new KafkaSource(options, handler));
  if (Status s = source->Init(); !s.ok()) return s;
  return source;
}

Status KafkaSource::Init() {
  std::string errstr;
  const bool oauth = !options_.client.oauth_scope.empty();
  if (oauth && options_.tokens == nullptr) return Status::Internal("kafka: OAUTHBEARER without a token source");
  // The token refresh callback, and librdkafka's background thread to run it
  // before anything polls: the first token exists before the first fetch.
  const auto with_tokens = [&](RdKafka::Conf* c) -> Status {
    if (oauth && (c->set("oauthbearer_token_refresh_cb", static_cast<RdKafka::OAuthBearerTokenRefreshCb*>(callbacks_.get()),
                         errstr) != RdKafka::Conf::CONF_OK ||
                  c->enable_sasl_queue(true, errstr) != RdKafka::Conf::CONF_OK)) {
      return Status::Internal("kafka: " + errstr);
    }
    return Status::Ok();
  };
  const auto background_refresh = [&](RdKafka::Handle* h) -> Status {
    if (!oauth) return Status::Ok();
    if (RdKafka::Error* e = h->sasl_background_callbacks_enable(); e != nullptr) {
      const std::string what = e->str();
      delete e;
      return Status::Internal("kafka: cannot run the token refresh in the background: " + what);
    }
    return Status::Ok();
  };
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  for (const auto& [k, v] : options_.client.properties) {
    if (conf->set(k, v, errstr) != RdKafka::Conf::CONF_OK) {
      // errstr names the property; never the value of a secret one.
      return Status::InvalidArgument("source.kafka: property " + k + ": " +
                                     (IsSecretProperty(k) ? std::string("invalid") : errstr));
    }
  }
  if (conf->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(callbacks_.get()), errstr) != RdKafka::Conf::CONF_OK ||
      conf->set("event_cb", static_cast<RdKafka::EventCb*>(callbacks_.get()), errstr) != RdKafka::Conf::CONF_OK ||
      conf->set("offset_commit_cb", static_cast<RdKafka::OffsetCommitCb*>(callbacks_.get()), errstr) !=
          RdKafka::Conf::CONF_OK) {
    return Status::Internal("kafka: " + errstr);
  }
  if (Status s = with_tokens(conf.get()); !s.ok()) return s;
  consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), errstr));
  if (!consumer_) return Status::InvalidArgument("source.kafka: cannot create the consumer: " + errstr);
  if (Status s = background_refresh(consumer_.get()); !s.ok()) return s;

  if (!options_.dead_letter_topic.empty()) {
    std::unique_ptr<RdKafka::Conf> pconf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    for (const auto& [k, v] : options_.client.properties) {
      // Connection and security settings only; consumer settings would be refused.
      if (k == "bootstrap.servers" || k == "client.id" || k.starts_with("security.") || k.starts_with("sasl.") ||
          k.starts_with("ssl.") || k == "socket.keepalive.enable" || k == "connections.max.idle.ms" ||
          k == "metadata.max.age.ms" || k == "request.timeout.ms") {
        pconf->set(k, v, errstr);
      }
    }
    pconf->set("event_cb", static_cast<RdKafka::EventCb*>(callbacks_.get()), errstr);
    if (Status s = with_tokens(pconf.get()); !s.ok()) return s;
    dead_letters_.reset(RdKafka::Producer::create(pconf.get(), errstr));
    if (!dead_letters_) return Status::InvalidArgument("source.kafka.dead_letter_topic: cannot create the producer: " + errstr);
    if (Status s = background_refresh(dead_letters_.get()); !s.ok()) return s;
  }
  spdlog::info("kafka: consumer for topic {} with {}", options_.client.topic, options_.client.Redacted());
  return Status::Ok();
}

void KafkaSource::OnRebalance(RdKafka::KafkaConsumer* consumer, bool assign, const std::vector<int32_t>& partitions,
                              bool cooperative, bool lost) {
  std::string list;
  for (int32_t p : partitions) list += (list.empty() ? "" : ",") + std::to_string(p);
  if (assign) {
    // Where the group left each partition: until a partition delivers its
    // first message, its backlog is the end of the log minus this.
    std::vector<RdKafka::TopicPartition*> tps = MakePartitions(options_.client.topic, partitions);
    if (consumer->committed(tps, 5000) == RdKafka::ERR_NO_ERROR) {
      for (const RdKafka::TopicPartition* tp : tps) start_[tp->partition()] = tp->offset();
    }
    FreePartitions(&tps);
    for (int32_t p : partitions) {
      const int64_t resume = ResumeAt(p);
      if (resume < 0) continue;
      auto committed = start_.find(p);
      spdlog::info("kafka: partition {} resumes at offset {}, where the checkpoint left it (the group had {})", p,
                   resume, committed == start_.end() || committed->second < 0 ? std::string("nothing")
                                                                              : std::to_string(committed->second));
      start_[p] = resume;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      assigned_.insert(partitions.begin(), partitions.end());
    }
    ever_assigned_ = true;
    handler_->OnAssigned(partitions);
    spdlog::info("kafka: assigned partitions {} ({})", list.empty() ? "none" : list,
                 cooperative ? "cooperative" : "eager");
    return;
  }
  // Held messages were never offered: the next owner reads them again. Their
  // partition was paused for them, and librdkafka 2.0.2 keeps that pause
  // across a revoke and a re-assignment: resume it first, or a partition that
  // comes back to this member is never fetched again.
  std::vector<int32_t> paused;
  for (int32_t p : partitions) {
    if (auto it = held_.find(p); it != held_.end()) {
      if (!it->second.empty()) paused.push_back(p);
      held_.erase(it);
    }
  }
  if (!paused.empty()) {
    std::vector<RdKafka::TopicPartition*> tps = MakePartitions(options_.client.topic, paused);
    consumer->resume(tps);
    FreePartitions(&tps);
  }
  // What is in flight gets applied either way: wait for it, so that the
  // applied positions (processed_, where a partition that comes back to this
  // process resumes) cover it. Lost partitions are drained too: without it a
  // partition lost and given back was read again from before its in-flight
  // messages, and those were applied twice wherever de-duplication's window
  // had moved on (bench/soak.sh, event time running fast).
  const std::chrono::milliseconds budget = RebalanceDrainBudget();
  if (!handler_->Drain(partitions, budget)) {
    spdlog::warn("kafka: partitions {} not fully drained within {} ms; the rest is processed again by their next owner",
                 list, budget.count());
  }
  if (!lost) {
    Commit(/*sync=*/true, &partitions);
  } else {
    CollectDone();
    spdlog::warn("kafka: partitions {} were lost (the group went on without this member): not committing them", list);
  }
  handler_->OnRevoked(partitions);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int32_t p : partitions) {
      assigned_.erase(p);
      backlog_.erase(p);
    }
  }
  for (int32_t p : partitions) {
    done_.erase(p);
    start_.erase(p);
  }
  spdlog::info("kafka: revoked partitions {}", list);
}

// A member that stays in its revoke callback past the session timeout is thrown
// out of the group: drain for at most half of it.
std::chrono::milliseconds KafkaSource::RebalanceDrainBudget() const {
  const std::string session = options_.client.Get("session.timeout.ms");
  char* end = nullptr;
  const long long ms = session.empty() ? 0 : std::strtoll(session.c_str(), &end, 10);
  if (ms <= 0 || end == nullptr || *end != '\0') return options_.drain_budget;
  return std::min(options_.drain_budget, std::chrono::milliseconds(ms / 2));
}

// librdkafka 2.0.2 aborts in rd_kafka_sticky_assignor_state_destroy when a
// cooperative-sticky consumer is closed while its first group join is under
// way (librdkafka #4312, fixed in 2.3.0): a pod stopped as it starts would
// crash. So a stop before the first assignment first lets the join end, for
// at most kFirstJoinWait (well inside the pod's 30 s grace period); then the
// consumer leaves the group as usual. Nothing is offered meanwhile: what
// arrives is read again by whoever owns the partitions next.
void KafkaSource::AwaitFirstAssignment() {
  spdlog::info("kafka: stopping before the first assignment: waiting up to {} ms for the group join to end",
               kFirstJoinWait.count());
  const auto deadline = std::chrono::steady_clock::now() + kFirstJoinWait;
  while (!ever_assigned_ && !fatal_.load() && std::chrono::steady_clock::now() < deadline) {
    std::unique_ptr<RdKafka::Message> msg(consumer_->consume(kPollMs));
  }
  if (!ever_assigned_) {
    spdlog::warn("kafka: no assignment within {} ms; leaving the group anyway", kFirstJoinWait.count());
  }
}

int64_t KafkaSource::ResumeAt(int32_t partition) const {
  if (!options_.checkpoint) return RdKafka::Topic::OFFSET_INVALID;
  if (auto it = processed_.find(partition); it != processed_.end()) return it->second;
  if (auto it = options_.resume_offsets.find(partition); it != options_.resume_offsets.end()) return it->second;
  return RdKafka::Topic::OFFSET_INVALID;
}

void KafkaSource::CollectDone() {
  std::vector<std::pair<int32_t, int64_t>> completed;
  handler_->CollectCompleted(&completed);
  for (const auto& [p, next] : completed) {
    int64_t& d = done_[p];
    d = std::max(d, next);
    if (options_.checkpoint) {
      int64_t& q = processed_[p];
      q = std::max(q, next);
    }
  }
}

void KafkaSource::SetDurable(const SourcePositions& positions) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [p, next] : positions.offsets) {
    int64_t& d = durable_[p];
    d = std::max(d, next);
  }
}

void KafkaSource::Checkpoint(bool final) {
  const std::vector<int32_t> mine = assigned();
  if (!handler_->Drain(mine, options_.drain_budget)) {
    spdlog::warn("kafka: in-flight messages not drained within {} ms; checkpoint skipped",
                 options_.drain_budget.count());
    return;
  }
  CollectDone();
  // Partitions start at their resume offset: one that has delivered nothing
  // since is still covered from there.
  std::map<int32_t, int64_t> offsets = processed_;
  for (const auto& [p, start] : options_.resume_offsets) offsets.try_emplace(p, start);
  options_.checkpoint(offsets, final);
}

void KafkaSource::Commit(bool sync, const std::vector<int32_t>* only) {
  CollectDone();
  std::map<int32_t, int64_t> targets;
  std::vector<int32_t> ids;
  {
    std::lock_guard<std::mutex> lock(mu_);
    targets = options_.checkpoint ? durable_ : done_;
    for (const auto& [p, next] : targets) {
      if (only && std::find(only->begin(), only->end(), p) == only->end()) continue;
      if (!assigned_.count(p)) continue;
      auto it = committed_.find(p);
      if (it == committed_.end() || it->second < next) ids.push_back(p);
    }
  }
  if (ids.empty()) return;
  if (before_commit_) before_commit_();
  std::vector<RdKafka::TopicPartition*> tps = MakePartitions(options_.client.topic, ids);
  for (RdKafka::TopicPartition* tp : tps) tp->set_offset(targets[tp->partition()]);
  // The outcome is counted when it comes back through offset_commit_cb
  // (OnCommitted), a synchronous commit's too; an asynchronous one refused at
  // once is counted here. A synchronous one's offsets are known now.
  const RdKafka::ErrorCode err = sync ? consumer_->commitSync(tps) : consumer_->commitAsync(tps);
  if (!sync && err != RdKafka::ERR_NO_ERROR) OnCommitted(err, tps);
  if (sync && err == RdKafka::ERR_NO_ERROR) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const RdKafka::TopicPartition* tp : tps) {
      if (tp->err() == RdKafka::ERR_NO_ERROR && tp->offset() >= 0) {
        committed_[tp->partition()] = std::max(committed_[tp->partition()], tp->offset());
      }
    }
  }
  FreePartitions(&tps);
}

void KafkaSource::OnCommitted(int err, const std::vector<RdKafka::TopicPartition*>& offsets) {
  if (err != RdKafka::ERR_NO_ERROR) {
    // A commit refused during a rebalance (REBALANCE_IN_PROGRESS,
    // ILLEGAL_GENERATION: librdkafka #4059) or with the broker away: the
    // offsets are sent again at the next interval, or the partition's next
    // owner starts from the last one committed.
    counters_.commit_failures.Add();
    uint64_t suppressed = 0;
    if (log_limiter_.Allow("kafka-commit", &suppressed)) {
      spdlog::warn("kafka: commit failed ({}); retrying at the next interval{}",
                   RdKafka::err2str(static_cast<RdKafka::ErrorCode>(err)),
                   suppressed ? " (" + std::to_string(suppressed) + " similar suppressed)" : "");
    }
  } else {
    counters_.commits.Add();
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (const RdKafka::TopicPartition* tp : offsets) {
    if (tp->err() != RdKafka::ERR_NO_ERROR || tp->offset() < 0) continue;
    int64_t& c = committed_[tp->partition()];
    c = std::max(c, tp->offset());
  }
}

void KafkaSource::Pause(int32_t partition) {
  std::vector<RdKafka::TopicPartition*> tps = MakePartitions(options_.client.topic, {partition});
  consumer_->pause(tps);
  FreePartitions(&tps);
  counters_.pauses.Add();
}

void KafkaSource::Hold(SourceMessage message) {
  auto [it, first] = held_.try_emplace(message.partition);
  if (it->second.empty()) Pause(message.partition);
  it->second.push_back(std::move(message));
}

void KafkaSource::OfferHeld() {
  for (auto it = held_.begin(); it != held_.end();) {
    std::deque<SourceMessage>& q = it->second;
    while (!q.empty() && handler_->Offer(q.front())) q.pop_front();
    if (q.empty()) {
      std::vector<RdKafka::TopicPartition*> tps = MakePartitions(options_.client.topic, {it->first});
      consumer_->resume(tps);
      FreePartitions(&tps);
      it = held_.erase(it);
    } else {
      ++it;
    }
  }
}

Status KafkaSource::Run(const std::atomic<bool>& stop, const std::function<void()>& before_commit) {
  before_commit_ = before_commit;
  const RdKafka::ErrorCode err = consumer_->subscribe({options_.client.topic});
  if (err != RdKafka::ERR_NO_ERROR) {
    return Status::Unavailable("kafka: cannot subscribe to " + options_.client.topic + ": " + RdKafka::err2str(err));
  }
  spdlog::info("kafka: subscribed to {}", options_.client.topic);
  auto last_commit = std::chrono::steady_clock::now();
  auto last_backlog = last_commit;
  auto last_checkpoint = last_commit;
  auto last_lag_log = last_commit;
  while (!stop.load(std::memory_order_relaxed) && !fatal_.load()) {
    counters_.last_poll_ms.store(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count(),
                                 std::memory_order_relaxed);
    if (!held_.empty()) {
      handler_->WaitForRoom(held_.begin()->first, kRoomWait);
      OfferHeld();
    }
    std::shared_ptr<RdKafka::Message> msg(consumer_->consume(kPollMs));
    switch (msg->err()) {
      case RdKafka::ERR_NO_ERROR: {
        counters_.messages.Add();
        counters_.bytes.Add(msg->len());
        {
          PartitionConsumed& c = consumed_now_[msg->partition()];
          ++c.messages;
          c.bytes += msg->len();
        }
        SourceMessage m;
        m.partition = msg->partition();
        m.offset = msg->offset();
        m.data = static_cast<const char*>(msg->payload());
        m.size = msg->len();
        m.owner = msg;
        if (held_.count(m.partition) == 0 && !handler_->Offer(m)) {
          // Full: give the pipeline a moment before pausing the partition.
          handler_->WaitForRoom(m.partition, kRoomWait);
          if (handler_->Offer(m)) break;
        }
        if (m.owner) Hold(std::move(m));
        break;
      }
      case RdKafka::ERR__TIMED_OUT:
      case RdKafka::ERR__PARTITION_EOF:
        break;
      default: {
        counters_.errors.Add();
        uint64_t suppressed = 0;
        if (log_limiter_.Allow("kafka-consume", &suppressed)) {
          spdlog::warn("kafka: consume: {}", msg->errstr());
        }
      }
    }
    if (dead_letters_) dead_letters_->poll(0);
    const auto now = std::chrono::steady_clock::now();
    if (now - last_backlog >= kBacklogInterval) {
      UpdateBacklog();
      last_backlog = now;
    }
    if (now - last_lag_log >= kLagLogInterval) {
      const int64_t behind = lag();
      spdlog::info("kafka: consumer lag {} messages on {} partitions",
                   behind >= 0 ? std::to_string(behind) : std::string("unknown"), assigned().size());
      last_lag_log = now;
    }
    if (options_.checkpoint && now - last_checkpoint >= options_.checkpoint_interval) {
      Checkpoint(/*final=*/false);
      last_checkpoint = std::chrono::steady_clock::now();
    }
    if (now - last_commit >= options_.commit_interval) {
      Commit(/*sync=*/false, nullptr);
      last_commit = std::chrono::steady_clock::now();
    }
  }
  if (!ever_assigned_ && !fatal_.load()) AwaitFirstAssignment();
  // Stop: hold nothing back that was offered; drain it, commit it, leave the group.
  held_.clear();
  const std::vector<int32_t> mine = assigned();
  if (!handler_->Drain(mine, options_.drain_budget)) {
    spdlog::warn("kafka: in-flight messages not drained within {} ms; they will be processed again",
                 options_.drain_budget.count());
  } else if (options_.checkpoint) {
    Checkpoint(/*final=*/true);
  }
  Commit(/*sync=*/true, nullptr);
  if (CloseConsumer()) spdlog::info("kafka: consumer closed");  // it leaves the group (revoke callbacks run here)
  if (dead_letters_) dead_letters_->flush(5000);
  if (fatal_.load()) return Status::Unavailable("kafka: " + fatal_reason_);
  return Status::Ok();
}

void KafkaSource::LeaveBehind(std::unique_ptr<RdKafka::KafkaConsumer> consumer, std::unique_ptr<Callbacks> callbacks) {
  // Never destroyed (their close may still be running), yet reachable: not a leak.
  static auto* left = new std::vector<std::pair<std::unique_ptr<RdKafka::KafkaConsumer>, std::unique_ptr<Callbacks>>>;
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  left->emplace_back(std::move(consumer), std::move(callbacks));
}

bool KafkaSource::CloseConsumer() {
  // librdkafka 2.0.2 can hang in close() when an assignment arrives while it
  // closes (librdkafka #4527). Everything that matters is done by now (the
  // final checkpoint is durable, the offsets committed): past close_timeout the
  // consumer is left behind, still closing, and the group rebalances once its
  // session times out.
  auto closed = std::make_shared<std::atomic<bool>>(false);
  RdKafka::KafkaConsumer* consumer = consumer_.get();
  std::thread closer([consumer, closed] {
    consumer->close();
    closed->store(true);
  });
  const auto deadline = std::chrono::steady_clock::now() + options_.close_timeout;
  while (!closed->load() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (closed->load() || !callbacks_->Detach(options_.drain_budget)) {
    // Closed; or stuck inside one of our callbacks (a drain), which still
    // needs this source: wait for it.
    closer.join();
    return true;
  }
  spdlog::error("kafka: the consumer did not close within {} ms (librdkafka #4527): leaving it behind; the offsets "
                "are committed, and the group gives its partitions to others once its session times out",
                options_.close_timeout.count());
  closer.detach();
  LeaveBehind(std::move(consumer_), std::move(callbacks_));
  close_abandoned_.store(true);
  return false;
}

uint64_t KafkaSource::tokens_set() const { return callbacks_ ? callbacks_->tokens_set() : 0; }

void KafkaSource::DeadLetter(int32_t partition, int64_t offset, const char* data, size_t size) {
  if (!dead_letters_) return;
  const std::string key = std::to_string(partition) + ":" + std::to_string(offset);
  const RdKafka::ErrorCode err =
      dead_letters_->produce(options_.dead_letter_topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                             const_cast<char*>(data), size, key.data(), key.size(), 0, nullptr);
  if (err == RdKafka::ERR_NO_ERROR) {
    counters_.dead_lettered.Add();
  } else {
    uint64_t suppressed = 0;
    if (log_limiter_.Allow("kafka-dlq", &suppressed)) {
      spdlog::warn("kafka: dead-letter copy of {} failed: {}", key, RdKafka::err2str(err));
    }
  }
}

std::map<int32_t, int64_t> KafkaSource::committed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return committed_;
}

std::map<int32_t, KafkaSource::PartitionConsumed> KafkaSource::consumed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return consumed_;
}

std::map<int32_t, int64_t> KafkaSource::backlog() const {
  std::lock_guard<std::mutex> lock(mu_);
  return backlog_;
}

int64_t KafkaSource::lag() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (backlog_.empty()) return -1;
  int64_t sum = 0;
  for (const auto& [p, n] : backlog_) sum += n;
  return sum;
}

std::vector<int32_t> KafkaSource::assigned() const {
  std::lock_guard<std::mutex> lock(mu_);
  return std::vector<int32_t>(assigned_.begin(), assigned_.end());
}

// From librdkafka's cached state (no request to the broker): the end of each
// assigned partition as last fetched, minus the application's position (or,
// before the partition's first message, where the group had committed it, or
// its beginning when nothing was committed and auto.offset.reset is earliest),
// plus the messages held back for it.
void KafkaSource::UpdateBacklog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    consumed_ = consumed_now_;
  }
  const std::vector<int32_t> mine = assigned();
  if (mine.empty()) return;
  std::vector<RdKafka::TopicPartition*> tps = MakePartitions(options_.client.topic, mine);
  consumer_->position(tps);
  const bool from_beginning = options_.client.Get("auto.offset.reset") == "earliest";
  std::map<int32_t, int64_t> backlogs;
  for (const RdKafka::TopicPartition* tp : tps) {
    int64_t low = -1, high = -1;
    int64_t backlog = -1;
    if (consumer_->get_watermark_offsets(options_.client.topic, tp->partition(), &low, &high) == RdKafka::ERR_NO_ERROR &&
        high >= 0) {
      int64_t position = tp->offset();
      if (position < 0) {
        auto start = start_.find(tp->partition());
        if (start != start_.end() && start->second >= 0) position = start->second;
        else if (start != start_.end() && from_beginning && low >= 0) position = low;  // nothing committed
      }
      if (position >= 0) backlog = std::max<int64_t>(0, high - position);
    }
    if (backlog >= 0) {
      auto held = held_.find(tp->partition());
      if (held != held_.end()) backlog += static_cast<int64_t>(held->second.size());
      backlogs[tp->partition()] = backlog;
    }
    handler_->OnBacklog(tp->partition(), backlog);
  }
  FreePartitions(&tps);
  std::lock_guard<std::mutex> lock(mu_);
  backlog_ = std::move(backlogs);
}

}  // namespace flowwatch::source::kafka
