//! The op breakdown (`train_steps ops`): single ops at the denoiser benchmark's sizes, timed
//! forward and forward + backward, to locate the gap before attacking it.

use burn::backend::Dispatch;
use burn::backend::tensor::FloatTensor;
use burn::nn::{GroupNormConfig, LayerNormConfig, LinearConfig};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{ConvOptions, InterpolateMode, InterpolateOptions};
use ldm_core::ops::{attention, geglu, layer_norm, linear};

use super::*;

/// Median ms of `f` after two warm-up calls, timed for at least `min_time` seconds (3 to 200
/// calls).
fn time_op(min_time: f64, mut f: impl FnMut()) -> f64 {
    f();
    f();
    let mut v = Vec::new();
    let start = Instant::now();
    while v.len() < 3 || (start.elapsed().as_secs_f64() < min_time && v.len() < 200) {
        let t = Instant::now();
        f();
        v.push(ms(t));
    }
    median(&v)
}

type Float = FloatTensor<Dispatch>;

/// `--only`: the substring an op's name must contain to be run (empty: every op).
static ONLY: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The batch every op runs at, for the results.
static BATCH: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

fn wanted(name: &str) -> bool {
    name.contains(ONLY.get().map_or("", String::as_str))
}

fn rand4(shape: [usize; 4], d: &Device) -> Tensor<4> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), d)
}

fn rand3(shape: [usize; 3], d: &Device) -> Tensor<3> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), d)
}

/// An op timed forward (no autodiff) and forward + backward (autodiff; the loss is
/// `sum(y * g)` with a fixed random `g`, gradients for every input). `inputs` builds the
/// op's inputs on a device; `op` applies it.
fn bench_op<const D: usize>(
    name: &str,
    min_time: f64,
    inputs: &dyn Fn(&Device) -> Vec<Tensor<D>>,
    op: &dyn Fn(Vec<Tensor<D>>) -> Tensor<D>,
) {
    if !wanted(name) {
        return;
    }
    let dev = Device::flex();
    let ad = dev.clone().autodiff();
    let x = inputs(&dev);
    let fwd = time_op(min_time, || {
        let _ = op(x.clone());
    });
    let xa: Vec<Tensor<D>> = inputs(&ad).into_iter().map(|t| t.require_grad()).collect();
    let g = op(inputs(&dev)).random_like(Distribution::Normal(0.0, 1.0));
    let g = Tensor::<D>::from_data(g.into_data(), &ad);
    let fwdbwd = time_op(min_time, || {
        let y = op(xa.clone());
        let grads = (y * g.clone()).sum().backward();
        for t in &xa {
            let _ = t.grad(&grads);
        }
    });
    print_op(name, fwd, fwdbwd);
}

fn print_op(name: &str, fwd: f64, fwdbwd: f64) {
    println!(
        "{}",
        json!({
            "bench": "ops",
            "impl": "ldm",
            "threads": rayon::current_num_threads(),
            "batch": BATCH.get(),
            "op": name,
            "fwd_ms": round3(fwd),
            "fwdbwd_ms": round3(fwdbwd),
            "cpu_s": round3(cpu_seconds()),
        })
    );
}

