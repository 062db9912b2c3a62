//! The plugins one strata build is made of: sections (with their targets), providers and state
//! backends. The CLI lists them in `cli/src/registry.rs`; tests build their own (the in-memory
//! test provider, a test-only section).

use std::sync::Arc;

use strata_sdk::{FixedProvider, Provider, ProviderPlugin};

use crate::lower::{self, DynSection, Section};
use crate::spec::Names;
use crate::state::{LocalPlugin, StateBackendPlugin};

/// Everything plugged into the engine for one run.
pub struct Registry {
    sections: Vec<Box<dyn DynSection>>,
    providers: Vec<Arc<dyn ProviderPlugin>>,
    backends: Vec<Arc<dyn StateBackendPlugin>>,
    force_conflicts: bool,
}

impl Registry {
    /// No plugins at all: no section besides the core ones, no provider, no backend.
    pub fn empty() -> Self {
        Registry { sections: Vec::new(), providers: Vec::new(), backends: Vec::new(), force_conflicts: false }
    }

    /// The standard sections ([`lower::standard`]) and the local state backend: what every
    /// build has. Providers and other backends are added by the caller.
    pub fn standard() -> Self {
        Registry {
            sections: lower::standard(),
            providers: Vec::new(),
            backends: vec![Arc::new(LocalPlugin)],
            force_conflicts: false,
        }
    }

    /// Adds a section (after the ones already registered: its resources are listed after theirs).
    pub fn section(mut self, section: impl Section) -> Self {
        self.sections.push(Box::new(section));
        self
    }

    /// Adds a provider; a later registration under the same name replaces an earlier one.
    pub fn provider(mut self, plugin: impl ProviderPlugin + 'static) -> Self {
        let plugin: Arc<dyn ProviderPlugin> = Arc::new(plugin);
        match self.providers.iter_mut().find(|p| p.name() == plugin.name()) {
            Some(slot) => *slot = plugin,
            None => self.providers.push(plugin),
        }
        self
    }

    /// Adds a provider instance built beforehand under `name` (tests, benchmarks).
    pub fn provider_instance(self, name: &'static str, provider: Arc<dyn Provider>) -> Self {
        self.provider(FixedProvider::new(name, provider))
    }

    /// Adds a state backend; a later registration under the same name replaces an earlier one.
    pub fn backend(mut self, plugin: impl StateBackendPlugin + 'static) -> Self {
        let plugin: Arc<dyn StateBackendPlugin> = Arc::new(plugin);
        match self.backends.iter_mut().find(|b| b.name() == plugin.name()) {
            Some(slot) => *slot = plugin,
            None => self.backends.push(plugin),
        }
        self
    }

    /// `--force-conflicts` for this run, passed to every provider in its
    /// [`ProviderContext`](strata_sdk::ProviderContext).
    pub fn with_force_conflicts(mut self, force: bool) -> Self {
        self.force_conflicts = force;
        self
    }

    pub fn force_conflicts(&self) -> bool {
        self.force_conflicts
    }

    pub fn sections(&self) -> &[Box<dyn DynSection>] {
        &self.sections
    }

    pub fn providers(&self) -> &[Arc<dyn ProviderPlugin>] {
        &self.providers
    }

    pub fn provider_plugin(&self, name: &str) -> Option<&Arc<dyn ProviderPlugin>> {
        self.providers.iter().find(|p| p.name() == name)
    }

    pub fn backends(&self) -> &[Arc<dyn StateBackendPlugin>] {
        &self.backends
    }

    pub fn backend_plugin(&self, name: &str) -> Option<&Arc<dyn StateBackendPlugin>> {
        self.backends.iter().find(|b| b.name() == name)
    }

    /// The names the plugins contribute to the spec, for the loader's checks.
    pub fn names(&self) -> Names {
        Names {
            sections: self.sections.iter().map(|s| s.name()).collect(),
            providers: self.providers.iter().map(|p| p.name()).collect(),
            backends: self.backends.iter().map(|b| b.name()).collect(),
        }
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::standard()
    }
}
