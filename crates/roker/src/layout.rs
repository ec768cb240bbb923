//! Configuration and the byte layout of a broker region.
//!
//! Every cross-process structure lives at a fixed offset computed from the configuration
//! stored in the header, so any process that reads the header computes the same layout.
//!
//! ```text
//! Header   512 B   magic, version, init state, configuration, lock, write position, ...
//! Attach   8 B per attachment slot: identity of each process handle using the region
//! Clients  256 B per client slot (4 cache lines: control, name, producer side, consumer side)
//! Filters  per client: max_subscriptions_per_client entries of {len, bytes}
//! Topics   open-addressing table: {hash word, len, bitmap range, bytes, subscriber bitmap}
//! Inboxes  per client: inbox_capacity descriptors (u64 log positions)
//! Log      buffer_size bytes of framed records
//! ```

use std::time::Duration;

use crate::error::{Error, Result};

/// `"ROKERv01"` as a little-endian word.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"ROKERv01");
/// Bumped whenever the byte layout changes.
pub(crate) const LAYOUT_VERSION: u64 = 1;

/// Region init states.
pub(crate) const INIT_CREATING: u64 = 1;
pub(crate) const INIT_READY: u64 = 2;
pub(crate) const INIT_DESTROYED: u64 = 3;

// Header word offsets (bytes).
pub(crate) const H_MAGIC: usize = 0;
pub(crate) const H_VERSION: usize = 8;
pub(crate) const H_INIT: usize = 16;
pub(crate) const H_TOTAL: usize = 24;
pub(crate) const H_BUFFER: usize = 32;
pub(crate) const H_MAX_CLIENTS: usize = 40;
pub(crate) const H_MAX_SUBS: usize = 48;
pub(crate) const H_MAX_MSG: usize = 56;
pub(crate) const H_MAX_TOPIC_LEN: usize = 64;
pub(crate) const H_MAX_TOPICS: usize = 72;
pub(crate) const H_INBOX_CAP: usize = 80;
pub(crate) const H_POLICY: usize = 88;
pub(crate) const H_TIMEOUT_NS: usize = 96;
pub(crate) const H_CREATOR: usize = 104;
pub(crate) const H_NEXT_PUBLISHER: usize = 112;
pub(crate) const H_CLIENT_HWM: usize = 120;
pub(crate) const H_TOPIC_COUNT: usize = 128;
pub(crate) const H_LAST_SWEEP_NS: usize = 136;
/// Slot + 1 of a client whose filters/bitmaps are being changed (0 = none); lets a lock
/// taker repair a half-done update of a holder that died.
pub(crate) const H_PENDING_SLOT: usize = 144;
pub(crate) const H_ATTACH_SLOTS: usize = 152;
/// Permission bits the region was created with (informative).
pub(crate) const H_MODE: usize = 160;
// Cache line 4: the broker lock and the log's write side (written by the lock holder).
pub(crate) const H_LOCK: usize = 256;
pub(crate) const H_WRITE_POS: usize = 264;
pub(crate) const H_CACHED_MIN: usize = 272;
// Cache line 6: publishers waiting for space.
pub(crate) const H_SPACE_WAITERS: usize = 384;
pub(crate) const H_SPACE_FUTEX: usize = 392;
pub(crate) const HEADER_SIZE: usize = 512;

