#include "daemon/run.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include <fmt/ranges.h>

#include "daemon/alert_writer.h"
#include "daemon/checkpoint.h"
#include "lib/alert/dispatcher.h"
#include "daemon/daemon_metrics.h"
#include "daemon/decoder_pool.h"
#include "daemon/enrichment.h"
#include "daemon/live_state.h"
#include "daemon/live_config.h"
#include "daemon/shard_pipeline.h"
#include "daemon/signals.h"
#include "daemon/summary.h"
#include "lib/common/json_writer.h"
#include "lib/common/logging.h"
#include "lib/config/config_loader.h"
#include "lib/enrich/vm_resolver.h"
#include "lib/gen/output_file.h"
#include "lib/metrics/http_server.h"
#include "lib/ports/port_report.h"
#include "lib/shard/shard_set.h"
#include "lib/source/blob/blob_events.h"
#include "lib/source/blob/blob_source.h"
#include "lib/source/file/folder_source.h"
#include "lib/source/kafka/client_config.h"
#include "lib/source/kafka/kafka_source.h"
#include "lib/source/source.h"

namespace flowwatch::app {
namespace {

constexpr int kExitRuntime = 1;
constexpr int kExitConfig = 2;
constexpr std::string_view kFilesSource = "files";
constexpr std::string_view kBlobSource = "blob";

// Written through a temporary file and a rename, so that readers never see half of one.
Status WriteAtomically(const std::string& path, const std::string& text) {
  uint64_t written = 0;
  return gen::WriteOutputFile(path, text, /*gzip=*/false, &written);
}

Status PrepareStateDir(const std::string& dir) {
  const std::string probe = dir + "/.write-test";
  if (Status s = WriteAtomically(probe, "ok\n"); !s.ok()) return Status::IoError("state.dir: " + s.message());
  std::error_code ec;
  std::filesystem::remove(probe, ec);
  return Status::Ok();
}

using CheckpointFn = std::function<void(const source::SourcePositions&, bool final)>;

// The source made, as its own kind, for the figures only that kind has (the
// summary and /metrics report them).
struct SourceKinds {
  source::kafka::KafkaSource* kafka = nullptr;
  source::ObjectFollower* follower = nullptr;  // source.files or source.blob
  std::shared_ptr<azure::BlobClient> blob;     // source.blob (alone, or for follow_blob_events)
  std::unique_ptr<source::BlobEventReader> events;  // source.kafka.follow_blob_events: in front of the pipeline
};

// The configured source (Kafka, followed folders or Blob Storage), resuming at
// the restored checkpoint's positions and checkpointing through `checkpoint`.
Result<std::unique_ptr<source::Source>> MakeSource(const config::Config& cfg, const source::kafka::ClientConfig& client,
                                                   const CheckpointMeta& restored, const CheckpointFn& checkpoint,
                                                   const std::shared_ptr<azure::TokenCache>& tokens, DecoderPool* pool,
                                                   SourceKinds* kinds) {
  // A followed source's messages are whole records in `[...]`: with the
  // brackets, no larger than the decoder takes (decode.max_body_bytes).
  const size_t room = static_cast<size_t>(std::max<uint64_t>(cfg.decode.max_body_bytes, 3) - 2);
  const bool follow_events = cfg.source.kafka_configured && cfg.source.kafka.follow_blob_events;
  if (cfg.source.blob_configured) {
    const config::BlobConfig& b = cfg.source.blob;
    Result<azure::BlobAccount> account =
        b.account_url.empty() ? azure::ParseConnectionString(b.connection_string) : azure::AccountFromUrl(b.account_url);
    if (!account.ok()) return Status::InvalidArgument("source.blob: " + account.status().message());
    kinds->blob = std::make_shared<azure::BlobClient>(*account, b.account_url.empty() ? nullptr : tokens);
    spdlog::info("source.blob: account {} ({}), containers {}, {}{}", account->name, account->endpoint,
                 fmt::join(b.containers, ", "),
                 b.account_url.empty() ? (account->key.empty() ? "SAS" : "account key")
                                       : std::string("Entra ID with ") + tokens->credential().kind(),
                 follow_events ? ", the blobs named by Event Grid's events on source.kafka" : "");
  }
  if (cfg.source.blob_configured && !follow_events) {
    const config::BlobConfig& b = cfg.source.blob;
    source::BlobSourceOptions o;
    o.containers = b.containers;
    o.prefix = b.prefix;
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch()).count();
    o.start_ms = b.start_ms == INT64_MAX ? now_ms / 3'600'000 * 3'600'000 : b.start_ms;  // now: this hour on
    o.poll_interval = b.poll_interval;
    o.parallel_reads = b.parallel_reads;
    o.full_list_interval = b.full_list_interval;
    o.idle_timeout = std::max(cfg.source.idle_timeout, 2 * b.poll_interval);  // a blob grows once a poll at most
    o.max_record_bytes = room;
    o.max_message_bytes = std::min(o.max_message_bytes, room);
    o.checkpoint = checkpoint;
    o.checkpoint_interval = cfg.state.checkpoint_interval;
    o.resume = restored.files;
    auto created = source::BlobSource::Create(o, kinds->blob, pool);
    if (!created.ok()) return created.status();
    kinds->follower = created->get();
    return std::unique_ptr<source::Source>(std::move(created).value());
  }
  if (!cfg.source.kafka_configured) {
    source::FolderSourceOptions o;
    o.folders = cfg.source.files;
    o.poll_interval = cfg.source.poll_interval;
    o.idle_timeout = cfg.source.idle_timeout;
    o.max_record_bytes = room;
    o.max_message_bytes = std::min(o.max_message_bytes, room);
    o.checkpoint = checkpoint;
    o.checkpoint_interval = cfg.state.checkpoint_interval;
    o.resume = restored.files;
    auto created = source::FolderSource::Create(o, pool);
    if (!created.ok()) return created.status();
    kinds->follower = created->get();
    return std::unique_ptr<source::Source>(std::move(created).value());
  }
  source::kafka::KafkaSourceOptions o;
  o.client = client;
  o.tokens = tokens;
  o.dead_letter_topic = cfg.source.kafka.dead_letter_topic;
  o.commit_interval = cfg.source.kafka.commit_interval;
  o.checkpoint_interval = cfg.state.checkpoint_interval;
  o.resume_offsets = restored.offsets;
  source::MessageHandler* handler = pool;
  if (follow_events) {
    // Each BlobCreated event's blob is read in front of the pipeline; its
    // position is checkpointed with the offsets.
    source::BlobEventOptions e;
    e.containers = cfg.source.blob.containers;
    e.prefix = cfg.source.blob.prefix;
    e.max_message_bytes = room + 2;
    e.resume = restored.files;
    kinds->events = std::make_unique<source::BlobEventReader>(e, kinds->blob, pool);
    handler = kinds->events.get();
  }
  o.checkpoint = [checkpoint, events = kinds->events.get()](const std::map<int32_t, int64_t>& offsets, bool final) {
    checkpoint(source::SourcePositions{offsets, events ? events->positions() : std::map<std::string, source::FilePosition>{}},
               final);
  };
  auto created = source::kafka::KafkaSource::Create(o, handler);
  if (!created.ok()) return created.status();
  kinds->kafka = created->get();
  return std::unique_ptr<source::Source>(std::move(created).value());
}

}  // namespace

