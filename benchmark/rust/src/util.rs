//! Shared helpers: clocks, percentiles, child processes and raw shared mappings.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

pub type BenchResult<T> = Result<T, String>;

/// Turns any displayable error into the benchmark's string error.
pub fn err<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// `CLOCK_MONOTONIC` in nanoseconds: one clock shared by every process on the host, so a
/// child's timestamp can be compared with the parent's.
pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and CLOCK_MONOTONIC is always supported.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Latency summary of a sample set, in nanoseconds (nearest-rank percentiles).
pub struct Percentiles {
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

pub fn percentiles(mut v: Vec<u64>) -> Percentiles {
    if v.is_empty() {
        return Percentiles {
            p50: 0,
            p99: 0,
            p999: 0,
            max: 0,
            mean: 0.0,
        };
    }
    v.sort_unstable();
    let n = v.len();
    let at = |q: f64| v[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
    Percentiles {
        p50: at(0.50),
        p99: at(0.99),
        p999: at(0.999),
        max: v[n - 1],
        mean: v.iter().map(|&x| x as f64).sum::<f64>() / n as f64,
    }
}

/// A unique name for a shared object of this run.
pub fn unique(tag: &str) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    format!(
        "rbench-{}-{}-{}",
        std::process::id(),
        tag,
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// A child process running this binary in a hidden role. Its stdout is read line by line
/// on a thread so every wait is bounded; its stdin is kept open and closing it (on drop)
/// tells the child to exit. Dropping the handle always reaps the child, killing it if it
/// does not exit in time.
pub struct Peer {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    role: String,
}

impl Peer {
    pub fn spawn(role: &str, args: &[String]) -> BenchResult<Peer> {
        let exe = std::env::current_exe().map_err(err("current_exe"))?;
        let mut child = Command::new(exe)
            .arg("--role")
            .arg(role)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(err("spawn child"))?;
        let stdout = child.stdout.take().ok_or("child has no stdout")?;
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(l).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        });
        Ok(Peer {
            child: Some(child),
            stdin,
            lines: rx,
            role: role.to_string(),
        })
    }

    /// Waits up to `timeout` for the next line starting with `word`; returns the rest of it
    /// split on spaces. A line starting with `error` fails the wait with its text.
    pub fn expect(&mut self, word: &str, timeout: Duration) -> BenchResult<Vec<String>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let mut parts = line.split_whitespace().map(str::to_string);
                    match parts.next().as_deref() {
                        Some(w) if w == word => return Ok(parts.collect()),
                        Some("error") => {
                            return Err(format!("{} child: {}", self.role, &line[5..].trim()))
                        }
                        _ => continue,
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "{} child: no '{word}' within {:?}",
                        self.role, timeout
                    ))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.as_mut().and_then(|c| c.wait().ok());
                    return Err(format!(
                        "{} child exited before '{word}' ({})",
                        self.role,
                        status.map_or("unknown status".into(), |s| s.to_string())
                    ));
                }
            }
        }
    }

    /// Closes stdin and waits up to `timeout` for the child to exit; kills it after that.
    pub fn finish(mut self, timeout: Duration) -> BenchResult<()> {
        self.reap(timeout)
    }

    fn reap(&mut self, timeout: Duration) -> BenchResult<()> {
        self.stdin = None;
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let deadline = Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(s)) if s.success() => return Ok(()),
                Ok(Some(s)) => return Err(format!("{} child exited with {s}", self.role)),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("{} child did not exit; killed", self.role));
                }
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.reap(Duration::from_secs(3));
    }
}

/// In a child: exits the process when the parent closes our stdin (or dies), so no child
/// outlives the run.
pub fn exit_on_stdin_eof() {
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut sink);
        std::process::exit(0);
    });
}

/// Prints one protocol line to the parent.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// A file-backed shared mapping in `/dev/shm`, used by the bare shared-memory floor.
pub struct ShmMap {
    ptr: *mut u8,
    len: usize,
    path: Option<String>,
}

