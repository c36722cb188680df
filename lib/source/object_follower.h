// ObjectFollower: `flowwatch run` over flow-log objects that grow - files in
// followed folders (`source.files`), blobs in Storage containers
// (`source.blob`) - read through an ObjectStore (object_store.h).
//
// Every poll_interval the store is listed (*.json, *.ndjson and their .gz).
// Each object is a unit of work for the pipeline (a "partition" of the
// MessageHandler, with an id of this run's own), read in the order of its time
// hint (the y=/m=/d=/h= folders), then by name:
//  - a .json blob (`{"records":[...]}` as Azure writes PT1H.json, or a bare
//    array of records) is read record by record: only whole records, from the
//    byte after the last record read up to the last one complete now. Azure
//    adds each minute's record block before the `]}` trailer and commits the
//    block list again, so the bytes before it never change; a record still
//    being written waits for the next poll.
//  - a .ndjson file is read line by line, whole lines only;
//  - a record that is not read whole - longer than max_record_bytes, or cut
//    short at the end of an object its stream has moved on from - is
//    stepped over alone (SkipRecord): its first 4 KiB go as a message of
//    their own, for the decoder to count as bad_json;
//  - a .gz file is read whole once its size has held still for a poll, and
//    read again whole if it changes (de-duplication keeps the counts right).
// A message is at most max_message_bytes of whole records (a bare JSON array
// of them), its offset the byte after its last record minus one, so that the
// handler's "next offset" is the object position applied. An object is read
// read_chunk_bytes at a time (more while one record is larger), each read
// starting 4 KiB before its position (the fingerprint's tail, below), so that
// a blob that gained one minute's record costs one ranged read.
//
// Event time: before the first of an hour's objects is read, every object of
// that hour with new bytes joins the pipeline (OnAssigned), holding event time
// back at its hour's start (OnProgressFloor) until it delivers, so that no NIC
// is late for the buckets another's records close.
//
// Every read checks the 4 KiB before the position it brings against the
// fingerprint (below), so an object rewritten with other bytes is noticed at
// its next read, even one that grew (a blob's ETag changes with every append,
// so it tells nothing). An object replaced (another identity), shrunk, or
// known only from a checkpoint is read on from its position only if the bytes
// before it are still the ones read (a fingerprint of them is kept: the length, the first and
// the last 4 KiB before the position): a copier's rename of the same bytes, or
// a truncate-and-rewrite in place (an object shorter than its position gets
// idle_timeout to grow back). Otherwise it was rewritten and is read again
// from its start: de-duplication drops what it saw within its window, and
// older flows count again (a changed blob is new data). An object read to its
// end is retired (revoked from the pipeline: it no longer holds event time
// back) once its stream's next hour has begun - its stream is its name
// without the y=/m=/d=/h= folders, one NIC's or NSG's blobs - or once the
// newest hour listed is more than an hour after its own (the stream stopped),
// or else once its size has held still for idle_timeout; it is taken up again
// if it grows. Until then it holds event time at its last record, so that a
// NIC whose next hour's blob appears a little after another's is not late for
// the buckets the other's records close. A deleted object is forgotten.
//
// Checkpoints: every checkpoint_interval (and at stop) the follower stops
// reading, drains what is in flight, and calls checkpoint(positions, final)
// with every object's applied position (SourcePositions::files, by name): the
// shards then hold exactly the bytes below them. On start, an object resumes
// at its position in resume (the restored checkpoint), checked as above. The
// positions name objects by path or URL: if none of them is listed (a folder
// moved, the account reached through another endpoint), that is logged as a
// warning before anything is read.
//
// Restarted, the handler knows the newest event time of the checkpoint before
// the objects behind it are listed: it is told (OnCaughtUp) only after the
// first poll whose listing was complete, so that until then having nothing
// assigned does not move event time on.
//
// Readiness: false until the first listing, and while the last one failed
// (Storage unreachable, credentials refused).
//
// An object listed with the size and version (ETag, mtime) it was last read
// to the end at costs no read. With parallel_reads > 1, the first reads of
// the next objects in order are made ahead on as many threads; what is
// offered, and in which order, does not change.
//
// Memory: one entry an object listed (its name and positions) and one a
// stream, the first 4 KiB of each object being followed, and up to
// parallel_reads reads ahead (at most read_chunk_bytes each).
// Threads: Run on one thread; counters, lag, assigned_count and backlog from any.
#pragma once

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
#include "lib/source/object_store.h"
#include "lib/source/source.h"

