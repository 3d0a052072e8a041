//! [`ReportData`] → one self-contained HTML page: inline CSS, inline SVG
//! charts drawn with [`plotters`] (SVG backend), a data table under every
//! chart, no script and nothing fetched from the network.

use std::fmt::Write;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::data::{ComplaintDesk, ComplaintGroup, ReportData};
use crate::output::columns;

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Chart width in pixels (the page scales them down on narrow screens).
const WIDTH: u32 = 960;
const FONT: &str = "sans-serif";

/// Okabe–Ito: distinguishable with the common colour-vision deficiencies.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
    RGBColor(90, 90, 90),
];
const INK: RGBColor = RGBColor(34, 34, 34);
const GRID: RGBColor = RGBColor(225, 225, 225);
const BASELINE: RGBColor = RGBColor(204, 0, 0);
/// Cohort cells after the as-of time (clearly apart from the 0% colour).
const EMPTY_CELL: RGBColor = RGBColor(214, 214, 214);

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn grouped(n: u64) -> String {
    crate::output::thousands(n)
}

fn percent(share: f64) -> String {
    let p = share * 100.0;
    if p > 0.0 && p < 1.0 {
        format!("{p:.1}%")
    } else {
        format!("{p:.0}%")
    }
}

/// Draws into an SVG document of `width × height` pixels.
fn svg(
    width: u32,
    height: u32,
    draw: impl FnOnce(&Area<'_>) -> DrawResult,
) -> Result<String, String> {
    let mut buffer = String::new();
    {
        let root = SVGBackend::with_string(&mut buffer, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        draw(&root).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(buffer)
}

/// Pixel width of a label column that fits `labels` (the SVG text is measured
/// by the browser; this is an estimate of ~7 px per character).
fn label_width(labels: impl IntoIterator<Item = usize>) -> u32 {
    let longest = labels.into_iter().max().unwrap_or(4) as u32;
    (longest * 7 + 20).clamp(48, 260)
}

/// `text` cut to at most `most` character cells, with `…` when cut.
fn shortened(text: &str, most: usize) -> String {
    if columns(text) <= most {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 1; // the ellipsis
    for c in text.chars() {
        let w = columns(c.encode_utf8(&mut [0; 4]));
        if used + w > most {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// Category axes use integer coordinates: category `i` spans
/// `[i·SLOT, (i+1)·SLOT)`, so labels sit exactly at the slot centres.
const SLOT: i32 = 100;

/// `i + frac` slots, in axis coordinates.
fn slot(i: usize, frac: f64) -> i32 {
    ((i as f64 + frac) * f64::from(SLOT)).round() as i32
}

/// The axis end for `n` categories.
fn slots(n: usize) -> i32 {
    slot(n, 0.0)
}

/// Category centres thinned so at most `most` are labelled.
fn centres(n: usize, most: usize) -> Vec<i32> {
    let step = n.div_ceil(most.max(1)).max(1);
    (0..n).step_by(step).map(|i| slot(i, 0.5)).collect()
}

/// The category at axis coordinate `v`.
fn index_of(v: i32, n: usize) -> Option<usize> {
    usize::try_from(v.div_euclid(SLOT)).ok().filter(|i| *i < n)
}

fn value_label_style(size: u32) -> TextStyle<'static> {
    (FONT, size)
        .into_font()
        .color(&INK)
        .pos(Pos::new(HPos::Left, VPos::Center))
}

/// Horizontal bars, first category on top, counting `x_desc` (`customers`);
/// `note(i)` is printed after each bar.
fn hbar_chart(
    bars: &[(String, u64)],
    x_desc: &str,
    note: impl Fn(usize) -> String,
) -> Result<String, String> {
    let n = bars.len();
    let max = bars.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1) as f64;
    let height = (n as u32 * 34 + 70).min(2000);
    let labels: Vec<String> = bars.iter().map(|(l, _)| l.clone()).collect();
    let label_area = label_width(labels.iter().map(|l| columns(l)));
    let notes: Vec<String> = (0..n).map(note).collect();
    // Room to the right of each bar for its note (~7.5 px a character at
    // 14 px): the axis reaches at least 1.3 × the longest bar.
    let plot = f64::from(WIDTH.saturating_sub(12 + 24 + label_area));
    let x_end = bars
        .iter()
        .zip(&notes)
        .map(|((_, v), note)| {
            let room = (plot - 12.0 - 7.5 * columns(note) as f64).max(plot * 0.25);
            *v as f64 * plot / room
        })
        .fold(max * 1.3, f64::max);
    svg(WIDTH, height, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .margin_right(24)
            .x_label_area_size(36)
            .y_label_area_size(label_area)
            .build_cartesian_2d(0f64..x_end, (0..slots(n)).with_key_points(centres(n, n)))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .x_desc(x_desc)
            .x_label_formatter(&|v| grouped(v.max(0.0).round() as u64))
            .y_label_formatter(&|v| {
                // Row i (from the top) is slot n - 1 - i.
                index_of(slots(n) - 1 - v, n)
                    .and_then(|i| labels.get(i))
                    .cloned()
                    .unwrap_or_default()
            })
            .label_style((FONT, 14).into_font().color(&INK))
            .axis_desc_style((FONT, 14).into_font().color(&INK))
            .draw()?;
        chart.draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
            let row = n - 1 - i;
            Rectangle::new(
                [(0.0, slot(row, 0.14)), (*v as f64, slot(row, 0.86))],
                colour(0).filled(),
            )
        }))?;
        chart.draw_series(
            bars.iter()
                .zip(&notes)
                .enumerate()
                .map(|(i, ((_, v), note))| {
                    EmptyElement::at((*v as f64, slot(n - 1 - i, 0.5)))
                        + Text::new(note.clone(), (6, 0), value_label_style(14))
                }),
        )?;
        Ok(())
    })
}

/// Vertical bars per category with the value above each bar, counting
/// `y_desc` (`customers`), bar `i` filled with `fill(i)`: a colour per
/// category ([`colour`]), one colour for a time series.
fn vbar_chart(
    bars: &[(String, u64)],
    x_desc: &str,
    y_desc: &str,
    fill: &dyn Fn(usize) -> RGBColor,
) -> Result<String, String> {
    let n = bars.len();
    let max = bars.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1) as f64;
    let labels: Vec<String> = bars.iter().map(|(l, _)| l.clone()).collect();
    svg(WIDTH, 380, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .margin_right(24)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(
                (0..slots(n)).with_key_points(centres(n, 16)),
                0f64..max * 1.15,
            )?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&|v| {
                index_of(*v, n)
                    .and_then(|i| labels.get(i))
                    .cloned()
                    .unwrap_or_default()
            })
            .y_label_formatter(&|v| grouped(v.max(0.0).round() as u64))
            .label_style((FONT, 14).into_font().color(&INK))
            .axis_desc_style((FONT, 14).into_font().color(&INK))
            .draw()?;
        chart.draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
            Rectangle::new(
                [(slot(i, 0.15), 0.0), (slot(i, 0.85), *v as f64)],
                fill(i).filled(),
            )
        }))?;
        chart.draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
            EmptyElement::at((slot(i, 0.5), *v as f64))
                + Text::new(
                    grouped(*v),
                    (0, -4),
                    (FONT, 14)
                        .into_font()
                        .color(&INK)
                        .pos(Pos::new(HPos::Center, VPos::Bottom)),
                )
        }))?;
        Ok(())
    })
}

