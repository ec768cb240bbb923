//! Records the versions of roker, iceoryx2, crossbeam-channel (from Cargo.lock) and rustc,
//! so the report can name exactly what was measured.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    for (krate, var) in [
        ("roker", "BENCH_V_ROKER"),
        ("iceoryx2", "BENCH_V_ICEORYX2"),
        ("crossbeam-channel", "BENCH_V_CROSSBEAM"),
    ] {
        let v = locked_version(&lock, krate).unwrap_or_else(|| "unknown".into());
        println!("cargo:rustc-env={var}={v}");
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let v = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=BENCH_V_RUSTC={v}");
}

/// The version of `name` in a Cargo.lock (`[[package]]` blocks of `name = ...`, `version = ...`).
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let want = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    while let Some(l) = lines.next() {
        if l.trim() == want {
            let v = lines.next()?.trim();
            return v
                .strip_prefix("version = \"")
                .and_then(|s| s.strip_suffix('"'))
                .map(str::to_string);
        }
    }
    None
}
