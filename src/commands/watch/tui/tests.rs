//! The live view drawn into a test backend: fitting, the detail pane, the filter.

use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::draw::*;
use super::view::*;
use super::*;
use crate::render::tests::{fleet, t};

const LONG: &str = "a-rather-long-client-name-from-the-factory-floor-7";

fn registry() -> Registry {
    let long = format!("sensors/connected/{LONG}");
    fleet(&[
        ("sensors/connected/sensor1", "1", false, 0),
        (
            "sensors/connected/sensor2",
            r#"{"status":1,"ts":1795255201,"ip":"10.0.0.2","fw":"1.2.3"}"#,
            true,
            0,
        ),
        ("sensors/connected/sensor10", "0", true, 0),
        (
            "sensors/connected/sensor11",
            r#"{"status":1,"ts":1700000000}"#,
            true,
            0,
        ),
        ("sensors/connected/evil\x1b[2J", "1\x1b[31m", false, 0),
        (&*long, "1", true, 0),
    ])
}

fn view() -> View {
    View::new(
        "mqtt://broker.example.com:1883".into(),
        "sensors/connected/#".into(),
        SortKey::Name,
        false,
        false,
        false,
        None,
    )
}

fn screen(
    reg: &Registry,
    link: &Link,
    stale: Option<DateTime<Utc>>,
    v: &mut View,
    w: u16,
) -> String {
    screen_h(reg, link, stale, v, w, 14)
}

fn screen_h(
    reg: &Registry,
    link: &Link,
    stale: Option<DateTime<Utc>>,
    v: &mut View,
    w: u16,
    h: u16,
) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    let st = Status {
        registry: reg,
        link,
        stale_since: stale,
        syncing: false,
    };
    term.draw(|f| draw(f, &st, v, t(3600))).unwrap();
    let buf = term.backend().buffer();
    (0..buf.area.height)
        .map(|y| {
            let text: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
            text.trim_end().to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn row<'s>(screen: &'s str, name: &str) -> Option<&'s str> {
    screen.lines().find(|l| {
        l.trim_start_matches(CURSOR.trim_end())
            .split_whitespace()
            .next()
            == Some(name)
    })
}

fn press(v: &mut View, keys: &[KeyCode]) {
    for k in keys {
        assert!(v.key(*k, KeyModifiers::NONE));
    }
}

#[test]
fn the_view_fits_80_60_and_40_columns_with_names_and_times_whole() {
    let reg = registry();
    let link = Link::Reconnecting {
        attempt: 3,
        reason: "connection to broker.example.com:1883 lost: the broker closed it".into(),
    };
    for w in [140, 80, 60, 40] {
        let mut v = view();
        let s = screen(&reg, &link, Some(t(1800)), &mut v, w);
        let header = s.lines().next().unwrap();
        assert!(
            header.contains("stale since 10:30:01Z  11:00:01Z"),
            "{w}: the times whole: {header}"
        );
        for name in ["sensor1", "sensor2", "sensor10", "sensor11"] {
            assert!(row(&s, name).is_some(), "{w}: {name} whole in\n{s}");
        }
        let long = s
            .lines()
            .find(|l| l.contains("a-rather"))
            .unwrap_or_else(|| panic!("{w}:\n{s}"));
        assert!(
            long.contains(LONG) || (long.contains('…') && long.contains("floor-7")),
            "{w}: {long}"
        );

        let table_head = s.lines().find(|l| l.contains("NAME")).unwrap();
        let r11 = row(&s, "sensor11").unwrap();
        if table_head.contains("FOR") {
            assert!(r11.contains("1102d 12h"), "{w}: {r11}");
        }
        if table_head.contains("SINCE") {
            assert!(r11.contains("2023-11-14 22:13:20Z"), "{w}: {r11}");
        }
        assert!(table_head.contains("STATE"), "{w}: {table_head}");
        assert!(s.contains("\\x1b[2J"), "escaped: {s}");
        assert!(!s.contains('\x1b'));
    }
    // Wide enough: every column, FOR in full.
    let mut v = view();
    let s = screen(&reg, &Link::Connected, None, &mut v, 160);
    assert!(
        s.starts_with("mqtt-scan mqtt://broker.example.com:1883  ● connected  11:00:01Z"),
        "{s}"
    );
    assert!(row(&s, "sensor11").unwrap().contains("1102d 12h"));
    assert!(
        s.lines().any(|l| l.contains("TOPIC") && l.contains("IP")),
        "{s}"
    );
}

#[test]
fn the_source_column_shows_with_presets_and_columns_can_be_chosen() {
    let reg = registry();
    let mut v = view();
    v.source = true;
    let s = screen(&reg, &Link::Connected, None, &mut v, 200);
    assert!(s.lines().any(|l| l.contains("SOURCE")), "{s}");
    let mut v = view();
    v.columns = Some(vec![Column::Name, Column::Ip]);
    let s = screen(&reg, &Link::Connected, None, &mut v, 80);
    let head = s.lines().find(|l| l.contains("NAME")).unwrap();
    assert_eq!(
        head.split_whitespace().collect::<Vec<_>>(),
        ["NAME", "IP"],
        "{s}"
    );
}

