//! Fault injection for crash tests (cargo feature `fault-injection`).
//!
//! Named points sit where a process dying would leave shared state half-changed. With the
//! feature on and `ROKER_FAULT=<point>` (or `<point>@<n>` for the n-th time it is reached)
//! in the environment, the process SIGKILLs itself at that point, as an external `kill -9`
//! would. Without the feature every point compiles to nothing.

/// Every fault point, for tests that iterate over them.
pub const POINTS: &[&str] = &[
    "publish_lock_held",
    "publish_after_claim",
    "publish_mid_copy",
    "publish_before_push",
    "publish_mid_push",
    "register_mid",
    "subscribe_mid",
    "unsubscribe_mid",
    "topic_insert_mid",
    "free_slot_mid",
    "receive_after_hold",
    "receive_mid_read",
];

/// Dies here if the environment selects this point.
#[cfg(feature = "fault-injection")]
pub(crate) fn point(name: &'static str) {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static CONF: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);
    let conf = CONF.get_or_init(|| {
        let v = std::env::var("ROKER_FAULT").ok()?;
        match v.split_once('@') {
            Some((p, n)) => Some((p.to_string(), n.parse().unwrap_or(1))),
            None => Some((v, 1)),
        }
    });
    if let Some((p, n)) = conf {
        if p == name && HITS.fetch_add(1, Ordering::Relaxed) + 1 >= *n {
            // SAFETY: raising SIGKILL on ourselves: the process ends here, like `kill -9`.
            #[cfg(unix)]
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
            std::process::abort();
        }
    }
}

/// Fault points compile to nothing without the `fault-injection` feature.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub(crate) fn point(_name: &'static str) {}
