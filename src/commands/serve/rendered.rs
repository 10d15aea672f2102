//! `/api/clients`' rows as rendered, kept for the next request: whole, per sort and filter,
//! while the table's version stays; and in name order (the default sort) in stretches of
//! rows, each rendered again only when one of its rows has changed.

use std::sync::Arc;

use bytes::Bytes;

use crate::render::json;
use crate::status::{Registry, SortKey, State};

/// A document in the pieces the renderer writes (64 KiB each, or a stretch of rows). One
/// 32 MiB buffer per request would be fresh pages from the kernel every time (an allocation
/// that size is mapped anew and faulted in page by page: 40% of the time at 100,000
/// clients); pieces of this size come from the allocator's heap. (Handing each piece to the
/// HTTP side as it is written, to overlap render and transfer, measured slower on two
/// cores: 37.6 ms against 30.7 ms at 100,000 clients.)
#[derive(Default)]
pub struct Pieces {
    pub pieces: Vec<Bytes>,
    pub len: usize,
}

impl Pieces {
    fn push(&mut self, piece: Bytes) {
        self.len += piece.len();
        self.pieces.push(piece);
    }
}

impl std::io::Write for Pieces {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.push(Bytes::copy_from_slice(data));
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A sort and a filter of `/api/clients`.
type View = (SortKey, Option<State>);

/// The rendered rows kept.
#[derive(Default)]
pub struct Rendered {
    /// The table (`Registry::id`) all this was rendered from: another one starts afresh.
    table: u64,
    /// The table's version that `kept` was rendered at.
    version: u64,
    /// Whole: the two sorts and filters asked for last (at 100,000 clients each is 30 MB).
    kept: Vec<(View, Arc<Pieces>)>,
    by_name: Option<ByName>,
}

/// The rows in name order, at one layout of the table (no row has come or gone since).
struct ByName {
    layout: u64,
    /// The rows' places, in name order.
    order: Vec<u32>,
    /// Per filter asked, the stretches of `order` as rendered: stretch k is the rows at
    /// `order[k * STRETCH..][..STRETCH]` that pass the filter.
    views: Vec<(Option<State>, Vec<Stretch>)>,
}

/// Some rows rendered, each after `,\n    ` (see [`json::items`]).
struct Stretch {
    /// The table's version they were rendered at: still right while none of their rows
    /// was touched after it.
    at: u64,
    bytes: Bytes,
}

/// Rows per stretch: a few changed rows between two requests cost a few stretches, at
/// about 40 kB (a heap allocation, not a mapping) each.
const STRETCH: usize = 128;

impl Rendered {
    const KEEP: usize = 2;

    /// The `clients` array's rows and the document's end, sorted by `sort`, filtered by
    /// `only`: what [`json::rows`] writes of `registry.rows(sort, only)`.
    pub fn get(&mut self, registry: &Registry, sort: SortKey, only: Option<State>) -> Arc<Pieces> {
        if self.table != registry.id() {
            *self = Self {
                table: registry.id(),
                ..Self::default()
            };
        }
        if self.version != registry.version() {
            self.kept.clear();
            self.version = registry.version();
        }
        let key = (sort, only);
        if let Some(at) = self.kept.iter().position(|(k, _)| *k == key) {
            let hit = self.kept.remove(at);
            let pieces = Arc::clone(&hit.1);
            self.kept.push(hit);
            return pieces;
        }
        let pieces = Arc::new(if sort == SortKey::Name {
            self.by_name(registry, only)
        } else {
            let mut pieces = Pieces::default();
            // Writing to memory cannot fail.
            let _ = json::rows(&registry.rows(sort, only), &mut pieces);
            pieces
        });
        if self.kept.len() >= Self::KEEP {
            self.kept.remove(0);
        }
        self.kept.push((key, Arc::clone(&pieces)));
        pieces
    }

    /// In name order: the stretches kept where none of their rows changed, the others
    /// rendered again.
    fn by_name(&mut self, registry: &Registry, only: Option<State>) -> Pieces {
        let layout = registry.layout();
        let by = match &mut self.by_name {
            Some(by) if by.layout == layout => by,
            by => by.insert(ByName {
                layout,
                order: registry.name_order(),
                views: Vec::new(),
            }),
        };
        let at = by
            .views
            .iter()
            .position(|(f, _)| *f == only)
            .unwrap_or_else(|| {
                by.views.push((only, Vec::new()));
                by.views.len() - 1
            });
        let stretches = &mut by.views[at].1;
        let mut buf = Vec::with_capacity(64 * 1024);
        for (k, places) in by.order.chunks(STRETCH).enumerate() {
            let rows = || places.iter().filter_map(|&p| registry.at(p));
            if stretches
                .get(k)
                .is_some_and(|s| rows().all(|r| r.touched <= s.at))
            {
                continue;
            }
            buf.clear();
            // Writing to memory cannot fail.
            let _ = json::items(
                rows().filter(|r| only.is_none_or(|s| r.state == s)),
                &mut buf,
            );
            let stretch = Stretch {
                at: registry.version(),
                bytes: Bytes::copy_from_slice(&buf),
            };
            match stretches.get_mut(k) {
                Some(s) => *s = stretch,
                None => stretches.push(stretch),
            }
        }
        let mut pieces = Pieces::default();
        for s in stretches.iter().filter(|s| !s.bytes.is_empty()) {
            // The array's first row comes after no comma.
            pieces.push(if pieces.len == 0 {
                s.bytes.slice(1..)
            } else {
                s.bytes.clone()
            });
        }
        let mut end = Vec::new();
        json::end(pieces.len > 0, &mut end);
        pieces.push(Bytes::from(end));
        pieces
    }
}

#[cfg(test)]
mod tests;