#[test]
fn enter_opens_the_selected_clients_detail_with_its_payload_and_history() {
    let reg = registry();
    let mut v = view();
    v.record(
        &[Happening::Change(Change {
            time: t(60),
            name: "sensor2".into(),
            from: Some(State::Offline),
            to: Some(State::Online),
            topic: "sensors/connected/sensor2".into(),
            payload: Payload::Text("1".into()),
            retained: false,
        })],
        Instant::now(),
    );
    // The cursor starts on the first row; Down moves it to sensor2 (the fourth).
    let s = screen(&reg, &Link::Connected, None, &mut v, 100);
    assert!(
        s.lines().any(|l| l.starts_with(CURSOR) && l.contains(LONG)),
        "the cursor on the first row:\n{s}"
    );
    press(&mut v, &[KeyCode::Down, KeyCode::Down, KeyCode::Down]);
    let s = screen(&reg, &Link::Connected, None, &mut v, 100);
    assert!(
        s.lines()
            .any(|l| l.starts_with(CURSOR) && l.contains("sensor2")),
        "{s}"
    );
    press(&mut v, &[KeyCode::Enter]);
    let s = screen_h(&reg, &Link::Connected, None, &mut v, 100, 40);
    assert!(s.contains(" sensor2 "), "titled: {s}");
    assert!(s.contains(r#""fw": "1.2.3""#), "pretty JSON: {s}");
    assert!(s.contains("10.0.0.2"), "{s}");
    assert!(s.contains("sensors/connected/sensor2"), "{s}");
    assert!(
        s.contains("2026-11-21 10:01:01Z  offline -> online"),
        "history: {s}"
    );
    assert!(s.contains("Esc/Enter/q close"), "{s}");
    press(&mut v, &[KeyCode::Esc]);
    let s = screen(&reg, &Link::Connected, None, &mut v, 100);
    assert!(!s.contains("\"fw\""), "closed: {s}");
    assert!(
        !v.key(KeyCode::Char('q'), KeyModifiers::NONE),
        "q quits the table"
    );
}

#[test]
fn the_detail_of_a_hostile_client_is_escaped() {
    let reg = registry();
    let mut v = view();
    press(&mut v, &[KeyCode::Char('/')]);
    for c in "evil".chars() {
        press(&mut v, &[KeyCode::Char(c)]);
    }
    press(&mut v, &[KeyCode::Enter]);
    screen(&reg, &Link::Connected, None, &mut v, 80);
    press(&mut v, &[KeyCode::Enter]);
    let s = screen(&reg, &Link::Connected, None, &mut v, 80);
    assert!(s.contains("1\\x1b[31m"), "{s}");
    assert!(s.contains("evil\\x1b[2J"), "{s}");
    assert!(!s.contains('\x1b'));
}

#[test]
fn slash_filters_names_and_esc_clears_it() {
    let reg = registry();
    let mut v = view();
    press(
        &mut v,
        &[KeyCode::Char('/'), KeyCode::Char('R'), KeyCode::Char('1')],
    );
    let s = screen(&reg, &Link::Connected, None, &mut v, 120);
    assert!(s.contains("/R1▏"), "typing shows in the footer: {s}");
    assert!(s.contains("filter: R1"), "and in the header: {s}");
    assert!(
        row(&s, "sensor1").is_some() && row(&s, "sensor10").is_some(),
        "{s}"
    );
    assert!(row(&s, "sensor2").is_none(), "{s}");
    // While typing, letters are text, not keys: `q` does not quit.
    assert!(v.key(KeyCode::Char('q'), KeyModifiers::NONE));
    press(
        &mut v,
        &[KeyCode::Backspace, KeyCode::Char('0'), KeyCode::Enter],
    );
    let s = screen(&reg, &Link::Connected, None, &mut v, 120);
    assert!(
        row(&s, "sensor10").is_some() && row(&s, "sensor1").is_none(),
        "{s}"
    );
    assert!(s.contains("filter: R10") && !s.contains('▏'), "kept: {s}");
    press(
        &mut v,
        &[KeyCode::Char('/'), KeyCode::Char('x'), KeyCode::Char('y')],
    );
    let s = screen(&reg, &Link::Connected, None, &mut v, 120);
    assert!(s.contains("no client name contains \"R10xy\""), "{s}");
    press(&mut v, &[KeyCode::Esc]);
    let s = screen(&reg, &Link::Connected, None, &mut v, 120);
    assert!(!s.contains("filter:"), "cleared: {s}");
    assert!(row(&s, "sensor2").is_some(), "{s}");
}

#[test]
fn a_history_keeps_the_last_50_changes() {
    let mut v = view();
    for i in 0..60 {
        v.record(
            &[Happening::Change(Change {
                time: t(i),
                name: "s".into(),
                from: Some(State::Online),
                to: Some(State::Offline),
                topic: "t".into(),
                payload: Payload::Text("0".into()),
                retained: false,
            })],
            Instant::now(),
        );
    }
    let h = &v.history["s"];
    assert_eq!(h.len(), HISTORY);
    assert_eq!(h.front().unwrap().time, t(10));
}
