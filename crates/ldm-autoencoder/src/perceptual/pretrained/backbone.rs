//! The two ImageNet trunks of LPIPS, torchvision's VGG16 and AlexNet `features`, written as
//! tables that mirror torchvision's `nn.Sequential` entry for entry, so the position of a
//! conv in the table is its index in a torchvision state dict (`features.N.weight`).

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::activation::relu;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Which trunk; the serde names are the `lpips` package's `net=` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LpipsNet {
    /// VGG16, tapped at relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3.
    Vgg,
    /// AlexNet, tapped after each of its five ReLUs.
    Alex,
}

/// One entry of torchvision's `features`, or a point where LPIPS takes a feature map.
#[derive(Clone, Copy, Debug)]
enum Layer {
    /// A conv whose output channels are `widths[stage]`.
    Conv {
        stage: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
    },
    Relu,
    MaxPool {
        kernel: usize,
        stride: usize,
    },
    /// Not a torchvision layer: LPIPS reads the current activation here.
    Tap,
}

use Layer::{MaxPool, Relu, Tap};

const fn conv3(stage: usize) -> Layer {
    Layer::Conv {
        stage,
        kernel: 3,
        stride: 1,
        pad: 1,
    }
}

const POOL2: Layer = MaxPool {
    kernel: 2,
    stride: 2,
};

#[rustfmt::skip]
const VGG16: &[Layer] = &[
    conv3(0), Relu, conv3(0), Relu, Tap,                                  // 0..=3
    POOL2, conv3(1), Relu, conv3(1), Relu, Tap,                           // 4..=8
    POOL2, conv3(2), Relu, conv3(2), Relu, conv3(2), Relu, Tap,           // 9..=15
    POOL2, conv3(3), Relu, conv3(3), Relu, conv3(3), Relu, Tap,           // 16..=22
    POOL2, conv3(4), Relu, conv3(4), Relu, conv3(4), Relu, Tap,           // 23..=29
];

const POOL3: Layer = MaxPool {
    kernel: 3,
    stride: 2,
};

#[rustfmt::skip]
const ALEXNET: &[Layer] = &[
    Layer::Conv { stage: 0, kernel: 11, stride: 4, pad: 2 }, Relu, Tap,   // 0..=1
    POOL3, Layer::Conv { stage: 1, kernel: 5, stride: 1, pad: 2 }, Relu, Tap, // 2..=4
    POOL3, conv3(2), Relu, Tap,                                           // 5..=7
    conv3(3), Relu, Tap,                                                  // 8..=9
    conv3(4), Relu, Tap,                                                  // 10..=11
];

impl LpipsNet {
    /// torchvision's channel counts at the five taps.
    pub fn default_widths(self) -> [usize; 5] {
        match self {
            Self::Vgg => [64, 128, 256, 512, 512],
            Self::Alex => [64, 192, 384, 256, 256],
        }
    }

    /// The torchvision model name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Vgg => "VGG16",
            Self::Alex => "AlexNet",
        }
    }

    fn layers(self) -> &'static [Layer] {
        match self {
            Self::Vgg => VGG16,
            Self::Alex => ALEXNET,
        }
    }

    /// The torchvision `features` index of each conv, in order (VGG16: 0, 2, 5, ..., 28).
    pub fn conv_indices(self) -> Vec<usize> {
        self.layers()
            .iter()
            .filter(|l| !matches!(l, Tap))
            .enumerate()
            .filter(|(_, l)| matches!(l, Layer::Conv { .. }))
            .map(|(i, _)| i)
            .collect()
    }

    /// The trunk's convs with tap widths `widths` (randomly initialised; weights are loaded
    /// over them).
    pub(super) fn convs(self, widths: [usize; 5], device: &Device) -> Vec<Conv2d> {
        let mut c_in = 3;
        let mut convs = Vec::new();
        for layer in self.layers() {
            if let &Layer::Conv {
                stage,
                kernel,
                stride,
                pad,
            } = layer
            {
                let c_out = widths[stage];
                convs.push(
                    Conv2dConfig::new([c_in, c_out], [kernel, kernel])
                        .with_stride([stride, stride])
                        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                        .init(device),
                );
                c_in = c_out;
            }
        }
        convs
    }

    /// Run the trunk on `x` (already through LPIPS' scaling layer); the five tapped
    /// activations, finest first.
    pub(super) fn taps(self, convs: &[Conv2d], x: Tensor<4>) -> Vec<Tensor<4>> {
        let mut h = x;
        let mut convs = convs.iter();
        let mut taps = Vec::with_capacity(5);
        for layer in self.layers() {
            match *layer {
                Layer::Conv { .. } => h = convs.next().expect("one conv per entry").forward(h),
                Relu => h = relu(h),
                // torchvision's MaxPool2d: no padding, floor mode.
                MaxPool { kernel, stride } => {
                    h = max_pool2d(
                        h,
                        MaxPoolOptions::new([kernel, kernel]).with_stride([stride, stride]),
                    )
                }
                Tap => taps.push(h.clone()),
            }
        }
        taps
    }
}
