//! The official OpenAPI document and request validation against it: the operation (path
//! template and method), path and query parameters, and the request body (JSON, or the
//! multipart form of a Workers upload).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::schema::{Validator, Violation};

/// Where the document is looked for when no path is given: `$STRATA_API_SPECS/cloudflare/
/// openapi.json`, else `shared/api-specs` beside the workspace checkout.
pub fn default_spec_path() -> PathBuf {
    let base = std::env::var_os("STRATA_API_SPECS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/api-specs"));
    base.join("cloudflare/openapi.json")
}

/// The parsed document, shared by every server of a process (it is 4 MiB; parsing once keeps
/// a test file that starts several servers fast).
pub struct Spec {
    doc: Value,
    /// Path templates split into segments, literal-heavy templates first.
    templates: Vec<(String, Vec<String>)>,
    patterns: Mutex<HashMap<String, Option<regex::Regex>>>,
}

static LOADED: Mutex<Option<(PathBuf, Arc<Spec>)>> = Mutex::new(None);

impl Spec {
    /// Loads (once per path per process) and indexes the document.
    pub fn load(path: &Path) -> Result<Arc<Spec>, String> {
        let mut loaded = LOADED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((p, spec)) = loaded.as_ref()
            && p == path
        {
            return Ok(spec.clone());
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "cannot read the Cloudflare OpenAPI document at {}: {e} (set STRATA_API_SPECS to the api-specs directory, or pass --spec)",
                path.display()
            )
        })?;
        let doc: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let spec = Arc::new(Spec::from_value(doc)?);
        *loaded = Some((path.to_path_buf(), spec.clone()));
        Ok(spec)
    }

    pub fn from_value(mut doc: Value) -> Result<Spec, String> {
        patch_known_defects(&mut doc);
        let paths = doc.get("paths").and_then(Value::as_object).ok_or("the document has no `paths`")?;
        let mut templates: Vec<(String, Vec<String>)> = paths
            .keys()
            .map(|k| (k.clone(), k.trim_start_matches('/').split('/').map(str::to_string).collect()))
            .collect();
        // A literal segment beats a parameter (`/dns_records/export` before `/{dns_record_id}`).
        templates.sort_by_key(|(_, segs)| segs.iter().filter(|s| s.starts_with('{')).count());
        Ok(Spec { doc, templates, patterns: Mutex::new(HashMap::new()) })
    }

    fn validator(&self) -> Validator<'_> {
        Validator::new(&self.doc, &self.patterns)
    }

    /// The operation serving `method path`, with its path parameters.
    pub fn find(&self, method: &str, path: &str) -> Result<Operation<'_>, RouteError> {
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut path_matched = false;
        for (template, tsegs) in &self.templates {
            if tsegs.len() != segs.len() {
                continue;
            }
            let mut params = HashMap::new();
            let ok = tsegs.iter().zip(&segs).all(|(t, s)| {
                if let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                    params.insert(name.to_string(), s.to_string());
                    !s.is_empty()
                } else {
                    t == s
                }
            });
            if !ok {
                continue;
            }
            path_matched = true;
            if let Some(op) = self.doc["paths"][template].get(method.to_ascii_lowercase()) {
                return Ok(Operation { spec: self, template: template.clone(), op, params });
            }
        }
        Err(if path_matched { RouteError::MethodNotAllowed } else { RouteError::NoRoute })
    }
}

/// Contradictions inside the document that would refuse every request of an operation; each
/// is removed with the reason, and listed in README.md. Nothing else is relaxed.
fn patch_known_defects(doc: &mut Value) {
    // `rulesets_RuleAction` has `pattern: ^[a-z]+$`, yet the same document's rule schemas
    // (`rulesets_SetCacheSettingsRule`: `enum: [set_cache_settings]`) and the discriminator
    // mapping of `rulesets_RequestRule` use actions with underscores: under `allOf` no
    // `set_cache_settings` rule could pass. The enum of each rule schema still applies.
    if let Some(action) = doc.pointer_mut("/components/schemas/rulesets_RuleAction").and_then(Value::as_object_mut) {
        action.remove("pattern");
    }
    // `dns-records_dns-record` is both the response and the create/update body, and lists
    // `id` in `required` without marking it readOnly (its siblings `created_on`,
    // `modified_on`, `proxiable` are): no create could pass. The server assigns ids.
    if let Some(req) =
        doc.pointer_mut("/components/schemas/dns-records_dns-record/required").and_then(Value::as_array_mut)
    {
        req.retain(|k| k != "id");
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    NoRoute,
    MethodNotAllowed,
}

/// One matched operation of the document.
pub struct Operation<'a> {
    spec: &'a Spec,
    pub template: String,
    op: &'a Value,
    pub params: HashMap<String, String>,
}

