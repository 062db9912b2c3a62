//! strata.yaml: parsing with spans, environment overlays, typed decoding with diagnostics.
//!
//! Loading never stops at the first problem: every section (and every entry of a map section)
//! decodes on its own, so one pass reports everything a user has to fix.

pub mod refs;
pub mod units;
pub mod yaml;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::diag::{Diagnostics, SourceFile, SpecDiagnostic, did_you_mean};
use refs::{RefExpr, env_var_looks_secret, find_refs, value_looks_secret};
use yaml::{Node, Span};

/// The sections the core owns. Lowerings (mesh, cdn, ...) add their own through the registry.
pub const CORE_SECTIONS: &[&str] =
    &["version", "project", "state", "providers", "services", "resources", "environments"];

/// The names the registered plugins contribute to the spec: top-level sections, provider names
/// (`providers:` keys, raw resource entries) and state backends (`state.backend`). Unknown names
/// are reported with a "did you mean" among these.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    /// Sections beyond [`CORE_SECTIONS`] (`mesh`, `cdn`, ...).
    pub sections: Vec<&'static str>,
    pub providers: Vec<&'static str>,
    pub backends: Vec<&'static str>,
}

/// `state:` as the core reads it: which backend, and the rest of the map, which the backend
/// plugin decodes and checks (it owns the type).
#[derive(Debug, Clone, PartialEq)]
pub struct StateSettings {
    pub backend: String,
    /// The `state:` map without `backend` (an empty map when there is no `state:`).
    pub settings: Value,
}

impl Default for StateSettings {
    fn default() -> Self {
        StateSettings {
            backend: crate::state::DEFAULT_BACKEND.to_string(),
            settings: Value::Object(Default::default()),
        }
    }
}

/// Environment name used when `--env` is not given.
pub const DEFAULT_ENV: &str = "default";

/// An existing workload the platform wraps (strata does not deploy it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub namespace: String,
    pub port: u16,
    /// Versions present as pod label `version=<v>` (for canary and blue/green splits).
    #[serde(default)]
    pub versions: Vec<String>,
    /// Service account the pods run as (defaults to the service name); used for mesh identity.
    #[serde(default)]
    pub service_account: Option<String>,
    /// Port protocol: http (default), http2, grpc or tcp.
    #[serde(default)]
    pub protocol: Option<String>,
}

impl Service {
    pub fn service_account(&self, name: &str) -> String {
        self.service_account.clone().unwrap_or_else(|| name.to_string())
    }
}

/// A path into the spec document: map keys and list indexes.
pub type Path = Vec<String>;

/// Builds a [`Path`] from anything displayable: `path(["mesh", "traffic", name])`.
pub fn path<I, S>(segments: I) -> Path
where
    I: IntoIterator<Item = S>,
    S: ToString,
{
    segments.into_iter().map(|s| s.to_string()).collect()
}

/// Maps spec paths back to source spans, looking in the selected environment's overlay first
/// (a value an overlay set is reported where the overlay set it).
///
/// The span tree is built on first use, by parsing the file again: a spec that loads cleanly
/// never needs a position, and at 100k resources the tree costs as much memory as the
/// document itself.
pub struct SourceIndex {
    pub file: SourceFile,
    root: std::sync::OnceLock<Node>,
    pub env: Option<String>,
}

impl SourceIndex {
    pub fn new(file: SourceFile, env: Option<String>) -> Self {
        SourceIndex { file, root: std::sync::OnceLock::new(), env }
    }

    /// The span tree of the whole file.
    pub fn root(&self) -> &Node {
        self.root.get_or_init(|| match yaml::parse(&self.file.text) {
            Ok((root, _)) => root,
            // Loading parsed this text once already; a second parse cannot fail.
            Err(_) => Node { kind: yaml::NodeKind::Map(Vec::new()), span: Span::default() },
        })
    }

    fn overlay_path(&self, p: &[String]) -> Option<Path> {
        let env = self.env.as_ref()?;
        let mut full = path(["environments", env.as_str()]);
        full.extend(p.iter().cloned());
        Some(full)
    }

    /// Span of the value at `p`, or of its nearest ancestor that exists in the source.
    pub fn value_span(&self, p: &[String]) -> Option<Span> {
        for len in (0..=p.len()).rev() {
            let prefix = &p[..len];
            if let Some(n) = self.overlay_path(prefix).and_then(|op| self.root().get_path(&op).map(|n| n.span)) {
                return Some(n);
            }
            if let Some(n) = self.root().get_path(prefix) {
                return Some(n.span);
            }
        }
        None
    }

    /// Span of the key introducing `p` (for unknown keys), else the value span.
    pub fn key_span(&self, p: &[String]) -> Option<Span> {
        if let Some(s) = self.overlay_path(p).and_then(|op| self.root().key_span(&op)) {
            return Some(s);
        }
        self.root().key_span(p).or_else(|| self.value_span(p))
    }

    /// Span of the first occurrence of `needle` in the source (used for `${...}` references
    /// that reach generated objects, whose own paths do not exist in the source).
    pub fn find_text(&self, needle: &str) -> Option<Span> {
        self.file.text.find(needle).map(|offset| Span { offset, len: needle.len() })
    }
}

