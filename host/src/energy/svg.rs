//! A stacked-bar picture of energy breakdowns, written by hand (no plotting crate).

use std::fmt::Write;

/// One color per class, stable across pictures; unknown classes cycle through the rest.
fn color(class: &str, i: usize) -> &'static str {
    const NAMED: [(&str, &str); 17] = [
        ("dram_weights", "#4e79a7"),
        ("link_io", "#a0cbe8"),
        ("wmem_write", "#f28e2b"),
        ("wmem_read", "#ffbe7d"),
        ("amem_write", "#59a14f"),
        ("amem_read", "#8cd17d"),
        ("tree_add", "#e15759"),
        ("acc_add", "#ff9d9a"),
        ("acc_write", "#b6992d"),
        ("pipe_regs", "#f1ce63"),
        ("output", "#499894"),
        ("control", "#86bcb6"),
        ("counters", "#d37295"),
        ("clock_busy", "#79706e"),
        ("clock_idle", "#bab0ac"),
        ("static", "#9d7660"),
        ("other", "#d7b5a6"),
    ];
    const SPARE: [&str; 4] = ["#b07aa1", "#fabfd2", "#d4a6c8", "#8f6f99"];
    NAMED.iter().find(|(c, _)| *c == class).map(|(_, h)| *h).unwrap_or(SPARE[i % SPARE.len()])
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Engineering notation for joules: `12.3 nJ`.
pub fn si_j(j: f64) -> String {
    if j == 0.0 || !j.is_finite() {
        return format!("{j} J");
    }
    let a = j.abs();
    let (k, p) = [(1.0, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f")]
        .into_iter()
        .find(|(k, _)| a >= *k)
        .unwrap_or((1e-15, "f"));
    format!("{:.3} {p}J", j / k)
}

/// A bar: its label (lines split at '\n') and its stacked (class, joules) parts.
pub type Bar = (String, Vec<(&'static str, f64)>);

/// Bars side by side, each stacked from its (class, joules) parts, on one linear axis.
/// `subtitle` carries the honesty line (estimate, table, what it was counted from).
pub fn stacked_bars(title: &str, subtitle: &str, bars: &[Bar]) -> String {
    stacked_panels(title, subtitle, &[(String::new(), bars.to_vec())])
}

/// Several panels of stacked bars, each on its own linear axis, with one shared legend.
pub fn stacked_panels(title: &str, subtitle: &str, panels: &[(String, Vec<Bar>)]) -> String {
    let (bar_w, gap, axis_w, top, plot_h) = (110.0, 50.0, 80.0, 90.0, 360.0);
    let panel_w = |n: usize| axis_w + n.max(1) as f64 * (bar_w + gap);
    let plots: f64 = panels.iter().map(|(_, b)| panel_w(b.len())).sum();
    let legend_w = 170.0;
    let text_w = 20.0 + 6.6 * title.len().max(subtitle.len()) as f64;
    let width = (20.0 + plots + legend_w).max(text_w);
    let height = top + plot_h + 70.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(s, r#"<text x="20" y="24" font-size="16" font-weight="bold">{}</text>"#, esc(title));
    let _ = writeln!(s, r##"<text x="20" y="44" fill="#555">{}</text>"##, esc(subtitle));
    let base = top + plot_h;
    let mut legend: Vec<&'static str> = Vec::new();
    let mut x0 = 20.0;
    for (ptitle, bars) in panels {
        let left = x0 + axis_w;
        let max = bars.iter().map(|(_, p)| p.iter().map(|(_, j)| j.max(0.0)).sum::<f64>()).fold(0.0, f64::max);
        let max = if max > 0.0 { max } else { 1.0 };
        if !ptitle.is_empty() {
            let _ = writeln!(s, r#"<text x="{left:.1}" y="{:.1}" font-weight="bold">{}</text>"#, top - 24.0, esc(ptitle));
        }
        let _ = writeln!(s, r#"<line x1="{left:.1}" y1="{top}" x2="{left:.1}" y2="{base}" stroke="black"/>"#);
        for i in 0..=4 {
            let v = max * i as f64 / 4.0;
            let y = base - plot_h * i as f64 / 4.0;
            let _ = writeln!(s, r#"<line x1="{:.1}" y1="{y:.1}" x2="{left:.1}" y2="{y:.1}" stroke="black"/>"#, left - 4.0);
            let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#, left - 8.0, y + 4.0, esc(&si_j(v)));
        }
        for (b, (label, parts)) in bars.iter().enumerate() {
            let x = left + gap / 2.0 + b as f64 * (bar_w + gap);
            let mut y = base;
            let mut total = 0.0;
            for (i, (class, j)) in parts.iter().enumerate() {
                if *j <= 0.0 {
                    continue;
                }
                total += j;
                let h = plot_h * j / max;
                y -= h;
                let _ = writeln!(
                    s,
                    r#"<rect x="{x:.1}" y="{y:.2}" width="{bar_w}" height="{h:.2}" fill="{}"><title>{}: {}</title></rect>"#,
                    color(class, i),
                    class,
                    esc(&si_j(*j))
                );
                if !legend.contains(class) {
                    legend.push(class);
                }
            }
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-weight="bold">{}</text>"#,
                x + bar_w / 2.0,
                y - 6.0,
                esc(&si_j(total))
            );
            for (k, line) in label.split('\n').enumerate() {
                let _ = writeln!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                    x + bar_w / 2.0,
                    base + 18.0 + 14.0 * k as f64,
                    esc(line)
                );
            }
        }
        x0 += panel_w(bars.len());
    }
    let lx = x0 + 10.0;
    for (i, class) in legend.iter().enumerate() {
        let y = top + 18.0 * i as f64;
        let _ = writeln!(s, r#"<rect x="{lx:.1}" y="{y:.1}" width="12" height="12" fill="{}"/>"#, color(class, i));
        let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}">{}</text>"#, lx + 18.0, y + 10.5, class);
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn si() {
        assert_eq!(si_j(1.5e-9), "1.500 nJ");
        assert_eq!(si_j(2.0e-6), "2.000 uJ");
        assert_eq!(si_j(3.0), "3.000 J");
    }

    #[test]
    fn bars_are_well_formed() {
        let s = stacked_bars("t", "estimate <a & b>", &[("x\ny".into(), vec![("dram_weights", 2e-9), ("tree_add", 1e-9)])]);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>\n"));
        assert_eq!(s.matches("<rect x=").count(), 2 + 2);
        assert!(s.contains("estimate &lt;a &amp; b&gt;"));
        assert!(s.contains("3.000 nJ"));
    }
}
