// `flowwatch run` straight from Blob Storage (`source.blob`): an
// ObjectFollower (../object_follower.h, which says how objects are read,
// checkpointed and retired) over the flow-log blobs of the configured
// containers, through azure::BlobClient (List Blobs, ranged Get Blob).
//
// Every poll_interval each container is listed (under `prefix`); a blob is
// named by its URL in checkpoints and logs. Azure appends a record block per
// minute before PT1H.json's `]}` and commits the block list again, so only
// whole records past the position are read (one ranged read from 4 KiB before
// it). A blob's ETag changes with every append, so it tells nothing of a
// rewrite; a blob shorter than its position, or known only from a checkpoint,
// is checked by the fingerprint of the bytes read. With `start`, blobs of hours
// that ended before it are not read. A container that cannot be listed (down,
// 403, deleted) forgets no position; the error is logged, counted, and the
// listing tried again at the next poll.
//
// Listing: each container whole (under the prefix, one request per 5,000
// blobs) at the first poll and every full_list_interval; between, only the
// hours that can still change - for each flow-log resource's folder (a name's
// part before `y=`), the newest hour listed there, the hour before and the
// hour after: three small requests a resource, whatever the history kept.
// Only a full listing finds a new resource, a resource's blobs resuming after
// a gap of more than an hour, a change to an older hour, or a deletion there.
// A container with a blob outside hour folders is always listed whole.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "lib/azure/blob_client.h"
#include "lib/common/status.h"
#include "lib/source/object_follower.h"

namespace flowwatch::source {

struct BlobSourceOptions : FollowOptions {
  std::vector<std::string> containers;
  std::string prefix;          // inside each container
  int64_t start_ms = INT64_MIN;  // blobs of hours that ended before this are skipped; INT64_MIN: every blob
  std::chrono::milliseconds full_list_interval{600'000};  // 0: every poll lists whole containers
};

class BlobSource {
 public:
  static Result<std::unique_ptr<ObjectFollower>> Create(const BlobSourceOptions& options,
                                                        std::shared_ptr<azure::BlobClient> client,
                                                        MessageHandler* handler);
};

}  // namespace flowwatch::source
