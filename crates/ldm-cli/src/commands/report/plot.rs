//! PNG line plots (plotters' bitmap backend; the text is drawn with an embedded DejaVu Sans,
//! so no system fonts are needed). Written atomically.

use std::path::Path;
use std::sync::Once;

use anyhow::Context;
use plotters::prelude::*;
use plotters::style::FontStyle;

const FONT: &[u8] = include_bytes!("../../../../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";
const SIZE: (u32, u32) = (720, 420);

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Line,
    /// A thin, pale line behind the others (raw values under a smoothed curve).
    Faint,
    /// A line with a dot at each point (sparse values, e.g. validation).
    Points,
}

#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub style: Style,
    /// Index into the palette, so a raw series and its smoothed curve share a colour.
    pub color: usize,
}

#[derive(Clone, Debug, Default)]
pub struct Plot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Logarithmic y axis (used only when every value is positive).
    pub log_y: bool,
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            if plotters::style::register_font(FAMILY, style, FONT).is_err() {
                panic!("the embedded font is not a valid TrueType font");
            }
        }
    });
}

/// A line plot of named series of (x, y) points, one colour each, with a legend (a dot on
/// each point when a series has 30 or fewer).
#[allow(dead_code)] // for plots beyond the report's training curves (sweeps, evaluation)
pub fn line_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> anyhow::Result<()> {
    let plot = Plot {
        title: title.into(),
        x_label: x_label.into(),
        y_label: y_label.into(),
        series: series
            .iter()
            .enumerate()
            .map(|(i, (name, points))| Series {
                name: name.clone(),
                points: points.clone(),
                style: if points.len() <= 30 {
                    Style::Points
                } else {
                    Style::Line
                },
                color: i,
            })
            .collect(),
        log_y: false,
    };
    draw(path, &plot)
}

/// Draw `plot` into the PNG at `path`.
pub fn draw(path: &Path, plot: &Plot) -> anyhow::Result<()> {
    register_font();
    let (w, h) = SIZE;
    let mut buf = vec![0u8; (w * h * 3) as usize];
    render(&mut buf, plot).map_err(|e| anyhow::anyhow!("drawing {}: {e}", path.display()))?;
    let img = image::RgbImage::from_raw(w, h, buf).expect("buffer matches the size");
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .context("encoding the plot")?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    ldm_core::atomic::write(path, &png).with_context(|| format!("writing {}", path.display()))
}

fn finite(points: &[(f64, f64)], log_y: bool) -> impl Iterator<Item = (f64, f64)> + '_ {
    points
        .iter()
        .copied()
        .filter(move |(x, y)| x.is_finite() && y.is_finite() && (!log_y || *y > 0.0))
}

/// Padded bounds of every finite point.
fn bounds(plot: &Plot, log_y: bool) -> ((f64, f64), (f64, f64)) {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for s in &plot.series {
        for (x, y) in finite(&s.points, log_y) {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
    }
    if x0 > x1 {
        return ((0.0, 1.0), (0.0, 1.0));
    }
    if x1 - x0 < 1e-12 {
        (x0, x1) = (x0 - 1.0, x1 + 1.0);
    } else {
        let pad = (x1 - x0) * 0.02;
        (x0, x1) = (x0 - pad, x1 + pad);
    }
    if log_y {
        return ((x0, x1), (y0 / 1.2, y1 * 2.0));
    }
    let pad = if y1 - y0 < 1e-12 {
        y0.abs().max(1.0) * 0.05
    } else {
        (y1 - y0) * 0.05
    };
    // More room above, where the legend goes.
    ((x0, x1), (y0 - pad, y1 + 3.0 * pad))
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn render(buf: &mut [u8], plot: &Plot) -> DrawResult {
    let root = BitMapBackend::with_buffer(buf, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let log_y = plot.log_y
        && plot
            .series
            .iter()
            .flat_map(|s| finite(&s.points, false))
            .all(|(_, y)| y > 0.0);
    let ((x0, x1), (y0, y1)) = bounds(plot, log_y);
    let x_fmt = tick_format((x0, x1));
    let y_fmt = tick_format((y0, y1));
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(&plot.title, (FAMILY, 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70);
    if log_y {
        let mut chart = builder.build_cartesian_2d(x0..x1, (y0..y1).log_scale())?;
        let y_fmt = |v: &f64| tick_format((0.0, v * 10.0))(v);
        chart
            .configure_mesh()
            .x_desc(&plot.x_label)
            .y_desc(&plot.y_label)
            .label_style((FAMILY, 13))
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .bold_line_style(RGBColor(225, 225, 225))
            .light_line_style(RGBColor(246, 246, 246))
            .draw()?;
        draw_series(&mut chart, plot, true)?;
    } else {
        let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .x_desc(&plot.x_label)
            .y_desc(&plot.y_label)
            .label_style((FAMILY, 13))
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .bold_line_style(RGBColor(225, 225, 225))
            .light_line_style(RGBColor(246, 246, 246))
            .draw()?;
        draw_series(&mut chart, plot, false)?;
    }
    root.present()?;
    Ok(())
}

fn draw_series<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    plot: &Plot,
    log_y: bool,
) -> DrawResult
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let mut legend = false;
    for s in &plot.series {
        let color = PALETTE[s.color % PALETTE.len()];
        let pts: Vec<(f64, f64)> = finite(&s.points, log_y).collect();
        match s.style {
            Style::Faint => {
                let pale = color.mix(0.25);
                chart.draw_series(LineSeries::new(pts, pale.stroke_width(1)))?;
            }
            Style::Line => {
                legend = true;
                chart
                    .draw_series(LineSeries::new(pts, color.stroke_width(2)))?
                    .label(&s.name)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
            }
            Style::Points => {
                legend = true;
                chart.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?;
                chart
                    .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))?
                    .label(&s.name)
                    .legend(move |(x, y)| Circle::new((x + 9, y), 3, color.filled()));
            }
        }
    }
    if legend {
        chart
            .configure_series_labels()
            .label_font((FAMILY, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
    }
    Ok(())
}

/// Tick labels with as many decimals as the tick spacing over `range` needs; scientific
/// notation for very small or large values.
fn tick_format(range: (f64, f64)) -> impl Fn(&f64) -> String {
    let step = ((range.1 - range.0) / 10.0).abs().max(1e-300);
    let decimals = (-step.log10().floor()).clamp(0.0, 8.0) as usize;
    move |v: &f64| {
        let a = v.abs();
        if a != 0.0 && !(1e-3..1e6).contains(&a) {
            format!("{v:.1e}")
        } else {
            format!("{v:.decimals$}")
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn draws_a_png_with_text() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("p.png");
        let pts: Vec<(f64, f64)> = (0..50)
            .map(|i| (i as f64, (i as f64 * 0.2).sin()))
            .collect();
        super::line_plot(&p, "title", "step", "loss", &[("sin".into(), pts)]).unwrap();
        let img = image::open(&p).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), super::SIZE);
        // Something besides the white background was drawn.
        assert!(img.pixels().any(|px| px.0 != [255, 255, 255]));
    }
}
