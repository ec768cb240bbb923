//! Regression tests for inputs found by the fuzz targets in `crates/roker/fuzz` (and a few
//! found while writing them). Each builds its input inline and only uses the public API
//! plus the region's file, `/dev/shm/rk.<name>`, to corrupt shared memory.
//!
//! Every test asserts the fixed behaviour: a corrupt region yields an error (or keeps
//! working), never a panic, an abort or a hang.
#![cfg(target_os = "linux")]

use std::os::unix::fs::FileExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use roker::{Broker, BrokerConfig, BrokerOptions, ClientId, SlowSubscriberPolicy};

// Header word offsets of layout version 1 (see the layout module docs).
const H_INIT: u64 = 16;
const H_NEXT_PUBLISHER: u64 = 112;
const H_WRITE_POS: u64 = 264;
const H_CACHED_MIN: u64 = 272;

// Layout of `small()` below: buffer 64 KiB, 4 clients, 2 subscriptions, max topic length
// 64, 8 topics (16 slots), inbox 8.
const CLIENTS_OFF: u64 = 1088;
const CLIENT_SIZE: u64 = 256;
const C_STATE: u64 = 0;
const C_GEN: u64 = 8;
const C_OWNER: u64 = 16;
const C_TAIL: u64 = 128;
const C_HEAD_SEEN: u64 = 144;
const C_HEAD: u64 = 192;
const INBOX_OFF: u64 = 4224;
const INBOX_CAP: u64 = 8;
const LOG_OFF: u64 = 4480;
const TOTAL: u64 = 73728;

fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "fr{}-{tag}{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn path(name: &str) -> String {
    format!("/dev/shm/rk.{name}")
}

/// Removes the region when the test ends, even on failure.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Broker::remove(&self.0);
        let _ = std::fs::remove_file(path(&self.0));
    }
}

fn small(name: &str, policy: SlowSubscriberPolicy) -> Broker {
    let b = Broker::with_options(
        BrokerConfig {
            name: name.to_string(),
            buffer_size: 64 * 1024,
            max_clients: 4,
            max_subscriptions_per_client: 2,
        },
        BrokerOptions {
            policy,
            publish_timeout: Duration::from_millis(1),
            max_topic_len: 64,
            max_topics: 8,
            inbox_capacity: 8,
            ..BrokerOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        std::fs::metadata(path(name)).unwrap().len(),
        TOTAL,
        "the offsets in this test are out of date"
    );
    b
}

/// Writes little-endian words into the region file (shares pages with every mapping).
fn patch(name: &str, words: &[(u64, u64)]) {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path(name))
        .unwrap();
    for &(off, v) in words {
        f.write_all_at(&v.to_le_bytes(), off).unwrap();
    }
}

fn client(slot: u64, field: u64) -> u64 {
    CLIENTS_OFF + slot * CLIENT_SIZE + field
}

fn ring(slot: u64, index: u64) -> u64 {
    INBOX_OFF + (slot * INBOX_CAP + index % INBOX_CAP) * 8
}

/// Runs `f`, failing the test with a clear message if it panics.
fn no_panic<T>(what: &str, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{what} panicked on a corrupt region: {msg}");
        }
    }
}

/// A region file holding exactly `bytes`, as the `header_bytes` target writes it.
fn write_region(name: &str, bytes: &[u8]) {
    std::fs::write(path(name), bytes).unwrap();
}

/// The header of a valid minimal region (buffer 4096, 1 client, 1 subscription, max topic
/// length 64, 1 topic, inbox 2; 8192 bytes in all): the `header_bytes` seed.
const SEED_HEADER: &[(u64, u64)] = &[
    (0, u64::from_le_bytes(*b"ROKERv01")), // magic
    (8, 1),                                // layout version
    (16, 2),                               // init: ready
    (24, 8192),                            // total bytes
    (32, 4096),                            // buffer
    (40, 1),                               // max clients
    (48, 1),                               // max subscriptions
    (56, 1936),                            // max message
    (64, 64),                              // max topic length
    (72, 1),                               // max topics
    (80, 2),                               // inbox capacity
    (88, 0),                               // policy: Block
    (96, 1_000_000),                       // publish timeout (ns)
    (152, 65),                             // attach slots
];