/// A legend drawn at the right of a chart: a swatch and a name per entry.
fn legend(area: &Area<'_>, entries: &[(String, RGBColor)]) -> DrawResult {
    for (i, (name, c)) in entries.iter().enumerate() {
        let y = 24 + i as i32 * 22;
        area.draw(&Rectangle::new([(8, y - 7), (22, y + 7)], c.filled()))?;
        area.draw(&Text::new(name.clone(), (30, y), value_label_style(14)))?;
    }
    Ok(())
}

/// Stacked bars: one bar per period, one segment per stage.
fn stage_flow_chart(flow: &[(String, Vec<(String, u64)>)]) -> Result<String, String> {
    let stages = stage_names(flow);
    let n = flow.len();
    let max = flow
        .iter()
        .map(|(_, s)| s.iter().map(|(_, v)| *v).sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let periods: Vec<String> = flow.iter().map(|(p, _)| p.clone()).collect();
    let legend_width = label_width(stages.iter().map(|s| s.chars().count())) + 24;
    svg(WIDTH, 420, |root| {
        let (left, right) = root.split_horizontally(WIDTH - legend_width);
        let mut chart = ChartBuilder::on(&left)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(
                (0..slots(n)).with_key_points(centres(n, 14)),
                0f64..max * 1.08,
            )?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .x_desc("period")
            .y_desc("customers")
            .x_label_formatter(&|v| {
                index_of(*v, n)
                    .and_then(|i| periods.get(i))
                    .cloned()
                    .unwrap_or_default()
            })
            .y_label_formatter(&|v| grouped(v.max(0.0).round() as u64))
            .label_style((FONT, 14).into_font().color(&INK))
            .axis_desc_style((FONT, 14).into_font().color(&INK))
            .draw()?;
        for (s, stage) in stages.iter().enumerate() {
            let bars = flow.iter().enumerate().filter_map(|(i, (_, counts))| {
                let below: u64 = counts
                    .iter()
                    .filter(|(name, _)| stages.iter().position(|x| x == name) < Some(s))
                    .map(|(_, v)| *v)
                    .sum();
                let v = counts
                    .iter()
                    .filter(|(name, _)| name == stage)
                    .map(|(_, v)| *v)
                    .sum::<u64>();
                (v > 0).then(|| {
                    Rectangle::new(
                        [
                            (slot(i, 0.12), below as f64),
                            (slot(i, 0.88), (below + v) as f64),
                        ],
                        colour(s).filled(),
                    )
                })
            });
            chart.draw_series(bars)?;
        }
        let entries: Vec<(String, RGBColor)> = stages
            .iter()
            .enumerate()
            .rev()
            .map(|(i, s)| (s.clone(), colour(i)))
            .collect();
        legend(&right, &entries)
    })
}

/// Stage names in order of first appearance.
fn stage_names(flow: &[(String, Vec<(String, u64)>)]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (_, counts) in flow {
        for (name, _) in counts {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    names
}

/// White → dark blue; `sqrt` so small retention shares stay distinguishable.
fn heat(share: f64) -> RGBColor {
    let t = share.clamp(0.0, 1.0).sqrt();
    let lerp = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round() as u8;
    RGBColor(lerp(247, 8), lerp(251, 48), lerp(255, 107))
}

/// The cohort grid: rows = cohorts (oldest on top), columns = months since
/// acquisition, each cell coloured by the share and labelled when it fits.
fn cohort_chart(rows: &[(String, Vec<Option<f64>>)]) -> Result<String, String> {
    let c = rows.len();
    let p = rows.iter().map(|(_, r)| r.len()).max().unwrap_or(0).max(1);
    let cohorts: Vec<String> = rows.iter().map(|(l, _)| l.clone()).collect();
    let label_area = label_width(cohorts.iter().map(|l| l.chars().count()));
    let legend_width = 90u32;
    let plot_width = WIDTH.saturating_sub(label_area + legend_width + 40);
    let cell_w = plot_width as f64 / p as f64;
    let cell_h: u32 = match c {
        0..=8 => 34,
        9..=20 => 26,
        21..=40 => 20,
        _ => 14,
    };
    let height = (c as u32 * cell_h + 90).min(4000);
    let show_text = cell_w >= 30.0 && cell_h >= 18;
    svg(WIDTH, height, |root| {
        let (left, right) = root.split_horizontally(WIDTH - legend_width);
        let mut chart = ChartBuilder::on(&left)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(label_area)
            .build_cartesian_2d(
                (0..slots(p)).with_key_points(centres(p, 24)),
                (0..slots(c)).with_key_points(centres(c, 40)),
            )?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("months since first purchase")
            .x_label_formatter(&|v| index_of(*v, p).map(|i| i.to_string()).unwrap_or_default())
            .y_label_formatter(&|v| {
                index_of(slots(c) - 1 - v, c)
                    .and_then(|i| cohorts.get(i))
                    .cloned()
                    .unwrap_or_default()
            })
            .label_style((FONT, 13).into_font().color(&INK))
            .axis_desc_style((FONT, 14).into_font().color(&INK))
            .draw()?;
        let cells = rows.iter().enumerate().flat_map(|(i, (_, row))| {
            let y = c - 1 - i;
            row.iter().enumerate().map(move |(k, share)| {
                let fill = share.map(heat).unwrap_or(EMPTY_CELL);
                let mut r = Rectangle::new(
                    [(slot(k, 0.0), slot(y, 0.0)), (slot(k, 1.0), slot(y, 1.0))],
                    fill.filled(),
                );
                r.set_margin(1, 0, 0, 1);
                r
            })
        });
        chart.draw_series(cells)?;
        if show_text {
            let texts = rows.iter().enumerate().flat_map(|(i, (_, row))| {
                let y = slot(c - 1 - i, 0.5);
                row.iter().enumerate().filter_map(move |(k, share)| {
                    let share = (*share)?;
                    let ink = if share.sqrt() > 0.55 { WHITE } else { INK };
                    Some(Text::new(
                        percent(share),
                        (slot(k, 0.5), y),
                        (FONT, 12)
                            .into_font()
                            .color(&ink)
                            .pos(Pos::new(HPos::Center, VPos::Center)),
                    ))
                })
            });
            chart.draw_series(texts)?;
        }
        // Colour scale.
        let steps = [1.0, 0.5, 0.25, 0.1, 0.05, 0.0];
        for (i, s) in steps.iter().enumerate() {
            let y = 24 + i as i32 * 22;
            right.draw(&Rectangle::new(
                [(8, y - 8), (26, y + 8)],
                heat(*s).filled(),
            ))?;
            right.draw(&Rectangle::new(
                [(8, y - 8), (26, y + 8)],
                GRID.stroke_width(1),
            ))?;
            right.draw(&Text::new(percent(*s), (32, y), value_label_style(13)))?;
        }
        let y = 24 + steps.len() as i32 * 22;
        right.draw(&Rectangle::new(
            [(8, y - 8), (26, y + 8)],
            EMPTY_CELL.filled(),
        ))?;
        right.draw(&Text::new("later", (32, y), value_label_style(13)))?;
        Ok(())
    })
}

/// Histogram of churn-risk scores: 20 bins over 0..1 (or over the data's range).
fn risk_chart(scores: &[f64]) -> Result<String, String> {
    let bins = risk_bins(scores);
    let lo = bins.first().map(|b| b.0).unwrap_or(0.0);
    let hi = bins.last().map(|b| b.1).unwrap_or(1.0);
    let max = bins.iter().map(|b| b.2).max().unwrap_or(0).max(1) as f64;
    svg(WIDTH, 380, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .margin_right(24)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(lo..hi, 0f64..max * 1.1)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .x_desc("churn-risk score")
            .y_desc("customers")
            .x_label_formatter(&|v| format!("{v:.2}"))
            .y_label_formatter(&|v| grouped(v.max(0.0).round() as u64))
            .label_style((FONT, 14).into_font().color(&INK))
            .axis_desc_style((FONT, 14).into_font().color(&INK))
            .draw()?;
        chart.draw_series(bins.iter().filter(|b| b.2 > 0).map(|(a, b, n)| {
            let mut r = Rectangle::new([(*a, 0.0), (*b, *n as f64)], colour(5).filled());
            r.set_margin(0, 0, 1, 1);
            r
        }))?;
        Ok(())
    })
}

/// `(from, to, count)` per bin; finite scores only.
fn risk_bins(scores: &[f64]) -> Vec<(f64, f64, u64)> {
    let finite: Vec<f64> = scores.iter().copied().filter(|s| s.is_finite()).collect();
    if finite.is_empty() {
        return Vec::new();
    }
    let (mut lo, mut hi) = finite
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), s| {
            (a.min(*s), b.max(*s))
        });
    if lo >= 0.0 && hi <= 1.0 {
        lo = 0.0;
        hi = 1.0;
    } else if hi <= lo {
        hi = lo + 1.0;
    }
    let n = 20usize;
    let width = (hi - lo) / n as f64;
    let mut counts = vec![0u64; n];
    for s in finite {
        let i = (((s - lo) / width) as usize).min(n - 1);
        counts[i] += 1;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, c)| (lo + i as f64 * width, lo + (i + 1) as f64 * width, c))
        .collect()
}

