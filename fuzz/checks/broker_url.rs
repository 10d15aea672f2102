//! Arbitrary text as `--broker`. Never panics; a parsed URL's `host_port`, `websocket_url`,
//! Display and Debug work, Display parses back to the same URL (password shown as `***`),
//! nothing shown depends on the password, and no error message quotes any of it.
//!
//! The input is also read as a template: `PW` stands for a secret password, so the fuzzer can
//! put a password anywhere (`mqtt://u:PW/x@h`) and we can tell whether it leaked.

use mqtt_scan::broker_url::BrokerUrl;
use mqtt_scan::status::escape::is_unsafe;

const SECRET: &str = "Zq9Xw7Kp";

/// Where a user means a password to be: after the first `:` of the user information, which
/// ends at the last `@` (the URL grammar or not: a password may hold `/`, `?` or `#`).
fn password_span(text: &str) -> Option<std::ops::Range<usize>> {
    let text_start = text.len() - text.trim_start().len();
    let start = text.find("://").map_or(text_start, |i| i + 3);
    let at = start + text[start..].rfind('@')?;
    let colon = start + text[start..at].find(':')?;
    Some(colon + 1..at)
}

fn check(text: &str) {
    match text.parse::<BrokerUrl>() {
        Ok(url) => {
            let shown = url.to_string();
            let debug = format!("{url:?}");
            let _ = url.host_port();
            let ws = url.websocket_url();
            assert!(!url.host.is_empty());
            assert_ne!(url.port, 0, "port 0 from {text:?}");
            assert!(url.scheme.is_websocket() || url.path.is_empty());
            assert!(!url.scheme.is_websocket() || url.path.starts_with(['/', '?', '#']));
            assert!(ws.starts_with(url.scheme.as_str()));
            // Nothing shown depends on the password.
            let mut other = url.clone();
            other.password = url.password.as_ref().map(|_| "other".to_owned());
            assert_eq!(shown, other.to_string());
            assert_eq!(debug, format!("{other:?}"));
            assert_eq!(ws, other.websocket_url());
            if url.password.is_some() {
                assert!(shown.contains(":***@"), "{shown}");
            }
            // What is shown is one terminal-safe line.
            assert!(
                !shown.chars().any(is_unsafe),
                "Display of {text:?} is {shown:?}"
            );
            // ... and reads back as the same URL (the password is now `***`).
            let back: BrokerUrl = shown
                .parse()
                .unwrap_or_else(|e| panic!("{shown:?} (from {text:?}) does not parse: {e}"));
            let mut want = url.clone();
            want.password = url.password.as_ref().map(|_| "***".to_owned());
            assert!(
                back == want,
                "{text:?} shows as {shown:?}, which parses differently: {:?} vs {:?}",
                (&back.host, back.port, &back.path, &back.username),
                (&want.host, want.port, &want.path, &want.username),
            );
        }
        Err(e) => {
            assert!(!e.is_empty());
            assert!(!e.chars().any(is_unsafe), "error {e:?}");
        }
    }
}

/// The target's whole check, for the fuzzer and for `tests/fuzz_regressions.rs`.
pub fn check_input(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    check(&text);
    if text.contains("PW") {
        let text = text.replacen("PW", SECRET, 1);
        let secret_at = text.find(SECRET).expect("just put there");
        let meant = password_span(&text)
            .is_some_and(|s| s.start <= secret_at && secret_at + SECRET.len() <= s.end);
        check(&text);
        if meant {
            // The secret sits where a user means a password: no error may quote it.
            if let Err(e) = text.parse::<BrokerUrl>() {
                assert!(!e.contains(SECRET), "{text:?} gives the error {e:?}");
            }
        }
    }
}