/// What lowerings and the core decode against: the merged document for one environment, the
/// services, and a sink for diagnostics that knows where every path came from.
pub struct SpecContext<'a> {
    /// What the registered plugins are called (raw resources check provider names).
    pub names: &'a Names,
    pub project: &'a str,
    pub env: &'a str,
    pub services: &'a BTreeMap<String, Service>,
    pub doc: &'a Value,
    pub source: &'a SourceIndex,
    pub diags: Diagnostics,
}

impl SpecContext<'_> {
    /// Reports a problem with the value at `p`.
    pub fn error(
        &mut self,
        p: &[String],
        code: &'static str,
        summary: &'static str,
        detail: impl Into<String>,
        help: Option<String>,
    ) {
        let d = SpecDiagnostic::new(code, summary, detail)
            .with_help_opt(help)
            .at(self.source.value_span(p), &self.source.file);
        self.diags.push(d);
    }

    /// Reports a problem with the key at `p` (unknown or misplaced keys).
    pub fn key_error(
        &mut self,
        p: &[String],
        code: &'static str,
        summary: &'static str,
        detail: impl Into<String>,
        help: Option<String>,
    ) {
        let d = SpecDiagnostic::new(code, summary, detail)
            .with_help_opt(help)
            .at(self.source.key_span(p), &self.source.file);
        self.diags.push(d);
    }

    /// Decodes `value` (found at `p`) into `T`, turning serde's error into a diagnostic at the
    /// right span with a "did you mean" for unknown keys and variants.
    pub fn decode<T: DeserializeOwned>(&mut self, p: &[String], value: &Value) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(t) => Some(t),
            Err(e) => {
                let mut full: Path = p.to_vec();
                for seg in e.path().iter() {
                    match seg {
                        serde_path_to_error::Segment::Map { key } => full.push(key.clone()),
                        serde_path_to_error::Segment::Seq { index } => full.push(index.to_string()),
                        serde_path_to_error::Segment::Enum { .. } | serde_path_to_error::Segment::Unknown => {}
                    }
                }
                let message = e.into_inner().to_string();
                self.report_serde_error(&full, &message);
                None
            }
        }
    }

    /// Reports serde's `message` about the value at `p` (a full path in the spec) as decoding
    /// does: unknown keys at the key with "did you mean", wrong types and values at the value.
    pub fn report_serde_error(&mut self, p: &[String], message: &str) {
        if let Some((unknown, expected)) = parse_unknown(message, "unknown field `") {
            let mut full = p.to_vec();
            // serde_path_to_error may or may not include the unknown key itself in the path.
            if full.last().map(String::as_str) != Some(unknown.as_str()) {
                full.push(unknown.clone());
            }
            let parent = display_path(&full[..full.len() - 1]);
            let help = did_you_mean(&unknown, expected.iter().map(String::as_str))
                .or_else(|| (!expected.is_empty()).then(|| format!("valid keys here: {}", expected.join(", "))));
            let detail = if parent.is_empty() {
                format!("`{unknown}` is not a key strata knows at the top level.")
            } else {
                format!("`{unknown}` is not a valid key in `{parent}`.")
            };
            self.key_error(&full, "spec::unknown-key", "Unknown key", detail, help);
        } else if let Some((unknown, expected)) = parse_unknown(message, "unknown variant `") {
            // Internally tagged enums lose the path below the enum: find the value by its text.
            let p = self.refine_path(p, &unknown);
            let where_ = display_path(&p);
            let help = did_you_mean(&unknown, expected.iter().map(String::as_str))
                .or_else(|| Some(format!("valid values: {}", expected.join(", "))));
            self.error(
                &p,
                "spec::invalid-value",
                "Invalid value",
                format!("`{unknown}` is not a valid value for `{where_}`."),
                help,
            );
        } else if let Some(field) = message.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
            let where_ = display_path(p);
            let help = if where_.is_empty() {
                format!("add `{field}: ...` at the top level")
            } else {
                format!("add `{field}: ...` under `{where_}`")
            };
            // Point at the key that introduces the incomplete map: its body may span many lines.
            self.key_error(
                p,
                "spec::missing-key",
                "Missing required key",
                format!("`{}` needs the key `{field}`.", if where_.is_empty() { "the spec" } else { &where_ }),
                Some(help),
            );
        } else if message.starts_with("invalid type") {
            let (found, expected, scalar) = split_invalid_type(message);
            let p = match &scalar {
                Some(text) => self.refine_path(p, text),
                None => p.to_vec(),
            };
            let where_ = display_path(&p);
            let help = match (&scalar, expected.as_str()) {
                (Some(text), "a list") => Some(format!("write a list, like `[{text}]`")),
                // Only a quoted number has quotes to remove (`18446744073709551616` is a float).
                (Some(text), "an integer" | "a number")
                    if found.starts_with("a string") && text.trim().parse::<f64>().is_ok() =>
                {
                    Some(format!("remove the quotes: `{}`", text.trim()))
                }
                _ => None,
            };
            self.error(
                &p,
                "spec::wrong-type",
                "Wrong type",
                format!("`{where_}` must be {expected}, but it is {found}."),
                help,
            );
        } else {
            // Custom errors from value types (durations, percentages) are sentences whose fix
            // follows ": write ...": that part becomes the help line.
            let where_ = display_path(p);
            let (detail, help) = match message.split_once(": write ") {
                Some((what, fix)) => (what.to_string(), Some(format!("write {fix}"))),
                None => (message.to_string(), None),
            };
            let detail = detail.trim_end_matches('.');
            let detail = if where_.is_empty() { format!("{detail}.") } else { format!("`{where_}`: {detail}.") };
            self.error(p, "spec::invalid-value", "Invalid value", detail, help);
        }
    }

    /// When serde could not say where below `p` a bad value is (internally tagged enums buffer
    /// their content and lose the path), finds the one scalar under `p` whose text is `text`.
    fn refine_path(&self, p: &[String], text: &str) -> Path {
        fn walk(v: &Value, text: &str, cur: &mut Path, found: &mut Vec<Path>) {
            match v {
                Value::String(s) if s == text => found.push(cur.clone()),
                Value::Number(n) if n.to_string() == text => found.push(cur.clone()),
                Value::Bool(b) if b.to_string() == text => found.push(cur.clone()),
                Value::Array(a) => {
                    for (i, c) in a.iter().enumerate() {
                        cur.push(i.to_string());
                        walk(c, text, cur, found);
                        cur.pop();
                    }
                }
                Value::Object(m) => {
                    for (k, c) in m {
                        cur.push(k.clone());
                        walk(c, text, cur, found);
                        cur.pop();
                    }
                }
                _ => {}
            }
        }
        let Some(v) = strata_sdk::value::get(self.doc, p) else {
            return p.to_vec();
        };
        if !v.is_object() && !v.is_array() {
            return p.to_vec();
        }
        let mut found = Vec::new();
        walk(v, text, &mut p.to_vec(), &mut found);
        if found.len() == 1 { found.pop().expect("one") } else { p.to_vec() }
    }
}

