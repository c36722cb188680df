// Logging: spdlog to stderr, set up once per process. WARN by default for the
// command-line tools (stderr is also where their progress goes), INFO for -v.
// Lines are "[time] [level] message". Log calls are thread-safe (spdlog's
// stderr sink is mutex-protected); never log on the per-flow path, never log a
// secret.
#pragma once

#include <spdlog/spdlog.h>

namespace flowwatch {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

void InitLogging(LogLevel level);

}  // namespace flowwatch
