//! Shared pieces of roker's multi-process tests: the checksummed payload format and helpers
//! to spawn and always reap worker processes.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// FNV-1a over bytes.
pub fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Builds a payload of `len` (≥ 24) bytes: publisher, index, pseudo-random body, checksum.
pub fn make_payload(publisher: u32, index: u64, len: usize) -> Vec<u8> {
    let len = len.max(24);
    let mut p = Vec::with_capacity(len);
    p.extend_from_slice(&publisher.to_le_bytes());
    p.extend_from_slice(&(index as u32).to_le_bytes());
    p.extend_from_slice(&(index >> 32).to_le_bytes()[..4]);
    let mut x = (publisher as u64) << 40 ^ index ^ 0x9e37_79b9_7f4a_7c15;
    while p.len() < len - 8 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p.push(x as u8);
    }
    let sum = fnv(&p);
    p.extend_from_slice(&sum.to_le_bytes());
    p
}

/// Checks a payload made by [`make_payload`]; returns (publisher, index) if intact.
pub fn check_payload(p: &[u8]) -> Option<(u32, u64)> {
    if p.len() < 24 {
        return None;
    }
    let (body, sum) = p.split_at(p.len() - 8);
    if fnv(body).to_le_bytes() != sum {
        return None;
    }
    let publisher = u32::from_le_bytes(body[0..4].try_into().ok()?);
    let lo = u32::from_le_bytes(body[4..8].try_into().ok()?) as u64;
    let hi = u32::from_le_bytes(body[8..12].try_into().ok()?) as u64;
    Some((publisher, lo | hi << 32))
}

/// Path of the worker binary: beside the running executable (for the testkit's own
/// binaries) or beside its `deps/` folder (for integration tests), where cargo builds it.
pub fn worker_path() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let file = format!("roker-worker{}", std::env::consts::EXE_SUFFIX);
    let here = exe.parent().expect("exe dir");
    let beside = here.join(&file);
    if beside.exists() {
        return beside;
    }
    here.parent().expect("target dir").join(file)
}

/// A spawned worker, killed and reaped on drop so no test leaves a process behind.
pub struct Worker {
    /// The child process.
    pub child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

/// How long `expect_line` waits by default.
const LINE_TIMEOUT: Duration = Duration::from_secs(120);

impl Worker {
    /// Spawns the worker binary with `args`, stdout piped.
    pub fn spawn(args: &[&str]) -> Worker {
        Worker::spawn_with_env(args, &[])
    }

    /// Spawns the worker binary with `args` and extra environment variables.
    pub fn spawn_with_env(args: &[&str], env: &[(&str, &str)]) -> Worker {
        let mut cmd = Command::new(worker_path());
        cmd.args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn worker");
        let stdout: ChildStdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Worker { child, lines: rx }
    }

    /// Reads stdout lines until one starts with `prefix`; panics after two minutes or at EOF.
    pub fn expect_line(&mut self, prefix: &str) -> String {
        self.expect_line_within(prefix, LINE_TIMEOUT)
            .unwrap_or_else(|| panic!("worker did not print {prefix:?}"))
    }

    /// Reads stdout lines until one starts with `prefix`, at most `limit`; `None` on
    /// timeout or EOF.
    pub fn expect_line_within(&mut self, prefix: &str, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Whether the worker is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for exit, at most `limit`; kills and fails if it takes longer.
    pub fn wait_ok(mut self, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // The reader thread ends at EOF; collect what it still has.
                let mut rest = Vec::new();
                while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
                    rest.push(line);
                }
                assert!(status.success(), "worker failed with {status}: {rest:?}");
                return rest;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("worker did not finish within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGKILLs the worker and reaps it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A broker name unique to this process and call.
pub fn unique_name(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "mp{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_roundtrip_and_detect_corruption() {
        for len in [24, 64, 1000] {
            let mut p = make_payload(3, (7u64 << 32) | 9, len);
            assert_eq!(p.len(), len);
            assert_eq!(check_payload(&p), Some((3, (7u64 << 32) | 9)));
            p[len / 2] ^= 1;
            assert_eq!(check_payload(&p), None);
        }
    }
}
