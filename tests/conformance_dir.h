// Where the real Azure flow-log samples are read from, in place:
// $FLOWWATCH_CONFORMANCE_DIR when set, else ../shared/conformance beside the
// repository (the path CMake was configured with). A fresh clone has neither:
// the tests that need the samples then say what is missing and exit 77, which
// ctest reports as skipped (SKIP_RETURN_CODE, tests/CMakeLists.txt), never as
// passed.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace flowwatch::testing {

inline std::string ConformanceDir() {
  const char* env = std::getenv("FLOWWATCH_CONFORMANCE_DIR");
  return env != nullptr && *env != '\0' ? std::string(env) : std::string(FW_CONFORMANCE_DIR);
}

// Call first in a test that reads the samples.
inline void SkipUnlessConformancePresent() {
  const std::string dir = ConformanceDir();
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return;
  std::fprintf(stderr,
               "SKIPPED: the conformance samples are not at %s; set FLOWWATCH_CONFORMANCE_DIR to a copy of "
               "../shared/conformance to run this test\n",
               dir.c_str());
  std::fflush(nullptr);
  std::exit(77);
}

}  // namespace flowwatch::testing
