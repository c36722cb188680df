#include "lib/gen/blob_writer.h"

#include <cctype>
#include <charconv>
#include <cstdio>

#include "lib/common/hash.h"
#include "lib/common/time_util.h"
#include "lib/gen/output_file.h"

namespace flowwatch::gen {
namespace {

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// A GUID-shaped text derived from a name, so that the same resources always
// carry the same ids.
std::string GuidFor(std::string_view name) {
  const uint64_t a = HashString(name, 0x9e3779b97f4a7c15ull);
  const uint64_t b = HashString(name, a);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08llx-%04llx-%04llx-%04llx-%012llx",
                static_cast<unsigned long long>(a >> 32), static_cast<unsigned long long>((a >> 16) & 0xFFFF),
                static_cast<unsigned long long>(a & 0xFFFF), static_cast<unsigned long long>(b >> 48),
                static_cast<unsigned long long>(b & 0xFFFFFFFFFFFFull));
  return buf;
}

// "2021-05-03T00:00:35.3899262Z".
std::string RecordTimeText(int64_t time_100ns) {
  const int64_t seconds = time_100ns / 10'000'000;
  const int64_t fraction = time_100ns % 10'000'000;
  std::string s = FormatIso8601(seconds * 1000);  // "...:SSZ"
  char buf[16];
  std::snprintf(buf, sizeof buf, ".%07lldZ", static_cast<long long>(fraction));
  s.pop_back();
  s += buf;
  return s;
}

char* Put(char* p, std::string_view s) {
  for (char c : s) *p++ = c;
  return p;
}

char* PutUint(char* p, uint64_t v) { return std::to_chars(p, p + 24, v).ptr; }

char* PutIp(char* p, const IpAddress& ip) { return p + ip.Format(p); }

}  // namespace

std::string MacText(uint64_t mac) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%012llX", static_cast<unsigned long long>(mac & 0xFFFFFFFFFFFFull));
  return buf;
}

std::string BlobWriter::BlobDirectory(RecordFormat format, const AzureNames& names, uint64_t mac, int64_t hour_ms) {
  const std::string t = FormatIso8601(hour_ms);  // YYYY-MM-DDTHH:...
  std::string dir;
  if (format == RecordFormat::kVnetV4) {
    dir = "flowLogResourceID=/" + Upper(names.subscription) + "/NETWORKWATCHERRG/NETWORKWATCHER_" +
          Upper(names.region) + "/" + Upper(names.flow_log);
  } else {
    dir = "resourceId=/SUBSCRIPTIONS/" + Upper(names.subscription) + "/RESOURCEGROUPS/" +
          Upper(names.resource_group) + "/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/" + Upper(names.nsg);
  }
  dir += "/y=" + t.substr(0, 4) + "/m=" + t.substr(5, 2) + "/d=" + t.substr(8, 2) + "/h=" + t.substr(11, 2) +
         "/m=00/macAddress=" + MacText(mac);
  return dir;
}

BlobWriter::BlobWriter(RecordFormat format, const AzureNames& names, const std::vector<std::string>& rule_names)
    : format_(format), names_(names), rule_names_(rule_names) {
  const std::string sub = Upper(names.subscription);
  nsg_resource_id_ = "/SUBSCRIPTIONS/" + sub + "/RESOURCEGROUPS/" + Upper(names.resource_group) +
                     "/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/" + Upper(names.nsg);
  system_id_ = GuidFor("systemId/" + names.nsg);
  flow_log_id_ = "/SUBSCRIPTIONS/" + sub + "/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/" +
                 "NETWORKWATCHERS/NETWORKWATCHER_" + Upper(names.region) + "/FLOWLOGS/" + Upper(names.flow_log);
  flow_log_guid_ = GuidFor("flowLog/" + names.flow_log);
  target_id_ = "/subscriptions/" + names.subscription + "/resourceGroups/" + names.resource_group +
               "/providers/Microsoft.Network/virtualNetworks/" + names.vnet;
  acl_id_ = GuidFor("acl/" + names.nsg);
}

void BlobWriter::Begin(const VmSpec& vm, int64_t hour_ms) {
  mac_ = vm.mac;
  mac_text_ = MacText(vm.mac);
  hour_ms_ = hour_ms;
  records_ = 0;
  body_.clear();
  json_ = JsonWriter(&body_);
  json_.BeginObject();
  json_.Key("records");
  json_.BeginArray();
}

void BlobWriter::AddRecord(int64_t record_time_100ns, std::span<const NicTuple> tuples) {
  if (tuples.empty()) return;
  const std::string time = RecordTimeText(record_time_100ns);
  if (format_ == RecordFormat::kVnetV4) {
    WriteVnetRecord(time, tuples);
  } else {
    WriteNsgRecord(time, tuples);
  }
  ++records_;
}

