#!/usr/bin/env python3
"""Reference PSNR and SSIM values from scikit-image for the autoencoder's metrics.

Writes crates/ldm-autoencoder/tests/fixtures/metrics.json:
  {"versions": {...}, "cases": [{"shape": [C, H, W], "a": [...], "b": [...],
                                 "psnr": float, "ssim": float}, ...]}
Images are in [-1, 1], planar CHW, flattened; the metrics compare them on [0, 1] as ldm does.
SSIM: Gaussian window, sigma 1.5 (11x11), K1 0.01, K2 0.03, population covariance, mean over
the valid window positions and over channels (skimage crops the border it pads).

Run with the reference venv: .venv-ref/bin/python scripts/make_metric_fixtures.py
"""
import json
import os

import numpy as np
import skimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "ldm-autoencoder",
                   "tests", "fixtures", "metrics.json")


def case(rng, c, h, w, noise):
    # Smooth structure plus noise, so SSIM sits well inside (0, 1).
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(6 * xx + k) * np.cos(4 * yy - k) for k in range(c)]) * 0.8
    a = np.clip(base + rng.normal(0, 0.05, base.shape), -1, 1).astype(np.float32)
    b = np.clip(a + rng.normal(0, noise, a.shape), -1, 1).astype(np.float32)
    # 9 significant digits round-trip float32 exactly, so the JSON holds the very inputs.
    a, b = (np.array([float(f"{v:.9g}") for v in x.ravel()], np.float32).reshape(x.shape) for x in (a, b))
    a01, b01 = (a.astype(np.float64) + 1) / 2, (b.astype(np.float64) + 1) / 2
    psnr = peak_signal_noise_ratio(a01, b01, data_range=1.0)
    ssim = structural_similarity(a01, b01, data_range=1.0, channel_axis=0, gaussian_weights=True,
                                 sigma=1.5, use_sample_covariance=False, K1=0.01, K2=0.03)
    short = lambda x: [float(f"{v:.9g}") for v in x.ravel()]
    return {"shape": [c, h, w], "a": short(a), "b": short(b),
            "psnr": float(psnr), "ssim": float(ssim)}


def main():
    rng = np.random.default_rng(0)
    cases = [case(rng, 3, 16, 16, 0.05), case(rng, 3, 16, 16, 0.3), case(rng, 1, 16, 16, 0.1),
             case(rng, 3, 12, 20, 0.15)]
    out = {"versions": {"scikit-image": skimage.__version__, "numpy": np.__version__}, "cases": cases}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f)
    print("wrote", os.path.normpath(OUT), [(c["psnr"], c["ssim"]) for c in cases])


if __name__ == "__main__":
    main()