fn seed_region(extra: &[(u64, u64)]) -> Vec<u8> {
    let mut r = vec![0u8; 8192];
    for &(off, v) in SEED_HEADER.iter().chain(extra) {
        r[off as usize..off as usize + 8].copy_from_slice(&v.to_le_bytes());
    }
    r
}

// ----- found by the fuzzers (fail until fixed) ------------------------------------------

/// region_attach: `Entry { table: Header, index: 0, word: 78, val: Max }`, i.e. the
/// header's next-publisher counter at u64::MAX. `Inner::attach` computed
/// `fetch_add(1) + 1`, an arithmetic overflow (panic with overflow checks on).
#[test]
fn fuzz_next_publisher_counter_at_max() {
    let name = unique("np");
    let _c = Cleanup(name.clone());
    let creator = small(&name, SlowSubscriberPolicy::Block);
    patch(&name, &[(H_NEXT_PUBLISHER, u64::MAX)]);
    let b = no_panic("connect", || Broker::connect(&name)).expect("connect should still work");
    assert_ne!(b.publisher_id(), creator.publisher_id());
}

/// header_bytes (crash-bff554…, crash-f53bf3…): the seed region with the header's cached
/// reclaim bound above the write position. `Inner::claim` computed `end - min`, which
/// underflows (panic with overflow checks on; with them off it wraps and merely rescans).
#[test]
fn fuzz_cached_min_above_write_position() {
    let name = unique("cm");
    let _c = Cleanup(name.clone());
    write_region(&name, &seed_region(&[(H_CACHED_MIN, u64::MAX)]));
    let b = no_panic("connect", || Broker::connect(&name)).unwrap();
    let id = b.register_client("s").unwrap();
    b.subscribe(&id, "#").unwrap();
    let sent = no_panic("publish", || b.publish_str("a/b", b"x"));
    assert_eq!(sent.unwrap(), 1);
    let got = no_panic("receive", || b.receive(&id)).unwrap().unwrap();
    assert_eq!(got.payload(), b"x");
}

/// header_bytes (crash-9de513…): the seed region whose free client slot 0 has its inbox
/// tail at u64::MAX. Registering copies the tail into the head; the next publish pushed a
/// descriptor with `tail + 1` in `Inbox::push`, an overflow.
#[test]
fn fuzz_inbox_tail_at_max() {
    let name = unique("tm");
    let _c = Cleanup(name.clone());
    // Slot 0 of the seed layout starts at 1088 (512 header + 65 * 8 attach, rounded to 64).
    write_region(&name, &seed_region(&[(1088 + C_TAIL, u64::MAX)]));
    let b = no_panic("connect", || Broker::connect(&name)).unwrap();
    let id = b.register_client("s").unwrap();
    b.subscribe(&id, "#").unwrap();
    let _ = no_panic("publish", || b.publish_str("a/b", b"x"));
    let _ = no_panic("receive", || b.receive(&id));
    let _ = no_panic("stats", || b.client_stats(&id));
}

// ----- found while writing the harnesses (fail until fixed) -----------------------------

/// A header whose max message size makes the sanity check
/// `2 * (align8(RECORD_HEADER + max_topic_len) + max_msg) <= buffer_size` overflow. With
/// overflow checks on, `read_layout` panics; with them off the product wraps to 0, the
/// header is accepted with max_msg ≈ 2^63, and a publish larger than the log then writes
/// past the end of the mapping. It must be refused as an incompatible region.
#[test]
fn header_max_message_size_overflow_is_refused() {
    let name = unique("mm");
    let _c = Cleanup(name.clone());
    // 2 * (112 + (2^63 - 112)) = 2^64 ≡ 0 (mod 2^64).
    write_region(&name, &seed_region(&[(56, (1u64 << 63) - 112)]));
    let e = no_panic("connect", || Broker::connect(&name)).expect_err("corrupt header accepted");
    assert_eq!(e.code(), "IncompatibleRegion", "{e}");
}

