//! `watch` as an event stream: the snapshot, then one line per change, flushed as it
//! happens (per batch of events received together: at most one write and one flush each).

use std::io::{self, Write};

use super::core::{Happening, Watcher};
use super::{Afterwards, Signals};
use crate::cli::EventFormat;
use crate::error::Exit;
use crate::render::events::{broker_line, change_line, BrokerEvent};
use crate::render::json;
use crate::status::Change;

pub struct Output {
    pub format: EventFormat,
    pub color: bool,
}

pub async fn run(
    mut w: Watcher,
    out: Output,
    mut after: Afterwards,
    mut signals: Signals,
) -> anyhow::Result<Exit> {
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    let result = loop {
        tokio::select! {
            next = w.next() => {
                let happenings = match next {
                    Ok(h) => h,
                    Err(e) => break Err(e),
                };
                buf.clear();
                for h in &happenings {
                    write(&mut buf, h, &out)?;
                }
                if let Err(e) = after.on_batch(&mut w, &happenings) {
                    break Err(e);
                }
                let mut stdout = io::stdout().lock();
                match stdout.write_all(&buf).and_then(|()| stdout.flush()) {
                    // The reader went away (`| head`): a normal end.
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => break Ok(Exit::Success),
                    Err(e) => break Err(anyhow::anyhow!("cannot write the output: {e}")),
                    Ok(()) => {}
                }
            }
            _ = signals.recv() => break Ok(Exit::Success),
        }
    };
    w.close().await;
    result
}

/// One happening as event lines (serve writes its stream with it too).
pub fn write(buf: &mut Vec<u8>, h: &Happening, out: &Output) -> io::Result<()> {
    let change = |buf: &mut Vec<u8>, c: &Change| match out.format {
        EventFormat::Text => writeln!(buf, "{}", change_line(c, out.color)),
        EventFormat::Jsonl => json::line(&mut *buf, c),
    };
    match h {
        Happening::Change(c) => change(buf, c),
        Happening::Snapshot { rows, .. } => rows.iter().try_for_each(|c| change(buf, c)),
        Happening::Broker {
            time,
            connected,
            reason,
        } => match out.format {
            EventFormat::Text => {
                writeln!(buf, "{}", broker_line(*time, *connected, reason.as_deref()))
            }
            EventFormat::Jsonl => json::line(
                &mut *buf,
                &BrokerEvent::new(*time, *connected, reason.as_deref()),
            ),
        },
        Happening::Warning(w) => {
            eprintln!("mqtt-scan: warning: {w}");
            Ok(())
        }
    }
}
