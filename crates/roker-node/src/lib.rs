//! Node.js binding of roker: converts types, maps errors to `err.code`, and runs async
//! waits on dedicated threads. All broker logic lives in the `roker` crate; the ergonomic
//! TypeScript API (`index.ts`) wraps these native classes.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use napi::bindgen_prelude::*;
use napi::JsDeferred;
use napi_derive::napi;

use roker::{ClientId, SlowSubscriberPolicy};

/// Error code carried to JavaScript as `err.code`.
pub enum Code {
    /// A roker error code (`BufferFull`, `InvalidTopic`, ...).
    Roker(&'static str),
    /// A napi status (argument conversion failures and the like).
    Napi(Status),
}

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        match self {
            Code::Roker(c) => c,
            Code::Napi(s) => s.as_ref(),
        }
    }
}

impl From<Status> for Code {
    fn from(s: Status) -> Self {
        Code::Napi(s)
    }
}

fn err(e: roker::Error) -> napi::Error<Code> {
    napi::Error::new(Code::Roker(e.code()), e.to_string())
}

fn invalid(msg: impl Into<String>) -> napi::Error<Code> {
    napi::Error::new(Code::Roker("InvalidConfig"), msg.into())
}

fn lift(e: napi::Error) -> napi::Error<Code> {
    napi::Error::new(Code::Napi(e.status), e.reason.clone())
}

/// Every stable error code roker can throw.
#[napi]
pub fn error_codes() -> Vec<&'static str> {
    roker::Error::CODES.to_vec()
}

/// Options of `new Broker(options)`.
#[napi(object)]
pub struct NativeBrokerOptions {
    /// Broker name: 1 to 64 characters of `A-Z a-z 0-9 _ - .`.
    pub name: String,
    /// Bytes of the shared message log (default 64 MiB).
    pub buffer_size: Option<f64>,
    /// Most clients registered at once (default 256).
    pub max_clients: Option<f64>,
    /// Most subscriptions per client (default 64).
    pub max_subscriptions_per_client: Option<f64>,
    /// `'block'` (default) or `'dropOldest'`.
    pub policy: Option<String>,
    /// Milliseconds a `block` publish waits for room before `BufferFull` (default 1000).
    pub publish_timeout: Option<f64>,
    /// Largest payload in bytes (default: the largest that fits the buffer).
    pub max_message_size: Option<f64>,
    /// Longest topic or filter in bytes (default 256).
    pub max_topic_length: Option<f64>,
    /// Topics interned for fast routing (default 4096).
    pub max_topics: Option<f64>,
    /// Messages a subscriber may have queued, a power of two (default 1024).
    pub inbox_capacity: Option<f64>,
    /// Permission bits of the region (default 0o600).
    pub mode: Option<f64>,
}

fn whole(v: Option<f64>, what: &str, default: usize) -> napi::Result<usize, Code> {
    match v {
        None => Ok(default),
        Some(x)
            if x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x <= 9.007_199_254_740_991e15 =>
        {
            Ok(x as usize)
        }
        Some(x) => Err(invalid(format!(
            "{what} must be a non-negative integer, got {x}"
        ))),
    }
}

/// A message as received from native code; wrapped into `Message` by the TypeScript API.
#[napi(object)]
pub struct NativeMessage {
    /// Topic it was published on.
    pub topic: String,
    /// Payload bytes.
    pub payload: Buffer,
    /// Publish time, milliseconds since the Unix epoch (fractional).
    pub timestamp: f64,
    /// Per-publisher sequence number, from 1.
    pub sequence: f64,
    /// Id of the publishing broker handle.
    pub publisher_id: f64,
    /// Messages lost to `dropOldest` just before this one.
    pub missed: f64,
}

fn to_native(m: roker::MessageRef<'_>) -> NativeMessage {
    NativeMessage {
        topic: m.topic.as_str().to_owned(),
        payload: Buffer::from(m.payload.to_vec()),
        timestamp: m.timestamp_ns as f64 / 1e6,
        sequence: m.sequence as f64,
        publisher_id: m.publisher_id as f64,
        missed: m.missed as f64,
    }
}

/// Counters of one client.
#[napi(object)]
pub struct NativeClientStats {
    /// Messages waiting in its inbox.
    pub queued: f64,
    /// Messages it has received.
    pub received: f64,
    /// Messages dropped from its inbox by `dropOldest`.
    pub dropped: f64,
    /// Subscriptions it holds.
    pub subscriptions: u32,
}

