//! HF-style imagefolder: images in nested folders, captions in `metadata.jsonl` or
//! `metadata.csv` (`file_name`, `text`) whose paths are relative to the metadata file.
//! Optional columns: `split` (e.g. "train"/"test", for `data.val_split`) and `label` (what
//! the caption says, e.g. the class of a templated caption; a string or an integer).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn_dataset::Dataset;
use serde::Deserialize;

use crate::sample::{self, BadSample, Sample};

const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "webp"];

/// Every image found on disk or named in a metadata file, with its caption if one was given.
pub struct ImageFolder {
    items: Vec<Item>,
}

struct Item {
    path: PathBuf,
    caption: Option<String>,
    /// The metadata's optional `split` column ("train", "test", ...).
    split: Option<String>,
    label: Option<String>,
}

#[derive(Deserialize)]
struct Row {
    file_name: String,
    text: Option<String>,
    #[serde(default)]
    split: Option<String>,
    #[serde(default)]
    label: Option<Label>,
}

/// A class name or a class index: both are common in imagefolder metadata.
#[derive(Deserialize)]
#[serde(untagged)]
enum Label {
    Name(String),
    Index(i64),
}

impl Label {
    fn into_string(self) -> String {
        match self {
            Label::Name(s) => s,
            Label::Index(i) => i.to_string(),
        }
    }
}

/// What a metadata row says about one image.
#[derive(Default)]
struct Meta {
    caption: Option<String>,
    split: Option<String>,
    label: Option<String>,
}

impl ImageFolder {
    /// Index `root`. Fails if the folder is missing or holds no metadata file; images with no
    /// metadata row, and rows whose image is missing, are kept as items that fail to load,
    /// so `on_bad_sample` decides what happens to them.
    pub fn open(root: &Path) -> Result<Self, String> {
        if !root.is_dir() {
            return Err(format!("dataset folder not found: {}", root.display()));
        }
        let mut images = Vec::new();
        let mut metadata = Vec::new();
        walk(root, &mut images, &mut metadata)?;
        if metadata.is_empty() {
            return Err(format!(
                "{}: no metadata.jsonl or metadata.csv (with file_name and text columns) found",
                root.display()
            ));
        }
        let mut rows: BTreeMap<PathBuf, Meta> = BTreeMap::new();
        for meta in &metadata {
            let dir = meta.parent().unwrap_or(root);
            for row in read_rows(meta)? {
                let m = Meta {
                    caption: row.text,
                    split: row.split,
                    label: row.label.map(Label::into_string),
                };
                rows.insert(dir.join(&row.file_name), m);
            }
        }
        for img in images {
            rows.entry(img).or_default();
        }
        let items = rows
            .into_iter()
            .map(|(path, m)| Item {
                path,
                caption: m.caption,
                split: m.split,
                label: m.label,
            })
            .collect();
        Ok(Self { items })
    }

    /// Indices whose metadata `split` column is `name`, and all the others.
    pub fn partition_by_split(&self, name: &str) -> (Vec<usize>, Vec<usize>) {
        (0..self.items.len()).partition(|&i| self.items[i].split.as_deref() == Some(name))
    }
}

fn walk(dir: &Path, images: &mut Vec<PathBuf>, metadata: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            walk(&p, images, metadata)?;
        } else if name == "metadata.jsonl" || name == "metadata.csv" {
            metadata.push(p);
        } else if has_image_extension(&p) {
            images.push(p);
        }
    }
    Ok(())
}

fn has_image_extension(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn read_rows(meta: &Path) -> Result<Vec<Row>, String> {
    let err = |line: usize, e: &dyn std::fmt::Display| format!("{}:{line}: {e}", meta.display());
    if meta.extension().is_some_and(|e| e == "csv") {
        let mut reader = csv::Reader::from_path(meta).map_err(|e| err(1, &e))?;
        reader
            .deserialize::<Row>()
            .enumerate()
            .map(|(i, r)| r.map_err(|e| err(i + 2, &e)))
            .collect()
    } else {
        let text = std::fs::read_to_string(meta).map_err(|e| err(0, &e))?;
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| serde_json::from_str::<Row>(l).map_err(|e| err(i + 1, &e)))
            .collect()
    }
}

impl Dataset<Sample, BadSample> for ImageFolder {
    fn get(&self, index: usize) -> Result<Sample, BadSample> {
        let Item {
            path,
            caption,
            label,
            ..
        } = &self.items[index];
        let id = path.display().to_string();
        let caption = sample::require_caption(&id, caption.clone())?;
        let bytes = std::fs::read(path).map_err(|e| {
            let why = if e.kind() == std::io::ErrorKind::NotFound {
                "image file not found".to_string()
            } else {
                format!("cannot read image: {e}")
            };
            BadSample::new(&id, why)
        })?;
        let image = sample::decode(&id, &bytes)?;
        Ok(Sample {
            image,
            caption,
            label: label.clone(),
            id,
        })
    }

    fn len(&self) -> usize {
        self.items.len()
    }
}
