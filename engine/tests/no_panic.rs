//! The loader never panics, whatever it is given: a cheap, always-on cousin of the fuzz target
//! (`fuzz/`, docs/fuzzing.md). Inputs are derived from the invalid-spec fixtures and the
//! examples: every prefix (truncation at each byte offset; at 4,096 evenly spaced offsets in
//! the few fixtures longer than that, such as the 20,000-level nesting ones) and random byte
//! edits with a fixed seed, so a failure reproduces exactly.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;

use strata_engine::config::{load_with_env, test_factory};
use strata_testkit::TestProvider;

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// At most this many truncations per file.
const MAX_CUTS: usize = 4096;

/// Bytes that matter to YAML, references and units.
const INTERESTING: &[u8] = b"{}[]:,-\n \t\"'$&*#%!|>?.0123456789s";

fn seeds() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out = Vec::new();
    let mut files: Vec<_> =
        std::fs::read_dir(root.join("tests/fixtures/invalid")).unwrap().map(|e| e.unwrap().path()).collect();
    if let Ok(examples) = std::fs::read_dir(root.join("examples")) {
        files.extend(examples.map(|e| e.unwrap().path().join("strata.yaml")).filter(|p| p.exists()));
    }
    files.sort();
    for f in files {
        out.push((f.display().to_string(), std::fs::read_to_string(&f).unwrap()));
    }
    out
}

fn inputs() -> Vec<(String, String)> {
    let mut rng = Rng(0x5EE_D0F5_7A7A);
    let mut out = Vec::new();
    for (name, text) in seeds() {
        let bytes = text.as_bytes();
        // Truncations at every byte offset (evenly spaced ones in long files: every offset of a
        // 70 KB file would be 70,000 loads of 35 KB on average).
        let step = bytes.len().div_ceil(MAX_CUTS).max(1);
        for cut in (0..=bytes.len()).step_by(step) {
            out.push((format!("{name} truncated at {cut}"), String::from_utf8_lossy(&bytes[..cut]).into_owned()));
        }
        // Random edits: 1 to 4 bytes replaced, inserted or deleted.
        for m in 0..30 {
            let mut b = bytes.to_vec();
            for _ in 0..=rng.below(4) {
                let pos = rng.below(b.len().max(1));
                let byte =
                    if rng.below(4) == 0 { rng.below(128) as u8 } else { INTERESTING[rng.below(INTERESTING.len())] };
                match rng.below(3) {
                    0 if pos < b.len() => b[pos] = byte,
                    1 if pos < b.len() => {
                        b.remove(pos);
                    }
                    _ => b.insert(pos.min(b.len()), byte),
                }
            }
            out.push((format!("{name} mutation {m}"), String::from_utf8_lossy(&b).into_owned()));
        }
    }
    out
}

#[test]
fn the_loader_never_panics() {
    let inputs = inputs();
    assert!(inputs.len() >= 3000, "only {} inputs", inputs.len());
    let started = std::time::Instant::now();
    let mut panics = Vec::new();
    for (i, (label, text)) in inputs.iter().enumerate() {
        // Every other input selects an environment, so overlays are exercised too.
        {
            let env = if i % 2 == 0 { None } else { Some("dev") };
            let result = catch_unwind(AssertUnwindSafe(|| {
                let factory = test_factory(Arc::new(TestProvider::new()))
                    .provider_instance("kubernetes", Arc::new(TestProvider::new()));
                if let Err(d) = load_with_env("strata.yaml", text.as_str(), env, &factory, &|_| None) {
                    // Rendering must not panic either (spans inside the text, on char boundaries).
                    let _ = d.render(false);
                }
            }));
            if result.is_err() {
                panics.push(format!("{label} (env {env:?}):\n{text}\n----"));
            }
        }
    }
    assert!(panics.is_empty(), "{} input(s) panicked:\n{}", panics.len(), panics.join("\n"));
    eprintln!("{} inputs in {:?}", inputs.len(), started.elapsed());
}
