#!/usr/bin/env bash
# Crash-safety check: train a small autoencoder (checkpoint every step, so many kills land
# inside a checkpoint write), SIGKILL it at random moments KILLS times (default 20), resuming
# each time with --resume latest, and check that
#   - after every kill, every checkpoint on disk verifies (manifest, sizes, CRC-32),
#   - the run then finishes,
#   - its final weights, critic, EMA and optimizer states equal those of an uninterrupted run.
# Then a checkpoint write is made to fail (file-size limit, as a full disk would) and the
# previous checkpoint must survive, with the failure reported.
#
#   scripts/fault-test.sh [KILLS] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
KILLS=${1:-20}
RANDOM=${2:-7}

cargo build --release -q -p ldm-cli
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/ldm
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
SETS=(
  --set data.shapes.num_train=256 --set data.shapes.num_val=16
  --set autoencoder.loss.perceptual=none --set autoencoder.loss.disc_start=30
  --set autoencoder.train.steps=100 --set autoencoder.train.batch_size=8
  --set autoencoder.train.ema_decay=0.9 --set autoencoder.train.val_every=20
  --set autoencoder.train.val_images=16 --set autoencoder.train.scale_images=32
  --set autoencoder.train.checkpoint_every=1 --set autoencoder.train.keep_checkpoints=2
)
# exec: the background job's pid is then ldm's own, so SIGKILL reaches ldm, not a wrapper.
train() { RUST_LOG=warn exec "$BIN" train-autoencoder tests/fixtures/tiny.toml "${SETS[@]}" "$@"; }
last_step() { ls "$1" 2>/dev/null | grep '^step-' | tail -1 | sed 's/step-0*//'; }

cp "$BIN" "$WORK/ldm"
BIN=$WORK/ldm

echo "reference: 100 steps uninterrupted"
(train --run-dir "$WORK/ref" >/dev/null)

RUN=$WORK/run
CK=$RUN/checkpoints/autoencoder
mid_write=0
for i in $(seq 1 "$KILLS"); do
  (train --run-dir "$RUN" --resume latest >/dev/null 2>&1) &
  pid=$!
  # 0.3 to 2.3 s: process start-up, data, a few steps and their checkpoint writes.
  sleep "$(printf '0.%03d' $((RANDOM % 1000)))"
  sleep "$((RANDOM % 2))"
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if ls -a "$CK" 2>/dev/null | grep -q '^\.partial-step-'; then
    mid_write=$((mid_write + 1))
  fi
  if [[ -d $CK ]]; then
    "$BIN" checkpoint verify "$CK" >/dev/null || {
      echo "FAIL: a checkpoint is corrupt after kill $i"
      "$BIN" checkpoint verify "$CK"
      exit 1
    }
  fi
  echo "kill $i: newest checkpoint step $(last_step "$CK")"
done
echo "$mid_write of $KILLS kills left a checkpoint write unfinished (its temporary is discarded)"

(train --run-dir "$RUN" --resume latest >/dev/null)
"$BIN" checkpoint verify "$CK" >/dev/null
"$BIN" checkpoint diff "$WORK/ref/checkpoints/autoencoder/step-00000100" "$CK/step-00000100"
"$BIN" checkpoint diff "$WORK/ref/autoencoder" "$RUN/autoencoder"
if ls -A "$CK" | grep -q '^\.'; then
  echo "FAIL: temporaries left behind: $(ls -A "$CK" | grep '^\.')"
  exit 1
fi

echo "failed write: a file-size limit makes the checkpoint at step 45 fail"
FULL=$WORK/full
(train --run-dir "$FULL" --until-step 40 >/dev/null)
before=$(last_step "$FULL/checkpoints/autoencoder")
# SIGXFSZ ignored: a write past 300 KiB (the weights are ~0.8 MB) then fails with EFBIG, as ENOSPC would on a full disk.
set +e
out=$(bash -c 'trap "" XFSZ; ulimit -f 300; exec "$@"' _ \
  env RUST_LOG=warn "$BIN" train-autoencoder tests/fixtures/tiny.toml "${SETS[@]}" \
  --set autoencoder.train.checkpoint_every=45 --run-dir "$FULL" --resume latest 2>&1)
status=$?
set -e
echo "  exit $status: $(echo "$out" | tail -1)"
[[ $status -ne 0 ]] || { echo "FAIL: the failed write was not reported"; exit 1; }
echo "$out" | grep -q "the previous checkpoint is kept" || { echo "FAIL: message"; exit 1; }
"$BIN" checkpoint verify "$FULL/checkpoints/autoencoder" >/dev/null
after=$(last_step "$FULL/checkpoints/autoencoder")
[[ $before == "$after" ]] || { echo "FAIL: newest checkpoint $before -> $after"; exit 1; }
echo "  checkpoint step $after intact; resuming without the limit finishes:"
(train --run-dir "$FULL" --resume latest >/dev/null)
"$BIN" checkpoint diff "$WORK/ref/autoencoder" "$FULL/autoencoder"
echo "fault test passed"
