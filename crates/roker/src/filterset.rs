//! A set of subscription filters matched against topics through a trie: one walk per topic
//! visits only the branches the topic's levels select, instead of testing every filter.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::topic::{self, DEFAULT_MAX_TOPIC_LEN};

#[derive(Default, Debug)]
struct Node {
    /// Exact next levels.
    children: HashMap<Box<str>, Node>,
    /// The `*` branch.
    star: Option<Box<Node>>,
    /// Filters ending here (`a/b`).
    ends: Vec<u32>,
    /// Filters ending in `#` after this node (`a/b/#`): they match here and everything below.
    hash: Vec<u32>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.children.is_empty()
            && self.star.is_none()
            && self.ends.is_empty()
            && self.hash.is_empty()
    }
}

/// A set of MQTT-style filters (`*` one level, `#` any number of levels), each with an id,
/// matched against topics with the same rules as [`topic::matches`].
///
/// ```
/// use roker::FilterSet;
/// let mut set = FilterSet::new();
/// let a = set.insert("/sensors/*/temperature").unwrap();
/// let b = set.insert("/sensors/#").unwrap();
/// let mut hits = set.matches("/sensors/kitchen/temperature").unwrap();
/// hits.sort();
/// assert_eq!(hits, [a, b]);
/// ```
#[derive(Debug)]
pub struct FilterSet {
    root: Node,
    filters: HashMap<u32, Box<str>>,
    next_id: u32,
    max_len: usize,
}

impl Default for FilterSet {
    fn default() -> Self {
        FilterSet::new()
    }
}

impl FilterSet {
    /// An empty set accepting filters of up to 256 bytes.
    pub fn new() -> FilterSet {
        FilterSet::with_max_len(DEFAULT_MAX_TOPIC_LEN)
    }

    /// An empty set accepting filters and topics of up to `max_len` bytes.
    pub fn with_max_len(max_len: usize) -> FilterSet {
        FilterSet {
            root: Node::default(),
            filters: HashMap::new(),
            next_id: 0,
            max_len,
        }
    }

    /// Number of filters in the set.
    pub fn len(&self) -> usize {
        self.filters.len()
    }

    /// Whether the set holds no filter.
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }

    /// The filter with this id, if present.
    pub fn get(&self, id: u32) -> Option<&str> {
        self.filters.get(&id).map(|f| &**f)
    }

    /// Adds a filter (validated; [`Error::InvalidFilter`] otherwise) and returns its id.
    /// The same filter added twice gets two ids.
    pub fn insert(&mut self, filter: &str) -> Result<u32> {
        topic::validate_filter(filter, self.max_len)?;
        let id = self.next_id;
        self.next_id = self
            .next_id
            .checked_add(1)
            .ok_or_else(|| Error::InvalidFilter("filter id space exhausted".into()))?;
        let mut node = &mut self.root;
        for level in filter.split('/') {
            match level {
                "#" => {
                    node.hash.push(id);
                    self.filters.insert(id, filter.into());
                    return Ok(id);
                }
                "*" => node = node.star.get_or_insert_with(Default::default),
                _ => node = node.children.entry(level.into()).or_default(),
            }
        }
        node.ends.push(id);
        self.filters.insert(id, filter.into());
        Ok(id)
    }

    /// Removes the filter with this id; returns whether it was present.
    pub fn remove(&mut self, id: u32) -> bool {
        let Some(filter) = self.filters.remove(&id) else {
            return false;
        };
        let levels: Vec<&str> = filter.split('/').collect();
        remove_path(&mut self.root, &levels, id);
        true
    }

    /// Ids of every filter matching `topic` (validated; [`Error::InvalidTopic`] otherwise).
    pub fn matches(&self, topic: &str) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        self.matches_into(topic, &mut out)?;
        Ok(out)
    }

    /// Appends the ids of every filter matching `topic` to `out`, without other allocation.
    pub fn matches_into(&self, topic: &str, out: &mut Vec<u32>) -> Result<()> {
        topic::validate_topic(topic, self.max_len)?;
        // Filters starting with a wildcard do not match topics whose first level starts
        // with `$` (MQTT 3.1.1 §4.7.2).
        let dollar = topic.starts_with('$');
        walk(&self.root, Some(topic), true, dollar, out);
        Ok(())
    }
}

