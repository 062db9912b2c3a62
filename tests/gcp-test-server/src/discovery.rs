//! The Compute Engine discovery document: which paths and methods exist,
//! which query parameters each accepts, and the schemas request bodies must
//! satisfy. Everything the server accepts comes from Google's own document,
//! so a client that passes here sends what the real API expects.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Map, Value};

use crate::error::ApiError;

/// The collections the server keeps state for (discovery resource names).
pub const SERVED_RESOURCES: &[&str] = &[
    "backendBuckets",
    "backendServices",
    "urlMaps",
    "targetHttpsProxies",
    "targetHttpProxies",
    "sslCertificates",
    "globalForwardingRules",
    "globalAddresses",
    "globalOperations",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Variable(String),
}

/// One method of a served resource, e.g. `backendBuckets.insert`.
#[derive(Debug, Clone)]
pub struct MethodSpec {
    pub resource: String,
    pub method: String,
    pub http_method: String,
    segments: Vec<Segment>,
    pub request_schema: Option<String>,
    query_params: BTreeSet<String>,
}

/// A request matched to a method, with its path variables.
#[derive(Debug)]
pub struct Matched<'a> {
    pub spec: &'a MethodSpec,
    pub vars: BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct Discovery {
    schemas: Map<String, Value>,
    methods: Vec<MethodSpec>,
    global_params: BTreeSet<String>,
}

