//! From strata.yaml to a validated resource graph: parse, overlay, lower, build providers,
//! check references, order. Pure apart from reading environment variables: no provider is
//! called here, so `validate` and `plan --refresh=false` work offline.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::Value;
use strata_sdk::{Address, ProviderContext, Resource, SettingsError};

use crate::diag::{Diagnostics, SpecDiagnostic, closest_address, did_you_mean};
use crate::graph;
use crate::lower::{self, Sections};
use crate::providers::{ProviderSet, RateLimit, split_engine_settings};
use crate::redact::Redactor;
use crate::registry::Registry;
use crate::spec::refs::{RefExpr, find_refs};
use crate::spec::{Names, ParsedSpec, Path, parse_spec_with_env, path};
use crate::state::StateBackendPlugin;

/// The range of `rate_limit.per_second`: the wait for a token (up to `1 / per_second` seconds)
/// must be a duration a timer can hold.
const MIN_RATE: f64 = 0.001;
const MAX_RATE: f64 = 1_000_000.0;

/// A reference from one resource's attribute to another resource's attribute or output.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// The text between `${` and `}`.
    pub raw: String,
    pub target: usize,
    /// Path into the target's outputs (or, when not an output, its attributes).
    pub attr: Vec<String>,
    pub is_output: bool,
}

/// A loaded, validated spec for one environment.
pub struct Config {
    pub parsed: ParsedSpec,
    pub resources: Vec<Resource>,
    pub index: HashMap<Address, usize>,
    /// `deps[i]`: indexes of the resources `i` must be applied after.
    pub deps: Vec<Vec<usize>>,
    /// References found in each resource's attributes.
    pub refs: Vec<Vec<Reference>>,
    /// Whether resource `i`'s attributes hold `${` anywhere (references or `$${` escapes): the
    /// others are applied exactly as written, without a resolution pass.
    pub templated: Vec<bool>,
    pub providers: ProviderSet,
    /// The plugin of the state backend `state.backend` names.
    pub backend: Arc<dyn StateBackendPlugin>,
    /// Removes the secrets this spec read (`${secret.X}`, sensitive `${env.X}`) from anything
    /// printed; handed to whatever prints.
    pub redactor: Redactor,
}

impl Config {
    /// Opens the state backend `state:` selects, for this environment; relative paths are
    /// relative to `spec_dir`.
    pub fn open_backend(
        &self,
        spec_dir: &std::path::Path,
    ) -> Result<Arc<dyn crate::state::StateBackend>, crate::state::StateError> {
        let cx = crate::state::BackendContext { env: self.parsed.env.clone(), spec_dir: spec_dir.to_path_buf() };
        self.backend.open(&self.parsed.state.settings, &cx)
    }

    pub fn resource(&self, a: &Address) -> Option<&Resource> {
        self.index.get(a).map(|&i| &self.resources[i])
    }

    /// Indexes in an order where every resource comes after its dependencies.
    pub fn topo_order(&self) -> Vec<usize> {
        graph::topo_order(&self.deps)
    }

    /// The graph in Graphviz DOT, edges pointing from a resource to what it depends on.
    pub fn to_dot(&self) -> String {
        graph::to_dot(&self.resources, &self.deps)
    }
}

/// Loads `text` (named `file_name` in diagnostics) for environment `env`.
///
/// The text is taken, not borrowed: diagnostics keep it, and a caller handing over its `String`
/// leaves one copy in memory rather than two (16 MB at 100k resources).
pub fn load(
    file_name: &str,
    text: impl Into<Arc<str>>,
    env: Option<&str>,
    registry: &Registry,
) -> Result<Config, Diagnostics> {
    load_with_env(file_name, text, env, registry, &|k| std::env::var(k).ok())
}

