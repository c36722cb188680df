#include "lib/source/object_follower.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "lib/common/hash.h"
#include "lib/source/file/input_files.h"

namespace flowwatch::source {
using Clock = std::chrono::steady_clock;

namespace {

// Bytes after a blob's last record that hold no record: its `]}` trailer and
// perhaps a newline (a flow-log record is hundreds of bytes).
constexpr int64_t kTrailerSlack = 16;
// The fingerprint's ends (Fingerprint), and how far before its position each
// read of an object starts.
constexpr int64_t kEnd = 4096;
constexpr int64_t kTrailerBytes = 2;  // Azure's `]}`: what follows the last record of a whole PT1H.json
constexpr int64_t kHourMs = 3'600'000;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// An object's first `bytes`: their first and last min(bytes, 4 KiB) and the
// length, hashed (lib/common/hash.h). Cheap to keep and to check, whatever
// the object's size; a rewrite that keeps both ends and the length goes
// unnoticed (copiers rewrite whole blobs, and Azure's records start with their
// time). head and tail are those bytes.
uint64_t Fingerprint(std::string_view head, std::string_view tail, int64_t bytes) {
  return HashCombine(HashBytes(head.data(), head.size(), static_cast<uint64_t>(bytes)),
                     HashBytes(tail.data(), tail.size()));
}

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// Where an object's records end if its last bytes (`tail`, from byte
// tail_from of it) are a JSON trailer (`]` or `]}`, spaces around): the
// `]`'s byte; else -1.
int64_t TrailerAt(std::string_view tail, int64_t tail_from) {
  size_t e = tail.size();
  while (e > 0 && IsSpace(tail[e - 1])) --e;
  if (e > 0 && tail[e - 1] == '}') {
    --e;
    while (e > 0 && IsSpace(tail[e - 1])) --e;
  }
  return e > 0 && tail[e - 1] == ']' ? tail_from + static_cast<int64_t>(e - 1) : -1;
}

// The end of the JSON value starting at text[pos] (an object, array, string or
// scalar), or npos if it is not complete in text.
size_t ValueEnd(std::string_view text, size_t pos) {
  const size_t n = text.size();
  if (text[pos] != '{' && text[pos] != '[' && text[pos] != '"') {
    // A scalar (or a stray character: one byte at least, so that a scan
    // always moves on): up to the next separator. Complete only if one follows.
    for (size_t i = pos + 1; i < n; ++i) {
      const char c = text[i];
      if (c == ',' || c == ']' || c == '}' || IsSpace(c)) return i;
    }
    return std::string_view::npos;
  }
  int depth = 0;
  bool in_string = false;
  for (size_t i = pos; i < n; ++i) {
    const char c = text[i];
    if (in_string) {
      // Most of a record is strings: jump to the next quote, then see whether
      // an odd run of backslashes escapes it.
      const void* q = std::memchr(text.data() + i, '"', n - i);
      if (q == nullptr) return std::string_view::npos;
      i = static_cast<size_t>(static_cast<const char*>(q) - text.data());
      size_t slashes = 0;
      while (i - slashes > pos && text[i - slashes - 1] == '\\') ++slashes;
      if (slashes % 2 == 1) continue;
      in_string = false;
      if (depth == 0) return i + 1;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
}

// Where the records of a JSON blob begin: after `{"records":[` (Azure's first
// block) or `[`; a file that is neither is a stream of values from its start.
// npos while the head itself is incomplete.
size_t RecordsStart(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && IsSpace(text[i])) ++i;
  if (i == text.size()) return std::string_view::npos;
  if (text[i] == '[') return i + 1;
  if (text[i] != '{') return i;
  size_t j = i + 1;
  while (j < text.size() && IsSpace(text[j])) ++j;
  constexpr std::string_view kKey = "\"records\"";
  if (text.size() - j < kKey.size()) return text.substr(j) == kKey.substr(0, text.size() - j) ? std::string_view::npos : i;
  if (text.substr(j, kKey.size()) != kKey) return i;  // a bare record
  j += kKey.size();
  while (j < text.size() && (IsSpace(text[j]) || text[j] == ':')) ++j;
  if (j == text.size()) return std::string_view::npos;
  return text[j] == '[' ? j + 1 : i;
}

// Where the next record of `text` begins: past separators (and, at the
// start of a JSON blob, its head if whole); text.size() if none does.
size_t RecordAt(std::string_view text, bool at_file_start) {
  size_t i = 0;
  if (at_file_start) {
    const size_t records = RecordsStart(text);
    if (records != std::string_view::npos) i = records;
  }
  while (i < text.size() && (IsSpace(text[i]) || text[i] == ',')) ++i;
  return i;
}

}  // namespace

RecordSpan WholeRecords(std::string_view text, size_t from, bool at_file_start, bool ndjson, size_t max_bytes) {
  RecordSpan span{from, from, 0};
  if (ndjson) {
    size_t end = from;
    while (end < text.size()) {
      const size_t nl = text.find('\n', end);
      if (nl == std::string_view::npos) break;
      if (span.records > 0 && nl + 1 - from > max_bytes) break;
      end = nl + 1;
      ++span.records;
    }
    span.end = end;
    return span;
  }
  size_t pos = from;
  if (from == 0 && at_file_start) {
    pos = RecordsStart(text);
    if (pos == std::string_view::npos) return span;
  }
  while (true) {
    while (pos < text.size() && (IsSpace(text[pos]) || text[pos] == ',')) ++pos;
    if (pos >= text.size() || text[pos] == ']') break;  // more to come, or the trailer
    const size_t end = ValueEnd(text, pos);
    if (end == std::string_view::npos) break;  // a record still being written
    if (span.records > 0 && end - span.first > max_bytes) break;
    if (span.records == 0) span.first = pos;
    span.end = end;
    ++span.records;
    pos = end;
  }
  return span;
}

size_t ValueScanner::Feed(std::string_view piece) {
  for (size_t i = 0; i < piece.size(); ++i) {
    const char c = piece[i];
    if (!started_) {
      if (IsSpace(c) || c == ',') continue;  // separators before it
      started_ = true;
      scalar_ = c != '{' && c != '[' && c != '"';
      if (scalar_) continue;  // one byte at least, as ValueEnd
    }
    if (scalar_) {
      if (c == ',' || c == ']' || c == '}' || IsSpace(c)) return i;
    } else if (in_string_) {
      if (escaped_) {
        escaped_ = false;
      } else if (c == '\\') {
        escaped_ = true;
      } else if (c == '"') {
        in_string_ = false;
        if (depth_ == 0) return i + 1;
      }
    } else if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      ++depth_;
    } else if ((c == '}' || c == ']') && --depth_ == 0) {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

// Reads made ahead of the follower, on threads of their own: Ask queues one;
// Take hands its bytes over (waiting for them) if exactly that range was
// asked, and says none was otherwise; Forget drops what was never taken.
class ObjectFollower::ReadAhead {
 public:
  ReadAhead(ObjectStore* store, int threads) : store_(store) {
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
  }
  ~ReadAhead() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      queue_.clear();
    }
    queued_.notify_all();
    for (std::thread& t : workers_) t.join();
  }

  void Ask(const std::string& name, int64_t from, int64_t to) {
    auto job = std::make_shared<Job>();
    job->name = name;
    job->from = from;
    job->to = to;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!jobs_.emplace(name, job).second) return;
      queue_.push_back(std::move(job));
    }
    queued_.notify_one();
  }

