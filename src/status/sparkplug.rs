//! Just enough of Sparkplug B's protobuf payload to judge births and deaths: the payload
//! timestamp, its sequence number, and the `bdSeq` metric that pairs an NDEATH with the
//! NBIRTH it ends. Hand-written (a dozen wire rules) and bounds-checked: hostile bytes give
//! `None`, never a panic.

/// What a birth or death certificate says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Certificate {
    /// Milliseconds since the epoch.
    pub timestamp: Option<u64>,
    pub seq: Option<u64>,
    pub bd_seq: Option<u64>,
}

enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// The fields of one protobuf message, in order; None at the first malformed byte.
struct Fields<'a> {
    rest: &'a [u8],
}

fn varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = buf.split_first()?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

impl<'a> Iterator for Fields<'a> {
    type Item = Option<(u64, Value<'a>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let field = (|| {
            let key = varint(&mut self.rest)?;
            let value = match key & 7 {
                0 => Value::Varint(varint(&mut self.rest)?),
                1 | 5 => {
                    let n = if key & 7 == 1 { 8 } else { 4 };
                    self.rest = self.rest.get(n..)?;
                    Value::Fixed
                }
                2 => {
                    let len = usize::try_from(varint(&mut self.rest)?).ok()?;
                    let bytes = self.rest.get(..len)?;
                    self.rest = &self.rest[len..];
                    Value::Bytes(bytes)
                }
                _ => return None,
            };
            Some((key >> 3, value))
        })();
        if field.is_none() {
            self.rest = &[];
        }
        Some(field)
    }
}

fn fields(bytes: &[u8]) -> Fields<'_> {
    Fields { rest: bytes }
}

/// Reads a Sparkplug B payload; None when it is not one.
pub fn decode(bytes: &[u8]) -> Option<Certificate> {
    let mut cert = Certificate::default();
    for field in fields(bytes) {
        match field? {
            (1, Value::Varint(ts)) => cert.timestamp = Some(ts),
            (3, Value::Varint(seq)) => cert.seq = Some(seq),
            (2, Value::Bytes(metric)) => match read_metric(metric)? {
                Metric::BdSeq(bd) => cert.bd_seq = Some(bd),
                Metric::Other => {}
            },
            _ => {}
        }
    }
    Some(cert)
}

enum Metric {
    BdSeq(u64),
    Other,
}

/// A metric: `bdSeq` with its int or long value, or another one. None when malformed.
fn read_metric(metric: &[u8]) -> Option<Metric> {
    let (mut name, mut value) = (None, None);
    for field in fields(metric) {
        match field? {
            (1, Value::Bytes(n)) => name = Some(n),
            (10 | 11, Value::Varint(v)) => value = Some(v),
            _ => {}
        }
    }
    Some(match (name, value) {
        (Some(b"bdSeq"), Some(v)) => Metric::BdSeq(v),
        _ => Metric::Other,
    })
}

/// Encodes a minimal certificate (for tests and tools that need to speak Sparkplug).
pub fn encode(cert: &Certificate) -> Vec<u8> {
    fn put_varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push(u8::try_from(v & 0x7f).unwrap_or(0) | 0x80);
            v >>= 7;
        }
        out.push(u8::try_from(v).unwrap_or(0));
    }
    let mut out = Vec::new();
    if let Some(ts) = cert.timestamp {
        out.push(1 << 3);
        put_varint(&mut out, ts);
    }
    if let Some(bd) = cert.bd_seq {
        let mut metric = vec![(1 << 3) | 2, 5];
        metric.extend_from_slice(b"bdSeq");
        metric.push(4 << 3); // datatype Int64
        put_varint(&mut metric, 4);
        metric.push(11 << 3); // long_value
        put_varint(&mut metric, bd);
        out.push((2 << 3) | 2);
        put_varint(&mut out, metric.len() as u64);
        out.extend_from_slice(&metric);
    }
    if let Some(seq) = cert.seq {
        out.push(3 << 3);
        put_varint(&mut out, seq);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_round_trips() {
        let cert = Certificate {
            timestamp: Some(1_795_255_201_000),
            seq: Some(0),
            bd_seq: Some(300),
        };
        assert_eq!(decode(&encode(&cert)), Some(cert));
        assert_eq!(decode(&[]), Some(Certificate::default()));
    }

    #[test]
    fn other_metrics_are_skipped() {
        // Payload { metrics: [ {name:"Temp", double_value: 1.5}, {name:"bdSeq", int_value: 7} ] }
        let mut temp = vec![(1 << 3) | 2, 4];
        temp.extend_from_slice(b"Temp");
        temp.push((13 << 3) | 1);
        temp.extend_from_slice(&1.5f64.to_le_bytes());
        let mut bd = vec![(1 << 3) | 2, 5];
        bd.extend_from_slice(b"bdSeq");
        bd.extend_from_slice(&[10 << 3, 7]);
        let mut payload = vec![(2 << 3) | 2, u8::try_from(temp.len()).unwrap()];
        payload.extend_from_slice(&temp);
        payload.extend_from_slice(&[(2 << 3) | 2, u8::try_from(bd.len()).unwrap()]);
        payload.extend_from_slice(&bd);
        assert_eq!(decode(&payload).unwrap().bd_seq, Some(7));
    }

    #[test]
    fn garbage_is_none_not_a_panic() {
        assert_eq!(decode(b"online"), None);
        assert_eq!(
            decode(&[0x12, 0xff, 0xff, 0xff, 0xff, 0x0f]),
            None,
            "a length past the end"
        );
        assert_eq!(decode(&[0x08; 11]), None);
        assert_eq!(decode(&[0xff; 64]), None);
        for n in 0..=255u8 {
            let _ = decode(&[n, n, n, n]);
        }
    }
}
