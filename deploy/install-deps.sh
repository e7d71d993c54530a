#!/usr/bin/env bash
# Installs the system packages RedRock needs on Debian/Ubuntu, when missing:
#   (no argument)  what building needs: clang and libclang (RocksDB's bindings)
#   --test         also redis-server and redis-tools (the differential tests'
#                  oracle, redis-cli and redis-benchmark), redis-sentinel
#                  (tests/sentinel.rs: Sentinel fails a master over) and the
#                  redis-py client (tests that drive the server as
#                  applications do)
#   --prometheus   also prometheus (with promtool), for
#                  tests/prometheus_scrape.sh
set -euo pipefail

packages=()
command -v clang >/dev/null 2>&1 || packages+=(clang)
ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || packages+=(libclang-dev)
if [ "${1:-}" = "--prometheus" ]; then
  command -v prometheus >/dev/null 2>&1 || packages+=(prometheus)
fi
if [ "${1:-}" = "--test" ]; then
  command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)
  command -v redis-cli >/dev/null 2>&1 || packages+=(redis-tools)
  command -v redis-sentinel >/dev/null 2>&1 || packages+=(redis-sentinel)
  # redis-py 5 or later speaks RESP3; Debian's python3-redis is older.
  if ! python3 -c 'import redis, sys; sys.exit(int(redis.__version__.split(".")[0]) < 5)' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check 'redis>=5' 2>&1 \
      | grep -v 'Running pip as the' >&2 || true
  fi
fi

if [ ${#packages[@]} -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: please install: ${packages[*]} (no apt-get here)" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "install-deps: installing ${packages[*]}" >&2
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${packages[@]}"
# The Debian redis-server and redis-sentinel packages start services on 6379
# and 26379; tests start their own processes on free ports and do not need
# them.
