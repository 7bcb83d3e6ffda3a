//! Retrieval measures on features: whether an image's own caption is the one it is most
//! similar to.

use rand::seq::index::sample;

/// Top-1 image-to-caption retrieval among one batch: `(hits, chance)` summed over images, so
/// batches add up. Image i is right when the most similar caption has the same label as its
/// own (`labels`: each caption's label, or the caption itself; so identical captions, and
/// paraphrases with one label, are equally right); chance is the expected hits of a random
/// pick. `image` and `text` are row-major `[n, dim]` unit features.
pub fn batch_retrieval(image: &[f32], text: &[f32], labels: &[String], dim: usize) -> (usize, f64) {
    let n = labels.len();
    let mut hits = 0;
    let mut chance = 0.0;
    for i in 0..n {
        let sims = (0..n).map(|j| {
            dot(
                &image[i * dim..(i + 1) * dim],
                &text[j * dim..(j + 1) * dim],
            )
        });
        let best = argmax(sims);
        hits += (labels[best] == labels[i]) as usize;
        chance += labels.iter().filter(|c| **c == labels[i]).count() as f64 / n as f64;
    }
    (hits, chance)
}

/// R-precision (as in AttnGAN and later text-to-image papers): the fraction of images whose
/// own prompt is more similar to them than each of `k` distractor captions.
///
/// `image` and `own` are `[N, dim]` row-major unit features (image i was generated from the
/// prompt of row i, whose label is `own_labels[i]`); `distractors` is a pool `[M, dim]` of
/// other captions' features with their labels (a caption's label is the caption itself where
/// the dataset has none). For each image, `k` distractors are drawn without replacement
/// (seeded by `seed` and the image's index) from the pool rows whose label differs from the
/// prompt's, so neither a duplicate of the prompt nor a paraphrase of it (same label) counts
/// against it. Ties count as misses.
#[allow(clippy::too_many_arguments)]
pub fn r_precision(
    image: &[f32],
    own: &[f32],
    own_labels: &[String],
    distractors: &[f32],
    distractor_labels: &[String],
    dim: usize,
    k: usize,
    seed: u64,
) -> Result<f64, String> {
    let n = own_labels.len();
    let m = distractor_labels.len();
    if image.len() != n * dim || own.len() != n * dim || distractors.len() != m * dim {
        return Err(format!(
            "feature shapes do not match: {} image, {} own, {} distractor values for {n} images, \
             {m} distractors of width {dim}",
            image.len(),
            own.len(),
            distractors.len()
        ));
    }
    if n == 0 {
        return Err("no images".into());
    }
    let row = |f: &'_ [f32], i: usize| -> Vec<f32> { f[i * dim..(i + 1) * dim].to_vec() };
    let mut hits = 0;
    for (i, label) in own_labels.iter().enumerate() {
        let img = row(image, i);
        let pool: Vec<usize> = (0..m).filter(|&j| distractor_labels[j] != *label).collect();
        if pool.len() < k {
            return Err(format!(
                "image {i} ({label:?}): only {} distractors differ from its prompt, need {k}",
                pool.len()
            ));
        }
        let mut rng = ldm_core::seed::rng(seed, "r-precision", i as u64);
        let own_sim = dot(&img, &row(own, i));
        let beaten = sample(&mut rng, pool.len(), k)
            .into_iter()
            .any(|p| dot(&img, &row(distractors, pool[p])) >= own_sim);
        hits += (!beaten) as usize;
    }
    Ok(hits as f64 / n as f64)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn argmax(values: impl Iterator<Item = f32>) -> usize {
    let mut best = (f32::NEG_INFINITY, 0);
    for (i, v) in values.enumerate() {
        if v > best.0 {
            best = (v, i);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn r_precision_counts_exactly() {
        // Three images with 2-d features, and a pool of four distractor captions.
        let image = [1.0, 0.0, 0.0, 1.0, 0.6, 0.8];
        let own = [0.9, 0.1, 0.0, 1.0, 0.0, 1.0];
        let own_caps = s(&["a", "b", "c"]);
        let pool = [0.0, 1.0, 0.0, 1.0, -1.0, 0.0, 0.6, 0.8];
        let pool_caps = s(&["x", "b", "y", "z"]);
        // k = 3. Image 0: own 0.9, every distractor below it -> hit.
        // Image 1: "b" is its own prompt, so its distractors are x, y, z; x ties its own 1.0
        // -> miss.
        // Image 2: own 0.8; any three of the four include x or b (0.8, a tie) or z (1.0)
        // -> miss.
        let r = r_precision(&image, &own, &own_caps, &pool, &pool_caps, 2, 3, 0).unwrap();
        assert_eq!(r, 1.0 / 3.0);
        // k larger than the differing pool is an error naming the image.
        let e = r_precision(&image, &own, &own_caps, &pool, &pool_caps, 2, 4, 0).unwrap_err();
        assert!(e.contains("image 1"), "{e}");
    }

    #[test]
    fn duplicate_captions_are_both_right() {
        let image = [1.0, 0.0, 0.0, 1.0, 0.0, 1.0];
        let text = [1.0, 0.0, 0.0, 1.0, 0.0, 1.0];
        // Images 1 and 2 share a caption: whichever they pick, they are right.
        let (hits, chance) = batch_retrieval(&image, &text, &s(&["p", "q", "q"]), 2);
        assert_eq!(hits, 3);
        assert!((chance - (1.0 / 3.0 + 2.0 / 3.0 + 2.0 / 3.0)).abs() < 1e-12);
    }

    #[test]
    fn paraphrases_never_count_against_their_prompt() {
        // One image of class "t" (prompt "a t", feature [1, 0]). The pool: a paraphrase of
        // its class that it matches better than its own prompt, and a caption of class "u".
        let image = [1.0, 0.0];
        let own = [0.8, 0.6];
        let pool = [1.0, 0.0, 0.0, 1.0];
        // Labelled: only the "u" caption can be drawn, and it is below the prompt -> hit.
        let r = r_precision(&image, &own, &s(&["t"]), &pool, &s(&["t", "u"]), 2, 1, 0).unwrap();
        assert_eq!(r, 1.0);
        // Unlabelled (each caption its own label): with both drawn, the paraphrase wins.
        let r = r_precision(
            &image,
            &own,
            &s(&["a t"]),
            &pool,
            &s(&["a photo of a t", "a u"]),
            2,
            2,
            0,
        )
        .unwrap();
        assert_eq!(r, 0.0);
        // In a batch, picking the paraphrase is right when the labels say so.
        let text = [0.8, 0.6, 1.0, 0.0];
        let (hits, _) = batch_retrieval(&[1.0, 0.0, 1.0, 0.0], &text, &s(&["t", "t"]), 2);
        assert_eq!(hits, 2);
        let (hits, _) = batch_retrieval(&[1.0, 0.0, 1.0, 0.0], &text, &s(&["a t", "b t"]), 2);
        assert_eq!(hits, 1);
    }
}