/// Settles an async wait's promise with whether a message is ready.
type Resolver = fn(Env) -> napi::Result<bool>;

fn resolve_ready(_: Env) -> napi::Result<bool> {
    Ok(true)
}

fn resolve_not_ready(_: Env) -> napi::Result<bool> {
    Ok(false)
}

/// A pending async wait.
struct Pending {
    deferred: JsDeferred<bool, Resolver>,
    deadline: Instant,
    token: u32,
}

#[derive(Default)]
struct WaiterState {
    pending: Vec<Pending>,
    cancelled: Vec<u32>,
    stop: bool,
}

/// One dedicated thread per client that has async waits: it sleeps on the client's futex
/// (never on libuv's thread pool) and settles the waits' promises through napi's
/// thread-safe deferreds.
struct Waiter {
    state: Mutex<WaiterState>,
    cv: Condvar,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Bytes one `receiveInto` call gathers before returning (bounds the copy into one Buffer).
const BATCH_BYTES: usize = 256 * 1024;
/// Payloads at least this large are returned alone, copied once into their own Buffer.
const LARGE_PAYLOAD: usize = 64 * 1024;

/// Longest single native sleep, so cancellations and deadlines are seen promptly.
const SLICE: Duration = Duration::from_millis(20);

impl Waiter {
    fn run(self: Arc<Self>, broker: roker::Broker, id: ClientId) {
        loop {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            while st.pending.is_empty() && !st.stop {
                let (g, timeout) = self
                    .cv
                    .wait_timeout(st, Duration::from_secs(5))
                    .unwrap_or_else(|p| p.into_inner());
                st = g;
                if timeout.timed_out() && st.pending.is_empty() {
                    st.stop = true;
                }
            }
            if st.stop {
                for p in st.pending.drain(..) {
                    p.deferred.resolve(resolve_not_ready);
                }
                return;
            }
            let cancelled = std::mem::take(&mut st.cancelled);
            let now = Instant::now();
            let (keep, done): (Vec<_>, Vec<_>) = st
                .pending
                .drain(..)
                .partition(|p| p.deadline > now && !cancelled.contains(&p.token));
            st.pending = keep;
            let earliest = st.pending.iter().map(|p| p.deadline).min();
            drop(st);
            for p in done {
                p.deferred.resolve(resolve_not_ready);
            }
            let Some(earliest) = earliest else { continue };
            let slice = earliest
                .saturating_duration_since(Instant::now())
                .min(SLICE);
            let ready = broker.wait_for_message(&id, slice);
            if ready.as_ref().is_ok_and(|r| !r) {
                continue;
            }
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let all: Vec<_> = st.pending.drain(..).collect();
            if ready.is_err() {
                st.stop = true;
            }
            drop(st);
            // On an error (closed, unregistered) resolve too: the caller's next receive
            // reports it with its code.
            for p in all {
                p.deferred.resolve(resolve_ready);
            }
        }
    }
}

/// The native broker handle. Use the `Broker` class of the package's TypeScript API.
#[napi]
pub struct NativeBroker {
    broker: Mutex<Option<roker::Broker>>,
    waiters: Mutex<HashMap<u64, Arc<Waiter>>>,
    lent: Mutex<HashMap<u64, roker::LentMessage>>,
    /// Interned topic ids whose string the JavaScript side has already been sent.
    topics_sent: Mutex<std::collections::HashSet<u32>>,
    /// Reused staging area for batched payloads.
    scratch: Mutex<Vec<u8>>,
    /// Whether external (zero-copy) buffers work in this runtime.
    external_ok: std::sync::atomic::AtomicBool,
}

fn id_of(raw: f64) -> napi::Result<ClientId, Code> {
    if !(raw.is_finite() && raw >= 0.0 && raw.fract() == 0.0 && raw < 2f64.powi(53)) {
        return Err(napi::Error::new(
            Code::Roker("ClientNotFound"),
            format!("{raw} is not a client id"),
        ));
    }
    Ok(ClientId::from_raw(raw as u64))
}

impl NativeBroker {
    fn wrap(b: roker::Broker) -> NativeBroker {
        NativeBroker {
            broker: Mutex::new(Some(b)),
            waiters: Mutex::new(HashMap::new()),
            lent: Mutex::new(HashMap::new()),
            topics_sent: Mutex::new(std::collections::HashSet::new()),
            scratch: Mutex::new(Vec::new()),
            external_ok: std::sync::atomic::AtomicBool::new(true),
        }
    }

