// Writing the generator's output files: whole contents at once, optionally
// gzip-compressed, through "<path>.tmp" and a rename so that a reader polling
// the folder never sees a partial file. Parent folders are created.
// Stateless functions; thread-safe for distinct paths.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "lib/common/status.h"

namespace flowwatch::gen {

// Writes data to path (gzip-compressed when gzip is set); *written receives the
// size of the file on disk. IoError naming the path on failure.
[[nodiscard]] Status WriteOutputFile(const std::string& path, std::string_view data, bool gzip, uint64_t* written);

}  // namespace flowwatch::gen
