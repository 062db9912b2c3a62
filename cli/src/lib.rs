//! The strata engine: spec loading, lowering, graph, plan, apply and state.
//!
//! The binary (`src/main.rs`) is a thin layer over these modules; only `main` prints errors.

pub mod apply;
pub mod args;
pub mod commands;
pub mod config;
pub mod diag;
pub mod drift;
pub mod lower;
pub mod plan;
pub mod providers;
pub mod redact;
pub mod render;
pub mod retry;
pub mod schema;
pub mod spec;
pub mod state;
pub mod testing;
