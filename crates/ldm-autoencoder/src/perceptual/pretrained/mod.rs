//! Pretrained LPIPS (Zhang et al. 2018) exactly as the `lpips` PyPI package computes it
//! with `spatial=False` on inputs in [-1, 1]: ScalingLayer, a VGG16 or AlexNet trunk tapped
//! at five ReLUs, unit-normalised feature differences weighted by the non-negative `lin`
//! layers, spatial mean, sum over layers. The weights are read from the files users
//! already have (see [`PretrainedLpips::load`]); nothing is downloaded.
//!
//! burn-train ships an LPIPS module, but its `vision` feature pulls an HTTP downloader
//! stack (reqwest, tokio, rustls) into an offline training binary, so the trunks are
//! written here and the distance is the shared [`super::lpips`].

mod backbone;
mod load;

pub use backbone::LpipsNet;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Tensor, TensorData};

/// LPIPS' ScalingLayer: `(x - SHIFT) / SCALE` per RGB channel, ImageNet statistics of
/// images in [-1, 1].
const SHIFT: [f32; 3] = [-0.030, -0.088, -0.188];
const SCALE: [f32; 3] = [0.458, 0.448, 0.450];

/// A pretrained LPIPS net; [`PretrainedLpips::load`] returns it frozen.
#[derive(Module, Debug)]
pub struct PretrainedLpips {
    /// The trunk's convs in torchvision order.
    convs: Vec<Conv2d>,
    /// LPIPS' `lin0..lin4`: 1x1 convs, one output channel, no bias.
    lin: Vec<Conv2d>,
    #[module(skip)]
    net: LpipsNet,
}

impl PretrainedLpips {
    /// An LPIPS net of the given trunk and tap widths with random weights. The real nets
    /// have `net.default_widths()`; narrower ones exist for small test fixtures.
    pub fn new(net: LpipsNet, widths: [usize; 5], device: &Device) -> Self {
        let lin = widths
            .iter()
            .map(|&c| {
                Conv2dConfig::new([c, 1], [1, 1])
                    .with_bias(false)
                    .init(device)
            })
            .collect();
        Self {
            convs: net.convs(widths, device),
            lin,
            net,
        }
    }

    pub fn net(&self) -> LpipsNet {
        self.net
    }

    /// The five tapped activations of images `x` `[B, C, H, W]` in [-1, 1]; a single
    /// (grayscale) channel is repeated to the three the ImageNet trunk expects.
    pub fn features(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        let x = match x.dims()[1] {
            1 => x.repeat_dim(1, 3),
            3 => x,
            c => panic!("LPIPS takes 1- or 3-channel images, got {c} channels"),
        };
        let device = x.device();
        let per_channel = |v: [f32; 3]| {
            Tensor::<4>::from_data(TensorData::new(v.to_vec(), [1, 3, 1, 1]), &device)
        };
        let x = (x - per_channel(SHIFT)) / per_channel(SCALE);
        self.net.taps(&self.convs, x)
    }

    /// The per-channel weights of the `lin` layers, `[C_l]` each.
    fn lin_weights(&self) -> Vec<Tensor<1>> {
        self.lin
            .iter()
            .map(|l| {
                let c = l.weight.dims()[1];
                l.weight.val().reshape([c])
            })
            .collect()
    }

    /// Per-image LPIPS distance `[B]` between two batches of images in [-1, 1].
    pub fn distance(&self, a: Tensor<4>, b: Tensor<4>) -> Tensor<1> {
        let (fa, fb) = (self.features(a), self.features(b));
        super::lpips(&fa, &fb, Some(&self.lin_weights()))
    }

    /// Each layer's term of [`Self::distance`] (they sum to it), `[B]` each.
    pub fn layer_distances(&self, a: Tensor<4>, b: Tensor<4>) -> Vec<Tensor<1>> {
        let (fa, fb) = (self.features(a), self.features(b));
        let w = self.lin_weights();
        (0..fa.len())
            .map(|l| super::lpips(&fa[l..=l], &fb[l..=l], Some(std::slice::from_ref(&w[l]))))
            .collect()
    }
}
