//! The lock-free protocol between one subscriber and the publishers: its inbox ring of
//! log positions and its `hold` word, which together bound log reclamation.
//!
//! Words: `head` (next index to read; moved by the subscriber, and by a `DropOldest`
//! publisher dropping the oldest entry), `tail` (next index to write; moved only by the
//! publisher holding the broker lock), `hold` (0, or 1 + the oldest log position the
//! subscriber may still be reading), `dropped` (entries dropped by publishers) and the ring
//! of descriptors. Positions pushed into one inbox increase (publishes are serialised).
//!
//! The functions are generic over the atomic type so the very same code runs on shared
//! memory in the broker and on heap atomics under the loom model checker (`--cfg roker_loom`).

use std::sync::atomic::Ordering;

/// The atomic operations the protocol needs.
pub(crate) trait Atom {
    fn load(&self, o: Ordering) -> u64;
    fn store(&self, v: u64, o: Ordering);
    fn compare_exchange(
        &self,
        current: u64,
        new: u64,
        ok: Ordering,
        err: Ordering,
    ) -> Result<u64, u64>;
    fn fetch_add(&self, v: u64, o: Ordering) -> u64;
}

macro_rules! impl_atom {
    ($t:ty) => {
        impl Atom for $t {
            #[inline]
            fn load(&self, o: Ordering) -> u64 {
                <$t>::load(self, o)
            }
            #[inline]
            fn store(&self, v: u64, o: Ordering) {
                <$t>::store(self, v, o)
            }
            #[inline]
            fn compare_exchange(
                &self,
                current: u64,
                new: u64,
                ok: Ordering,
                err: Ordering,
            ) -> Result<u64, u64> {
                <$t>::compare_exchange(self, current, new, ok, err)
            }
            #[inline]
            fn fetch_add(&self, v: u64, o: Ordering) -> u64 {
                <$t>::fetch_add(self, v, o)
            }
        }
    };
}

impl_atom!(std::sync::atomic::AtomicU64);
#[cfg(roker_loom)]
impl_atom!(loom::sync::atomic::AtomicU64);

/// One subscriber's inbox, as a set of references to its words.
pub(crate) struct Inbox<'a, A: Atom, R: Fn(u64) -> &'a A> {
    pub head: &'a A,
    pub tail: &'a A,
    pub hold: &'a A,
    pub dropped: &'a A,
    /// Descriptor word of ring index `i` (the caller wraps `i` to the capacity).
    pub ring: R,
}

