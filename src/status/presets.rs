//! The conventions people already run, as data: each preset's status topics, and how a
//! topic's messages are read.

use std::fmt::Write as _;

/// How messages on a preset's topic are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The payload says the state (the vocabulary, or a JSON status object).
    Payload,
    /// Sparkplug B: the topic says the state; the payload is a protobuf certificate.
    NodeBirth,
    NodeDeath,
    DeviceBirth,
    DeviceDeath,
    /// Homie 5 `$description`: not a status, but which device is a device's root.
    HomieDescription,
    /// A broker's event about a client: the topic says the state (`online`: it connected;
    /// else it disconnected); a JSON payload may say when, from where and why.
    Event {
        online: bool,
        fields: &'static EventFields,
    },
}

/// Where a broker's event payload keeps what a row shows: for each, the first present of
/// its keys (a JSON object's fields; a payload that is not one has none).
#[derive(Debug, PartialEq, Eq)]
pub struct EventFields {
    /// When (unix seconds or milliseconds, or RFC 3339).
    pub time: &'static [&'static str],
    /// The client's address (`1.2.3.4`, or a socket address whose port is dropped).
    pub ip: &'static [&'static str],
    /// Why it disconnected: the row's `detail` (else `connected` / `disconnected`).
    pub detail: &'static [&'static str],
}

/// Where a row's name comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// The levels the wildcards matched, joined by `/`: what `-t` patterns do.
    Wildcards,
    /// Only the wildcard at this position (from 0): EMQX's node level is not the name.
    Wildcard(usize),
    /// One name for every topic the pattern matches (Zigbee2MQTT's `bridge`).
    Fixed(&'static str),
    /// The payload's text (aedes publishes the client id alone).
    Payload,
    /// A string field of a JSON payload (NanoMQ's `client_id`).
    Field(&'static str),
}

#[derive(Debug, Clone, Copy)]
pub struct PresetTopic {
    pub pattern: &'static str,
    pub rule: Rule,
    pub name: Naming,
}

#[derive(Debug, Clone, Copy)]
pub struct Preset {
    pub name: &'static str,
    pub about: &'static str,
    pub topics: &'static [PresetTopic],
}

const fn t(pattern: &'static str) -> PresetTopic {
    PresetTopic {
        pattern,
        rule: Rule::Payload,
        name: Naming::Wildcards,
    }
}

const fn r(pattern: &'static str, rule: Rule) -> PresetTopic {
    PresetTopic {
        pattern,
        rule,
        name: Naming::Wildcards,
    }
}

/// A broker's connect (`online`) or disconnect event, named by `name`.
const fn event(
    pattern: &'static str,
    online: bool,
    fields: &'static EventFields,
    name: Naming,
) -> PresetTopic {
    PresetTopic {
        pattern,
        rule: Rule::Event { online, fields },
        name,
    }
}

/// EMQX and RMQTT: `{"clientid":..,"ipaddress":..,"connected_at":ms,..}`, and on
/// disconnect `"disconnected_at"` and `"reason"` (RMQTT's address has a port).
const EMQX_FIELDS: EventFields = EventFields {
    time: &["connected_at", "disconnected_at", "ts"],
    ip: &["ipaddress"],
    detail: &["reason"],
};

/// NanoMQ: `{"client_id":..,"ts":ms,"IPv4":..}`, and on disconnect `"reason_code"` (hex).
const NANOMQ_FIELDS: EventFields = EventFields {
    time: &["ts"],
    ip: &["IPv4"],
    detail: &["reason_code"],
};

/// AWS IoT lifecycle events: `{"clientId":..,"timestamp":ms,"ipAddress":..}`, and on
/// disconnect `"disconnectReason"`.
const AWS_FIELDS: EventFields = EventFields {
    time: &["timestamp"],
    ip: &["ipAddress"],
    detail: &["disconnectReason"],
};

/// aedes: the payload is the client id, nothing more.
const NO_FIELDS: EventFields = EventFields {
    time: &[],
    ip: &[],
    detail: &[],
};

const EMQX_TOPICS: &[PresetTopic] = &[
    event(
        "$SYS/brokers/+/clients/+/connected",
        true,
        &EMQX_FIELDS,
        Naming::Wildcard(1),
    ),
    event(
        "$SYS/brokers/+/clients/+/disconnected",
        false,
        &EMQX_FIELDS,
        Naming::Wildcard(1),
    ),
];

pub const PRESETS: &[Preset] = &[
    Preset {
        name: "smarthome",
        about: "mqtt-smarthome: 0 offline, 1 connected to the broker, 2 and to its device",
        topics: &[t("+/connected")],
    },
    Preset {
        name: "homie",
        about: "Homie 3/4 and 5: init, ready, disconnected, sleeping, lost, alert; a Homie 5 device whose root is lost is lost too",
        topics: &[
            t("homie/+/$state"),
            t("homie/5/+/$state"),
            r("homie/5/+/$description", Rule::HomieDescription),
        ],
    },
    Preset {
        name: "tasmota",
        about: "Tasmota's LWT: Online / Offline",
        topics: &[t("tele/+/LWT")],
    },
    Preset {
        name: "esphome",
        about: "ESPHome's status topic: online / offline",
        topics: &[t("+/status")],
    },
    Preset {
        name: "zigbee2mqtt",
        about: "Zigbee2MQTT: the bridge's state and each device's availability, plain or {\"state\":...}; friendly names with '/' (up to 4 levels)",
        topics: &[
            PresetTopic {
                pattern: "zigbee2mqtt/bridge/state",
                rule: Rule::Payload,
                name: Naming::Fixed("bridge"),
            },
            t("zigbee2mqtt/+/availability"),
            t("zigbee2mqtt/+/+/availability"),
            t("zigbee2mqtt/+/+/+/availability"),
            t("zigbee2mqtt/+/+/+/+/availability"),
        ],
    },
    Preset {
        name: "shelly",
        about: "Shelly (Gen1): true / false",
        topics: &[t("shellies/+/online")],
    },
    Preset {
        name: "sparkplug",
        about: "Sparkplug B: births online, deaths offline (a death whose bdSeq is not the last birth's is stale and ignored; a node's death takes its devices); STATE of host applications. Births and deaths are not retained: only `watch` sees them",
        topics: &[
            r("spBv1.0/+/NBIRTH/+", Rule::NodeBirth),
            r("spBv1.0/+/NDEATH/+", Rule::NodeDeath),
            r("spBv1.0/+/DBIRTH/+/+", Rule::DeviceBirth),
            r("spBv1.0/+/DDEATH/+/+", Rule::DeviceDeath),
            t("spBv1.0/STATE/+"),
            t("STATE/+"),
        ],
    },
    Preset {
        name: "emqx",
        about: "EMQX's client events ($SYS, on by default): connected online, disconnected offline with its reason; events are not retained: only `watch` sees them",
        topics: EMQX_TOPICS,
    },
    Preset {
        name: "rmqtt",
        about: "RMQTT's client events (the rmqtt-sys-topic plugin), as EMQX's; events are not retained: only `watch` sees them",
        topics: EMQX_TOPICS,
    },
    Preset {
        name: "nanomq",
        about: "NanoMQ's client events, the client id in the payload's client_id; events are not retained: only `watch` sees them",
        topics: &[
            event(
                "$SYS/brokers/connected",
                true,
                &NANOMQ_FIELDS,
                Naming::Field("client_id"),
            ),
            event(
                "$SYS/brokers/disconnected",
                false,
                &NANOMQ_FIELDS,
                Naming::Field("client_id"),
            ),
        ],
    },
    Preset {
        name: "aedes",
        about: "aedes's client events, the payload is the client id; events are not retained: only `watch` sees them",
        topics: &[
            event("$SYS/+/new/clients", true, &NO_FIELDS, Naming::Payload),
            event(
                "$SYS/+/disconnect/clients",
                false,
                &NO_FIELDS,
                Naming::Payload,
            ),
        ],
    },
    Preset {
        name: "aws-iot",
        about: "AWS IoT Core's lifecycle events (a policy must allow subscribing to $aws/events/*); events are not retained: only `watch` sees them",
        topics: &[
            event(
                "$aws/events/presence/connected/+",
                true,
                &AWS_FIELDS,
                Naming::Wildcards,
            ),
            event(
                "$aws/events/presence/disconnected/+",
                false,
                &AWS_FIELDS,
                Naming::Wildcards,
            ),
        ],
    },
];

pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name.trim()))
}

