#include "lib/common/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include "lib/common/json_writer.h"
#include "lib/common/time_util.h"

namespace flowwatch {
namespace {

// {"time":"2026-11-28T12:00:00.123Z","level":"info","msg":"..."}
class JsonFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const int64_t ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count();
    std::string line;
    JsonWriter w(&line);
    w.BeginObject();
    w.Field("time", FormatIso8601(ms));
    const auto level = spdlog::level::to_string_view(msg.level);
    w.Field("level", std::string_view(level.data(), level.size()));
    w.Field("msg", std::string_view(msg.payload.data(), msg.payload.size()));
    w.EndObject();
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

}  // namespace

void InitLogging(LogLevel level, LogFormat format) {
  auto logger = spdlog::get("flowwatch");
  if (!logger) logger = spdlog::stderr_color_mt("flowwatch");
  if (format == LogFormat::kJson) {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger->set_pattern("[%Y-%m-%dT%H:%M:%S.%e] [%^%l%$] %v");
  }
  switch (level) {
    case LogLevel::kDebug: logger->set_level(spdlog::level::debug); break;
    case LogLevel::kInfo: logger->set_level(spdlog::level::info); break;
    case LogLevel::kWarn: logger->set_level(spdlog::level::warn); break;
    case LogLevel::kError: logger->set_level(spdlog::level::err); break;
  }
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

bool ParseLogLevel(std::string_view text, LogLevel* level) {
  if (text == "debug") *level = LogLevel::kDebug;
  else if (text == "info") *level = LogLevel::kInfo;
  else if (text == "warn") *level = LogLevel::kWarn;
  else if (text == "error") *level = LogLevel::kError;
  else return false;
  return true;
}

bool LogLimiter::Allow(std::string_view key, uint64_t* suppressed) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  Window& w = windows_[std::string(key)];
  if (now - w.start >= interval_) {
    w.start = now;
    w.allowed = 0;
  }
  if (w.allowed >= burst_) {
    ++w.suppressed;
    return false;
  }
  ++w.allowed;
  *suppressed = w.suppressed;
  w.suppressed = 0;
  return true;
}

}  // namespace flowwatch