impl<'a, A: Atom, R: Fn(u64) -> &'a A> Inbox<'a, A, R> {
    /// Subscriber: claims up to `buf.len()` queued positions into `buf`, announcing the
    /// oldest in `hold` first unless `held` (an older hold already protects them).
    /// Returns how many were claimed (0: empty).
    #[inline]
    pub fn claim(&self, buf: &mut [u64], held: bool) -> usize {
        let mut announced = false;
        loop {
            let h = self.head.load(Ordering::Acquire);
            // Acquire: pairs with the publisher's SeqCst tail store; the descriptors and
            // the records they point to are visible.
            let t = self.tail.load(Ordering::Acquire);
            if h >= t {
                if announced {
                    // A publisher dropped what we announced: withdraw the stale hold, or it
                    // would pin the log (found by the loom model below).
                    self.hold.store(0, Ordering::SeqCst);
                }
                return 0;
            }
            let k = ((t - h) as usize).min(buf.len());
            for (i, slot) in buf.iter_mut().enumerate().take(k) {
                *slot = (self.ring)(h + i as u64).load(Ordering::Relaxed);
            }
            // Announce the oldest position we will read before claiming it. Positions in an
            // inbox increase, so holding the first protects the whole batch.
            if !held {
                self.hold.store(buf[0].saturating_add(1), Ordering::SeqCst);
                announced = true;
            }
            crate::fault::point("receive_after_hold");
            // SeqCst: a DropOldest publisher racing to drop `h` makes exactly one of us win;
            // the descriptors read above were not overwritten if this succeeds (overwriting
            // ring index h+i needs the head past h+i).
            if self
                .head
                .compare_exchange(h, h + k as u64, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
            {
                return k;
            }
        }
    }

    /// Subscriber: done reading what it claimed (no older lend outstanding).
    #[inline]
    pub fn release(&self) {
        // SeqCst (a release, and ordered before the subscriber's check for waiting
        // publishers): our reads of the records happen before any reuse of their space.
        self.hold.store(0, Ordering::SeqCst);
    }

    /// Publisher (holding the broker lock): appends a position.
    #[inline]
    pub fn push(&self, pos: u64) {
        let tail = self.tail.load(Ordering::Relaxed);
        (self.ring)(tail).store(pos, Ordering::Relaxed);
        // SeqCst store, then the caller's SeqCst load of the sleeping flag: pairs with the
        // receiver's SeqCst store of the flag then load of `tail` (no lost wake-up).
        self.tail.store(tail.wrapping_add(1), Ordering::SeqCst);
    }

    /// Entries queued, as the publisher sees them (the broker reads the head through a
    /// cached copy instead; the model checks use this).
    #[cfg_attr(not(roker_loom), allow(dead_code))]
    pub fn len(&self) -> u64 {
        let tail = self.tail.load(Ordering::Relaxed);
        tail - self.head.load(Ordering::SeqCst).min(tail)
    }

    /// Publisher (DropOldest): drops the oldest entry if `head` is still the head.
    pub fn drop_one(&self, head: u64) -> bool {
        let ok = self
            .head
            .compare_exchange(head, head + 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok();
        if ok {
            self.dropped.fetch_add(1, Ordering::Release);
        }
        ok
    }

    /// Publisher (DropOldest): drops every entry before index `to` in one step, if `head`
    /// is still the head.
    pub fn drop_to(&self, head: u64, to: u64) -> bool {
        let ok = to > head
            && self
                .head
                .compare_exchange(head, to, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok();
        if ok {
            self.dropped.fetch_add(to - head, Ordering::Release);
        }
        ok
    }

    /// Publisher: the oldest log position this subscriber still references (its first
    /// queued descriptor or its hold), or `u64::MAX`.
    pub fn oldest_ref(&self) -> u64 {
        // Head before hold: a subscriber stores its hold before moving its head, so
        // whichever of the two we see protects the record it is reading.
        let head = self.head.load(Ordering::SeqCst);
        let tail = self.tail.load(Ordering::Relaxed);
        let hold = self.hold.load(Ordering::SeqCst);
        let mut r = u64::MAX;
        if head < tail {
            r = (self.ring)(head).load(Ordering::Relaxed);
        }
        if hold != 0 {
            r = r.min(hold - 1);
        }
        r
    }
}

#[cfg(all(test, roker_loom))]
mod loom_tests {
    //! Model checks of the inbox protocol with the log-reclaim rule it exists for: a
    //! publisher may overwrite a log slot only below every subscriber's `oldest_ref`.
    //! Run with `RUSTFLAGS="--cfg roker_loom" cargo test -p roker --release --lib loom_`.
    use super::*;
    use loom::cell::UnsafeCell;
    use loom::sync::atomic::AtomicU64;
    use loom::sync::Arc;

    const RING: u64 = 2;
    const LOG: u64 = 2;

    struct Shared {
        head: AtomicU64,
        tail: AtomicU64,
        hold: AtomicU64,
        dropped: AtomicU64,
        ring: [AtomicU64; RING as usize],
        /// The "log": slot `p % LOG` holds record `p`. UnsafeCell lets loom flag any
        /// read that races with an overwrite.
        log: [UnsafeCell<u64>; LOG as usize],
    }

    impl Shared {
        fn new() -> Shared {
            Shared {
                head: AtomicU64::new(0),
                tail: AtomicU64::new(0),
                hold: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                ring: [AtomicU64::new(0), AtomicU64::new(0)],
                log: [UnsafeCell::new(u64::MAX), UnsafeCell::new(u64::MAX)],
            }
        }
        fn inbox<'a>(&'a self) -> Inbox<'a, AtomicU64, impl Fn(u64) -> &'a AtomicU64 + 'a> {
            Inbox {
                head: &self.head,
                tail: &self.tail,
                hold: &self.hold,
                dropped: &self.dropped,
                ring: move |i| &self.ring[(i % RING) as usize],
            }
        }
    }

    /// Publisher: writes records 0..n, reclaiming log space only below `oldest_ref`, and
    /// dropping the oldest entry when the ring or the log is full (DropOldest) or giving
    /// up on that record (Block, modelled as "skip").
    fn publish_all(s: &Shared, n: u64, drop_oldest: bool) -> u64 {
        let inbox = s.inbox();
        let mut published = 0;
        for pos in 0..n {
            loop {
                let ring_full = inbox.len() >= RING;
                let reusable = pos < LOG || inbox.oldest_ref().min(pos) > pos - LOG;
                if !ring_full && reusable {
                    break;
                }
                let head = s.head.load(Ordering::SeqCst);
                let hold = s.hold.load(Ordering::SeqCst);
                let hold_blocks = hold != 0 && pos >= LOG && hold - 1 <= pos - LOG;
                if !drop_oldest || hold_blocks {
                    // Block (or a record being read): wait for the subscriber.
                    loom::thread::yield_now();
                    continue;
                }
                // As the broker does: drop only a queued entry, never past the tail.
                if head < s.tail.load(Ordering::Relaxed) {
                    inbox.drop_one(head);
                }
            }
            s.log[(pos % LOG) as usize].with_mut(|p| unsafe { *p = pos });
            inbox.push(pos);
            published += 1;
        }
        published
    }

    /// Subscriber: claims and reads until it has seen `last` or `n` records; every record
    /// read must be the one its descriptor names (never overwritten mid-read).
    fn consume(s: &Shared, last: u64) -> (u64, u64) {
        let inbox = s.inbox();
        let mut got = 0;
        let mut buf = [0u64; 2];
        loop {
            let k = inbox.claim(&mut buf, false);
            if k == 0 {
                loom::thread::yield_now();
                continue;
            }
            for &pos in &buf[..k] {
                let v = s.log[(pos % LOG) as usize].with(|p| unsafe { *p });
                assert_eq!(v, pos, "record {pos} was overwritten while held");
                got += 1;
            }
            inbox.release();
            if buf[k - 1] == last {
                return (got, s.dropped.load(Ordering::Acquire));
            }
        }
    }

    /// Bounded preemptions (the usual loom practice): every schedule with up to this many
    /// forced context switches is explored exhaustively.
    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.max_branches = 100_000;
        b.check(f);
    }

    #[test]
    fn loom_block_mode_delivers_everything_intact() {
        model(|| {
            let s = Arc::new(Shared::new());
            let p = {
                let s = s.clone();
                loom::thread::spawn(move || publish_all(&s, 3, false))
            };
            let (got, dropped) = consume(&s, 2);
            assert_eq!(p.join().unwrap(), 3);
            assert_eq!((got, dropped), (3, 0));
        });
    }

    #[test]
    fn loom_drop_oldest_never_tears_and_accounts_exactly() {
        model(|| {
            let s = Arc::new(Shared::new());
            let p = {
                let s = s.clone();
                loom::thread::spawn(move || publish_all(&s, 3, true))
            };
            let (got, dropped) = consume(&s, 2);
            assert_eq!(p.join().unwrap(), 3);
            assert_eq!(got + dropped, 3);
        });
    }

    #[test]
    fn loom_a_claim_that_loses_to_a_drop_leaves_no_stale_hold() {
        model(|| {
            let s = Arc::new(Shared::new());
            s.inbox().push(0);
            let dropper = {
                let s = s.clone();
                loom::thread::spawn(move || {
                    let head = s.head.load(Ordering::SeqCst);
                    head < s.tail.load(Ordering::Relaxed) && s.inbox().drop_one(head)
                })
            };
            let mut buf = [0u64; 1];
            let k = s.inbox().claim(&mut buf, false);
            let dropped = dropper.join().unwrap();
            // Exactly one of them got the entry.
            assert_ne!(k == 1, dropped);
            if k == 0 {
                // The subscriber announced position 0, lost it to the drop, found the inbox
                // empty: its hold must not keep pinning the log.
                assert_eq!(s.hold.load(Ordering::SeqCst), 0);
            } else {
                s.inbox().release();
            }
        });
    }
}
