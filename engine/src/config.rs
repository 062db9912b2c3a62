//! From strata.yaml to a validated resource graph: parse, overlay, lower, build providers,
//! check references, order. Pure apart from reading environment variables: no provider is
//! called here, so `validate` and `plan --refresh=false` work offline.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use serde_json::Value;
use strata_sdk::{Address, Resource};

use crate::diag::{Diagnostics, SpecDiagnostic, closest_address, did_you_mean};
use crate::lower::{self, Lowering, RawResources};
use crate::providers::{ProviderContext, ProviderFactory, ProviderSet, RateLimit, split_engine_settings};
use crate::redact::Redactor;
use crate::spec::refs::{RefExpr, find_refs};
use crate::spec::{ParsedSpec, Path, SpecContext, parse_spec_with_env, path};

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
    /// Removes the secrets this spec read (`${secret.X}`, sensitive `${env.X}`) from anything
    /// printed; handed to whatever prints.
    pub redactor: Redactor,
}

impl Config {
    pub fn resource(&self, a: &Address) -> Option<&Resource> {
        self.index.get(a).map(|&i| &self.resources[i])
    }

    /// Indexes in an order where every resource comes after its dependencies.
    pub fn topo_order(&self) -> Vec<usize> {
        topo_order(&self.deps)
    }

    /// The graph in Graphviz DOT, edges pointing from a resource to what it depends on.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph strata {\n  rankdir = \"RL\";\n  node [shape = box];\n");
        for r in &self.resources {
            out.push_str(&format!("  \"{}\" [label = \"{}\\n{}\"];\n", r.address, r.address, r.kind));
        }
        for (i, ds) in self.deps.iter().enumerate() {
            for &d in ds {
                out.push_str(&format!("  \"{}\" -> \"{}\";\n", self.resources[i].address, self.resources[d].address));
            }
        }
        out.push_str("}\n");
        out
    }
}

/// Kahn's algorithm; ties broken by original order so output is deterministic.
pub fn topo_order(deps: &[Vec<usize>]) -> Vec<usize> {
    let n = deps.len();
    let mut indegree = vec![0usize; n];
    let mut dependents = vec![Vec::new(); n];
    for (i, ds) in deps.iter().enumerate() {
        indegree[i] = ds.len();
        for &d in ds {
            dependents[d].push(i);
        }
    }
    let mut ready: std::collections::VecDeque<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop_front() {
        order.push(i);
        for &j in &dependents[i] {
            indegree[j] -= 1;
            if indegree[j] == 0 {
                ready.push_back(j);
            }
        }
    }
    order
}

/// Loads `text` (named `file_name` in diagnostics) for environment `env`.
///
/// The text is taken, not borrowed: diagnostics keep it, and a caller handing over its `String`
/// leaves one copy in memory rather than two (16 MB at 100k resources).
pub fn load(
    file_name: &str,
    text: impl Into<Arc<str>>,
    env: Option<&str>,
    factory: &dyn ProviderFactory,
) -> Result<Config, Diagnostics> {
    load_with_env(file_name, text, env, factory, &|k| std::env::var(k).ok())
}