int RunDaemon(const RunOptions& options) {
  // Before any thread exists: signals are then delivered to the watcher only.
  SignalWatcher signals;

  config::LoadResult loaded = config::LoadConfigFile(options.config_path);
  for (const std::string& e : loaded.errors) std::fprintf(stderr, "flowwatch: %s\n", e.c_str());
  if (!loaded.ok()) return kExitConfig;
  const config::Config cfg = loaded.config;
  LogLevel level = LogLevel::kInfo;
  ParseLogLevel(cfg.log.level, &level);
  InitLogging(level, cfg.log.format == "json" ? LogFormat::kJson : LogFormat::kText);

  // Followed objects (folders or blobs), or Kafka.
  const bool from_files = !cfg.source.kafka_configured;
  // source.blob alone; with source.kafka.follow_blob_events it only names the
  // account whose blobs the events name.
  const bool follow_events = cfg.source.kafka_configured && cfg.source.kafka.follow_blob_events;
  const bool from_blob = cfg.source.blob_configured && !follow_events;
  if (from_files && !from_blob && cfg.source.files.empty()) {
    spdlog::error("{}: configure source.kafka (Kafka / Event Hubs), source.blob (Blob Storage) or source.files "
                  "(folders of blobs)",
                  options.config_path);
    return kExitConfig;
  }
  if (!from_files && !cfg.source.files.empty()) {
    spdlog::error("{}: source.kafka and source.files are both set; choose one", options.config_path);
    return kExitConfig;
  }
  if (from_blob && (cfg.source.kafka_configured || !cfg.source.files.empty())) {
    spdlog::error("{}: source.blob and source.{} are both set; choose one{}", options.config_path,
                  cfg.source.kafka_configured ? "kafka" : "files",
                  cfg.source.kafka_configured
                      ? " (or set source.kafka.follow_blob_events: true to read the blobs Event Grid's events name)"
                      : "");
    return kExitConfig;
  }
  Result<source::kafka::ClientConfig> client = source::kafka::ClientConfig{};
  if (!from_files) client = source::kafka::BuildConsumerConfig(cfg.source.kafka);
  if (!client.ok()) {
    spdlog::error("{}: {}", options.config_path, client.status().message());
    return kExitConfig;
  }
  // Entra ID for Event Hubs: the credential is checked now; its first token is
  // fetched when the consumer starts.
  std::shared_ptr<azure::TokenCache> tokens;
  // One cache for both scopes when the events come from Event Hubs and the blobs from Storage with Entra ID.
  const bool storage_tokens = cfg.source.blob_configured && !cfg.source.blob.account_url.empty();
  const std::string scope = storage_tokens ? azure::kStorageScope : client->oauth_scope;
  if (storage_tokens || !client->oauth_scope.empty()) {
    auto credential = azure::MakeCredential(cfg.azure);
    if (!credential.ok()) {
      spdlog::error("{}: {}", options.config_path, credential.status().message());
      return kExitConfig;
    }
    tokens = std::make_shared<azure::TokenCache>(std::move(credential).value());
    spdlog::info("azure: Entra ID tokens for {}{} with {} ({})", scope,
                 storage_tokens && !client->oauth_scope.empty() ? " and " + client->oauth_scope : "",
                 tokens->credential().kind(), tokens->credential().principal());
  }
  if (Status s = PrepareStateDir(cfg.state.dir); !s.ok()) {
    spdlog::error("{}", s.message());
    return kExitRuntime;
  }
  const std::string summary_path = options.summary_path.empty() ? cfg.state.dir + "/summary.json" : options.summary_path;

  Enrichment enrichment;
  if (Status s = enrichment.Load(cfg); !s.ok()) {
    spdlog::error("{}", s.message());
    return kExitConfig;
  }
  NameTables names;
  enrich::VmResolver resolver(enrichment.inventory(), &names.vms);
  LiveConfig live(cfg);

  std::vector<alert::SinkOptions> sinks;
  for (const config::WebhookConfig& w : cfg.alerts.webhooks) {
    alert::SinkOptions o;
    o.format = w.format;
    o.http = alert::WebhookSinkOptions{w.url, w.secret, w.headers, w.timeout};
    o.routing_key = w.routing_key;
    o.resend_interval = w.resend_interval;
    sinks.push_back(std::move(o));
  }
  alert::DispatcherOptions dispatch_options;
  dispatch_options.spool_dir = cfg.state.dir + "/spool";
  dispatch_options.rate_limit.max = static_cast<uint32_t>(cfg.alerts.rate_limit.max);
  dispatch_options.rate_limit.per = cfg.alerts.rate_limit.per;
  alert::Dispatcher dispatcher(dispatch_options, std::move(sinks));

  AlertWriter alerts(&names, [&] { return enrichment.Snapshot(); });
  if (!cfg.alerts.webhooks.empty()) alerts.SetDelivery([&](const alert::AlertEvent& e) { dispatcher.Enqueue(e); });
  if (Status s = alerts.Open(cfg.alerts.file); !s.ok()) {
    spdlog::error("{}", s.message());
    return kExitRuntime;
  }
  if (Status s = alerts.OpenEmittedLog(cfg.state.dir + "/alerts-emitted.log"); !s.ok()) {
    spdlog::error("state.dir: {}", s.message());
    return kExitRuntime;
  }

  // The newest checkpoint that reads back (a damaged or newer one is refused,
  // and the one before it is tried). It is restored before anything runs;
  // pipeline.shards 0 (one per core) takes the checkpoint's shard count, so
  // that a pod on a node with other cores keeps its state.
  // What a checkpoint was written for: the topic, or "files" for followed folders, "blob" for Blob Storage.
  const std::string topic = from_blob ? std::string(kBlobSource) : from_files ? std::string(kFilesSource) : client.value().topic;
  state::CheckpointStore checkpoint_store(cfg.state.dir + "/checkpoints");
  state::Checkpoint checkpoint;
  std::string checkpoint_path;
  CheckpointMeta restored;
  bool have_checkpoint = false;
  {
    std::vector<std::string> rejected;
    if (Status s = checkpoint_store.LoadNewest(&checkpoint, &have_checkpoint, &rejected, &checkpoint_path); !s.ok()) {
      spdlog::error("{}", s.message());
      return kExitRuntime;
    }
    for (const std::string& r : rejected) spdlog::error("checkpoint refused: {}", r);
    if (have_checkpoint) {
      if (Status s = ReadCheckpointMeta(checkpoint, checkpoint_path, &restored); !s.ok()) {
        spdlog::error("{}; move the checkpoints away to start afresh", s.message());
        return kExitRuntime;
      }
    } else if (rejected.empty()) {
      spdlog::info("no checkpoint in {}: starting afresh", checkpoint_store.dir());
    }
  }

  shard::ShardSetOptions set_options;
  set_options.producers = ThreadsOrCores(cfg.pipeline.decoders);
  set_options.shards = have_checkpoint && cfg.pipeline.shards == 0 ? static_cast<int>(restored.shards)
                                                                   : ThreadsOrCores(cfg.pipeline.shards);
  set_options.ring_capacity = static_cast<size_t>(cfg.pipeline.ring_capacity);
  std::vector<const ShardPipeline*> pipelines(set_options.shards);
  std::vector<ShardPipeline*> restore_into(set_options.shards);
  shard::ShardSet shards(set_options, [&](int s) {
    auto p = std::make_unique<ShardPipeline>(cfg, &alerts, ShardPipeline::Mode{/*close_at_end=*/false, &live, &enrichment});
    pipelines[s] = restore_into[s] = p.get();
    return p;
  });

  if (have_checkpoint) {
    if (Status s = RestoreCheckpoint(checkpoint, checkpoint_path, topic, &names, restore_into, &alerts, &restored);
        !s.ok()) {
      spdlog::error("{}; move the checkpoints away to start afresh", s.message());
      return s.code() == StatusCode::kInvalidArgument ? kExitConfig : kExitRuntime;
    }
    checkpoint = state::Checkpoint{};  // its memory is the state's now
    const PipelineTotals restored_totals = Totals(pipelines);
    spdlog::info("restored {}: {} keys, {} tuples so far, positions of {} partitions and {} files", checkpoint_path,
                 restored_totals.keys, restored_totals.tuples, restored.offsets.size(), restored.files.size());
  }

  source::Source* source_ptr = nullptr;
  SourceKinds kinds;
  source::kafka::KafkaSource*& kafka = kinds.kafka;  // the Kafka source's own figures, for the summary and /metrics
  DecoderPoolOptions pool_options;
  pool_options.decoders = set_options.producers;
  pool_options.idle_timeout = cfg.source.idle_timeout;
  pool_options.decode.max_body_bytes = cfg.decode.max_body_bytes;
  DecoderPool pool(pool_options, &names, &resolver, &shards,
                   [&](int32_t partition, int64_t offset, const char* data, size_t size) {
                     if (source_ptr) source_ptr->DeadLetter(partition, offset, data, size);
                   });

  pool.SeedEventTime(restored.max_event_ms);

  // Checkpoints: the source drains what is in flight, the shards pause while
  // their state is serialized, the writer thread puts it on disk, and the
  // source's commits (Kafka's) follow.
  CheckpointWriter checkpoints(checkpoint_store.dir(),
                               [&](const source::SourcePositions& positions) { source_ptr->SetDurable(positions); });
  uint64_t next_sequence = checkpoint_store.NextSequence();
  auto take_checkpoint = [&](const source::SourcePositions& positions, bool final) {
    const auto t0 = std::chrono::steady_clock::now();
    state::Checkpoint c;
    const bool paused = shards.WithAllPaused(std::chrono::seconds(30), [&] {
      alerts.Flush();  // what the state has fired is written and spooled before it counts as done
      c = BuildCheckpoint(next_sequence++,
                          CheckpointMeta{static_cast<uint32_t>(pipelines.size()), topic, positions.offsets,
                                         positions.files, pool.max_event_ms()},
                          names, pipelines, alerts);
    });
    if (!paused) {
      spdlog::warn("checkpoint skipped: the shards did not pause within 30 s");
      return;
    }
    checkpoints.Submit(std::move(c), positions,
                       std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), final);
  };
  auto made = MakeSource(cfg, client.value(), restored, take_checkpoint, tokens, &pool, &kinds);
  if (!made.ok()) {
    spdlog::error("{}: {}", options.config_path, made.status().message());
    return kExitConfig;
  }
  std::unique_ptr<source::Source> source = std::move(made).value();
  source_ptr = source.get();

  const auto started = std::chrono::steady_clock::now();
  // What /readyz answers (and flowwatch_ready says): partitions assigned (the
  // checkpoint, if any, is restored before the consumer starts), the blobs
  // events name readable (follow_blob_events) and the last checkpoint written.
  auto readiness = [&]() -> std::pair<bool, std::string> {
    if (const std::string why = source_ptr->not_ready(); !why.empty()) return {false, "not ready: " + why};
    if (kinds.events && kinds.events->failing()) {
      return {false, "not ready: source.kafka.follow_blob_events: the last blob read failed (the log says why)"};
    }
    if (const std::string e = checkpoints.stats().last_error; !e.empty()) {
      return {false, "not ready: the last checkpoint failed: " + e};
    }
    const size_t assigned = source_ptr->assigned_count();
    return {true, "ready: " + std::to_string(assigned) + (from_blob ? " blobs followed" : from_files ? " files followed" : " partitions assigned")};
  };
  // What the summary and /metrics report, read from the counters now.
  auto snapshot = [&] {
    DaemonSnapshot s;
    s.decode = pool.stats();
    s.totals = Totals(pipelines);
    s.messages_decoded = pool.messages();
    s.poison_messages = pool.poison_messages();
    s.alerts_written = alerts.written();
    s.alerts_by_kind = alerts.written_by_kind();
    s.alerts_dropped = alerts.dropped();
    s.source = &source_ptr->counters();
    s.tokens = tokens.get();
    s.sinks = dispatcher.stats();
    s.checkpoint = checkpoints.stats();
    s.checkpoint_restored = have_checkpoint;
    s.alert_repeats = alerts.repeats();
    s.name_overflows = {{"vms", names.vms.overflows()},
                        {"rules", names.rules.overflows()},
                        {"resources", names.resources.overflows()}};
    s.rate_limit = dispatcher.rate_limit_stats();
    s.partitions_assigned = source_ptr->assigned_count();
    s.ready = readiness().first;
    if (kafka) {
      s.partition_backlog = kafka->backlog();
      s.partition_consumed = kafka->consumed();
    }
    s.lag = source_ptr->lag();
    if (kinds.follower) s.followed = kinds.follower->backlog();
    if (kinds.blob) s.blob_requests = kinds.blob->requests();
    if (kinds.events) s.blob_events = &kinds.events->counters();
    for (int i = 0; i < shards.shard_count(); ++i) s.shard_queued.push_back(shards.queued(i));
    for (int i = 0; i < set_options.producers; ++i) s.decoder_backpressure_ns.push_back(shards.producer(i).backpressure_ns());
    return s;
  };
  std::mutex summary_mu;
  std::string http_listen;  // where /metrics really listens (port 0 is resolved), for the summary
  auto write_summary = [&] {
    std::lock_guard<std::mutex> lock(summary_mu);
    const DaemonSnapshot s = snapshot();
    const source::SourceCounters& k = *s.source;
    std::string out;
    JsonWriter w(&out);
    w.BeginObject();
    WriteSummaryFields(&w, s.decode, s.totals);
    w.Field("alerts", s.alerts_written);
    w.Field("alerts_dropped", s.alerts_dropped);
    w.Field("messages", s.messages_decoded);
    w.Field("poison_messages", s.poison_messages);
    w.Field("dead_lettered", k.dead_lettered.value());
    w.Field("consumer_lag", s.lag);
    w.Field("kafka_errors", k.errors.value());
    w.Field("commits", k.commits.value());
    w.Field("rebalances", k.rebalances.value());
    w.Field("pauses", k.pauses.value());
    w.Key("committed");
    w.BeginObject();
    if (kafka) {
      for (const auto& [p, offset] : kafka->committed()) w.Field(std::to_string(p), offset);
    }
    w.EndObject();
    w.Key("assigned");
    w.BeginArray();
    if (kafka) {
      for (int32_t p : kafka->assigned()) w.Int(p);
    }
    w.EndArray();
    if (from_files) w.Field("files_followed", static_cast<uint64_t>(source_ptr->assigned_count()));
    if (!http_listen.empty()) w.Field("http_listen", http_listen);
    w.FieldDouble("uptime_seconds",
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), 1);
    w.EndObject();
    if (Status st = WriteAtomically(summary_path, out + "\n"); !st.ok()) spdlog::warn("summary: {}", st.message());
  };

  std::atomic<bool> stop{false};
  auto reload = [&] {
    config::LoadResult next = config::LoadConfigFile(options.config_path);
    if (!next.ok()) {
      for (const std::string& e : next.errors) spdlog::error("reload: {}", e);
      spdlog::error("reload: {} has errors; keeping the running configuration", options.config_path);
      return;
    }
    if (Status s = enrichment.Load(next.config); !s.ok()) {
      spdlog::error("reload: {}; keeping the running inventory and service tags", s.message());
    } else {
      resolver.SetInventory(enrichment.inventory());
    }
    const config::DetectionConfig& a = cfg.detection;
    const config::DetectionConfig& b = next.config.detection;
    if (a.bucket != b.bucket || a.allowed_lateness != b.allowed_lateness || a.half_life != b.half_life) {
      spdlog::warn("reload: detection.bucket, allowed_lateness and half_life only change on restart");
    }
    live.Set(next.config);
    spdlog::info("reload: thresholds min_ratio {} min_zscore {} min_bytes {} in force", b.min_ratio, b.min_zscore,
                 b.min_bytes);
  };

  // /metrics, /healthz (the consumer loop turned within 30 s: a broker outage
  // does not fail it), /readyz (partitions assigned) and the JSON API. Shard
  // state is read with the shards paused between two batches.
  constexpr auto kPauseTimeout = std::chrono::seconds(5);
  const auto busy = [] { return metrics::HttpResponse{503, "the shards did not pause within 5 s; try again\n"}; };
  metrics::HttpServer http;
  if (!cfg.http.listen.empty()) {
    http.SetToken(cfg.http.token);
    http.Get("/metrics", [&](const metrics::HttpRequest&) {
      DaemonSnapshot s = snapshot();
      if (!shards.WithAllPaused(kPauseTimeout, [&] {
            s.deviations = CollectDeviations(pipelines, names);
            s.top_vms = TopVmTraffic(pipelines, names, 10);
            for (const ShardPipeline* p : pipelines) {
              s.detect_keys_evicted += p->detection().evicted_keys();
              s.port_keys_evicted += p->ports().evicted();
              s.port_folded_flows += p->ports().folded_flows();
              s.dedup_early_rotations += p->dedup().early_rotations();
              if (const int64_t t = p->detection().closed_until_ms(); t != INT64_MIN) {
                s.detect_closed_until_ms = s.detect_closed_until_ms == INT64_MIN ? t : std::min(s.detect_closed_until_ms, t);
              }
            }
          })) {
        spdlog::warn("/metrics: the shards did not pause within 5 s; served without the per-key series");
      }
      return metrics::HttpResponse{200, DaemonMetrics(s).Serialize(), "text/plain; version=0.0.4; charset=utf-8"};
    });
    http.Get(
        "/healthz",
        [&](const metrics::HttpRequest&) {
          const int64_t last = source_ptr->counters().last_poll_ms.load(std::memory_order_relaxed);
          const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::steady_clock::now().time_since_epoch())
                                  .count();
          if (last != 0 && now - last > 30000) {
            return metrics::HttpResponse{503, "stalled: the consumer loop has not turned for " +
                                                  std::to_string((now - last) / 1000) + " s\n"};
          }
          return metrics::HttpResponse{200, "ok\n"};
        },
        metrics::HttpServer::Access::kOpen);
    http.Get(
        "/readyz",
        [&](const metrics::HttpRequest&) {
          const auto [ready, why] = readiness();
          return metrics::HttpResponse{ready ? 200 : 503, why + "\n"};
        },
        metrics::HttpServer::Access::kOpen);
    http.Get("/api/v1/alerts", [&](const metrics::HttpRequest&) {
      return metrics::HttpResponse{200, alerts.ActiveJson() + "\n", "application/json"};
    });
    http.Get("/api/v1/deviations", [&](const metrics::HttpRequest& req) {
      size_t limit = 50;
      if (const std::string l = req.Param("limit"); !l.empty()) {
        char* end = nullptr;
        const unsigned long v = std::strtoul(l.c_str(), &end, 10);
        if (*end != '\0' || v == 0 || v > 10000) {
          return metrics::HttpResponse{400, "limit must be a number from 1 to 10000 (got '" + l + "')\n"};
        }
        limit = v;
      }
      std::vector<DeviationRow> rows;
      if (!shards.WithAllPaused(kPauseTimeout, [&] { rows = CollectDeviations(pipelines, names); })) return busy();
      return metrics::HttpResponse{200, DeviationsJson(rows, req.Param("vm"), limit, cfg.detection.bucket.count()) + "\n",
                                   "application/json"};
    });
    http.Get("/api/v1/ports", [&](const metrics::HttpRequest& req) {
      ports::PortReportFilter filter;
      filter.vm = req.Param("vm");
      filter.rule = req.Param("rule");
      filter.allowed_only = req.Param("allowed") == "true" || req.Param("allowed") == "1";
      if (!ports::ParseDirectionFilter(req.Param("direction"), &filter.direction)) {
        return metrics::HttpResponse{400, "direction must be inbound or outbound (got '" + req.Param("direction") + "')\n"};
      }
      if (const std::string top = req.Param("top"); !top.empty()) {
        char* end = nullptr;
        const long v = std::strtol(top.c_str(), &end, 10);
        if (*end != '\0' || v < 0 || v > 1000) {
          return metrics::HttpResponse{400, "top must be a number from 0 to 1000 (got '" + top + "')\n"};
        }
        filter.top_peers = static_cast<int>(v);
      }
      const auto snapshot = enrichment.Snapshot();  // (classifier, inventory)
      std::string json;
      if (!shards.WithAllPaused(kPauseTimeout, [&] {
            ports::PortReport report(names, *snapshot.first, snapshot.second.get(), filter);
            for (const ShardPipeline* p : pipelines) report.Add(p->ports());
            json = report.Json();
          })) {
        return busy();
      }
      return metrics::HttpResponse{200, json + "\n", "application/json"};
    });
    if (Status st = http.Start(cfg.http.listen); !st.ok()) {
      spdlog::error("{}: {}", options.config_path, st.message());
      return kExitRuntime;
    }
    http_listen = cfg.http.listen.substr(0, cfg.http.listen.rfind(':') + 1) + std::to_string(http.port());
    spdlog::info("http: /metrics, /healthz, /readyz and /api/v1/{{alerts,deviations,ports}} on {}{}", http_listen,
                 cfg.http.token.empty() ? "" : " (metrics and API need the bearer token)");
  }

  checkpoints.Start();
  shards.Start();
  pool.Start();
  dispatcher.Start();
  alerts.Start();
  signals.Start(
      [&] {
        if (!stop.exchange(true)) spdlog::info("stopping: draining in-flight messages and committing");
      },
      reload);
  spdlog::info("flowwatch running: {} decoders, {} shards, summary {}", set_options.producers, set_options.shards,
               summary_path);

  // The summary is also refreshed between commits (it is always written before
  // a commit too, so it covers at least everything committed).
  std::mutex refresher_mu;
  std::condition_variable refresher_cv;
  bool refresher_stop = false;
  std::thread refresher([&] {
    std::unique_lock<std::mutex> lock(refresher_mu);
    while (!refresher_cv.wait_for(lock, std::chrono::seconds(2), [&] { return refresher_stop; })) {
      write_summary();
      dispatcher.Poll();
    }
  });

  const Status status = source_ptr->Run(stop, write_summary);
  {
    std::lock_guard<std::mutex> lock(refresher_mu);
    refresher_stop = true;
  }
  refresher_cv.notify_all();
  refresher.join();
  http.Stop();
  pool.Stop();
  shards.Join();
  alerts.Stop();
  checkpoints.Stop();
  dispatcher.Stop(std::chrono::seconds(5));  // what is still undelivered then stays in the spool
  write_summary();
  const int rc = status.ok() ? 0 : kExitRuntime;
  if (!status.ok()) spdlog::error("{}", status.message());
  spdlog::info("flowwatch stopped");
  if (kafka != nullptr && kafka->close_abandoned()) {
    // A consumer still closing on its own thread can call into librdkafka and
    // log: exit now, without running the destructors it would race.
    spdlog::default_logger()->flush();
    std::fflush(nullptr);
    std::_Exit(rc);
  }
  return rc;
}

}  // namespace flowwatch::app
