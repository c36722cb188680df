#include "daemon/enrichment.h"

#include <algorithm>
#include <thread>

#include "lib/common/logging.h"

namespace flowwatch::app {

Status Enrichment::Load(const config::Config& c) {
  auto inventory = std::make_shared<enrich::Inventory>();
  if (!c.inventory.file.empty()) {
    auto loaded = enrich::Inventory::LoadFile(c.inventory.file);
    if (!loaded.ok()) return Status::InvalidArgument("inventory: " + loaded.status().message());
    *inventory = std::move(loaded.value());
  }
  auto classifier = std::make_shared<enrich::PeerClassifier>();
  if (!c.inventory.service_tags_file.empty()) {
    if (Status s = classifier->LoadServiceTags(c.inventory.service_tags_file); !s.ok()) {
      return Status::InvalidArgument("service tags: " + s.message());
    }
  }
  spdlog::info("inventory: {} VMs, {} addresses; peer classes: {}", inventory->vm_count(), inventory->address_count(),
               classifier->source());
  std::lock_guard<std::mutex> lock(mu_);
  inventory_ = std::move(inventory);
  classifier_ = std::move(classifier);
  return Status::Ok();
}

std::shared_ptr<const enrich::Inventory> Enrichment::inventory() const {
  std::lock_guard<std::mutex> lock(mu_);
  return inventory_;
}

std::pair<std::shared_ptr<const enrich::PeerClassifier>, std::shared_ptr<const enrich::Inventory>>
Enrichment::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {classifier_, inventory_};
}

int ThreadsOrCores(int configured) {
  return configured > 0 ? configured : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace flowwatch::app
