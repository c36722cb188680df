// Fuzzes what follow_blob_events parses from an Event Hub: a message of Event
// Grid or CloudEvents BlobCreated events (ParseBlobCreatedEvents), and each
// event's blob URL (ParseBlobUrl). Whatever the bytes: no crash, every event
// names a url, and a URL that parses names an account and a container.
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "lib/source/blob/blob_events.h"
#include "lib/source/blob/blob_inputs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace flowwatch::source;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<BlobCreatedEvent> events;
  if (ParseBlobCreatedEvents(text, &events) == events.empty()) std::abort();
  for (const BlobCreatedEvent& e : events) {
    flowwatch::Result<BlobUrl> u = ParseBlobUrl(e.url);
    if (u.ok() && (u->account.name.empty() || u->container.empty())) std::abort();
  }
  // Any text as a URL, too.
  flowwatch::Result<BlobUrl> u = ParseBlobUrl(std::string(text));
  if (u.ok() && (u->account.name.empty() || u->container.empty())) std::abort();
  return 0;
}
