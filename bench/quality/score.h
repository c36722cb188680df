// Scoring incidents against ground truth, for bench/detection_quality.cpp.
//
// A key is "vm|protocol|port|direction" (e.g. "vm0007|tcp|1433|inbound").
// An incident (the bucket that opened it) on a key is:
//  - a hit of an attack label on that key if it opens within [start - one
//    bucket, end + 30 min): the first one gives the label's delay (end of the
//    firing bucket - start of the attack);
//  - else the page of a level shift on that key if it opens within a day of the
//    shift (the first page of each shift is allowed, later ones are false);
//  - else false. False incidents that open during one occurrence of a job or a
//    backup are also counted by occurrence number (is the burst learnt?).
// Pure functions over plain values.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace flowwatch::bench {

struct Label {
  std::string key;
  std::string kind;
  bool attack = true;
  int occurrence = 0;
  int64_t start_ms = 0, end_ms = 0;
  double factor = 1;
  std::string new_peer;  // the address new to the key that the attack uses, or ""
};

// ground_truth.jsonl as `flowwatch gen` writes it; exits with a message on error.
std::vector<Label> ReadLabels(const std::string& path);

struct Incident {
  std::string key;
  int64_t window_start_ms = 0;
  std::vector<std::string> new_peers;  // the alert's
};

struct KindScore {
  int labels = 0, hits = 0;
  std::vector<double> delays_min;
  double Recall() const { return labels ? static_cast<double>(hits) / labels : 0; }
  double MedianDelay() const;
};

struct Score {
  std::map<std::string, KindScore> by_kind;  // attack kinds
  KindScore attacks;                         // all attack labels
  int false_incidents = 0;
  // Hit attack labels with a new peer, and those whose first alert named it
  // in new_peers; false incidents that named any new peer.
  int new_peer_hits = 0, new_peer_named = 0, false_naming_new_peers = 0;
  double key_days = 0;
  int shifts_up = 0, shifts_paged = 0, shift_extra_pages = 0;  // level shifts up (x2, x3)
  int shifts_down_paged = 0;
  std::map<int, int> recurring_false_by_occurrence;  // 1, 2, 3 (3 = third or later)
  // Each false incident: "key time(s) label#occurrence" (the benign label it
  // overlaps, or "none"), for looking into them.
  std::vector<std::string> false_list;
  // Each missed attack label: "key kind start(s) end(s) factor".
  std::vector<std::string> miss_list;
  double FalsePer1kKeyDays() const { return key_days > 0 ? false_incidents * 1000.0 / key_days : 0; }
  void Add(const Score& other);
};

Score ScoreIncidents(const std::vector<Incident>& incidents, const std::vector<Label>& labels, double key_days,
                     int64_t bucket_ms);

}  // namespace flowwatch::bench
