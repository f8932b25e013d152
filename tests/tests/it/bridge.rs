//! The board link end to end: `tern_board` with its UART link simulated by Icarus Verilog
//! behind `BoardBackend`, against the golden model; and the host's serial port on a
//! pseudo-terminal.

use tern_arch::config::{Accel, TINY};
use tern_arch::{Backend, Golden, Stalls, Status};
use tern_hdl::uart::UartSpec;
use tern_host::bridge::{self, BoardBackend, Transport};
use tern_host::testbench::{UartHost, UartSim};

/// 8 clock cycles a bit: the slowest part of the simulation is the line, so keep it short.
const UART: UartSpec = UartSpec { clks_per_bit: 8 };

fn board(a: &Accel, host: UartHost) -> BoardBackend<UartSim> {
    BoardBackend::new(a, UartSim::new(a, UART, host).expect("iverilog"))
}

fn layer(a: &Accel, out: usize, inp: usize, batch: usize, seed: u64) -> Vec<u64> {
    let (w, x) = crate::common::random_layer(out, inp, batch, seed);
    tern_fw::compile_bitlinear(a, &w, &x, batch).unwrap().beats
}

/// A compiled layer over the serial line, with a host that pauses between bytes and holds CTS
/// at random: results, status, consumed beats and every event counter equal the golden model's
/// (the link-timed counters excepted), and the LEDs say halted.
#[test]
fn uart_board_runs_a_layer_like_golden() {
    let a = TINY.validate().unwrap();
    let p = layer(&a, 9, 70, 2, 11);
    let g = Golden::new(&a).run(&p, &Stalls::NONE, 10_000_000);
    assert_eq!(g.status, Status::Halted);
    let mut b = board(&a, UartHost { pauses: true, ..Default::default() });
    let r = b.run(&p, &Stalls::NONE, 0).expect("board run");
    assert_eq!(g.first_event_difference("golden", &r, "board"), None);
    assert_eq!((r.consumed, r.results.len()), (p.len(), g.results.len()));
    assert!(r.counters.cycles > g.counters.cycles, "the line is slower than the core's stream");
    assert_eq!(b.link().leds, "010", "run off, ok on, err off");
    // a grouped array's board (reset tree, receive pins into flip-flops, transmit skid stage,
    // LEDs from flip-flops), with a 64-bit link
    let a = crate::synth::two_group_array("uart-groups").validate().unwrap();
    assert!(a.grouped());
    let p = layer(&a, 21, 70, 1, 12);
    let g = Golden::new(&a).run(&p, &Stalls::NONE, 10_000_000);
    let r = board(&a, UartHost { pauses: true, ..Default::default() }).run(&p, &Stalls::NONE, 0).expect("board run");
    assert_eq!(g.first_event_difference("golden", &r, "board"), None);
}

/// A board built with its PLL (`tern synth --pll`) stays in reset until the PLL locks: with a
/// stand-in PLL whose lock never rises the host's break and program go unanswered; with lock
/// after 300 cycles and the host starting after it, the run equals golden's. (Planted: the
/// lock left out of the reset, and the first case answers.)
#[test]
fn uart_board_with_a_pll_waits_for_its_lock() {
    let a = TINY.validate().unwrap();
    let p = layer(&a, 9, 40, 1, 31);
    let g = Golden::new(&a).run(&p, &Stalls::NONE, 10_000_000);
    let never = UartHost { pll_lock_after: Some(u64::MAX), ..Default::default() };
    let mut b = board(&a, never);
    let e = b.run(&p, &Stalls::NONE, 0).unwrap_err().to_string();
    assert!(e.contains("the board sent 0 bytes") && e.contains("no trailer and no results"), "{e}");
    assert_eq!(b.link().leds, "100", "held in reset: run on (`rst | running`), ok and err off");
    let locked = UartHost { pll_lock_after: Some(300), start_cycle: 400, pauses: true, ..Default::default() };
    let r = board(&a, locked).run(&p, &Stalls::NONE, 0).expect("board run after lock");
    assert_eq!(g.first_event_difference("golden", &r, "board"), None);
}