/// Matches the remaining `rest` of a topic (None once all levels are consumed) below `node`.
fn walk(node: &Node, rest: Option<&str>, at_root: bool, dollar: bool, out: &mut Vec<u32>) {
    let wild_ok = !(at_root && dollar);
    if wild_ok {
        // `#` matches this level and everything below, including nothing (`a/#` ~ `a`).
        out.extend_from_slice(&node.hash);
    }
    let Some(rest) = rest else {
        out.extend_from_slice(&node.ends);
        return;
    };
    let (level, next) = match rest.split_once('/') {
        Some((l, n)) => (l, Some(n)),
        None => (rest, None),
    };
    if let Some(child) = node.children.get(level) {
        walk(child, next, false, dollar, out);
    }
    if wild_ok {
        if let Some(star) = &node.star {
            walk(star, next, false, dollar, out);
        }
    }
}

/// Removes `id` along `levels`, pruning nodes left empty. Returns whether `node` is empty.
fn remove_path(node: &mut Node, levels: &[&str], id: u32) -> bool {
    match levels.split_first() {
        None => node.ends.retain(|&x| x != id),
        Some((&"#", _)) => node.hash.retain(|&x| x != id),
        Some((&"*", rest)) => {
            if let Some(star) = node.star.as_mut() {
                if remove_path(star, rest, id) {
                    node.star = None;
                }
            }
        }
        Some((level, rest)) => {
            if let Some(child) = node.children.get_mut(*level) {
                if remove_path(child, rest, id) {
                    node.children.remove(*level);
                }
            }
        }
    }
    node.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(mut v: Vec<u32>) -> Vec<u32> {
        v.sort_unstable();
        v
    }

    #[test]
    fn matches_like_the_single_filter_matcher() {
        // Every filter and topic over a small alphabet of levels, against `topic::matches`.
        let levels = ["", "a", "b", "$x", "*", "#"];
        let mut filters = vec![];
        let mut topics = vec![];
        for n in 1..=3usize {
            let mut idx = vec![0usize; n];
            loop {
                let s: Vec<&str> = idx.iter().map(|&i| levels[i]).collect();
                let s = s.join("/");
                if topic::validate_filter(&s, 64).is_ok() {
                    filters.push(s.clone());
                }
                if topic::validate_topic(&s, 64).is_ok() {
                    topics.push(s);
                }
                let mut k = 0;
                while k < n {
                    idx[k] += 1;
                    if idx[k] < levels.len() {
                        break;
                    }
                    idx[k] = 0;
                    k += 1;
                }
                if k == n {
                    break;
                }
            }
        }
        let mut set = FilterSet::new();
        let ids: Vec<u32> = filters.iter().map(|f| set.insert(f).unwrap()).collect();
        assert!(filters.len() > 100 && topics.len() > 20);
        for t in &topics {
            let expect: Vec<u32> = filters
                .iter()
                .zip(&ids)
                .filter(|(f, _)| topic::matches(f, t))
                .map(|(_, &id)| id)
                .collect();
            assert_eq!(sorted(set.matches(t).unwrap()), expect, "topic {t:?}");
        }
        // Remove every other filter and check again (pruned trie still right).
        for (i, &id) in ids.iter().enumerate() {
            if i % 2 == 0 {
                assert!(set.remove(id));
                assert!(!set.remove(id));
            }
        }
        for t in &topics {
            let expect: Vec<u32> = filters
                .iter()
                .zip(&ids)
                .enumerate()
                .filter(|(i, (f, _))| i % 2 == 1 && topic::matches(f, t))
                .map(|(_, (_, &id))| id)
                .collect();
            assert_eq!(
                sorted(set.matches(t).unwrap()),
                expect,
                "topic {t:?} after removals"
            );
        }
    }

    #[test]
    fn mqtt_examples_and_errors() {
        let mut set = FilterSet::new();
        let tennis = set.insert("sport/tennis/player1/#").unwrap();
        let sport = set.insert("sport/#").unwrap();
        let plus = set.insert("sport/*").unwrap();
        let all = set.insert("#").unwrap();
        let sys = set.insert("$SYS/#").unwrap();
        assert_eq!(
            sorted(set.matches("sport/tennis/player1").unwrap()),
            [tennis, sport, all]
        );
        assert_eq!(sorted(set.matches("sport").unwrap()), [sport, all]);
        assert_eq!(sorted(set.matches("sport/").unwrap()), [sport, plus, all]);
        assert_eq!(set.matches("$SYS/x").unwrap(), [sys]);
        assert_eq!(set.insert("a/#/b").unwrap_err().code(), "InvalidFilter");
        assert_eq!(set.matches("a/*").unwrap_err().code(), "InvalidTopic");
        assert_eq!(set.len(), 5);
        assert_eq!(set.get(plus), Some("sport/*"));
        assert!(set.remove(all));
        assert_eq!(set.matches("other").unwrap(), Vec::<u32>::new());
    }
}
