//! A small SVG line chart, self-contained (no script, no external font),
//! so capacity curves open in any browser and embed in Markdown.

use std::fmt::Write;

pub struct Series<'a> {
    pub name: &'a str,
    pub color: &'a str,
    /// Drawn as points joined by lines, in the order given.
    pub points: Vec<(f64, f64)>,
    /// Points only, no joining line.
    pub dots_only: bool,
    /// A modelled curve: the line only, no dot per point.
    pub line_only: bool,
}

impl<'a> Series<'a> {
    pub fn line(name: &'a str, color: &'a str, points: Vec<(f64, f64)>) -> Series<'a> {
        Series {
            name,
            color,
            points,
            dots_only: false,
            line_only: false,
        }
    }

    pub fn curve(name: &'a str, color: &'a str, points: Vec<(f64, f64)>) -> Series<'a> {
        Series {
            line_only: true,
            ..Series::line(name, color, points)
        }
    }
}

pub struct Panel<'a> {
    pub title: String,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub series: Vec<Series<'a>>,
    /// Dashed horizontal lines: (label, y).
    pub marks: Vec<(String, f64)>,
}

const W: f64 = 720.0;
const H: f64 = 260.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 160.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 40.0;

/// Panels stacked vertically in one SVG document.
pub fn render(panels: &[Panel]) -> String {
    let total = H * panels.len() as f64;
    let mut o = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{total}\" \
         font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" \
         fill=\"white\"/>\n"
    );
    for (i, p) in panels.iter().enumerate() {
        let _ = writeln!(o, "<g transform=\"translate(0,{})\">", H * i as f64);
        panel(p, &mut o);
        o.push_str("</g>\n");
    }
    o.push_str("</svg>\n");
    o
}

fn bounds(p: &Panel) -> (f64, f64, f64) {
    let pts = p.series.iter().flat_map(|s| s.points.iter());
    let finite: Vec<&(f64, f64)> = pts
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let xmax = finite.iter().map(|p| p.0).fold(0.0, f64::max);
    let ymax = finite
        .iter()
        .map(|p| p.1)
        .chain(p.marks.iter().map(|m| m.1))
        .fold(0.0, f64::max);
    (0.0, nice(xmax), nice(ymax))
}

/// Rounds up to 1, 2 or 5 times a power of ten.
fn nice(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * p)
}

fn panel(p: &Panel, o: &mut String) {
    let (x0, x1, y1) = bounds(p);
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let sx = |x: f64| LEFT + (x - x0) / (x1 - x0) * pw;
    let sy = |y: f64| TOP + ph - (y / y1).min(1.05) * ph;
    let _ = writeln!(
        o,
        "<text x=\"{LEFT}\" y=\"18\" font-size=\"13\">{}</text>",
        esc(&p.title)
    );
    for i in 0..=4 {
        let (xv, yv) = (x0 + (x1 - x0) * i as f64 / 4.0, y1 * i as f64 / 4.0);
        let _ = writeln!(
            o,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            LEFT + pw,
            LEFT - 6.0,
            sy(yv) + 4.0,
            short(yv),
            sx(xv),
            TOP + ph + 14.0,
            short(xv),
            y = sy(yv)
        );
    }
    let _ = writeln!(
        o,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\
         <text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {})\" text-anchor=\"middle\">{}</text>",
        LEFT + pw / 2.0,
        TOP + ph + 32.0,
        esc(p.x_label),
        TOP + ph / 2.0,
        TOP + ph / 2.0,
        esc(p.y_label)
    );
    for (label, y) in &p.marks {
        let _ = writeln!(
            o,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#c00\" \
             stroke-dasharray=\"5,4\"/><text x=\"{}\" y=\"{}\" fill=\"#c00\">{}</text>",
            LEFT + pw,
            LEFT + pw + 6.0,
            sy(*y) + 4.0,
            esc(label),
            y = sy(*y)
        );
    }
    for (i, s) in p.series.iter().enumerate() {
        let pts: Vec<String> = s
            .points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
            .collect();
        if !s.dots_only && pts.len() > 1 {
            let _ = writeln!(
                o,
                "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>",
                s.color,
                pts.join(" ")
            );
        }
        for xy in pts.iter().filter(|_| !s.line_only) {
            let (x, y) = xy.split_once(',').unwrap_or(("0", "0"));
            let _ = write!(
                o,
                "<circle cx=\"{x}\" cy=\"{y}\" r=\"3\" fill=\"{}\"/>",
                s.color
            );
        }
        let ly = TOP + 14.0 * i as f64;
        let _ = writeln!(
            o,
            "\n<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{}\">{}</text>",
            LEFT + pw + 6.0,
            ly,
            s.color,
            LEFT + pw + 20.0,
            ly + 9.0,
            esc(s.name)
        );
    }
}

fn short(v: f64) -> String {
    if v >= 100.0 || v == 0.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_round_up_to_readable_values() {
        assert_eq!(nice(430.0), 500.0);
        assert_eq!(nice(0.013), 0.02);
        assert_eq!(nice(100.0), 100.0);
    }

    #[test]
    fn renders_one_polyline_per_series() {
        let svg = render(&[Panel {
            title: "t <1>".into(),
            x_label: "x",
            y_label: "y",
            series: vec![Series {
                name: "a",
                color: "#000",
                points: vec![(0.0, 1.0), (1.0, 2.0)],
                dots_only: false,
                line_only: false,
            }],
            marks: vec![("slo".into(), 1.5)],
        }]);
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert!(svg.contains("t &lt;1&gt;") && svg.ends_with("</svg>\n"));
    }
}
