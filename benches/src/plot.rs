//! The recall-against-QPS plot, as a PNG.
//!
//! plotters draws with its bitmap backend and renders text with `ab_glyph` from a font
//! compiled into the binary (Noto Sans, from the `ttf-noto-sans` crate), so no system
//! font, fontconfig or freetype is needed.

use std::error::Error;
use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::report::{display_name, libraries, Row};

const FONT: &str = "sans-serif";

fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType font, shipped by the crate.
        let _ = register_font(FONT, FontStyle::Normal, ttf_noto_sans::REGULAR);
    });
}

/// A library's colour: FletchDB red, the peers in blue, green and orange.
fn colour(lib: &str, i: usize) -> RGBColor {
    match lib {
        "fletchdb" => RGBColor(214, 39, 40),
        "fletchdb-i8" => RGBColor(150, 0, 20),
        "fletchdb-f16" => RGBColor(240, 110, 110),
        "hnswlib" => RGBColor(31, 119, 180),
        "faiss" => RGBColor(44, 160, 44),
        "usearch" => RGBColor(255, 127, 14),
        _ => [
            RGBColor(148, 103, 189),
            RGBColor(140, 86, 75),
            RGBColor(127, 127, 127),
        ][i % 3],
    }
}

/// Draws QPS (log scale) against recall for every library in `rows`, one panel per
/// thread count side by side, into the PNG `path`.
///
/// # Errors
/// When the file cannot be written, or `rows` is empty.
pub fn recall_qps_png(path: &Path, title: &str, rows: &[Row]) -> Result<(), Box<dyn Error>> {
    register();
    if rows.is_empty() {
        return Err("nothing to plot".into());
    }
    let mut threads: Vec<usize> = rows.iter().map(|r| r.threads).collect();
    threads.sort_unstable();
    threads.dedup();
    let width = (720 * threads.len() as u32).max(960);
    let root = BitMapBackend::new(path, (width, 640)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, (FONT, 22))?;
    let panels = root.split_evenly((1, threads.len()));
    let libs = libraries(rows);
    for (panel, &t) in panels.iter().zip(&threads) {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.threads == t).collect();
        let lo_r = mine.iter().map(|r| r.recall).fold(1.0, f64::min);
        let hi_r = mine.iter().map(|r| r.recall).fold(0.0, f64::max);
        let x_lo = (((lo_r - 0.01) * 100.0).floor() / 100.0).max(0.0);
        let x_hi = (((hi_r + 0.01) * 100.0).ceil() / 100.0).min(1.0);
        let (lo_q, hi_q) = mine.iter().fold((f64::MAX, 0.0f64), |(lo, hi), r| {
            (lo.min(r.qps), hi.max(r.qps))
        });
        let caption = if t == 1 {
            "1 search thread".to_string()
        } else {
            format!("{t} search threads")
        };
        let mut chart = ChartBuilder::on(panel)
            .caption(caption, (FONT, 20))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(
                x_lo..x_hi,
                ((lo_q * 0.8).max(1e-3)..hi_q * 1.25).log_scale(),
            )?;
        chart
            .configure_mesh()
            .x_desc("recall@10")
            .y_desc("queries per second (log)")
            .y_labels(8)
            .light_line_style(RGBColor(240, 240, 240))
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .x_label_formatter(&|x| format!("{x:.2}"))
            .y_label_formatter(&|y| crate::report::thousands(*y))
            .draw()?;
        for (i, lib) in libs.iter().enumerate() {
            let mut pts: Vec<(f64, f64)> = mine
                .iter()
                .filter(|r| &r.lib == lib)
                .map(|r| (r.recall, r.qps))
                .collect();
            if pts.is_empty() {
                continue;
            }
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            let c = colour(lib, i);
            let width = if lib == "fletchdb" { 3 } else { 2 };
            chart
                .draw_series(LineSeries::new(pts.clone(), c.stroke_width(width)))?
                .label(display_name(lib))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 22, y)], c.stroke_width(width))
                });
            chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 4, c.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 16))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_png_with_text_and_no_system_fonts() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("plot.png");
        let mut rows = Vec::new();
        for (lib, f) in [("fletchdb", 1.2), ("hnswlib", 1.0)] {
            for (t, ef, r) in [(1, 16, 0.9), (1, 64, 0.99), (2, 16, 0.9), (2, 64, 0.99)] {
                rows.push(Row {
                    lib: lib.into(),
                    threads: t,
                    ef,
                    recall: r,
                    qps: f * 10_000.0 * t as f64 / ef as f64,
                    build_s: 1.0,
                });
            }
        }
        recall_qps_png(&p, "test", &rows).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        assert!(recall_qps_png(&p, "empty", &[]).is_err());
    }
}