  std::optional<Status> Take(const std::string& name, int64_t from, int64_t to, std::string* out) {
    std::unique_lock<std::mutex> lock(mu_);
    const auto it = jobs_.find(name);
    if (it == jobs_.end()) return std::nullopt;
    const std::shared_ptr<Job> job = it->second;
    jobs_.erase(it);
    if (job->from != from || job->to != to) {  // the object moved on meanwhile
      job->dropped = true;
      return std::nullopt;
    }
    done_.wait(lock, [&] { return job->done; });
    *out = std::move(job->bytes);
    return std::move(job->status);
  }

  void Forget() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [name, job] : jobs_) job->dropped = true;
    jobs_.clear();
    queue_.clear();
  }

  // Asked and not taken (queued, in flight, or waiting to be taken).
  size_t asked() const {
    std::lock_guard<std::mutex> lock(mu_);
    return jobs_.size();
  }

 private:
  struct Job {
    std::string name;
    int64_t from = 0, to = 0;
    bool done = false, dropped = false;
    Status status;
    std::string bytes;
  };

  void Work() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      queued_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      const std::shared_ptr<Job> job = std::move(queue_.front());
      queue_.pop_front();
      if (job->dropped) continue;
      lock.unlock();
      std::string bytes;
      Status s = store_->Read(job->name, job->from, job->to, &bytes);
      lock.lock();
      job->status = std::move(s);
      job->bytes = std::move(bytes);
      job->done = true;
      done_.notify_all();
    }
  }

  ObjectStore* const store_;
  mutable std::mutex mu_;
  std::condition_variable queued_, done_;
  std::deque<std::shared_ptr<Job>> queue_;               // guarded by mu_
  std::map<std::string, std::shared_ptr<Job>> jobs_;     // asked, not taken; guarded by mu_
  bool stop_ = false;                                    // guarded by mu_
  std::vector<std::thread> workers_;
};

