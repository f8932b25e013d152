//! tern-sim: the Verilator backend.
//!
//! Verilator 5.006 (Debian) is driven directly: the crates.io `verilated` binding targets
//! Verilator 4, so the project owns this thin one. For a geometry, `build` emits the Verilog
//! (tern-hdl), runs `verilator --cc`, compiles the model, the Verilator runtime and a generated
//! C++ shim into a shared object, and caches it under a hash of the Verilog and shim, so each
//! configuration is built once per machine and reused by every test and run. Building at run
//! time (not in build.rs) is what lets `tern layer --preset ANY --backend verilator` and the
//! proptest over several configs work without a rebuild of the crate.
//!
//! `VerilatorBackend` implements `tern_arch::Backend`; one FFI call steps up to 64 Ki cycles.
//! Two optional variants, each cached under its own key: a VCD trace (`with_trace`) and toggle
//! coverage (`with_coverage`: per-bit change counts for the energy model's activity estimate).

mod shim;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use tern_arch::config::Accel;
use tern_arch::golden::{BeatCycles, Counters, RunResult, StopReason};
use tern_arch::isa::Status;
use tern_arch::{Backend, BackendError, Stalls};

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("`{tool}` was not found: run ./setup.sh (it installs verilator and g++)")]
    MissingTool { tool: &'static str },
    #[error("`{cmd}` failed (log: {log})")]
    ToolFailed { cmd: String, log: PathBuf },
    #[error("io error on {path}: {err}")]
    Io { path: PathBuf, err: std::io::Error },
    #[error("cannot load the simulation library {path}: {err}")]
    Load { path: PathBuf, err: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SimError + '_ {
    move |err| SimError::Io { path: path.to_path_buf(), err }
}

/// Where built models are cached: `$TERN_SIM_CACHE`, else `target/tern-sim` of the workspace.
pub fn cache_root() -> PathBuf {
    if let Ok(p) = std::env::var("TERN_SIM_CACHE") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target").join("tern-sim")
}

fn fnv64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

static BUILD_LOCK: Mutex<()> = Mutex::new(());

fn run_logged(cmd: &mut Command, log: &Path) -> Result<(), SimError> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            let tool = if shown.contains("verilator") { "verilator" } else { "g++" };
            SimError::MissingTool { tool }
        } else {
            SimError::Io { path: log.to_path_buf(), err: e }
        }
    })?;
    let mut text = out.stdout;
    text.extend_from_slice(&out.stderr);
    std::fs::write(log, &text).map_err(io(log))?;
    if !out.status.success() {
        return Err(SimError::ToolFailed { cmd: shown, log: log.to_path_buf() });
    }
    Ok(())
}

/// Build (or find in the cache) the shared object for a geometry. Returns its path.
pub fn build(a: &Accel, trace: bool) -> Result<PathBuf, SimError> {
    build_variant(a, trace, false)
}

/// `build` with toggle coverage on or off. The coverage variant (`verilator --coverage-toggle`)
/// counts every change of every bit of every signal and can write them to a `coverage.dat`
/// (the energy model's activity refinement); it is cached separately under its own key, and
/// the default build (key, Verilog, shim) is exactly the one without coverage.
pub fn build_variant(a: &Accel, trace: bool, coverage: bool) -> Result<PathBuf, SimError> {
    let verilog = tern_hdl::emit(a);
    let mut shim = shim::cpp(a);
    if coverage {
        shim.push_str(shim::COVERAGE_CPP);
    }
    let key = if coverage {
        fnv64(format!("{verilog}{shim}{trace}coverage").as_bytes())
    } else {
        fnv64(format!("{verilog}{shim}{trace}").as_bytes())
    };
    let dir =
        cache_root().join(format!("{}-{key:016x}{}{}", a.cfg.name, if trace { "-trace" } else { "" }, if coverage { "-cov" } else { "" }));
    let lib = dir.join("libtern_sim.so");
    if lib.exists() {
        return Ok(lib);
    }
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if lib.exists() {
        return Ok(lib);
    }
    // build in a private folder, then rename: concurrent processes never see half a build
    let tmp = cache_root().join(format!("tmp-{key:016x}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let obj = tmp.join("obj");
    std::fs::create_dir_all(&obj).map_err(io(&obj))?;
    let v = tmp.join("tern_top.v");
    std::fs::write(&v, &verilog).map_err(io(&v))?;
    let s = tmp.join("shim.cpp");
    std::fs::write(&s, &shim).map_err(io(&s))?;
    let mut vl = Command::new("verilator");
    vl.current_dir(&tmp).args(["--cc", "tern_top.v", "--top-module", "tern_top", "-Mdir", "obj", "-O3"]).args([
        "--x-assign",
        "0",
        "--x-initial",
        "0",
        "-Wno-fatal",
        "-CFLAGS",
        "-fPIC -O2",
        "--build",
        "-j",
        "2",
    ]);
    if trace {
        vl.arg("--trace");
    }
    if coverage {
        vl.arg("--coverage-toggle");
    }
    run_logged(&mut vl, &tmp.join("verilator.log"))?;
    let inc = verilator_include()?;
    let mut gpp = Command::new("g++");
    gpp.current_dir(&tmp)
        .args(["-shared", "-fPIC", "-O2", "-std=c++17", "-DVL_TIME_CONTEXT", "-Iobj"])
        .arg(format!("-I{}", inc.display()))
        .arg(format!("-I{}", inc.join("vltstd").display()))
        .arg(format!("-DVM_TRACE={}", u8::from(trace)));
    if coverage {
        gpp.arg("-DVM_COVERAGE=1");
    }
    gpp.args(["shim.cpp", "obj/Vtern_top__ALL.a"]).arg(inc.join("verilated.cpp")).arg(inc.join("verilated_threads.cpp"));
    if trace {
        gpp.arg(inc.join("verilated_vcd_c.cpp"));
    }
    if coverage {
        gpp.arg(inc.join("verilated_cov.cpp"));
    }
    gpp.args(["-o", "libtern_sim.so", "-lpthread", "-latomic"]);
    run_logged(&mut gpp, &tmp.join("gpp.log"))?;
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&tmp, &dir).map_err(io(&dir))?;
    Ok(lib)
}

fn verilator_include() -> Result<PathBuf, SimError> {
    let root = std::env::var("VERILATOR_ROOT").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from("/usr/share/verilator"));
    let inc = root.join("include");
    if inc.join("verilated.cpp").exists() { Ok(inc) } else { Err(SimError::MissingTool { tool: "verilator" }) }
}