/// The list `mqtt-scan presets` prints.
pub fn listing() -> String {
    let mut out = String::new();
    for p in PRESETS {
        out.push_str(p.name);
        out.push('\n');
        out.push_str("    ");
        out.push_str(p.about);
        out.push('\n');
        for topic in p.topics {
            out.push_str("    ");
            out.push_str(topic.pattern);
            match topic.name {
                Naming::Fixed(name) => {
                    out.push_str(" (named ");
                    out.push_str(name);
                    out.push(')');
                }
                Naming::Wildcard(i) => {
                    let nth = i + 1;
                    let suffix = match nth {
                        1 => "st",
                        2 => "nd",
                        3 => "rd",
                        _ => "th",
                    };
                    let _ = write!(out, " (named by the {nth}{suffix} +)");
                }
                Naming::Payload => out.push_str(" (named by the payload)"),
                Naming::Field(field) => {
                    let _ = write!(out, " (named by the payload's {field})");
                }
                Naming::Wildcards => {}
            }
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Pattern;

    #[test]
    fn every_preset_pattern_parses() {
        for p in PRESETS {
            for topic in p.topics {
                assert!(
                    Pattern::parse(topic.pattern).is_ok(),
                    "{}: {}",
                    p.name,
                    topic.pattern
                );
            }
        }
        assert_eq!(find("Homie").unwrap().name, "homie");
        assert!(find("nope").is_none());
        assert!(listing().contains("spBv1.0/+/NDEATH/+"));
    }
}