ObjectFollower::ObjectFollower(const FollowOptions& options, std::unique_ptr<ObjectStore> store,
                               MessageHandler* handler)
    : options_(options), store_(std::move(store)), handler_(handler) {
  if (options_.parallel_reads > 1) ahead_ = std::make_unique<ReadAhead>(store_.get(), options_.parallel_reads);
}

ObjectFollower::~ObjectFollower() = default;

std::string ObjectFollower::not_ready() const {
  if (!polled_.load()) return std::string(store_->key()) + " has not been listed yet";
  if (!listed_.load()) return std::string(store_->key()) + ": the last listing failed (the log says why)";
  return "";
}

Status ObjectFollower::Run(const std::atomic<bool>& stop, const std::function<void()>& on_turn) {
  auto next_checkpoint = Clock::now() + options_.checkpoint_interval;
  while (!stop.load()) {
    Poll(stop);
    Collect();
    Retire(stop);
    if (options_.checkpoint && Clock::now() >= next_checkpoint) {
      if (on_turn) on_turn();
      Checkpoint(false);
      next_checkpoint = Clock::now() + options_.checkpoint_interval;
    }
    if (on_turn) on_turn();
    const auto wake = Clock::now() + options_.poll_interval;
    while (!stop.load() && Clock::now() < wake) {
      counters_.last_poll_ms.store(NowMs());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      Collect();
    }
  }
  if (on_turn) on_turn();
  Checkpoint(true);
  return Status::Ok();
}

