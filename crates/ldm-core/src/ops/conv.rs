//! `Conv2d` modules run through [`FastOps::fast_conv2d`]: same parameters, same result as
//! `Conv2d::forward`, faster on `flex`.

use burn::backend::Dispatch;
use burn::backend::ops::ConvOptions;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;

use super::FastOps;

/// `conv.forward(x)`, through ldm's kernels, in `x`'s dtype (the weights are cast to it).
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let (vertical, horizontal) = match conv.padding {
        PaddingConfig2d::Valid => ((0, 0), (0, 0)),
        PaddingConfig2d::Explicit(top, left, bottom, right) => ((top, bottom), (left, right)),
        // Not used by ldm's models; the stock operation works out its split.
        PaddingConfig2d::Same => return conv.forward(x),
    };
    let options = ConvOptions::new_with_padding(
        conv.stride,
        [vertical, horizontal],
        conv.dilation,
        conv.groups,
    );
    let dtype = x.dtype();
    match &conv.bias {
        // The bias is added inside the operation, and its gradient summed there.
        Some(b) => Tensor::<4>::from_dispatch(<Dispatch as FastOps>::fast_conv2d_bias(
            x.into_dispatch(),
            conv.weight.val().cast(dtype).into_dispatch(),
            b.val().cast(dtype).into_dispatch(),
            options,
        )),
        None => conv2d_weights(x, conv.weight.val(), options),
    }
}

/// `burn::tensor::module::conv2d(x, weight, None, options)`, through ldm's kernels, in `x`'s
/// dtype.
pub fn conv2d_weights(x: Tensor<4>, weight: Tensor<4>, options: ConvOptions<2>) -> Tensor<4> {
    let weight = weight.cast(x.dtype());
    Tensor::<4>::from_dispatch(<Dispatch as FastOps>::fast_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        options,
    ))
}

#[cfg(test)]
mod tests {
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::{Device, Distribution, Tensor};

    fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    /// Output and the gradients of input, weights and bias equal `Conv2d::forward`'s.
    fn check(
        batch: usize,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        pad: [usize; 4],
        hw: [usize; 2],
    ) {
        let ad = Device::flex().autodiff();
        let [top, bottom, left, right] = pad;
        let conv = Conv2dConfig::new([cin, cout], [k, k])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(top, left, bottom, right))
            .init(&ad);
        let x = Tensor::<4>::random(
            [batch, cin, hw[0], hw[1]],
            Distribution::Normal(0.0, 1.0),
            &ad,
        );
        let g = Tensor::<4>::random(
            conv.forward(x.clone()).dims(),
            Distribution::Normal(0.0, 1.0),
            &ad,
        );
        let run = |fast: bool| {
            let x = x.clone().detach().require_grad();
            let y = if fast {
                super::conv2d(&conv, x.clone())
            } else {
                conv.forward(x.clone())
            };
            let grads = (y.clone() * g.clone()).sum().backward();
            let gx = x.grad(&grads).unwrap();
            let gw = conv.weight.grad(&grads).unwrap();
            let gb = conv.bias.as_ref().unwrap().grad(&grads).unwrap();
            (y.inner(), gx, gw, gb)
        };
        let (a, b_) = (run(true), run(false));
        let what = format!("{batch}x{cin}->{cout} k{k} s{stride} pad{pad:?} {hw:?}");
        assert!(max_diff(a.0, b_.0) < 1e-4, "output {what}");
        assert!(max_diff(a.1, b_.1) < 1e-4, "input gradient {what}");
        assert!(max_diff(a.2, b_.2) < 1e-3, "weight gradient {what}");
        assert!(max_diff(a.3, b_.3) < 1e-3, "bias gradient {what}");
    }

    #[test]
    fn matches_stock_conv() {
        check(3, 5, 7, 3, 1, [1, 1, 1, 1], [9, 11]); // the UNet's and autoencoder's 3x3
        check(2, 6, 4, 1, 1, [0, 0, 0, 0], [5, 4]); // 1x1 skip and attention projections
        check(2, 4, 4, 3, 2, [0, 1, 0, 1], [8, 8]); // downsampling, padded bottom/right
        check(2, 4, 3, 3, 2, [1, 1, 1, 1], [7, 9]); // odd sizes, stride 2
        check(1, 3, 2, 4, 2, [1, 1, 1, 1], [6, 6]); // the critic's 4x4
        check(3, 4, 5, 4, 1, [1, 1, 1, 1], [4, 4]); // its last ones: 4x4 in, 3x3 out
        check(2, 2, 3, 5, 1, [2, 2, 0, 0], [1, 7]); // kernel rows that only ever see padding
        check(5, 3, 4, 3, 1, [1, 1, 1, 1], [10, 20]); // groups of 3 images and of 2
        check(5, 2, 3, 3, 2, [1, 1, 1, 1], [30, 30]); // the same, strided
        check(20, 4, 5, 3, 1, [1, 1, 1, 1], [4, 4]); // one GEMM for the whole batch
        check(20, 4, 5, 1, 1, [0, 0, 0, 0], [4, 4]); // pointwise, the same
        // Patches as rows (many channels, narrow outputs): the critic's inner layers,
        check(3, 16, 5, 4, 1, [1, 1, 1, 1], [4, 4]);
        check(2, 16, 6, 4, 2, [1, 1, 1, 1], [8, 8]);
        check(20, 16, 1, 4, 1, [1, 1, 1, 1], [3, 3]); // its output conv, one group
        check(2, 12, 3, 3, 2, [0, 1, 0, 1], [6, 6]); // a downsampling
        check(2, 24, 3, 5, 1, [2, 2, 0, 0], [1, 7]); // rows that only ever see padding
        check(3, 16, 8, 3, 2, [1, 1, 1, 1], [8, 8]); // the feature net's downsampling
        check(5, 32, 5, 4, 2, [1, 1, 1, 1], [16, 16]); // groups of 3 images and of 2
        check(3, 16, 130, 4, 1, [1, 1, 1, 1], [4, 4]); // many outputs: rows for dx alone
    }
}
