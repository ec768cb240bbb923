//! W2 — latency between two processes, 64 B.
//!
//! Ping-pong variants: the parent sends a ping, the child answers with a pong, the parent
//! records the round trip; one-way = RTT / 2. `busy` receivers poll without sleeping,
//! `sleep` receivers use roker's blocking `receive_timeout` (which spins ~2,000 rounds
//! before it sleeps on the futex, so on a quick answer it never sleeps).
//!
//! `futex` variants force the sleeping path: the parent idles 1 ms before each ping, far
//! longer than the receive spin phase, so the child is always asleep on the futex when the
//! ping arrives. The ping carries its `CLOCK_MONOTONIC` send time and the child measures
//! the one-way latency directly (publish call → receive returns in the other process).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use iceoryx2::port::update_connections::UpdateConnections;
use iceoryx2::prelude::*;
use roker::{Broker, BrokerConfig, BrokerOptions, ClientId, Topic};

use crate::report::{Case, Json, Metrics};
use crate::util::{self, arg, err, mono_ns, percentiles, say, BenchResult, Peer, ShmMap};
use crate::w1_throughput::{iceoryx_node, service_name};

const PAYLOAD: usize = 64;
const PING: &str = "/lat/ping";
const PONG: &str = "/lat/pong";
const STEP: Duration = Duration::from_secs(20);
const GAP: Duration = Duration::from_millis(1);

pub fn plan(quick: bool) -> Vec<Case> {
    let (n, warm) = if quick {
        (10_000, 1_000)
    } else {
        (100_000, 10_000)
    };
    let futex_n = if quick { 300 } else { 3_000 };
    let pp = |recv: &str| -> Vec<(&'static str, Json)> {
        vec![
            ("payload", PAYLOAD.into()),
            ("round_trips", (n as u64).into()),
            ("warmup", (warm as u64).into()),
            ("one_way", "rtt/2".into()),
            ("receiver", recv.into()),
        ]
    };
    let fx = |recv: &str| -> Vec<(&'static str, Json)> {
        vec![
            ("payload", PAYLOAD.into()),
            ("samples", (futex_n as u64).into()),
            ("idle_before_send_ns", (GAP.as_nanos() as u64).into()),
            ("one_way", "measured (shared CLOCK_MONOTONIC)".into()),
            ("receiver", recv.into()),
        ]
    };
    vec![
        Case::new(
            "W2",
            "roker busy-poll",
            "roker",
            pp("receive_with in a loop"),
            move || roker_pingpong(Mode::Busy, n, warm),
        ),
        Case::new(
            "W2",
            "roker receive_timeout",
            "roker",
            pp("receive_timeout (spin, then futex)"),
            move || roker_pingpong(Mode::Sleep, n, warm),
        ),
        Case::new(
            "W2",
            "roker futex wake",
            "roker",
            fx("receive_timeout, always asleep when the ping arrives"),
            move || roker_pingpong(Mode::Futex, futex_n, 10),
        ),
        Case::new(
            "W2",
            "shm-floor busy-poll",
            "shm-floor",
            pp("two atomics, busy spin"),
            move || floor_pingpong(false, n, warm),
        ),
        Case::new(
            "W2",
            "shm-floor futex wake",
            "shm-floor",
            fx("FUTEX_WAIT on a shared word"),
            move || floor_pingpong(true, futex_n, 10),
        ),
        Case::new(
            "W2",
            "iceoryx2 busy-poll",
            "iceoryx2",
            pp("receive in a loop"),
            move || iceoryx_pingpong(n, warm),
        ),
    ]
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Busy,
    Sleep,
    Futex,
}

impl Mode {
    fn parse(s: &str) -> BenchResult<Mode> {
        match s {
            "busy" => Ok(Mode::Busy),
            "sleep" => Ok(Mode::Sleep),
            "futex" => Ok(Mode::Futex),
            _ => Err(format!("bad mode {s}")),
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Mode::Busy => "busy",
            Mode::Sleep => "sleep",
            Mode::Futex => "futex",
        }
    }
}

fn latency_metrics(one_way: Vec<u64>) -> Metrics {
    let p = percentiles(one_way);
    vec![
        ("p50_ns", p.p50 as f64),
        ("p99_ns", p.p99 as f64),
        ("p999_ns", p.p999 as f64),
        ("max_ns", p.max as f64),
        ("mean_ns", p.mean),
    ]
}

