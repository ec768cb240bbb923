//! Short versions of the kill loop and the soak, as run in CI (the long runs and their
//! results are in docs/RELIABILITY.md).

use std::process::Command;

fn run(bin: &str, args: &[&str], expect: &str) {
    let out = Command::new(bin).args(args).output().expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{bin} {args:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.lines().any(|l| l.starts_with(expect)), "{stdout}");
}

#[test]
fn kill_loop_twenty_rounds() {
    run(
        env!("CARGO_BIN_EXE_roker-killloop"),
        &["20", "12345"],
        "KILLLOOP OK rounds=20",
    );
}

#[test]
fn soak_block_mode_loses_nothing() {
    run(
        env!("CARGO_BIN_EXE_roker-soak"),
        &["300000", "block"],
        "SOAK OK mode=block",
    );
}

#[test]
fn soak_drop_oldest_accounts_for_every_message() {
    run(
        env!("CARGO_BIN_EXE_roker-soak"),
        &["300000", "drop"],
        "SOAK OK mode=drop",
    );
}