type NewFn = unsafe extern "C" fn() -> *mut std::ffi::c_void;
type PtrFn = unsafe extern "C" fn(*mut std::ffi::c_void);
type TraceFn = unsafe extern "C" fn(*mut std::ffi::c_void, *const std::ffi::c_char) -> i32;
type StatusFn = unsafe extern "C" fn(*mut std::ffi::c_void) -> u32;
type CountersFn = unsafe extern "C" fn(*mut std::ffi::c_void, *mut u64);
type CovWriteFn = unsafe extern "C" fn(*mut std::ffi::c_void, *const std::ffi::c_char) -> i32;
type RunFn = unsafe extern "C" fn(
    *mut std::ffi::c_void,
    *const u64,
    u64,
    *mut u64,
    *const u64,
    *const u64,
    i32,
    u64,
    u64,
    *mut u64,
    *mut u32,
    *mut u32,
    *mut u64,
    u64,
    *mut u64,
    *mut u64,
    *mut u64,
) -> i32;

/// The RTL, simulated by Verilator, behind `Backend`.
pub struct VerilatorBackend {
    a: Accel,
    _lib: libloading::Library,
    handle: *mut std::ffi::c_void,
    free: PtrFn,
    reset: PtrFn,
    run: RunFn,
    status: StatusFn,
    counters: CountersFn,
    trace: TraceFn,
    /// `tern_cov_write` / `tern_cov_zero`, present in the coverage build only.
    cov: Option<(CovWriteFn, PtrFn)>,
}

// The model is only touched through &mut self.
unsafe impl Send for VerilatorBackend {}

const BATCH: usize = 1 << 16;

impl VerilatorBackend {
    pub fn new(a: &Accel) -> Result<VerilatorBackend, SimError> {
        Self::with_trace(a, None)
    }

    /// With `Some(path)`, a VCD of every cycle is written there (a separately cached build).
    pub fn with_trace(a: &Accel, vcd: Option<&Path>) -> Result<VerilatorBackend, SimError> {
        Self::open(a, vcd, false)
    }

    /// The toggle-coverage build: every bit change of every signal is counted from
    /// construction on (across runs) until `zero_coverage`; `write_coverage` writes them.
    pub fn with_coverage(a: &Accel) -> Result<VerilatorBackend, SimError> {
        Self::open(a, None, true)
    }

    fn open(a: &Accel, vcd: Option<&Path>, coverage: bool) -> Result<VerilatorBackend, SimError> {
        let path = build_variant(a, vcd.is_some(), coverage)?;
        // SAFETY: the library is one this crate generated and built; symbols match the shim.
        unsafe {
            let lib = libloading::Library::new(&path).map_err(|e| SimError::Load { path: path.clone(), err: e.to_string() })?;
            let sym = |name: &[u8]| -> Result<*const (), SimError> {
                lib.get::<*const ()>(name).map(|s| *s).map_err(|e| SimError::Load { path: path.clone(), err: e.to_string() })
            };
            let new: NewFn = std::mem::transmute(sym(b"tern_new")?);
            let cov = if coverage {
                Some((
                    std::mem::transmute::<*const (), CovWriteFn>(sym(b"tern_cov_write")?),
                    std::mem::transmute::<*const (), PtrFn>(sym(b"tern_cov_zero")?),
                ))
            } else {
                None
            };
            let b = VerilatorBackend {
                a: a.clone(),
                handle: new(),
                free: std::mem::transmute::<*const (), PtrFn>(sym(b"tern_free")?),
                reset: std::mem::transmute::<*const (), PtrFn>(sym(b"tern_reset")?),
                run: std::mem::transmute::<*const (), RunFn>(sym(b"tern_run")?),
                status: std::mem::transmute::<*const (), StatusFn>(sym(b"tern_status")?),
                counters: std::mem::transmute::<*const (), CountersFn>(sym(b"tern_counters")?),
                trace: std::mem::transmute::<*const (), TraceFn>(sym(b"tern_trace")?),
                cov,
                _lib: lib,
            };
            if let Some(vcd) = vcd {
                let c = std::ffi::CString::new(vcd.to_string_lossy().as_bytes()).unwrap_or_default();
                (b.trace)(b.handle, c.as_ptr());
            }
            Ok(b)
        }
    }