/// Metrics from a child's `done p50 p99 p999 max mean` line.
fn child_metrics(done: &[String]) -> BenchResult<Metrics> {
    let v: Vec<f64> = done.iter().filter_map(|s| s.parse().ok()).collect();
    if v.len() != 5 {
        return Err(format!("bad done line {done:?}"));
    }
    Ok(vec![
        ("p50_ns", v[0]),
        ("p99_ns", v[1]),
        ("p999_ns", v[2]),
        ("max_ns", v[3]),
        ("mean_ns", v[4]),
    ])
}

fn child_done(one_way: Vec<u64>) {
    let p = percentiles(one_way);
    say(&format!(
        "done {} {} {} {} {}",
        p.p50, p.p99, p.p999, p.max, p.mean
    ));
}

// ---------------------------------------------------------------- roker

/// Receives one message on `id`, returning its first 8 payload bytes as a number.
fn roker_recv(b: &Broker, id: &ClientId, mode: Mode) -> BenchResult<u64> {
    let first8 = |m: roker::MessageRef<'_>| u64::from_le_bytes(m.payload[..8].try_into().unwrap());
    match mode {
        Mode::Busy => {
            let deadline = Instant::now() + STEP;
            let mut i = 0u32;
            loop {
                if let Some(v) = b.receive_with(id, first8).map_err(err("receive"))? {
                    return Ok(v);
                }
                i = i.wrapping_add(1);
                if i.is_multiple_of(4096) && Instant::now() > deadline {
                    return Err("no message within the deadline".into());
                }
                std::hint::spin_loop();
            }
        }
        Mode::Sleep | Mode::Futex => {
            let m = b
                .receive_timeout(id, STEP)
                .map_err(err("receive_timeout"))?
                .ok_or("no message within the deadline")?;
            Ok(u64::from_le_bytes(m.payload()[..8].try_into().unwrap()))
        }
    }
}

fn roker_pingpong(mode: Mode, n: usize, warm: usize) -> BenchResult<Metrics> {
    let name = util::unique("w2");
    let config = BrokerConfig {
        name: name.clone(),
        buffer_size: 1 << 20,
        max_clients: 4,
        max_subscriptions_per_client: 4,
    };
    let broker =
        Broker::with_options(config, BrokerOptions::default()).map_err(err("create broker"))?;
    let r = (|| {
        let id = broker.register_client("w2-ping").map_err(err("register"))?;
        broker.subscribe(&id, PONG).map_err(err("subscribe"))?;
        let total = n + warm;
        let mut peer = Peer::spawn(
            "w2-roker-echo",
            &[name.clone(), total.to_string(), mode.as_str().into()],
        )?;
        peer.expect("ready", STEP)?;
        let ping = Topic::new(PING).map_err(err("topic"))?;
        let mut payload = [0u8; PAYLOAD];
        let mut rtts = Vec::with_capacity(n);
        for i in 0..total as u64 {
            if mode == Mode::Futex {
                std::thread::sleep(GAP);
            }
            let t0 = mono_ns();
            payload[..8].copy_from_slice(&t0.to_le_bytes());
            broker.publish_to(&ping, &payload).map_err(err("publish"))?;
            let back = roker_recv(&broker, &id, mode)?;
            let t1 = mono_ns();
            if back != i {
                return Err(format!("pong {back} for ping {i}"));
            }
            if i as usize >= warm {
                rtts.push((t1 - t0) / 2);
            }
        }
        let done = peer.expect("done", STEP)?;
        peer.finish(Duration::from_secs(5))?;
        if mode == Mode::Futex {
            child_metrics(&done)
        } else {
            Ok(latency_metrics(rtts))
        }
    })();
    let _ = broker.destroy();
    r
}