// Client slot offsets (bytes from the slot start).
pub(crate) const CLIENT_SIZE: usize = 256;
pub(crate) const C_STATE: usize = 0;
pub(crate) const C_GEN: usize = 8;
pub(crate) const C_OWNER: usize = 16;
pub(crate) const C_SUB_COUNT: usize = 24;
pub(crate) const C_NAME_LEN: usize = 32;
// Written by the receiver only when it goes to sleep: kept off the hot consumer line so a
// publisher's check of `sleeping` does not miss in cache on every push.
pub(crate) const C_SLEEPING: usize = 40;
pub(crate) const C_DOORBELL: usize = 48;
pub(crate) const C_NAME: usize = 64;
/// Longest client name kept (longer names are an error).
pub const MAX_CLIENT_NAME_LEN: usize = 64;
// Producer side (written under the broker lock).
pub(crate) const C_TAIL: usize = 128;
pub(crate) const C_DROPPED: usize = 136;
/// The publisher side's last seen head, so a push reads the receiver's line only when the
/// inbox looks full.
pub(crate) const C_HEAD_SEEN: usize = 144;
// Consumer side (written by the receiving client).
pub(crate) const C_HEAD: usize = 192;
pub(crate) const C_HOLD: usize = 200;
pub(crate) const C_REPORTED: usize = 224;
pub(crate) const C_RECEIVED: usize = 232;

/// Client slot states.
pub(crate) const CS_FREE: u64 = 0;
pub(crate) const CS_INIT: u64 = 1;
pub(crate) const CS_LIVE: u64 = 2;
pub(crate) const CS_FREEING: u64 = 3;

// Topic entry offsets.
pub(crate) const T_HASH: usize = 0;
pub(crate) const T_LEN: usize = 8;
pub(crate) const T_RANGE: usize = 16;
pub(crate) const T_BYTES: usize = 24;

// Record framing in the log.
pub(crate) const R_TOTAL: usize = 0; // u32 total record length | u32 topic id
pub(crate) const R_TOPIC_LEN: usize = 8; // u32 topic len | u32 unused
pub(crate) const R_PAYLOAD_LEN: usize = 16;
pub(crate) const R_PUBLISHER: usize = 24;
pub(crate) const R_SEQ: usize = 32;
pub(crate) const R_TIME: usize = 40;
pub(crate) const RECORD_HEADER: usize = 48;
/// Topic id for topics not interned in the topic table.
pub(crate) const NO_TOPIC_ID: u32 = u32::MAX;

/// The broker configuration of the specification: name and the three main limits.
///
/// Other settings (slow-subscriber policy, timeouts, message and topic sizes) live in
/// [`BrokerOptions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    /// Broker name: 1 to 64 characters of `A-Z a-z 0-9 _ - .`. Other processes attach by it.
    pub name: String,
    /// Bytes of the shared message log that holds payloads in flight.
    pub buffer_size: usize,
    /// Most clients registered at once (1 to 65,535).
    pub max_clients: usize,
    /// Most subscriptions one client may hold (1 to 65,535).
    pub max_subscriptions_per_client: usize,
}

impl Default for BrokerConfig {
    /// `name: "roker"`, 64 MiB buffer, 256 clients, 64 subscriptions per client.
    fn default() -> Self {
        BrokerConfig {
            name: "roker".to_string(),
            buffer_size: 64 * 1024 * 1024,
            max_clients: 256,
            max_subscriptions_per_client: 64,
        }
    }
}

/// What a publisher does when a subscriber falls behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SlowSubscriberPolicy {
    /// Lossless: the publisher waits up to the publish timeout for room, then fails with
    /// [`Error::BufferFull`]. A zero timeout fails at once.
    #[default]
    Block,
    /// Never wait: the slow subscriber's oldest messages are dropped and it is told how many
    /// it missed ([`crate::Message::missed`]).
    DropOldest,
}

/// Settings beyond [`BrokerConfig`], fixed when the broker is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerOptions {
    /// Slow-subscriber policy (default [`SlowSubscriberPolicy::Block`]).
    pub policy: SlowSubscriberPolicy,
    /// How long a `Block` publish waits for room before [`Error::BufferFull`] (default 1 s).
    pub publish_timeout: Duration,
    /// Largest payload in bytes; `None` (default) allows the largest that fits the buffer
    /// (a little under half of `buffer_size`).
    pub max_message_size: Option<usize>,
    /// Longest topic or filter in bytes (default 256, at most 65,535).
    pub max_topic_len: usize,
    /// Topics interned for O(subscribers) routing (default 4,096). Publishing to further
    /// distinct topics still works, by matching every filter on each publish.
    pub max_topics: usize,
    /// Messages a subscriber may have queued (a power of two, default 1,024).
    pub inbox_capacity: usize,
    /// Permission bits of the region (default `0o600`: owner only).
    pub mode: u32,
}

