//! The conventions people already run, as data: each preset's status topics, and how a
//! topic's messages are read.

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
}

#[derive(Debug, Clone, Copy)]
pub struct PresetTopic {
    pub pattern: &'static str,
    pub rule: Rule,
    /// A fixed client name for a topic without wildcards (Zigbee2MQTT's `bridge`).
    pub name: Option<&'static str>,
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
        name: None,
    }
}

const fn r(pattern: &'static str, rule: Rule) -> PresetTopic {
    PresetTopic {
        pattern,
        rule,
        name: None,
    }
}

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
                name: Some("bridge"),
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
            if let Some(name) = topic.name {
                out.push_str(" (named ");
                out.push_str(name);
                out.push(')');
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
