//! Shapes through the autoencoder at f = 4, 8 and 16, the posterior's KL, and the critic's
//! patch map.

use burn::tensor::{Device, Distribution, Tensor};
use ldm_autoencoder::{AutoencoderConfig, CriticConfig, Posterior};

fn small(mult: &[usize]) -> AutoencoderConfig {
    AutoencoderConfig {
        base_channels: 16,
        channel_mult: mult.to_vec(),
        res_blocks: 1,
        z_channels: 4,
        mid_attention: true,
        norm_groups: 8,
    }
}

#[test]
fn latent_grid_is_f_times_smaller_and_decodes_back() {
    let d = Device::flex();
    d.seed(0);
    for (mult, f) in [
        (vec![1, 2, 2], 4),
        (vec![1, 1, 2, 2], 8),
        (vec![1, 1, 2, 2, 2], 16),
    ] {
        let cfg = small(&mult);
        assert_eq!(cfg.factor(), f);
        let ae = cfg.init(3, &d);
        let x = Tensor::<4>::random([2, 3, 32, 32], Distribution::Uniform(-1.0, 1.0), &d);
        let post = ae.encode(x);
        assert_eq!(post.mean.dims(), [2, 4, 32 / f, 32 / f]);
        assert_eq!(ae.decode(post.sample()).dims(), [2, 3, 32, 32]);
    }
    let gray = small(&[1, 2]).init(1, &d);
    assert_eq!(
        gray.decode(gray.encode(Tensor::zeros([1, 1, 16, 16], &d)).mode())
            .dims(),
        [1, 1, 16, 16]
    );
}

#[test]
fn kl_matches_the_closed_form() {
    let d = Device::flex();
    // mean 0.5, logvar ln(2): per element 0.5 * (0.25 + 2 - ln 2 - 1).
    let mean = Tensor::<4>::full([2, 4, 2, 2], 0.5, &d);
    let logvar = Tensor::<4>::full([2, 4, 2, 2], 2f64.ln(), &d);
    let post = Posterior::from_moments(Tensor::cat(vec![mean, logvar], 1), -30.0, 20.0);
    let per = 0.5 * (0.25 + 2.0 - 2f64.ln() - 1.0);
    let want = per * 16.0; // summed over 4x2x2 latent elements, averaged over the batch
    assert!((post.kl().into_scalar::<f64>() - want).abs() < 1e-5);
    // Sampling: mean 0.5, std sqrt(2).
    d.seed(1);
    let big = Posterior::from_moments(
        Tensor::cat(
            vec![
                Tensor::full([64, 4, 8, 8], 0.5, &d),
                Tensor::full([64, 4, 8, 8], 2f64.ln(), &d),
            ],
            1,
        ),
        -30.0,
        20.0,
    );
    let z = big.sample();
    let m = z.clone().mean().into_scalar::<f64>();
    let v = (z.sub_scalar(m)).square().mean().into_scalar::<f64>();
    assert!(
        (m - 0.5).abs() < 0.05 && (v - 2.0).abs() < 0.1,
        "mean {m}, var {v}"
    );
}

#[test]
fn critic_judges_patches() {
    let d = Device::flex();
    let critic = CriticConfig {
        channels: 16,
        layers: 2,
    }
    .init(3, &d);
    // 32 -> 16 -> 8 (stride 2) -> 7 (stride 1, k4) -> 6 (k4): a 6x6 map of patch logits.
    assert_eq!(
        critic.forward(Tensor::zeros([2, 3, 32, 32], &d)).dims(),
        [2, 1, 6, 6]
    );
}
