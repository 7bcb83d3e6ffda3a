//! Scores summed over many images, kept apart for prompts that name a colour-shape pair held
//! out of training: whether the model composes unseen combinations is the question those ask.

use serde::{Deserialize, Serialize};

use ldm_data::shapes::{Color, Shape, ShapesConfig};

use super::{Prompt, Score};

/// Counts of correct attributes over a set of images.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub images: usize,
    pub count: usize,
    pub color: usize,
    pub shape: usize,
    pub size: usize,
    /// Images whose prompt states a relation, and those where it holds.
    pub relation_images: usize,
    pub relation: usize,
    pub all: usize,
}

/// The same as fractions in [0, 1] (0 when there are no images); `relation` is over the
/// images whose prompt states one, and absent when none does (not a 0% score).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    pub images: usize,
    pub count: f64,
    pub color: f64,
    pub shape: f64,
    pub size: f64,
    pub relation: Option<f64>,
    pub all: f64,
}

impl Tally {
    pub fn add(&mut self, s: &Score) {
        self.images += 1;
        self.count += s.count as usize;
        self.color += s.color as usize;
        self.shape += s.shape as usize;
        self.size += s.size as usize;
        if let Some(r) = s.relation {
            self.relation_images += 1;
            self.relation += r as usize;
        }
        self.all += s.all as usize;
    }

    pub fn merge(&mut self, o: &Tally) {
        self.images += o.images;
        self.count += o.count;
        self.color += o.color;
        self.shape += o.shape;
        self.size += o.size;
        self.relation_images += o.relation_images;
        self.relation += o.relation;
        self.all += o.all;
    }

    pub fn rates(&self) -> Rates {
        let f = |k: usize, n: usize| if n == 0 { 0.0 } else { k as f64 / n as f64 };
        Rates {
            images: self.images,
            count: f(self.count, self.images),
            color: f(self.color, self.images),
            shape: f(self.shape, self.images),
            size: f(self.size, self.images),
            relation: (self.relation_images > 0).then(|| f(self.relation, self.relation_images)),
            all: f(self.all, self.images),
        }
    }
}

/// Tallies for prompts made only of colour-shape pairs seen in training, and for prompts that
/// name at least one held-out pair (`data.shapes.holdout`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    pub seen: Tally,
    pub held_out: Tally,
    #[serde(skip)]
    held: Vec<(Color, Shape)>,
}

impl Aggregate {
    pub fn new(shapes: &ShapesConfig) -> Self {
        let training = shapes.combos(true);
        let held = shapes
            .combos(false)
            .into_iter()
            .filter(|c| !training.contains(c))
            .collect();
        Self {
            held,
            ..Default::default()
        }
    }

    /// Does the prompt name a held-out colour-shape pair?
    pub fn is_held_out(&self, prompt: &Prompt) -> bool {
        prompt
            .objects
            .iter()
            .any(|o| self.held.contains(&(o.color, o.shape)))
    }

    pub fn add(&mut self, prompt: &Prompt, s: &Score) {
        if self.is_held_out(prompt) {
            self.held_out.add(s);
        } else {
            self.seen.add(s);
        }
    }

    /// Seen and held-out together.
    pub fn total(&self) -> Tally {
        let mut t = self.seen.clone();
        t.merge(&self.held_out);
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_out_prompts_are_counted_apart() {
        let cfg = ShapesConfig {
            holdout: vec!["red circle".into()],
            ..Default::default()
        };
        let mut agg = Aggregate::new(&cfg);
        let right = Score {
            count: true,
            color: true,
            shape: true,
            size: true,
            relation: Some(true),
            all: true,
        };
        let wrong = Score {
            shape: false,
            all: false,
            relation: None,
            ..right
        };
        agg.add(
            &Prompt::parse("a red circle above a blue square").unwrap(),
            &right,
        );
        agg.add(&Prompt::parse("a red square").unwrap(), &wrong);
        assert_eq!(agg.held_out.images, 1);
        assert_eq!(agg.held_out.relation, 1);
        assert_eq!(agg.seen.images, 1);
        assert_eq!(agg.seen.shape, 0);
        let r = agg.total().rates();
        assert_eq!(
            (r.images, r.all, r.color, r.relation),
            (2, 0.5, 1.0, Some(1.0))
        );
        // No prompt with a relation: no relation rate, rather than a 0% one.
        assert_eq!(agg.seen.rates().relation, None);
    }
}
