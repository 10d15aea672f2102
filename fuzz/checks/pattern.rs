//! Input: `PATTERN\0TOPIC\0TOPIC...` (lossy UTF-8). `Pattern::parse` never panics; a parsed
//! pattern's filter is a valid MQTT filter that parses to the same matcher; and for every valid
//! topic, `name` matches exactly when a reference MQTT matcher says the filter matches, and
//! gives the SPEC's name (the wildcard levels joined by `/`; the whole topic when that is empty).

use mqtt_scan::status::Pattern;

/// MQTT 3.1.1 section 4.7 matching, plus the levels the wildcards matched; None: no match.
fn reference(filter: &str, topic: &str) -> Option<Vec<String>> {
    let f: Vec<&str> = filter.split('/').collect();
    let t: Vec<&str> = topic.split('/').collect();
    // 4.7.2: a filter starting with a wildcard does not match a topic starting with `$`.
    if topic.starts_with('$') && matches!(f[0], "+" | "#") {
        return None;
    }
    let mut captured = Vec::new();
    for (i, level) in f.iter().enumerate() {
        match *level {
            "#" => {
                // The parent level too: `a/#` matches `a`.
                if i < t.len() {
                    captured.push(t[i..].join("/"));
                }
                return Some(captured);
            }
            "+" => captured.push((*t.get(i)?).to_owned()),
            lit => {
                if *t.get(i)? != lit {
                    return None;
                }
            }
        }
    }
    (f.len() == t.len()).then_some(captured)
}

fn valid_filter(filter: &str) -> bool {
    let levels: Vec<&str> = filter.split('/').collect();
    !filter.is_empty()
        && !filter.contains('\0')
        && levels.iter().enumerate().all(|(i, l)| match *l {
            "+" => true,
            "#" => i + 1 == levels.len(),
            l => !l.contains(['+', '#']),
        })
}

/// A topic a broker could deliver: non-empty, no wildcard, no NUL (MQTT 4.7.3).
fn valid_topic(topic: &str) -> bool {
    !topic.is_empty() && !topic.contains(['+', '#', '\0'])
}

/// The target's whole check, for the fuzzer and for `tests/fuzz_regressions.rs`.
pub fn check_input(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let mut parts = text.split('\0');
    let pattern_text = parts.next().unwrap_or_default();
    let topics: Vec<&str> = parts.collect();

    let pattern = match Pattern::parse(pattern_text) {
        Ok(p) => p,
        Err(e) => {
            let e = e.to_string();
            assert!(e.starts_with("invalid topic pattern"), "{e}");
            // The pattern is quoted escaped: no raw control character reaches the terminal.
            assert!(!e.chars().any(char::is_control), "{e:?}");
            return;
        }
    };
    let filter = pattern.filter();
    assert!(
        valid_filter(filter),
        "invalid filter {filter:?} from {pattern_text:?}"
    );
    assert_eq!(pattern.to_string(), filter);
    assert_eq!(
        filter,
        pattern_text
            .split('/')
            .map(|l| if l == "{name}" { "+" } else { l })
            .collect::<Vec<_>>()
            .join("/"),
        "the filter is the pattern with {{name}} as +"
    );
    let reparsed = Pattern::parse(filter).expect("a pattern's filter parses");
    assert_eq!(reparsed.filter(), filter);

    // The pattern's own filter as a topic, and the topic with wildcards filled in.
    let filled = filter.replace(['+', '#'], "x");
    for topic in topics.iter().copied().chain([filter, filled.as_str()]) {
        let name = pattern.name(topic);
        assert_eq!(name, reparsed.name(topic), "the filter names differently");
        if !valid_topic(topic) {
            continue;
        }
        match (name, reference(filter, topic)) {
            (None, None) => {}
            (Some(name), Some(levels)) => {
                let joined = levels.join("/");
                let want = if joined.is_empty() {
                    topic
                } else {
                    joined.as_str()
                };
                assert_eq!(name, want, "name of {topic:?} under {filter:?}");
                assert!(!name.is_empty());
            }
            (got, want) => {
                panic!("{filter:?} on {topic:?}: name {got:?}, reference matcher {want:?}")
            }
        }
    }
}
