//! One test per fault point: a child process dies (SIGKILL) exactly there, and the parent
//! checks that nobody hangs, the dead client's slot and space come back, and every message
//! survivors receive is intact.

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use roker::{Broker, BrokerConfig, BrokerOptions};
use roker_testkit::{check_payload, make_payload, unique_name, worker_path};

const MAX_CLIENTS: usize = 6;

fn run_point(point: &str) {
    let name = unique_name("fault");
    let broker = Broker::with_options(
        BrokerConfig {
            name: name.clone(),
            buffer_size: 256 << 10,
            max_clients: MAX_CLIENTS,
            max_subscriptions_per_client: 4,
        },
        BrokerOptions {
            publish_timeout: Duration::from_secs(10),
            inbox_capacity: 64,
            ..Default::default()
        },
    )
    .unwrap();
    let s1 = broker.register_client("s1").unwrap();
    let s2 = broker.register_client("s2").unwrap();
    broker.subscribe(&s1, "/f/#").unwrap();
    broker.subscribe(&s2, "/f/*/*").unwrap();
    broker.subscribe(&s2, "/f/*").unwrap();

    let mut child = Command::new(worker_path())
        .args(["fault", &name, point])
        .env("ROKER_FAULT", point)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    if point.starts_with("receive") {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "READY");
        for i in 0..3u64 {
            broker
                .publish_str("/f/p", &make_payload(1, i, 200))
                .unwrap();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{point}: child neither died nor finished");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "{point}: the fault point was not reached ({status})"
    );

    // Survivors keep publishing and receiving, each publish within the publish timeout (a
    // hang would surface as BufferFull and fail the unwrap), even if the dead process held
    // the lock, a half-written record or a full inbox.
    for i in 0..200u64 {
        broker
            .publish_str("/f/p", &make_payload(2, i, 200))
            .unwrap();
        // Keep the survivors drained; the dead client (if subscribed) is not.
        if i % 32 == 31 {
            check_all(&broker, &[s1, s2], point);
        }
    }
    // A new topic routes correctly after any half-done topic insert or subscription.
    assert_eq!(
        broker
            .publish_str("/f/fresh", &make_payload(3, 0, 50))
            .unwrap(),
        2,
        "{point}"
    );
    let got = check_all(&broker, &[s1, s2], point);
    assert!(got > 0);

    // The dead client's slot is reclaimed: only the two survivors remain, and every other
    // slot can be registered again.
    broker.sweep().unwrap();
    let clients = broker.clients().unwrap();
    assert_eq!(clients.len(), 2, "{point}: {clients:?}");
    assert!(clients.iter().all(|c| c.alive));
    let fresh: Vec<_> = (0..MAX_CLIENTS - 2)
        .map(|i| broker.register_client(&format!("n{i}")).unwrap())
        .collect();
    assert_eq!(fresh.len(), MAX_CLIENTS - 2);
}

/// Drains the survivors; every message must be intact. Returns how many were read.
fn check_all(broker: &Broker, ids: &[roker::ClientId], point: &str) -> usize {
    let mut n = 0;
    for id in ids {
        for m in broker.receive_many(id, 10_000).unwrap() {
            assert!(
                check_payload(m.payload()).is_some(),
                "{point}: corrupt message on {}",
                m.topic()
            );
            n += 1;
        }
    }
    n
}

macro_rules! fault_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_point(stringify!($name));
            }
        )*

        #[test]
        fn every_fault_point_has_a_test() {
            let tested = [$(stringify!($name)),*];
            for p in roker::fault::POINTS {
                assert!(tested.contains(p), "no test for fault point {p}");
            }
        }
    };
}

fault_tests!(
    publish_lock_held,
    publish_after_claim,
    publish_mid_copy,
    publish_before_push,
    publish_mid_push,
    register_mid,
    subscribe_mid,
    unsubscribe_mid,
    topic_insert_mid,
    free_slot_mid,
    receive_after_hold,
    receive_mid_read,
);
