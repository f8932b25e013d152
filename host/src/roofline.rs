//! A roofline picture of `tern project`'s results, written by hand as SVG (log-log).
//!
//! x: operational intensity, ternary MACs per byte of weights streamed over the host link
//! (decode reads every 2-bit weight once per token: 4 MACs per byte; prefill reuses a tile
//! across the prompt). y: ternary MACs per cycle. Each preset's roof is
//! `min(R * L, intensity * host_bits / 8)`: the array's peak, or the link if every beat carried
//! weights (it also carries instructions and activations, so points sit at or under it).
//! Presets with the same peak and link draw the same roof (the legend lists both).

use std::fmt::Write;

/// One preset's roof.
pub struct Roof {
    pub preset: String,
    pub peak_macs_per_cycle: f64,
    pub link_bytes_per_cycle: f64,
}

/// One measured (projected) point.
pub struct Point {
    pub preset: String,
    /// "decode" or "prefill".
    pub phase: &'static str,
    pub intensity: f64,
    pub macs_per_cycle: f64,
}

const COLORS: [&str; 6] = ["#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#9d7660"];

/// Panels side by side (one per model), each with every preset's roof and points.
pub fn svg(title: &str, subtitle: &str, roofs: &[Roof], panels: &[(String, Vec<Point>)]) -> String {
    let (pw, ph, left, top, gap) = (420.0, 340.0, 70.0, 80.0, 80.0);
    let (x0, x1, y0, y1) = (0.0f64, 4.0f64, 0.0f64, 4.5f64); // log10 ranges: 1..1e4 MACs/B, 1..3e4 MACs/cycle
    let width = left + panels.len() as f64 * (pw + gap) + 170.0;
    let height = top + ph + 70.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{left}" y="24" font-size="16" font-weight="bold">{}</text>
<text x="{left}" y="44" fill="#555">{}</text>
"##,
        esc(title),
        esc(subtitle)
    );
    let color = |p: &str| COLORS[roofs.iter().position(|r| r.preset == p).unwrap_or(0) % COLORS.len()];
    for (pi, (name, points)) in panels.iter().enumerate() {
        let ox = left + pi as f64 * (pw + gap);
        let sx = |v: f64| ox + (v.max(1e-9).log10() - x0) / (x1 - x0) * pw;
        let sy = |v: f64| top + ph - (v.max(1e-9).log10() - y0) / (y1 - y0) * ph;
        let _ = writeln!(s, r##"<rect x="{ox}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>"##);
        let _ = writeln!(s, r#"<text x="{}" y="{}" font-weight="bold">{}</text>"#, ox + 4.0, top - 8.0, esc(name));
        for e in 0..=4 {
            let v = 10f64.powi(e);
            let _ = writeln!(
                s,
                r##"<line x1="{0}" y1="{top}" x2="{0}" y2="{1}" stroke="#eee"/><text x="{0}" y="{2}" text-anchor="middle">{3}</text>"##,
                sx(v),
                top + ph,
                top + ph + 16.0,
                si(v)
            );
            let _ = writeln!(
                s,
                r##"<line x1="{ox}" y1="{0}" x2="{1}" y2="{0}" stroke="#eee"/><text x="{2}" y="{3}" text-anchor="end">{4}</text>"##,
                sy(v),
                ox + pw,
                ox - 6.0,
                sy(v) + 4.0,
                si(v)
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">ternary MACs per weight byte streamed</text>"#,
            ox + pw / 2.0,
            top + ph + 36.0
        );
        let _ = writeln!(
            s,
            r#"<text transform="translate({},{}) rotate(-90)" text-anchor="middle">ternary MACs per cycle</text>"#,
            ox - 48.0,
            top + ph / 2.0
        );
        for r in roofs {
            // the roof bends where intensity * link = peak
            let knee = r.peak_macs_per_cycle / r.link_bytes_per_cycle;
            let (a, b) = (10f64.powf(x0), 10f64.powf(x1));
            let pts = [
                (a, a * r.link_bytes_per_cycle),
                (knee.clamp(a, b), knee.clamp(a, b) * r.link_bytes_per_cycle),
                (b, r.peak_macs_per_cycle),
            ];
            let path: Vec<String> = pts.iter().map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(y.min(r.peak_macs_per_cycle)))).collect();
            let _ = writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="1.5" stroke-dasharray="5,3"/>"#,
                path.join(" "),
                color(&r.preset)
            );
        }
        for p in points {
            let (x, y, c) = (sx(p.intensity), sy(p.macs_per_cycle), color(&p.preset));
            if p.phase == "decode" {
                let _ = writeln!(s, r#"<circle cx="{x:.1}" cy="{y:.1}" r="5" fill="{c}"/>"#);
            } else {
                let _ = writeln!(s, r#"<rect x="{:.1}" y="{:.1}" width="10" height="10" fill="{c}"/>"#, x - 5.0, y - 5.0);
            }
        }
    }
    // legend
    let lx = left + panels.len() as f64 * (pw + gap);
    for (i, r) in roofs.iter().enumerate() {
        let y = top + 10.0 + i as f64 * 20.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{y}" x2="{}" y2="{y}" stroke="{}" stroke-width="2" stroke-dasharray="5,3"/><text x="{}" y="{}">{}</text>"#,
            lx + 24.0,
            color(&r.preset),
            lx + 30.0,
            y + 4.0,
            esc(&r.preset)
        );
    }
    let y = top + 20.0 + roofs.len() as f64 * 20.0;
    let _ = writeln!(
        s,
        r##"<circle cx="{}" cy="{y}" r="5" fill="#555"/><text x="{}" y="{}">decode (1 token)</text>"##,
        lx + 12.0,
        lx + 30.0,
        y + 4.0
    );
    let _ = writeln!(
        s,
        r##"<rect x="{}" y="{}" width="10" height="10" fill="#555"/><text x="{}" y="{}">prefill (prompt)</text>"##,
        lx + 7.0,
        y + 15.0,
        lx + 30.0,
        y + 24.0
    );
    s.push_str("</svg>\n");
    s
}

fn si(v: f64) -> String {
    if v >= 1000.0 { format!("{}k", v / 1000.0) } else { format!("{v}") }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_point_and_roof_is_drawn() {
        let roofs = vec![Roof { preset: "a".into(), peak_macs_per_cycle: 64.0, link_bytes_per_cycle: 4.0 }];
        let pts = vec![
            Point { preset: "a".into(), phase: "decode", intensity: 4.0, macs_per_cycle: 15.0 },
            Point { preset: "a".into(), phase: "prefill", intensity: 100.0, macs_per_cycle: 60.0 },
        ];
        let s = svg("t", "s <&>", &roofs, &[("m".into(), pts)]);
        assert_eq!((s.matches("<circle").count(), s.matches("<polyline").count()), (2, 1), "one decode point + legend dot, one roof");
        assert!(s.contains("s &lt;&amp;&gt;"));
        assert!(s.ends_with("</svg>\n"));
    }
}