impl ShmMap {
    /// Creates (and owns: unlinks on drop) a zeroed mapping of `len` bytes.
    pub fn create(name: &str, len: usize) -> BenchResult<ShmMap> {
        let path = format!("/dev/shm/{name}");
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(err("create shm file"))?;
        f.set_len(len as u64).map_err(err("size shm file"))?;
        let mut m = Self::map(&f, len)?;
        m.path = Some(path);
        Ok(m)
    }

    /// Opens a mapping made by [`ShmMap::create`] in another process.
    pub fn open(name: &str, len: usize) -> BenchResult<ShmMap> {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(format!("/dev/shm/{name}"))
            .map_err(err("open shm file"))?;
        Self::map(&f, len)
    }

    fn map(f: &std::fs::File, len: usize) -> BenchResult<ShmMap> {
        use std::os::fd::AsRawFd;
        // SAFETY: mapping a file we hold open, shared, with a length it has been sized to;
        // the result is checked against MAP_FAILED.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(format!("mmap: {}", std::io::Error::last_os_error()));
        }
        Ok(ShmMap {
            ptr: p.cast(),
            len,
            path: None,
        })
    }

    pub fn ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// The 8-byte-aligned word at byte `off` as an atomic.
    pub fn atomic(&self, off: usize) -> &AtomicU64 {
        assert!(off.is_multiple_of(8) && off + 8 <= self.len);
        // SAFETY: in bounds and aligned (mmap returns page-aligned memory); the mapping
        // lives as long as `self`, and every process only accesses these words atomically.
        unsafe { &*(self.ptr.add(off) as *const AtomicU64) }
    }
}

impl Drop for ShmMap {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the range mapped in `map`; no reference into it outlives
        // `self` (all accessors borrow `self`).
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
        if let Some(p) = &self.path {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Spins until `f` holds or `deadline` passes; checks the clock every 4096 rounds.
#[inline]
pub fn spin_until(deadline: Instant, mut f: impl FnMut() -> bool) -> bool {
    let mut i = 0u32;
    loop {
        if f() {
            return true;
        }
        i = i.wrapping_add(1);
        if i.is_multiple_of(4096) && Instant::now() >= deadline {
            return false;
        }
        std::hint::spin_loop();
    }
}

/// Like [`spin_until`], but yields the CPU every 256 fruitless rounds, so a waiting side
/// does not starve the other one when the machine has more runnable threads than cores.
#[inline]
pub fn spin_yield_until(deadline: Instant, mut f: impl FnMut() -> bool) -> bool {
    let mut i = 0u32;
    loop {
        if f() {
            return true;
        }
        i = i.wrapping_add(1);
        if i.is_multiple_of(256) {
            if i.is_multiple_of(4096) && Instant::now() >= deadline {
                return false;
            }
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Parses the `i`-th role argument.
pub fn arg<T: std::str::FromStr>(args: &[String], i: usize) -> BenchResult<T> {
    args.get(i)
        .ok_or_else(|| format!("missing role argument {i}"))?
        .parse()
        .map_err(|_| format!("bad role argument {i}: {:?}", args[i]))
}

impl ShmMap {
    /// The 4-byte-aligned word at byte `off` as an atomic (for futexes).
    pub fn atomic32(&self, off: usize) -> &std::sync::atomic::AtomicU32 {
        assert!(off.is_multiple_of(4) && off + 4 <= self.len);
        // SAFETY: as for `atomic`: in bounds, aligned, lives as long as `self`.
        unsafe { &*(self.ptr.add(off) as *const std::sync::atomic::AtomicU32) }
    }
}

/// Sleeps on a process-shared futex while `word` holds `val`, at most `timeout`.
pub fn futex_wait(word: &std::sync::atomic::AtomicU32, val: u32, timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: FUTEX_WAIT on a valid, aligned u32 that stays mapped during the call, with a
    // valid relative timeout; spurious returns are handled by the callers' loops.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            val,
            &ts as *const libc::timespec,
        )
    };
}

/// Wakes every waiter on a process-shared futex.
pub fn futex_wake(word: &std::sync::atomic::AtomicU32) {
    // SAFETY: FUTEX_WAKE only reads the address, which is valid and aligned.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX) };
}