size_t BlobWriter::FormatTuple(const NicTuple& t, char* buf) const {
  const bool vnet = format_ == RecordFormat::kVnetV4;
  char* p = buf;
  p = PutUint(p, static_cast<uint64_t>(vnet ? t.time_ms : t.time_ms / 1000));
  *p++ = ',';
  p = PutIp(p, t.src);
  *p++ = ',';
  p = PutIp(p, t.dst);
  *p++ = ',';
  p = PutUint(p, t.src_port);
  *p++ = ',';
  p = PutUint(p, t.dst_port);
  *p++ = ',';
  if (vnet) {
    p = PutUint(p, t.protocol);
  } else {
    *p++ = t.protocol == kProtoUdp ? 'U' : 'T';
  }
  *p++ = ',';
  *p++ = t.direction == Direction::kOutbound ? 'O' : 'I';
  *p++ = ',';
  const bool counters = t.state == FlowState::kEnd;
  if (vnet) {
    *p++ = t.state == FlowState::kDeny ? 'D' : t.state == FlowState::kEnd ? 'E' : 'B';
    p = Put(p, ",NX,");
  } else {
    *p++ = t.state == FlowState::kDeny ? 'D' : 'A';
    *p++ = ',';
    *p++ = t.state == FlowState::kEnd ? 'E' : 'B';
    *p++ = ',';
  }
  if (counters) {
    p = PutUint(p, t.packets_sd);
    *p++ = ',';
    p = PutUint(p, t.bytes_sd);
    *p++ = ',';
    p = PutUint(p, t.packets_ds);
    *p++ = ',';
    p = PutUint(p, t.bytes_ds);
  } else {
    p = Put(p, vnet ? "0,0,0,0" : ",,,");
  }
  return static_cast<size_t>(p - buf);
}

void BlobWriter::WriteNsgRecord(const std::string& time, std::span<const NicTuple> tuples) {
  char buf[256];
  JsonWriter& w = json_;
  w.BeginObject();
  w.Field("time", time);
  w.Field("systemId", system_id_);
  w.Field("category", "NetworkSecurityGroupFlowEvent");
  w.Field("resourceId", nsg_resource_id_);
  w.Field("operationName", "NetworkSecurityGroupFlowEvents");
  w.Key("properties");
  w.BeginObject();
  w.Field("Version", 2);
  w.Key("flows");
  w.BeginArray();
  for (size_t i = 0; i < tuples.size();) {
    const uint16_t rule = tuples[i].rule;
    w.BeginObject();
    w.Field("rule", rule_names_[rule]);
    w.Key("flows");
    w.BeginArray();
    w.BeginObject();
    w.Field("mac", mac_text_);
    w.Key("flowTuples");
    w.BeginArray();
    for (; i < tuples.size() && tuples[i].rule == rule; ++i) {
      w.String(std::string_view(buf, FormatTuple(tuples[i], buf)));
    }
    w.EndArray();
    w.EndObject();
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.EndObject();
}

void BlobWriter::WriteVnetRecord(const std::string& time, std::span<const NicTuple> tuples) {
  char buf[256];
  JsonWriter& w = json_;
  w.BeginObject();
  w.Field("time", time);
  w.Field("flowLogVersion", 4);
  w.Field("flowLogGUID", flow_log_guid_);
  w.Field("macAddress", mac_text_);
  w.Field("category", "FlowLogFlowEvent");
  w.Field("flowLogResourceID", flow_log_id_);
  w.Field("targetResourceID", target_id_);
  w.Field("operationName", "FlowLogFlowEvent");
  w.Key("flowRecords");
  w.BeginObject();
  w.Key("flows");
  w.BeginArray();
  w.BeginObject();
  w.Field("aclID", acl_id_);
  w.Key("flowGroups");
  w.BeginArray();
  for (size_t i = 0; i < tuples.size();) {
    const uint16_t rule = tuples[i].rule;
    w.BeginObject();
    w.Field("rule", rule_names_[rule]);
    w.Key("flowTuples");
    w.BeginArray();
    for (; i < tuples.size() && tuples[i].rule == rule; ++i) {
      w.String(std::string_view(buf, FormatTuple(tuples[i], buf)));
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.EndArray();
  w.EndObject();
  w.EndObject();
}

std::string BlobWriter::TakeBody() {
  if (records_ == 0) return {};
  json_.EndArray();
  json_.EndObject();
  records_ = 0;
  return std::move(body_);
}

Status BlobWriter::Finish(const std::string& out_dir, bool gzip, uint64_t* written) {
  *written = 0;
  if (records_ == 0) return Status::Ok();
  json_.EndArray();
  json_.EndObject();
  body_.push_back('\n');
  const std::string path = out_dir + "/" + BlobDirectory(format_, names_, mac_, hour_ms_) +
                           (gzip ? "/PT1H.json.gz" : "/PT1H.json");
  return WriteOutputFile(path, body_, gzip, written);
}

}  // namespace flowwatch::gen