    fn get(&self) -> napi::Result<roker::Broker, Code> {
        self.broker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| err(roker::Error::Closed))
    }

    fn release_lent(&self, id: ClientId) {
        self.lent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id.to_raw());
    }
}

#[napi]
impl NativeBroker {
    /// Creates a broker region.
    #[napi(constructor)]
    pub fn new(options: NativeBrokerOptions) -> napi::Result<Self, Code> {
        let defaults = roker::BrokerConfig::default();
        let od = roker::BrokerOptions::default();
        let config = roker::BrokerConfig {
            name: options.name,
            buffer_size: whole(options.buffer_size, "bufferSize", defaults.buffer_size)?,
            max_clients: whole(options.max_clients, "maxClients", defaults.max_clients)?,
            max_subscriptions_per_client: whole(
                options.max_subscriptions_per_client,
                "maxSubscriptionsPerClient",
                defaults.max_subscriptions_per_client,
            )?,
        };
        let policy = match options.policy.as_deref() {
            None | Some("block") => SlowSubscriberPolicy::Block,
            Some("dropOldest") => SlowSubscriberPolicy::DropOldest,
            Some(other) => {
                return Err(invalid(format!(
                    "policy must be 'block' or 'dropOldest', got '{other}'"
                )))
            }
        };
        let timeout_ms = match options.publish_timeout {
            None => od.publish_timeout.as_secs_f64() * 1e3,
            Some(t) if t.is_finite() && t >= 0.0 => t,
            Some(t) => return Err(invalid(format!("publishTimeout must be >= 0 ms, got {t}"))),
        };
        let opts = roker::BrokerOptions {
            policy,
            publish_timeout: Duration::from_secs_f64(timeout_ms / 1e3),
            max_message_size: match options.max_message_size {
                None => None,
                v => Some(whole(v, "maxMessageSize", 0)?),
            },
            max_topic_len: whole(options.max_topic_length, "maxTopicLength", od.max_topic_len)?,
            max_topics: whole(options.max_topics, "maxTopics", od.max_topics)?,
            inbox_capacity: whole(options.inbox_capacity, "inboxCapacity", od.inbox_capacity)?,
            mode: whole(options.mode, "mode", od.mode as usize)? as u32,
        };
        roker::Broker::with_options(config, opts)
            .map(NativeBroker::wrap)
            .map_err(err)
    }

    /// Attaches to an existing broker by name.
    #[napi(factory)]
    pub fn connect(name: String) -> napi::Result<Self, Code> {
        roker::Broker::connect(&name)
            .map(NativeBroker::wrap)
            .map_err(err)
    }

    /// Whether a broker region with this name exists.
    #[napi]
    pub fn exists(name: String) -> bool {
        roker::Broker::exists(&name)
    }

    /// Removes a broker region by name, whatever its state.
    #[napi]
    pub fn remove(name: String) -> napi::Result<(), Code> {
        roker::Broker::remove(&name).map_err(err)
    }

    /// Removes every broker region whose users all died; returns their names.
    #[napi]
    pub fn remove_stale() -> napi::Result<Vec<String>, Code> {
        roker::Broker::remove_stale().map_err(err)
    }

    /// The broker's name.
    #[napi(getter)]
    pub fn name(&self) -> napi::Result<String, Code> {
        Ok(self.get()?.name().to_string())
    }

    /// This handle's publisher id.
    #[napi(getter)]
    pub fn publisher_id(&self) -> napi::Result<f64, Code> {
        Ok(self.get()?.publisher_id() as f64)
    }

