//! Natural order for client names: `sensor2` before `sensor10`.

use std::cmp::Ordering;

/// Compares runs of digits by value and everything else case-insensitively, then falls back
/// to a plain comparison so the order is total and stable.
pub fn natural_cmp(left: &str, right: &str) -> Ordering {
    let (mut x, mut y) = (left.as_bytes(), right.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return left.cmp(right),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) if p.is_ascii_digit() && q.is_ascii_digit() => {
                let dx = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let dy = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let nx = trim_zeros(&x[..dx]);
                let ny = trim_zeros(&y[..dy]);
                let ord = nx.len().cmp(&ny.len()).then_with(|| nx.cmp(ny));
                if ord != Ordering::Equal {
                    return ord;
                }
                x = &x[dx..];
                y = &y[dy..];
            }
            (Some(p), Some(q)) => {
                let ord = p.to_ascii_lowercase().cmp(&q.to_ascii_lowercase());
                if ord != Ordering::Equal {
                    return ord;
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let zeros = d.iter().take_while(|&&c| c == b'0').count();
    &d[zeros.min(d.len().saturating_sub(1))..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(names: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = names.iter().map(ToString::to_string).collect();
        v.sort_by(|a, b| natural_cmp(a, b));
        v
    }

    #[test]
    fn numbers_sort_by_value() {
        assert_eq!(
            sorted(&["sensor10", "sensor2", "sensor1", "sensor20", "sensor3"]),
            ["sensor1", "sensor2", "sensor3", "sensor10", "sensor20"]
        );
    }

    #[test]
    fn letters_ignore_case_and_prefixes_come_first() {
        assert_eq!(sorted(&["b", "A", "a1", "a"]), ["A", "a", "a1", "b"]);
    }

    #[test]
    fn leading_zeros_and_huge_numbers_do_not_overflow() {
        assert_eq!(
            sorted(&["x99999999999999999999999", "x007", "x10"]),
            ["x007", "x10", "x99999999999999999999999"]
        );
        assert_eq!(natural_cmp("x01", "x1"), "x01".cmp("x1"));
    }

    #[test]
    fn order_is_total_for_multibyte_names() {
        assert_eq!(sorted(&["ö2", "ö10", "o"]), ["o", "ö2", "ö10"]);
    }
}
