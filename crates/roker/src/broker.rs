//! The broker: lifecycle, clients, subscriptions, publish and receive.
//!
//! # Concurrency design
//!
//! * **One broker lock** ([`crate::lock`]) serialises every writer of shared routing state:
//!   registration, subscriptions, the topic table, and the whole of a publish (claim log
//!   space, copy the payload once, push one descriptor per matching subscriber). Because
//!   publishes are serialised, every inbox receives positions in increasing order and has a
//!   single producer at a time, so inboxes are SPSC rings and the log's reclaim bound is a
//!   simple minimum. The lock word names its owner; a waiter that finds the owner dead takes
//!   the lock over and repairs (see [`Inner::repair_locked`]). DESIGN.md suggests per-inbox
//!   locks so publishers copy in parallel; on the 2-core target a second concurrent copy
//!   buys little, and one lock keeps crash recovery to a few well-defined states.
//! * **Receiving never takes the broker lock.** A subscriber claims descriptors by a
//!   compare-exchange on its inbox head, after announcing the oldest log position it is about
//!   to read in its `hold` word. A publisher reclaims log space only below the minimum of
//!   every live subscriber's `hold` and oldest queued descriptor.
//! * **Crash safety.** A publisher advances the write position before copying, and pushes
//!   descriptors only after the copy, so a publisher that dies mid-copy leaves an unreferenced
//!   gap, never a half-written message that someone reads. Dead clients are reclaimed by
//!   sweeps (on lock takeover, when registration finds no free slot, every second from
//!   publishers, when a blocked publisher finds its blocker dead, and by [`Broker::sweep`]).

use std::cell::UnsafeCell;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use crate::error::{Error, Result};
use crate::fault;
use crate::inbox::Inbox;
use crate::layout::*;
use crate::lock::{self, LockGuard};
use crate::message::{LentMessage, Message, MessageRef};
use crate::region::{self, Created, Region};
use crate::sys;
use crate::topic::{self, Filter, Topic};

/// How long any operation waits for the broker lock held by a live process.
const LOCK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `connect` waits for a creator to finish initialising the region.
const INIT_TIMEOUT: Duration = Duration::from_secs(3);
/// Sweep for dead clients at least this often while publishing.
const SWEEP_EVERY_NS: u64 = 1_000_000_000;
/// Pause instructions between two looks at an empty inbox while spinning.
const SPIN_PAUSES: u32 = 8;
/// Descriptors claimed per receive round.
const BATCH: usize = 64;

/// Identifies a registered client: a slot in the region plus the slot's generation, so an
/// id of an unregistered or reclaimed client is refused rather than reaching a newcomer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId {
    slot: u32,
    generation: u32,
}

impl ClientId {
    /// Slot index of the client in the region.
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// Generation of the slot when the client registered.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Packs the id into one number (for bindings and for sending ids to other processes).
    pub fn to_raw(&self) -> u64 {
        ((self.generation as u64) << 32) | self.slot as u64
    }

    /// Unpacks an id made by [`ClientId::to_raw`]. Whether it names a live client is
    /// checked when it is used.
    pub fn from_raw(raw: u64) -> ClientId {
        ClientId {
            slot: raw as u32,
            generation: (raw >> 32) as u32,
        }
    }
}

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "client {} (slot {}, generation {})",
            self.to_raw(),
            self.slot,
            self.generation
        )
    }
}

/// Counters of one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientStats {
    /// Messages waiting in the client's inbox.
    pub queued: u64,
    /// Messages the client has received.
    pub received: u64,
    /// Messages dropped from its inbox by `DropOldest` publishers.
    pub dropped: u64,
    /// Subscriptions it holds.
    pub subscriptions: u32,
}

/// A registered client, as listed by [`Broker::clients`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// Its id.
    pub id: ClientId,
    /// The name it registered with.
    pub name: String,
    /// Pid of the process that registered it.
    pub pid: u32,
    /// Whether that process still runs (a dead client is reclaimed by the next sweep).
    pub alive: bool,
}

/// A handle on a broker region. Cheap to clone; all clones share one mapping. The mapping
/// is released when the last clone drops; the region's name is removed when no process
/// uses it any more, or at once by [`Broker::destroy`].
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct LocalClient {
    /// Log positions lent out by `receive_lent` and not yet released.
    lent: Vec<u64>,
    /// Topic id → topic, so received topics are not re-validated or re-allocated.
    topics: FxHashMap<u32, Topic>,
}

pub(crate) struct Inner {
    region: Region,
    l: Layout,
    name: String,
    attach_index: u32,
    publisher_id: u64,
    /// Per-handle sequence; only changed under the broker lock.
    seq: AtomicU64,
    /// Topic → interned id; only touched while holding the broker lock (see `topic_id_locked`).
    topic_ids: TopicCache,
    locals: Box<[Mutex<LocalClient>]>,
    closed: AtomicBool,
}

/// Process-local topic-id cache, guarded by the region's broker lock instead of a mutex.
struct TopicCache(UnsafeCell<FxHashMap<Box<str>, u32>>);

// SAFETY: the map is only accessed by the holder of the broker lock (see `topic_id_locked`),
// which serialises all threads.
unsafe impl Sync for TopicCache {}

/// Why a publish attempt stopped: a subscriber to wait for, or an error.
enum Stall {
    Blocked(Blocked),
    Fail(Error),
}

impl From<Blocked> for Stall {
    fn from(b: Blocked) -> Stall {
        Stall::Blocked(b)
    }
}

/// Largest log position a sane region reaches (2^62 bytes: centuries of traffic).
const MAX_POSITION: u64 = 1 << 62;

/// Why a publish cannot proceed yet.
struct Blocked {
    slot: u32,
    head: u64,
    hold: u64,
}

enum Recipients {
    /// Interned topic: its bitmap of subscriber slots.
    Bitmap(u32),
    /// Topic table full: slots found by matching every filter.
    List(Vec<u32>),
}

impl Broker {
    /// Creates a broker region named `config.name` with default [`BrokerOptions`].
    ///
    /// Fails with [`Error::AlreadyExists`] if a live broker has that name; a stale region
    /// whose users all died is reclaimed.
    pub fn new(config: BrokerConfig) -> Result<Broker> {
        Broker::with_options(config, BrokerOptions::default())
    }

    /// Creates a broker region with explicit options.
    pub fn with_options(config: BrokerConfig, options: BrokerOptions) -> Result<Broker> {
        region::validate_name(&config.name)?;
        let p = Params::from_config(&config, &options)?;
        let l = Layout::compute(p)?;
        let os_id = region::os_id(&config.name);
        for _ in 0..5 {
            match Region::create(&os_id, l.total, options.mode)? {
                Created::New(region) => {
                    init_header(&region, &l, options.mode);
                    log::debug!(
                        "roker: created broker '{}' ({} bytes)",
                        config.name,
                        l.total
                    );
                    return Inner::attach(region, l, &config.name);
                }
                Created::Exists => {
                    if is_stale(&os_id, &config.name)? {
                        log::info!("roker: reclaiming stale region of broker '{}'", config.name);
                        region::unlink_os_id(&os_id);
                        continue;
                    }
                    return Err(Error::AlreadyExists(format!(
                        "a live broker named '{}' exists",
                        config.name
                    )));
                }
            }
        }
        Err(Error::AlreadyExists(format!(
            "broker '{}' kept being re-created by another process",
            config.name
        )))
    }

    /// Attaches to the broker named `name`, created by any process.
    pub fn connect(name: &str) -> Result<Broker> {
        region::validate_name(name)?;
        let os_id = region::os_id(name);
        let deadline = Instant::now() + INIT_TIMEOUT;
        let region = loop {
            match Region::open(&os_id, name) {
                Ok(r) if r.len() >= HEADER_SIZE => break r,
                Ok(_) | Err(Error::IncompatibleRegion(_)) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Ok(r) => {
                    return Err(Error::IncompatibleRegion(format!(
                        "region '{name}' is {} bytes, smaller than a header",
                        r.len()
                    )))
                }
                Err(Error::NotFound(_)) => {
                    return Err(Error::NotFound(format!("no broker named '{name}'")))
                }
                Err(e) => return Err(e),
            }
        };
        wait_ready(&region, name, deadline)?;
        let l = read_layout(&region, name)?;
        Inner::attach(region, l, name)
    }

    /// Whether a broker region named `name` exists (live or stale).
    pub fn exists(name: &str) -> bool {
        region::validate_name(name).is_ok() && Region::open(&region::os_id(name), name).is_ok()
    }

    /// Removes the region of the broker named `name` if it exists, whatever its state.
    /// Processes still attached keep their mapping but see [`Error::Closed`].
    pub fn remove(name: &str) -> Result<()> {
        region::validate_name(name)?;
        let os_id = region::os_id(name);
        if let Ok(region) = Region::open(&os_id, name) {
            if region.len() >= HEADER_SIZE
                && region.u64_at(H_MAGIC).load(Ordering::Acquire) == MAGIC
            {
                region
                    .u64_at(H_INIT)
                    .store(INIT_DESTROYED, Ordering::Release);
            }
        }
        region::unlink_os_id(&os_id);
        Ok(())
    }

    /// Removes every broker region on this machine whose users have all died (left behind
    /// by processes that were killed). Returns the names removed. Linux only; elsewhere it
    /// returns an empty list.
    pub fn remove_stale() -> Result<Vec<String>> {
        let mut removed = Vec::new();
        #[cfg(target_os = "linux")]
        {
            let dir = std::fs::read_dir("/dev/shm").map_err(|e| Error::Os(e.to_string()))?;
            for entry in dir.flatten() {
                let file = entry.file_name();
                let Some(name) = file.to_str().and_then(|f| f.strip_prefix("rk.")) else {
                    continue;
                };
                // Hashed (long) names cannot be mapped back; they are reclaimed on create.
                if region::validate_name(name).is_err()
                    || region::os_id(name) != format!("/rk.{name}")
                {
                    continue;
                }
                if let Ok(true) = is_stale(&region::os_id(name), name) {
                    region::unlink_os_id(&region::os_id(name));
                    removed.push(name.to_string());
                }
            }
        }
        Ok(removed)
    }

