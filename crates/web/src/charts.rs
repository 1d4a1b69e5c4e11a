//! Charts as SVG drawn on the server: geometry here, markup in `templates/charts/`, where
//! askama escapes every label. Each chart carries its text alternative (`<title>` and `<desc>`
//! named by `aria-labelledby`) and its figures as a table under it.

use askama::Template;

/// The drawing area of the bar and line charts, in SVG user units (scaled by CSS).
const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 200.0;
/// Room for the axis labels under the plot.
const LABEL_BAND: f64 = 22.0;
/// Room above the tallest bar.
const HEADROOM: f64 = 8.0;

/// One figure of a chart.
pub(crate) struct Datum {
    /// The axis label (`Jan`, `3 Jun`).
    pub label: String,
    /// The plotted value.
    pub value: f64,
    /// What the value reads as (`12.3 km`).
    pub text: String,
}

pub(crate) struct Bar {
    x: f64,
    y: f64,
    width: f64,
    height: f64,
    tip: String,
}

pub(crate) struct AxisLabel {
    x: f64,
    text: String,
}

/// A bar chart of non-negative values.
#[derive(Template)]
#[template(path = "charts/bars.html")]
pub(crate) struct BarChart {
    id: &'static str,
    title: String,
    summary: String,
    bars: Vec<Bar>,
    labels: Vec<AxisLabel>,
    data: Vec<Datum>,
    plot_bottom: f64,
}

impl BarChart {
    /// Bars of `data` in order; every `label_every`-th bar is labelled under the axis.
    pub(crate) fn new(
        id: &'static str,
        title: impl Into<String>,
        summary: impl Into<String>,
        data: Vec<Datum>,
        label_every: usize,
    ) -> BarChart {
        let plot = HEIGHT - LABEL_BAND;
        let max = data.iter().map(|d| d.value).fold(0.0_f64, f64::max);
        let slot = WIDTH / data.len().max(1) as f64;
        let bars = data
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let height = if max > 0.0 {
                    (d.value.max(0.0) / max) * (plot - HEADROOM)
                } else {
                    0.0
                };
                Bar {
                    x: round(i as f64 * slot + slot * 0.15),
                    y: round(plot - height),
                    width: round(slot * 0.7),
                    height: round(height),
                    tip: format!("{}: {}", d.label, d.text),
                }
            })
            .collect();
        let labels = data
            .iter()
            .enumerate()
            .filter(|(i, _)| i % label_every.max(1) == 0)
            .map(|(i, d)| AxisLabel {
                // Kept clear of the edges, where a centred label would be cut off.
                x: round((i as f64 * slot + slot / 2.0).clamp(24.0, WIDTH - 24.0)),
                text: d.label.clone(),
            })
            .collect();
        BarChart {
            id,
            title: title.into(),
            summary: summary.into(),
            bars,
            labels,
            data,
            plot_bottom: plot,
        }
    }

    /// The chart's markup (escaped by its template), for `|safe` in a page.
    pub(crate) fn svg(&self) -> String {
        self.render().unwrap_or_default()
    }
}

pub(crate) struct Point {
    x: f64,
    y: f64,
    tip: String,
}

/// A line through values in order (the pace trend: lower is faster, drawn higher).
#[derive(Template)]
#[template(path = "charts/line.html")]
pub(crate) struct LineChart {
    id: &'static str,
    title: String,
    summary: String,
    points: Vec<Point>,
    path: String,
    top_label: String,
    bottom_label: String,
    data: Vec<Datum>,
    plot_bottom: f64,
}

