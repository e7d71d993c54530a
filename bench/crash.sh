#!/usr/bin/env bash
# Long crash-test run: tests/crash.rs for CRASH_ROUNDS kill -9 rounds
# (default 50). CRASH_SEED picks the write mix and kill times (default: the
# time; the test prints it, and REDROCK_CRASH_SEED replays it).
#   bench/crash.sh
#   CRASH_ROUNDS=500 bench/crash.sh
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
REDROCK_CRASH_ROUNDS="${CRASH_ROUNDS:-50}" \
REDROCK_CRASH_SEED="${CRASH_SEED:-$(date +%s)}" \
  cargo test --release --locked --test crash -- --nocapture
