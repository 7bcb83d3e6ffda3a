//! Caption -> encoding cache for frozen encoders: every unique caption is encoded once, before
//! training, so training never runs the text encoder.
//!
//! One safetensors file, kept with the latent cache ([`TEXT_CACHE_FILE`]): `hidden`
//! `[T, D]` f32 holds the real tokens of every caption back to back (padding is not stored:
//! masked out, it never reaches the denoiser), `lengths` `[N]` i64 the tokens of each caption,
//! `pooled` `[N, D]` f32 where the encoder has it. The metadata key `ldm-text-cache` holds a
//! JSON object with the captions (sorted, the empty caption always among them), the encoder's
//! fingerprint and the shapes; one key keeps the file's bytes deterministic.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::dropout::EMPTY_CAPTION;
use crate::encoder::{TextEncoder, TextEncoding};

/// The cache's file name inside the latent cache folder.
pub const TEXT_CACHE_FILE: &str = "text.safetensors";
const META_KEY: &str = "ldm-text-cache";
const VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Meta {
    version: u32,
    fingerprint: String,
    max_len: usize,
    dim: usize,
    captions: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct TextCache {
    meta: Meta,
    index: HashMap<String, usize>,
    lengths: Vec<usize>,
    /// First row in `hidden` of each caption.
    offsets: Vec<usize>,
    hidden: Vec<f32>,
    pooled: Option<Vec<f32>>,
}

impl TextCache {
    /// Encode every unique caption (and the empty one) with `encoder`, `batch_size` at a time;
    /// `progress(done, total)` is called after each batch.
    pub fn build<'a>(
        encoder: &dyn TextEncoder,
        captions: impl IntoIterator<Item = &'a str>,
        batch_size: usize,
        mut progress: impl FnMut(usize, usize),
    ) -> TextCache {
        let unique: BTreeSet<&str> = captions
            .into_iter()
            .chain(std::iter::once(EMPTY_CAPTION))
            .collect();
        let captions: Vec<String> = unique.into_iter().map(str::to_string).collect();
        let (d, l) = (encoder.dim(), encoder.max_len());
        let (mut lengths, mut hidden, mut pooled) = (Vec::new(), Vec::new(), Some(Vec::new()));
        for chunk in captions.chunks(batch_size.max(1)) {
            let enc = encoder.encode(chunk);
            let h = read(enc.hidden);
            let m = read(enc.mask);
            for (i, row) in m.chunks(l).enumerate() {
                let n = row.iter().filter(|&&v| v > 0.5).count();
                lengths.push(n);
                hidden.extend_from_slice(&h[i * l * d..(i * l + n) * d]);
            }
            pooled = match (pooled, enc.pooled) {
                (Some(mut all), Some(p)) => {
                    all.extend(read(p));
                    Some(all)
                }
                _ => None,
            };
            progress(lengths.len(), captions.len());
        }
        let meta = Meta {
            version: VERSION,
            fingerprint: encoder.fingerprint(),
            max_len: l,
            dim: d,
            captions,
        };
        Self::assemble(meta, lengths, hidden, pooled)
    }

    /// Load `path` if it was made by `encoder` and holds every caption; otherwise (missing,
    /// stale or unreadable) build it and save it there. Returns the cache and whether it was
    /// built.
    pub fn open_or_build<'a>(
        path: &Path,
        encoder: &dyn TextEncoder,
        captions: impl IntoIterator<Item = &'a str> + Clone,
        batch_size: usize,
        progress: impl FnMut(usize, usize),
    ) -> Result<(TextCache, bool), String> {
        if path.is_file() {
            match Self::load(path) {
                Ok(cache)
                    if cache.matches(encoder).is_ok()
                        && captions.clone().into_iter().all(|c| cache.contains(c)) =>
                {
                    return Ok((cache, false));
                }
                Ok(_) => tracing::info!("{}: stale text cache, rebuilding", path.display()),
                Err(e) => tracing::warn!("{e}; rebuilding the text cache"),
            }
        }
        let cache = Self::build(encoder, captions, batch_size, progress);
        cache.save(path)?;
        Ok((cache, true))
    }

    fn assemble(
        meta: Meta,
        lengths: Vec<usize>,
        hidden: Vec<f32>,
        pooled: Option<Vec<f32>>,
    ) -> Self {
        let index = meta
            .captions
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect();
        let offsets = lengths
            .iter()
            .scan(0, |acc, &n| {
                let start = *acc;
                *acc += n;
                Some(start)
            })
            .collect();
        Self {
            meta,
            index,
            lengths,
            offsets,
            hidden,
            pooled,
        }
    }

    /// Ok when the cache was made by an encoder with `encoder`'s fingerprint and shapes.
    pub fn matches(&self, encoder: &dyn TextEncoder) -> Result<(), String> {
        let m = &self.meta;
        if m.fingerprint != encoder.fingerprint()
            || m.max_len != encoder.max_len()
            || m.dim != encoder.dim()
        {
            return Err(format!(
                "the text cache was made by '{}', the configured encoder is '{}'",
                m.fingerprint,
                encoder.fingerprint()
            ));
        }
        Ok(())
    }

    pub fn contains(&self, caption: &str) -> bool {
        self.index.contains_key(caption)
    }

    /// Unique captions, the empty one included.
    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    pub fn captions(&self) -> &[String] {
        &self.meta.captions
    }

    pub fn fingerprint(&self) -> &str {
        &self.meta.fingerprint
    }

    /// The encodings of `captions`, rows padded with zeros to the encoder's `max_len`. Every
    /// caption must be in the cache; the error names the first one that is not.
    pub fn lookup(&self, captions: &[String], device: &Device) -> Result<TextEncoding, String> {
        let (l, d, b) = (self.meta.max_len, self.meta.dim, captions.len());
        let mut hidden = vec![0.0f32; b * l * d];
        let mut mask = vec![0.0f32; b * l];
        let mut pooled = self.pooled.as_ref().map(|_| Vec::with_capacity(b * d));
        for (i, c) in captions.iter().enumerate() {
            let &k = self
                .index
                .get(c.as_str())
                .ok_or_else(|| format!("caption {c:?} is not in the text cache; rebuild it"))?;
            let (start, n) = (self.offsets[k], self.lengths[k]);
            hidden[i * l * d..(i * l + n) * d]
                .copy_from_slice(&self.hidden[start * d..(start + n) * d]);
            mask[i * l..i * l + n].fill(1.0);
            if let (Some(out), Some(all)) = (pooled.as_mut(), self.pooled.as_ref()) {
                out.extend_from_slice(&all[k * d..(k + 1) * d]);
            }
        }
        Ok(TextEncoding {
            hidden: Tensor::from_data(TensorData::new(hidden, [b, l, d]), device),
            mask: Tensor::from_data(TensorData::new(mask, [b, l]), device),
            pooled: pooled.map(|p| Tensor::from_data(TensorData::new(p, [b, d]), device)),
        })
    }

    /// The unconditional (empty caption) encoding, `[1, L, D]`, for classifier-free guidance.
    pub fn uncond(&self, device: &Device) -> TextEncoding {
        self.lookup(&[EMPTY_CAPTION.to_string()], device)
            .expect("the empty caption is always cached")
    }

    pub fn save(&self, path: &Path) -> Result<(), String> {
        let d = self.meta.dim;
        let hidden = f32_bytes(&self.hidden);
        let lengths: Vec<u8> = self
            .lengths
            .iter()
            .flat_map(|&n| (n as i64).to_le_bytes())
            .collect();
        let pooled = self.pooled.as_ref().map(|p| f32_bytes(p));
        let view = |dtype, shape: Vec<usize>, bytes| {
            TensorView::new(dtype, shape, bytes).map_err(|e| e.to_string())
        };
        let mut tensors = vec![
            (
                "hidden",
                view(Dtype::F32, vec![self.hidden.len() / d, d], &hidden)?,
            ),
            ("lengths", view(Dtype::I64, vec![self.len()], &lengths)?),
        ];
        if let Some(p) = &pooled {
            tensors.push(("pooled", view(Dtype::F32, vec![self.len(), d], p)?));
        }
        let meta = HashMap::from([(
            META_KEY.to_string(),
            serde_json::to_string(&self.meta).expect("strings"),
        )]);
        let bytes =
            safetensors::tensor::serialize(tensors, Some(meta)).map_err(|e| e.to_string())?;
        ldm_core::atomic::write(path, &bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn load(path: &Path) -> Result<TextCache, String> {
        let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let bytes = std::fs::read(path).map_err(|e| err(&e))?;
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| err(&e))?;
        let meta: Meta = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(META_KEY))
            .ok_or_else(|| err(&"not an ldm text cache"))
            .and_then(|s| serde_json::from_str(s).map_err(|e| err(&e)))?;
        if meta.version != VERSION {
            return Err(err(&format!(
                "text cache version {} (expected {VERSION})",
                meta.version
            )));
        }
        let st = SafeTensors::deserialize(&bytes).map_err(|e| err(&e))?;
        let n = meta.captions.len();
        let lengths: Vec<usize> = tensor(&st, "lengths", Dtype::I64, &[n])?
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
            .collect();
        let total: usize = lengths.iter().sum();
        if lengths.iter().any(|&k| k > meta.max_len) {
            return Err(err(&"a caption is longer than max_len"));
        }
        let hidden = f32s(tensor(&st, "hidden", Dtype::F32, &[total, meta.dim])?);
        let pooled = match st.tensor("pooled") {
            Ok(_) => Some(f32s(tensor(&st, "pooled", Dtype::F32, &[n, meta.dim])?)),
            Err(_) => None,
        };
        Ok(Self::assemble(meta, lengths, hidden, pooled))
    }
}

fn tensor<'a>(
    st: &'a SafeTensors<'a>,
    name: &str,
    dtype: Dtype,
    shape: &[usize],
) -> Result<&'a [u8], String> {
    let t = st
        .tensor(name)
        .map_err(|e| format!("text cache '{name}': {e}"))?;
    if t.dtype() != dtype || t.shape() != shape {
        return Err(format!(
            "text cache '{name}' is {:?} {:?}, expected {dtype:?} {shape:?}",
            t.dtype(),
            t.shape()
        ));
    }
    Ok(t.data())
}

fn read<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.try_into_vec_as::<f32>()
        .expect("reading an encoding back")
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect()
}