/// Lift per decile as bars, with the no-skill line at 1.
fn lift_chart(lift: &[(u32, f64)]) -> Result<String, String> {
    let n = lift.len();
    let max = lift
        .iter()
        .map(|(_, l)| if l.is_finite() { *l } else { 0.0 })
        .fold(1.0f64, f64::max);
    let deciles: Vec<u32> = lift.iter().map(|(d, _)| *d).collect();
    svg(WIDTH, 380, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .margin_right(24)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(
                (0..slots(n)).with_key_points(centres(n, 20)),
                0f64..max * 1.15,
            )?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .x_desc("risk decile (1 = highest predicted risk)")
            .y_desc("lift")
            .x_label_formatter(&|v| {
                index_of(*v, n)
                    .and_then(|i| deciles.get(i))
                    .map(u32::to_string)
                    .unwrap_or_default()
            })
            .y_label_formatter(&|v| format!("{v:.1}"))
            .label_style((FONT, 14).into_font().color(&INK))
            .axis_desc_style((FONT, 14).into_font().color(&INK))
            .draw()?;
        chart.draw_series(
            lift.iter()
                .enumerate()
                .filter(|(_, (_, l))| l.is_finite())
                .map(|(i, (_, l))| {
                    let fill = if *l >= 1.0 { colour(0) } else { colour(4) };
                    Rectangle::new([(slot(i, 0.15), 0.0), (slot(i, 0.85), *l)], fill.filled())
                }),
        )?;
        chart.draw_series(
            lift.iter()
                .enumerate()
                .filter(|(_, (_, l))| l.is_finite())
                .map(|(i, (_, l))| {
                    EmptyElement::at((slot(i, 0.5), *l))
                        + Text::new(
                            format!("{l:.2}×"),
                            (0, -4),
                            (FONT, 14)
                                .into_font()
                                .color(&INK)
                                .pos(Pos::new(HPos::Center, VPos::Bottom)),
                        )
                }),
        )?;
        chart
            .draw_series(LineSeries::new(
                [(0, 1.0), (slots(n), 1.0)],
                BASELINE.stroke_width(2),
            ))?
            .label("1 = no better than random")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], BASELINE.stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(GRID)
            .label_font((FONT, 14).into_font().color(&INK))
            .draw()?;
        Ok(())
    })
}

