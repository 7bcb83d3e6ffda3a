#!/usr/bin/env bash
# Autoencoder quality figures: validation PSNR/SSIM at f=4 and f=8 on shapes and
# Fashion-MNIST, with and without the GAN and perceptual terms, after the same step budget.
#
# Usage: scripts/ae-figures.sh [STEPS]   (default 600; Fashion-MNIST needs
#        scripts/fetch-datasets.sh fashion-mnist first). Writes runs/ae-figures/table.md.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-600}
cargo build --release -p ldm-cli
ldm=./target/release/ldm
out=runs/ae-figures
mkdir -p "$out"
table="$out/table.md"
echo "| data | f | losses | steps | val PSNR (dB) | val SSIM | wall s |" > "$table"
echo "| --- | --- | --- | --- | --- | --- | --- |" >> "$table"
common=(--set autoencoder.train.steps="$steps" --set autoencoder.train.val_every="$steps"
        --set autoencoder.train.checkpoint_every="$steps" --set autoencoder.train.val_images=512
        --set autoencoder.loss.disc_start=$((steps * 2 / 3)))
for data in quickstart fashion-mnist; do
  # One perceptual net per dataset, shared by its runs.
  pdir="$out/$data-perceptual"
  [ -f "$pdir/perceptual/info.json" ] || $ldm train-perceptual "configs/$data.toml" --run-dir "$pdir" \
      --set perceptual.steps=200 --set perceptual.batch_size=32
  for f in 4 8; do
    mult='[1, 2, 2]'; [ "$f" = 8 ] && mult='[1, 2, 2, 2]'
    for losses in pixel+kl full; do
      run="$out/$data-f$f-$losses"
      extra=(--set autoencoder.loss.perceptual=none --set autoencoder.loss.disc_weight=0)
      [ "$losses" = full ] && extra=(--set "autoencoder.loss.perceptual_path=\"$pdir/perceptual\"")
      start=$(date +%s)
      $ldm train-autoencoder configs/quickstart.toml --run-dir "$run" "${common[@]}" "${extra[@]}" \
          --set "autoencoder.model.channel_mult=$mult" \
          $( [ "$data" = fashion-mnist ] && echo "--set data.source=imagefolder --set data.path=datasets/fashion-mnist --set data.channels=1 --set data.val_split=test" ) \
          > "$run.out" 2>&1
      secs=$(( $(date +%s) - start ))
      psnr=$(python3 -c "import json;print(f\"{json.load(open('$run/autoencoder/info.json'))['val_psnr']:.2f}\")")
      ssim=$(python3 -c "import json;print(f\"{json.load(open('$run/autoencoder/info.json'))['val_ssim']:.4f}\")")
      echo "| $data | $f | $losses | $steps | $psnr | $ssim | $secs |" | tee -a "$table"
    done
  done
done
echo "written $table"