/// Ops at the sizes of the denoiser benchmark (batch `b`, latents 16x16, channels 64-128,
/// 64 tokens of width 128 at level 1, text context of 8 tokens). Names must match
/// scripts/bench_reference.py's.
pub fn bench_ops(b: usize, min_time: f64, only: &str) {
    ONLY.set(only.to_string()).expect("bench_ops runs once");
    BATCH.set(b).expect("bench_ops runs once");
    let conv = |name: &str, ci: usize, co: usize, k: usize, s: usize, hw: usize| {
        let p = (k - 1) / 2; // 1 for the critic's 4x4
        bench_op::<4>(
            name,
            min_time,
            &|d| {
                vec![
                    rand4([b, ci, hw, hw], d),
                    rand4([co, ci, k, k], d).mul_scalar(0.05),
                ]
            },
            &|v| {
                let mut v = v.into_iter();
                let (x, w) = (v.next().unwrap(), v.next().unwrap());
                let opts = ConvOptions::new([s, s], [p, p], [1, 1], 1);
                Tensor::from_dispatch(<Dispatch as FastOps>::fast_conv2d(
                    x.into_dispatch(),
                    w.into_dispatch(),
                    opts,
                ))
            },
        );
        // The two halves of its backward, as autodiff runs them: ldm's kernels
        // (`ldm_core::ops`), the input gradient by col2im, the weight gradient by one GEMM
        // per image.
        if !wanted(&format!("{name} dx")) && !wanted(&format!("{name} dW")) {
            return;
        }
        let dev = Device::flex();
        let (x, w) = (rand4([b, ci, hw, hw], &dev), rand4([co, ci, k, k], &dev));
        let ho = (hw + 2 * p - k) / s + 1;
        let g = rand4([b, co, ho, ho], &dev);
        let opts = ConvOptions::new([s, s], [p, p], [1, 1], 1);
        type Half = fn(Float, Float, Float, ConvOptions<2>) -> Float;
        let halves: [(&str, Half); 2] = [
            ("dx", <Dispatch as FastOps>::fast_conv2d_x_backward),
            ("dW", <Dispatch as FastOps>::fast_conv2d_weight_backward),
        ];
        for (suffix, half) in halves {
            let op = format!("{name} {suffix}");
            if !wanted(&op) {
                continue;
            }
            let ms = time_op(min_time, || {
                let _ = half(
                    x.clone().into_dispatch(),
                    w.clone().into_dispatch(),
                    g.clone().into_dispatch(),
                    opts.clone(),
                );
            });
            print_op(&op, ms, f64::NAN);
        }
    };
    conv("conv3x3 64->64 16x16", 64, 64, 3, 1, 16);
    conv("conv3x3 192->64 16x16", 192, 64, 3, 1, 16);
    conv("conv3x3 128->128 8x8", 128, 128, 3, 1, 8);
    conv("conv3x3 s2 64->64 16x16", 64, 64, 3, 2, 16);
    conv("conv1x1 128->128 8x8", 128, 128, 1, 1, 8);
    conv("conv3x3 32->32 32x32", 32, 32, 3, 1, 32);
    conv("conv3x3 64->64 32x32", 64, 64, 3, 1, 32);
    conv("conv3x3 32->3 32x32", 32, 3, 3, 1, 32);
    conv("conv4x4 s2 64->128 16x16", 64, 128, 4, 2, 16);
    conv("conv4x4 s2 128->256 8x8", 128, 256, 4, 2, 8);
    conv("conv4x4 256->512 4x4", 256, 512, 4, 1, 4);
    conv("conv4x4 s2 3->64 32x32", 3, 64, 4, 2, 32);
    conv("conv4x4 512->1 3x3", 512, 1, 4, 1, 3);

    for (c, hw) in [(64usize, 16usize), (128, 8)] {
        let gn = |d: &Device| GroupNormConfig::new(32, c).with_epsilon(1e-5).init(d);
        let (gn_plain, gn_ad) = (gn(&Device::flex()), gn(&Device::flex().autodiff()));
        type Norm = fn(&burn::nn::GroupNorm, Tensor<4>) -> Tensor<4>;
        let fused: [(&str, Norm); 2] = [
            ("groupnorm", ldm_core::ops::group_norm),
            ("groupnorm+silu", ldm_core::ops::group_norm_silu),
        ];
        for (what, f) in fused {
            let name = format!("{what} 32g {c}ch {hw}x{hw}");
            bench_op::<4>(&name, min_time, &|d| vec![rand4([b, c, hw, hw], d)], &|v| {
                let x = v.into_iter().next().unwrap();
                f(
                    if x.device().is_autodiff() {
                        &gn_ad
                    } else {
                        &gn_plain
                    },
                    x,
                )
            });
        }
    }

    let ln = |d: &Device| LayerNormConfig::new(128).init(d);
    let (ln_plain, ln_ad) = (ln(&Device::flex()), ln(&Device::flex().autodiff()));
    bench_op::<3>(
        "layernorm 128 [b,64,128]",
        min_time,
        &|d| vec![rand3([b, 64, 128], d)],
        &|v| {
            let x = v.into_iter().next().unwrap();
            let ln = if x.device().is_autodiff() {
                &ln_ad
            } else {
                &ln_plain
            };
            layer_norm(ln, 1e-5, x)
        },
    );

    // The transformer's Linears on [B, tokens, dim] as the model calls them (ldm's `linear`:
    // one GEMM over the rows, bias inside it, its own backward), and burn's
    // `Linear::forward` on the same rows folded into [1, B * tokens, dim], for comparison.
    for (d_in, d_out) in [(128usize, 1024usize), (512, 128), (128, 128)] {
        for folded in [false, true] {
            let lin = |d: &Device| LinearConfig::new(d_in, d_out).init(d);
            let (plain, ad) = (lin(&Device::flex()), lin(&Device::flex().autodiff()));
            let (name, shape) = if folded {
                (
                    format!("linear {d_in}->{d_out} [1,b*64,{d_in}]"),
                    [1, b * 64, d_in],
                )
            } else {
                (
                    format!("linear {d_in}->{d_out} [b,64,{d_in}]"),
                    [b, 64, d_in],
                )
            };
            bench_op::<3>(&name, min_time, &|d| vec![rand3(shape, d)], &|v| {
                let x = v.into_iter().next().unwrap();
                let lin = if x.device().is_autodiff() {
                    &ad
                } else {
                    &plain
                };
                if folded {
                    lin.forward(x)
                } else {
                    linear(lin, x)
                }
            });
        }
    }
    bench_op::<3>(
        "matmul [b,64,128]x[128,128]",
        min_time,
        &|d| vec![rand3([b, 64, 128], d), rand3([1, 128, 128], d)],
        &|v| {
            let mut v = v.into_iter();
            let (x, w) = (v.next().unwrap(), v.next().unwrap());
            x.matmul(w)
        },
    );

    // ldm's attention on the [B, tokens, heads x 32] layout the models hand it (PyTorch's
    // scaled_dot_product_attention on the [B, heads, tokens, 32] views of the same data).
    bench_op::<3>(
        "self-attention 4h 64tok d32",
        min_time,
        &|d| (0..3).map(|_| rand3([b, 64, 128], d)).collect(),
        &|v| {
            let mut v = v.into_iter();
            let (q, k, vv) = (v.next().unwrap(), v.next().unwrap(), v.next().unwrap());
            attention(q, k, vv, None, 4)
        },
    );
    bench_op::<3>(
        "cross-attention 4h 64x8tok d32 masked",
        min_time,
        &|d| {
            vec![
                rand3([b, 64, 128], d),
                rand3([b, CTX_LEN, 128], d),
                rand3([b, CTX_LEN, 128], d),
            ]
        },
        &|v| {
            let dev = v[0].device();
            let mut v = v.into_iter();
            let (q, k, vv) = (v.next().unwrap(), v.next().unwrap(), v.next().unwrap());
            attention(q, k, vv, Some(pad_mask(b, &dev)), 4)
        },
    );

    bench_op::<4>(
        "silu [b,64,16,16]",
        min_time,
        &|d| vec![rand4([b, 64, 16, 16], d)],
        &|v| silu(v.into_iter().next().unwrap()),
    );
    bench_op::<3>(
        "gelu [b,64,512]",
        min_time,
        &|d| vec![rand3([b, 64, 512], d)],
        &|v| gelu(v.into_iter().next().unwrap()),
    );
    bench_op::<3>(
        "geglu [b,64,1024]",
        min_time,
        &|d| vec![rand3([b, 64, 1024], d)],
        &|v| geglu(v.into_iter().next().unwrap()),
    );
    bench_op::<4>(
        "add [b,64,16,16]",
        min_time,
        &|d| vec![rand4([b, 64, 16, 16], d), rand4([b, 64, 16, 16], d)],
        &|v| {
            let mut v = v.into_iter();
            v.next().unwrap() + v.next().unwrap()
        },
    );
    bench_op::<4>(
        "mul [b,64,16,16]",
        min_time,
        &|d| vec![rand4([b, 64, 16, 16], d), rand4([b, 64, 16, 16], d)],
        &|v| {
            let mut v = v.into_iter();
            v.next().unwrap() * v.next().unwrap()
        },
    );
    bench_op::<4>(
        "cat [b,128,16,16]+[b,64,16,16]",
        min_time,
        &|d| vec![rand4([b, 128, 16, 16], d), rand4([b, 64, 16, 16], d)],
        &|v| Tensor::cat(v, 1),
    );
    bench_op::<4>(
        "upsample nearest x2 [b,128,8,8]",
        min_time,
        &|d| vec![rand4([b, 128, 8, 8], d)],
        &|v| {
            let opts =
                InterpolateOptions::new(InterpolateMode::Nearest).with_scale_factor([2.0, 2.0]);
            interpolate(v.into_iter().next().unwrap(), opts)
        },
    );
}
