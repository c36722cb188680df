// Logging: spdlog to stderr, set up once per process, as text
// ("[time] [level] message") or JSON Lines ({"time","level","msg"}) for log
// collectors. The command-line tools log at WARN unless -v (their progress goes
// to stderr too); the daemon at log.level. Log calls are thread-safe. Never log
// on the per-flow path, never log a secret; repeated errors go through a
// LogLimiter.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace flowwatch {

enum class LogLevel { kDebug, kInfo, kWarn, kError };
enum class LogFormat { kText, kJson };

void InitLogging(LogLevel level, LogFormat format = LogFormat::kText);
bool ParseLogLevel(std::string_view text, LogLevel* level);

// Lets through at most `burst` messages per key and interval, and says how many
// were held back when the next one is let through. Thread-safe.
class LogLimiter {
 public:
  explicit LogLimiter(std::chrono::seconds interval = std::chrono::seconds(60), int burst = 3)
      : interval_(interval), burst_(burst) {}

  // True if a message with this key may be logged now; *suppressed gets how
  // many were held back since the last one that was.
  bool Allow(std::string_view key, uint64_t* suppressed);

 private:
  struct Window {
    std::chrono::steady_clock::time_point start;
    int allowed = 0;
    uint64_t suppressed = 0;
  };
  const std::chrono::seconds interval_;
  const int burst_;
  std::mutex mu_;
  std::unordered_map<std::string, Window> windows_;
};

}  // namespace flowwatch
