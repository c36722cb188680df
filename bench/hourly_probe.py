#!/usr/bin/env python3
# An offline probe, not a detector: does an hourly view catch what flowwatch's
# 5-minute model misses? Per key of the realistic seeds, hourly sums of the
# series detection closed (empty buckets as zero), the median of the same hour
# over the 7 days before, the median absolute residual of the last 48 hours as
# the spread, and a CUSUM of min(z, 6) - K paging at each threshold H. Prints
# recall per kind (and how many of flowwatch's misses it catches) and false
# incidents per 1,000 key-days (a level shift's first day is not false).
#
#   build/rel/bench/detection_quality --seeds 1,2,3,4,5 --dir build/bench-data --nab none \
#       --series /tmp/series3.txt --misses /tmp/misses.txt
#   python3 bench/hourly_probe.py K H1,H2,...   (from the repository's root; e.g. 1.5 6,10,14)
import json, math, datetime, collections, sys, statistics
series = {}  # (dir, key) -> list of (t, bytes)
cur = None
with open(sys.argv[3] if len(sys.argv) > 3 else '/tmp/series3.txt') as f:
    for line in f:
        if line.startswith('K '):
            _, d, key, n = line.split()
            cur = series.setdefault((d, key), []) if 'realistic' in d else None
        elif cur is not None:
            t, b = line.split(); cur.append((int(t), int(b)))
labels = collections.defaultdict(list)  # (dir, key) -> (kind, attack, start, end)
def ts(s): return int(datetime.datetime.fromisoformat(s.replace('Z', '+00:00')).timestamp())
dirs = sorted({d for d, _ in series})
for d in dirs:
    for l in open(d + '/ground_truth.jsonl'):
        g = json.loads(l)
        key = f"{g['vm']}|{g['protocol']}|{g['port']}|{g['direction']}"
        labels[(d, key)].append((g['kind'], g.get('attack', False), ts(g['start']), ts(g['end'])))
K = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
results = {}
fw_miss = set()
for l in open(sys.argv[4] if len(sys.argv) > 4 else '/tmp/misses.txt'):
    k_, kind_, s_, e_, f_ = l.split(); fw_miss.add((k_, int(s_)))
hs = [float(x) for x in (sys.argv[2].split(',') if len(sys.argv) > 2 else ['8', '12', '16', '24', '32'])]
for H in hs:
    hits = collections.Counter(); tot = collections.Counter(); false = 0; key_days = 0; new = collections.Counter()
    for (d, key), pts in series.items():
        if len(pts) < 10: continue
        first, last = pts[0][0] // 3600, pts[-1][0] // 3600
        key_days += (last - first + 1) / 24
        hourly = collections.defaultdict(int)
        for t, b in pts: hourly[t // 3600] += b
        xs = {h: math.log1p(hourly.get(h, 0)) for h in range(first, last + 1)}
        resid = []
        g = 0; incidents = []; open_ = False
        for h in range(first, last + 1):
            past = [xs[h - 24 * k] for k in range(1, 8) if h - 24 * k >= first]
            if len(past) < 2:
                continue
            med = statistics.median(past)
            r = xs[h] - med
            spread = statistics.median([abs(v) for v in resid[-48:]]) * 1.4826 if len(resid) >= 24 else None
            resid.append(r)
            if spread is None: continue
            z = r / max(spread, 0.1)
            g = max(0.0, g + min(z, 6) - K)
            if g >= H and not open_:
                incidents.append(h * 3600); open_ = True
            if g == 0: open_ = False
        labs = labels.get((d, key), [])
        for kind, attack, s, e in labs:
            if not attack: continue
            tot[kind] += 1
            if any(s - 3600 <= t < e + 1800 for t in incidents):
                hits[kind] += 1
                if (key, s) in fw_miss: new[kind] += 1
        for t in incidents:
            ok = any(attack and s - 3600 <= t < e + 1800 for kind, attack, s, e in labs) or \
                 any(kind == 'level_shift' and s - 3600 <= t < s + 86400 for kind, attack, s, e in labs)
            false += 0 if ok else 1
    rec = sum(hits.values()) / max(1, sum(tot.values()))
    print(f"k {K} h {H}: recall {rec:.3f} false {1000 * false / key_days:.2f} per 1k key-days ({false}); " +
          ", ".join(f"{k} {hits[k]}/{tot[k]} (+{new[k]} missed by flowwatch)" for k in sorted(tot)), flush=True)
