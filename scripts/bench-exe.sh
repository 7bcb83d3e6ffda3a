#!/usr/bin/env bash
# Build the benchmark binary (benches/train_steps.rs, release settings) and print its path.
# Extra arguments go to cargo (`--features wgpu` for the GPU benchmark).
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
cargo bench -p ldm-cli --bench train_steps --no-run "$@" --message-format=json-render-diagnostics \
  | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "train_steps" and m.get("executable"):
        print(m["executable"])
'