pub fn load_with_env(
    file_name: &str,
    text: impl Into<Arc<str>>,
    env: Option<&str>,
    registry: &Registry,
    getenv: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, Diagnostics> {
    let names = registry.names();
    let (mut parsed, mut diags) = parse_spec_with_env(file_name, text, env, &names, getenv)?;
    let redactor = Redactor::new(parsed.secrets.clone());

    let (backend, lowered) = lower_spec(&mut parsed, registry, &names, &mut diags);
    let Unique { resources, raw_entry, index } = reject_duplicate_addresses(&parsed, lowered, &mut diags);
    let origin_of = |i: usize| origin_path(&parsed.doc, raw_entry[i], &resources[i]);
    let providers = build_providers(&parsed, registry, &names, &resources, &origin_of, &mut diags);
    validate_resources(&parsed, &resources, &providers, &origin_of, &mut diags);
    let links = link_references(&parsed, &resources, &index, &providers, &origin_of, &mut diags);
    let mut deps = links.deps;
    add_implicit_dependencies(&resources, &index, &providers, &mut deps);
    let deps: Vec<Vec<usize>> = deps.into_iter().map(|s| s.into_iter().collect()).collect();
    report_cycles(&parsed, &resources, &deps, &links.refs, &origin_of, &mut diags);

    if !diags.is_empty() {
        let mut diags = diags.sorted();
        crate::redact::redact_diagnostics(&mut diags, &redactor);
        return Err(diags);
    }
    parsed.release_load_only_data();
    Ok(Config {
        parsed,
        resources,
        index,
        deps,
        refs: links.refs,
        templated: links.templated,
        providers,
        backend,
        redactor,
    })
}

/// The resources of the spec, each with the `resources:` entry it came from (`None` for a
/// section's), and the state backend's plugin (its settings checked).
type Lowered = (Arc<dyn StateBackendPlugin>, Vec<(Resource, Option<usize>)>);

/// Checks the state settings, lowers the raw `resources:` list and every section: sections are
/// all decoded first, then lowered with the others' configs at hand.
fn lower_spec(parsed: &mut ParsedSpec, registry: &Registry, names: &Names, diags: &mut Diagnostics) -> Lowered {
    // The raw list is handed over rather than lent: its documents become the resources'.
    let raw_section = parsed.doc.as_object_mut().and_then(|d| d.shift_remove("resources"));
    let mut cx = parsed.context(names);
    let backend = registry.backend_plugin(&parsed.state.backend).cloned().unwrap_or_else(|| {
        // The parser reported the unknown name; check nothing more and fall back to the default.
        Arc::new(crate::state::LocalPlugin)
    });
    if backend.name() == parsed.state.backend {
        backend.check(&mut cx, &parsed.state.settings);
    }
    let mut lowered = Vec::new();
    if let Some(section) = raw_section.filter(|v| !v.is_null()) {
        lowered.extend(lower::lower_raw_entries(&mut cx, section).into_iter().map(|(entry, r)| (r, Some(entry))));
    }
    let mut decoded = Sections::default();
    for section in registry.sections() {
        if let Some(value) = parsed.doc.get(section.name()).filter(|v| !v.is_null())
            && let Some(config) = section.decode_any(&mut cx, value)
        {
            decoded.insert(section.name(), config);
        }
    }
    for section in registry.sections() {
        if let Some(config) = decoded.by_name(section.name()) {
            lowered.extend(section.lower_any(&mut cx, config, &decoded).into_iter().map(|r| (r, None)));
        }
    }
    diags.extend(cx.diags);
    (backend, lowered)
}

/// Resources with unique addresses, the `resources:` entry each came from, and their index.
struct Unique {
    resources: Vec<Resource>,
    raw_entry: Vec<Option<usize>>,
    index: HashMap<Address, usize>,
}

/// Keeps the first resource of each address and reports the others at the repeated entry (its
/// `name` if it has one).
fn reject_duplicate_addresses(
    parsed: &ParsedSpec,
    lowered: Vec<(Resource, Option<usize>)>,
    diags: &mut Diagnostics,
) -> Unique {
    let mut index = HashMap::with_capacity(lowered.len());
    let mut resources = Vec::with_capacity(lowered.len());
    let mut raw_entry = Vec::with_capacity(lowered.len());
    for (r, entry) in lowered {
        if index.contains_key(&r.address) {
            let origin = origin_path(&parsed.doc, entry, &r);
            let mut name_path = origin.clone();
            if entry.is_some() {
                name_path[2] = "name".into();
            }
            let origin = if parsed.source.root().get_path(&name_path).is_some() { name_path } else { origin };
            diags.push(
                SpecDiagnostic::new(
                    "spec::duplicate-address",
                    "Duplicate resource",
                    format!("Two resources have the address `{}`; addresses must be unique.", r.address),
                )
                .with_help("give one of them a different `name`")
                .at(parsed.source.value_span(&origin), &parsed.source.file),
            );
            continue;
        }
        index.insert(r.address.clone(), resources.len());
        resources.push(r);
        raw_entry.push(entry);
    }
    Unique { resources, raw_entry, index }
}

/// One provider instance per provider name configured or used, through its plugin, with the
/// engine's `rate_limit` taken out of its settings first.
fn build_providers(
    parsed: &ParsedSpec,
    registry: &Registry,
    names: &Names,
    resources: &[Resource],
    origin_of: &dyn Fn(usize) -> Path,
    diags: &mut Diagnostics,
) -> ProviderSet {
    let pcx = ProviderContext {
        project: parsed.project.clone(),
        env: parsed.env.clone(),
        force_conflicts: registry.force_conflicts(),
    };
    let mut providers = ProviderSet::default();
    let mut used: BTreeSet<String> = parsed.providers.keys().cloned().collect();
    used.extend(resources.iter().map(|r| r.provider.clone()));
    for name in &used {
        let config = parsed.providers.get(name).cloned().unwrap_or(Value::Object(Default::default()));
        let (own, limit) = split_engine_settings(&config);
        if let Some(limit) = limit {
            match serde_json::from_value::<RateLimit>(limit) {
                Ok(l) if (MIN_RATE..=MAX_RATE).contains(&l.per_second) => {
                    providers.rate_limits.insert(name.clone(), l);
                }
                Ok(_) | Err(_) => diags.push(
                    SpecDiagnostic::new("spec::invalid-value", "Invalid value", format!("`providers.{name}.rate_limit` must be `{{ per_second: <number from 0.001 to 1,000,000>, burst: <integer> }}`."))
                        .at(parsed.source.value_span(&path(["providers", name.as_str(), "rate_limit"])), &parsed.source.file),
                ),
            }
        }
        let configured = match registry.provider_plugin(name) {
            Some(plugin) => plugin.configure(&own, &pcx),
            None => Err(SettingsError::new(format!("the `{name}` provider is not available in this build of strata"))),
        };
        match configured {
            Ok(p) => providers.insert(name, p),
            // A value of the provider's settings that did not decode: reported like any other
            // decoding problem, at the key or value it names.
            Err(e) if !e.path.is_empty() && parsed.providers.contains_key(name) => {
                let mut at = path(["providers", name.as_str()]);
                at.extend(e.path.iter().cloned());
                let mut cx = parsed.context(names);
                cx.report_serde_error(&at, &e.message);
                diags.extend(cx.diags);
            }
            Err(e) => {
                let at = if parsed.providers.contains_key(name) {
                    path(["providers", name.as_str()])
                } else {
                    resources.iter().position(|r| &r.provider == name).map(origin_of).unwrap_or_default()
                };
                diags.push(
                    SpecDiagnostic::new(
                        "provider::config",
                        "Provider unavailable",
                        format!("The `{name}` provider cannot be set up: {}.", e.message),
                    )
                    .at(parsed.source.key_span(&at), &parsed.source.file),
                );
            }
        }
    }
    providers
}

/// Offline, provider-specific validation of each resource, reported inside its document.
fn validate_resources(
    parsed: &ParsedSpec,
    resources: &[Resource],
    providers: &ProviderSet,
    origin_of: &dyn Fn(usize) -> Path,
    diags: &mut Diagnostics,
) {
    for (i, r) in resources.iter().enumerate() {
        let Some(p) = providers.get(&r.provider) else {
            continue;
        };
        for (attr_path, message) in p.validate(&r.kind, &r.attrs) {
            let mut full = origin_of(i);
            let body_exists = parsed.source.root().get_path(&full).is_some();
            if body_exists {
                full.extend(attr_path.iter().cloned());
            }
            diags.push(
                SpecDiagnostic::new(
                    "provider::invalid",
                    "Invalid resource",
                    format!("`{}` ({}): {message}.", r.address, strata_sdk::value::display_path(&attr_path)),
                )
                .at(parsed.source.value_span(&full), &parsed.source.file),
            );
        }
    }
}

/// What the references and `depends_on` of each resource link it to.
struct Links {
    refs: Vec<Vec<Reference>>,
    deps: Vec<BTreeSet<usize>>,
    templated: Vec<bool>,
}

/// Resolves every `${...}` resource reference and `depends_on` entry to a resource.
fn link_references(
    parsed: &ParsedSpec,
    resources: &[Resource],
    index: &HashMap<Address, usize>,
    providers: &ProviderSet,
    origin_of: &dyn Fn(usize) -> Path,
    diags: &mut Diagnostics,
) -> Links {
    let mut refs: Vec<Vec<Reference>> = vec![Vec::new(); resources.len()];
    let mut deps: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); resources.len()];
    let addresses: Vec<&str> = resources.iter().map(|r| r.address.as_str()).collect();
    let mut templated = vec![false; resources.len()];
    for (i, r) in resources.iter().enumerate() {
        let mut found = Vec::new();
        templated[i] = collect_refs(&r.attrs, &mut found);
        // Only resource references: malformed ones were reported when the spec was parsed
        // (every string in the document is checked there), env ones are substituted already.
        for site in found {
            let Ok(RefExpr::Resource(raw)) = &site.expr else { continue };
            match resolve_reference(raw, index, resources, providers) {
                Ok(reference) => {
                    deps[i].insert(reference.target);
                    refs[i].push(reference);
                }
                Err((detail, help)) => diags.push(
                    SpecDiagnostic::new("spec::bad-reference", "Invalid reference", detail)
                        .with_help_opt(help)
                        .at(parsed.source.find_text(&format!("${{{raw}}}")), &parsed.source.file),
                ),
            }
        }
        for d in &r.depends_on {
            match index.get(d) {
                Some(&j) => {
                    deps[i].insert(j);
                }
                None => {
                    let origin = origin_of(i);
                    let mut p = origin[..origin.len().min(2)].to_vec();
                    p.push("depends_on".into());
                    // The list entry itself, when the address is written as it is parsed.
                    if let Some(j) = parsed.source.root().get_path(&p).map(|n| n.to_value()).and_then(|list| {
                        list.as_array().and_then(|l| l.iter().position(|v| v.as_str() == Some(d.as_str())))
                    }) {
                        p.push(j.to_string());
                    }
                    diags.push(
                        SpecDiagnostic::new(
                            "spec::bad-reference",
                            "Invalid reference",
                            format!("`{}` depends on `{d}`, which is not a resource in this spec.", r.address),
                        )
                        .with_help_opt(
                            closest_address(d.as_str(), addresses.iter().copied())
                                .map(|c| format!("did you mean `{c}`?")),
                        )
                        .at(parsed.source.value_span(&p), &parsed.source.file),
                    );
                }
            }
        }
    }
    Links { refs, deps, templated }
}

