//! The built-in procedural dataset: 1-3 coloured shapes on a plain background, with captions
//! derived from the ground truth. Deterministic from the seed, needs no files, and exposes the
//! ground truth so generated images can be scored exactly.

mod render;
mod scene;

use burn_dataset::Dataset;
use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use ldm_core::config::{Checks, Validate};
use ldm_core::seed;

pub use render::{inside, render};
pub use scene::{Color, Object, Relation, Scene, Shape, Size};

use crate::sample::{BadSample, Sample};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShapesConfig {
    /// Images in the training split.
    pub num_train: usize,
    /// Images in the validation split (drawn from a separate random stream).
    pub num_val: usize,
    /// Shapes to draw from: circle, square, triangle, star, diamond.
    pub shapes: Vec<Shape>,
    /// Colours to draw from: red, green, blue, yellow, purple, orange, white, cyan.
    pub colors: Vec<Color>,
    /// Sizes to draw from: small, medium (unnamed in captions), large.
    pub sizes: Vec<Size>,
    /// Objects per image are drawn uniformly from 1..=max_objects (at most 3).
    pub max_objects: usize,
    /// Colour-shape combinations never shown in training, e.g. ["red circle"]; the
    /// validation split still has them, so generalisation to them can be measured.
    pub holdout: Vec<String>,
    /// Background colour (RGB).
    pub background: [u8; 3],
}

impl Default for ShapesConfig {
    fn default() -> Self {
        Self {
            num_train: 20_000,
            num_val: 500,
            shapes: vec![Shape::Circle, Shape::Square, Shape::Triangle, Shape::Star],
            colors: vec![
                Color::Red,
                Color::Green,
                Color::Blue,
                Color::Yellow,
                Color::Purple,
                Color::Orange,
            ],
            sizes: vec![Size::Small, Size::Medium, Size::Large],
            max_objects: 2,
            holdout: Vec::new(),
            background: [20, 20, 20],
        }
    }
}

impl Validate for ShapesConfig {
    fn validate(&self, c: &mut Checks) {
        c.check("num_train", self.num_train > 0, || {
            "must be at least 1".into()
        });
        c.check("shapes", !self.shapes.is_empty(), || {
            "must name at least one shape".into()
        });
        c.check("colors", !self.colors.is_empty(), || {
            "must name at least one colour".into()
        });
        c.check("sizes", !self.sizes.is_empty(), || {
            "must name at least one size".into()
        });
        c.check("max_objects", (1..=3).contains(&self.max_objects), || {
            "must be 1, 2 or 3".into()
        });
        for (i, h) in self.holdout.iter().enumerate() {
            if let Err(e) = parse_combo(h, self) {
                c.check(&format!("holdout.{i}"), false, || e);
            }
        }
        let allowed = self.combos(true).len();
        c.check("holdout", allowed > 0, || {
            "holds out every colour-shape combination".into()
        });
    }
}

/// "red circle" -> (Red, Circle), checked against the configured colours and shapes.
fn parse_combo(text: &str, cfg: &ShapesConfig) -> Result<(Color, Shape), String> {
    let mut words = text.split_whitespace();
    let (Some(c), Some(s), None) = (words.next(), words.next(), words.next()) else {
        return Err(format!(
            "'{text}' is not a '<colour> <shape>' pair like \"red circle\""
        ));
    };
    let color = cfg.colors.iter().find(|x| x.name() == c);
    let shape = cfg.shapes.iter().find(|x| x.name() == s);
    match (color, shape) {
        (Some(&c), Some(&s)) => Ok((c, s)),
        (None, _) => Err(format!("'{text}': colour '{c}' is not in `colors`")),
        (_, None) => Err(format!("'{text}': shape '{s}' is not in `shapes`")),
    }
}

impl ShapesConfig {
    /// Every colour-shape pair; with `training`, without the held-out ones.
    pub fn combos(&self, training: bool) -> Vec<(Color, Shape)> {
        let held: Vec<(Color, Shape)> = self
            .holdout
            .iter()
            .filter_map(|h| parse_combo(h, self).ok())
            .collect();
        let mut out = Vec::new();
        for &color in &self.colors {
            for &shape in &self.shapes {
                if !(training && held.contains(&(color, shape))) {
                    out.push((color, shape));
                }
            }
        }
        out
    }

    /// Is this colour-shape pair held out of training?
    pub fn is_held_out(&self, color: Color, shape: Shape) -> bool {
        !self.combos(true).contains(&(color, shape))
    }
}

/// Which stream of scenes: training and validation never share one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShapesSplit {
    Train,
    Val,
}

