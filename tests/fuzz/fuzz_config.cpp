// Fuzzes the YAML configuration loader: errors are reported, never thrown.
#include <cstdint>
#include <string_view>

#include "lib/config/config_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto r = flowwatch::config::LoadConfigText(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.yaml");
  (void)r;
  return 0;
}
