// The alert event of PRODUCT.md as one JSON object: a line of `replay` output,
// of the daemon's alert file, and the body of a generic webhook call.
// Pure functions; thread-safe given const inputs.
#pragma once

#include <string>
#include <string_view>

#include "lib/enrich/peer_classifier.h"
#include "lib/model/alert.h"
#include "lib/model/names.h"

namespace flowwatch::alert {

// Stable across restarts and replicas: a hash of the VM's name, the key, the
// detector and the incident's start. The firing and resolved events of one
// incident share it; a later incident on the same key gets another.
std::string Fingerprint(const Alert& a, std::string_view vm_name);

std::string AlertJson(const Alert& a, const NameTables& names, const enrich::PeerClassifier& classifier);

}  // namespace flowwatch::alert
