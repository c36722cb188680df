// FolderSource: `flowwatch run` over folders of flow-log blobs (a mounted
// container, or a folder a copier writes into), followed as they grow.
//
// Every poll_interval the folders are walked (*.json, *.ndjson and their .gz).
// Each file is a unit of work for the pipeline (a "partition" of the
// MessageHandler, with an id of this run's own), read in the order of its time
// hint (the y=/m=/d=/h= folders), then by path:
//  - a .json blob (`{"records":[...]}` as Azure writes PT1H.json, or a bare
//    array of records) is read record by record: only whole records, from the
//    byte after the last record read up to the last one complete now. Azure
//    adds each minute's record before the `]}` trailer, so the bytes before it
//    never change; a record still being written waits for the next poll.
//  - a .ndjson file is read line by line, whole lines only;
//  - a .gz file is read whole once its size has held still for a poll, and
//    read again whole if it changes (de-duplication keeps the counts right).
// A message is at most max_message_bytes of whole records (a bare JSON array
// of them), its offset the byte after its last record minus one, so that the
// handler's "next offset" is the file position applied. A file is read
// read_chunk_bytes at a time (more while one record is larger).
//
// Event time: before the first of an hour's files is read, every file of that
// hour with new bytes joins the pipeline (OnAssigned), holding event time back
// at its hour's start (OnProgressFloor) until it delivers, so that no NIC is
// late for the buckets another's records close.
//
// A file replaced (another inode), shrunk, or known only from a checkpoint is
// read on from its position only if the bytes before it are still the ones
// read (a fingerprint of them is kept: the length, the first and the last 4 KiB
// before the position): a copier's rename of the same bytes, or
// a truncate-and-rewrite in place (a file shorter than its position gets
// idle_timeout to grow back). Otherwise it was rewritten and is read again
// from its start: de-duplication drops what it saw within its window, and
// older flows count again (a changed blob is new data). A file read to its end
// whose size has held still for idle_timeout, or whose hour newer hours'
// files follow, is retired (revoked from the pipeline: it no longer holds
// event time back) and taken up again if it grows. A deleted file is
// forgotten.
//
// Checkpoints: every checkpoint_interval (and at stop) the source stops
// reading, drains what is in flight, and calls checkpoint(positions, final)
// with every file's applied position: the shards then hold exactly the bytes
// below them. On start, a file resumes at its position in resume (the restored
// checkpoint), checked as above.
//
// Memory: one entry a file present in the folders (its path and positions).
// Threads: Run on one thread; counters, lag and assigned_count from any.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/common/logging.h"
#include "lib/common/status.h"
#include "lib/source/message_handler.h"
#include "lib/source/source.h"

namespace flowwatch::source {

struct FolderSourceOptions {
  std::vector<std::string> folders;
  std::chrono::milliseconds poll_interval{2000};
  std::chrono::milliseconds idle_timeout{30000};  // a file still this long, read to its end, is retired
  size_t max_message_bytes = 4u << 20;
  size_t read_chunk_bytes = 8u << 20;  // read at a time (more while one record is larger)
  std::chrono::milliseconds drain_budget{30000};
  std::function<void(const SourcePositions& positions, bool final)> checkpoint;
  std::chrono::milliseconds checkpoint_interval{30000};
  std::map<std::string, FilePosition> resume;  // path -> bytes applied (the restored checkpoint)
};

// The whole records of a flow-log file's text from `from` on, at most
// max_bytes of them (at least one): where the first starts and the byte after
// the last complete one (a JSON value, or for NDJSON a whole line); none while
// the next is still being written. At the file's start (from 0, at_file_start)
// the blob's head (`{"records":[` or `[`) is skipped first. Pure; exposed for
// its tests and fuzzing.
struct RecordSpan {
  size_t first = 0;  // the first record's first byte
  size_t end = 0;    // the byte after the last whole record
  size_t records = 0;
};
RecordSpan WholeRecords(std::string_view text, size_t from, bool at_file_start, bool ndjson, size_t max_bytes);

class FolderSource : public Source {
 public:
  // A folder that is not one is an error naming it.
  static Result<std::unique_ptr<FolderSource>> Create(const FolderSourceOptions& options, MessageHandler* handler);
  ~FolderSource() override;

  Status Run(const std::atomic<bool>& stop, const std::function<void()>& on_turn) override;
  void SetDurable(const SourcePositions&) override {}  // positions live in the checkpoint alone
  void DeadLetter(int32_t, int64_t, const char*, size_t) override {}  // the file stays where it is
  const SourceCounters& counters() const override { return counters_; }
  size_t assigned_count() const override { return followed_.load(std::memory_order_relaxed); }
  std::string not_ready() const override { return polled_.load() ? "" : "the folders have not been walked yet"; }
  int64_t lag() const override { return lag_.load(std::memory_order_relaxed); }

 private:
  struct File {
    int32_t id = 0;
    bool assigned = false;
    bool gz = false, ndjson = false;
    dev_t dev = 0;
    ino_t ino = 0;
    uint64_t size = 0;           // as last seen
    int64_t read = 0;            // bytes offered to the pipeline
    int64_t applied = 0;         // bytes the pipeline has applied
    uint64_t hash = 0;           // Fingerprint of the bytes read (folder_source.cpp)
    std::optional<std::chrono::steady_clock::time_point> short_since;  // shorter than read since
    std::chrono::steady_clock::time_point changed;  // when its size last changed (or it was found)
    int64_t hint = INT64_MIN;    // the hour its path names
    bool seen = false;           // in this poll's walk
    bool resumed = false;        // read is the checkpoint's, not yet checked against the file
  };

  FolderSource(const FolderSourceOptions& options, MessageHandler* handler);
  void Poll(const std::atomic<bool>& stop);
  // Reads a file's new whole records and offers them; false if stop was set meanwhile.
  bool ReadNew(const std::string& path, File* f, const std::atomic<bool>& stop);
  bool OfferAll(int32_t id, std::string body, int64_t end, const std::atomic<bool>& stop);
  void Collect();
  void Checkpoint(bool final);
  void Retire(const std::atomic<bool>& stop);
  void Assign(File* f);

  const FolderSourceOptions options_;
  MessageHandler* handler_;
  std::map<std::string, File> files_;
  std::map<int32_t, std::string> by_id_;
  int32_t next_id_ = 0;
  int64_t newest_hint_ = INT64_MIN;  // the newest hour any file's path names
  std::vector<std::pair<int32_t, int64_t>> done_;
  SourceCounters counters_;
  std::atomic<size_t> followed_{0};
  std::atomic<bool> polled_{false};
  uint64_t completed_ = 0;           // messages the pipeline has applied
  std::atomic<int64_t> lag_{-1};     // messages read, not yet applied
  LogLimiter log_limiter_;
};

}  // namespace flowwatch::source