/// A live client slot (addressed by a raw id) whose queued descriptor is u64::MAX:
/// claiming it announced `hold = pos + 1`, an overflow in `Inbox::claim`.
#[test]
fn queued_descriptor_at_max_is_an_error() {
    let name = unique("dm");
    let _c = Cleanup(name.clone());
    let b = small(&name, SlowSubscriberPolicy::Block);
    patch(
        &name,
        &[
            (client(1, C_STATE), 2), // live
            (client(1, C_GEN), 1),
            (client(1, C_HEAD), 0),
            (client(1, C_TAIL), 1),
            (ring(1, 0), u64::MAX),
        ],
    );
    let id = ClientId::from_raw((1 << 32) | 1);
    let r = no_panic("receive", || b.receive(&id));
    assert_eq!(r.unwrap_err().code(), "IncompatibleRegion");
}

/// A queued record whose topic length word is u64::MAX: `read_record` checked
/// `total < RECORD_HEADER + topic_len + payload_len` before bounding the lengths, an
/// overflow.
#[test]
fn record_with_huge_topic_length_is_an_error() {
    let name = unique("rl");
    let _c = Cleanup(name.clone());
    let b = small(&name, SlowSubscriberPolicy::Block);
    patch(
        &name,
        &[
            (client(1, C_STATE), 2),
            (client(1, C_GEN), 1),
            (client(1, C_HEAD), 0),
            (client(1, C_TAIL), 1),
            (ring(1, 0), 0),
            (LOG_OFF, 64),           // record total
            (LOG_OFF + 8, u64::MAX), // topic length
            (LOG_OFF + 16, 1),       // payload length
        ],
    );
    let id = ClientId::from_raw((1 << 32) | 1);
    let r = no_panic("receive", || b.receive(&id));
    assert_eq!(r.unwrap_err().code(), "IncompatibleRegion");
}

