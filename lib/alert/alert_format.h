// Alert events as text: the JSON object of PRODUCT.md (a line of `replay`
// output, of the daemon's alert file, the body of a generic webhook call) and a
// one-line summary for people. Peers that are VMs of the inventory are named.
// Pure functions; thread-safe given const inputs.
#pragma once

#include <string>
#include <string_view>

#include "lib/enrich/inventory.h"
#include "lib/enrich/peer_classifier.h"
#include "lib/model/alert.h"
#include "lib/model/names.h"

namespace flowwatch::alert {

// Stable across restarts and replicas: a hash of the VM's name, the key, the
// detector and the incident's start. The firing and resolved events of one
// incident share it; a later incident on the same key gets another.
std::string Fingerprint(const Alert& a, std::string_view vm_name);

// inventory may be null; when a peer is in it, the peer gets a "vm" field.
std::string AlertJson(const Alert& a, const NameTables& names, const enrich::PeerClassifier& classifier,
                      const enrich::Inventory* inventory);

// "FIRING critical vm01 tcp/1433 outbound 2021-05-03 23:30-23:35Z 35.2 MB, 7.0x its usual 5.0 MB
// (z 152) peers vm03 17.6 MB, vm04 17.6 MB"
std::string AlertText(const Alert& a, const NameTables& names, const enrich::PeerClassifier& classifier,
                      const enrich::Inventory* inventory);

}  // namespace flowwatch::alert
