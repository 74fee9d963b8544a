//! Charts for the report page, drawn on the server as SVG: a line over the
//! days and horizontal bars for a ranking. No chart library reaches the
//! browser; every label is escaped here.

use std::fmt::Write;

/// How values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Whole numbers.
    Count,
    /// Shares, 0–1, written as percentages.
    Share,
}

impl Unit {
    fn format(self, value: f64) -> String {
        match self {
            Unit::Count if value.fract() == 0.0 => format!("{value:.0}"),
            Unit::Count => format!("{value:.1}"),
            Unit::Share => format!("{:.1}%", value * 100.0),
        }
    }
}

const WIDTH: f64 = 600.0;
const LINE_HEIGHT: f64 = 200.0;
const MARGIN_LEFT: f64 = 56.0;
const MARGIN_BOTTOM: f64 = 28.0;
const MARGIN_TOP: f64 = 16.0;
const BAR_HEIGHT: f64 = 20.0;
const BAR_GAP: f64 = 6.0;
const LABEL_WIDTH: f64 = 180.0;

/// Text escaped for SVG.
fn escape(text: &str) -> String {
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

/// A round top for an axis above `max`.
fn nice_max(max: f64, unit: Unit) -> f64 {
    if unit == Unit::Share {
        return if max <= 0.0 {
            1.0
        } else {
            ((max * 10.0).ceil() / 10.0).min(1.0)
        };
    }
    if max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    for step in [1.0, 2.0, 5.0, 10.0] {
        if step * magnitude >= max {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

/// A chart's opening tag and title, `height` tall.
fn open(id: &str, title: &str, height: f64) -> String {
    format!(
        r##"<svg id="{}" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="{}"><title>{}</title>"##,
        escape(id),
        escape(title),
        escape(title)
    )
}

/// A line over the days: `points` are (day label, value); a day without a
/// value leaves a gap.
pub fn line(id: &str, title: &str, points: &[(String, Option<f64>)], unit: Unit) -> String {
    let top = nice_max(
        points.iter().filter_map(|(_, v)| *v).fold(0.0, f64::max),
        unit,
    );
    let plot_width = WIDTH - MARGIN_LEFT - 16.0;
    let plot_height = LINE_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM;
    let step = if points.len() > 1 {
        plot_width / (points.len() - 1) as f64
    } else {
        0.0
    };
    let x = |i: usize| MARGIN_LEFT + step * i as f64;
    let y = |v: f64| MARGIN_TOP + plot_height * (1.0 - v / top);
    let mut svg = open(id, title, LINE_HEIGHT);
    for k in 0..=4 {
        let value = top * f64::from(k) / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{MARGIN_LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#e5e6eb"/><text x="{}" y="{:.1}" font-size="10" text-anchor="end" fill="#86909c">{}</text>"##,
            WIDTH - 16.0,
            MARGIN_LEFT - 6.0,
            y(value) + 3.0,
            escape(&unit.format(value)),
            y = y(value)
        );
    }
    let every = points.len().div_ceil(8).max(1);
    for (i, (label, _)) in points.iter().enumerate() {
        if i % every == 0 || i + 1 == points.len() {
            let _ = write!(
                svg,
                r##"<text x="{:.1}" y="{}" font-size="10" text-anchor="middle" fill="#86909c">{}</text>"##,
                x(i),
                LINE_HEIGHT - 10.0,
                escape(label.get(5..).unwrap_or(label))
            );
        }
    }
    let mut path = String::new();
    let mut pen_down = false;
    for (i, (_, value)) in points.iter().enumerate() {
        match value {
            Some(v) => {
                let _ = write!(
                    path,
                    "{}{:.1},{:.1} ",
                    if pen_down { "L" } else { "M" },
                    x(i),
                    y(*v)
                );
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    if !path.is_empty() {
        let _ = write!(
            svg,
            r##"<path d="{}" fill="none" stroke="#165dff" stroke-width="2"/>"##,
            path.trim_end()
        );
    }
    for (i, (label, value)) in points.iter().enumerate() {
        if let Some(v) = value {
            let _ = write!(
                svg,
                r##"<circle class="point" cx="{:.1}" cy="{:.1}" r="3" fill="#165dff"><title>{} {}</title></circle>"##,
                x(i),
                y(*v),
                escape(label),
                escape(&unit.format(*v))
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// Horizontal bars, one per item, largest first as given.
pub fn bars(id: &str, title: &str, items: &[(String, f64)], unit: Unit) -> String {
    let top = nice_max(items.iter().map(|(_, v)| *v).fold(0.0, f64::max), unit);
    let height = MARGIN_TOP + items.len().max(1) as f64 * (BAR_HEIGHT + BAR_GAP) + 8.0;
    let bar_room = WIDTH - LABEL_WIDTH - 72.0;
    let mut svg = open(id, title, height);
    for (i, (label, value)) in items.iter().enumerate() {
        let y = MARGIN_TOP + i as f64 * (BAR_HEIGHT + BAR_GAP);
        let width = (bar_room * value / top).max(1.0);
        let shown: String = label.chars().take(16).collect();
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end" fill="#1f2329">{}</text><rect class="bar" x="{LABEL_WIDTH}" y="{y:.1}" width="{width:.1}" height="{BAR_HEIGHT}" rx="3" fill="#165dff"><title>{} {}</title></rect><text x="{:.1}" y="{:.1}" font-size="12" fill="#4e5969">{}</text>"##,
            LABEL_WIDTH - 8.0,
            y + BAR_HEIGHT - 6.0,
            escape(&shown),
            escape(label),
            escape(&unit.format(*value)),
            LABEL_WIDTH + width + 6.0,
            y + BAR_HEIGHT - 6.0,
            escape(&unit.format(*value))
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_a_point_per_day_with_a_value_and_escapes_its_labels() {
        let points = vec![
            ("2026-11-10".to_owned(), Some(0.5)),
            ("2026-11-11".to_owned(), None),
            ("2026-11-12".to_owned(), Some(0.8)),
        ];
        let svg = line("auto", "自动化率 <by day>", &points, Unit::Share);
        assert!(svg.starts_with("<svg id=\"auto\""), "{svg}");
        assert_eq!(svg.matches("class=\"point\"").count(), 2);
        assert!(svg.contains("自动化率 &lt;by day&gt;"), "{svg}");
        assert!(svg.contains("80.0%"), "{svg}");
        // The missing day breaks the line into two pieces.
        let d = &svg[svg.find(" d=\"").unwrap() + 4..];
        let d = &d[..d.find('"').unwrap()];
        assert_eq!(d.matches('M').count(), 2, "{d}");
    }

    #[test]
    fn bars_scale_to_the_largest_and_axes_are_round() {
        let svg = bars(
            "intents",
            "intents",
            &[("ship_time".into(), 60.0), ("\"quoted\"".into(), 15.0)],
            Unit::Count,
        );
        assert_eq!(svg.matches("class=\"bar\"").count(), 2);
        assert!(svg.contains("&quot;quoted&quot;"));
        assert_eq!(nice_max(60.0, Unit::Count), 100.0);
        assert_eq!(nice_max(7.0, Unit::Count), 10.0);
        assert_eq!(nice_max(0.43, Unit::Share), 0.5);
    }
}
