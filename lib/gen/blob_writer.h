// BlobWriter: builds one Azure flow-log blob - the PT1H.json of one NIC for one
// hour - in the NSG flow log version 2 or VNet flow log version 4 schema, and
// writes it at its Azure blob path.
//
// Layout, copied from Microsoft's samples:
//  NSG v2:  {"records":[{"time","systemId","category","resourceId","operationName",
//           "properties":{"Version":2,"flows":[{"rule","flows":[{"mac","flowTuples"}]}]}}]}
//           tuples "time_s,src,dst,sport,dport,T|U,I|O,A|D,B|E,pkts,bytes,pkts,bytes"
//           (B and deny tuples: "...,B,,,,").
//  VNet v4: {"records":[{"time","flowLogVersion":4,"flowLogGUID","macAddress","category",
//           "flowLogResourceID","targetResourceID","operationName",
//           "flowRecords":{"flows":[{"aclID","flowGroups":[{"rule","flowTuples"}]}]}}]}
//           tuples "time_ms,src,dst,sport,dport,6|17,I|O,B|E|D,NX,pkts,bytes,pkts,bytes"
//           (B and D tuples: "0,0,0,0").
// Paths (under the output folder):
//  resourceId=/SUBSCRIPTIONS/<SUB>/RESOURCEGROUPS/<RG>/PROVIDERS/MICROSOFT.NETWORK/
//    NETWORKSECURITYGROUPS/<NSG>/y=YYYY/m=MM/d=DD/h=HH/m=00/macAddress=<MAC>/PT1H.json
//  flowLogResourceID=/<SUB>/NETWORKWATCHERRG/NETWORKWATCHER_<REGION>/<FLOWLOG>/
//    y=YYYY/m=MM/d=DD/h=HH/m=00/macAddress=<MAC>/PT1H.json
//
// The blob is built in memory (one NIC-hour) and written in one go, through a
// temporary name and a rename so a reader watching the folder never sees half a
// file. Not thread-safe; reuse one writer for many blobs (its buffer is kept).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "lib/common/ip_address.h"
#include "lib/common/json_writer.h"
#include "lib/common/status.h"
#include "lib/gen/traffic_model.h"
#include "lib/model/flow_record.h"

namespace flowwatch::gen {

// One tuple as the NIC that logs it writes it.
struct NicTuple {
  int64_t time_ms = 0;
  IpAddress src;
  IpAddress dst;
  uint64_t packets_sd = 0;
  uint64_t bytes_sd = 0;
  uint64_t packets_ds = 0;
  uint64_t bytes_ds = 0;
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint16_t rule = 0;  // index into the rule names
  uint8_t protocol = kProtoTcp;
  Direction direction = Direction::kInbound;
  FlowState state = FlowState::kBegin;  // kBegin, kEnd or kDeny
};

class BlobWriter {
 public:
  // format: kNsgV2 or kVnetV4.
  BlobWriter(RecordFormat format, const AzureNames& names, const std::vector<std::string>& rule_names);

  // Starts the blob of one NIC for the hour starting at hour_ms.
  void Begin(const VmSpec& vm, int64_t hour_ms);
  // Appends one record stamped record_time_100ns (epoch, 100 ns units, as
  // Azure's 7-digit fractions). `tuples` must be grouped by rule (equal rules
  // adjacent); each group becomes one rule entry. Empty spans add nothing.
  void AddRecord(int64_t record_time_100ns, std::span<const NicTuple> tuples);
  uint64_t records() const { return records_; }

  // Writes the blob at out_dir/<Azure path>/PT1H.json (or .json.gz), creating
  // folders. A blob without records is not written. Adds the file size to *written.
  [[nodiscard]] Status Finish(const std::string& out_dir, bool gzip, uint64_t* written);
  // Closes the blob and returns its JSON (one line, no newline) instead of
  // writing it: one Event Hubs message. Empty if it has no record.
  std::string TakeBody();

  // The blob's folder relative to the output folder (no trailing '/').
  static std::string BlobDirectory(RecordFormat format, const AzureNames& names, uint64_t mac, int64_t hour_ms);

 private:
  void WriteNsgRecord(const std::string& time, std::span<const NicTuple> tuples);
  void WriteVnetRecord(const std::string& time, std::span<const NicTuple> tuples);
  size_t FormatTuple(const NicTuple& t, char* buf) const;

  RecordFormat format_;
  AzureNames names_;
  std::vector<std::string> rule_names_;
  std::string nsg_resource_id_;   // NSG v2 records' resourceId
  std::string system_id_;         // NSG v2 records' systemId
  std::string flow_log_id_;       // VNet records' flowLogResourceID
  std::string flow_log_guid_;
  std::string target_id_;
  std::string acl_id_;
  std::string mac_text_;
  uint64_t mac_ = 0;
  int64_t hour_ms_ = 0;
  uint64_t records_ = 0;
  std::string body_;
  JsonWriter json_{&body_};
};

// "000D3A000001": 12 upper-case hex digits, as Azure writes MACs.
std::string MacText(uint64_t mac);

}  // namespace flowwatch::gen