void ObjectFollower::Poll(const std::atomic<bool>& stop) {
  counters_.last_poll_ms.store(NowMs());
  std::vector<StoredObject> found;
  const bool complete = store_->List(&found);  // tolerant of objects that come and go meanwhile
  if (!complete) counters_.errors.Add();
  listed_.store(complete);
  std::sort(found.begin(), found.end(), [](const StoredObject& a, const StoredObject& b) {
    return a.time_hint_ms != b.time_hint_ms ? a.time_hint_ms < b.time_hint_ms : a.name < b.name;
  });
  for (auto& [name, o] : objects_) o.seen = false;
  for (const StoredObject& in : found) {
    auto [it, added] = objects_.try_emplace(in.name);
    Object& o = it->second;
    o.seen = true;
    o.listed = in.size;
    if (added) {
      o.id = next_id_++;
      by_id_[o.id] = in.name;
      o.gz = EndsWith(in.name, ".gz");
      o.ndjson = EndsWith(in.name, ".ndjson") || EndsWith(in.name, ".ndjson.gz");
      o.changed = Clock::now();
      o.hint = in.time_hint_ms;
      if (o.hint != INT64_MIN) o.stream = StreamOfPath(in.name);
      if (auto r = options_.resume.find(in.name); r != options_.resume.end()) {
        o.read = o.applied = r->second.bytes;
        o.hash = r->second.hash;
        o.resumed = true;
      }
    }
  }
  polled_.store(true);
  if (complete && !resume_checked_) {
    resume_checked_ = true;
    WarnIfResumeUnmatched();
  }
  // Deleted objects are forgotten (their work, if any is in flight, finishes);
  // not after a listing that failed (a mount that blinked, Storage down),
  // which would forget every position, nor those it did not cover.
  for (auto it = objects_.begin(); it != objects_.end();) {
    auto next = std::next(it);
    if (!it->second.seen && complete && store_->Covers(it->first)) Forget(it);
    it = next;
  }
  // Objects are read in time-hint order. Before the first of an hour's
  // objects is read, all of that hour's objects with new bytes join the
  // pipeline, so that none of them is late for the buckets the others close
  // (a NIC's whole hour may arrive at once, unlike Kafka's minute-by-minute
  // messages).
  // Reads made ahead and not taken are dropped when the poll ends.
  struct ForgetAhead {
    ObjectFollower* f;
    ~ForgetAhead() {
      if (f->ahead_) f->ahead_->Forget();
      f->ahead_until_ = 0;
    }
  } forget_ahead{this};
  for (size_t i = 0; i < found.size(); ++i) {
    if (stop.load()) return;
    if (i == 0 || found[i].time_hint_ms != found[i - 1].time_hint_ms) {
      newest_hint_ = std::max(newest_hint_, found[i].time_hint_ms);
      for (size_t j = i; j < found.size() && found[j].time_hint_ms == found[i].time_hint_ms; ++j) {
        const Object& g = objects_[found[j].name];
        if (!g.stream.empty()) stream_hint_[g.stream] = std::max(stream_hint_[g.stream], g.hint);
      }
      Collect();
      for (size_t j = i; j < found.size() && found[j].time_hint_ms == found[i].time_hint_ms; ++j) {
        Object& g = objects_[found[j].name];
        const int64_t size = static_cast<int64_t>(found[j].size);
        // Nothing new: the size it had when last read (a JSON blob keeps its
        // trailer beyond the last record read), or a position from the
        // checkpoint with no more than a trailer after it. Such a blob from
        // the checkpoint may still grow, as before the restart it was held:
        // it joins too (holding event time at its hour's start until it
        // delivers or retires), or its NIC's next records would be late
        // for the buckets the others close meanwhile.
        if (size == static_cast<int64_t>(g.size) || (g.size == 0 && size <= g.read + kTrailerSlack)) {
          if (g.resumed && !g.assigned && g.hint != INT64_MIN) {
            Assign(&g);
            handler_->OnProgressFloor(g.id, g.hint);
          }
          continue;
        }
        Assign(&g);
        handler_->OnBacklog(g.id, std::max<int64_t>(1, size - g.read));
        if (g.hint != INT64_MIN) handler_->OnProgressFloor(g.id, g.hint);  // its records are of that hour
      }
      // Then the earlier hours' objects whose streams this hour goes on: not
      // before, or for a moment the others' records would close the buckets
      // this hour's new objects are about to deliver. (This hour's own, just
      // assigned and not read yet, retire after the poll if at all.)
      Retire(stop, found[i].time_hint_ms);
      Measure(false);
    }
    Object& o = objects_[found[i].name];
    if (Settled(found[i], o)) continue;
    ReadAheadOf(found, i);
    if (!ReadNew(found[i], &o, stop)) return;
  }
  if (complete) {  // streams whose blobs are all gone are forgotten
    stream_hint_.clear();
    for (const auto& [name, o] : objects_) {
      if (!o.stream.empty()) stream_hint_[o.stream] = std::max(stream_hint_[o.stream], o.hint);
    }
  }
  Measure(true);
  if (complete && !caught_up_) {  // every object listed was read to its end once
    caught_up_ = true;
    handler_->OnCaughtUp();
  }
}

ObjectFollower::Backlog ObjectFollower::backlog() const {
  std::lock_guard<std::mutex> lock(backlog_mu_);
  return backlog_;
}

void ObjectFollower::Measure(bool at_end) {
  const auto now = Clock::now();
  Backlog b;
  b.tracked = objects_.size();
  std::optional<Clock::time_point> oldest;
  for (auto& [name, o] : objects_) {
    const int64_t behind = static_cast<int64_t>(o.listed) - o.read;
    if (behind <= (o.gz ? 0 : kTrailerSlack)) {
      o.unread_since.reset();
      continue;
    }
    b.bytes_behind += behind;
    if (!o.unread_since) o.unread_since = now;
    if (!oldest || *o.unread_since < *oldest) oldest = o.unread_since;
  }
  if (oldest) {
    b.oldest_unread_ms = std::chrono::duration_cast<std::chrono::milliseconds>(oldest->time_since_epoch()).count();
  }
  std::lock_guard<std::mutex> lock(backlog_mu_);
  if (at_end) {
    b.streams = stream_hint_.size();
    for (const auto& [stream, hint] : stream_hint_) b.streams_silent += hint < newest_hint_ - kHourMs;
  } else {
    b.streams = backlog_.streams;
    b.streams_silent = backlog_.streams_silent;
  }
  backlog_ = b;
}

bool ObjectFollower::Settled(const StoredObject& in, const Object& o) {
  return in.size == o.settled_size && in.version == o.settled_version && !o.resumed &&
         !(o.identity != 0 && in.identity != o.identity);
}