/// Both ends' bit clocks may differ: a divider may be up to 2% off the host's baud rate. At
/// the fastest divider the board accepts (4 clocks a bit: 3 Mbaud from 12 MHz) and at the
/// default (12: 1 Mbaud from 12 MHz), a host 2% fast or slow on both lines gives golden's run.
#[test]
fn uart_copes_with_a_two_percent_rate_error() {
    let a = TINY.validate().unwrap();
    let p = layer(&a, 9, 70, 1, 21);
    let g = Golden::new(&a).run(&p, &Stalls::NONE, 10_000_000);
    for cpb in [4, 12] {
        for rate_error in [0.02, -0.02] {
            let host = UartHost { rate_error, pauses: true, ..Default::default() };
            let mut b = BoardBackend::new(&a, UartSim::new(&a, UartSpec::new(cpb).unwrap(), host).unwrap());
            let r = b.run(&p, &Stalls::NONE, 0).unwrap_or_else(|e| panic!("{cpb} clocks a bit, {rate_error}: {e}"));
            assert_eq!(g.first_event_difference("golden", &r, "board"), None, "{cpb} clocks a bit, {rate_error}");
        }
    }
}

/// The host takes nothing for a long stretch while it streams a layer whose results start early:
/// the board's output backs up, the core stops taking input, its FIFO fills and RTS stops the
/// host. Honoured, the run equals golden; a host that ignores RTS overruns the FIFO, and the
/// board then stops feeding the core (error LED) instead of running a corrupted program, so the
/// run fails naming the missing trailer.
#[test]
fn uart_rts_stops_the_host_and_an_overrun_is_not_silent() {
    let a = TINY.validate().unwrap();
    // 8 tiles of 4 rows x 512 inputs: 512 bytes of weights a tile, results after each
    let p = layer(&a, 32, 512, 1, 5);
    let bytes = bridge::program_bytes(&a, &p).len();
    assert!(bytes > 4 * 1024, "{bytes}");
    let hold = 10 * 8 * bytes as u64; // the whole program's time on the line
    let g = Golden::new(&a).run(&p, &Stalls::NONE, 10_000_000);
    let mut b = board(&a, UartHost { cts_hold_cycles: hold, ..Default::default() });
    let r = b.run(&p, &Stalls::NONE, 0).expect("board run");
    assert_eq!(g.first_event_difference("golden", &r, "board"), None);
    let mut b = board(&a, UartHost { cts_hold_cycles: hold, ignore_rts: true, ..Default::default() });
    let e = b.run(&p, &Stalls::NONE, 0).unwrap_err().to_string();
    assert!(e.contains("no trailer") && e.contains("error LED"), "{e}");
    assert_eq!(b.link().leds, "101", "still running (starved), err on");
}

/// A byte whose stop bit is low (noise on the line): the board drops it and stops feeding the
/// core, so the run fails instead of computing with a shifted program.
#[test]
fn uart_framing_error_stops_the_run() {
    let a = TINY.validate().unwrap();
    let p = layer(&a, 9, 70, 1, 3);
    let mut b = board(&a, UartHost { bad_stop_at: Some(41), ..Default::default() });
    let e = b.run(&p, &Stalls::NONE, 0).unwrap_err().to_string();
    assert!(e.starts_with("board-sim backend: the board sent 0 bytes, then nothing"), "{e}");
    assert_eq!(b.link().leds, "101", "still running (starved), err on");
}

