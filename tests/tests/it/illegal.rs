//! Every illegal-instruction class: the RTL and the golden model set the same error status at
//! the same cycle, and neither hangs (a bounded watchdog).
use crate::common::*;
use crate::rtl_vs_golden::FAMILY;
use tern_arch::config::TINY;
use tern_arch::isa::Insn;
use tern_arch::{Stalls, Status, StopReason};

const WATCHDOG: u64 = 100_000;

fn enc(i: Insn) -> u64 {
    i.encode() as u64
}

/// A valid prologue that leaves a MATVEC running, so errors arrive with work in flight.
fn prologue() -> Vec<u64> {
    let mut p = vec![enc(Insn::LoadX { addr: 0, count: 8 })];
    p.extend(std::iter::repeat_n(0x0102_80ffu64, 8 * 4));
    p.push(enc(Insn::LoadW { addr: 0, count: 8 }));
    p.extend(std::iter::repeat_n(0x9999_2466u64, 8 * 4));
    p.push(enc(Insn::SetLen { len: 8 }));
    p.push(enc(Insn::MatVec { acc: false, store: true, waddr: 0, xaddr: 0 }));
    p
}

fn check(name: &str, body: &[u64], want: Status) {
    let a = TINY.validate().unwrap();
    for with_prologue in [false, true] {
        let mut beats = if with_prologue { prologue() } else { vec![] };
        beats.extend_from_slice(body);
        beats.push(enc(Insn::Halt));
        let (g, r) = run_both(&a, &TINY, &beats, &Stalls::NONE, WATCHDOG);
        let what = format!("{name} (prologue {with_prologue})");
        assert_same(&what, &g, &r);
        assert_eq!(r.status, want, "{what}");
        assert_eq!(r.stopped, None, "{what}: must stop by itself, not by the watchdog");
        assert!(r.counters.cycles < 1000, "{what}: took {} cycles", r.counters.cycles);
    }
}

#[test]
fn illegal_opcode() {
    check("opcode 15", &[0xF000_0000], Status::IllegalOpcode);
    check("opcode 7", &[0x7000_0000], Status::IllegalOpcode);
}

#[test]
fn reserved_bits() {
    check("halt with operand bits", &[0x6000_0001], Status::ReservedBits);
    check("loadw with matvec flags", &[0x1800_0001], Status::ReservedBits);
    check("setlen with high field", &[0x3000_2001], Status::ReservedBits);
}

#[test]
fn reserved_high_half_of_a_64_bit_beat() {
    let cfg = &FAMILY[2];
    let a = cfg.validate().unwrap();
    let beats = [(1u64 << 40) | enc(Insn::Nop), enc(Insn::Halt)];
    let (g, r) = run_both(&a, cfg, &beats, &Stalls::NONE, WATCHDOG);
    assert_same("64-bit beat with high bits", &g, &r);
    assert_eq!(r.status, Status::ReservedBits);
}

/// The same on a MATVEC, accepted at once or waiting behind another one: the golden model's
/// fast paths for MATVEC must see the high half too (they once did not, after the decoded
/// instruction and the high-half flag became two registers).
#[test]
fn reserved_high_half_of_a_matvec_beat() {
    let cfg = &FAMILY[2];
    let a = cfg.validate().unwrap();
    let mv = |xaddr| enc(Insn::MatVec { acc: false, store: false, waddr: 0, xaddr });
    for beats in [
        vec![enc(Insn::SetLen { len: 4 }), (1u64 << 40) | mv(0), enc(Insn::Halt)],
        vec![enc(Insn::SetLen { len: 4 }), mv(0), (1u64 << 40) | mv(4), enc(Insn::Halt)],
    ] {
        let (g, r) = run_both(&a, cfg, &beats, &Stalls::NONE, WATCHDOG);
        assert_same("matvec beat with high bits", &g, &r);
        assert_eq!(r.status, Status::ReservedBits);
    }
}

#[test]
fn zero_counts() {
    check("loadw count 0", &[enc(Insn::LoadW { addr: 0, count: 1 }) & !0x1fff], Status::ZeroCount);
    check("setlen 0", &[0x3000_0000], Status::ZeroCount);
}

#[test]
fn weight_range() {
    check("loadw past the end", &[enc(Insn::LoadW { addr: 250, count: 10 })], Status::WeightRange);
    check(
        "matvec past the end",
        &[enc(Insn::SetLen { len: 8 }), enc(Insn::MatVec { acc: false, store: false, waddr: 252, xaddr: 0 })],
        Status::WeightRange,
    );
}

#[test]
fn activation_range() {
    check("loadx past the end", &[enc(Insn::LoadX { addr: 510, count: 5 })], Status::ActRange);
    check(
        "matvec past the end",
        &[enc(Insn::SetLen { len: 8 }), enc(Insn::MatVec { acc: false, store: false, waddr: 0, xaddr: 508 })],
        Status::ActRange,
    );
}

#[test]
fn half_crossing() {
    check(
        "matvec across halves",
        &[enc(Insn::SetLen { len: 4 }), enc(Insn::MatVec { acc: false, store: false, waddr: 126, xaddr: 0 })],
        Status::HalfCross,
    );
}

/// MATVEC's range checks read the same fields as other opcodes (address and count), and
/// small arrays register those compares without the opcode (EXEC masks them with
/// `ex_is_mv`): a LOADW or LOADX whose fields would fail them as a MATVEC runs. Catches the
/// mask missing: LOADW at 252 would stop with WeightRange, at 124 with HalfCross, LOADX of
/// 505 words with ActRange.
#[test]
fn matvec_range_checks_spare_other_opcodes() {
    let a = TINY.validate().unwrap();
    let mut beats = vec![enc(Insn::SetLen { len: 8 })];
    for addr in [252, 124] {
        beats.push(enc(Insn::LoadW { addr, count: 1 }));
        beats.extend(std::iter::repeat_n(0x9999_9999u64, (a.cfg.rows * a.beats_per_wword) as usize));
    }
    beats.push(enc(Insn::LoadX { addr: 0, count: 505 }));
    beats.extend(std::iter::repeat_n(0x0102_80ffu64, 505 * a.beats_per_xword as usize));
    beats.push(enc(Insn::Halt));
    let (g, r) = run_both(&a, &TINY, &beats, &Stalls::NONE, WATCHDOG);
    assert_same("loads past a MATVEC's limits", &g, &r);
    assert_eq!(r.status, Status::Halted);
}

#[test]
fn bad_weight_code() {
    check("code 3 in a weight word", &[enc(Insn::LoadW { addr: 0, count: 1 }), 0, 0x0000_0300, 0, 0], Status::BadWeightCode);
}

#[test]
fn matvec_before_setlen() {
    let a = TINY.validate().unwrap();
    let beats = [enc(Insn::MatVec { acc: false, store: true, waddr: 0, xaddr: 0 }), enc(Insn::Halt)];
    let (g, r) = run_both(&a, &TINY, &beats, &Stalls::NONE, WATCHDOG);
    assert_same("matvec before setlen", &g, &r);
    assert_eq!(r.status, Status::NoLength);
}

/// A program without HALT: both backends stop the same way at the same cycle, no hang.
#[test]
fn program_without_halt_starves() {
    let a = TINY.validate().unwrap();
    let mut beats = prologue();
    beats.push(enc(Insn::Nop));
    let (g, r) = run_both(&a, &TINY, &beats, &Stalls::NONE, WATCHDOG);
    assert_same("no halt", &g, &r);
    assert_eq!(r.stopped, Some(StopReason::Starved));
}
