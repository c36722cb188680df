#include "lib/enrich/inventory.h"

#include "lib/common/text_format.h"

#include <simdjson.h>

#include <algorithm>
#include <array>

#include "lib/enrich/read_text_file.h"

namespace flowwatch::enrich {
namespace {

namespace od = simdjson::ondemand;

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

std::string_view StripBom(std::string_view text) {
  if (text.starts_with(kUtf8Bom)) text.remove_prefix(kUtf8Bom.size());
  return text;
}

std::string Quote(std::string_view s) {
  std::string q = "'";
  q += s;
  q += "'";
  return q;
}

// Empty when the name is acceptable, else why not.
std::string CheckName(std::string_view name) {
  if (name.empty()) return "empty VM name";
  if (name.size() > Inventory::kMaxNameBytes) {
    return "VM name longer than " + std::to_string(Inventory::kMaxNameBytes) + " bytes";
  }
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return "VM name " + Quote(name.substr(0, 64)) + " contains a control character";
  }
  return {};
}

// Splits one CSV line into trimmed fields, removing the quotes of quoted fields
// ("" inside quotes is one quote). Returns false with *error set on an
// unterminated quote or text after a closing quote.
bool SplitCsvLine(std::string_view line, std::vector<std::string>* fields, size_t* count, std::string* error) {
  *count = 0;
  size_t i = 0;
  while (true) {
    if (*count == fields->size()) fields->emplace_back();
    std::string& f = (*fields)[(*count)++];
    f.clear();
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i < line.size() && line[i] == '"') {
      ++i;
      while (true) {
        if (i >= line.size()) {
          *error = "unterminated quoted field " + std::to_string(*count);
          return false;
        }
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            f += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        f += line[i++];
      }
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
      if (i < line.size() && line[i] != ',') {
        *error = "text after the closing quote of field " + std::to_string(*count);
        return false;
      }
    } else {
      const size_t end = std::min(line.find(',', i), line.size());
      f.assign(TrimSpace(line.substr(i, end - i)));
      i = end;
    }
    if (i >= line.size()) return true;
    ++i;  // the comma
  }
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Field positions named by the CSV header row.
struct CsvColumns {
  static constexpr int kNone = -1;
  int name = kNone;
  int ip = kNone;
  int mac = kNone;
};

// Reads the header's n fields into *columns; empty when valid, else why not.
std::string ParseCsvHeader(const std::vector<std::string>& fields, size_t n, std::string_view line,
                           CsvColumns* columns) {
  std::vector<std::string> unknown;
  bool any_known = false;
  for (size_t i = 0; i < n; ++i) {
    const std::string col = ToLower(fields[i]);
    int* slot = col == "name" ? &columns->name : col == "ip" ? &columns->ip : col == "mac" ? &columns->mac : nullptr;
    if (slot == nullptr) {
      unknown.push_back(fields[i]);
      continue;
    }
    any_known = true;
    if (*slot != CsvColumns::kNone) return "column " + Quote(col) + " appears twice in the header";
    *slot = static_cast<int>(i);
  }
  if (!any_known) return "missing header row: expected columns name,ip[,mac], found " + Quote(line);
  if (!unknown.empty()) {
    std::string list;
    for (const std::string& u : unknown) list += (list.empty() ? "" : ", ") + Quote(u);
    return "unknown column" + std::string(unknown.size() > 1 ? "s " : " ") + list +
           " in the header (expected name, ip and optionally mac)";
  }
  if (columns->name == CsvColumns::kNone) return "the header lacks the required column 'name'";
  if (columns->ip == CsvColumns::kNone) return "the header lacks the required column 'ip'";
  return {};
}

}  // namespace

// Accumulates VMs and addresses and enforces the one-VM-per-address rule. Error
// messages name the source and where in it (a CSV line or a JSON element).
class InventoryBuilder {
 public:
  enum class Where { kLine, kElement };

  InventoryBuilder(std::string_view source, Where where_kind) : source_(source), where_kind_(where_kind) {}

