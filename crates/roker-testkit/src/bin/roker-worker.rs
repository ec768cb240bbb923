//! Worker process for roker's multi-process tests. Roles:
//!
//! * `publish NAME PUB COUNT PAYLOAD_LEN` — publishes COUNT checksummed messages on
//!   `/mp/PUB/even` or `/mp/PUB/odd` (by index parity), then prints `DONE`.
//! * `subscribe NAME FILTER EXPECT PUBS` — registers, subscribes, prints `READY`, receives
//!   until EXPECT messages arrived; checks checksums, no duplicates and per-publisher order;
//!   prints `OK <received>`.
//! * `flood NAME PUB` — registers a client and publishes checksummed messages on
//!   `/c/PUB` forever (until killed); prints `RUNNING` after the first 100.
//! * `drain NAME FILTER` — registers, subscribes and receives forever, exiting with an error
//!   on a corrupt message; prints `RUNNING` after the first 100.
//! * `slow NAME FILTER LAST` — receives slowly until the message with index LAST arrives;
//!   prints `TOTAL <received> <missed>`.
//! * `create NAME` — creates a broker, prints `CREATED`, then sleeps until killed.
//! * `connect-as NAME UID` — switches to user UID, tries to connect, prints `OK` or
//!   `ERR <code>`.
//! * `fault NAME POINT` — runs the operation that reaches fault point POINT (the parent sets
//!   `ROKER_FAULT`), so the process dies there; exits with code 3 if it never got there.

use std::collections::HashMap;
use std::time::Duration;

use roker::{Broker, BrokerConfig};
use roker_testkit::{check_payload, make_payload};

fn fail(msg: String) -> ! {
    eprintln!("worker: {msg}");
    std::process::exit(1)
}

