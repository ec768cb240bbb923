//! Operating-system services: process identity and liveness, futex waits, clocks.
//!
//! A process is identified across the region by one `u64`: its pid in the high half and
//! the low 32 bits of its start time (Linux `/proc/<pid>/stat` field 22) in the low half,
//! so a recycled pid is not mistaken for the process that died. On other Unix systems the
//! low half is zero and liveness falls back to `kill(pid, 0)`.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

static IDENTITY: AtomicU64 = AtomicU64::new(0);

/// The identity word of the calling process (never zero).
pub(crate) fn self_identity() -> u64 {
    let cached = IDENTITY.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    init_identity()
}

#[cold]
fn init_identity() -> u64 {
    #[cfg(unix)]
    {
        static ATFORK: std::sync::Once = std::sync::Once::new();
        ATFORK.call_once(|| {
            extern "C" fn reset_in_child() {
                IDENTITY.store(0, Ordering::Relaxed);
            }
            // SAFETY: registering a plain `extern "C"` function without captured state;
            // it only stores to a static atomic, which is async-signal-safe.
            unsafe {
                libc::pthread_atfork(None, None, Some(reset_in_child));
            }
        });
    }
    let pid = std::process::id();
    let id = make_identity(pid, start_time(pid).unwrap_or(0));
    IDENTITY.store(id, Ordering::Relaxed);
    id
}

fn make_identity(pid: u32, start: u64) -> u64 {
    ((pid as u64) << 32) | (start & 0xffff_ffff)
}

/// The pid part of an identity word.
pub(crate) fn identity_pid(identity: u64) -> u32 {
    (identity >> 32) as u32
}

#[cfg(target_os = "linux")]
fn read_stat(pid: u32) -> Option<(u8, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: parse after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.as_bytes().first().copied()?;
    // `rest` starts at field 3 (state); start time is field 22, i.e. 19 further on.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

#[cfg(target_os = "linux")]
fn start_time(pid: u32) -> Option<u64> {
    read_stat(pid).map(|(_, start)| start)
}

#[cfg(not(target_os = "linux"))]
fn start_time(_pid: u32) -> Option<u64> {
    None
}

/// Whether the process behind `identity` still runs. Zombies count as dead: they run no
/// code and will never release what they hold. The calling process is always alive.
pub(crate) fn is_alive(identity: u64) -> bool {
    if identity == 0 {
        return false;
    }
    if identity == self_identity() {
        return true;
    }
    let pid = identity_pid(identity);
    if pid == std::process::id() {
        // Our own pid with another start time: a process that held our pid before us.
        return false;
    }
    alive_os(pid, identity)
}

#[cfg(target_os = "linux")]
fn alive_os(pid: u32, identity: u64) -> bool {
    match read_stat(pid) {
        None => false,
        Some((state, start)) => {
            !matches!(state, b'Z' | b'X' | b'x') && make_identity(pid, start) == identity
        }
    }
}

#[cfg(all(unix, not(target_os = "linux")))]
fn alive_os(pid: u32, _identity: u64) -> bool {
    // SAFETY: kill with signal 0 only checks for existence and permission; it sends nothing.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(unix))]
fn alive_os(_pid: u32, _identity: u64) -> bool {
    // Without a liveness probe we never declare anyone dead: safe, only less self-healing.
    true
}

/// Nanoseconds since the Unix epoch.
pub(crate) fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Sleeps until `word` no longer holds `expected`, a wake arrives, or `timeout` passes.
/// Spurious returns are allowed; callers re-check their condition.
#[cfg(target_os = "linux")]
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `word` points into a live MAP_SHARED mapping for the duration of the call and
    // is 4-byte aligned. FUTEX_WAIT without FUTEX_PRIVATE_FLAG keys the wait on the physical
    // page, so waiters and wakers in different processes meet. The kernel only reads `ts`.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

/// Wakes every waiter sleeping on `word` (in any process).
#[cfg(target_os = "linux")]
pub(crate) fn futex_wake_all(word: &AtomicU32) {
    // SAFETY: as in `futex_wait`; FUTEX_WAKE only uses the address as a key.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            i32::MAX,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

/// Bounded polling fallback where no shared futex is available: sleep a short slice.
#[cfg(not(target_os = "linux"))]
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    if word.load(Ordering::SeqCst) == expected {
        std::thread::sleep(timeout.min(Duration::from_micros(200)));
    }
}

/// No-op where waiters poll.
#[cfg(not(target_os = "linux"))]
pub(crate) fn futex_wake_all(_word: &AtomicU32) {}

/// Free bytes on the file system that backs POSIX shared memory, if known.
#[cfg(target_os = "linux")]
pub(crate) fn shm_free_bytes() -> Option<u64> {
    let path = std::ffi::CString::new("/dev/shm").ok()?;
    // SAFETY: statvfs only writes into the zeroed struct we pass; the path is NUL-terminated.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(path.as_ptr(), &mut st) != 0 {
            return None;
        }
        Some(st.f_bavail as u64 * st.f_frsize as u64)
    }
}