/// Child: answers each ping with a pong carrying the ping's index. In futex mode it also
/// records each ping's one-way latency. Args: broker, total pings, mode.
pub fn roker_echo(args: &[String]) -> BenchResult<()> {
    util::exit_on_stdin_eof();
    let name: String = arg(args, 0)?;
    let total: usize = arg(args, 1)?;
    let mode = Mode::parse(&arg::<String>(args, 2)?)?;
    let b = Broker::connect(&name).map_err(err("connect"))?;
    let id = b.register_client("w2-echo").map_err(err("register"))?;
    b.subscribe(&id, PING).map_err(err("subscribe"))?;
    let pong = Topic::new(PONG).map_err(err("topic"))?;
    say("ready");
    let mut payload = [0u8; PAYLOAD];
    let mut one_way = Vec::with_capacity(total);
    for i in 0..total as u64 {
        let sent = roker_recv(&b, &id, mode)?;
        let now = mono_ns();
        one_way.push(now.saturating_sub(sent));
        payload[..8].copy_from_slice(&i.to_le_bytes());
        b.publish_to(&pong, &payload).map_err(err("publish"))?;
    }
    one_way.drain(..10.min(one_way.len()));
    child_done(one_way);
    Ok(())
}

// ---------------------------------------------------------------- bare shm floor

const F_PING: usize = 0;
const F_PONG: usize = 64;
const F_SEQ: usize = 128; // u32 futex word
const F_TS: usize = 192;
const F_LEN: usize = 4096;

fn floor_pingpong(futex: bool, n: usize, warm: usize) -> BenchResult<Metrics> {
    let name = util::unique("w2-floor");
    let map = ShmMap::create(&name, F_LEN)?;
    let total = n + warm;
    let mut peer = Peer::spawn(
        "w2-floor-echo",
        &[name, total.to_string(), futex.to_string()],
    )?;
    peer.expect("ready", STEP)?;
    let (ping, pong) = (map.atomic(F_PING), map.atomic(F_PONG));
    let (seq, ts) = (map.atomic32(F_SEQ), map.atomic(F_TS));
    let mut rtts = Vec::with_capacity(n);
    for i in 1..=total as u64 {
        let deadline = Instant::now() + STEP;
        let t0;
        if futex {
            std::thread::sleep(GAP);
            t0 = mono_ns();
            ts.store(t0, Ordering::Relaxed);
            seq.store(i as u32, Ordering::Release);
            util::futex_wake(seq);
        } else {
            t0 = mono_ns();
            ping.store(i, Ordering::Release);
        }
        // In futex mode the parent yields while it waits, leaving the CPU to the woken child.
        let wait = if futex {
            util::spin_yield_until
        } else {
            util::spin_until
        };
        if !wait(deadline, &mut || pong.load(Ordering::Acquire) == i) {
            return Err(format!("no pong {i}"));
        }
        let t1 = mono_ns();
        if i as usize > warm {
            rtts.push((t1 - t0) / 2);
        }
    }
    let done = peer.expect("done", STEP)?;
    peer.finish(Duration::from_secs(5))?;
    if futex {
        child_metrics(&done)
    } else {
        Ok(latency_metrics(rtts))
    }
}

/// Child: bare ping-pong echo. Args: name, total, futex.
pub fn floor_echo(args: &[String]) -> BenchResult<()> {
    util::exit_on_stdin_eof();
    let name: String = arg(args, 0)?;
    let total: u64 = arg(args, 1)?;
    let futex: bool = arg(args, 2)?;
    let map = ShmMap::open(&name, F_LEN)?;
    let (ping, pong) = (map.atomic(F_PING), map.atomic(F_PONG));
    let (seq, ts) = (map.atomic32(F_SEQ), map.atomic(F_TS));
    say("ready");
    let mut one_way = Vec::with_capacity(total as usize);
    for i in 1..=total {
        let deadline = Instant::now() + STEP;
        if futex {
            while seq.load(Ordering::Acquire) != i as u32 {
                if Instant::now() > deadline {
                    return Err(format!("no ping {i}"));
                }
                util::futex_wait(seq, (i - 1) as u32, Duration::from_millis(100));
            }
            one_way.push(mono_ns().saturating_sub(ts.load(Ordering::Relaxed)));
        } else if !util::spin_until(deadline, || ping.load(Ordering::Acquire) == i) {
            return Err(format!("no ping {i}"));
        }
        pong.store(i, Ordering::Release);
    }
    one_way.drain(..10.min(one_way.len()));
    child_done(one_way);
    Ok(())
}

// ---------------------------------------------------------------- iceoryx2

type IceService =
    iceoryx2::service::port_factory::publish_subscribe::PortFactory<ipc::Service, [u8], ()>;

