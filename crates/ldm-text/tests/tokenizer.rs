//! Tokenizer round trips, truncation and padding, without any downloaded files. (BERT's
//! WordPiece tokenizer is checked against transformers' ids in minilm_parity.rs.)

use ldm_text::{ClipBpe, HfTokenizer, Tokenizer, word_tokenizer};

fn caps(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const TRAIN: &[&str] = &[
    "a small red circle",
    "a large blue square to the left of a green star",
    "a red circle, a blue square and a large green star",
];

#[test]
fn word_tokenizer_round_trips_and_truncates() {
    let tk = Tokenizer::Hf(word_tokenizer(TRAIN.iter().copied(), 1, 1000, 8).unwrap());
    let text = caps(&[
        "A small red circle",
        "a red circle, a blue square and a large green star",
    ]);
    let t = tk.tokenize(&text);
    assert_eq!((t.batch(), t.len, t.ids.len()), (2, 8, 16));
    // Lower-cased; punctuation re-attached by the decoder.
    assert_eq!(tk.decode(t.row(0)), "a small red circle");
    assert_eq!(t.lengths[0], 6, "[CLS] 4 words [SEP]");
    // 12 words and a comma do not fit in 8: 6 kept between [CLS] and [SEP].
    assert_eq!(t.lengths[1], 8);
    assert_eq!(tk.decode(t.row(1)), "a red circle, a blue");
    assert_eq!(*t.row(1).last().unwrap(), ldm_text::words::SEP);
}

#[test]
fn saved_tokenizer_reloads_identically() {
    let tk = word_tokenizer(TRAIN.iter().copied(), 1, 1000, 10).unwrap();
    let again = HfTokenizer::from_json(&tk.to_json(), 10).unwrap();
    let text = caps(&["a green circle above a red star", "", "an unseen word"]);
    assert_eq!(tk.tokenize(&text), again.tokenize(&text));
    assert_eq!(
        tk.tokenize(&text).lengths[1],
        2,
        "the empty caption is [CLS] [SEP]"
    );
    // A different max_len re-pads the same tokens.
    let wide = HfTokenizer::from_json(&tk.to_json(), 16)
        .unwrap()
        .tokenize(&text);
    assert_eq!(wide.len, 16);
    assert_eq!(&wide.row(0)[..10], tk.tokenize(&text).row(0));
}

#[test]
fn clip_bpe_round_trips_and_truncates() {
    let tk = Tokenizer::ClipBpe(ClipBpe::new(8).unwrap());
    let text = caps(&[
        "A photo of a cat",
        "one two three four five six seven eight",
        "",
    ]);
    let t = tk.tokenize(&text);
    assert_eq!(tk.decode(t.row(0)), "a photo of a cat");
    assert_eq!(t.lengths, vec![7, 8, 2]);
    assert_eq!(tk.decode(t.row(1)), "one two three four five six");
    assert_eq!(
        t.row(2),
        [49406, 49407, 49407, 49407, 49407, 49407, 49407, 49407]
    );
    assert_eq!(tk.vocab_size(), 49408);
}

#[test]
fn masks_follow_lengths() {
    let tk = ClipBpe::new(6).unwrap();
    let t = tk.tokenize(&caps(&["a cat", "a photo of a cat"]));
    let dev = burn::tensor::Device::flex();
    let m: Vec<f32> = t.mask(&dev).try_into_vec_as::<f32>().unwrap();
    assert_eq!(m, [1., 1., 1., 1., 0., 0., 1., 1., 1., 1., 1., 1.]);
    let p: Vec<bool> = t.pad_mask(&dev).into_data().try_into_vec::<bool>().unwrap();
    assert_eq!(p, m.iter().map(|&x| x == 0.0).collect::<Vec<_>>());
}
