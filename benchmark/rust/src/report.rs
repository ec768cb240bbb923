//! Measurement cases and a minimal JSON writer (no serde needed for this flat output).

use crate::util::BenchResult;

/// A JSON value, as much of it as the report needs.
#[derive(Clone, Debug)]
pub enum Json {
    Num(f64),
    Str(String),
    Bool(bool),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl From<f64> for Json {
    fn from(v: f64) -> Json {
        Json::Num(v)
    }
}
impl From<usize> for Json {
    fn from(v: usize) -> Json {
        Json::Num(v as f64)
    }
}
impl From<u64> for Json {
    fn from(v: u64) -> Json {
        Json::Num(v as f64)
    }
}
impl From<&str> for Json {
    fn from(v: &str) -> Json {
        Json::Str(v.to_string())
    }
}
impl From<String> for Json {
    fn from(v: String) -> Json {
        Json::Str(v)
    }
}
impl From<bool> for Json {
    fn from(v: bool) -> Json {
        Json::Bool(v)
    }
}

/// Builds a JSON object from `(key, value)` pairs.
pub fn obj<K: Into<String>, V: Into<Json>>(pairs: impl IntoIterator<Item = (K, V)>) -> Json {
    Json::Obj(
        pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect(),
    )
}

impl Json {
    pub fn write(&self, out: &mut String, indent: usize) {
        match self {
            Json::Num(v) => {
                if !v.is_finite() {
                    out.push_str("null");
                } else if v.abs() >= 1000.0 || v.fract() == 0.0 {
                    out.push_str(&format!("{}", v.round() as i64));
                } else {
                    // Four decimals are plenty for rates and ratios below 1000.
                    let s = format!("{v:.4}");
                    let s = s.trim_end_matches('0').trim_end_matches('.');
                    out.push_str(s);
                }
            }
            Json::Str(s) => {
                out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        '\t' => out.push_str("\\t"),
                        c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Arr(items) => {
                if items.is_empty() {
                    out.push_str("[]");
                    return;
                }
                out.push('[');
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, indent + 1);
                    it.write(out, indent + 1);
                }
                newline(out, indent);
                out.push(']');
            }
            Json::Obj(pairs) => {
                // Objects of scalars stay on one line; nested ones are indented.
                let flat = pairs
                    .iter()
                    .all(|(_, v)| !matches!(v, Json::Arr(_) | Json::Obj(_)));
                out.push('{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                        if flat {
                            out.push(' ');
                        }
                    }
                    if !flat {
                        newline(out, indent + 1);
                    }
                    Json::Str(k.clone()).write(out, indent + 1);
                    out.push_str(": ");
                    v.write(out, indent + 1);
                }
                if !flat && !pairs.is_empty() {
                    newline(out, indent);
                }
                out.push('}');
            }
        }
    }
}

fn newline(out: &mut String, indent: usize) {
    out.push('\n');
    for _ in 0..indent {
        out.push_str("  ");
    }
}

/// Named metric values of one measurement.
pub type Metrics = Vec<(&'static str, f64)>;

/// One planned measurement: what it is, and the closure that runs it.
pub struct Case {
    pub workload: &'static str,
    pub name: String,
    pub imp: &'static str,
    pub params: Vec<(&'static str, Json)>,
    pub run: Box<dyn FnOnce() -> BenchResult<Metrics>>,
}

impl Case {
    pub fn new(
        workload: &'static str,
        name: impl Into<String>,
        imp: &'static str,
        params: Vec<(&'static str, Json)>,
        run: impl FnOnce() -> BenchResult<Metrics> + 'static,
    ) -> Case {
        Case {
            workload,
            name: name.into(),
            imp,
            params,
            run: Box::new(run),
        }
    }
}

/// Human-readable size: 16 B, 64 KiB, 4 MiB.
pub fn size_name(n: usize) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} B")
    }
}

/// Throughput metrics of `msgs` messages of `payload` bytes in `ns` nanoseconds.
pub fn throughput(msgs: u64, payload: usize, ns: u64) -> Metrics {
    let s = ns.max(1) as f64 / 1e9;
    vec![
        ("msgs_per_s", msgs as f64 / s),
        ("gb_per_s", msgs as f64 * payload as f64 / s / 1e9),
    ]
}