namespace flowwatch::source {

struct FollowOptions {
  std::chrono::milliseconds poll_interval{2000};
  std::chrono::milliseconds idle_timeout{30000};  // an object still this long, read to its end, is retired
  size_t max_message_bytes = 4u << 20;
  size_t read_chunk_bytes = 8u << 20;  // read at a time (more while one record is larger)
  // A record longer than this (decode.max_body_bytes) is not read whole: see
  // SkipRecord.
  size_t max_record_bytes = 256u << 20;
  // Objects read at once: up to this many of the next objects' first reads
  // are made ahead, on as many threads (Storage's latency, not its bandwidth,
  // bounds one read after another). 1: one after another.
  int parallel_reads = 1;
  std::chrono::milliseconds drain_budget{30000};
  std::function<void(const SourcePositions& positions, bool final)> checkpoint;
  std::chrono::milliseconds checkpoint_interval{30000};
  std::map<std::string, FilePosition> resume;  // name -> bytes applied (the restored checkpoint)
};

// The whole records of a flow-log object's text from `from` on, at most
// max_bytes of them (at least one): where the first starts and the byte after
// the last complete one (a JSON value, or for NDJSON a whole line); none while
// the next is still being written. At the object's start (from 0,
// at_file_start) the blob's head (`{"records":[` or `[`) is skipped first.
// Pure; exposed for its tests and fuzzing.
struct RecordSpan {
  size_t first = 0;  // the first record's first byte
  size_t end = 0;    // the byte after the last whole record
  size_t records = 0;
};
RecordSpan WholeRecords(std::string_view text, size_t from, bool at_file_start, bool ndjson, size_t max_bytes);

// Where a JSON value ends, its text fed piece by piece from its first byte
// (separators before it skipped; its depth, whether inside a string and a
// pending backslash carry from one piece to the next): the same end
// WholeRecords finds, without holding the value, so that a record longer
// than any read can be stepped over. Exposed for its tests and fuzzing.
class ValueScanner {
 public:
  // Just past the value's end in `piece` (the value's next bytes), or npos
  // if it goes on.
  size_t Feed(std::string_view piece);

 private:
  int64_t depth_ = 0;
  bool started_ = false, scalar_ = false, in_string_ = false, escaped_ = false;
};

class ObjectFollower : public Source {
 public:
  ObjectFollower(const FollowOptions& options, std::unique_ptr<ObjectStore> store, MessageHandler* handler);
  ~ObjectFollower() override;

  Status Run(const std::atomic<bool>& stop, const std::function<void()>& on_turn) override;
  void SetDurable(const SourcePositions&) override {}  // positions live in the checkpoint alone
  void DeadLetter(int32_t, int64_t, const char*, size_t) override {}  // the object stays where it is
  const SourceCounters& counters() const override { return counters_; }
  size_t assigned_count() const override { return followed_.load(std::memory_order_relaxed); }
  std::string not_ready() const override;
  int64_t lag() const override { return lag_.load(std::memory_order_relaxed); }

  // What waits to be read, as of the last listing and the reads since (the
  // figures are brought up to date at each hour of a poll and at its end).
  struct Backlog {
    size_t tracked = 0;             // objects listed
    int64_t bytes_behind = 0;       // listed bytes not yet read (a JSON blob's trailer aside)
    int64_t oldest_unread_ms = -1;  // steady-clock ms since which the oldest of them has waited; -1: none
    size_t streams = 0;             // flow-log streams (StreamOfPath: one NIC's or NSG's blobs) listed
    size_t streams_silent = 0;      // of which none has a blob in the newest hour listed or the one before
  };
  Backlog backlog() const;
  size_t tracked() const { return backlog().tracked; }

 private:
  struct Object {
    int32_t id = 0;
    bool assigned = false;
    bool gz = false, ndjson = false;
    uint64_t identity = 0;
    uint64_t size = 0;           // as listed when last read (ReadNew); `listed` is the last listing's
    int64_t read = 0;            // bytes offered to the pipeline
    int64_t applied = 0;         // bytes the pipeline has applied
    uint64_t hash = 0;           // Fingerprint of the bytes read (object_follower.cpp)
    std::string head;            // its first 4 KiB (or fewer), while followed
    std::optional<std::chrono::steady_clock::time_point> short_since;  // shorter than read since
    std::chrono::steady_clock::time_point changed;  // when its size last changed (or it was found)
    int64_t hint = INT64_MIN;    // the hour its name names
    std::string stream;          // its name without the hour's folders (StreamOfPath), if it names one
    bool seen = false;           // in this poll's listing
    bool resumed = false;        // read is the checkpoint's, not yet checked against the object
    // The listing (size, version) it was last read to the end at: an object
    // listed the same again has nothing new and costs no read.
    uint64_t settled_size = UINT64_MAX, settled_version = 0;
    uint64_t listed = 0;  // its size in the last listing
    std::optional<std::chrono::steady_clock::time_point> unread_since;  // listed with bytes not yet read since
  };
  class ReadAhead;  // object_follower.cpp

