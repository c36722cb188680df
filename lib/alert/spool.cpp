#include "lib/alert/spool.h"

#include <cstdio>
#include <filesystem>
#include <map>

#include "lib/common/durable_file.h"
#include "lib/enrich/read_text_file.h"

namespace flowwatch::alert {
namespace {

constexpr char kMagic[] = "flowwatch-alert 1";

}  // namespace

std::string SerializeEvent(const AlertEvent& e) {
  return std::string(kMagic) + "\n" + e.fingerprint + "\n" + (e.resolved ? "resolved" : "firing") + "\n" + e.text +
         "\n" + e.json + "\n";
}

bool ParseEvent(const std::string& text, AlertEvent* e) {
  if (text.empty() || text.back() != '\n') return false;  // not all of what was written
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size() && lines.size() < 5) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  if (lines.size() != 5 || lines[0] != kMagic || lines[1].empty() || start < text.size()) return false;
  if (lines[2] != "firing" && lines[2] != "resolved") return false;
  if (lines[4].empty() || lines[4].front() != '{') return false;
  e->fingerprint = lines[1];
  e->resolved = lines[2] == "resolved";
  e->text = lines[3];
  e->json = lines[4];
  return true;
}

std::string Spool::PathOf(uint64_t id, bool active) const {
  char name[40];
  std::snprintf(name, sizeof name, "%016llu.%s", static_cast<unsigned long long>(id), active ? "active" : "pending");
  return dir_ + "/" + name;
}

Status Spool::Load(std::vector<Entry>* entries, std::vector<std::string>* errors) {
  if (dir_.empty()) return Status::Ok();
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return Status::IoError("cannot create spool folder " + dir_ + ": " + ec.message());
  std::map<uint64_t, std::pair<std::string, bool>> found;  // by id: path, active
  for (const auto& f : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string name = f.path().filename().string();
    const std::string ext = f.path().extension().string();
    if (ext != ".pending" && ext != ".active") continue;  // *.tmp of an interrupted write, *.bad
    char* end = nullptr;
    const unsigned long long id = std::strtoull(name.c_str(), &end, 10);
    if (end != name.c_str() + name.size() - ext.size() || id == 0) continue;
    found[id] = {f.path().string(), ext == ".active"};
  }
  if (ec) return Status::IoError("cannot list spool folder " + dir_ + ": " + ec.message());
  for (const auto& [id, file] : found) {
    Entry entry;
    entry.id = id;
    entry.active = file.second;
    Result<std::string> text = enrich::ReadTextFile(file.first);
    Status st = text.status();
    if (st.ok() && !ParseEvent(text.value(), &entry.event)) {
      st = Status::Corruption(file.first + ": not a spooled alert event");
    }
    if (!st.ok()) {
      errors->push_back(st.message() + " (set aside as .bad)");
      std::filesystem::rename(file.first, file.first + ".bad", ec);
      continue;
    }
    entries->push_back(std::move(entry));
  }
  if (!found.empty()) next_id_ = found.rbegin()->first + 1;
  return Status::Ok();
}

Status Spool::Put(const AlertEvent& event, uint64_t* id) {
  *id = next_id_++;
  if (dir_.empty()) return Status::Ok();
  return WriteFileDurably(PathOf(*id, false), SerializeEvent(event));
}

Status Spool::MarkActive(uint64_t id) {
  if (dir_.empty()) return Status::Ok();
  std::error_code ec;
  std::filesystem::rename(PathOf(id, false), PathOf(id, true), ec);
  if (ec) return Status::IoError("cannot rename " + PathOf(id, false) + ": " + ec.message());
  return Status::Ok();
}

Status Spool::Remove(uint64_t id, bool active) {
  if (dir_.empty()) return Status::Ok();
  return RemoveFileDurably(PathOf(id, active));
}

}  // namespace flowwatch::alert
