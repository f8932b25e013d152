//! Verilog testbenches that play a program into the generic design's `tern_top` the way the
//! Verilator shim does, for any Verilog simulator (`iverilog -g2012`):
//! - `testbench` (`tern verilog --testbench P.tasm`) is self-checking: it compares, against
//!   the golden model's run of the same beats, every result word, the cycle each result beat
//!   leaves, the status, the cycle count and the ten counters, and prints PASS or FAIL, so
//!   the emitted RTL is checked without tern, Verilator or Rust;
//! - `IverilogBackend` records the same run and reads it back as a `RunResult`: a third
//!   `Backend` (`tern run --backend iverilog`), compared like the others.
//!
//! The drive: two reset cycles; cycle 0 at the first clock edge after them, as in the shim and
//! the counters; a beat is offered on the cycles `Stalls` offers one (its splitmix64 draw,
//! written in Verilog) and held until taken; results are taken on the cycles it is ready.
//! The run ends at the first edge at which `running` is low, the watchdog is reached, or the
//! sequencer wants a beat that is not there (starved), checked in the shim's order.

use std::path::{Path, PathBuf};
use std::process::Command;
use tern_arch::config::Accel;
use tern_arch::golden::{BeatCycles, Counters, RunResult, StopReason};
use tern_arch::isa::Status;
use tern_arch::{Backend, BackendError, Stalls, stall};

