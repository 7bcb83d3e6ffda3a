//! Padding never changes the outputs at real tokens (the attention masks are respected), for
//! randomly initialised BERT and scratch encoders. (MiniLM and CLIP: in their parity tests.)

mod common;

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use common::{max_abs_diff, max_abs_diff_real, values};
use ldm_text::bert::BertConfig;
use ldm_text::{ScratchConfig, word_tokenizer};

fn tiny_bert() -> BertConfig {
    BertConfig {
        vocab_size: 100,
        hidden_size: 32,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        intermediate_size: 64,
        max_position_embeddings: 32,
        type_vocab_size: 2,
        layer_norm_eps: 1e-12,
        hidden_act: "gelu".into(),
        position_embedding_type: "absolute".into(),
    }
}

fn ints(v: Vec<i32>, shape: [usize; 2], dev: &Device) -> Tensor<2, Int> {
    Tensor::from_data(TensorData::new(v, shape), dev)
}

fn pad(lengths: &[usize], l: usize, dev: &Device) -> Tensor<2, Bool> {
    let v: Vec<bool> = lengths
        .iter()
        .flat_map(|&n| (0..l).map(move |j| j >= n))
        .collect();
    Tensor::from_data(TensorData::new(v, [lengths.len(), l]), dev)
}

#[test]
fn bert_real_tokens_ignore_padding() {
    let dev = Device::flex();
    dev.seed(1);
    let bert = tiny_bert().init(&dev);
    let (l, d, lengths) = (12, 32, [5usize, 12]);
    let real: Vec<i32> = (0..2 * l as i32).map(|i| 1 + i * 7 % 90).collect();
    // Same real tokens, padding ids 0 or arbitrary.
    let zeros: Vec<i32> = real
        .iter()
        .enumerate()
        .map(|(k, &id)| if k % l < lengths[k / l] { id } else { 0 })
        .collect();
    let a = values(bert.forward(ints(zeros.clone(), [2, l], &dev), pad(&lengths, l, &dev)));
    let b = values(bert.forward(ints(real, [2, l], &dev), pad(&lengths, l, &dev)));
    let diff = max_abs_diff_real(&a, &b, &lengths, l, d);
    assert!(diff < 1e-5, "padding ids moved real tokens by {diff}");

    // Fewer padding positions: row 0 alone, cut to its 5 tokens.
    let short = values(bert.forward(ints(zeros[..5].to_vec(), [1, 5], &dev), pad(&[5], 5, &dev)));
    let diff = max_abs_diff(&short, &a[..5 * d]);
    assert!(
        diff < 1e-5,
        "7 more padding positions moved real tokens by {diff}"
    );

    // Without the mask the same comparison fails: the test can tell.
    let unmasked = values(bert.forward(ints(zeros, [2, l], &dev), pad(&[l, l], l, &dev)));
    assert!(max_abs_diff(&unmasked[..5 * d], &a[..5 * d]) > 1e-3);
}

#[test]
fn scratch_real_tokens_ignore_padding() {
    let dev = Device::flex();
    dev.seed(2);
    let captions = ["a red circle", "a blue square above a green star"];
    let cfg = ScratchConfig {
        dim: 32,
        layers: 2,
        heads: 4,
        ..ScratchConfig::default()
    };
    let narrow = word_tokenizer(captions.iter().copied(), 1, 100, 10).unwrap();
    let wide = word_tokenizer(captions.iter().copied(), 1, 100, 20).unwrap();
    let model = cfg.init(narrow.vocab_size(), 20, &dev);
    let text: Vec<String> = captions.iter().map(|s| s.to_string()).collect();
    let (tn, tw) = (narrow.tokenize(&text), wide.tokenize(&text));
    assert_eq!(tn.lengths, tw.lengths);
    let (a, b) = (model.forward(&tn), model.forward(&tw));
    let (ha, hb) = (values(a.hidden), values(b.hidden));
    let mut diff = 0.0f32;
    for (i, &n) in tn.lengths.iter().enumerate() {
        let ra = &ha[i * 10 * 32..(i * 10 + n) * 32];
        let rb = &hb[i * 20 * 32..(i * 20 + n) * 32];
        diff = diff.max(max_abs_diff(ra, rb));
    }
    assert!(
        diff < 1e-5,
        "10 more padding positions moved real tokens by {diff}"
    );
    let dp = max_abs_diff(&values(a.pooled.unwrap()), &values(b.pooled.unwrap()));
    assert!(dp < 1e-5, "padding moved the pooled vector by {dp}");
}
