//! W5 — wildcard matching, in process.
//!
//! * `roker::topic::matches` of 10,000 filters (50 % exact, 30 % with `*`, 20 % ending in
//!   `#`) against a stream of 1,000 topics shaped `/site<s>/area<a>/dev<d>/<metric>`:
//!   matches/s = filter-topic evaluations per second.
//! * Broker routing: the same 10,000 filters subscribed across 100 clients (100 each),
//!   publishes of 64 B rotating over the 1,000 topics. Interned topics (the default) route
//!   through a per-topic subscriber bitmap; with `max_topics: 0` every publish matches all
//!   filters. Subscribers are drained every 256 publishes outside the timed section.

use std::time::Duration;

use roker::{Broker, BrokerConfig, BrokerOptions, ClientId, Topic};

use crate::report::{Case, Json, Metrics};
use crate::util::{self, err, mono_ns, BenchResult};

const FILTERS: usize = 10_000;
const TOPICS: usize = 1_000;
const CLIENTS: usize = 100;
const CHUNK: usize = 256;
const METRICS: [&str; 8] = [
    "temp", "hum", "co2", "power", "status", "volt", "rssi", "fw",
];

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The topic stream: 1,000 distinct topics from a narrower range than the filters use.
pub fn topics() -> Vec<String> {
    let mut r = Rng(0x5eed_1234_abcd_0001);
    (0..TOPICS)
        .map(|k| {
            format!(
                "/site{}/area{}/dev{}/{}",
                k % 4,
                (k / 4) % 10,
                k / 40,
                METRICS[r.below(5) as usize]
            )
        })
        .collect()
}

/// 10,000 filters: half exact, 30 % with one or two `*` levels, 20 % `prefix/#`.
pub fn filters() -> Vec<String> {
    let mut r = Rng(0x5eed_1234_abcd_0002);
    let mut out = Vec::with_capacity(FILTERS);
    for _ in 0..FILTERS {
        let mut levels = [
            format!("site{}", r.below(8)),
            format!("area{}", r.below(20)),
            format!("dev{}", r.below(50)),
            METRICS[r.below(8) as usize].to_string(),
        ];
        let kind = r.below(10);
        let f = if kind < 5 {
            format!("/{}", levels.join("/"))
        } else if kind < 8 {
            let stars = if r.below(10) < 6 { 1 } else { 2 };
            for _ in 0..stars {
                levels[r.below(4) as usize] = "*".into();
            }
            format!("/{}", levels.join("/"))
        } else {
            let depth = match r.below(20) {
                0 => 1,
                1..=6 => 2,
                _ => 3,
            };
            format!("/{}/#", levels[..depth].join("/"))
        };
        out.push(f);
    }
    out
}

pub fn plan(quick: bool) -> Vec<Case> {
    let passes = if quick { 1 } else { 5 };
    let interned = if quick { 20_000 } else { 300_000 };
    let scanned = if quick { 1_000 } else { 10_000 };
    let common = |extra: Vec<(&'static str, Json)>| {
        let mut v: Vec<(&'static str, Json)> = vec![
            ("filters", FILTERS.into()),
            ("topics", TOPICS.into()),
            ("filter_mix", "50% exact, 30% '*', 20% '#'".into()),
            ("topic_shape", "/site<s>/area<a>/dev<d>/<metric>".into()),
        ];
        v.extend(extra);
        v
    };
    vec![
        Case::new(
            "W5",
            "topic::matches",
            "roker",
            common(vec![(
                "evaluations",
                ((passes * TOPICS * FILTERS) as u64).into(),
            )]),
            move || matching(passes),
        ),
        Case::new(
            "W5",
            "broker routing, interned topics",
            "roker",
            common(vec![
                ("clients", CLIENTS.into()),
                ("publishes", (interned as u64).into()),
                ("payload", 64usize.into()),
                ("max_topics", 4096usize.into()),
            ]),
            move || routing(4096, interned),
        ),
        Case::new(
            "W5",
            "broker routing, full filter scan",
            "roker",
            common(vec![
                ("clients", CLIENTS.into()),
                ("publishes", (scanned as u64).into()),
                ("payload", 64usize.into()),
                ("max_topics", 0usize.into()),
            ]),
            move || routing(0, scanned),
        ),
    ]
}

