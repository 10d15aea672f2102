//! The pure core: patterns, payloads, the fold. No I/O, no clock: time is a parameter.

pub mod escape;
pub mod natural;
pub mod pattern;
pub mod payload;
pub mod presets;
pub mod registry;
pub mod rfc3339;
pub mod sparkplug;

pub use escape::escape;
pub use pattern::Pattern;
pub use payload::{Detail, Payload, State, Vocabulary};
pub use registry::{Change, Extra, Observation, Outcome, Registry, Row, SortKey, Source, Summary};
