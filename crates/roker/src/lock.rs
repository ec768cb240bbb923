//! A spin lock in shared memory whose owner can be declared dead and replaced.
//!
//! The lock word holds the owner's identity (pid and start time, see [`crate::sys`]), or 0
//! when free. A waiter spins briefly, then yields; every couple of milliseconds it checks
//! whether the owner still lives, and if not it takes the lock over with a compare-exchange
//! from the dead owner's word to its own, reporting the takeover so the caller can repair
//! whatever the dead owner left half-done. Critical sections are short (a publish's copy and
//! descriptor pushes, a subscribe), so a sleeping lock would not pay for its syscalls.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::inbox::Atom;
use crate::sys;

/// Held lock; released on drop (also when unwinding).
pub(crate) struct LockGuard<'a> {
    word: &'a AtomicU64,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        release(self.word);
    }
}

/// How often a waiter asks whether the owner is still alive.
const LIVENESS_EVERY: Duration = Duration::from_millis(2);

/// The lock word protocol, generic over the atomic so the loom model checks run the same
/// code: acquire a free lock (0 → me).
#[inline]
pub(crate) fn try_acquire<A: Atom>(word: &A, me: u64) -> bool {
    // Acquire on success: pairs with the Release in `release`.
    word.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
}

/// Takes the lock over from `dead`, the owner found dead; fails if it changed meanwhile.
#[inline]
pub(crate) fn try_take_over<A: Atom>(word: &A, dead: u64, me: u64) -> bool {
    dead != 0
        && word
            .compare_exchange(dead, me, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
}

/// Releases the lock.
#[inline]
pub(crate) fn release<A: Atom>(word: &A) {
    // Release: everything written under the lock is visible to the next acquirer.
    word.store(0, Ordering::Release);
}

/// Takes the lock. Returns the guard and whether it was taken over from a dead owner.
/// Fails with [`Error::Timeout`] when `timeout` passes while a live owner keeps it.
pub(crate) fn lock(word: &AtomicU64, timeout: Duration) -> Result<(LockGuard<'_>, bool)> {
    let me = sys::self_identity();
    if try_acquire(word, me) {
        return Ok((LockGuard { word }, false));
    }
    lock_slow(word, me, timeout)
}

#[cold]
fn lock_slow(word: &AtomicU64, me: u64, timeout: Duration) -> Result<(LockGuard<'_>, bool)> {
    let mut spins = 0u32;
    let mut last_check = Instant::now();
    let deadline = last_check + timeout;
    loop {
        let cur = word.load(Ordering::Relaxed);
        if cur == 0 {
            if try_acquire(word, me) {
                return Ok((LockGuard { word }, false));
            }
            continue;
        }
        spins += 1;
        if spins < 64 {
            std::hint::spin_loop();
            continue;
        }
        std::thread::yield_now();
        if spins % 64 != 0 {
            continue;
        }
        let now = Instant::now();
        if now.duration_since(last_check) >= LIVENESS_EVERY {
            last_check = now;
            if !sys::is_alive(cur) && try_take_over(word, cur, me) {
                log::warn!(
                    "roker: took over the broker lock from dead process {}",
                    sys::identity_pid(cur)
                );
                return Ok((LockGuard { word }, true));
            }
        }
        if now >= deadline {
            return Err(Error::Timeout(format!(
                "broker lock held by live process {}",
                sys::identity_pid(cur)
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn excludes_threads_and_counts_exactly() {
        let word = Arc::new(AtomicU64::new(0));
        let counter = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (word, counter) = (word.clone(), counter.clone());
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        let (_g, took) = lock(&word, Duration::from_secs(60)).unwrap();
                        assert!(!took);
                        // A non-atomic read-modify-write made safe only by the lock.
                        let v = counter.load(Ordering::Relaxed);
                        counter.store(v + 1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.load(Ordering::Relaxed), 40_000);
        assert_eq!(word.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn dead_owner_is_taken_over() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        // A word naming a process that no longer exists.
        let word = AtomicU64::new(((pid as u64) << 32) | 12345);
        let (_g, took) = lock(&word, Duration::from_secs(10)).unwrap();
        assert!(took);
        assert_eq!(word.load(Ordering::Relaxed), sys::self_identity());
    }

    #[test]
    fn live_owner_times_out() {
        // Our own identity from "another thread": alive, never released.
        let word = AtomicU64::new(sys::self_identity());
        let err = lock(&word, Duration::from_millis(20)).err().unwrap();
        assert_eq!(err.code(), "Timeout");
    }
}

#[cfg(all(test, roker_loom))]
mod loom_tests {
    //! Model checks of the lock word protocol: mutual exclusion, and takeover from an
    //! owner that died holding it. Run with `RUSTFLAGS="--cfg roker_loom"`.
    use super::*;
    use loom::cell::UnsafeCell;
    use loom::sync::atomic::AtomicU64;
    use loom::sync::Arc;

    fn lock_spin(word: &AtomicU64, me: u64, dead: u64) -> bool {
        loop {
            if try_acquire(word, me) {
                return false;
            }
            let cur = word.load(Ordering::Relaxed);
            // The liveness probe, modelled: only `dead` is dead.
            if cur == dead && try_take_over(word, cur, me) {
                return true;
            }
            loom::thread::yield_now();
        }
    }

    #[test]
    fn loom_lock_excludes_and_hands_over() {
        loom::model(|| {
            let word = Arc::new(AtomicU64::new(0));
            let data = Arc::new(UnsafeCell::new(0u64));
            let threads: Vec<_> = (1..=2u64)
                .map(|me| {
                    let (word, data) = (word.clone(), data.clone());
                    loom::thread::spawn(move || {
                        let took = lock_spin(&word, me, u64::MAX);
                        assert!(!took);
                        data.with_mut(|d| unsafe { *d += 1 });
                        release(&*word);
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(data.with(|d| unsafe { *d }), 2);
            assert_eq!(word.load(Ordering::Relaxed), 0);
        });
    }

    #[test]
    fn loom_dead_owner_is_taken_over_by_exactly_one_waiter() {
        loom::model(|| {
            const DEAD: u64 = 9;
            let word = Arc::new(AtomicU64::new(0));
            let data = Arc::new(UnsafeCell::new(0u64));
            // The owner takes the lock, writes, and "dies" without releasing.
            assert!(try_acquire(&*word, DEAD));
            data.with_mut(|d| unsafe { *d = 100 });
            let takeovers = Arc::new(AtomicU64::new(0));
            let threads: Vec<_> = (1..=2u64)
                .map(|me| {
                    let (word, data, takeovers) = (word.clone(), data.clone(), takeovers.clone());
                    loom::thread::spawn(move || {
                        if lock_spin(&word, me, DEAD) {
                            takeovers.fetch_add(1, Ordering::Relaxed);
                        }
                        data.with_mut(|d| unsafe { *d += 1 });
                        release(&*word);
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(takeovers.load(Ordering::Relaxed), 1);
            assert_eq!(data.with(|d| unsafe { *d }), 102);
        });
    }
}
