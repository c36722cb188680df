// Helpers for the generator tests: a self-removing temporary folder, reading
// files, and decoding every blob of an output folder with the real Decoder.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "lib/decode/decoder.h"
#include "lib/model/flow_record.h"
#include "lib/model/names.h"

namespace flowwatch::gen::testing {

namespace fs = std::filesystem;

class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("fw_gen_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + tag);
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string str() const { return path_.string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Every regular file under dir, as paths relative to dir, sorted.
inline std::vector<std::string> ListFiles(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(fs::relative(e.path(), dir).generic_string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline bool IsBlob(const std::string& rel) {
  return rel.ends_with("/PT1H.json") || rel.ends_with("/PT1H.json.gz");
}

struct CollectingSink : decode::FlowSink {
  std::vector<FlowRecord> flows;
  void OnFlows(std::span<FlowRecord> f) override { flows.insert(flows.end(), f.begin(), f.end()); }
};

struct Decoded {
  std::vector<FlowRecord> flows;
  decode::DecodeStats stats;
  std::vector<std::string> blobs;  // relative paths, sorted
};

// Decodes every blob under dir (in path order) with one Decoder and `names`.
inline Decoded DecodeFolder(const fs::path& dir, NameTables* names) {
  Decoded d;
  decode::Decoder decoder({}, names);
  CollectingSink sink;
  for (const std::string& rel : ListFiles(dir)) {
    if (!IsBlob(rel)) continue;
    d.blobs.push_back(rel);
    decoder.Decode(ReadFile(dir / rel), &sink);
  }
  d.flows = std::move(sink.flows);
  d.stats = decoder.stats();
  return d;
}

inline uint64_t SumBytes(const std::vector<FlowRecord>& flows) {
  uint64_t n = 0;
  for (const FlowRecord& f : flows) n += f.bytes();
  return n;
}

inline IpAddress Ip(const char* text) {
  IpAddress a;
  IpAddress::Parse(text, &a);
  return a;
}

}  // namespace flowwatch::gen::testing
