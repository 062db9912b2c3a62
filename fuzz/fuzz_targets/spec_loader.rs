//! Feeds arbitrary UTF-8 to the spec loader (parse, overlay, lowering, references, cycles).
//! Loading may reject the input with diagnostics; it must never panic, and rendering those
//! diagnostics must not panic either.

#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use strata_engine::config::{load_with_env, test_factory};
use strata_testkit::TestProvider;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let factory = test_factory(Arc::new(TestProvider::new())).provider_instance("kubernetes", Arc::new(TestProvider::new()));
    // Half the inputs select an environment, so overlays are exercised too.
    let env = if data.len() % 2 == 0 { None } else { Some("dev") };
    let getenv = |name: &str| (name == "HOME").then(|| "/home/fuzz".to_string());
    if let Err(diags) = load_with_env("strata.yaml", text, env, &factory, &getenv) {
        let _ = diags.render(false);
    }
});
