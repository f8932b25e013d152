//! The host's side of a board: programs as bytes over the board's link (`tern_board`, byte-wide
//! or through its UART), results and the trailer back, and `BoardBackend`, a `Backend` that runs
//! programs on a real FPGA through a serial port (or on the board's RTL in a simulator, through
//! another `Transport`).
//!
//! The bytes (hdl/src/board.rs): each program beat as H/8 bytes, little-endian; back, each
//! result beat as H/8 bytes (H/32 int32s, little-endian), then, once the core stopped (HALT or
//! an error), the trailer: the status byte and the ten event counters, `counter_bits` each,
//! packed little-endian. A run starts with a reset (a UART break), as `Backend::run` does.
//!
//! How the host knows a run ended: the instruction stream alone says how many result beats a
//! program that reaches its HALT sends (`plan`: a walk over the instructions and their data
//! beats, not a model of the machine), so a halting run ends when those bytes and the trailer
//! are in. A run that stops early (an error status) sends fewer, then its trailer, whose
//! `out_beats` counter tells where the results end: the host takes the reply once the link
//! has been quiet for `quiet`. A program that never stops (no HALT, or a link that lost a byte:
//! the board's error LED) sends no trailer, and the run fails saying so.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tern_arch::config::Accel;
use tern_arch::golden::{Counters, RunResult};
use tern_arch::isa::{Insn, Status};
use tern_arch::{Backend, BackendError, Stalls};

/// Bytes a program sends over the link: each beat's H/8 bytes, little-endian.
pub fn program_bytes(a: &Accel, beats: &[u64]) -> Vec<u8> {
    let nb = a.cfg.host_bits as usize / 8;
    beats.iter().flat_map(|b| b.to_le_bytes().into_iter().take(nb)).collect()
}

/// What a program's instruction stream asks of the link, read from the stream alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamPlan {
    /// Result beats a run to the HALT sends (one snapshot per MATVEC with `store`).
    pub result_beats: u64,
    /// The stream reaches a HALT (through well-formed instructions only).
    pub halts: bool,
}

/// Walks the instructions (skipping each load's data beats) to the HALT, the first word that is
/// no instruction, or the end.
pub fn plan(a: &Accel, beats: &[u64]) -> StreamPlan {
    let mut p = StreamPlan { result_beats: 0, halts: false };
    let mut pos = 0;
    while pos < beats.len() {
        let Ok(insn) = Insn::decode_beat(beats[pos]) else { break };
        match insn {
            Insn::Halt => {
                p.halts = true;
                break;
            }
            Insn::MatVec { store: true, .. } => p.result_beats += a.out_beats as u64,
            _ => {}
        }
        pos += 1 + tern_fw::tasm::data_beats(a, &insn);
    }
    p
}

/// Bytes a halting run sends back: its result beats and the trailer.
pub fn reply_bytes(a: &Accel, plan: &StreamPlan) -> usize {
    plan.result_beats as usize * (a.cfg.host_bits as usize / 8) + tern_hdl::board::trailer_bytes(a) as usize
}

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("{path}: {msg}")]
    Port { path: PathBuf, msg: String },
    #[error("the trailer's status byte {byte:#04x} is no status code")]
    BadStatus { byte: u8 },
    #[error(
        "the board sent {got} bytes, then nothing for {quiet_ms} ms: no trailer{why} (a program without HALT never stops; the board's error LED means the link lost a byte: check the baud rate and the RTS/CTS wires)"
    )]
    NoTrailer { got: usize, quiet_ms: u128, why: String },
    #[error(
        "the board's reply is {got} bytes, but its trailer counts {beats} result beats ({want} bytes with the trailer): bytes were lost or added on the link"
    )]
    Inconsistent { got: usize, beats: u64, want: usize },
    #[error("the board sent {got} bytes, more than the {want} this program's results and trailer take")]
    TooLong { got: usize, want: usize },
}

/// The trailer: status and the event counters as the board counted them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trailer {
    pub status: Status,
    pub counters: Counters,
}

