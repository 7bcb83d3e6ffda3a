//! Per-pixel colour model: a shapes image is objects alpha-blended over a plain background,
//! so each pixel is read as "background plus `alpha` of palette colour k". Reading pixels this
//! way (rather than by nearest colour) keeps anti-aliased and blurred edges with their object:
//! half orange over dark grey is closer to red than to orange, but is exactly half orange.

/// One pixel explained as a blend: which palette entry, and how much of it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Unmixed {
    /// Index into the palette.
    pub color: usize,
    /// Coverage in [0, 1]: 0 is pure background, 1 the pure palette colour.
    pub alpha: f32,
}

/// The coverage of `px` along the direction from `bg` to `color`, clamped to [0, 1].
pub fn alpha_along(px: [f32; 3], bg: [f32; 3], color: [f32; 3]) -> f32 {
    let d = sub(color, bg);
    let len2 = dot(d, d).max(1e-6);
    (dot(sub(px, bg), d) / len2).clamp(0.0, 1.0)
}

/// The palette entry whose blend with the background reproduces `px` best, and its alpha.
pub fn unmix(px: [f32; 3], bg: [f32; 3], palette: &[[f32; 3]]) -> Unmixed {
    let v = sub(px, bg);
    let mut best = (
        f32::INFINITY,
        Unmixed {
            color: 0,
            alpha: 0.0,
        },
    );
    for (k, &c) in palette.iter().enumerate() {
        let a = alpha_along(px, bg, c);
        let d = sub(c, bg);
        let r = sub(v, [a * d[0], a * d[1], a * d[2]]);
        let err = dot(r, r);
        if err < best.0 {
            best = (err, Unmixed { color: k, alpha: a });
        }
    }
    best.1
}

pub fn rgb(c: [u8; 3]) -> [f32; 3] {
    [c[0] as f32, c[1] as f32, c[2] as f32]
}

fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Index of the palette colour nearest to `px` (Euclidean in RGB).
    pub fn nearest(px: [f32; 3], palette: &[[f32; 3]]) -> usize {
        let mut best = (f32::INFINITY, 0);
        for (k, &c) in palette.iter().enumerate() {
            let d = sub(px, c);
            let e = dot(d, d);
            if e < best.0 {
                best = (e, k);
            }
        }
        best.1
    }

    #[test]
    fn edge_pixel_keeps_its_colour() {
        let bg = [20.0, 20.0, 20.0];
        let red = [220.0, 40.0, 40.0];
        let orange = [250.0, 140.0, 20.0];
        let half_orange = [135.0, 80.0, 20.0];
        // Nearest colour would say red; the blend model says half orange.
        assert_eq!(nearest(half_orange, &[red, orange, bg]), 0);
        let u = unmix(half_orange, bg, &[red, orange]);
        assert_eq!(u.color, 1);
        assert!((u.alpha - 0.5).abs() < 1e-3);
    }
}
