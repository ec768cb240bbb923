//! W1 — throughput, one publisher process → one subscriber process.
//!
//! Every cross-process variant follows the same protocol: the parent (publisher) creates
//! the channel and spawns the subscriber child, which says `ready`; the parent sends
//! `warm` messages and waits for the child's `warm`, takes a `CLOCK_MONOTONIC` start time,
//! sends `n` messages, and the child answers `done <monotonic end> <checksum>` after
//! touching (summing the first byte of) every payload. Elapsed = child end − parent start.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use iceoryx2::port::update_connections::UpdateConnections;
use iceoryx2::prelude::*;
use roker::{Broker, BrokerConfig, BrokerOptions, Topic};

use crate::report::{size_name, throughput, Case, Json, Metrics};
use crate::util::{self, arg, err, mono_ns, say, BenchResult, Peer, ShmMap};

const RING_BYTES: usize = 64 << 20;
const TOPIC: &str = "/bench/w1";
const STEP: Duration = Duration::from_secs(20);

fn sizes(quick: bool) -> Vec<usize> {
    if quick {
        vec![64, 1 << 20]
    } else {
        vec![16, 64, 1 << 10, 64 << 10, 1 << 20, 4 << 20]
    }
}

/// Messages per run: ~4 GiB of payload, at most 2 M messages (an eighth in quick mode).
fn count(payload: usize, quick: bool) -> u64 {
    let n = ((4u64 << 30) / payload as u64).clamp(1024, 2_000_000);
    if quick {
        (n / 8).max(256)
    } else {
        n
    }
}

fn warmup(n: u64) -> u64 {
    (n / 10).clamp(16, 100_000)
}

/// Ring slots for the floor and queue depth for iceoryx2 and crossbeam: a 64 MiB budget
/// (the roker log's default size), at most 1,024 (roker's default inbox capacity).
fn depth(payload: usize) -> usize {
    (RING_BYTES / slot_size(payload)).clamp(2, 1024)
}

fn slot_size(payload: usize) -> usize {
    payload.div_ceil(64) * 64
}

pub fn plan(quick: bool) -> Vec<Case> {
    let mut cases = Vec::new();
    for p in sizes(quick) {
        let n = count(p, quick);
        let w = warmup(n);
        let base = |extra: Vec<(&'static str, Json)>| {
            let mut v: Vec<(&'static str, Json)> = vec![
                ("payload", p.into()),
                ("messages", n.into()),
                ("warmup", w.into()),
            ];
            v.extend(extra);
            v
        };
        let sz = size_name(p);
        cases.push(Case::new(
            "W1",
            format!("roker {sz}"),
            "roker",
            base(vec![
                ("buffer_size", RING_BYTES.into()),
                ("inbox_capacity", 1024usize.into()),
                ("subscriber", "receive_batch_with + wait_for_message".into()),
            ]),
            move || roker_run(p, n, w),
        ));
        cases.push(Case::new(
            "W1",
            format!("iceoryx2 {sz}"),
            "iceoryx2",
            base(vec![
                ("subscriber_buffer", depth(p).into()),
                ("subscriber", "busy-poll receive".into()),
                ("backpressure", "RetryUntilDelivered".into()),
            ]),
            move || iceoryx_run(p, n, w),
        ));
        cases.push(Case::new(
            "W1",
            format!("shm-floor {sz}"),
            "shm-floor",
            base(vec![
                ("ring_slots", depth(p).into()),
                ("subscriber", "busy-poll SPSC ring, one copy".into()),
            ]),
            move || floor_run(p, n, w),
        ));
        cases.push(Case::new(
            "W1",
            format!("crossbeam {sz}"),
            "crossbeam",
            base(vec![
                (
                    "channel",
                    format!("bounded({}) of Vec<u8>", depth(p)).into(),
                ),
                ("in_process", true.into()),
            ]),
            move || crossbeam_run(p, n, w),
        ));
        let copies = ((16u64 << 30) / p as u64).clamp(4096, 20_000_000) / if quick { 8 } else { 1 };
        cases.push(Case::new(
            "W1",
            format!("memcpy {sz}"),
            "memcpy",
            vec![
                ("payload", p.into()),
                ("copies", copies.into()),
                ("destination_ring", RING_BYTES.into()),
                ("in_process", true.into()),
            ],
            move || memcpy_run(p, copies),
        ));
    }
    cases
}

