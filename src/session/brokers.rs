//! The brokers known to write every retained message of a SUBSCRIBE to the connection before
//! the echo of a PUBLISH we send after its SUBACK, and how each is recognised: the retained
//! payload of `$SYS/broker/version`, which the session subscribes to first anyway (so the
//! recognition costs no round trip). On such a broker the probe's return ends the snapshot;
//! on every other one the settle window stays. docs/brokers.md has the evidence for each
//! entry (the broker's source and the order experiment in benches/brokers.py), and for the
//! brokers that are not here.

/// A broker whose order is proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ordered {
    pub name: &'static str,
    /// The start of its retained `$SYS/broker/version` payload.
    prefix: &'static [u8],
    /// It leaves Nagle's algorithm on, so that the snapshot's last packets wait for our
    /// delayed acknowledgements unless we nudge (see `Nudger`).
    pub nagle: bool,
}

const ORDERED: &[Ordered] = &[
    // mosquitto: "mosquitto version 2.0.11". Every retained message of a SUBSCRIBE is
    // queued to the client inside the SUBSCRIBE handler, before the next packet is read.
    Ordered {
        name: "mosquitto",
        prefix: b"mosquitto version ",
        nagle: true,
    },
    // amqtt (its $SYS plugin, on in its default configuration): "aMQTT version 0.12.1".
    // The client loop awaits every retained publish of a SUBSCRIBE before it handles the
    // client's next PUBLISH. Proven for 0.x; a later major version gets the settle window
    // until someone looks again.
    Ordered {
        name: "amqtt",
        prefix: b"aMQTT version 0.",
        nagle: false,
    },
];

/// The broker that sent this retained `$SYS/broker/version`, if it is a known ordered one.
pub(super) fn recognise(version: &[u8]) -> Option<Ordered> {
    ORDERED
        .iter()
        .copied()
        .find(|b| version.starts_with(b.prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(payload: &[u8]) -> Option<&'static str> {
        recognise(payload).map(|b| b.name)
    }

    #[test]
    fn mosquitto_and_amqtt_are_recognised_by_their_version_payload() {
        assert_eq!(name(b"mosquitto version 2.0.11"), Some("mosquitto"));
        assert_eq!(name(b"mosquitto version 1.6.9"), Some("mosquitto"));
        assert_eq!(name(b"aMQTT version 0.12.1"), Some("amqtt"));
        assert!(recognise(b"mosquitto version 2.0.11").unwrap().nagle);
        assert!(!recognise(b"aMQTT version 0.12.1").unwrap().nagle);
    }

    #[test]
    fn other_and_unproven_brokers_keep_the_settle_window() {
        for payload in [
            &b"aMQTT version 1.0.0"[..],
            b"HBMQTT version 0.9.6",
            b"VerneMQ 1.13",
            b"emqx 5.3.0",
            b"mosquitto",
            b" mosquitto version 2.0.11",
            b"",
            b"\xff\xfe\x00",
        ] {
            assert_eq!(name(payload), None, "{payload:?}");
        }
    }
}
