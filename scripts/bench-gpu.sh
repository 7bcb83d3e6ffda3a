#!/usr/bin/env bash
# The denoiser training step on a GPU: ldm through wgpu against PyTorch eager on CUDA, in f32
# and f16 (both with loss scaling) at two batch sizes, and PyTorch alone in bf16 (wgpu's WGSL
# shaders have no bf16). Meant for a GPU machine without cargo or a package registry; it
# reads what `--prepare` made here beforehand.
#
# Here (with cargo and the registries), once:
#   scripts/bench-gpu.sh --prepare
# builds the benchmark with `--features wgpu` into .gpu/train_steps.xz (stripped and
# compressed: 10 MB instead of 95) and downloads the Vulkan loader's Debian package into
# .gpu/debs (both git-ignored: carry `.gpu` to the GPU machine).
# There:
#   scripts/bench-gpu.sh [--rounds R] [--steps N] [--out DIR]
# installs the loader if the machine lacks one, then runs scripts/bench.sh --gpu (A B A B ...)
# with the machine's python3 (which must have torch with CUDA). The raw lines go to
# benches/results/<date>.jsonl and, with the printed tables, to DIR (default: $OUT if set).
set -euo pipefail
shopt -s inherit_errexit

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
die() { printf 'bench-gpu.sh: %s\n' "$*" >&2; exit 1; }
log() { printf '[bench-gpu] %s\n' "$*" >&2; }

if [[ ${1:-} == --prepare ]]; then
  mkdir -p .gpu/debs
  log "building the benchmark with --features wgpu"
  exe=$(scripts/bench-exe.sh --features wgpu)
  strip -o .gpu/train_steps "$exe"
  xz -T0 -f .gpu/train_steps
  log "downloading the Vulkan loader (amd64 .debs)"
  lists=$(mktemp -d)
  mkdir -p "$lists/partial"
  o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists")
  apt-get "${o[@]}" update >/dev/null
  (cd .gpu/debs && apt-get "${o[@]}" download libvulkan1)
  rm -rf "$lists"
  du -sh .gpu
  exit 0
fi

ROUNDS=2
STEPS=20
OUT_DIR=${OUT:-}
while [[ $# -gt 0 ]]; do
  case $1 in
    --rounds) ROUNDS=${2:?}; shift ;;
    --steps) STEPS=${2:?}; shift ;;
    --out) OUT_DIR=${2:?}; shift ;;
    *) die "unknown argument '$1'" ;;
  esac
  shift
done
[[ -f .gpu/train_steps.xz ]] || die "no .gpu/train_steps.xz: run scripts/bench-gpu.sh --prepare where cargo is"
EXE=$(mktemp -d)/train_steps
# Python's lzma, not xz(1), which the GPU machine may lack.
python3 -c 'import lzma, shutil, sys
with lzma.open(sys.argv[1]) as i, open(sys.argv[2], "wb") as o:
    shutil.copyfileobj(i, o)' .gpu/train_steps.xz "$EXE"
chmod +x "$EXE"
python3 -c 'import torch; assert torch.cuda.is_available()' \
  || die "python3 has no torch with a CUDA GPU"
if ! ldconfig -p | grep libvulkan.so.1 >/dev/null; then
  log "installing the Vulkan loader from .gpu/debs"
  for f in .gpu/debs/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
# The NVIDIA driver's Vulkan manifest, where the loader does not find it by itself.
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json; do
  if [[ -f $icd && -z ${VK_DRIVER_FILES:-} ]]; then export VK_DRIVER_FILES=$icd; fi
done
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true

# Everything printed goes to DIR as it comes, so a run cut short keeps what it measured.
results=${OUT_DIR:-$(mktemp -d)}/bench-gpu.txt
mkdir -p "$(dirname "$results")"
log "smoke test: one ldm step on wgpu"
"$EXE" denoiser --device wgpu --steps 1 --warmup 0 --batch 2 2>&1 | tee -a "$results" | tail -3
for batch in 16 128; do
  for precision in f32 f16; do
    scripts/bench.sh denoiser --gpu --exe "$EXE" --python python3 --threads 8 \
      --rounds "$ROUNDS" --steps "$STEPS" --warmup 5 --batch "$batch" --precision "$precision" \
      | tee -a "$results"
  done
  log "PyTorch bf16, batch $batch"
  for ((r = 1; r <= ROUNDS; r++)); do
    python3 scripts/bench_reference.py denoiser --device cuda --precision bf16 \
      --steps "$STEPS" --warmup 5 --batch "$batch" | tee -a "$results"
  done
done
[[ -z $OUT_DIR ]] || cp benches/results/*.jsonl "$OUT_DIR/" 2>/dev/null || true
log "done: $results"
