#!/usr/bin/env python3
"""PyTorch reference for ldm's speed benchmarks (benches/train_steps.rs).

The same models written in plain torch, layer for layer as in ldm (GroupNorm eps, attention
layout, GEGLU feed-forward, padding, channel counts), with the same batch and input sizes,
the same training-step structure and the same optimizer (AdamW), eager, float32, on the CPU.
Each run prints one JSON line per benchmark with "impl": "pytorch" (the `ops` benchmark one
line per op), in the format of the Rust side, so scripts/bench.sh can put them side by side.

Usage (with the reference venv, scripts/setup-reference-venv.sh):

    .venv-ref/bin/python scripts/bench_reference.py denoiser --steps 10 --warmup 2 \
        --batch 16 --threads 2 [--expect-params '{"unet": 4246212}']

--expect-params takes the "params" object of the ldm run (bench.sh passes it): both counts
are printed to stderr and must agree within 0.5% per model, or the script fails.
"""

import argparse
import json
import math
import os
import resource
import sys
import time


def rss_mb(key):
    """A line of /proc/self/status in MiB (VmRSS: current, VmHWM: peak)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("bench", choices=["denoiser", "autoencoder", "sampling", "encoding", "ops"])
ap.add_argument("--steps", type=int)
ap.add_argument("--warmup", type=int)
ap.add_argument("--batch", type=int)
ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "0") or 0))
ap.add_argument("--min-time", type=float, default=0.5, help="ops: minimum seconds timed per op")
ap.add_argument("--only", default="", help="ops: run just the ops whose name contains this")
ap.add_argument("--precision", choices=["f32", "bf16", "f16"], default="f32",
                help="denoiser: forward and backward under torch.autocast (bf16, or f16 with "
                     "a GradScaler)")
ap.add_argument("--device", default="cpu",
                help="denoiser: cpu, or cuda on a GPU machine (the phases are timed to the end "
                     "of their kernels)")
ap.add_argument("--expect-params", help="JSON object of ldm's parameter counts to check against")
args = ap.parse_args()

import torch  # noqa: E402  (after argparse so --help is instant)
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HALF = {"bf16": torch.bfloat16, "f16": torch.float16}
DEV_TYPE = torch.device(args.device).type
if DEV_TYPE != "cpu":
    # Every tensor and module made from here on lives on the GPU.
    torch.set_default_device(args.device)

if args.threads:
    torch.set_num_threads(args.threads)
torch.manual_seed(0)
BASELINE_RSS = rss_mb("VmRSS:")

CTX_LEN, CTX_DIM = 8, 384
LATENT = (4, 16, 16)
IMAGE = (3, 32, 32)


# ------------------------------------------------------------------------------------------
# Shared pieces
# ------------------------------------------------------------------------------------------


def conv(ci, co, k, stride=1):
    """ldm's `conv`: k x k, symmetric padding k // 2, with bias."""
    return nn.Conv2d(ci, co, k, stride=stride, padding=k // 2)


def pad_mask(b):
    """True at padding positions: row i keeps its first 3 + i % 6 tokens (as train_steps.rs)."""
    j = torch.arange(CTX_LEN)[None, :]
    keep = (3 + torch.arange(b) % 6)[:, None]
    return j >= keep


def count(m):
    return sum(p.numel() for p in m.parameters())


def check_params(ours):
    if not args.expect_params:
        print(f"[bench_reference] pytorch parameters: {ours}", file=sys.stderr)
        return
    theirs = json.loads(args.expect_params)
    for name, n in ours.items():
        m = theirs.get(name)
        print(f"[bench_reference] {name}: ldm {m} parameters, pytorch {n}", file=sys.stderr)
        if m is None or abs(n - m) > 0.005 * m:
            sys.exit(f"parameter count mismatch for {name}: ldm {m}, pytorch {n} (> 0.5%)")


# ------------------------------------------------------------------------------------------
# The UNet (crates/ldm-diffusion/src/unet/)
# ------------------------------------------------------------------------------------------


class UResBlock(nn.Module):
    """resblock.rs: GN(eps 1e-5) -> SiLU -> conv3; + Linear(SiLU(temb)); GN -> SiLU -> conv3."""

    def __init__(self, ci, co, time_dim, g):
        super().__init__()
        self.norm1 = nn.GroupNorm(g, ci, eps=1e-5)
        self.conv1 = conv(ci, co, 3)
        self.time = nn.Linear(time_dim, co)
        self.norm2 = nn.GroupNorm(g, co, eps=1e-5)
        self.conv2 = conv(co, co, 3)
        self.skip = conv(ci, co, 1) if ci != co else None

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.skip(x) if self.skip is not None else x) + h


