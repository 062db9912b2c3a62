//! Sections: each owns one top-level key of strata.yaml and lowers it to provider resources.
//!
//! A section is the plugin unit of strata (like a Vector component): it decodes its key into its
//! own typed config (the JSON Schema in `schemas/` is generated from those same types), validates
//! it with spans, and returns the resources it implies. Loading decodes every section first, then
//! lowers each one with typed read access to the others' configs ([`Sections::get`]), so a
//! section can build on another (observability reads services, mesh and cdn).
//!
//! A new section is one module here plus one line in [`standard`]. The core keys (`version`,
//! `project`, `state`, `providers`, `services`, `resources`, `environments`) are not sections:
//! the loader reads them itself.

pub mod cdn;
pub mod drift_policy;
pub mod flags;
pub mod mesh;
pub mod observability;
mod resources;
pub mod scaling;

use std::any::Any;

use schemars::{Schema, SchemaGenerator};
use serde_json::Value;
use strata_sdk::Resource;

use crate::spec::SpecContext;

pub use resources::{lower_entries as lower_raw_entries, schema as raw_resources_schema};

/// One top-level section of strata.yaml. The typed config is the plugin's own.
pub trait Section: Send + Sync + 'static {
    /// The decoded section; other sections read it through [`Sections::get`].
    type Config: Send + Sync + 'static;

    /// The top-level key this section owns (`mesh`, `cdn`, ...).
    fn name(&self) -> &'static str;

    /// JSON Schema of the section, generated from the types [`decode`](Section::decode) produces.
    fn schema(&self, generator: &mut SchemaGenerator) -> Schema;

    /// Decodes the section. Every problem is reported to `cx` with its span and decoding goes on
    /// past it: the parts that decoded are returned, `None` only when nothing usable is left.
    fn decode(&self, cx: &mut SpecContext<'_>, value: &Value) -> Option<Self::Config>;

    /// Validates the decoded section and lowers it. `sections` holds every section's decoded
    /// config. The resources that could be built are returned even when problems were
    /// reported, so later checks (references, provider validation) still run.
    fn lower(&self, cx: &mut SpecContext<'_>, config: &Self::Config, sections: &Sections) -> Vec<Resource>;
}

/// The object-safe form of [`Section`] the registry holds (implemented for every section).
pub trait DynSection: Send + Sync {
    fn name(&self) -> &'static str;
    fn schema(&self, generator: &mut SchemaGenerator) -> Schema;
    fn decode_any(&self, cx: &mut SpecContext<'_>, value: &Value) -> Option<Box<dyn Any + Send + Sync>>;
    fn lower_any(
        &self,
        cx: &mut SpecContext<'_>,
        config: &(dyn Any + Send + Sync),
        sections: &Sections,
    ) -> Vec<Resource>;
}

impl<S: Section> DynSection for S {
    fn name(&self) -> &'static str {
        Section::name(self)
    }

    fn schema(&self, generator: &mut SchemaGenerator) -> Schema {
        Section::schema(self, generator)
    }

    fn decode_any(&self, cx: &mut SpecContext<'_>, value: &Value) -> Option<Box<dyn Any + Send + Sync>> {
        self.decode(cx, value).map(|c| Box::new(c) as Box<dyn Any + Send + Sync>)
    }

    fn lower_any(
        &self,
        cx: &mut SpecContext<'_>,
        config: &(dyn Any + Send + Sync),
        sections: &Sections,
    ) -> Vec<Resource> {
        match config.downcast_ref::<S::Config>() {
            Some(config) => self.lower(cx, config, sections),
            // Loading hands each section the config its own `decode` returned.
            None => unreachable!("section `{}` was handed another section's config", Section::name(self)),
        }
    }
}

/// The decoded configs of every section present in the spec, by section name.
#[derive(Default)]
pub struct Sections {
    decoded: Vec<(&'static str, Box<dyn Any + Send + Sync>)>,
}

impl Sections {
    pub fn insert(&mut self, name: &'static str, config: Box<dyn Any + Send + Sync>) {
        self.decoded.push((name, config));
    }

    /// A section's decoded config by its type (`sections.get::<MeshConfig>()`); `None` when the
    /// section is absent from the spec or did not decode.
    pub fn get<C: 'static>(&self) -> Option<&C> {
        self.decoded.iter().find_map(|(_, c)| c.downcast_ref::<C>())
    }

    /// A section's decoded config by section name, untyped (the loader's lowering loop).
    pub fn by_name(&self, name: &str) -> Option<&(dyn Any + Send + Sync)> {
        self.decoded.iter().find(|(n, _)| *n == name).map(|(_, c)| c.as_ref())
    }
}

/// The sections built into strata, with their targets, in the order their resources are listed.
/// A new section is one line here.
pub fn standard() -> Vec<Box<dyn DynSection>> {
    vec![
        Box::new(mesh::Mesh::standard()),
        Box::new(cdn::Cdn::standard()),
        Box::new(scaling::Scaling),
        Box::new(flags::Flags),
        Box::new(observability::Observability),
        Box::new(drift_policy::Drift),
    ]
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

/// Builds a *field-managed* Kubernetes resource: the object exists already and belongs to
/// someone else (a Namespace on every real cluster), and strata manages only the fields in
/// `manifest` besides its identity. The Kubernetes provider applies them with a field manager
/// of their own and, on destroy, removes only those fields (kind `fields:<apiVersion>/<Kind>`,
/// see the provider's README).
pub fn kubernetes_fields_resource(address: strata_sdk::Address, manifest: Value) -> Resource {
    let mut r = kubernetes_resource(address, manifest);
    r.kind = format!("fields:{}", r.kind);
    r
}

/// The names the sections' tests parse with: the standard sections and backends, and the
/// providers the examples use (the engine's tests build no real provider).
#[cfg(test)]
pub(crate) fn test_names() -> crate::spec::Names {
    crate::spec::Names {
        providers: vec!["kubernetes", "aws", "cloudflare", "gcp", "azure", "test"],
        ..crate::registry::Registry::standard().names()
    }
}

/// Parses `text` for `env` and runs one lowering on its section, as loading would: the lowering
/// tests' common setup. Parse problems fail the test; the lowering's own are returned.
#[cfg(test)]
pub(crate) fn lower_for_test<S: Section>(
    section: &S,
    text: &str,
    env: Option<&str>,
    getenv: &dyn Fn(&str) -> Option<String>,
) -> (Vec<Resource>, crate::diag::Diagnostics) {
    let names = test_names();
    let (p, d) = crate::spec::parse_spec_with_env("strata.yaml", text, env, &names, getenv)
        .unwrap_or_else(|d| panic!("parse failed: {:?}", d.items));
    assert!(d.is_empty(), "parse diagnostics: {:?}", d.items);
    let mut cx = p.context(&names);
    let out = match section.decode(&mut cx, &p.doc[Section::name(section)]) {
        Some(config) => section.lower(&mut cx, &config, &Sections::default()),
        None => Vec::new(),
    };
    // In source order, as loading reports them (a section decodes everything before it lowers).
    (out, cx.diags.sorted())
}
