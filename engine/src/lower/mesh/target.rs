//! Mesh targets: the service meshes `mesh:` lowers to. A target is one module under `mesh/` and
//! one line in [`Mesh::standard`](super::Mesh::standard).

use strata_sdk::Resource;

use super::MeshConfig;
use crate::spec::SpecContext;

/// A service mesh strata can lower `mesh:` to, selected by `mesh.provider`.
pub trait MeshTarget: Send + Sync {
    /// The `mesh.provider` value that selects it.
    fn name(&self) -> &'static str;

    /// Reports what the spec asks for that this mesh cannot express, at the setting. Runs after
    /// the checks every mesh shares.
    fn check_support(&self, cx: &mut SpecContext<'_>, mesh: &MeshConfig);

    /// The mesh's objects for the spec (problems were reported by the checks before).
    fn lower(&self, cx: &SpecContext<'_>, mesh: &MeshConfig) -> Vec<Resource>;
}
