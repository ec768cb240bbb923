//! W4 — sparse scale, in process: does a publish to one hot topic slow down when the
//! broker holds 10,000 other clients with 100 subscriptions each (1 M filters)?
//!
//! Each client `i` subscribes `/c/<i>/<j>/*` for j in 0..100; one extra client subscribes
//! `/hot/topic`. We time publishes of 64 B to `/hot/topic` in chunks of 512 and drain the
//! hot client's inbox between chunks, outside the timed section (policy `Block`, so nothing
//! is dropped and the publisher never waits). The first publish, which interns the topic by
//! matching it against every filter, is timed separately. The same measurement on a broker
//! with 10 clients gives the baseline and the ratio.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use roker::{Broker, BrokerConfig, BrokerOptions, ClientId, Topic};

use crate::report::{Case, Metrics};
use crate::util::{self, err, mono_ns, BenchResult};

const PAYLOAD: usize = 64;
const HOT: &str = "/hot/topic";
const CHUNK: u64 = 512;

pub fn plan(quick: bool) -> Vec<Case> {
    let big = if quick { 1_000 } else { 10_000 };
    let subs = 100usize;
    let publishes: u64 = if quick { 100_000 } else { 1_000_000 };
    let baseline = Rc::new(Cell::new(None::<f64>));
    let mut cases = Vec::new();
    for clients in [10usize, big] {
        let b = baseline.clone();
        let is_base = clients == 10;
        let mut params = vec![
            ("payload", PAYLOAD.into()),
            ("clients", clients.into()),
            ("subscriptions_per_client", subs.into()),
            ("filters", (clients * subs).into()),
            ("filter_pattern", "/c/<i>/<j>/*".into()),
            ("hot_topic", HOT.into()),
            ("publishes", publishes.into()),
            ("max_topic_len", 64usize.into()),
            ("buffer_size", (64usize << 20).into()),
            (
                "method",
                "policy Block; hot inbox drained every 512 publishes outside the timed section"
                    .into(),
            ),
        ];
        if quick && !is_base {
            params.push(("note", "quick mode: 1,000 clients instead of 10,000".into()));
        }
        cases.push(Case::new(
            "W4",
            format!("roker hot publish, {clients} clients × {subs} filters"),
            "roker",
            params,
            move || {
                let mut m = run(clients, subs, publishes)?;
                let ns = m
                    .iter()
                    .find(|(k, _)| *k == "ns_per_publish")
                    .map(|x| x.1)
                    .unwrap_or(f64::NAN);
                if is_base {
                    b.set(Some(ns));
                } else if let Some(base) = b.get() {
                    m.push(("baseline_ns_per_publish", base));
                    m.push(("ratio_vs_10_clients", ns / base));
                }
                Ok(m)
            },
        ));
    }
    cases
}

fn run(clients: usize, subs: usize, publishes: u64) -> BenchResult<Metrics> {
    let config = BrokerConfig {
        name: util::unique("w4"),
        buffer_size: 64 << 20,
        max_clients: clients + 2,
        max_subscriptions_per_client: subs,
    };
    let options = BrokerOptions {
        max_topic_len: 64,
        publish_timeout: Duration::from_secs(10),
        ..BrokerOptions::default()
    };
    let broker = Broker::with_options(config, options).map_err(err("create broker"))?;
    let r = measure(&broker, clients, subs, publishes);
    let _ = broker.destroy();
    r
}

fn measure(broker: &Broker, clients: usize, subs: usize, publishes: u64) -> BenchResult<Metrics> {
    let t = Instant::now();
    let mut filter = String::with_capacity(64);
    for i in 0..clients {
        let id = broker
            .register_client(&format!("c{i}"))
            .map_err(err("register"))?;
        for j in 0..subs {
            filter.clear();
            use std::fmt::Write;
            let _ = write!(filter, "/c/{i}/{j}/*");
            broker.subscribe(&id, &filter).map_err(err("subscribe"))?;
        }
    }
    let registration = t.elapsed();
    let hot = broker.register_client("hot").map_err(err("register"))?;
    broker.subscribe(&hot, HOT).map_err(err("subscribe"))?;
    let topic = Topic::new(HOT).map_err(err("topic"))?;
    let payload = [1u8; PAYLOAD];

    let t0 = mono_ns();
    let d = broker
        .publish_to(&topic, &payload)
        .map_err(err("publish"))?;
    let first = mono_ns() - t0;
    if d != 1 {
        return Err(format!("hot publish reached {d} subscribers, expected 1"));
    }
    // Warm-up, then the timed chunks.
    for _ in 0..CHUNK {
        broker
            .publish_to(&topic, &payload)
            .map_err(err("publish"))?;
    }
    let mut received = drain(broker, &hot)?;
    let mut timed = 0u64;
    let mut done = 0u64;
    while done < publishes {
        let k = CHUNK.min(publishes - done);
        let t0 = mono_ns();
        for _ in 0..k {
            broker
                .publish_to(&topic, &payload)
                .map_err(err("publish"))?;
        }
        timed += mono_ns() - t0;
        done += k;
        received += drain(broker, &hot)?;
    }
    if received != publishes + CHUNK + 1 {
        return Err(format!(
            "hot subscriber got {received} of {}",
            publishes + CHUNK + 1
        ));
    }
    Ok(vec![
        ("ns_per_publish", timed as f64 / publishes as f64),
        ("msgs_per_s", publishes as f64 / (timed as f64 / 1e9)),
        ("first_publish_ns", first as f64),
        ("registration_s", registration.as_secs_f64()),
        (
            "subscribes_per_s",
            (clients * subs) as f64 / registration.as_secs_f64().max(1e-9),
        ),
    ])
}

fn drain(broker: &Broker, id: &ClientId) -> BenchResult<u64> {
    let n = broker
        .receive_batch_with(id, usize::MAX, |m| {
            std::hint::black_box(m.payload[0]);
        })
        .map_err(err("receive"))?;
    Ok(n as u64)
}
