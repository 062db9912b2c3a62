//! The strata engine: spec loading, sections (lowerings), graph, plan, apply, state, redaction
//! and diagnostics.
//!
//! It has no command-line, terminal or cloud SDK dependency: the `strata` binary (`cli/`) is the
//! glue that parses arguments, draws progress, picks exit codes and lists the plugins
//! (providers, sections, state backends) in its `registry.rs`.

pub mod apply;
pub mod config;
pub mod diag;
pub mod drift;
pub mod graph;
pub mod lower;
pub mod ops;
pub mod plan;
pub mod providers;
pub mod redact;
pub mod registry;
pub mod render;
pub mod retry;
pub mod schema;
pub mod source;
pub mod spec;
pub mod state;