/// `spec.ports[0].port` for humans.
pub fn display_path(p: &[String]) -> String {
    strata_sdk::value::display_path(p)
}

fn parse_unknown(message: &str, prefix: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix(prefix)?;
    let (name, tail) = rest.split_once('`')?;
    let expected = tail.split('`').skip(1).step_by(2).map(str::to_string).collect();
    Some((name.to_string(), expected))
}

/// Splits serde's "invalid type: string \"x\", expected u16" into what was found and what was
/// expected, in words, plus the text of the value when it was a scalar.
fn split_invalid_type(message: &str) -> (String, String, Option<String>) {
    let body = message.trim_start_matches("invalid type: ");
    let (found, expected) = body.rsplit_once(", expected ").unwrap_or((body, "another type"));
    let expected = match expected {
        e if e.starts_with('u') || e.starts_with('i') && e[1..].chars().all(|c| c.is_ascii_digit()) => {
            "an integer".to_string()
        }
        "f64" | "f32" => "a number".to_string(),
        e if e.starts_with("a sequence") || e.starts_with("sequence") => "a list".to_string(),
        "a string" | "a boolean" | "a map" => expected.to_string(),
        e if e.starts_with("struct") || e.starts_with("map") => "a map".to_string(),
        e => e.to_string(),
    };
    let scalar = if let Some(rest) = found.strip_prefix("string \"") {
        rest.strip_suffix('"').map(|t| t.replace("\\\"", "\""))
    } else {
        ["integer `", "floating point `", "boolean `"]
            .iter()
            .find_map(|pre| found.strip_prefix(pre))
            .and_then(|rest| rest.strip_suffix('`'))
            .map(str::to_string)
    };
    let found = found.replace("sequence", "a list").replace("map", "a map");
    let found = if found.starts_with("a ") || found.starts_with("an ") { found } else { format!("a {found}") };
    (found, expected, scalar)
}

/// The parsed spec for one environment, before lowering.
pub struct ParsedSpec {
    pub source: SourceIndex,
    pub project: String,
    pub env: String,
    pub version: u32,
    pub state: StateSettings,
    pub providers: BTreeMap<String, Value>,
    pub services: BTreeMap<String, Service>,
    /// The merged document (env overlay applied, `${env...}` substituted).
    pub doc: Value,
    /// Values that came from secret environment variables: redacted from every output.
    pub secrets: Vec<String>,
}

impl ParsedSpec {
    /// A context to decode and lower against this spec, reporting into a fresh sink.
    pub fn context<'a>(&'a self, names: &'a Names) -> SpecContext<'a> {
        SpecContext {
            names,
            project: &self.project,
            env: &self.env,
            services: &self.services,
            doc: &self.doc,
            source: &self.source,
            diags: Diagnostics::default(),
        }
    }

    /// Drops what only loading reads: the span tree if a diagnostic built it, and the
    /// `resources:` list of the merged document (lowered into `Config::resources` by then).
    /// At 100k resources the list is ~150 MiB that planning and applying never look at.
    pub fn release_load_only_data(&mut self) {
        self.source.root = std::sync::OnceLock::new();
        if let Some(doc) = self.doc.as_object_mut() {
            doc.remove("resources");
        }
    }
}

/// Parses `text` for environment `env` (None: the base spec) with every problem collected.
pub fn parse_spec(
    file_name: &str,
    text: impl Into<std::sync::Arc<str>>,
    env: Option<&str>,
    names: &Names,
) -> Result<(ParsedSpec, Diagnostics), Diagnostics> {
    parse_spec_with_env(file_name, text, env, names, &|k| std::env::var(k).ok())
}