    /// Destroys the broker: removes its name at once and makes every handle, in every
    /// process, fail with [`Error::Closed`]. Blocked receivers wake up.
    pub fn destroy(&self) -> Result<()> {
        let i = &self.inner;
        i.h(H_INIT).store(INIT_DESTROYED, Ordering::SeqCst);
        for s in 0..i.l.p.max_clients {
            i.ring(s);
        }
        i.notify_space_force();
        i.region.unlink();
        i.closed.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Closes this handle: later calls on it (and its clones) fail with [`Error::Closed`].
    /// The mapping is released when the last clone drops.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        for s in 0..self.inner.l.p.max_clients {
            self.inner.ring(s);
        }
    }

    /// Whether this handle was closed or the broker destroyed.
    pub fn is_closed(&self) -> bool {
        self.inner.check_open().is_err()
    }

    /// The broker's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The configuration the broker was created with (read from the region).
    pub fn config(&self) -> (BrokerConfig, BrokerOptions) {
        let p = &self.inner.l.p;
        (
            BrokerConfig {
                name: self.inner.name.clone(),
                buffer_size: p.buffer_size as usize,
                max_clients: p.max_clients as usize,
                max_subscriptions_per_client: p.max_subs as usize,
            },
            BrokerOptions {
                policy: p.policy,
                publish_timeout: Duration::from_nanos(p.timeout_ns),
                max_message_size: Some(p.max_msg as usize),
                max_topic_len: p.max_topic_len as usize,
                max_topics: p.max_topics as usize,
                inbox_capacity: p.inbox_cap as usize,
                mode: self.inner.h(H_MODE).load(Ordering::Relaxed) as u32,
            },
        )
    }

    /// This handle's publisher id, carried by every message it publishes.
    pub fn publisher_id(&self) -> u64 {
        self.inner.publisher_id
    }

    /// Registers a client. `name` is informative (at most 64 bytes).
    pub fn register_client(&self, name: &str) -> Result<ClientId> {
        self.inner.register(name)
    }

    /// Unregisters a client: its subscriptions and queued messages are dropped and its id
    /// becomes invalid. Blocked receives on it return [`Error::ClientNotFound`].
    pub fn unregister_client(&self, id: &ClientId) -> Result<()> {
        self.inner.unregister(*id)
    }

    /// Subscribes a client to a filter (`*` one level, `#` any number of levels, last).
    /// Subscribing twice to the same filter is a no-op.
    pub fn subscribe(&self, id: &ClientId, filter: &str) -> Result<()> {
        self.inner.subscribe(*id, filter)
    }

    /// Removes one subscription; [`Error::NotFound`] if the client does not hold it.
    pub fn unsubscribe(&self, id: &ClientId, filter: &str) -> Result<()> {
        self.inner.unsubscribe(*id, filter)
    }

    /// The filters a client holds.
    pub fn subscriptions(&self, id: &ClientId) -> Result<Vec<Filter>> {
        self.inner.subscriptions(*id)
    }

    /// Every registered client, live or awaiting reclaim.
    pub fn clients(&self) -> Result<Vec<ClientInfo>> {
        self.inner.clients()
    }

    /// Counters of a client.
    pub fn client_stats(&self, id: &ClientId) -> Result<ClientStats> {
        self.inner.stats(*id)
    }

    /// Publishes a message to every client whose filters match its topic.
    /// Returns how many subscribers it was delivered to.
    pub fn publish(&self, message: Message) -> Result<usize> {
        self.inner.publish(message.topic.as_str(), &message.payload)
    }

    /// Publishes `payload` on a validated topic without building a [`Message`].
    pub fn publish_to(&self, topic: &Topic, payload: &[u8]) -> Result<usize> {
        self.inner.publish(topic.as_str(), payload)
    }

    /// Publishes `payload` on `topic`, validating the topic string.
    pub fn publish_str(&self, topic: &str, payload: &[u8]) -> Result<usize> {
        topic::validate_topic(topic, self.inner.l.p.max_topic_len as usize)?;
        self.inner.publish(topic, payload)
    }

    /// Publishes several payloads on one topic, in order, taking the broker lock once for
    /// as many as fit without waiting (much cheaper per message than `publish` in a loop).
    ///
    /// Returns how many were published: all of them unless the broker stayed full for the
    /// publish timeout (or failed) after some were out, in which case the rest were not
    /// published and may be retried. Fails only if none was published.
    pub fn publish_many(&self, topic: &str, payloads: &[&[u8]]) -> Result<usize> {
        topic::validate_topic(topic, self.inner.l.p.max_topic_len as usize)?;
        self.inner.publish_all(topic, payloads, |_| {})
    }

    /// Takes the next message for a client, if any, without waiting.
    pub fn receive(&self, id: &ClientId) -> Result<Option<Message>> {
        let mut out = None;
        self.inner
            .pop(*id, 1, false, |m, _| out = Some(m.to_message()))?;
        Ok(out)
    }

    /// Waits up to `timeout` for the next message (spinning briefly, then sleeping on a
    /// futex). `Ok(None)` when the time ran out.
    pub fn receive_timeout(&self, id: &ClientId, timeout: Duration) -> Result<Option<Message>> {
        if let Some(m) = self.receive(id)? {
            return Ok(Some(m));
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(m) = self.receive(id)? {
                return Ok(Some(m));
            }
            if !self.inner.wait_message(*id, deadline)? {
                return Ok(None);
            }
        }
    }

    /// Takes up to `max` queued messages at once, without waiting.
    pub fn receive_many(&self, id: &ClientId, max: usize) -> Result<Vec<Message>> {
        let mut out = Vec::with_capacity(max.min(BATCH));
        self.receive_batch_with(id, max, |m| out.push(m.to_message()))?;
        Ok(out)
    }

    /// Calls `f` on up to `max` queued messages read in place (no copy), without waiting.
    /// Returns how many were passed.
    pub fn receive_batch_with(
        &self,
        id: &ClientId,
        max: usize,
        mut f: impl FnMut(MessageRef<'_>),
    ) -> Result<usize> {
        let mut total = 0;
        while total < max {
            let n = self
                .inner
                .pop(*id, (max - total).min(BATCH), false, |m, _| f(m))?;
            if n == 0 {
                break;
            }
            total += n;
        }
        Ok(total)
    }

    /// Calls `f` on the next message read in place in shared memory (zero-copy).
    pub fn receive_with<R>(
        &self,
        id: &ClientId,
        f: impl FnOnce(MessageRef<'_>) -> R,
    ) -> Result<Option<R>> {
        let mut f = Some(f);
        let mut out = None;
        self.inner.pop(*id, 1, false, |m, _| {
            if let Some(f) = f.take() {
                out = Some(f(m));
            }
        })?;
        Ok(out)
    }

    /// Takes the next message and lends its payload in place until the returned value is
    /// dropped (zero-copy). While lent, its log space is not reused.
    pub fn receive_lent(&self, id: &ClientId) -> Result<Option<LentMessage>> {
        let mut out = None;
        let inner = &self.inner;
        inner.pop(*id, 1, true, |m, pos| {
            out = Some(LentMessage {
                inner: inner.clone(),
                slot: id.slot,
                generation: id.generation,
                pos,
                ptr: m.payload.as_ptr(),
                len: m.payload.len(),
                topic: m.topic.clone(),
                timestamp_ns: m.timestamp_ns,
                sequence: m.sequence,
                publisher_id: m.publisher_id,
                missed: m.missed,
            })
        })?;
        Ok(out)
    }

    /// Waits until a message is queued for `id` or `timeout` passes, without taking it.
    /// Returns whether a message is queued.
    pub fn wait_for_message(&self, id: &ClientId, timeout: Duration) -> Result<bool> {
        if self.inner.queued(*id)? > 0 {
            return Ok(true);
        }
        let deadline = Instant::now() + timeout;
        loop {
            if self.inner.queued(*id)? > 0 {
                return Ok(true);
            }
            if !self.inner.wait_message(*id, deadline)? {
                return Ok(self.inner.queued(*id)? > 0);
            }
        }
    }

    /// Reclaims the slots of clients whose processes died; returns how many.
    pub fn sweep(&self) -> Result<usize> {
        let i = &self.inner;
        i.check_open()?;
        let (_g, took) = i.lock()?;
        if took {
            i.repair_locked();
        }
        Ok(i.sweep_locked())
    }

    /// Waits asynchronously (Tokio) up to `timeout` for the next message.
    ///
    /// The wait runs on Tokio's blocking pool, sleeping on the client's futex.
    #[cfg(feature = "tokio")]
    pub async fn receive_async(&self, id: &ClientId, timeout: Duration) -> Result<Option<Message>> {
        if let Some(m) = self.receive(id)? {
            return Ok(Some(m));
        }
        let b = self.clone();
        let id = *id;
        tokio::task::spawn_blocking(move || b.receive_timeout(&id, timeout))
            .await
            .map_err(|e| Error::Os(format!("receive task failed: {e}")))?
    }
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("name", &self.inner.name)
            .field("publisher_id", &self.inner.publisher_id)
            .finish()
    }
}

