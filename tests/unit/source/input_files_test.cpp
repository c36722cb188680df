#include "lib/source/file/input_files.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "lib/common/time_util.h"

namespace flowwatch::source {
namespace {

TEST_CASE("The time hint comes from Azure's y=/m=/d=/h=/m= blob path") {
  int64_t expected = 0;
  REQUIRE(ParseIso8601("2024-08-19T18:00:00Z", &expected));
  REQUIRE(TimeHintFromPath("c/resourceId=/SUB/y=2024/m=08/d=19/h=18/m=00/macAddress=6045BDEC2532/PT1H.json") == expected);
  REQUIRE(TimeHintFromPath("flowLogResourceID=/X/y=2024/m=08/d=19/h=18/m=30/PT1H.json") == expected + 30 * 60 * 1000);
  REQUIRE(TimeHintFromPath("/data/flowlogs/today.json") == INT64_MIN);
  REQUIRE(TimeHintFromPath("y=2024/m=13/d=19/h=18/PT1H.json") == INT64_MIN);
  // The stream: the same path for every hour of one NIC's blobs.
  CHECK(StreamOfPath("c/resourceId=/SUB/y=2024/m=08/d=19/h=18/m=00/macAddress=6045BDEC2532/PT1H.json") ==
        "c/resourceId=/SUB/macAddress=6045BDEC2532/PT1H.json");
  CHECK(StreamOfPath("http://h/a/y=2024/m=08/d=20/h=01/m=00/PT1H.json") == "http://h/a/PT1H.json");
  CHECK(StreamOfPath("/data/flowlogs/today.json") == "/data/flowlogs/today.json");
}

TEST_CASE("Folders are walked for flow-log files and sorted by time hint, then path") {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("fw-input-files-" + std::to_string(::getpid()));
  fs::remove_all(root);
  for (const char* rel : {"b/y=2024/m=01/d=01/h=02/m=00/PT1H.json", "a/y=2024/m=01/d=01/h=01/m=00/PT1H.json.gz",
                          "z.ndjson", "notes.txt", "c/y=2024/m=01/d=01/h=01/m=00/PT1H.json"}) {
    fs::create_directories((root / rel).parent_path());
    std::ofstream(root / rel) << "{}";
  }
  auto files = ListInputFiles({root.string()});
  REQUIRE(files.ok());
  std::vector<std::string> names;
  for (const InputFile& f : *files) names.push_back(fs::relative(f.path, root).string());
  REQUIRE(names == std::vector<std::string>{"z.ndjson", "a/y=2024/m=01/d=01/h=01/m=00/PT1H.json.gz",
                                            "c/y=2024/m=01/d=01/h=01/m=00/PT1H.json",
                                            "b/y=2024/m=01/d=01/h=02/m=00/PT1H.json"});
  auto missing = ListInputFiles({(root / "nope").string()});
  REQUIRE_FALSE(missing.ok());
  REQUIRE(missing.status().message().find("nope: no such file or folder") != std::string::npos);
  fs::remove_all(root);
}

}  // namespace
}  // namespace flowwatch::source
