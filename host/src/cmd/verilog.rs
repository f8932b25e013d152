use anyhow::{Context, Result};
use std::path::PathBuf;

/// Emit the Verilog of a preset (DIR/tern_top.v).
#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "tiny")]
    pub preset: String,
    #[arg(long, default_value = "out/verilog")]
    pub out: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let a = super::preset(&args.preset)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let path = args.out.join("tern_top.v");
    std::fs::write(&path, tern_hdl::emit(&a)).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {} (preset {}, {} ternary MACs/cycle)", path.display(), a.cfg.name, a.macs_per_cycle);
    Ok(())
}
