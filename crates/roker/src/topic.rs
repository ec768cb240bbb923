//! Publish topics and subscription filters.
//!
//! Topics and filters follow MQTT 3.1.1 §4.7 exactly, except that the
//! single-level wildcard is spelled `*` (MQTT writes `+`):
//!
//! * Levels are separated by `/`. A leading `/` introduces an empty first
//!   level, and empty levels are legal anywhere (`a//b`, `a/`).
//! * `*` matches exactly one level, including an empty one.
//! * `#` matches any number of levels, including zero, so `sport/#` matches
//!   `sport`. It must be the last level of a filter.
//! * A wildcard must occupy a whole level (`a*`, `a#` are invalid).
//! * A publish topic never contains `*` or `#`.
//! * Filters whose first level is a wildcard do not match topics whose first
//!   level starts with `$`.
//! * Empty strings, NUL bytes and non-UTF-8 input are invalid; the maximum
//!   length in bytes is configurable (default [`DEFAULT_MAX_TOPIC_LEN`]).
//! * Matching is case-sensitive and byte-exact.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::error::{Error, Result};

/// Default maximum length, in bytes, of a topic or filter.
pub const DEFAULT_MAX_TOPIC_LEN: usize = 256;

/// Level separator.
const SEP: u8 = b'/';
/// Single-level wildcard.
const ONE: u8 = b'*';
/// Multi-level wildcard.
const MULTI: u8 = b'#';

/// 1-based index of the level containing byte offset `pos` of `s`.
fn level_of(s: &[u8], pos: usize) -> usize {
    s[..pos].iter().filter(|&&b| b == SEP).count() + 1
}

