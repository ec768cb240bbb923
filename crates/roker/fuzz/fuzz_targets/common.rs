//! Helpers shared by the region fuzz targets. They only use the region's public file name
//! (`/dev/shm/rk.<name>`) and the documented identity format (pid << 32 | start time), never
//! roker internals.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};

/// Header words the harness needs to know about to avoid designed-in waits.
pub const HEADER_SIZE: usize = 512;
pub const H_INIT: usize = 16;
pub const H_TIMEOUT_NS: usize = 96;
pub const H_CREATOR: usize = 104;
pub const H_LOCK: usize = 256;

/// A broker name unique to this process and iteration (short enough for a direct os id).
pub fn unique_name(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("fz{}{}-{}", tag, std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

pub fn shm_path(name: &str) -> String {
    format!("/dev/shm/rk.{name}")
}

fn read_stat(pid: u32) -> Option<(u8, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.as_bytes().first().copied()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// This process's identity word, as roker computes it.
pub fn self_identity() -> u64 {
    let pid = std::process::id();
    ((pid as u64) << 32) | (read_stat(pid).map_or(0, |(_, s)| s) & 0xffff_ffff)
}

/// Mirrors roker's liveness check: the identity names a running (non-zombie) process.
pub fn identity_alive(ident: u64) -> bool {
    if ident == 0 {
        return false;
    }
    let pid = (ident >> 32) as u32;
    match read_stat(pid) {
        None => false,
        Some((state, start)) => {
            !matches!(state, b'Z' | b'X' | b'x')
                && (((pid as u64) << 32) | (start & 0xffff_ffff)) == ident
        }
    }
}

pub fn word(bytes: &[u8], off: usize) -> Option<u64> {
    bytes
        .get(off..off + 8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
}

/// Whether `Broker::connect` on a region with these bytes would sit in one of its
/// designed-in waits (up to 3 s): smaller than a header, or init state 0/"creating" with
/// no creator or a live one.
pub fn connect_would_wait(bytes: &[u8]) -> bool {
    if bytes.len() < HEADER_SIZE {
        return true;
    }
    let init = word(bytes, H_INIT).unwrap();
    let creator = word(bytes, H_CREATOR).unwrap();
    (init == 0 || init == 1) && (creator == 0 || identity_alive(creator))
}

/// `ROKER_FUZZ_SLOW=1` also runs inputs that hit the designed-in multi-second waits.
pub fn slow_allowed() -> bool {
    static SLOW: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SLOW.get_or_init(|| std::env::var_os("ROKER_FUZZ_SLOW").is_some_and(|v| v == "1"))
}
