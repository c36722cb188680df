#include "lib/state/checkpoint_file.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "lib/common/durable_file.h"
#include "lib/common/hash.h"
#include "lib/state/codec.h"

namespace flowwatch::state {
namespace {

constexpr std::string_view kMagic("FWCKPT\r\n", 8);
constexpr uint64_t kChecksumSeed = 0x666c6f7777617463ull;  // "flowwatc"

}  // namespace

const std::string* Checkpoint::Find(std::string_view name) const {
  for (const auto& [n, payload] : sections) {
    if (n == name) return &payload;
  }
  return nullptr;
}

std::string EncodeCheckpoint(const Checkpoint& c) {
  std::string out(kMagic);
  Writer w(&out);
  w.Put<uint32_t>(kCheckpointVersion);
  w.Put<uint32_t>(static_cast<uint32_t>(c.sections.size()));
  w.Put<uint64_t>(c.sequence);
  w.Put<int64_t>(c.created_ms);
  for (const auto& [name, payload] : c.sections) {
    w.Bytes(name);
    w.Put<uint64_t>(payload.size());
    out.append(payload);
  }
  w.Put<uint64_t>(HashBytes(out.data(), out.size(), kChecksumSeed));
  return out;
}

Status DecodeCheckpoint(std::string_view bytes, const std::string& source, Checkpoint* out) {
  if (bytes.size() < kMagic.size() + 8 || bytes.substr(0, kMagic.size()) != kMagic) {
    return Status::Corruption(source + ": not a flowwatch checkpoint");
  }
  Reader header(bytes.substr(kMagic.size(), 8), source);
  const uint32_t version = header.Get<uint32_t>();
  if (version == 0) return Status::Corruption(source + ": format version 0 (not one flowwatch ever wrote)");
  if (version > kCheckpointVersion) {
    return Status::Corruption(source + ": format version " + std::to_string(version) +
                              " is newer than this flowwatch reads (" + std::to_string(kCheckpointVersion) +
                              "); written by a later release");
  }
  const std::string_view body = bytes.substr(0, bytes.size() - 8);
  Reader trailer(bytes.substr(bytes.size() - 8), source);
  if (trailer.Get<uint64_t>() != HashBytes(body.data(), body.size(), kChecksumSeed)) {
    return Status::Corruption(source + ": checksum mismatch (the file is damaged)");
  }
  Reader r(body.substr(kMagic.size()), source);
  r.Get<uint32_t>();  // the version, checked above
  const uint32_t sections = r.Get<uint32_t>();
  Checkpoint c;
  c.version = version;
  c.sequence = r.Get<uint64_t>();
  c.created_ms = r.Get<int64_t>();
  for (uint32_t i = 0; i < sections && r.ok(); ++i) {
    std::string name(r.Bytes());
    const std::string_view payload = r.Raw(r.Get<uint64_t>());
    if (r.ok()) c.sections.emplace_back(std::move(name), std::string(payload));
  }
  if (r.ok() && !r.done()) r.Fail("bytes after the last section");
  if (!r.ok()) return Status::Corruption(r.error());
  *out = std::move(c);
  return Status::Ok();
}

std::vector<std::pair<uint64_t, std::string>> CheckpointStore::List() const {
  std::vector<std::pair<uint64_t, std::string>> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string name = e.path().filename().string();
    unsigned long long seq = 0;
    int consumed = 0;
    if (std::sscanf(name.c_str(), "checkpoint-%llu.fwc%n", &seq, &consumed) == 1 &&
        static_cast<size_t>(consumed) == name.size()) {
      files.emplace_back(seq, e.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

Status CheckpointStore::Write(const Checkpoint& c, size_t* bytes) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return Status::IoError("cannot create checkpoint folder " + dir_ + ": " + ec.message());
  char name[64];
  std::snprintf(name, sizeof name, "checkpoint-%012" PRIu64 ".fwc", c.sequence);
  const std::string data = EncodeCheckpoint(c);
  if (Status s = WriteFileDurably(dir_ + "/" + name, data); !s.ok()) return s;
  *bytes = data.size();
  std::vector<std::pair<uint64_t, std::string>> files = List();
  for (size_t i = 0; i + static_cast<size_t>(keep_) < files.size(); ++i) {
    if (Status s = RemoveFileDurably(files[i].second); !s.ok()) return s;
  }
  return Status::Ok();
}

uint64_t CheckpointStore::NextSequence() const {
  const std::vector<std::pair<uint64_t, std::string>> files = List();
  return files.empty() ? 1 : files.back().first + 1;
}

Status CheckpointStore::LoadNewest(Checkpoint* out, bool* found, std::vector<std::string>* rejected,
                                   std::string* path) {
  *found = false;
  std::vector<std::pair<uint64_t, std::string>> files = List();
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    std::ifstream in(it->second, std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    if (!in) {
      rejected->push_back(it->second + ": cannot read");
      continue;
    }
    if (Status s = DecodeCheckpoint(buf.str(), it->second, out); !s.ok()) {
      rejected->push_back(s.message());
      continue;
    }
    *found = true;
    if (path) *path = it->second;
    return Status::Ok();
  }
  return Status::Ok();
}

}  // namespace flowwatch::state
