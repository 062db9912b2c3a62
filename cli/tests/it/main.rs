//! The `strata` binary's integration tests, in one test binary (one link instead of seven).
//!
//! - `cli`, `examples`: the binary and the built-in plugins, no emulator.
//! - `locks`: the local lock and Ctrl-C, with the binary signalled as a child process.
//! - `hostile`: every invalid fixture and hostile input through `strata validate` in a child
//!   process: a normal exit 1, never a signal or a panic.
//! - `emulated`: the binary against local emulators: moto (S3, CloudFront, Route 53; the Python
//!   venv that `scripts/test.sh` sets up) and kube-test-server driven by the real kubectl.
//!
//! Needs the `test-provider` feature (`scripts/test.sh` turns it on).

mod ci_workflow;
mod cli;
mod drift;
mod emulated;
mod examples;
mod hostile;
mod invalid_specs;
mod locks;
mod schema;

// Launchers and helpers shared with other crates' tests (`tests/support/`).
#[path = "../../../tests/support/fault_proxy.rs"]
mod fault_proxy;
#[path = "../../../tests/support/kube.rs"]
mod kube;
#[path = "../../../tests/support/moto.rs"]
mod moto;
