//! all-MiniLM-L6-v2 against the PyTorch reference (tests/fixtures/minilm.*, written by
//! scripts/make_text_fixtures.py): token ids, last hidden states of real tokens, mean pooling.
//! Needs the weights: scripts/fetch-weights.sh (or LDM_MINILM_DIR pointing at a copy).

mod common;

use std::path::PathBuf;

use burn::tensor::Device;
use common::{Fixture, max_abs_diff, max_abs_diff_real, values};
use ldm_text::{MiniLm, TextEncoder};

const TOL: f32 = 1e-4;

fn weights_dir() -> PathBuf {
    let dir = std::env::var_os("LDM_MINILM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../weights/all-minilm-l6-v2")
        });
    assert!(
        dir.join("model.safetensors").is_file(),
        "MiniLM weights not found in {}: run scripts/fetch-weights.sh first \
         (or set LDM_MINILM_DIR to a folder with model.safetensors, config.json, tokenizer.json)",
        dir.display()
    );
    dir
}

fn captions() -> Vec<String> {
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(common::fixture("minilm.json")).unwrap()).unwrap();
    meta["captions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn minilm_matches_pytorch() {
    let fx = Fixture::open("minilm.safetensors");
    let (shape, ids) = fx.i64("input_ids");
    let (b, l) = (shape[0], shape[1]);
    let (_, mask) = fx.i64("attention_mask");
    let (_, want_hidden) = fx.f32("last_hidden_state");
    let (_, want_pooled) = fx.f32("mean_pooled");
    let (_, want_normalized) = fx.f32("normalized");
    let d = want_pooled.len() / b;

    let enc = MiniLm::load(&weights_dir(), l, &Device::flex()).unwrap();
    let caps = captions();
    assert_eq!((enc.dim(), enc.max_len(), caps.len()), (d, l, b));

    // Tokenization: ids, padding and truncation (one caption is cut at 32) as transformers does.
    let tokens = enc.tokenizer().tokenize(&caps);
    let got_ids: Vec<i64> = tokens.ids.iter().map(|&i| i as i64).collect();
    assert_eq!(got_ids, ids, "token ids differ from transformers'");
    let lengths: Vec<usize> = mask
        .chunks(l)
        .map(|r| r.iter().sum::<i64>() as usize)
        .collect();
    assert_eq!(tokens.lengths, lengths);

    let out = enc.encode(&caps);
    let got_mask = values(out.mask.clone());
    let want_mask: Vec<f32> = mask.iter().map(|&m| m as f32).collect();
    assert_eq!(got_mask, want_mask);
    let hidden = values(out.hidden);
    let pooled = values(out.pooled.unwrap());
    let normalized: Vec<f32> = pooled
        .chunks(d)
        .flat_map(|r| {
            let n = r.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            r.iter().map(move |x| x / n)
        })
        .collect();
    let dh = max_abs_diff_real(&hidden, &want_hidden, &lengths, l, d);
    let dp = max_abs_diff(&pooled, &want_pooled);
    let dn = max_abs_diff(&normalized, &want_normalized);
    println!("minilm max |diff|: hidden {dh:.3e}, mean-pooled {dp:.3e}, normalized {dn:.3e}");
    assert!(dh < TOL, "last_hidden_state differs by {dh}");
    assert!(dp < TOL, "mean_pooled differs by {dp}");
    assert!(dn < TOL, "normalized differs by {dn}");
}

#[test]
fn minilm_real_tokens_ignore_padding() {
    let caps: Vec<String> = vec!["a photo of a cat".into()];
    let dir = weights_dir();
    let short = MiniLm::load(&dir, 12, &Device::flex()).unwrap();
    let long = MiniLm::load(&dir, 64, &Device::flex()).unwrap();
    let (a, b) = (short.encode(&caps), long.encode(&caps));
    let n = 7; // [CLS] a photo of a cat [SEP]
    let d = short.dim();
    let ha = values(a.hidden);
    let hb = values(b.hidden);
    let diff = max_abs_diff(&ha[..n * d], &hb[..n * d]);
    assert!(
        diff < 1e-5,
        "52 more padding tokens moved real tokens by {diff}"
    );
    let dp = max_abs_diff(&values(a.pooled.unwrap()), &values(b.pooled.unwrap()));
    assert!(dp < 1e-5, "padding moved the pooled vector by {dp}");
}
