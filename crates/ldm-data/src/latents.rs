//! The latent cache: what the denoiser trains from instead of pixels.
//!
//! `<dir>/manifest.json` names the shards of each split and the latent shape and scale
//! factor; each shard `<split>-NNNNN.safetensors` holds `mean` and `std` (`[N, C, H, W]`,
//! f32) of the autoencoder's posterior, so a fresh z can be drawn every step, and the
//! captions in its metadata (`captions`: a JSON list).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

const FORMAT: &str = "ldm-latents";
const VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatentManifest {
    pub format: String,
    pub version: u32,
    /// `[C, H, W]` of one latent.
    pub shape: [usize; 3],
    /// Multiply latents by this before diffusion.
    pub scale_factor: f64,
    pub splits: BTreeMap<String, SplitShards>,
    /// Free-form description of the encoder that made them.
    pub source: serde_json::Value,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SplitShards {
    pub shards: Vec<String>,
    pub count: usize,
}

/// Writes one split's shards.
pub struct LatentWriter {
    dir: PathBuf,
    split: String,
    shape: [usize; 3],
    shard_size: usize,
    mean: Vec<f32>,
    std: Vec<f32>,
    captions: Vec<String>,
    done: SplitShards,
}

impl LatentWriter {
    pub fn new(dir: &Path, split: &str, shape: [usize; 3], shard_size: usize) -> Self {
        Self {
            dir: dir.to_path_buf(),
            split: split.to_string(),
            shape,
            shard_size,
            mean: Vec::new(),
            std: Vec::new(),
            captions: Vec::new(),
            done: SplitShards::default(),
        }
    }

    /// Add one latent (mean and std, each `C*H*W` values) with its caption.
    pub fn push(&mut self, mean: &[f32], std: &[f32], caption: &str) -> Result<(), String> {
        let n: usize = self.shape.iter().product();
        if mean.len() != n || std.len() != n {
            return Err(format!("latent has {} values, expected {n}", mean.len()));
        }
        self.mean.extend_from_slice(mean);
        self.std.extend_from_slice(std);
        self.captions.push(caption.to_string());
        if self.captions.len() == self.shard_size {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), String> {
        if self.captions.is_empty() {
            return Ok(());
        }
        let name = format!("{}-{:05}.safetensors", self.split, self.done.shards.len());
        let [c, h, w] = self.shape;
        let shape = vec![self.captions.len(), c, h, w];
        let (mean, std) = (f32_bytes(&self.mean), f32_bytes(&self.std));
        let tensors = [
            (
                "mean",
                TensorView::new(Dtype::F32, shape.clone(), &mean).map_err(|e| e.to_string())?,
            ),
            (
                "std",
                TensorView::new(Dtype::F32, shape, &std).map_err(|e| e.to_string())?,
            ),
        ];
        let meta = HashMap::from([(
            "captions".to_string(),
            serde_json::to_string(&self.captions).expect("strings"),
        )]);
        let bytes =
            safetensors::tensor::serialize(tensors, Some(meta)).map_err(|e| e.to_string())?;
        ldm_core::atomic::write(&self.dir.join(&name), &bytes)
            .map_err(|e| format!("writing {name}: {e}"))?;
        self.done.count += self.captions.len();
        self.done.shards.push(name);
        self.mean.clear();
        self.std.clear();
        self.captions.clear();
        Ok(())
    }

    pub fn finish(mut self) -> Result<SplitShards, String> {
        self.flush()?;
        Ok(self.done)
    }
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Write the manifest last: its presence marks the cache complete.
pub fn write_manifest(dir: &Path, mut manifest: LatentManifest) -> Result<(), String> {
    manifest.format = FORMAT.into();
    manifest.version = VERSION;
    let json = serde_json::to_string_pretty(&manifest).expect("manifest serializes");
    ldm_core::atomic::write(&dir.join("manifest.json"), json.as_bytes()).map_err(|e| e.to_string())
}

/// One split of the cache, in memory.
#[derive(Clone, Debug, Default)]
pub struct LatentSplit {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    pub captions: Vec<String>,
}

impl LatentSplit {
    pub fn len(&self) -> usize {
        self.captions.len()
    }
    pub fn is_empty(&self) -> bool {
        self.captions.is_empty()
    }
}

pub struct LatentCache {
    pub manifest: LatentManifest,
    pub splits: BTreeMap<String, LatentSplit>,
}

impl LatentCache {
    /// Read the manifest and every shard, checking shapes and counts.
    pub fn open(dir: &Path) -> Result<Self, String> {
        let mp = dir.join("manifest.json");
        let text = std::fs::read_to_string(&mp)
            .map_err(|e| format!("{}: {e} (run `ldm encode` first)", mp.display()))?;
        let manifest: LatentManifest =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", mp.display()))?;
        if manifest.format != FORMAT || manifest.version != VERSION {
            return Err(format!(
                "{}: not an ldm latent cache of version {VERSION}",
                mp.display()
            ));
        }
        let mut splits = BTreeMap::new();
        for (name, shards) in &manifest.splits {
            let mut split = LatentSplit::default();
            for shard in &shards.shards {
                read_shard(&dir.join(shard), manifest.shape, &mut split)?;
            }
            if split.len() != shards.count {
                return Err(format!(
                    "{}: split {name} has {} latents, manifest says {}",
                    dir.display(),
                    split.len(),
                    shards.count
                ));
            }
            splits.insert(name.clone(), split);
        }
        Ok(Self { manifest, splits })
    }
}

fn read_shard(path: &Path, shape: [usize; 3], out: &mut LatentSplit) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let bytes = std::fs::read(path).map_err(|e| err(&e))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| err(&e))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| err(&e))?;
    let captions: Vec<String> = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get("captions"))
        .map(|c| serde_json::from_str(c))
        .transpose()
        .map_err(|e| err(&e))?
        .ok_or_else(|| err(&"no captions in the shard's metadata"))?;
    for (name, dst) in [("mean", &mut out.mean), ("std", &mut out.std)] {
        let t = st.tensor(name).map_err(|e| err(&e))?;
        let want = [captions.len(), shape[0], shape[1], shape[2]];
        if t.dtype() != Dtype::F32 || t.shape() != want {
            return Err(err(&format!(
                "'{name}' is {:?} {:?}, expected F32 {want:?}",
                t.dtype(),
                t.shape()
            )));
        }
        dst.extend(
            t.data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
    }
    out.captions.extend(captions);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_shards_and_reads_them_back() {
        let d = tempfile::tempdir().unwrap();
        let mut w = LatentWriter::new(d.path(), "train", [2, 1, 2], 3);
        for i in 0..7 {
            let m: Vec<f32> = (0..4).map(|k| (i * 10 + k) as f32).collect();
            w.push(&m, &[0.5; 4], &format!("caption {i}")).unwrap();
        }
        let train = w.finish().unwrap();
        assert_eq!((train.count, train.shards.len()), (7, 3));
        let manifest = LatentManifest {
            format: String::new(),
            version: 0,
            shape: [2, 1, 2],
            scale_factor: 0.7,
            splits: BTreeMap::from([("train".into(), train)]),
            source: serde_json::json!({}),
        };
        write_manifest(d.path(), manifest).unwrap();
        let cache = LatentCache::open(d.path()).unwrap();
        let s = &cache.splits["train"];
        assert_eq!(s.len(), 7);
        assert_eq!(s.captions[6], "caption 6");
        assert_eq!(s.mean[6 * 4 + 3], 63.0);
        assert_eq!(s.std[27], 0.5);
        assert_eq!(cache.manifest.scale_factor, 0.7);
        // A shard that does not match the manifest is refused.
        std::fs::write(d.path().join("train-00001.safetensors"), b"junk").unwrap();
        assert!(LatentCache::open(d.path()).is_err());
    }
}
