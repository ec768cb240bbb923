//! In-process tests of the broker API: lifecycle, clients, routing, limits, errors.

use std::time::Duration;

use roker::{Broker, BrokerConfig, BrokerOptions, Error, Message, SlowSubscriberPolicy, Topic};

fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "t{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn small(tag: &str) -> BrokerConfig {
    BrokerConfig {
        name: unique(tag),
        buffer_size: 1 << 20,
        max_clients: 8,
        max_subscriptions_per_client: 4,
    }
}

fn with(tag: &str, o: BrokerOptions) -> Broker {
    Broker::with_options(small(tag), o).unwrap()
}

#[test]
fn publish_and_receive_roundtrip_with_metadata() {
    let b = Broker::new(small("rt")).unwrap();
    let s = b.register_client("sub").unwrap();
    b.subscribe(&s, "/sensors/#").unwrap();
    let before = std::time::SystemTime::now();
    let n = b
        .publish(Message::new(
            Topic::new("/sensors/temperature").unwrap(),
            b"25.5".to_vec(),
        ))
        .unwrap();
    assert_eq!(n, 1);
    b.publish_str("/sensors", b"root").unwrap();
    b.publish_str("/other", b"nope").unwrap();
    let m = b.receive(&s).unwrap().unwrap();
    assert_eq!(m.topic().as_str(), "/sensors/temperature");
    assert_eq!(m.payload(), b"25.5");
    assert_eq!(m.sequence(), 1);
    assert_eq!(m.publisher_id(), b.publisher_id());
    assert!(m.timestamp() >= before - Duration::from_secs(1));
    let m2 = b.receive(&s).unwrap().unwrap();
    assert_eq!(
        (m2.topic().as_str(), m2.payload(), m2.sequence()),
        ("/sensors", &b"root"[..], 2)
    );
    assert!(b.receive(&s).unwrap().is_none());
}

