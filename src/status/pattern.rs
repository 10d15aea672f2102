//! Status topic patterns: an MQTT filter (`sensors/connected/#`) or a template with
//! `{name}` (`tele/{name}/LWT`). Each gives the filter to subscribe to and the client name
//! a matching topic stands for: the levels the wildcards matched, joined by `/`.

use std::borrow::Cow;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Level {
    Literal(String),
    /// `+` or `{name}`: exactly one level.
    One,
    /// `#`: the rest, zero or more levels.
    Rest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    filter: String,
    levels: Vec<Level>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError(String);

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PatternError {}

impl Pattern {
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let bad = |why: &str| {
            PatternError(format!(
                "invalid topic pattern '{}': {why}",
                super::escape(text)
            ))
        };
        if text.is_empty() {
            return Err(bad("it is empty"));
        }
        if text.contains('\0') {
            return Err(bad("it contains a NUL character"));
        }
        let parts: Vec<&str> = text.split('/').collect();
        if parts.iter().filter(|p| **p == "{name}").count() > 1 {
            // Which of the two would be the name? Joining both would surprise anyone.
            return Err(bad(
                "'{name}' may appear only once (use + for the other wildcard levels, as in +/{name}/LWT)",
            ));
        }
        let mut levels = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let level = match *part {
                "+" | "{name}" => Level::One,
                "#" if i + 1 == parts.len() => Level::Rest,
                "#" => return Err(bad("'#' must be the last level")),
                p if p.contains('#') || p.contains('+') => {
                    return Err(bad("'+' and '#' must stand alone in their level"))
                }
                p if p.contains("{name}") => {
                    return Err(bad(
                        "'{name}' must stand alone in its level, as in tele/{name}/LWT",
                    ))
                }
                p => Level::Literal(p.to_owned()),
            };
            levels.push(level);
        }
        let filter = parts
            .iter()
            .map(|p| if *p == "{name}" { "+" } else { p })
            .collect::<Vec<_>>()
            .join("/");
        Ok(Self { filter, levels })
    }

    /// The MQTT filter to subscribe to (`{name}` becomes `+`).
    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// Whether the filter holds a wildcard (a template's `{name}` is one).
    pub fn has_wildcard(&self) -> bool {
        self.levels.iter().any(|l| !matches!(l, Level::Literal(_)))
    }

    /// The one topic that stands for client `name` (the inverse of [`Pattern::name`]): the
    /// name's levels fill the wildcards in order, `#` taking the rest. `None` when the
    /// name does not fit (too few or too many levels) or holds a wildcard character.
    pub fn topic_for(&self, name: &str) -> Option<String> {
        if name.is_empty() || name.contains(['+', '#', '\0']) {
            return None;
        }
        let mut parts = name.split('/');
        let mut levels = Vec::with_capacity(self.levels.len());
        for level in &self.levels {
            match level {
                Level::Literal(l) => levels.push(l.as_str()),
                Level::One => levels.push(parts.next()?),
                Level::Rest => {
                    levels.extend(parts.by_ref());
                    break;
                }
            }
        }
        if parts.next().is_some() {
            return None;
        }
        let topic = levels.join("/");
        (self.name(&topic).as_deref() == Some(name)).then_some(topic)
    }

    /// The client name `topic` stands for, or `None` when the topic does not match.
    /// Borrows from `topic` when the matched levels are contiguous (nearly always).
    pub fn name<'t>(&self, topic: &'t str) -> Option<Cow<'t, str>> {
        // MQTT: a filter starting with a wildcard does not match `$` topics.
        if topic.starts_with('$') && !matches!(self.levels.first(), Some(Level::Literal(_))) {
            return None;
        }
        let mut spans: [(usize, usize); 4] = [(0, 0); 4];
        let mut extra: Vec<(usize, usize)> = Vec::new();
        let mut count = 0usize;
        let mut push = |span: (usize, usize), count: &mut usize| {
            if *count < spans.len() {
                spans[*count] = span;
            } else {
                extra.push(span);
            }
            *count += 1;
        };
        let mut pos = 0usize;
        let mut rest = Some(topic);
        for level in &self.levels {
            match level {
                Level::Rest => {
                    if let Some(r) = rest {
                        push((pos, pos + r.len()), &mut count);
                    }
                    return Some(Self::join(topic, &spans, &extra, count));
                }
                Level::Literal(l) => {
                    // No search for the separator: the literal says where it must be.
                    let r = rest?;
                    let after = r.strip_prefix(l.as_str())?;
                    rest = match after.as_bytes().first() {
                        None => None,
                        Some(b'/') => Some(&after[1..]),
                        Some(_) => return None,
                    };
                    pos += l.len() + 1;
                }
                Level::One => {
                    let r = rest?;
                    let (head, tail) = match r.find('/') {
                        Some(i) => (&r[..i], Some(&r[i + 1..])),
                        None => (r, None),
                    };
                    push((pos, pos + head.len()), &mut count);
                    pos += head.len() + 1;
                    rest = tail;
                }
            }
        }
        if rest.is_some() {
            return None;
        }
        Some(Self::join(topic, &spans, &extra, count))
    }

    /// The level the `i`th single-level wildcard (from 0) matched, when `topic` matches.
    pub fn wildcard<'t>(&self, topic: &'t str, i: usize) -> Option<&'t str> {
        self.name(topic)?;
        let at = self
            .levels
            .iter()
            .enumerate()
            .filter(|(_, l)| **l == Level::One)
            .nth(i)?
            .0;
        topic.split('/').nth(at).filter(|l| !l.is_empty())
    }

    fn join<'t>(
        topic: &'t str,
        spans: &[(usize, usize); 4],
        extra: &[(usize, usize)],
        count: usize,
    ) -> Cow<'t, str> {
        if count == 0 {
            return Cow::Borrowed(topic);
        }
        let all = spans.iter().take(count).chain(extra.iter());
        let first = spans[0].0;
        let mut end = spans[0].1;
        let mut contiguous = true;
        for &(s, e) in all.clone().skip(1) {
            contiguous &= s == end + 1;
            end = e;
        }
        if contiguous {
            let name = &topic[first..end];
            // `a/#` also matches `a` itself, and `+` an empty level: name such a client by the
            // whole topic rather than "".
            return Cow::Borrowed(if name.is_empty() { topic } else { name });
        }
        let mut out = String::with_capacity(end - first);
        for (i, &(s, e)) in all.enumerate() {
            if i > 0 {
                out.push('/');
            }
            out.push_str(&topic[s..e]);
        }
        Cow::Owned(out)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.filter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(pattern: &str, topic: &str) -> Option<String> {
        Pattern::parse(pattern)
            .unwrap()
            .name(topic)
            .map(Cow::into_owned)
    }

    #[test]
    fn topic_for_inverts_name() {
        let topic = |p: &str, n: &str| Pattern::parse(p).unwrap().topic_for(n);
        assert_eq!(
            topic("sensors/connected/#", "sensor1").as_deref(),
            Some("sensors/connected/sensor1")
        );
        assert_eq!(topic("sensors/#", "a/b").as_deref(), Some("sensors/a/b"));
        assert_eq!(
            topic("tele/{name}/LWT", "plug").as_deref(),
            Some("tele/plug/LWT")
        );
        assert_eq!(
            topic("+/{name}/LWT", "site/plug").as_deref(),
            Some("site/plug/LWT")
        );
        assert_eq!(topic("tele/{name}/LWT", "a/b"), None);
        assert_eq!(topic("+/{name}/LWT", "plug"), None);
        assert_eq!(topic("tele/{name}/LWT", "a+"), None);
        assert_eq!(topic("tele/{name}/LWT", ""), None);
        assert!(!Pattern::parse("a/b").unwrap().has_wildcard());
        assert!(Pattern::parse("a/{name}").unwrap().has_wildcard());
    }

    #[test]
    fn hash_names_by_the_rest_of_the_topic() {
        assert_eq!(
            name("sensors/connected/#", "sensors/connected/sensor1").as_deref(),
            Some("sensor1")
        );
        assert_eq!(
            name("sensors/connected/#", "sensors/connected/a/b").as_deref(),
            Some("a/b")
        );
        assert_eq!(name("sensors/connected/#", "sensors/other/x"), None);
        assert_eq!(
            name("#", "anything/at/all").as_deref(),
            Some("anything/at/all")
        );
    }

    #[test]
    fn plus_names_by_its_level() {
        assert_eq!(
            name("sensors/+/connected", "sensors/s7/connected").as_deref(),
            Some("s7")
        );
        assert_eq!(name("sensors/+/connected", "sensors/s7/x/connected"), None);
        assert_eq!(name("sensors/+/connected", "sensors/s7"), None);
        assert_eq!(
            name("+/status", "kitchen/status").as_deref(),
            Some("kitchen")
        );
    }

    #[test]
    fn separate_wildcards_join_with_a_slash() {
        assert_eq!(
            name("spBv1.0/+/NDEATH/+", "spBv1.0/group/NDEATH/edge").as_deref(),
            Some("group/edge")
        );
        assert_eq!(
            name("spBv1.0/+/DDEATH/+/+", "spBv1.0/g/DDEATH/e/d").as_deref(),
            Some("g/e/d")
        );
        assert_eq!(
            name("+/a/+/b/+/c/+/d/+", "1/a/2/b/3/c/4/d/5").as_deref(),
            Some("1/2/3/4/5")
        );
    }

    #[test]
    fn templates_subscribe_as_plus() {
        let p = Pattern::parse("tele/{name}/LWT").unwrap();
        assert_eq!(p.filter(), "tele/+/LWT");
        assert_eq!(p.name("tele/plug-1/LWT").as_deref(), Some("plug-1"));
        assert_eq!(
            Pattern::parse("homie/{name}/$state")
                .unwrap()
                .name("homie/dev/$state")
                .as_deref(),
            Some("dev")
        );
    }

    #[test]
    fn no_wildcard_names_by_the_whole_topic() {
        assert_eq!(
            name("zigbee2mqtt/bridge/state", "zigbee2mqtt/bridge/state").as_deref(),
            Some("zigbee2mqtt/bridge/state")
        );
        assert_eq!(name("a/b", "a/b/c"), None);
    }

    #[test]
    fn dollar_topics_need_an_explicit_first_level() {
        assert_eq!(name("#", "$SYS/broker/version"), None);
        assert_eq!(name("+/connected", "$CONNECTED/x"), None);
        assert_eq!(
            name("$CONNECTED/#", "$CONNECTED/client-9").as_deref(),
            Some("client-9")
        );
    }

    #[test]
    fn one_wildcard_names_alone() {
        let p = Pattern::parse("$SYS/brokers/+/clients/+/connected").unwrap();
        let topic = "$SYS/brokers/emqx@127.0.0.1/clients/dev-1/connected";
        assert_eq!(p.wildcard(topic, 1), Some("dev-1"));
        assert_eq!(p.wildcard(topic, 0), Some("emqx@127.0.0.1"));
        assert_eq!(p.wildcard(topic, 2), None);
        assert_eq!(p.wildcard("$SYS/brokers/n/clients/a/b/connected", 1), None);
        assert_eq!(p.wildcard("$SYS/brokers/n/clients//connected", 1), None);
    }

    #[test]
    fn empty_levels_are_levels() {
        // An empty name is useless in a table: the whole topic names such a client.
        assert_eq!(name("a/+/b", "a//b").as_deref(), Some("a//b"));
        assert_eq!(name("a/#", "a").as_deref(), Some("a"));
    }

    #[test]
    fn bad_patterns_are_rejected_with_a_reason() {
        for bad in [
            "",
            "a/#/b",
            "a/b#",
            "a+/b",
            "x/pre{name}/y",
            "a/{name}/{name}",
        ] {
            let err = Pattern::parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid topic pattern"), "{bad}: {err}");
        }
    }
}
