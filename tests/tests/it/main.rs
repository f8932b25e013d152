//! tern's one integration test binary. Heavy runs sit behind TERN_SLOW=1.
mod common;
mod illegal;
mod rtl_vs_golden;
