// WriteFileDurably: replaces a file so that after a crash or power loss it holds
// either the old contents or the new ones, never a mix: the data goes to
// `path.tmp`, is fsynced, renamed over `path`, and the folder is fsynced so the
// rename itself survives. On any error the old file is left as it was and the
// temporary file is removed. For state that must outlive the process (the
// alert spool, checkpoints).
#pragma once

#include <string>
#include <string_view>

#include "lib/common/status.h"

namespace flowwatch {

Status WriteFileDurably(const std::string& path, std::string_view data);

// Removes a file and fsyncs its folder; a missing file is not an error.
Status RemoveFileDurably(const std::string& path);

}  // namespace flowwatch
