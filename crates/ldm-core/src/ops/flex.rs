//! The `flex` kernels: f32 loops over contiguous data, split across rayon's threads, with the
//! vectorizable functions of [`super::math`]. Other dtypes take the stock composition.

use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::{DType, Shape, TensorMetadata};
use burn::tensor::Bytes;
use rayon::prelude::*;

/// Elements per rayon task: big enough to amortize the split, small enough for two cores
/// to share a 256 x 64 x 16 x 16 activation evenly.
pub(super) const CHUNK: usize = 1 << 14;

/// The tensor with its elements in order from the start of its storage (copied only where
/// they are not).
pub fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.layout().is_contiguous() && t.layout().start_offset() == 0 {
        t
    } else {
        t.to_contiguous()
    }
}

/// [`contiguous`] for an f32 tensor; None for other dtypes (the caller then takes the stock
/// operation).
pub fn f32_contiguous(t: FlexTensor) -> Option<FlexTensor> {
    (t.dtype() == DType::F32).then(|| contiguous(t))
}

/// Whether the tensors are all f32 of one shape: what the elementwise kernels take (others
/// go to the stock composition).
pub fn f32_alike(ts: &[&FlexTensor]) -> bool {
    ts.iter()
        .all(|t| t.dtype() == DType::F32 && t.shape() == ts[0].shape())
}

/// A contiguous f32 tensor of `shape` over `data`.
pub fn f32_tensor(data: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(data),
        Layout::contiguous(shape.into()),
        DType::F32,
    )
}

/// Run `body` compiled for AVX-512 or AVX2 where the CPU has it (checked at run time; the
/// binary stays portable): loops over the inlined math functions then use 16 or 8 lanes
/// instead of SSE2's 4. For small closures; larger bodies go through [`Kernel`].
#[inline(always)]
pub fn wide(body: impl FnOnce()) {
    struct Closure<F>(F);
    impl<F: FnOnce()> Kernel for Closure<F> {
        type Out = ();
        #[inline(always)]
        fn run(self) {
            (self.0)()
        }
    }
    run_wide(Closure(body))
}

/// A kernel body for [`run_wide`]. Its `run` must be `#[inline(always)]`: that is what puts
/// the body inside the AVX-compiled functions. A large closure passed to [`wide`] is left out
/// of line by LLVM (measured on GroupNorm + SiLU: compiled for SSE2, 3x slower).
pub trait Kernel {
    type Out;
    fn run(self) -> Self::Out;
}

/// `k.run()` compiled for AVX-512 or AVX2 where the CPU has it.
#[inline(always)]
pub fn run_wide<K: Kernel>(k: K) -> K::Out {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx2,fma")]
        fn avx512<K: Kernel>(k: K) -> K::Out {
            k.run()
        }
        #[target_feature(enable = "avx2")]
        fn avx2<K: Kernel>(k: K) -> K::Out {
            k.run()
        }
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX-512F, AVX2 (implied) and FMA, checked just above.
            return unsafe { avx512(k) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { avx2(k) };
        }
    }
    k.run()
}

/// A zeroed buffer of `n` floats for a kernel's output, zeroed by all threads when large:
/// zeroing a recycled multi-megabyte allocation on the calling thread was 10% of that
/// thread's time in the denoiser step (`perf`), time the other threads sat idle.
pub fn zeros(n: usize) -> Vec<f32> {
    if n < 4 * CHUNK {
        return vec![0.0; n];
    }
    let mut v = Vec::with_capacity(n);
    v.par_extend(rayon::iter::repeat_n(0.0f32, n));
    v
}

/// `f` applied to every element of an f32 tensor (None for other dtypes), written over `x`
/// when nothing else holds it.
pub fn map(x: FlexTensor, f: impl Fn(f32) -> f32 + Sync) -> Option<FlexTensor> {
    let mut x = f32_contiguous(x)?;
    let shape = x.shape();
    let n = shape.num_elements();
    if x.is_unique()
        && let Some(xs) = x.try_storage_mut::<f32>()
    {
        xs[..n]
            .par_chunks_mut(CHUNK)
            .for_each(|o| run_wide(Over { o, f: &f }));
        return Some(x);
    }
    let src: &[f32] = &x.storage::<f32>()[..n];
    let mut out = zeros(n);
    out.par_chunks_mut(CHUNK)
        .zip(src.par_chunks(CHUNK))
        .for_each(|(o, s)| wide(|| o.iter_mut().zip(s).for_each(|(o, &s)| *o = f(s))));
    Some(f32_tensor(out, shape))
}

/// `f(x, g)` element by element, for backward kernels (None unless both are f32 and alike).
/// The result is written over `g` when nothing else holds it (the usual case for a gradient).
pub fn zip(x: FlexTensor, g: FlexTensor, f: impl Fn(f32, f32) -> f32 + Sync) -> Option<FlexTensor> {
    if x.shape() != g.shape() {
        return None;
    }
    let (x, mut g) = (f32_contiguous(x)?, f32_contiguous(g)?);
    let n = x.shape().num_elements();
    let xs: &[f32] = &x.storage::<f32>()[..n];
    if g.is_unique()
        && let Some(gs) = g.try_storage_mut::<f32>()
    {
        gs[..n]
            .par_chunks_mut(CHUNK)
            .zip(xs.par_chunks(CHUNK))
            .for_each(|(o, x)| run_wide(InPlace { o, x, f: &f }));
        return Some(g);
    }
    let gs: &[f32] = &g.storage::<f32>()[..n];
    let mut out = zeros(n);
    out.par_chunks_mut(CHUNK)
        .zip(xs.par_chunks(CHUNK).zip(gs.par_chunks(CHUNK)))
        .for_each(|(o, (x, g))| run_wide(Apart { o, x, g, f: &f }));
    Some(f32_tensor(out, x.shape()))
}

/// `o = f(o)`.
struct Over<'a, F> {
    o: &'a mut [f32],
    f: &'a F,
}

impl<F: Fn(f32) -> f32> Kernel for Over<'_, F> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        for o in self.o.iter_mut() {
            *o = (self.f)(*o);
        }
    }
}

/// `o = f(x, o)`: a [`Kernel`], so the loop is compiled inside the wide functions (as a
/// closure with a branch in it, LLVM left it out of line, compiled for SSE2: 3-4x slower).
struct InPlace<'a, F> {
    o: &'a mut [f32],
    x: &'a [f32],
    f: &'a F,
}

impl<F: Fn(f32, f32) -> f32> Kernel for InPlace<'_, F> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        for (o, &x) in self.o.iter_mut().zip(self.x) {
            *o = (self.f)(x, *o);
        }
    }
}

/// `o = f(x, g)`, for a gradient that other tensors still hold.
struct Apart<'a, F> {
    o: &'a mut [f32],
    x: &'a [f32],
    g: &'a [f32],
    f: &'a F,
}

impl<F: Fn(f32, f32) -> f32> Kernel for Apart<'_, F> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        for ((o, &x), &g) in self.o.iter_mut().zip(self.x).zip(self.g) {
            *o = (self.f)(x, g);
        }
    }
}