fn connect(name: &str) -> Broker {
    Broker::connect(name).unwrap_or_else(|e| fail(format!("connect {name}: {e}")))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| {
        args.get(i)
            .cloned()
            .unwrap_or_else(|| fail(format!("missing argument {i}")))
    };
    let num = |i: usize| {
        arg(i)
            .parse::<u64>()
            .unwrap_or_else(|e| fail(format!("argument {i}: {e}")))
    };
    match arg(0).as_str() {
        "publish" => {
            let b = connect(&arg(1));
            let p = num(2) as u32;
            let (count, len) = (num(3), num(4) as usize);
            let topics = [format!("/mp/{p}/even"), format!("/mp/{p}/odd")];
            for i in 0..count {
                let payload = make_payload(p, i, len);
                b.publish_str(&topics[(i % 2) as usize], &payload)
                    .unwrap_or_else(|e| fail(format!("publish {i}: {e}")));
            }
            println!("DONE");
        }
        "subscribe" => {
            let b = connect(&arg(1));
            let id = b
                .register_client("subscriber")
                .unwrap_or_else(|e| fail(e.to_string()));
            b.subscribe(&id, &arg(2))
                .unwrap_or_else(|e| fail(e.to_string()));
            println!("READY");
            let expect = num(3);
            let mut last: HashMap<u32, u64> = HashMap::new();
            let mut received = 0u64;
            while received < expect {
                let batch = b
                    .receive_many(&id, 256)
                    .unwrap_or_else(|e| fail(format!("receive: {e}")));
                if batch.is_empty() {
                    if !b
                        .wait_for_message(&id, Duration::from_secs(60))
                        .unwrap_or(false)
                    {
                        fail(format!("no message for 60 s after {received}"));
                    }
                    continue;
                }
                for m in batch {
                    let Some((p, i)) = check_payload(m.payload()) else {
                        fail(format!("corrupt payload on {}", m.topic()))
                    };
                    let expected_topic =
                        format!("/mp/{p}/{}", if i % 2 == 0 { "even" } else { "odd" });
                    if m.topic().as_str() != expected_topic {
                        fail(format!("message {p}/{i} arrived on {}", m.topic()));
                    }
                    if let Some(&prev) = last.get(&p) {
                        if i <= prev {
                            fail(format!(
                                "publisher {p}: {i} after {prev} (duplicate or reordered)"
                            ));
                        }
                    }
                    if m.sequence() != i + 1 {
                        fail(format!(
                            "publisher {p}: sequence {} for index {i}",
                            m.sequence()
                        ));
                    }
                    last.insert(p, i);
                    received += 1;
                }
            }
            if b.receive(&id)
                .unwrap_or_else(|e| fail(e.to_string()))
                .is_some()
            {
                fail("more messages than expected".into());
            }
            println!("OK {received}");
        }
        "flood" => {
            let b = connect(&arg(1));
            let p = num(2) as u32;
            let _id = b
                .register_client("flood")
                .unwrap_or_else(|e| fail(e.to_string()));
            let topic = format!("/c/{p}");
            for i in 0.. {
                let payload = make_payload(p, i, 64 + (i % 512) as usize);
                match b.publish_str(&topic, &payload) {
                    Ok(_) | Err(roker::Error::BufferFull) => {}
                    Err(e) => fail(format!("publish: {e}")),
                }
                if i == 100 {
                    println!("RUNNING");
                }
            }
        }
        "drain" => {
            let b = connect(&arg(1));
            let id = b
                .register_client("drain")
                .unwrap_or_else(|e| fail(e.to_string()));
            b.subscribe(&id, &arg(2))
                .unwrap_or_else(|e| fail(e.to_string()));
            let mut n = 0u64;
            loop {
                match b.receive_timeout(&id, Duration::from_millis(100)) {
                    Ok(Some(m)) => {
                        if check_payload(m.payload()).is_none() {
                            fail(format!("corrupt payload on {}", m.topic()));
                        }
                        n += 1;
                        if n == 100 {
                            println!("RUNNING");
                        }
                    }
                    Ok(None) => {}
                    Err(e) => fail(format!("receive: {e}")),
                }
            }
        }
        "slow" => {
            let b = connect(&arg(1));
            let id = b
                .register_client("slow")
                .unwrap_or_else(|e| fail(e.to_string()));
            b.subscribe(&id, &arg(2))
                .unwrap_or_else(|e| fail(e.to_string()));
            println!("READY");
            let last_index = num(3);
            let (mut received, mut missed) = (0u64, 0u64);
            let mut prev: Option<u64> = None;
            loop {
                let m = match b.receive_timeout(&id, Duration::from_secs(60)) {
                    Ok(Some(m)) => m,
                    Ok(None) => fail(format!("stalled after {received}")),
                    Err(e) => fail(format!("receive: {e}")),
                };
                let Some((_, i)) = check_payload(m.payload()) else {
                    fail("corrupt payload".into())
                };
                if prev.is_some_and(|p| i <= p) {
                    fail(format!("{i} after {prev:?}"));
                }
                prev = Some(i);
                received += 1;
                missed += m.missed();
                if received % 16 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
                if i == last_index {
                    break;
                }
            }
            println!("TOTAL {received} {missed}");
        }
        "create" => {
            let _b = Broker::new(BrokerConfig {
                name: arg(1),
                buffer_size: 1 << 20,
                max_clients: 8,
                max_subscriptions_per_client: 4,
            })
            .unwrap_or_else(|e| fail(format!("create: {e}")));
            println!("CREATED");
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        "soakdrop" => {
            // DropOldest soak subscriber: verifies every message it gets and counts what it
            // missed, until the END marker; prints `TOTAL <received> <missed>`.
            let b = connect(&arg(1));
            let id = b
                .register_client("soakdrop")
                .unwrap_or_else(|e| fail(e.to_string()));
            b.subscribe(&id, "/mp/#")
                .unwrap_or_else(|e| fail(e.to_string()));
            println!("READY");
            let mut last: HashMap<u32, u64> = HashMap::new();
            let (mut received, mut missed, mut batches) = (0u64, 0u64, 0u64);
            'outer: loop {
                if !b
                    .wait_for_message(&id, Duration::from_secs(120))
                    .unwrap_or(false)
                {
                    fail(format!("stalled after {received}"));
                }
                let batch = b
                    .receive_many(&id, 64)
                    .unwrap_or_else(|e| fail(e.to_string()));
                for m in batch {
                    missed += m.missed();
                    if m.topic().as_str() == "/mp/end" {
                        break 'outer;
                    }
                    let Some((p, i)) = check_payload(m.payload()) else {
                        fail("corrupt payload".into())
                    };
                    if last.get(&p).is_some_and(|&prev| i <= prev) {
                        fail(format!("publisher {p}: {i} out of order"));
                    }
                    last.insert(p, i);
                    received += 1;
                }
                batches += 1;
                if batches % 8 == 0 {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            println!("TOTAL {received} {missed}");
        }
        "connect-as" => {
            // Drop to another user, then try to attach: prints OK or the error code.
            let uid: u32 = num(2) as u32;
            // SAFETY: plain setgid/setuid calls on this single-threaded process.
            let rc = unsafe { (libc::setgid(uid), libc::setuid(uid)) };
            if rc != (0, 0) {
                fail(format!("setuid({uid}) failed"));
            }
            match Broker::connect(&arg(1)) {
                Ok(_) => println!("OK"),
                Err(e) => println!("ERR {}", e.code()),
            }
        }
        "fault" => {
            let b = connect(&arg(1));
            let point = arg(2);
            let id = b
                .register_client("faulty")
                .unwrap_or_else(|e| fail(e.to_string()));
            match point.as_str() {
                "register_mid" => {
                    let _ = b.register_client("second");
                }
                "subscribe_mid" => {
                    let _ = b.subscribe(&id, "/f/#");
                }
                "unsubscribe_mid" => {
                    b.subscribe(&id, "/f/#")
                        .unwrap_or_else(|e| fail(e.to_string()));
                    let _ = b.unsubscribe(&id, "/f/#");
                }
                "free_slot_mid" => {
                    let _ = b.unregister_client(&id);
                }
                "topic_insert_mid" => {
                    let _ = b.publish_str(&format!("/f/new/{}", std::process::id()), b"x");
                }
                "receive_after_hold" | "receive_mid_read" => {
                    b.subscribe(&id, "/f/#")
                        .unwrap_or_else(|e| fail(e.to_string()));
                    println!("READY");
                    for _ in 0..1000 {
                        let _ = b.receive_timeout(&id, Duration::from_millis(50));
                    }
                }
                _ => {
                    for i in 0..100u64 {
                        let _ = b.publish_str("/f/w", &make_payload(99, i, 1000));
                    }
                }
            }
            println!("NOT REACHED");
            std::process::exit(3);
        }
        other => fail(format!("unknown role {other}")),
    }
}
