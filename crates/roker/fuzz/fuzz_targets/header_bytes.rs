//! A region file holding completely arbitrary bytes (0..=64 KiB): `Broker::connect` and
//! `Broker::new` must return a clear error (or succeed if the bytes happen to form a valid
//! region), never crash.
//!
//! Inputs that would sit in a designed-in wait (a file smaller than the 512-byte header,
//! or an init state of 0/"creating" with no or a live creator: up to 3 s in `connect`,
//! 0.5 + 3 s in `new`) are skipped unless `ROKER_FUZZ_SLOW=1`.
#![no_main]

#[path = "common.rs"]
mod common;

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use roker::{Broker, BrokerConfig, BrokerOptions, Error};

use common::*;

fn small(name: &str) -> (BrokerConfig, BrokerOptions) {
    (
        BrokerConfig {
            name: name.to_string(),
            buffer_size: 64 * 1024,
            max_clients: 4,
            max_subscriptions_per_client: 2,
        },
        BrokerOptions {
            publish_timeout: Duration::from_millis(1),
            max_topic_len: 64,
            max_topics: 8,
            inbox_capacity: 8,
            ..BrokerOptions::default()
        },
    )
}

fn expected_error(e: &Error) {
    // A clear, non-empty message of one of the documented kinds.
    assert!(!e.to_string().is_empty());
    assert!(
        matches!(
            e,
            Error::IncompatibleRegion(_)
                | Error::NotFound(_)
                | Error::AlreadyExists(_)
                | Error::MaxClientsReached(_)
                | Error::Timeout(_)
                | Error::OutOfSharedMemory { .. }
        ),
        "unexpected error kind: {e:?}"
    );
}

fn poke(b: &Broker) {
    // Only if the lock word does not name a live process (5 s lock timeout otherwise).
    let _ = b.clients();
    let _ = b.sweep();
    if let Ok(id) = b.register_client("fz") {
        let _ = b.subscribe(&id, "#");
        let _ = b.publish_str("a/b", b"x");
        let _ = b.receive_many(&id, 4);
        let _ = b.unregister_client(&id);
    }
}

fuzz_target!(|data: &[u8]| {
    let data = &data[..data.len().min(64 * 1024)];
    if connect_would_wait(data) && !slow_allowed() {
        return;
    }
    let lock_live = word(data, H_LOCK).is_some_and(identity_alive);
    let name = unique_name("h");
    let path = shm_path(&name);

    std::fs::write(&path, data).unwrap();
    match Broker::connect(&name) {
        Ok(b) => {
            if !lock_live {
                poke(&b);
            }
        }
        Err(e) => expected_error(&e),
    }
    // `connect` may have unlinked the name (last user left); put the bytes back.
    std::fs::write(&path, data).unwrap();
    let (c, o) = small(&name);
    match Broker::with_options(c, o) {
        Ok(b) => poke(&b),
        Err(e) => expected_error(&e),
    }
    let _ = Broker::remove(&name);
    let _ = std::fs::remove_file(&path);
});
