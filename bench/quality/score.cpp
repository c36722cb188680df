#include "bench/quality/score.h"

#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <unordered_map>

#include "lib/common/time_util.h"

namespace flowwatch::bench {
namespace {

constexpr int64_t kMinuteMs = 60'000;
constexpr int64_t kDayMs = 86'400'000;
constexpr int64_t kAttackGraceMs = 30 * kMinuteMs;

[[noreturn]] void Fail(const std::string& path, size_t line, const std::string& what) {
  std::fprintf(stderr, "detection_quality: %s:%zu: %s\n", path.c_str(), line, what.c_str());
  std::exit(2);
}

}  // namespace

double KindScore::MedianDelay() const {
  if (delays_min.empty()) return 0;
  std::vector<double> d = delays_min;
  std::sort(d.begin(), d.end());
  return d.size() % 2 ? d[d.size() / 2] : (d[d.size() / 2 - 1] + d[d.size() / 2]) / 2;
}

void Score::Add(const Score& o) {
  auto add = [](KindScore* a, const KindScore& b) {
    a->labels += b.labels;
    a->hits += b.hits;
    a->delays_min.insert(a->delays_min.end(), b.delays_min.begin(), b.delays_min.end());
  };
  for (const auto& [kind, s] : o.by_kind) add(&by_kind[kind], s);
  add(&attacks, o.attacks);
  false_incidents += o.false_incidents;
  new_peer_hits += o.new_peer_hits;
  new_peer_named += o.new_peer_named;
  false_naming_new_peers += o.false_naming_new_peers;
  false_list.insert(false_list.end(), o.false_list.begin(), o.false_list.end());
  miss_list.insert(miss_list.end(), o.miss_list.begin(), o.miss_list.end());
  key_days += o.key_days;
  shifts_up += o.shifts_up;
  shifts_paged += o.shifts_paged;
  shift_extra_pages += o.shift_extra_pages;
  shifts_down_paged += o.shifts_down_paged;
  for (const auto& [n, c] : o.recurring_false_by_occurrence) recurring_false_by_occurrence[n] += c;
}

std::vector<Label> ReadLabels(const std::string& path) {
  simdjson::padded_string text;
  if (simdjson::padded_string::load(path).get(text) != simdjson::SUCCESS) Fail(path, 0, "cannot read");
  simdjson::dom::parser parser;
  std::vector<Label> out;
  size_t line_no = 0;
  std::string_view rest(text.data(), text.size());
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    ++line_no;
    if (line.empty()) continue;
    simdjson::dom::element e;
    if (parser.parse(line.data(), line.size()).get(e) != simdjson::SUCCESS) Fail(path, line_no, "not JSON");
    std::string_view vm, protocol, direction, kind, start, end;
    int64_t port = 0;
    bool attack = true;
    double factor = 1;
    if (e["vm"].get(vm) || e["protocol"].get(protocol) || e["port"].get(port) || e["direction"].get(direction) ||
        e["start"].get(start) || e["end"].get(end) || e["kind"].get(kind) || e["attack"].get(attack) ||
        e["factor"].get(factor)) {
      Fail(path, line_no, "a label needs vm, protocol, port, direction, start, end, kind, attack, factor");
    }
    Label l;
    l.key = std::string(vm) + "|" + std::string(protocol) + "|" + std::to_string(port) + "|" + std::string(direction);
    l.kind = std::string(kind);
    l.attack = attack;
    l.factor = factor;
    int64_t occurrence = 0;
    if (e["occurrence"].get(occurrence) == simdjson::SUCCESS) l.occurrence = static_cast<int>(occurrence);
    std::string_view new_peer;
    if (e["new_peer"].get(new_peer) == simdjson::SUCCESS) l.new_peer = std::string(new_peer);
    if (!ParseIso8601(start, &l.start_ms) || !ParseIso8601(end, &l.end_ms)) Fail(path, line_no, "a bad time");
    out.push_back(std::move(l));
  }
  return out;
}

