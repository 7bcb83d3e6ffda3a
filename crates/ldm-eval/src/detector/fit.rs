//! Shape and size by analysis-by-synthesis: render every candidate (shape, size) as a coverage
//! map at the object's centre, the way the dataset's renderer does, and keep the one closest
//! to the observed coverage. At 32x32 a small star is a dozen pixels, too few for corner
//! counts or convexity measures to be reliable, but still enough to tell which known
//! silhouette explains them best.

use ldm_data::shapes::{Shape, Size, inside};

/// Sub-pixel samples per axis when rendering a candidate; the dataset renders with 4x4.
const SUPERSAMPLE: usize = 4;

/// Centre offsets tried around the coverage-weighted centroid, in pixels. The shapes are
/// symmetric, so the centroid is already close; this absorbs the remaining pixel rounding.
const NUDGES: [f32; 3] = [-0.25, 0.0, 0.25];

/// Observed coverage of one object in a window of the image.
pub struct Coverage {
    /// Window origin in the image, in pixels.
    pub x0: usize,
    pub y0: usize,
    pub width: usize,
    pub height: usize,
    /// Coverage in [0, 1] per window pixel, row-major.
    pub alpha: Vec<f32>,
    /// 0 for pixels that belong to another object (left out of the comparison), else 1.
    pub weight: Vec<f32>,
}

/// The winning candidate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fit {
    pub shape: Shape,
    pub size: Size,
    /// Centre in image pixels (x right, y down; pixel i spans [i, i + 1]).
    pub center: (f32, f32),
    /// Mean squared coverage difference over the window.
    pub error: f32,
}

impl Coverage {
    /// The coverage-weighted centroid, in image pixels.
    pub fn centroid(&self) -> (f32, f32) {
        let (mut sx, mut sy, mut s) = (0.0, 0.0, 0.0);
        for y in 0..self.height {
            for x in 0..self.width {
                let i = y * self.width + x;
                let a = self.alpha[i] * self.weight[i];
                sx += a * (self.x0 + x) as f32 + 0.5 * a;
                sy += a * (self.y0 + y) as f32 + 0.5 * a;
                s += a;
            }
        }
        if s > 0.0 {
            (sx / s, sy / s)
        } else {
            (
                self.x0 as f32 + self.width as f32 / 2.0,
                self.y0 as f32 + self.height as f32 / 2.0,
            )
        }
    }

    /// Squared difference to `shape` with circumradius `r` pixels centred at `c`.
    fn error(&self, shape: Shape, r: f32, c: (f32, f32)) -> f32 {
        let step = 1.0 / SUPERSAMPLE as f32;
        let per_pixel = (SUPERSAMPLE * SUPERSAMPLE) as f32;
        let mut err = 0.0;
        for y in 0..self.height {
            for x in 0..self.width {
                let i = y * self.width + x;
                if self.weight[i] == 0.0 {
                    continue;
                }
                let (px, py) = ((self.x0 + x) as f32, (self.y0 + y) as f32);
                let mut hits = 0u32;
                for sy in 0..SUPERSAMPLE {
                    let v = (py + (sy as f32 + 0.5) * step - c.1) / r;
                    for sx in 0..SUPERSAMPLE {
                        let u = (px + (sx as f32 + 0.5) * step - c.0) / r;
                        hits += inside(shape, u, v) as u32;
                    }
                }
                let d = self.alpha[i] - hits as f32 / per_pixel;
                err += self.weight[i] * d * d;
            }
        }
        err
    }
}

/// The candidate that best explains `cov`. `side` is the image side in pixels (sizes are
/// fractions of it).
pub fn best_fit(cov: &Coverage, shapes: &[Shape], sizes: &[Size], side: f32) -> Fit {
    let (cx, cy) = cov.centroid();
    let n = cov.weight.iter().sum::<f32>().max(1.0);
    let mut best = Fit {
        shape: shapes[0],
        size: sizes[0],
        center: (cx, cy),
        error: f32::INFINITY,
    };
    for &shape in shapes {
        for &size in sizes {
            let r = size.radius() * side;
            for dy in NUDGES {
                for dx in NUDGES {
                    let c = (cx + dx, cy + dy);
                    let e = cov.error(shape, r, c) / n;
                    if e < best.error {
                        best = Fit {
                            shape,
                            size,
                            center: c,
                            error: e,
                        };
                    }
                }
            }
        }
    }
    best
}
