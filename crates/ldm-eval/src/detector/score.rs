//! One image against its prompt: which of the asked-for attributes it shows.

use serde::{Deserialize, Serialize};

use ldm_data::shapes::Relation;

use super::{Detection, Prompt, PromptObject};

/// Per-attribute correctness of one image. Each prompt object is paired with at most one
/// detection (the pairing that agrees with the prompt most); an attribute is right when every
/// prompt object has a partner showing it, so a missing object fails them all, while an extra
/// object fails only `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    /// As many objects as asked for.
    pub count: bool,
    pub color: bool,
    pub shape: bool,
    pub size: bool,
    /// The relation holds between the paired objects' centres (the main axis of the relation
    /// dominates); `None` when the prompt states no relation.
    pub relation: Option<bool>,
    /// Everything above.
    pub all: bool,
}

/// Score `detections` of one image against what `prompt` asks for.
pub fn score(prompt: &Prompt, detections: &[Detection]) -> Score {
    let pairing = best_pairing(prompt, detections);
    let every = |f: &dyn Fn(&PromptObject, &Detection) -> bool| {
        prompt
            .objects
            .iter()
            .zip(&pairing)
            .all(|(p, d)| d.is_some_and(|d| f(p, &detections[d])))
    };
    let count = detections.len() == prompt.objects.len();
    let color = every(&|p, d| p.color == d.color);
    let shape = every(&|p, d| p.shape == d.shape);
    let size = every(&|p, d| p.size == d.size);
    let relation = prompt.relation.map(|r| match (pairing[0], pairing[1]) {
        (Some(a), Some(b)) => holds(r, detections[a].center, detections[b].center),
        _ => false,
    });
    Score {
        count,
        color,
        shape,
        size,
        relation,
        all: count && color && shape && size && relation.unwrap_or(true),
    }
}

/// Does `a` sit in relation `r` to `b`? Image y grows downwards.
fn holds(r: Relation, a: (f32, f32), b: (f32, f32)) -> bool {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    match r {
        Relation::Above => dy > dx.abs(),
        Relation::Below => -dy > dx.abs(),
        Relation::LeftOf => dx > dy.abs(),
        Relation::RightOf => -dx > dy.abs(),
    }
}

/// Agreement of one pair: colour outweighs shape outweighs size, and any pair beats none.
/// Even weights leave room for the relation to break ties.
fn agreement(p: &PromptObject, d: &Detection) -> u32 {
    2 + 16 * (p.color == d.color) as u32
        + 8 * (p.shape == d.shape) as u32
        + 4 * (p.size == d.size) as u32
}

/// One point when the prompt's relation holds under `pairing`: between pairings that agree
/// equally (two identical objects, "a red circle above a red circle"), the prompt cannot say
/// which object is which, so the one under which the relation holds is the fair reading.
fn relation_bonus(prompt: &Prompt, pairing: &[Option<usize>], dets: &[Detection]) -> u32 {
    match (prompt.relation, pairing) {
        (Some(r), [Some(a), Some(b)]) => holds(r, dets[*a].center, dets[*b].center) as u32,
        _ => 0,
    }
}

/// Detections considered for pairing (largest first): bounds the search on noisy images.
const MAX_CANDIDATES: usize = 8;

/// For each prompt object, the index of its detection (or none), maximising total agreement;
/// ties go to the earliest pairing found, so results are deterministic.
fn best_pairing(prompt: &Prompt, detections: &[Detection]) -> Vec<Option<usize>> {
    struct Search<'a> {
        prompt: &'a Prompt,
        dets: &'a [Detection],
        used: Vec<bool>,
        current: Vec<Option<usize>>,
        best: Option<(u32, Vec<Option<usize>>)>,
    }
    impl Search<'_> {
        fn go(&mut self, total: u32) {
            let k = self.current.len();
            if k == self.prompt.objects.len() {
                let total = total + relation_bonus(self.prompt, &self.current, self.dets);
                if self.best.as_ref().is_none_or(|b| total > b.0) {
                    self.best = Some((total, self.current.clone()));
                }
                return;
            }
            for d in 0..self.dets.len() {
                if !self.used[d] {
                    self.used[d] = true;
                    self.current.push(Some(d));
                    self.go(total + agreement(&self.prompt.objects[k], &self.dets[d]));
                    self.current.pop();
                    self.used[d] = false;
                }
            }
            self.current.push(None);
            self.go(total);
            self.current.pop();
        }
    }
    let dets = &detections[..detections.len().min(MAX_CANDIDATES)];
    let mut s = Search {
        prompt,
        dets,
        used: vec![false; dets.len()],
        current: Vec::new(),
        best: None,
    };
    s.go(0);
    s.best.map(|b| b.1).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldm_data::shapes::{Color, Shape, Size};

    fn det(color: Color, shape: Shape, size: Size, center: (f32, f32)) -> Detection {
        Detection {
            color,
            shape,
            size,
            center,
            pixels: 40,
            fit_error: 0.0,
        }
    }

    #[test]
    fn pairing_ignores_order_and_relation_uses_the_pairing() {
        let p = Prompt::parse("a red circle above a large blue square").unwrap();
        // Listed in the other order: still paired correctly.
        let d = [
            det(Color::Blue, Shape::Square, Size::Large, (0.5, 0.75)),
            det(Color::Red, Shape::Circle, Size::Medium, (0.52, 0.25)),
        ];
        let s = score(&p, &d);
        assert!(s.all, "{s:?}");
        // Swap the positions: everything but the relation still holds.
        let d2 = [
            det(Color::Blue, Shape::Square, Size::Large, (0.5, 0.25)),
            det(Color::Red, Shape::Circle, Size::Medium, (0.5, 0.75)),
        ];
        let s = score(&p, &d2);
        assert_eq!(
            (s.count, s.color, s.shape, s.size, s.relation, s.all),
            (true, true, true, true, Some(false), false)
        );
    }

    #[test]
    fn missing_object_fails_attributes_extra_fails_count() {
        let p = Prompt::parse("a red circle and a blue square").unwrap();
        let one = [det(Color::Red, Shape::Circle, Size::Medium, (0.3, 0.3))];
        let s = score(&p, &one);
        assert!(!s.count && !s.color && !s.shape && !s.size && !s.all);
        assert_eq!(s.relation, None);
        let three = [
            det(Color::Red, Shape::Circle, Size::Medium, (0.3, 0.3)),
            det(Color::Blue, Shape::Square, Size::Medium, (0.7, 0.7)),
            det(Color::Green, Shape::Star, Size::Small, (0.7, 0.2)),
        ];
        let s = score(&p, &three);
        assert!(!s.count && s.color && s.shape && s.size && !s.all);
    }
}
