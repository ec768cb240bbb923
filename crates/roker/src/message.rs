//! Messages: owned ([`Message`]), borrowed in place ([`MessageRef`]) and lent ([`LentMessage`]).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::topic::Topic;

/// A message: a topic, a payload and, once received, its publish metadata.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    pub(crate) topic: Topic,
    pub(crate) payload: Vec<u8>,
    pub(crate) timestamp_ns: u64,
    pub(crate) sequence: u64,
    pub(crate) publisher_id: u64,
    pub(crate) missed: u64,
}

impl Message {
    /// A message to publish on `topic`.
    pub fn new(topic: Topic, payload: impl Into<Vec<u8>>) -> Message {
        Message {
            topic,
            payload: payload.into(),
            timestamp_ns: 0,
            sequence: 0,
            publisher_id: 0,
            missed: 0,
        }
    }

    /// The topic the message was published on.
    pub fn topic(&self) -> &Topic {
        &self.topic
    }

    /// The payload bytes.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Takes the payload out of the message.
    pub fn into_payload(self) -> Vec<u8> {
        self.payload
    }

    /// Publish time in nanoseconds since the Unix epoch (0 for a message not yet published).
    pub fn timestamp_ns(&self) -> u64 {
        self.timestamp_ns
    }

    /// Publish time.
    pub fn timestamp(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.timestamp_ns)
    }

    /// Sequence number of this message among everything its publisher published, from 1.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Identifies the publisher (one per broker handle; unique within a region).
    pub fn publisher_id(&self) -> u64 {
        self.publisher_id
    }

    /// Messages this subscriber lost to the `DropOldest` policy since the previous message
    /// it received (0 under `Block`).
    pub fn missed(&self) -> u64 {
        self.missed
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Message");
        d.field("topic", &self.topic.as_str());
        match std::str::from_utf8(&self.payload) {
            Ok(s) if s.len() <= 64 => d.field("payload", &s),
            _ => d.field("payload_len", &self.payload.len()),
        };
        d.field("sequence", &self.sequence)
            .field("timestamp_ns", &self.timestamp_ns)
            .field("publisher_id", &self.publisher_id)
            .field("missed", &self.missed)
            .finish()
    }
}

/// A received message read in place in shared memory, valid for the duration of a
/// [`crate::Broker::receive_with`] callback.
#[derive(Debug, Clone, Copy)]
pub struct MessageRef<'a> {
    /// The topic.
    pub topic: &'a Topic,
    /// The payload, in the shared region (no copy was made).
    pub payload: &'a [u8],
    /// Publish time in nanoseconds since the Unix epoch.
    pub timestamp_ns: u64,
    /// Per-publisher sequence number.
    pub sequence: u64,
    /// The publisher's id.
    pub publisher_id: u64,
    /// Messages lost to `DropOldest` just before this one.
    pub missed: u64,
    /// The topic's interned id in this broker region: stable for the region's lifetime,
    /// so bindings can cache per-topic work. `u32::MAX` for a topic that is not interned.
    pub topic_id: u32,
}

impl MessageRef<'_> {
    /// Copies the message out.
    pub fn to_message(&self) -> Message {
        Message {
            topic: self.topic.clone(),
            payload: self.payload.to_vec(),
            timestamp_ns: self.timestamp_ns,
            sequence: self.sequence,
            publisher_id: self.publisher_id,
            missed: self.missed,
        }
    }
}

/// A received message whose payload stays in shared memory until this value is dropped.
///
/// While it lives, the broker keeps its log space (and everything published after it)
/// from being reused, so hold it briefly: a publisher under `Block` waits for it.
pub struct LentMessage {
    pub(crate) inner: Arc<crate::broker::Inner>,
    pub(crate) slot: u32,
    pub(crate) generation: u32,
    pub(crate) pos: u64,
    pub(crate) ptr: *const u8,
    pub(crate) len: usize,
    pub(crate) topic: Topic,
    pub(crate) timestamp_ns: u64,
    pub(crate) sequence: u64,
    pub(crate) publisher_id: u64,
    pub(crate) missed: u64,
}

// SAFETY: the pointer targets the shared mapping kept alive by `inner`; the bytes are not
// written by anyone while the lend is registered (the broker's hold protocol), so reading
// them from another thread is fine. Dropping takes the per-client mutex.
unsafe impl Send for LentMessage {}
// SAFETY: `&LentMessage` only gives read access to immutable bytes (see above).
unsafe impl Sync for LentMessage {}

impl LentMessage {
    /// The payload, in place in shared memory.
    pub fn payload(&self) -> &[u8] {
        // SAFETY: `ptr..ptr+len` lies inside the mapping owned by `inner` (checked when the
        // record was read) and the broker does not reuse it while this lend is registered
        // in the client's hold; the region outlives `self` through the `Arc`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// Raw pointer to the payload (for bindings that wrap it without copying).
    pub fn payload_ptr(&self) -> *const u8 {
        self.ptr
    }

    /// The topic.
    pub fn topic(&self) -> &Topic {
        &self.topic
    }

    /// Publish time in nanoseconds since the Unix epoch.
    pub fn timestamp_ns(&self) -> u64 {
        self.timestamp_ns
    }

    /// Per-publisher sequence number.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// The publisher's id.
    pub fn publisher_id(&self) -> u64 {
        self.publisher_id
    }

    /// Messages lost to `DropOldest` just before this one.
    pub fn missed(&self) -> u64 {
        self.missed
    }

    /// Copies the message out (the lend is released when `self` drops).
    pub fn to_message(&self) -> Message {
        Message {
            topic: self.topic.clone(),
            payload: self.payload().to_vec(),
            timestamp_ns: self.timestamp_ns,
            sequence: self.sequence,
            publisher_id: self.publisher_id,
            missed: self.missed,
        }
    }
}

impl fmt::Debug for LentMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LentMessage")
            .field("topic", &self.topic.as_str())
            .field("payload_len", &self.len)
            .field("sequence", &self.sequence)
            .finish()
    }
}

impl Drop for LentMessage {
    fn drop(&mut self) {
        self.inner
            .release_lend(self.slot, self.generation, self.pos);
    }
}