/// A small HTML table.
fn table(caption: &str, head: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<div class=\"table\"><table><caption>{}</caption><thead><tr>",
        escape(caption)
    );
    for h in head {
        let _ = write!(out, "<th scope=\"col\">{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            if i == 0 {
                let _ = write!(out, "<th scope=\"row\">{}</th>", escape(cell));
            } else {
                let _ = write!(out, "<td>{}</td>", escape(cell));
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

/// One section of the page.
struct Section<'a> {
    id: &'a str,
    title: &'a str,
    caption: String,
    /// Shown instead of the chart when there is no data.
    missing: &'a str,
    chart: Option<Result<String, String>>,
    table: String,
}

fn section_html(out: &mut String, s: Section<'_>) {
    let _ = write!(
        out,
        "<section id=\"{id}\"><h2>{title}</h2>",
        id = s.id,
        title = escape(s.title)
    );
    match s.chart {
        None => {
            let _ = write!(
                out,
                "<p class=\"na\">Not available yet: {}</p>",
                escape(s.missing)
            );
        }
        Some(Err(e)) => {
            let _ = write!(
                out,
                "<p class=\"na\">The chart could not be drawn: {}</p>{}",
                escape(&e),
                s.table
            );
        }
        Some(Ok(svg)) => {
            let caption_id = format!("{}-caption", s.id);
            let svg = svg.replacen(
                "<svg ",
                &format!("<svg role=\"img\" aria-labelledby=\"{caption_id}\" "),
                1,
            );
            let _ = write!(
                out,
                "<figure id=\"{id}-figure\">{svg}<figcaption id=\"{caption_id}\">{caption}</figcaption></figure>{table}",
                id = s.id,
                caption = escape(&s.caption),
                table = s.table
            );
        }
    }
    out.push_str("</section>\n");
}

const CSS: &str = "\
:root{color-scheme:light;--ink:#222;--muted:#5b5b5b;--line:#e1e1e1;--accent:#0072b2}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',sans-serif;color:var(--ink);background:#fafafa}
header,main,footer{max-width:1000px;margin:0 auto;padding:0 20px}
header{padding-top:28px}
h1{margin:0 0 4px;font-size:28px}
h2{margin:0 0 12px;font-size:20px}
.asof{color:var(--muted);margin:0 0 16px}
.counts{display:flex;flex-wrap:wrap;gap:10px;margin:0 0 12px;padding:0}
.counts div{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px 14px;min-width:120px}
.counts dt{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.counts dd{margin:0;font-size:22px;font-weight:600}
nav ul{list-style:none;display:flex;flex-wrap:wrap;gap:6px 16px;padding:0;margin:0 0 8px}
nav a{color:var(--accent)}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:18px 20px;margin:18px 0}
figure{margin:0}
figure svg{display:block;max-width:100%;height:auto}
figcaption{color:var(--muted);font-size:13px;margin-top:6px}
.na{color:var(--muted);font-style:italic;margin:0}
.table{overflow-x:auto;margin-top:12px}
table{border-collapse:collapse;font-size:12px;font-variant-numeric:tabular-nums}
caption{text-align:left;color:var(--muted);padding-bottom:4px}
th,td{border-bottom:1px solid var(--line);padding:3px 8px;text-align:right;white-space:nowrap}
th[scope=row],thead th:first-child{text-align:left}
footer{color:var(--muted);font-size:12px;padding-bottom:28px}
@media print{body{background:#fff}section{break-inside:avoid;border:none}}
";

/// A rate with one decimal, in the page's style: `59.2%`, or `n/a`.
fn rate(r: Option<f64>) -> String {
    match r {
        Some(r) if r.is_finite() => format!("{:.1}%", 100.0 * r),
        _ => "n/a".into(),
    }
}

/// `churned_after ÷ churn_observed`, when any window has closed.
fn churned_after_rate(g: &ComplaintGroup) -> Option<f64> {
    (g.churn_observed > 0).then(|| g.churned_after as f64 / g.churn_observed as f64)
}

/// The churn-after rate with its base: `12.5% (5 of 40)`, or `n/a (0 of 0)`.
fn churned_after(g: &ComplaintGroup) -> String {
    format!(
        "{} ({} of {})",
        rate(churned_after_rate(g)),
        grouped(g.churned_after),
        grouped(g.churn_observed)
    )
}

/// A bar's note: `98 (59% in time, 8% churned after)`; a rate that cannot
/// be given yet is left out.
fn complaint_note(g: &ComplaintGroup) -> String {
    let mut rates = Vec::new();
    if let Some(r) = g.in_time_rate.filter(|r| r.is_finite()) {
        rates.push(format!("{} in time", percent(r)));
    }
    if let Some(r) = churned_after_rate(g) {
        rates.push(format!("{} churned after", percent(r)));
    }
    if rates.is_empty() {
        grouped(g.complaints)
    } else {
        format!("{} ({})", grouped(g.complaints), rates.join(", "))
    }
}

/// The median hours to answer with one decimal, or `-` when none was answered.
fn median_hours(g: &ComplaintGroup) -> String {
    g.median_hours_to_answer
        .map_or_else(|| "-".to_owned(), |h| format!("{h:.1}"))
}

/// A complaint group's table row: name, complaints, overdue, in time,
/// median hours to answer, churned after.
fn complaint_row(g: &ComplaintGroup) -> Vec<String> {
    vec![
        g.name.clone(),
        grouped(g.complaints),
        grouped(g.overdue),
        rate(g.in_time_rate),
        median_hours(g),
        churned_after(g),
    ]
}

/// A complaint table whose rows (from `complaint_row`) name `what`
/// (`category`), with the churn window (`180 days`) in the last heading.
fn complaint_table(caption: &str, what: &str, window: &str, rows: &[Vec<String>]) -> String {
    let churned = format!("churned after (within {window})");
    let head = [
        what,
        "complaints",
        "overdue",
        "in time",
        "median h to answer",
        &churned,
    ];
    table(caption, &head, rows)
}

/// Why a complaint section has nothing to draw.
fn complaints_missing(desk: Option<&ComplaintDesk>) -> &'static str {
    if desk.is_some() {
        "no complaint recorded by then."
    } else {
        "complaint figures come from the complaint desk, which is not part of this report yet."
    }
}

/// The complaint desk: complaints per category as bars, the whole desk's
/// figures and the churn background in the caption, a row per category.
fn complaint_section(body: &mut String, desk: Option<&ComplaintDesk>) {
    let empty = ComplaintDesk::default();
    let d = desk.unwrap_or(&empty);
    let a = &d.all;
    let window = crate::output::count(d.churn_window_days, "day");
    let mut figures = format!(
        "{} ({} open, {} overdue); {} in time of those answered or overdue",
        crate::output::count(a.complaints, "complaint"),
        grouped(a.open),
        grouped(a.overdue),
        rate(a.in_time_rate)
    );
    if let Some(h) = a.median_hours_to_answer {
        let _ = write!(figures, "; hours to answer: median {h:.1}");
    }
    let caption = format!(
        "Complaints per category: {figures}. Churn: {} of complaints were followed by a churn within {window} ({} of {} whose {window} have passed); customers without a complaint: {} within {window}. Bar labels: complaints (the share answered in time, the share followed by a churn).",
        rate(churned_after_rate(a)),
        grouped(a.churned_after),
        grouped(a.churn_observed),
        rate(d.churn_in_window_without_complaint),
    );
    let mut rows: Vec<Vec<String>> = d
        .by_category
        .iter()
        .chain(std::iter::once(&ComplaintGroup {
            name: "(all categories)".into(),
            ..a.clone()
        }))
        .map(complaint_row)
        .collect();
    if d.by_category.is_empty() {
        rows.clear();
    }
    let bars: Vec<(String, u64)> = d
        .by_category
        .iter()
        .map(|g| (shortened(&g.name, 32), g.complaints))
        .collect();
    section_html(
        body,
        Section {
            id: "complaints",
            title: "Complaints by category",
            caption,
            missing: complaints_missing(desk),
            chart: (!bars.is_empty()).then(|| {
                hbar_chart(&bars, "complaints", |i| {
                    d.by_category.get(i).map(complaint_note).unwrap_or_default()
                })
            }),
            table: complaint_table("Complaints per category", "category", &window, &rows),
        },
    );
}

/// The desk month by month (is it improving?): complaints received per
/// month as bars, a row per month with its overdue ones, in-time rate,
/// median hours to answer and churned-after rate.
fn complaint_month_section(body: &mut String, desk: Option<&ComplaintDesk>) {
    let empty = ComplaintDesk::default();
    let d = desk.unwrap_or(&empty);
    let window = crate::output::count(d.churn_window_days, "day");
    let months = match d.by_month.as_slice() {
        [only] => format!("only {} had complaints", only.name),
        all => format!(
            "the last {} months with complaints, oldest first; months without one are left out",
            all.len()
        ),
    };
    let caption = format!(
        "Complaints received per month ({months}); the table gives each month's overdue ones, in-time rate and median hours to answer, and the share followed by a churn within {window} (n/a until a complaint's {window} have passed)."
    );
    let bars: Vec<(String, u64)> = d
        .by_month
        .iter()
        .map(|g| (shortened(&g.name, 12), g.complaints))
        .collect();
    section_html(
        body,
        Section {
            id: "complaints-by-month",
            title: "Complaints by month",
            caption,
            missing: if desk.is_some() && d.all.complaints > 0 {
                "the complaint desk gave no figures by month."
            } else {
                complaints_missing(desk)
            },
            chart: (!bars.is_empty())
                .then(|| vbar_chart(&bars, "month received", "complaints", &|_| colour(0))),
            table: complaint_table(
                "Complaints per month received",
                "month",
                &window,
                &d.by_month.iter().map(complaint_row).collect::<Vec<_>>(),
            ),
        },
    );
}

/// Renders the whole page (a complete HTML document).
pub fn render(data: &ReportData) -> String {
    let mut body = String::new();

    // Stage funnel. Each customer is in one stage at a time, so the shares
    // are of all customers (a share of the first stage meant nothing when,
    // as usual, nobody was still in acquisition).
    let total: u64 = data.stage_funnel.iter().map(|(_, v)| *v).sum();
    let funnel_share = |v: u64| {
        if total > 0 {
            percent(v as f64 / total as f64)
        } else {
            "–".into()
        }
    };
    section_html(
        &mut body,
        Section {
            id: "stage-funnel",
            title: "Lifecycle stage funnel",
            caption: format!(
                "Customers per lifecycle stage as of {} ({} customers in {} stages); bar labels give each stage's share of all customers.",
                data.as_of,
                grouped(total),
                data.stage_funnel.len()
            ),
            missing: "lifecycle stages come from the lifecycle projection, which is not part of this report yet.",
            chart: (!data.stage_funnel.is_empty()).then(|| {
                hbar_chart(&data.stage_funnel, "customers", |i| {
                    let v = data.stage_funnel.get(i).map(|(_, v)| *v).unwrap_or(0);
                    format!("{} ({})", grouped(v), funnel_share(v))
                })
            }),
            table: table(
                "Customers per stage",
                &["stage", "customers", "share of customers"],
                &data
                    .stage_funnel
                    .iter()
                    .map(|(s, v)| vec![s.clone(), grouped(*v), funnel_share(*v)])
                    .collect::<Vec<_>>(),
            ),
        },
    );

    // Stage flow.
    let stages = stage_names(&data.stage_flow);
    let mut head = vec!["period"];
    head.extend(stages.iter().map(String::as_str));
    head.push("total");
    let flow_rows: Vec<Vec<String>> = data
        .stage_flow
        .iter()
        .map(|(period, counts)| {
            let mut row = vec![period.clone()];
            for s in &stages {
                row.push(grouped(
                    counts.iter().filter(|(n, _)| n == s).map(|(_, v)| *v).sum(),
                ));
            }
            row.push(grouped(counts.iter().map(|(_, v)| *v).sum()));
            row
        })
        .collect();
    section_html(
        &mut body,
        Section {
            id: "stage-flow",
            title: "Stages over time",
            caption: format!(
                "Customers per lifecycle stage at the end of each period ({} periods), stacked.",
                data.stage_flow.len()
            ),
            missing: "stage history comes from the lifecycle projection, which is not part of this report yet.",
            chart: (!data.stage_flow.is_empty()).then(|| stage_flow_chart(&data.stage_flow)),
            table: table("Customers per stage and period", &head, &flow_rows),
        },
    );

    // Cohort retention.
    let periods = data
        .cohort_retention
        .iter()
        .map(|(_, r)| r.len())
        .max()
        .unwrap_or(0);
    let period_names: Vec<String> = (0..periods).map(|k| format!("+{k}")).collect();
    let mut head = vec!["cohort", "customers"];
    head.extend(period_names.iter().map(String::as_str));
    let cohort_rows: Vec<Vec<String>> = data
        .cohort_retention
        .iter()
        .map(|(cohort, row)| {
            let size = data
                .cohort_sizes
                .iter()
                .find(|(c, _)| c == cohort)
                .map(|(_, n)| grouped(*n))
                .unwrap_or_default();
            let mut cells = vec![cohort.clone(), size];
            cells.extend((0..periods).map(|k| {
                row.get(k)
                    .copied()
                    .flatten()
                    .map(percent)
                    .unwrap_or_default()
            }));
            cells
        })
        .collect();
    section_html(
        &mut body,
        Section {
            id: "cohort-retention",
            title: "Cohort retention",
            caption: format!(
                "Share of each acquisition cohort (month of first purchase) that purchased again k months later; {} cohorts of {} customers. Grey: not reached yet.",
                data.cohort_retention.len(),
                grouped(data.cohort_sizes.iter().map(|(_, n)| *n).sum())
            ),
            missing: "there are no purchases up to the as-of time.",
            chart: (!data.cohort_retention.is_empty()).then(|| cohort_chart(&data.cohort_retention)),
            table: table("Share of the cohort purchasing, by month since acquisition", &head, &cohort_rows),
        },
    );

    // Loyalty tiers.
    let share_rows = |bars: &[(String, u64)]| -> Vec<Vec<String>> {
        let total: u64 = bars.iter().map(|(_, v)| *v).sum();
        bars.iter()
            .map(|(name, v)| {
                vec![
                    name.clone(),
                    grouped(*v),
                    if total > 0 {
                        percent(*v as f64 / total as f64)
                    } else {
                        "–".into()
                    },
                ]
            })
            .collect()
    };
    section_html(
        &mut body,
        Section {
            id: "loyalty-tiers",
            title: "Loyalty tiers",
            caption: format!(
                "Customers per loyalty tier ({} customers).",
                grouped(data.loyalty_tiers.iter().map(|(_, v)| *v).sum())
            ),
            missing: "loyalty tiers come from the loyalty projection, which is not part of this report yet.",
            chart: (!data.loyalty_tiers.is_empty()).then(|| vbar_chart(&data.loyalty_tiers, "tier", "customers", &colour)),
            table: table("Customers per tier", &["tier", "customers", "share"], &share_rows(&data.loyalty_tiers)),
        },
    );

    // RFM segments.
    let rfm_total: u64 = data.rfm_segments.iter().map(|(_, v)| *v).sum();
    section_html(
        &mut body,
        Section {
            id: "rfm-segments",
            title: "RFM segments",
            caption: format!(
                "Customers per recency–frequency–monetary segment ({} customers).",
                grouped(rfm_total)
            ),
            missing:
                "RFM segments come from the value crate, which is not part of this report yet.",
            chart: (!data.rfm_segments.is_empty()).then(|| {
                hbar_chart(&data.rfm_segments, "customers", |i| {
                    let v = data.rfm_segments.get(i).map(|(_, v)| *v).unwrap_or(0);
                    if rfm_total > 0 {
                        format!("{} ({})", grouped(v), percent(v as f64 / rfm_total as f64))
                    } else {
                        grouped(v)
                    }
                })
            }),
            table: table(
                "Customers per segment",
                &["segment", "customers", "share"],
                &share_rows(&data.rfm_segments),
            ),
        },
    );

    // Churn risk.
    let bins = risk_bins(&data.risk_scores);
    let mean = if data.risk_scores.is_empty() {
        0.0
    } else {
        data.risk_scores
            .iter()
            .filter(|s| s.is_finite())
            .sum::<f64>()
            / data.risk_scores.len() as f64
    };
    section_html(
        &mut body,
        Section {
            id: "churn-risk",
            title: "Churn risk",
            caption: format!(
                "Distribution of churn-risk scores ({} customers, mean {:.2}).",
                grouped(data.risk_scores.len() as u64),
                mean
            ),
            missing:
                "churn-risk scores come from the churn crate, which is not part of this report yet.",
            chart: (!bins.is_empty()).then(|| risk_chart(&data.risk_scores)),
            table: table(
                "Customers per score band",
                &["score band", "customers"],
                &bins
                    .iter()
                    .map(|(a, b, n)| vec![format!("{a:.2}–{b:.2}"), grouped(*n)])
                    .collect::<Vec<_>>(),
            ),
        },
    );

    // Backtest lift.
    section_html(
        &mut body,
        Section {
            id: "backtest-lift",
            title: "Churn backtest lift",
            caption: format!(
                "Churn rate of each predicted-risk decile over the overall churn rate ({} deciles); the red line at 1 is a random ranking.",
                data.backtest_lift.len()
            ),
            missing: "the churn backtest comes from the churn crate, which is not part of this report yet.",
            chart: (!data.backtest_lift.is_empty()).then(|| lift_chart(&data.backtest_lift)),
            table: table(
                "Lift per decile",
                &["decile", "lift"],
                &data
                    .backtest_lift
                    .iter()
                    .map(|(d, l)| vec![d.to_string(), format!("{l:.2}")])
                    .collect::<Vec<_>>(),
            ),
        },
    );

    complaint_section(&mut body, data.complaints.as_ref());
    complaint_month_section(&mut body, data.complaints.as_ref());

    if !data.notes.is_empty() {
        body.push_str("<section id=\"notes\"><h2>Notes</h2><ul>");
        for n in &data.notes {
            let _ = write!(body, "<li>{}</li>", escape(n));
        }
        body.push_str("</ul></section>\n");
    }

    let mut page = String::with_capacity(body.len() + 4096);
    let title = escape(&data.title);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>{title}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<header>\n<h1>{title}</h1>\n\
         <p class=\"asof\">As of <time datetime=\"{asof}\">{asof}</time>{known}</p>\n",
        asof = escape(&data.as_of),
        known = data.known_at.as_deref().map_or_else(String::new, |k| {
            let k = escape(k);
            format!(", as known at <time datetime=\"{k}\">{k}</time> (events recorded later are left out)")
        })
    );
    if !data.counts.is_empty() {
        page.push_str("<dl class=\"counts\">");
        for (name, n) in &data.counts {
            let _ = write!(
                page,
                "<div><dt>{}</dt><dd>{}</dd></div>",
                escape(name),
                grouped(*n)
            );
        }
        page.push_str("</dl>\n");
    }
    page.push_str(
        "<nav aria-label=\"Sections\"><ul>\
         <li><a href=\"#stage-funnel\">Stage funnel</a></li>\
         <li><a href=\"#stage-flow\">Stages over time</a></li>\
         <li><a href=\"#cohort-retention\">Cohort retention</a></li>\
         <li><a href=\"#loyalty-tiers\">Loyalty tiers</a></li>\
         <li><a href=\"#rfm-segments\">RFM segments</a></li>\
         <li><a href=\"#churn-risk\">Churn risk</a></li>\
         <li><a href=\"#backtest-lift\">Backtest lift</a></li>\
         <li><a href=\"#complaints\">Complaints</a></li>\
         <li><a href=\"#complaints-by-month\">Complaints by month</a></li>\
         </ul></nav>\n</header>\n<main>\n",
    );
    page.push_str(&body);
    let _ = write!(
        page,
        "</main>\n<footer>Generated by clientele {} — a static page: no scripts, nothing loaded from the network.</footer>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report with every section filled.
    pub(crate) fn full() -> ReportData {
        let mut d = ReportData::new("Test <report>", "2025-06-30T00:00:00Z");
        d.counts = vec![("customers".into(), 1234)];
        d.stage_funnel = ["acquisition", "growth", "maturity", "decline", "churned"]
            .iter()
            .zip([900u64, 700, 420, 150, 80])
            .map(|(s, n)| (s.to_string(), n))
            .collect();
        d.stage_flow = (1..=6)
            .map(|m| {
                (
                    format!("2025-{m:02}"),
                    vec![
                        ("acquisition".into(), 100 + m * 5),
                        ("growth".into(), 80 + m * 10),
                        ("churned".into(), m * 7),
                    ],
                )
            })
            .collect();
        d.cohort_retention = vec![
            (
                "2025-01".into(),
                vec![Some(1.0), Some(0.4), Some(0.2), None],
            ),
            ("2025-02".into(), vec![Some(1.0), Some(0.3), None, None]),
        ];
        d.cohort_sizes = vec![("2025-01".into(), 50), ("2025-02".into(), 40)];
        d.loyalty_tiers = vec![
            ("bronze".into(), 500),
            ("silver".into(), 200),
            ("gold".into(), 50),
        ];
        d.rfm_segments = vec![
            ("champions".into(), 80),
            ("at risk".into(), 120),
            ("hibernating".into(), 300),
        ];
        d.risk_scores = (0..500).map(|i| (i as f64 / 500.0).powi(2)).collect();
        d.backtest_lift = (1..=10).map(|i| (i, 3.0 / i as f64)).collect();
        let group = |name: &str, complaints: u64| ComplaintGroup {
            name: name.into(),
            complaints,
            open: 2,
            overdue: 1,
            in_time_rate: Some(0.5),
            median_hours_to_answer: Some(20.0),
            churn_observed: complaints - 2,
            churned_after: 1,
        };
        d.complaints = Some(ComplaintDesk {
            all: ComplaintGroup {
                name: String::new(),
                ..group("", 12)
            },
            by_category: vec![group("billing", 8), group("delivery", 4)],
            by_month: vec![group("2025-05", 5), group("2025-06", 7)],
            churn_window_days: 180,
            churn_in_window_without_complaint: Some(0.064),
        });
        d.notes = vec!["a note & more".into()];
        d
    }

    #[test]
    fn every_section_draws_a_chart() {
        let html = render(&full());
        assert_eq!(html.matches("<figure").count(), 9, "{html}");
        assert_eq!(html.matches("<svg").count(), 9);
        assert!(!html.contains("Not available yet"));
        assert!(html.contains("Test &lt;report&gt;"));
        assert!(html.contains("a note &amp; more"));
        assert!(html.matches("<rect").count() > 50);
        assert!(
            !html.contains("http://")
                || html.matches("http://").count()
                    == html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
        );
    }

    #[test]
    fn empty_sections_say_not_available() {
        let html = render(&ReportData::new("Empty", "2025-06-30T00:00:00Z"));
        assert_eq!(html.matches("<figure").count(), 0);
        assert_eq!(html.matches("Not available yet").count(), 9);
        assert_eq!(
            html.matches("complaint desk, which is not part of this report yet")
                .count(),
            2,
            "both complaint sections say why"
        );
        // Computed, but nothing to show: says so in its own words.
        let mut d = ReportData::new("Empty", "2025-06-30T00:00:00Z");
        d.complaints = Some(ComplaintDesk {
            churn_window_days: 180,
            ..ComplaintDesk::default()
        });
        let html = render(&d);
        assert_eq!(
            html.matches("Not available yet: no complaint recorded by then.")
                .count(),
            2,
            "{html}"
        );
        assert!(html.contains("<section id=\"complaints-by-month\"><h2>Complaints by month</h2><p class=\"na\">Not available yet: no complaint recorded by then.</p></section>"), "{html}");
        assert!(!html.contains("Complaints per category</caption>"));
        assert!(!html.contains("Complaints per month received</caption>"));
    }

    /// The section by month: a bar per month, oldest first, right after the
    /// section by category; a row per month in the page's percent style.
    #[test]
    fn complaints_by_month_draws_a_bar_and_a_row_per_month() {
        let mut d = ReportData::new("Months", "2025-06-30T00:00:00Z");
        let month = |name: &str, complaints: u64, in_time: f64| ComplaintGroup {
            name: name.into(),
            complaints,
            open: 1,
            overdue: 1,
            in_time_rate: Some(in_time),
            median_hours_to_answer: Some(14.25),
            churn_observed: complaints - 1,
            churned_after: 1,
        };
        d.complaints = Some(ComplaintDesk {
            all: month("", 24, 0.5),
            by_category: vec![month("billing", 24, 0.5)],
            by_month: vec![
                month("2025-04", 9, 0.592),
                month("2025-05", 2, 1.0),
                month("<b>", 13, 0.25),
            ],
            churn_window_days: 180,
            churn_in_window_without_complaint: None,
        });
        let html = render(&d);
        let by_category = html
            .find("<section id=\"complaints\">")
            .expect("by category");
        let start = html
            .find("<section id=\"complaints-by-month\">")
            .expect("by month");
        assert!(by_category < start, "after the section by category");
        let end = start + html[start..].find("</section>").expect("closed");
        let section = &html[start..end];
        assert!(
            html[by_category..start].matches("</section>").count() == 1,
            "right after the section by category"
        );
        assert!(section.contains("<h2>Complaints by month</h2>"));
        assert_eq!(section.matches("<svg").count(), 1, "{section}");
        // One bar per month (every rectangle but the white background),
        // oldest first: their heights follow 9 : 2 : 13.
        let heights: Vec<f64> = section
            .split("<rect")
            .skip(1)
            .filter(|r| !r.contains("fill=\"#FFFFFF\""))
            .map(|r| {
                let h = r.split("height=\"").nth(1).expect("a height");
                h[..h.find('"').expect("quoted")].parse().expect("a number")
            })
            .collect();
        assert_eq!(heights.len(), 3, "{section}");
        // A time series: every bar in one colour (the palette's first), not
        // a colour per category.
        let fills: Vec<&str> = section
            .split("<rect")
            .skip(1)
            .filter(|r| !r.contains("fill=\"#FFFFFF\""))
            .filter_map(|r| r.split("fill=\"").nth(1).and_then(|f| f.split('"').next()))
            .collect();
        assert_eq!(fills, ["#0072B2"; 3], "{section}");
        for (h, n) in heights.iter().zip([9.0, 2.0, 13.0]) {
            assert!((h - heights[2] * n / 13.0).abs() <= 1.5, "{heights:?}");
        }
        // The y axis (its title turned on its side) counts complaints.
        let y_title = section
            .split("<text")
            .find(|t| t.contains("rotate(270"))
            .and_then(|t| t.split('>').nth(1))
            .and_then(|t| t.split('<').next())
            .map(str::trim);
        assert_eq!(y_title, Some("complaints"), "{section}");
        assert!(section.contains(
            "Complaints received per month (the last 3 months with complaints, oldest first;"
        ));
        assert!(section.contains(
            "<tr><th scope=\"row\">2025-04</th><td>9</td><td>1</td><td>59.2%</td><td>14.2</td><td>12.5% (1 of 8)</td></tr>"
        ), "{section}");
        assert!(
            section.contains("<th scope=\"row\">2025-05</th><td>2</td><td>1</td><td>100.0%</td>")
        );
        assert!(section.contains("<th scope=\"col\">churned after (within 180 days)</th>"));
        // Names are text, in the chart and in the table.
        assert!(!section.contains("<b>"), "{section}");
        assert_eq!(section.matches("&lt;b&gt;").count(), 2, "{section}");
        assert!(
            html.contains("<a href=\"#complaints-by-month\">"),
            "in the nav"
        );
        assert!(!section.contains("Not available yet"));

        // One month: named; figures for all but none by month: not "no
        // complaint".
        if let Some(c) = d.complaints.as_mut() {
            c.by_month.truncate(1);
        }
        assert!(render(&d).contains("Complaints received per month (only 2025-04 had complaints);"));
        if let Some(c) = d.complaints.as_mut() {
            c.by_month.clear();
        }
        let html = render(&d);
        assert!(
            html.contains("Not available yet: the complaint desk gave no figures by month."),
            "{html}"
        );
        assert!(!html.contains("no complaint recorded by then"));
    }

    #[test]
    fn complaint_words() {
        let g = ComplaintGroup {
            name: "billing".into(),
            complaints: 1234,
            in_time_rate: Some(0.592),
            churn_observed: 75,
            churned_after: 6,
            ..ComplaintGroup::default()
        };
        assert_eq!(complaint_note(&g), "1,234 (59% in time, 8% churned after)");
        assert_eq!(churned_after(&g), "8.0% (6 of 75)");
        let young = ComplaintGroup {
            complaints: 3,
            ..ComplaintGroup::default()
        };
        assert_eq!(complaint_note(&young), "3");
        assert_eq!(churned_after(&young), "n/a (0 of 0)");
        assert_eq!(percent(0.004), "0.4%");
        assert_eq!(shortened("投诉处理太慢了", 8), "投诉处…");
        assert_eq!(shortened("billing", 8), "billing");
        assert_eq!(columns("陈静 a"), 6);
    }

    #[test]
    fn single_values_and_odd_scores_do_not_break() {
        let mut d = ReportData::new("One", "2025-06-30T00:00:00Z");
        d.stage_funnel = vec![("only".into(), 0)];
        d.risk_scores = vec![f64::NAN, 3.0, 3.0];
        d.backtest_lift = vec![(1, f64::INFINITY)];
        d.cohort_retention = vec![("2025-06".into(), vec![Some(1.0)])];
        let html = render(&d);
        assert_eq!(html.matches("<figure").count(), 4, "{html}");
    }
}