/// Reserves the backing store of a POSIX shared-memory object so that later page faults
/// cannot fail with SIGBUS. Returns the OS error text on failure (ENOSPC when full).
#[cfg(target_os = "linux")]
pub(crate) fn shm_reserve(os_id: &str, size: u64) -> Result<(), String> {
    let name = std::ffi::CString::new(os_id).map_err(|e| e.to_string())?;
    // SAFETY: shm_open on a NUL-terminated name; the fd is closed below on every path.
    let fd = unsafe { libc::shm_open(name.as_ptr(), libc::O_RDWR, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    // SAFETY: fd is a valid open descriptor we own.
    let rc = unsafe { libc::posix_fallocate(fd, 0, size as libc::off_t) };
    // SAFETY: closing the descriptor we opened above, exactly once.
    unsafe { libc::close(fd) };
    match rc {
        0 => Ok(()),
        // tmpfs supports fallocate; anything that does not is left to the page touch.
        libc::EOPNOTSUPP | libc::EINVAL => Ok(()),
        e => Err(std::io::Error::from_raw_os_error(e).to_string()),
    }
}

/// Changes the permission bits of a POSIX shared-memory object.
#[cfg(unix)]
pub(crate) fn shm_chmod(os_id: &str, mode: u32) -> Result<(), String> {
    let name = std::ffi::CString::new(os_id).map_err(|e| e.to_string())?;
    // SAFETY: as in `shm_reserve`.
    let fd = unsafe { libc::shm_open(name.as_ptr(), libc::O_RDWR, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    // SAFETY: fd is valid and ours; fchmod only changes the object's mode.
    let rc = unsafe { libc::fchmod(fd, mode as libc::mode_t) };
    let err = std::io::Error::last_os_error();
    // SAFETY: closing the descriptor we opened above, exactly once.
    unsafe { libc::close(fd) };
    if rc == 0 {
        Ok(())
    } else {
        Err(err.to_string())
    }
}

/// Removes a POSIX shared-memory object by name. Missing objects are not an error.
#[cfg(unix)]
pub(crate) fn shm_unlink(os_id: &str) {
    if let Ok(name) = std::ffi::CString::new(os_id) {
        // SAFETY: shm_unlink on a NUL-terminated name has no memory effects on our side.
        unsafe { libc::shm_unlink(name.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_stable_and_alive() {
        let me = self_identity();
        assert_ne!(me, 0);
        assert_eq!(me, self_identity());
        assert_eq!(identity_pid(me), std::process::id());
        assert!(is_alive(me));
        assert!(!is_alive(0));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reaped_child_is_dead_and_recycled_identity_is_not_alive() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let ident = make_identity(pid, start_time(pid).unwrap_or(0));
        child.wait().unwrap();
        assert!(!is_alive(ident));
        // Our own pid with a wrong start time is a previous holder of the pid.
        let fake = make_identity(
            std::process::id(),
            start_time(std::process::id()).unwrap() + 1,
        );
        assert!(!is_alive(fake));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn zombie_counts_as_dead() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let ident = make_identity(pid, start_time(pid).unwrap_or(0));
        // Wait until it has exited but do not reap it yet: it is a zombie.
        let mut zombie = false;
        for _ in 0..2000 {
            if matches!(read_stat(pid), Some((b'Z', _))) {
                zombie = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(zombie, "child never became a zombie");
        assert!(!is_alive(ident));
        child.wait().unwrap();
    }
}
