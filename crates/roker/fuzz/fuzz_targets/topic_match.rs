//! Differential fuzzing of topic/filter validation and matching against a small,
//! obviously-correct reference written from the rules in `roker::topic`'s module docs.
//!
//! Input: `filter bytes 0xFF topic bytes` (0xFF never occurs in UTF-8, so the split is
//! unambiguous for valid strings). Without a 0xFF byte the whole input is used as both.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roker::topic::{matches, validate_filter, validate_topic};
use roker::{Error, Filter, Topic};

/// Small maximum length, so the length limit is hit often.
const MAX: usize = 64;

// ----- reference -----------------------------------------------------------------------

fn ref_topic_valid(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && !s.contains(['\0', '*', '#'])
}

fn ref_filter_valid(s: &str, max: usize) -> bool {
    if s.is_empty() || s.len() > max || s.contains('\0') {
        return false;
    }
    let levels: Vec<&str> = s.split('/').collect();
    let last = levels.len() - 1;
    levels.iter().enumerate().all(|(i, l)| match *l {
        "*" => true,
        "#" => i == last,
        _ => !l.contains(['*', '#']),
    })
}

fn ref_levels(f: &[&str], t: &[&str]) -> bool {
    match f.split_first() {
        // Filter exhausted: match iff the topic is too.
        None => t.is_empty(),
        // `#` matches zero or more remaining levels.
        Some((&"#", _)) => true,
        // `*` matches exactly one level (possibly empty).
        Some((&"*", rest)) => !t.is_empty() && ref_levels(rest, &t[1..]),
        Some((lit, rest)) => t.first() == Some(lit) && ref_levels(rest, &t[1..]),
    }
}

fn ref_matches(filter: &str, topic: &str) -> bool {
    let f: Vec<&str> = filter.split('/').collect();
    let t: Vec<&str> = topic.split('/').collect();
    if t[0].starts_with('$') && (f[0] == "*" || f[0] == "#") {
        return false;
    }
    ref_levels(&f, &t)
}

// ----- target --------------------------------------------------------------------------

fn check(fb: &[u8], tb: &[u8]) {
    let fs = std::str::from_utf8(fb).ok();
    let ts = std::str::from_utf8(tb).ok();

    // from_bytes agrees with UTF-8 validity plus the reference validator.
    let fobj = Filter::from_bytes(fb, MAX);
    let tobj = Topic::from_bytes(tb, MAX);
    let want_f = fs.is_some_and(|s| ref_filter_valid(s, MAX));
    let want_t = ts.is_some_and(|s| ref_topic_valid(s, MAX));
    assert_eq!(fobj.is_ok(), want_f, "Filter::from_bytes({fb:?})");
    assert_eq!(tobj.is_ok(), want_t, "Topic::from_bytes({tb:?})");
    if let Err(e) = &fobj {
        assert!(matches!(e, Error::InvalidFilter(m) if !m.is_empty()), "{e:?}");
    }
    if let Err(e) = &tobj {
        assert!(matches!(e, Error::InvalidTopic(m) if !m.is_empty()), "{e:?}");
    }

    if let Some(f) = fs {
        assert_eq!(validate_filter(f, MAX).is_ok(), ref_filter_valid(f, MAX), "{f:?}");
        // Unbounded length: only the structural rules apply.
        assert_eq!(
            validate_filter(f, usize::MAX).is_ok(),
            ref_filter_valid(f, usize::MAX),
            "{f:?}"
        );
        // A filter string is also a candidate topic.
        assert_eq!(validate_topic(f, MAX).is_ok(), ref_topic_valid(f, MAX), "{f:?}");
    }
    if let Some(t) = ts {
        assert_eq!(validate_topic(t, MAX).is_ok(), ref_topic_valid(t, MAX), "{t:?}");
        assert_eq!(validate_filter(t, MAX).is_ok(), ref_filter_valid(t, MAX), "{t:?}");
    }

    match (&fobj, &tobj) {
        (Ok(f), Ok(t)) => {
            let want = ref_matches(f.as_str(), t.as_str());
            assert_eq!(matches(f.as_str(), t.as_str()), want, "{f:?} vs {t:?}");
            assert_eq!(f.matches(t), want, "{f:?} vs {t:?}");
            // A wildcard-free filter matches exactly the identical topic.
            if !f.has_wildcards() {
                assert_eq!(want, f.as_str() == t.as_str());
            }
            // Every valid topic is matched by itself used as a filter.
            assert!(matches(t.as_str(), t.as_str()), "{t:?}");
            // `#` matches every non-`$` topic.
            assert_eq!(matches("#", t.as_str()), !t.as_str().starts_with('$'));
        }
        _ => {
            // Unvalidated input: the result is unspecified but it must not panic.
            let f = String::from_utf8_lossy(fb);
            let t = String::from_utf8_lossy(tb);
            let _ = matches(&f, &t);
            let _ = matches(&t, &f);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    match data.iter().position(|&b| b == 0xff) {
        Some(i) => check(&data[..i], &data[i + 1..]),
        None => check(data, data),
    }
});