/// A program that stops on an error after some results: the board sends them, then its
/// trailer; the host finds the trailer by its `out_beats` count once the line is quiet. A
/// program without HALT sends no trailer, and the run says so.
#[test]
fn uart_error_status_and_missing_halt() {
    use tern_arch::isa::Insn;
    let a = TINY.validate().unwrap();
    let mut p = layer(&a, 4, 32, 1, 8);
    assert_eq!(Insn::decode_beat(*p.last().unwrap()), Ok(Insn::Halt));
    // replace the HALT: an out-of-range LOADX stops the core with ActRange
    p.pop();
    let mut bad = p.clone();
    bad.push(Insn::Sync.encode() as u64);
    bad.push(Insn::LoadX { addr: a.cfg.amem_depth as u16 - 1, count: 2 }.encode() as u64);
    // its words and a HALT follow, which the stopped core never takes
    bad.extend(std::iter::repeat_n(7, 2 * a.beats_per_xword as usize));
    bad.push(Insn::Halt.encode() as u64);
    let g = Golden::new(&a).run(&bad, &Stalls::NONE, 1_000_000);
    assert_eq!(g.status, Status::ActRange);
    assert!(!g.results.is_empty() && g.consumed < bad.len() - 1, "{}", g.consumed);
    let mut b = board(&a, UartHost::default());
    let r = b.run(&bad, &Stalls::NONE, 0).expect("board run");
    assert_eq!(g.first_event_difference("golden", &r, "board"), None);
    let e = b.run(&p, &Stalls::NONE, 0).unwrap_err().to_string();
    assert!(e.contains("no trailer") && e.contains("without HALT"), "{e}");
}

/// The bytes of the protocol by hand: the stream plan, a trailer's round trip, and replies
/// that do not add up.
#[test]
fn bridge_bytes_by_hand() {
    use tern_arch::Counters;
    use tern_arch::isa::Insn;
    let a = TINY.validate().unwrap();
    let enc = |i: Insn| i.encode() as u64;
    let p = vec![
        enc(Insn::LoadX { addr: 0, count: 1 }),
        1,
        2,
        3,
        4,
        enc(Insn::SetLen { len: 1 }),
        enc(Insn::MatVec { acc: false, store: true, waddr: 0, xaddr: 0 }),
        enc(Insn::Halt),
        99,
    ];
    let plan = bridge::plan(&a, &p);
    assert_eq!((plan.result_beats, plan.halts), (a.out_beats as u64, true));
    assert!(!bridge::plan(&a, &p[..7]).halts, "no HALT");
    assert!(!bridge::plan(&a, &[0xffff_ffff]).halts, "not an instruction");
    // 4 results of 4 bytes, then 61 trailer bytes
    assert_eq!(bridge::reply_bytes(&a, &plan), 16 + 61);
    // H = 32: each beat's low 4 bytes, little-endian
    let mut two = (p[0] as u32).to_le_bytes().to_vec();
    two.extend([1, 0, 0, 0]);
    assert_eq!(bridge::program_bytes(&a, &p[..2]), two);
    let c = Counters::from_array([1, 2, 3, 4, 5, 6, 7, 8, (1 << 48) - 1, 10]);
    let t = bridge::trailer_of(&a, Status::Halted, &c);
    assert_eq!(t.len(), 61);
    assert_eq!(bridge::parse_trailer(&a, &t).unwrap(), bridge::Trailer { status: Status::Halted, counters: c });
    let mut t2 = t.clone();
    t2[0] = 0x31;
    assert_eq!(bridge::parse_trailer(&a, &t2).unwrap_err().to_string(), "the trailer's status byte 0x31 is no status code");
    // the trailer counts 2^48-1 result beats: the reply cannot be that
    let e = bridge::parse_reply(&a, &t).unwrap_err().to_string();
    assert!(e.starts_with("the board's reply is 61 bytes, but its trailer counts 281474976710655 result beats"), "{e}");
}

/// A pseudo-terminal pair: the master's descriptor and the slave's path.
fn openpty() -> (std::fs::File, std::path::PathBuf) {
    use std::os::unix::io::FromRawFd;
    // SAFETY: the standard posix_openpt sequence; ptsname's buffer is copied at once.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(m >= 0 && libc::grantpt(m) == 0 && libc::unlockpt(m) == 0);
        let name = std::ffi::CStr::from_ptr(libc::ptsname(m)).to_str().unwrap().to_string();
        (std::fs::File::from_raw_fd(m), name.into())
    }
}