    /// Whether this handle is closed or the broker destroyed.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.get().map(|b| b.is_closed()).unwrap_or(true)
    }

    /// The broker's effective configuration.
    #[napi]
    pub fn config(&self) -> napi::Result<NativeBrokerOptions, Code> {
        let (c, o) = self.get()?.config();
        Ok(NativeBrokerOptions {
            name: c.name,
            buffer_size: Some(c.buffer_size as f64),
            max_clients: Some(c.max_clients as f64),
            max_subscriptions_per_client: Some(c.max_subscriptions_per_client as f64),
            policy: Some(
                match o.policy {
                    SlowSubscriberPolicy::Block => "block",
                    SlowSubscriberPolicy::DropOldest => "dropOldest",
                }
                .into(),
            ),
            publish_timeout: Some(o.publish_timeout.as_secs_f64() * 1e3),
            max_message_size: o.max_message_size.map(|m| m as f64),
            max_topic_length: Some(o.max_topic_len as f64),
            max_topics: Some(o.max_topics as f64),
            inbox_capacity: Some(o.inbox_capacity as f64),
            mode: Some(o.mode as f64),
        })
    }

    /// Registers a client; returns its id (a number).
    #[napi]
    pub fn register_client(&self, name: String) -> napi::Result<f64, Code> {
        Ok(self.get()?.register_client(&name).map_err(err)?.to_raw() as f64)
    }

    /// Unregisters a client.
    #[napi]
    pub fn unregister_client(&self, id: f64) -> napi::Result<(), Code> {
        let id = id_of(id)?;
        self.release_lent(id);
        self.get()?.unregister_client(&id).map_err(err)
    }

    /// Subscribes a client to a filter.
    #[napi]
    pub fn subscribe(&self, id: f64, filter: String) -> napi::Result<(), Code> {
        self.get()?.subscribe(&id_of(id)?, &filter).map_err(err)
    }

    /// Removes a subscription.
    #[napi]
    pub fn unsubscribe(&self, id: f64, filter: String) -> napi::Result<(), Code> {
        self.get()?.unsubscribe(&id_of(id)?, &filter).map_err(err)
    }

    /// The filters a client holds.
    #[napi]
    pub fn subscriptions(&self, id: f64) -> napi::Result<Vec<String>, Code> {
        Ok(self
            .get()?
            .subscriptions(&id_of(id)?)
            .map_err(err)?
            .into_iter()
            .map(|f| f.as_str().to_string())
            .collect())
    }

    /// Counters of a client.
    #[napi]
    pub fn stats(&self, id: f64) -> napi::Result<NativeClientStats, Code> {
        let s = self.get()?.client_stats(&id_of(id)?).map_err(err)?;
        Ok(NativeClientStats {
            queued: s.queued as f64,
            received: s.received as f64,
            dropped: s.dropped as f64,
            subscriptions: s.subscriptions,
        })
    }

    /// Publishes bytes on a topic; returns how many subscribers it reached.
    #[napi]
    pub fn publish(&self, topic: String, payload: &[u8]) -> napi::Result<u32, Code> {
        let b = self.get()?;
        b.publish_str(&topic, payload)
            .map(|n| n as u32)
            .map_err(err)
    }

    /// Publishes the payloads packed back to back in `data` (their lengths in `lengths`) on
    /// one topic, in order, taking the broker lock once for as many as fit; returns how
    /// many were published (fewer only if the broker stayed full after some were out).
    #[napi]
    pub fn publish_packed(
        &self,
        topic: String,
        data: &[u8],
        lengths: &[u32],
    ) -> napi::Result<u32, Code> {
        let b = self.get()?;
        let mut payloads = Vec::with_capacity(lengths.len());
        let mut at = 0usize;
        for &len in lengths {
            let end = at + len as usize;
            let Some(p) = data.get(at..end) else {
                return Err(invalid("payload lengths exceed the packed data"));
            };
            payloads.push(p);
            at = end;
        }
        b.publish_many(&topic, &payloads)
            .map(|n| n as u32)
            .map_err(err)
    }

    /// Publishes a string (as UTF-8) on a topic; returns how many subscribers it reached.
    #[napi]
    pub fn publish_string(&self, topic: String, payload: String) -> napi::Result<u32, Code> {
        let b = self.get()?;
        b.publish_str(&topic, payload.as_bytes())
            .map(|n| n as u32)
            .map_err(err)
    }

    /// Takes the next message, or null; never blocks.
    #[napi]
    pub fn receive(&self, id: f64) -> napi::Result<Option<NativeMessage>, Code> {
        let id = id_of(id)?;
        self.release_lent(id);
        let mut out = None;
        self.get()?
            .receive_with(&id, |m| out = Some(to_native(m)))
            .map_err(err)?;
        Ok(out)
    }

    /// Takes up to `max` queued messages in one call.
    #[napi]
    pub fn receive_many(&self, id: f64, max: u32) -> napi::Result<Vec<NativeMessage>, Code> {
        let id = id_of(id)?;
        self.release_lent(id);
        let mut out = Vec::with_capacity((max as usize).min(1024));
        self.get()?
            .receive_batch_with(&id, max as usize, |m| out.push(to_native(m)))
            .map_err(err)?;
        Ok(out)
    }

    /// Takes up to `max` messages into one Buffer, describing them in `meta` (the fast
    /// path of the TypeScript API's `receive`/`receiveMany`). `meta[0]` receives the count;
    /// message `i` is described at `1 + 7 * i`: topic id (or -1), topic byte length (0 when
    /// the JavaScript side already knows the topic of that id), payload length, timestamp
    /// (ms), sequence, publisher id, missed. The Buffer holds, per message, the topic bytes
    /// (if sent) then the payload. Returns null when nothing is queued.
    #[napi]
    pub fn receive_into(
        &self,
        env: &Env,
        id: f64,
        max: u32,
        mut meta: Float64ArraySlice<'_>,
    ) -> napi::Result<Option<BufferSlice<'_>>, Code> {
        const STRIDE: usize = 7;
        let id = id_of(id)?;
        self.release_lent(id);
        let b = self.get()?;
        let room = meta.len().saturating_sub(1) / STRIDE;
        let max = (max as usize).min(room);
        if max == 0 {
            return Err(invalid("meta array too small for one message"));
        }
        let mut sent = self.topics_sent.lock().unwrap_or_else(|p| p.into_inner());
        let mut scratch = self.scratch.lock().unwrap_or_else(|p| p.into_inner());
        scratch.clear();
        let mut n = 0usize;
        let mut single: Option<napi::Result<BufferSlice<'_>>> = None;
        // SAFETY: JavaScript is single-threaded and blocked in this call, so nothing else
        // touches the array while we write it; the view stays alive through `meta`.
        let meta_slice: &mut [f64] = unsafe { meta.as_mut() };
        // Take messages in chunks sized so one call gathers about BATCH_BYTES: small
        // messages come 64 at a time, a large one alone (copied straight into its Buffer).
        let mut chunk = 1usize;
        while n < max && scratch.len() < BATCH_BYTES && single.is_none() {
            let want = chunk.min(max - n);
            let got = b
                .receive_batch_with(&id, want, |m| {
                    let known = m.topic_id != u32::MAX && sent.contains(&m.topic_id);
                    let topic_len = if known { 0 } else { m.topic.len() };
                    let at = 1 + n * STRIDE;
                    meta_slice[at] = if m.topic_id == u32::MAX {
                        -1.0
                    } else {
                        m.topic_id as f64
                    };
                    meta_slice[at + 1] = topic_len as f64;
                    meta_slice[at + 2] = m.payload.len() as f64;
                    meta_slice[at + 3] = m.timestamp_ns as f64 / 1e6;
                    meta_slice[at + 4] = m.sequence as f64;
                    meta_slice[at + 5] = m.publisher_id as f64;
                    meta_slice[at + 6] = m.missed as f64;
                    if !known && m.topic_id != u32::MAX {
                        sent.insert(m.topic_id);
                    }
                    let alone = n == 0 && (max == 1 || m.payload.len() >= LARGE_PAYLOAD);
                    if alone && topic_len == 0 {
                        // Copy this payload straight into its own JavaScript Buffer.
                        single = Some(BufferSlice::copy_from(env, m.payload));
                    } else {
                        scratch.extend_from_slice(&m.topic.as_str().as_bytes()[..topic_len]);
                        scratch.extend_from_slice(m.payload);
                    }
                    n += 1;
                })
                .map_err(err)?;
            if got < want || (n == 1 && meta_slice[3] >= LARGE_PAYLOAD as f64) {
                break;
            }
            let avg = scratch.len() / n.max(1);
            chunk = (BATCH_BYTES / avg.max(1)).clamp(1, 64);
        }
        meta_slice[0] = n as f64;
        if n == 0 {
            return Ok(None);
        }
        match single {
            Some(buf) => buf.map(Some).map_err(lift),
            None => BufferSlice::copy_from(env, &scratch[..])
                .map(Some)
                .map_err(lift),
        }
    }

    /// Takes one message, describing it in `meta` like `receiveInto` (`meta[0]` = 0 or 1).
    /// Its topic bytes (if sent) and payload are copied into `staging` when they fit (the
    /// caller then copies the payload into a pooled Buffer, which is far cheaper than a new
    /// native Buffer per message); otherwise they come back in a new Buffer.
    #[napi]
    pub fn receive_one<'env>(
        &self,
        env: &'env Env,
        id: f64,
        mut meta: Float64ArraySlice<'_>,
        mut staging: BufferSlice<'_>,
    ) -> napi::Result<Option<BufferSlice<'env>>, Code> {
        let id = id_of(id)?;
        self.release_lent(id);
        let b = self.get()?;
        if meta.len() < 8 {
            return Err(invalid("meta array too small for one message"));
        }
        // SAFETY: JavaScript is single-threaded and blocked in this call, so nothing else
        // touches these views while we write them; they stay alive through the parameters.
        let (meta_slice, staging): (&mut [f64], &mut [u8]) =
            unsafe { (meta.as_mut(), staging.as_mut()) };
        let mut sent = self.topics_sent.lock().unwrap_or_else(|p| p.into_inner());
        let mut own: Option<napi::Result<BufferSlice<'env>>> = None;
        meta_slice[0] = 0.0;
        b.receive_batch_with(&id, 1, |m| {
            let known = m.topic_id != u32::MAX && sent.contains(&m.topic_id);
            let topic_len = if known { 0 } else { m.topic.len() };
            meta_slice[0] = 1.0;
            meta_slice[1] = if m.topic_id == u32::MAX {
                -1.0
            } else {
                m.topic_id as f64
            };
            meta_slice[2] = topic_len as f64;
            meta_slice[3] = m.payload.len() as f64;
            meta_slice[4] = m.timestamp_ns as f64 / 1e6;
            meta_slice[5] = m.sequence as f64;
            meta_slice[6] = m.publisher_id as f64;
            meta_slice[7] = m.missed as f64;
            if !known && m.topic_id != u32::MAX {
                sent.insert(m.topic_id);
            }
            let topic = &m.topic.as_str().as_bytes()[..topic_len];
            if topic_len + m.payload.len() <= staging.len() {
                staging[..topic_len].copy_from_slice(topic);
                staging[topic_len..topic_len + m.payload.len()].copy_from_slice(m.payload);
            } else if topic_len == 0 {
                own = Some(BufferSlice::copy_from(env, m.payload));
            } else {
                let mut both = Vec::with_capacity(topic_len + m.payload.len());
                both.extend_from_slice(topic);
                both.extend_from_slice(m.payload);
                own = Some(BufferSlice::copy_from(env, &both));
            }
        })
        .map_err(err)?;
        match own {
            Some(buf) => buf.map(Some).map_err(lift),
            None => Ok(None),
        }
    }

    /// Takes the next message with its payload lent in place (zero-copy): the Buffer views
    /// shared memory and is valid until the next receive on this client or `release(id)`.
    /// Where the runtime refuses external buffers (Electron), the payload is copied.
    #[napi]
    pub fn receive_zero_copy(&self, env: &Env, id: f64) -> napi::Result<Option<Object<'_>>, Code> {
        let id = id_of(id)?;
        self.release_lent(id);
        let b = self.get()?;
        let Some(lent) = b.receive_lent(&id).map_err(err)? else {
            return Ok(None);
        };
        let payload = if lent.payload().is_empty() {
            BufferSlice::copy_from(env, []).map_err(lift)?
        } else {
            let keep_mapped = b.clone();
            // SAFETY: the pointer and length describe the lent payload inside the mapping;
            // `keep_mapped` (moved into the finalizer) keeps the mapping alive as long as
            // the Buffer exists, so JavaScript never touches unmapped memory. The bytes stay
            // unchanged until the lend is released (next receive or `release`).
            let slice = unsafe {
                BufferSlice::from_external(
                    env,
                    lent.payload_ptr() as *mut u8,
                    lent.payload().len(),
                    keep_mapped,
                    |_env, broker| drop(broker),
                )
            };
            match slice {
                Ok(s) => s,
                Err(_) => {
                    self.external_ok
                        .store(false, std::sync::atomic::Ordering::Relaxed);
                    BufferSlice::copy_from(env, lent.payload()).map_err(lift)?
                }
            }
        };
        let mut obj = Object::new(env).map_err(lift)?;
        obj.set("topic", lent.topic().as_str()).map_err(lift)?;
        obj.set("payload", payload).map_err(lift)?;
        obj.set("timestamp", lent.timestamp_ns() as f64 / 1e6)
            .map_err(lift)?;
        obj.set("sequence", lent.sequence() as f64).map_err(lift)?;
        obj.set("publisherId", lent.publisher_id() as f64)
            .map_err(lift)?;
        obj.set("missed", lent.missed() as f64).map_err(lift)?;
        self.lent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_raw(), lent);
        Ok(Some(obj))
    }

    /// Releases a zero-copy payload lent by `receiveZeroCopy`.
    #[napi]
    pub fn release(&self, id: f64) -> napi::Result<(), Code> {
        self.release_lent(id_of(id)?);
        Ok(())
    }

    /// Blocks the calling thread up to `timeoutMs` until a message is queued for `id`
    /// (spinning briefly, then sleeping on the client's futex); returns whether one is.
    #[napi]
    pub fn wait_sync(&self, id: f64, timeout_ms: f64) -> napi::Result<bool, Code> {
        let id = id_of(id)?;
        let timeout = Duration::from_secs_f64(timeout_ms.clamp(0.0, 1e12) / 1e3);
        self.get()?.wait_for_message(&id, timeout).map_err(err)
    }

    /// Resolves with true once a message is queued for `id`, or false after `timeoutMs`
    /// or `cancelWait(token)`. Waits on a dedicated thread, not libuv's pool.
    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn wait_async<'env>(
        &self,
        env: &'env Env,
        id: f64,
        timeout_ms: f64,
        token: u32,
    ) -> napi::Result<PromiseRaw<'env, bool>, Code> {
        let cid = id_of(id)?;
        let b = self.get()?;
        // Fail fast (synchronously) on unknown clients.
        b.client_stats(&cid).map_err(err)?;
        let (deferred, promise) = env.create_deferred::<bool, Resolver>().map_err(lift)?;
        let timeout = Duration::from_secs_f64(timeout_ms.clamp(0.0, 1e12) / 1e3);
        let pending = Pending {
            deferred,
            deadline: Instant::now() + timeout,
            token,
        };
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = waiters.get(&cid.to_raw()) {
            let mut st = w.state.lock().unwrap_or_else(|p| p.into_inner());
            if !st.stop {
                st.pending.push(pending);
                drop(st);
                w.cv.notify_one();
                return Ok(PromiseRaw::new(env.raw(), promise.raw()));
            }
            // That waiter thread is exiting: start a new one below.
        }
        let w = Arc::new(Waiter {
            state: Mutex::new(WaiterState {
                pending: vec![pending],
                ..Default::default()
            }),
            cv: Condvar::new(),
            thread: Mutex::new(None),
        });
        waiters.insert(cid.to_raw(), w.clone());
        drop(waiters);
        let runner = w.clone();
        let handle = std::thread::Builder::new()
            .name("roker-wait".into())
            .spawn(move || runner.run(b, cid))
            .map_err(|e| napi::Error::new(Code::Roker("OsError"), e.to_string()))?;
        *w.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
        Ok(PromiseRaw::new(env.raw(), promise.raw()))
    }

    /// Cancels an async wait started with `token`: its promise resolves with false.
    #[napi]
    pub fn cancel_wait(&self, id: f64, token: u32) -> napi::Result<(), Code> {
        let cid = id_of(id)?;
        if let Some(w) = self
            .waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&cid.to_raw())
        {
            w.state
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .cancelled
                .push(token);
            w.cv.notify_one();
        }
        Ok(())
    }

    /// Reclaims clients whose processes died; returns how many.
    #[napi]
    pub fn sweep(&self) -> napi::Result<u32, Code> {
        Ok(self.get()?.sweep().map_err(err)? as u32)
    }

    /// Closes this handle and releases its mapping; pending waits resolve.
    #[napi]
    pub fn close(&self) {
        self.lent.lock().unwrap_or_else(|p| p.into_inner()).clear();
        // Closing the core handle rings every doorbell, so waiter threads wake at once.
        if let Some(b) = self.broker.lock().unwrap_or_else(|p| p.into_inner()).take() {
            b.close();
        }
        let waiters: Vec<_> = self
            .waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, w)| w)
            .collect();
        for w in &waiters {
            w.state.lock().unwrap_or_else(|p| p.into_inner()).stop = true;
            w.cv.notify_one();
        }
        // Join them so their handles on the region are dropped now (and the region's name
        // removed if this was its last user), not whenever the threads get scheduled.
        for w in waiters {
            let handle = w.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(h) = handle {
                let _ = h.join();
            }
        }
    }

    /// Destroys the broker for every process, then closes this handle.
    #[napi]
    pub fn destroy(&self) -> napi::Result<(), Code> {
        let b = self.get()?;
        b.destroy().map_err(err)?;
        self.close();
        Ok(())
    }
}