/// Ordering the providers know and references do not show (namespaces, CRDs).
fn add_implicit_dependencies(
    resources: &[Resource],
    index: &HashMap<Address, usize>,
    providers: &ProviderSet,
    deps: &mut [BTreeSet<usize>],
) {
    for name in providers.names() {
        let p = providers.get(name).expect("listed");
        let mine: Vec<&Resource> = resources.iter().filter(|r| &r.provider == name).collect();
        for (dependent, dependency) in p.implicit_dependencies(&mine) {
            if let (Some(&a), Some(&b)) = (index.get(&dependent), index.get(&dependency))
                && a != b
            {
                deps[a].insert(b);
            }
        }
    }
}

/// Reports every cycle, naming each member, at the reference that closes it.
fn report_cycles(
    parsed: &ParsedSpec,
    resources: &[Resource],
    deps: &[Vec<usize>],
    refs: &[Vec<Reference>],
    origin_of: &dyn Fn(usize) -> Path,
    diags: &mut Diagnostics,
) {
    for cycle in graph::find_cycles(deps) {
        let names: Vec<&str> = cycle.iter().map(|&i| resources[i].address.as_str()).collect();
        let shown = format!("{} → {}", names.join(" → "), names[0]);
        let span = refs[cycle[0]]
            .iter()
            .find(|r| r.target == cycle[1 % cycle.len()])
            .and_then(|r| parsed.source.find_text(&format!("${{{}}}", r.raw)))
            .or_else(|| parsed.source.value_span(&origin_of(cycle[0])));
        diags.push(
            SpecDiagnostic::new(
                "graph::cycle",
                "Dependency cycle",
                format!("These resources depend on each other in a cycle: {shown}."),
            )
            .with_help("remove one of the references or `depends_on` entries in the cycle")
            .at(span, &parsed.source.file),
        );
    }
}

