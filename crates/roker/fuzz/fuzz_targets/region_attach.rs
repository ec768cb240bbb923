//! Attach to a real broker region whose header and tables were overwritten with
//! fuzzer-chosen bytes, then run a short sequence of operations through both the new
//! handle and the creator's handle. Errors are fine; panics, aborts, hangs and crashes
//! are not.
//!
//! Patches are written through the region's file (`/dev/shm/rk.<name>`), which shares its
//! pages with every mapping. The harness neutralises three designed-in waits (see
//! README.md): an init state that makes `connect` wait for a live creator (skipped unless
//! `ROKER_FUZZ_SLOW=1`), a lock word naming a live process (5 s lock timeout; reset to 0),
//! and the publish timeout (clamped to 1 ms).
#![no_main]

#[path = "common.rs"]
mod common;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use roker::{Broker, BrokerConfig, BrokerOptions, ClientId, LentMessage, SlowSubscriberPolicy};

use common::*;

// The layout of the configuration below (buffer 64 KiB, 4 clients, 2 subscriptions,
// max topic length 64, 8 topics, inbox 8), as documented in roker's layout module.
// Only used to aim patches; a mismatch just makes patches land elsewhere.
const ATTACH_OFF: usize = 512;
const ATTACH_SLOTS: usize = 4 + 64;
const CLIENTS_OFF: usize = 1088;
const CLIENT_SIZE: usize = 256;
const FILTERS_OFF: usize = 2112;
const FILTER_ENTRY: usize = 8 + 64;
const TOPICS_OFF: usize = 2688;
const TOPIC_SLOTS: usize = 16;
const TOPIC_ENTRY: usize = 24 + 64 + 8;
const INBOX_OFF: usize = 4224;
const LOG_OFF: usize = 4480;
const TOTAL: usize = 73728;

fn config(name: &str) -> BrokerConfig {
    BrokerConfig {
        name: name.to_string(),
        buffer_size: 64 * 1024,
        max_clients: 4,
        max_subscriptions_per_client: 2,
    }
}

fn options(drop_oldest: bool) -> BrokerOptions {
    BrokerOptions {
        policy: if drop_oldest {
            SlowSubscriberPolicy::DropOldest
        } else {
            SlowSubscriberPolicy::Block
        },
        publish_timeout: Duration::from_millis(1),
        max_message_size: None,
        max_topic_len: 64,
        max_topics: 8,
        inbox_capacity: 8,
        mode: 0o600,
    }
}

#[derive(Arbitrary, Debug)]
enum Val {
    Small(u8),
    Raw(u64),
    Max,
    /// This process's identity word (a live owner).
    Me,
    /// Identity of a process that does not exist.
    Dead,
}

