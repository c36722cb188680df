#include "daemon/cli.h"

int main(int argc, char** argv) { return flowwatch::app::Main(argc, argv); }
