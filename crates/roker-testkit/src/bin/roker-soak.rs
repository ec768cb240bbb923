//! Soak: several publisher processes push MESSAGES messages in total through one broker.
//!
//! ```text
//! cargo run --release -p roker-testkit --bin roker-soak -- MESSAGES block|drop
//! ```
//! * `block`: 3 publishers → 2 subscribers (`/mp/#`, `/mp/*/even`); each subscriber
//!   verifies zero loss, zero duplicates, per-publisher order and checksums.
//! * `drop`: the same publishers → 2 deliberately slow `DropOldest` subscribers; each
//!   verifies intact, ordered messages and that received + reported-missed equals published.
//!
//! Prints `SOAK OK ...` and exits 0, or exits non-zero with the failure.

use std::time::{Duration, Instant};

use roker::{Broker, BrokerConfig, BrokerOptions, SlowSubscriberPolicy};
use roker_testkit::{unique_name, Worker};

const PUBLISHERS: u64 = 3;
const LIMIT: Duration = Duration::from_secs(3600);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let total: u64 = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3_000_000);
    let mode = args.get(2).map(String::as_str).unwrap_or("block");
    let per = total / PUBLISHERS;
    let total = per * PUBLISHERS;
    let name = unique_name("soak");
    let drop_oldest = mode == "drop";
    let broker = Broker::with_options(
        BrokerConfig {
            name: name.clone(),
            buffer_size: 16 << 20,
            max_clients: 8,
            max_subscriptions_per_client: 2,
        },
        BrokerOptions {
            policy: if drop_oldest {
                SlowSubscriberPolicy::DropOldest
            } else {
                SlowSubscriberPolicy::Block
            },
            publish_timeout: Duration::from_secs(600),
            inbox_capacity: 4096,
            ..Default::default()
        },
    )
    .expect("create broker");
    let started = Instant::now();
    let mut subs = if drop_oldest {
        vec![
            Worker::spawn(&["soakdrop", &name]),
            Worker::spawn(&["soakdrop", &name]),
        ]
    } else {
        vec![
            Worker::spawn(&["subscribe", &name, "/mp/#", &total.to_string(), "3"]),
            Worker::spawn(&[
                "subscribe",
                &name,
                "/mp/*/even",
                &(PUBLISHERS * per.div_ceil(2)).to_string(),
                "3",
            ]),
        ]
    };
    for s in &mut subs {
        s.expect_line("READY");
    }
    let pubs: Vec<Worker> = (0..PUBLISHERS)
        .map(|p| Worker::spawn(&["publish", &name, &p.to_string(), &per.to_string(), "64"]))
        .collect();
    for p in pubs {
        p.wait_ok(LIMIT);
    }
    if drop_oldest {
        // The newest message is never dropped: it tells the subscribers the run is over.
        broker.publish_str("/mp/end", b"end").expect("end marker");
    }
    for (i, s) in subs.into_iter().enumerate() {
        let out = s.wait_ok(LIMIT);
        if drop_oldest {
            let line = out
                .iter()
                .find_map(|l| l.strip_prefix("TOTAL "))
                .expect("TOTAL line");
            let v: Vec<u64> = line.split(' ').map(|x| x.parse().unwrap()).collect();
            assert_eq!(
                v[0] + v[1],
                total,
                "subscriber {i}: received {} + missed {} != {total}",
                v[0],
                v[1]
            );
            println!(
                "subscriber {i}: received {} missed {} (sum {total})",
                v[0], v[1]
            );
        } else {
            println!("subscriber {i}: {}", out.join(" "));
        }
    }
    println!(
        "SOAK OK mode={mode} messages={total} seconds={:.1}",
        started.elapsed().as_secs_f64()
    );
}