fn init_header(r: &Region, l: &Layout, mode: u32) {
    let p = &l.p;
    let h = |off| r.u64_at(off);
    h(H_CREATOR).store(sys::self_identity(), Ordering::Relaxed);
    h(H_INIT).store(INIT_CREATING, Ordering::Release);
    h(H_TOTAL).store(l.total as u64, Ordering::Relaxed);
    h(H_BUFFER).store(p.buffer_size, Ordering::Relaxed);
    h(H_MAX_CLIENTS).store(p.max_clients as u64, Ordering::Relaxed);
    h(H_MAX_SUBS).store(p.max_subs as u64, Ordering::Relaxed);
    h(H_MAX_MSG).store(p.max_msg, Ordering::Relaxed);
    h(H_MAX_TOPIC_LEN).store(p.max_topic_len as u64, Ordering::Relaxed);
    h(H_MAX_TOPICS).store(p.max_topics as u64, Ordering::Relaxed);
    h(H_INBOX_CAP).store(p.inbox_cap as u64, Ordering::Relaxed);
    h(H_POLICY).store(policy_code(p.policy), Ordering::Relaxed);
    h(H_TIMEOUT_NS).store(p.timeout_ns, Ordering::Relaxed);
    h(H_ATTACH_SLOTS).store(p.attach_slots as u64, Ordering::Relaxed);
    h(H_LAST_SWEEP_NS).store(sys::now_ns(), Ordering::Relaxed);
    h(H_MODE).store(mode as u64, Ordering::Relaxed);
    h(H_VERSION).store(LAYOUT_VERSION, Ordering::Relaxed);
    h(H_MAGIC).store(MAGIC, Ordering::Relaxed);
    // Release: a process that reads READY with Acquire sees every field above.
    h(H_INIT).store(INIT_READY, Ordering::Release);
}

