#include "bench/bench_util.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "lib/source/file/input_files.h"

namespace flowwatch::bench {

void EnsureWorkload(const gen::GenOptions& o) {
  // truth=2: ground_truth.jsonl names an attack's new peer (a folder from
  // before is generated again).
  std::ostringstream key;
  key << gen::ScenarioName(o.scenario) << " format=" << static_cast<int>(o.format) << " vms=" << o.vms
      << " ports=" << o.ports_per_vm << " hours=" << o.hours << " seed=" << o.seed << " truth=2";
  const std::string marker = o.out_dir + "/.workload";
  std::ifstream in(marker);
  std::string existing;
  std::getline(in, existing);
  if (existing == key.str()) {
    std::fprintf(stderr, "workload: reusing %s (%s)\n", o.out_dir.c_str(), existing.c_str());
    return;
  }
  std::filesystem::remove_all(o.out_dir);
  std::fprintf(stderr, "workload: generating %s into %s ...\n", key.str().c_str(), o.out_dir.c_str());
  auto r = gen::Generate(o);
  if (!r.ok()) {
    std::fprintf(stderr, "workload: %s\n", r.status().message().c_str());
    std::exit(1);
  }
  std::ofstream(marker) << key.str() << "\n";
  std::fprintf(stderr, "workload: %llu files, %llu tuples, %.0f MB\n", static_cast<unsigned long long>(r->files),
               static_cast<unsigned long long>(r->tuples), r->output_bytes / 1e6);
}

std::vector<LoadedFile> LoadAll(const std::string& dir, size_t padding, uint64_t* total_bytes) {
  auto files = source::ListInputFiles({dir});
  if (!files.ok()) {
    std::fprintf(stderr, "%s\n", files.status().message().c_str());
    std::exit(1);
  }
  std::vector<LoadedFile> out;
  *total_bytes = 0;
  for (const auto& f : *files) {
    LoadedFile lf;
    if (!source::ReadFilePadded(f.path, padding, &lf.data, &lf.size).ok()) std::exit(1);
    *total_bytes += lf.size;
    out.push_back(std::move(lf));
  }
  return out;
}

}  // namespace flowwatch::bench
