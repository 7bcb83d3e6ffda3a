//! The caption -> encoding cache: each unique caption encoded once, lookups without the
//! encoder, a save/load round trip, reuse of a current file and rebuilds of a stale one.

mod common;

use std::cell::Cell;

use burn::tensor::{Device, Tensor, TensorData};
use common::{fixture, max_abs_diff, max_abs_diff_real, values};
use ldm_text::{ClipEncoder, TEXT_CACHE_FILE, TextCache, TextEncoder, TextEncoding};

/// A frozen "encoder" whose outputs are a function of the caption's bytes, counting the
/// captions it encodes. Row length = words + 1; padding rows are filled with 9.0 so a lookup
/// that copied padding would show.
struct Counting {
    calls: Cell<usize>,
    encoded: Cell<usize>,
    name: &'static str,
}

const L: usize = 6;
const D: usize = 3;

impl Counting {
    fn new(name: &'static str) -> Self {
        Self {
            calls: Cell::new(0),
            encoded: Cell::new(0),
            name,
        }
    }

    fn len_of(c: &str) -> usize {
        (c.split_whitespace().count() + 1).min(L)
    }
}

impl TextEncoder for Counting {
    fn encode(&self, captions: &[String]) -> TextEncoding {
        self.calls.set(self.calls.get() + 1);
        self.encoded.set(self.encoded.get() + captions.len());
        let dev = Device::flex();
        let (mut h, mut m, mut p) = (vec![], vec![], vec![]);
        for c in captions {
            let n = Self::len_of(c);
            let seed = c.bytes().fold(1.0f32, |a, b| (a * 31.0 + b as f32) % 997.0);
            for j in 0..L {
                for k in 0..D {
                    h.push(if j < n {
                        seed + (j * D + k) as f32
                    } else {
                        9.0
                    });
                }
                m.push(if j < n { 1.0 } else { 0.0 });
            }
            p.extend([seed, -seed, n as f32]);
        }
        let b = captions.len();
        TextEncoding {
            hidden: Tensor::from_data(TensorData::new(h, [b, L, D]), &dev),
            mask: Tensor::from_data(TensorData::new(m, [b, L]), &dev),
            pooled: Some(Tensor::from_data(TensorData::new(p, [b, D]), &dev)),
        }
    }
    fn dim(&self) -> usize {
        D
    }
    fn max_len(&self) -> usize {
        L
    }
    fn fingerprint(&self) -> String {
        self.name.into()
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const DATASET: &[&str] = &[
    "a red circle",
    "a blue square",
    "a red circle",
    "a star",
    "a blue square",
];

#[test]
fn each_unique_caption_is_encoded_once_and_lookups_match() {
    let enc = Counting::new("counting");
    let mut reports = vec![];
    let cache = TextCache::build(&enc, DATASET.iter().copied(), 2, |done, total| {
        reports.push((done, total))
    });
    // 3 unique captions and the empty one, 2 per batch.
    assert_eq!((cache.len(), enc.encoded.get(), enc.calls.get()), (4, 4, 2));
    assert_eq!(reports, [(2, 4), (4, 4)]);
    assert!(cache.contains("") && cache.contains("a star") && !cache.contains("a moon"));

    let batch = strings(&["a star", "a red circle", "", "a red circle"]);
    let got = cache.lookup(&batch, &Device::flex()).unwrap();
    assert_eq!(enc.encoded.get(), 4, "lookups never encode");
    let want = enc.encode(&batch);
    let lengths: Vec<usize> = batch.iter().map(|c| Counting::len_of(c)).collect();
    let (gh, wh) = (values(got.hidden), values(want.hidden));
    assert_eq!(max_abs_diff_real(&gh, &wh, &lengths, L, D), 0.0);
    assert_eq!(values(got.mask), values(want.mask));
    assert_eq!(values(got.pooled.unwrap()), values(want.pooled.unwrap()));
    // Padding is not stored: zeros where the encoder left 9.0.
    assert_eq!(
        &gh[(lengths[0]) * D..L * D],
        &vec![0.0; (L - lengths[0]) * D][..]
    );

    let err = cache
        .lookup(&strings(&["a moon"]), &Device::flex())
        .err()
        .unwrap();
    assert!(err.contains("a moon"), "{err}");
    let uncond = cache.uncond(&Device::flex());
    assert_eq!(values(uncond.mask), [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
}

#[test]
fn saved_cache_is_reused_until_stale() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(TEXT_CACHE_FILE);
    let enc = Counting::new("counting");
    let (built, fresh) =
        TextCache::open_or_build(&path, &enc, DATASET.iter().copied(), 8, |_, _| {}).unwrap();
    assert!(fresh);
    assert_eq!(enc.encoded.get(), 4);

    // Same encoder, same captions: a hit, nothing encoded, the same encodings.
    let (loaded, fresh) =
        TextCache::open_or_build(&path, &enc, DATASET.iter().copied(), 8, |_, _| {}).unwrap();
    assert!(!fresh);
    assert_eq!(enc.encoded.get(), 4);
    assert_eq!(loaded.captions(), built.captions());
    let all = loaded.captions().to_vec();
    let (a, b) = (
        built.lookup(&all, &Device::flex()).unwrap(),
        loaded.lookup(&all, &Device::flex()).unwrap(),
    );
    assert_eq!(values(a.hidden), values(b.hidden));
    assert_eq!(values(a.pooled.unwrap()), values(b.pooled.unwrap()));

    // A caption the file lacks, or another encoder: rebuilt.
    let more = ["a red circle", "a moon"];
    let (_, fresh) =
        TextCache::open_or_build(&path, &enc, more.iter().copied(), 8, |_, _| {}).unwrap();
    assert!(fresh);
    let other = Counting::new("other weights");
    assert!(TextCache::load(&path).unwrap().matches(&other).is_err());
    let (_, fresh) =
        TextCache::open_or_build(&path, &other, more.iter().copied(), 8, |_, _| {}).unwrap();
    assert!(fresh && other.encoded.get() == 3);

    // An unreadable file is rebuilt, not an error.
    std::fs::write(&path, b"junk").unwrap();
    let (_, fresh) =
        TextCache::open_or_build(&path, &enc, more.iter().copied(), 8, |_, _| {}).unwrap();
    assert!(fresh && TextCache::load(&path).is_ok());

    // Bytes are a function of the contents.
    let p2 = dir.path().join("again.safetensors");
    TextCache::load(&path).unwrap().save(&p2).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&p2).unwrap());
}

#[test]
fn cached_clip_encodings_equal_direct_ones() {
    let enc = ClipEncoder::load(&fixture("clip-tiny"), 16, &Device::flex()).unwrap();
    let captions = strings(&["a photo of a cat", "a b", "", "of"]);
    let ids = enc.tokenizer().tokenize(&captions);
    let cache = TextCache::build(
        &TinyIds(&enc),
        captions.iter().map(String::as_str),
        3,
        |_, _| {},
    );
    let got = cache.lookup(&captions, &Device::flex()).unwrap();
    let want = TinyIds(&enc).encode(&captions);
    let (gh, wh) = (values(got.hidden), values(want.hidden));
    let lengths = ids.lengths.clone();
    let diff = max_abs_diff_real(&gh, &wh, &lengths, 16, enc.dim());
    assert!(diff < 1e-6, "{diff}");
    assert!(max_abs_diff(&values(got.pooled.unwrap()), &values(want.pooled.unwrap())) < 1e-6);
}

/// The tiny CLIP with CLIP BPE ids folded into its 512-token vocabulary.
struct TinyIds<'a>(&'a ClipEncoder);

impl TextEncoder for TinyIds<'_> {
    fn encode(&self, captions: &[String]) -> TextEncoding {
        let mut t = self.0.tokenizer().tokenize(captions);
        for id in &mut t.ids {
            *id = match *id {
                49406 => 510,
                49407 => 511,
                other => other % 510,
            };
        }
        self.0.encode_tokens(&t)
    }
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn max_len(&self) -> usize {
        self.0.max_len()
    }
    fn fingerprint(&self) -> String {
        self.0.fingerprint()
    }
}
