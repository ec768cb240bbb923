//! Quick cross-process throughput check: this program publishes 64-byte messages to a
//! copy of itself started as a subscriber process, and both report messages per second.
//!
//! ```text
//! cargo run --release -p roker --example throughput -- [COUNT] [PAYLOAD_BYTES] [BUFFER_BYTES]
//! ```
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use roker::{Broker, BrokerConfig, BrokerOptions};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--subscriber") {
        return subscriber(&args[2], args[3].parse().unwrap());
    }
    let count: u64 = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let size: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(64);
    let buffer: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(64 << 20);
    let name = format!("throughput-{}", std::process::id());
    let broker = Broker::with_options(
        BrokerConfig {
            name: name.clone(),
            buffer_size: buffer,
            max_clients: 4,
            max_subscriptions_per_client: 4,
        },
        BrokerOptions {
            publish_timeout: Duration::from_secs(60),
            inbox_capacity: 1 << 16,
            ..Default::default()
        },
    )
    .expect("create broker");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--subscriber", &name, &count.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn subscriber");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "READY");
    let payload = vec![0xabu8; size];
    let topic = roker::Topic::new("/bench/data").unwrap();
    let start = Instant::now();
    for _ in 0..count {
        broker.publish_to(&topic, &payload).expect("publish");
    }
    let pub_secs = start.elapsed().as_secs_f64();
    let line = lines.next().unwrap().unwrap();
    child.wait().unwrap();
    println!(
        "publisher: {count} x {size} B in {pub_secs:.3} s = {:.2} M msg/s",
        count as f64 / pub_secs / 1e6
    );
    println!("{line}");
}

fn subscriber(name: &str, count: u64) {
    let broker = Broker::connect(name).expect("connect");
    let id = broker.register_client("sub").unwrap();
    broker.subscribe(&id, "/bench/#").unwrap();
    println!("READY");
    let mut got = 0u64;
    let mut bytes = 0u64;
    let mut start = None;
    while got < count {
        let n = broker
            .receive_batch_with(&id, 1024, |m| bytes += m.payload.len() as u64)
            .unwrap();
        if n == 0 {
            broker
                .wait_for_message(&id, Duration::from_secs(10))
                .unwrap();
            continue;
        }
        start.get_or_insert_with(Instant::now);
        got += n as u64;
    }
    let secs = start.unwrap().elapsed().as_secs_f64();
    println!(
        "subscriber: {got} messages ({} MB) in {secs:.3} s = {:.2} M msg/s",
        bytes / 1_000_000,
        got as f64 / secs / 1e6
    );
}