/// [`parse_spec`] with an injectable environment-variable lookup (tests).
///
/// The steps: parse the YAML into a document with spans, check the top-level section names,
/// apply the selected environment's overlay, substitute `${env...}`, then decode the core
/// sections (version, project, state, providers, services). Every step reports what it finds and
/// the next one runs, except where going on would only report consequences of the first problem
/// (invalid YAML, a top level that is not a map, an unknown `--env`).
pub fn parse_spec_with_env(
    file_name: &str,
    text: impl Into<std::sync::Arc<str>>,
    env: Option<&str>,
    names: &Names,
    getenv: &dyn Fn(&str) -> Option<String>,
) -> Result<(ParsedSpec, Diagnostics), Diagnostics> {
    let file = SourceFile::new(file_name, text);
    let mut diags = Diagnostics::default();
    let (mut doc, source) = parse_document(&file, env, &mut diags)?;
    let all_sections: Vec<&str> = CORE_SECTIONS.iter().chain(&names.sections).copied().collect();
    check_section_names(&doc, &source, &all_sections, &mut diags);
    let env_name = apply_overlay(&mut doc, env, &source, &all_sections, &mut diags)?;

    // `${env}` and `${env.VAR}` are known now: substitute them everywhere.
    let mut secrets = Vec::new();
    substitute_env_refs(&mut doc, &env_name, &source, &mut diags, &mut secrets, getenv);

    let services_map = BTreeMap::new();
    let mut cx = SpecContext {
        names,
        project: "",
        env: &env_name,
        services: &services_map,
        doc: &doc,
        source: &source,
        diags: Diagnostics::default(),
    };
    let empty = doc.as_object().is_some_and(|m| m.is_empty());
    if empty {
        cx.diags.push(
            SpecDiagnostic::new(
                "spec::missing-key",
                "Missing required key",
                "The spec is empty: it needs at least `version: 1` and `project: <name>`.",
            )
            .with_help("start the file with `version: 1` and `project: my-platform`")
            .at(Some(first_key_span(cx.source)), &cx.source.file),
        );
    }
    let version = decode_version(&mut cx, empty);
    let project = decode_project(&mut cx, empty);
    let state = decode_state(&mut cx, doc.get("state"), &names.backends);
    let providers = decode_providers(&mut cx);
    let services = decode_services(&mut cx);
    diags.extend(std::mem::take(&mut cx.diags));
    let parsed = ParsedSpec { source, project, env: env_name, version, state, providers, services, doc, secrets };
    Ok((parsed, diags))
}

/// Parses the YAML into a JSON document and its span index. Stops (returns the diagnostics) on
/// a syntax error, an exceeded limit or a top level that is not a map; duplicate keys are
/// reported and parsing goes on.
fn parse_document(
    file: &SourceFile,
    env: Option<&str>,
    diags: &mut Diagnostics,
) -> Result<(Value, SourceIndex), Diagnostics> {
    let text = &*file.text;
    let (base, yaml_errors) = match yaml::parse_value(text) {
        Ok(r) => r,
        Err(e) if e.limit.is_some() => {
            diags.push(limit_diagnostic(&e).at(Some(e.span), file));
            return Err(std::mem::take(diags));
        }
        Err(e) => {
            let (span, help) = syntax_help(text, &e);
            let detail = if e.message.contains("quoted scalar") {
                // The scanner only notices at the next line that the quote never closed.
                "The file is not valid YAML: the quoted string that starts here is not closed".to_string()
            } else {
                format!("The file is not valid YAML: {}", e.message)
            };
            diags.push(
                SpecDiagnostic::new("spec::syntax", "Invalid YAML", format!("{detail}."))
                    .with_help(help)
                    .at(Some(span), file),
            );
            return Err(std::mem::take(diags));
        }
    };
    for e in yaml_errors {
        diags.push(
            SpecDiagnostic::new("spec::duplicate-key", "Duplicate key", format!("{}.", capitalize(&e.message)))
                .at(Some(e.span), file),
        );
    }
    let source = SourceIndex::new(file.clone(), env.map(str::to_string));
    if !base.is_object() {
        diags.push(
            SpecDiagnostic::new(
                "spec::wrong-type",
                "Wrong type",
                "The top level of strata.yaml must be a map of sections.",
            )
            .with_help("start with `version: 1` and `project: <name>`")
            .at(Some(source.root().span), file),
        );
        return Err(std::mem::take(diags));
    }
    Ok((base, source))
}

/// Unknown top-level sections, with "did you mean" across core and plugged-in sections.
fn check_section_names(doc: &Value, source: &SourceIndex, all_sections: &[&str], diags: &mut Diagnostics) {
    let Value::Object(base_map) = doc else { return };
    for key in base_map.keys() {
        if !all_sections.contains(&key.as_str()) {
            let help = did_you_mean(key, all_sections.iter().copied())
                .or_else(|| Some(format!("sections: {}", all_sections.join(", "))));
            diags.push(
                SpecDiagnostic::new(
                    "spec::unknown-key",
                    "Unknown key",
                    format!("`{key}` is not a section strata knows."),
                )
                .with_help_opt(help)
                .at(source.root().key_span(&path([key])), &source.file),
            );
        }
    }
}