impl Default for BrokerOptions {
    fn default() -> Self {
        BrokerOptions {
            policy: SlowSubscriberPolicy::Block,
            publish_timeout: Duration::from_secs(1),
            max_message_size: None,
            max_topic_len: crate::topic::DEFAULT_MAX_TOPIC_LEN,
            max_topics: 4096,
            inbox_capacity: 1024,
            mode: 0o600,
        }
    }
}

/// The numeric parameters stored in the header, from which the layout follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Params {
    pub buffer_size: u64,
    pub max_clients: u32,
    pub max_subs: u32,
    pub max_msg: u64,
    pub max_topic_len: u32,
    pub max_topics: u32,
    pub inbox_cap: u32,
    pub policy: SlowSubscriberPolicy,
    pub timeout_ns: u64,
    pub attach_slots: u32,
}

/// Offsets of every table, derived from [`Params`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub p: Params,
    pub attach_off: usize,
    pub clients_off: usize,
    pub filters_off: usize,
    pub filter_entry: usize,
    pub topics_off: usize,
    pub topic_slots: usize,
    pub topic_entry: usize,
    pub bitmap_words: usize,
    pub inbox_off: usize,
    pub log_off: usize,
    pub total: usize,
}

/// Upper bound on a region's size (16 TiB): anything larger is a corrupt header.
const MAX_REGION: u128 = 1 << 44;

const fn align(n: usize, a: usize) -> usize {
    n.div_ceil(a) * a
}

pub(crate) fn align8(n: usize) -> usize {
    align(n, 8)
}

fn bad(msg: String) -> Error {
    Error::InvalidConfig(msg)
}

impl Params {
    /// Validates a configuration and turns it into header parameters.
    pub(crate) fn from_config(c: &BrokerConfig, o: &BrokerOptions) -> Result<Params> {
        if c.buffer_size < 4096 || c.buffer_size as u128 > MAX_REGION / 2 {
            return Err(bad(format!(
                "bufferSize must be between 4096 and {} bytes, got {}",
                MAX_REGION / 2,
                c.buffer_size
            )));
        }
        if c.max_clients == 0 || c.max_clients > 65_535 {
            return Err(bad(format!(
                "maxClients must be between 1 and 65535, got {}",
                c.max_clients
            )));
        }
        if c.max_subscriptions_per_client == 0 || c.max_subscriptions_per_client > 65_535 {
            return Err(bad(format!(
                "maxSubscriptionsPerClient must be between 1 and 65535, got {}",
                c.max_subscriptions_per_client
            )));
        }
        if o.max_topic_len == 0 || o.max_topic_len > 65_535 {
            return Err(bad(format!(
                "maxTopicLength must be between 1 and 65535, got {}",
                o.max_topic_len
            )));
        }
        if o.max_topics > 1 << 24 {
            return Err(bad(format!(
                "maxTopics must be at most 16777216, got {}",
                o.max_topics
            )));
        }
        if !o.inbox_capacity.is_power_of_two() || o.inbox_capacity < 2 || o.inbox_capacity > 1 << 24
        {
            return Err(bad(format!(
                "inboxCapacity must be a power of two between 2 and 16777216, got {}",
                o.inbox_capacity
            )));
        }
        if o.mode & !0o777 != 0 || o.mode & 0o600 != 0o600 {
            return Err(bad(format!(
                "mode must be permission bits including owner read/write (0o600), got {:o}",
                o.mode
            )));
        }
        let buffer = align8(c.buffer_size) as u64;
        // A record of the largest message must fit twice (one wrap may skip up to a record).
        let largest =
            (buffer / 2).saturating_sub((RECORD_HEADER + align8(o.max_topic_len)) as u64) & !7;
        let max_msg = match o.max_message_size {
            None => largest,
            Some(m) if m as u64 <= largest => m as u64,
            Some(m) => {
                return Err(bad(format!(
                    "maxMessageSize {m} does not fit a bufferSize of {}: at most {largest}",
                    c.buffer_size
                )))
            }
        };
        if max_msg == 0 {
            return Err(bad("bufferSize too small for maxTopicLength".into()));
        }
        let timeout_ns = u64::try_from(o.publish_timeout.as_nanos()).unwrap_or(u64::MAX);
        let p = Params {
            buffer_size: buffer,
            max_clients: c.max_clients as u32,
            max_subs: c.max_subscriptions_per_client as u32,
            max_msg,
            max_topic_len: o.max_topic_len as u32,
            max_topics: o.max_topics as u32,
            inbox_cap: o.inbox_capacity as u32,
            policy: o.policy,
            timeout_ns,
            attach_slots: c.max_clients as u32 + 64,
        };
        Layout::compute(p)?;
        Ok(p)
    }
}

