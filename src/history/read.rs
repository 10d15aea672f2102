//! Reading the history database: `list`, `watch` and `check --db` fill `since` from it,
//! and `serve`'s `/api/availability` counts each client's online time in it.