void ObjectFollower::ReadAheadOf(const std::vector<StoredObject>& found, size_t i) {
  if (!ahead_) return;
  ahead_until_ = std::max(ahead_until_, i + 1);
  while (ahead_until_ < found.size() && ahead_->asked() < static_cast<size_t>(options_.parallel_reads)) {
    const StoredObject& in = found[ahead_until_++];
    const Object& o = objects_[in.name];
    // The plain case only (JSON or NDJSON grown on from a position that needs
    // no check first): ReadNew's first read, exactly.
    const bool replaced = o.identity != 0 && in.identity != o.identity;
    const int64_t size = static_cast<int64_t>(in.size);
    if (o.gz || o.resumed || replaced || Settled(in, o) || size <= o.read) continue;
    const int64_t chunk = static_cast<int64_t>(std::max<size_t>(options_.read_chunk_bytes, 1));
    ahead_->Ask(in.name, std::max<int64_t>(0, o.read - kEnd), std::min(size, o.read + chunk));
  }
}

Status ObjectFollower::ReadRange(const std::string& name, int64_t from, int64_t to, std::string* out) {
  if (ahead_) {
    if (std::optional<Status> s = ahead_->Take(name, from, to, out)) return *s;
  }
  return store_->Read(name, from, to, out);
}

void ObjectFollower::Forget(std::map<std::string, Object>::iterator it) {
  if (it->second.assigned) {
    handler_->Drain({it->second.id}, options_.drain_budget);
    Collect();
    handler_->OnRevoked({it->second.id});
  }
  by_id_.erase(it->second.id);
  objects_.erase(it);
}

void ObjectFollower::ReadError(const std::string& name, const Status& s) {
  if (s.code() == StatusCode::kNotFound) return;  // deleted meanwhile: the next listing forgets it
  counters_.errors.Add();
  uint64_t suppressed = 0;
  if (log_limiter_.Allow("read", &suppressed)) {
    spdlog::warn("{}: {}: {}; trying again at the next poll{}", store_->key(), name, s.message(),
                 suppressed ? " (" + std::to_string(suppressed) + " similar suppressed)" : "");
  }
}

void ObjectFollower::ReadAgain(const std::string& name, Object* o, const char* why) {
  spdlog::warn("{}: {} was {}: reading it again from its start (de-duplication drops what it has seen "
               "within dedup.window)",
               store_->key(), name, why);
  if (o->assigned) {
    handler_->Drain({o->id}, options_.drain_budget);
    Collect();
  }
  o->read = o->applied = 0;
  o->hash = 0;
  o->head.clear();
}

std::optional<uint64_t> ObjectFollower::StoredFingerprint(const std::string& name, Object* o, int64_t bytes) {
  const int64_t n = std::min(bytes, kEnd);
  std::string head, tail;
  Status s = store_->Read(name, 0, n, &head);
  if (s.ok()) s = store_->Read(name, bytes - n, bytes, &tail);
  if (!s.ok()) {
    ReadError(name, s);
    return std::nullopt;
  }
  if (static_cast<int64_t>(head.size()) != n || static_cast<int64_t>(tail.size()) != n) return 0;  // shorter now
  o->head = std::move(head);
  return Fingerprint(o->head, tail, bytes);
}