/// Removes `environments` from the document, checks every overlay, and merges the selected
/// one onto the base. Returns the environment's name (`default` without `--env`); an unknown
/// `--env` stops loading.
fn apply_overlay(
    doc: &mut Value,
    env: Option<&str>,
    source: &SourceIndex,
    all_sections: &[&str],
    diags: &mut Diagnostics,
) -> Result<String, Diagnostics> {
    let environments = doc.as_object_mut().and_then(|o| o.shift_remove("environments")).unwrap_or(Value::Null);
    let env_names: Vec<String> = match &environments {
        Value::Object(m) => m.keys().cloned().collect(),
        Value::Null => Vec::new(),
        _ => {
            diags.push(
                SpecDiagnostic::new(
                    "spec::wrong-type",
                    "Wrong type",
                    "`environments` must be a map of environment names to overlays.",
                )
                .at(source.value_span(&path(["environments"])), &source.file),
            );
            Vec::new()
        }
    };
    for name in &env_names {
        let overlay = &environments[name];
        if !overlay.is_object() && !overlay.is_null() {
            diags.push(
                SpecDiagnostic::new(
                    "spec::wrong-type",
                    "Wrong type",
                    format!("The overlay for environment `{name}` must be a map (or `{{}}`)."),
                )
                .at(source.value_span(&path(["environments", name.as_str()])), &source.file),
            );
        } else if let Some(Value::Object(o)) = Some(overlay) {
            for key in o.keys() {
                if matches!(key.as_str(), "environments" | "project" | "version")
                    || !all_sections.contains(&key.as_str())
                {
                    let help = did_you_mean(
                        key,
                        all_sections.iter().copied().filter(|s| !matches!(*s, "environments" | "project" | "version")),
                    );
                    diags.push(
                        SpecDiagnostic::new(
                            "spec::unknown-key",
                            "Unknown key",
                            format!("`{key}` cannot be set in an environment overlay."),
                        )
                        .with_help_opt(help)
                        .at(source.root().key_span(&path(["environments", name.as_str(), key.as_str()])), &source.file),
                    );
                }
            }
        }
    }
    Ok(match env {
        None => DEFAULT_ENV.to_string(),
        Some(e) => {
            if let Some(overlay) = environments.get(e) {
                // `dev:` with nothing under it is an empty overlay, not "replace the spec with null".
                if let Value::Object(o) = overlay {
                    // A state overlay naming another backend describes that backend: it replaces the
                    // base's settings rather than merging into them (an S3 bucket means nothing to
                    // the local backend).
                    let backend = |v: Option<&Value>| {
                        v.and_then(|s| s.get("backend")).and_then(Value::as_str).unwrap_or("local").to_string()
                    };
                    if let Some(state) = o.get("state").filter(|s| s.get("backend").is_some())
                        && backend(Some(state)) != backend(doc.get("state"))
                        && let Some(d) = doc.as_object_mut()
                    {
                        d.insert("state".into(), state.clone());
                    }
                    strata_sdk::value::deep_merge(doc, overlay);
                }
            } else {
                let help = did_you_mean(e, env_names.iter().map(String::as_str)).or_else(|| {
                    if env_names.is_empty() {
                        Some("declare it under `environments:`".into())
                    } else {
                        Some(format!("declared environments: {}", env_names.join(", ")))
                    }
                });
                diags.push(
                    SpecDiagnostic::new(
                        "spec::unknown-env",
                        "Unknown environment",
                        format!("The environment `{e}` is not declared in `environments`."),
                    )
                    .with_help_opt(help)
                    .at(source.key_span(&path(["environments"])), &source.file),
                );
                return Err(std::mem::take(diags));
            }
            e.to_string()
        }
    })
}

/// Where a missing top-level key is reported: the first line of the document (its first key),
/// not the whole file.
fn first_key_span(source: &SourceIndex) -> Span {
    match &source.root().kind {
        yaml::NodeKind::Map(entries) => entries.first().map(|(k, _)| k.span),
        _ => None,
    }
    .unwrap_or(Span { offset: 0, len: 0 })
}

fn missing_top_level(cx: &mut SpecContext, detail: &str, help: &str) {
    cx.diags.push(
        SpecDiagnostic::new("spec::missing-key", "Missing required key", detail)
            .with_help(help)
            .at(Some(first_key_span(cx.source)), &cx.source.file),
    );
}

/// `version: 1`, the only spec version there is. An empty spec is reported once, not per key.
fn decode_version(cx: &mut SpecContext, empty: bool) -> u32 {
    match cx.doc.get("version") {
        None if empty => 1,
        None => {
            missing_top_level(
                cx,
                "The spec needs `version: 1` at the top level.",
                "add `version: 1` as the first line",
            );
            1
        }
        Some(v) => match v.as_u64() {
            Some(1) => 1,
            _ if v.as_str().is_some_and(|s| s.trim() == "1") => {
                cx.error(
                    &path(["version"]),
                    "spec::invalid-value",
                    "Invalid value",
                    format!("`version` must be the number 1, but it is the string {v}."),
                    Some("remove the quotes: `version: 1`".into()),
                );
                1
            }
            _ => {
                cx.error(
                    &path(["version"]),
                    "spec::invalid-value",
                    "Invalid value",
                    format!("strata understands spec version 1; this file says {v}."),
                    Some("set `version: 1`".into()),
                );
                1
            }
        },
    }
}

/// `project:`, a DNS label (it becomes a label value on everything strata creates). An invalid
/// name is reported and loading goes on with its closest valid spelling.
fn decode_project(cx: &mut SpecContext, empty: bool) -> String {
    match cx.doc.get("project") {
        Some(Value::String(s)) if is_dns_label(s) => s.clone(),
        Some(Value::String(s)) => {
            cx.error(
                &path(["project"]),
                "spec::invalid-name",
                "Invalid name",
                format!("`{s}` cannot be a project name: it becomes a label value, so it must be lowercase letters, digits and `-`, at most 63 characters."),
                Some(format!("try `{}`", to_dns_label(s))),
            );
            to_dns_label(s)
        }
        Some(_) => {
            cx.error(&path(["project"]), "spec::wrong-type", "Wrong type", "`project` must be a string.", None);
            "project".into()
        }
        None if empty => "project".into(),
        None => {
            missing_top_level(
                cx,
                "The spec needs `project: <name>` at the top level.",
                "add `project: my-platform` (lowercase letters, digits and `-`)",
            );
            "project".into()
        }
    }
}

