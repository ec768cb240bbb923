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

/// Path of the worker binary: beside the test binary's `deps/` folder, where cargo builds
/// it for integration tests.
pub fn worker_path() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    dir.join(format!("roker-worker{}", std::env::consts::EXE_SUFFIX))
}

/// A spawned worker, killed and reaped on drop so no test leaves a process behind.
pub struct Worker {
    /// The child process.
    pub child: Child,
    lines: Option<std::io::Lines<BufReader<ChildStdout>>>,
}

impl Worker {
    /// Spawns the worker binary with `args`, stdout piped.
    pub fn spawn(args: &[&str]) -> Worker {
        let mut child = Command::new(worker_path())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn worker");
        let lines = child.stdout.take().map(|s| BufReader::new(s).lines());
        Worker { child, lines }
    }

    /// Reads stdout lines until one starts with `prefix` (or EOF); returns it.
    pub fn expect_line(&mut self, prefix: &str) -> String {
        let lines = self.lines.as_mut().expect("stdout");
        for line in lines {
            let line = line.expect("read worker stdout");
            if line.starts_with(prefix) {
                return line;
            }
        }
        panic!("worker ended without printing {prefix:?}");
    }

    /// Waits for exit, at most `limit`; kills and fails if it takes longer.
    pub fn wait_ok(mut self, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                let rest: Vec<String> = self
                    .lines
                    .take()
                    .map(|l| l.map_while(Result::ok).collect())
                    .unwrap_or_default();
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