/// DropOldest: a live subscriber (owned by this process) whose inbox claims 2^40 queued
/// entries. The publisher drops entries one at a time until the inbox has room, i.e.
/// 2^40 compare-exchanges: a hang. It must finish promptly.
#[test]
fn drop_oldest_with_huge_queue_does_not_hang() {
    let name = unique("dh");
    let _c = Cleanup(name.clone());
    let b = small(&name, SlowSubscriberPolicy::DropOldest);
    let s = b.register_client("s").unwrap();
    b.subscribe(&s, "#").unwrap();
    let slot = s.slot() as u64;
    patch(
        &name,
        &[
            (client(slot, C_TAIL), 1 << 40),
            (client(slot, C_HEAD_SEEN), 0),
            (client(slot, C_HEAD), 0),
        ],
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let b2 = b.clone();
    std::thread::spawn(move || {
        let r = catch_unwind(AssertUnwindSafe(|| b2.publish_str("a", b"x").map(|_| ())));
        let _ = tx.send(r.is_ok());
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(no_panic) => assert!(no_panic, "publish panicked"),
        Err(_) => panic!("DropOldest publish still running after 10 s (dropping one by one)"),
    }
}

// ----- interesting corpus entries (pass today) -------------------------------------------

/// Garbage in the topic table and client slots of a live region: connecting and using it
/// yields results or errors, and the creator's handle keeps working.
#[test]
fn corpus_garbage_topic_table_and_slots() {
    let name = unique("gt");
    let _c = Cleanup(name.clone());
    let creator = small(&name, SlowSubscriberPolicy::Block);
    let a = creator.register_client("a").unwrap();
    creator.subscribe(&a, "a/#").unwrap();
    creator.publish_str("a/b", b"1").unwrap();
    // Topic slots: hash words set, lengths huge, bitmap ranges and words all ones.
    let topics_off = 2688u64;
    let mut words = Vec::new();
    for tid in 0..16u64 {
        let e = topics_off + tid * 96;
        words.push((e, 0x1234_5678_9abc_def1 ^ tid)); // hash
        words.push((e + 8, u64::MAX)); // length
        words.push((e + 16, u64::MAX)); // bitmap range
        words.push((e + 24 + 64, u64::MAX)); // bitmap word
    }
    words.push((128, 16)); // topic count
    words.push((client(3, C_STATE), 7)); // unknown slot state
    words.push((client(3, C_OWNER), 0xdead_0000_0001));
    words.push((120, u64::MAX)); // client high-water mark
    patch(&name, &words);
    let b = no_panic("connect", || Broker::connect(&name)).unwrap();
    no_panic("ops", || {
        let s = b.register_client("s");
        if let Ok(s) = &s {
            let _ = b.subscribe(s, "#");
        }
        let _ = b.publish_str("a/b", b"2");
        let _ = b.publish_str("new/topic", b"3");
        if let Ok(s) = &s {
            let _ = b.receive_many(s, 8);
            let _ = b.unsubscribe(s, "#");
            let _ = b.unregister_client(s);
        }
        let _ = b.sweep();
        let _ = b.clients();
        let _ = creator.receive_many(&a, 8);
        let _ = creator.subscriptions(&a);
    });
}

/// A destroyed init state: connect says NotFound, and `new` reclaims the name.
#[test]
fn corpus_destroyed_region_is_not_found_then_reclaimed() {
    let name = unique("dd");
    let _c = Cleanup(name.clone());
    write_region(&name, &seed_region(&[(H_INIT, 3)]));
    assert_eq!(Broker::connect(&name).unwrap_err().code(), "NotFound");
    let b = Broker::new(BrokerConfig {
        name: name.clone(),
        buffer_size: 4096,
        max_clients: 1,
        max_subscriptions_per_client: 1,
    })
    .unwrap();
    let id = b.register_client("x").unwrap();
    b.subscribe(&id, "#").unwrap();
    assert_eq!(b.publish_str("t", b"p").unwrap(), 1);
}

/// Arbitrary bytes that are not a roker region: both `connect` and `new` refuse them with
/// IncompatibleRegion and do not overwrite the file.
#[test]
fn corpus_foreign_bytes_are_refused() {
    let name = unique("fb");
    let _c = Cleanup(name.clone());
    // 512 bytes of 0xf4 with an unknown init state.
    let bytes = vec![0xf4u8; 512];
    write_region(&name, &bytes);
    assert_eq!(
        Broker::connect(&name).unwrap_err().code(),
        "IncompatibleRegion"
    );
    let e = Broker::new(BrokerConfig {
        name: name.clone(),
        ..BrokerConfig::default()
    })
    .unwrap_err();
    assert_eq!(e.code(), "IncompatibleRegion", "{e}");
    assert_eq!(std::fs::read(path(&name)).unwrap(), bytes);
}

/// The valid seed region with a wrong total and with a region shorter than its header
/// claims: IncompatibleRegion, not a crash.
#[test]
fn corpus_header_size_mismatches_are_refused() {
    for (tag, bytes) in [
        ("tt", seed_region(&[(24, 8192 + 4096)])),
        ("sh", seed_region(&[])[..4096].to_vec()),
    ] {
        let name = unique(tag);
        let _c = Cleanup(name.clone());
        write_region(&name, &bytes);
        let e = no_panic("connect", || Broker::connect(&name)).unwrap_err();
        assert_eq!(e.code(), "IncompatibleRegion", "{tag}: {e}");
    }
}

/// The seed itself: a hand-written valid region works end to end.
#[test]
fn corpus_seed_region_is_usable() {
    let name = unique("sd");
    let _c = Cleanup(name.clone());
    write_region(&name, &seed_region(&[(H_WRITE_POS, 0)]));
    let b = Broker::connect(&name).unwrap();
    let id = b.register_client("s").unwrap();
    b.subscribe(&id, "a/*").unwrap();
    assert_eq!(b.publish_str("a/b", b"hello").unwrap(), 1);
    assert_eq!(b.receive(&id).unwrap().unwrap().payload(), b"hello");
}
