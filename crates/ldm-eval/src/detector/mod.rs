//! A deterministic detector for the built-in shapes dataset: finds the objects in an image
//! (generated or rendered) and reads each one's colour, shape, size and centre, so a prompt
//! like "a red circle above a blue square" can be checked attribute by attribute.
//!
//! Input is an 8-bit [`RgbImage`] at the dataset's resolution (what `ldm sample` writes; a
//! decoded `[B, 3, H, W]` batch in [-1, 1] converts with `ldm_data::grid::to_images`).
//!
//! 1. every pixel is read as background plus some coverage of one palette colour (`unmix.rs`);
//! 2. pixels at least half covered form the foreground, split into 4-connected components,
//!    and specks smaller than `min_area` are dropped;
//! 3. a component's colour is the palette entry that best explains its median core colour;
//! 4. its shape, size and centre are the rendered candidate that best reproduces its
//!    coverage (`fit.rs`).

mod components;
mod fit;
mod prompt;
mod score;
mod tally;
mod unmix;

#[cfg(test)]
mod tests;

use image::RgbImage;
use serde::{Deserialize, Serialize};

use ldm_data::shapes::{Color, Shape, ShapesConfig, Size};

pub use prompt::{Prompt, PromptObject};
pub use score::{Score, score};
pub use tally::{Aggregate, Rates, Tally};

use components::components;
use fit::{Coverage, best_fit};
use unmix::{alpha_along, rgb, unmix};

/// Thresholds of the detector; the defaults suit the shapes dataset at any resolution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorConfig {
    /// A pixel is foreground when at least this much of a palette colour covers it.
    pub foreground_alpha: f32,
    /// Components smaller than this fraction of the image are noise, not objects (a small
    /// triangle covers ~1.3% of the image, so 0.4% keeps every real object).
    pub min_area: f32,
    /// Pixels at least this covered give the component's colour (edges are blends).
    pub core_alpha: f32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            foreground_alpha: 0.5,
            min_area: 0.004,
            core_alpha: 0.75,
        }
    }
}

/// One object found in an image.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub color: Color,
    pub shape: Shape,
    pub size: Size,
    /// Centre in [0, 1] image coordinates (x to the right, y down), like `Object::center`.
    pub center: (f32, f32),
    /// Foreground pixels in the component.
    pub pixels: usize,
    /// Mean squared coverage difference of the best candidate (0 for a perfect render;
    /// large values mean no known shape fits well).
    pub fit_error: f32,
}

/// Knows the dataset's palette, shapes, sizes and background; finds objects in images.
#[derive(Clone, Debug)]
pub struct Detector {
    colors: Vec<Color>,
    shapes: Vec<Shape>,
    sizes: Vec<Size>,
    background: [u8; 3],
    cfg: DetectorConfig,
}

impl Detector {
    /// A detector for the colours, shapes, sizes and background a shapes config draws from.
    pub fn new(shapes: &ShapesConfig) -> Self {
        Self::with_config(shapes, DetectorConfig::default())
    }

    pub fn with_config(shapes: &ShapesConfig, cfg: DetectorConfig) -> Self {
        Self {
            colors: shapes.colors.clone(),
            shapes: shapes.shapes.clone(),
            sizes: shapes.sizes.clone(),
            background: shapes.background,
            cfg,
        }
    }

    /// The objects in `img`, largest first.
    pub fn detect(&self, img: &RgbImage) -> Vec<Detection> {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let bg = rgb(self.background);
        let palette: Vec<[f32; 3]> = self.colors.iter().map(|c| rgb(c.rgb())).collect();
        let px: Vec<[f32; 3]> = img.pixels().map(|p| rgb(p.0)).collect();
        let unmixed: Vec<_> = px.iter().map(|&p| unmix(p, bg, &palette)).collect();
        let mask: Vec<bool> = unmixed
            .iter()
            .map(|u| u.alpha >= self.cfg.foreground_alpha)
            .collect();
        let min_pixels = (self.cfg.min_area * (w * h) as f32).ceil() as usize;
        let mut comps: Vec<_> = components(&mask, w)
            .into_iter()
            .filter(|c| c.pixels.len() >= min_pixels.max(1))
            .collect();
        comps.sort_by_key(|c| std::cmp::Reverse(c.pixels.len()));

        // Which kept component owns each pixel, so one object's window ignores its neighbours.
        let mut owner = vec![usize::MAX; w * h];
        for (k, c) in comps.iter().enumerate() {
            for &i in &c.pixels {
                owner[i] = k;
            }
        }

        comps
            .iter()
            .enumerate()
            .map(|(k, comp)| {
                let core: Vec<usize> = comp
                    .pixels
                    .iter()
                    .copied()
                    .filter(|&i| unmixed[i].alpha >= self.cfg.core_alpha)
                    .collect();
                let core = if core.is_empty() { &comp.pixels } else { &core };
                let median = median_color(core.iter().map(|&i| px[i]));
                let color_index = unmix(median, bg, &palette).color;

                let cov = coverage(&comp.pixels, &owner, k, w, h, |i| {
                    alpha_along(px[i], bg, palette[color_index])
                });
                let fit = best_fit(&cov, &self.shapes, &self.sizes, w as f32);
                Detection {
                    color: self.colors[color_index],
                    shape: fit.shape,
                    size: fit.size,
                    center: (fit.center.0 / w as f32, fit.center.1 / h as f32),
                    pixels: comp.pixels.len(),
                    fit_error: fit.error,
                }
            })
            .collect()
    }
}

/// Pixels around a component beyond its bounding box, so partly covered edges are compared too.
const MARGIN: usize = 2;

/// The observed coverage in the component's bounding box plus a margin.
fn coverage(
    pixels: &[usize],
    owner: &[usize],
    me: usize,
    w: usize,
    h: usize,
    alpha: impl Fn(usize) -> f32,
) -> Coverage {
    let xs = pixels.iter().map(|&i| i % w);
    let ys = pixels.iter().map(|&i| i / w);
    let (x0, x1) = (xs.clone().min().unwrap(), xs.max().unwrap());
    let (y0, y1) = (ys.clone().min().unwrap(), ys.max().unwrap());
    let (x0, y0) = (x0.saturating_sub(MARGIN), y0.saturating_sub(MARGIN));
    let (x1, y1) = ((x1 + MARGIN).min(w - 1), (y1 + MARGIN).min(h - 1));
    let (cw, ch) = (x1 - x0 + 1, y1 - y0 + 1);
    let mut cov = Coverage {
        x0,
        y0,
        width: cw,
        height: ch,
        alpha: vec![0.0; cw * ch],
        weight: vec![1.0; cw * ch],
    };
    for y in 0..ch {
        for x in 0..cw {
            let i = (y0 + y) * w + x0 + x;
            let j = y * cw + x;
            if owner[i] != usize::MAX && owner[i] != me {
                cov.weight[j] = 0.0;
            } else {
                cov.alpha[j] = alpha(i);
            }
        }
    }
    cov
}

/// Per-channel median: robust to the few edge or noise pixels in the core.
fn median_color(pixels: impl Iterator<Item = [f32; 3]>) -> [f32; 3] {
    let all: Vec<[f32; 3]> = pixels.collect();
    let mut out = [0.0; 3];
    for (c, o) in out.iter_mut().enumerate() {
        let mut v: Vec<f32> = all.iter().map(|p| p[c]).collect();
        v.sort_by(f32::total_cmp);
        *o = v[v.len() / 2];
    }
    out
}
