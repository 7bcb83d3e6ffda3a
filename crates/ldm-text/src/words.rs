//! A word-level vocabulary built from the dataset's captions, for the scratch encoder.
//!
//! Small captioned datasets use a few hundred words; a vocabulary of exactly those keeps the
//! scratch encoder's embedding table tiny. It is a Hugging Face word-level tokenizer (BERT's
//! lower-casing and punctuation splitting), so it saves and loads as a `tokenizer.json` beside
//! the checkpoint, through the same [`HfTokenizer`] as the pretrained ones.

use tokenizers::AddedToken;
use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::TrainerWrapper;
use tokenizers::models::wordlevel::{WordLevel, WordLevelTrainer};
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::template::TemplateProcessing;

use crate::tokenizer::HfTokenizer;

/// Ids of the special tokens, first in every word vocabulary.
pub const PAD: u32 = 0;
pub const UNK: u32 = 1;
pub const CLS: u32 = 2;
pub const SEP: u32 = 3;
const SPECIAL: [&str; 4] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"];

/// A word-level tokenizer over the words of `captions`: the `max_vocab - 4` most frequent words
/// seen at least `min_count` times (ties broken alphabetically, so the vocabulary depends only
/// on the captions), the rest `[UNK]`. Rows are `[CLS] words [SEP]`.
pub fn word_tokenizer<'a>(
    captions: impl Iterator<Item = &'a str> + Send,
    min_count: u64,
    max_vocab: usize,
    max_len: usize,
) -> Result<HfTokenizer, String> {
    let err = |e: tokenizers::Error| format!("building the word vocabulary: {e}");
    let model = WordLevel::builder()
        .unk_token(SPECIAL[UNK as usize].into())
        .build()
        .map_err(err)?;
    let mut tk = tokenizers::Tokenizer::new(model);
    tk.with_normalizer(Some(BertNormalizer::new(true, true, Some(true), true)))
        .map_err(err)?;
    tk.with_pre_tokenizer(Some(BertPreTokenizer));
    let trainer = WordLevelTrainer::builder()
        .min_frequency(min_count)
        .vocab_size(max_vocab)
        .show_progress(false)
        .special_tokens(SPECIAL.iter().map(|s| AddedToken::from(*s, true)).collect())
        .build()
        .map_err(|e| e.to_string())?;
    tk.train(&mut TrainerWrapper::from(trainer), captions)
        .map_err(err)?;
    let template = TemplateProcessing::builder()
        .try_single("[CLS] $A [SEP]")
        .map_err(|e| e.to_string())?
        .special_tokens(vec![("[CLS]", CLS), ("[SEP]", SEP)])
        .build()
        .map_err(|e| e.to_string())?;
    tk.with_post_processor(Some(template));
    // Its clean-up joins punctuation back onto the word before it: "a, b" not "a , b".
    tk.with_decoder(Some(WordPieceDecoder::default()));
    HfTokenizer::new(tk, max_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn vocabulary_comes_from_the_captions_in_a_fixed_order() {
        let train = [
            "a red circle",
            "a blue square",
            "A red square, left of a circle",
        ];
        let tk = word_tokenizer(train.iter().copied(), 1, 100, 8).unwrap();
        // 4 special tokens + a, red, circle, blue, square, left, of (",": punctuation is a word).
        assert_eq!(tk.vocab_size(), 4 + 8);
        // Most frequent first: "a" (4 times) gets the first free id.
        assert_eq!(tk.token_to_id("a"), Some(4));
        let again = word_tokenizer(train.iter().rev().copied(), 1, 100, 8).unwrap();
        assert_eq!(tk.to_json(), again.to_json());

        let t = tk.tokenize(&caps(&["a red circle", "a green circle"]));
        assert_eq!(t.lengths, vec![5, 5]);
        assert_eq!(t.row(0)[0], CLS);
        assert_eq!(t.row(0)[4], SEP);
        assert_eq!(t.row(0)[5..], [PAD; 3]);
        assert_eq!(t.row(1)[2], UNK, "an unseen word is unknown");
    }

    #[test]
    fn rare_words_fall_out_of_the_vocabulary() {
        let train = ["a red circle", "a red square", "a blue star"];
        let tk = word_tokenizer(train.iter().copied(), 2, 100, 8).unwrap();
        assert_eq!(tk.vocab_size(), 4 + 2, "only 'a' and 'red' occur twice");
        let capped = word_tokenizer(train.iter().copied(), 1, 5, 8).unwrap();
        assert_eq!(capped.vocab_size(), 5);
    }
}
