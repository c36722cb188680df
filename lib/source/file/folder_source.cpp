#include "lib/source/file/folder_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "lib/common/hash.h"
#include "lib/common/logging.h"
#include "lib/source/file/input_files.h"

namespace flowwatch::source {
namespace fs = std::filesystem;

namespace {

class FolderStore : public ObjectStore {
 public:
  explicit FolderStore(std::vector<std::string> folders) : folders_(std::move(folders)) {}

  bool List(std::vector<StoredObject>* out) override {
    bool complete = true;  // every folder walked to its end
    for (const std::string& folder : folders_) {
      std::error_code ec;
      fs::recursive_directory_iterator it(folder, fs::directory_options::skip_permission_denied, ec);
      for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        std::error_code fec;
        if (!it->is_regular_file(fec)) continue;
        if (!HasInputExtension(it->path().filename().string())) continue;
        std::string path = it->path().string();
        struct stat st;
        if (::stat(path.c_str(), &st) != 0) continue;  // gone meanwhile
        const int64_t hint = TimeHintFromPath(path);
        out->push_back({std::move(path), static_cast<uint64_t>(st.st_size), hint,
                        HashCombine(static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)) | 1,
                        HashCombine(static_cast<uint64_t>(st.st_mtim.tv_sec), static_cast<uint64_t>(st.st_mtim.tv_nsec)) | 1});
      }
      if (ec) {
        complete = false;
        uint64_t suppressed = 0;
        if (log_limiter_.Allow("walk " + folder, &suppressed)) {
          spdlog::warn("source.files: {}: {}; reading what was listed, forgetting no file", folder, ec.message());
        }
      }
    }
    return complete;
  }

  Status Read(const std::string& path, int64_t from, int64_t to, std::string* out) override {
    out->clear();
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      return errno == ENOENT ? Status::NotFound(path) : Status::IoError(path + ": " + std::strerror(errno));
    }
    out->resize(static_cast<size_t>(std::max<int64_t>(0, to - from)));
    size_t got = 0;
    Status status;
    while (got < out->size()) {
      const ssize_t r = ::pread(fd, out->data() + got, out->size() - got, from + static_cast<int64_t>(got));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        status = Status::IoError(path + ": " + std::strerror(errno));
        break;
      }
      if (r == 0) break;  // shorter now: the next poll sees it
      got += static_cast<size_t>(r);
    }
    ::close(fd);
    out->resize(got);
    return status;
  }

  const char* key() const override { return "source.files"; }

 private:
  const std::vector<std::string> folders_;
  LogLimiter log_limiter_;
};

}  // namespace

Result<std::unique_ptr<ObjectFollower>> FolderSource::Create(const FolderSourceOptions& options,
                                                             MessageHandler* handler) {
  if (options.folders.empty()) return Status::InvalidArgument("source.files: no folder given");
  for (const std::string& f : options.folders) {
    std::error_code ec;
    if (!fs::is_directory(f, ec)) return Status::NotFound("source.files: " + f + " is not a folder");
  }
  return std::make_unique<ObjectFollower>(options, std::make_unique<FolderStore>(options.folders), handler);
}

}  // namespace flowwatch::source
