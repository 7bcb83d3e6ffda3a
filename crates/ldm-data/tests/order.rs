//! The loader's order: seeded, independent of the thread count, and resumable exactly.

use std::sync::Arc;

use ldm_data::config::Crop;
use ldm_data::shapes::{Shapes, ShapesConfig, ShapesSplit};
use ldm_data::{Batch, Loader, LoaderOptions, OnBadSample, Transform};

fn loader(seed: u64, workers: usize) -> Loader {
    let cfg = ShapesConfig {
        num_train: 50,
        ..Default::default()
    };
    let ds = Arc::new(Shapes::new(cfg, 16, 3, ShapesSplit::Train));
    let t = Transform {
        resolution: 16,
        channels: 3,
        crop: Crop::Random,
        hflip: false,
    };
    let opts = LoaderOptions {
        batch_size: 8,
        seed,
        shuffle: true,
        repeat: true,
        on_bad_sample: OnBadSample::Skip,
        workers,
    };
    Loader::new(ds, t, opts)
}

fn take(l: &mut Loader, n: usize) -> Vec<Batch> {
    (0..n).map(|_| l.next_batch().unwrap().unwrap()).collect()
}

#[test]
fn same_seed_same_batches_whatever_the_thread_count() {
    let a = take(&mut loader(1, 1), 9);
    let b = take(&mut loader(1, 4), 9);
    assert_eq!(a, b);
    let c = take(&mut loader(2, 1), 9);
    assert_ne!(a[0].captions, c[0].captions);
}

#[test]
fn shuffles_each_epoch_and_covers_every_sample() {
    // 50 samples, batches of 8: the first 6 batches (48) hold distinct samples.
    let batches = take(&mut loader(1, 2), 7);
    let ids: Vec<&String> = batches[..6].iter().flat_map(|b| &b.ids).collect();
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), 48);
    assert_ne!(ids[0], "shapes/train/0", "order should be shuffled");
}

#[test]
fn restoring_a_position_gives_exactly_the_next_batches() {
    let mut a = loader(5, 2);
    take(&mut a, 11); // across an epoch boundary (88 > 50)
    let pos = a.position();
    assert_eq!(pos.epoch, 1);
    let rest = take(&mut a, 5);

    let mut b = loader(5, 3);
    b.restore(pos);
    assert_eq!(take(&mut b, 5), rest);
}
