//! Kill loop: several publisher and subscriber processes; each round SIGKILLs a random
//! subset at a random moment and restarts them, then checks that the broker still routes,
//! that no client slot leaked and that no survivor saw a corrupt message.
//!
//! ```text
//! cargo run --release -p roker-testkit --bin roker-killloop -- [ROUNDS] [SEED]
//! ```
//! Prints one line per round and `KILLLOOP OK rounds=.. kills=.. checked=..` at the end;
//! exits non-zero on the first failed check.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use roker::{Broker, BrokerConfig, BrokerOptions};
use roker_testkit::{check_payload, make_payload, unique_name, Worker};

const PUBLISHERS: usize = 3;
const SUBSCRIBERS: usize = 3;
const START_LIMIT: Duration = Duration::from_secs(30);

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn fail(msg: String) -> ! {
    eprintln!("KILLLOOP FAILED: {msg}");
    std::process::exit(1)
}

fn start(name: &str, slot: usize) -> Worker {
    let mut w = if slot < PUBLISHERS {
        Worker::spawn(&["flood", name, &slot.to_string()])
    } else {
        Worker::spawn(&["drain", name, "/c/#"])
    };
    if w.expect_line_within("RUNNING", START_LIMIT).is_none() {
        fail(format!("worker {slot} did not start running"));
    }
    w
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let seed: u64 = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0x9e37_79b9_7f4a_7c15);
    let mut rng = Rng(seed | 1);
    let name = unique_name("killloop");
    let max_clients = PUBLISHERS + SUBSCRIBERS + 2;
    let broker = Broker::with_options(
        BrokerConfig {
            name: name.clone(),
            buffer_size: 1 << 20,
            max_clients,
            max_subscriptions_per_client: 2,
        },
        BrokerOptions {
            publish_timeout: Duration::from_secs(2),
            inbox_capacity: 256,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| fail(format!("create: {e}")));
    let probe = broker.register_client("probe").unwrap();
    broker.subscribe(&probe, "/probe").unwrap();
    let watch = broker.register_client("watch").unwrap();
    broker.subscribe(&watch, "/c/#").unwrap();

    // The watcher checks every message any publisher gets through.
    let stop = Arc::new(AtomicBool::new(false));
    let corrupt = Arc::new(AtomicU64::new(0));
    let checked = Arc::new(AtomicU64::new(0));
    let watcher = {
        let (b, stop, corrupt, checked) = (
            broker.clone(),
            stop.clone(),
            corrupt.clone(),
            checked.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let _ = b.wait_for_message(&watch, Duration::from_millis(20));
                let r = b.receive_batch_with(&watch, 1024, |m| {
                    if check_payload(m.payload).is_none() {
                        corrupt.fetch_add(1, Ordering::Relaxed);
                    }
                    checked.fetch_add(1, Ordering::Relaxed);
                });
                if let Err(e) = r {
                    eprintln!("watcher: {e}");
                    corrupt.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };

    let mut workers: Vec<Option<Worker>> = (0..PUBLISHERS + SUBSCRIBERS).map(|_| None).collect();
    let mut kills = 0u64;
    let started = Instant::now();
    for round in 1..=rounds {
        for (slot, w) in workers.iter_mut().enumerate() {
            if w.is_none() {
                *w = Some(start(&name, slot));
            }
        }
        std::thread::sleep(Duration::from_micros(rng.next() % 20_000));
        let mut victims = 0;
        for _ in 0..1 + (rng.next() as usize % workers.len()) {
            let i = rng.next() as usize % workers.len();
            if let Some(w) = workers[i].take() {
                w.kill();
                victims += 1;
            }
        }
        kills += victims;
        // Survivors must still be running: a worker that exited by itself saw a corrupt
        // message or an error.
        for (i, w) in workers.iter_mut().enumerate() {
            if let Some(w) = w {
                if !w.running() {
                    fail(format!("round {round}: worker {i} exited by itself"));
                }
            }
        }
        // The broker still routes, within bounded time.
        let payload = make_payload(7777, round as u64, 64);
        let t = Instant::now();
        match broker.publish_str("/probe", &payload) {
            Ok(1) => {}
            other => fail(format!("round {round}: probe publish gave {other:?}")),
        }
        match broker.receive_timeout(&probe, Duration::from_secs(10)) {
            Ok(Some(m)) if m.payload() == &payload[..] => {}
            other => fail(format!(
                "round {round}: probe not received intact: {other:?}"
            )),
        }
        let probe_ms = t.elapsed().as_millis();
        // No slot leaked: after a sweep only live workers and our two clients remain.
        broker
            .sweep()
            .unwrap_or_else(|e| fail(format!("sweep: {e}")));
        let clients = broker
            .clients()
            .unwrap_or_else(|e| fail(format!("clients: {e}")));
        let live_workers = workers.iter().filter(|w| w.is_some()).count();
        if clients.len() != live_workers + 2 || clients.iter().any(|c| !c.alive) {
            fail(format!(
                "round {round}: {} clients registered for {} live workers + 2: {clients:?}",
                clients.len(),
                live_workers
            ));
        }
        let bad = corrupt.load(Ordering::Relaxed);
        if bad != 0 {
            fail(format!("round {round}: {bad} corrupt messages"));
        }
        println!(
            "round {round}: killed {victims}, {} clients, probe {probe_ms} ms, {} messages checked",
            clients.len(),
            checked.load(Ordering::Relaxed)
        );
    }
    drop(workers);
    stop.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    println!(
        "KILLLOOP OK rounds={rounds} kills={kills} checked={} seconds={:.1}",
        checked.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
}
