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
// Not yet: listing only the hour folders that can still change (each poll
// lists whole containers under the prefix, one request per 5,000 blobs).
#pragma once

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
};

class BlobSource {
 public:
  static Result<std::unique_ptr<ObjectFollower>> Create(const BlobSourceOptions& options,
                                                        std::shared_ptr<azure::BlobClient> client,
                                                        MessageHandler* handler);
};

}  // namespace flowwatch::source
