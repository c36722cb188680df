#include "lib/source/blob/blob_source.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <optional>

#include "lib/common/hash.h"
#include "lib/common/logging.h"
#include "lib/source/file/input_files.h"

namespace flowwatch::source {
namespace {

constexpr int64_t kHourMs = 3'600'000;

// "y=YYYY/m=MM/d=DD/h=HH/": the folders of the hour starting at hour_ms.
std::string HourFolders(int64_t hour_ms) {
  const std::time_t t = static_cast<std::time_t>(hour_ms / 1000);
  std::tm g{};
  gmtime_r(&t, &g);
  char buf[40];
  std::snprintf(buf, sizeof buf, "y=%04d/m=%02d/d=%02d/h=%02d/", g.tm_year + 1900, g.tm_mon + 1, g.tm_mday, g.tm_hour);
  return buf;
}

// Where a blob's hour folders begin (its `y=` segment), if its name has them.
std::optional<size_t> HourFoldersAt(const std::string& name) {
  if (TimeHintFromPath(name) == INT64_MIN) return std::nullopt;
  for (size_t at = name.find("y="); at != std::string::npos; at = name.find("y=", at + 2)) {
    if (at == 0 || name[at - 1] == '/') return at;
  }
  return std::nullopt;
}

class BlobStore : public ObjectStore {
 public:
  BlobStore(const BlobSourceOptions& options, std::shared_ptr<azure::BlobClient> client)
      : containers_(options.containers),
        prefix_(options.prefix),
        start_ms_(options.start_ms),
        full_list_interval_(options.full_list_interval),
        client_(std::move(client)) {}

  // Each container whole under the prefix at the first poll and every
  // full_list_interval; between, only the hours that can still change: for
  // each flow-log resource's folder (a name's part before `y=`), the newest
  // hour listed there, the hour before and the hour after.
  bool List(std::vector<StoredObject>* out) override {
    const auto now = std::chrono::steady_clock::now();
    const bool full = !last_full_ || now - *last_full_ >= full_list_interval_;
    bool complete = true;
    for (const std::string& container : containers_) {
      Scope& scope = scopes_[container];
      scope.hours_listed.clear();
      if (full || scope.whole) {
        std::vector<azure::BlobItem> items;
        scope.listed_whole = false;
        if (!ListUnder(container, prefix_, &items)) {
          complete = false;
          continue;
        }
        scope.listed_whole = true;
        scope.whole = false;
        scope.newest.clear();  // resources gone are forgotten
        for (azure::BlobItem& item : items) Add(container, &scope, std::move(item), out);
        continue;
      }
      scope.listed_whole = false;
      const std::vector<std::pair<std::string, int64_t>> folders(scope.newest.begin(), scope.newest.end());
      bool failed = false;  // the container's other hours are not tried then (it is down, or gone)
      for (const auto& [folder, newest] : folders) {
        for (const int64_t hour : {newest - kHourMs, newest, newest + kHourMs}) {
          std::vector<azure::BlobItem> items;
          if (failed || !ListUnder(container, folder + HourFolders(hour), &items)) {
            failed = true;
            break;
          }
          scope.hours_listed[folder].push_back(hour);
          for (azure::BlobItem& item : items) Add(container, &scope, std::move(item), out);
        }
      }
      if (failed) complete = false;
    }
    if (full && complete) last_full_ = now;
    return complete;
  }

  bool Covers(const std::string& url) const override {
    std::string container, name;
    if (!SplitUrl(url, &container, &name)) return true;
    auto scope = scopes_.find(container);
    if (scope == scopes_.end() || scope->second.listed_whole) return true;
    const std::optional<size_t> at = HourFoldersAt(name);
    if (!at) return false;
    auto hours = scope->second.hours_listed.find(name.substr(0, *at));
    if (hours == scope->second.hours_listed.end()) return false;
    const int64_t hour = TimeHintFromPath(name) / kHourMs * kHourMs;
    return std::find(hours->second.begin(), hours->second.end(), hour) != hours->second.end();
  }

  Status Read(const std::string& url, int64_t from, int64_t to, std::string* out) override {
    std::string container, name;
    if (!SplitUrl(url, &container, &name)) return Status::NotFound(url);
    return client_->Get(container, name, from, to, out);
  }

  const char* key() const override { return "source.blob"; }

 private:
  // What a container's last listings covered.
  struct Scope {
    std::map<std::string, int64_t> newest;  // a resource's folder -> the newest hour listed in it
    bool whole = false;         // some blob has no hour folders (or the prefix reaches into them): list it whole
    bool listed_whole = false;  // the last listing was of the whole container
    std::map<std::string, std::vector<int64_t>> hours_listed;  // otherwise: the hours listed, per folder
  };

  // The URL is the endpoint, the container (which has no '/') and the name.
  bool SplitUrl(const std::string& url, std::string* container, std::string* name) const {
    const std::string& endpoint = client_->account().endpoint;
    if (url.size() <= endpoint.size() + 1 || url.compare(0, endpoint.size(), endpoint) != 0) return false;
    const size_t slash = url.find('/', endpoint.size() + 1);
    if (slash == std::string::npos) return false;
    *container = url.substr(endpoint.size() + 1, slash - endpoint.size() - 1);
    *name = url.substr(slash + 1);
    return true;
  }

  bool ListUnder(const std::string& container, const std::string& prefix, std::vector<azure::BlobItem>* items) {
    const Status s = client_->List(container, prefix, items);
    if (s.ok()) return true;
    uint64_t suppressed = 0;
    if (log_limiter_.Allow("list " + container, &suppressed)) {
      spdlog::warn("source.blob: {}; listing again at the next poll, forgetting no blob{}", s.message(),
                   suppressed ? " (" + std::to_string(suppressed) + " similar suppressed)" : "");
    }
    return false;
  }

  void Add(const std::string& container, Scope* scope, azure::BlobItem item, std::vector<StoredObject>* out) {
    const size_t slash = item.name.rfind('/');
    if (!HasInputExtension(slash == std::string::npos ? item.name : item.name.substr(slash + 1))) return;
    const int64_t hint = TimeHintFromPath(item.name);
    const std::optional<size_t> at = HourFoldersAt(item.name);
    if (!at || *at < prefix_.size()) {
      scope->whole = true;
    } else {
      int64_t& newest = scope->newest.try_emplace(item.name.substr(0, *at), INT64_MIN).first->second;
      newest = std::max(newest, hint / kHourMs * kHourMs);
    }
    if (start_ms_ != INT64_MIN && hint != INT64_MIN && hint + kHourMs <= start_ms_) return;
    out->push_back({client_->Url(container, item.name), item.size, hint, 0,
                    HashBytes(item.etag.data(), item.etag.size()) | 1});
  }

  const std::vector<std::string> containers_;
  const std::string prefix_;
  const int64_t start_ms_;
  const std::chrono::milliseconds full_list_interval_;
  std::shared_ptr<azure::BlobClient> client_;
  std::optional<std::chrono::steady_clock::time_point> last_full_;  // every container listed whole
  std::map<std::string, Scope> scopes_;                            // by container
  LogLimiter log_limiter_;
};

}  // namespace

Result<std::unique_ptr<ObjectFollower>> BlobSource::Create(const BlobSourceOptions& options,
                                                           std::shared_ptr<azure::BlobClient> client,
                                                           MessageHandler* handler) {
  if (options.containers.empty()) return Status::InvalidArgument("source.blob.containers: no container given");
  return std::make_unique<ObjectFollower>(options, std::make_unique<BlobStore>(options, std::move(client)), handler);
}

}  // namespace flowwatch::source
