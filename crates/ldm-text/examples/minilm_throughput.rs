//! Encode throughput of the frozen MiniLM on this machine (weights from
//! scripts/fetch-weights.sh, or LDM_MINILM_DIR):
//!
//!     cargo run --release -p ldm-text --example minilm_throughput [-- CAPTIONS BATCH MAX_LEN]

use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::Device;
use ldm_text::{DEFAULT_MINILM_DIR, MiniLm, TextCache, TextEncoder};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect();
    let n = args.first().copied().unwrap_or(1000);
    let batch = args.get(1).copied().unwrap_or(64);
    let max_len = args.get(2).copied().unwrap_or(32);
    let dir = std::env::var_os("LDM_MINILM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(DEFAULT_MINILM_DIR)
        });
    let t = Instant::now();
    let enc = MiniLm::load(&dir, max_len, &Device::flex()).unwrap_or_else(|e| panic!("{e}"));
    println!("loaded in {:.2}s", t.elapsed().as_secs_f64());
    let (sizes, colors, shapes) = (
        ["small", "medium", "large"],
        [
            "red", "green", "blue", "yellow", "purple", "orange", "white",
        ],
        ["circle", "square", "triangle", "star", "diamond"],
    );
    let captions: Vec<String> = (0..n)
        .map(|i| {
            let a = format!(
                "a {} {} {}",
                sizes[i % 3],
                colors[i / 3 % 7],
                shapes[i / 21 % 5]
            );
            // Distinct captions of 6 to 20 tokens: a number makes each one unique.
            let a = format!("{a} number {i}");
            match i % 3 {
                0 => a,
                1 => format!(
                    "{a} above a {} {}",
                    colors[(i + 2) % 7],
                    shapes[(i + 1) % 5]
                ),
                _ => format!(
                    "{a}, a {} {} and a {} {}",
                    colors[(i + 3) % 7],
                    shapes[(i + 2) % 5],
                    colors[(i + 5) % 7],
                    shapes[(i + 4) % 5]
                ),
            }
        })
        .collect();
    // One warm-up batch: the first call allocates and spins up the thread pool.
    let _ = enc.encode(&captions[..batch.min(n)]);
    let t = Instant::now();
    let cache = TextCache::build(&enc, captions.iter().map(String::as_str), batch, |_, _| {});
    let s = t.elapsed().as_secs_f64();
    println!(
        "{} unique captions (+ empty), batch {batch}, max_len {max_len}, {} threads: {s:.2}s, {:.0} captions/s",
        cache.len() - 1,
        rayon_threads(),
        cache.len() as f64 / s,
    );
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
