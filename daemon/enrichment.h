// Enrichment: the inventory and service tags in force, loaded from the
// configuration and swapped whole (the daemon reloads them on SIGHUP).
// Thread-safe: readers get shared pointers that stay valid after a swap.
#pragma once

#include <memory>
#include <mutex>
#include <utility>

#include "lib/common/status.h"
#include "lib/config/config.h"
#include "lib/enrich/inventory.h"
#include "lib/enrich/peer_classifier.h"

namespace flowwatch::app {

class Enrichment {
 public:
  // Loads inventory.file and inventory.service_tags_file (either may be unset);
  // on an error ("inventory: ..." or "service tags: ...") keeps what it had.
  [[nodiscard]] Status Load(const config::Config& c);

  std::shared_ptr<const enrich::Inventory> inventory() const;
  std::pair<std::shared_ptr<const enrich::PeerClassifier>, std::shared_ptr<const enrich::Inventory>> Snapshot() const;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const enrich::Inventory> inventory_;
  std::shared_ptr<const enrich::PeerClassifier> classifier_;
};

// pipeline.decoders / pipeline.shards: 0 means one per core.
int ThreadsOrCores(int configured);

}  // namespace flowwatch::app