/// Waits for a region's creator to finish. Fails if the creator died or took too long.
fn wait_ready(r: &Region, name: &str, deadline: Instant) -> Result<()> {
    loop {
        match r.u64_at(H_INIT).load(Ordering::Acquire) {
            INIT_READY => return Ok(()),
            INIT_DESTROYED => {
                return Err(Error::NotFound(format!("broker '{name}' was destroyed")))
            }
            0 | INIT_CREATING => {
                let creator = r.u64_at(H_CREATOR).load(Ordering::Relaxed);
                if creator != 0 && !sys::is_alive(creator) {
                    return Err(Error::IncompatibleRegion(format!(
                        "the creator of broker '{name}' died while creating it"
                    )));
                }
                if Instant::now() >= deadline {
                    return Err(Error::IncompatibleRegion(format!(
                        "broker '{name}' was never initialised"
                    )));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            other => {
                return Err(Error::IncompatibleRegion(format!(
                    "region '{name}' has unknown init state {other}"
                )))
            }
        }
    }
}

/// Validates a ready region's header and recomputes its layout.
fn read_layout(r: &Region, name: &str) -> Result<Layout> {
    let h = |off| r.u64_at(off).load(Ordering::Acquire);
    let bad = |what: String| Error::IncompatibleRegion(format!("region '{name}': {what}"));
    if h(H_MAGIC) != MAGIC {
        return Err(bad("not a roker region (wrong magic)".into()));
    }
    if h(H_VERSION) != LAYOUT_VERSION {
        return Err(bad(format!(
            "layout version {} but this build speaks version {LAYOUT_VERSION}",
            h(H_VERSION)
        )));
    }
    let to_u32 =
        |v: u64, what: &str| u32::try_from(v).map_err(|_| bad(format!("{what} {v} out of range")));
    let p = Params {
        buffer_size: h(H_BUFFER),
        max_clients: to_u32(h(H_MAX_CLIENTS), "max clients")?,
        max_subs: to_u32(h(H_MAX_SUBS), "max subscriptions")?,
        max_msg: h(H_MAX_MSG),
        max_topic_len: to_u32(h(H_MAX_TOPIC_LEN), "max topic length")?,
        max_topics: to_u32(h(H_MAX_TOPICS), "max topics")?,
        inbox_cap: to_u32(h(H_INBOX_CAP), "inbox capacity")?,
        policy: policy_from(h(H_POLICY)).ok_or_else(|| bad("unknown policy".into()))?,
        timeout_ns: h(H_TIMEOUT_NS),
        attach_slots: to_u32(h(H_ATTACH_SLOTS), "attach slots")?,
    };
    let sane = p.buffer_size >= 4096
        && p.buffer_size % 8 == 0
        && (1..=65_535).contains(&p.max_clients)
        && (1..=65_535).contains(&p.max_subs)
        && (1..=65_535).contains(&p.max_topic_len)
        && p.max_topics <= 1 << 24
        && p.inbox_cap.is_power_of_two()
        && p.inbox_cap >= 2
        && p.attach_slots == p.max_clients + 64
        && p.max_msg > 0
        && (align8(RECORD_HEADER + p.max_topic_len as usize) as u64)
            .checked_add(p.max_msg)
            .and_then(|x| x.checked_mul(2))
            .is_some_and(|x| x <= p.buffer_size);
    if !sane {
        return Err(bad("header holds impossible configuration values".into()));
    }
    let l = Layout::compute(p).map_err(|e| bad(e.to_string()))?;
    if h(H_TOTAL) != l.total as u64 {
        return Err(bad(format!(
            "header says {} bytes but its configuration needs {}",
            h(H_TOTAL),
            l.total
        )));
    }
    if r.len() < l.total {
        return Err(bad(format!(
            "region is {} bytes, smaller than the {} its header claims",
            r.len(),
            l.total
        )));
    }
    Ok(l)
}

/// Whether an existing region can be reclaimed: never initialised by a live creator,
/// destroyed, or with no live user left.
fn is_stale(os_id: &str, name: &str) -> Result<bool> {
    let deadline = Instant::now() + Duration::from_millis(500);
    let region = loop {
        match Region::open(os_id, name) {
            Ok(r) if r.len() >= HEADER_SIZE => break r,
            Err(Error::NotFound(_)) => return Ok(true),
            Ok(_) | Err(Error::IncompatibleRegion(_)) => {
                if Instant::now() >= deadline {
                    return Ok(true);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e),
        }
    };
    let state = region.u64_at(H_INIT).load(Ordering::Acquire);
    if state > INIT_DESTROYED {
        // Not something roker wrote: refuse to overwrite it.
        return Err(Error::IncompatibleRegion(format!(
            "region '{name}' exists and is not a roker region (remove it with Broker::remove)"
        )));
    }
    match wait_ready(&region, name, Instant::now() + INIT_TIMEOUT) {
        Ok(()) => {}
        Err(Error::NotFound(_)) => return Ok(true),
        Err(_) => {
            let creator = region.u64_at(H_CREATOR).load(Ordering::Relaxed);
            return Ok(creator == 0 || !sys::is_alive(creator));
        }
    }
    let l = read_layout(&region, name)?;
    for i in 0..l.p.attach_slots {
        if sys::is_alive(region.u64_at(l.attach(i)).load(Ordering::Acquire)) {
            return Ok(false);
        }
    }
    for s in 0..l.p.max_clients {
        let c = l.client(s);
        let st = region.u64_at(c + C_STATE).load(Ordering::Acquire);
        if st != CS_FREE && sys::is_alive(region.u64_at(c + C_OWNER).load(Ordering::Acquire)) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn client_name_ok(name: &str) -> Result<()> {
    if name.len() > MAX_CLIENT_NAME_LEN || name.contains('\0') {
        return Err(Error::InvalidName(format!(
            "client name must be at most {MAX_CLIENT_NAME_LEN} bytes without NUL"
        )));
    }
    Ok(())
}

impl Inner {
    fn attach(region: Region, l: Layout, name: &str) -> Result<Broker> {
        let me = sys::self_identity();
        let mut attach_index = None;
        for pass in 0..2 {
            for i in 0..l.p.attach_slots {
                let w = region.u64_at(l.attach(i));
                let cur = w.load(Ordering::Relaxed);
                let free = cur == 0 || (pass == 1 && !sys::is_alive(cur));
                if free
                    && w.compare_exchange(cur, me, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
                {
                    attach_index = Some(i);
                    break;
                }
            }
            if attach_index.is_some() {
                break;
            }
        }
        let attach_index = attach_index.ok_or(Error::MaxClientsReached(l.p.attach_slots))?;
        let publisher_id = region
            .u64_at(H_NEXT_PUBLISHER)
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1);
        let locals = (0..l.p.max_clients)
            .map(|_| Mutex::new(LocalClient::default()))
            .collect();
        Ok(Broker {
            inner: Arc::new(Inner {
                region,
                l,
                name: name.to_string(),
                attach_index,
                publisher_id,
                seq: AtomicU64::new(0),
                topic_ids: TopicCache(UnsafeCell::new(FxHashMap::default())),
                locals,
                closed: AtomicBool::new(false),
            }),
        })
    }

    #[inline]
    fn h(&self, off: usize) -> &AtomicU64 {
        self.region.u64_at(off)
    }

    #[inline]
    fn c(&self, slot: u32, off: usize) -> &AtomicU64 {
        self.region.u64_at(self.l.client(slot) + off)
    }

    #[inline]
    fn desc(&self, slot: u32, index: u64) -> &AtomicU64 {
        self.region.u64_at(self.l.inbox_slot(slot, index))
    }

    /// The inbox protocol words of a client slot.
    #[inline]
    fn inbox<'a>(&'a self, slot: u32) -> Inbox<'a, AtomicU64, impl Fn(u64) -> &'a AtomicU64 + 'a> {
        Inbox {
            head: self.c(slot, C_HEAD),
            tail: self.c(slot, C_TAIL),
            hold: self.c(slot, C_HOLD),
            dropped: self.c(slot, C_DROPPED),
            ring: move |i| self.desc(slot, i),
        }
    }

    #[inline]
    fn doorbell(&self, slot: u32) -> &AtomicU32 {
        self.region.u32_at(self.l.client(slot) + C_DOORBELL)
    }

    fn space_futex(&self) -> &AtomicU32 {
        self.region.u32_at(H_SPACE_FUTEX)
    }

    #[inline]
    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Relaxed)
            || self.h(H_INIT).load(Ordering::Relaxed) != INIT_READY
        {
            return Err(Error::Closed);
        }
        Ok(())
    }

    fn lock(&self) -> Result<(LockGuard<'_>, bool)> {
        lock::lock(self.h(H_LOCK), LOCK_TIMEOUT)
    }

    /// Takes the broker lock, repairing after a dead holder.
    fn lock_repaired(&self) -> Result<LockGuard<'_>> {
        let (g, took) = self.lock()?;
        if took {
            self.repair_locked();
        }
        Ok(g)
    }

    fn local(&self, slot: u32) -> MutexGuard<'_, LocalClient> {
        self.locals[slot as usize]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn not_found(id: ClientId) -> Error {
        Error::ClientNotFound(format!("{id} is not registered"))
    }

    /// Whether `id` names the live client in its slot.
    #[inline]
    fn valid(&self, id: ClientId) -> Result<()> {
        if id.slot >= self.l.p.max_clients
            || self.c(id.slot, C_STATE).load(Ordering::Acquire) != CS_LIVE
            || self.c(id.slot, C_GEN).load(Ordering::Relaxed) != id.generation as u64
        {
            return Err(Self::not_found(id));
        }
        Ok(())
    }

    // ----- clients -------------------------------------------------------------------

    fn register(&self, name: &str) -> Result<ClientId> {
        client_name_ok(name)?;
        self.check_open()?;
        let _g = self.lock_repaired()?;
        self.check_open()?;
        let slot = match self.find_free_slot() {
            Some(s) => s,
            None => {
                self.sweep_locked();
                self.find_free_slot()
                    .ok_or(Error::MaxClientsReached(self.l.p.max_clients))?
            }
        };
        // Raise the high-water mark first, so a repair after our death visits this slot.
        self.h(H_CLIENT_HWM)
            .fetch_max(slot as u64 + 1, Ordering::Relaxed);
        let c = |off| self.c(slot, off);
        c(C_STATE).store(CS_INIT, Ordering::Relaxed);
        fault::point("register_mid");
        c(C_OWNER).store(sys::self_identity(), Ordering::Relaxed);
        c(C_SUB_COUNT).store(0, Ordering::Relaxed);
        c(C_NAME_LEN).store(name.len() as u64, Ordering::Relaxed);
        // SAFETY: the name area is MAX_CLIENT_NAME_LEN bytes inside this slot, `name` is at
        // most that long (checked), and only the lock holder writes a slot being registered.
        unsafe {
            std::ptr::copy_nonoverlapping(
                name.as_ptr(),
                self.region.ptr(self.l.client(slot) + C_NAME),
                name.len(),
            )
        };
        let tail = c(C_TAIL).load(Ordering::Relaxed);
        c(C_HEAD).store(tail, Ordering::Relaxed);
        c(C_HEAD_SEEN).store(tail, Ordering::Relaxed);
        c(C_HOLD).store(0, Ordering::Relaxed);
        c(C_SLEEPING).store(0, Ordering::Relaxed);
        c(C_DROPPED).store(0, Ordering::Relaxed);
        c(C_REPORTED).store(0, Ordering::Relaxed);
        c(C_RECEIVED).store(0, Ordering::Relaxed);
        let generation = (c(C_GEN).load(Ordering::Relaxed) as u32)
            .wrapping_add(1)
            .max(1);
        c(C_GEN).store(generation as u64, Ordering::Relaxed);
        *self.local(slot) = LocalClient::default();
        // Release: a reader that sees LIVE (Acquire in `valid`) sees the fields above.
        c(C_STATE).store(CS_LIVE, Ordering::Release);
        log::debug!("roker: registered client '{name}' in slot {slot}");
        Ok(ClientId { slot, generation })
    }

    fn find_free_slot(&self) -> Option<u32> {
        (0..self.l.p.max_clients).find(|&s| self.c(s, C_STATE).load(Ordering::Relaxed) == CS_FREE)
    }

    fn unregister(&self, id: ClientId) -> Result<()> {
        self.check_open()?;
        let _g = self.lock_repaired()?;
        self.valid(id)?;
        // Serialise with this process's receivers of the client.
        let _local = self.local(id.slot);
        self.free_slot_locked(id.slot);
        Ok(())
    }

    /// Frees a slot: drops its subscriptions, routing bits and queue. Under the lock.
    fn free_slot_locked(&self, slot: u32) {
        let c = |off| self.c(slot, off);
        c(C_STATE).store(CS_FREEING, Ordering::Release);
        self.h(H_PENDING_SLOT)
            .store(slot as u64 + 1, Ordering::Relaxed);
        fault::point("free_slot_mid");
        self.for_each_topic(|tid| self.clear_bit(tid, slot));
        c(C_SUB_COUNT).store(0, Ordering::Relaxed);
        let tail = c(C_TAIL).load(Ordering::Relaxed);
        c(C_HEAD).store(tail, Ordering::SeqCst);
        c(C_HOLD).store(0, Ordering::SeqCst);
        c(C_GEN).fetch_add(1, Ordering::Relaxed);
        c(C_STATE).store(CS_FREE, Ordering::Release);
        self.h(H_PENDING_SLOT).store(0, Ordering::Relaxed);
        self.ring(slot);
        self.notify_space_force();
    }

    /// Completes whatever a dead lock holder left half-done. Under the lock.
    fn repair_locked(&self) {
        let pending = self.h(H_PENDING_SLOT).load(Ordering::Relaxed);
        if pending != 0 {
            let slot = (pending - 1) as u32;
            if slot < self.l.p.max_clients {
                if self.c(slot, C_STATE).load(Ordering::Relaxed) == CS_LIVE {
                    self.rebuild_bits_locked(slot);
                } else {
                    self.free_slot_locked(slot);
                }
            }
            self.h(H_PENDING_SLOT).store(0, Ordering::Relaxed);
        }
        for s in 0..self.hwm() {
            let st = self.c(s, C_STATE).load(Ordering::Relaxed);
            // Registration and freeing happen entirely under the lock: a slot caught in
            // between belongs to the dead holder.
            if st == CS_INIT || st == CS_FREEING {
                self.free_slot_locked(s);
            }
        }
        self.sweep_locked();
    }

    /// Recomputes a live client's routing bits from its filters (after a dead holder's
    /// half-done subscribe or unsubscribe), dropping duplicate filters.
    fn rebuild_bits_locked(&self, slot: u32) {
        let mut filters: Vec<String> = Vec::new();
        for f in self.filters_of(slot) {
            if !filters.contains(&f) {
                filters.push(f);
            }
        }
        for (i, f) in filters.iter().enumerate() {
            self.write_filter(slot, i as u32, f);
        }
        self.c(slot, C_SUB_COUNT)
            .store(filters.len() as u64, Ordering::Relaxed);
        self.for_each_topic(|tid| {
            if self.with_topic(tid, |t| filters.iter().any(|f| topic::matches(f, t))) {
                self.set_bit(tid, slot);
            } else {
                self.clear_bit(tid, slot);
            }
        });
    }

    fn hwm(&self) -> u32 {
        (self.h(H_CLIENT_HWM).load(Ordering::Relaxed) as u32).min(self.l.p.max_clients)
    }

    /// Frees the slots of clients whose process is gone. Under the lock.
    fn sweep_locked(&self) -> usize {
        let mut verdicts: Vec<(u64, bool)> = Vec::new();
        let mut alive = |ident: u64| match verdicts.iter().find(|(i, _)| *i == ident) {
            Some(&(_, v)) => v,
            None => {
                let v = sys::is_alive(ident);
                verdicts.push((ident, v));
                v
            }
        };
        let mut freed = 0;
        for s in 0..self.hwm() {
            let st = self.c(s, C_STATE).load(Ordering::Relaxed);
            if st == CS_LIVE && !alive(self.c(s, C_OWNER).load(Ordering::Relaxed)) {
                log::info!("roker: reclaiming slot {s} of a dead client");
                self.free_slot_locked(s);
                freed += 1;
            }
        }
        for i in 0..self.l.p.attach_slots {
            let w = self.h(self.l.attach(i));
            let cur = w.load(Ordering::Relaxed);
            if cur != 0 && !alive(cur) {
                let _ = w.compare_exchange(cur, 0, Ordering::Relaxed, Ordering::Relaxed);
            }
        }
        self.h(H_LAST_SWEEP_NS)
            .store(sys::now_ns(), Ordering::Relaxed);
        freed
    }

    fn clients(&self) -> Result<Vec<ClientInfo>> {
        self.check_open()?;
        let _g = self.lock_repaired()?;
        Ok((0..self.hwm())
            .filter(|&s| self.c(s, C_STATE).load(Ordering::Relaxed) == CS_LIVE)
            .map(|s| {
                let owner = self.c(s, C_OWNER).load(Ordering::Relaxed);
                let len = (self.c(s, C_NAME_LEN).load(Ordering::Relaxed) as usize)
                    .min(MAX_CLIENT_NAME_LEN);
                let mut name = vec![0u8; len];
                // SAFETY: the name area holds MAX_CLIENT_NAME_LEN bytes and `len` is clamped to
                // it; names are written only under the lock, which we hold.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        self.region.ptr(self.l.client(s) + C_NAME),
                        name.as_mut_ptr(),
                        len,
                    )
                };
                ClientInfo {
                    id: ClientId {
                        slot: s,
                        generation: self.c(s, C_GEN).load(Ordering::Relaxed) as u32,
                    },
                    name: String::from_utf8_lossy(&name).into_owned(),
                    pid: sys::identity_pid(owner),
                    alive: sys::is_alive(owner),
                }
            })
            .collect())
    }

    fn queued(&self, id: ClientId) -> Result<u64> {
        self.check_open()?;
        self.valid(id)?;
        let t = self.c(id.slot, C_TAIL).load(Ordering::Acquire);
        let h = self.c(id.slot, C_HEAD).load(Ordering::Acquire);
        Ok(t.saturating_sub(h))
    }

    fn stats(&self, id: ClientId) -> Result<ClientStats> {
        let queued = self.queued(id)?;
        Ok(ClientStats {
            queued,
            received: self.c(id.slot, C_RECEIVED).load(Ordering::Relaxed),
            dropped: self.c(id.slot, C_DROPPED).load(Ordering::Relaxed),
            subscriptions: self.c(id.slot, C_SUB_COUNT).load(Ordering::Relaxed) as u32,
        })
    }

    // ----- filters and topics --------------------------------------------------------

    fn filter_str(&self, slot: u32, i: u32) -> String {
        let off = self.l.filter(slot, i);
        let len =
            (self.h(off).load(Ordering::Relaxed) as usize).min(self.l.p.max_topic_len as usize);
        let mut buf = vec![0u8; len];
        // SAFETY: the entry holds `max_topic_len` bytes after its length word and `len` is
        // clamped to that; filter entries are only written under the lock, which we hold.
        unsafe { std::ptr::copy_nonoverlapping(self.region.ptr(off + 8), buf.as_mut_ptr(), len) };
        String::from_utf8(buf).unwrap_or_default()
    }

    /// Calls `f` with a string stored in the region (length word at `len_off`, bytes at
    /// `bytes_off`, at most `max_topic_len`), read in place without allocating. Only under
    /// the broker lock, so nobody rewrites it meanwhile; bytes that are not UTF-8 (a
    /// corrupt region) read as the empty string.
    fn with_stored<R>(&self, len_off: usize, bytes_off: usize, f: impl FnOnce(&str) -> R) -> R {
        let len =
            (self.h(len_off).load(Ordering::Relaxed) as usize).min(self.l.p.max_topic_len as usize);
        // SAFETY: `bytes_off..bytes_off + len` lies in the entry's byte area (`len` is
        // clamped to its size); entries are only written by the lock holder, which is us,
        // and the slice does not outlive this call.
        let bytes = unsafe { std::slice::from_raw_parts(self.region.ptr(bytes_off), len) };
        f(std::str::from_utf8(bytes).unwrap_or(""))
    }

    /// Calls `f` with the interned topic `tid`, in place. Under the lock.
    fn with_topic<R>(&self, tid: u32, f: impl FnOnce(&str) -> R) -> R {
        let off = self.l.topic(tid);
        self.with_stored(off + T_LEN, off + T_BYTES, f)
    }

    /// Whether any filter of `slot` matches `topic`, without allocating. Under the lock.
    fn any_filter_matches(&self, slot: u32, topic: &str) -> bool {
        let n = (self.c(slot, C_SUB_COUNT).load(Ordering::Relaxed) as u32).min(self.l.p.max_subs);
        (0..n).any(|i| {
            let off = self.l.filter(slot, i);
            self.with_stored(off, off + 8, |f| !f.is_empty() && topic::matches(f, topic))
        })
    }

    fn filters_of(&self, slot: u32) -> Vec<String> {
        let n = (self.c(slot, C_SUB_COUNT).load(Ordering::Relaxed) as u32).min(self.l.p.max_subs);
        (0..n).map(|i| self.filter_str(slot, i)).collect()
    }

    fn write_filter(&self, slot: u32, i: u32, f: &str) {
        let off = self.l.filter(slot, i);
        // SAFETY: `f` was validated to at most `max_topic_len` bytes, the size of the entry's
        // byte area; only the lock holder writes filter entries.
        unsafe { std::ptr::copy_nonoverlapping(f.as_ptr(), self.region.ptr(off + 8), f.len()) };
        self.h(off).store(f.len() as u64, Ordering::Relaxed);
    }

    fn topic_eq(&self, tid: u32, topic: &str) -> bool {
        let off = self.l.topic(tid);
        if self.h(off + T_LEN).load(Ordering::Relaxed) != topic.len() as u64 {
            return false;
        }
        // SAFETY: the entry's byte area holds at least `topic.len()` (= its stored length,
        // at most max_topic_len) bytes; only the lock holder writes entries.
        let stored =
            unsafe { std::slice::from_raw_parts(self.region.ptr(off + T_BYTES), topic.len()) };
        stored == topic.as_bytes()
    }

    fn for_each_topic(&self, mut f: impl FnMut(u32)) {
        if self.h(H_TOPIC_COUNT).load(Ordering::Relaxed) == 0 {
            return;
        }
        for tid in 0..self.l.topic_slots as u32 {
            if self.h(self.l.topic(tid) + T_HASH).load(Ordering::Acquire) != 0 {
                f(tid);
            }
        }
    }

    fn bitmap_word(&self, tid: u32, w: usize) -> &AtomicU64 {
        self.h(self.l.topic_bitmap(tid) + w * 8)
    }

    fn set_bit(&self, tid: u32, slot: u32) {
        let w = slot as usize / 64;
        self.bitmap_word(tid, w)
            .fetch_or(1 << (slot % 64), Ordering::Relaxed);
        let range = self.h(self.l.topic(tid) + T_RANGE);
        let r = range.load(Ordering::Relaxed);
        let (lo, hi) = ((r & 0xffff_ffff) as usize, (r >> 32) as usize);
        let (lo, hi) = if hi == 0 {
            (w, w + 1)
        } else {
            (lo.min(w), hi.max(w + 1))
        };
        range.store(lo as u64 | ((hi as u64) << 32), Ordering::Relaxed);
    }

    fn clear_bit(&self, tid: u32, slot: u32) {
        let w = slot as usize / 64;
        let word = self.bitmap_word(tid, w);
        let before = word.fetch_and(!(1 << (slot % 64)), Ordering::Relaxed);
        if before != 0 && before & !(1 << (slot % 64)) == 0 {
            // The word became empty: shrink the range to the words still set.
            let set: Vec<usize> = (0..self.l.bitmap_words)
                .filter(|&i| self.bitmap_word(tid, i).load(Ordering::Relaxed) != 0)
                .collect();
            let r = match (set.first(), set.last()) {
                (Some(&lo), Some(&hi)) => lo as u64 | (((hi + 1) as u64) << 32),
                _ => 0,
            };
            self.h(self.l.topic(tid) + T_RANGE)
                .store(r, Ordering::Relaxed);
        }
    }

    fn subscribe(&self, id: ClientId, filter: &str) -> Result<()> {
        topic::validate_filter(filter, self.l.p.max_topic_len as usize)?;
        self.check_open()?;
        let _g = self.lock_repaired()?;
        self.valid(id)?;
        let slot = id.slot;
        let existing = self.filters_of(slot);
        if existing.iter().any(|f| f == filter) {
            return Ok(());
        }
        if existing.len() as u32 >= self.l.p.max_subs {
            return Err(Error::MaxSubscriptionsReached(self.l.p.max_subs));
        }
        self.h(H_PENDING_SLOT)
            .store(slot as u64 + 1, Ordering::Relaxed);
        self.write_filter(slot, existing.len() as u32, filter);
        self.c(slot, C_SUB_COUNT)
            .store(existing.len() as u64 + 1, Ordering::Relaxed);
        fault::point("subscribe_mid");
        self.for_each_topic(|tid| {
            if self.with_topic(tid, |t| topic::matches(filter, t)) {
                self.set_bit(tid, slot);
            }
        });
        self.h(H_PENDING_SLOT).store(0, Ordering::Relaxed);
        Ok(())
    }

    fn unsubscribe(&self, id: ClientId, filter: &str) -> Result<()> {
        self.check_open()?;
        let _g = self.lock_repaired()?;
        self.valid(id)?;
        let slot = id.slot;
        let mut filters = self.filters_of(slot);
        let Some(i) = filters.iter().position(|f| f == filter) else {
            return Err(Error::NotFound(format!(
                "{id} is not subscribed to '{filter}'"
            )));
        };
        self.h(H_PENDING_SLOT)
            .store(slot as u64 + 1, Ordering::Relaxed);
        let last = filters.len() - 1;
        if i != last {
            self.write_filter(slot, i as u32, &filters[last]);
        }
        self.c(slot, C_SUB_COUNT)
            .store(last as u64, Ordering::Relaxed);
        fault::point("unsubscribe_mid");
        filters.swap_remove(i);
        self.for_each_topic(|tid| {
            let w = self
                .bitmap_word(tid, slot as usize / 64)
                .load(Ordering::Relaxed);
            if w & (1 << (slot % 64)) != 0
                && !self.with_topic(tid, |t| filters.iter().any(|f| topic::matches(f, t)))
            {
                self.clear_bit(tid, slot);
            }
        });
        self.h(H_PENDING_SLOT).store(0, Ordering::Relaxed);
        Ok(())
    }

    fn subscriptions(&self, id: ClientId) -> Result<Vec<Filter>> {
        self.check_open()?;
        let _g = self.lock_repaired()?;
        self.valid(id)?;
        self.filters_of(id.slot)
            .into_iter()
            .map(|f| Filter::with_max_len(f, self.l.p.max_topic_len as usize))
            .collect()
    }

    /// Slots of live clients with a filter matching `topic` (full scan).
    fn matching_slots(&self, topic: &str) -> Vec<u32> {
        (0..self.hwm())
            .filter(|&s| {
                self.c(s, C_STATE).load(Ordering::Relaxed) == CS_LIVE
                    && self.any_filter_matches(s, topic)
            })
            .collect()
    }

    /// The interned id of `topic`, inserting it if the table has room. Under the lock.
    fn topic_id_locked(&self, topic: &str) -> Option<u32> {
        // SAFETY: we hold the broker lock. It excludes every other thread of this process
        // (a live process's lock is never taken over), so this is the only reference.
        let cache = unsafe { &mut *self.topic_ids.0.get() };
        if let Some(&id) = cache.get(topic) {
            return Some(id);
        }
        if self.l.topic_slots == 0 {
            return None;
        }
        let hash = region::fnv1a(topic.as_bytes()) | 1;
        let mask = self.l.topic_slots as u64 - 1;
        let mut idx = hash & mask;
        for _ in 0..self.l.topic_slots {
            let tid = idx as u32;
            let off = self.l.topic(tid);
            let hw = self.h(off + T_HASH).load(Ordering::Acquire);
            if hw == hash && self.topic_eq(tid, topic) {
                cache.insert(topic.into(), tid);
                return Some(tid);
            }
            if hw == 0 {
                if self.h(H_TOPIC_COUNT).load(Ordering::Relaxed) >= self.l.p.max_topics as u64 {
                    return None;
                }
                self.insert_topic_locked(tid, topic, hash);
                cache.insert(topic.into(), tid);
                return Some(tid);
            }
            idx = (idx + 1) & mask;
        }
        None
    }

    fn insert_topic_locked(&self, tid: u32, topic: &str, hash: u64) {
        let off = self.l.topic(tid);
        // An entry without a hash may hold a dead holder's half-done insert: reset it.
        self.h(off + T_RANGE).store(0, Ordering::Relaxed);
        for w in 0..self.l.bitmap_words {
            self.bitmap_word(tid, w).store(0, Ordering::Relaxed);
        }
        // SAFETY: `topic` is at most max_topic_len bytes (validated by the publisher), the
        // size of the entry's byte area; only the lock holder writes entries.
        unsafe {
            std::ptr::copy_nonoverlapping(
                topic.as_ptr(),
                self.region.ptr(off + T_BYTES),
                topic.len(),
            )
        };
        self.h(off + T_LEN)
            .store(topic.len() as u64, Ordering::Relaxed);
        for s in self.matching_slots(topic) {
            self.set_bit(tid, s);
        }
        fault::point("topic_insert_mid");
        self.h(off + T_HASH).store(hash, Ordering::Release);
        self.h(H_TOPIC_COUNT).fetch_add(1, Ordering::Relaxed);
    }

    fn for_each_recipient(
        &self,
        r: &Recipients,
        mut f: impl FnMut(u32) -> ControlFlow<Blocked>,
    ) -> Result<(), Blocked> {
        match r {
            Recipients::Bitmap(tid) => {
                let range = self.h(self.l.topic(*tid) + T_RANGE).load(Ordering::Relaxed);
                let (lo, hi) = (
                    (range & 0xffff_ffff) as usize,
                    ((range >> 32) as usize).min(self.l.bitmap_words),
                );
                for w in lo..hi {
                    let mut bits = self.bitmap_word(*tid, w).load(Ordering::Relaxed);
                    while bits != 0 {
                        let slot = (w * 64) as u32 + bits.trailing_zeros();
                        bits &= bits - 1;
                        if slot >= self.l.p.max_clients {
                            continue; // only set in a corrupt region
                        }
                        if let ControlFlow::Break(b) = f(slot) {
                            return Err(b);
                        }
                    }
                }
            }
            Recipients::List(v) => {
                for &slot in v {
                    if let ControlFlow::Break(b) = f(slot) {
                        return Err(b);
                    }
                }
            }
        }
        Ok(())
    }

    // ----- publish -------------------------------------------------------------------

    fn publish(&self, topic: &str, payload: &[u8]) -> Result<usize> {
        let mut recipients = 0;
        self.publish_all(topic, &[payload], |r| recipients = r)?;
        Ok(recipients)
    }

    /// Publishes `payloads` in order on `topic`, taking the broker lock once for as many as
    /// fit without waiting. Calls `sent` with each one's recipient count. Returns how many
    /// were published: all of them, or fewer if the broker stayed full (or failed) after
    /// some were out; an error only if none was.
    fn publish_all(
        &self,
        topic: &str,
        payloads: &[&[u8]],
        mut sent: impl FnMut(usize),
    ) -> Result<usize> {
        let p = &self.l.p;
        if let Some(big) = payloads.iter().find(|pl| pl.len() as u64 > p.max_msg) {
            return Err(Error::MessageTooLarge {
                size: big.len() as u64,
                max: p.max_msg,
            });
        }
        if topic.len() > p.max_topic_len as usize {
            return Err(Error::InvalidTopic(format!(
                "topic exceeds this broker's {} bytes",
                p.max_topic_len
            )));
        }
        self.check_open()?;
        let size = |pl: &[u8]| align8(RECORD_HEADER + topic.len() + pl.len()) as u64;
        let partial = |done: usize, e: Error| if done == 0 { Err(e) } else { Ok(done) };
        let mut done = 0;
        // Computed only once a publish has to wait: clocks cost on the hot path.
        let mut deadline = None;
        while done < payloads.len() {
            let blocked = {
                let _g = self.lock_repaired()?;
                fault::point("publish_lock_held");
                if let Err(e) = self.check_open() {
                    return partial(done, e);
                }
                let mut blocked = None;
                while done < payloads.len() {
                    let pl = payloads[done];
                    match self.try_publish_locked(topic, pl, size(pl)) {
                        Ok(count) => {
                            sent(count);
                            done += 1;
                        }
                        Err(Stall::Blocked(b)) => {
                            blocked = Some(b);
                            break;
                        }
                        Err(Stall::Fail(e)) => return partial(done, e),
                    }
                }
                match blocked {
                    Some(b) => b,
                    None => break,
                }
            };
            let deadline = *deadline
                .get_or_insert_with(|| Instant::now() + Duration::from_nanos(p.timeout_ns));
            if let Err(e) = self.wait_space(blocked, deadline) {
                return partial(done, e);
            }
        }
        Ok(done)
    }

    /// One attempt at a publish, under the lock.
    fn try_publish_locked(&self, topic: &str, payload: &[u8], n: u64) -> Result<usize, Stall> {
        let p = &self.l.p;
        let now = sys::now_ns();
        if now.saturating_sub(self.h(H_LAST_SWEEP_NS).load(Ordering::Relaxed)) > SWEEP_EVERY_NS {
            self.sweep_locked();
        }
        let recipients = match self.topic_id_locked(topic) {
            Some(tid) => Recipients::Bitmap(tid),
            None => Recipients::List(self.matching_slots(topic)),
        };
        let drop_oldest = p.policy == SlowSubscriberPolicy::DropOldest;
        let cap = p.inbox_cap as u64;
        let mut count = 0usize;
        // Pass 1: every recipient's inbox must have room.
        self.for_each_recipient(&recipients, |s| {
            count += 1;
            let tail = self.c(s, C_TAIL).load(Ordering::Relaxed);
            // The head only grows: a stale copy that shows room is still right.
            if tail.wrapping_sub(self.c(s, C_HEAD_SEEN).load(Ordering::Relaxed)) < cap {
                return ControlFlow::Continue(());
            }
            loop {
                let head = self.c(s, C_HEAD).load(Ordering::SeqCst);
                if head > tail || tail - head > cap || tail > MAX_POSITION {
                    // Only a corrupt region gets here: start the inbox afresh.
                    log::error!("roker: client slot {s} had corrupt inbox indices; reset");
                    self.c(s, C_TAIL).store(0, Ordering::SeqCst);
                    self.c(s, C_HEAD).store(0, Ordering::SeqCst);
                    self.c(s, C_HEAD_SEEN).store(0, Ordering::Relaxed);
                    return ControlFlow::Continue(());
                }
                self.c(s, C_HEAD_SEEN).store(head, Ordering::Relaxed);
                if tail - head < cap {
                    return ControlFlow::Continue(());
                }
                if !drop_oldest {
                    return ControlFlow::Break(self.blocked_on(s));
                }
                // Make room for exactly one, in a single step.
                self.inbox(s).drop_to(head, tail - cap + 1);
            }
        })?;
        let seq = self.seq.load(Ordering::Relaxed) + 1;
        if count == 0 {
            self.seq.store(seq, Ordering::Relaxed);
            return Ok(0);
        }
        let start = self.claim(n)?;
        fault::point("publish_after_claim");
        let tid = match recipients {
            Recipients::Bitmap(tid) => tid,
            Recipients::List(_) => NO_TOPIC_ID,
        };
        self.write_record(start, n, tid, topic, payload, seq, now);
        self.seq.store(seq, Ordering::Relaxed);
        fault::point("publish_before_push");
        // Pass 2: push one descriptor per recipient and ring sleepers.
        let _ = self.for_each_recipient(&recipients, |s| {
            // `push` ends with a SeqCst tail store; with the SeqCst load of `sleeping` below
            // it pairs with the receiver's SeqCst store of `sleeping` then load of `tail`,
            // so either we see it asleep or it sees the new tail (no lost wake-up).
            self.inbox(s).push(start);
            if self.c(s, C_SLEEPING).load(Ordering::SeqCst) != 0 {
                self.ring(s);
            }
            fault::point("publish_mid_push");
            ControlFlow::Continue(())
        });
        Ok(count)
    }

    fn blocked_on(&self, s: u32) -> Blocked {
        Blocked {
            slot: s,
            head: self.c(s, C_HEAD).load(Ordering::SeqCst),
            hold: self.c(s, C_HOLD).load(Ordering::SeqCst),
        }
    }

    /// Drops the oldest queued message of `s` (DropOldest), if `head` is still its head.
    fn drop_one(&self, s: u32, head: u64) -> bool {
        self.inbox(s).drop_one(head)
    }

    /// Oldest log position still referenced by any live subscriber (or `w` if none).
    fn min_ref(&self, w: u64) -> (u64, Option<u32>) {
        let mut m = w;
        let mut who = None;
        for s in 0..self.hwm() {
            if self.c(s, C_STATE).load(Ordering::Acquire) != CS_LIVE {
                continue;
            }
            let r = self.inbox(s).oldest_ref();
            if r < m {
                m = r;
                who = Some(s);
            }
        }
        (m, who)
    }

    /// Claims `n` bytes of log; returns the record's start position. Under the lock.
    fn claim(&self, n: u64) -> Result<u64, Stall> {
        let b = self.l.p.buffer_size;
        let w = self.h(H_WRITE_POS).load(Ordering::Relaxed);
        if w > MAX_POSITION || 2 * n > b {
            return Err(Stall::Fail(Error::IncompatibleRegion(format!(
                "corrupt log state (write position {w}, record of {n} bytes in a {b}-byte log)"
            ))));
        }
        let off = w % b;
        let start = if off + n > b { w + (b - off) } else { w };
        let end = start + n;
        // A bound above `end` can only come from a corrupt cache: it forces a rescan.
        let fits = |min: u64| min <= end && end - min <= b;
        if !fits(self.h(H_CACHED_MIN).load(Ordering::Relaxed)) {
            // Each round drops one entry or finds the bound moved; more rounds than an inbox
            // holds means a corrupt inbox: give up as blocked (the publish times out).
            let mut rounds = 0u64;
            loop {
                rounds += 1;
                let (min, who) = self.min_ref(w);
                self.h(H_CACHED_MIN).store(min, Ordering::Relaxed);
                if fits(min) {
                    break;
                }
                // Only a corrupt write position leaves no referrer below it.
                let Some(s) = who else { break };
                if rounds > 2 * self.l.p.inbox_cap as u64 + 16 {
                    return Err(self.blocked_on(s).into());
                }
                if self.l.p.policy == SlowSubscriberPolicy::Block {
                    return Err(self.blocked_on(s).into());
                }
                // DropOldest: drop the blocker's queued messages below the needed bound; a
                // record it is reading right now (its hold) must be waited for.
                let hold = self.c(s, C_HOLD).load(Ordering::SeqCst);
                if hold != 0 && !fits(hold - 1) {
                    return Err(self.blocked_on(s).into());
                }
                let head = self.c(s, C_HEAD).load(Ordering::SeqCst);
                let tail = self.c(s, C_TAIL).load(Ordering::Relaxed);
                if head < tail && !fits(self.desc(s, head).load(Ordering::Relaxed)) {
                    self.drop_one(s, head);
                }
            }
        }
        // Advance the write position before copying: a publisher that dies mid-copy leaves
        // a gap nobody references, and nobody else can claim the same bytes.
        self.h(H_WRITE_POS).store(end, Ordering::Relaxed);
        Ok(start)
    }

    #[allow(clippy::too_many_arguments)]
    fn write_record(
        &self,
        start: u64,
        n: u64,
        tid: u32,
        topic: &str,
        payload: &[u8],
        seq: u64,
        now: u64,
    ) {
        let off = self.l.log_off + (start % self.l.p.buffer_size) as usize;
        let words = [
            n | ((tid as u64) << 32),
            topic.len() as u64,
            payload.len() as u64,
            self.publisher_id,
            seq,
            now,
        ];
        // SAFETY: `claim` reserved `n` bytes at `off` inside the log (records never wrap),
        // `n` covers the header, topic and payload, and no live reader references these
        // bytes (the reclaim bound). Only the lock holder writes the log.
        unsafe {
            let base = self.region.ptr(off);
            std::ptr::copy_nonoverlapping(words.as_ptr() as *const u8, base, RECORD_HEADER);
            std::ptr::copy_nonoverlapping(topic.as_ptr(), base.add(RECORD_HEADER), topic.len());
            let half = payload.len() / 2;
            std::ptr::copy_nonoverlapping(
                payload.as_ptr(),
                base.add(RECORD_HEADER + topic.len()),
                half,
            );
            fault::point("publish_mid_copy");
            std::ptr::copy_nonoverlapping(
                payload.as_ptr().add(half),
                base.add(RECORD_HEADER + topic.len() + half),
                payload.len() - half,
            );
        }
    }

    /// Waits (outside the lock) until the subscriber that blocked a publish makes progress,
    /// dies, or the deadline passes (then [`Error::BufferFull`]).
    fn wait_space(&self, b: Blocked, deadline: Instant) -> Result<()> {
        let changed = || {
            self.c(b.slot, C_HEAD).load(Ordering::SeqCst) != b.head
                || self.c(b.slot, C_HOLD).load(Ordering::SeqCst) != b.hold
                || self.c(b.slot, C_STATE).load(Ordering::SeqCst) != CS_LIVE
        };
        if Instant::now() >= deadline {
            return Err(Error::BufferFull);
        }
        for i in 0..200 {
            if changed() {
                return Ok(());
            }
            if i < 100 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        let started = Instant::now();
        let mut next_liveness = started + Duration::from_millis(20);
        let waiters = self.h(H_SPACE_WAITERS);
        waiters.fetch_add(1, Ordering::SeqCst);
        let result = loop {
            let v = self.space_futex().load(Ordering::SeqCst);
            if changed() {
                break Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                break Err(Error::BufferFull);
            }
            if self.check_open().is_err() {
                break Err(Error::Closed);
            }
            if now >= next_liveness {
                next_liveness = now + Duration::from_millis(100);
                let owner = self.c(b.slot, C_OWNER).load(Ordering::Relaxed);
                if !sys::is_alive(owner) {
                    break Ok(());
                }
            }
            let slice = deadline.min(next_liveness).saturating_duration_since(now);
            sys::futex_wait(self.space_futex(), v, slice.max(Duration::from_micros(50)));
        };
        waiters.fetch_sub(1, Ordering::SeqCst);
        if result.is_ok() && !sys::is_alive(self.c(b.slot, C_OWNER).load(Ordering::Relaxed)) {
            // The blocker died: reclaim it now rather than at the next periodic sweep.
            let _g = self.lock_repaired()?;
            self.sweep_locked();
        }
        result
    }

    /// Wakes publishers waiting for space, if any.
    #[inline]
    fn notify_space(&self) {
        // SeqCst: ordered after the receiver's SeqCst head/hold updates, against the
        // waiter's SeqCst increment then re-check (no lost wake-up).
        if self.h(H_SPACE_WAITERS).load(Ordering::SeqCst) != 0 {
            self.notify_space_force();
        }
    }

    fn notify_space_force(&self) {
        self.space_futex().fetch_add(1, Ordering::SeqCst);
        sys::futex_wake_all(self.space_futex());
    }

    /// Rings a client's doorbell, waking its sleeping receivers.
    fn ring(&self, slot: u32) {
        self.doorbell(slot).fetch_add(1, Ordering::SeqCst);
        sys::futex_wake_all(self.doorbell(slot));
    }

    // ----- receive -------------------------------------------------------------------

    /// Claims up to `max` (≤ BATCH) queued messages of `id` and passes each, read in place,
    /// to `f` with its log position. With `lend`, claims one and keeps it held afterwards.
    fn pop<F>(&self, id: ClientId, max: usize, lend: bool, mut f: F) -> Result<usize>
    where
        F: FnMut(MessageRef<'_>, u64),
    {
        self.check_open()?;
        if id.slot >= self.l.p.max_clients {
            return Err(Self::not_found(id));
        }
        let s = id.slot;
        let mut local = self.local(s);
        self.valid(id)?;
        let inbox = self.inbox(s);
        let lent_before = !local.lent.is_empty();
        let max = if lend { 1 } else { max.clamp(1, BATCH) };
        let mut buf = [0u64; BATCH];
        // An older lend already protects everything after it.
        let k = inbox.claim(&mut buf[..max], lent_before);
        if k == 0 {
            return Ok(0);
        }

        fault::point("receive_mid_read");
        let dropped = self.c(s, C_DROPPED).load(Ordering::Acquire);
        let reported = self.c(s, C_REPORTED).load(Ordering::Relaxed);
        let mut missed = dropped.saturating_sub(reported);
        if missed != 0 {
            self.c(s, C_REPORTED).store(dropped, Ordering::Relaxed);
        }
        let mut corrupt = None;
        let mut delivered = 0;
        for &pos in &buf[..k] {
            match self.read_record(pos, &mut local) {
                Ok((meta, topic, payload)) => {
                    f(
                        MessageRef {
                            topic: &topic,
                            payload,
                            timestamp_ns: meta.2,
                            sequence: meta.1,
                            publisher_id: meta.0,
                            missed,
                            topic_id: meta.3,
                        },
                        pos,
                    );
                    missed = 0;
                    delivered += 1;
                }
                Err(e) => corrupt = Some(e),
            }
        }
        if lend && delivered == 1 {
            local.lent.push(buf[0]);
        } else if !lent_before {
            inbox.release();
        }
        self.c(s, C_RECEIVED)
            .fetch_add(delivered as u64, Ordering::Relaxed);
        drop(local);
        self.notify_space();
        match corrupt {
            Some(e) if delivered == 0 => Err(e),
            _ => Ok(delivered),
        }
    }

    /// Reads the record at `pos`: ((publisher, sequence, time), topic, payload in place).
    #[allow(clippy::type_complexity)]
    fn read_record(
        &self,
        pos: u64,
        local: &mut LocalClient,
    ) -> Result<((u64, u64, u64, u32), Topic, &[u8])> {
        let b = self.l.p.buffer_size;
        let off_in_log = pos % b;
        let corrupt = || Error::IncompatibleRegion(format!("corrupt record at log position {pos}"));
        if off_in_log + RECORD_HEADER as u64 > b || off_in_log % 8 != 0 {
            return Err(corrupt());
        }
        let base = self.l.log_off + off_in_log as usize;
        let mut words = [0u64; RECORD_HEADER / 8];
        // SAFETY: the header lies inside the log (checked above). The record was completely
        // written before its descriptor was published (Acquire on the tail), and our hold
        // keeps it from being reused while we read.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.region.ptr(base),
                words.as_mut_ptr() as *mut u8,
                RECORD_HEADER,
            )
        };
        let total = words[R_TOTAL / 8] & 0xffff_ffff;
        let tid = (words[R_TOTAL / 8] >> 32) as u32;
        let topic_len = words[R_TOPIC_LEN / 8];
        let payload_len = words[R_PAYLOAD_LEN / 8];
        if total
            < (RECORD_HEADER as u64)
                .saturating_add(topic_len)
                .saturating_add(payload_len)
        {
            return Err(corrupt());
        }
        if topic_len == 0
            || topic_len > self.l.p.max_topic_len as u64
            || payload_len > self.l.p.max_msg
            || off_in_log + (RECORD_HEADER as u64) + topic_len + payload_len > b
        {
            return Err(corrupt());
        }
        let topic = match local.topics.get(&tid) {
            Some(t) if tid != NO_TOPIC_ID => t.clone(),
            _ => {
                // SAFETY: within the record, inside the log (bounds checked above).
                let bytes = unsafe {
                    std::slice::from_raw_parts(
                        self.region.ptr(base + RECORD_HEADER),
                        topic_len as usize,
                    )
                };
                let t = Topic::from_bytes(bytes, self.l.p.max_topic_len as usize)
                    .map_err(|_| corrupt())?;
                if tid != NO_TOPIC_ID {
                    local.topics.insert(tid, t.clone());
                }
                t
            }
        };
        // SAFETY: bounds checked above; the bytes are immutable while held (see above).
        let payload = unsafe {
            std::slice::from_raw_parts(
                self.region.ptr(base + RECORD_HEADER + topic_len as usize),
                payload_len as usize,
            )
        };
        Ok((
            (
                words[R_PUBLISHER / 8],
                words[R_SEQ / 8],
                words[R_TIME / 8],
                tid,
            ),
            topic,
            payload,
        ))
    }

    /// Sleeps until `id` may have a message, or the deadline passes (returns false).
    fn wait_message(&self, id: ClientId, deadline: Instant) -> Result<bool> {
        let s = id.slot;
        let has =
            || self.c(s, C_TAIL).load(Ordering::SeqCst) > self.c(s, C_HEAD).load(Ordering::SeqCst);
        // Spin a little: a message arriving within microseconds costs no syscall. Between
        // checks, a few pause instructions: polling the publisher's line back-to-back would
        // steal it from the publisher on every message and slow both sides down.
        for i in 0..256 {
            if has() {
                return Ok(true);
            }
            if i % 32 == 31 {
                std::thread::yield_now();
            } else {
                for _ in 0..SPIN_PAUSES {
                    std::hint::spin_loop();
                }
            }
        }
        loop {
            self.check_open()?;
            self.valid(id)?;
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            let bell = self.doorbell(s).load(Ordering::SeqCst);
            self.c(s, C_SLEEPING).store(1, Ordering::SeqCst);
            if has() {
                self.c(s, C_SLEEPING).store(0, Ordering::SeqCst);
                return Ok(true);
            }
            let slice = (deadline - now).min(Duration::from_millis(100));
            sys::futex_wait(self.doorbell(s), bell, slice);
            self.c(s, C_SLEEPING).store(0, Ordering::SeqCst);
            if has() {
                return Ok(true);
            }
        }
    }

    pub(crate) fn release_lend(&self, slot: u32, generation: u32, pos: u64) {
        let mut local = self.local(slot);
        if let Some(i) = local.lent.iter().position(|&p| p == pos) {
            local.lent.swap_remove(i);
        }
        let live = self.c(slot, C_STATE).load(Ordering::Acquire) == CS_LIVE
            && self.c(slot, C_GEN).load(Ordering::Relaxed) == generation as u64;
        if live {
            let next = local.lent.iter().min().map_or(0, |&p| p + 1);
            self.c(slot, C_HOLD).store(next, Ordering::SeqCst);
        }
        drop(local);
        self.notify_space();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.h(self.l.attach(self.attach_index))
            .store(0, Ordering::Release);
        if self.h(H_INIT).load(Ordering::Acquire) != INIT_READY {
            return;
        }
        let anyone = (0..self.l.p.attach_slots)
            .any(|i| sys::is_alive(self.h(self.l.attach(i)).load(Ordering::Acquire)));
        if !anyone {
            log::debug!(
                "roker: last user of broker '{}' left; removing it",
                self.name
            );
            self.region.unlink();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(tag: &str) -> Broker {
        Broker::new(BrokerConfig {
            name: format!("u{}-{tag}", std::process::id()),
            buffer_size: 1 << 16,
            max_clients: 4,
            max_subscriptions_per_client: 2,
        })
        .unwrap()
    }

    fn corrupt_then_connect(tag: &str, off: usize, value: u64) -> Error {
        let b = make(tag);
        b.inner.h(off).store(value, Ordering::SeqCst);
        let e = Broker::connect(b.name()).unwrap_err();
        b.inner.region.unlink();
        e
    }

    #[test]
    fn corrupt_headers_are_incompatible_region_errors() {
        for (i, (off, value)) in [
            (H_MAGIC, 0xdead_beef),
            (H_VERSION, LAYOUT_VERSION + 1),
            (H_TOTAL, 12345),
            (H_BUFFER, 1 << 40),
            (H_MAX_CLIENTS, 0),
            (H_INBOX_CAP, 3),
            (H_POLICY, 9),
            (H_INIT, 77),
            (H_ATTACH_SLOTS, 1),
        ]
        .into_iter()
        .enumerate()
        {
            let e = corrupt_then_connect(&format!("corrupt{i}"), off, value);
            assert_eq!(e.code(), "IncompatibleRegion", "field at {off}: {e}");
        }
    }

    #[test]
    fn region_smaller_than_its_header_claims_is_refused() {
        let name = format!("u{}-short", std::process::id());
        let os_id = region::os_id(&name);
        let big = make("shortsrc");
        // Copy a valid header into a region that is too small for the layout it claims.
        let region = match Region::create(&os_id, 64 * 1024, 0o600).unwrap() {
            Created::New(r) => r,
            Created::Exists => panic!("exists"),
        };
        for off in (0..HEADER_SIZE).step_by(8) {
            region
                .u64_at(off)
                .store(big.inner.h(off).load(Ordering::SeqCst), Ordering::SeqCst);
        }
        let e = Broker::connect(&name).unwrap_err();
        assert_eq!(e.code(), "IncompatibleRegion", "{e}");
        assert!(e.to_string().contains("smaller"), "{e}");
        region.unlink();
    }

    #[test]
    fn creator_that_died_mid_init_is_reported_not_waited_for_forever() {
        let name = format!("u{}-midinit", std::process::id());
        let os_id = region::os_id(&name);
        let region = match Region::create(&os_id, 64 * 1024, 0o600).unwrap() {
            Created::New(r) => r,
            Created::Exists => panic!("exists"),
        };
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = ((child.id() as u64) << 32) | 1;
        child.wait().unwrap();
        region.u64_at(H_CREATOR).store(dead, Ordering::SeqCst);
        region.u64_at(H_INIT).store(INIT_CREATING, Ordering::SeqCst);
        assert_eq!(
            Broker::connect(&name).unwrap_err().code(),
            "IncompatibleRegion"
        );
        // And create treats it as stale and replaces it.
        let b = Broker::new(BrokerConfig {
            name: name.clone(),
            buffer_size: 1 << 16,
            max_clients: 2,
            max_subscriptions_per_client: 1,
        })
        .unwrap();
        assert_eq!(b.name(), name);
    }

    #[test]
    fn corrupt_record_is_an_error_not_a_crash() {
        let b = make("badrec");
        let s = b.register_client("s").unwrap();
        b.subscribe(&s, "t").unwrap();
        b.publish_str("t", b"x").unwrap();
        // Scribble over the record's length words.
        let log = b.inner.l.log_off;
        b.inner
            .h(log + R_PAYLOAD_LEN)
            .store(u64::MAX / 2, Ordering::SeqCst);
        assert_eq!(b.receive(&s).unwrap_err().code(), "IncompatibleRegion");
        // The broker keeps working afterwards.
        b.publish_str("t", b"y").unwrap();
        assert_eq!(b.receive(&s).unwrap().unwrap().payload(), b"y");
    }

    #[test]
    fn repair_after_dead_holder_finishes_half_done_updates() {
        let b = make("repair");
        let a = b.register_client("a").unwrap();
        b.subscribe(&a, "x/#").unwrap();
        b.publish_str("x/1", b"1").unwrap();
        b.receive(&a).unwrap().unwrap();
        // Simulate a dead holder that was half-way through unsubscribing `a`: the filter
        // is gone but the routing bit is still set, and the lock names a dead process.
        b.inner.c(a.slot, C_SUB_COUNT).store(0, Ordering::SeqCst);
        b.inner
            .h(H_PENDING_SLOT)
            .store(a.slot as u64 + 1, Ordering::SeqCst);
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = ((child.id() as u64) << 32) | 1;
        child.wait().unwrap();
        b.inner.h(H_LOCK).store(dead, Ordering::SeqCst);
        // The next operation takes the lock over and repairs: no delivery to `a`.
        assert_eq!(b.publish_str("x/1", b"2").unwrap(), 0);
        assert_eq!(b.inner.h(H_PENDING_SLOT).load(Ordering::SeqCst), 0);
        assert!(b.receive(&a).unwrap().is_none());
    }
}
