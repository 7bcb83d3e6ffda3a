//! The ground truth of a shapes image: which objects, where, how big, and how they relate.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    Circle,
    Square,
    Triangle,
    Star,
    Diamond,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Color {
    Red,
    Green,
    Blue,
    Yellow,
    Purple,
    Orange,
    White,
    Cyan,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Size {
    Small,
    Medium,
    Large,
}

/// How the first object of a two-object scene sits relative to the second.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    Above,
    Below,
    LeftOf,
    RightOf,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Object {
    pub shape: Shape,
    pub color: Color,
    pub size: Size,
    /// Centre in [0, 1] image coordinates (x to the right, y down).
    pub center: (f32, f32),
    /// Circumradius as a fraction of the image side.
    pub radius: f32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    /// In caption order.
    pub objects: Vec<Object>,
    pub relation: Option<Relation>,
}

impl Shape {
    pub const ALL: [Shape; 5] = [
        Shape::Circle,
        Shape::Square,
        Shape::Triangle,
        Shape::Star,
        Shape::Diamond,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Shape::Circle => "circle",
            Shape::Square => "square",
            Shape::Triangle => "triangle",
            Shape::Star => "star",
            Shape::Diamond => "diamond",
        }
    }
}

impl Color {
    pub const ALL: [Color; 8] = [
        Color::Red,
        Color::Green,
        Color::Blue,
        Color::Yellow,
        Color::Purple,
        Color::Orange,
        Color::White,
        Color::Cyan,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Color::Red => "red",
            Color::Green => "green",
            Color::Blue => "blue",
            Color::Yellow => "yellow",
            Color::Purple => "purple",
            Color::Orange => "orange",
            Color::White => "white",
            Color::Cyan => "cyan",
        }
    }
    /// Saturated, well separated colours so a detector can tell them apart after decoding.
    pub fn rgb(self) -> [u8; 3] {
        match self {
            Color::Red => [220, 40, 40],
            Color::Green => [40, 190, 60],
            Color::Blue => [50, 90, 240],
            Color::Yellow => [240, 225, 40],
            Color::Purple => [160, 60, 210],
            Color::Orange => [250, 140, 20],
            Color::White => [245, 245, 245],
            Color::Cyan => [40, 210, 230],
        }
    }
}

impl Size {
    /// Circumradius as a fraction of the image side. Medium is left unnamed in captions.
    pub fn radius(self) -> f32 {
        match self {
            Size::Small => 0.10,
            Size::Medium => 0.15,
            Size::Large => 0.21,
        }
    }
    pub fn word(self) -> Option<&'static str> {
        match self {
            Size::Small => Some("small"),
            Size::Medium => None,
            Size::Large => Some("large"),
        }
    }
}

impl Relation {
    pub fn words(self) -> &'static str {
        match self {
            Relation::Above => "above",
            Relation::Below => "below",
            Relation::LeftOf => "to the left of",
            Relation::RightOf => "to the right of",
        }
    }
}

impl Object {
    /// "a small red circle", "a blue square".
    pub fn phrase(&self) -> String {
        match self.size.word() {
            Some(s) => format!("a {s} {} {}", self.color.name(), self.shape.name()),
            None => format!("a {} {}", self.color.name(), self.shape.name()),
        }
    }
}

impl Scene {
    /// The caption, derived from the ground truth alone:
    /// "a small green triangle", "a red circle above a blue square",
    /// "a red circle, a blue square and a large green star".
    pub fn caption(&self) -> String {
        let p: Vec<String> = self.objects.iter().map(Object::phrase).collect();
        match (p.len(), self.relation) {
            (2, Some(r)) => format!("{} {} {}", p[0], r.words(), p[1]),
            (n, _) if n >= 2 => format!("{} and {}", p[..n - 1].join(", "), p[n - 1]),
            _ => p.join(""),
        }
    }
}
