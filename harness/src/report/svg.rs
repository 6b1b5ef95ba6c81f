//! Inline SVG charts for the HTML report: line charts (percentile curves,
//! timelines) and bar histograms, with reference lines and markers. The
//! caller maps its data into the axis space (e.g. percentile -> log scale);
//! this module only draws, so every chart reads the same way.

use std::fmt::Write;

use quick_xml::escape::escape;

const W: f64 = 560.0;
const H: f64 = 290.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 18.0;
const TOP: f64 = 48.0;
const BOTTOM: f64 = 46.0;

/// Colours that stay apart for the colour-blind (Okabe-Ito).
pub const PALETTE: [&str; 7] = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000",
];

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scale {
    Linear { min: f64, max: f64 },
    Log10 { min: f64, max: f64 },
}

impl Scale {
    /// Where `v` falls between the ends, 0..1 (clamped).
    pub fn frac(self, v: f64) -> f64 {
        let f = match self {
            Scale::Linear { min, max } => (v - min) / (max - min),
            Scale::Log10 { min, max } => {
                (v.max(min).log10() - min.log10()) / (max.log10() - min.log10())
            }
        };
        if f.is_finite() {
            f.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

pub struct Axis {
    pub title: String,
    pub scale: Scale,
    pub ticks: Vec<(f64, String)>,
}

pub struct Series {
    pub label: String,
    pub color: &'static str,
    pub points: Vec<(f64, f64)>,
}

/// A line across the plot at one value: horizontal on y, vertical on x.
pub struct RefLine {
    pub vertical: bool,
    pub at: f64,
    pub label: String,
    pub color: &'static str,
}

/// A short tick at one point, such as an SLO threshold at its percentile.
pub struct Marker {
    pub x: f64,
    pub y: f64,
    pub label: String,
    pub color: &'static str,
}

/// One histogram bar from x0 to x1 at height y.
pub struct Bar {
    pub x0: f64,
    pub x1: f64,
    pub y: f64,
    pub title: String,
}

pub struct Chart {
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    pub series: Vec<Series>,
    pub bars: Vec<Bar>,
    pub lines: Vec<RefLine>,
    pub markers: Vec<Marker>,
    /// Said in the middle of the plot when there is nothing to draw.
    pub empty: String,
}

impl Chart {
    pub fn new(title: &str, x: Axis, y: Axis) -> Chart {
        Chart {
            title: title.into(),
            x,
            y,
            series: Vec::new(),
            bars: Vec::new(),
            lines: Vec::new(),
            markers: Vec::new(),
            empty: "no samples".into(),
        }
    }

    fn px(&self, x: f64) -> f64 {
        LEFT + self.x.scale.frac(x) * (W - LEFT - RIGHT)
    }

    fn py(&self, y: f64) -> f64 {
        H - BOTTOM - self.y.scale.frac(y) * (H - TOP - BOTTOM)
    }
}

/// Text at (x, y); `fill` colours it, `anchor` is start, middle or end.
fn text(o: &mut String, class: &str, (x, y): (f64, f64), anchor: &str, fill: &str, body: &str) {
    let fill = if fill.is_empty() {
        String::new()
    } else {
        format!(r#" fill="{fill}""#)
    };
    let _ = write!(
        o,
        r#"<text class="{class}" x="{x:.1}" y="{y:.1}" text-anchor="{anchor}"{fill}>{}</text>"#,
        escape(body)
    );
}

fn line(o: &mut String, class: &str, stroke: &str, (x1, y1): (f64, f64), (x2, y2): (f64, f64)) {
    let _ = write!(o, r#"<line class="{class}" stroke="{stroke}" "#);
    let _ = write!(
        o,
        r#"x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}"/>"#
    );
}

/// The whole chart as one `<svg>` element.
pub fn render(c: &Chart) -> String {
    let mut o = String::new();
    let t = escape(&c.title);
    let _ = write!(
        o,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{t}">"#
    );
    let _ = write!(o, "<title>{t}</title>");
    text(&mut o, "ct", (LEFT, 18.0), "start", "", &c.title);
    grid(c, &mut o);
    if c.bars.is_empty() && c.series.iter().all(|s| s.points.is_empty()) {
        let mid = ((LEFT + W - RIGHT) / 2.0, (TOP + H - BOTTOM) / 2.0);
        text(&mut o, "empty", mid, "middle", "", &c.empty);
    }
    bars(c, &mut o);
    series(c, &mut o);
    ref_lines(c, &mut o);
    markers(c, &mut o);
    legend(c, &mut o);
    o.push_str("</svg>");
    o
}

fn grid(c: &Chart, o: &mut String) {
    let (x0, x1, y0, y1) = (LEFT, W - RIGHT, TOP, H - BOTTOM);
    for (v, label) in &c.y.ticks {
        let y = c.py(*v);
        line(o, "g", "#eceff2", (x0, y), (x1, y));
        text(o, "tl", (x0 - 5.0, y + 4.0), "end", "", label);
    }
    for (v, label) in &c.x.ticks {
        let x = c.px(*v);
        line(o, "g", "#eceff2", (x, y0), (x, y1));
        text(o, "tl", (x, y1 + 15.0), "middle", "", label);
    }
    let _ = write!(
        o,
        r#"<rect class="frame" x="{x0}" y="{y0}" width="{:.1}" height="{:.1}"/>"#,
        x1 - x0,
        y1 - y0
    );
    text(
        o,
        "at",
        ((x0 + x1) / 2.0, H - 8.0),
        "middle",
        "",
        &c.x.title,
    );
    let _ = write!(
        o,
        r#"<text class="at" transform="translate(14 {:.1}) rotate(-90)" "#,
        (y0 + y1) / 2.0
    );
    let _ = write!(o, r#"text-anchor="middle">{}</text>"#, escape(&c.y.title));
}

fn series(c: &Chart, o: &mut String) {
    for s in &c.series {
        let pts: Vec<String> = s
            .points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", c.px(*x), c.py(*y)))
            .collect();
        if pts.len() == 1 {
            let (x, y) = s.points[0];
            let _ = write!(
                o,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{}"/>"#,
                c.px(x),
                c.py(y),
                s.color
            );
        }
        let _ = write!(
            o,
            r#"<polyline class="s" stroke="{}" points="{}"><title>{}</title></polyline>"#,
            s.color,
            pts.join(" "),
            escape(&s.label)
        );
    }
}

fn bars(c: &Chart, o: &mut String) {
    let base = H - BOTTOM;
    for b in &c.bars {
        let (x0, x1, y) = (c.px(b.x0), c.px(b.x1), c.py(b.y));
        let _ = write!(
            o,
            r#"<rect class="bar" x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{:.1}">"#,
            (x1 - x0 - 0.5).max(0.8),
            (base - y).max(0.0)
        );
        let _ = write!(o, "<title>{}</title></rect>", escape(&b.title));
    }
}

fn ref_lines(c: &Chart, o: &mut String) {
    for (i, l) in c.lines.iter().enumerate() {
        if l.vertical {
            let x = c.px(l.at);
            line(o, "ref", l.color, (x, TOP), (x, H - BOTTOM));
            text(o, "rl", (x - 4.0, TOP + 12.0), "end", l.color, &l.label);
            continue;
        }
        let y = c.py(l.at);
        line(o, "ref", l.color, (LEFT, y), (W - RIGHT, y));
        // Labels alternate sides so that close thresholds stay readable.
        let (x, anchor) = if i % 2 == 0 {
            (W - RIGHT - 4.0, "end")
        } else {
            (LEFT + 4.0, "start")
        };
        text(o, "rl", (x, y - 4.0), anchor, l.color, &l.label);
    }
}

fn markers(c: &Chart, o: &mut String) {
    for m in &c.markers {
        let (x, y) = (c.px(m.x), c.py(m.y));
        line(o, "mk", m.color, (x - 9.0, y), (x + 9.0, y));
        line(o, "mk", m.color, (x, y), (x, y + 6.0));
        text(o, "rl", (x - 11.0, y - 3.0), "end", m.color, &m.label);
    }
}

fn legend(c: &Chart, o: &mut String) {
    if c.series.len() < 2 {
        return;
    }
    let mut x = LEFT + 8.0;
    for s in &c.series {
        let _ = write!(
            o,
            r#"<rect x="{x:.1}" y="{:.1}" width="10" height="3" fill="{}"/>"#,
            TOP - 14.0,
            s.color
        );
        text(o, "lg", (x + 14.0, TOP - 10.0), "start", "", &s.label);
        x += 22.0 + 6.5 * s.label.chars().count() as f64;
    }
}

/// Round steps (1, 2, 5 x 10^k) from `min` to `max`, about `n` of them.
pub fn linear_ticks(min: f64, max: f64, n: usize) -> Vec<f64> {
    let span = (max - min).max(f64::EPSILON);
    let raw = span / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw * 0.7)
        .unwrap_or(10.0 * mag);
    let first = (min / step).ceil() as i64;
    let last = (max / step + 1e-9).floor() as i64;
    // Rounded so that labels read 0.6, not 0.6000000000000001.
    (first..=last)
        .map(|i| (i as f64 * step * 1e9).round() / 1e9)
        .collect()
}

/// Ticks for a log axis: 1-2-5 per decade when few decades, else decades.
pub fn log_ticks(min: f64, max: f64) -> Vec<f64> {
    let (lo, hi) = (min.log10().floor() as i32, max.log10().ceil() as i32);
    let mults: &[f64] = if hi - lo <= 3 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    let mut out = Vec::new();
    for d in lo..=hi {
        for m in mults {
            let v = m * 10f64.powi(d);
            if v >= min * 0.999 && v <= max * 1.001 {
                out.push(v);
            }
        }
    }
    out
}

/// A log range from whole decades around the values (at least one decade).
pub fn log_range(lo: f64, hi: f64) -> (f64, f64) {
    let lo = 10f64.powf(lo.max(1e-3).log10().floor());
    let hi = 10f64.powf(hi.max(lo * 10.0).log10().ceil());
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(
            linear_ticks(0.0, 10.0, 5),
            vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
        );
        assert_eq!(linear_ticks(0.0, 0.9, 4), vec![0.0, 0.2, 0.4, 0.6, 0.8]);
        assert_eq!(
            log_ticks(1.0, 100.0),
            vec![1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
        );
        assert_eq!(log_ticks(1.0, 1e5).len(), 6);
        assert_eq!(log_range(3.2, 480.0), (1.0, 1000.0));
    }

    #[test]
    fn scales_map_ends_and_middle() {
        let l = Scale::Log10 {
            min: 1.0,
            max: 100.0,
        };
        assert!((l.frac(10.0) - 0.5).abs() < 1e-12);
        assert_eq!(l.frac(1000.0), 1.0);
        let s = Scale::Linear { min: 0.0, max: 4.0 };
        assert_eq!(s.frac(1.0), 0.25);
    }

    #[test]
    fn labels_are_escaped() {
        let c = Chart::new(
            "a<b & \"c\"",
            Axis {
                title: "x".into(),
                scale: Scale::Linear { min: 0.0, max: 1.0 },
                ticks: vec![],
            },
            Axis {
                title: "y".into(),
                scale: Scale::Linear { min: 0.0, max: 1.0 },
                ticks: vec![],
            },
        );
        let svg = render(&c);
        assert!(svg.contains("a&lt;b &amp; &quot;c&quot;"), "{svg}");
        assert!(!svg.contains("a<b"));
    }
}
