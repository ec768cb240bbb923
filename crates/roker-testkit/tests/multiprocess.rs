//! Cross-process tests: every worker is a real OS process (the `roker-worker` binary),
//! always reaped, and every wait is bounded.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use roker::{Broker, BrokerConfig, BrokerOptions, SlowSubscriberPolicy};
use roker_testkit::{check_payload, unique_name, Worker};

const LIMIT: Duration = Duration::from_secs(300);

#[test]
fn three_publishers_two_wildcard_subscribers_lose_nothing() {
    let name = unique_name("fanin");
    let _broker = Broker::with_options(
        BrokerConfig {
            name: name.clone(),
            buffer_size: 8 << 20,
            max_clients: 16,
            max_subscriptions_per_client: 4,
        },
        BrokerOptions {
            policy: SlowSubscriberPolicy::Block,
            publish_timeout: Duration::from_secs(120),
            ..Default::default()
        },
    )
    .unwrap();
    const PER: u64 = 100_000;
    let mut all = Worker::spawn(&["subscribe", &name, "/mp/#", &(3 * PER).to_string(), "3"]);
    let mut even = Worker::spawn(&[
        "subscribe",
        &name,
        "/mp/*/even",
        &(3 * PER / 2).to_string(),
        "3",
    ]);
    all.expect_line("READY");
    even.expect_line("READY");
    let pubs: Vec<Worker> = (0..3)
        .map(|p| Worker::spawn(&["publish", &name, &p.to_string(), &PER.to_string(), "64"]))
        .collect();
    for p in pubs {
        p.wait_ok(LIMIT);
    }
    let all_out = all.wait_ok(LIMIT);
    let even_out = even.wait_ok(LIMIT);
    assert_eq!(all_out, [format!("OK {}", 3 * PER)]);
    assert_eq!(even_out, [format!("OK {}", 3 * PER / 2)]);
}

#[test]
fn sigkilled_publishers_and_subscribers_block_nobody() {
    let name = unique_name("crash");
    const MAX_CLIENTS: usize = 6;
    let broker = Broker::with_options(
        BrokerConfig {
            name: name.clone(),
            buffer_size: 1 << 20,
            max_clients: MAX_CLIENTS,
            max_subscriptions_per_client: 4,
        },
        BrokerOptions {
            policy: SlowSubscriberPolicy::Block,
            publish_timeout: Duration::from_secs(30),
            inbox_capacity: 64,
            ..Default::default()
        },
    )
    .unwrap();
    let me = broker.register_client("survivor").unwrap();
    broker.subscribe(&me, "/c/#").unwrap();
    // The survivor drains on a thread, checking every message, while the main thread
    // publishes and kills.
    let stop = Arc::new(AtomicBool::new(false));
    let drainer = {
        let (b, stop) = (broker.clone(), stop.clone());
        std::thread::spawn(move || {
            let (mut mine, mut theirs, mut corrupt) = (0u64, 0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                if let Some(m) = b.receive_timeout(&me, Duration::from_millis(20)).unwrap() {
                    match check_payload(m.payload()) {
                        Some((1000, _)) => mine += 1,
                        Some(_) => theirs += 1,
                        None => corrupt += 1,
                    }
                }
            }
            (mine, theirs, corrupt)
        })
    };
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut published = 0u64;
    for round in 0..20u32 {
        let mut publisher = Worker::spawn(&["flood", &name, &round.to_string()]);
        let mut subscriber = Worker::spawn(&["drain", &name, "/c/#"]);
        publisher.expect_line("RUNNING");
        subscriber.expect_line("RUNNING");
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_micros(seed % 20_000));
        if round % 2 == 0 {
            publisher.kill();
            subscriber.kill();
        } else {
            subscriber.kill();
            publisher.kill();
        }
        // Survivors continue: these publishes must get through although a dead subscriber may
        // hold a full inbox (it is detected and reclaimed); a stall beyond the publish timeout
        // would be BufferFull and fail the unwrap.
        for i in 0..200u64 {
            let payload = roker_testkit::make_payload(1000, published + i, 64);
            broker.publish_str("/c/parent", &payload).unwrap();
        }
        published += 200;
    }
    // Give the drainer a bounded time to take the last ones.
    let deadline = Instant::now() + Duration::from_secs(30);
    while broker.client_stats(&me).unwrap().queued > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    let (mine, theirs, corrupt) = drainer.join().unwrap();
    assert_eq!(corrupt, 0);
    assert_eq!(mine, published, "the survivor lost its own messages");
    assert!(theirs > 0);
    // Every dead client's slot comes back: max_clients new clients register.
    broker.unregister_client(&me).unwrap();
    broker.sweep().unwrap();
    let ids: Vec<_> = (0..MAX_CLIENTS)
        .map(|i| broker.register_client(&format!("n{i}")).unwrap())
        .collect();
    assert_eq!(ids.len(), MAX_CLIENTS);
}

