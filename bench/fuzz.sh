#!/usr/bin/env bash
# Long fuzz run. Runs the request-parser property tests with PARSER_CASES
# cases each (default 1,000,000), then the command fuzzer of
# tests/fuzz_commands.rs for FUZZ_COMMANDS commands (default 1,000,000)
# against a release server, which also checks that the server's RSS levels
# off (no leak). FUZZ_SEED picks the command sequence (default: the time;
# the test prints it, and REDROCK_FUZZ_SEED replays it).
#   bench/fuzz.sh
#   FUZZ_COMMANDS=5000000 FUZZ_SEED=42 bench/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
PROPTEST_CASES="${PARSER_CASES:-1000000}" \
  cargo test --release --locked --lib protocol::request::fuzz -- --nocapture
REDROCK_FUZZ_COMMANDS="${FUZZ_COMMANDS:-1000000}" \
REDROCK_FUZZ_SEED="${FUZZ_SEED:-$(date +%s)}" \
  cargo test --release --locked --test fuzz_commands -- --nocapture