  void Poll(const std::atomic<bool>& stop);
  // Whether ReadNew would find nothing new in an object as listed.
  static bool Settled(const StoredObject& in, const Object& o);
  // Asks for the first reads of the objects after found[i] (up to parallel_reads of them).
  void ReadAheadOf(const std::vector<StoredObject>& found, size_t i);
  // Bytes [from, to) of an object: those read ahead if they were, else from the store.
  Status ReadRange(const std::string& name, int64_t from, int64_t to, std::string* out);
  // Reads an object's new whole records and offers them; false if stop was set meanwhile.
  bool ReadNew(const StoredObject& in, Object* o, const std::atomic<bool>& stop);
  // The fingerprint of an object's first `bytes`, read from the store (0 if
  // it is shorter now; none if it cannot be read now).
  std::optional<uint64_t> StoredFingerprint(const std::string& name, Object* o, int64_t bytes);
  bool OfferAll(int32_t id, std::string body, int64_t end, const std::atomic<bool>& stop);
  // A record that is not read whole - longer than max_record_bytes, or cut
  // short in an object its stream has moved on from - goes no further: its
  // first 4 KiB (of `known`, the bytes from record_at on already read) are
  // offered alone, so that the decoder counts it (bad_json) and the
  // position moves past it, and the object is read on from the record's end,
  // found by scanning on without holding it. A record that does not end
  // before the object does is, when cut_short, skipped to the object's JSON
  // trailer (Azure adds the next block before it) or end; otherwise it may
  // still be being written: kWait.
  enum class Skip { kDone, kWait, kStopped };
  Skip SkipRecord(const std::string& name, Object* o, int64_t record_at, std::string_view known, int64_t size,
                  bool cut_short, const char* why, const std::atomic<bool>& stop);
  // An object whose stream has moved on, read to its last whole record: if
  // what follows is not its trailer, it is a record cut short that will
  // never be completed (SkipRecord). False if stop was set meanwhile.
  bool SkipCutShort(const std::string& name, Object* o, const std::atomic<bool>& stop);
  void Collect();
  // Brings backlog_ up to date; streams counted only at a poll's end (at_end).
  void Measure(bool at_end);
  void Checkpoint(bool final);
  // Warns when the checkpoint names objects and none of them is listed: the
  // names changed (another folder, another endpoint for the account).
  void WarnIfResumeUnmatched() const;
  // Revokes the objects read to their end whose hour is over (or that were
  // still for idle_timeout), of the hours before `before_hint` only.
  void Retire(const std::atomic<bool>& stop, int64_t before_hint = INT64_MAX);
  void Assign(Object* o);
  void Forget(std::map<std::string, Object>::iterator it);
  void ReadError(const std::string& name, const Status& s);
  // Logs why (`why`: "rewritten", ...), drains the object's messages in
  // flight, and starts it over from byte 0.
  void ReadAgain(const std::string& name, Object* o, const char* why);

  const FollowOptions options_;
  std::unique_ptr<ObjectStore> store_;
  std::unique_ptr<ReadAhead> ahead_;  // null when parallel_reads is 1
  size_t ahead_until_ = 0;            // found[] below this index have been asked for
  MessageHandler* handler_;
  std::map<std::string, Object> objects_;
  std::map<int32_t, std::string> by_id_;
  int32_t next_id_ = 0;
  int64_t newest_hint_ = INT64_MIN;  // the newest hour any object's name names
  bool caught_up_ = false;            // told the handler (OnCaughtUp): the first complete poll is over
  bool resume_checked_ = false;       // WarnIfResumeUnmatched ran, at the first complete listing
  std::map<std::string, int64_t> stream_hint_;  // stream -> the newest hour of it listed
  std::vector<std::pair<int32_t, int64_t>> done_;
  SourceCounters counters_;
  std::atomic<size_t> followed_{0};
  mutable std::mutex backlog_mu_;
  Backlog backlog_;  // guarded by backlog_mu_
  std::atomic<bool> polled_{false};
  std::atomic<bool> listed_{true};  // the last listing was complete
  uint64_t completed_ = 0;        // messages the pipeline has applied
  std::atomic<int64_t> lag_{-1};  // messages read, not yet applied
  LogLimiter log_limiter_;
};

}  // namespace flowwatch::source