/// Reads a trailer (`trailer_bytes` bytes): the status byte (high nibble zero), then the
/// counters packed little-endian, `counter_bits` each.
pub fn parse_trailer(a: &Accel, bytes: &[u8]) -> Result<Trailer, BridgeError> {
    debug_assert_eq!(bytes.len(), tern_hdl::board::trailer_bytes(a) as usize);
    let status = if bytes[0] >> Status::BITS == 0 { Status::from_code(bytes[0] as u32) } else { None };
    let status = status.ok_or(BridgeError::BadStatus { byte: bytes[0] })?;
    let cb = a.cfg.counter_bits as usize;
    let bit = |i: usize| (bytes[1 + i / 8] >> (i % 8)) & 1 == 1;
    let mut c = [0u64; Counters::NAMES.len()];
    for (k, v) in c.iter_mut().enumerate() {
        *v = (0..cb).fold(0u64, |v, i| v | (bit(k * cb + i) as u64) << i);
    }
    Ok(Trailer { status, counters: Counters::from_array(c) })
}

/// The inverse of `parse_trailer`, for tests and for transports that stand in for a board.
pub fn trailer_of(a: &Accel, status: Status, counters: &Counters) -> Vec<u8> {
    let cb = a.cfg.counter_bits as usize;
    let mut t = vec![0u8; tern_hdl::board::trailer_bytes(a) as usize];
    t[0] = status as u8;
    for (k, v) in counters.to_array().into_iter().enumerate() {
        for i in 0..cb {
            if v >> i & 1 == 1 {
                let b = k * cb + i;
                t[1 + b / 8] |= 1 << (b % 8);
            }
        }
    }
    t
}

/// Results and trailer of a whole reply, checked: the trailer's `out_beats` must account for
/// every byte before it.
pub fn parse_reply(a: &Accel, bytes: &[u8]) -> Result<(Vec<i32>, Trailer), BridgeError> {
    let tb = tern_hdl::board::trailer_bytes(a) as usize;
    let nb = a.cfg.host_bits as usize / 8;
    let trailer = parse_trailer(a, &bytes[bytes.len() - tb..])?;
    let want = trailer.counters.out_beats as usize * nb + tb;
    if want != bytes.len() {
        return Err(BridgeError::Inconsistent { got: bytes.len(), beats: trailer.counters.out_beats, want });
    }
    let results = bytes[..bytes.len() - tb].chunks(4).map(|c| i32::from_le_bytes(c.try_into().unwrap())).collect();
    Ok((results, trailer))
}

/// A byte link to a board.
pub trait Transport {
    /// The backend's name in reports: "board" (a real one), "board-sim" (its RTL simulated).
    fn kind(&self) -> &'static str;
    /// What it is, for messages ("/dev/ttyUSB1 at 3000000 baud").
    fn describe(&self) -> String;
    /// Resets the board (a UART break; block RAM keeps its contents) and drops whatever it
    /// sent before.
    fn reset(&mut self) -> io::Result<()>;
    /// Sends `out` while collecting what comes back, until `want` bytes are in or nothing has
    /// arrived for `quiet` (after `out` was sent).
    fn exchange(&mut self, out: &[u8], want: usize, quiet: Duration) -> io::Result<Vec<u8>>;
}

/// A `Backend` on a board: each run resets the board, streams the program's bytes and reads
/// the results and the trailer. Results, status and the event counters are the board's; the
/// cycles in which beats moved are not observable through the link (left empty), and the
/// counters in `Counters::LINK_TIMED` count the board's own pace, so compare a board's run
/// with `RunResult::first_event_difference`. `consumed` is derived from the trailer's counts
/// of instructions and loaded words.
pub struct BoardBackend<T: Transport> {
    a: Accel,
    link: T,
    /// How long a silent link means the board has said all it will.
    pub quiet: Duration,
}

impl<T: Transport> BoardBackend<T> {
    pub fn new(a: &Accel, link: T) -> BoardBackend<T> {
        BoardBackend { a: a.clone(), link, quiet: Duration::from_millis(500) }
    }
    pub fn link(&self) -> &T {
        &self.link
    }
}