/// Every `${...}` in the strings of `v` (no paths: references are found by their text).
/// Returns whether any string holds `${` at all (a reference or a `$${` escape).
fn collect_refs(v: &Value, out: &mut Vec<crate::spec::refs::RefSite>) -> bool {
    match v {
        Value::String(s) if s.contains("${") => {
            out.extend(find_refs(s));
            true
        }
        Value::Array(a) => a.iter().fold(false, |any, c| collect_refs(c, out) | any),
        Value::Object(m) => m.values().fold(false, |any, c| collect_refs(c, out) | any),
        _ => false,
    }
}

/// The detail and help of a `spec::bad-reference` diagnostic.
type RefError = (String, Option<String>);

fn resolve_reference(
    raw: &str,
    index: &HashMap<Address, usize>,
    resources: &[Resource],
    providers: &ProviderSet,
) -> Result<Reference, RefError> {
    let segs: Vec<&str> = raw.split('.').collect();
    // Longest address prefix wins: `cdn.assets.dns.fqdn` prefers `cdn.assets.dns`.
    for n in (2..=segs.len()).rev() {
        let Ok(candidate) = Address::parse(&segs[..n].join(".")) else {
            continue;
        };
        let Some(&target) = index.get(&candidate) else {
            continue;
        };
        let attr: Vec<String> = segs[n..].iter().map(|s| s.to_string()).collect();
        let r = &resources[target];
        let outputs = providers.get(&r.provider).map(|p| p.outputs(&r.kind)).unwrap_or_default();
        if attr.is_empty() {
            let help = outputs.first().map(|o| format!("did you mean `${{{raw}.{o}}}`?"));
            return Err((format!("`${{{raw}}}` names a resource, not one of its attributes."), help));
        }
        let is_output = outputs.iter().any(|o| o == &attr[0]);
        if !is_output && strata_sdk::value::get(&r.attrs, &attr).is_none() {
            let mut candidates: Vec<String> = outputs.clone();
            if let Some(obj) = r.attrs.as_object() {
                candidates.extend(obj.keys().cloned());
            }
            let help = did_you_mean(&attr[0], candidates.iter().map(String::as_str))
                .map(|h| h.replace("did you mean `", &format!("did you mean `{candidate}.")))
                .or_else(|| {
                    (!outputs.is_empty()).then(|| format!("`{candidate}` has the outputs: {}", outputs.join(", ")))
                });
            return Err((format!("`{candidate}` has no attribute or output `{}`.", attr.join(".")), help));
        }
        return Ok(Reference { raw: raw.to_string(), target, attr, is_output });
    }
    let known: Vec<&str> = index.keys().map(Address::as_str).collect();
    // Suggest against the address part of the reference (all but the last segment).
    let address_part = segs[..segs.len().saturating_sub(1).max(1)].join(".");
    let help = closest_address(&address_part, known.iter().copied()).map(|c| {
        let attr = segs.last().copied().unwrap_or_default();
        format!("did you mean `{c}.{attr}`?")
    });
    Err((format!("`${{{raw}}}` does not refer to any resource in this spec."), help))
}

