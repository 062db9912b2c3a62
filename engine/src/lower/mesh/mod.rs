//! `mesh:` — service mesh policy for the declared services, lowered to Istio or Linkerd objects.
//!
//! ```yaml
//! mesh:
//!   provider: istio            # istio | linkerd
//!   mtls: strict               # strict | permissive
//!   gateway: { hosts: [api.example.com], to: api, tls_secret: api-example-tls }
//!   traffic:
//!     api:
//!       split: { v1: 90, v2: 10 }
//!       routes: [ { match: { headers: { x-canary: "true" } }, to: v2 } ]
//!       timeout: 10s
//!       retries: { attempts: 3, per_try_timeout: 2s, on: [5xx, reset, connect-failure] }
//!       circuit_breaker: { consecutive_errors: 5, interval: 30s, ejection: 60s, max_ejected: 50% }
//!       fault: { delay: { percent: 1, fixed: 2s }, abort: { percent: 0.1, status: 503 } }
//!       rate_limit: { per_second: 100, burst: 200 }
//!   authorization:
//!     - { to: api, from: [web], methods: [GET, POST], paths: [/v1/*] }
//!   external:
//!     - { name: openai, hosts: [api.openai.com], ports: [443] }
//!   access_logs: true
//! ```
//!
//! Workloads are found by the labels `app=<service>` and `version=<version>` (the Istio
//! convention). Addresses: `mesh.<service>.<object>` for per-service objects
//! (`mesh.api.virtual-service`), `mesh.peer-authentication.<namespace>`,
//! `mesh.authorization.<service>`, `mesh.gateway`, `mesh.external.<name>`,
//! `mesh.access-logs.<namespace>`, `mesh.namespace.<namespace>`. The reference is docs/mesh.md.

mod config;
mod istio;
mod linkerd;
mod target;
#[cfg(test)]
mod tests;
mod validate;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::Value;
use strata_sdk::{Address, Resource};

pub use config::MeshConfig;
pub use istio::Istio;
pub use linkerd::Linkerd;
pub use target::MeshTarget;

use super::{Section, Sections, kubernetes_fields_resource, kubernetes_resource};
use crate::diag::did_you_mean;
use crate::spec::{Service, SpecContext, path};

/// The `mesh:` section, with the meshes it can lower to.
pub struct Mesh {
    targets: Vec<Box<dyn MeshTarget>>,
}

impl Mesh {
    /// No targets yet: add them with [`Mesh::target`].
    pub fn new() -> Self {
        Mesh { targets: Vec::new() }
    }

    /// The meshes built into strata. A new mesh target is one line here.
    pub fn standard() -> Self {
        Mesh::new().target(Istio).target(Linkerd)
    }

    pub fn target(mut self, target: impl MeshTarget + 'static) -> Self {
        self.targets.push(Box::new(target));
        self
    }

    fn find(&self, name: &str) -> Option<&dyn MeshTarget> {
        self.targets.iter().find(|t| t.name() == name).map(|t| t.as_ref())
    }
}

impl Default for Mesh {
    fn default() -> Self {
        Mesh::standard()
    }
}

impl Section for Mesh {
    type Config = MeshConfig;

    fn name(&self) -> &'static str {
        "mesh"
    }

    fn schema(&self, generator: &mut SchemaGenerator) -> Schema {
        let mut schema = MeshConfig::json_schema(generator);
        let names: Vec<&str> = self.targets.iter().map(|t| t.name()).collect();
        if let Some(provider) =
            schema.as_object_mut().and_then(|o| o.get_mut("properties")).and_then(|p| p.get_mut("provider"))
        {
            provider["enum"] = serde_json::json!(names);
        }
        schema
    }

    fn decode(&self, cx: &mut SpecContext<'_>, section: &Value) -> Option<MeshConfig> {
        let mesh = validate::decode(cx, section)?;
        if self.find(&mesh.provider).is_none() {
            let names: Vec<&str> = self.targets.iter().map(|t| t.name()).collect();
            cx.error(
                &path(["mesh", "provider"]),
                "spec::invalid-value",
                "Invalid value",
                format!("`{}` is not a valid value for `mesh.provider`.", mesh.provider),
                did_you_mean(&mesh.provider, names.iter().copied())
                    .or_else(|| Some(format!("meshes in this build: {}", names.join(", ")))),
            );
            return None;
        }
        Some(mesh)
    }

    fn lower(&self, cx: &mut SpecContext<'_>, mesh: &MeshConfig, _sections: &Sections) -> Vec<Resource> {
        let Some(target) = self.find(&mesh.provider) else {
            return Vec::new();
        };
        validate::check(cx, mesh);
        target.check_support(cx, mesh);
        let mut out = target.lower(cx, mesh);
        out.sort_by(|a, b| a.address.cmp(&b.address));
        out
    }
}

/// The label every strata mesh object selects a service's pods by.
pub const APP_LABEL: &str = "app";
/// The label that tells a service's versions apart.
pub const VERSION_LABEL: &str = "version";

/// Collects lowered objects; objects whose address cannot be formed (names that already failed
/// validation) are skipped.
#[derive(Default)]
struct Out {
    resources: Vec<Resource>,
}

impl Out {
    /// Adds a Kubernetes object at `mesh.<segments...>`; returns its address.
    fn push(&mut self, segments: &[&str], manifest: Value) -> Option<Address> {
        let address = Address::from_segments(std::iter::once("mesh").chain(segments.iter().copied())).ok()?;
        self.resources.push(kubernetes_resource(address.clone(), manifest));
        Some(address)
    }

    /// Adds a field-managed object (strata sets only the fields in `manifest` on an object it
    /// does not own) at `mesh.<segments...>`.
    fn push_fields(&mut self, segments: &[&str], manifest: Value) -> Option<Address> {
        let address = Address::from_segments(std::iter::once("mesh").chain(segments.iter().copied())).ok()?;
        self.resources.push(kubernetes_fields_resource(address.clone(), manifest));
        Some(address)
    }

    /// Like [`Out::push`], ordered after `deps` (creation) and before them (deletion).
    fn push_after(&mut self, segments: &[&str], manifest: Value, deps: &[Option<Address>]) -> Option<Address> {
        let address = self.push(segments, manifest)?;
        if let Some(r) = self.resources.last_mut() {
            for dep in deps.iter().flatten() {
                if !r.depends_on.contains(dep) {
                    r.depends_on.push(dep.clone());
                }
            }
        }
        Some(address)
    }
}

/// `api.apex.svc.cluster.local`.
fn fqdn(name: &str, svc: &Service, cluster_domain: &str) -> String {
    format!("{name}.{}.svc.{cluster_domain}", svc.namespace)
}
