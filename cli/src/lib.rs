//! The `strata` command line: arguments, commands, terminal output and the plugin registry, over
//! the engine (`strata-engine`). The binary (`src/main.rs`) is a thin layer over these modules;
//! only `main` prints errors.

pub mod args;
pub mod commands;
pub mod gate;
pub mod notify;
pub mod registry;
#[cfg(feature = "sandbox")]
pub mod sandbox;