/// Parses the child's `done <end_ns> <sum>` and turns it into throughput metrics.
fn finish(mut peer: Peer, t0: u64, n: u64, total: u64, p: usize) -> BenchResult<Metrics> {
    let done = peer.expect("done", Duration::from_secs(120))?;
    let end: u64 = done
        .first()
        .and_then(|s| s.parse().ok())
        .ok_or("bad done line")?;
    let sum: u64 = done
        .get(1)
        .and_then(|s| s.parse().ok())
        .ok_or("bad done line")?;
    peer.finish(Duration::from_secs(5))?;
    if sum != total {
        return Err(format!(
            "checksum {sum} != {total}: messages lost or corrupted"
        ));
    }
    Ok(throughput(n, p, end.saturating_sub(t0)))
}

// ---------------------------------------------------------------- roker

fn roker_run(p: usize, n: u64, w: u64) -> BenchResult<Metrics> {
    let name = util::unique("w1");
    let config = BrokerConfig {
        name: name.clone(),
        buffer_size: RING_BYTES,
        max_clients: 4,
        max_subscriptions_per_client: 4,
    };
    let options = BrokerOptions {
        publish_timeout: Duration::from_secs(10),
        ..BrokerOptions::default()
    };
    let broker = Broker::with_options(config, options).map_err(err("create broker"))?;
    let r = (|| {
        let mut peer = Peer::spawn(
            "w1-roker-sub",
            &[name.clone(), (n + w).to_string(), w.to_string()],
        )?;
        peer.expect("ready", STEP)?;
        let topic = Topic::new(TOPIC).map_err(err("topic"))?;
        let mut payload = vec![0u8; p];
        payload[0] = 1;
        for i in 0..w {
            let d = broker
                .publish_to(&topic, &payload)
                .map_err(err("publish"))?;
            if i == 0 && d != 1 {
                return Err(format!("first publish reached {d} subscribers, expected 1"));
            }
        }
        peer.expect("warm", STEP)?;
        let t0 = mono_ns();
        for _ in 0..n {
            broker
                .publish_to(&topic, &payload)
                .map_err(err("publish"))?;
        }
        finish(peer, t0, n, n + w, p)
    })();
    let _ = broker.destroy();
    r
}