bool ObjectFollower::ReadNew(const StoredObject& in, Object* o, const std::atomic<bool>& stop) {
  const std::string& name = in.name;
  const bool grew = in.size != o->size;
  if (grew) o->changed = Clock::now();
  const bool replaced = o->identity != 0 && in.identity != o->identity;
  o->identity = in.identity;
  o->size = in.size;
  const int64_t size = static_cast<int64_t>(in.size);
  // An object replaced, shrunk, or known only from the checkpoint is read on
  // from its position only if the bytes before it are still the ones read (a
  // copier's rename of the same bytes, a truncate-and-rewrite in place).
  // Shorter than the position, it may be half rewritten: it gets idle_timeout
  // to grow back. Otherwise it was rewritten: read again from its start.
  if (size < o->read) {
    if (!o->short_since) o->short_since = Clock::now();
    if (Clock::now() - *o->short_since < options_.idle_timeout) return true;
  }
  const bool shorter = size < o->read;
  if (o->read > 0 && (replaced || shorter || o->resumed || (o->gz && size != o->read))) {
    bool same = false;
    if (!shorter && !(o->gz && size != o->read)) {
      const std::optional<uint64_t> print = StoredFingerprint(name, o, o->read);
      if (!print) return true;  // not readable now: checked again at the next poll
      same = *print == o->hash;
    }
    if (same && replaced) {
      spdlog::info("{}: {} was replaced; its first {} bytes are the ones read: reading on from there", store_->key(),
                   name, o->read);
    } else if (!same) {
      ReadAgain(name, o, shorter ? "truncated" : o->resumed ? "changed since the checkpoint" : "rewritten");
    }
  }
  o->short_since.reset();
  o->resumed = false;
  if (o->assigned) handler_->OnBacklog(o->id, 0);  // until there is something to read, below
  const auto settle = [&] {
    o->settled_size = in.size;
    o->settled_version = in.version;
  };
  if (o->read >= size) {
    settle();
    return true;
  }
  if (o->gz) {
    if (grew) return true;  // still being written: once its size holds still for a poll
    std::string body;
    if (Status s = store_->Read(name, 0, size, &body); !s.ok()) {
      ReadError(name, s);
      return true;
    }
    const int64_t end = static_cast<int64_t>(body.size());
    if (end == 0) return true;
    const size_t n = static_cast<size_t>(std::min(end, kEnd));
    const uint64_t hash = Fingerprint(std::string_view(body).substr(0, n), std::string_view(body).substr(body.size() - n), end);
    Assign(o);
    if (!OfferAll(o->id, std::move(body), end, stop)) return false;
    o->read = end;
    o->hash = hash;
    handler_->OnBacklog(o->id, 0);
    settle();
    return true;
  }
  // In chunks of read_chunk_bytes (doubled while one record does not fit), so
  // that a large blob costs a chunk of memory, not its size. Each read starts
  // up to 4 KiB before the position: the fingerprint's tail comes with it.
  std::string text;
  int64_t chunk = static_cast<int64_t>(std::max<size_t>(options_.read_chunk_bytes, 1));
  while (o->read < size && !stop.load()) {
    const int64_t base = std::max<int64_t>(0, o->read - kEnd);
    const int64_t want = std::min(size, o->read + chunk);
    if (Status s = ReadRange(name, base, want, &text); !s.ok()) {
      ReadError(name, s);
      return true;
    }
    const size_t start = static_cast<size_t>(o->read - base);
    if (text.size() < start) return true;  // shorter meanwhile: the next poll sees it
    if (base == 0) {
      o->head.assign(text, 0, static_cast<size_t>(std::min<int64_t>(kEnd, static_cast<int64_t>(text.size()))));
    } else if (o->head.size() < static_cast<size_t>(kEnd)) {
      if (Status s = store_->Read(name, 0, kEnd, &o->head); !s.ok()) {
        ReadError(name, s);
        return true;
      }
    }
    // The bytes before the position came with the read: if they are not the
    // ones read, the object was rewritten (a blob's ETag changes with every
    // append, so only its bytes tell): read it again from its start.
    if (o->read > 0) {
      const size_t n = static_cast<size_t>(std::min(o->read, kEnd));
      if (Fingerprint(std::string_view(o->head).substr(0, n), std::string_view(text).substr(start - n, n), o->read) !=
          o->hash) {
        ReadAgain(name, o, "rewritten");
        continue;
      }
    }
    size_t at = start;
    while (!stop.load()) {
      const RecordSpan span = WholeRecords(text, at, base == 0, o->ndjson, options_.max_message_bytes);
      if (span.records == 0) break;
      // JSON records go as a bare array of them; NDJSON lines as they are.
      const std::string_view records = std::string_view(text).substr(span.first, span.end - span.first);
      std::string body;
      body.reserve(records.size() + 2);
      if (!o->ndjson) body.push_back('[');
      body.append(records);
      if (!o->ndjson) body.push_back(']');
      const int64_t end = base + static_cast<int64_t>(span.end);
      const size_t n = static_cast<size_t>(std::min(end, kEnd));
      const uint64_t hash = Fingerprint(std::string_view(o->head).substr(0, n),
                                        std::string_view(text).substr(span.end - n, n), end);
      Assign(o);
      if (!OfferAll(o->id, std::move(body), end, stop)) return false;
      o->read = end;
      o->hash = hash;
      at = span.end;
    }
    if (want == size || static_cast<int64_t>(text.size()) < want - base) {  // read to the end
      settle();
      break;
    }
    if (at == start) {  // one record longer than the chunk
      if (want - o->read >= static_cast<int64_t>(options_.max_record_bytes)) {
        const size_t rec = start + RecordAt(std::string_view(text).substr(start), base == 0 && o->read == 0);
        const Skip skip = SkipRecord(name, o, base + static_cast<int64_t>(rec), std::string_view(text).substr(rec), size,
                                     false, "a record longer than decode.max_body_bytes", stop);
        if (skip == Skip::kStopped) return false;
        if (skip == Skip::kWait) {  // read again when the object changes
          settle();
          break;
        }
        chunk = static_cast<int64_t>(std::max<size_t>(options_.read_chunk_bytes, 1));
        continue;
      }
      chunk = std::min(chunk * 2, static_cast<int64_t>(std::max<size_t>(options_.max_record_bytes, 1)));
    }
  }
  // What is left is a record being written, or the trailer.
  if (o->assigned) handler_->OnBacklog(o->id, 0);
  return !stop.load();
}

