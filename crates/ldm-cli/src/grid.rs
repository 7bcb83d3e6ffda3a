//! Image grids as PNG: samples, reconstructions, data previews.

use std::path::Path;

use anyhow::Context;
use image::{DynamicImage, GenericImage, Rgb, RgbImage, imageops::FilterType};

/// Lay `images` out in rows of `cols`, each cell scaled (nearest, so pixels stay visible) to
/// at least `min_cell` pixels, with a 2-pixel gap, and write the PNG atomically.
pub fn write_grid(
    path: &Path,
    images: &[DynamicImage],
    cols: usize,
    min_cell: u32,
) -> anyhow::Result<()> {
    anyhow::ensure!(!images.is_empty(), "no images for grid {}", path.display());
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
        canvas.copy_from(&cell, x, y).context("placing grid cell")?;
    }
    let mut bytes = Vec::new();
    DynamicImage::ImageRgb8(canvas)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .context("encoding PNG")?;
    ldm_core::atomic::write(path, &bytes).with_context(|| format!("writing {}", path.display()))
}