impl Discovery {
    /// Reads `compute.v1.json` from `path`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let doc: Value = serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
        Self::from_document(&doc)
    }

    /// `$STRATA_API_SPECS/gcp/compute.v1.json`.
    pub fn default_path() -> Option<std::path::PathBuf> {
        std::env::var_os("STRATA_API_SPECS").map(|d| Path::new(&d).join("gcp").join("compute.v1.json"))
    }

    pub fn from_document(doc: &Value) -> Result<Self, String> {
        let schemas =
            doc.get("schemas").and_then(Value::as_object).cloned().ok_or("discovery document has no schemas")?;
        let global_params =
            doc.get("parameters").and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default();
        let resources = doc.get("resources").and_then(Value::as_object).ok_or("discovery document has no resources")?;
        let mut methods = Vec::new();
        for &resource in SERVED_RESOURCES {
            let entries = resources
                .get(resource)
                .and_then(|r| r.get("methods"))
                .and_then(Value::as_object)
                .ok_or_else(|| format!("discovery document has no resource {resource}"))?;
            for (name, m) in entries {
                let path = m.get("flatPath").or_else(|| m.get("path")).and_then(Value::as_str).unwrap_or_default();
                let segments = path
                    .split('/')
                    .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(var) => Segment::Variable(var.to_string()),
                        None => Segment::Literal(s.to_string()),
                    })
                    .collect();
                let query_params = m
                    .get("parameters")
                    .and_then(Value::as_object)
                    .map(|p| {
                        p.iter()
                            .filter(|(_, v)| v.get("location").and_then(Value::as_str) == Some("query"))
                            .map(|(k, _)| k.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                methods.push(MethodSpec {
                    resource: resource.to_string(),
                    method: name.clone(),
                    http_method: m.get("httpMethod").and_then(Value::as_str).unwrap_or("GET").to_string(),
                    segments,
                    request_schema: m
                        .get("request")
                        .and_then(|r| r.get("$ref"))
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    query_params,
                });
            }
        }
        // Literal segments win over variables (`listUsable` is not a name).
        methods
            .sort_by_key(|m| std::cmp::Reverse(m.segments.iter().filter(|s| matches!(s, Segment::Literal(_))).count()));
        Ok(Self { schemas, methods, global_params })
    }

    /// Finds the method for `http_method` on `path` (relative to
    /// `/compute/v1/`). A path that exists under another HTTP method is
    /// reported as such; an unknown path is `notFound`.
    pub fn route(&self, http_method: &str, path: &str) -> Result<Matched<'_>, ApiError> {
        let parts: Vec<&str> = path.split('/').collect();
        let mut path_exists = false;
        for spec in &self.methods {
            if spec.segments.len() != parts.len() {
                continue;
            }
            let mut vars = BTreeMap::new();
            let fits = spec.segments.iter().zip(&parts).all(|(seg, part)| match seg {
                Segment::Literal(l) => l == part,
                Segment::Variable(v) => {
                    vars.insert(v.clone(), (*part).to_string());
                    !part.is_empty()
                }
            });
            if !fits {
                continue;
            }
            path_exists = true;
            if spec.http_method.eq_ignore_ascii_case(http_method) {
                return Ok(Matched { spec, vars });
            }
        }
        if path_exists {
            Err(ApiError::not_found(format!("HTTP method {http_method} is not supported by /compute/v1/{path}")))
        } else {
            Err(ApiError::not_found(format!("The requested URL /compute/v1/{path} was not found on this server.")))
        }
    }

    /// Rejects query parameters the method does not declare.
    pub fn check_query(&self, spec: &MethodSpec, names: impl Iterator<Item = String>) -> Result<(), ApiError> {
        for name in names {
            if !spec.query_params.contains(&name) && !self.global_params.contains(&name) {
                return Err(ApiError::invalid(format!(
                    "Invalid JSON payload received. Unknown name \"{name}\": Cannot bind query parameter. Field '{name}' could not be found in request message."
                )));
            }
        }
        Ok(())
    }

    /// Whether schema `name` declares property `field`.
    pub fn has_property(&self, name: &str, field: &str) -> bool {
        self.schemas.get(name).and_then(|s| s.get("properties")).and_then(|p| p.get(field)).is_some()
    }

    /// The `kind` default of schema `name` (`compute#backendBucket`).
    pub fn kind_of(&self, name: &str) -> Option<String> {
        self.schemas.get(name)?.get("properties")?.get("kind")?.get("default")?.as_str().map(str::to_string)
    }

    /// Checks `value` against schema `name`: unknown fields, wrong types and
    /// values outside an enum are rejected with the field's path.
    pub fn validate(&self, name: &str, value: &Value) -> Result<(), ApiError> {
        let schema = self.schemas.get(name).ok_or_else(|| ApiError::invalid(format!("unknown schema {name}")))?;
        if !value.is_object() {
            return Err(ApiError::invalid("Invalid JSON payload received. Expected an object as the request body."));
        }
        self.check(schema, value, "")
    }

    fn check(&self, schema: &Value, value: &Value, at: &str) -> Result<(), ApiError> {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let target = self.schemas.get(r).ok_or_else(|| ApiError::invalid(format!("unknown schema {r}")))?;
            return self.check(target, value, at);
        }
        // proto3 JSON: null means "unset" for any field.
        if value.is_null() {
            return Ok(());
        }
        let bad = |expected: &str| {
            Err(ApiError::invalid(format!(
                "Invalid value at '{}' ({expected}), {value}",
                if at.is_empty() { "request" } else { at }
            )))
        };
        let ty = schema.get("type").and_then(Value::as_str).unwrap_or("any");
        let format = schema.get("format").and_then(Value::as_str).unwrap_or("");
        match ty {
            "string" => {
                let as_text = match value {
                    Value::String(s) => s.clone(),
                    // 64-bit integers are strings in proto3 JSON, numbers are accepted too.
                    Value::Number(n) if matches!(format, "int64" | "uint64") && (n.is_i64() || n.is_u64()) => {
                        n.to_string()
                    }
                    _ => return bad("TYPE_STRING"),
                };
                match format {
                    "int64" if as_text.parse::<i64>().is_err() => return bad("TYPE_INT64"),
                    "uint64" if as_text.parse::<u64>().is_err() => return bad("TYPE_UINT64"),
                    _ => {}
                }
                if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
                    && !allowed.iter().any(|a| a.as_str() == Some(as_text.as_str()))
                {
                    return bad("TYPE_ENUM");
                }
                Ok(())
            }
            "integer" => {
                let n = match value {
                    Value::Number(n) => n.as_i64(),
                    Value::String(s) => s.parse::<i64>().ok(),
                    _ => None,
                };
                let in_range = match (n, format) {
                    (Some(n), "uint32") => (0..=i64::from(u32::MAX)).contains(&n),
                    (Some(n), _) => (i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(&n),
                    (None, _) => false,
                };
                if in_range { Ok(()) } else { bad(if format == "uint32" { "TYPE_UINT32" } else { "TYPE_INT32" }) }
            }
            "number" => {
                if value.is_number() {
                    Ok(())
                } else {
                    bad("TYPE_DOUBLE")
                }
            }
            "boolean" => {
                if value.is_boolean() {
                    Ok(())
                } else {
                    bad("TYPE_BOOL")
                }
            }
            "array" => {
                let Some(items) = value.as_array() else { return bad("TYPE_ARRAY") };
                let item_schema = schema.get("items").cloned().unwrap_or(Value::Null);
                for (i, item) in items.iter().enumerate() {
                    self.check(&item_schema, item, &format!("{at}[{i}]"))?;
                }
                Ok(())
            }
            "object" => {
                let Some(obj) = value.as_object() else { return bad("TYPE_MESSAGE") };
                if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                    for (k, v) in obj {
                        let Some(field) = props.get(k) else {
                            return Err(ApiError::invalid(format!(
                                "Invalid JSON payload received. Unknown name \"{k}\" at '{}': Cannot find field.",
                                if at.is_empty() { "request" } else { at }
                            )));
                        };
                        self.check(field, v, &join(at, k))?;
                    }
                } else if let Some(extra) = schema.get("additionalProperties") {
                    for (k, v) in obj {
                        self.check(extra, v, &join(at, k))?;
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

fn join(at: &str, field: &str) -> String {
    if at.is_empty() { field.to_string() } else { format!("{at}.{field}") }
}
