//! What a prompt asks for, read from its words: the objects in caption order (size, colour,
//! shape) and, for two objects, how the first sits relative to the second. Positions are not
//! part of a prompt; only the relation is.

use serde::{Deserialize, Serialize};

use ldm_data::shapes::{Color, Relation, Scene, Shape, Size};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptObject {
    pub size: Size,
    pub color: Color,
    pub shape: Shape,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub objects: Vec<PromptObject>,
    pub relation: Option<Relation>,
}

impl From<&Scene> for Prompt {
    fn from(scene: &Scene) -> Self {
        Prompt {
            objects: scene
                .objects
                .iter()
                .map(|o| PromptObject {
                    size: o.size,
                    color: o.color,
                    shape: o.shape,
                })
                .collect(),
            relation: scene.relation,
        }
    }
}

impl Prompt {
    /// Parse a caption in the shapes grammar: "a small green triangle",
    /// "a red circle above a blue square", "a red circle, a blue square and a large green
    /// star". Medium size is the unnamed one. Any other wording is an error naming the word.
    pub fn parse(caption: &str) -> Result<Prompt, String> {
        let cleaned = caption.trim().trim_end_matches('.').replace(',', " , ");
        let words: Vec<&str> = cleaned.split_whitespace().collect();
        let err = |at: usize, want: &str| {
            let got = words.get(at).copied().unwrap_or("<end>");
            format!("caption {caption:?}: expected {want}, found '{got}'")
        };
        let mut objects = Vec::new();
        let mut relation = None;
        let mut i = 0;
        loop {
            if !words.get(i).is_some_and(|w| w.eq_ignore_ascii_case("a")) {
                return Err(err(i, "'a'"));
            }
            i += 1;
            let size = match words.get(i).copied() {
                Some("small") => Size::Small,
                Some("large") => Size::Large,
                _ => Size::Medium,
            };
            if size != Size::Medium {
                i += 1;
            }
            let color = words
                .get(i)
                .and_then(|w| Color::ALL.into_iter().find(|c| c.name() == *w))
                .ok_or_else(|| err(i, "a colour"))?;
            i += 1;
            let shape = words
                .get(i)
                .and_then(|w| Shape::ALL.into_iter().find(|s| s.name() == *w))
                .ok_or_else(|| err(i, "a shape"))?;
            i += 1;
            objects.push(PromptObject { size, color, shape });
            let rest = &words[i..];
            let (step, rel) = match rest {
                [] => break,
                [",", ..] | ["and", ..] => (1, None),
                ["above", ..] => (1, Some(Relation::Above)),
                ["below", ..] => (1, Some(Relation::Below)),
                ["to", "the", "left", "of", ..] => (4, Some(Relation::LeftOf)),
                ["to", "the", "right", "of", ..] => (4, Some(Relation::RightOf)),
                _ => return Err(err(i, "',', 'and', a relation or the end")),
            };
            if rel.is_some() {
                if relation.is_some() || objects.len() != 1 {
                    return Err(format!(
                        "caption {caption:?}: a relation joins exactly two objects"
                    ));
                }
                relation = rel;
            }
            i += step;
        }
        if relation.is_some() && objects.len() != 2 {
            return Err(format!(
                "caption {caption:?}: a relation joins exactly two objects"
            ));
        }
        Ok(Prompt { objects, relation })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldm_data::shapes::{Shapes, ShapesConfig, ShapesSplit};

    #[test]
    fn every_generated_caption_parses_back_to_its_scene() {
        let cfg = ShapesConfig {
            max_objects: 3,
            shapes: Shape::ALL.to_vec(),
            colors: Color::ALL.to_vec(),
            ..Default::default()
        };
        let ds = Shapes::new(cfg, 32, 3, ShapesSplit::Train);
        for i in 0..300 {
            let scene = ds.scene(i);
            assert_eq!(
                Prompt::parse(&scene.caption()).unwrap(),
                Prompt::from(&scene),
                "{}",
                scene.caption()
            );
        }
    }

    #[test]
    fn bad_wording_names_the_word() {
        let e = Prompt::parse("a red hexagon").unwrap_err();
        assert!(e.contains("'hexagon'"), "{e}");
        assert!(Prompt::parse("a red circle above a blue square above a green star").is_err());
        let p = Prompt::parse("a large red circle to the right of a small blue square").unwrap();
        assert_eq!(p.relation, Some(Relation::RightOf));
        assert_eq!(p.objects[0].size, Size::Large);
        assert_eq!(p.objects[1].size, Size::Small);
    }
}