#[test]
fn drop_oldest_slow_subscriber_gets_intact_messages_and_exact_miss_count() {
    let name = unique_name("slow");
    let broker = Broker::with_options(
        BrokerConfig {
            name: name.clone(),
            buffer_size: 256 << 10,
            max_clients: 4,
            max_subscriptions_per_client: 2,
        },
        BrokerOptions {
            policy: SlowSubscriberPolicy::DropOldest,
            inbox_capacity: 64,
            ..Default::default()
        },
    )
    .unwrap();
    const N: u64 = 50_000;
    let mut slow = Worker::spawn(&["slow", &name, "/d/#", &(N - 1).to_string()]);
    slow.expect_line("READY");
    for i in 0..N {
        // Sizes vary so both the inbox and the log overflow.
        let payload = roker_testkit::make_payload(7, i, 32 + (i % 64) as usize * 97);
        broker.publish_str("/d/x", &payload).unwrap();
    }
    let out = slow.wait_ok(LIMIT);
    let total: Vec<u64> = out
        .iter()
        .find_map(|l| l.strip_prefix("TOTAL "))
        .expect("TOTAL line")
        .split(' ')
        .map(|x| x.parse().unwrap())
        .collect();
    let (received, missed) = (total[0], total[1]);
    assert_eq!(
        received + missed,
        N,
        "received {received} + missed {missed}"
    );
    assert!(missed > 0, "the subscriber was never slow enough to drop");
}

#[test]
fn stale_region_of_a_killed_creator_is_reclaimed_and_live_one_is_not() {
    let name = unique_name("stale");
    let cfg = BrokerConfig {
        name: name.clone(),
        buffer_size: 1 << 20,
        max_clients: 8,
        max_subscriptions_per_client: 4,
    };
    let mut creator = Worker::spawn(&["create", &name]);
    creator.expect_line("CREATED");
    // Live in another process: a second create fails, connect works.
    assert_eq!(
        Broker::new(cfg.clone()).unwrap_err().code(),
        "AlreadyExists"
    );
    let attached = Broker::connect(&name).unwrap();
    drop(attached);
    creator.kill();
    // Its creator is dead and nobody else uses it: create reclaims it.
    assert!(Broker::exists(&name));
    let b = Broker::new(cfg).unwrap();
    let id = b.register_client("x").unwrap();
    b.subscribe(&id, "a").unwrap();
    b.publish_str("a", b"fresh").unwrap();
    assert_eq!(b.receive(&id).unwrap().unwrap().payload(), b"fresh");
}

#[test]
fn a_killed_subscriber_is_reclaimed_within_about_a_second() {
    let name = unique_name("reclaim");
    let broker = Broker::with_options(
        BrokerConfig {
            name: name.clone(),
            buffer_size: 1 << 20,
            max_clients: 2,
            max_subscriptions_per_client: 2,
        },
        BrokerOptions {
            publish_timeout: Duration::from_secs(10),
            inbox_capacity: 4,
            ..Default::default()
        },
    )
    .unwrap();
    let mut sub = Worker::spawn(&["slow", &name, "/r/#", "1000000"]);
    sub.expect_line("READY");
    sub.kill();
    // Its slot still looks taken until the death is noticed: publishing into its (full)
    // inbox notices it and reclaims the slot (without that, the fifth publish would wait out
    // the publish timeout and fail with BufferFull).
    for i in 0..20u64 {
        broker
            .publish_str("/r/x", &roker_testkit::make_payload(1, i, 32))
            .unwrap();
    }
    let a = broker.register_client("a").unwrap();
    let b = broker.register_client("b").unwrap();
    assert_ne!(a.slot(), b.slot());
}

#[test]
fn remove_stale_cleans_regions_of_killed_processes_only() {
    let dead_name = unique_name("deadregion");
    let live_name = unique_name("liveregion");
    let mut creator = Worker::spawn(&["create", &dead_name]);
    creator.expect_line("CREATED");
    creator.kill();
    let live = Broker::new(BrokerConfig {
        name: live_name.clone(),
        buffer_size: 1 << 16,
        max_clients: 2,
        max_subscriptions_per_client: 1,
    })
    .unwrap();
    assert!(Broker::exists(&dead_name));
    let removed = Broker::remove_stale().unwrap();
    assert!(removed.contains(&dead_name), "{removed:?}");
    assert!(!removed.contains(&live_name));
    assert!(!Broker::exists(&dead_name));
    assert!(Broker::exists(&live_name));
    drop(live);
}

#[test]
fn regions_are_private_to_their_owner_unless_the_mode_says_otherwise() {
    use std::os::unix::fs::PermissionsExt;
    let private = unique_name("private");
    let shared = unique_name("shared");
    let cfg = |name: &str| BrokerConfig {
        name: name.to_string(),
        buffer_size: 1 << 16,
        max_clients: 2,
        max_subscriptions_per_client: 1,
    };
    let _p = Broker::new(cfg(&private)).unwrap();
    let _s = Broker::with_options(
        cfg(&shared),
        BrokerOptions {
            mode: 0o666,
            ..Default::default()
        },
    )
    .unwrap();
    let mode = |name: &str| {
        std::fs::metadata(format!("/dev/shm/rk.{name}"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&private), 0o600);
    assert_eq!(mode(&shared), 0o666);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        // As root we can also check what another user sees.
        let nobody = "65534";
        let out = Worker::spawn(&["connect-as", &private, nobody]).wait_ok(LIMIT);
        assert_eq!(out, ["ERR PermissionDenied"]);
        let out = Worker::spawn(&["connect-as", &shared, nobody]).wait_ok(LIMIT);
        assert_eq!(out, ["OK"]);
    }
}