/// `providers:`, each a registered provider's name and its settings (checked when the provider
/// is configured).
fn decode_providers(cx: &mut SpecContext) -> BTreeMap<String, Value> {
    let mut providers = BTreeMap::new();
    match cx.doc.get("providers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (name, conf) in m {
                if !cx.names.providers.contains(&name.as_str()) {
                    let help = did_you_mean(name, cx.names.providers.iter().copied());
                    cx.key_error(
                        &path(["providers", name.as_str()]),
                        "spec::unknown-provider",
                        "Unknown provider",
                        format!("`{name}` is not a provider strata has."),
                        help,
                    );
                } else if !conf.is_object() && !conf.is_null() {
                    cx.error(
                        &path(["providers", name.as_str()]),
                        "spec::wrong-type",
                        "Wrong type",
                        format!("The configuration of provider `{name}` must be a map."),
                        None,
                    );
                } else {
                    providers.insert(
                        name.clone(),
                        if conf.is_null() { Value::Object(Default::default()) } else { conf.clone() },
                    );
                }
            }
        }
        Some(_) => cx.error(
            &path(["providers"]),
            "spec::wrong-type",
            "Wrong type",
            "`providers` must be a map of provider names to settings.",
            None,
        ),
    }
    providers
}

/// `services:`, the workloads the other sections refer to by name.
fn decode_services(cx: &mut SpecContext) -> BTreeMap<String, Service> {
    let mut services = BTreeMap::new();
    match cx.doc.get("services") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (name, v) in m {
                let p = path(["services", name.as_str()]);
                if !is_dns_label(name) {
                    cx.key_error(
                        &p,
                        "spec::invalid-name",
                        "Invalid name",
                        format!("`{name}` cannot be a service name: use lowercase letters, digits and `-`."),
                        None,
                    );
                }
                if let Some(s) = cx.decode::<Service>(&p, v) {
                    if !is_dns_label(&s.namespace) {
                        cx.error(
                            &path(["services", name.as_str(), "namespace"]),
                            "spec::invalid-name",
                            "Invalid name",
                            format!("`{}` is not a valid namespace name.", s.namespace),
                            None,
                        );
                    }
                    let mut seen = Vec::new();
                    for (i, ver) in s.versions.iter().enumerate() {
                        if seen.contains(&ver) {
                            cx.error(
                                &path(["services", name.as_str(), "versions", &i.to_string()]),
                                "spec::duplicate-name",
                                "Duplicate name",
                                format!("The version `{ver}` is listed twice for service `{name}`."),
                                None,
                            );
                        }
                        seen.push(ver);
                    }
                    if s.port == 0 {
                        cx.error(
                            &path(["services", name.as_str(), "port"]),
                            "spec::invalid-value",
                            "Invalid value",
                            "A port must be between 1 and 65535.",
                            None,
                        );
                    }
                    services.insert(name.clone(), s);
                }
            }
        }
        Some(_) => cx.error(
            &path(["services"]),
            "spec::wrong-type",
            "Wrong type",
            "`services` must be a map of service names to their settings.",
            None,
        ),
    }
    services
}

/// The report for a document that exceeds one of the parser's limits (docs/spec.md#limits).
fn limit_diagnostic(e: &yaml::YamlError) -> SpecDiagnostic {
    match e.limit {
        Some(yaml::Limit::Aliases) => SpecDiagnostic::new(
            "spec::alias-limit",
            "Aliases expand too far",
            format!(
                "{}; strata stops here so that a small file cannot take all the memory.",
                capitalize(&e.message)
            ),
        )
        .with_help("write the repeated values out, or use fewer aliases of anchors that hold aliases themselves"),
        _ => SpecDiagnostic::new(
            "spec::depth-limit",
            "Nested too deeply",
            format!(
                "Lists and maps are nested more than {} levels deep here; strata reads at most {} levels.",
                yaml::MAX_DEPTH,
                yaml::MAX_DEPTH
            ),
        )
        .with_help("flatten the structure; data that must be this deep can go in a string (a JSON document in a ConfigMap value, say)"),
    }
}

