//! `tern_term`: one lane of one row, the multiplier-free heart of the array, described in
//! rust-hdl (`#[hdl_gen]`) and simulated by rust-hdl in its unit test.
//!
//! ```text
//!   nz  ng   act (int8)
//!    |   |    |
//!    |   +--[XOR 8]--+        weight +1: nz=1 ng=0 -> act
//!    |               |        weight -1: nz=1 ng=1 -> ~act  (= -act - 1; the row tree adds
//!    +-----------[AND 8]      weight  0: nz=0      -> 0       the missing +1 as a carry-in)
//!                    |
//!                  term (8 bits)
//! ```
//! The weight bank stores each 2-bit code recoded as (ng, nz) (`tern_array` recodes the write
//! data), so this block is two gates per bit and never a multiplier.
//!
//! rust-hdl types widths as const generics, so only fixed-width leaves are rust-hdl blocks;
//! the config-dependent structure around them is generated (see docs/decisions.md).

use rust_hdl::prelude::*;

/// Verilog module name of the lane.
pub const MODULE: &str = "tern_term";

#[derive(LogicBlock, Default)]
pub struct TernaryTerm {
    /// The weight is not zero.
    pub nz: Signal<In, Bit>,
    /// The weight is -1.
    pub ng: Signal<In, Bit>,
    /// The broadcast int8 activation (two's complement bits).
    pub act: Signal<In, Bits<8>>,
    /// act, ~act or 0.
    pub term: Signal<Out, Bits<8>>,
}

impl Logic for TernaryTerm {
    #[hdl_gen]
    fn update(&mut self) {
        self.term.next = self.act.val();
        if self.ng.val() {
            self.term.next = !self.act.val();
        }
        if !self.nz.val() {
            self.term.next = bits::<8>(0);
        }
    }
}

/// The Verilog of `tern_term`, from rust-hdl's generator.
pub fn verilog() -> String {
    let mut uut = TernaryTerm::default();
    uut.connect_all();
    let v = generate_verilog(&uut);
    // rust-hdl names the top module `top`
    v.replacen("module top(", &format!("module {MODULE}("), 1).replace("endmodule // top", "endmodule")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exhaustive, in rust-hdl's simulator, against the arithmetic it stands for:
    /// term + ng == weight * act (mod 256).
    #[test]
    fn every_code_and_activation() {
        let mut uut = TernaryTerm::default();
        uut.connect_all();
        let mut sim = Simulation::new();
        sim.add_testbench(move |mut sim: Sim<TernaryTerm>| {
            let mut x = sim.init()?;
            for w in -1i32..=1 {
                for a in -128i32..=127 {
                    x.nz.next = w != 0;
                    x.ng.next = w == -1;
                    x.act.next = ((a as u8) as u64).to_bits();
                    x = sim.wait(1, x)?;
                    let t = x.term.val().index() as u8;
                    let want = (w * a - i32::from(w == -1)) as u8;
                    sim_assert_eq!(sim, t, want, x);
                }
            }
            sim.done(x)
        });
        sim.run(Box::new(uut), 10_000).unwrap();
    }

    #[test]
    fn emits_a_named_module_without_multiplier() {
        let v = verilog();
        assert!(v.contains("module tern_term("));
        assert!(!v.replace("@(*)", "").contains('*'));
    }
}