pub fn load_with_env(
    file_name: &str,
    text: impl Into<Arc<str>>,
    env: Option<&str>,
    factory: &dyn ProviderFactory,
    getenv: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, Diagnostics> {
    let lowerings = lower::registry();
    let sections: Vec<&str> =
        lowerings.iter().map(|l| l.section()).filter(|s| !crate::spec::CORE_SECTIONS.contains(s)).collect();
    let (mut parsed, mut diags) = parse_spec_with_env(file_name, text, env, &sections, getenv)?;
    let redactor = Redactor::new(parsed.secrets.clone());

    // Lower every section present. The raw `resources:` list is handed over rather than lent
    // (its documents become the resources'); `raw_entry[i]` is the entry resource `i` came from.
    let mut raw_section = parsed.doc.as_object_mut().and_then(|d| d.shift_remove(RawResources.section()));
    let mut resources = Vec::new();
    let mut raw_entry: Vec<Option<usize>> = Vec::new();
    let mut cx = SpecContext {
        project: &parsed.project,
        env: &parsed.env,
        services: &parsed.services,
        doc: &parsed.doc,
        source: &parsed.source,
        diags: Diagnostics::default(),
    };
    for l in &lowerings {
        if l.section() == RawResources.section() {
            if let Some(section) = raw_section.take().filter(|v| !v.is_null()) {
                for (entry, r) in lower::lower_raw_entries(&mut cx, section) {
                    raw_entry.push(Some(entry));
                    resources.push(r);
                }
            }
            continue;
        }
        match parsed.doc.get(l.section()) {
            None | Some(Value::Null) => {}
            Some(section) => {
                let lowered = l.lower(&mut cx, section);
                raw_entry.resize(raw_entry.len() + lowered.len(), None);
                resources.extend(lowered);
            }
        }
    }
    diags.extend(std::mem::take(&mut cx.diags));

    // Duplicate addresses.
    let mut index = HashMap::with_capacity(resources.len());
    let mut unique = Vec::with_capacity(resources.len());
    let mut unique_entries = Vec::with_capacity(resources.len());
    for (r, entry) in resources.into_iter().zip(raw_entry) {
        if index.contains_key(&r.address) {
            // Point at the repeated entry, at its `name` if it has one.
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
        index.insert(r.address.clone(), unique.len());
        unique.push(r);
        unique_entries.push(entry);
    }
    let resources = unique;
    let raw_entry = unique_entries;
    let origin_of = |i: usize| origin_path(&parsed.doc, raw_entry[i], &resources[i]);

    // Providers: one instance per provider name used or configured.
    let pcx = ProviderContext { project: parsed.project.clone(), env: parsed.env.clone() };
    let mut providers = ProviderSet::default();
    let mut names: BTreeSet<String> = parsed.providers.keys().cloned().collect();
    names.extend(resources.iter().map(|r| r.provider.clone()));
    for name in &names {
        let config = parsed.providers.get(name).cloned().unwrap_or(Value::Object(Default::default()));
        let (own, limit) = split_engine_settings(&config);
        if let Some(limit) = limit {
            match serde_json::from_value::<RateLimit>(limit) {
                Ok(l) if l.per_second > 0.0 => {
                    providers.rate_limits.insert(name.clone(), l);
                }
                Ok(_) | Err(_) => diags.push(
                    SpecDiagnostic::new("spec::invalid-value", "Invalid value", format!("`providers.{name}.rate_limit` must be `{{ per_second: <number above 0>, burst: <integer> }}`."))
                        .at(parsed.source.value_span(&path(["providers", name.as_str(), "rate_limit"])), &parsed.source.file),
                ),
            }
        }
        match factory.create(name, &own, &pcx) {
            Ok(p) => providers.insert(name, p),
            Err(message) => {
                let p = if parsed.providers.contains_key(name) {
                    path(["providers", name.as_str()])
                } else {
                    resources.iter().position(|r| &r.provider == name).map(origin_of).unwrap_or_default()
                };
                diags.push(
                    SpecDiagnostic::new(
                        "provider::config",
                        "Provider unavailable",
                        format!("The `{name}` provider cannot be set up: {message}."),
                    )
                    .at(parsed.source.key_span(&p), &parsed.source.file),
                );
            }
        }
    }

    // Offline, provider-specific validation of each resource.
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

    // References and explicit dependencies.
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
            match resolve_reference(raw, &index, &resources, &providers) {
                Ok(reference) => {
                    deps[i].insert(reference.target);
                    refs[i].push(reference);
                }
                Err((summary, detail, help)) => diags.push(
                    SpecDiagnostic::new("spec::bad-reference", summary, detail)
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
                            "Unknown resource",
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
    // Implicit ordering from providers (namespaces, CRDs).
    for name in providers.names().cloned().collect::<Vec<_>>() {
        let p = providers.get(&name).expect("listed").clone();
        let mine: Vec<&Resource> = resources.iter().filter(|r| r.provider == name).collect();
        for (dependent, dependency) in p.implicit_dependencies(&mine) {
            if let (Some(&a), Some(&b)) = (index.get(&dependent), index.get(&dependency)) {
                if a != b {
                    deps[a].insert(b);
                }
            }
        }
    }
    let deps: Vec<Vec<usize>> = deps.into_iter().map(|s| s.into_iter().collect()).collect();

    // Cycles: each strongly connected component with more than one node (or a self-loop).
    for cycle in find_cycles(&deps) {
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

    if !diags.is_empty() {
        let mut diags = diags.sorted();
        crate::redact::redact_diagnostics(&mut diags, &redactor);
        return Err(diags);
    }
    let mut parsed = parsed;
    parsed.release_load_only_data();
    Ok(Config { parsed, resources, index, deps, refs, templated, providers, redactor })
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

type RefError = (&'static str, String, Option<String>);

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
            return Err((
                "Incomplete reference",
                format!("`${{{raw}}}` names a resource, not one of its attributes."),
                help,
            ));
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
            return Err((
                "Unknown attribute",
                format!("`{candidate}` has no attribute or output `{}`.", attr.join(".")),
                help,
            ));
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
    Err(("Unknown reference", format!("`${{{raw}}}` does not refer to any resource in this spec."), help))
}

/// Strongly connected components that are cycles, each as a walk in dependency order.
fn find_cycles(deps: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut g: DiGraph<(), ()> = DiGraph::with_capacity(deps.len(), deps.iter().map(Vec::len).sum());
    let nodes: Vec<NodeIndex> = (0..deps.len()).map(|_| g.add_node(())).collect();
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            g.add_edge(nodes[i], nodes[d], ());
        }
    }
    let mut cycles = Vec::new();
    for scc in tarjan_scc(&g) {
        if scc.len() == 1 {
            let i = scc[0].index();
            if deps[i].contains(&i) {
                cycles.push(vec![i]);
            }
            continue;
        }
        // Walk inside the component from its smallest member until we return to it.
        let members: BTreeSet<usize> = scc.iter().map(|n| n.index()).collect();
        let start = *members.iter().next().expect("non-empty");
        let mut walk = vec![start];
        let mut seen = BTreeSet::from([start]);
        let mut cur = start;
        loop {
            let next = deps[cur].iter().copied().find(|d| members.contains(d) && (*d == start || !seen.contains(d)));
            match next {
                Some(n) if n == start => break,
                Some(n) => {
                    walk.push(n);
                    seen.insert(n);
                    cur = n;
                }
                None => break,
            }
        }
        cycles.push(walk);
    }
    cycles.sort();
    cycles
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

/// Convenience for tests: a factory with one shared test provider under `test`.
pub fn test_factory(p: Arc<dyn strata_sdk::Provider>) -> crate::providers::StaticFactory {
    crate::providers::StaticFactory::default().with("test", p)
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