fn matching(passes: usize) -> BenchResult<Metrics> {
    let ts = topics();
    let fs = filters();
    let mut hits = 0u64;
    // One untimed pass to warm caches and branch predictors.
    for t in &ts {
        for f in &fs {
            hits += roker::topic::matches(f, t) as u64;
        }
    }
    let per_pass = hits;
    let t0 = mono_ns();
    for _ in 0..passes {
        for t in &ts {
            let t = std::hint::black_box(t.as_str());
            for f in &fs {
                hits += roker::topic::matches(f, t) as u64;
            }
        }
    }
    let ns = mono_ns() - t0;
    std::hint::black_box(hits);
    let evals = (passes * ts.len() * fs.len()) as f64;
    Ok(vec![
        ("matches_per_s", evals / (ns as f64 / 1e9)),
        ("ns_per_match", ns as f64 / evals),
        ("hits_per_topic", per_pass as f64 / ts.len() as f64),
    ])
}

fn routing(max_topics: usize, publishes: usize) -> BenchResult<Metrics> {
    let config = BrokerConfig {
        name: util::unique("w5"),
        buffer_size: 64 << 20,
        max_clients: CLIENTS + 2,
        max_subscriptions_per_client: FILTERS / CLIENTS,
    };
    let options = BrokerOptions {
        max_topic_len: 64,
        max_topics,
        publish_timeout: Duration::from_secs(10),
        ..BrokerOptions::default()
    };
    let broker = Broker::with_options(config, options).map_err(err("create broker"))?;
    let r = route(&broker, publishes);
    let _ = broker.destroy();
    r
}

fn route(broker: &Broker, publishes: usize) -> BenchResult<Metrics> {
    let fs = filters();
    let mut ids = Vec::with_capacity(CLIENTS);
    for (c, chunk) in fs.chunks(FILTERS / CLIENTS).enumerate() {
        let id = broker
            .register_client(&format!("w5-{c}"))
            .map_err(err("register"))?;
        for f in chunk {
            broker.subscribe(&id, f).map_err(err("subscribe"))?;
        }
        ids.push(id);
    }
    let ts: Vec<Topic> = topics()
        .iter()
        .map(|t| Topic::new(t).map_err(err("topic")))
        .collect::<BenchResult<_>>()?;
    let payload = [1u8; 64];
    // Warm-up: publish every topic once (interns them when the table has room).
    for (k, t) in ts.iter().enumerate() {
        broker.publish_to(t, &payload).map_err(err("publish"))?;
        if (k + 1) % CHUNK == 0 {
            drain_all(broker, &ids)?;
        }
    }
    drain_all(broker, &ids)?;
    let (mut timed, mut deliveries, mut i) = (0u64, 0u64, 0usize);
    while i < publishes {
        let k = CHUNK.min(publishes - i);
        let t0 = mono_ns();
        for j in i..i + k {
            deliveries += broker
                .publish_to(&ts[j % ts.len()], &payload)
                .map_err(err("publish"))? as u64;
        }
        timed += mono_ns() - t0;
        i += k;
        drain_all(broker, &ids)?;
    }
    let s = timed as f64 / 1e9;
    let mut m = vec![
        ("msgs_per_s", publishes as f64 / s),
        ("deliveries_per_s", deliveries as f64 / s),
        ("ns_per_publish", timed as f64 / publishes as f64),
        (
            "deliveries_per_publish",
            deliveries as f64 / publishes as f64,
        ),
    ];
    if broker.config().1.max_topics == 0 {
        // Every publish evaluates every filter.
        m.push(("matches_per_s", (publishes * FILTERS) as f64 / s));
    }
    Ok(m)
}

fn drain_all(broker: &Broker, ids: &[ClientId]) -> BenchResult<()> {
    for id in ids {
        broker
            .receive_batch_with(id, usize::MAX, |m| {
                std::hint::black_box(m.payload[0]);
            })
            .map_err(err("receive"))?;
    }
    Ok(())
}
