#!/usr/bin/env python3
"""Write crates/ldm-autoencoder/tests/fixtures/lpips/: small random-weight LPIPS nets
(VGG16 and AlexNet trunks) in the file layouts users have, input image pairs, and the
distances the `lpips` package computes for them.

Run with the reference venv (scripts/setup-reference-venv.sh):

    .venv-ref/bin/python scripts/make_lpips_fixtures.py

Deterministic in content (fixed torch seed, CPU only; the legacy-format files' bytes
still differ between runs, as torch names their storages by memory address); nothing is downloaded: the trunks come from
`lpips.LPIPS(net=..., pretrained=False, pnet_rand=True)`, i.e. torchvision's architecture
with random weights.

Why narrow nets
---------------
Full-width weights are far too big to commit (VGG16 `features` alone is 14.7M parameters,
~59 MB; AlexNet's 2.5M, ~9.9 MB). So every conv of the trunk is swapped, inside the lpips
model itself, for a conv with the same kernel, stride and padding but 1/16 of the
channels (VGG16 64,128,256,512,512 -> 4,8,16,32,32; AlexNet 64,192,384,256,256 ->
4,12,24,16,16), and the five `lin` layers are resized to match. Layer order, pooling,
ScalingLayer, normalisation, the lin layers and the spatial average are all the lpips
package's own code, so the reference is `lpips.LPIPS.forward` itself. The Rust nets take
the widths as a parameter; a Rust test checks that the default widths give torchvision's
parameter counts, which pins the full-size shapes.

Weights: convs are Kaiming-normal (fan-in, ReLU gain) so that activations keep their scale
through 13 layers (PyTorch's default init shrinks them, and deep layers would then compare
nothing but biases); biases N(0, 0.05^2); lin weights |N(0, 1)| (LPIPS' are non-negative).

Files (all under crates/ldm-autoencoder/tests/fixtures/lpips/)
--------------------------------------------------------------
    vgg16-features.pth   torchvision layout: features.N.weight/bias for the 13 convs
                         (N = 0, 2, 5, ..., 28), plus a tiny stand-in classifier.6.weight/bias
                         ([10, 32] and [10]) so the loader must ignore keys it does not use.
                         Legacy (non-zip) torch.save format, like torchvision's
                         vgg16-397923af.pth.
    vgg-lin.pth          lpips layout: lin0.model.1.weight .. lin4.model.1.weight, [1, C, 1, 1].
                         Legacy format, like lpips/weights/v0.1/vgg.pth.
    alexnet-features.pth as above for AlexNet (N = 0, 3, 6, 8, 10; stand-in
                         classifier.6.weight [10, 16]).
    alex-lin.pth         as vgg-lin.pth.
    alex-lpips.pth       torch.save(lpips_model.state_dict()) of the AlexNet model (zip
                         format): scaling_layer.*, net.sliceK.N.*, lin*.model.1.weight and
                         the duplicate lins.*.model.1.weight.
    inputs.bin           raw uint8 images, concatenated cases in the order of `inputs` in
                         lpips.json; each case is x then y, each [n, 3, size, size] in C
                         order. The float input is v / 127.5 - 1 (float32), in [-1, 1].
    lpips.json           {meta, inputs: [{size, n, offset}], nets: {vgg|alex: {widths,
                         cases: [{size, distance: [n], per_layer: [5][n],
                         tap_shapes: [5][4]}]}}}
                         distance = lpips.LPIPS(...)(x, y) (spatial=False, normalize=False)
                         flattened to [n]; per_layer is retPerLayer's per-layer terms.
                         Floats are float32 values written as shortest round-trip decimals.

Pairs per size: (smooth random x, independent smooth random y), (x, x + small noise),
(x, x): the last must give exactly 0.
"""
import importlib.metadata
import json
import warnings
from pathlib import Path

import lpips
import numpy as np
import torch
import torch.nn.functional as F
import torchvision

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT = REPO_ROOT / "crates" / "ldm-autoencoder" / "tests" / "fixtures" / "lpips"
SEED = 0
DIVISOR = 16
SIZES = [32, 64]
PAIRS = 3


def short_f32(value) -> float:
    """The shortest decimal that reads back (decimal -> f64 -> f32) to the same float32."""
    v = np.float32(value)
    d = float(np.format_float_positional(v, unique=True))
    return d if np.float32(d) == v else float(v)


def f32_list(x) -> list:
    return [short_f32(v) for v in np.asarray(x, dtype=np.float32).ravel()]