pub struct Shapes {
    cfg: ShapesConfig,
    resolution: u32,
    seed: u64,
    split: ShapesSplit,
    combos: Vec<(Color, Shape)>,
}

impl Shapes {
    pub fn new(cfg: ShapesConfig, resolution: u32, seed: u64, split: ShapesSplit) -> Self {
        let combos = cfg.combos(split == ShapesSplit::Train);
        Self {
            cfg,
            resolution,
            seed,
            split,
            combos,
        }
    }

    /// The ground truth of image `index`.
    pub fn scene(&self, index: usize) -> Scene {
        let stream = match self.split {
            ShapesSplit::Train => "shapes/train",
            ShapesSplit::Val => "shapes/val",
        };
        let mut rng = seed::rng(self.seed, stream, index as u64);
        let n = rng.random_range(1..=self.cfg.max_objects);
        let mut objects: Vec<Object> = (0..n)
            .map(|_| {
                let (color, shape) = self.combos[rng.random_range(0..self.combos.len())];
                let size = self.cfg.sizes[rng.random_range(0..self.cfg.sizes.len())];
                Object {
                    shape,
                    color,
                    size,
                    center: (0.5, 0.5),
                    radius: size.radius(),
                }
            })
            .collect();
        let relation = layout(&mut objects, &mut rng);
        Scene { objects, relation }
    }
}

const MARGIN: f32 = 0.02;

/// A coordinate for an object of radius `r` inside the slot [lo, hi] of one axis.
fn place(rng: &mut impl Rng, lo: f32, hi: f32, r: f32) -> f32 {
    let (a, b) = (lo + r + MARGIN, hi - r - MARGIN);
    if a < b {
        rng.random_range(a..b)
    } else {
        (lo + hi) / 2.0
    }
}

/// Position the objects so the caption's words hold: one anywhere; two in opposite halves
/// (stacked or side by side) with the relation read from the layout; three in distinct
/// quadrants, listed in reading order.
fn layout(objects: &mut [Object], rng: &mut impl Rng) -> Option<Relation> {
    match objects.len() {
        1 => {
            let r = objects[0].radius;
            objects[0].center = (place(rng, 0.0, 1.0, r), place(rng, 0.0, 1.0, r));
            None
        }
        2 => {
            let relation = [
                Relation::Above,
                Relation::Below,
                Relation::LeftOf,
                Relation::RightOf,
            ][rng.random_range(0..4)];
            let r_max = objects[0].radius.max(objects[1].radius);
            // The shared cross-axis coordinate keeps the relation unambiguous.
            let cross = place(rng, 0.0, 1.0, r_max);
            let first_low = matches!(relation, Relation::Above | Relation::LeftOf);
            for (k, obj) in objects.iter_mut().enumerate() {
                let low_half = (k == 0) == first_low;
                let (lo, hi) = if low_half { (0.0, 0.5) } else { (0.5, 1.0) };
                let along = place(rng, lo, hi, obj.radius);
                let jitter = rng.random_range(-0.04..0.04);
                let across = (cross + jitter).clamp(obj.radius, 1.0 - obj.radius);
                obj.center = match relation {
                    Relation::Above | Relation::Below => (across, along),
                    Relation::LeftOf | Relation::RightOf => (along, across),
                };
            }
            Some(relation)
        }
        _ => {
            let mut quadrants = [0usize, 1, 2, 3];
            quadrants.shuffle(rng);
            let mut chosen = quadrants[..objects.len()].to_vec();
            chosen.sort_unstable();
            for (obj, q) in objects.iter_mut().zip(chosen) {
                let (x0, y0) = ((q % 2) as f32 * 0.5, (q / 2) as f32 * 0.5);
                obj.center = (
                    place(rng, x0, x0 + 0.5, obj.radius),
                    place(rng, y0, y0 + 0.5, obj.radius),
                );
            }
            None
        }
    }
}

impl Dataset<Sample, BadSample> for Shapes {
    fn get(&self, index: usize) -> Result<Sample, BadSample> {
        let scene = self.scene(index);
        let image = render(&scene, self.resolution, self.cfg.background);
        let split = match self.split {
            ShapesSplit::Train => "train",
            ShapesSplit::Val => "val",
        };
        Ok(Sample {
            image: image.into(),
            caption: scene.caption(),
            label: None,
            id: format!("shapes/{split}/{index}"),
        })
    }

    fn len(&self) -> usize {
        match self.split {
            ShapesSplit::Train => self.cfg.num_train,
            ShapesSplit::Val => self.cfg.num_val,
        }
    }
}

#[cfg(test)]
mod tests;