ObjectFollower::Skip ObjectFollower::SkipRecord(const std::string& name, Object* o, int64_t record_at,
                                                std::string_view known, int64_t size, bool cut_short, const char* why,
                                                const std::atomic<bool>& stop) {
  // Where the record ends: scanned piece by piece from its start.
  int64_t next = -1;
  ValueScanner scan;
  std::string piece(known);
  const int64_t chunk = static_cast<int64_t>(std::max<size_t>(options_.read_chunk_bytes, 1));
  for (int64_t at = record_at; !stop.load();) {
    const size_t nl = o->ndjson ? piece.find('\n') : std::string::npos;
    const size_t end = o->ndjson ? (nl == std::string::npos ? nl : nl + 1) : scan.Feed(piece);
    if (end != std::string::npos) {
      next = at + static_cast<int64_t>(end);
      break;
    }
    at += static_cast<int64_t>(piece.size());
    if (at >= size) break;
    if (Status s = ReadRange(name, at, std::min(size, at + chunk), &piece); !s.ok()) {
      ReadError(name, s);
      return Skip::kWait;
    }
    if (piece.empty()) break;  // shorter meanwhile
  }
  if (stop.load()) return Skip::kStopped;
  std::string bytes;
  if (next < 0) {
    if (!cut_short) return Skip::kWait;  // it may still be being written
    const int64_t from = std::max<int64_t>(0, size - kEnd);
    if (Status s = ReadRange(name, from, size, &bytes); !s.ok()) {
      ReadError(name, s);
      return Skip::kWait;
    }
    next = o->ndjson ? -1 : TrailerAt(bytes, from);
    if (next <= record_at) next = size;
  }
  // The fingerprint of the bytes up to the new position.
  const int64_t n = std::min(next, kEnd);
  Status s = ReadRange(name, next - n, next, &bytes);
  if (s.ok() && static_cast<int64_t>(o->head.size()) < n) s = store_->Read(name, 0, kEnd, &o->head);
  if (!s.ok()) {
    ReadError(name, s);
    return Skip::kWait;
  }
  if (static_cast<int64_t>(bytes.size()) != n || static_cast<int64_t>(o->head.size()) < n) return Skip::kWait;  // shorter now
  const uint64_t hash = Fingerprint(std::string_view(o->head).substr(0, static_cast<size_t>(n)), bytes, next);
  std::string body;
  if (!o->ndjson) body.push_back('[');
  body.append(known.substr(0, static_cast<size_t>(kEnd)));
  if (!o->ndjson) body.push_back(']');
  uint64_t suppressed = 0;
  if (log_limiter_.Allow("skip", &suppressed)) {
    spdlog::warn("{}: {}: {} at byte {}: skipped to byte {} (counted as bad_json){}", store_->key(), name, why,
                 record_at, next, suppressed ? " (" + std::to_string(suppressed) + " similar suppressed)" : "");
  }
  Assign(o);
  if (!OfferAll(o->id, std::move(body), next, stop)) return Skip::kStopped;
  o->read = next;
  o->hash = hash;
  return Skip::kDone;
}

bool ObjectFollower::SkipCutShort(const std::string& name, Object* o, const std::atomic<bool>& stop) {
  const int64_t size = static_cast<int64_t>(o->size);
  std::string rest;
  if (Status s = ReadRange(name, o->read, std::min(size, o->read + kEnd), &rest); !s.ok()) {
    ReadError(name, s);
    return true;
  }
  const size_t i = RecordAt(rest, o->read == 0 && !o->ndjson);
  if (i == rest.size() || (!o->ndjson && rest[i] == ']')) return true;  // the trailer, or nothing
  return SkipRecord(name, o, o->read + static_cast<int64_t>(i), std::string_view(rest).substr(i), size, true,
                    "a record cut short", stop) != Skip::kStopped;
}

