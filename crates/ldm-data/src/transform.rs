//! Image transforms: resize the shorter side, crop, optional horizontal flip, channels, and
//! conversion to CHW floats in [-1, 1].

use image::imageops::{self, FilterType};
use image::{DynamicImage, GenericImageView};
use rand::Rng;

use crate::config::{Crop, DataConfig};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transform {
    pub resolution: u32,
    pub channels: u32,
    pub crop: Crop,
    pub hflip: bool,
}

impl Transform {
    /// Training transform: the configured crop and flip.
    pub fn train(cfg: &DataConfig) -> Self {
        Self {
            resolution: cfg.resolution,
            channels: cfg.channels,
            crop: cfg.crop,
            hflip: cfg.hflip,
        }
    }

    /// Evaluation transform: centre crop, no flip, so validation numbers are comparable.
    pub fn eval(cfg: &DataConfig) -> Self {
        Self {
            crop: Crop::Center,
            hflip: false,
            ..Self::train(cfg)
        }
    }

    /// The transformed image, before float conversion (also used to draw grids).
    pub fn image(&self, img: &DynamicImage, rng: &mut impl Rng) -> DynamicImage {
        let n = self.resolution;
        let (w, h) = img.dimensions();
        let scale = n as f32 / w.min(h) as f32;
        let (rw, rh) = (
            ((w as f32 * scale).round() as u32).max(n),
            ((h as f32 * scale).round() as u32).max(n),
        );
        let resized = if (rw, rh) == (w, h) {
            img.clone()
        } else {
            img.resize_exact(rw, rh, FilterType::CatmullRom)
        };
        let (x, y) = match self.crop {
            Crop::Center => ((rw - n) / 2, (rh - n) / 2),
            Crop::Random => (rng.random_range(0..=rw - n), rng.random_range(0..=rh - n)),
        };
        let mut out = resized.crop_imm(x, y, n, n);
        if self.hflip && rng.random_bool(0.5) {
            out = DynamicImage::from(imageops::flip_horizontal(&out));
        }
        match self.channels {
            1 => DynamicImage::ImageLuma8(out.to_luma8()),
            _ => DynamicImage::ImageRgb8(out.to_rgb8()),
        }
    }

    /// CHW floats in [-1, 1].
    pub fn apply(&self, img: &DynamicImage, rng: &mut impl Rng) -> Vec<f32> {
        to_chw(&self.image(img, rng), self.channels)
    }
}

/// Planar CHW floats in [-1, 1] from an 8-bit image with `channels` channels.
pub fn to_chw(img: &DynamicImage, channels: u32) -> Vec<f32> {
    let bytes = match channels {
        1 => img.to_luma8().into_raw(),
        _ => img.to_rgb8().into_raw(),
    };
    let c = channels as usize;
    let hw = bytes.len() / c;
    let mut out = vec![0.0; bytes.len()];
    for (i, px) in bytes.chunks_exact(c).enumerate() {
        for (ch, &v) in px.iter().enumerate() {
            out[ch * hw + i] = v as f32 / 127.5 - 1.0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    fn t(crop: Crop, hflip: bool) -> Transform {
        Transform {
            resolution: 4,
            channels: 3,
            crop,
            hflip,
        }
    }

    #[test]
    fn resizes_shorter_side_and_centre_crops() {
        // 16x8 image: left half black, right half white -> 8x4 -> centre 4x4 spans both.
        let img = RgbImage::from_fn(
            16,
            8,
            |x, _| if x < 8 { Rgb([0; 3]) } else { Rgb([255; 3]) },
        );
        let out = t(Crop::Center, false).image(&img.into(), &mut rand::rng());
        assert_eq!(out.dimensions(), (4, 4));
        let o = out.to_rgb8();
        assert!(o.get_pixel(0, 0).0[0] < 30 && o.get_pixel(3, 0).0[0] > 225);
    }

    #[test]
    fn floats_are_planar_and_in_range() {
        let img = RgbImage::from_pixel(4, 4, Rgb([255, 0, 128]));
        let v = t(Crop::Center, false).apply(&img.into(), &mut rand::rng());
        assert_eq!(v.len(), 48);
        assert_eq!(v[0], 1.0);
        assert_eq!(v[16], -1.0);
        assert!((v[32] - 0.0039).abs() < 1e-3);
        let gray = Transform {
            channels: 1,
            ..t(Crop::Center, false)
        };
        assert_eq!(
            gray.apply(&RgbImage::new(4, 4).into(), &mut rand::rng())
                .len(),
            16
        );
    }

    #[test]
    fn flips_and_random_crops_follow_the_rng() {
        use rand::SeedableRng;
        let img: DynamicImage =
            RgbImage::from_fn(12, 8, |x, y| Rgb([(x * 20) as u8, (y * 30) as u8, 0])).into();
        let tr = t(Crop::Random, true);
        let a = tr.apply(&img, &mut rand_chacha::ChaCha8Rng::seed_from_u64(3));
        let b = tr.apply(&img, &mut rand_chacha::ChaCha8Rng::seed_from_u64(3));
        assert_eq!(a, b);
        let distinct: std::collections::HashSet<Vec<u32>> = (0..40)
            .map(|s| tr.apply(&img, &mut rand_chacha::ChaCha8Rng::seed_from_u64(s)))
            .map(|v| v.iter().map(|f| f.to_bits()).collect())
            .collect();
        assert!(
            distinct.len() > 4,
            "random crop/flip should vary with the seed"
        );
    }
}
