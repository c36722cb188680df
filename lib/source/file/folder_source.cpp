#include "lib/source/file/folder_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>

#include "lib/common/hash.h"
#include "lib/source/file/input_files.h"

namespace flowwatch::source {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// Bytes after a blob's last record that hold no record: its `]}` trailer and
// perhaps a newline (a flow-log record is hundreds of bytes).
constexpr int64_t kTrailerSlack = 16;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A file's first bytes up to `bytes`: its first and last 4 KiB before there
// and the length, hashed (lib/common/hash.h). Cheap to keep and to check (two
// reads of 4 KiB), whatever the file's size; a rewrite that keeps both ends
// and the length goes unnoticed (copiers rewrite whole blobs, and Azure's
// records start with their time). 0 if the bytes cannot be read.
uint64_t Fingerprint(int fd, int64_t bytes) {
  constexpr int64_t kEnd = 4096;
  char head[kEnd], tail[kEnd];
  const int64_t n = std::min(bytes, kEnd);
  if (::pread(fd, head, static_cast<size_t>(n), 0) != n) return 0;
  if (::pread(fd, tail, static_cast<size_t>(n), bytes - n) != n) return 0;
  return HashCombine(HashBytes(head, static_cast<size_t>(n), static_cast<uint64_t>(bytes)),
                     HashBytes(tail, static_cast<size_t>(n)));
}

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

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

struct Stat {
  bool ok = false;
  dev_t dev = 0;
  ino_t ino = 0;
  uint64_t size = 0;
};

Stat StatFd(int fd) {
  struct stat st;
  Stat s;
  if (::fstat(fd, &st) != 0) return s;
  s.ok = true;
  s.dev = st.st_dev;
  s.ino = st.st_ino;
  s.size = static_cast<uint64_t>(st.st_size);
  return s;
}

// Reads [from, to) of an open file.
Status ReadRange(int fd, const std::string& path, int64_t from, int64_t to, std::string* out) {
  out->resize(static_cast<size_t>(to - from));
  size_t got = 0;
  while (got < out->size()) {
    const ssize_t r = ::pread(fd, out->data() + got, out->size() - got, from + static_cast<int64_t>(got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Status::IoError(path + ": " + std::strerror(errno));
    if (r == 0) break;  // shrunk meanwhile: the next poll sees it
    got += static_cast<size_t>(r);
  }
  out->resize(got);
  return Status::Ok();
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

Result<std::unique_ptr<FolderSource>> FolderSource::Create(const FolderSourceOptions& options, MessageHandler* handler) {
  if (options.folders.empty()) return Status::InvalidArgument("source.files: no folder given");
  for (const std::string& f : options.folders) {
    std::error_code ec;
    if (!fs::is_directory(f, ec)) return Status::NotFound("source.files: " + f + " is not a folder");
  }
  return std::unique_ptr<FolderSource>(new FolderSource(options, handler));
}

FolderSource::FolderSource(const FolderSourceOptions& options, MessageHandler* handler)
    : options_(options), handler_(handler) {}

FolderSource::~FolderSource() = default;

Status FolderSource::Run(const std::atomic<bool>& stop, const std::function<void()>& on_turn) {
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

void FolderSource::Poll(const std::atomic<bool>& stop) {
  counters_.last_poll_ms.store(NowMs());
  // The walk: tolerant of files that come and go meanwhile.
  std::vector<InputFile> found;
  bool complete = true;  // every folder walked to its end
  for (const std::string& folder : options_.folders) {
    std::error_code ec;
    fs::recursive_directory_iterator it(folder, fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      std::error_code fec;
      if (!it->is_regular_file(fec)) continue;
      if (!HasInputExtension(it->path().filename().string())) continue;
      const std::string path = it->path().string();
      found.push_back({path, static_cast<uint64_t>(it->file_size(fec)), TimeHintFromPath(path)});
    }
    if (ec) {
      complete = false;
      counters_.errors.Add();
      uint64_t suppressed = 0;
      if (log_limiter_.Allow("walk " + folder, &suppressed)) {
        spdlog::warn("source.files: {}: {}; reading what was listed, forgetting no file", folder, ec.message());
      }
    }
  }
  SortByTimeHint(&found);
  for (auto& [path, f] : files_) f.seen = false;
  for (const InputFile& in : found) {
    auto [it, added] = files_.try_emplace(in.path);
    File& f = it->second;
    f.seen = true;
    if (added) {
      f.id = next_id_++;
      by_id_[f.id] = in.path;
      f.gz = EndsWith(in.path, ".gz");
      f.ndjson = EndsWith(in.path, ".ndjson") || EndsWith(in.path, ".ndjson.gz");
      f.changed = Clock::now();
      f.hint = in.time_hint_ms;
      if (auto r = options_.resume.find(in.path); r != options_.resume.end()) {
        f.read = f.applied = r->second.bytes;
        f.hash = r->second.hash;
        f.resumed = true;
      }
    }
  }
  polled_.store(true);
  // Deleted files are forgotten (their work, if any is in flight, finishes);
  // not after a walk that failed (a mount that blinked), which would forget
  // every position.
  for (auto it = files_.begin(); it != files_.end();) {
    if (it->second.seen || !complete) {
      ++it;
      continue;
    }
    if (it->second.assigned) {
      handler_->Drain({it->second.id}, options_.drain_budget);
      Collect();
      handler_->OnRevoked({it->second.id});
    }
    by_id_.erase(it->second.id);
    it = files_.erase(it);
  }
  // Files are read in time-hint order. Before the first of an hour's files is
  // read, all of that hour's files with new bytes join the pipeline, so that
  // none of them is late for the buckets the others close (a NIC's whole hour
  // arrives at once, unlike Kafka's minute-by-minute messages).
  for (size_t i = 0; i < found.size(); ++i) {
    if (stop.load()) return;
    if (i == 0 || found[i].time_hint_ms != found[i - 1].time_hint_ms) {
      newest_hint_ = std::max(newest_hint_, found[i].time_hint_ms);
      Collect();
      Retire(stop);
      for (size_t j = i; j < found.size() && found[j].time_hint_ms == found[i].time_hint_ms; ++j) {
        File& g = files_[found[j].path];
        const int64_t size = static_cast<int64_t>(found[j].size_bytes);
        // Nothing new: the size it had when last read (a JSON blob keeps its
        // trailer beyond the last record read), or a position from the
        // checkpoint with no more than a trailer after it.
        if (size == static_cast<int64_t>(g.size) || (g.size == 0 && size <= g.read + kTrailerSlack)) continue;
        Assign(&g);
        handler_->OnBacklog(g.id, std::max<int64_t>(1, size - g.read));
        if (g.hint != INT64_MIN) handler_->OnProgressFloor(g.id, g.hint);  // its records are of that hour
      }
    }
    File& f = files_[found[i].path];
    if (!ReadNew(found[i].path, &f, stop)) return;
  }
}

bool FolderSource::ReadNew(const std::string& path, File* f, const std::atomic<bool>& stop) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) {
      counters_.errors.Add();
      uint64_t suppressed = 0;
      if (log_limiter_.Allow("open", &suppressed)) spdlog::warn("source.files: {}: {}", path, std::strerror(errno));
    }
    return true;
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  const Stat st = StatFd(fd);
  if (!st.ok) return true;
  const bool grew = st.size != f->size;
  if (grew) f->changed = Clock::now();
  const bool replaced = f->ino != 0 && (st.dev != f->dev || st.ino != f->ino);
  f->dev = st.dev;
  f->ino = st.ino;
  f->size = st.size;
  const int64_t size = static_cast<int64_t>(st.size);
  // A file replaced, shrunk, or known only from the checkpoint is read on from
  // its position only if the bytes before it are still the ones read (a
  // copier's rename of the same bytes, a truncate-and-rewrite in place).
  // Shorter than the position, it may be half rewritten: it gets idle_timeout
  // to grow back. Otherwise it was rewritten: read again from its start.
  if (size < f->read) {
    if (!f->short_since) f->short_since = Clock::now();
    if (Clock::now() - *f->short_since < options_.idle_timeout) return true;
  }
  const bool shorter = size < f->read;
  if (f->read > 0 && (replaced || shorter || f->resumed || (f->gz && size != f->read))) {
    const bool same = !shorter && !(f->gz && size != f->read) && Fingerprint(fd, f->read) == f->hash;
    if (same && replaced) {
      spdlog::info("source.files: {} was replaced; its first {} bytes are the ones read: reading on from there", path,
                   f->read);
    } else if (!same) {
      spdlog::warn("source.files: {} was {}: reading it again from its start (de-duplication drops what it has seen "
                   "within dedup.window)",
                   path, shorter ? "truncated" : f->resumed ? "changed since the checkpoint" : "rewritten");
      if (f->assigned) {
        handler_->Drain({f->id}, options_.drain_budget);
        Collect();
      }
      f->read = f->applied = 0;
      f->hash = 0;
    }
  }
  f->short_since.reset();
  f->resumed = false;
  if (f->assigned) handler_->OnBacklog(f->id, 0);  // until there is something to read, below
  if (f->read >= size) return true;
  if (f->gz) {
    if (grew) return true;  // still being written: once its size holds still for a poll
    std::string body;
    if (Status s = ReadRange(fd, path, 0, static_cast<int64_t>(st.size), &body); !s.ok()) {
      counters_.errors.Add();
      spdlog::warn("source.files: {}", s.message());
      return true;
    }
    const int64_t end = static_cast<int64_t>(body.size());
    if (end == 0) return true;
    Assign(f);
    if (!OfferAll(f->id, std::move(body), end, stop)) return false;
    f->read = end;
    f->hash = Fingerprint(fd, end);
    handler_->OnBacklog(f->id, 0);
    return true;
  }
  // In chunks of read_chunk_bytes (doubled while one record does not fit), so
  // that a large blob costs a chunk of memory, not its size.
  std::string text;
  int64_t chunk = static_cast<int64_t>(std::max<size_t>(options_.read_chunk_bytes, 1));
  for (int64_t base = f->read; base < size && !stop.load();) {
    const int64_t want = std::min(size, base + chunk);
    if (Status s = ReadRange(fd, path, base, want, &text); !s.ok()) {
      counters_.errors.Add();
      spdlog::warn("source.files: {}", s.message());
      return true;
    }
    size_t at = 0;
    while (!stop.load()) {
      const RecordSpan span = WholeRecords(text, at, base == 0, f->ndjson, options_.max_message_bytes);
      if (span.records == 0) break;
      // JSON records go as a bare array of them; NDJSON lines as they are.
      const std::string_view records = std::string_view(text).substr(span.first, span.end - span.first);
      std::string body;
      body.reserve(records.size() + 2);
      if (!f->ndjson) body.push_back('[');
      body.append(records);
      if (!f->ndjson) body.push_back(']');
      const int64_t end = base + static_cast<int64_t>(span.end);
      Assign(f);
      if (!OfferAll(f->id, std::move(body), end, stop)) return false;
      f->read = end;
      f->hash = Fingerprint(fd, end);
      at = span.end;
    }
    if (want == size || static_cast<int64_t>(text.size()) < want - base) break;  // read to the end
    if (at == 0) {
      chunk *= 2;  // one record longer than the chunk
    } else {
      base = f->read;
    }
  }
  // What is left is a record being written, or the trailer.
  if (f->assigned) handler_->OnBacklog(f->id, 0);
  return !stop.load();
}

void FolderSource::Assign(File* f) {
  if (f->assigned) return;
  f->assigned = true;
  handler_->OnAssigned({f->id});
}

bool FolderSource::OfferAll(int32_t id, std::string body, int64_t end, const std::atomic<bool>& stop) {
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

void FolderSource::Collect() {
  done_.clear();
  handler_->CollectCompleted(&done_);
  completed_ += done_.size();
  for (const auto& [id, next] : done_) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) continue;
    File& f = files_[it->second];
    f.applied = std::max(f.applied, next);
  }
  lag_.store(static_cast<int64_t>(counters_.messages.value() - completed_));
}

void FolderSource::Retire(const std::atomic<bool>& stop) {
  const auto now = Clock::now();
  for (auto& [path, f] : files_) {
    if (stop.load()) return;
    if (!f.assigned || f.applied != f.read) continue;
    // An hour that newer hours' files follow is over (Azure writes the current
    // hour's blob): applied, it retires at once, so that a catch-up over days
    // of blobs moves event time on as it reads, not idle_timeout behind.
    const bool hour_over = f.hint != INT64_MIN && f.hint < newest_hint_;
    if (!hour_over && now - f.changed < options_.idle_timeout) continue;
    f.assigned = false;
    handler_->OnRevoked({f.id});
  }
  size_t followed = 0;
  for (const auto& [path, f] : files_) followed += f.assigned;
  followed_.store(followed);
}

void FolderSource::Checkpoint(bool final) {
  std::vector<int32_t> ids;
  for (const auto& [path, f] : files_) {
    if (f.assigned) ids.push_back(f.id);
  }
  if (!handler_->Drain(ids, options_.drain_budget)) {
    spdlog::warn("source.files: in-flight messages not drained within {} ms; checkpoint skipped",
                 options_.drain_budget.count());
    return;
  }
  Collect();
  if (!options_.checkpoint) return;
  SourcePositions positions;
  for (const auto& [path, f] : files_) {
    // Drained: what was read is applied.
    if (f.applied > 0 && f.applied == f.read) positions.files[path] = FilePosition{f.applied, f.hash};
  }
  options_.checkpoint(positions, final);
}

}  // namespace flowwatch::source
