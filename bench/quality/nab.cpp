#include "bench/quality/nab.h"

#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string_view>

#include "lib/common/time_util.h"

namespace flowwatch::bench {
namespace {

bool ParseNabTime(std::string_view text, int64_t* ms) {
  // "2014-04-10 07:15:00" or with ".000000"
  std::string t(text.substr(0, 19));
  if (t.size() != 19) return false;
  t[10] = 'T';
  return ParseIso8601(t + "Z", ms);
}

}  // namespace

double BytesScale(const NabFile& f) {
  std::vector<double> positive;
  for (const auto& sample : f.samples) {
    if (sample.second > 0) positive.push_back(sample.second);
  }
  if (positive.empty()) return 0;
  std::nth_element(positive.begin(), positive.begin() + positive.size() / 2, positive.end());
  return 10.0 * (1 << 20) / positive[positive.size() / 2];
}

NabCounts ScoreNab(const NabFile& f, const std::vector<int64_t>& flags, int64_t bucket_ms) {
  NabCounts c;
  c.windows = static_cast<int>(f.windows.size());
  const int64_t probation_end = f.samples[f.samples.size() * 15 / 100].first;
  std::vector<bool> hit(f.windows.size(), false);
  for (int64_t t : flags) {
    bool inside = false;
    for (size_t w = 0; w < f.windows.size(); ++w) {
      if (t + bucket_ms > f.windows[w].first && t <= f.windows[w].second) {
        inside = true;
        hit[w] = true;
      }
    }
    if (!inside && t >= probation_end) ++c.outside;
  }
  c.hits = static_cast<int>(std::count(hit.begin(), hit.end(), true));
  return c;
}

std::vector<NabFile> LoadNab(const std::string& root) {
  std::vector<NabFile> files;
  simdjson::dom::parser parser;
  simdjson::dom::object windows;
  if (parser.load(root + "/combined_windows.json").get(windows) != simdjson::SUCCESS) {
    std::fprintf(stderr, "detection_quality: cannot read %s/combined_windows.json\n", root.c_str());
    std::exit(2);
  }
  for (auto [name, list] : windows) {
    NabFile f;
    f.name = std::string(name);
    for (simdjson::dom::element w : list.get_array()) {
      int64_t a = 0, b = 0;
      if (!ParseNabTime(w.at(0).get_string().value(), &a) || !ParseNabTime(w.at(1).get_string().value(), &b)) {
        std::fprintf(stderr, "detection_quality: a bad window time in %s\n", f.name.c_str());
        std::exit(2);
      }
      f.windows.emplace_back(a, b);
    }
    std::ifstream in(root + "/data/" + f.name);
    std::string line;
    std::getline(in, line);  // header
    size_t line_no = 1;
    while (std::getline(in, line)) {
      ++line_no;
      const size_t comma = line.find(',');
      int64_t t = 0;
      if (comma == std::string::npos || !ParseNabTime(line.substr(0, comma), &t)) {
        std::fprintf(stderr, "detection_quality: %s:%zu: not timestamp,value\n", f.name.c_str(), line_no);
        std::exit(2);
      }
      f.samples.emplace_back(t, std::strtod(line.c_str() + comma + 1, nullptr));
    }
    if (f.samples.size() > 10) files.push_back(std::move(f));
  }
  std::sort(files.begin(), files.end(), [](const NabFile& a, const NabFile& b) { return a.name < b.name; });
  return files;
}

}  // namespace flowwatch::bench
