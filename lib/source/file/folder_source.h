// `flowwatch run` over folders of flow-log blobs (`source.files`: a mounted
// container, or a folder a copier writes into), followed as they grow: an
// ObjectFollower (../object_follower.h, which says how objects are read,
// checkpointed and retired) over the files of the folders.
//
// Every poll the folders are walked recursively for *.json, *.ndjson and their
// .gz; a file's identity is its device and inode, so that a file replaced by a
// rename is checked against the bytes read before it is read on. A walk that
// fails part-way (a mount that blinks) forgets no file.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lib/common/status.h"
#include "lib/source/object_follower.h"

namespace flowwatch::source {

struct FolderSourceOptions : FollowOptions {
  std::vector<std::string> folders;
};

class FolderSource {
 public:
  // A folder that is not one is an error naming it.
  static Result<std::unique_ptr<ObjectFollower>> Create(const FolderSourceOptions& options, MessageHandler* handler);
};

}  // namespace flowwatch::source