impl<T: Transport> Backend for BoardBackend<T> {
    fn name(&self) -> &'static str {
        self.link.kind()
    }
    fn accel(&self) -> &Accel {
        &self.a
    }
    /// `stalls` must be `Stalls::NONE` (the link paces the board); `max_cycles` is not enforced
    /// on a board: `quiet` ends a run that stops talking.
    fn run(&mut self, beats: &[u64], stalls: &Stalls, _max_cycles: u64) -> Result<RunResult, BackendError> {
        let kind = self.link.kind();
        let fail = |msg: String| BackendError { backend: kind, msg };
        if !stalls.is_none() {
            return Err(fail("a board's link sets its own pace: run it without injected stalls".into()));
        }
        let plan = plan(&self.a, beats);
        let want = if plan.halts { reply_bytes(&self.a, &plan) } else { usize::MAX };
        let what = self.link.describe();
        let io_err = |e: io::Error| fail(format!("{what}: {e}"));
        self.link.reset().map_err(io_err)?;
        let reply = self.link.exchange(&program_bytes(&self.a, beats), want, self.quiet).map_err(io_err)?;
        let tb = tern_hdl::board::trailer_bytes(&self.a) as usize;
        let quiet_ms = self.quiet.as_millis();
        if reply.len() > want {
            return Err(fail(BridgeError::TooLong { got: reply.len(), want }.to_string()));
        }
        if reply.len() < tb {
            let why = if reply.is_empty() { " and no results".to_string() } else { String::new() };
            return Err(fail(BridgeError::NoTrailer { got: reply.len(), quiet_ms, why }.to_string()));
        }
        let (results, trailer) = parse_reply(&self.a, &reply).map_err(|e| match e {
            // bytes that end in no valid trailer: most likely the core never stopped
            BridgeError::Inconsistent { .. } | BridgeError::BadStatus { .. } if reply.len() < want => {
                fail(BridgeError::NoTrailer { got: reply.len(), quiet_ms, why: format!(" that accounts for them ({e})") }.to_string())
            }
            e => fail(e.to_string()),
        })?;
        // beats consumed, as the board counted them
        let consumed = trailer.counters.input_beats(&self.a) as usize;
        Ok(RunResult {
            results,
            beat_cycles: Default::default(),
            in_cycles: Default::default(),
            counters: trailer.counters,
            status: trailer.status,
            consumed,
            stopped: None,
        })
    }
}

/// A serial port in raw mode with RTS/CTS flow control (a USB-UART bridge to a board
/// built with `tern synth --link uart`).
pub struct SerialPort {
    file: std::fs::File,
    path: PathBuf,
    baud: u32,
}

/// The baud rates Linux names (`termios` B constants) from 9600 up.
const BAUDS: [(u32, libc::speed_t); 16] = [
    (9600, libc::B9600),
    (19200, libc::B19200),
    (38400, libc::B38400),
    (57600, libc::B57600),
    (115200, libc::B115200),
    (230400, libc::B230400),
    (460800, libc::B460800),
    (500000, libc::B500000),
    (921600, libc::B921600),
    (1000000, libc::B1000000),
    (1500000, libc::B1500000),
    (2000000, libc::B2000000),
    (2500000, libc::B2500000),
    (3000000, libc::B3000000),
    (3500000, libc::B3500000),
    (4000000, libc::B4000000),
];

impl SerialPort {
    pub fn open(path: &Path, baud: u32) -> Result<SerialPort, BridgeError> {
        use std::os::unix::fs::OpenOptionsExt;
        use std::os::unix::io::AsRawFd;
        let err = |msg: String| BridgeError::Port { path: path.to_path_buf(), msg };
        let Some(&(_, speed)) = BAUDS.iter().find(|(b, _)| *b == baud) else {
            let list: Vec<String> = BAUDS.iter().map(|(b, _)| b.to_string()).collect();
            return Err(err(format!("baud rate {baud} is not one the serial driver names ({})", list.join(", "))));
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(path)
            .map_err(|e| err(format!("cannot open: {e}")))?;
        let fd = file.as_raw_fd();
        // SAFETY: `t` is a plain C struct filled by tcgetattr on an open descriptor.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(fd, &mut t) } != 0 {
            return Err(err(format!("not a serial port ({})", io::Error::last_os_error())));
        }
        unsafe {
            libc::cfmakeraw(&mut t);
            libc::cfsetispeed(&mut t, speed);
            libc::cfsetospeed(&mut t, speed);
        }
        t.c_cflag |= libc::CRTSCTS | libc::CLOCAL | libc::CREAD;
        t.c_cc[libc::VMIN] = 0;
        t.c_cc[libc::VTIME] = 0;
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) } != 0 {
            return Err(err(format!("cannot set raw mode at {baud} baud ({})", io::Error::last_os_error())));
        }
        Ok(SerialPort { file, path: path.to_path_buf(), baud })
    }

    fn fd(&self) -> i32 {
        use std::os::unix::io::AsRawFd;
        self.file.as_raw_fd()
    }
}