void ObjectFollower::WarnIfResumeUnmatched() const {
  const auto& resume = options_.resume;
  if (resume.empty() || objects_.empty()) return;
  if (std::any_of(resume.begin(), resume.end(), [&](const auto& r) { return objects_.count(r.first) > 0; })) return;
  spdlog::warn("{}: none of the checkpoint's {} positions names an object listed now (the checkpoint has {}, the "
               "listing {}): if the folders or the account's endpoint changed, each object is read again from its "
               "start and its flows count again; to keep the positions, start with the names the checkpoint was "
               "written with",
               store_->key(), resume.size(), resume.begin()->first, objects_.begin()->first);
}

void ObjectFollower::Assign(Object* o) {
  if (o->assigned) return;
  o->assigned = true;
  handler_->OnAssigned({o->id});
  spdlog::debug("{}: unit {} follows {} from byte {}", store_->key(), o->id, by_id_[o->id], o->read);
}

bool ObjectFollower::OfferAll(int32_t id, std::string body, int64_t end, const std::atomic<bool>& stop) {
  auto owner = std::make_shared<std::string>(std::move(body));
  SourceMessage m;
  m.partition = id;
  m.offset = end - 1;  // the handler's next offset is then `end`
  m.data = owner->data();
  m.size = owner->size();
  m.owner = owner;
  const size_t size = owner->size();
  while (!handler_->Offer(m)) {
    if (stop.load()) return false;
    counters_.last_poll_ms.store(NowMs());
    handler_->WaitForRoom(id, std::chrono::milliseconds(100));
    Collect();
  }
  counters_.messages.Add();
  counters_.bytes.Add(size);
  return true;
}

void ObjectFollower::Collect() {
  done_.clear();
  handler_->CollectCompleted(&done_);
  completed_ += done_.size();
  for (const auto& [id, next] : done_) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) continue;
    Object& o = objects_[it->second];
    o.applied = std::max(o.applied, next);
  }
  lag_.store(static_cast<int64_t>(counters_.messages.value() - completed_));
}

void ObjectFollower::Retire(const std::atomic<bool>& stop, int64_t before_hint) {
  const auto now = Clock::now();
  for (auto& [name, o] : objects_) {
    if (stop.load()) return;
    if (!o.assigned || o.applied != o.read || o.hint >= before_hint) continue;
    // A stream's hour is over once its next hour's object is listed (Azure
    // writes the current hour's blob), or once the newest hour listed is more
    // than an hour later (the stream stopped): applied, it retires at once,
    // so that a catch-up over days of blobs moves event time on as it reads,
    // not idle_timeout behind.
    const bool hour_over =
        o.hint != INT64_MIN && (o.hint < stream_hint_[o.stream] || o.hint < newest_hint_ - kHourMs);
    // Its stream has moved on: nothing will complete a record cut short at
    // its end, which would otherwise wait unseen (Azure writes whole blocks;
    // a copier may not). It retires once that is applied.
    if (hour_over && !o.gz && o.read + kTrailerBytes < static_cast<int64_t>(o.size)) {
      if (!SkipCutShort(name, &o, stop)) return;
      if (o.applied != o.read) continue;
    }
    if (!hour_over && now - o.changed < options_.idle_timeout) continue;
    spdlog::debug("{}: unit {} retired at byte {} ({})", store_->key(), o.id, o.read,
                  hour_over ? "its stream's hour is over" : "still for idle_timeout");
    o.assigned = false;
    o.head.clear();  // read again if it grows
    o.head.shrink_to_fit();
    handler_->OnRevoked({o.id});
  }
  size_t followed = 0;
  for (const auto& [name, o] : objects_) followed += o.assigned;
  followed_.store(followed);
}

void ObjectFollower::Checkpoint(bool final) {
  std::vector<int32_t> ids;
  for (const auto& [name, o] : objects_) {
    if (o.assigned) ids.push_back(o.id);
  }
  if (!handler_->Drain(ids, options_.drain_budget)) {
    spdlog::warn("{}: in-flight messages not drained within {} ms; checkpoint skipped", store_->key(),
                 options_.drain_budget.count());
    return;
  }
  Collect();
  if (!options_.checkpoint) return;
  SourcePositions positions;
  for (const auto& [name, o] : objects_) {
    // Drained: what was read is applied.
    if (o.applied > 0 && o.applied == o.read) positions.files[name] = FilePosition{o.applied, o.hash};
  }
  options_.checkpoint(positions, final);
}

}  // namespace flowwatch::source
