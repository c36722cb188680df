// Input files for replay (and the daemon's folder source): listing, ordering by
// event time, and reading into simdjson-ready padded buffers.
//
// Replay decodes files on several threads; to keep event time moving forward
// the way the daemon would see it, files are processed in order of a time hint
// taken from Azure's blob layout (".../y=2024/m=08/d=19/h=18/m=00/..."), then by
// path. Files without a hint come first. Stateless functions; thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/common/status.h"

namespace flowwatch::source {

struct InputFile {
  std::string path;  // a local path, or what names the input in logs (a blob's URL)
  uint64_t size_bytes = 0;
  int64_t time_hint_ms = INT64_MIN;  // INT64_MIN: unknown
  // Reads the input whole as ReadFilePadded does; empty for a local file
  // (blob_inputs.h sets it for a blob).
  std::function<Status(size_t padding, std::vector<char>* buf, size_t* size)> read;
};

// Expands paths: files are taken as given; folders are walked recursively for
// *.json, *.json.gz, *.ndjson and *.ndjson.gz. The result is sorted by
// (time_hint_ms, path). A path that does not exist is an error naming it.
Result<std::vector<InputFile>> ListInputFiles(const std::vector<std::string>& paths);

// Whether a file name is a flow-log file's: *.json, *.json.gz, *.ndjson, *.ndjson.gz.
bool HasInputExtension(std::string_view name);

// Sorts by (time_hint_ms, path): the order files are read in.
void SortByTimeHint(std::vector<InputFile>* files);

// The start of the hour (or minute) named by y=/m=/d=/h=[/m=] path segments, in
// epoch ms, or INT64_MIN.
int64_t TimeHintFromPath(std::string_view path);

// The path without its y=/m=/d=/h=/m= segments: the same for every hour's
// blob of one flow-log stream (one NIC's, one NSG's), so that the follower
// knows when a stream's next hour has begun.
std::string StreamOfPath(std::string_view path);

// Reads a whole file into buf[0, *size), followed by `padding` zero bytes.
Status ReadFilePadded(const std::string& path, size_t padding, std::vector<char>* buf, size_t* size);
// The same for any input: its `read`, or the local file at its path.
Status ReadInputPadded(const InputFile& input, size_t padding, std::vector<char>* buf, size_t* size);

}  // namespace flowwatch::source
