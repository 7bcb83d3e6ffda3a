#!/usr/bin/env python3
"""Write crates/ldm-eval/tests/fixtures/fid_kid.json: reference FID and KID values for
feature sets stored in the file, computed the way the reference implementations do.

Run with the reference venv (scripts/setup-reference-venv.sh):

    .venv-ref/bin/python scripts/make_eval_fixtures.py

FID follows pytorch-fid's calculate_frechet_distance: np.cov (ddof=1) statistics and
scipy.linalg.sqrtm of sigma1 @ sigma2 (real part), with its eps offset if the product is
singular. KID follows torch-fidelity's kid_features_to_metric / mmd2 (polynomial kernel,
degree 3, gamma = 1/d, coef0 = 1, unbiased MMD^2 with equal subset sizes). The subset scheme
is "one subset of every row": sampling without replacement then only permutes rows, which
MMD^2 does not see, so the Rust side matches exactly without reproducing numpy's RNG.

Inputs are rounded to float32 before anything is computed and written as exact float32
reprs, so both sides start from identical numbers.

JSON layout
-----------
    meta: {script, numpy, scipy, notes}
    cases: [{name, dim, a: [n_a * dim floats], b: [n_b * dim floats],
             fid: float, kid_mean: float, kid_std: float}]
"""

import json
import warnings
from pathlib import Path

import numpy as np
import scipy
from scipy import linalg

OUT = Path(__file__).resolve().parent.parent / "crates/ldm-eval/tests/fixtures/fid_kid.json"


def frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    # As pytorch-fid (src/pytorch_fid/fid_score.py).
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def fid(a, b):
    return frechet_distance(
        np.mean(a, axis=0), np.cov(a, rowvar=False), np.mean(b, axis=0), np.cov(b, rowvar=False)
    )


def kernel(x, y):
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2(f1, f2):
    # As torch-fidelity (torch_fidelity/metric_kid.py).
    k11, k22, k12 = kernel(f1, f1), kernel(f2, f2), kernel(f1, f2)
    m = f1.shape[0]
    kt_xx_sum = (k11.sum(axis=-1) - np.diag(k11)).sum()
    kt_yy_sum = (k22.sum(axis=-1) - np.diag(k22)).sum()
    k_xy_sum = k12.sum(axis=0).sum()
    return (kt_xx_sum + kt_yy_sum) / (m * (m - 1)) - 2 * k_xy_sum / (m * m)


def kid_all_rows(a, b):
    # torch-fidelity with kid_subsets=1, kid_subset_size=n (both sets have n rows).
    assert len(a) == len(b)
    mmds = np.array([mmd2(a, b)])
    return float(mmds.mean()), float(mmds.std())


def correlated(rng, n, d, shift, scale):
    mix = rng.standard_normal((d, d)) / np.sqrt(d)
    x = rng.standard_normal((n, d)) @ mix.T * scale + shift
    return x.astype(np.float32).astype(np.float64)


def case(name, rng, n, d, shift, scale):
    a = correlated(rng, n, d, 0.0, 1.0)
    b = correlated(rng, n, d, shift, scale)
    kid_mean, kid_std = kid_all_rows(a, b)
    return {
        "name": name,
        "dim": d,
        "a": [float(np.float32(v)) for v in a.ravel()],
        "b": [float(np.float32(v)) for v in b.ravel()],
        "fid": fid(a, b),
        "kid_mean": kid_mean,
        "kid_std": kid_std,
    }


def main():
    # pytorch-fid still passes disp=False, which newer scipy deprecates.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    rng = np.random.default_rng(0)
    cases = [
        case("close", rng, 64, 8, 0.1, 1.0),
        case("shifted_and_scaled", rng, 80, 12, 0.5, 1.5),
        case("far", rng, 48, 6, 2.0, 0.5),
    ]
    out = {
        "meta": {
            "script": "scripts/make_eval_fixtures.py",
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "notes": [
                "fid: pytorch-fid calculate_frechet_distance on np.cov statistics",
                "kid: torch-fidelity mmd2, one subset of all rows (subset_size = n)",
            ],
        },
        "cases": cases,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