impl Operation<'_> {
    pub fn operation_id(&self) -> &str {
        self.op.get("operationId").and_then(Value::as_str).unwrap_or("")
    }

    fn parameters(&self) -> Vec<&Value> {
        let v = self.spec.validator();
        let mut out: Vec<&Value> = Vec::new();
        let path_level = self.spec.doc["paths"][&self.template].get("parameters").and_then(Value::as_array);
        for p in path_level
            .into_iter()
            .flatten()
            .chain(self.op.get("parameters").and_then(Value::as_array).into_iter().flatten())
        {
            out.push(v.resolve(p));
        }
        out
    }

    /// Checks path and query parameters: each known one against its schema (query strings are
    /// converted to the schema's scalar type first), unknown query parameters rejected,
    /// required ones present.
    pub fn check_parameters(&self, query: &[(String, String)]) -> Vec<String> {
        let v = self.spec.validator();
        let params = self.parameters();
        let mut problems = Vec::new();
        for (name, raw) in query {
            let Some(p) = params.iter().find(|p| p["in"] == "query" && p["name"] == name.as_str()) else {
                problems.push(format!("unknown query parameter `{name}`"));
                continue;
            };
            let schema = p.get("schema").cloned().unwrap_or(Value::Null);
            let value = typed(&v, &schema, raw);
            for violation in v.validate_request(&schema, &value) {
                problems.push(format!("query parameter `{name}`: {}", violation.message));
            }
        }
        for p in &params {
            let name = p["name"].as_str().unwrap_or_default();
            match p["in"].as_str() {
                Some("query")
                    if p.get("required").and_then(Value::as_bool) == Some(true)
                        && !query.iter().any(|(k, _)| k == name) =>
                {
                    problems.push(format!("missing required query parameter `{name}`"));
                }
                Some("path") => {
                    if let Some(raw) = self.params.get(name) {
                        let schema = p.get("schema").cloned().unwrap_or(Value::Null);
                        for violation in v.validate_request(&schema, &typed(&v, &schema, raw)) {
                            problems.push(format!("path parameter `{name}`: {}", violation.message));
                        }
                    }
                }
                _ => {}
            }
        }
        problems
    }

    fn request_body(&self) -> Option<&Value> {
        let v = self.spec.validator();
        self.op.get("requestBody").map(|b| v.resolve(b))
    }

    /// The media types the operation accepts (`application/json`, `multipart/form-data`).
    pub fn body_media_types(&self) -> Vec<String> {
        self.request_body()
            .and_then(|b| b.get("content"))
            .and_then(Value::as_object)
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether the document marks the body as required.
    pub fn body_required(&self) -> bool {
        self.request_body().and_then(|b| b.get("required")).and_then(Value::as_bool) == Some(true)
    }

    /// Whether any of the body's media types has a schema (a DELETE's `{}` content has none).
    pub fn body_has_schema(&self) -> bool {
        self.request_body()
            .and_then(|b| b.get("content"))
            .and_then(Value::as_object)
            .is_some_and(|c| c.values().any(|m| m.get("schema").is_some()))
    }

    /// Validates a JSON body against the `application/json` schema (no schema: any JSON).
    pub fn check_json_body(&self, body: &Value) -> Vec<Violation> {
        let schema = self.request_body().and_then(|b| b.pointer("/content/application~1json/schema"));
        match schema {
            Some(s) => self.spec.validator().validate_request(s, body),
            None => Vec::new(),
        }
    }

    /// The schema of one named multipart property (`metadata`), if the document has one.
    pub fn check_multipart_part(&self, part: &str, value: &Value) -> Vec<Violation> {
        let v = self.spec.validator();
        let Some(schema) = self.request_body().and_then(|b| b.pointer("/content/multipart~1form-data/schema")) else {
            return Vec::new();
        };
        let schema = v.resolve(schema);
        // The upload schema is a oneOf of object shapes; take the branch that declares the part.
        let branches: Vec<&Value> = match schema.get("oneOf").and_then(Value::as_array) {
            Some(b) => b.iter().map(|b| v.resolve(b)).collect(),
            None => vec![schema],
        };
        for b in branches {
            if let Some(ps) = b.get("properties").and_then(|p| p.get(part)) {
                return v.validate_request(ps, value);
            }
        }
        Vec::new()
    }
}

/// A query or path string as the JSON value the schema expects (`"2"` → `2` for an integer).
fn typed(v: &Validator<'_>, schema: &Value, raw: &str) -> Value {
    let s = v.resolve(schema);
    let ty = s.get("type").and_then(Value::as_str).or_else(|| {
        // `allOf: [{$ref}]`-wrapped parameter schemas.
        s.get("allOf").and_then(Value::as_array)?.iter().find_map(|p| v.resolve(p).get("type").and_then(Value::as_str))
    });
    match ty {
        Some("integer") | Some("number") => raw.parse::<f64>().ok().and_then(|f| {
            if f.fract() == 0.0 && f.abs() < 9e15 {
                Some(Value::from(f as i64))
            } else {
                serde_json::Number::from_f64(f).map(Value::Number)
            }
        }),
        Some("boolean") => match raw {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        _ => None,
    }
    .unwrap_or_else(|| Value::String(raw.to_string()))
}
