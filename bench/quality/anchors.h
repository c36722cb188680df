// The two anchors that detection quality is measured against, run on the same
// per-key bucket series as flowwatch's detector (bench/detection_quality.cpp):
//  - the seed article's method: the mean over the key's buckets with data so
//    far, a bucket flagged when |x - avg| / avg > 3;
//  - a plain EWMA: flowwatch's detector before the seasonal one (mean and
//    variance of bytes per bucket, zeros for empty buckets, half-life 6 h,
//    flagged at ratio >= 3 and z >= 4, anomalous buckets clamped).
// Both share flowwatch's floors (warm-up of 24 buckets, min_bytes 1 MiB) and its
// incident logic (fire on the first anomalous bucket, resolve after 3 normal
// ones, empty buckets normal), so that only the model differs.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace flowwatch::bench {

// One key's closed buckets with traffic, in time order: (window start ms, bytes).
using Series = std::vector<std::pair<int64_t, uint64_t>>;

enum class Anchor { kArticle, kEwma };

// The window starts of the buckets that open an incident.
std::vector<int64_t> RunAnchor(Anchor anchor, const Series& series, int64_t bucket_ms);

}  // namespace flowwatch::bench
