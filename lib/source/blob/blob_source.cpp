#include "lib/source/blob/blob_source.h"

#include "lib/common/hash.h"
#include "lib/common/logging.h"
#include "lib/source/file/input_files.h"

namespace flowwatch::source {
namespace {

constexpr int64_t kHourMs = 3'600'000;

class BlobStore : public ObjectStore {
 public:
  BlobStore(const BlobSourceOptions& options, std::shared_ptr<azure::BlobClient> client)
      : containers_(options.containers), prefix_(options.prefix), start_ms_(options.start_ms), client_(std::move(client)) {}

  bool List(std::vector<StoredObject>* out) override {
    bool complete = true;
    for (const std::string& container : containers_) {
      std::vector<azure::BlobItem> items;
      if (Status s = client_->List(container, prefix_, &items); !s.ok()) {
        complete = false;
        uint64_t suppressed = 0;
        if (log_limiter_.Allow("list " + container, &suppressed)) {
          spdlog::warn("source.blob: {}; listing again at the next poll, forgetting no blob{}", s.message(),
                       suppressed ? " (" + std::to_string(suppressed) + " similar suppressed)" : "");
        }
        continue;
      }
      for (azure::BlobItem& item : items) {
        const size_t slash = item.name.rfind('/');
        if (!HasInputExtension(slash == std::string::npos ? item.name : item.name.substr(slash + 1))) continue;
        const int64_t hint = TimeHintFromPath(item.name);
        if (start_ms_ != INT64_MIN && hint != INT64_MIN && hint + kHourMs <= start_ms_) continue;
        out->push_back({client_->Url(container, item.name), item.size, hint, 0,
                        HashBytes(item.etag.data(), item.etag.size()) | 1});
      }
    }
    return complete;
  }

  Status Read(const std::string& url, int64_t from, int64_t to, std::string* out) override {
    // The URL is the endpoint, the container (which has no '/') and the name.
    const std::string& endpoint = client_->account().endpoint;
    if (url.size() <= endpoint.size() + 1 || url.compare(0, endpoint.size(), endpoint) != 0) return Status::NotFound(url);
    const size_t slash = url.find('/', endpoint.size() + 1);
    if (slash == std::string::npos) return Status::NotFound(url);
    return client_->Get(url.substr(endpoint.size() + 1, slash - endpoint.size() - 1), url.substr(slash + 1), from, to, out);
  }

  const char* key() const override { return "source.blob"; }

 private:
  const std::vector<std::string> containers_;
  const std::string prefix_;
  const int64_t start_ms_;
  std::shared_ptr<azure::BlobClient> client_;
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