  void Reserve(size_t addresses) {
    inv_.by_ip_.Reserve(addresses);
    name_index_.Reserve(addresses);
  }

  // "inventory.csv:7: <message>" or "inv.json: element 3: <message>".
  Status Error(uint32_t where, std::string_view message) const {
    std::string m(source_);
    if (where_kind_ == Where::kLine) {
      m += ":" + std::to_string(where) + ": ";
    } else {
      m += ": element " + std::to_string(where) + ": ";
    }
    m += message;
    return Status::InvalidArgument(std::move(m));
  }
  Status Error(std::string_view message) const {
    return Status::InvalidArgument(std::string(source_) + ": " + std::string(message));
  }

  // The index of the VM named name, adding it on first sight.
  uint32_t InternVm(std::string_view name) {
    auto [index, inserted] = name_index_.TryEmplace(std::string(name));
    if (inserted) {
      *index = static_cast<uint32_t>(inv_.names_.size());
      inv_.names_.emplace_back(name);
    }
    return *index;
  }

  Status AddIp(uint32_t vm, const IpAddress& ip, std::string_view text, uint32_t where) {
    return Add(&inv_.by_ip_, ip, vm, "IP address ", text, where);
  }
  Status AddMac(uint32_t vm, uint64_t mac, std::string_view text, uint32_t where) {
    return Add(&inv_.by_mac_, mac, vm, "MAC address ", text, where);
  }

  Inventory Finish() { return std::move(inv_); }

 private:
  template <typename Map, typename Key>
  Status Add(Map* map, const Key& key, uint32_t vm, std::string_view kind, std::string_view text, uint32_t where) {
    auto [origin, inserted] = map->TryEmplace(key);
    if (inserted) {
      *origin = Inventory::Origin{vm, where};
      return Status::Ok();
    }
    if (origin->vm == vm) return Status::Ok();  // listed again for the same VM
    const char* earlier = where_kind_ == Where::kLine ? "line " : "element ";
    return Error(where, std::string(kind) + std::string(text) + " of VM " + Quote(inv_.names_[vm]) + " is already mapped to VM " +
                            Quote(inv_.names_[origin->vm]) + " by " + earlier + std::to_string(origin->where));
  }

  struct StringHash {
    size_t operator()(const std::string& s) const { return HashString(s); }
  };

  std::string_view source_;
  Where where_kind_;
  Inventory inv_;
  FlatHashMap<std::string, uint32_t, StringHash> name_index_;
};

Result<Inventory> Inventory::LoadFile(const std::string& path) {
  Result<std::string> text = ReadTextFile(path);
  if (!text.ok()) return text.status();
  const std::string_view body = StripBom(*text);
  const size_t first = body.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && (body[first] == '[' || body[first] == '{')) return ParseAzJson(body, path);
  return ParseCsv(body, path);
}