/// The serial port itself, on a pseudo-terminal: raw mode at a named baud rate, the program's
/// bytes out on a thread while the reply comes in, and the reply parsed. The far end stands in
/// for a board by replaying the golden model's run in the board's byte format, so this checks
/// the port and the framing, not the hardware (the tests above do that).
#[test]
fn serial_port_carries_a_run_over_a_pty() {
    use std::io::{Read, Write};
    use tern_arch::isa::Insn;
    let a = TINY.validate().unwrap();
    let p = layer(&a, 9, 70, 2, 4);
    let g = Golden::new(&a).run(&p, &Stalls::NONE, 10_000_000);
    let sent = bridge::program_bytes(&a, &p);
    let mut reply: Vec<u8> = g.results.iter().flat_map(|v| v.to_le_bytes()).collect();
    reply.extend(bridge::trailer_of(&a, g.status, &g.counters));
    let (mut master, slave) = openpty();
    let n = sent.len();
    let far = std::thread::spawn(move || {
        let mut got = vec![0u8; n];
        master.read_exact(&mut got).unwrap();
        master.write_all(&reply).unwrap();
        (got, master)
    });
    let port = bridge::SerialPort::open(&slave, 3_000_000).unwrap_or_else(|e| panic!("{e}"));
    let mut b = BoardBackend::new(&a, port);
    assert_eq!(b.name(), "board");
    let r = b.run(&p, &Stalls::NONE, 0).unwrap_or_else(|e| panic!("{e}"));
    let (got, _master) = far.join().unwrap();
    assert!(got == sent, "the far end received the program's bytes");
    assert_eq!(g.first_event_difference("golden", &r, "board"), None);
    assert_eq!(r.consumed, p.len());
    assert!(b.link().describe().ends_with("at 3000000 baud"));
    // a run that stops on an error: fewer results, then the trailer; the port waits for the
    // line to go quiet and finds the trailer by its `out_beats`
    let mut bad = p.clone();
    bad.pop();
    bad.extend([Insn::Sync.encode() as u64, Insn::LoadX { addr: a.cfg.amem_depth as u16 - 1, count: 2 }.encode() as u64]);
    let g = Golden::new(&a).run(&bad, &Stalls::NONE, 10_000_000);
    assert_eq!(g.status, Status::ActRange);
    let mut reply: Vec<u8> = g.results.iter().flat_map(|v| v.to_le_bytes()).collect();
    reply.extend(bridge::trailer_of(&a, g.status, &g.counters));
    let mut master = _master;
    let n = bridge::program_bytes(&a, &bad).len();
    let far = std::thread::spawn(move || {
        let mut got = vec![0u8; n];
        master.read_exact(&mut got).unwrap();
        master.write_all(&reply).unwrap();
        master
    });
    b.quiet = std::time::Duration::from_millis(100);
    let r = b.run(&bad, &Stalls::NONE, 0).unwrap_or_else(|e| panic!("{e}"));
    let _master = far.join().unwrap();
    assert_eq!(g.first_event_difference("golden", &r, "board"), None);
}