/// Child: roker subscriber. Args: broker name, total messages, warm-up messages.
pub fn roker_sub(args: &[String]) -> BenchResult<()> {
    util::exit_on_stdin_eof();
    let name: String = arg(args, 0)?;
    let total: u64 = arg(args, 1)?;
    let warm: u64 = arg(args, 2)?;
    let b = Broker::connect(&name).map_err(err("connect"))?;
    let id = b.register_client("w1-sub").map_err(err("register"))?;
    b.subscribe(&id, TOPIC).map_err(err("subscribe"))?;
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

// ---------------------------------------------------------------- iceoryx2

pub fn iceoryx_node() -> BenchResult<Node<ipc::Service>> {
    set_log_level(LogLevel::Error);
    NodeBuilder::new()
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<ipc::Service>()
        .map_err(err("iceoryx2 node"))
}

pub fn service_name(s: &str) -> BenchResult<ServiceName> {
    ServiceName::new(s).map_err(err("iceoryx2 service name"))
}

fn iceoryx_run(p: usize, n: u64, w: u64) -> BenchResult<Metrics> {
    let node = iceoryx_node()?;
    let sname = util::unique("w1-ice");
    let service = node
        .service_builder(&service_name(&sname)?)
        .publish_subscribe::<[u8]>()
        .enable_safe_overflow(false)
        .subscriber_max_buffer_size(depth(p))
        .subscriber_max_borrowed_samples(2)
        .history_size(0)
        .max_publishers(1)
        .max_subscribers(1)
        .max_nodes(2)
        .create()
        .map_err(err("iceoryx2 service"))?;
    let publisher = service
        .publisher_builder()
        .initial_max_slice_len(p)
        .max_loaned_samples(2)
        .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
        .create()
        .map_err(err("iceoryx2 publisher"))?;
    let mut peer = Peer::spawn(
        "w1-ice-sub",
        &[
            sname,
            (n + w).to_string(),
            w.to_string(),
            depth(p).to_string(),
        ],
    )?;
    peer.expect("ready", STEP)?;
    publisher
        .update_connections()
        .map_err(err("iceoryx2 update_connections"))?;
    let mut payload = vec![0u8; p];
    payload[0] = 1;
    let send = |i: u64| -> BenchResult<()> {
        let sample = publisher
            .loan_slice_uninit(p)
            .map_err(err("iceoryx2 loan"))?;
        let d = sample
            .write_from_slice(&payload)
            .send()
            .map_err(err("iceoryx2 send"))?;
        if i == 0 && d != 1 {
            return Err(format!("first send reached {d} subscribers, expected 1"));
        }
        Ok(())
    };
    for i in 0..w {
        send(i)?;
    }
    peer.expect("warm", STEP)?;
    let t0 = mono_ns();
    for i in 0..n {
        send(i + 1)?;
    }
    finish(peer, t0, n, n + w, p)
}

/// Child: iceoryx2 subscriber, busy-polling. Args: service, total, warm-up, buffer.
pub fn iceoryx_sub(args: &[String]) -> BenchResult<()> {
    util::exit_on_stdin_eof();
    let sname: String = arg(args, 0)?;
    let total: u64 = arg(args, 1)?;
    let warm: u64 = arg(args, 2)?;
    let buffer: usize = arg(args, 3)?;
    let node = iceoryx_node()?;
    let service = node
        .service_builder(&service_name(&sname)?)
        .publish_subscribe::<[u8]>()
        .open()
        .map_err(err("iceoryx2 open service"))?;
    let sub = service
        .subscriber_builder()
        .buffer_size(buffer)
        .create()
        .map_err(err("iceoryx2 subscriber"))?;
    say("ready");
    let (mut count, mut sum, mut warm_said) = (0u64, 0u64, false);
    let (mut idle, mut idle_since) = (0u32, Instant::now());
    while count < total {
        match sub.receive().map_err(err("iceoryx2 receive"))? {
            Some(s) => {
                sum += s.payload()[0] as u64;
                count += 1;
                idle = 0;
                if !warm_said && count >= warm {
                    say("warm");
                    warm_said = true;
                }
            }
            None => {
                idle = idle.wrapping_add(1);
                if idle == 4096 {
                    idle_since = Instant::now();
                } else if idle.is_multiple_of(4096) && idle_since.elapsed() > STEP {
                    return Err(format!("no message for {STEP:?} after {count}"));
                }
                std::hint::spin_loop();
            }
        }
    }
    say(&format!("done {} {sum}", mono_ns()));
    Ok(())
}

// ---------------------------------------------------------------- bare shm floor

/// Ring layout: tail (producer) at 0, head (consumer) at 128 (apart from the adjacent-line
/// prefetcher's pair), slots from 4096.
const TAIL: usize = 0;
const HEAD: usize = 128;
const SLOTS: usize = 4096;

fn floor_run(p: usize, n: u64, w: u64) -> BenchResult<Metrics> {
    let slots = depth(p);
    let ss = slot_size(p);
    let len = SLOTS + slots * ss;
    let name = util::unique("w1-floor");
    let map = ShmMap::create(&name, len)?;
    let mut peer = Peer::spawn(
        "w1-floor-sub",
        &[
            name,
            len.to_string(),
            p.to_string(),
            (n + w).to_string(),
            w.to_string(),
        ],
    )?;
    peer.expect("ready", STEP)?;
    let mut payload = vec![0u8; p];
    payload[0] = 1;
    let (tail, head) = (map.atomic(TAIL), map.atomic(HEAD));
    let mut t = 0u64;
    let mut seen_head = 0u64;
    let mut send = |t: &mut u64| -> BenchResult<()> {
        if *t - seen_head == slots as u64 {
            let deadline = Instant::now() + STEP;
            if !util::spin_yield_until(deadline, || {
                seen_head = head.load(Ordering::Acquire);
                *t - seen_head < slots as u64
            }) {
                return Err("floor ring stayed full".into());
            }
        }
        let slot = (*t % slots as u64) as usize;
        // SAFETY: the slot lies inside the mapping (SLOTS + slots * ss = len) and the
        // consumer is done with it (head has passed it), so nobody reads it concurrently.
        unsafe {
            std::ptr::copy_nonoverlapping(payload.as_ptr(), map.ptr().add(SLOTS + slot * ss), p)
        };
        *t += 1;
        tail.store(*t, Ordering::Release);
        Ok(())
    };
    for _ in 0..w {
        send(&mut t)?;
    }
    peer.expect("warm", STEP)?;
    let t0 = mono_ns();
    for _ in 0..n {
        send(&mut t)?;
    }
    finish(peer, t0, n, n + w, p)
}

/// Child: bare ring consumer, busy-polling. Args: name, len, payload, total, warm-up.
pub fn floor_sub(args: &[String]) -> BenchResult<()> {
    util::exit_on_stdin_eof();
    let name: String = arg(args, 0)?;
    let len: usize = arg(args, 1)?;
    let p: usize = arg(args, 2)?;
    let total: u64 = arg(args, 3)?;
    let warm: u64 = arg(args, 4)?;
    let (slots, ss) = (depth(p), slot_size(p));
    let map = ShmMap::open(&name, len)?;
    let (tail, head) = (map.atomic(TAIL), map.atomic(HEAD));
    say("ready");
    let (mut h, mut seen_tail, mut sum) = (0u64, 0u64, 0u64);
    let mut warm_said = false;
    while h < total {
        if h == seen_tail {
            let deadline = Instant::now() + STEP;
            if !util::spin_yield_until(deadline, || {
                seen_tail = tail.load(Ordering::Acquire);
                seen_tail > h
            }) {
                return Err(format!("no message for {STEP:?} after {h}"));
            }
        }
        // Consume what is visible (at most 64), then publish the new head once, as a
        // batching consumer would.
        let end = seen_tail.min(h + 64);
        while h < end {
            let slot = (h % slots as u64) as usize;
            // SAFETY: in bounds; the Acquire load of tail ordered the producer's copy
            // before this read, and the producer does not reuse the slot until head
            // passes it.
            sum += unsafe { std::ptr::read_volatile(map.ptr().add(SLOTS + slot * ss)) } as u64;
            h += 1;
        }
        head.store(h, Ordering::Release);
        if !warm_said && h >= warm {
            say("warm");
            warm_said = true;
        }
    }
    say(&format!("done {} {sum}", mono_ns()));
    Ok(())
}

// ---------------------------------------------------------------- in-process peers

fn crossbeam_run(p: usize, n: u64, w: u64) -> BenchResult<Metrics> {
    let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(depth(p));
    let (warm_tx, warm_rx) = crossbeam_channel::bounded::<()>(1);
    let consumer = std::thread::spawn(move || {
        let mut sum = 0u64;
        let mut count = 0u64;
        while let Ok(v) = rx.recv() {
            sum += v[0] as u64;
            count += 1;
            if count == w {
                let _ = warm_tx.send(());
            }
        }
        (sum, mono_ns())
    });
    let mut payload = vec![0u8; p];
    payload[0] = 1;
    for _ in 0..w {
        tx.send(payload.clone()).map_err(err("send"))?;
    }
    warm_rx
        .recv_timeout(STEP)
        .map_err(err("crossbeam warm-up"))?;
    let t0 = mono_ns();
    for _ in 0..n {
        tx.send(payload.to_vec()).map_err(err("send"))?;
    }
    drop(tx);
    let (sum, end) = consumer.join().map_err(|_| "consumer panicked")?;
    if sum != n + w {
        return Err(format!("checksum {sum} != {}", n + w));
    }
    Ok(throughput(n, p, end - t0))
}

fn memcpy_run(p: usize, copies: u64) -> BenchResult<Metrics> {
    let src = vec![1u8; p];
    let ss = slot_size(p);
    let slots = (RING_BYTES / ss).max(1);
    let mut dst = vec![0u8; slots * ss];
    let copy = |dst: &mut [u8], i: u64| {
        let off = (i as usize % slots) * ss;
        dst[off..off + p].copy_from_slice(std::hint::black_box(&src));
    };
    for i in 0..slots as u64 {
        copy(&mut dst, i);
    }
    let t0 = mono_ns();
    for i in 0..copies {
        copy(&mut dst, i);
    }
    let ns = mono_ns() - t0;
    std::hint::black_box(&dst);
    Ok(throughput(copies, p, ns))
}