    /// Whether this model counts toggles (built by `with_coverage`).
    pub fn has_coverage(&self) -> bool {
        self.cov.is_some()
    }

    /// Write the toggle counts (Verilator's `coverage.dat` format) to `path`.
    pub fn write_coverage(&self, path: &Path) -> Result<(), SimError> {
        let Some((write, _)) = self.cov else {
            return Err(SimError::Load {
                path: path.to_path_buf(),
                err: "this model was built without coverage (use VerilatorBackend::with_coverage)".into(),
            });
        };
        let c = std::ffi::CString::new(path.to_string_lossy().as_bytes()).unwrap_or_default();
        // SAFETY: handle is live; the shim only reads the C string.
        unsafe { write(self.handle, c.as_ptr()) };
        if path.exists() {
            Ok(())
        } else {
            Err(SimError::Io { path: path.to_path_buf(), err: std::io::Error::other("coverage file was not written") })
        }
    }

    /// Set every toggle count back to zero.
    pub fn zero_coverage(&mut self) {
        if let Some((_, zero)) = self.cov {
            // SAFETY: handle is live.
            unsafe { zero(self.handle) }
        }
    }
}

impl Drop for VerilatorBackend {
    fn drop(&mut self) {
        // SAFETY: handle came from tern_new and is freed once.
        unsafe { (self.free)(self.handle) }
    }
}

impl Backend for VerilatorBackend {
    fn name(&self) -> &'static str {
        "verilator"
    }
    fn accel(&self) -> &Accel {
        &self.a
    }
    fn run(&mut self, beats: &[u64], stalls: &Stalls, max_cycles: u64) -> Result<RunResult, BackendError> {
        let mut pos = 0u64;
        let mut cycle = 0u64;
        let mut held = 0u32;
        let mut results: Vec<u32> = Vec::new();
        let mut beat_cycles = BeatCycles::default();
        let per_beat = self.a.results_per_beat as usize;
        let mut outbuf = vec![0u32; 4096];
        // the cycle of each result beat (`per_beat` words)
        let mut cycbuf = vec![0u64; outbuf.len() / per_beat];
        let mut in_cycles = BeatCycles::default();
        // at most one input beat a cycle, BATCH cycles a call
        let mut inbuf = vec![0u64; BATCH];
        let use_stalls = !stalls.is_none();
        let stopped;
        // SAFETY: pointers are valid for the lengths passed; the shim writes within `cap`.
        unsafe {
            (self.reset)(self.handle);
            loop {
                let (offer, ready) = if use_stalls { stalls.masks(cycle, BATCH) } else { (vec![0], vec![0]) };
                let mut nout = 0u64;
                let mut nin = 0u64;
                let rc = (self.run)(
                    self.handle,
                    beats.as_ptr(),
                    beats.len() as u64,
                    &mut pos,
                    offer.as_ptr(),
                    ready.as_ptr(),
                    i32::from(use_stalls),
                    BATCH as u64,
                    max_cycles,
                    &mut cycle,
                    &mut held,
                    outbuf.as_mut_ptr(),
                    cycbuf.as_mut_ptr(),
                    outbuf.len() as u64,
                    &mut nout,
                    inbuf.as_mut_ptr(),
                    &mut nin,
                );
                for &c in &inbuf[..nin as usize] {
                    in_cycles.push(c, 1);
                }
                results.extend_from_slice(&outbuf[..nout as usize]);
                for &c in &cycbuf[..nout as usize / per_beat] {
                    beat_cycles.push(c, 1);
                }
                match rc {
                    0 | 3 => continue,
                    1 => {
                        stopped = None;
                        break;
                    }
                    2 => {
                        stopped = Some(StopReason::Starved);
                        break;
                    }
                    4 => {
                        stopped = Some(StopReason::Watchdog);
                        break;
                    }
                    other => {
                        return Err(BackendError { backend: "verilator", msg: format!("shim returned {other}") });
                    }
                }
            }
            let code = (self.status)(self.handle);
            let status =
                Status::from_code(code).ok_or_else(|| BackendError { backend: "verilator", msg: format!("unknown status code {code}") })?;
            let mut c = [0u64; Counters::NAMES.len()];
            (self.counters)(self.handle, c.as_mut_ptr());
            Ok(RunResult {
                results: results.into_iter().map(|v| v as i32).collect(),
                beat_cycles,
                in_cycles,
                counters: Counters::from_array(c),
                status,
                consumed: pos as usize,
                stopped,
            })
        }
    }
}
