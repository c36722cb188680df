// Fuzzes both inventory formats (CSV and `az vm list-ip-addresses` JSON).
#include <cstdint>
#include <string_view>

#include "lib/enrich/inventory.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto csv = flowwatch::enrich::Inventory::ParseCsv(text, "fuzz.csv");
  auto json = flowwatch::enrich::Inventory::ParseAzJson(text, "fuzz.json");
  if (csv.ok()) (void)csv->FindByIp(flowwatch::IpAddress::FromV4(0x0A000004));
  if (json.ok()) (void)json->vm_count();
  return 0;
}
