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
    /// The testbench's host withholds an input beat on a cycle with this probability.
    #[arg(long, default_value_t = 0.0, requires = "testbench")]
    pub in_stall: f64,
    /// The testbench's host refuses a result beat on a cycle with this probability.
    #[arg(long, default_value_t = 0.0, requires = "testbench")]
    pub out_stall: f64,
    /// Seed of the stall pattern.
    #[arg(long, default_value_t = 7, requires = "testbench")]
    pub seed: u64,
}

pub fn run(args: Args) -> Result<()> {
    let a = super::preset(&args.preset)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let path = args.out.join("tern_top.v");
    std::fs::write(&path, tern_hdl::emit(&a)).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {} (preset {}, {} ternary MACs/cycle)", path.display(), a.cfg.name, a.macs_per_cycle);
    if let Some(program) = &args.testbench {
        let beats = super::read_program(&a, program)?;
        let stalls = super::stalls(args.seed, args.in_stall, args.out_stall)?;
        let golden = tern_arch::Golden::new(&a).run(&beats, &stalls, super::MAX_CYCLES);
        if golden.stopped == Some(tern_arch::StopReason::Watchdog) {
            anyhow::bail!("{}: the golden model did not finish within {} cycles", program.display(), super::MAX_CYCLES);
        }
        let tb = crate::testbench::testbench(&a, &beats, &stalls, &golden, &program.display().to_string());
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
