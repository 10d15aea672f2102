//! The per-client renderers, state by state, and hostile names.

use std::time::Duration;

use super::*;
use crate::check::tests::{expect, fold, registry, t};
use crate::check::{judge, Memory, Rules};

/// One client in each state, judged at t(180).
fn every_state() -> Verdict {
    let mut r = registry();
    fold(&mut r, "up", "1", false, t(0));
    fold(&mut r, "down", "0", false, t(-600));
    fold(&mut r, "old", r#"{"status":1,"ts":1795254001}"#, true, t(0));
    fold(&mut r, "odd", "maybe\x1b[31m|", true, t(0));
    fold(&mut r, "brief", "0", true, t(0));
    let mut remembered = Memory::default();
    // An earlier run saw `brief` online: its outage started at most now.
    remembered.online.insert("brief".to_owned());
    let rules = Rules {
        expected: Some(expect(&["up", "down", "gone", "old", "odd", "brief"])),
        warn_offline: Some(1),
        max_age: Some(Duration::from_secs(600)),
        grace: Some(Duration::from_secs(300)),
        ..Rules::default()
    };
    judge(&r, &rules, &remembered, t(180))
}

#[test]
fn long_output_has_one_line_per_state_problems_first() {
    let v = every_state();
    assert_eq!(
        long_output(&v),
        [
            "down: offline since 2026-11-21 09:50:01Z (13m)",
            "gone: missing (expected, no status)",
            "old: stale (last status 2026-11-21 09:40:01Z, older than --max-age 10m)",
            "odd: unknown (payload \"maybe\\x1b[31m\\x7c\")",
            "brief: offline, forgiven by --grace 5m (since 2026-11-21 10:03:01Z (0s))",
            "up: online since 2026-11-21 10:00:01Z (3m)",
        ]
    );
}

#[test]
fn checkmk_lines_carry_each_clients_own_state() {
    let v = every_state();
    assert_eq!(
        checkmk(&v, &Services::default()),
        "1 \"MQTT fleet\" online=1|offline=3|missing=1|stale=1|unknown=1|forgiven=1|total=6 \
         3/6 expected offline: down, gone (missing), old (stale); 1 forgiven (offline less than 5m): brief\n\
         0 \"MQTT up\" changes=0 online since 2026-11-21 10:00:01Z (3m)\n\
         2 \"MQTT down\" changes=0 offline since 2026-11-21 09:50:01Z (13m)\n\
         2 \"MQTT gone\" - missing (expected, no status)\n\
         2 \"MQTT old\" changes=0 stale (last status 2026-11-21 09:40:01Z, older than --max-age 10m)\n\
         3 \"MQTT odd\" changes=0 unknown (payload \"maybe\\x1b[31m\\x7c\")\n\
         0 \"MQTT brief\" changes=0 offline, forgiven by --grace 5m (since 2026-11-21 10:03:01Z (0s))\n"
    );
}

#[test]
fn piggyback_wraps_each_client_and_leaves_the_fleet_outside() {
    let v = every_state();
    let out = checkmk(
        &v,
        &Services {
            piggyback: true,
            ..Services::default()
        },
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("1 \"MQTT fleet\" "), "{out}");
    assert_eq!(
        lines[1..5],
        [
            "<<<<up>>>>",
            "<<<local:sep(0)>>>",
            "0 \"MQTT up\" changes=0 online since 2026-11-21 10:00:01Z (3m)",
            "<<<<>>>>"
        ]
    );
    assert_eq!(lines.len(), 1 + 6 * 4);
    assert_eq!(lines.last(), Some(&"<<<<>>>>"));
}

#[test]
fn icinga_passive_results_per_client() {
    let v = every_state();
    let out = icinga_passive(
        &v,
        &Services {
            host: Some("mqtt;gw".to_owned()),
            ..Services::default()
        },
    );
    let ts = t(180).timestamp();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(
        lines[1],
        format!(
            "[{ts}] PROCESS_SERVICE_CHECK_RESULT;mqtt\\x3bgw;MQTT down;2;down: offline since 2026-11-21 09:50:01Z (13m)"
        )
    );
    let own = icinga_passive(&v, &Services::default());
    assert!(
        own.lines().next().unwrap().ends_with(
            "PROCESS_SERVICE_CHECK_RESULT;up;MQTT status;0;up: online since 2026-11-21 10:00:01Z (3m)"
        ),
        "{own}"
    );
}

/// Clients whose names try to end the quoted name, start a line or perfdata, or collide.
fn hostile() -> Verdict {
    let mut r = registry();
    for name in [
        "a\"b\nc|d",
        "e\x1b[2Jf",
        "g\u{7}",
        "g\\x07",
        "fleet",
        "h <x>",
    ] {
        fold(&mut r, name, "0", false, t(0));
    }
    judge(&r, &Rules::default(), &Memory::default(), t(60))
}

#[test]
fn hostile_names_cannot_break_a_line_or_inject_a_service() {
    let v = hostile();
    let cmk = checkmk(&v, &Services::default());
    assert_eq!(cmk.lines().count(), 7, "{cmk}");
    // As Checkmk reads a line: a state, a space, the quoted name, a space.
    let services: Vec<&str> = cmk
        .lines()
        .map(|l| {
            assert!(!l.chars().any(crate::status::escape::is_unsafe), "{l:?}");
            let rest = l
                .strip_prefix(['0', '2'])
                .unwrap()
                .strip_prefix(" \"")
                .unwrap();
            let (name, rest) = rest.split_once('"').unwrap();
            assert!(rest.starts_with(' '), "{l}");
            name
        })
        .collect();
    let unique: HashSet<&&str> = services.iter().collect();
    assert_eq!(unique.len(), services.len(), "{services:?}");
    assert!(services.contains(&"MQTT a'b\\x0ac\\x7cd"), "{services:?}");
    // `g\x07` escapes to what the name `g\x07` already is: the second gets a suffix.
    assert!(services.contains(&"MQTT g\\x07 (2)"), "{services:?}");
    // A client called `fleet` must not take the fleet's service.
    assert!(services.contains(&"MQTT fleet (2)"), "{services:?}");
    let pig = checkmk(
        &v,
        &Services {
            piggyback: true,
            ..Services::default()
        },
    );
    assert!(pig.contains("<<<<h__x_>>>>\n"), "{pig}");
    assert!(pig.contains("<<<<e_[2Jf>>>>\n"), "{pig}");
    for l in long_output(&v) {
        assert!(!l.contains('|') && !l.contains('\n'), "{l:?}");
        assert!(!l.chars().any(crate::status::escape::is_unsafe), "{l:?}");
    }
    let passive = icinga_passive(&v, &Services::default());
    assert_eq!(passive.lines().count(), 6);
    let mut hosts = HashSet::new();
    for l in passive.lines() {
        assert_eq!(l.matches(';').count(), 4, "{l}");
        assert!(
            hosts.insert(l.split(';').nth(1).unwrap()),
            "unique hosts: {passive}"
        );
    }
}

#[test]
fn long_output_is_capped_for_huge_fleets() {
    let mut r = registry();
    for i in 0..200 {
        fold(
            &mut r,
            &format!("s{i:03}"),
            if i == 150 { "0" } else { "1" },
            false,
            t(0),
        );
    }
    let v = judge(&r, &Rules::default(), &Memory::default(), t(1));
    let lines = long_output(&v);
    assert_eq!(lines.len(), LONG_LINES);
    assert!(lines[0].starts_with("s150: offline"), "problems first");
    assert_eq!(lines[LONG_LINES - 1], "... and 151 more");
}
