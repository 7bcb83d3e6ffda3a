//! FID and KID agree with the reference implementations (pytorch-fid, torch-fidelity) on the
//! feature sets in tests/fixtures/fid_kid.json (scripts/make_eval_fixtures.py). Both are
//! computed in f64 on both sides; measured agreement is ~1e-14 relative.

use ldm_eval::{Features, KidConfig, fid, kid};

#[test]
fn fid_and_kid_match_reference_values() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fid_kid.json"),
    )
    .unwrap();
    let fixture: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let dim = c["dim"].as_u64().unwrap() as usize;
        let rows = |k: &str| {
            let v: Vec<f32> = c[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            Features::new(v, dim).unwrap()
        };
        let (a, b) = (rows("a"), rows("b"));
        let want_fid = c["fid"].as_f64().unwrap();
        let got_fid = fid(&a, &b).unwrap();
        assert!(
            (got_fid - want_fid).abs() <= 1e-9 * want_fid.abs(),
            "{name}: fid {got_fid} vs {want_fid}"
        );
        // One subset of all rows, the scheme the fixture was computed with; more such subsets
        // change nothing.
        let cfg = KidConfig {
            subsets: 3,
            subset_size: a.len(),
            seed: 0,
        };
        let got = kid(&a, &b, &cfg).unwrap();
        let want = c["kid_mean"].as_f64().unwrap();
        eprintln!(
            "{name}: fid {got_fid} (reference {want_fid}, rel. error {:.1e}), kid {} (reference \
             {want}, rel. error {:.1e})",
            (got_fid - want_fid).abs() / want_fid.abs(),
            got.mean,
            (got.mean - want).abs() / want.abs()
        );
        assert!(
            (got.mean - want).abs() <= 1e-9 * want.abs(),
            "{name}: kid {} vs {want}",
            got.mean
        );
        assert!(got.std <= 1e-9 * want.abs().max(1.0), "{name}: {got:?}");
        assert_eq!(c["kid_std"].as_f64().unwrap(), 0.0);
    }
}
