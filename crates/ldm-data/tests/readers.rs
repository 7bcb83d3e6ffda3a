//! The dataset readers on the committed fixtures (made by scripts/make-test-fixtures.py).

use std::path::PathBuf;
use std::sync::Arc;

use burn_dataset::Dataset;
use ldm_data::config::Crop;
use ldm_data::imagefolder::ImageFolder;
use ldm_data::webdataset::WebDataset;
use ldm_data::{Loader, LoaderOptions, OnBadSample, Source, Transform};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name)
}

fn captions(ds: &dyn Source) -> Vec<String> {
    (0..ds.len())
        .filter_map(|i| ds.get(i).ok())
        .map(|s| s.caption)
        .collect()
}

#[test]
fn imagefolder_jsonl_reads_nested_folders() {
    let ds = ImageFolder::open(&fixture("imagefolder-jsonl")).unwrap();
    assert_eq!(ds.len(), 6);
    for i in 0..ds.len() {
        let s = ds.get(i).unwrap();
        // Each file is named after the colour its caption names.
        let stem = PathBuf::from(&s.id)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .to_string();
        assert_eq!(s.caption, format!("a {stem} square"));
        assert_eq!((s.image.width(), s.image.height()), (12, 8));
    }
    assert!(captions(&ds).contains(&"a purple square".to_string()));
}

#[test]
fn imagefolder_split_column_picks_validation_rows() {
    let mut cfg = ldm_data::DataConfig {
        source: ldm_data::SourceKind::Imagefolder,
        path: Some(fixture("imagefolder-jsonl").to_string_lossy().into()),
        val_split: Some("test".into()),
        ..Default::default()
    };
    let splits = ldm_data::open(&cfg, 0).unwrap();
    let (train, val) = (captions(&*splits.train), captions(&*splits.val));
    // warm/ rows are marked train, cool/ rows test.
    assert_eq!(train.len(), 3);
    assert_eq!(val.len(), 3);
    assert!(
        val.contains(&"a green square".to_string()) && train.contains(&"a red square".to_string())
    );
    cfg.val_split = Some("validation".into());
    let err = ldm_data::open(&cfg, 0).err().unwrap();
    assert!(
        err.contains("leaves 0 validation and 6 training rows"),
        "{err}"
    );
}

#[test]
fn imagefolder_csv_handles_quoted_commas() {
    let ds = ImageFolder::open(&fixture("imagefolder-csv")).unwrap();
    assert_eq!(ds.len(), 4);
    assert!(captions(&ds).contains(&"a red square, plain".to_string()));
}

#[test]
fn imagefolder_without_metadata_is_a_clear_error() {
    let err = ImageFolder::open(&fixture("webdataset")).err().unwrap();
    assert!(err.contains("no metadata.jsonl or metadata.csv"), "{err}");
    let err = ImageFolder::open(&fixture("nope")).err().unwrap();
    assert!(err.contains("dataset folder not found"), "{err}");
}

#[test]
fn webdataset_shards_by_brace_range_and_glob() {
    let braces = fixture("webdataset/shard-{0000..0001}.tar");
    let ds = WebDataset::open(braces.to_str().unwrap()).unwrap();
    assert_eq!(ds.len(), 6);
    let good = captions(&ds);
    assert_eq!(good.len(), 5);
    assert_eq!(good[0], "a red square");
    let err = ds.get(5).err().unwrap();
    assert!(
        err.id.ends_with("shard-0001.tar:00010002") && err.reason == "missing caption",
        "{err}"
    );
    let s = ds.get(0).unwrap();
    assert_eq!((s.image.width(), s.image.height()), (10, 10));

    let glob = fixture("webdataset/*.tar");
    assert_eq!(WebDataset::open(glob.to_str().unwrap()).unwrap().len(), 6);
    let none = fixture("webdataset/nothing-*.tar");
    assert!(WebDataset::open(none.to_str().unwrap()).is_err());
}

fn loader(ds: Arc<dyn Source>, on_bad: OnBadSample, batch: usize) -> Loader {
    let t = Transform {
        resolution: 8,
        channels: 3,
        crop: Crop::Center,
        hflip: false,
    };
    let opts = LoaderOptions {
        batch_size: batch,
        seed: 0,
        shuffle: false,
        repeat: false,
        on_bad_sample: on_bad,
        workers: 2,
    };
    Loader::new(ds, t, opts)
}

#[test]
fn label_column_reaches_the_batches_and_defaults_to_the_caption() {
    // imagefolder-jsonl labels warm/ rows "warm" and cool/ rows with the integer 1.
    let ds = Arc::new(ImageFolder::open(&fixture("imagefolder-jsonl")).unwrap());
    for i in 0..ds.len() {
        let s = ds.get(i).unwrap();
        let want = if s.id.contains("warm") { "warm" } else { "1" };
        assert_eq!(s.label.as_deref(), Some(want), "{}", s.id);
    }
    let batch = loader(ds, OnBadSample::Fail, 6)
        .next_batch()
        .unwrap()
        .unwrap();
    assert_eq!(batch.labels.len(), 6);
    assert_eq!(batch.labels.iter().filter(|l| *l == "warm").count(), 3);
    // Without the column, a caption is its own label.
    let ds = Arc::new(ImageFolder::open(&fixture("imagefolder-csv")).unwrap());
    assert!(ds.get(0).unwrap().label.is_none());
    let batch = loader(ds, OnBadSample::Fail, 4)
        .next_batch()
        .unwrap()
        .unwrap();
    assert_eq!(batch.labels, batch.captions);
}

#[test]
fn bad_samples_are_skipped_and_counted() {
    let ds = Arc::new(ImageFolder::open(&fixture("imagefolder-bad")).unwrap());
    assert_eq!(
        ds.len(),
        5,
        "two good, a corrupt one, a missing file, one with no caption"
    );
    let reasons: Vec<String> = (0..5)
        .filter_map(|i| ds.get(i).err())
        .map(|e| e.to_string())
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("corrupt.png: corrupt image")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("missing.png: image file not found")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("no-caption.png: missing caption")),
        "{reasons:?}"
    );

    let mut l = loader(ds, OnBadSample::Skip, 4);
    let batch = l.next_batch().unwrap().unwrap();
    assert_eq!(batch.captions, ["a red square", "a blue square"]);
    assert_eq!(batch.shape, [2, 3, 8, 8]);
    assert!(l.next_batch().unwrap().is_none());
    assert_eq!(l.skipped(), 3);
}

#[test]
fn bad_sample_fails_fast_when_configured() {
    let ds = Arc::new(ImageFolder::open(&fixture("imagefolder-bad")).unwrap());
    let err = loader(ds, OnBadSample::Fail, 4).next_batch().unwrap_err();
    assert!(
        err.to_string().contains("imagefolder-bad/corrupt.png"),
        "{err}"
    );
}
