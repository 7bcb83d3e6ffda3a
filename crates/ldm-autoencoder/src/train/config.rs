//! The `[autoencoder]` section: model, losses, critic and training settings.

use serde::{Deserialize, Serialize};

use ldm_core::config::{Checks, Validate};
use ldm_core::train::{LrConfig, OnNan};

use crate::autoencoder::AutoencoderConfig;
use crate::critic::CriticConfig;
use crate::losses::{GanLoss, PixelLoss};
use crate::perceptual::LpipsNet;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutoencoderSection {
    pub model: AutoencoderConfig,
    pub loss: LossConfig,
    pub critic: CriticConfig,
    pub train: TrainConfig,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PerceptualKind {
    /// The feature net trained by `ldm train-perceptual` on this dataset.
    Learned,
    /// The original LPIPS on a pretrained VGG16 (`lpips_backbone`, `lpips_linear`).
    LpipsVgg,
    /// The original LPIPS on a pretrained AlexNet (`lpips_backbone`, `lpips_linear`).
    LpipsAlex,
    /// No perceptual term.
    None,
}

impl PerceptualKind {
    /// The LPIPS trunk, for the pretrained kinds.
    pub fn lpips_net(self) -> Option<LpipsNet> {
        match self {
            Self::LpipsVgg => Some(LpipsNet::Vgg),
            Self::LpipsAlex => Some(LpipsNet::Alex),
            Self::Learned | Self::None => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LossConfig {
    /// "l1" or "l2" pixel reconstruction loss.
    pub pixel: PixelLoss,
    /// Weight of KL(q(z|x) || N(0, I)); small, so latents stay informative.
    pub kl_weight: f64,
    /// "learned", "lpips-vgg", "lpips-alex" or "none".
    pub perceptual: PerceptualKind,
    pub perceptual_weight: f64,
    /// Where the learned feature net is (default: `<run>/perceptual`).
    pub perceptual_path: Option<String>,
    /// For "lpips-vgg" / "lpips-alex" (required): torchvision's ImageNet weights of the
    /// trunk, `vgg16-397923af.pth` or `alexnet-owt-7be5be79.pth`, or a whole LPIPS state
    /// dict saved with `torch.save(lpips.LPIPS(...).state_dict())`.
    pub lpips_backbone: Option<String>,
    /// For "lpips-vgg" / "lpips-alex": the lpips package's linear layers,
    /// `lpips/weights/v0.1/vgg.pth` or `alex.pth`; may be left out when `lpips_backbone`
    /// is a whole LPIPS state dict.
    pub lpips_linear: Option<String>,
    /// "hinge" or "non-saturating".
    pub gan: GanLoss,
    /// Scale of the adaptive GAN weight; 0 turns the GAN (and the critic) off.
    pub disc_weight: f64,
    /// First step with the GAN term and critic updates.
    pub disc_start: u64,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self {
            pixel: PixelLoss::L1,
            kl_weight: 1e-6,
            perceptual: PerceptualKind::Learned,
            perceptual_weight: 1.0,
            perceptual_path: None,
            lpips_backbone: None,
            lpips_linear: None,
            gan: GanLoss::Hinge,
            disc_weight: 0.5,
            disc_start: 2000,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub steps: u64,
    pub batch_size: usize,
    /// Autoencoder learning rate, warm-up and decay.
    pub lr: LrConfig,
    /// Adam betas; (0.5, 0.9) as in LDM, for GAN stability.
    pub betas: [f64; 2],
    pub weight_decay: f64,
    /// The critic's own optimizer.
    pub critic_lr: f64,
    pub critic_betas: [f64; 2],
    /// Global gradient-norm clip for each model (0 = off).
    pub grad_clip: f64,
    /// EMA of the autoencoder weights (0 = off); the EMA weights are what gets saved.
    pub ema_decay: f64,
    pub log_every: u64,
    /// Validation (PSNR, SSIM, perceptual distance, a reconstruction grid) every N steps.
    pub val_every: u64,
    /// Validation images used (from the held-out split).
    pub val_images: usize,
    pub checkpoint_every: u64,
    pub keep_checkpoints: usize,
    /// Training images encoded to estimate the latent scale factor (1 / std).
    pub scale_images: usize,
    /// A NaN or infinite loss: "stop" (the last good checkpoint stays) or "skip" the update.
    pub on_nan: OnNan,
    /// With on_nan = "skip": stop anyway after this many skipped steps.
    pub max_nan_skips: u64,
    /// Wall-clock budget in minutes (0 = none): the step during which it runs out is the
    /// last. Counts time before a resume. Not reproducible to the bit, unlike `steps`.
    pub max_minutes: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            steps: 4000,
            batch_size: 16,
            lr: LrConfig {
                lr: 2e-4,
                ..LrConfig::default()
            },
            betas: [0.5, 0.9],
            weight_decay: 0.0,
            critic_lr: 2e-4,
            critic_betas: [0.5, 0.9],
            grad_clip: 1.0,
            ema_decay: 0.0,
            log_every: 25,
            val_every: 500,
            val_images: 256,
            checkpoint_every: 500,
            keep_checkpoints: 3,
            scale_images: 1024,
            on_nan: OnNan::Stop,
            max_nan_skips: 10,
            max_minutes: 0.0,
        }
    }
}

impl Validate for AutoencoderSection {
    fn validate(&self, c: &mut Checks) {
        c.section("model", |c| self.model.validate(c));
        c.section("critic", |c| self.critic.validate(c));
        c.section("loss", |c| {
            let l = &self.loss;
            c.check("kl_weight", l.kl_weight >= 0.0, || "must be >= 0".into());
            c.check("perceptual_weight", l.perceptual_weight >= 0.0, || {
                "must be >= 0".into()
            });
            if l.perceptual.lpips_net().is_some() {
                c.check("lpips_backbone", l.lpips_backbone.is_some(), || {
                    "is required with perceptual = \"lpips-vgg\" or \"lpips-alex\": the path of \
                     torchvision's vgg16-397923af.pth / alexnet-owt-7be5be79.pth"
                        .into()
                });
            }
            c.check("disc_weight", l.disc_weight >= 0.0, || {
                "must be >= 0".into()
            });
        });
        c.section("train", |c| {
            let t = &self.train;
            c.check("steps", t.steps > 0, || "must be at least 1".into());
            c.check("batch_size", t.batch_size > 0, || {
                "must be at least 1".into()
            });
            c.section("lr", |c| t.lr.validate(c));
            c.check("critic_lr", t.critic_lr > 0.0, || "must be > 0".into());
            let beta_ok = |b: [f64; 2]| b.iter().all(|x| (0.0..1.0).contains(x));
            c.check("betas", beta_ok(t.betas), || {
                "each must be in [0, 1)".into()
            });
            c.check("critic_betas", beta_ok(t.critic_betas), || {
                "each must be in [0, 1)".into()
            });
            c.check("ema_decay", (0.0..1.0).contains(&t.ema_decay), || {
                "must be in [0, 1)".into()
            });
            c.check("val_every", t.val_every > 0, || "must be at least 1".into());
            c.check("checkpoint_every", t.checkpoint_every > 0, || {
                "must be at least 1".into()
            });
            c.check("max_minutes", t.max_minutes >= 0.0, || {
                "must be 0 (no limit) or more".into()
            });
            c.check("scale_images", t.scale_images > 0, || {
                "must be at least 1".into()
            });
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recorded problems, as Checks' debug output (its list is private to ldm-core).
    fn problems(cfg: &AutoencoderSection) -> String {
        let mut c = Checks::default();
        c.section("autoencoder", |c| cfg.validate(c));
        format!("{c:?}")
    }

    #[test]
    fn lpips_kinds_parse_and_need_the_backbone_file() {
        let loss: LossConfig =
            serde_json::from_str(r#"{"perceptual": "lpips-alex", "lpips_linear": "alex.pth"}"#)
                .unwrap();
        assert_eq!(loss.perceptual, PerceptualKind::LpipsAlex);
        assert_eq!(loss.perceptual.lpips_net(), Some(LpipsNet::Alex));
        let mut cfg = AutoencoderSection {
            loss,
            ..Default::default()
        };
        assert!(problems(&cfg).contains("autoencoder.loss.lpips_backbone"));
        // The linear layers may come from a whole LPIPS state dict given as the backbone.
        cfg.loss.lpips_linear = None;
        cfg.loss.lpips_backbone = Some("lpips.pth".into());
        assert!(
            !problems(&cfg).contains("autoencoder.loss"),
            "{}",
            problems(&cfg)
        );
        let vgg: PerceptualKind = serde_json::from_str(r#""lpips-vgg""#).unwrap();
        assert_eq!(vgg.lpips_net(), Some(LpipsNet::Vgg));
        assert!(serde_json::from_str::<PerceptualKind>(r#""lpips""#).is_err());
    }
}
