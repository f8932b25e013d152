//! Documents that must match the code. `TERN_BLESS=1` rewrites them from the code.
use std::path::Path;

fn check_generated(doc: &str, marker: &str, generated: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(doc);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let begin = format!("<!-- BEGIN GENERATED: {marker} -->\n");
    let end = "<!-- END GENERATED -->";
    let b = text.find(&begin).unwrap_or_else(|| panic!("{doc}: no marker {marker}")) + begin.len();
    let e = b + text[b..].find(end).expect("end marker");
    if text[b..e] != *generated {
        if std::env::var("TERN_BLESS").is_ok() {
            let new = format!("{}{}{}", &text[..b], generated, &text[e..]);
            std::fs::write(&path, new).unwrap();
        } else {
            panic!("{doc} is out of date with {marker}; run with TERN_BLESS=1 to regenerate.\nexpected:\n{generated}");
        }
    }
}

#[test]
fn isa_doc_matches_code() {
    check_generated("docs/isa.md", "tern_arch::isa::markdown_table", &tern_arch::isa::markdown_table());
    check_generated("docs/isa.md", "tern_arch::isa::status_table", &tern_arch::isa::status_table());
}

#[test]
fn readme_presets_match_code() {
    check_generated("README.md", "tern_arch::config::markdown_presets", &tern_arch::config::markdown_presets());
}

#[test]
fn readme_synthesis_table_matches_fmax_records() {
    check_generated("README.md", "tern_host::synth::markdown_results", &tern_host::synth::markdown_results());
    check_generated("README.md", "tern_host::synth::markdown_pll_results", &tern_host::synth::markdown_pll_results());
}

/// `make synth-all` re-records every preset with the seed of its committed record, so running
/// the sweep reproduces docs/fmax.json instead of silently re-placing at seed 1.
#[test]
fn synth_all_uses_the_recorded_seeds() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Makefile");
    let make = std::fs::read_to_string(&path).unwrap();
    let mut swept = Vec::new();
    for line in make.lines().filter(|l| l.contains(" synth --preset ") && l.contains("--record")) {
        let arg = |flag: &str| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let i = words.iter().position(|w| *w == flag).unwrap_or_else(|| panic!("Makefile: no {flag} in `{line}`"));
            words[i + 1].to_string()
        };
        swept.push((arg("--preset"), line.split_whitespace().any(|w| w == "--pll"), arg("--seed").parse::<u64>().unwrap()));
    }
    let mut recorded: Vec<(String, bool, u64)> = tern_host::synth::fmax_records()
        .into_iter()
        .filter(|r| Some(r.target.clone()) == own_device(&r.preset))
        .map(|r| (r.preset, r.pll.is_some(), r.seed))
        .collect();
    swept.sort();
    recorded.sort();
    assert_eq!(swept, recorded);
}

fn own_device(preset: &str) -> Option<String> {
    tern_arch::AccelConfig::preset(preset).ok()?.device.map(|d| d.name().to_string())
}
