#include "lib/source/file/input_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "lib/common/time_util.h"

namespace flowwatch::source {
namespace fs = std::filesystem;

namespace {

// Parses the digits of "<name>=<digits>" if segment has that form.
bool Segment(std::string_view seg, std::string_view name, int* value) {
  if (seg.size() <= name.size() + 1 || seg.substr(0, name.size()) != name || seg[name.size()] != '=') {
    return false;
  }
  int v = 0;
  for (char c : seg.substr(name.size() + 1)) {
    if (c < '0' || c > '9' || v > 100000) return false;
    v = v * 10 + (c - '0');
  }
  *value = v;
  return true;
}

// Calls f(segment, last) for each '/'-separated segment of path.
template <typename F>
void ForEachSegment(std::string_view path, F f) {
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    f(path.substr(pos, end - pos), end == path.size());
    pos = end + 1;
  }
}

}  // namespace

bool HasInputExtension(std::string_view name) {
  for (const std::string_view ext : {".json", ".json.gz", ".ndjson", ".ndjson.gz"}) {
    if (name.size() > ext.size() && name.substr(name.size() - ext.size()) == ext) return true;
  }
  return false;
}

void SortByTimeHint(std::vector<InputFile>* files) {
  std::sort(files->begin(), files->end(), [](const InputFile& a, const InputFile& b) {
    return a.time_hint_ms != b.time_hint_ms ? a.time_hint_ms < b.time_hint_ms : a.path < b.path;
  });
}

int64_t TimeHintFromPath(std::string_view path) {
  int y = -1, mo = -1, d = -1, h = -1, mi = 0;
  bool month_seen = false;
  ForEachSegment(path, [&](std::string_view seg, bool) {
    int v;
    if (Segment(seg, "y", &v)) {
      y = v;
      month_seen = false;
    } else if (Segment(seg, "m", &v)) {
      // The first m= after y= is the month, one after h= is the minute.
      if (!month_seen) {
        mo = v;
        month_seen = true;
      } else {
        mi = v;
      }
    } else if (Segment(seg, "d", &v)) {
      d = v;
    } else if (Segment(seg, "h", &v)) {
      h = v;
    }
  });
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59) return INT64_MIN;
  return (DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 + h * 3600 + mi * 60) *
         1000;
}

std::string StreamOfPath(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  ForEachSegment(path, [&](std::string_view seg, bool last) {
    int v;
    if (!Segment(seg, "y", &v) && !Segment(seg, "m", &v) && !Segment(seg, "d", &v) && !Segment(seg, "h", &v)) {
      out.append(seg);
      if (!last) out.push_back('/');
    }
  });
  return out;
}

Result<std::vector<InputFile>> ListInputFiles(const std::vector<std::string>& paths) {
  std::vector<InputFile> files;
  for (const std::string& p : paths) {
    std::error_code ec;
    const fs::file_status st = fs::status(p, ec);
    if (ec || !fs::exists(st)) return Status::NotFound(p + ": no such file or folder");
    if (fs::is_regular_file(st)) {
      files.push_back({p, static_cast<uint64_t>(fs::file_size(p, ec)), TimeHintFromPath(p), {}});
      continue;
    }
    if (!fs::is_directory(st)) return Status::InvalidArgument(p + ": not a file or folder");
    fs::recursive_directory_iterator it(p, fs::directory_options::skip_permission_denied, ec);
    if (ec) return Status::IoError(p + ": " + ec.message());
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) return Status::IoError(p + ": " + ec.message());
      if (!it->is_regular_file(ec) || !HasInputExtension(it->path().filename().string())) continue;
      const std::string path = it->path().string();
      files.push_back({path, static_cast<uint64_t>(it->file_size(ec)), TimeHintFromPath(path), {}});
    }
  }
  SortByTimeHint(&files);
  return files;
}

Status ReadFilePadded(const std::string& path, size_t padding, std::vector<char>* buf, size_t* size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IoError(path + ": " + std::strerror(errno));
  size_t n = 0;
  if (buf->size() < 1 << 16) buf->resize(1 << 16);
  while (true) {
    if (buf->size() - n < padding + 1) buf->resize(buf->size() * 2);
    const ssize_t r = ::read(fd, buf->data() + n, buf->size() - n - padding);
    if (r < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return Status::IoError(path + ": " + std::strerror(err));
    }
    if (r == 0) break;
    n += static_cast<size_t>(r);
  }
  ::close(fd);
  std::memset(buf->data() + n, 0, padding);
  *size = n;
  return Status::Ok();
}

Status ReadInputPadded(const InputFile& input, size_t padding, std::vector<char>* buf, size_t* size) {
  return input.read ? input.read(padding, buf, size) : ReadFilePadded(input.path, padding, buf, size);
}

}  // namespace flowwatch::source
