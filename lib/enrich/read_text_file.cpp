#include "lib/enrich/read_text_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace flowwatch::enrich {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

Status ErrnoStatus(const std::string& what, const std::string& path, int err) {
  return Status::IoError(what + " '" + path + "': " + std::strerror(err));
}

}  // namespace

Result<std::string> ReadTextFile(const std::string& path) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) return ErrnoStatus("cannot open", path, errno);
  std::string data;
  char buf[64 * 1024];
  while (true) {
    const size_t n = std::fread(buf, 1, sizeof(buf), file.get());
    if (n > 0) {
      if (data.size() + n > kMaxTextFileBytes) {
        return Status::IoError("'" + path + "' is larger than " + std::to_string(kMaxTextFileBytes >> 20) +
                               " MiB");
      }
      data.append(buf, n);
    }
    if (n < sizeof(buf)) {
      if (std::ferror(file.get())) return ErrnoStatus("cannot read", path, errno);
      break;
    }
  }
  return data;
}

}  // namespace flowwatch::enrich
