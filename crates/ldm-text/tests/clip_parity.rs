//! CLIP against the PyTorch reference (tests/fixtures/clip*, written by
//! scripts/make_clip_fixtures.py): a tiny random-weight CLIPTextModel for the architecture and
//! weight loading, transformers' CLIPTokenizer for the BPE tokenizer. Needs no downloads.

mod common;

use burn::tensor::Device;
use common::{Fixture, fixture, max_abs_diff, max_abs_diff_real, values};
use ldm_text::{ClipBpe, ClipEncoder, TextEncoder, Tokens};

const TOL: f32 = 1e-4;

#[test]
fn tiny_clip_matches_pytorch() {
    let fx = Fixture::open("clip_tiny.safetensors");
    let (shape, ids) = fx.i64("input_ids");
    let (b, l) = (shape[0], shape[1]);
    let (_, lengths) = fx.i64("lengths");
    let (hshape, want_hidden) = fx.f32("last_hidden_state");
    let (_, want_pooled) = fx.f32("pooler_output");
    let d = hshape[2];

    let enc = ClipEncoder::load(&fixture("clip-tiny"), l, &Device::flex()).unwrap();
    assert_eq!((enc.dim(), enc.max_len()), (d, l));
    let tokens = Tokens {
        ids: ids.iter().map(|&i| i as u32).collect(),
        lengths: lengths.iter().map(|&n| n as usize).collect(),
        len: l,
    };
    let out = enc.encode_tokens(&tokens);
    let hidden = values(out.hidden);
    // Every position, padding included: SD 1.x uses the padded positions' states too.
    let dh = max_abs_diff(&hidden, &want_hidden);
    let dp = max_abs_diff(&values(out.pooled.unwrap()), &want_pooled);
    println!("clip max |diff|: hidden {dh:.3e}, pooled {dp:.3e}");
    assert!(dh < TOL, "last_hidden_state differs by {dh}");
    assert!(dp < TOL, "pooler_output differs by {dp}");
    assert_eq!(b, tokens.batch());
}

#[test]
fn clip_real_tokens_ignore_padding() {
    let fx = Fixture::open("clip_tiny.safetensors");
    let (shape, ids) = fx.i64("input_ids");
    let l = shape[1];
    let enc = ClipEncoder::load(&fixture("clip-tiny"), l, &Device::flex()).unwrap();
    // Row 1 has 9 real tokens; refill its padding with other ids.
    let row: Vec<u32> = ids[l..2 * l].iter().map(|&i| i as u32).collect();
    let mut other = row.clone();
    for (j, id) in other.iter_mut().enumerate().skip(9) {
        *id = (j * 37 % 500) as u32;
    }
    let t = |ids: Vec<u32>| Tokens {
        ids,
        lengths: vec![9],
        len: l,
    };
    let (a, c) = (enc.encode_tokens(&t(row)), enc.encode_tokens(&t(other)));
    let d = enc.dim();
    let (ha, hc) = (values(a.hidden), values(c.hidden));
    let real = max_abs_diff_real(&ha, &hc, &[9], l, d);
    assert!(real < 1e-6, "padding ids moved real tokens by {real}");
    // The same comparison over the padded positions does see the change.
    assert!(max_abs_diff(&ha, &hc) > 1e-3);
    assert!(max_abs_diff(&values(a.pooled.unwrap()), &values(c.pooled.unwrap())) < 1e-6);
}

#[test]
fn clip_bpe_matches_transformers() {
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("clip_tokens.json")).unwrap()).unwrap();
    let max_len = doc["max_length"].as_u64().unwrap() as usize;
    let caps: Vec<String> = doc["captions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let want: Vec<u32> = doc["input_ids"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_u64().unwrap() as u32)
        })
        .collect();
    let want_lengths: Vec<usize> = doc["lengths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap() as usize)
        .collect();
    let tok = ClipBpe::new(max_len).unwrap();
    let got = tok.tokenize(&caps);
    for (i, c) in caps.iter().enumerate() {
        assert_eq!(got.row(i), &want[i * max_len..(i + 1) * max_len], "{c:?}");
    }
    assert_eq!(got.lengths, want_lengths);
    // The last caption is longer than a row: cut, but still ended by <|endoftext|>.
    let last = got.row(caps.len() - 1);
    assert_eq!(last[max_len - 1], tok.end());
}
