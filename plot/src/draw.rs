//! Drawing [`Chart`]s with plotters: stacked, one under the other, in an
//! SVG or a PNG file.

use std::path::Path;

use anyhow::{Result, anyhow, bail};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::charts::Chart;

/// Width of a chart, and height of each, in pixels.
const WIDTH: u32 = 1000;
const HEIGHT: u32 = 420;
/// The text's font, in the binary (DejaVu Sans, fonts/DejaVuSans-LICENSE):
/// a chart renders the same wherever sockrec runs, fonts installed or not.
const FONT: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
/// The lines' colours: plotters' palette, then again.
const COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// A chart file's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Svg,
    Png,
}

impl Format {
    /// The format `-o PATH` asks for, by its extension.
    pub fn of(out: &Path) -> Result<Format> {
        match out.extension().and_then(|e| e.to_str()) {
            Some("svg") => Ok(Format::Svg),
            Some("png") => Ok(Format::Png),
            _ => bail!(
                "-o {}: the file's name must end in .svg or .png",
                out.display()
            ),
        }
    }
}

/// Draws `charts` into the file at `at`, in `format`.
pub fn draw(charts: &[Chart], format: Format, at: &Path) -> Result<()> {
    if charts.is_empty() {
        bail!("nothing to draw: the report has no rows in these captures");
    }
    register_font("sans-serif", FontStyle::Normal, FONT)
        .map_err(|_| anyhow!("the built-in font is unreadable"))?;
    let size = (WIDTH, HEIGHT * charts.len() as u32);
    match format {
        Format::Svg => {
            let root = SVGBackend::new(at, size).into_drawing_area();
            draw_on(&root, charts)?;
            root.present()
                .map_err(|e| anyhow!("writing the chart: {e}"))?;
        }
        Format::Png => {
            let root = BitMapBackend::new(at, size).into_drawing_area();
            draw_on(&root, charts)?;
            root.present()
                .map_err(|e| anyhow!("writing the chart: {e}"))?;
        }
    }
    Ok(())
}

fn draw_on<B: DrawingBackend>(root: &DrawingArea<B, Shift>, charts: &[Chart]) -> Result<()>
where
    B::ErrorType: 'static,
{
    let fail = |e: DrawingAreaErrorKind<B::ErrorType>| anyhow!("drawing: {e}");
    root.fill(&WHITE).map_err(fail)?;
    let areas = root.split_evenly((charts.len(), 1));
    for (chart, area) in charts.iter().zip(&areas) {
        match chart {
            Chart::Lines {
                title,
                start,
                y_desc,
                series,
            } => {
                let x_max = series
                    .iter()
                    .flat_map(|s| s.points.iter().map(|p| p.0))
                    .fold(1.0f64, f64::max);
                let y_max = series
                    .iter()
                    .flat_map(|s| s.points.iter().map(|p| p.1))
                    .fold(1.0f64, f64::max);
                let mut c = ChartBuilder::on(area)
                    .caption(title, ("sans-serif", 20))
                    .margin(12)
                    .x_label_area_size(40)
                    .y_label_area_size(70)
                    .build_cartesian_2d(0f64..x_max * 1.02, 0f64..y_max * 1.1)
                    .map_err(fail)?;
                let decimals = if y_max >= 10.0 { 0 } else { 1 };
                c.configure_mesh()
                    .y_label_formatter(&|v| format!("{v:.decimals$}"))
                    .x_desc(format!("seconds after {start}"))
                    .y_desc(y_desc)
                    .axis_desc_style(("sans-serif", 15))
                    .draw()
                    .map_err(fail)?;
                for (i, s) in series.iter().enumerate() {
                    let colour = COLOURS[i % COLOURS.len()];
                    c.draw_series(LineSeries::new(
                        s.points.iter().copied(),
                        colour.stroke_width(2),
                    ))
                    .map_err(fail)?
                    .label(&s.name)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                    });
                    // A dot per value: a series of one second is a dot.
                    c.draw_series(s.points.iter().map(|p| Circle::new(*p, 3, colour.filled())))
                        .map_err(fail)?;
                }
                c.configure_series_labels()
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .label_font(("sans-serif", 13))
                    .position(SeriesLabelPosition::UpperRight)
                    .draw()
                    .map_err(fail)?;
            }
            Chart::Buckets {
                title,
                x_desc,
                buckets,
            } => {
                let n = buckets.len() as u32;
                let y_max = buckets.iter().map(|b| b.1).max().unwrap_or(1).max(1);
                let mut c = ChartBuilder::on(area)
                    .caption(title, ("sans-serif", 20))
                    .margin(12)
                    .x_label_area_size(40)
                    .y_label_area_size(60)
                    // Segments 0..=n-1: one per bucket.
                    .build_cartesian_2d(
                        (0u32..n.saturating_sub(1)).into_segmented(),
                        0u64..y_max + y_max / 10 + 1,
                    )
                    .map_err(fail)?;
                let labels: Vec<String> = buckets.iter().map(|b| b.0.clone()).collect();
                c.configure_mesh()
                    .disable_x_mesh()
                    .x_labels(buckets.len())
                    .x_label_formatter(&|v| match v {
                        SegmentValue::CenterOf(i) => {
                            labels.get(*i as usize).cloned().unwrap_or_default()
                        }
                        _ => String::new(),
                    })
                    .x_desc(x_desc)
                    .y_desc("count")
                    .axis_desc_style(("sans-serif", 15))
                    .draw()
                    .map_err(fail)?;
                c.draw_series(
                    Histogram::vertical(&c)
                        .style(COLOURS[0].filled())
                        .margin(4)
                        .data(buckets.iter().enumerate().map(|(i, b)| (i as u32, b.1))),
                )
                .map_err(fail)?;
            }
        }
    }
    Ok(())
}