Result<Inventory> Inventory::ParseCsv(std::string_view text, std::string_view source_name) {
  text = StripBom(text);
  InventoryBuilder builder(source_name, InventoryBuilder::Where::kLine);
  builder.Reserve(static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1);

  CsvColumns columns;
  bool have_header = false;
  size_t column_count = 0;
  std::vector<std::string> fields;
  std::string split_error;
  uint32_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t eol = std::min(text.find('\n', pos), text.size());
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::string_view trimmed = TrimSpace(line);
    if (trimmed.empty() || trimmed.front() == '#') continue;

    size_t n = 0;
    if (!SplitCsvLine(trimmed, &fields, &n, &split_error)) return builder.Error(line_no, split_error);

    if (!have_header) {
      if (std::string why = ParseCsvHeader(fields, n, trimmed, &columns); !why.empty()) {
        return builder.Error(line_no, why);
      }
      have_header = true;
      column_count = n;
      continue;
    }

    if (n != column_count) {
      return builder.Error(line_no, "expected " + std::to_string(column_count) + " fields as in the header, found " +
                                        std::to_string(n));
    }
    const std::string& name = fields[static_cast<size_t>(columns.name)];
    if (std::string why = CheckName(name); !why.empty()) return builder.Error(line_no, why);
    const std::string& ip_text = fields[static_cast<size_t>(columns.ip)];
    if (ip_text.empty()) return builder.Error(line_no, "missing IP address for VM " + Quote(name));
    IpAddress ip;
    if (!IpAddress::Parse(ip_text, &ip)) return builder.Error(line_no, "bad IP address " + Quote(ip_text));
    uint64_t mac = 0;
    const std::string_view mac_text =
        columns.mac == CsvColumns::kNone ? std::string_view() : fields[static_cast<size_t>(columns.mac)];
    if (!mac_text.empty()) {
      if (!ParseMac(mac_text, &mac)) return builder.Error(line_no, "bad MAC address " + Quote(mac_text));
      if (mac == 0) return builder.Error(line_no, "bad MAC address " + Quote(mac_text) + " (all zeros)");
    }
    const uint32_t vm = builder.InternVm(name);
    if (Status s = builder.AddIp(vm, ip, ip_text, line_no); !s.ok()) return s;
    if (mac != 0) {
      if (Status s = builder.AddMac(vm, mac, mac_text, line_no); !s.ok()) return s;
    }
  }
  if (!have_header) return builder.Error("missing header row: expected columns name,ip[,mac]");
  return builder.Finish();
}

namespace {

std::string JsonMessage(std::string_view what, simdjson::error_code err) {
  return std::string(what) + ": " + simdjson::error_message(err);
}

// Reads one IP string at path (for messages) into the VM's addresses.
Status AddJsonIp(InventoryBuilder* builder, uint32_t element, uint32_t vm, od::value v, const std::string& path) {
  std::string_view text;
  if (auto err = v.get_string().get(text)) return builder->Error(element, JsonMessage(path + " is not a string", err));
  IpAddress ip;
  if (!IpAddress::Parse(text, &ip)) return builder->Error(element, path + ": bad IP address " + Quote(text));
  return builder->AddIp(vm, ip, text, element);
}

// Reads virtualMachine.network of one element.
Status ReadNetwork(InventoryBuilder* builder, uint32_t element, uint32_t vm, od::object network) {
  const std::string kPrivate = "virtualMachine.network.privateIpAddresses";
  const std::string kPublic = "virtualMachine.network.publicIpAddresses";
  od::array list;
  // privateIpAddresses: ["10.0.0.4", ...]
  auto err = network.find_field_unordered("privateIpAddresses").get_array().get(list);
  if (err == simdjson::SUCCESS) {
    size_t i = 0;
    for (auto item : list) {
      const std::string path = kPrivate + "[" + std::to_string(i++) + "]";
      od::value v;
      if ((err = item.get(v))) return builder->Error(element, JsonMessage(path, err));
      if (Status s = AddJsonIp(builder, element, vm, v, path); !s.ok()) return s;
    }
  } else if (err != simdjson::NO_SUCH_FIELD) {
    return builder->Error(element, JsonMessage(kPrivate + " is not an array", err));
  }
  // publicIpAddresses: [{"ipAddress":"13.88.1.2", ...}, ...]
  err = network.find_field_unordered("publicIpAddresses").get_array().get(list);
  if (err == simdjson::SUCCESS) {
    size_t i = 0;
    for (auto item : list) {
      const std::string path = kPublic + "[" + std::to_string(i++) + "]";
      od::object pip;
      if ((err = item.get_object().get(pip))) return builder->Error(element, JsonMessage(path + " is not an object", err));
      od::value v;
      err = pip.find_field_unordered("ipAddress").get(v);
      if (err == simdjson::NO_SUCH_FIELD) continue;
      if (err) return builder->Error(element, JsonMessage(path + ".ipAddress", err));
      od::json_type type;
      if ((err = v.type().get(type))) return builder->Error(element, JsonMessage(path + ".ipAddress", err));
      if (type == od::json_type::null) continue;  // dynamic IP of a deallocated VM
      if (Status s = AddJsonIp(builder, element, vm, v, path + ".ipAddress"); !s.ok()) return s;
    }
  } else if (err != simdjson::NO_SUCH_FIELD) {
    return builder->Error(element, JsonMessage(kPublic + " is not an array", err));
  }
  return Status::Ok();
}

// Reads one element: {"virtualMachine":{"name":..,"network":{..}}}.
Status ReadAzEntry(InventoryBuilder* builder, uint32_t element, od::object entry) {
  od::object vm_object;
  auto err = entry.find_field_unordered("virtualMachine").get_object().get(vm_object);
  if (err == simdjson::NO_SUCH_FIELD) return builder->Error(element, "virtualMachine missing");
  if (err) return builder->Error(element, JsonMessage("virtualMachine is not an object", err));
  std::string_view name;
  err = vm_object.find_field_unordered("name").get_string().get(name);
  if (err == simdjson::NO_SUCH_FIELD) return builder->Error(element, "virtualMachine.name missing");
  if (err) return builder->Error(element, JsonMessage("virtualMachine.name is not a string", err));
  if (std::string why = CheckName(name); !why.empty()) return builder->Error(element, "virtualMachine.name: " + why);
  const uint32_t vm = builder->InternVm(name);

  od::value network;
  err = vm_object.find_field_unordered("network").get(network);
  if (err == simdjson::NO_SUCH_FIELD) return Status::Ok();  // a VM without addresses
  if (err) return builder->Error(element, JsonMessage("virtualMachine.network", err));
  od::json_type type;
  if ((err = network.type().get(type))) return builder->Error(element, JsonMessage("virtualMachine.network", err));
  if (type == od::json_type::null) return Status::Ok();
  od::object network_object;
  if ((err = network.get_object().get(network_object))) {
    return builder->Error(element, JsonMessage("virtualMachine.network is not an object", err));
  }
  return ReadNetwork(builder, element, vm, network_object);
}

}  // namespace

