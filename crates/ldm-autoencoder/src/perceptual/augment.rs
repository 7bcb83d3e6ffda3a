//! The augmentations that define what the contrastive features ignore: crop and rescale,
//! flip, brightness and contrast, a little noise. Done on planar float batches, seeded.

use rand::Rng;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentConfig {
    /// Smallest crop, as a fraction of the image area.
    pub min_crop_area: f32,
    /// Brightness offset drawn from [-b, b] (images are in [-1, 1]).
    pub brightness: f32,
    /// Contrast factor drawn from [1 - c, 1 + c].
    pub contrast: f32,
    /// Noise standard deviation drawn from [0, noise].
    pub noise: f32,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            min_crop_area: 0.3,
            brightness: 0.2,
            contrast: 0.3,
            noise: 0.05,
        }
    }
}

/// For a batch `[B, C, H, W]`, two independent views of every image: `[2B, C, H, W]` with
/// the first views in rows 0..B and the second in rows B..2B.
pub fn two_views(
    batch: &[f32],
    shape: [usize; 4],
    cfg: &AugmentConfig,
    rng: &mut impl Rng,
) -> Vec<f32> {
    let [b, c, h, w] = shape;
    let per = c * h * w;
    let mut out = vec![0.0; 2 * b * per];
    for view in 0..2 {
        for i in 0..b {
            let dst = &mut out[(view * b + i) * per..(view * b + i + 1) * per];
            augment(&batch[i * per..(i + 1) * per], dst, [c, h, w], cfg, rng);
        }
    }
    out
}

fn augment(
    src: &[f32],
    dst: &mut [f32],
    [c, h, w]: [usize; 3],
    cfg: &AugmentConfig,
    rng: &mut impl Rng,
) {
    // Random resized crop: area fraction and aspect ratio, then bilinear back to h x w.
    let area = rng.random_range(cfg.min_crop_area..=1.0);
    let aspect = (rng.random_range((0.75f32).ln()..=(4.0f32 / 3.0).ln())).exp();
    let cw = ((area * aspect).sqrt() * w as f32).clamp(2.0, w as f32);
    let ch = ((area / aspect).sqrt() * h as f32).clamp(2.0, h as f32);
    let x0 = rng.random_range(0.0..=(w as f32 - cw));
    let y0 = rng.random_range(0.0..=(h as f32 - ch));
    let flip = rng.random_bool(0.5);
    let brightness = rng.random_range(-cfg.brightness..=cfg.brightness);
    let contrast = rng.random_range(1.0 - cfg.contrast..=1.0 + cfg.contrast);
    let noise = rng.random_range(0.0..=cfg.noise);
    for y in 0..h {
        for x in 0..w {
            let xs = if flip { w - 1 - x } else { x };
            let sx = (x0 + (xs as f32 + 0.5) * cw / w as f32 - 0.5).clamp(0.0, (w - 1) as f32);
            let sy = (y0 + (y as f32 + 0.5) * ch / h as f32 - 0.5).clamp(0.0, (h - 1) as f32);
            let (ix, iy) = (sx.floor() as usize, sy.floor() as usize);
            let (jx, jy) = ((ix + 1).min(w - 1), (iy + 1).min(h - 1));
            let (fx, fy) = (sx - ix as f32, sy - iy as f32);
            for k in 0..c {
                let p = |yy: usize, xx: usize| src[k * h * w + yy * w + xx];
                let v = p(iy, ix) * (1.0 - fx) * (1.0 - fy)
                    + p(iy, jx) * fx * (1.0 - fy)
                    + p(jy, ix) * (1.0 - fx) * fy
                    + p(jy, jx) * fx * fy;
                // Box-Muller for a normal draw without another dependency.
                let n = if noise > 0.0 {
                    let (u1, u2): (f32, f32) = (rng.random_range(1e-7..1.0), rng.random());
                    noise * (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
                } else {
                    0.0
                };
                dst[k * h * w + y * w + x] = (v * contrast + brightness + n).clamp(-1.0, 1.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn views_are_seeded_in_range_and_differ() {
        let img: Vec<f32> = (0..2 * 3 * 8 * 8)
            .map(|i| ((i % 17) as f32 / 8.5) - 1.0)
            .collect();
        let cfg = AugmentConfig::default();
        let a = two_views(
            &img,
            [2, 3, 8, 8],
            &cfg,
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(1),
        );
        let b = two_views(
            &img,
            [2, 3, 8, 8],
            &cfg,
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(1),
        );
        assert_eq!(a, b);
        assert_eq!(a.len(), 2 * img.len());
        assert!(a.iter().all(|v| (-1.0..=1.0).contains(v)));
        assert_ne!(a[..192], a[384..576], "the two views of image 0 differ");
    }
}
