//! Field-managed resources: strata sets some fields of an object that someone else owns.
//!
//! The Linkerd mesh needs `linkerd.io/inject: enabled` on a Namespace that exists on every real
//! cluster before strata runs. Owning that Namespace (ownership marks, delete on destroy) would
//! be wrong; refusing it as foreign makes the mesh unusable. A resource whose kind is
//! `fields:{apiVersion}/{Kind}` is *field-managed*:
//!
//! * its attrs are the identity (`apiVersion`, `kind`, `metadata.name`, `metadata.namespace`)
//!   plus exactly the fields strata sets, e.g.
//!   `{apiVersion: v1, kind: Namespace, metadata: {name: market, labels: {linkerd.io/inject: enabled}}}`;
//! * apply is a server-side apply of those attrs, with no ownership marks, by a field manager of
//!   its own ([`field_manager`]: `strata:<address>`), so the object's other fields and other
//!   managers' fields are untouched, and two field-managed resources on one object (or a
//!   field-managed and an owned one) do not take each other's fields away;
//! * the object must exist: apply never creates it (`not_found` otherwise);
//! * read returns the live object as ours, so the engine diffs just the attributes the spec sets;
//! * delete applies an empty intent for that manager: the API server removes the fields only it
//!   owned, and never the object.

use serde_json::{Map, Value, json};
use strata_sdk::Address;

/// Longest field manager name the API server accepts.
const MAX_FIELD_MANAGER: usize = 128;

/// The field manager of a field-managed resource: `{base}:{address}` (`strata:mesh.linkerd.inject-market`).
///
/// One manager per resource, not the provider's shared one, because server-side apply gives
/// each manager one set of fields: applying one resource's fields under the shared manager
/// would remove the fields of every other resource applied under it to the same object, and the
/// empty intent that deletes a field-managed resource would remove them all. Names longer than
/// the API server's limit keep their start and end in a stable hash.
pub fn field_manager(base: &str, address: &Address) -> String {
    let full = format!("{base}:{address}");
    if full.len() <= MAX_FIELD_MANAGER {
        return full;
    }
    let hash = format!("~{:016x}", fnv1a(full.as_bytes()));
    let mut cut = MAX_FIELD_MANAGER - hash.len();
    while !full.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{hash}", &full[..cut])
}

/// FNV-1a, 64 bits: stable across builds and Rust versions (the manager name is stored in the
/// cluster and must be the same next run), unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The apply body that gives up every field a manager owns: identity only. The API server
/// removes the fields no other manager owns, and drops the manager's entry.
pub fn empty_intent(manifest: &Value) -> Value {
    let mut metadata = Map::new();
    for k in ["name", "namespace"] {
        if let Some(v) = manifest.pointer(&format!("/metadata/{k}")) {
            metadata.insert(k.into(), v.clone());
        }
    }
    json!({"apiVersion": manifest["apiVersion"], "kind": manifest["kind"], "metadata": metadata})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_manager_per_resource_within_the_limit() {
        let a = Address::parse("mesh.linkerd.inject-market").unwrap();
        assert_eq!(field_manager("strata", &a), "strata:mesh.linkerd.inject-market");
        let long = Address::parse(&format!("resources.{}", "x".repeat(200))).unwrap();
        let m = field_manager("strata", &long);
        assert_eq!(m.len(), MAX_FIELD_MANAGER);
        assert!(m.starts_with("strata:resources.xxx"), "{m}");
        assert_eq!(m, field_manager("strata", &long), "stable");
        let other = Address::parse(&format!("resources.{}y", "x".repeat(200))).unwrap();
        assert_ne!(m, field_manager("strata", &other));
    }

    #[test]
    fn empty_intent_keeps_identity_only() {
        let m = json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "market", "labels": {"linkerd.io/inject": "enabled"}}});
        assert_eq!(empty_intent(&m), json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "market"}}));
    }
}
