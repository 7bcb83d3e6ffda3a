//! Training really learns, on tiny data (shapes at 32x32), in a few CPU minutes.

use std::path::Path;

use ldm_autoencoder::autoencoder::AutoencoderConfig;
use ldm_autoencoder::perceptual::{FeatureNet, PerceptualSection, train_perceptual};
use ldm_autoencoder::train::{AutoencoderSection, PerceptualKind, train};
use ldm_core::RunDir;
use ldm_core::checkpoint::Start;
use ldm_core::train::{LrConfig, LrShape};
use ldm_data::shapes::ShapesConfig;
use ldm_data::{DataConfig, Splits};

/// burn's CPU random generator is one per process, seeded by each training run: tests that
/// train must not interleave, or their initialisations (and results) would depend on timing.
static TRAINING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    TRAINING.lock().unwrap_or_else(|e| e.into_inner())
}

fn shapes(num_train: usize) -> (DataConfig, Splits) {
    let data = DataConfig {
        shapes: ShapesConfig {
            num_train,
            num_val: 128,
            ..Default::default()
        },
        ..Default::default()
    };
    let splits = ldm_data::open(&data, 0).unwrap();
    (data, splits)
}

fn tiny_autoencoder(steps: u64) -> AutoencoderSection {
    let mut s = AutoencoderSection::default();
    s.model = AutoencoderConfig {
        base_channels: 32,
        channel_mult: vec![1, 2, 2],
        res_blocks: 1,
        z_channels: 4,
        mid_attention: false,
        norm_groups: 8,
    };
    s.loss.perceptual = PerceptualKind::None;
    s.loss.disc_weight = 0.0;
    s.train.steps = steps;
    s.train.lr = LrConfig {
        lr: 1e-3,
        warmup: 50,
        shape: LrShape::Cosine,
        min_lr: 1e-4,
    };
    s.train.log_every = 10;
    s.train.val_every = steps;
    s.train.val_images = 128;
    s.train.checkpoint_every = steps;
    s.train.scale_images = 128;
    s
}

fn metric(run: &Path, stage: &str, key: &str) -> Vec<f64> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["stage"] == stage)
        .filter_map(|v| v[key].as_f64())
        .collect()
}

/// 25 dB on [0, 1] is an RMS error of 5.6% of the range: edges sharp enough to tell the shapes
/// apart and colours right. The L1 loss must also fall at least 3x from the first 10 steps.
#[test]
fn autoencoder_reaches_25_db_on_held_out_shapes_at_f4() {
    let _serial = serial();
    let (data, splits) = shapes(4000);
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::create(dir.path()).unwrap();
    let device = burn::tensor::Device::flex();
    // 800 steps, not 500: at 500 the held-out PSNR over seeds 0-3 spread over 24.9-27.3 dB,
    // and a last-bit change in the clipping norm moved seed 0 from 26.9 to 24.9, so the bar
    // sat inside run-to-run noise. At 800 the two lowest of those seeds reach 28.4 and 27.6.
    let info = train(
        &tiny_autoencoder(800),
        &data,
        &splits,
        None,
        &run,
        0,
        &device,
        Start::Fresh,
    )
    .unwrap();
    let pixel = metric(dir.path(), "autoencoder", "pixel");
    let (first, last) = (pixel[0], *pixel.last().unwrap());
    println!(
        "val PSNR {:.2} dB, SSIM {:.4}; L1 {first:.4} -> {last:.4}",
        info.val_psnr, info.val_ssim
    );
    assert!(info.val_psnr >= 25.0, "val PSNR {:.2} dB", info.val_psnr);
    assert!(first / last >= 3.0, "L1 fell only from {first} to {last}");
    assert!(info.scale_factor.is_finite() && info.scale_factor > 0.0);
    assert!(dir.path().join("autoencoder/model.bpk").exists());
}

/// The critic is only stepped from `disc_start` on: its weights are untouched before and
/// change after (checked on the checkpoints of every step).
#[test]
fn critic_is_stepped_only_after_disc_start() {
    let _serial = serial();
    let (data, splits) = shapes(64);
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::create(dir.path()).unwrap();
    let mut cfg = tiny_autoencoder(4);
    cfg.model.base_channels = 16;
    cfg.critic.channels = 16;
    cfg.critic.layers = 2;
    cfg.loss.disc_weight = 0.5;
    cfg.loss.disc_start = 2;
    cfg.train.batch_size = 4;
    cfg.train.checkpoint_every = 1;
    cfg.train.keep_checkpoints = 10;
    cfg.train.scale_images = 8;
    let device = burn::tensor::Device::flex();
    train(&cfg, &data, &splits, None, &run, 0, &device, Start::Fresh).unwrap();
    let critic = |step: u64| {
        std::fs::read(
            dir.path()
                .join(format!("checkpoints/autoencoder/step-{step:08}/critic.bpk")),
        )
        .unwrap()
    };
    assert_eq!(
        critic(1),
        critic(2),
        "steps 0 and 1 are before disc_start: no critic update"
    );
    assert_ne!(critic(2), critic(3), "step 2 is the first GAN step");
    assert_ne!(critic(3), critic(4));
    let lambda = metric(dir.path(), "autoencoder", "lambda");
    assert!(lambda.iter().all(|l| l.is_finite()));
}

fn trained_perceptual(dir: &Path) -> (FeatureNet, f64, f64, DataConfig, Splits) {
    let (data, splits) = shapes(4000);
    let run = RunDir::create(dir).unwrap();
    // The shift-versus-noise property below is sensitive to float rounding in a short
    // training: at 120 steps its ratio ranged 0.42-0.84 between runs that differed only in
    // rounding, at 300 steps 0.41-0.97, and at 600 steps 0.29-1.11 (convolution and GroupNorm
    // kernels with other summation orders: the 1.11 came with the critic's convolutions moving
    // to patch rows, which the feature net's downsampling takes too). At 1200 steps three such
    // variants measured 0.30, 0.38 and 0.48: the features have settled enough for "clearly
    // closer" (0.75, against 1.0 for any pixel distance) to hold.
    let cfg = PerceptualSection {
        steps: 1200,
        batch_size: 32,
        ..Default::default()
    };
    let device = burn::tensor::Device::flex();
    let info = train_perceptual(&cfg, &data, &splits, &run, 0, &device).unwrap();
    let (net, _) =
        ldm_autoencoder::artifacts::load_perceptual(&dir.join("perceptual"), &device).unwrap();
    (net, info.val_retrieval, info.chance, data, splits)
}

#[path = "perceptual_behaviour.rs"]
mod perceptual_behaviour;

#[test]
fn contrastive_net_retrieves_views_and_behaves_perceptually() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let (net, retrieval, chance, data, splits) = trained_perceptual(dir.path());
    println!(
        "held-out top-1 retrieval {:.1}% (chance {:.1}%)",
        100.0 * retrieval,
        100.0 * chance
    );
    assert!(
        retrieval >= 10.0 * chance && retrieval >= 0.2,
        "retrieval {retrieval} vs chance {chance}"
    );
    perceptual_behaviour::check(&net, &data, &splits);
}