fn check(r: i32) -> io::Result<()> {
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

impl Transport for SerialPort {
    fn kind(&self) -> &'static str {
        "board"
    }
    fn describe(&self) -> String {
        format!("{} at {} baud", self.path.display(), self.baud)
    }

    fn reset(&mut self) -> io::Result<()> {
        let fd = self.fd();
        // SAFETY: plain termios calls on an open descriptor.
        check(unsafe { libc::tcflush(fd, libc::TCIOFLUSH) })?;
        // a break twice as long as the board needs, at least 1 ms: not tcsendbreak's 0.25 s,
        // which a model's dozens of runs per token would pay each
        let bit_times = 2 * tern_hdl::uart::BREAK_BITS;
        let bits = Duration::from_secs_f64(bit_times as f64 / self.baud as f64).max(Duration::from_millis(1));
        check(unsafe { libc::ioctl(fd, libc::TIOCSBRK) })?;
        std::thread::sleep(bits);
        check(unsafe { libc::ioctl(fd, libc::TIOCCBRK) })?;
        // the line idles high before the first start bit; then drop what came before the reset
        std::thread::sleep(Duration::from_millis(1));
        check(unsafe { libc::tcflush(fd, libc::TCIFLUSH) })
    }

    fn exchange(&mut self, out: &[u8], want: usize, quiet: Duration) -> io::Result<Vec<u8>> {
        use std::io::{Read, Write};
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        use std::time::Instant;
        // the board answers while it still reads the program (results of one tile come back
        // before the next tile is in), so send on a thread and read here: with flow control
        // on, each side would otherwise wait for the other. A core that stopped early takes no
        // more bytes, so the writer can block for good: it sends in chunks and stops on `abort`
        // once the output queue is flushed.
        let mut w = self.file.try_clone()?;
        let (sent, abort) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let (out, sent_w, abort_w) = (out.to_vec(), sent.clone(), abort.clone());
        let writer = std::thread::spawn(move || -> io::Result<()> {
            for chunk in out.chunks(256) {
                if abort_w.load(Ordering::Relaxed) {
                    break;
                }
                w.write_all(chunk)?;
                sent_w.fetch_add(chunk.len(), Ordering::Relaxed);
            }
            w.flush()
        });
        let fd = self.fd();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // quiet: nothing received and nothing sent (a long send is not silence)
        let (mut last, mut last_sent) = (Instant::now(), 0);
        while got.len() < want {
            // SAFETY: one pollfd on an open descriptor.
            let n = unsafe { libc::poll(&mut pfd, 1, 20) };
            check(n)?;
            if n > 0 {
                let room = (want - got.len()).min(buf.len());
                let k = (&self.file).read(&mut buf[..room])?;
                if k == 0 {
                    // readable with nothing to read: the device went away (unplugged)
                    abort.store(true, Ordering::Relaxed);
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the serial port closed (was the board unplugged?)"));
                }
                got.extend_from_slice(&buf[..k]);
                last = Instant::now();
            } else if sent.load(Ordering::Relaxed) != last_sent {
                last_sent = sent.load(Ordering::Relaxed);
                last = Instant::now();
            } else if last.elapsed() >= quiet {
                break;
            }
        }
        abort.store(true, Ordering::Relaxed);
        // SAFETY: a termios call on an open descriptor; unblocks a writer the board stopped
        check(unsafe { libc::tcflush(fd, libc::TCOFLUSH) })?;
        writer.join().map_err(|_| io::Error::other("the writer thread panicked"))??;
        Ok(got)
    }
}
