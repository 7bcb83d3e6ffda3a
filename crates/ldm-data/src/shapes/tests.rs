use super::*;

fn train(cfg: ShapesConfig) -> Shapes {
    Shapes::new(cfg, 32, 7, ShapesSplit::Train)
}

/// Read a caption back into (size, colour, shape) triples and a relation, independently of
/// `Scene::caption`, so a wording bug cannot hide behind the same code.
fn parse_caption(caption: &str) -> (Vec<(Size, Color, Shape)>, Option<Relation>) {
    let relation = [
        (" above ", Relation::Above),
        (" below ", Relation::Below),
        (" to the left of ", Relation::LeftOf),
        (" to the right of ", Relation::RightOf),
    ]
    .into_iter()
    .find(|(w, _)| caption.contains(w));
    let text = match relation {
        Some((w, _)) => caption.replace(w, ", "),
        None => caption.replace(" and ", ", "),
    };
    let objects = text
        .split(", ")
        .map(|phrase| {
            let words: Vec<&str> = phrase.split(' ').collect();
            assert_eq!(words[0], "a", "{caption}");
            let (size, rest) = match words[1] {
                "small" => (Size::Small, &words[2..]),
                "large" => (Size::Large, &words[2..]),
                _ => (Size::Medium, &words[1..]),
            };
            let color = *Color::ALL
                .iter()
                .find(|c| c.name() == rest[0])
                .expect(caption);
            let shape = *Shape::ALL
                .iter()
                .find(|s| s.name() == rest[1])
                .expect(caption);
            assert_eq!(rest.len(), 2, "{caption}");
            (size, color, shape)
        })
        .collect();
    (objects, relation.map(|(_, r)| r))
}

#[test]
fn captions_agree_with_ground_truth_and_pixels() {
    let cfg = ShapesConfig {
        max_objects: 3,
        ..Default::default()
    };
    let ds = train(cfg.clone());
    let mut counts = [0usize; 4];
    for i in 0..600 {
        let scene = ds.scene(i);
        counts[scene.objects.len()] += 1;
        let (parsed, relation) = parse_caption(&scene.caption());
        let truth: Vec<_> = scene
            .objects
            .iter()
            .map(|o| (o.size, o.color, o.shape))
            .collect();
        assert_eq!(parsed, truth, "caption {:?}", scene.caption());
        assert_eq!(relation, scene.relation);

        // The relation holds in the geometry, and clearly (the main axis dominates).
        if let Some(r) = scene.relation {
            let (a, b) = (scene.objects[0].center, scene.objects[1].center);
            let (dx, dy) = (b.0 - a.0, b.1 - a.1);
            let ok = match r {
                Relation::Above => dy > 0.0 && dy.abs() > dx.abs(),
                Relation::Below => dy < 0.0 && dy.abs() > dx.abs(),
                Relation::LeftOf => dx > 0.0 && dx.abs() > dy.abs(),
                Relation::RightOf => dx < 0.0 && dx.abs() > dy.abs(),
            };
            assert!(ok, "{:?}: {a:?} vs {b:?}", scene.caption());
        }
        // Objects do not overlap, stay inside the image, and their centres show their colour.
        let img = render(&scene, 32, cfg.background);
        for (k, o) in scene.objects.iter().enumerate() {
            assert!(o.center.0 - o.radius >= 0.0 && o.center.0 + o.radius <= 1.0);
            assert!(o.center.1 - o.radius >= 0.0 && o.center.1 + o.radius <= 1.0);
            for p in &scene.objects[k + 1..] {
                let d =
                    ((o.center.0 - p.center.0).powi(2) + (o.center.1 - p.center.1).powi(2)).sqrt();
                assert!(d >= o.radius + p.radius, "overlap in {:?}", scene.caption());
            }
            let px = img.get_pixel((o.center.0 * 32.0) as u32, (o.center.1 * 32.0) as u32);
            let want = o.color.rgb();
            let close = (0..3).all(|c| (px.0[c] as i32 - want[c] as i32).abs() < 40);
            assert!(
                close,
                "{:?}: centre pixel {:?} vs {want:?}",
                scene.caption(),
                px.0
            );
        }
    }
    assert!(
        counts[1] > 100 && counts[2] > 100 && counts[3] > 100,
        "{counts:?}"
    );
}

#[test]
fn deterministic_from_seed_and_splits_differ() {
    let a = train(ShapesConfig::default());
    let b = train(ShapesConfig::default());
    let va = Shapes::new(ShapesConfig::default(), 32, 7, ShapesSplit::Val);
    let other = Shapes::new(ShapesConfig::default(), 32, 8, ShapesSplit::Train);
    for i in 0..20 {
        assert_eq!(
            a.get(i).unwrap().image.as_bytes(),
            b.get(i).unwrap().image.as_bytes()
        );
    }
    let differ = |x: &Shapes| (0..20).filter(|&i| x.scene(i) != a.scene(i)).count();
    assert!(differ(&va) >= 18 && differ(&other) >= 18);
}

#[test]
fn held_out_combinations_never_appear_in_training() {
    let cfg = ShapesConfig {
        holdout: vec!["red circle".into(), "blue star".into()],
        ..Default::default()
    };
    let tr = train(cfg.clone());
    let val = Shapes::new(cfg.clone(), 32, 7, ShapesSplit::Val);
    let held = |o: &Object| {
        (o.color, o.shape) == (Color::Red, Shape::Circle)
            || (o.color, o.shape) == (Color::Blue, Shape::Star)
    };
    assert!((0..2000).all(|i| !tr.scene(i).objects.iter().any(held)));
    assert!((0..500).any(|i| val.scene(i).objects.iter().any(held)));
    assert!(cfg.is_held_out(Color::Red, Shape::Circle));
    assert!(!cfg.is_held_out(Color::Red, Shape::Square));
}

#[test]
fn bad_holdout_is_rejected_by_name() {
    let cfg = ShapesConfig {
        holdout: vec!["mauve circle".into()],
        ..Default::default()
    };
    let mut checks = Checks::default();
    cfg.validate(&mut checks);
    let msg = format!("{checks:?}");
    assert!(msg.contains("holdout.0") && msg.contains("mauve"), "{msg}");
}
