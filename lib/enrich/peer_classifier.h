// PeerClassifier: tells what kind of peer a remote address is, for alert
// "top_peers" classes and per-class statistics: private (RFC 1918 and the other
// non-routable blocks), azure (Microsoft's published AzureCloud service tag) or
// external (the Internet).
//
// Built-in knowledge, without any file:
//   private  10/8, 172.16/12, 192.168/16 (RFC 1918), 100.64/10 (RFC 6598 shared
//            address space), 169.254/16 (link-local), 127/8, fc00::/7 (ULA),
//            fe80::/10, ::1
//   azure    168.63.129.16/32, Azure's virtual public IP (DHCP, DNS, health
//            probes, the wire server), which every VM talks to
// LoadServiceTags() adds the prefixes of Microsoft's weekly
// ServiceTags_Public_YYYYMMDD.json (https://www.microsoft.com/download/details.aspx?id=56519).
// Private wins over azure when both match. IPv4-mapped IPv6 addresses are
// classified as the IPv4 address they carry.
//
// Thread-safety: Classify() and the other const methods are lock-free and safe
// from any number of threads. LoadServiceTags()/ParseServiceTags() modify the
// classifier and must not run concurrently with anything else; to refresh the
// tags of a running process, load a new PeerClassifier and publish it (for
// example through an atomic shared_ptr). A failed load leaves the classifier
// unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lib/common/ip_address.h"
#include "lib/common/status.h"
#include "lib/enrich/ip_range_set.h"

namespace flowwatch::enrich {

enum class PeerClass : uint8_t { kPrivate, kAzure, kExternal };
inline constexpr int kPeerClassCount = 3;

// "private", "azure", "external": the values of the alert's peer "class".
std::string_view PeerClassName(PeerClass c);

class PeerClassifier {
 public:
  // The name of the service tag whose prefixes are taken; when a file lacks it,
  // the union of all regional tags (kAzureCloudTag + ".<region>") is used.
  static constexpr std::string_view kAzureCloudTag = "AzureCloud";

  PeerClassifier();  // built-in ranges only

  // Reads a ServiceTags_Public JSON file. Errors: IoError (cannot read) or
  // InvalidArgument naming the file and what is wrong with it.
  [[nodiscard]] Status LoadServiceTags(const std::string& path);
  // The same from text already in memory; source_name is used in messages and
  // in source().
  [[nodiscard]] Status ParseServiceTags(std::string_view json, std::string_view source_name);

  PeerClass Classify(const IpAddress& ip) const {
    if (private_.Contains(ip)) return PeerClass::kPrivate;
    if (azure_.Contains(ip)) return PeerClass::kAzure;
    return PeerClass::kExternal;
  }

  // Prefixes that make up the azure class: those read from the tags file (as
  // listed, before merging) plus the built-in 168.63.129.16/32.
  size_t azure_prefix_count() const { return azure_prefix_count_; }
  // Disjoint ranges after merging overlapping and adjacent prefixes.
  size_t azure_range_count() const { return azure_.v4_range_count() + azure_.v6_range_count(); }
  // Where the azure prefixes came from, for logs: "built-in" or e.g.
  // "ServiceTags_Public_20240527.json (changeNumber 318, tag AzureCloud, 10 prefixes)".
  std::string source() const { return source_; }

 private:
  IpRangeSet private_;
  IpRangeSet azure_;
  size_t azure_prefix_count_ = 0;
  std::string source_;
};

}  // namespace flowwatch::enrich
