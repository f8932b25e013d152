use anyhow::{Context, Result};
use std::path::PathBuf;

/// Emit the Verilog of a preset (DIR/tern_top.v).
#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "tiny")]
    pub preset: String,
    #[arg(long, default_value = "out/verilog")]
    pub out: PathBuf,
    /// Also write a self-checking testbench for this `.tasm` program (DIR/tb_tern.v and its
    /// hex files): it plays the program into `tern_top` and checks every result word, the
    /// cycle of every result beat, the status, the cycle count and the ten counters against
    /// the golden model's run, in any Verilog simulator (`iverilog -g2012`).
    #[arg(long)]
    pub testbench: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let a = super::preset(&args.preset)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let path = args.out.join("tern_top.v");
    std::fs::write(&path, tern_hdl::emit(&a)).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {} (preset {}, {} ternary MACs/cycle)", path.display(), a.cfg.name, a.macs_per_cycle);
    if let Some(program) = &args.testbench {
        let text = std::fs::read_to_string(program).with_context(|| format!("reading {}", program.display()))?;
        let beats = tern_fw::tasm::assemble(&a, &text).map_err(|e| anyhow::anyhow!("{}: {e}", program.display()))?;
        if beats.is_empty() {
            anyhow::bail!("{}: the program has no instruction (a program ends with `halt`)", program.display());
        }
        let golden = tern_arch::Golden::new(&a).run(&beats, &tern_arch::Stalls::NONE, 100_000_000);
        if golden.stopped == Some(tern_arch::StopReason::Watchdog) {
            anyhow::bail!("{}: the golden model did not finish within 100,000,000 cycles", program.display());
        }
        let tb = crate::testbench::testbench(&a, &beats, &golden, &program.display().to_string());
        for (name, text) in &tb.files {
            let p = args.out.join(name);
            std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
        }
        println!(
            "wrote {}/tb_tern.v and its hex files: {} beats, expecting {} result words, status `{}`, {} cycles (golden model)",
            args.out.display(),
            beats.len(),
            golden.results.len(),
            golden.status.describe(),
            golden.counters.cycles
        );
        println!("run it: cd {} && iverilog -g2012 -o tb tern_top.v tb_tern.v && vvp tb", args.out.display());
    }
    Ok(())
}
