// Event-time helpers: epoch milliseconds <-> ISO 8601 UTC text.
//
// Pure functions (Howard Hinnant's civil-date algorithms), no locale, no tz
// database, thread-safe. flowwatch keeps every event time as int64 epoch ms.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace flowwatch {

// Parses "YYYY-MM-DDTHH:MM:SS[.fraction][Z|+HH:MM|-HH:MM]" (also ' ' for 'T').
// Fractions beyond milliseconds are truncated. Returns false on malformed input.
bool ParseIso8601(std::string_view text, int64_t* epoch_ms);

// "2021-05-03T23:30:00Z", or "2021-05-03T23:30:00.123Z" when ms is not whole.
std::string FormatIso8601(int64_t epoch_ms);

// Days since 1970-01-01 for a proleptic Gregorian date.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d);

// A tuple timestamp in seconds or milliseconds, told apart by magnitude:
// values below 1e11 (before year 5138 in seconds) are seconds.
inline int64_t EpochToMs(uint64_t v) {
  return v < 100000000000ull ? static_cast<int64_t>(v) * 1000 : static_cast<int64_t>(v);
}

}  // namespace flowwatch
