#!/usr/bin/env bash
# Builds the release binaries (redrock-server, redrock) exactly as the
# container image and CI do: the release profile, with Cargo.lock as is.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bins