impl Layout {
    /// Computes the layout; fails on sizes that do not fit this machine.
    pub(crate) fn compute(p: Params) -> Result<Layout> {
        let clients = p.max_clients as u128;
        let mtl = align8(p.max_topic_len as usize) as u128;
        let bitmap_words = (p.max_clients as usize).div_ceil(64);
        let topic_slots = if p.max_topics == 0 {
            0
        } else {
            (p.max_topics as usize * 2).next_power_of_two()
        };
        let topic_entry = T_BYTES as u128 + mtl + bitmap_words as u128 * 8;
        let filter_entry = 8 + mtl;

        let mut off: u128 = HEADER_SIZE as u128;
        let attach_off = off;
        off += p.attach_slots as u128 * 8;
        off = off.div_ceil(64) * 64;
        let clients_off = off;
        off += clients * CLIENT_SIZE as u128;
        let filters_off = off;
        off += clients * p.max_subs as u128 * filter_entry;
        off = off.div_ceil(64) * 64;
        let topics_off = off;
        off += topic_slots as u128 * topic_entry;
        off = off.div_ceil(64) * 64;
        let inbox_off = off;
        off += clients * p.inbox_cap as u128 * 8;
        off = off.div_ceil(64) * 64;
        let log_off = off;
        off += p.buffer_size as u128;
        let total = off.div_ceil(4096) * 4096;
        if total > MAX_REGION || total > usize::MAX as u128 {
            return Err(bad(format!(
                "configuration needs a region of {total} bytes, more than this machine can map"
            )));
        }
        Ok(Layout {
            p,
            attach_off: attach_off as usize,
            clients_off: clients_off as usize,
            filters_off: filters_off as usize,
            filter_entry: filter_entry as usize,
            topics_off: topics_off as usize,
            topic_slots,
            topic_entry: topic_entry as usize,
            bitmap_words,
            inbox_off: inbox_off as usize,
            log_off: log_off as usize,
            total: total as usize,
        })
    }

    #[inline]
    pub(crate) fn client(&self, slot: u32) -> usize {
        self.clients_off + slot as usize * CLIENT_SIZE
    }

    #[inline]
    pub(crate) fn filter(&self, slot: u32, i: u32) -> usize {
        self.filters_off
            + (slot as usize * self.p.max_subs as usize + i as usize) * self.filter_entry
    }

    #[inline]
    pub(crate) fn topic(&self, id: u32) -> usize {
        self.topics_off + id as usize * self.topic_entry
    }

    #[inline]
    pub(crate) fn topic_bitmap(&self, id: u32) -> usize {
        self.topic(id) + T_BYTES + align8(self.p.max_topic_len as usize)
    }

    #[inline]
    pub(crate) fn inbox_slot(&self, slot: u32, index: u64) -> usize {
        self.inbox_off
            + (slot as usize * self.p.inbox_cap as usize
                + (index & (self.p.inbox_cap as u64 - 1)) as usize)
                * 8
    }

