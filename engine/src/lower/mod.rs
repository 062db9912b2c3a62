//! Lowerings: each turns one spec section into provider resources.
//!
//! A lowering is the plugin unit of strata (like a Vector component): it owns one top-level
//! section, decodes it into its own typed config (the JSON Schema in `schemas/` is generated
//! from those same types), validates it with spans, and returns the resources it implies.
//! New sections plug in by adding a module here and a line to [`registry`].

mod cdn;
pub mod flags;
mod mesh;
mod resources;
mod scaling;

use schemars::{Schema, SchemaGenerator};
use serde_json::Value;
use strata_sdk::Resource;

use crate::spec::SpecContext;

pub use resources::{RawResources, lower_entries as lower_raw_entries};

/// One spec section's lowering to provider resources.
pub trait Lowering: Send + Sync {
    /// The top-level key this lowering owns (`mesh`, `cdn`, `resources`, ...).
    fn section(&self) -> &'static str;

    /// JSON Schema of the section, generated from the types `lower` decodes.
    fn schema(&self, generator: &mut SchemaGenerator) -> Schema;

    /// Validates and lowers the section. Problems are reported to `cx` with their spans; the
    /// resources that could be built are returned either way so later checks still run.
    fn lower(&self, cx: &mut SpecContext<'_>, section: &Value) -> Vec<Resource>;
}

/// Every lowering strata has, in the order their resources are listed.
pub fn registry() -> Vec<Box<dyn Lowering>> {
    vec![
        Box::new(RawResources),
        Box::new(mesh::Mesh),
        Box::new(cdn::Cdn),
        Box::new(scaling::Scaling),
        Box::new(flags::Flags),
    ]
}

/// Names of the sections lowerings own (for top-level "did you mean").
pub fn section_names() -> Vec<&'static str> {
    registry().iter().map(|l| l.section()).filter(|s| !crate::spec::CORE_SECTIONS.contains(s)).collect()
}

/// Builds a Kubernetes resource for a lowering: `kind` is `apiVersion/Kind` as the provider
/// expects, the manifest is the attrs.
pub fn kubernetes_resource(address: strata_sdk::Address, manifest: Value) -> Resource {
    let api_version = manifest["apiVersion"].as_str().unwrap_or_default();
    let kind = manifest["kind"].as_str().unwrap_or_default();
    Resource {
        address,
        provider: "kubernetes".into(),
        kind: format!("{api_version}/{kind}"),
        attrs: manifest,
        depends_on: Vec::new(),
    }
}

/// Parses `text` for `env` and runs one lowering on its section, as loading would: the lowering
/// tests' common setup. Parse problems fail the test; the lowering's own are returned.
#[cfg(test)]
pub(crate) fn lower_for_test(
    lowering: &dyn Lowering,
    text: &str,
    env: Option<&str>,
    getenv: &dyn Fn(&str) -> Option<String>,
) -> (Vec<Resource>, crate::diag::Diagnostics) {
    let (p, d) = crate::spec::parse_spec_with_env("strata.yaml", text, env, &section_names(), getenv)
        .unwrap_or_else(|d| panic!("parse failed: {:?}", d.items));
    assert!(d.is_empty(), "parse diagnostics: {:?}", d.items);
    let mut cx = SpecContext {
        project: &p.project,
        env: &p.env,
        services: &p.services,
        doc: &p.doc,
        source: &p.source,
        diags: Default::default(),
    };
    let out = lowering.lower(&mut cx, &p.doc[lowering.section()]);
    (out, cx.diags)
}
