#include "lib/enrich/peer_classifier.h"

#include <simdjson.h>

#include <array>
#include <vector>

#include "lib/enrich/read_text_file.h"

namespace flowwatch::enrich {
namespace {

namespace od = simdjson::ondemand;

constexpr std::string_view kBuiltinSource = "built-in";
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

// 168.63.129.16: Azure's virtual public IP (wire server, DHCP, DNS, probes).
constexpr uint32_t kAzureVirtualPublicIp = (168u << 24) | (63u << 16) | (129u << 8) | 16u;

std::vector<IpPrefix> BuiltinPrivatePrefixes() {
  auto v4 = [](uint32_t a, uint32_t b, int length) { return IpPrefix::FromV4((a << 24) | (b << 16), length); };
  return {
      v4(10, 0, 8),     v4(172, 16, 12), v4(192, 168, 16),  // RFC 1918
      v4(100, 64, 10),                                      // RFC 6598 shared (CGNAT)
      v4(169, 254, 16),                                     // link-local
      v4(127, 0, 8),                                        // loopback
      IpPrefix::FromV6(Uint128{0xfc00} << 112, 7),          // unique local
      IpPrefix::FromV6(Uint128{0xfe80} << 112, 10),         // link-local
      IpPrefix::FromV6(Uint128{1}, 128),                    // ::1
  };
}

Status Invalid(std::string_view source, std::string_view message) {
  std::string m(source);
  m += ": ";
  m += message;
  return Status::InvalidArgument(std::move(m));
}

std::string JsonMessage(std::string_view what, simdjson::error_code err) {
  return std::string(what) + ": " + simdjson::error_message(err);
}

// One service tag's prefixes, kept as text until we know which tags are used.
struct TagPrefixes {
  size_t index;  // position in "values"
  std::string_view name;
  std::vector<std::string_view> prefixes;
};

// Where a value is in the file, for messages: values[12] (AzureCloud.eastus).
std::string ValueWhere(size_t index, std::string_view name) {
  std::string w = "values[" + std::to_string(index) + "]";
  if (!name.empty()) {
    w += " (";
    w += name;
    w += ")";
  }
  return w;
}

// Reads values[index] (an object); appends it to *tags when it is AzureCloud or
// AzureCloud.<region>. The string views point into the parser's buffer.
Status ReadValue(od::value element, size_t index, std::string_view source, std::vector<TagPrefixes>* tags) {
  od::object value;
  if (auto err = element.get_object().get(value)) return Invalid(source, JsonMessage(ValueWhere(index, "") + " is not an object", err));
  std::string_view name;
  if (auto err = value.find_field_unordered("name").get_string().get(name)) {
    if (err == simdjson::NO_SUCH_FIELD) return Invalid(source, ValueWhere(index, "") + ": \"name\" missing");
    return Invalid(source, JsonMessage(ValueWhere(index, "") + ": bad \"name\"", err));
  }
  const std::string_view tag = PeerClassifier::kAzureCloudTag;
  const bool exact = name == tag;
  const bool regional = name.size() > tag.size() && name.starts_with(tag) && name[tag.size()] == '.';
  if (!exact && !regional) return Status::Ok();
  od::array prefixes;
  if (auto err = value.find_field_unordered("properties").find_field_unordered("addressPrefixes").get_array().get(prefixes)) {
    if (err == simdjson::NO_SUCH_FIELD) return Invalid(source, ValueWhere(index, name) + ": properties.addressPrefixes missing");
    return Invalid(source, JsonMessage(ValueWhere(index, name) + ": bad properties.addressPrefixes", err));
  }
  TagPrefixes entry{index, name, {}};
  for (auto p : prefixes) {
    std::string_view text;
    if (auto err = p.get_string().get(text)) {
      return Invalid(source, JsonMessage(ValueWhere(index, name) + ": bad properties.addressPrefixes[" +
                                             std::to_string(entry.prefixes.size()) + "]",
                                         err));
    }
    entry.prefixes.push_back(text);
  }
  tags->push_back(std::move(entry));
  return Status::Ok();
}

}  // namespace

std::string_view PeerClassName(PeerClass c) {
  switch (c) {
    case PeerClass::kPrivate: return "private";
    case PeerClass::kAzure: return "azure";
    case PeerClass::kExternal: return "external";
  }
  return "external";
}

PeerClassifier::PeerClassifier() : source_(kBuiltinSource) {
  const std::vector<IpPrefix> private_prefixes = BuiltinPrivatePrefixes();
  private_ = IpRangeSet(private_prefixes);
  const std::array<IpPrefix, 1> azure = {IpPrefix::FromV4(kAzureVirtualPublicIp, 32)};
  azure_ = IpRangeSet(azure);
  azure_prefix_count_ = azure.size();
}

Status PeerClassifier::LoadServiceTags(const std::string& path) {
  Result<std::string> text = ReadTextFile(path);
  if (!text.ok()) return text.status();
  return ParseServiceTags(*text, path);
}

Status PeerClassifier::ParseServiceTags(std::string_view json, std::string_view source_name) {
  if (json.starts_with(kUtf8Bom)) json.remove_prefix(kUtf8Bom.size());
  const simdjson::padded_string padded(json.data(), json.size());
  od::parser parser;
  od::document doc;
  if (auto err = parser.iterate(padded).get(doc)) return Invalid(source_name, JsonMessage("invalid JSON", err));
  od::object root;
  if (auto err = doc.get_object().get(root)) {
    return Invalid(source_name, JsonMessage("top level is not a JSON object (is this a ServiceTags_Public file?)", err));
  }

  int64_t change_number = -1;
  bool have_values = false;
  size_t value_count = 0;
  std::vector<TagPrefixes> tags;
  for (auto field : root) {
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return Invalid(source_name, JsonMessage("invalid JSON", err));
    if (key == "changeNumber") {
      if (auto err = field.value().get_int64().get(change_number)) {
        return Invalid(source_name, JsonMessage("bad \"changeNumber\"", err));
      }
    } else if (key == "values") {
      od::array values;
      if (auto err = field.value().get_array().get(values)) {
        return Invalid(source_name, JsonMessage("\"values\" is not an array", err));
      }
      have_values = true;
      for (auto element : values) {
        od::value v;
        if (auto err = element.get(v)) {
          return Invalid(source_name, JsonMessage("invalid JSON in " + ValueWhere(value_count, ""), err));
        }
        if (Status s = ReadValue(v, value_count, source_name, &tags); !s.ok()) return s;
        ++value_count;
      }
    }
    // Other keys ("cloud", ...) are skipped by the iteration.
  }
  if (auto location = doc.current_location(); location.error() == simdjson::SUCCESS) {
    return Invalid(source_name, "invalid JSON: trailing content after the top-level object");
  }
  if (!have_values) return Invalid(source_name, "no \"values\" array (is this a ServiceTags_Public file?)");

  // AzureCloud is the union of all regions; fall back to that union when a
  // trimmed file carries only regional tags.
  bool have_exact = false;
  for (const TagPrefixes& t : tags) have_exact = have_exact || t.name == kAzureCloudTag;
  if (tags.empty()) {
    return Invalid(source_name, "no \"" + std::string(kAzureCloudTag) + "\" or \"" + std::string(kAzureCloudTag) +
                                    ".<region>\" service tag among " + std::to_string(value_count) + " values");
  }
  std::vector<IpPrefix> prefixes;
  for (const TagPrefixes& t : tags) {
    if (have_exact && t.name != kAzureCloudTag) continue;
    for (size_t i = 0; i < t.prefixes.size(); ++i) {
      IpPrefix p;
      if (!IpPrefix::Parse(t.prefixes[i], &p)) {
        return Invalid(source_name, ValueWhere(t.index, t.name) + ": bad address prefix '" +
                                        std::string(t.prefixes[i]) + "' (addressPrefixes[" + std::to_string(i) + "])");
      }
      prefixes.push_back(p);
    }
  }
  const std::string used = have_exact ? std::string(kAzureCloudTag) : std::string(kAzureCloudTag) + ".*";
  if (prefixes.empty()) return Invalid(source_name, "service tag " + used + " has no addressPrefixes");
  const size_t file_prefixes = prefixes.size();
  prefixes.push_back(IpPrefix::FromV4(kAzureVirtualPublicIp, 32));

  azure_ = IpRangeSet(prefixes);
  azure_prefix_count_ = prefixes.size();
  source_ = std::string(source_name) + " (";
  if (change_number >= 0) source_ += "changeNumber " + std::to_string(change_number) + ", ";
  source_ += "tag " + used + ", " + std::to_string(file_prefixes) + " prefixes)";
  return Status::Ok();
}

}  // namespace flowwatch::enrich