/// The files of a testbench, each (name, text).
pub struct Testbench {
    pub files: Vec<(&'static str, String)>,
}

/// Hex lines, one value each, `digits` wide.
fn hex_lines(values: impl Iterator<Item = u64>, digits: usize) -> String {
    values.map(|v| format!("{v:0digits$x}\n")).collect()
}

/// What a harness does besides driving the design.
struct Hooks {
    /// Declarations and initial statements.
    decls: String,
    init: String,
    /// Statements when a result beat is taken (`cyc`: its cycle) and when an input beat is.
    on_beat: String,
    on_input: String,
    /// The body of `task end_run(input [63:0] how)`, which ends the simulation.
    end_run: String,
}

/// The drive, shared by both benches: `tb_tern` around `tern_top` for `n` beats in
/// `program.hex`, with `stalls`, stopping at `watchdog` cycles.
fn harness(a: &Accel, n: usize, stalls: &Stalls, watchdog: u64, header: &str, hooks: &Hooks) -> String {
    let h = a.cfg.host_bits;
    let nc = Counters::NAMES.len() as u32;
    let rst_w = tern_hdl::top::rst_copies(a);
    format!(
        "`timescale 1ns/1ps
`default_nettype none
{header}
module tb_tern;
  localparam N = {n};
  localparam [63:0] WATCHDOG = 64'd{watchdog}, SEED = 64'd{seed};
  localparam [15:0] IN_STALL = 16'd{in_stall}, OUT_STALL = 16'd{out_stall};
  reg clk = 1'b0;
  reg [{rst_m}:0] rst = {{{rst_w}{{1'b1}}}};
  reg [{hm}:0] prog [0:{prog_m}];
  wire in_ready, out_valid, running;
  wire [{hm}:0] out_data;
  wire [3:0] status;
  wire [{cnt_m}:0] counters;
  wire [{ncm}:0] counters_pend;
  integer pos = 0;
  reg [63:0] cyc = 0;
  reg done = 1'b0, held = 1'b0;
{decls}
  // tern_arch::stall: the splitmix64 finaliser of (seed, cycle, stream), its low 16 bits
  function [15:0] draw(input [63:0] cycle, input [63:0] stream);
    reg [63:0] z;
    begin
      z = SEED ^ (cycle * 64'h{m0:x}) ^ (stream * 64'h{m1:x});
      z = (z ^ (z >> {s0})) * 64'h{m2:x};
      z = (z ^ (z >> {s1})) * 64'h{m3:x};
      z = z ^ (z >> {s2});
      draw = z[15:0];
    end
  endfunction
  wire offer = IN_STALL == 0 || draw(cyc, {in_stream}) >= IN_STALL;
  wire out_ready = OUT_STALL == 0 || draw(cyc, {out_stream}) >= OUT_STALL;
  // a beat offered stays valid until it is taken
  wire in_valid = !rst[0] && !done && pos < N && (held || offer);
  wire [{hm}:0] in_data = pos < N ? prog[pos] : {h}'d0;
  tern_top dut (
    .clk(clk), .rst(rst), .in_data(in_data), .in_valid(in_valid), .in_ready(in_ready),
    .out_data(out_data), .out_valid(out_valid), .out_ready(out_ready), .status(status), .running(running),
    .counters(counters), .counters_pend(counters_pend), .cnt_shift(1'b0)
  );
  always #5 clk = ~clk;
  initial begin
    if (N > 0) $readmemh(\"program.hex\", prog);
{init}    // two reset cycles, as the Verilator shim gives
    @(posedge clk); @(posedge clk);
    #1 rst = {{{rst_w}{{1'b0}}}};
  end
  task end_run(input [63:0] how);
    reg [63:0] got;
    begin
      done = 1'b1;
{end_run}      $finish;
    end
  endtask
  always @(posedge clk) if (!rst[0] && !done) begin
    // the values before this edge, as the shim samples them before its clock edge
    if (!running) end_run(\"stopped\");
    else if (cyc >= WATCHDOG) end_run(\"watchdog\");
    else if (in_ready && pos >= N) end_run(\"starved\");
    else begin
      if (out_valid && out_ready) begin
{on_beat}      end
      if (in_valid && in_ready) begin
{on_input}      end
      // non-blocking: the design samples `in_data` at this same edge
      if (in_valid && in_ready) pos <= pos + 1;
      held <= in_valid && !in_ready;
      cyc <= cyc + 1;
    end
  end
endmodule
",
        seed = stalls.seed,
        m0 = stall::DRAW_MUL[0],
        m1 = stall::DRAW_MUL[1],
        m2 = stall::DRAW_MUL[2],
        m3 = stall::DRAW_MUL[3],
        s0 = stall::DRAW_SHIFT[0],
        s1 = stall::DRAW_SHIFT[1],
        s2 = stall::DRAW_SHIFT[2],
        in_stream = stall::IN_STREAM,
        out_stream = stall::OUT_STREAM,
        in_stall = stalls.in_stall,
        out_stall = stalls.out_stall,
        rst_m = rst_w - 1,
        hm = h - 1,
        prog_m = n.max(1) - 1,
        cnt_m = nc * a.cfg.counter_bits - 1,
        ncm = nc - 1,
        decls = hooks.decls,
        init = hooks.init,
        on_beat = hooks.on_beat,
        on_input = hooks.on_input,
        end_run = hooks.end_run,
    )
}

/// Verilog for `got = counter i + its pending event` (the shim's reading: the counters lag
/// their events by one registered cycle).
fn counter_value(a: &Accel, i: usize) -> String {
    let cb = a.cfg.counter_bits;
    format!("got = counters[{} +: {cb}] + counters_pend[{i}];", i as u32 * cb)
}

/// The self-checking testbench for `beats` on `a`'s generic design with `stalls`, expecting
/// `golden` (the golden model's run of the same beats and stalls).
pub fn testbench(a: &Accel, beats: &[u64], stalls: &Stalls, golden: &RunResult, program: &str) -> Testbench {
    let per_beat = a.results_per_beat as usize;
    let nw = golden.results.len();
    let nb = golden.beat_cycles.beats() as usize;
    let cycles = golden.counters.cycles;
    let status = golden.status.describe();
    let code = golden.status as u32;
    let stall_note = if stalls.is_none() {
        "no stalls".to_string()
    } else {
        format!(
            "stalls of seed {} (P(no beat offered) = {}/65536, P(not ready) = {}/65536)",
            stalls.seed, stalls.in_stall, stalls.out_stall
        )
    };
    let expect_end = match golden.stopped {
        Some(StopReason::Watchdog) => "watchdog",
        Some(StopReason::Starved) => "starved",
        None => "stopped",
    };
    let fail =
        |cond: String, msg: String| format!("      if ({cond}) begin\n        $display({msg});\n        errors = errors + 1;\n      end\n");
    let mut init: String = format!(
        "    if ({nw} > 0) $readmemh(\"expected_words.hex\", exp_word);\n    if ({nb} > 0) $readmemh(\"expected_cycles.hex\", exp_cyc);\n"
    );
    let mut end_run = String::new();
    end_run +=
        &fail(format!("how != \"{expect_end}\""), format!("\"FAIL: the run ended %0s at cycle %0d, expected {expect_end}\", how, cyc"));
    end_run += &fail(format!("beat != {nb}"), format!("\"FAIL: %0d result beats, expected {nb}\", beat"));
    end_run += &fail(format!("status !== 4'd{code}"), format!("\"FAIL: status %0d, expected {code} ({status})\", status"));
    for (i, (name, v)) in Counters::NAMES.iter().zip(golden.counters.to_array()).enumerate() {
        init += &format!("    exp_cnt[{i}] = 64'd{v}; // {name}\n");
        end_run += &format!("      {}\n", counter_value(a, i));
        end_run += &fail(format!("got !== exp_cnt[{i}]"), format!("\"FAIL: counter {name} is %0d, expected %0d\", got, exp_cnt[{i}]"));
    }
    end_run += &fail(format!("cyc != {cycles}"), format!("\"FAIL: %0d cycles, expected {cycles}\", cyc"));
    end_run += &format!(
        "      if (errors == 0) $display(\"PASS: {nw} result words, every beat in its cycle, status {code}, {cycles} cycles, ten counters equal to the golden model\");\n      else $display(\"FAIL: %0d errors\", errors);\n"
    );
    let mut on_beat = fail(format!("beat >= {nb}"), "\"FAIL: an extra result beat at cycle %0d\", cyc".into());
    on_beat += &fail(
        format!("beat < {nb} && cyc !== exp_cyc[beat]"),
        "\"FAIL: result beat %0d left at cycle %0d, expected %0d\", beat, cyc, exp_cyc[beat]".into(),
    );
    for w in 0..per_beat {
        let (lo, hi) = (32 * w, 32 * w + 31);
        let idx = format!("beat * {per_beat} + {w}");
        on_beat += &fail(
            format!("beat < {nb} && out_data[{hi}:{lo}] !== exp_word[{idx}]"),
            format!(
                "\"FAIL: result word %0d: got %0d, expected %0d (cycle %0d)\", {idx}, $signed(out_data[{hi}:{lo}]), $signed(exp_word[{idx}]), cyc"
            ),
        );
    }
    on_beat += "      beat = beat + 1;\n";
    let hooks = Hooks {
        decls: format!(
            "  reg [31:0] exp_word [0:{}];\n  reg [63:0] exp_cyc [0:{}];\n  reg [63:0] exp_cnt [0:{}];\n  integer beat = 0, errors = 0;",
            nw.max(1) - 1,
            nb.max(1) - 1,
            Counters::NAMES.len() - 1
        ),
        init,
        on_beat,
        on_input: String::new(),
        end_run,
    };
    let header = format!(
        "// GENERATED by `tern verilog --testbench {program}` (preset {}); do not edit.
// The golden model's run of the same {} beats is what it expects: {nw} result words in {nb}
// beats, status {status}, {cycles} cycles, the ten counters; {stall_note}.
// Run: iverilog -g2012 -o tb tern_top.v tb_tern.v && vvp tb   (prints PASS or FAIL lines)",
        a.cfg.name,
        beats.len()
    );
    let tb = harness(a, beats.len(), stalls, cycles + 1000, &header, &hooks);
    Testbench {
        files: vec![
            ("tb_tern.v", tb),
            ("program.hex", hex_lines(beats.iter().copied(), a.cfg.host_bits as usize / 4)),
            ("expected_words.hex", hex_lines(golden.results.iter().map(|&v| u64::from(v as u32)), 8)),
            ("expected_cycles.hex", hex_lines(golden.beat_cycles.iter(), 16)),
        ],
    }
}

/// The RTL in Icarus Verilog behind `Backend`: each run writes the program and a recording
/// testbench into its folder, compiles them with the design and reads the record back. Slow
/// (thousands of cycles a second on small presets), for a third opinion, not for models.
pub struct IverilogBackend {
    a: Accel,
    dir: PathBuf,
}

impl IverilogBackend {
    pub fn new(a: &Accel) -> Result<IverilogBackend, BackendError> {
        let err = |msg: String| BackendError { backend: "iverilog", msg };
        if Command::new("iverilog").arg("-V").output().is_err() {
            return Err(err("`iverilog` was not found: run ./setup.sh (it installs iverilog)".into()));
        }
        // one folder per backend, also for several in one process
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("tern-iverilog-{}-{}-{k}", a.cfg.name.replace([':', ',', '='], "_"), std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| err(format!("creating {}: {e}", dir.display())))?;
        std::fs::write(dir.join("tern_top.v"), tern_hdl::emit(a)).map_err(|e| err(format!("writing tern_top.v: {e}")))?;
        Ok(IverilogBackend { a: a.clone(), dir })
    }
}

impl Drop for IverilogBackend {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The recording testbench: `record.txt` gets `i CYCLE` per input beat taken, `b CYCLE HEX`
/// per result beat, then `end HOW STATUS CONSUMED` and the ten counters.
fn recorder(a: &Accel, n: usize, stalls: &Stalls, max_cycles: u64) -> String {
    let mut end_run = "      $fwrite(f, \"end %0s %0d %0d\", how, status, pos);\n".to_string();
    for i in 0..Counters::NAMES.len() {
        end_run += &format!("      {}\n      $fwrite(f, \" %0d\", got);\n", counter_value(a, i));
    }
    end_run += "      $fwrite(f, \"\\n\");\n      $fclose(f);\n";
    let hooks = Hooks {
        decls: "  integer f;".into(),
        init: "    f = $fopen(\"record.txt\", \"w\");\n".into(),
        on_beat: "        $fwrite(f, \"b %0d %h\\n\", cyc, out_data);\n".into(),
        on_input: "        $fwrite(f, \"i %0d\\n\", cyc);\n".into(),
        end_run,
    };
    harness(a, n, stalls, max_cycles, "// GENERATED by tern's IverilogBackend; do not edit.", &hooks)
}

/// A record (`recorder`) as the run it describes.
fn parse_record(a: &Accel, text: &str) -> Result<RunResult, String> {
    let (mut results, mut beat_cycles, mut in_cycles) = (Vec::new(), BeatCycles::default(), BeatCycles::default());
    let per_beat = a.results_per_beat as usize;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let num = |s: &str| s.parse::<u64>().map_err(|_| format!("record line `{line}`: `{s}` is not a number"));
        match f.as_slice() {
            ["i", c] => in_cycles.push(num(c)?, 1),
            ["b", c, hex] => {
                beat_cycles.push(num(c)?, 1);
                let d = u128::from_str_radix(hex, 16).map_err(|_| format!("record line `{line}`: not hex"))?;
                results.extend((0..per_beat).map(|w| (d >> (32 * w)) as u32 as i32));
            }
            ["end", how, status, consumed, cnt @ ..] if cnt.len() == Counters::NAMES.len() => {
                let code = num(status)? as u32;
                let status = Status::from_code(code).ok_or(format!("unknown status code {code}"))?;
                let mut c = [0u64; Counters::NAMES.len()];
                for (v, s) in c.iter_mut().zip(cnt) {
                    *v = num(s)?;
                }
                let stopped = match *how {
                    "stopped" => None,
                    "starved" => Some(StopReason::Starved),
                    "watchdog" => Some(StopReason::Watchdog),
                    other => return Err(format!("unknown end `{other}`")),
                };
                return Ok(RunResult {
                    results,
                    beat_cycles,
                    in_cycles,
                    counters: Counters::from_array(c),
                    status,
                    consumed: num(consumed)? as usize,
                    stopped,
                });
            }
            _ => return Err(format!("record line `{line}` is not understood")),
        }
    }
    Err("the record has no end line (the simulation did not finish)".into())
}

impl Backend for IverilogBackend {
    fn name(&self) -> &'static str {
        "iverilog"
    }
    fn accel(&self) -> &Accel {
        &self.a
    }
    fn run(&mut self, beats: &[u64], stalls: &Stalls, max_cycles: u64) -> Result<RunResult, BackendError> {
        let err = |msg: String| BackendError { backend: "iverilog", msg };
        let d: &Path = &self.dir;
        let write = |name: &str, text: String| std::fs::write(d.join(name), text).map_err(|e| err(format!("writing {name}: {e}")));
        write("program.hex", hex_lines(beats.iter().copied(), self.a.cfg.host_bits as usize / 4))?;
        write("tb_tern.v", recorder(&self.a, beats.len(), stalls, max_cycles))?;
        let _ = std::fs::remove_file(d.join("record.txt"));
        let run = |cmd: &mut Command, what: &str| -> Result<(), BackendError> {
            let out = cmd.current_dir(d).output().map_err(|e| err(format!("{what}: {e}")))?;
            if out.status.success() { Ok(()) } else { Err(err(format!("{what} failed: {}", String::from_utf8_lossy(&out.stderr)))) }
        };
        run(Command::new("iverilog").args(["-g2012", "-o", "tb", "tern_top.v", "tb_tern.v"]), "iverilog")?;
        run(Command::new("vvp").args(["-n", "tb"]), "vvp")?;
        let text = std::fs::read_to_string(d.join("record.txt")).map_err(|e| err(format!("reading the record: {e}")))?;
        parse_record(&self.a, &text).map_err(err)
    }
}

/// How `UartSim`'s simulated host behaves on the serial line (all off: a host that sends at
/// line rate whenever the board's RTS allows and always takes what the board sends).
#[derive(Clone, Copy, Debug, Default)]
pub struct UartHost {
    /// Random idle gaps between sent bytes, and random stretches of CTS high (not taking).
    pub pauses: bool,
    /// CTS held high (the host takes nothing) for this many cycles after the break.
    pub cts_hold_cycles: u64,
    /// Send even while the board's RTS says stop (a host without flow control).
    pub ignore_rts: bool,
    /// Send byte `i`'s stop bit low (a framing error on the line).
    pub bad_stop_at: Option<usize>,
    /// The host's baud rate off the board's, as a fraction (0.02: the host's bits 2% short):
    /// a UART divider may be up to 2% off (`UartSpec::for_baud`), so both ends must cope.
    pub rate_error: f64,
    /// Build the board with a PLL (`board::BoardSpec::pll`), simulated by a stand-in
    /// `tern_pll` that passes the clock through and raises `lock` after this many cycles
    /// (`u64::MAX`: never).
    pub pll_lock_after: Option<u64>,
    /// Cycles before the host starts its break (0: 4).
    pub start_cycle: u64,
}

/// `tern_board` with a UART link (generic fabric) in Icarus Verilog behind `bridge::Transport`: each
/// exchange simulates a serial host that sends a break, then the bytes bit by bit at
/// `clks_per_bit` (waiting while the board's RTS is high), and receives the board's bytes off
/// its TX line, until the reply is complete or the line is quiet. Every exchange starts a fresh
/// simulation, so memories do not outlive a run here (they do on a board).
pub struct UartSim {
    dir: PathBuf,
    cpb: u32,
    pub host: UartHost,
    /// The LEDs (run, ok, err) at the end of the last exchange.
    pub leds: String,
}

impl UartSim {
    pub fn new(a: &Accel, uart: tern_hdl::uart::UartSpec, host: UartHost) -> Result<UartSim, String> {
        if Command::new("iverilog").arg("-V").output().is_err() {
            return Err("`iverilog` was not found: run ./setup.sh (it installs iverilog)".into());
        }
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tern-uart-{}-{}-{k}", a.cfg.name.replace([':', ',', '='], "_"), std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        // any PLL setting: the stand-in below does not divide
        let pll = host.pll_lock_after.map(|_| {
            tern_hdl::pll::PllSpec::nearest(tern_hdl::pll::PllKind::Ice40Pad, 12_000_000, 50_000_000).expect("a PLL setting for 50 MHz")
        });
        let spec = tern_hdl::board::BoardSpec { leds_active_low: false, link: tern_hdl::board::Link::Uart(uart), pll };
        let mut v = tern_hdl::board::emit_without_pll(a, spec, tern_hdl::Fabric::Generic);
        if let Some(n) = host.pll_lock_after {
            let lock = if n == u64::MAX { "1'b0".to_string() } else { format!("n >= 64'd{n}") };
            v.push_str(&format!(
                "module tern_pll (input wire osc, output wire clk, output wire lock);
  reg [63:0] n = 0;
  always @(posedge osc) if (n != {{64{{1'b1}}}}) n <= n + 1;
  assign clk = osc;
  assign lock = {lock};
endmodule
"
            ));
        }
        std::fs::write(dir.join("board.v"), v).map_err(|e| format!("writing board.v: {e}"))?;
        Ok(UartSim { dir, cpb: uart.clks_per_bit, host, leds: String::new() })
    }

    fn bench(&self, n: usize, want: usize, quiet: u64) -> String {
        let h = &self.host;
        let cpb = self.cpb;
        let brk = (tern_hdl::uart::BREAK_BITS + 5) * cpb;
        format!(
            "`timescale 1ns/1ps
module tb;
  reg clk = 0;
  always #5 clk = ~clk;
  reg uart_rx = 1'b1, uart_cts_n = 1'b0;
  wire uart_tx, uart_rts_n, led_run, led_ok, led_err;
  tern_board dut (.clk(clk), .rst_n(1'b1), .uart_rx(uart_rx), .uart_tx(uart_tx), .uart_cts_n(uart_cts_n),
    .uart_rts_n(uart_rts_n), .led_run(led_run), .led_ok(led_ok), .led_err(led_err));
  reg [7:0] mem [0:{mem_last}];
  reg [7:0] rb, sb;
  integer n = {n}, want = {want}, quiet = {quiet}, f, i, ks, kr, got = 0, sent_all = 0, seed = 7, seed2 = 11;
  reg [63:0] cyc = 0, last = 0, bad = {bad};
  initial begin
    if (n > 0) $readmemh(\"in.hex\", mem, 0, n - 1);
    f = $fopen(\"out.txt\", \"w\");
  end
  always @(posedge clk) begin
    cyc <= cyc + 1;
    // done: the reply is in, or the line was quiet after the last byte, or the board's RTS has
    // held the host off for as long (a board that never takes input, e.g. held in reset)
    if (got == want || (sent_all && cyc - last > quiet) || (uart_rts_n && cyc - last > quiet + {hold})) begin
      $fwrite(f, \"leds %b%b%b\\n\", led_run, led_ok, led_err); $fclose(f); $finish;
    end
  end
  // the host: a break, then the bytes
  initial begin
    repeat ({start}) @(posedge clk);
    uart_rx = 1'b0; repeat ({brk}) @(posedge clk);
    uart_rx = 1'b1; repeat ({idle}) @(posedge clk);
    for (i = 0; i < n; i = i + 1) begin
      while (uart_rts_n & ~{ignore}) @(posedge clk);
      if ({pauses} && ($random(seed) & 7) == 0) repeat (($random(seed) & 63) + 1) @(posedge clk);
      sb = mem[i];
      uart_rx = 1'b0; #({bit_ns:.3});
      for (ks = 0; ks < 8; ks = ks + 1) begin uart_rx = sb[ks]; #({bit_ns:.3}); end
      uart_rx = (i == bad) ? 1'b0 : 1'b1; #({bit_ns:.3});
      uart_rx = 1'b1;
      last = cyc;
    end
    sent_all = 1;
  end
  // CTS: held high after the break, then (with pauses) random stretches high
  initial begin
    uart_cts_n = {hold_on};
    repeat ({hold}) @(posedge clk);
    uart_cts_n = 1'b0;
    forever begin
      repeat (($random(seed2) & 1023) + 1) @(posedge clk);
      if ({pauses}) begin uart_cts_n = 1'b1; repeat (($random(seed2) & 255) + 1) @(posedge clk); uart_cts_n = 1'b0; end
    end
  end
  // the host's receiver: mid-bit samples of the board's TX line
  initial forever begin
    @(negedge uart_tx);
    #({half_ns:.3});
    if (uart_tx == 1'b0) begin
      for (kr = 0; kr < 8; kr = kr + 1) begin #({bit_ns:.3}); rb[kr] = uart_tx; end
      #({bit_ns:.3});
      if (uart_tx != 1'b1) $fwrite(f, \"framing\\n\");
      $fwrite(f, \"%02x\\n\", rb);
      got = got + 1;
      last = cyc;
    end
  end
endmodule
",
            mem_last = n.max(1) - 1,
            bad = h.bad_stop_at.map_or(u64::MAX, |i| i as u64),
            idle = 4 * cpb,
            // the host's own bit time (the clock's period is 10 ns), sampled mid-bit
            bit_ns = 10.0 * cpb as f64 / (1.0 + h.rate_error),
            half_ns = 5.0 * cpb as f64 / (1.0 + h.rate_error),
            ignore = if h.ignore_rts { "1'b1" } else { "1'b0" },
            pauses = if h.pauses { 1 } else { 0 },
            hold_on = if h.cts_hold_cycles > 0 { "1'b1" } else { "1'b0" },
            hold = h.cts_hold_cycles.max(1),
            start = h.start_cycle.max(4),
        )
    }
}

impl Drop for UartSim {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl crate::bridge::Transport for UartSim {
    fn kind(&self) -> &'static str {
        "board-sim"
    }
    fn describe(&self) -> String {
        format!("the UART board in iverilog at {} clocks a bit", self.cpb)
    }
    /// Every exchange begins with a break here.
    fn reset(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    /// Simulated time has no wall clock: instead of `quiet` the simulation ends once nothing
    /// moved on the line for 20,000 bit times.
    fn exchange(&mut self, out: &[u8], want: usize, _quiet: std::time::Duration) -> std::io::Result<Vec<u8>> {
        let d: &Path = &self.dir;
        let fail = |m: String| std::io::Error::other(m);
        std::fs::write(d.join("in.hex"), hex_lines(out.iter().map(|&b| b as u64), 2))?;
        let want = want.min(i32::MAX as usize);
        let quiet = 20_000 * self.cpb as u64;
        std::fs::write(d.join("tb.v"), self.bench(out.len(), want, quiet))?;
        let run = |cmd: &mut Command, what: &str| -> std::io::Result<()> {
            let o = cmd.current_dir(d).output()?;
            if o.status.success() { Ok(()) } else { Err(fail(format!("{what} failed: {}", String::from_utf8_lossy(&o.stderr)))) }
        };
        run(Command::new("iverilog").args(["-g2012", "-o", "tb", "board.v", "tb.v"]), "iverilog")?;
        run(Command::new("vvp").args(["-n", "tb"]), "vvp")?;
        let text = std::fs::read_to_string(d.join("out.txt"))?;
        let mut got = Vec::new();
        for line in text.lines() {
            if let Some(l) = line.strip_prefix("leds ") {
                self.leds = l.to_string();
            } else if line == "framing" {
                return Err(fail("the board sent a byte with a bad stop bit".into()));
            } else {
                got.push(u8::from_str_radix(line, 16).map_err(|e| fail(format!("out.txt: {line:?}: {e}")))?);
            }
        }
        Ok(got)
    }
}