impl LineChart {
    /// A line of `data`; with `lower_is_higher` the smallest value is drawn at the top.
    pub(crate) fn new(
        id: &'static str,
        title: impl Into<String>,
        summary: impl Into<String>,
        data: Vec<Datum>,
        lower_is_higher: bool,
        describe: impl Fn(f64) -> String,
    ) -> LineChart {
        let plot = HEIGHT - LABEL_BAND;
        let min = data.iter().map(|d| d.value).fold(f64::INFINITY, f64::min);
        let max = data
            .iter()
            .map(|d| d.value)
            .fold(f64::NEG_INFINITY, f64::max);
        let span = if max > min { max - min } else { 1.0 };
        let step = if data.len() > 1 {
            WIDTH / (data.len() - 1) as f64
        } else {
            0.0
        };
        let points: Vec<Point> = data
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let share = (d.value - min) / span;
                let share = if lower_is_higher { share } else { 1.0 - share };
                Point {
                    x: round(if data.len() > 1 {
                        i as f64 * step
                    } else {
                        WIDTH / 2.0
                    }),
                    y: round(HEADROOM + share * (plot - 2.0 * HEADROOM)),
                    tip: format!("{}: {}", d.label, d.text),
                }
            })
            .collect();
        let path = points
            .iter()
            .map(|p| format!("{},{}", p.x, p.y))
            .collect::<Vec<_>>()
            .join(" ");
        let (top, bottom) = if lower_is_higher {
            (min, max)
        } else {
            (max, min)
        };
        let has_data = !data.is_empty();
        LineChart {
            id,
            title: title.into(),
            summary: summary.into(),
            points,
            path,
            top_label: if has_data {
                describe(top)
            } else {
                String::new()
            },
            bottom_label: if has_data {
                describe(bottom)
            } else {
                String::new()
            },
            data,
            plot_bottom: plot,
        }
    }

    /// The chart's markup (escaped by its template), for `|safe` in a page.
    pub(crate) fn svg(&self) -> String {
        self.render().unwrap_or_default()
    }
}

/// The progress ring: days run of the target.
#[derive(Template)]
#[template(path = "charts/ring.html")]
pub(crate) struct Ring {
    done: u32,
    target: u16,
    circumference: f64,
    dash: f64,
}

/// The ring's radius, in SVG user units of its 120-unit box.
const RING_RADIUS: f64 = 52.0;

impl Ring {
    pub(crate) fn new(done: u32, target: u16) -> Ring {
        let circumference = 2.0 * std::f64::consts::PI * RING_RADIUS;
        let share = if target == 0 {
            0.0
        } else {
            (f64::from(done) / f64::from(target)).min(1.0)
        };
        Ring {
            done,
            target,
            circumference: round(circumference),
            dash: round(circumference * share),
        }
    }

    /// The ring's markup (escaped by its template), for `|safe` in a page.
    pub(crate) fn svg(&self) -> String {
        self.render().unwrap_or_default()
    }
}

fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datum(label: &str, value: f64) -> Datum {
        Datum {
            label: label.into(),
            value,
            text: format!("{value} km"),
        }
    }

    #[test]
    fn the_tallest_bar_fills_the_plot_and_the_others_are_to_scale() {
        let chart = BarChart::new(
            "t",
            "Distance",
            "Two months",
            vec![datum("Jan", 10.0), datum("Feb", 5.0), datum("Mar", 0.0)],
            1,
        );
        let heights: Vec<f64> = chart.bars.iter().map(|b| b.height).collect();
        assert_eq!(heights, [170.0, 85.0, 0.0]);
        assert!(chart
            .bars
            .iter()
            .all(|b| b.y + b.height == chart.plot_bottom));
    }

    #[test]
    fn labels_and_tips_are_escaped_in_the_markup() {
        let chart = BarChart::new("t", "<script>", "a & b", vec![datum("<b>x</b>", 1.0)], 1);
        let svg = chart.svg();
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(!svg.contains("<b>x</b>"), "{svg}");
        assert!(svg.contains("&#60;b&#62;x&#60;/b&#62;"), "{svg}");
        assert!(svg.contains(r#"role="img""#), "{svg}");
    }

    #[test]
    fn the_pace_line_draws_the_fastest_pace_highest() {
        let chart = LineChart::new(
            "p",
            "Pace",
            "Pace trend",
            vec![datum("a", 6.0), datum("b", 5.0)],
            true,
            |v| format!("{v}"),
        );
        assert!(chart.points[1].y < chart.points[0].y);
        assert_eq!(
            (chart.top_label.as_str(), chart.bottom_label.as_str()),
            ("5", "6")
        );
        let empty = LineChart::new("p", "Pace", "none", Vec::new(), true, |v| v.to_string());
        assert!(empty.svg().contains("<svg"));
    }

    #[test]
    fn the_ring_is_full_at_the_target_and_never_beyond() {
        assert_eq!(Ring::new(0, 300).dash, 0.0);
        let full = Ring::new(300, 300);
        assert_eq!(full.dash, full.circumference);
        assert_eq!(Ring::new(400, 300).dash, full.circumference);
        assert_eq!(Ring::new(3, 0).dash, 0.0);
    }
}
