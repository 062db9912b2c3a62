//! CDN targets: the CDNs a `cdn:` entry can name as its `provider`. A target is one folder under
//! `cdn/` and one line in [`Cdn::standard`](super::Cdn::standard).

use schemars::{Schema, SchemaGenerator};
use serde_json::{Map, Value};
use strata_sdk::Resource;

use crate::spec::SpecContext;

/// A CDN strata can lower an entry of `cdn:` to, selected by the entry's `provider`.
pub trait CdnTarget: Send + Sync {
    /// The `provider:` value that selects it (`cloudfront`).
    fn name(&self) -> &'static str;

    /// JSON Schema of one entry for this target, `provider` included (with a `const`/`enum` of
    /// [`name`](CdnTarget::name), which tells the targets' entries apart), generated from the
    /// target's config type.
    fn entry_schema(&self, generator: &mut SchemaGenerator) -> Schema;

    /// Decodes, validates and lowers the entry `cdn.<name>` (its whole map, `provider`
    /// included). Problems are reported at their spans; resources are returned only for an
    /// entry that decoded completely. The entry's main resource should be at `cdn.<name>`, so
    /// `${cdn.<name>.domain_name}` refers to its outputs.
    fn lower_entry(&self, cx: &mut SpecContext<'_>, name: &str, settings: &Map<String, Value>) -> Vec<Resource>;
}
