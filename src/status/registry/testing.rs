//! For tests across the crate: tables of presets, and Sparkplug certificates.

use super::Source;
use crate::status::presets;

/// The sources of these presets, every topic of each.
pub(crate) fn preset_sources(names: &[&str]) -> Vec<Source> {
    let mut sources = Vec::new();
    for name in names {
        let p = presets::find(name).unwrap();
        for topic in p.topics {
            sources.push(Source::preset(topic, p.name.into()).unwrap());
        }
    }
    sources
}

/// A Sparkplug birth or death certificate with this bdSeq.
pub(crate) fn cert(bd: u64) -> Vec<u8> {
    crate::status::sparkplug::encode(&crate::status::sparkplug::Certificate {
        timestamp: Some(1_795_000_000_000),
        seq: Some(0),
        bd_seq: Some(bd),
    })
}
