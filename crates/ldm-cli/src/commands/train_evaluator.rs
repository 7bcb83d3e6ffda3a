//! `ldm train-evaluator CONFIG`: the CLIP-style image-text evaluator `ldm eval` scores
//! generated images with, trained on the real training split and saved to
//! `<run>/evaluator/` with its held-out retrieval accuracy.
//!
//! Captions are embedded by the frozen MiniLM, whatever encoder the denoiser uses: scoring
//! with a text encoder trained together with the denoiser would grade it by its own
//! reading of the prompts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};

use ldm_core::RunDir;
use ldm_data::Splits;
use ldm_eval::evaluator::{CaptionEmbedder, EvaluatorInfo, evaluator_dir, train_evaluator};
use ldm_text::bert::{Bert, BertConfig};
use ldm_text::{HfTokenizer, Tokens, mean_pool};

use crate::cli::RunCommand;
use crate::experiment::Experiment;

/// Captions per forward pass of the text encoder.
const EMBED_BATCH: usize = 128;

/// The frozen MiniLM's last hidden states averaged over each caption's real tokens
/// (sentence-transformers' pooling, before its normalisation); each caption is encoded once
/// and remembered.
pub struct MiniLmEmbedder {
    model: Bert,
    tokenizer: HfTokenizer,
    device: Device,
    dim: usize,
    fingerprint: String,
    memo: HashMap<String, Vec<f32>>,
}

impl MiniLmEmbedder {
    /// The MiniLM of `[eval] minilm`, with `[eval] max_len` tokens per caption.
    pub fn load(exp: &Experiment, device: &Device) -> anyhow::Result<Self> {
        let dir = PathBuf::from(&exp.eval.minilm);
        let file = |name: &str| -> anyhow::Result<PathBuf> {
            let p = dir.join(name);
            anyhow::ensure!(
                p.is_file(),
                "{} is missing: the evaluator embeds captions with the frozen all-MiniLM-L6-v2 \
                 (also when the denoiser uses another text encoder); run scripts/fetch-weights.sh, \
                 or point eval.minilm at a Hugging Face BERT folder",
                p.display()
            );
            Ok(p)
        };
        let (weights, config, tok) = (
            file("model.safetensors")?,
            file("config.json")?,
            file("tokenizer.json")?,
        );
        let config = BertConfig::from_json_file(&config).map_err(anyhow::Error::msg)?;
        let max_len = exp.eval.max_len;
        anyhow::ensure!(
            max_len <= config.max_position_embeddings,
            "eval.max_len = {max_len} is longer than the model's {} positions",
            config.max_position_embeddings
        );
        let device = device.clone().without_autodiff();
        let model = config
            .init(&device)
            .load_safetensors(&weights)
            .map_err(anyhow::Error::msg)?
            .valid();
        let tokenizer = HfTokenizer::from_file(&tok, max_len).map_err(anyhow::Error::msg)?;
        let fingerprint = format!(
            "minilm mean-pool {} max_len={max_len} weights={} tokenizer={}",
            dir.file_name().unwrap_or_default().to_string_lossy(),
            file_fingerprint(&weights)?,
            file_fingerprint(&tok)?,
        );
        Ok(Self {
            model,
            tokenizer,
            device,
            dim: config.hidden_size,
            fingerprint,
            memo: HashMap::new(),
        })
    }

    /// Encode captions not seen before, in batches cut to their longest caption (padding
    /// changes nothing at real tokens: attention never looks at it).
    fn encode_new(&mut self, captions: &[String]) {
        let mut new: Vec<String> = captions
            .iter()
            .filter(|c| !self.memo.contains_key(*c))
            .cloned()
            .collect();
        new.sort();
        new.dedup();
        for chunk in new.chunks(EMBED_BATCH) {
            let tokens = trim(self.tokenizer.tokenize(chunk));
            let hidden = self.model.forward(
                tokens.ids_tensor(&self.device),
                tokens.pad_mask(&self.device),
            );
            let pooled: Vec<f32> = mean_pool(hidden, tokens.mask(&self.device))
                .into_data()
                .try_to_vec::<f32>()
                .expect("f32 embeddings");
            for (i, c) in chunk.iter().enumerate() {
                self.memo
                    .insert(c.clone(), pooled[i * self.dim..(i + 1) * self.dim].to_vec());
            }
        }
    }
}

/// Tokens cut to the batch's longest row.
fn trim(t: Tokens) -> Tokens {
    let len = t.lengths.iter().copied().max().unwrap_or(1).max(1);
    let ids = (0..t.batch())
        .flat_map(|i| t.row(i)[..len].to_vec())
        .collect();
    Tokens {
        ids,
        lengths: t.lengths,
        len,
    }
}

/// `size:crc32` of a file: changes when the weights do.
fn file_fingerprint(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(format!("{}:{:08x}", bytes.len(), crc32fast::hash(&bytes)))
}

impl CaptionEmbedder for MiniLmEmbedder {
    fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn embed(&mut self, captions: &[String]) -> Result<Tensor<2>, String> {
        self.encode_new(captions);
        let rows: Vec<f32> = captions
            .iter()
            .flat_map(|c| self.memo[c].iter().copied())
            .collect();
        Ok(Tensor::from_data(
            TensorData::new(rows, [captions.len(), self.dim]),
            &self.device,
        ))
    }
}

pub fn run(cmd: &RunCommand) -> anyhow::Result<()> {
    let (exp, device, splits, run) = super::open_stage(cmd)?;
    stage(&exp, &run, &device, &splits)?;
    Ok(())
}

/// Train the evaluator on the training split into `<run>/evaluator/` (always from the
/// start: the stage is short and keeps no checkpoints).
pub fn stage(
    exp: &Experiment,
    run: &RunDir,
    device: &Device,
    splits: &Splits,
) -> anyhow::Result<EvaluatorInfo> {
    let mut text = MiniLmEmbedder::load(exp, device)?;
    let (_, info) = train_evaluator(
        &exp.evaluator,
        &exp.data,
        splits,
        &mut text,
        run,
        exp.seed,
        device,
    )
    .map_err(anyhow::Error::msg)?;
    println!(
        "evaluator saved to {}: held-out top-1 retrieval {:.1}% among {} captions (chance {:.1}%)",
        evaluator_dir(run.root()).display(),
        100.0 * info.val_retrieval,
        exp.evaluator.val_candidates,
        100.0 * info.chance
    );
    Ok(info)
}
