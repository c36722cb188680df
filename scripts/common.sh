# Shared by scripts/demo.sh and scripts/test.sh: installs missing Debian
# packages and configures/builds with CMake. Source it; do not run it.

FLOWWATCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Packages every build needs.
BUILD_PACKAGES=(
  g++ cmake ninja-build pkg-config zlib1g-dev
  libsimdjson-dev libspdlog-dev libyaml-cpp-dev catch2 libcli11-dev librdkafka-dev
  prometheus-cpp-dev libcpp-httplib-dev libssl-dev
)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# ensure_packages PKG...: installs those not yet installed (apt-get, as root or via sudo).
ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

jobs() { nproc 2>/dev/null || echo 2; }

# cmake_build DIR BUILD_TYPE [CMAKE_ARGS...] -- [TARGETS...]
cmake_build() {
  local dir="$1" type="$2"
  shift 2
  local args=() targets=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do args+=("$1"); shift; done
  [ "${1:-}" = "--" ] && shift
  targets=("$@")
  cmake -S "$FLOWWATCH_ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" "${args[@]}" >/dev/null
  ninja -C "$dir" -j "$(jobs)" "${targets[@]}"
}
