#include "daemon/checkpoint.h"

#include <thread>

#include "lib/state/codec.h"
#include "lib/state/id_remap.h"

namespace flowwatch::app {
namespace {

void SaveNames(const StringInterner& table, state::Writer* w) {
  const uint32_t n = table.size();
  w->Put<uint32_t>(n);
  for (uint32_t id = 0; id < n; ++id) w->Bytes(table.Get(id));
}

// Interns the saved names; remap gets old id -> new id.
void LoadNames(state::Reader* r, StringInterner* table, std::vector<uint32_t>* remap) {
  const uint64_t n = r->Get<uint32_t>();
  if (n > r->remaining() / 4) r->Fail("a name table of " + std::to_string(n));
  for (uint64_t id = 0; id < n && r->ok(); ++id) {
    const std::string_view name = r->Bytes();
    // The reserved ids ("" and the overflow name) stay themselves.
    remap->push_back(id <= StringInterner::kOverflowId ? static_cast<uint32_t>(id) : table->Intern(name));
  }
}

}  // namespace

state::Checkpoint BuildCheckpoint(uint64_t sequence, const CheckpointMeta& meta, const NameTables& names,
                                  const std::vector<const ShardPipeline*>& shards, const AlertWriter& alerts) {
  state::Checkpoint c;
  c.sequence = sequence;
  c.created_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  std::string m;
  state::Writer mw(&m);
  mw.Put<uint32_t>(static_cast<uint32_t>(shards.size()));
  mw.Bytes(meta.topic);
  mw.Put<uint64_t>(meta.offsets.size());
  for (const auto& [p, next] : meta.offsets) {
    mw.Put<int32_t>(p);
    mw.Put<int64_t>(next);
  }
  c.Add("meta", std::move(m));
  std::string n;
  state::Writer nw(&n);
  SaveNames(names.vms, &nw);
  SaveNames(names.rules, &nw);
  c.Add("names", std::move(n));
  std::vector<std::string> saved(shards.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < shards.size(); ++i) {
    threads.emplace_back([&, i] {
      state::Writer w(&saved[i]);
      shards[i]->Save(&w);
    });
  }
  for (std::thread& t : threads) t.join();
  for (size_t i = 0; i < shards.size(); ++i) c.Add("shard." + std::to_string(i), std::move(saved[i]));
  std::string a;
  state::Writer aw(&a);
  alerts.SaveActive(&aw);
  c.Add("alerts", std::move(a));
  return c;
}

Status RestoreCheckpoint(const state::Checkpoint& c, const std::string& source, const std::string& topic,
                         NameTables* names, const std::vector<ShardPipeline*>& shards, AlertWriter* alerts,
                         CheckpointMeta* meta) {
  const std::string* m = c.Find("meta");
  const std::string* n = c.Find("names");
  const std::string* a = c.Find("alerts");
  if (!m || !n || !a) return Status::Corruption(source + ": a section is missing");
  state::Reader mr(*m, source + ": meta");
  CheckpointMeta got;
  got.shards = mr.Get<uint32_t>();
  got.topic = std::string(mr.Bytes());
  const uint64_t offsets = mr.Count(12);
  for (uint64_t i = 0; i < offsets && mr.ok(); ++i) {
    const int32_t p = mr.Get<int32_t>();
    got.offsets[p] = mr.Get<int64_t>();
  }
  if (!mr.ok()) return Status::Corruption(mr.error());
  if (got.topic != topic) {
    return Status::InvalidArgument(source + ": written for topic " + got.topic + ", not " + topic);
  }
  if (got.shards != shards.size()) {
    return Status::InvalidArgument(source + ": written by " + std::to_string(got.shards) + " shards, this run has " +
                                   std::to_string(shards.size()) + "; set pipeline.shards to " +
                                   std::to_string(got.shards) + " to restore it");
  }
  state::IdRemap remap;
  state::Reader nr(*n, source + ": names");
  LoadNames(&nr, &names->vms, &remap.vms);
  LoadNames(&nr, &names->rules, &remap.rules);
  if (!nr.ok()) return Status::Corruption(nr.error());
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string name = "shard." + std::to_string(i);
    const std::string* s = c.Find(name);
    if (!s) return Status::Corruption(source + ": section " + name + " is missing");
    if (Status st = shards[i]->Load(*s, remap, source + ": " + name); !st.ok()) return st;
  }
  state::Reader ar(*a, source + ": alerts");
  if (!alerts->LoadActive(&ar)) return Status::Corruption(ar.error());
  *meta = std::move(got);
  return Status::Ok();
}

}  // namespace flowwatch::app