Result<Inventory> Inventory::ParseAzJson(std::string_view text, std::string_view source_name) {
  text = StripBom(text);
  InventoryBuilder builder(source_name, InventoryBuilder::Where::kElement);
  const simdjson::padded_string padded(text.data(), text.size());
  od::parser parser;
  od::document doc;
  if (auto err = parser.iterate(padded).get(doc)) return builder.Error(JsonMessage("invalid JSON", err));
  od::json_type type;
  if (auto err = doc.type().get(type)) return builder.Error(JsonMessage("invalid JSON", err));

  if (type == od::json_type::object) {
    // A single VM's entry, as some scripts write it.
    od::object entry;
    if (auto err = doc.get_object().get(entry)) return builder.Error(JsonMessage("invalid JSON", err));
    if (Status s = ReadAzEntry(&builder, 0, entry); !s.ok()) return s;
    // find_field_unordered() may stop inside the object: walk it again to its
    // end so that the trailing-content check below starts after it.
    doc.rewind();
    if (auto err = doc.get_object().get(entry)) return builder.Error(JsonMessage("invalid JSON", err));
    for (auto field : entry) {
      if (auto err = field.error()) return builder.Error(JsonMessage("invalid JSON", err));
    }
  } else if (type == od::json_type::array) {
    od::array entries;
    if (auto err = doc.get_array().get(entries)) return builder.Error(JsonMessage("invalid JSON", err));
    uint32_t element = 0;
    for (auto item : entries) {
      od::object entry;
      if (auto err = item.get_object().get(entry)) return builder.Error(element, JsonMessage("not an object", err));
      if (Status s = ReadAzEntry(&builder, element, entry); !s.ok()) return s;
      ++element;
    }
  } else {
    return builder.Error("the top level is not a JSON array (expected the output of az vm list-ip-addresses -o json)");
  }
  if (doc.current_location().error() == simdjson::SUCCESS) {
    return builder.Error("invalid JSON: trailing content after the top-level value");
  }
  return builder.Finish();
}

}  // namespace flowwatch::enrich
