#include "daemon/replay.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>

#include "daemon/decode_worker.h"
#include "daemon/enrichment.h"
#include "lib/common/json_writer.h"
#include "lib/common/text_format.h"
#include "lib/common/logging.h"
#include "lib/enrich/vm_resolver.h"
#include "lib/shard/shard_set.h"
#include "lib/source/blob/blob_inputs.h"
#include "lib/source/file/input_files.h"

namespace flowwatch::app {
namespace {

// Prints replay progress to stderr until stopped: every second on a terminal
// (one line, rewritten), every 10 seconds otherwise.
class ProgressReporter {
 public:
  ProgressReporter(bool enabled, size_t total_files, uint64_t total_bytes, const std::atomic<size_t>* files_done,
                   std::function<uint64_t()> bytes_done, std::function<uint64_t()> tuples_done)
      : enabled_(enabled), tty_(isatty(STDERR_FILENO) == 1), total_files_(total_files), total_bytes_(total_bytes),
        files_done_(files_done), bytes_done_(std::move(bytes_done)), tuples_done_(std::move(tuples_done)) {
    if (enabled_) thread_ = std::thread([this] { Loop(); });
  }
  ~ProgressReporter() { Stop(); }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Loop() {
    const auto start = std::chrono::steady_clock::now();
    const auto period = tty_ ? std::chrono::seconds(1) : std::chrono::seconds(10);
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, period, [this] { return stop_; })) {
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const uint64_t tuples = tuples_done_();
      std::fprintf(stderr, "%sreplay: %zu/%zu files, %s of %s, %.2f M tuples, %.2f M tuples/s%s",
                   tty_ ? "\r" : "", files_done_->load(std::memory_order_relaxed), total_files_,
                   HumanBytes(static_cast<double>(bytes_done_())).c_str(),
                   HumanBytes(static_cast<double>(total_bytes_)).c_str(), tuples / 1e6, tuples / 1e6 / secs,
                   tty_ ? "   " : "\n");
      std::fflush(stderr);
      printed_ = true;
    }
    if (tty_ && printed_) std::fputc('\n', stderr);
  }

  const bool enabled_;
  const bool tty_;
  const size_t total_files_;
  const uint64_t total_bytes_;
  const std::atomic<size_t>* files_done_;
  std::function<uint64_t()> bytes_done_;
  std::function<uint64_t()> tuples_done_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool printed_ = false;
  std::thread thread_;
};

// Collects one shard's alerts; read after the shard set is joined.
class CollectingAlertSink : public detect::AlertSink {
 public:
  void Emit(Alert alert) override { alerts.push_back(std::move(alert)); }
  std::vector<Alert> alerts;
};

// Local paths (files and folders) and blob URL prefixes, in one (time hint,
// name) order.
Result<std::vector<source::InputFile>> ListInputs(const std::vector<std::string>& paths, const config::Config& cfg) {
  std::vector<std::string> local;
  std::vector<source::InputFile> files;
  for (const std::string& p : paths) {
    if (!source::IsBlobUrl(p)) {
      local.push_back(p);
      continue;
    }
    auto blobs = source::ListBlobInputs(p, cfg.azure);
    if (!blobs.ok()) return blobs.status();
    spdlog::info("replay: {} blobs under {}", blobs->size(), p.substr(0, p.find('?')));
    files.insert(files.end(), std::make_move_iterator(blobs->begin()), std::make_move_iterator(blobs->end()));
  }
  if (!local.empty()) {
    auto listed = source::ListInputFiles(local);
    if (!listed.ok()) return listed.status();
    files.insert(files.end(), std::make_move_iterator(listed->begin()), std::make_move_iterator(listed->end()));
  }
  source::SortByTimeHint(&files);
  return files;
}

}  // namespace

