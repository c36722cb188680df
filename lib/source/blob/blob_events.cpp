#include "lib/source/blob/blob_events.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "lib/common/hash.h"
#include "lib/source/blob/blob_inputs.h"
#include "lib/source/file/input_files.h"
#include "lib/source/object_follower.h"

namespace flowwatch::source {
namespace {

constexpr std::string_view kBlobCreated = "Microsoft.Storage.BlobCreated";
constexpr int64_t kTrailer = 2;  // `]}`: what follows the last record (a new one is longer)
constexpr int64_t kTail = 4096;  // the bytes before a position that its hash covers
constexpr int64_t kForgetAfterMs = 6 * 3600 * 1000;
constexpr int64_t kStepChunk = 8 << 20;  // read at a time while stepping over a record too large

uint64_t TailHash(std::string_view tail, int64_t position) {
  return HashString(tail, static_cast<uint64_t>(position));
}

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX decoded (an event's URL may encode a blob name's characters).
std::string PercentDecoded(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && Hex(s[i + 1]) >= 0 && Hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(Hex(s[i + 1]) * 16 + Hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Lower-cased, for comparing endpoints (hosts are case-insensitive).
std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void ParseEvent(simdjson::dom::element e, std::vector<BlobCreatedEvent>* out) {
  simdjson::dom::object o;
  if (e.get(o) != simdjson::SUCCESS) return;
  std::string_view type;
  if (o["eventType"].get(type) != simdjson::SUCCESS && o["type"].get(type) != simdjson::SUCCESS) return;
  if (type != kBlobCreated) return;
  simdjson::dom::object data;
  std::string_view url;
  if (o["data"].get(data) != simdjson::SUCCESS || data["url"].get(url) != simdjson::SUCCESS) return;
  BlobCreatedEvent ev;
  ev.url = std::string(url);
  int64_t length = 0;
  if (data["contentLength"].get(length) == simdjson::SUCCESS) ev.content_length = length;
  out->push_back(std::move(ev));
}

// The message's elements without its outer brackets (an array), or all of it
// (one object): what goes before the records in the message offered.
std::string_view Elements(std::string_view message) {
  size_t b = 0, e = message.size();
  while (b < e && std::isspace(static_cast<unsigned char>(message[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(message[e - 1]))) --e;
  if (e - b >= 2 && message[b] == '[' && message[e - 1] == ']') return message.substr(b + 1, e - b - 2);
  return message.substr(b, e - b);
}

}  // namespace

bool ParseBlobCreatedEvents(std::string_view message, std::vector<BlobCreatedEvent>* out) {
  // Records pushed by a forwarder are never parsed twice.
  if (message.find(kBlobCreated) == std::string_view::npos) return false;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(message.data(), message.size()).get(root) != simdjson::SUCCESS) return false;
  const size_t before = out->size();
  simdjson::dom::array events;
  if (root.get(events) == simdjson::SUCCESS) {
    for (simdjson::dom::element e : events) ParseEvent(e, out);
  } else {
    ParseEvent(root, out);
  }
  return out->size() > before;
}

BlobEventReader::BlobEventReader(const BlobEventOptions& options, std::shared_ptr<azure::BlobClient> client,
                                 MessageHandler* next)
    : options_(options), client_(std::move(client)), next_(next), positions_(options.resume) {}

bool BlobEventReader::Offer(SourceMessage& message) {
  const std::string_view text(message.data, message.size);
  auto pending = pending_.find(message.partition);
  if (pending != pending_.end() && pending->second.offset != message.offset) {
    pending_.erase(pending);  // given up (a revoke, a stop): built afresh
    pending = pending_.end();
  }
  if (pending == pending_.end()) {
    std::vector<BlobCreatedEvent> events;
    if (!ParseBlobCreatedEvents(text, &events)) return next_->Offer(message);
    if (auto r = retry_at_.find(message.partition);
        r != retry_at_.end() && r->second > std::chrono::steady_clock::now()) {
      return false;  // Storage failed for it: not before retry_interval
    }
    Pending p;
    p.offset = message.offset;
    std::string records;
    const std::string_view elements = Elements(text);
    const size_t room = options_.max_message_bytes > elements.size() + 3 ? options_.max_message_bytes - elements.size() - 3 : 0;
    for (const BlobCreatedEvent& ev : events) {
      Result<BlobUrl> u = ParseBlobUrl(PercentDecoded(ev.url));
      const bool ours = u.ok() && Lower(u->account.endpoint) == Lower(client_->account().endpoint) &&
                        std::find(options_.containers.begin(), options_.containers.end(), u->container) !=
                            options_.containers.end() &&
                        u->prefix.starts_with(options_.prefix) && u->prefix.ends_with(".json");
      if (!ours) {
        counters_.ignored.Add();
        uint64_t suppressed = 0;
        if (log_limiter_.Allow("blob-event-ignored", &suppressed)) {
          spdlog::info("source.kafka.follow_blob_events: not reading {}: not a *.json blob of {} in {}{} ({} more)",
                       u.ok() ? u->shown : std::string("an event's url"), client_->account().endpoint,
                       fmt::join(options_.containers, ", "), options_.prefix.empty() ? "" : " under " + options_.prefix,
                       suppressed);
        }
        continue;
      }
      const std::string url = client_->Url(u->container, u->prefix);
      for (const auto& [partition, other] : pending_) {
        if (other.moves.count(url) != 0) return false;  // another message of this blob goes first
      }
      if (ReadBlob(u->container, u->prefix, url, ev.content_length, room > records.size() ? room - records.size() : 0,
                   &records, &p.moves) == Read::kRetry) {
        counters_.retried.Add();
        retry_at_[message.partition] = std::chrono::steady_clock::now() + options_.retry_interval;
        return false;
      }
      counters_.followed.Add();
    }
    auto body = std::make_shared<std::string>();
    body->reserve(elements.size() + records.size() + 2);
    body->push_back('[');
    body->append(elements);
    body->append(records);
    body->push_back(']');
    p.body = std::move(body);
    pending = pending_.emplace(message.partition, std::move(p)).first;
  }
  SourceMessage built;
  built.partition = message.partition;
  built.offset = message.offset;
  built.data = pending->second.body->data();
  built.size = pending->second.body->size();
  built.owner = pending->second.body;
  if (!next_->Offer(built)) return false;
  for (auto& [url, position] : pending->second.moves) {
    int64_t& newest = partition_hint_[message.partition];
    newest = std::max(newest, TimeHintFromPath(url));
    positions_[url] = position;
  }
  pending_.erase(pending);
  retry_at_.erase(message.partition);
  message.owner.reset();  // taken
  Forget();
  return true;
}

BlobEventReader::Read BlobEventReader::ReadBlob(const std::string& container, const std::string& name,
                                                const std::string& url, int64_t content_length, size_t budget,
                                                std::string* records, std::map<std::string, FilePosition>* moves) {
  FilePosition at;  // where this message has got to (a blob named twice in it), else where the last left it
  if (auto it = moves->find(url); it != moves->end()) {
    at = it->second;
  } else if (auto p = positions_.find(url); p != positions_.end()) {
    at = p->second;
  }
  // Up to the size the event names (its commit's records: a backlog of events
  // is read commit by commit, in the order the blobs grew), else to the end.
  // An event for no more than what was read (delivered again, or late) costs
  // no request.
  if (content_length >= 0 && content_length <= at.bytes + kTrailer) return Read::kOk;
  auto fail = [&](const Status& s) {
    failing_.store(true, std::memory_order_relaxed);
    uint64_t suppressed = 0;
    if (log_limiter_.Allow("blob-event-read", &suppressed)) {
      spdlog::warn("source.kafka.follow_blob_events: {}; trying again in {} ms ({} more)", s.message(),
                   options_.retry_interval.count(), suppressed);
    }
    return Read::kRetry;
  };
  std::string text;
  int64_t tail = 0;
  for (int attempt = 0; attempt < 2; ++attempt) {
    tail = std::min(at.bytes, kTail);
    text.clear();
    int64_t to = at.bytes + static_cast<int64_t>(budget);
    if (content_length >= 0) to = std::min(to, content_length);
    const Status s = client_->Get(container, name, at.bytes - tail, to, &text);
    if (s.code() == StatusCode::kNotFound) {
      counters_.missing.Add();
      return Read::kOk;  // gone: nothing to read
    }
    if (!s.ok()) return fail(s.WithContext(url));
    failing_.store(false, std::memory_order_relaxed);
    if (at.bytes == 0 ||
        (static_cast<int64_t>(text.size()) >= tail && TailHash(std::string_view(text).substr(0, tail), at.bytes) == at.hash)) {
      break;
    }
    spdlog::warn("source.kafka.follow_blob_events: {} was rewritten (its bytes before {} changed): read again from its start",
                 url, at.bytes);
    counters_.rewritten.Add();
    at = FilePosition{};
  }
  const RecordSpan span =
      WholeRecords(text, static_cast<size_t>(tail), /*at_file_start=*/at.bytes == 0, /*ndjson=*/false, budget);
  int64_t end = at.bytes + static_cast<int64_t>(span.end) - tail;
  if (span.records > 0) {
    records->push_back(',');
    records->append(text, span.first, span.end - span.first);
    counters_.records.Add(span.records);
  } else if (budget > 0 && text.size() >= static_cast<size_t>(tail) + budget &&
             (content_length < 0 || at.bytes + static_cast<int64_t>(budget) < content_length)) {
    // A record longer than a message may be: stepped over without holding it.
    size_t first = static_cast<size_t>(tail);
    if (at.bytes == 0) first = text.find('[') + 1;  // past the blob's head, `{"records":[`
    ValueScanner scan;
    int64_t from = at.bytes - tail + static_cast<int64_t>(first);
    std::string piece = text.substr(first);
    while (true) {
      const size_t done = scan.Feed(piece);
      if (done != std::string::npos) {
        end = from + static_cast<int64_t>(done);
        break;
      }
      from += static_cast<int64_t>(piece.size());
      piece.clear();
      if (Status s = client_->Get(container, name, from, from + kStepChunk, &piece); !s.ok()) {
        return s.code() == StatusCode::kNotFound ? Read::kOk : fail(s.WithContext(url));
      }
      if (piece.empty()) return Read::kOk;  // still being written: the next event steps on
    }
    counters_.too_large.Add();
    spdlog::error("source.kafka.follow_blob_events: {}: a record at byte {} is longer than decode.max_body_bytes: skipped",
                  url, at.bytes);
    std::string before;
    if (Status s = client_->Get(container, name, std::max<int64_t>(0, end - kTail), end, &before); !s.ok()) {
      return fail(s.WithContext(url));
    }
    (*moves)[url] = FilePosition{end, TailHash(before, end)};
    return Read::kOk;
  } else {
    return Read::kOk;  // nothing new whole yet
  }
  // text begins at 0 or kTail before the old position: it holds the bytes before end that the hash covers.
  const size_t hashed = static_cast<size_t>(std::min<int64_t>(end, kTail));
  (*moves)[url] = FilePosition{end, TailHash(std::string_view(text).substr(span.end - hashed, hashed), end)};
  return Read::kOk;
}

void BlobEventReader::WaitForRoom(int32_t partition, std::chrono::milliseconds timeout) {
  if (auto it = retry_at_.find(partition); it != retry_at_.end()) {
    const auto now = std::chrono::steady_clock::now();
    if (it->second > now) std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(it->second - now, timeout));
    return;
  }
  next_->WaitForRoom(partition, timeout);
}

void BlobEventReader::OnAssigned(const std::vector<int32_t>& partitions) {
  assigned_.insert(partitions.begin(), partitions.end());
  next_->OnAssigned(partitions);
}

void BlobEventReader::OnRevoked(const std::vector<int32_t>& partitions) {
  for (int32_t p : partitions) {
    pending_.erase(p);
    retry_at_.erase(p);
    partition_hint_.erase(p);
    assigned_.erase(p);
  }
  next_->OnRevoked(partitions);
}

void BlobEventReader::Forget() {
  // Each partition's events come in the order the blobs grew: a blob 6 hours
  // older than the newest hour every assigned partition has read gets no
  // more. Until each has read one (after a restart, say), nothing is forgotten.
  if (partition_hint_.size() < assigned_.size()) return;
  int64_t oldest = INT64_MAX;
  for (int32_t p : assigned_) {
    auto it = partition_hint_.find(p);
    if (it == partition_hint_.end()) return;
    oldest = std::min(oldest, it->second);
  }
  if (oldest == INT64_MIN || oldest == INT64_MAX || oldest == forgot_at_) return;  // once an hour
  forgot_at_ = oldest;
  std::erase_if(positions_, [&](const auto& entry) {
    const int64_t hint = TimeHintFromPath(entry.first);
    return hint != INT64_MIN && hint < oldest - kForgetAfterMs;
  });
}

}  // namespace flowwatch::source
