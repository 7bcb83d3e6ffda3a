//! Pretrained LPIPS against the `lpips` package: narrow random-weight VGG16 and AlexNet nets
//! in torchvision / lpips file layouts, loaded through the real loading path, must give
//! PyTorch's distances (fixtures and their layout: scripts/make_lpips_fixtures.py). Also the
//! full-size shapes, the error messages, grayscale input and use as a training loss.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use serde_json::Value;

use ldm_autoencoder::perceptual::{LpipsNet, Perceptual, PretrainedLpips};
use ldm_autoencoder::train::{LossConfig, generator_step};
use ldm_autoencoder::{AutoencoderConfig, CriticConfig};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lpips")
}

fn reference() -> Value {
    let text = std::fs::read_to_string(fixtures().join("lpips.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn widths(doc: &Value, net: &str) -> [usize; 5] {
    let w: Vec<usize> = doc["nets"][net]["widths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    w.try_into().unwrap()
}

/// The image pairs of input case `i`: uint8 -> v / 127.5 - 1, as the script computes them.
fn pair(doc: &Value, i: usize, d: &Device) -> (Tensor<4>, Tensor<4>) {
    let raw = std::fs::read(fixtures().join("inputs.bin")).unwrap();
    let case = &doc["inputs"][i];
    let (n, size, offset) = (
        case["n"].as_u64().unwrap() as usize,
        case["size"].as_u64().unwrap() as usize,
        case["offset"].as_u64().unwrap() as usize,
    );
    let len = n * 3 * size * size;
    let image = |start: usize| {
        let v: Vec<f32> = raw[start..start + len]
            .iter()
            .map(|&b| b as f32 / 127.5 - 1.0)
            .collect();
        Tensor::<4>::from_data(TensorData::new(v, [n, 3, size, size]), d)
    };
    (image(offset), image(offset + len))
}

fn values(t: Tensor<1>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

/// Largest |got - want| / max(1, |want|): absolute for the small distances, relative for
/// large ones.
fn max_error(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs() / w.abs().max(1.0))
        .fold(0.0, f32::max)
}

/// Compare every case's distances, per-layer terms and tap shapes with PyTorch's; returns
/// the largest error seen.
fn check_against_pytorch(net: LpipsNet, key: &str, m: &PretrainedLpips) -> f32 {
    let doc = reference();
    let d = Device::flex();
    let mut worst = 0f32;
    for (i, case) in doc["nets"][key]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let (x, y) = pair(&doc, i, &d);
        let size = case["size"].as_u64().unwrap();
        let shapes: Vec<Vec<usize>> = m
            .features(x.clone())
            .iter()
            .map(|f| f.dims().to_vec())
            .collect();
        let want_shapes: Vec<Vec<usize>> =
            serde_json::from_value(case["tap_shapes"].clone()).unwrap();
        assert_eq!(shapes, want_shapes, "{net:?} {size}x{size}: tap shapes");

        let got = values(m.distance(x.clone(), y.clone()));
        let want = floats(&case["distance"]);
        let err = max_error(&got, &want);
        assert!(
            err < 1e-4,
            "{net:?} {size}x{size}: distance {got:?} vs PyTorch {want:?}"
        );
        // The identical pair: exactly zero, as in PyTorch.
        assert_eq!(got[2], 0.0);
        worst = worst.max(err);
        for (l, (g, w)) in m
            .layer_distances(x, y)
            .into_iter()
            .zip(case["per_layer"].as_array().unwrap())
            .enumerate()
        {
            let (g, w) = (values(g), floats(w));
            let err = max_error(&g, &w);
            assert!(
                err < 1e-4,
                "{net:?} {size}x{size} layer {l}: {g:?} vs PyTorch {w:?}"
            );
            worst = worst.max(err);
        }
    }
    eprintln!("{net:?}: max error vs PyTorch {worst:e}");
    worst
}

fn load(
    net: LpipsNet,
    key: &str,
    backbone: &str,
    linear: Option<&str>,
) -> Result<PretrainedLpips, String> {
    let dir = fixtures();
    let lin = linear.map(|f| dir.join(f));
    PretrainedLpips::load_with_widths(
        net,
        widths(&reference(), key),
        &dir.join(backbone),
        lin.as_deref(),
        &Device::flex(),
    )
}

#[test]
fn vgg_matches_pytorch() {
    let m = load(
        LpipsNet::Vgg,
        "vgg",
        "vgg16-features.pth",
        Some("vgg-lin.pth"),
    )
    .unwrap();
    check_against_pytorch(LpipsNet::Vgg, "vgg", &m);
}

#[test]
fn alexnet_matches_pytorch() {
    let m = load(
        LpipsNet::Alex,
        "alex",
        "alexnet-features.pth",
        Some("alex-lin.pth"),
    )
    .unwrap();
    check_against_pytorch(LpipsNet::Alex, "alex", &m);
}

#[test]
fn a_whole_lpips_state_dict_loads_without_a_linear_file() {
    let m = load(LpipsNet::Alex, "alex", "alex-lpips.pth", None).unwrap();
    check_against_pytorch(LpipsNet::Alex, "alex", &m);
}

#[test]
fn default_widths_are_torchvisions_networks() {
    // The fixtures are narrow; these counts pin the full-size layer shapes: torchvision's
    // vgg16().features and alexnet().features, plus the lin layers (one weight per channel).
    let d = Device::flex();
    for (net, trunk) in [(LpipsNet::Vgg, 14_714_688), (LpipsNet::Alex, 2_469_696)] {
        let lin: usize = net.default_widths().iter().sum();
        let m = PretrainedLpips::new(net, net.default_widths(), &d);
        assert_eq!(m.num_params(), trunk + lin, "{net:?}");
    }
    // 64x64 through the full VGG16 gives torchvision's tap sizes.
    let m = PretrainedLpips::new(LpipsNet::Vgg, LpipsNet::Vgg.default_widths(), &d);
    let shapes: Vec<[usize; 4]> = m
        .features(Tensor::zeros([1, 3, 64, 64], &d))
        .iter()
        .map(|f| f.dims())
        .collect();
    assert_eq!(
        shapes,
        [
            [1, 64, 64, 64],
            [1, 128, 32, 32],
            [1, 256, 16, 16],
            [1, 512, 8, 8],
            [1, 512, 4, 4]
        ]
    );
}

#[test]
fn a_missing_file_is_named() {
    let err = load(
        LpipsNet::Vgg,
        "vgg",
        "no-such-file.pth",
        Some("vgg-lin.pth"),
    )
    .unwrap_err();
    assert!(
        err.contains("no-such-file.pth") && err.contains("No such file"),
        "{err}"
    );
    let err = load(LpipsNet::Vgg, "vgg", "vgg16-features.pth", Some("nope.pth")).unwrap_err();
    assert!(
        err.contains("nope.pth") && err.contains("linear layer"),
        "{err}"
    );
    // Not a PyTorch file at all.
    let err = load(LpipsNet::Vgg, "vgg", "lpips.json", Some("vgg-lin.pth")).unwrap_err();
    assert!(
        err.contains(
            "lpips.json: cannot read the LPIPS VGG16 trunk weights as a PyTorch state dict"
        ),
        "{err}"
    );
}

#[test]
fn a_wrong_shape_names_the_key_and_both_shapes() {
    // The narrow fixture trunk against the real VGG16's shapes.
    let dir = fixtures();
    let err = PretrainedLpips::load(
        LpipsNet::Vgg,
        &dir.join("vgg16-features.pth"),
        Some(&dir.join("vgg-lin.pth")),
        &Device::flex(),
    )
    .unwrap_err();
    assert!(
        err.contains("vgg16-features.pth")
            && err.contains("features.0.weight has shape [4, 3, 3, 3]")
            && err.contains("needs [64, 3, 3, 3]")
            && err.contains("and 22 more"),
        "{err}"
    );
    // AlexNet's lin layers with VGG: lin1 has 12 channels, VGG's second tap 8.
    let err = load(
        LpipsNet::Vgg,
        "vgg",
        "vgg16-features.pth",
        Some("alex-lin.pth"),
    )
    .unwrap_err();
    assert!(
        err.contains("alex-lin.pth") && err.contains("lin1.model.1.weight has shape [1, 12, 1, 1]"),
        "{err}"
    );
}

#[test]
fn swapped_or_partial_files_say_what_is_expected() {
    // The lin file given as the trunk.
    let err = load(LpipsNet::Vgg, "vgg", "vgg-lin.pth", Some("vgg-lin.pth")).unwrap_err();
    assert!(
        err.contains("no VGG16 trunk weights")
            && err.contains("features.{0,2,5,7,10,12,14,17,19,21,24,26,28}.weight")
            && err.contains("lin0.model.1.weight"),
        "{err}"
    );
    // A torchvision trunk alone has no lin layers.
    let err = load(LpipsNet::Alex, "alex", "alexnet-features.pth", None).unwrap_err();
    assert!(
        err.contains("alexnet-features.pth")
            && err.contains("no LPIPS linear layer weights")
            && err.contains("weights/v0.1/alex.pth"),
        "{err}"
    );
}

#[test]
fn grayscale_is_compared_as_rgb() {
    let m = load(
        LpipsNet::Alex,
        "alex",
        "alexnet-features.pth",
        Some("alex-lin.pth"),
    )
    .unwrap();
    let d = Device::flex();
    d.seed(0);
    let a = Tensor::<4>::random([2, 1, 32, 32], Distribution::Uniform(-1.0, 1.0), &d);
    let b = Tensor::<4>::random([2, 1, 32, 32], Distribution::Uniform(-1.0, 1.0), &d);
    let gray = values(m.distance(a.clone(), b.clone()));
    let rgb = values(m.distance(a.repeat_dim(1, 3), b.repeat_dim(1, 3)));
    assert_eq!(gray, rgb);
    assert!(gray.iter().all(|&v| v > 0.0));
}

#[test]
fn works_as_the_autoencoders_perceptual_loss() {
    let ad = Device::flex().autodiff();
    ad.seed(0);
    let dir = fixtures();
    let lpips = PretrainedLpips::load_with_widths(
        LpipsNet::Vgg,
        widths(&reference(), "vgg"),
        &dir.join("vgg16-features.pth"),
        Some(&dir.join("vgg-lin.pth")),
        &ad,
    )
    .unwrap();

    // Gradients reach the images through the frozen net.
    let x =
        Tensor::<4>::random([2, 3, 32, 32], Distribution::Uniform(-1.0, 1.0), &ad).require_grad();
    let y = Tensor::<4>::random([2, 3, 32, 32], Distribution::Uniform(-1.0, 1.0), &ad);
    let grads = lpips.distance(x.clone(), y).sum().backward();
    let g = x.grad(&grads).expect("the images get a gradient");
    assert!(g.abs().sum().into_scalar::<f32>() > 0.0);

    let ae = AutoencoderConfig {
        base_channels: 16,
        channel_mult: vec![1, 2],
        res_blocks: 1,
        z_channels: 4,
        mid_attention: false,
        norm_groups: 8,
    }
    .init(3, &ad);
    let critic = CriticConfig::default().init(3, &ad);
    let cfg = LossConfig {
        perceptual_weight: 0.5,
        ..LossConfig::default()
    };
    let perceptual = Perceptual::Lpips(lpips);
    let x = Tensor::<4>::random([2, 3, 32, 32], Distribution::Uniform(-1.0, 1.0), &ad);
    let out = generator_step(&ae, &critic, Some(&perceptual), x, &cfg, false);
    let s = &out.stats;
    assert!(s.perceptual > 0.0 && s.perceptual.is_finite(), "{s:?}");
    let total = s.pixel + 0.5 * s.perceptual + cfg.kl_weight * s.kl;
    assert!((s.total - total).abs() < 1e-5 * total.max(1.0), "{s:?}");
}
