//! `tern_abuf`: the int8 activation buffer, `amem_depth` words of L activations (8L bits),
//! read once per issue slot and broadcast to every row. Same port scheme as `tern_wbank`.

use tern_arch::config::Accel;

pub fn verilog(a: &Accel) -> String {
    crate::weight_bank::sdp_ram("tern_abuf", a.xword_bits, a.cfg.amem_depth)
}
