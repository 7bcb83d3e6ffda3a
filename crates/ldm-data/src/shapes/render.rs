//! Rasterise a scene with 4x4 supersampling, so edges are anti-aliased like a real photo's.

use image::RgbImage;

use super::scene::{Object, Scene, Shape};

const SUPERSAMPLE: u32 = 4;

pub fn render(scene: &Scene, size: u32, background: [u8; 3]) -> RgbImage {
    let mut img = RgbImage::from_pixel(size, size, image::Rgb(background));
    for obj in &scene.objects {
        draw(&mut img, obj);
    }
    img
}

fn draw(img: &mut RgbImage, obj: &Object) {
    let n = img.width() as f32;
    let (cx, cy, r) = (obj.center.0 * n, obj.center.1 * n, obj.radius * n);
    let x0 = (cx - r - 1.0).floor().max(0.0) as u32;
    let y0 = (cy - r - 1.0).floor().max(0.0) as u32;
    let x1 = ((cx + r + 1.0).ceil() as u32).min(img.width());
    let y1 = ((cy + r + 1.0).ceil() as u32).min(img.height());
    let color = obj.color.rgb();
    let step = 1.0 / SUPERSAMPLE as f32;
    for py in y0..y1 {
        for px in x0..x1 {
            let mut hits = 0;
            for sy in 0..SUPERSAMPLE {
                for sx in 0..SUPERSAMPLE {
                    let x = (px as f32 + (sx as f32 + 0.5) * step - cx) / r;
                    let y = (py as f32 + (sy as f32 + 0.5) * step - cy) / r;
                    hits += inside(obj.shape, x, y) as u32;
                }
            }
            if hits > 0 {
                let a = hits as f32 / (SUPERSAMPLE * SUPERSAMPLE) as f32;
                let p = img.get_pixel_mut(px, py);
                for c in 0..3 {
                    p.0[c] = (p.0[c] as f32 * (1.0 - a) + color[c] as f32 * a).round() as u8;
                }
            }
        }
    }
}

/// Is the point (in units of the circumradius, centred, y down) inside the shape?
pub fn inside(shape: Shape, x: f32, y: f32) -> bool {
    match shape {
        Shape::Circle => x * x + y * y <= 1.0,
        // Half-side 0.8 keeps the square's area close to the circle's.
        Shape::Square => x.abs() <= 0.8 && y.abs() <= 0.8,
        Shape::Diamond => x.abs() + y.abs() <= 1.0,
        Shape::Triangle => in_polygon(&regular(3, 1.0, 1.0), x, y),
        Shape::Star => in_polygon(&regular(5, 1.0, 0.45), x, y),
    }
}

/// Vertices of a regular polygon (or star when `inner < outer`) pointing up.
fn regular(points: usize, outer: f32, inner: f32) -> Vec<(f32, f32)> {
    let star = inner < outer;
    let n = if star { points * 2 } else { points };
    (0..n)
        .map(|i| {
            let r = if star && i % 2 == 1 { inner } else { outer };
            let a = -std::f32::consts::FRAC_PI_2 + i as f32 * std::f32::consts::TAU / n as f32;
            (r * a.cos(), r * a.sin())
        })
        .collect()
}

/// Even-odd rule.
fn in_polygon(v: &[(f32, f32)], x: f32, y: f32) -> bool {
    let mut inside = false;
    let mut j = v.len() - 1;
    for i in 0..v.len() {
        let ((xi, yi), (xj, yj)) = (v[i], v[j]);
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}