fn ice_services(
    node: &Node<ipc::Service>,
    base: &str,
    create: bool,
) -> BenchResult<(IceService, IceService)> {
    let mk = |suffix: &str| -> BenchResult<IceService> {
        let b = node
            .service_builder(&service_name(&format!("{base}/{suffix}"))?)
            .publish_subscribe::<[u8]>();
        if create {
            b.enable_safe_overflow(false)
                .subscriber_max_buffer_size(4)
                .history_size(0)
                .max_publishers(1)
                .max_subscribers(1)
                .max_nodes(2)
                .create()
                .map_err(err("iceoryx2 service"))
        } else {
            b.open().map_err(err("iceoryx2 open service"))
        }
    };
    Ok((mk("ping")?, mk("pong")?))
}

fn ice_send(
    p: &iceoryx2::port::publisher::Publisher<ipc::Service, [u8], ()>,
    payload: &[u8],
) -> BenchResult<()> {
    p.loan_slice_uninit(payload.len())
        .map_err(err("iceoryx2 loan"))?
        .write_from_slice(payload)
        .send()
        .map_err(err("iceoryx2 send"))?;
    Ok(())
}

fn ice_recv(
    s: &iceoryx2::port::subscriber::Subscriber<ipc::Service, [u8], ()>,
) -> BenchResult<u64> {
    let deadline = Instant::now() + STEP;
    let mut i = 0u32;
    loop {
        if let Some(sample) = s.receive().map_err(err("iceoryx2 receive"))? {
            return Ok(u64::from_le_bytes(
                sample.payload()[..8].try_into().unwrap(),
            ));
        }
        i = i.wrapping_add(1);
        if i.is_multiple_of(4096) && Instant::now() > deadline {
            return Err("no sample within the deadline".into());
        }
        std::hint::spin_loop();
    }
}

fn iceoryx_pingpong(n: usize, warm: usize) -> BenchResult<Metrics> {
    let node = iceoryx_node()?;
    let base = util::unique("w2-ice");
    let (ping_s, pong_s) = ice_services(&node, &base, true)?;
    let ping = ping_s
        .publisher_builder()
        .initial_max_slice_len(PAYLOAD)
        .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
        .create()
        .map_err(err("iceoryx2 publisher"))?;
    let pong = pong_s
        .subscriber_builder()
        .create()
        .map_err(err("iceoryx2 subscriber"))?;
    let total = n + warm;
    let mut peer = Peer::spawn("w2-ice-echo", &[base, total.to_string()])?;
    peer.expect("ready", STEP)?;
    ping.update_connections()
        .map_err(err("iceoryx2 update_connections"))?;
    let mut payload = [0u8; PAYLOAD];
    let mut rtts = Vec::with_capacity(n);
    for i in 0..total as u64 {
        let t0 = mono_ns();
        payload[..8].copy_from_slice(&t0.to_le_bytes());
        ice_send(&ping, &payload)?;
        let back = ice_recv(&pong)?;
        let t1 = mono_ns();
        if back != i {
            return Err(format!("pong {back} for ping {i}"));
        }
        if i as usize >= warm {
            rtts.push((t1 - t0) / 2);
        }
    }
    peer.expect("done", STEP)?;
    peer.finish(Duration::from_secs(5))?;
    Ok(latency_metrics(rtts))
}

/// Child: iceoryx2 echo. Args: service base name, total.
pub fn iceoryx_echo(args: &[String]) -> BenchResult<()> {
    util::exit_on_stdin_eof();
    let base: String = arg(args, 0)?;
    let total: u64 = arg(args, 1)?;
    let node = iceoryx_node()?;
    let (ping_s, pong_s) = ice_services(&node, &base, false)?;
    let ping = ping_s
        .subscriber_builder()
        .create()
        .map_err(err("iceoryx2 subscriber"))?;
    let pong = pong_s
        .publisher_builder()
        .initial_max_slice_len(PAYLOAD)
        .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
        .create()
        .map_err(err("iceoryx2 publisher"))?;
    say("ready");
    let mut payload = [0u8; PAYLOAD];
    for i in 0..total {
        ice_recv(&ping)?;
        payload[..8].copy_from_slice(&i.to_le_bytes());
        ice_send(&pong, &payload)?;
    }
    say("done 0 0 0 0 0");
    Ok(())
}
