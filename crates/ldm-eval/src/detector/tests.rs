use image::RgbImage;
use rand::Rng;

use ldm_data::shapes::{Color, Relation, Shape, Shapes, ShapesConfig, ShapesSplit, Size, render};

use super::*;

/// The quickstart's `[data.shapes]` (configs/quickstart.toml) at its 32x32 resolution.
fn quickstart() -> ShapesConfig {
    ShapesConfig {
        max_objects: 2,
        holdout: vec!["red circle".into(), "blue star".into()],
        ..Default::default()
    }
}

/// Every colour and shape, up to three objects.
fn everything() -> ShapesConfig {
    ShapesConfig {
        max_objects: 3,
        shapes: Shape::ALL.to_vec(),
        colors: Color::ALL.to_vec(),
        ..Default::default()
    }
}

/// Detect and score `n` validation scenes against their own captions; `noise` is the std of
/// Gaussian noise added per channel, on the [0, 1] intensity scale.
fn run(cfg: &ShapesConfig, n: usize, noise: f32) -> Aggregate {
    let ds = Shapes::new(cfg.clone(), 32, 0, ShapesSplit::Val);
    let det = Detector::new(cfg);
    let mut agg = Aggregate::new(cfg);
    for i in 0..n {
        let scene = ds.scene(i);
        let mut img = render(&scene, 32, cfg.background);
        if noise > 0.0 {
            add_noise(&mut img, noise, i as u64);
        }
        let prompt = Prompt::parse(&scene.caption()).unwrap();
        let s = score(&prompt, &det.detect(&img));
        agg.add(&prompt, &s);
    }
    agg
}

fn add_noise(img: &mut RgbImage, sigma: f32, index: u64) {
    let mut rng = ldm_core::seed::rng(1, "test/noise", index);
    for p in img.pixels_mut() {
        for v in p.0.iter_mut() {
            // Box-Muller.
            let (u1, u2): (f32, f32) = (rng.random::<f32>().max(1e-12), rng.random());
            let z = (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos();
            *v = (*v as f32 + 255.0 * sigma * z).round().clamp(0.0, 255.0) as u8;
        }
    }
}

// Measured: 600/600 (100%) all-correct on the quickstart scenes, and 600/600 with every
// colour and shape and up to three objects.
#[test]
fn reads_rendered_scenes_exactly() {
    for (name, cfg) in [("quickstart", quickstart()), ("everything", everything())] {
        let t = run(&cfg, 600, 0.0).total();
        eprintln!("{name}: {:?}", t.rates());
        assert!(t.rates().all >= 0.99, "{name}: {t:?}");
    }
}

// Measured with sigma 0.05 (12.75/255 per channel): 500/500 (100%) all-correct in both
// settings; at sigma 0.15 still 99.7%, at 0.2 95% (noise specks start to count as objects).
#[test]
fn survives_gaussian_noise() {
    for (name, cfg) in [("quickstart", quickstart()), ("everything", everything())] {
        let t = run(&cfg, 500, 0.05).total();
        eprintln!("{name} + noise: {:?}", t.rates());
        assert!(t.rates().all >= 0.95, "{name}: {t:?}");
    }
}

// Generated images are soft rather than noisy. Measured with a Gaussian blur of sigma 0.7
// pixels: 300/300 (100%) all-correct in both settings.
#[test]
fn survives_blur() {
    for (name, cfg) in [("quickstart", quickstart()), ("everything", everything())] {
        let ds = Shapes::new(cfg.clone(), 32, 0, ShapesSplit::Val);
        let det = Detector::new(&cfg);
        let mut agg = Aggregate::new(&cfg);
        for i in 0..300 {
            let scene = ds.scene(i);
            let img = image::imageops::blur(&render(&scene, 32, cfg.background), 0.7);
            let prompt = Prompt::from(&scene);
            agg.add(&prompt, &score(&prompt, &det.detect(&img)));
        }
        let r = agg.total().rates();
        eprintln!("{name} + blur: {r:?}");
        assert!(r.all >= 0.95, "{name}: {r:?}");
    }
}

#[test]
fn a_different_prompt_fails_the_attribute_that_differs() {
    let cfg = everything();
    let ds = Shapes::new(cfg.clone(), 32, 0, ShapesSplit::Val);
    let det = Detector::new(&cfg);
    let mut checked = 0;
    for i in 0..40 {
        let scene = ds.scene(i);
        let found = det.detect(&render(&scene, 32, cfg.background));
        let truth = Prompt::from(&scene);
        if !score(&truth, &found).all {
            continue;
        }
        checked += 1;
        let o = truth.objects[0];
        // Colour and shape swapped for ones no object in the scene has.
        let absent_color = *Color::ALL
            .iter()
            .find(|c| truth.objects.iter().all(|x| x.color != **c))
            .unwrap();
        let absent_shape = *Shape::ALL
            .iter()
            .find(|s| truth.objects.iter().all(|x| x.shape != **s))
            .unwrap();
        let mut p = truth.clone();
        p.objects[0].color = absent_color;
        let s = score(&p, &found);
        assert!(!s.color && s.shape && s.size && s.count && !s.all, "{s:?}");
        let mut p = truth.clone();
        p.objects[0].shape = absent_shape;
        let s = score(&p, &found);
        assert!(s.color && !s.shape && s.size && !s.all, "{s:?}");
        let mut p = truth.clone();
        p.objects[0].size = match o.size {
            Size::Small => Size::Large,
            _ => Size::Small,
        };
        let s = score(&p, &found);
        assert!(s.color && s.shape && !s.size && !s.all, "{s:?}");
        if let Some(r) = truth.relation {
            let mut p = truth.clone();
            p.relation = Some(match r {
                Relation::Above => Relation::Below,
                Relation::Below => Relation::Above,
                Relation::LeftOf => Relation::RightOf,
                Relation::RightOf => Relation::LeftOf,
            });
            let s = score(&p, &found);
            assert_eq!(s.relation, Some(false));
            assert!(s.color && s.shape && s.size && !s.all, "{s:?}");
        }
    }
    assert!(checked >= 35, "{checked}");
}

#[test]
fn empty_background_has_no_objects() {
    let cfg = everything();
    let mut img = RgbImage::from_pixel(32, 32, image::Rgb(cfg.background));
    add_noise(&mut img, 0.05, 0);
    assert!(Detector::new(&cfg).detect(&img).is_empty());
}
