// ObjectStore: where a followed source's flow-log objects live - a local
// folder (file/folder_source.h) or Blob Storage containers
// (blob/blob_source.h) - seen as named byte strings that grow, so that one
// follower (object_follower.h) reads both the same way.
//
// Threads: List from the follower's thread; Read from several at once (the
// follower reads ahead of itself, ObjectFollower::parallel_reads).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lib/common/status.h"

namespace flowwatch::source {

struct StoredObject {
  std::string name;                  // its key in checkpoints: a path, a blob's URL
  uint64_t size = 0;                 // as listed
  int64_t time_hint_ms = INT64_MIN;  // the hour its y=/m=/d=/h= path names, or INT64_MIN
  uint64_t identity = 0;             // changes when the object is replaced by another (an inode); 0: not told
  uint64_t version = 0;              // changes whenever its bytes may have (an ETag, an mtime); 0: not told
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // Appends every flow-log object there is now (in any order). False if part
  // of the listing failed (logged and counted by the store): what was listed
  // is in `out`, and the follower then forgets no object it did not see.
  virtual bool List(std::vector<StoredObject>* out) = 0;

  // Whether the last List would have shown the object if it still existed (a
  // store may list only what can still change). An object not listed is
  // forgotten only if the listing covered it.
  virtual bool Covers(const std::string& /*name*/) const { return true; }

  // Bytes [from, to) of an object; fewer if it is shorter now. kNotFound once
  // it is gone; other errors are worth a retry at the next poll.
  virtual Status Read(const std::string& name, int64_t from, int64_t to, std::string* out) = 0;

  // The config key it comes from ("source.files"), to begin log lines with.
  virtual const char* key() const = 0;
};

}  // namespace flowwatch::source