int RunReplay(const ReplayOptions& options, const std::function<void(const ReplayResult&)>& done) {
  const config::Config& cfg = options.config;
  ReplayResult result;

  Enrichment enrichment;
  if (Status st = enrichment.Load(cfg); !st.ok()) {
    std::fprintf(stderr, "flowwatch: %s\n", st.message().c_str());
    return 2;
  }
  const auto [classifier, inventory] = enrichment.Snapshot();

  auto listed = ListInputs(options.paths, cfg);
  if (!listed.ok()) {
    std::fprintf(stderr, "flowwatch: %s\n", listed.status().message().c_str());
    return 2;
  }
  const std::vector<source::InputFile> files = std::move(listed.value());
  if (files.empty()) {
    std::fprintf(stderr, "flowwatch: no flow-log files (*.json, *.json.gz, *.ndjson) under the given paths or URLs\n");
    return 2;
  }
  uint64_t total_bytes = 0;
  for (const auto& f : files) total_bytes += f.size_bytes;
  spdlog::info("replay: {} files, {} bytes", files.size(), total_bytes);

  NameTables names;
  const enrich::VmResolver resolver(inventory, &names.vms);

  const int decoders = std::min<int>(ThreadsOrCores(cfg.pipeline.decoders),
                                     static_cast<int>(files.size()));
  shard::ShardSetOptions set_options;
  set_options.producers = decoders;
  set_options.shards = ThreadsOrCores(cfg.pipeline.shards);
  set_options.ring_capacity = static_cast<size_t>(cfg.pipeline.ring_capacity);
  std::vector<ShardPipeline*> pipelines(set_options.shards);
  std::vector<CollectingAlertSink> alert_sinks(set_options.shards);
  shard::ShardSet shards(set_options, [&](int s) {
    auto p = std::make_unique<ShardPipeline>(cfg, &alert_sinks[s], ShardPipeline::Mode{true, nullptr, &enrichment, options.observer ? options.observer(s) : nullptr});
    pipelines[s] = p.get();
    return p;
  });

  // Files are taken in (time hint, path) order; a worker never promises event
  // time beyond the hint of the next file nobody has started yet.
  std::atomic<size_t> next_file{0};
  std::atomic<size_t> files_done{0};
  std::atomic<size_t> files_failed{0};
  auto progress_cap = [&]() -> int64_t {
    const size_t i = next_file.load(std::memory_order_acquire);
    return i < files.size() ? files[i].time_hint_ms : INT64_MAX;
  };

  decode::DecoderOptions decoder_options;
  decoder_options.max_body_bytes = cfg.decode.max_body_bytes;
  std::vector<std::unique_ptr<DecodeWorker>> workers;
  for (int p = 0; p < decoders; ++p) {
    workers.push_back(std::make_unique<DecodeWorker>(decoder_options, &names, &resolver, &shards.producer(p),
                                                     progress_cap));
  }

  const auto start = std::chrono::steady_clock::now();
  shards.Start();
  ProgressReporter reporter(
      options.progress, files.size(), total_bytes, &files_done,
      [&] {
        uint64_t n = 0;
        for (auto& w : workers) n += w->bytes_in();
        return n;
      },
      [&] {
        uint64_t n = 0;
        for (auto& w : workers) n += w->flows_sent();
        return n;
      });

  std::vector<std::thread> threads;
  for (int p = 0; p < decoders; ++p) {
    threads.emplace_back([&, p] {
      DecodeWorker& worker = *workers[p];
      std::vector<char> buf;
      const size_t padding = decode::RequiredPadding();
      while (true) {
        const size_t i = next_file.fetch_add(1, std::memory_order_acq_rel);
        if (i >= files.size()) break;
        worker.BeginInput(files[i].time_hint_ms);
        size_t size = 0;
        const Status st = source::ReadInputPadded(files[i], padding, &buf, &size);
        if (!st.ok()) {
          spdlog::warn("skipping {}", st.message());
          files_failed.fetch_add(1, std::memory_order_relaxed);
        } else {
          worker.DecodePadded(buf.data(), size, buf.size());
        }
        worker.ReportProgress();
        files_done.fetch_add(1, std::memory_order_relaxed);
      }
      shards.producer(p).Finish();
    });
  }
  for (auto& t : threads) t.join();
  shards.Join();
  reporter.Stop();

  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.files = files.size();
  result.files_failed = files_failed.load();
  result.input_bytes = total_bytes;
  for (auto& w : workers) result.decode.Add(w->stats());
  result.names = &names;
  result.classifier = classifier.get();
  result.inventory = inventory.get();
  for (ShardPipeline* p : pipelines) result.shards.push_back(p);
  for (CollectingAlertSink& sink : alert_sinks) {
    for (Alert& a : sink.alerts) result.alerts.push_back(std::move(a));
  }
  std::sort(result.alerts.begin(), result.alerts.end(), [&](const Alert& a, const Alert& b) {
    if (a.window_end_ms != b.window_end_ms) return a.window_end_ms < b.window_end_ms;
    const std::string_view va = names.vms.Get(a.key.vm_id), vb = names.vms.Get(b.key.vm_id);
    if (va != vb) return va < vb;
    if (a.key.protocol != b.key.protocol) return a.key.protocol < b.key.protocol;
    if (a.key.port != b.key.port) return a.key.port < b.key.port;
    if (a.key.direction != b.key.direction) return a.key.direction < b.key.direction;
    return a.status < b.status;
  });
  if (result.files_failed > 0) {
    result.exit_code = 1;
    result.error = std::to_string(result.files_failed) + " input file(s) could not be read";
  }
  done(result);
  return result.exit_code;
}

PipelineTotals Totals(const ReplayResult& r) { return Totals(r.shards); }

std::string SummaryJson(const ReplayResult& r) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  WriteSummaryFields(&w, r.decode, Totals(r));
  w.Field("alerts", static_cast<uint64_t>(r.alerts.size()));
  w.Field("files", static_cast<uint64_t>(r.files));
  w.Field("files_failed", static_cast<uint64_t>(r.files_failed));
  w.Field("input_bytes", r.input_bytes);
  w.FieldDouble("seconds", r.seconds, 3);
  w.EndObject();
  return out;
}

}  // namespace flowwatch::app
