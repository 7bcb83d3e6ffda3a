//! Multi-head attention through [`FastOps::fast_attention`], on the `[B, tokens, H·D]`
//! layout the projections produce: the same result as splitting the heads and calling
//! `burn::tensor::module::attention` with the padding mask.

use burn::backend::Dispatch;
use burn::tensor::{Bool, DType, Tensor};

use super::FastOps;
use super::precision::in_f32;

/// `q` `[B, N, H·D]` attends to `k`, `v` `[B, L, H·D]` with `heads` heads and scores scaled
/// by 1/√D; `pad` `[B, L]` is true at keys that receive no attention (at least one key per
/// image must be free). Output `[B, N, H·D]`, computed in f32 and returned in `q`'s dtype.
pub fn attention(
    q: Tensor<3>,
    k: Tensor<3>,
    v: Tensor<3>,
    pad: Option<Tensor<2, Bool>>,
    heads: usize,
) -> Tensor<3> {
    let [b, l, _] = k.dims();
    let pad = match pad {
        Some(p) => p.float(),
        None => Tensor::zeros([b, l], &k.device()),
    };
    in_f32(q, |q| {
        Tensor::from_dispatch(<Dispatch as FastOps>::fast_attention(
            q.into_dispatch(),
            k.cast(DType::F32).into_dispatch(),
            v.cast(DType::F32).into_dispatch(),
            pad.cast(DType::F32).into_dispatch(),
            heads,
        ))
    })
}

#[cfg(test)]
mod tests {
    use burn::tensor::module::attention as stock_attention;
    use burn::tensor::ops::AttentionModuleOptions;
    use burn::tensor::{Bool, Device, Distribution, Tensor, TensorData};

    fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    /// burn's attention with the heads split out, as the models called it before.
    fn stock(
        q: Tensor<3>,
        k: Tensor<3>,
        v: Tensor<3>,
        pad: Option<Tensor<2, Bool>>,
        h: usize,
    ) -> Tensor<3> {
        let [b, n, c] = q.dims();
        let l = k.dims()[1];
        let split = |t: Tensor<3>, len: usize| t.reshape([b, len, h, c / h]).swap_dims(1, 2);
        let mask = pad.map(|p| p.reshape([b, 1, 1, l]).expand([b, h, n, l]));
        let o = stock_attention(
            split(q, n),
            split(k, l),
            split(v, l),
            mask,
            None,
            AttentionModuleOptions::default(),
        );
        o.swap_dims(1, 2).reshape([b, n, c])
    }

    /// Padding: image i has its last i keys padded (image 0 none).
    fn pad_mask(b: usize, l: usize, device: &Device) -> Tensor<2, Bool> {
        let v: Vec<bool> = (0..b)
            .flat_map(|i| (0..l).map(move |j| j + i >= l))
            .collect();
        Tensor::from_data(TensorData::new(v, [b, l]), device)
    }

    /// Output and the gradients of q, k and v equal the stock composition's, with and
    /// without padding, on the flex device (ldm's kernel) under autodiff.
    fn check(b: usize, n: usize, l: usize, c: usize, heads: usize, padded: bool) {
        let ad = Device::flex().autodiff();
        let r = |s: [usize; 3]| Tensor::<3>::random(s, Distribution::Normal(0.0, 1.0), &ad);
        let (q0, k0, v0) = (r([b, n, c]), r([b, l, c]), r([b, l, c]));
        let g = r([b, n, c]);
        let pad = padded.then(|| pad_mask(b, l, &ad));
        type Attn<'a> = &'a dyn Fn(Tensor<3>, Tensor<3>, Tensor<3>) -> Tensor<3>;
        let run = |f: Attn| {
            let (q, k, v) = (
                q0.clone().detach().require_grad(),
                k0.clone().detach().require_grad(),
                v0.clone().detach().require_grad(),
            );
            let y = f(q.clone(), k.clone(), v.clone());
            let grads = (y.clone() * g.clone()).sum().backward();
            [
                y.inner(),
                q.grad(&grads).unwrap(),
                k.grad(&grads).unwrap(),
                v.grad(&grads).unwrap(),
            ]
        };
        let fast = run(&|q, k, v| super::attention(q, k, v, pad.clone(), heads));
        let reference = run(&|q, k, v| stock(q, k, v, pad.clone(), heads));
        for (i, (a, e)) in fast.into_iter().zip(reference).enumerate() {
            let what = ["output", "q grad", "k grad", "v grad"][i];
            let d = max_diff(a, e);
            assert!(d < 2e-5, "{what}: {d} ({b}x{n}x{l}x{c}, {heads} heads)");
        }
    }

    #[test]
    fn attention_matches_stock() {
        check(2, 16, 16, 64, 4, false); // self-attention at a UNet level
        check(3, 16, 7, 32, 2, true); // cross-attention over padded text tokens
        check(2, 5, 9, 24, 3, true); // sizes that are not multiples of 8
        check(1, 64, 32, 128, 4, true);
    }

    #[test]
    fn padded_keys_change_nothing() {
        // Values at padded keys, however large, never reach the output.
        let device = Device::flex();
        let r = |s: [usize; 3]| Tensor::<3>::random(s, Distribution::Normal(0.0, 1.0), &device);
        let (q, k, mut v) = (r([2, 4, 8]), r([2, 6, 8]), r([2, 6, 8]));
        let pad = pad_mask(2, 6, &device);
        let a = super::attention(q.clone(), k.clone(), v.clone(), Some(pad.clone()), 2);
        v = v.slice_assign([1..2, 5..6, 0..8], Tensor::full([1, 1, 8], 1e6, &device));
        let b = super::attention(q, k, v, Some(pad), 2);
        assert_eq!(max_diff(a, b), 0.0);
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let device = Device::flex();
        let r = |s: [usize; 3]| Tensor::<3>::random(s, Distribution::Normal(0.0, 1.0), &device);
        let (q, k, v) = (r([8, 16, 64]), r([8, 16, 64]), r([8, 16, 64]));
        let run = || {
            super::attention(q.clone(), k.clone(), v.clone(), None, 4)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(run);
        let three = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap()
            .install(run);
        assert_eq!(one, three);
    }
}