/// Checks that `s` is a valid publish topic no longer than `max` bytes.
///
/// A topic must be non-empty, at most `max` bytes long, free of NUL bytes and
/// free of the wildcard characters `*` and `#`.
pub fn validate_topic(s: &str, max: usize) -> Result<()> {
    if s.is_empty() {
        return Err(Error::InvalidTopic("topic must not be empty".into()));
    }
    if s.len() > max {
        return Err(Error::InvalidTopic(format!(
            "topic exceeds {max} bytes (got {})",
            s.len()
        )));
    }
    let b = s.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        match c {
            0 => {
                return Err(Error::InvalidTopic(format!(
                    "topic must not contain NUL bytes (byte {i}, level {})",
                    level_of(b, i)
                )));
            }
            ONE | MULTI => {
                return Err(Error::InvalidTopic(format!(
                    "topic must not contain wildcard '{}' (level {})",
                    c as char,
                    level_of(b, i)
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks that `s` is a valid subscription filter no longer than `max` bytes.
///
/// A filter must be non-empty, at most `max` bytes long and free of NUL
/// bytes. Wildcards (`*`, `#`) must occupy a whole level, and `#` may only
/// appear as the last level.
pub fn validate_filter(s: &str, max: usize) -> Result<()> {
    if s.is_empty() {
        return Err(Error::InvalidFilter("filter must not be empty".into()));
    }
    if s.len() > max {
        return Err(Error::InvalidFilter(format!(
            "filter exceeds {max} bytes (got {})",
            s.len()
        )));
    }
    if let Some(i) = s.bytes().position(|c| c == 0) {
        return Err(Error::InvalidFilter(format!(
            "filter must not contain NUL bytes (byte {i}, level {})",
            level_of(s.as_bytes(), i)
        )));
    }
    let mut levels = s.split('/').enumerate().peekable();
    while let Some((idx, level)) = levels.next() {
        let n = idx + 1;
        let is_last = levels.peek().is_none();
        match level {
            "*" => {}
            "#" if is_last => {}
            "#" => {
                return Err(Error::InvalidFilter(format!(
                    "wildcard '#' must be the last level (found at level {n})"
                )));
            }
            _ => {
                if let Some(c) = level.chars().find(|&c| c == '*' || c == '#') {
                    return Err(Error::InvalidFilter(format!(
                        "wildcard '{c}' must occupy a whole level (level {n}: {level:?})"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Matches a (previously validated) filter string against a (previously
/// validated) topic string.
///
/// The walk is allocation-free: both strings are scanned once, byte-wise.
/// Passing unvalidated input never panics, but the result is then
/// unspecified.
pub fn matches(filter: &str, topic: &str) -> bool {
    let f = filter.as_bytes();
    let t = topic.as_bytes();

    // A filter whose first level is a wildcard never matches `$` topics.
    if t.first() == Some(&b'$') && matches!(f.first(), Some(&ONE) | Some(&MULTI)) {
        return false;
    }

    // Invariant at the top of the loop: `fi` and `ti` are the start offsets
    // of the current filter and topic levels (each may equal its length,
    // which denotes an empty trailing level).
    let mut fi = 0;
    let mut ti = 0;
    loop {
        let f_level_is =
            |w: u8| f.get(fi) == Some(&w) && matches!(f.get(fi + 1), None | Some(&SEP));
        if f_level_is(MULTI) {
            // `#` matches this level and everything after it.
            return true;
        }
        if f_level_is(ONE) {
            // `*` consumes exactly one (possibly empty) topic level.
            fi += 1;
            while ti < t.len() && t[ti] != SEP {
                ti += 1;
            }
        } else {
            // Literal level: compare byte-wise up to the separator.
            while fi < f.len() && ti < t.len() && f[fi] != SEP && f[fi] == t[ti] {
                fi += 1;
                ti += 1;
            }
            let f_done = fi == f.len() || f[fi] == SEP;
            let t_done = ti == t.len() || t[ti] == SEP;
            if !(f_done && t_done) {
                return false;
            }
        }

        // Both cursors now sit at the end of their current level.
        let f_more = fi < f.len();
        let t_more = ti < t.len();
        match (f_more, t_more) {
            (false, false) => return true,
            (true, true) => {
                fi += 1;
                ti += 1;
            }
            // Topic exhausted: only a trailing `/#` (zero levels) can match.
            (true, false) => return &f[fi + 1..] == b"#",
            (false, true) => return false,
        }
    }
}

/// Implements the string-like helper traits shared by [`Topic`] and [`Filter`].
macro_rules! string_newtype {
    ($ty:ident, $validate:ident, $err:ident, $what:literal) => {
        impl $ty {
            #[doc = concat!("Validates `s` as a ", $what, " of at most [`DEFAULT_MAX_TOPIC_LEN`] bytes.")]
            pub fn new(s: impl AsRef<str>) -> Result<$ty> {
                Self::with_max_len(s, DEFAULT_MAX_TOPIC_LEN)
            }

            #[doc = concat!("Validates `s` as a ", $what, " of at most `max` bytes.")]
            pub fn with_max_len(s: impl AsRef<str>, max: usize) -> Result<$ty> {
                let s = s.as_ref();
                $validate(s, max)?;
                Ok($ty(Arc::from(s)))
            }

            #[doc = concat!("Validates raw bytes as a ", $what, " of at most `max` bytes; non-UTF-8 input is rejected.")]
            pub fn from_bytes(b: &[u8], max: usize) -> Result<$ty> {
                let s = std::str::from_utf8(b).map_err(|e| {
                    Error::$err(format!(concat!($what, " is not valid UTF-8: {}"), e))
                })?;
                Self::with_max_len(s, max)
            }

            /// Returns the underlying string.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Returns the length in bytes.
            pub fn len(&self) -> usize {
                self.0.len()
            }

            /// Always `false`: validated values are never empty.
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }

            /// Iterates over the `/`-separated levels (empty levels included).
            pub fn levels(&self) -> std::str::Split<'_, char> {
                self.0.split('/')
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($ty)).field(&&*self.0).finish()
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $ty {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = Error;
            fn try_from(s: &str) -> Result<$ty> {
                $ty::new(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = Error;
            fn try_from(s: String) -> Result<$ty> {
                $ty::new(s)
            }
        }

        impl FromStr for $ty {
            type Err = Error;
            fn from_str(s: &str) -> Result<$ty> {
                $ty::new(s)
            }
        }

        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                &*self.0 == other
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                &*self.0 == *other
            }
        }
    };
}

/// A validated publish topic. Cheap to clone (`Arc<str>` inside).
///
/// A topic is non-empty, contains no wildcard (`*`, `#`) and no NUL byte.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic(Arc<str>);

string_newtype!(Topic, validate_topic, InvalidTopic, "topic");

/// A validated subscription filter (may hold `*` and `#`). Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Filter(Arc<str>);

string_newtype!(Filter, validate_filter, InvalidFilter, "filter");

impl Filter {
    /// Returns whether this filter matches `topic` (MQTT 3.1.1 §4.7 rules).
    pub fn matches(&self, topic: &Topic) -> bool {
        matches(&self.0, &topic.0)
    }

    /// Returns whether this filter contains `*` or `#`.
    pub fn has_wildcards(&self) -> bool {
        self.0.bytes().any(|b| b == ONE || b == MULTI)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Topic {
        Topic::new(s).unwrap_or_else(|e| panic!("topic {s:?} should be valid: {e:?}"))
    }

    fn f(s: &str) -> Filter {
        Filter::new(s).unwrap_or_else(|e| panic!("filter {s:?} should be valid: {e:?}"))
    }

    fn m(filter: &str, topic: &str) -> bool {
        let fl = f(filter);
        let tp = t(topic);
        let r = fl.matches(&tp);
        assert_eq!(r, matches(filter, topic));
        assert_eq!(
            r,
            reference_matches(filter, topic),
            "{filter:?} vs {topic:?}"
        );
        r
    }

    fn topic_err(s: &str) -> String {
        match Topic::new(s) {
            Err(Error::InvalidTopic(msg)) => msg,
            other => panic!("topic {s:?}: expected InvalidTopic, got {other:?}"),
        }
    }

    fn filter_err(s: &str) -> String {
        match Filter::new(s) {
            Err(Error::InvalidFilter(msg)) => msg,
            other => panic!("filter {s:?}: expected InvalidFilter, got {other:?}"),
        }
    }

    // ----- reference implementation -----

    fn ref_levels(f: &[&str], t: &[&str]) -> bool {
        match f.split_first() {
            None => t.is_empty(),
            Some((&"#", _)) => true,
            Some((&"*", rest)) => !t.is_empty() && ref_levels(rest, &t[1..]),
            Some((lit, rest)) => t.first() == Some(lit) && ref_levels(rest, &t[1..]),
        }
    }

    fn reference_matches(filter: &str, topic: &str) -> bool {
        let fl: Vec<&str> = filter.split('/').collect();
        let tl: Vec<&str> = topic.split('/').collect();
        if tl[0].starts_with('$') && (fl[0] == "*" || fl[0] == "#") {
            return false;
        }
        ref_levels(&fl, &tl)
    }

    fn reference_filter_valid(filter: &str) -> bool {
        if filter.is_empty() {
            return false;
        }
        let fl: Vec<&str> = filter.split('/').collect();
        fl.iter().enumerate().all(|(i, l)| match *l {
            "*" => true,
            "#" => i == fl.len() - 1,
            _ => !l.contains('*') && !l.contains('#'),
        })
    }

    // ----- MQTT 3.1.1 §4.7.1.2 multi-level wildcard -----

    #[test]
    fn spec_multi_level_wildcard() {
        assert!(m("sport/tennis/player1/#", "sport/tennis/player1"));
        assert!(m("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
        assert!(m(
            "sport/tennis/player1/#",
            "sport/tennis/player1/score/wimbledon"
        ));
        assert!(!m("sport/tennis/player1/#", "sport/tennis/player2"));
        assert!(!m("sport/tennis/player1/#", "sport/tennis"));
        assert!(m("sport/#", "sport"));
        assert!(m("sport/#", "sport/"));
        assert!(m("sport/#", "sport/tennis/player1"));
        assert!(!m("sport/#", "sports"));
        assert!(m("#", "sport"));
        assert!(m("#", "/"));
        assert!(m("#", "a/b/c"));
        filter_err("sport/tennis#");
        filter_err("sport/tennis/#/ranking");
    }

    // ----- MQTT 3.1.1 §4.7.1.3 single-level wildcard -----

    #[test]
    fn spec_single_level_wildcard() {
        assert!(m("sport/tennis/*", "sport/tennis/player1"));
        assert!(m("sport/tennis/*", "sport/tennis/player2"));
        assert!(!m("sport/tennis/*", "sport/tennis/player1/ranking"));
        assert!(m("sport/*", "sport/"));
        assert!(!m("sport/*", "sport"));
        // Valid filters from the spec.
        for ok in ["*", "*/tennis/#", "sport/*/player1"] {
            f(ok);
        }
        filter_err("sport*");
        assert!(m("*/*", "/finance"));
        assert!(m("/*", "/finance"));
        assert!(!m("*", "/finance"));
        assert!(m("*/tennis/#", "sport/tennis/player1"));
        assert!(m("sport/*/player1", "sport/tennis/player1"));
        assert!(!m("sport/*/player1", "sport/tennis/player2"));
    }

    // ----- MQTT 3.1.1 §4.7.2 topics beginning with $ -----

    #[test]
    fn spec_dollar_topics() {
        assert!(!m("#", "$SYS/x"));
        assert!(!m("#", "$SYS"));
        assert!(!m("*", "$SYS"));
        assert!(!m("*/x", "$SYS/x"));
        assert!(!m("*/monitor/Clients", "$SYS/monitor/Clients"));
        assert!(m("$SYS/#", "$SYS/x"));
        assert!(m("$SYS/#", "$SYS"));
        assert!(m("$SYS/monitor/*", "$SYS/monitor/Clients"));
        assert!(m("$SYS/monitor/Clients", "$SYS/monitor/Clients"));
        // Only the first level is special.
        assert!(m("a/#", "a/$SYS"));
        assert!(m("a/*", "a/$SYS"));
        assert!(m("#", "a$"));
        assert!(m("*", "a$"));
    }

    // ----- MQTT 3.1.1 §4.7.3 topic semantics -----

    #[test]
    fn spec_topic_semantics() {
        // Case sensitivity.
        assert!(!m("ACCOUNTS", "Accounts"));
        assert!(!m("Accounts", "ACCOUNTS"));
        assert!(m("Accounts", "Accounts"));
        // "/" is a valid topic with two empty levels.
        let slash = t("/");
        assert_eq!(slash.levels().collect::<Vec<_>>(), vec!["", ""]);
        assert!(m("/", "/"));
        assert!(m("*/*", "/"));
        assert!(m("*/#", "/"));
        assert!(!m("*", "/"));
        assert!(m("/#", "/"));
        // Empty levels.
        assert!(m("a/*/b", "a//b"));
        assert!(m("a//b", "a//b"));
        assert!(!m("a/b", "a//b"));
        assert!(!m("a//b", "a/b"));
        // Leading slash is a distinct level.
        assert!(!m("finance", "/finance"));
        assert!(!m("/finance", "finance"));
        assert!(m("/finance", "/finance"));
        // Spaces are allowed.
        assert!(m("a b/*", "a b/c d"));
        // Trailing empty level.
        assert!(m("a/*", "a/"));
        assert!(!m("a", "a/"));
        assert!(!m("a/", "a"));
        assert!(m("a/#", "a/"));
        // Unicode levels.
        assert!(m("über/*", "über/straße"));
        assert!(!m("über/*", "uber/x"));
    }

    #[test]
    fn prefix_and_length_mismatches() {
        assert!(!m("abc", "ab"));
        assert!(!m("ab", "abc"));
        assert!(!m("a/bc", "a/b"));
        assert!(!m("a/b", "a/bc"));
        assert!(!m("a/b/c", "a/b"));
        assert!(!m("a/b", "a/b/c"));
        assert!(!m("*/*/*", "a/b"));
        assert!(!m("a/*", "a/b/c"));
        assert!(m("*/b/#", "x/b"));
        assert!(m("*/b/#", "x/b/c/d"));
        assert!(!m("*/b/#", "x/c/d"));
    }

    // ----- invalid forms -----

    #[test]
    fn invalid_filters() {
        for bad in [
            "",
            "a*",
            "*a",
            "a#",
            "#a",
            "a/#/b",
            "#/a",
            "#/#",
            "a/**",
            "a/##",
            "sport/tennis#",
            "sport/tennis/#/ranking",
            "a/b*c",
            "a/b#c",
            "*#",
            "#*",
        ] {
            let msg = filter_err(bad);
            assert!(!msg.is_empty());
        }
        assert!(filter_err("").contains("empty"));
        assert!(filter_err("a/#/b").contains("last level"));
        assert!(filter_err("a/b*c").contains("level 2"));
    }

    #[test]
    fn valid_filters() {
        for ok in [
            "#", "*", "/", "//", "/#", "*/#", "*/*", "a//b", "a/", "$SYS/#", "a/*/b/#", "*/*/*",
        ] {
            let fl = f(ok);
            assert_eq!(fl.as_str(), ok);
            assert_eq!(fl.has_wildcards(), ok.contains(['*', '#']));
        }
    }

    #[test]
    fn invalid_topics() {
        assert!(topic_err("").contains("empty"));
        for bad in [
            "*", "#", "a/*", "a/#", "a*", "a#", "a/b*c", "a/b#c", "#/a", "*/a",
        ] {
            assert!(topic_err(bad).contains("wildcard"), "{bad:?}");
        }
        assert_eq!(
            topic_err("a/b*c"),
            "topic must not contain wildcard '*' (level 2)"
        );
        assert_eq!(
            topic_err("x/y/z#"),
            "topic must not contain wildcard '#' (level 3)"
        );
    }

    #[test]
    fn nul_bytes_rejected() {
        assert!(topic_err("a\0b").contains("NUL"));
        assert!(topic_err("\0").contains("NUL"));
        assert!(filter_err("a/\0").contains("NUL"));
        assert!(filter_err("\0/#").contains("NUL"));
        assert!(Topic::from_bytes(b"a\0", 16).is_err());
        assert!(Filter::from_bytes(b"#\0", 16).is_err());
    }

    #[test]
    fn non_utf8_rejected() {
        let bad: &[u8] = &[b'a', b'/', 0xff, 0xfe];
        match Topic::from_bytes(bad, 256) {
            Err(Error::InvalidTopic(msg)) => assert!(msg.contains("UTF-8")),
            other => panic!("expected InvalidTopic, got {other:?}"),
        }
        match Filter::from_bytes(bad, 256) {
            Err(Error::InvalidFilter(msg)) => assert!(msg.contains("UTF-8")),
            other => panic!("expected InvalidFilter, got {other:?}"),
        }
        // Truncated multi-byte sequence.
        assert!(Topic::from_bytes(&[0xc3], 256).is_err());
        // Valid UTF-8 bytes are accepted.
        assert_eq!(Topic::from_bytes("ä/b".as_bytes(), 256).unwrap(), "ä/b");
        assert_eq!(Filter::from_bytes(b"a/*", 256).unwrap(), "a/*");
    }

    #[test]
    fn max_length_boundary() {
        let exact = "a".repeat(DEFAULT_MAX_TOPIC_LEN);
        let over = "a".repeat(DEFAULT_MAX_TOPIC_LEN + 1);
        assert_eq!(Topic::new(&exact).unwrap().len(), DEFAULT_MAX_TOPIC_LEN);
        assert_eq!(
            topic_err(&over),
            format!("topic exceeds 256 bytes (got 257)")
        );
        assert_eq!(Filter::new(&exact).unwrap().len(), DEFAULT_MAX_TOPIC_LEN);
        assert!(filter_err(&over).contains("exceeds 256 bytes"));

        // Custom limit, counted in bytes (not chars).
        assert!(Topic::with_max_len("abcd", 4).is_ok());
        assert!(Topic::with_max_len("abcde", 4).is_err());
        assert!(Topic::with_max_len("ää", 4).is_ok());
        assert!(Topic::with_max_len("äää", 4).is_err());
        assert!(Filter::with_max_len("a/#", 3).is_ok());
        assert!(Filter::with_max_len("a/b/#", 4).is_err());
        assert!(Topic::from_bytes(b"abc", 3).is_ok());
        assert!(Topic::from_bytes(b"abcd", 3).is_err());
        assert!(Filter::from_bytes(b"a/*", 3).is_ok());
        assert!(Filter::from_bytes(b"a/*/", 3).is_err());
        assert!(validate_topic("abc", 3).is_ok());
        assert!(validate_topic("abcd", 3).is_err());
        assert!(validate_filter("a/#", 3).is_ok());
        assert!(validate_filter("a//#", 3).is_err());
    }

    #[test]
    fn conversions_and_traits() {
        let tp: Topic = "/a/b".parse().unwrap();
        assert_eq!(format!("{tp}"), "/a/b");
        assert_eq!(format!("{tp:?}"), "Topic(\"/a/b\")");
        assert_eq!(tp.as_ref() as &str, "/a/b");
        assert_eq!(tp, "/a/b");
        assert!(tp == *"/a/b");
        assert_eq!(tp.len(), 4);
        assert!(!tp.is_empty());
        assert_eq!(tp.levels().collect::<Vec<_>>(), vec!["", "a", "b"]);
        assert_eq!(Topic::try_from("/a/b").unwrap(), tp);
        assert_eq!(Topic::try_from(String::from("/a/b")).unwrap(), tp);
        assert!(Topic::try_from("a/#").is_err());
        assert!("a/*".parse::<Topic>().is_err());
        assert!(t("a") < t("b"));

        let fl: Filter = "a/*/#".parse().unwrap();
        assert_eq!(format!("{fl}"), "a/*/#");
        assert_eq!(format!("{fl:?}"), "Filter(\"a/*/#\")");
        assert_eq!(fl, "a/*/#");
        assert!(fl.has_wildcards());
        assert!(!f("a/b").has_wildcards());
        assert_eq!(Filter::try_from("a/*/#").unwrap(), fl);
        assert_eq!(Filter::try_from(String::from("a/*/#")).unwrap(), fl);
        assert!(Filter::try_from("a#").is_err());
        assert_eq!(fl.levels().collect::<Vec<_>>(), vec!["a", "*", "#"]);

        let cloned = tp.clone();
        assert_eq!(cloned, tp);
        let mut set = std::collections::HashSet::new();
        set.insert(tp);
        assert!(set.contains("/a/b"));
    }

    // ----- differential test against the reference matcher -----

    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn gen_path(rng: &mut Lcg, alphabet: &[&str]) -> String {
        let n = 1 + rng.below(5);
        (0..n)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect::<Vec<_>>()
            .join("/")
    }

    #[test]
    fn differential_against_reference() {
        const FILTER_ALPHA: &[&str] = &["", "a", "b", "$x", "*", "#"];
        const TOPIC_ALPHA: &[&str] = &["", "a", "b", "$x"];
        let mut rng = Lcg(0x5eed_1234_abcd_0001);
        let mut compared = 0;
        let mut matched = 0;
        let mut invalid_filters = 0;
        while compared < 5000 {
            let filter = gen_path(&mut rng, FILTER_ALPHA);
            let topic = gen_path(&mut rng, TOPIC_ALPHA);

            let filter_ok = validate_filter(&filter, DEFAULT_MAX_TOPIC_LEN).is_ok();
            assert_eq!(
                filter_ok,
                reference_filter_valid(&filter),
                "filter {filter:?}"
            );
            let topic_ok = validate_topic(&topic, DEFAULT_MAX_TOPIC_LEN).is_ok();
            assert_eq!(topic_ok, !topic.is_empty(), "topic {topic:?}");
            // Every filter is also a candidate topic iff it has no wildcard.
            assert_eq!(
                validate_topic(&filter, DEFAULT_MAX_TOPIC_LEN).is_ok(),
                !filter.is_empty() && !filter.contains(['*', '#']),
                "filter-as-topic {filter:?}"
            );
            if !filter_ok {
                invalid_filters += 1;
                continue;
            }
            if !topic_ok {
                continue;
            }
            let got = matches(&filter, &topic);
            let want = reference_matches(&filter, &topic);
            assert_eq!(got, want, "filter {filter:?} topic {topic:?}");
            if got {
                matched += 1;
            }
            compared += 1;
        }
        // Make sure the generator exercises both outcomes and invalid filters.
        assert!(matched > 300, "only {matched} matches");
        assert!(compared - matched > 300);
        assert!(invalid_filters > 100);
    }

    #[test]
    fn differential_exhaustive_small() {
        // Every filter and topic of up to 3 levels over the alphabets.
        const FILTER_ALPHA: &[&str] = &["", "a", "$x", "*", "#"];
        const TOPIC_ALPHA: &[&str] = &["", "a", "$x"];
        fn all(alpha: &[&str], max_levels: usize) -> Vec<String> {
            let mut out: Vec<Vec<&str>> = alpha.iter().map(|l| vec![*l]).collect();
            let mut frontier = out.clone();
            for _ in 1..max_levels {
                let mut next = Vec::new();
                for p in &frontier {
                    for l in alpha {
                        let mut q = p.clone();
                        q.push(l);
                        next.push(q);
                    }
                }
                out.extend(next.iter().cloned());
                frontier = next;
            }
            out.into_iter().map(|v| v.join("/")).collect()
        }
        let filters: Vec<String> = all(FILTER_ALPHA, 3)
            .into_iter()
            .filter(|s| validate_filter(s, 64).is_ok())
            .collect();
        let topics: Vec<String> = all(TOPIC_ALPHA, 4)
            .into_iter()
            .filter(|s| validate_topic(s, 64).is_ok())
            .collect();
        let mut n = 0;
        for fl in &filters {
            for tp in &topics {
                assert_eq!(
                    matches(fl, tp),
                    reference_matches(fl, tp),
                    "{fl:?} vs {tp:?}"
                );
                n += 1;
            }
        }
        assert!(n > 1000);
    }

    #[test]
    fn unvalidated_input_does_not_panic() {
        for fl in ["", "a#", "#/a", "**", "a/*b", "/", "#", "*"] {
            for tp in ["", "/", "a", "a/#", "*", "$"] {
                let _ = matches(fl, tp);
            }
        }
    }
}
