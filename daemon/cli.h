// The flowwatch command line: run, replay, ports, gen, check-config.
// Exit status: 0 success, 1 runtime failure, 2 bad usage or configuration.
#pragma once

namespace flowwatch::app {

int Main(int argc, char** argv);

}  // namespace flowwatch::app