Score ScoreIncidents(const std::vector<Incident>& incidents, const std::vector<Label>& labels, double key_days,
                     int64_t bucket_ms) {
  Score score;
  score.key_days = key_days;
  std::unordered_map<std::string, std::vector<const Label*>> by_key;
  for (const Label& l : labels) {
    by_key[l.key].push_back(&l);
    if (l.attack) {
      ++score.by_kind[l.kind].labels;
      ++score.attacks.labels;
    }
    if (l.kind == "level_shift" && l.factor > 1) ++score.shifts_up;
  }
  std::unordered_map<const Label*, int64_t> first_hit;  // attack label -> first firing window end
  std::unordered_map<const Label*, bool> named;         // its first hit named its new peer
  std::unordered_map<const Label*, int> shift_pages;
  for (const Incident& inc : incidents) {
    const auto it = by_key.find(inc.key);
    const std::vector<const Label*> none;
    const std::vector<const Label*>& mine = it == by_key.end() ? none : it->second;
    bool explained = false;
    for (const Label* l : mine) {
      if (l->attack && inc.window_start_ms >= l->start_ms - bucket_ms && inc.window_start_ms < l->end_ms + kAttackGraceMs) {
        auto [slot, inserted] = first_hit.try_emplace(l, inc.window_start_ms + bucket_ms);
        if (inserted || inc.window_start_ms + bucket_ms < slot->second) {
          named[l] = std::find(inc.new_peers.begin(), inc.new_peers.end(), l->new_peer) != inc.new_peers.end();
        }
        if (!inserted) slot->second = std::min(slot->second, inc.window_start_ms + bucket_ms);
        explained = true;
      }
    }
    if (explained) continue;
    for (const Label* l : mine) {
      if (l->kind == "level_shift" && inc.window_start_ms >= l->start_ms - bucket_ms &&
          inc.window_start_ms < l->start_ms + kDayMs) {
        if (l->factor < 1) {
          ++score.shifts_down_paged;  // a drop should never page: false
          break;
        }
        explained = ++shift_pages[l] == 1;
        if (!explained) ++score.shift_extra_pages;
        break;
      }
    }
    if (explained) continue;
    ++score.false_incidents;
    if (!inc.new_peers.empty()) ++score.false_naming_new_peers;
    // The benign labels it overlaps: the last one names it, the first
    // recurring one counts it by occurrence.
    std::string what = "none";
    bool recurring = false;
    for (const Label* l : mine) {
      if (inc.window_start_ms < l->start_ms - bucket_ms || inc.window_start_ms >= l->end_ms + 10 * kMinuteMs) continue;
      what = l->kind + "#" + std::to_string(l->occurrence);
      if (l->occurrence > 0 && !recurring) {
        ++score.recurring_false_by_occurrence[std::min(l->occurrence, 3)];
        recurring = true;
      }
    }
    score.false_list.push_back(inc.key + " " + std::to_string(inc.window_start_ms / 1000) + " " + what);
  }
  for (const auto& [label, end_ms] : first_hit) {
    KindScore& k = score.by_kind[label->kind];
    ++k.hits;
    ++score.attacks.hits;
    const double delay = static_cast<double>(end_ms - label->start_ms) / kMinuteMs;
    k.delays_min.push_back(delay);
    score.attacks.delays_min.push_back(delay);
    if (!label->new_peer.empty()) {
      ++score.new_peer_hits;
      score.new_peer_named += named[label];
    }
  }
  for (const Label& l : labels) {
    if (!l.attack || first_hit.count(&l) != 0) continue;
    char factor[32];
    std::snprintf(factor, sizeof factor, "%.2f", l.factor);
    score.miss_list.push_back(l.key + " " + l.kind + " " + std::to_string(l.start_ms / 1000) + " " +
                              std::to_string(l.end_ms / 1000) + " " + factor);
  }
  score.shifts_paged = static_cast<int>(shift_pages.size());
  return score;
}

}  // namespace flowwatch::bench