#[test]
fn wildcards_route_to_exactly_the_matching_clients() {
    let b = Broker::new(small("wild")).unwrap();
    let a = b.register_client("a").unwrap();
    let c = b.register_client("c").unwrap();
    let d = b.register_client("d").unwrap();
    b.subscribe(&a, "/sensors/*/temperature").unwrap();
    b.subscribe(&c, "/sensors/#").unwrap();
    b.subscribe(&d, "#").unwrap();
    b.publish_str("/sensors/room1/temperature", b"1").unwrap();
    b.publish_str("/sensors/room1/humidity", b"2").unwrap();
    b.publish_str("$SYS/x", b"3").unwrap();
    let drain = |id| {
        b.receive_many(id, 100)
            .unwrap()
            .into_iter()
            .map(|m| String::from_utf8(m.into_payload()).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(drain(&a), ["1"]);
    assert_eq!(drain(&c), ["1", "2"]);
    assert_eq!(drain(&d), ["1", "2"]);
    // A subscription made after a topic was first seen is honoured by the next publish.
    b.subscribe(&a, "$SYS/#").unwrap();
    b.publish_str("$SYS/x", b"4").unwrap();
    assert_eq!(drain(&a), ["4"]);
    // Unsubscribe stops delivery; the other filter still routes.
    b.unsubscribe(&c, "/sensors/#").unwrap();
    b.publish_str("/sensors/room1/temperature", b"5").unwrap();
    assert!(drain(&c).is_empty());
    assert_eq!(drain(&a), ["5"]);
    assert_eq!(
        b.unsubscribe(&c, "/sensors/#").unwrap_err().code(),
        "NotFound"
    );
}

#[test]
fn overlapping_filters_deliver_once() {
    let b = Broker::new(small("once")).unwrap();
    let a = b.register_client("a").unwrap();
    b.subscribe(&a, "x/#").unwrap();
    b.subscribe(&a, "x/*").unwrap();
    b.subscribe(&a, "x/y").unwrap();
    b.subscribe(&a, "x/y").unwrap(); // idempotent
    assert_eq!(b.subscriptions(&a).unwrap().len(), 3);
    assert_eq!(b.publish_str("x/y", b"p").unwrap(), 1);
    assert_eq!(b.receive_many(&a, 10).unwrap().len(), 1);
    // Removing two of three overlapping filters keeps routing through the third.
    b.unsubscribe(&a, "x/#").unwrap();
    b.unsubscribe(&a, "x/y").unwrap();
    assert_eq!(b.publish_str("x/y", b"q").unwrap(), 1);
    b.unsubscribe(&a, "x/*").unwrap();
    assert_eq!(b.publish_str("x/y", b"r").unwrap(), 0);
}

#[test]
fn limits_are_enforced_with_their_codes() {
    let b = Broker::new(small("lim")).unwrap();
    let ids: Vec<_> = (0..8)
        .map(|i| b.register_client(&format!("c{i}")).unwrap())
        .collect();
    assert_eq!(
        b.register_client("one too many").unwrap_err().code(),
        "MaxClientsReached"
    );
    for f in ["a", "b", "c", "d"] {
        b.subscribe(&ids[0], f).unwrap();
    }
    assert_eq!(
        b.subscribe(&ids[0], "e").unwrap_err().code(),
        "MaxSubscriptionsReached"
    );
    b.unregister_client(&ids[7]).unwrap();
    let again = b.register_client("again").unwrap();
    assert_eq!(again.slot(), ids[7].slot());
    assert_ne!(again, ids[7]);
    // The old id is dead everywhere.
    assert_eq!(b.receive(&ids[7]).unwrap_err().code(), "ClientNotFound");
    assert_eq!(
        b.subscribe(&ids[7], "x").unwrap_err().code(),
        "ClientNotFound"
    );
    assert_eq!(
        b.unregister_client(&ids[7]).unwrap_err().code(),
        "ClientNotFound"
    );
    let (cfg, opts) = b.config();
    assert_eq!(opts.mode, 0o600);
    let big = vec![0u8; opts.max_message_size.unwrap() + 1];
    assert_eq!(
        b.publish_str("a", &big).unwrap_err().code(),
        "MessageTooLarge"
    );
    assert_eq!(cfg.max_clients, 8);
    assert_eq!(
        b.publish_str("a/+#", b"").unwrap_err().code(),
        "InvalidTopic"
    );
    assert_eq!(
        b.publish_str("a/*", b"").unwrap_err().code(),
        "InvalidTopic"
    );
    assert_eq!(
        b.subscribe(&ids[1], "a/#/b").unwrap_err().code(),
        "InvalidFilter"
    );
    assert_eq!(
        b.subscribe(&ids[1], "").unwrap_err().code(),
        "InvalidFilter"
    );
    assert_eq!(
        b.register_client(&"n".repeat(65)).unwrap_err().code(),
        "InvalidName"
    );
    assert!(matches!(
        Broker::connect("no-such-broker-anywhere"),
        Err(Error::NotFound(_))
    ));
    assert_eq!(
        Broker::connect("bad/name").unwrap_err().code(),
        "InvalidName"
    );
}

#[test]
fn max_message_size_payload_roundtrips() {
    let b = Broker::new(small("maxmsg")).unwrap();
    let s = b.register_client("s").unwrap();
    b.subscribe(&s, "big").unwrap();
    let max = b.config().1.max_message_size.unwrap();
    let payload: Vec<u8> = (0..max).map(|i| (i * 7 % 251) as u8).collect();
    b.publish_str("big", &payload).unwrap();
    let m = b.receive(&s).unwrap().unwrap();
    assert_eq!(m.payload(), &payload[..]);
    // And again across the log's wrap point.
    for _ in 0..3 {
        b.publish_str("big", &payload).unwrap();
        assert_eq!(b.receive(&s).unwrap().unwrap().payload(), &payload[..]);
    }
}

#[test]
fn second_create_is_already_exists_and_connect_shares_state() {
    let cfg = small("dup");
    let b = Broker::new(cfg.clone()).unwrap();
    assert_eq!(
        Broker::new(cfg.clone()).unwrap_err().code(),
        "AlreadyExists"
    );
    let other = Broker::connect(&cfg.name).unwrap();
    let s = other.register_client("s").unwrap();
    other.subscribe(&s, "t").unwrap();
    b.publish_str("t", b"hello").unwrap();
    assert_eq!(other.receive(&s).unwrap().unwrap().payload(), b"hello");
    assert_ne!(other.publisher_id(), b.publisher_id());
    drop(b);
    // The region lives on while `other` uses it.
    assert!(Broker::exists(&cfg.name));
    let third = Broker::connect(&cfg.name).unwrap();
    drop(other);
    drop(third);
    // Last user gone: the name is removed and can be created again.
    assert!(!Broker::exists(&cfg.name));
    Broker::new(cfg).unwrap();
}

#[test]
fn destroy_closes_every_handle() {
    let cfg = small("destroy");
    let b = Broker::new(cfg.clone()).unwrap();
    let other = Broker::connect(&cfg.name).unwrap();
    let s = other.register_client("s").unwrap();
    b.destroy().unwrap();
    assert_eq!(other.publish_str("t", b"x").unwrap_err().code(), "Closed");
    assert_eq!(other.receive(&s).unwrap_err().code(), "Closed");
    assert!(!Broker::exists(&cfg.name));
    assert_eq!(Broker::connect(&cfg.name).unwrap_err().code(), "NotFound");
    let c = Broker::connect(&cfg.name);
    assert!(c.is_err());
}

#[test]
fn close_makes_handle_fail_with_closed() {
    let b = Broker::new(small("close")).unwrap();
    let s = b.register_client("s").unwrap();
    b.close();
    assert!(b.is_closed());
    assert_eq!(b.receive(&s).unwrap_err().code(), "Closed");
    assert_eq!(b.register_client("x").unwrap_err().code(), "Closed");
}

#[test]
fn block_policy_zero_timeout_is_buffer_full_at_once() {
    let b = with(
        "block0",
        BrokerOptions {
            publish_timeout: Duration::ZERO,
            inbox_capacity: 4,
            ..Default::default()
        },
    );
    let s = b.register_client("s").unwrap();
    b.subscribe(&s, "t").unwrap();
    for i in 0..4u8 {
        b.publish_str("t", &[i]).unwrap();
    }
    assert!(matches!(b.publish_str("t", b"x"), Err(Error::BufferFull)));
    // Receiving one makes room for exactly one.
    assert_eq!(b.receive(&s).unwrap().unwrap().payload(), [0]);
    b.publish_str("t", b"y").unwrap();
    assert!(matches!(b.publish_str("t", b"z"), Err(Error::BufferFull)));
    let got: Vec<u8> = b
        .receive_many(&s, 10)
        .unwrap()
        .iter()
        .map(|m| m.payload()[0])
        .collect();
    assert_eq!(got, [1, 2, 3, b'y']);
}

#[test]
fn block_policy_log_full_is_buffer_full_and_nothing_is_lost() {
    let b = with(
        "blocklog",
        BrokerOptions {
            publish_timeout: Duration::from_millis(20),
            ..Default::default()
        },
    );
    let s = b.register_client("s").unwrap();
    b.subscribe(&s, "t").unwrap();
    let payload = vec![7u8; 100_000];
    let mut sent = 0;
    let err = loop {
        match b.publish_str("t", &payload) {
            Ok(_) => sent += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(err.code(), "BufferFull");
    assert!((5..=10).contains(&sent), "sent {sent}");
    assert_eq!(b.receive_many(&s, 100).unwrap().len(), sent);
}

#[test]
fn block_publisher_waits_for_a_slow_reader() {
    let b = with(
        "blockwait",
        BrokerOptions {
            publish_timeout: Duration::from_secs(30),
            inbox_capacity: 8,
            ..Default::default()
        },
    );
    let s = b.register_client("s").unwrap();
    b.subscribe(&s, "t").unwrap();
    let reader = {
        let b = b.clone();
        std::thread::spawn(move || {
            let mut got = Vec::new();
            while got.len() < 1000 {
                if let Some(m) = b.receive_timeout(&s, Duration::from_secs(30)).unwrap() {
                    got.push(u32::from_le_bytes(m.payload().try_into().unwrap()));
                }
            }
            got
        })
    };
    for i in 0..1000u32 {
        b.publish_str("t", &i.to_le_bytes()).unwrap();
    }
    assert_eq!(reader.join().unwrap(), (0..1000).collect::<Vec<_>>());
}

#[test]
fn drop_oldest_reports_exactly_what_was_missed() {
    let b = with(
        "dropold",
        BrokerOptions {
            policy: SlowSubscriberPolicy::DropOldest,
            inbox_capacity: 8,
            ..Default::default()
        },
    );
    let s = b.register_client("s").unwrap();
    b.subscribe(&s, "t").unwrap();
    for i in 0..100u32 {
        b.publish_str("t", &i.to_le_bytes()).unwrap();
    }
    let got = b.receive_many(&s, 100).unwrap();
    let seqs: Vec<u32> = got
        .iter()
        .map(|m| u32::from_le_bytes(m.payload().try_into().unwrap()))
        .collect();
    assert_eq!(seqs, (92..100).collect::<Vec<_>>());
    assert_eq!(got[0].missed(), 92);
    assert_eq!(got.iter().map(|m| m.missed()).sum::<u64>(), 92);
    assert_eq!(b.client_stats(&s).unwrap().dropped, 92);
}

#[test]
fn drop_oldest_on_a_full_log_drops_instead_of_blocking() {
    let b = with(
        "droplog",
        BrokerOptions {
            policy: SlowSubscriberPolicy::DropOldest,
            ..Default::default()
        },
    );
    let s = b.register_client("s").unwrap();
    b.subscribe(&s, "t").unwrap();
    let payload = vec![1u8; 100_000];
    for i in 0..50u8 {
        let mut p = payload.clone();
        p[0] = i;
        b.publish_str("t", &p).unwrap();
    }
    let got = b.receive_many(&s, 100).unwrap();
    let missed: u64 = got.iter().map(|m| m.missed()).sum();
    assert_eq!(got.len() as u64 + missed, 50);
    assert!(missed > 0);
    assert_eq!(got.last().unwrap().payload()[0], 49);
    assert!(got.iter().all(|m| m.payload()[1..].iter().all(|&x| x == 1)));
}

#[test]
fn zero_copy_paths_see_the_same_bytes() {
    let b = Broker::new(small("zc")).unwrap();
    let s = b.register_client("s").unwrap();
    b.subscribe(&s, "z/#").unwrap();
    b.publish_str("z/1", b"one").unwrap();
    b.publish_str("z/2", b"two").unwrap();
    b.publish_str("z/3", b"three").unwrap();
    let len = b
        .receive_with(&s, |m| (m.topic.to_string(), m.payload.len()))
        .unwrap();
    assert_eq!(len, Some(("z/1".to_string(), 3)));
    let lent = b.receive_lent(&s).unwrap().unwrap();
    assert_eq!(lent.payload(), b"two");
    assert_eq!(lent.topic().as_str(), "z/2");
    // A copying receive while the lend is outstanding still works.
    assert_eq!(b.receive(&s).unwrap().unwrap().payload(), b"three");
    assert_eq!(lent.payload(), b"two");
    drop(lent);
    let mut seen = Vec::new();
    b.publish_str("z/4", b"four").unwrap();
    b.receive_batch_with(&s, 10, |m| seen.push(m.payload.to_vec()))
        .unwrap();
    assert_eq!(seen, [b"four".to_vec()]);
}

#[test]
fn lent_message_holds_log_space_until_dropped() {
    let b = with(
        "lendhold",
        BrokerOptions {
            publish_timeout: Duration::ZERO,
            ..Default::default()
        },
    );
    let s = b.register_client("s").unwrap();
    b.subscribe(&s, "t").unwrap();
    let payload = vec![3u8; 200_000];
    b.publish_str("t", &payload).unwrap();
    let lent = b.receive_lent(&s).unwrap().unwrap();
    // Fill: the lent record must not be overwritten, so publishing eventually fails.
    let mut ok = 0;
    while b.publish_str("t", &payload).is_ok() {
        ok += 1;
        while b.receive_with(&s, |_| ()).unwrap().is_some() {}
        assert!(ok < 100, "lent space was reused");
    }
    assert!(lent.payload().iter().all(|&x| x == 3));
    drop(lent);
    b.publish_str("t", &payload).unwrap();
}

#[test]
fn receive_timeout_times_out_and_wakes_on_publish() {
    let b = Broker::new(small("rto")).unwrap();
    let s = b.register_client("s").unwrap();
    b.subscribe(&s, "t").unwrap();
    assert!(b
        .receive_timeout(&s, Duration::from_millis(30))
        .unwrap()
        .is_none());
    let pubber = {
        let b = b.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            b.publish_str("t", b"late").unwrap();
        })
    };
    let m = b
        .receive_timeout(&s, Duration::from_secs(30))
        .unwrap()
        .unwrap();
    assert_eq!(m.payload(), b"late");
    pubber.join().unwrap();
}

#[test]
fn unregister_wakes_a_blocked_receiver_with_client_not_found() {
    let b = Broker::new(small("unregwake")).unwrap();
    let s = b.register_client("s").unwrap();
    let waiter = {
        let b = b.clone();
        std::thread::spawn(move || b.receive_timeout(&s, Duration::from_secs(60)))
    };
    std::thread::sleep(Duration::from_millis(50));
    b.unregister_client(&s).unwrap();
    assert_eq!(waiter.join().unwrap().unwrap_err().code(), "ClientNotFound");
}

#[test]
fn topic_table_overflow_still_routes_by_scanning() {
    let b = with(
        "overflow",
        BrokerOptions {
            max_topics: 2,
            ..Default::default()
        },
    );
    let s = b.register_client("s").unwrap();
    b.subscribe(&s, "t/*").unwrap();
    for i in 0..10 {
        assert_eq!(b.publish_str(&format!("t/{i}"), b"x").unwrap(), 1);
        assert_eq!(b.publish_str(&format!("u/{i}"), b"x").unwrap(), 0);
    }
    let got = b.receive_many(&s, 100).unwrap();
    let topics: Vec<String> = got.iter().map(|m| m.topic().to_string()).collect();
    assert_eq!(
        topics,
        (0..10).map(|i| format!("t/{i}")).collect::<Vec<_>>()
    );
}

#[test]
fn many_threads_publish_and_receive_in_order() {
    let b = with(
        "threads",
        BrokerOptions {
            publish_timeout: Duration::from_secs(60),
            inbox_capacity: 64,
            ..Default::default()
        },
    );
    let subs: Vec<_> = (0..2)
        .map(|i| {
            let s = b.register_client(&format!("s{i}")).unwrap();
            b.subscribe(&s, "p/#").unwrap();
            s
        })
        .collect();
    const PER: u32 = 20_000;
    let pubs: Vec<_> = (0..3u32)
        .map(|p| {
            let b = Broker::connect(b.name()).unwrap();
            std::thread::spawn(move || {
                for i in 0..PER {
                    b.publish_str(&format!("p/{p}"), &i.to_le_bytes()).unwrap();
                }
                b.publisher_id()
            })
        })
        .collect();
    let readers: Vec<_> = subs
        .iter()
        .map(|&s| {
            let b = b.clone();
            std::thread::spawn(move || {
                let mut next = std::collections::HashMap::<u64, u32>::new();
                let mut n = 0;
                while n < 3 * PER {
                    let m = b
                        .receive_timeout(&s, Duration::from_secs(60))
                        .unwrap()
                        .unwrap();
                    let v = u32::from_le_bytes(m.payload().try_into().unwrap());
                    let e = next.entry(m.publisher_id()).or_default();
                    assert_eq!(v, *e, "out of order from publisher {}", m.publisher_id());
                    *e += 1;
                    n += 1;
                }
                next
            })
        })
        .collect();
    let ids: Vec<u64> = pubs.into_iter().map(|t| t.join().unwrap()).collect();
    for r in readers {
        let next = r.join().unwrap();
        for id in &ids {
            assert_eq!(next[id], PER);
        }
    }
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_async_waits_without_blocking_the_runtime() {
    let b = Broker::new(small("tokio")).unwrap();
    let s = b.register_client("s").unwrap();
    b.subscribe(&s, "t").unwrap();
    assert!(b
        .receive_async(&s, Duration::from_millis(20))
        .await
        .unwrap()
        .is_none());
    let waiter = {
        let b = b.clone();
        tokio::spawn(async move { b.receive_async(&s, Duration::from_secs(30)).await })
    };
    // The runtime keeps running other tasks meanwhile.
    tokio::time::sleep(Duration::from_millis(20)).await;
    b.publish_str("t", b"async").unwrap();
    let m = waiter.await.unwrap().unwrap().unwrap();
    assert_eq!(m.payload(), b"async");
}

#[test]
fn publish_many_publishes_in_order_and_reports_partial_progress() {
    let b = with(
        "many",
        BrokerOptions {
            publish_timeout: Duration::ZERO,
            inbox_capacity: 4,
            ..Default::default()
        },
    );
    let s = b.register_client("s").unwrap();
    b.subscribe(&s, "m/#").unwrap();
    let payloads: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 3]).collect();
    let refs: Vec<&[u8]> = payloads.iter().map(|p| p.as_slice()).collect();
    // Only 4 fit; the rest are left for the caller to retry.
    assert_eq!(b.publish_many("m/x", &refs).unwrap(), 4);
    let got: Vec<u8> = b
        .receive_many(&s, 10)
        .unwrap()
        .iter()
        .map(|m| m.payload()[0])
        .collect();
    assert_eq!(got, [0, 1, 2, 3]);
    assert_eq!(b.publish_many("m/x", &refs[4..8]).unwrap(), 4);
    // Nothing fits: an error, nothing published.
    assert!(matches!(
        b.publish_many("m/x", &refs[8..]),
        Err(Error::BufferFull)
    ));
    let got: Vec<u64> = b
        .receive_many(&s, 10)
        .unwrap()
        .iter()
        .map(|m| m.sequence())
        .collect();
    assert_eq!(got, [5, 6, 7, 8]);
    // Validation happens before anything is published.
    let big = vec![0u8; b.config().1.max_message_size.unwrap() + 1];
    assert_eq!(
        b.publish_many("m/x", &[b"ok", &big]).unwrap_err().code(),
        "MessageTooLarge"
    );
    assert_eq!(
        b.publish_many("m/#", &[b"x"]).unwrap_err().code(),
        "InvalidTopic"
    );
    assert!(b.receive(&s).unwrap().is_none());
}