/// Checks a publish topic; throws `InvalidTopic` when it is not valid.
#[napi]
pub fn validate_topic(topic: String, max_length: Option<u32>) -> napi::Result<(), Code> {
    let max = max_length.map_or(roker::topic::DEFAULT_MAX_TOPIC_LEN, |m| m as usize);
    roker::topic::validate_topic(&topic, max).map_err(err)
}

/// Checks a subscription filter; throws `InvalidFilter` when it is not valid.
#[napi]
pub fn validate_filter(filter: String, max_length: Option<u32>) -> napi::Result<(), Code> {
    let max = max_length.map_or(roker::topic::DEFAULT_MAX_TOPIC_LEN, |m| m as usize);
    roker::topic::validate_filter(&filter, max).map_err(err)
}

/// Whether a filter matches a topic (both validated first).
#[napi]
pub fn topic_matches(filter: String, topic: String) -> napi::Result<bool, Code> {
    let f = roker::Filter::new(&filter).map_err(err)?;
    let t = roker::Topic::new(&topic).map_err(err)?;
    Ok(f.matches(&t))
}

/// A native set of wildcard filters matched through a trie, with a per-topic result cache.
/// Use the `Matcher` class of the TypeScript API.
#[napi]
pub struct NativeMatcher {
    set: roker::FilterSet,
    cache: HashMap<String, Vec<u32>>,
}