class Attention(nn.Module):
    """attention.rs: q/k/v without bias, out with bias; [B, N, D] -> [B, H, N, D/H]."""

    def __init__(self, dim, context_dim, heads):
        super().__init__()
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(context_dim, dim, bias=False)
        self.v = nn.Linear(context_dim, dim, bias=False)
        self.out = nn.Linear(dim, dim)
        self.heads = heads

    def forward(self, x, context, pad=None):
        b, n, dim = x.shape
        l = context.shape[1]
        h = self.heads

        def split(t, length):
            return t.reshape(b, length, h, dim // h).transpose(1, 2)

        q = split(self.q(x), n)
        k = split(self.k(context), l)
        v = split(self.v(context), l)
        # torch's boolean mask is True where attention is allowed; ldm's pad is True at padding.
        mask = None if pad is None else (~pad)[:, None, None, :]
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(o.transpose(1, 2).reshape(b, n, dim))


class TransformerBlock(nn.Module):
    """transformer.rs: pre-LN self-attention, cross-attention, GEGLU FF (dim -> 8 dim -> dim)."""

    def __init__(self, dim, context_dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.self_attn = Attention(dim, dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.cross_attn = Attention(dim, context_dim, heads)
        self.norm3 = nn.LayerNorm(dim, eps=1e-5)
        self.ff_in = nn.Linear(dim, dim * 8)
        self.ff_out = nn.Linear(dim * 4, dim)

    def forward(self, x, context, pad):
        n = self.norm1(x)
        x = x + self.self_attn(n, n, None)
        x = x + self.cross_attn(self.norm2(x), context, pad)
        value, gate = self.ff_in(self.norm3(x)).chunk(2, dim=2)
        return x + self.ff_out(value * F.gelu(gate))


class SpatialTransformer(nn.Module):
    def __init__(self, c, context_dim, heads, depth, g):
        super().__init__()
        self.norm = nn.GroupNorm(g, c, eps=1e-5)
        self.proj_in = conv(c, c, 1)
        self.blocks = nn.ModuleList(TransformerBlock(c, context_dim, heads) for _ in range(depth))
        self.proj_out = conv(c, c, 1)

    def forward(self, x, context, pad):
        b, c, h, w = x.shape
        t = self.proj_in(self.norm(x))
        t = t.reshape(b, c, h * w).transpose(1, 2)
        for blk in self.blocks:
            t = blk(t, context, pad)
        t = t.transpose(1, 2).reshape(b, c, h, w)
        return x + self.proj_out(t)


class Block(nn.Module):
    def __init__(self, res, attn):
        super().__init__()
        self.res = res
        self.attn = attn

    def forward(self, x, temb, ctx, pad):
        h = self.res(x, temb)
        return self.attn(h, ctx, pad) if self.attn is not None else h


class Level(nn.Module):
    def __init__(self, blocks, resample):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.resample = resample


def sinusoidal(t, dim):
    """embedding.rs: [cos | sin] of t at geometric frequencies 1 .. 1/10000."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args_ = t[:, None] * freqs[None, :]
    return torch.cat([args_.cos(), args_.sin()], dim=1)


class UNet(nn.Module):
    """unet/mod.rs, built in the same order with the same skip bookkeeping."""

    def __init__(self, channels=4, context_dim=CTX_DIM, base=64, mult=(1, 2), res_blocks=1,
                 attention_levels=(1,), heads=4, depth=1, g=32):
        super().__init__()
        time_dim = base * 4
        chans = [m * base for m in mult]

        def block(ci, co, level):
            attn = SpatialTransformer(co, context_dim, heads, depth, g) if level in attention_levels else None
            return Block(UResBlock(ci, co, time_dim, g), attn)

        self.base = base
        self.time_fc1 = nn.Linear(base, time_dim)
        self.time_fc2 = nn.Linear(time_dim, time_dim)
        self.conv_in = conv(channels, base, 3)
        skips = [base]
        c_prev = base
        down = []
        for i, c in enumerate(chans):
            blocks = []
            for _ in range(res_blocks):
                blocks.append(block(c_prev, c, i))
                c_prev = c
                skips.append(c)
            resample = None
            if i + 1 != len(chans):
                skips.append(c)
                resample = nn.Conv2d(c, c, 3, stride=2, padding=1)
            down.append(Level(blocks, resample))
        self.down = nn.ModuleList(down)
        top = c_prev
        self.mid1 = UResBlock(top, top, time_dim, g)
        self.mid_attn = SpatialTransformer(top, context_dim, heads, depth, g)
        self.mid2 = UResBlock(top, top, time_dim, g)
        up = []
        for i in reversed(range(len(chans))):
            c = chans[i]
            blocks = []
            for _ in range(res_blocks + 1):
                skip = skips.pop()
                blocks.append(block(c_prev + skip, c, i))
                c_prev = c
            up.append(Level(blocks, conv(c, c, 3) if i > 0 else None))
        self.up = nn.ModuleList(up)
        self.norm_out = nn.GroupNorm(g, c_prev, eps=1e-5)
        self.conv_out = conv(c_prev, channels, 3)

    def forward(self, x, t, context, pad):
        temb = self.time_fc2(F.silu(self.time_fc1(sinusoidal(t, self.base))))
        h = self.conv_in(x)
        skips = [h]
        for level in self.down:
            for b in level.blocks:
                h = b(h, temb, context, pad)
                skips.append(h)
            if level.resample is not None:
                h = level.resample(h)
                skips.append(h)
        h = self.mid1(h, temb)
        h = self.mid_attn(h, context, pad)
        h = self.mid2(h, temb)
        for level in self.up:
            for b in level.blocks:
                h = b(torch.cat([h, skips.pop()], dim=1), temb, context, pad)
            if level.resample is not None:
                h = level.resample(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))


# ------------------------------------------------------------------------------------------
# The autoencoder, critic and perceptual net (crates/ldm-autoencoder/src/)
# ------------------------------------------------------------------------------------------


class AEResBlock(nn.Module):
    """blocks.rs ResBlock: GN(eps 1e-6) -> SiLU -> conv3, twice; 1x1 skip on a channel change."""

    def __init__(self, ci, co, g):
        super().__init__()
        self.norm1 = nn.GroupNorm(g, ci, eps=1e-6)
        self.conv1 = conv(ci, co, 3)
        self.norm2 = nn.GroupNorm(g, co, eps=1e-6)
        self.conv2 = conv(co, co, 3)
        self.skip = conv(ci, co, 1) if ci != co else None

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.skip(x) if self.skip is not None else x) + h


class Downsample(nn.Module):
    """Stride-2 3x3 conv padded on the bottom and right only."""

    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = conv(c, c, 3)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class AttnBlock(nn.Module):
    """Single-head self-attention over H*W tokens with 1x1-conv projections."""

    def __init__(self, c, g):
        super().__init__()
        self.norm = nn.GroupNorm(g, c, eps=1e-6)
        self.q = conv(c, c, 1)
        self.k = conv(c, c, 1)
        self.v = conv(c, c, 1)
        self.proj = conv(c, c, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        n = self.norm(x)

        def tokens(t):
            return t.reshape(b, c, h * w).transpose(1, 2)[:, None]

        o = F.scaled_dot_product_attention(tokens(self.q(n)), tokens(self.k(n)), tokens(self.v(n)))
        o = o[:, 0].transpose(1, 2).reshape(b, c, h, w)
        return x + self.proj(o)


class EncoderLevel(nn.Module):
    def __init__(self, blocks, down):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.down = down


class Encoder(nn.Module):
    def __init__(self, image_channels, base, mult, res_blocks, z, mid_attention, g):
        super().__init__()
        chans = [m * base for m in mult]
        c_in = base
        levels = []
        for i, c in enumerate(chans):
            blocks = [AEResBlock(c_in if j == 0 else c, c, g) for j in range(res_blocks)]
            levels.append(EncoderLevel(blocks, Downsample(c) if i + 1 < len(chans) else None))
            c_in = c
        c = chans[-1]
        self.conv_in = conv(image_channels, base, 3)
        self.levels = nn.ModuleList(levels)
        self.mid1 = AEResBlock(c, c, g)
        self.mid_attn = AttnBlock(c, g) if mid_attention else None
        self.mid2 = AEResBlock(c, c, g)
        self.norm_out = nn.GroupNorm(g, c, eps=1e-6)
        self.conv_out = conv(c, 2 * z, 3)

    def forward(self, x):
        h = self.conv_in(x)
        for level in self.levels:
            for b in level.blocks:
                h = b(h)
            if level.down is not None:
                h = level.down(h)
        h = self.mid1(h)
        if self.mid_attn is not None:
            h = self.mid_attn(h)
        h = self.mid2(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class DecoderLevel(nn.Module):
    def __init__(self, blocks, up):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.up = up


class Decoder(nn.Module):
    def __init__(self, image_channels, base, mult, res_blocks, z, mid_attention, g):
        super().__init__()
        chans = [m * base for m in mult]
        top = chans[-1]
        c_in = top
        levels = []
        for i in reversed(range(len(chans))):
            c = chans[i]
            blocks = [AEResBlock(c_in if j == 0 else c, c, g) for j in range(res_blocks + 1)]
            levels.append(DecoderLevel(blocks, Upsample(c) if i > 0 else None))
            c_in = c
        self.conv_in = conv(z, top, 3)
        self.mid1 = AEResBlock(top, top, g)
        self.mid_attn = AttnBlock(top, g) if mid_attention else None
        self.mid2 = AEResBlock(top, top, g)
        self.levels = nn.ModuleList(levels)
        self.norm_out = nn.GroupNorm(g, c_in, eps=1e-6)
        self.conv_out = conv(c_in, image_channels, 3)

    def forward_with_features(self, z):
        h = self.mid1(self.conv_in(z))
        if self.mid_attn is not None:
            h = self.mid_attn(h)
        h = self.mid2(h)
        for level in self.levels:
            for b in level.blocks:
                h = b(h)
            if level.up is not None:
                h = level.up(h)
        features = F.silu(self.norm_out(h))
        return self.conv_out(features), features


class Autoencoder(nn.Module):
    def __init__(self, image_channels=3, base=64, mult=(1, 2, 2), res_blocks=1, z=4,
                 mid_attention=True, g=32):
        super().__init__()
        self.encoder = Encoder(image_channels, base, mult, res_blocks, z, mid_attention, g)
        self.decoder = Decoder(image_channels, base, mult, res_blocks, z, mid_attention, g)
        self.quant = conv(2 * z, 2 * z, 1)
        self.post_quant = conv(z, z, 1)

    def encode(self, x):
        """Posterior (mean, logvar), logvar clamped to [-30, 20]."""
        mean, logvar = self.quant(self.encoder(x)).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode_with_features(self, z):
        return self.decoder.forward_with_features(self.post_quant(z))


class Critic(nn.Module):
    """critic.rs: 4x4 convs (padding 1), GroupNorm(8, eps 1e-6) after all but the first,
    LeakyReLU 0.2; the last hidden layer has stride 1; channels 64 * min(2^i, 8)."""

    def __init__(self, image_channels=3, channels=64, layers=3):
        super().__init__()

        def ch(i):
            return channels * min(1 << i, 8)

        self.convs = nn.ModuleList([nn.Conv2d(image_channels, ch(0), 4, 2, 1)])
        self.norms = nn.ModuleList([nn.Identity()])
        for i in range(1, layers + 1):
            stride = 2 if i < layers else 1
            self.convs.append(nn.Conv2d(ch(i - 1), ch(i), 4, stride, 1))
            self.norms.append(nn.GroupNorm(8, ch(i), eps=1e-6))
        self.out = nn.Conv2d(ch(layers), 1, 4, 1, 1)

    def forward(self, x):
        h = x
        for c, n in zip(self.convs, self.norms):
            h = F.leaky_relu(n(c(h)), 0.2)
        return self.out(h)


class FeatureNet(nn.Module):
    """perceptual/net.rs: per stage conv3 (stride 2 after the first) -> GN(8) -> ReLU, twice."""

    def __init__(self, image_channels=3, channels=(32, 64, 128)):
        super().__init__()
        stages = []
        c_in = image_channels
        for i, c in enumerate(channels):
            stages.append(nn.ModuleDict({
                "conv1": conv(c_in, c, 3, stride=1 if i == 0 else 2),
                "norm1": nn.GroupNorm(8, c, eps=1e-6),
                "conv2": conv(c, c, 3),
                "norm2": nn.GroupNorm(8, c, eps=1e-6),
            }))
            c_in = c
        self.stages = nn.ModuleList(stages)

    def features(self, x):
        out = []
        h = x
        for s in self.stages:
            h = F.relu(s["norm1"](s["conv1"](h)))
            h = F.relu(s["norm2"](s["conv2"](h)))
            out.append(h)
        return out

    def distance(self, a, b):
        """distance.rs: unit-normalise channels, squared difference, sum over channels, mean
        over positions, sum over layers -> [B]."""

        def unit(f):
            return f / (f.square().sum(dim=1, keepdim=True).sqrt() + 1e-10)

        total = 0
        for fa, fb in zip(self.features(a), self.features(b)):
            d = (unit(fa) - unit(fb)).square()
            total = total + d.sum(dim=1, keepdim=True).mean(dim=(2, 3)).reshape(-1)
        return total


# ------------------------------------------------------------------------------------------
# Diffusion bits: the scaled-linear schedule, DPM-Solver++(2M) on the trailing grid
# ------------------------------------------------------------------------------------------


def alphas_cumprod(T=1000, beta_start=0.00085, beta_end=0.012):
    betas = torch.linspace(beta_start ** 0.5, beta_end ** 0.5, T, dtype=torch.float32) ** 2
    return torch.cumprod(1.0 - betas, dim=0)


def trailing_grid(ab, steps):
    T = len(ab)
    ts = [round(T - i * T / steps) - 1 for i in range(steps)]
    sig = [math.sqrt((1 - float(ab[t])) / float(ab[t])) for t in ts]
    return ts, sig + [0.0]


def global_clip(params, max_norm=1.0):
    torch.nn.utils.clip_grad_norm_(params, max_norm)


def adamw(params, betas):
    return torch.optim.AdamW(params, lr=2e-4, betas=betas, eps=1e-8, weight_decay=0.0)


def cpu_seconds():
    """CPU seconds (user + system, all threads) this process has used so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def median(v):
    s = sorted(v)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def report(bench, batch, warmup, step_ms, **extra):
    total_s = sum(step_ms) / 1e3
    out = {
        "batch": batch,
        "bench": bench,
        "impl": "pytorch",
        "threads": torch.get_num_threads(),
        "steps": len(step_ms),
        "warmup": warmup,
        "steps_per_sec": round(len(step_ms) / total_s, 3),
        "step_ms_median": round(median(step_ms), 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 3),
        "baseline_rss_mb": round(BASELINE_RSS, 3),
        "cpu_s": round(cpu_seconds(), 3),
        "torch": torch.__version__,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"),
    }
    if DEV_TYPE == "cuda":
        out.update(device=torch.cuda.get_device_name(),
                   gpu_peak_mb=round(torch.cuda.max_memory_allocated() / 2**20, 3))
    out.update(extra)
    print(json.dumps(out, sort_keys=True), flush=True)


class Phases:
    def __init__(self):
        self.d = {}

    def add(self, name, v):
        self.d.setdefault(name, []).append(v)

    def medians(self):
        return {k: round(median(v), 3) for k, v in self.d.items()}


def now():
    if DEV_TYPE == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter()


# ------------------------------------------------------------------------------------------
# Benchmarks
# ------------------------------------------------------------------------------------------


def bench_denoiser(steps, warmup, b):
    unet = UNet()
    check_params({"unet": count(unet)})
    params = list(unet.parameters())
    opt = adamw(params, (0.9, 0.999))
    ema = [p.detach().clone() for p in params]
    ab = alphas_cumprod()
    pad = pad_mask(b)
    c, h, w = LATENT
    # f16 scales the loss (ldm: train::LossScale); otherwise the scaler passes through.
    scaler = torch.amp.GradScaler(DEV_TYPE, enabled=args.precision == "f16")
    phases, times = Phases(), []
    for i in range(warmup + steps):
        t0 = now()
        x0 = torch.randn(b, c, h, w)
        noise = torch.randn(b, c, h, w)
        ts = torch.randint(0, len(ab), (b,))
        a = ab[ts][:, None, None, None]
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
        target = noise
        ctx = torch.randn(b, CTX_LEN, CTX_DIM)
        # Mixed precision as PyTorch users run it; the loss in f32 (ldm: train::Precision).
        with torch.autocast(DEV_TYPE, dtype=HALF.get(args.precision, torch.float32),
                            enabled=args.precision in HALF):
            pred = unet(x_t, ts.float(), ctx, pad)
        pred = pred.float()
        weights = torch.ones(b)
        loss = ((pred - target).square().reshape(b, -1).mean(dim=1) * weights).mean()
        loss.item()
        t1 = now()
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        t2 = now()
        scaler.unscale_(opt)
        global_clip(params, 1.0)
        t3 = now()
        scaler.step(opt)
        scaler.update()
        t4 = now()
        # Ema (ldm_core::train::Ema): decay warm-up min(d, (1 + n) / (10 + n)).
        d = min(0.999, (1 + i) / (10 + i))
        with torch.no_grad():
            for e, p in zip(ema, params):
                e.mul_(d).add_(p, alpha=1 - d)
        t5 = now()
        if i >= warmup:
            times.append((t5 - t0) * 1e3)
            phases.add("forward", (t1 - t0) * 1e3)
            phases.add("backward", (t2 - t1) * 1e3)
            phases.add("clip", (t3 - t2) * 1e3)
            phases.add("optimizer", (t4 - t3) * 1e3)
            phases.add("ema", (t5 - t4) * 1e3)
    report("denoiser", b, warmup, times, params={"unet": count(unet)}, precision=args.precision,
           phases_ms=phases.medians())


def bench_autoencoder(steps, warmup, b):
    ae, critic, perceptual = Autoencoder(), Critic(), FeatureNet()
    perceptual.requires_grad_(False)
    counts = {"autoencoder": count(ae), "critic": count(critic), "perceptual": count(perceptual)}
    check_params(counts)
    ae_params, critic_params = list(ae.parameters()), list(critic.parameters())
    opt_ae, opt_critic = adamw(ae_params, (0.5, 0.9)), adamw(critic_params, (0.5, 0.9))
    kl_weight, perceptual_weight, disc_weight = 1e-6, 1.0, 0.5
    conv_out = ae.decoder.conv_out
    phases, times = Phases(), []

    def weight_grad_norm(features, grad_out):
        # step.rs: conv the (detached) input with a tracked copy of the weight, backward
        # sum(out * grad_out), norm of the weight's gradient.
        wt = conv_out.weight.detach().requires_grad_()
        out = F.conv2d(features.detach(), wt, None, padding=1)
        (g,) = torch.autograd.grad((out * grad_out).sum(), wt)
        return g.square().sum().item() ** 0.5

    for i in range(warmup + steps):
        t0 = now()
        x = torch.rand(b, *IMAGE) * 2 - 1
        # generator_step (step.rs), GAN on.
        mean, logvar = ae.encode(x)
        z = mean + (0.5 * logvar).exp() * torch.randn_like(mean)
        recon, features = ae.decode_with_features(z)
        kl = 0.5 * (mean.square() + logvar.exp() - logvar - 1.0).sum() / b
        kl.item()
        out_rec = recon.detach().requires_grad_()
        pixel = (out_rec - x).abs().mean()
        pixel.item()
        p = perceptual.distance(out_rec, x).mean()
        p.item()
        rec = pixel + p * perceptual_weight
        rec.item()
        (g_rec,) = torch.autograd.grad(rec, out_rec)
        out_gan = recon.detach().requires_grad_()
        gan = -critic(out_gan).mean()
        gan.item()
        # Only the output's gradient: ldm judges with a frozen copy of the critic here.
        (g_gan,) = torch.autograd.grad(gan, out_gan)
        lam = disc_weight * min(max(weight_grad_norm(features, g_rec)
                                    / (weight_grad_norm(features, g_gan) + 1e-4), 0.0), 1e4)
        g_out = g_rec + g_gan * lam
        surrogate = (recon * g_out).sum() + kl * kl_weight
        opt_ae.zero_grad(set_to_none=True)
        surrogate.backward()
        t1 = now()
        global_clip(ae_params, 1.0)
        opt_ae.step()
        t2 = now()
        # critic_step: real and fake images in one pass, as ldm runs them.
        logits = critic(torch.cat([x, recon.detach()]))
        lr_, lf = logits[:b], logits[b:]
        lr_.mean().item()
        lf.mean().item()
        loss = (F.relu(1.0 - lr_).mean() + F.relu(1.0 + lf).mean()) * 0.5
        loss.item()
        opt_critic.zero_grad(set_to_none=True)
        loss.backward()
        t3 = now()
        global_clip(critic_params, 1.0)
        opt_critic.step()
        t4 = now()
        if i >= warmup:
            times.append((t4 - t0) * 1e3)
            phases.add("generator", (t1 - t0) * 1e3)
            phases.add("generator_opt", (t2 - t1) * 1e3)
            phases.add("critic", (t3 - t2) * 1e3)
            phases.add("critic_opt", (t4 - t3) * 1e3)
    report("autoencoder", b, warmup, times, params=counts, phases_ms=phases.medians())


def bench_sampling(steps, warmup, b):
    unet = UNet()
    check_params({"unet": count(unet)})
    unet.requires_grad_(False)
    ctx = torch.randn(2 * b, CTX_LEN, CTX_DIM)
    pad = pad_mask(2 * b)
    scale = 5.0
    c, h, w = LATENT

    def guided(x_t, t):
        out = unet(torch.cat([x_t, x_t]), torch.cat([t, t]), ctx, pad)
        uncond, cond = out[:b], out[b:]
        return uncond + (cond - uncond) * scale

    def denoise(x, sigma, t):
        # samplers/mod.rs Model::denoise for an eps network: x0 = x - sigma * eps.
        s = math.sqrt(1.0 + sigma * sigma)
        eps = guided(x / s, torch.full((b,), float(t)))
        return x - eps * sigma

    with torch.inference_mode():
        for _ in range(warmup):
            guided(torch.randn(b, c, h, w), torch.full((b,), 500.0))
        ts, sig = trailing_grid(alphas_cumprod(), steps)
        t0 = now()
        x = torch.randn(b, c, h, w) * math.sqrt(1.0 + sig[0] ** 2)
        prev = None
        for i in range(steps):
            sigma, nxt = sig[i], sig[i + 1]
            d = denoise(x, sigma, ts[i])
            if nxt == 0.0:
                x = d
            else:
                hh = math.log(sigma / nxt)
                dd = d
                if prev is not None:
                    old, s_prev = prev
                    r = math.log(s_prev / sigma) / hh
                    dd = d * (1 + 1 / (2 * r)) - old * (1 / (2 * r))
                x = x * math.exp(-hh) + dd * (-math.expm1(-hh))
            prev = (d, sigma)
        total = now() - t0
    report("sampling", b, warmup, [total * 1e3 / steps] * steps, params={"unet": count(unet)},
           images_per_sec=round(b / total, 3), seconds_per_batch=round(total, 3))


def bench_encoding(steps, warmup, b):
    ae = Autoencoder()
    check_params({"autoencoder": count(ae)})
    ae.requires_grad_(False)
    times = []
    with torch.inference_mode():
        for i in range(warmup + steps):
            x = torch.rand(b, *IMAGE) * 2 - 1
            t0 = now()
            mean, logvar = ae.encode(x)
            mean.contiguous()
            (0.5 * logvar).exp()
            if i >= warmup:
                times.append((now() - t0) * 1e3)
    report("encoding", b, warmup, times, params={"autoencoder": count(ae)},
           images_per_sec=round(b * len(times) / (sum(times) / 1e3), 3))


# ------------------------------------------------------------------------------------------
# Op breakdown (names and sizes match bench_ops in benches/train_steps.rs)
# ------------------------------------------------------------------------------------------


def time_op(min_time, f):
    f()
    f()
    v = []
    start = now()
    while len(v) < 3 or (now() - start < min_time and len(v) < 200):
        t = now()
        f()
        v.append((now() - t) * 1e3)
    return median(v)


def op(name, min_time, make_inputs, fn):
    if args.only not in name:
        return
    x = make_inputs()
    with torch.no_grad():
        fwd = time_op(min_time, lambda: fn(*x))
    xa = [t.clone().requires_grad_() for t in make_inputs()]
    # A module's own parameters get gradients too, as they do in ldm's autodiff.
    wrt = xa + (list(fn.parameters()) if isinstance(fn, nn.Module) else [])
    with torch.no_grad():
        g = torch.randn_like(fn(*make_inputs()))

    def fb():
        y = fn(*xa)
        torch.autograd.grad((y * g).sum(), wrt)

    fwdbwd = time_op(min_time, fb)
    print(json.dumps({"bench": "ops", "impl": "pytorch", "threads": torch.get_num_threads(),
                      "op": name, "fwd_ms": round(fwd, 3), "fwdbwd_ms": round(fwdbwd, 3),
                      "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"),
                      "cpu_s": round(cpu_seconds(), 3)}),
          flush=True)


def bench_ops(b, min_time):
    def conv_op(name, ci, co, k, s, hw):
        p = (k - 1) // 2  # 1 for the critic's 4x4
        op(name, min_time,
           lambda: [torch.randn(b, ci, hw, hw), torch.randn(co, ci, k, k) * 0.05],
           lambda x, w: F.conv2d(x, w, None, stride=s, padding=p))
        # The two halves of its backward, the kernels autograd runs.
        x, w = torch.randn(b, ci, hw, hw), torch.randn(co, ci, k, k)
        ho = (hw + 2 * p - k) // s + 1
        g = torch.randn(b, co, ho, ho)

        def half(mask):
            return lambda: torch.ops.aten.convolution_backward(
                g, x, w, None, [s, s], [p, p], [1, 1], False, [0, 0], 1, mask)

        with torch.no_grad():
            for suffix, mask in (("dx", [True, False, False]), ("dW", [False, True, False])):
                if args.only not in f"{name} {suffix}":
                    continue
                t = time_op(min_time, half(mask))
                print(json.dumps({"bench": "ops", "impl": "pytorch", "threads": torch.get_num_threads(),
                                  "op": f"{name} {suffix}", "fwd_ms": round(t, 3), "fwdbwd_ms": None,
                                  "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"),
                                  "cpu_s": round(cpu_seconds(), 3)}), flush=True)

    conv_op("conv3x3 64->64 16x16", 64, 64, 3, 1, 16)
    conv_op("conv3x3 192->64 16x16", 192, 64, 3, 1, 16)
    conv_op("conv3x3 128->128 8x8", 128, 128, 3, 1, 8)
    conv_op("conv3x3 s2 64->64 16x16", 64, 64, 3, 2, 16)
    conv_op("conv1x1 128->128 8x8", 128, 128, 1, 1, 8)
    conv_op("conv3x3 32->32 32x32", 32, 32, 3, 1, 32)
    conv_op("conv3x3 64->64 32x32", 64, 64, 3, 1, 32)
    conv_op("conv3x3 32->3 32x32", 32, 3, 3, 1, 32)
    conv_op("conv4x4 s2 64->128 16x16", 64, 128, 4, 2, 16)
    conv_op("conv4x4 s2 128->256 8x8", 128, 256, 4, 2, 8)
    conv_op("conv4x4 256->512 4x4", 256, 512, 4, 1, 4)
    conv_op("conv4x4 s2 3->64 32x32", 3, 64, 4, 2, 32)
    conv_op("conv4x4 512->1 3x3", 512, 1, 4, 1, 3)
    for c, hw in [(64, 16), (128, 8)]:
        gn = nn.GroupNorm(32, c, eps=1e-5)
        op(f"groupnorm 32g {c}ch {hw}x{hw}", min_time, lambda c=c, hw=hw: [torch.randn(b, c, hw, hw)], gn)
        op(f"groupnorm+silu 32g {c}ch {hw}x{hw}", min_time, lambda c=c, hw=hw: [torch.randn(b, c, hw, hw)],
           lambda x, gn=gn: F.silu(gn(x)))
    ln = nn.LayerNorm(128)
    op("layernorm 128 [b,64,128]", min_time, lambda: [torch.randn(b, 64, 128)], ln)
    for d_in, d_out in [(128, 1024), (512, 128), (128, 128)]:
        for folded in (False, True):
            lin = nn.Linear(d_in, d_out)
            if folded:
                name, shape = f"linear {d_in}->{d_out} [1,b*64,{d_in}]", (1, b * 64, d_in)
            else:
                name, shape = f"linear {d_in}->{d_out} [b,64,{d_in}]", (b, 64, d_in)
            op(name, min_time, lambda shape=shape: [torch.randn(*shape)], lin)
    op("matmul [b,64,128]x[128,128]", min_time,
       lambda: [torch.randn(b, 64, 128), torch.randn(1, 128, 128)], torch.matmul)
    # From and back to the [B, tokens, heads x 32] layout of the projections, as the model does.
    def heads_attention(q, k, v, mask=None):
        split = lambda t: t.view(t.shape[0], t.shape[1], 4, 32).transpose(1, 2)
        o = F.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=mask)
        return o.transpose(1, 2).reshape(q.shape)
    op("self-attention 4h 64tok d32", min_time,
       lambda: [torch.randn(b, 64, 128) for _ in range(3)], heads_attention)
    keep = (~pad_mask(b))[:, None, None, :]
    op("cross-attention 4h 64x8tok d32 masked", min_time,
       lambda: [torch.randn(b, 64, 128), torch.randn(b, CTX_LEN, 128), torch.randn(b, CTX_LEN, 128)],
       lambda q, k, v: heads_attention(q, k, v, keep))
    op("silu [b,64,16,16]", min_time, lambda: [torch.randn(b, 64, 16, 16)], F.silu)
    op("gelu [b,64,512]", min_time, lambda: [torch.randn(b, 64, 512)], F.gelu)
    op("geglu [b,64,1024]", min_time, lambda: [torch.randn(b, 64, 1024)],
       lambda h: h.chunk(2, dim=-1)[0] * F.gelu(h.chunk(2, dim=-1)[1]))
    op("add [b,64,16,16]", min_time, lambda: [torch.randn(b, 64, 16, 16), torch.randn(b, 64, 16, 16)],
       torch.add)
    op("mul [b,64,16,16]", min_time, lambda: [torch.randn(b, 64, 16, 16), torch.randn(b, 64, 16, 16)],
       torch.mul)
    op("cat [b,128,16,16]+[b,64,16,16]", min_time,
       lambda: [torch.randn(b, 128, 16, 16), torch.randn(b, 64, 16, 16)],
       lambda x, y: torch.cat([x, y], dim=1))
    op("upsample nearest x2 [b,128,8,8]", min_time, lambda: [torch.randn(b, 128, 8, 8)],
       lambda x: F.interpolate(x, scale_factor=2.0, mode="nearest"))


DEFAULTS = {  # (steps, warmup, batch), as in benches/train_steps.rs
    "denoiser": (10, 2, 16),
    "autoencoder": (4, 1, 16),
    "sampling": (50, 2, 16),
    "encoding": (5, 1, 64),
    "ops": (0, 0, 16),
}

if __name__ == "__main__":
    steps, warmup, batch = DEFAULTS[args.bench]
    steps = args.steps if args.steps is not None else steps
    warmup = args.warmup if args.warmup is not None else warmup
    batch = args.batch if args.batch is not None else batch
    if args.bench == "ops":
        bench_ops(batch, args.min_time)
    else:
        {"denoiser": bench_denoiser, "autoencoder": bench_autoencoder, "sampling": bench_sampling,
         "encoding": bench_encoding}[args.bench](steps, warmup, batch)