def narrow(model: lpips.LPIPS) -> list:
    """Swap every trunk conv and lin layer for a 1/DIVISOR-wide one, in place; return the
    five tap widths."""
    c_in = 3
    for k in range(1, 6):
        sl = getattr(model.net, f"slice{k}")
        for name, layer in sl.named_children():
            if isinstance(layer, torch.nn.Conv2d):
                c_out = layer.out_channels // DIVISOR
                new = torch.nn.Conv2d(
                    c_in, c_out, layer.kernel_size, layer.stride, layer.padding
                )
                torch.nn.init.kaiming_normal_(new.weight, nonlinearity="relu")
                torch.nn.init.normal_(new.bias, 0.0, 0.05)
                setattr(sl, name, new)
                c_in = c_out
    widths = [c // DIVISOR for c in model.chns]
    for k, w in enumerate(widths):
        lin = torch.nn.Conv2d(w, 1, 1, stride=1, padding=0, bias=False)
        with torch.no_grad():
            lin.weight.copy_(torch.randn_like(lin.weight).abs())
        # lin{k} and lins[k] are the same object; replace the conv inside it.
        getattr(model, f"lin{k}").model[1] = lin
    model.eval()
    return widths


def trunk_state_dict(model: lpips.LPIPS, classifier_in: int) -> dict:
    """The trunk in torchvision's `features.N.*` layout (the slices keep torchvision's
    indices as module names), plus a small stand-in classifier."""
    sd = {}
    for key, value in model.net.state_dict().items():
        # slice3.10.weight -> features.10.weight
        _, index, kind = key.split(".")
        sd[f"features.{index}.{kind}"] = value.clone()
    sd["classifier.6.weight"] = torch.randn(10, classifier_in)
    sd["classifier.6.bias"] = torch.randn(10)
    return sd


def lin_state_dict(model: lpips.LPIPS) -> dict:
    return {
        f"lin{k}.model.1.weight": getattr(model, f"lin{k}").model[1].weight.detach().clone()
        for k in range(5)
    }


def image(n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """Smooth random uint8 images: 8x8 noise bilinearly upsampled."""
    low = torch.rand(n, 3, 8, 8, generator=gen)
    up = F.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)
    return (up * 255).round().clamp(0, 255).to(torch.uint8)


def make_inputs(gen: torch.Generator):
    cases, raw, offset = [], [], 0
    for size in SIZES:
        x = image(PAIRS, size, gen)
        y = x.clone()
        y[0] = image(1, size, gen)[0]
        noise = torch.randint(-6, 7, (3, size, size), generator=gen, dtype=torch.int16)
        y[1] = (x[1].to(torch.int16) + noise).clamp(0, 255).to(torch.uint8)
        # y[2] stays equal to x[2].
        for t in (x, y):
            raw.append(t.numpy().tobytes())
        cases.append({"size": size, "n": PAIRS, "offset": offset, "x": x, "y": y})
        offset += 2 * x.numel()
    return cases, b"".join(raw)


def to_float(u8: torch.Tensor) -> torch.Tensor:
    return u8.to(torch.float32) / 127.5 - 1.0


def reference(model: lpips.LPIPS, cases: list) -> list:
    out = []
    for case in cases:
        x, y = to_float(case["x"]), to_float(case["y"])
        with torch.no_grad():
            d, per_layer = model(x, y, retPerLayer=True, normalize=False)
            taps = model.net(model.scaling_layer(x))
        out.append(
            {
                "size": case["size"],
                "distance": f32_list(d.reshape(-1)),
                "per_layer": [f32_list(r.reshape(-1)) for r in per_layer],
                "tap_shapes": [list(t.shape) for t in taps],
            }
        )
    return out


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    cases, raw = make_inputs(gen)
    (OUT / "inputs.bin").write_bytes(raw)

    nets = {}
    for net, trunk_file, lin_file in [
        ("vgg", "vgg16-features.pth", "vgg-lin.pth"),
        ("alex", "alexnet-features.pth", "alex-lin.pth"),
    ]:
        with warnings.catch_warnings():
            # torchvision warns that `pretrained=` is deprecated; lpips still passes it.
            warnings.simplefilter("ignore")
            model = lpips.LPIPS(net=net, pretrained=False, pnet_rand=True, verbose=False)
        widths = narrow(model)
        # Legacy format: the format of torchvision's and lpips' published files.
        torch.save(
            trunk_state_dict(model, widths[-1]),
            OUT / trunk_file,
            _use_new_zipfile_serialization=False,
        )
        torch.save(lin_state_dict(model), OUT / lin_file, _use_new_zipfile_serialization=False)
        if net == "alex":
            torch.save(model.state_dict(), OUT / "alex-lpips.pth")
        nets[net] = {"widths": widths, "cases": reference(model, cases)}

    doc = {
        "meta": {
            "script": "scripts/make_lpips_fixtures.py",
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "lpips": importlib.metadata.version("lpips"),
            "seed": SEED,
            "width_divisor": DIVISOR,
        },
        "inputs": [{"size": c["size"], "n": c["n"], "offset": c["offset"]} for c in cases],
        "nets": nets,
    }
    (OUT / "lpips.json").write_text(json.dumps(doc, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    for net, v in nets.items():
        for c in v["cases"]:
            print(net, c["size"], c["distance"], [[round(x, 4) for x in l] for l in c["per_layer"]])
    print(f"wrote {OUT} ({total} bytes)")


if __name__ == "__main__":
    main()