/// Topics whose results are remembered before the cache starts over.
const MATCH_CACHE: usize = 65_536;

#[napi]
impl NativeMatcher {
    /// An empty matcher.
    #[napi(constructor)]
    pub fn new() -> Self {
        NativeMatcher {
            set: roker::FilterSet::new(),
            cache: HashMap::new(),
        }
    }

    /// Adds a filter; returns its id.
    #[napi]
    pub fn add(&mut self, filter: String) -> napi::Result<u32, Code> {
        let id = self.set.insert(&filter).map_err(err)?;
        self.cache.clear();
        Ok(id)
    }

    /// Removes a filter by id; returns whether it was present.
    #[napi]
    pub fn remove(&mut self, id: u32) -> bool {
        let removed = self.set.remove(id);
        if removed {
            self.cache.clear();
        }
        removed
    }

    /// Number of filters.
    #[napi(getter)]
    pub fn size(&self) -> u32 {
        self.set.len() as u32
    }

    /// Writes the ids of the filters matching `topic` into `out`; returns how many match
    /// (when that exceeds `out.length`, call again with a larger array).
    #[napi]
    pub fn match_into(
        &mut self,
        topic: String,
        mut out: Uint32ArraySlice<'_>,
    ) -> napi::Result<u32, Code> {
        if !self.cache.contains_key(&topic) {
            let mut ids = Vec::new();
            self.set.matches_into(&topic, &mut ids).map_err(err)?;
            if self.cache.len() >= MATCH_CACHE {
                self.cache.clear();
            }
            self.cache.insert(topic.clone(), ids);
        }
        let ids = &self.cache[&topic];
        // SAFETY: JavaScript is blocked in this call; nothing else touches the array.
        let dst = unsafe { out.as_mut() };
        let n = ids.len().min(dst.len());
        dst[..n].copy_from_slice(&ids[..n]);
        Ok(ids.len() as u32)
    }
}

impl Default for NativeMatcher {
    fn default() -> Self {
        NativeMatcher::new()
    }
}