/// Where to point and what to suggest for a YAML syntax error. The scanner's messages are
/// accurate but terse; the help says what usually causes each one.
fn syntax_help(text: &str, e: &yaml::YamlError) -> (Span, String) {
    let m = e.message.as_str();
    let mut span = e.span;
    let help = if m.contains("tab") && !m.contains("quoted") {
        // The scanner reports the first character after the tabs; point at the tab itself.
        let line_start = text[..span.offset.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
        if let Some(i) = text[line_start..].find('\t') {
            span = Span { offset: line_start + i, len: 1 };
        }
        "indent with spaces: YAML does not allow tabs in indentation".to_string()
    } else if m.contains("quoted scalar") {
        let quote = text[span.offset.min(text.len())..].chars().next().filter(|c| *c == '"' || *c == '\'');
        format!("add the closing {} at the end of the value", quote.map_or("quote".to_string(), |q| format!("`{q}`")))
    } else if m.contains("flow sequence") {
        "close the list with `]`, and separate its items with `,`".to_string()
    } else if m.contains("flow mapping") {
        "close the map with `}`, and separate its entries with `,`".to_string()
    } else if m.contains("mapping values are not allowed") {
        "this line is indented deeper than the keys around it (align it with them), or a value contains `: ` and needs quotes".to_string()
    } else if m.contains("unknown anchor") {
        "define the anchor with `&name` on an earlier value before using `*name`".to_string()
    } else if m.contains("did not find expected key") || m.contains("block mapping") {
        "check the indentation of this line: keys of one map must line up".to_string()
    } else {
        "check indentation, colons and closing brackets or quotes near this point".to_string()
    };
    (span, help)
}

/// Reads `state:`: the backend's name (default `local`), checked against the registered
/// backends, and the rest of the map for the backend to check.
fn decode_state(cx: &mut SpecContext<'_>, state: Option<&Value>, backends: &[&'static str]) -> StateSettings {
    let map = match state {
        None | Some(Value::Null) => return StateSettings::default(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            cx.error(
                &path(["state"]),
                "spec::wrong-type",
                "Wrong type",
                "`state` must be a map, like `state: { backend: s3, bucket: ..., key: ... }`.",
                None,
            );
            return StateSettings::default();
        }
    };
    let mut settings = map.clone();
    let backend = match settings.shift_remove("backend") {
        None | Some(Value::Null) => crate::state::DEFAULT_BACKEND.to_string(),
        Some(Value::String(b)) if backends.contains(&b.as_str()) => b,
        Some(Value::String(b)) => {
            let help = did_you_mean(&b, backends.iter().copied())
                .or_else(|| Some(format!("valid values: {}", backends.join(", "))));
            cx.error(
                &path(["state", "backend"]),
                "spec::invalid-value",
                "Invalid value",
                format!("`{b}` is not a valid value for `state.backend`."),
                help,
            );
            return StateSettings::default();
        }
        Some(_) => {
            cx.error(
                &path(["state", "backend"]),
                "spec::wrong-type",
                "Wrong type",
                "`state.backend` must be a string, like `local` or `s3`.",
                None,
            );
            return StateSettings::default();
        }
    };
    StateSettings { backend, settings: Value::Object(settings) }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

fn substitute_env_refs(
    v: &mut Value,
    env_name: &str,
    source: &SourceIndex,
    diags: &mut Diagnostics,
    secrets: &mut Vec<String>,
    getenv: &dyn Fn(&str) -> Option<String>,
) {
    match v {
        Value::String(s) if s.contains("${") => {
            let sites = find_refs(s);
            for site in &sites {
                if let Err(msg) = &site.expr {
                    let needle = format!("${{{}", site.raw);
                    let (detail, help) = match msg.split_once(": write ") {
                        Some((what, fix)) => (what.to_string(), Some(format!("write {fix}"))),
                        None if site.raw.is_empty() => (
                            msg.clone(),
                            Some("name what it refers to, like `${resources.<name>.id}`, or write `$${` for a literal `${`".into()),
                        ),
                        None if site.end == s.len() && !s.ends_with('}') => {
                            (msg.clone(), Some("add the closing `}`".into()))
                        }
                        None => (msg.clone(), None),
                    };
                    diags.push(
                        SpecDiagnostic::new(
                            "spec::bad-reference",
                            "Invalid reference",
                            format!("{}.", capitalize(&detail)),
                        )
                        .with_help_opt(help)
                        .at(source.find_text(&needle), &source.file),
                    );
                }
            }
            let needs_env =
                sites.iter().any(|r| matches!(r.expr, Ok(RefExpr::EnvName | RefExpr::EnvVar(_) | RefExpr::Secret(_))));
            if !needs_env {
                return;
            }
            // Substitute env refs only; resource refs stay for plan/apply time.
            let mut out = String::new();
            let mut last = 0;
            for site in &sites {
                let replacement = match &site.expr {
                    Ok(RefExpr::EnvName) => Some(env_name.to_string()),
                    Ok(RefExpr::EnvVar(var)) | Ok(RefExpr::Secret(var)) => match getenv(var) {
                        Some(val) => {
                            let password = value_looks_secret(&val);
                            let secret = matches!(site.expr, Ok(RefExpr::Secret(_)))
                                || env_var_looks_secret(var)
                                || password.is_some();
                            for s in [Some(val.as_str()), password].into_iter().flatten() {
                                if secret && s.len() >= crate::redact::MIN_SECRET_LEN && !secrets.iter().any(|x| x == s)
                                {
                                    secrets.push(s.to_string());
                                }
                            }
                            Some(val)
                        }
                        None => {
                            let needle = format!("${{{}}}", site.raw);
                            diags.push(
                                SpecDiagnostic::new(
                                    "spec::missing-env-var",
                                    "Environment variable not set",
                                    format!("The spec reads the environment variable `{var}`, which is not set."),
                                )
                                .with_help(format!("export {var}=... before running strata"))
                                .at(source.find_text(&needle), &source.file),
                            );
                            Some(String::new())
                        }
                    },
                    _ => None,
                };
                if let Some(r) = replacement {
                    out.push_str(&s[last..site.start]);
                    out.push_str(&r);
                    last = site.end;
                }
            }
            out.push_str(&s[last..]);
            *s = out;
        }
        Value::Array(a) => a.iter_mut().for_each(|c| substitute_env_refs(c, env_name, source, diags, secrets, getenv)),
        Value::Object(m) => {
            m.values_mut().for_each(|c| substitute_env_refs(c, env_name, source, diags, secrets, getenv))
        }
        _ => {}
    }
}

/// RFC 1123 label: what Kubernetes accepts for namespaces, services and label values we derive.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn to_dns_label(s: &str) -> String {
    let mut out: String =
        s.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    out = out.trim_matches('-').to_string();
    out.truncate(63);
    if out.is_empty() { "project".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, env: Option<&str>) -> Result<(ParsedSpec, Diagnostics), Diagnostics> {
        let names = Names {
            sections: vec!["mesh"],
            providers: vec!["kubernetes", "cloudflare"],
            backends: vec!["local", "s3"],
        };
        parse_spec_with_env("strata.yaml", text, env, &names, &|k| {
            (k == "CF_TOKEN").then(|| "s3cr3t-value".to_string())
        })
    }

    #[test]
    fn parses_core_sections() {
        let (s, d) = parse(
            "version: 1\nproject: apex\nservices:\n  api: { namespace: apex, port: 8080, versions: [v1, v2] }\n",
            None,
        )
        .unwrap();
        assert!(d.is_empty(), "{:?}", d.items);
        assert_eq!(s.project, "apex");
        assert_eq!(s.services["api"].versions, vec!["v1", "v2"]);
        assert_eq!(s.state, StateSettings::default());
        assert_eq!(s.env, DEFAULT_ENV);
    }

    #[test]
    fn unknown_keys_get_did_you_mean_at_the_key() {
        let text = "version: 1\nproject: apex\nservices:\n  api: { namespace: apex, prot: 8080 }\n";
        let (_, d) = parse(text, None).unwrap();
        assert_eq!(d.len(), 1, "{:?}", d.items);
        let diag = &d.items[0];
        assert_eq!(diag.code, "spec::unknown-key");
        assert_eq!(diag.help.as_deref(), Some("did you mean `port`?"));
        let span = diag.span.unwrap();
        assert_eq!(&text[span.offset..span.offset + span.len], "prot");
    }

    #[test]
    fn unknown_sections_are_reported() {
        let (_, d) = parse("version: 1\nproject: apex\nmehs: {}\n", None).unwrap();
        assert_eq!(d.items[0].help.as_deref(), Some("did you mean `mesh`?"));
    }

    #[test]
    fn env_overlay_and_env_refs() {
        let text = "version: 1\nproject: apex\nstate: { backend: local, path: \"st/${env}.json\" }\nproviders:\n  cloudflare: { token: \"${env.CF_TOKEN}\" }\nenvironments:\n  dev:\n    state: { path: dev.json }\n";
        let (s, d) = parse(text, Some("dev")).unwrap();
        assert!(d.is_empty(), "{:?}", d.items);
        assert_eq!((s.state.backend.as_str(), &s.state.settings), ("local", &serde_json::json!({"path": "dev.json"})));
        assert_eq!(s.providers["cloudflare"]["token"], "s3cr3t-value");
        assert_eq!(s.secrets, vec!["s3cr3t-value".to_string()]);
        let (s, _) = parse(text, None).unwrap();
        assert_eq!(s.state.settings, serde_json::json!({"path": "st/default.json"}));
    }

    #[test]
    fn an_empty_overlay_changes_nothing() {
        let text = "version: 1\nproject: apex\nenvironments:\n  dev:\n";
        let (s, d) = parse(text, Some("dev")).unwrap();
        assert!(d.is_empty(), "{:?}", d.items);
        assert_eq!((s.project.as_str(), s.env.as_str()), ("apex", "dev"));
    }

    #[test]
    fn an_overlay_switching_state_backend_replaces_the_base_settings() {
        let text = "version: 1\nproject: apex\nstate: { backend: s3, bucket: b, key: \"p/${env}.json\", region: us-east-1 }\nenvironments:\n  dev:\n    state: { backend: local }\n  prod:\n    state: { key: prod.json }\n";
        let (s, d) = parse(text, Some("dev")).unwrap();
        assert!(d.is_empty(), "{:?}", d.items);
        assert_eq!(s.state, StateSettings::default());
        // Same backend: the overlay merges into the base.
        let (s, d) = parse(text, Some("prod")).unwrap();
        assert!(d.is_empty(), "{:?}", d.items);
        assert_eq!(s.state.backend, "s3");
        assert_eq!(
            (&s.state.settings["bucket"], &s.state.settings["key"]),
            (&serde_json::json!("b"), &serde_json::json!("prod.json"))
        );
    }

    #[test]
    fn unknown_env_is_an_error() {
        let text = "version: 1\nproject: apex\nenvironments: { dev: {}, prod: {} }\n";
        let d = parse(text, Some("prd")).err().unwrap();
        assert_eq!(d.items[0].help.as_deref(), Some("did you mean `prod`?"));
    }

    #[test]
    fn wrong_types_are_explained() {
        let (_, d) =
            parse("version: 1\nproject: apex\nservices:\n  api: { namespace: apex, port: high }\n", None).unwrap();
        assert_eq!(d.items[0].code, "spec::wrong-type");
        assert!(d.items[0].detail.contains("must be an integer"), "{}", d.items[0].detail);
    }
}
