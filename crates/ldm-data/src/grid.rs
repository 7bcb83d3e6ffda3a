//! Image grids as PNG (data previews, reconstructions, samples), and the conversion of planar
//! float batches back to images.

use std::path::Path;

use image::{DynamicImage, GenericImage, GrayImage, Rgb, RgbImage, imageops::FilterType};

/// Images from a planar `[B, C, H, W]` batch in [-1, 1] (values outside are clipped).
pub fn to_images(data: &[f32], [b, c, h, w]: [usize; 4]) -> Vec<DynamicImage> {
    let px = |v: f32| ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8;
    (0..b)
        .map(|i| {
            let img = &data[i * c * h * w..(i + 1) * c * h * w];
            if c == 1 {
                DynamicImage::ImageLuma8(GrayImage::from_fn(w as u32, h as u32, |x, y| {
                    image::Luma([px(img[y as usize * w + x as usize])])
                }))
            } else {
                DynamicImage::ImageRgb8(RgbImage::from_fn(w as u32, h as u32, |x, y| {
                    let at = y as usize * w + x as usize;
                    Rgb([px(img[at]), px(img[h * w + at]), px(img[2 * h * w + at])])
                }))
            }
        })
        .collect()
}

/// Lay `images` out in rows of `cols`, each cell scaled (nearest, so pixels stay visible) to
/// at least `min_cell` pixels, with a 2-pixel gap, and write the PNG atomically.
pub fn write_grid(
    path: &Path,
    images: &[DynamicImage],
    cols: usize,
    min_cell: u32,
) -> Result<(), String> {
    if images.is_empty() {
        return Err(format!("no images for grid {}", path.display()));
    }
    let (w, h) = (images[0].width(), images[0].height());
    let scale = min_cell.div_ceil(w.max(h)).max(1);
    let (cw, ch) = (w * scale, h * scale);
    let cols = cols.clamp(1, images.len());
    let rows = images.len().div_ceil(cols);
    let gap = 2;
    let mut canvas = RgbImage::from_pixel(
        cols as u32 * (cw + gap) + gap,
        rows as u32 * (ch + gap) + gap,
        Rgb([255, 255, 255]),
    );
    for (i, img) in images.iter().enumerate() {
        let cell = img.resize_exact(cw, ch, FilterType::Nearest).to_rgb8();
        let (x, y) = (
            (i % cols) as u32 * (cw + gap) + gap,
            (i / cols) as u32 * (ch + gap) + gap,
        );
        canvas
            .copy_from(&cell, x, y)
            .map_err(|e| format!("placing grid cell: {e}"))?;
    }
    let mut bytes = Vec::new();
    DynamicImage::ImageRgb8(canvas)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .map_err(|e| format!("encoding {}: {e}", path.display()))?;
    ldm_core::atomic::write(path, &bytes).map_err(|e| format!("writing {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn planar_batch_round_trips_through_images() {
        let data: Vec<f32> = vec![
            -1.0, 1.0, 0.0, 1.0, /* g */ 1.0, -1.0, 0.0, 0.0, /* b */ 0.0, 0.0, 1.0, -1.0,
        ];
        let imgs = super::to_images(&data, [1, 3, 2, 2]);
        let p = imgs[0].to_rgb8();
        assert_eq!(p.get_pixel(0, 0).0, [0, 255, 128]);
        assert_eq!(p.get_pixel(1, 1).0, [255, 128, 0]);
        let back = crate::transform::to_chw(&imgs[0], 3);
        assert!(
            back.iter()
                .zip(&data)
                .all(|(a, b)| (a - b).abs() <= 1.0 / 127.0)
        );
    }
}