/// Where resource `r` is written in the spec: `resources.<entry>.<provider>` when it came from
/// that `resources:` entry, else the longest prefix of its address that is a path in the
/// document (`mesh.traffic.api` for the objects a traffic policy lowers to).
fn origin_path(doc: &Value, raw_entry: Option<usize>, r: &Resource) -> Path {
    if let Some(entry) = raw_entry {
        return path(["resources".to_string(), entry.to_string(), r.provider.clone()]);
    }
    let mut p: Path = Vec::new();
    for seg in r.address.as_str().split('.') {
        let mut next = p.clone();
        next.push(seg.to_string());
        if strata_sdk::value::get(doc, &next).is_some() {
            p = next;
        } else {
            break;
        }
    }
    p
}

/// Convenience for tests: the standard sections with one shared test provider under `test`.
pub fn test_factory(p: Arc<dyn strata_sdk::Provider>) -> Registry {
    Registry::standard().provider_instance("test", p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_testkit::TestProvider;

    fn load_test(text: &str) -> Result<Config, Diagnostics> {
        let p = Arc::new(TestProvider::new());
        load_with_env("strata.yaml", text, None, &test_factory(p), &|_| None)
    }

    const HEAD: &str = "version: 1\nproject: apex\n";

    #[test]
    fn builds_edges_from_references_and_depends_on() {
        let text = format!(
            "{HEAD}resources:\n  - name: a\n    test: {{ kind: widget, size: 1 }}\n  - name: b\n    test: {{ kind: widget, peer: \"${{resources.a.id}}\" }}\n  - name: c\n    depends_on: [resources.b]\n    test: {{ kind: widget }}\n"
        );
        let c = load_test(&text).unwrap();
        assert_eq!(c.deps, vec![vec![], vec![0], vec![1]]);
        assert_eq!(c.refs[1][0].attr, vec!["id".to_string()]);
        assert!(c.refs[1][0].is_output);
        assert_eq!(c.topo_order(), vec![0, 1, 2]);
        assert!(c.to_dot().contains("\"resources.c\" -> \"resources.b\""));
    }

    #[test]
    fn cycles_name_every_member() {
        let text = format!(
            "{HEAD}resources:\n  - name: a\n    test: {{ kind: w, x: \"${{resources.c.id}}\" }}\n  - name: b\n    test: {{ kind: w, x: \"${{resources.a.id}}\" }}\n  - name: c\n    test: {{ kind: w, x: \"${{resources.b.id}}\" }}\n"
        );
        let d = load_test(&text).err().unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d.items[0].code, "graph::cycle");
        assert!(
            d.items[0].detail.contains("resources.a → resources.c → resources.b → resources.a"),
            "{}",
            d.items[0].detail
        );
    }

    #[test]
    fn unknown_references_suggest() {
        let text = format!(
            "{HEAD}resources:\n  - name: alpha\n    test: {{ kind: w }}\n  - name: b\n    test: {{ kind: w, x: \"${{resources.alpah.id}}\", y: \"${{resources.alpha.idd}}\" }}\n"
        );
        let d = load_test(&text).err().unwrap();
        assert_eq!(d.len(), 2, "{:?}", d.items);
        assert_eq!(d.items[0].help.as_deref(), Some("did you mean `resources.alpha.id`?"));
        assert_eq!(d.items[1].help.as_deref(), Some("did you mean `resources.alpha.id`?"));
    }

    #[test]
    fn duplicate_addresses_are_reported() {
        let text =
            format!("{HEAD}resources:\n  - name: a\n    test: {{ kind: w }}\n  - name: a\n    test: {{ kind: w }}\n");
        let d = load_test(&text).err().unwrap();
        assert_eq!(d.items[0].code, "spec::duplicate-address");
    }

    #[test]
    fn provider_validation_points_into_the_resource() {
        let text = format!("{HEAD}resources:\n  - name: a\n    test: {{ kind: w, size: -1 }}\n");
        let d = load_test(&text).err().unwrap();
        let span = d.items[0].span.unwrap();
        assert_eq!(&text[span.offset..span.offset + span.len], "-1");
    }
}
