//! tern's one integration test binary. Heavy runs sit behind TERN_SLOW=1.
mod bitnet_gguf;
mod bridge;
mod common;
mod docs;
mod energy;
mod hf_bitnet;
mod illegal;
mod lint;
mod model;
mod rtl_vs_golden;
mod smollm2;
mod synth;
mod tasm;
mod tokenizer;
