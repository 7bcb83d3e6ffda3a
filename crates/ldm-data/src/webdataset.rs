//! WebDataset tar shards (`{key}.jpg|png|webp` + `{key}.txt`, as img2dataset writes them).
//!
//! Opening reads only the tar headers of each shard and records where each member lies;
//! samples are then read by seeking into the shard. Shards are never held in memory, and the
//! random access gives webdataset the same seeded, resumable order as every other source.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use burn_dataset::Dataset;

use crate::sample::{self, BadSample, Sample};

#[derive(Clone, Copy, Debug)]
struct Member {
    offset: u64,
    size: u64,
}

#[derive(Debug)]
struct Entry {
    shard: usize,
    key: String,
    image: Option<Member>,
    caption: Option<Member>,
}

pub struct WebDataset {
    shards: Vec<PathBuf>,
    entries: Vec<Entry>,
}

impl WebDataset {
    /// Index the shards named by `pattern` (see [`crate::shards::expand`]).
    pub fn open(pattern: &str) -> Result<Self, String> {
        let shards = crate::shards::expand(pattern)?;
        if shards.is_empty() {
            return Err(format!("no shard matches '{pattern}'"));
        }
        let mut entries = Vec::new();
        for (i, shard) in shards.iter().enumerate() {
            index_shard(i, shard, &mut entries)?;
        }
        Ok(Self { shards, entries })
    }
}

/// Group a shard's members by key: the file name up to its first dot, in its directory.
fn index_shard(shard_id: usize, path: &PathBuf, out: &mut Vec<Entry>) -> Result<(), String> {
    let err = |e: std::io::Error| format!("{}: cannot read tar shard: {e}", path.display());
    let file = File::open(path).map_err(err)?;
    let mut archive = tar::Archive::new(file);
    let start = out.len();
    for member in archive.entries_with_seek().map_err(err)? {
        let member = member.map_err(err)?;
        if !member.header().entry_type().is_file() {
            continue;
        }
        let name = member.path().map_err(err)?.to_string_lossy().into_owned();
        let (dir, file_name) = name.rsplit_once('/').unwrap_or(("", &name));
        let Some((stem, ext)) = file_name.split_once('.') else {
            continue;
        };
        let key = if dir.is_empty() {
            stem.to_string()
        } else {
            format!("{dir}/{stem}")
        };
        let m = Member {
            offset: member.raw_file_position(),
            size: member.size(),
        };
        // img2dataset writes a sample's members next to each other.
        let entry = match out[start..].last_mut() {
            Some(e) if e.key == key => e,
            _ => {
                out.push(Entry {
                    shard: shard_id,
                    key,
                    image: None,
                    caption: None,
                });
                out.last_mut().expect("just pushed")
            }
        };
        match ext.to_ascii_lowercase().as_str() {
            "jpg" | "jpeg" | "png" | "webp" => entry.image = Some(m),
            "txt" => entry.caption = Some(m),
            _ => {}
        }
    }
    Ok(())
}

fn read_member(path: &PathBuf, m: Member) -> std::io::Result<Vec<u8>> {
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(m.offset))?;
    let mut buf = vec![0; m.size as usize];
    f.read_exact(&mut buf)?;
    Ok(buf)
}

impl Dataset<Sample, BadSample> for WebDataset {
    fn get(&self, index: usize) -> Result<Sample, BadSample> {
        let e = &self.entries[index];
        let shard = &self.shards[e.shard];
        let id = format!("{}:{}", shard.display(), e.key);
        let io = |err: std::io::Error| BadSample::new(&id, format!("cannot read member: {err}"));
        let caption = match e.caption {
            Some(m) => Some(String::from_utf8_lossy(&read_member(shard, m).map_err(io)?).into()),
            None => None,
        };
        let caption = sample::require_caption(&id, caption)?;
        let m = e
            .image
            .ok_or_else(|| BadSample::new(&id, "missing image"))?;
        let image = sample::decode(&id, &read_member(shard, m).map_err(io)?)?;
        Ok(Sample {
            image,
            caption,
            label: None,
            id,
        })
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}
