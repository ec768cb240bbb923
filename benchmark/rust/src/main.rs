//! `roker-bench`: the Rust side of roker's benchmark suite.
//!
//! ```text
//! roker-bench [--quick] [--only W1,W2,...] [--json]
//! ```
//!
//! Runs the workloads (see README.md), writes `progress: <done>/<total> <name>` lines to
//! stderr, and prints one JSON document (`--json`) or a text table to stdout. Cross-process
//! workloads re-execute this binary with a hidden `--role <name> ...` argument.

mod report;
mod util;
mod w1_throughput;
mod w2_latency;
mod w3_fanout;
mod w4_sparse;
mod w5_matching;

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use report::{obj, Case, Json};

const WORKLOADS: [&str; 5] = ["W1", "W2", "W3", "W4", "W5"];

const USAGE: &str = "\
usage: roker-bench [--quick] [--only W1,W2,...] [--filter TEXT] [--json]
  --quick   small counts and fewer sizes (CI smoke run, well under a minute)
  --only    comma-separated workloads among W1 W2 W3 W4 W5 (default: all)
  --filter  run only measurements whose \"<workload> <name>\" contains TEXT
  --json    print one JSON document on stdout (default: a text table)";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--role") {
        std::process::exit(run_role(&args[1..]));
    }
    let mut quick = false;
    let mut json = false;
    let mut only: Option<Vec<String>> = None;
    let mut filter: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--json" => json = true,
            "--only" => match it.next() {
                Some(v) => only = Some(split_only(v)),
                None => usage_exit("--only needs a value"),
            },
            "--filter" => match it.next() {
                Some(v) => filter = Some(v.clone()),
                None => usage_exit("--filter needs a value"),
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            s if s.starts_with("--only=") => only = Some(split_only(&s[7..])),
            s => usage_exit(&format!("unknown argument {s:?}")),
        }
    }
    let selected: Vec<&str> = match &only {
        None => WORKLOADS.to_vec(),
        Some(list) => {
            for w in list {
                if !WORKLOADS.contains(&w.as_str()) {
                    usage_exit(&format!("unknown workload {w:?}"));
                }
            }
            WORKLOADS
                .iter()
                .copied()
                .filter(|w| list.iter().any(|x| x == w))
                .collect()
        }
    };

    let mut cases: Vec<Case> = Vec::new();
    for w in &selected {
        cases.extend(match *w {
            "W1" => w1_throughput::plan(quick),
            "W2" => w2_latency::plan(quick),
            "W3" => w3_fanout::plan(quick),
            "W4" => w4_sparse::plan(quick),
            "W5" => w5_matching::plan(quick),
            _ => unreachable!(),
        });
    }

    if let Some(f) = &filter {
        cases.retain(|c| format!("{} {}", c.workload, c.name).contains(f.as_str()));
    }

    let started = Instant::now();
    let total = cases.len();
    let mut results = Vec::with_capacity(total);
    for (i, case) in cases.into_iter().enumerate() {
        let label = format!("{} {}", case.workload, case.name);
        let t = Instant::now();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(case.run))
            .unwrap_or_else(|p| Err(format!("panicked: {}", panic_text(&p))));
        let mut entry = vec![
            ("workload".to_string(), Json::from(case.workload)),
            ("name".to_string(), Json::from(case.name.clone())),
            ("impl".to_string(), Json::from(case.imp)),
            ("params".to_string(), obj(case.params.clone())),
        ];
        match &outcome {
            Ok(m) => entry.push(("metrics".into(), obj(m.iter().map(|(k, v)| (*k, *v))))),
            Err(e) => {
                entry.push(("metrics".into(), Json::Obj(Vec::new())));
                entry.push(("error".into(), Json::from(e.clone())));
            }
        }
        entry.push(("wall_s".into(), Json::from(t.elapsed().as_secs_f64())));
        eprintln!("progress: {}/{} {}", i + 1, total, label);
        if let Err(e) = &outcome {
            eprintln!("error: {label}: {e}");
        }
        results.push((
            case.workload,
            case.name,
            case.imp,
            outcome,
            Json::Obj(entry),
        ));
    }

    if json {
        let doc = obj([
            ("machine", machine()),
            (
                "versions",
                obj([
                    ("roker", env!("BENCH_V_ROKER")),
                    ("iceoryx2", env!("BENCH_V_ICEORYX2")),
                    ("crossbeam-channel", env!("BENCH_V_CROSSBEAM")),
                    ("rustc", env!("BENCH_V_RUSTC")),
                ]),
            ),
            ("mode", Json::from(if quick { "quick" } else { "full" })),
            ("duration_s", Json::from(started.elapsed().as_secs_f64())),
            (
                "results",
                Json::Arr(results.into_iter().map(|r| r.4).collect()),
            ),
        ]);
        let mut out = String::new();
        doc.write(&mut out, 0);
        println!("{out}");
    } else {
        for (w, name, imp, outcome, _) in results {
            let text = match outcome {
                Ok(m) => m
                    .iter()
                    .map(|(k, v)| format!("{k}={}", short(*v)))
                    .collect::<Vec<_>>()
                    .join("  "),
                Err(e) => format!("ERROR {e}"),
            };
            println!("{w}  {name:<42} {imp:<10} {text}");
        }
        println!("total {:.1} s", started.elapsed().as_secs_f64());
    }
}

fn short(v: f64) -> String {
    if v.abs() >= 1e6 {
        format!("{:.3}M", v / 1e6)
    } else if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

fn split_only(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_ascii_uppercase())
        .filter(|s| !s.is_empty())
        .collect()
}

fn usage_exit(msg: &str) -> ! {
    eprintln!("roker-bench: {msg}\n{USAGE}");
    std::process::exit(2);
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Runs a hidden child role; its errors go to the parent as an `error ...` line.
fn run_role(args: &[String]) -> i32 {
    let Some(role) = args.first() else {
        eprintln!("roker-bench: --role needs a name");
        return 2;
    };
    let rest = &args[1..];
    let r = match role.as_str() {
        "w1-roker-sub" => w1_throughput::roker_sub(rest),
        "w1-ice-sub" => w1_throughput::iceoryx_sub(rest),
        "w1-floor-sub" => w1_throughput::floor_sub(rest),
        "w2-roker-echo" => w2_latency::roker_echo(rest),
        "w2-floor-echo" => w2_latency::floor_echo(rest),
        "w2-ice-echo" => w2_latency::iceoryx_echo(rest),
        "w3-sub" => w3_fanout::sub(rest),
        other => Err(format!("unknown role {other}")),
    };
    match r {
        Ok(()) => 0,
        Err(e) => {
            util::say(&format!("error {e}"));
            eprintln!("roker-bench child {role}: {e}");
            1
        }
    }
}

/// CPU model, core count, kernel and memory of this machine.
fn machine() -> Json {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let mem_kb: u64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|s| s.parse().ok())
        })
        .unwrap_or(0);
    let loadavg = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    obj([
        ("cpu", Json::from(model)),
        ("loadavg_at_start", Json::from(loadavg)),
        ("cores", Json::from(cores)),
        ("kernel", Json::from(format!("Linux {kernel}"))),
        ("arch", Json::from(std::env::consts::ARCH)),
        ("memory_gib", Json::from(mem_kb as f64 / 1024.0 / 1024.0)),
    ])
}
