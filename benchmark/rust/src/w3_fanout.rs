//! W3 — fan-out: one publisher process → 1, 4 and 16 subscriber processes, each holding
//! one wildcard filter that matches `/fan/a/b`, 64 B payloads. Subscribers drain with
//! `receive_batch_with` and sleep in `wait_for_message` when empty. The publisher uses the
//! `Block` policy, so nothing is dropped: it runs at the pace of the slowest subscriber.
//! deliveries/s = messages × subscribers / (last subscriber done − publisher start).

use std::time::Duration;

use roker::{Broker, BrokerConfig, BrokerOptions, Topic};

use crate::report::{Case, Metrics};
use crate::util::{self, arg, err, mono_ns, say, BenchResult, Peer};

const PAYLOAD: usize = 64;
const TOPIC: &str = "/fan/a/b";
const FILTERS: [&str; 8] = [
    "/fan/#",
    "/fan/*/b",
    "/fan/a/*",
    "/fan/*/*",
    "#",
    "/fan/a/b/#",
    "/*/a/b",
    "/*/*/b",
];
const STEP: Duration = Duration::from_secs(20);

pub fn plan(quick: bool) -> Vec<Case> {
    [(1usize, 1_000_000u64), (4, 400_000), (16, 100_000)]
        .into_iter()
        .map(|(subs, n)| {
            let n = if quick { n / 10 } else { n };
            let w = (n / 20).max(100);
            let filters: Vec<&str> = (0..subs).map(|i| FILTERS[i % FILTERS.len()]).collect();
            Case::new(
                "W3",
                format!("roker 1→{subs}"),
                "roker",
                vec![
                    ("payload", PAYLOAD.into()),
                    ("subscribers", subs.into()),
                    ("messages", n.into()),
                    ("warmup", w.into()),
                    ("topic", TOPIC.into()),
                    ("filters", filters.join(" ").into()),
                    ("policy", "Block".into()),
                    ("subscriber", "receive_batch_with + wait_for_message".into()),
                ],
                move || run(subs, n, w),
            )
        })
        .collect()
}

fn run(subs: usize, n: u64, w: u64) -> BenchResult<Metrics> {
    let name = util::unique("w3");
    let config = BrokerConfig {
        name: name.clone(),
        buffer_size: 64 << 20,
        max_clients: subs + 4,
        max_subscriptions_per_client: 4,
    };
    let options = BrokerOptions {
        publish_timeout: Duration::from_secs(10),
        ..BrokerOptions::default()
    };
    let broker = Broker::with_options(config, options).map_err(err("create broker"))?;
    let r = (|| {
        let mut peers = Vec::with_capacity(subs);
        for i in 0..subs {
            peers.push(Peer::spawn(
                "w3-sub",
                &[
                    name.clone(),
                    FILTERS[i % FILTERS.len()].into(),
                    (n + w).to_string(),
                    w.to_string(),
                ],
            )?);
        }
        for p in &mut peers {
            p.expect("ready", STEP)?;
        }
        let topic = Topic::new(TOPIC).map_err(err("topic"))?;
        let payload = [1u8; PAYLOAD];
        for i in 0..w {
            let d = broker
                .publish_to(&topic, &payload)
                .map_err(err("publish"))?;
            if i == 0 && d != subs {
                return Err(format!("first publish reached {d} of {subs} subscribers"));
            }
        }
        for p in &mut peers {
            p.expect("warm", STEP)?;
        }
        let t0 = mono_ns();
        for _ in 0..n {
            broker
                .publish_to(&topic, &payload)
                .map_err(err("publish"))?;
        }
        let mut end = 0u64;
        for p in &mut peers {
            let done = p.expect("done", Duration::from_secs(120))?;
            let e: u64 = done
                .first()
                .and_then(|s| s.parse().ok())
                .ok_or("bad done")?;
            let sum: u64 = done.get(1).and_then(|s| s.parse().ok()).ok_or("bad done")?;
            if sum != n + w {
                return Err(format!("subscriber checksum {sum} != {}", n + w));
            }
            end = end.max(e);
        }
        for p in peers {
            p.finish(Duration::from_secs(5))?;
        }
        let s = (end - t0) as f64 / 1e9;
        Ok(vec![
            ("deliveries_per_s", (n * subs as u64) as f64 / s),
            ("msgs_per_s", n as f64 / s),
        ])
    })();
    let _ = broker.destroy();
    r
}

/// Child: one fan-out subscriber. Args: broker, filter, total, warm-up.
pub fn sub(args: &[String]) -> BenchResult<()> {
    util::exit_on_stdin_eof();
    let name: String = arg(args, 0)?;
    let filter: String = arg(args, 1)?;
    let total: u64 = arg(args, 2)?;
    let warm: u64 = arg(args, 3)?;
    let b = Broker::connect(&name).map_err(err("connect"))?;
    let id = b.register_client("w3-sub").map_err(err("register"))?;
    b.subscribe(&id, &filter).map_err(err("subscribe"))?;
    say("ready");
    let (mut count, mut sum, mut warm_said) = (0u64, 0u64, false);
    while count < total {
        let got = b
            .receive_batch_with(&id, 1024, |m| sum += m.payload[0] as u64)
            .map_err(err("receive"))?;
        count += got as u64;
        if !warm_said && count >= warm {
            say("warm");
            warm_said = true;
        }
        if got == 0 && !b.wait_for_message(&id, STEP).map_err(err("wait"))? {
            return Err(format!("no message for {STEP:?} after {count}"));
        }
    }
    say(&format!("done {} {sum}", mono_ns()));
    Ok(())
}
