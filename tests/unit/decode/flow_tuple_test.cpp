#include "lib/decode/flow_tuple.h"

#include <catch2/catch.hpp>

namespace flowwatch::decode {
namespace {

TEST_CASE("NSG v1 tuples: 8 fields, no state, no counters") {
  FlowRecord r;
  DecodeError e;
  REQUIRE(ParseNsgTuple("1487282421,192.0.2.95,10.1.0.4,51529,5358,T,I,D", &r, &e));
  REQUIRE(r.format == RecordFormat::kNsgV1);
  REQUIRE(r.time_ms == 1487282421000);
  REQUIRE(r.src.ToString() == "192.0.2.95");
  REQUIRE(r.dst.ToString() == "10.1.0.4");
  REQUIRE(r.src_port == 51529);
  REQUIRE(r.dst_port == 5358);
  REQUIRE(r.protocol == kProtoTcp);
  REQUIRE(r.direction == Direction::kInbound);
  REQUIRE(r.decision == Decision::kDeny);
  REQUIRE(r.state == FlowState::kNone);
  REQUIRE(r.bytes() == 0);
  REQUIRE(r.starts_flow());
}

TEST_CASE("NSG v2 tuples: counters s->d then d->s - B tuples have empty counters") {
  FlowRecord r;
  DecodeError e;
  REQUIRE(ParseNsgTuple("1542110379,10.5.16.4,203.0.113.115,44931,443,T,O,A,C,30,16978,24,14008", &r, &e));
  REQUIRE(r.format == RecordFormat::kNsgV2);
  REQUIRE(r.state == FlowState::kContinue);
  REQUIRE(r.packets_sd == 30);
  REQUIRE(r.bytes_sd == 16978);
  REQUIRE(r.packets_ds == 24);
  REQUIRE(r.bytes_ds == 14008);
  REQUIRE(r.direction == Direction::kOutbound);
  REQUIRE(r.local_ip().ToString() == "10.5.16.4");
  REQUIRE(r.remote_ip().ToString() == "203.0.113.115");
  REQUIRE_FALSE(r.starts_flow());

  REQUIRE(ParseNsgTuple("1542110402,192.0.2.190,10.5.16.4,28746,443,U,I,D,B,,,,", &r, &e));
  REQUIRE(r.protocol == kProtoUdp);
  REQUIRE(r.state == FlowState::kBegin);
  REQUIRE(r.bytes() == 0);
  REQUIRE(r.packets() == 0);
  REQUIRE(r.local_ip().ToString() == "10.5.16.4");
}

TEST_CASE("NSG 9-field tuples (state without counters) read as v2") {
  FlowRecord r;
  DecodeError e;
  REQUIRE(ParseNsgTuple("1706436000,10.0.0.4,13.107.246.70,54321,443,T,O,A,B", &r, &e));
  REQUIRE(r.format == RecordFormat::kNsgV2);
  REQUIRE(r.state == FlowState::kBegin);
  REQUIRE(r.bytes() == 0);
}

TEST_CASE("VNet v4 tuples: ms timestamps, numeric protocol, encryption, D means deny") {
  FlowRecord r;
  DecodeError e;
  REQUIRE(ParseVnetTuple("1663146003606,10.0.0.6,52.239.184.180,23956,443,6,O,E,NX,3,767,2,1580", &r, &e));
  REQUIRE(r.format == RecordFormat::kVnetV4);
  REQUIRE(r.time_ms == 1663146003606);
  REQUIRE(r.protocol == kProtoTcp);
  REQUIRE(r.state == FlowState::kEnd);
  REQUIRE(r.encryption == Encryption::kNotEncrypted);
  REQUIRE(r.bytes() == 767 + 1580);
  REQUIRE(r.packets() == 5);
  REQUIRE(r.decision == Decision::kAllow);

  REQUIRE(ParseVnetTuple("1688875131557,45.119.212.87,192.168.0.4,53018,3389,6,I,D,NX,0,0,0,0", &r, &e));
  REQUIRE(r.state == FlowState::kDeny);
  REQUIRE(r.decision == Decision::kDeny);
  REQUIRE(r.starts_flow());

  // The docs' bandwidth example: seconds and empty counters on B.
  REQUIRE(ParseVnetTuple("1493763938,185.170.185.105,10.2.0.4,35370,23,6,I,B,NX,,,,", &r, &e));
  REQUIRE(r.time_ms == 1493763938000);
  REQUIRE(r.bytes() == 0);

  REQUIRE(ParseVnetTuple("1663146003606,10.0.0.6,1.2.3.4,0,0,1,O,B,X,0,0,0,0", &r, &e));
  REQUIRE(r.protocol == kProtoIcmp);
  REQUIRE(r.encryption == Encryption::kEncrypted);
  REQUIRE(ParseVnetTuple("1663146003606,10.0.0.6,1.2.3.4,1,2,17,O,B,NX_HW_NOT_SUPPORTED,0,0,0,0", &r, &e));
  REQUIRE(r.encryption == Encryption::kNotEncryptedOther);
}

TEST_CASE("IPv6 tuples") {
  FlowRecord r;
  DecodeError e;
  REQUIRE(ParseVnetTuple("1663146003606,2001:db8::5,fd00::4,50000,443,6,I,B,NX,0,0,0,0", &r, &e));
  REQUIRE(r.src.ToString() == "2001:db8::5");
  REQUIRE(r.local_ip().ToString() == "fd00::4");
}

TEST_CASE("Malformed tuples are rejected with the right error type") {
  FlowRecord r;
  DecodeError e = DecodeError::kCount;
  struct Case {
    const char* text;
    DecodeError error;
  };
  const Case cases[] = {
      {"", DecodeError::kBadTuple},
      {"1542110379,10.5.16.4,203.0.113.115,44931,443,T,O", DecodeError::kBadTuple},           // 7 fields
      {"1542110379,10.5.16.4,203.0.113.115,44931,443,T,O,A,C,1,2,3", DecodeError::kBadTuple},  // 12
      {"1542110379,10.5.16.4,203.0.113.115,44931,443,T,O,A,C,1,2,3,4,5", DecodeError::kBadTuple},
      {"1542110379,10.5.16.999,203.0.113.115,44931,443,T,O,A", DecodeError::kBadIp},
      {"1542110379,10.5.16.4,nope,44931,443,T,O,A", DecodeError::kBadIp},
      {"1542110379,10.5.16.4,203.0.113.115,44931,70000,T,O,A", DecodeError::kBadTuple},
      {"1542110379,10.5.16.4,203.0.113.115,-1,443,T,O,A", DecodeError::kBadTuple},
      {"1542110379,10.5.16.4,203.0.113.115,44931,443,X,O,A", DecodeError::kBadTuple},
      {"1542110379,10.5.16.4,203.0.113.115,44931,443,T,Q,A", DecodeError::kBadTuple},
      {"1542110379,10.5.16.4,203.0.113.115,44931,443,T,O,Z", DecodeError::kBadTuple},
      {"1542110379,10.5.16.4,203.0.113.115,44931,443,T,O,A,Q,1,2,3,4", DecodeError::kBadTuple},
      {"1542110379,10.5.16.4,203.0.113.115,44931,443,T,O,A,C,1,99999999999999999999,3,4", DecodeError::kBadTuple},
      {"1542110379,10.5.16.4,203.0.113.115,44931,443,T,O,A,C,1,1.5,3,4", DecodeError::kBadTuple},
      {"abc,10.5.16.4,203.0.113.115,44931,443,T,O,A", DecodeError::kBadTimestamp},
      {"12,10.5.16.4,203.0.113.115,44931,443,T,O,A", DecodeError::kBadTimestamp},  // 1970
      {"99999999999999999999,10.5.16.4,203.0.113.115,44931,443,T,O,A", DecodeError::kBadTimestamp},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    REQUIRE_FALSE(ParseNsgTuple(c.text, &r, &e));
    REQUIRE(e == c.error);
  }
  REQUIRE_FALSE(ParseVnetTuple("1663146003606,10.0.0.6,1.2.3.4,1,2,6,O,A,NX,0,0,0,0", &r, &e));  // A is no state
  REQUIRE(e == DecodeError::kBadTuple);
  REQUIRE_FALSE(ParseNsgTuple(std::string(10 << 20, '1'), &r, &e));  // a 10 MB "tuple"
  REQUIRE(e == DecodeError::kBadTuple);
}

}  // namespace
}  // namespace flowwatch::decode