/// Bad ports and rates are named, not panicked on.
#[test]
fn serial_port_refuses_what_is_not_one() {
    let dir = std::env::temp_dir().join(format!("tern-serial-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("plain");
    std::fs::write(&file, b"").unwrap();
    let e = bridge::SerialPort::open(&file, 1_000_000).err().unwrap().to_string();
    assert!(e.starts_with(&format!("{}: not a serial port", file.display())), "{e}");
    let e = bridge::SerialPort::open(&dir.join("missing"), 1_000_000).err().unwrap().to_string();
    assert!(e.contains("missing: cannot open"), "{e}");
    let e = bridge::SerialPort::open(&file, 1_234_567).err().unwrap().to_string();
    assert!(e.contains("baud rate 1234567 is not one the serial driver names (9600, "), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `tern generate --port`: the shipped model with every BitLinear sent over a serial port (a
/// pseudo-terminal) gives the golden backend's tokens. The far end stands in for a board: it
/// cuts the byte stream into programs at each HALT (`bridge::plan`), runs each on one golden
/// model (memories kept across runs, as a board's block RAM) and answers in the board's bytes.
/// Dozens of programs a token, so the driver's reset, send, receive and end detection run
/// back to back. (Tokens can survive a result off by one; the layer tests above check every
/// result word exactly. A sign flipped in an eighth of the results changes the tokens here.)
#[test]
fn generate_over_a_serial_port_gives_the_golden_tokens() {
    use std::io::{Read, Write};
    const CLI: &str = env!("CARGO_BIN_EXE_tern-cli");
    let a = TINY.validate().unwrap();
    let (mut master, slave) = openpty();
    let nb = a.cfg.host_bits as usize / 8;
    let far = std::thread::spawn(move || {
        let mut g = Golden::new(&a);
        let (mut bytes, mut start, mut programs) = (Vec::new(), 0usize, 0usize);
        let mut buf = [0u8; 1 << 16];
        // EIO once the port's last user closed it
        while let Ok(n @ 1..) = master.read(&mut buf) {
            bytes.extend_from_slice(&buf[..n]);
            loop {
                let beats: Vec<u64> =
                    bytes[start..].chunks_exact(nb).map(|c| c.iter().rev().fold(0u64, |v, &b| v << 8 | b as u64)).collect();
                let p = bridge::plan(&a, &beats);
                if !p.halts {
                    break;
                }
                let end = beats.iter().position(|&b| tern_arch::isa::Insn::decode_beat(b) == Ok(tern_arch::isa::Insn::Halt));
                let prog = &beats[..end.unwrap() + 1];
                let r = Backend::run(&mut g, prog, &Stalls::NONE, u64::MAX).unwrap();
                let mut reply: Vec<u8> = r.results.iter().flat_map(|v| v.to_le_bytes()).collect();
                reply.extend(bridge::trailer_of(&a, r.status, &r.counters));
                master.write_all(&reply).unwrap();
                start += prog.len() * nb;
                programs += 1;
            }
        }
        programs
    });
    let run = |extra: &[&str]| {
        // the shipped model, from the workspace root
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let out =
            std::process::Command::new(CLI).args(["generate", "--tokens", "3", "--json"]).args(extra).current_dir(root).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let board = run(&["--port", slave.to_str().unwrap()]);
    let golden = run(&["--backend", "golden"]);
    assert_eq!(board["token_ids"], golden["token_ids"]);
    assert_eq!(board["backend"], "board");
    assert!(board["tokens_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(board["cycles_source"], "the board's counters (FPGA; its serial link paces the core)");
    // every event counter but the link-timed ones is the golden run's
    for k in ["issue", "wwords", "xwords", "acc_updates", "out_beats", "insns"] {
        assert_eq!(board["decode"]["counters"][k], golden["decode"]["counters"][k], "{k}");
    }
    let programs = far.join().unwrap();
    assert!(programs > 30, "{programs} programs");
}

/// A board that goes away in the middle of a run (the far end of the pseudo-terminal closes):
/// the run fails naming the port, and does not hang.
#[test]
fn serial_port_gone_mid_run_is_an_error() {
    use std::io::Read;
    let a = TINY.validate().unwrap();
    let p = layer(&a, 9, 70, 1, 6);
    let (mut master, slave) = openpty();
    let port = bridge::SerialPort::open(&slave, 1_000_000).unwrap_or_else(|e| panic!("{e}"));
    let far = std::thread::spawn(move || {
        let mut some = [0u8; 64];
        master.read_exact(&mut some).unwrap();
        drop(master);
    });
    let mut b = BoardBackend::new(&a, port);
    let e = b.run(&p, &Stalls::NONE, 0).unwrap_err().to_string();
    far.join().unwrap();
    assert!(e.starts_with(&format!("board backend: {} at 1000000 baud: ", slave.display())), "{e}");
    // (a pseudo-terminal whose master closed reads as the end of the file, as an unplugged USB
    // bridge's port does)
    assert!(e.ends_with("the serial port closed (was the board unplugged?)"), "{e}");
}