    #[inline]
    pub(crate) fn attach(&self, i: u32) -> usize {
        self.attach_off + i as usize * 8
    }
}

pub(crate) fn policy_code(p: SlowSubscriberPolicy) -> u64 {
    match p {
        SlowSubscriberPolicy::Block => 0,
        SlowSubscriberPolicy::DropOldest => 1,
    }
}

pub(crate) fn policy_from(code: u64) -> Option<SlowSubscriberPolicy> {
    match code {
        0 => Some(SlowSubscriberPolicy::Block),
        1 => Some(SlowSubscriberPolicy::DropOldest),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(buffer: usize, clients: usize, subs: usize) -> BrokerConfig {
        BrokerConfig {
            name: "t".into(),
            buffer_size: buffer,
            max_clients: clients,
            max_subscriptions_per_client: subs,
        }
    }

    #[test]
    fn layout_tables_do_not_overlap_and_are_aligned() {
        let p = Params::from_config(&cfg(1 << 20, 100, 10), &BrokerOptions::default()).unwrap();
        let l = Layout::compute(p).unwrap();
        assert!(l.attach_off >= HEADER_SIZE);
        assert!(l.clients_off >= l.attach_off + p.attach_slots as usize * 8);
        assert!(l.filters_off >= l.clients_off + 100 * CLIENT_SIZE);
        assert!(l.topics_off >= l.filter(99, 9) + l.filter_entry);
        assert!(l.inbox_off >= l.topic(l.topic_slots as u32 - 1) + l.topic_entry);
        assert!(l.log_off >= l.inbox_slot(99, 1023) + 8);
        assert_eq!(l.total % 4096, 0);
        assert!(l.total >= l.log_off + (1 << 20));
        for off in [l.clients_off, l.topics_off, l.inbox_off, l.log_off] {
            assert_eq!(off % 64, 0);
        }
        assert_eq!(l.topic_entry % 8, 0);
        assert_eq!(l.bitmap_words, 2);
        // The inbox index wraps at the capacity.
        assert_eq!(l.inbox_slot(3, 1024), l.inbox_slot(3, 0));
    }

    #[test]
    fn limits_are_validated() {
        let o = BrokerOptions::default();
        let code =
            |c: BrokerConfig, o: &BrokerOptions| Params::from_config(&c, o).unwrap_err().code();
        assert_eq!(code(cfg(100, 1, 1), &o), "InvalidConfig");
        assert_eq!(code(cfg(1 << 20, 0, 1), &o), "InvalidConfig");
        assert_eq!(code(cfg(1 << 20, 70_000, 1), &o), "InvalidConfig");
        assert_eq!(code(cfg(1 << 20, 1, 0), &o), "InvalidConfig");
        let bad_inbox = BrokerOptions {
            inbox_capacity: 1000,
            ..BrokerOptions::default()
        };
        assert_eq!(code(cfg(1 << 20, 1, 1), &bad_inbox), "InvalidConfig");
        let too_big_msg = BrokerOptions {
            max_message_size: Some(1 << 20),
            ..BrokerOptions::default()
        };
        assert_eq!(code(cfg(1 << 20, 1, 1), &too_big_msg), "InvalidConfig");
        let bad_mode = BrokerOptions {
            mode: 0o400,
            ..BrokerOptions::default()
        };
        assert_eq!(code(cfg(1 << 20, 1, 1), &bad_mode), "InvalidConfig");
        let long_topics = BrokerOptions {
            max_topic_len: 65_535,
            ..BrokerOptions::default()
        };
        assert_eq!(
            code(cfg(1 << 20, 65_535, 65_535), &long_topics),
            "InvalidConfig"
        );
    }

    #[test]
    fn default_message_size_fits_twice() {
        let p = Params::from_config(&cfg(1 << 20, 4, 4), &BrokerOptions::default()).unwrap();
        let record = align8(RECORD_HEADER + 256 + p.max_msg as usize);
        assert!(2 * record <= p.buffer_size as usize);
        assert!(p.max_msg > (1 << 19) - 1024);
    }
}
