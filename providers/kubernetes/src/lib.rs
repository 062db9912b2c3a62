//! The Kubernetes provider of strata.
//!
//! * Kinds are `"{apiVersion}/{Kind}"` (`v1/ConfigMap`, `apps/v1/Deployment`,
//!   `networking.istio.io/v1/VirtualService`); any kind the cluster serves works, found through
//!   discovery (cached per provider instance, refreshed when a kind is missing, so a CRD
//!   applied earlier in the same run makes its kind usable).
//! * `attrs` is the full manifest; `remote_id` is `"{namespace}/{name}"` or `"{name}"` for
//!   cluster-scoped objects.
//! * Create and update are server-side apply with field manager `strata` (configurable). A
//!   conflict only with `Update` writers (`kubectl edit/patch/scale`, controllers: drift of
//!   fields strata applies) is resolved by applying again, forced; a conflict with another
//!   applier fails naming it, unless `force_conflicts` is set. Every applied object carries
//!   strata's ownership labels (`app.kubernetes.io/managed-by=strata`, `strata.dev/project`,
//!   `strata.dev/env`) and the `strata.dev/address` annotation; objects without them are
//!   reported as foreign.
//! * Ownership is checked again at write time, whatever the plan said: create and update read
//!   the object first and refuse (`conflict`, naming the object, its field managers and
//!   `strata import`) one that exists without strata's marks for this address, even with
//!   `force_conflicts`; delete refuses an object whose marks were changed or removed. The
//!   write carries the read `resourceVersion` (delete: uid and resourceVersion) as a
//!   precondition, so it lands on the object that was checked.
//! * Field-managed resources: kind `fields:{apiVersion}/{Kind}` (see [`fields`]) set just the
//!   fields in their attrs on an existing object strata does not own, and remove just those on
//!   delete.
//! * Reads report values the API server stored in another spelling (a Secret's `stringData`
//!   folded into `data`, quantities such as `500m` for `0.5`) as the desired manifest spells
//!   them when they are equal ([`normalize`]), so re-plans are no-ops.
//! * Reads are batched: one LIST per (kind, namespace), paged, filtered by the ownership label
//!   selector, plus a GET only for names the LIST did not return.
//! * Deletes use foreground propagation and wait until the object is gone.
//!
//! [`implicit_dependencies`] gives the engine the ordering it cannot see in references
//! (Namespace before its objects, CRD before its custom resources).

mod client;
mod config;
mod deps;
mod error;
pub mod fields;
mod kinds;
pub mod normalize;
mod ownership;
mod plugin;
mod provider;
mod quantity;
mod read;
mod validate;

pub use config::{DEFAULT_DELETE_TIMEOUT, DEFAULT_FIELD_MANAGER, KubernetesConfig, parse_duration};
pub use deps::{PROVIDER_NAME, implicit_dependencies};
pub use error::{Error, FORCE_CONFLICTS_HINT, classify as classify_kube_error};
pub use fields::field_manager as field_manager_for;
pub use kinds::{FIELDS_PREFIX, KindRef, Management, OUTPUTS, builtin_namespaced, kind_schema, split_management};
pub use ownership::{OwnershipMarks, evaluate_ownership};
pub use plugin::KubernetesPlugin;
pub use provider::{KubernetesProvider, LIST_PAGE_SIZE};
pub use read::{ObjectKey, ReadGroup, group_reads, strip_server_fields};
pub use validate::validate_manifest;

/// Re-exported so callers can build a client for [`KubernetesProvider::with_client`].
pub use kube;
