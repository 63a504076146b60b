//! A grouped bar chart of throughput by workload and server, as a
//! self-contained SVG, so the report needs no plotting toolkit.

use std::fmt::Write as _;

/// One panel: bars `values[group][series]` (None: not measured).
#[derive(Debug)]
pub struct Panel {
    /// Panel title.
    pub title: String,
    /// Group labels (workloads).
    pub groups: Vec<String>,
    /// Values, operations per second.
    pub values: Vec<Vec<Option<f64>>>,
}

const COLORS: [&str; 6] = [
    "#1f77b4", "#2ca02c", "#9467bd", "#d62728", "#ff7f0e", "#8c564b",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn human(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 1000.0 {
        format!("{:.1}k", v / 1000.0)
    } else {
        format!("{v:.0}")
    }
}

/// A step of 1, 2 or 5 × 10^n giving about five gridlines up to `max`.
fn nice_step(max: f64) -> f64 {
    let raw = (max / 5.0).max(1.0);
    let mag = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * mag >= raw {
            return m * mag;
        }
    }
    10.0 * mag
}

/// Renders the panels stacked vertically, with one legend for `series`.
pub fn chart(title: &str, series: &[String], panels: &[Panel]) -> String {
    let width = 980.0;
    let panel_h = 330.0;
    let top = 70.0;
    let left = 70.0;
    let right = 20.0;
    let height = top + panel_h * panels.len() as f64 + 10.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        s,
        r##"<rect width="100%" height="100%" fill="#ffffff"/><text x="{}" y="24" text-anchor="middle" font-size="16" font-weight="bold">{}</text>"##,
        width / 2.0,
        esc(title)
    );
    // Legend.
    let mut lx = left;
    for (i, name) in series.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="38" width="12" height="12" fill="{c}"/><text x="{}" y="48">{}</text>"#,
            lx + 16.0,
            esc(name)
        );
        lx += 30.0 + 7.5 * name.len() as f64;
    }
    for (p, panel) in panels.iter().enumerate() {
        let y0 = top + panel_h * p as f64;
        let plot_top = y0 + 28.0;
        let plot_bottom = y0 + panel_h - 45.0;
        let plot_h = plot_bottom - plot_top;
        let max = panel
            .values
            .iter()
            .flatten()
            .flatten()
            .fold(0.0f64, |a, b| a.max(*b))
            .max(1.0);
        let step = nice_step(max);
        let top_val = (max / step).ceil() * step;
        let _ = writeln!(
            s,
            r#"<text x="{left}" y="{}" font-size="13" font-weight="bold">{}</text>"#,
            y0 + 16.0,
            esc(&panel.title)
        );
        // Grid and axis labels.
        let mut v = 0.0;
        while v <= top_val + 1e-9 {
            let y = plot_bottom - v / top_val * plot_h;
            let _ = writeln!(
                s,
                r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#dddddd"/><text x="{}" y="{:.1}" text-anchor="end" fill="#555555">{}</text>"##,
                width - right,
                left - 6.0,
                y + 4.0,
                human(v)
            );
            v += step;
        }
        let _ = writeln!(
            s,
            r##"<text transform="translate(16,{:.1}) rotate(-90)" text-anchor="middle" fill="#555555">operations / s</text>"##,
            (plot_top + plot_bottom) / 2.0
        );
        let groups = panel.groups.len().max(1) as f64;
        let group_w = (width - left - right) / groups;
        let n = series.len().max(1) as f64;
        let bar_w = (group_w * 0.8 / n).min(34.0);
        for (g, label) in panel.groups.iter().enumerate() {
            let gx = left + group_w * g as f64;
            let start = gx + (group_w - bar_w * n) / 2.0;
            for (i, val) in panel.values[g].iter().enumerate() {
                let x = start + bar_w * i as f64;
                let c = COLORS[i % COLORS.len()];
                match val {
                    Some(val) => {
                        let h = val / top_val * plot_h;
                        let _ = writeln!(
                            s,
                            r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{c}"><title>{}: {val:.0}/s</title></rect><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9">{}</text>"#,
                            plot_bottom - h,
                            bar_w - 2.0,
                            esc(&series[i]),
                            x + (bar_w - 2.0) / 2.0,
                            plot_bottom - h - 3.0,
                            human(*val)
                        );
                    }
                    None => {
                        let _ = writeln!(
                            s,
                            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9" fill="#999999">n/a</text>"##,
                            x + (bar_w - 2.0) / 2.0,
                            plot_bottom - 3.0
                        );
                    }
                }
            }
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                gx + group_w / 2.0,
                plot_bottom + 18.0,
                esc(label)
            );
        }
        let _ = writeln!(
            s,
            r##"<line x1="{left}" x2="{}" y1="{plot_bottom:.1}" y2="{plot_bottom:.1}" stroke="#333333"/>"##,
            width - right
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(1000.0), 200.0);
        assert_eq!(nice_step(23_000.0), 5000.0);
        assert_eq!(nice_step(3.0), 1.0);
    }

    #[test]
    fn a_chart_is_well_formed_svg_text() {
        let svg = chart(
            "t",
            &["a".into(), "b<".into()],
            &[Panel {
                title: "16 connections".into(),
                groups: vec!["jwks".into()],
                values: vec![vec![Some(1200.0), None]],
            }],
        );
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("b&lt;") && svg.contains("1.2k") && svg.contains("n/a"));
    }
}
