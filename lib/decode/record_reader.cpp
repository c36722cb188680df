#include "lib/decode/record_reader.h"


#include "lib/common/hash.h"
#include "lib/common/text_format.h"
#include "lib/common/time_util.h"
#include "lib/decode/flow_tuple.h"

namespace flowwatch::decode {

using simdjson::error_code;
using simdjson::SUCCESS;
namespace od = simdjson::ondemand;

namespace {

// Errors after which On-Demand iteration can go on with the next element.
// Everything else (TAPE_ERROR, INCOMPLETE_ARRAY_OR_OBJECT, ...) ends the document.
bool Recoverable(error_code e) {
  switch (e) {
    case simdjson::INCORRECT_TYPE:
    case simdjson::NUMBER_ERROR:
    case simdjson::NUMBER_OUT_OF_RANGE:
    case simdjson::STRING_ERROR:
    case simdjson::NO_SUCH_FIELD:
    case simdjson::T_ATOM_ERROR:
    case simdjson::F_ATOM_ERROR:
    case simdjson::N_ATOM_ERROR:
      return true;
    default:
      return false;
  }
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

// Fields of a flat per-tuple record (Microsoft's NSG connector, DenormalizedRecord).
// Values may be strings or numbers; both are kept as text.
struct RecordReader::FlatFields {
  std::string_view start_time, src, dst, sport, dport, proto, dir, action, state;
  std::string_view packets_sd, bytes_sd, packets_ds, bytes_ds, rule, mac;
  int count = 0;
};

// What one JSON object said about itself while its fields went by.
struct RecordReader::Scratch {
  std::string_view time;
  std::string_view resource;
  uint64_t record_mac = 0;
  bool has_record_mac = false;
  bool nsg = false;
  bool vnet = false;
  bool container = false;
  bool nested_container = false;
  bool event = false;
  FlatFields flat;
  DecodeError record_error = DecodeError::kCount;  // kCount: none
  uint32_t ordinal = 0;                            // position of the next tuple in the record

  // Converts a recoverable error into "this record is bad"; passes others up.
  error_code Soft(error_code e, DecodeError as = DecodeError::kBadRecord) {
    if (!Recoverable(e)) return e;
    if (record_error == DecodeError::kCount) record_error = as;
    return SUCCESS;
  }
};

RecordReader::RecordReader(const DecoderOptions& options, NameTables* names, DecodeStats* stats)
    : options_(options), stats_(stats), rules_(&names->rules), resources_(&names->resources) {}

// Valid JSON that is not ours is unknown_format; text that only looked like a
// scalar (simdjson's type() peeks at one byte) is bad_json.
error_code RecordReader::ValidateScalar(od::document& doc, od::json_type type) {
  switch (type) {
    case od::json_type::string: return doc.get_string().error();
    case od::json_type::number: return doc.get_double().error();
    case od::json_type::boolean: return doc.get_bool().error();
    case od::json_type::null: {
      bool is_null = false;
      error_code err = doc.is_null().get(is_null);
      return err ? err : is_null ? SUCCESS : simdjson::N_ATOM_ERROR;
    }
    default: return SUCCESS;
  }
}

error_code RecordReader::ReadPiece(od::document& doc, Piece::Kind kind, FlowSink* sink) {
  od::json_type type;
  if (error_code err = doc.type().get(type)) return err;
  if (type != od::json_type::object) {
    if (error_code err = ValidateScalar(doc, type)) return err;
    Count(kind == Piece::Kind::kRecordElement ? DecodeError::kBadRecord : DecodeError::kUnknownFormat);
    return SUCCESS;
  }
  od::object obj;
  if (error_code err = doc.get_object().get(obj)) return err;
  return ReadObject(obj, kind != Piece::Kind::kRecordElement, sink);
}

error_code RecordReader::ReadDocument(od::document& doc, FlowSink* sink, size_t* elements_done) {
  od::json_type type;
  if (error_code err = doc.type().get(type)) return err;
  if (type == od::json_type::object) {
    od::object obj;
    if (error_code err = doc.get_object().get(obj)) return err;
    return ReadObject(obj, /*allow_container=*/true, sink, elements_done);
  }
  if (type != od::json_type::array) {
    if (error_code err = ValidateScalar(doc, type)) return err;
    Count(DecodeError::kUnknownFormat);
    return SUCCESS;
  }
  od::array arr;
  if (error_code err = doc.get_array().get(arr)) return err;
  for (auto item : arr) {
    od::value element;
    if (error_code err = item.get(element)) return err;
    od::object obj;
    error_code err = element.get_object().get(obj);
    if (err == SUCCESS) {
      if ((err = ReadObject(obj, /*allow_container=*/true, sink))) return err;
    } else if (Recoverable(err)) {
      Count(DecodeError::kUnknownFormat);  // an element that is no object
    } else {
      return err;
    }
    ++*elements_done;
  }
  return SUCCESS;
}

error_code RecordReader::ReadObject(od::object obj, bool allow_container, FlowSink* sink, size_t* elements_done) {
  Scratch s;
  batch_.clear();
  error_code err = SUCCESS;
  for (auto field : obj) {
    std::string_view key;
    if ((err = field.unescaped_key().get(key))) return err;
    od::value v;
    if ((err = field.value().get(v))) return err;
    if (key == "records") {
      if (allow_container) {
        s.container = true;
        size_t ignored = 0;
        err = ReadRecordsArray(v, sink, elements_done ? elements_done : &ignored);
      } else {
        s.nested_container = true;
      }
    } else if (key == "properties") {
      s.nsg = true;
      err = ReadNsgProperties(v, &s);
    } else if (key == "flowRecords") {
      s.vnet = true;
      err = ReadVnetFlowRecords(v, &s);
    } else if (key == "time") {
      err = ReadName(v, &s.time, &s);
    } else if (key == "resourceId" || key == "flowLogResourceID") {
      err = ReadName(v, &s.resource, &s);
    } else if (key == "macAddress") {
      s.has_record_mac = true;
      err = ReadMac(v, &s.record_mac, &s);
    } else if (key == "eventType" || key == "type") {
      std::string_view type;
      if (v.get_string().get(type) == SUCCESS && type.starts_with("Microsoft.Storage.")) s.event = true;
    } else {
      ReadFlatField(key, v, &s.flat, &err);
    }
    if (err) return err;
  }
  if (!s.container) FinishObject(&s, sink);
  return SUCCESS;
}

error_code RecordReader::ReadRecordsArray(Value v, FlowSink* sink, size_t* elements_done) {
  od::array records;
  error_code err = v.get_array().get(records);
  if (err) {
    if (!Recoverable(err)) return err;
    Count(DecodeError::kBadRecord);
    return SUCCESS;
  }
  for (auto item : records) {
    od::value record;
    if ((err = item.get(record))) return err;
    od::object obj;
    err = record.get_object().get(obj);
    if (err == SUCCESS) {
      if ((err = ReadObject(obj, /*allow_container=*/false, sink))) return err;
    } else if (Recoverable(err)) {
      Count(DecodeError::kBadRecord);
    } else {
      return err;
    }
    ++*elements_done;
  }
  return SUCCESS;
}

template <typename F>
error_code RecordReader::ForEachField(Value v, Scratch* s, F&& f) {
  od::object obj;
  error_code err = v.get_object().get(obj);
  if (err) return s->Soft(err);
  for (auto field : obj) {
    std::string_view key;
    if ((err = field.unescaped_key().get(key))) return err;
    od::value value;  // not consumed unless f reads it: skipping is cheap
    if ((err = field.value().get(value))) return err;
    if ((err = f(key, value))) return err;
  }
  return SUCCESS;
}

template <typename F>
error_code RecordReader::ForEachElement(Value v, Scratch* s, F&& f) {
  od::array arr;
  error_code err = v.get_array().get(arr);
  if (err) return s->Soft(err);
  for (auto item : arr) {
    od::value element;
    if ((err = item.get(element))) return err;
    if ((err = f(element))) return err;
  }
  return SUCCESS;
}

template <typename F>
error_code RecordReader::ReadRuleGroup(Value v, Scratch* s, std::string_view body_key, F&& read_body) {
  const size_t first = batch_.size();
  uint32_t rule_id = StringInterner::kEmptyId;
  error_code err = ForEachField(v, s, [&](std::string_view key, Value value) -> error_code {
    if (key == "rule") {
      std::string_view name;
      if (error_code e = ReadName(value, &name, s)) return e;
      rule_id = rules_.Intern(name);
      return SUCCESS;
    }
    return key == body_key ? read_body(value) : SUCCESS;
  });
  if (err) return err;
  for (size_t i = first; i < batch_.size(); ++i) batch_[i].rule_id = rule_id;
  return SUCCESS;
}

// properties: {"Version": 2, "flows": [ {"rule": r, "flows": [ <mac group> ... ]} ... ]}
error_code RecordReader::ReadNsgProperties(Value v, Scratch* s) {
  return ForEachField(v, s, [&](std::string_view key, Value flows) -> error_code {
    if (key != "flows") return SUCCESS;
    return ForEachElement(flows, s, [&](Value rule) {
      return ReadRuleGroup(rule, s, "flows", [&](Value groups) {
        return ForEachElement(groups, s, [&](Value group) { return ReadNsgMacGroup(group, s); });
      });
    });
  });
}

// {"mac": m, "flowTuples": [...]}, in either order.
error_code RecordReader::ReadNsgMacGroup(Value v, Scratch* s) {
  const size_t first = batch_.size();
  uint64_t mac = 0;
  error_code err = ForEachField(v, s, [&](std::string_view key, Value value) -> error_code {
    if (key == "mac") return ReadMac(value, &mac, s);
    if (key == "flowTuples") return ReadTuples(value, /*vnet=*/false, s);
    return SUCCESS;
  });
  if (err) return err;
  if (mac != 0) {
    for (size_t i = first; i < batch_.size(); ++i) batch_[i].mac = mac;
  }
  return SUCCESS;
}

// flowRecords: {"flows": [ {"aclID": a, "flowGroups": [ {"rule": r, "flowTuples": [...]} ... ]} ... ]}
error_code RecordReader::ReadVnetFlowRecords(Value v, Scratch* s) {
  return ForEachField(v, s, [&](std::string_view key, Value flows) -> error_code {
    if (key != "flows") return SUCCESS;
    return ForEachElement(flows, s, [&](Value acl) {
      return ForEachField(acl, s, [&](std::string_view acl_key, Value groups) -> error_code {
        if (acl_key != "flowGroups") return SUCCESS;
        return ForEachElement(groups, s, [&](Value group) {
          return ReadRuleGroup(group, s, "flowTuples", [&](Value tuples) { return ReadTuples(tuples, /*vnet=*/true, s); });
        });
      });
    });
  });
}

error_code RecordReader::ReadTuples(Value v, bool vnet, Scratch* s) {
  od::array tuples;
  error_code err = v.get_array().get(tuples);
  if (err) return s->Soft(err);
  for (auto item : tuples) {
    const uint32_t ordinal = s->ordinal++;
    od::value value;
    if ((err = item.get(value))) return err;
    // Tuples are read straight from the (padded) input buffer, without
    // simdjson's unescaping copy: they are digits, letters and . : , only, so a
    // string with an escape or over 512 bytes is not a tuple.
    od::raw_json_string raw;
    err = value.get_raw_json_string().get(raw);
    if (err) {
      if (!Recoverable(err)) return err;
      Count(DecodeError::kBadTuple);
      continue;
    }
    const char* text = reinterpret_cast<const char*>(raw.raw());
    TupleFields fields;
    size_t length = 0;
    if (!ScanJsonTuple(text, &fields, &length)) {
      Count(DecodeError::kBadTuple);
      continue;
    }
    FlowRecord& r = batch_.emplace_back();
    DecodeError e;
    if (!(vnet ? ParseVnetFields(fields, &r, &e) : ParseNsgFields(fields, &r, &e))) {
      batch_.pop_back();
      Count(e);
      continue;
    }
    r.dedup_hash = HashBytes(text, length, ordinal);
  }
  return SUCCESS;
}

error_code RecordReader::ReadName(Value v, std::string_view* out, Scratch* s) {
  error_code err = v.get_string().get(*out);
  if (err) {
    *out = {};
    return s->Soft(err);
  }
  if (out->size() > options_.max_name_bytes) {
    *out = {};
    return s->Soft(simdjson::INCORRECT_TYPE, DecodeError::kTooLarge);
  }
  return SUCCESS;
}

error_code RecordReader::ReadMac(Value v, uint64_t* mac, Scratch* s) {
  std::string_view text;
  if (error_code err = ReadName(v, &text, s)) return err;
  if (!text.empty() && !ParseMac(text, mac)) return s->Soft(simdjson::INCORRECT_TYPE);
  return SUCCESS;
}

bool RecordReader::ReadFlatField(std::string_view key, Value v, FlatFields* f, error_code* err) {
  std::string_view* slot = nullptr;
  if (key == "sourceAddress") slot = &f->src;
  else if (key == "destinationAddress") slot = &f->dst;
  else if (key == "sourcePort") slot = &f->sport;
  else if (key == "destinationPort") slot = &f->dport;
  else if (key == "transportProtocol") slot = &f->proto;
  else if (key == "deviceDirection") slot = &f->dir;
  else if (key == "deviceAction") slot = &f->action;
  else if (key == "flowState") slot = &f->state;
  else if (key == "packetsStoD") slot = &f->packets_sd;
  else if (key == "bytesStoD") slot = &f->bytes_sd;
  else if (key == "packetsDtoS") slot = &f->packets_ds;
  else if (key == "bytesDtoS") slot = &f->bytes_ds;
  else if (key == "startTime") slot = &f->start_time;
  else if (key == "nsgRuleName") slot = &f->rule;
  else if (key == "mac") slot = &f->mac;
  else return false;
  ++f->count;
  od::json_type type;
  if ((*err = v.type().get(type))) return true;
  if (type == od::json_type::string) {
    if ((*err = v.get_string().get(*slot)) && Recoverable(*err)) {
      *err = SUCCESS;
      *slot = "\x01";  // unparseable marker: fails every field parser below
    }
  } else if (type == od::json_type::number) {
    *slot = Trim(v.raw_json_token());
  } else {
    *slot = "\x01";
  }
  return true;
}

void RecordReader::FinishObject(Scratch* s, FlowSink* sink) {
  if (s->record_error != DecodeError::kCount) {
    Count(s->record_error);
    batch_.clear();
    return;
  }
  if (s->nsg || s->vnet) {
    Deliver(s, sink);
  } else if (s->flat.count > 0) {
    FinishFlat(s, sink);
  } else if (s->event) {
    ++stats_->notifications;
  } else {
    Count(s->nested_container ? DecodeError::kBadRecord : DecodeError::kUnknownFormat);
  }
  batch_.clear();
}

void RecordReader::Deliver(Scratch* s, FlowSink* sink) {
  const uint32_t resource_id = resources_.Intern(s->resource);
  // Tuple identity for de-duplication: the record's resource and time, the NIC,
  // then (already in dedup_hash) the tuple's text and its position in the record.
  const uint64_t seed = HashString(s->time, HashString(s->resource));
  for (FlowRecord& r : batch_) {
    if (r.mac == 0 && s->has_record_mac) r.mac = s->record_mac;
    r.resource_id = resource_id;
    r.dedup_hash = HashCombine(HashCombine(seed, r.mac), r.dedup_hash);
    ++stats_->tuples_by_format[static_cast<int>(r.format)];
  }
  ++stats_->records;
  if (!batch_.empty()) sink->OnFlows(batch_);
}

void RecordReader::FinishFlat(Scratch* s, FlowSink* sink) {
  const FlatFields& f = s->flat;
  if (f.src.empty() || f.dst.empty() || f.dport.empty() || f.dir.empty()) {
    Count(DecodeError::kBadRecord);
    return;
  }
  if (f.rule.size() > options_.max_name_bytes) {
    Count(DecodeError::kTooLarge);
    return;
  }
  FlowRecord r;
  r.format = RecordFormat::kFlat;
  bool time_ok = f.start_time.empty() ? ParseIso8601(s->time, &r.time_ms)
                                      : ParseTupleTime(f.start_time, &r.time_ms);
  if (!time_ok || r.time_ms < kMinEventTimeMs || r.time_ms > kMaxEventTimeMs) {
    Count(DecodeError::kBadTimestamp);
    return;
  }
  if (!IpAddress::Parse(f.src, &r.src) || !IpAddress::Parse(f.dst, &r.dst)) {
    Count(DecodeError::kBadIp);
    return;
  }
  bool ok = (f.sport.empty() || ParsePort(f.sport, &r.src_port)) && ParsePort(f.dport, &r.dst_port) &&
            (f.proto.empty() || ParseNsgProtocol(f.proto, &r.protocol)) &&
            (f.dir == "I" || f.dir == "O") && (f.action.empty() || f.action == "A" || f.action == "D") &&
            ParseCounter(f.packets_sd, &r.packets_sd) && ParseCounter(f.bytes_sd, &r.bytes_sd) &&
            ParseCounter(f.packets_ds, &r.packets_ds) && ParseCounter(f.bytes_ds, &r.bytes_ds);
  if (f.state.empty()) r.state = FlowState::kNone;
  else if (f.state == "B") r.state = FlowState::kBegin;
  else if (f.state == "C") r.state = FlowState::kContinue;
  else if (f.state == "E") r.state = FlowState::kEnd;
  else ok = false;
  if (!f.mac.empty() && !ParseMac(f.mac, &r.mac)) ok = false;
  if (!ok) {
    Count(DecodeError::kBadTuple);
    return;
  }
  r.direction = f.dir == "O" ? Direction::kOutbound : Direction::kInbound;
  r.decision = f.action == "D" ? Decision::kDeny : Decision::kAllow;
  if (r.mac == 0 && s->has_record_mac) r.mac = s->record_mac;
  r.rule_id = rules_.Intern(f.rule);
  r.resource_id = resources_.Intern(s->resource);
  uint64_t h = HashString(s->time, HashString(s->resource));
  for (std::string_view part : {f.start_time, f.src, f.dst, f.sport, f.dport, f.proto, f.dir, f.action,
                                f.state, f.packets_sd, f.bytes_sd, f.packets_ds, f.bytes_ds, f.rule}) {
    h = HashString(part, h);
  }
  r.dedup_hash = HashCombine(h, r.mac);
  ++stats_->records;
  ++stats_->tuples_by_format[static_cast<int>(RecordFormat::kFlat)];
  sink->OnFlows(std::span<FlowRecord>(&r, 1));
}

}  // namespace flowwatch::decode