impl Val {
    fn get(&self, me: u64) -> u64 {
        match *self {
            Val::Small(v) => v as u64,
            Val::Raw(v) => v,
            Val::Max => u64::MAX,
            Val::Me => me,
            Val::Dead => (0x7fff_fff0u64 << 32) | 1,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Table {
    Header,
    Attach,
    Client,
    Filter,
    Topic,
    Inbox,
    Log,
}

#[derive(Arbitrary, Debug)]
enum Patch {
    /// One byte anywhere (offset modulo the region length).
    Byte { off: u32, val: u8 },
    /// One little-endian word anywhere (8-aligned, modulo the region length).
    Word { off: u32, val: Val },
    /// A word of a table entry: `index` and `word` are taken modulo the table's shape.
    Entry { table: Table, index: u8, word: u8, val: Val },
    /// A short byte string (e.g. a topic or filter) into a table entry.
    Bytes { table: Table, index: u8, at: u8, bytes: Vec<u8> },
}

fn table_shape(t: &Table) -> (usize, usize, usize) {
    // (base, entry size, entries)
    match t {
        Table::Header => (0, 512, 1),
        Table::Attach => (ATTACH_OFF, 8, ATTACH_SLOTS),
        Table::Client => (CLIENTS_OFF, CLIENT_SIZE, 4),
        Table::Filter => (FILTERS_OFF, FILTER_ENTRY, 8),
        Table::Topic => (TOPICS_OFF, TOPIC_ENTRY, TOPIC_SLOTS),
        Table::Inbox => (INBOX_OFF, 64, 4),
        Table::Log => (LOG_OFF, 512, 16),
    }
}

#[derive(Arbitrary, Debug)]
enum Id {
    /// The n-th id returned by a register op (modulo how many there are).
    Known(u8),
    /// Any raw id (slot in the low half, generation in the high half).
    Raw(u64),
}

#[derive(Arbitrary, Debug)]
enum Str {
    Pick(u8),
    Any(String),
}

const FILTERS: &[&str] = &["#", "*", "a", "a/#", "*/b", "a/*", "$s/#", "/", "a/b"];
const TOPICS: &[&str] = &["a", "a/b", "x/b", "$s/x", "/", "a/b/c", "zz"];

impl Str {
    fn get<'a>(&'a self, pool: &'a [&'a str]) -> &'a str {
        match self {
            Str::Pick(i) => pool[*i as usize % pool.len()],
            Str::Any(s) => s,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum OpKind {
    Register(Str),
    Unregister(Id),
    Subscribe(Id, Str),
    Unsubscribe(Id, Str),
    Publish(Str, u16),
    Receive(Id),
    ReceiveMany(Id, u8),
    ReceiveLent(Id),
    DropLent(u8),
    WaitZero(Id),
    Subscriptions(Id),
    Stats(Id),
    Sweep,
    Clients,
    Config,
}

#[derive(Arbitrary, Debug)]
struct Op {
    /// Run on the creator's handle instead of the connected one.
    creator: bool,
    kind: OpKind,
}

#[derive(Arbitrary, Debug)]
struct Input {
    drop_oldest: bool,
    /// Ops on the creator's handle before the region is patched (to fill tables).
    setup: Vec<(Str, Str, Str)>,
    patches: Vec<Patch>,
    ops: Vec<Op>,
}

fn resolve(id: &Id, ids: &[ClientId]) -> ClientId {
    match id {
        Id::Known(i) if !ids.is_empty() => ids[*i as usize % ids.len()],
        Id::Known(i) => ClientId::from_raw(*i as u64),
        Id::Raw(r) => ClientId::from_raw(*r),
    }
}

fn run_op(b: &Broker, op: &OpKind, ids: &mut Vec<ClientId>, lent: &mut Vec<LentMessage>) {
    match op {
        OpKind::Register(n) => {
            if let Ok(id) = b.register_client(n.get(&["c", "sub", ""])) {
                ids.push(id);
            }
        }
        OpKind::Unregister(id) => {
            let _ = b.unregister_client(&resolve(id, ids));
        }
        OpKind::Subscribe(id, f) => {
            let _ = b.subscribe(&resolve(id, ids), f.get(FILTERS));
        }
        OpKind::Unsubscribe(id, f) => {
            let _ = b.unsubscribe(&resolve(id, ids), f.get(FILTERS));
        }
        OpKind::Publish(t, len) => {
            let payload = vec![0xabu8; *len as usize % 4096];
            let _ = b.publish_str(t.get(TOPICS), &payload);
        }
        OpKind::Receive(id) => {
            if let Ok(Some(m)) = b.receive(&resolve(id, ids)) {
                let _ = (m.topic().len(), m.payload().len());
            }
        }
        OpKind::ReceiveMany(id, n) => {
            let _ = b.receive_many(&resolve(id, ids), *n as usize % 80);
        }
        OpKind::ReceiveLent(id) => {
            if let Ok(Some(m)) = b.receive_lent(&resolve(id, ids)) {
                let _ = m.payload().iter().map(|&x| x as u64).sum::<u64>();
                lent.push(m);
            }
        }
        OpKind::DropLent(i) => {
            if !lent.is_empty() {
                let i = *i as usize % lent.len();
                lent.swap_remove(i);
            }
        }
        OpKind::WaitZero(id) => {
            let _ = b.wait_for_message(&resolve(id, ids), Duration::ZERO);
            let _ = b.receive_timeout(&resolve(id, ids), Duration::ZERO);
        }
        OpKind::Subscriptions(id) => {
            let _ = b.subscriptions(&resolve(id, ids));
        }
        OpKind::Stats(id) => {
            let _ = b.client_stats(&resolve(id, ids));
        }
        OpKind::Sweep => {
            let _ = b.sweep();
        }
        OpKind::Clients => {
            let _ = b.clients();
        }
        OpKind::Config => {
            let _ = b.config();
        }
    }
}

fn apply(file: &std::fs::File, len: usize, patches: &[Patch], me: u64) {
    for p in patches.iter().take(64) {
        let (off, bytes): (usize, Vec<u8>) = match p {
            Patch::Byte { off, val } => (*off as usize % len, vec![*val]),
            Patch::Word { off, val } => ((*off as usize % len) & !7, val.get(me).to_le_bytes().to_vec()),
            Patch::Entry { table, index, word, val } => {
                let (base, size, n) = table_shape(table);
                let off = base + (*index as usize % n) * size + (*word as usize * 8) % size;
                (off, val.get(me).to_le_bytes().to_vec())
            }
            Patch::Bytes { table, index, at, bytes } => {
                let (base, size, n) = table_shape(table);
                let off = base + (*index as usize % n) * size + *at as usize % size;
                (off, bytes.iter().copied().take(80).collect())
            }
        };
        let end = (off + bytes.len()).min(len);
        if off < end {
            file.write_all_at(&bytes[..end - off], off as u64).unwrap();
        }
    }
}

fn read_word(file: &std::fs::File, off: usize) -> u64 {
    let mut b = [0u8; 8];
    file.read_exact_at(&mut b, off as u64).unwrap();
    u64::from_le_bytes(b)
}

fn write_word(file: &std::fs::File, off: usize, v: u64) {
    file.write_all_at(&v.to_le_bytes(), off as u64).unwrap();
}

fuzz_target!(|input: Input| {
    let me = self_identity();
    let name = unique_name("a");
    let creator = Broker::with_options(config(&name), options(input.drop_oldest))
        .expect("creating a fresh region must work");
    let mut ids = Vec::new();
    let mut lent = Vec::new();

    // Fill tables a little with real data first.
    for (cn, f, t) in input.setup.iter().take(4) {
        if let Ok(id) = creator.register_client(cn.get(&["s0", "s1"])) {
            let _ = creator.subscribe(&id, f.get(FILTERS));
            ids.push(id);
        }
        let _ = creator.publish_str(t.get(TOPICS), b"setup");
    }

    let path = shm_path(&name);
    let file = OpenOptions::new().read(true).write(true).open(&path).unwrap();
    let len = file.metadata().unwrap().len() as usize;
    assert_eq!(len, TOTAL, "layout constants in the harness are out of date");
    apply(&file, len, &input.patches, me);

    // Neutralise the designed-in waits (documented above).
    if identity_alive(read_word(&file, H_LOCK)) {
        write_word(&file, H_LOCK, 0);
    }
    if read_word(&file, H_TIMEOUT_NS) > 1_000_000 {
        write_word(&file, H_TIMEOUT_NS, 1_000_000);
    }
    let mut header = vec![0u8; HEADER_SIZE];
    file.read_exact_at(&mut header, 0).unwrap();
    let connected = if connect_would_wait(&header) && !slow_allowed() {
        None
    } else {
        Broker::connect(&name).ok()
    };

    for op in input.ops.iter().take(48) {
        let b = match (&connected, op.creator) {
            (Some(c), false) => c,
            _ => &creator,
        };
        run_op(b, &op.kind, &mut ids, &mut lent);
        // Ops must not leave the lock held.
        let lock = read_word(&file, H_LOCK);
        assert_ne!(lock, me, "an operation left the broker lock held");
    }

    drop(lent);
    drop(connected);
    drop(creator);
    let _ = Broker::remove(&name);
    let _ = std::fs::remove_file(&path);
});
