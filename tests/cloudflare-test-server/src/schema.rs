//! A compact validator for the JSON Schema keywords (OpenAPI 3.0 dialect) that Cloudflare's
//! document uses on the operations this server serves: `$ref`, `type`, `nullable`, `enum`,
//! `allOf`, `anyOf`, `oneOf` (+ `discriminator`), `properties`, `required`,
//! `additionalProperties`, `minProperties`, `items`, `minItems`, `maxItems`, `uniqueItems`,
//! `minLength`, `maxLength`, `pattern`, `minimum`, `maximum`, `exclusiveMinimum`,
//! `exclusiveMaximum`, `multipleOf`, `readOnly`.
//!
//! Two rules follow the OpenAPI 3.0 text rather than plain JSON Schema, because Cloudflare's
//! request schemas depend on them:
//! - a property marked `readOnly` that a schema lists in `required` is required in responses
//!   only (the DNS record schema requires `id`, `created_on`, ... for a create);
//! - `oneOf` without a `discriminator` passes when at least one branch matches: the document
//!   uses `oneOf` for overlapping shapes (the Workers upload's two object variants accept the
//!   same objects), which strict exactly-one semantics would reject for every request.
//!   With a `discriminator`, the branch named by the property is the one that must match.
//!
//! `format` is an annotation here (as JSON Schema's default), and a `pattern` the `regex` crate
//! cannot compile (ECMA-only syntax) is not checked; both are listed in the README.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;

/// The spec document, for `$ref` resolution, plus a cache of compiled patterns.
pub struct Validator<'a> {
    doc: &'a Value,
    patterns: &'a Mutex<HashMap<String, Option<regex::Regex>>>,
}

/// One violation: where (a JSON pointer into the instance) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub pointer: String,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = if self.pointer.is_empty() { "/" } else { &self.pointer };
        write!(f, "{at}: {}", self.message)
    }
}

impl<'a> Validator<'a> {
    pub fn new(doc: &'a Value, patterns: &'a Mutex<HashMap<String, Option<regex::Regex>>>) -> Self {
        Validator { doc, patterns }
    }

    /// Follows `$ref`s (`#/components/...`) until a schema without one.
    pub fn resolve<'s>(&self, mut schema: &'s Value) -> &'s Value
    where
        'a: 's,
    {
        for _ in 0..32 {
            match schema.get("$ref").and_then(Value::as_str) {
                Some(r) => match r.strip_prefix('#').and_then(|p| self.doc.pointer(p)) {
                    Some(target) => schema = target,
                    None => return &Value::Null,
                },
                None => return schema,
            }
        }
        schema
    }

    /// Validates a request value against `schema`.
    pub fn validate_request(&self, schema: &Value, value: &Value) -> Vec<Violation> {
        let mut out = Vec::new();
        self.walk(schema, value, &mut String::new(), &mut out, 0);
        out
    }

    fn is_read_only(&self, schema: &Value, depth: usize) -> bool {
        if depth > 16 {
            return false;
        }
        let s = self.resolve(schema);
        if s.get("readOnly").and_then(Value::as_bool) == Some(true) {
            return true;
        }
        s.get("allOf")
            .and_then(Value::as_array)
            .is_some_and(|parts| parts.iter().any(|p| self.is_read_only(p, depth + 1)))
    }

    /// The property schemas an object schema declares, including those of its `allOf` parts
    /// (used for `required` and readOnly lookups across `allOf`).
    fn property_schema<'s>(&self, schema: &'s Value, name: &str, depth: usize) -> Option<&'s Value>
    where
        'a: 's,
    {
        if depth > 16 {
            return None;
        }
        let s = self.resolve(schema);
        if let Some(p) = s.get("properties").and_then(|p| p.get(name)) {
            return Some(p);
        }
        // `allOf` parts, and the branches of a `oneOf`/`anyOf` whose `required` list sits
        // beside it (the DNS record schema lists `id` there, declared readOnly in branches).
        ["allOf", "oneOf", "anyOf"]
            .iter()
            .find_map(|k| s.get(*k)?.as_array()?.iter().find_map(|part| self.property_schema(part, name, depth + 1)))
    }

    fn walk(&self, schema: &Value, value: &Value, ptr: &mut String, out: &mut Vec<Violation>, depth: usize) {
        self.walk_in(schema, schema, value, ptr, out, depth)
    }

    /// `root` is the schema whose `required` list applies at this level (so `allOf` parts can
    /// find readOnly markers declared in sibling parts).
    fn walk_in(
        &self,
        root: &Value,
        schema: &Value,
        value: &Value,
        ptr: &mut String,
        out: &mut Vec<Violation>,
        depth: usize,
    ) {
        if depth > 64 {
            return;
        }
        let s = self.resolve(schema);
        let Some(obj) = s.as_object() else { return };
        let mut push = |message: String| out.push(Violation { pointer: ptr.clone(), message });

        if value.is_null() && obj.get("nullable").and_then(Value::as_bool) == Some(true) {
            return;
        }
        if let Some(t) = obj.get("type").and_then(Value::as_str) {
            let ok = match t {
                "string" => value.is_string(),
                "number" => value.is_number(),
                "integer" => {
                    value.as_i64().is_some()
                        || value.as_u64().is_some()
                        || value.as_f64().is_some_and(|f| f.fract() == 0.0)
                }
                "boolean" => value.is_boolean(),
                "array" => value.is_array(),
                "object" => value.is_object(),
                _ => true,
            };
            if !ok {
                push(format!("expected {t}, found {}", type_name(value)));
                return;
            }
        }
        if let Some(e) = obj.get("enum").and_then(Value::as_array)
            && !e.contains(value)
        {
            let allowed: Vec<String> = e.iter().map(Value::to_string).collect();
            push(format!("{value} is not one of {}", allowed.join(", ")));
        }
        if let Some(s) = value.as_str() {
            let len = s.chars().count() as u64;
            if let Some(min) = obj.get("minLength").and_then(Value::as_u64)
                && len < min
            {
                push(format!("string shorter than {min} characters"));
            }
            if let Some(max) = obj.get("maxLength").and_then(Value::as_u64)
                && len > max
            {
                push(format!("string longer than {max} characters"));
            }
            if let Some(p) = obj.get("pattern").and_then(Value::as_str)
                && let Some(false) = self.matches(p, s)
            {
                push(format!("{s:?} does not match the pattern {p:?}"));
            }
        }
        if let Some(n) = value.as_f64() {
            if let Some(min) = obj.get("minimum").and_then(Value::as_f64) {
                let exclusive = obj.get("exclusiveMinimum").and_then(Value::as_bool) == Some(true);
                if n < min || (exclusive && n == min) {
                    push(format!("{n} is below the minimum {min}"));
                }
            }
            if let Some(max) = obj.get("maximum").and_then(Value::as_f64) {
                let exclusive = obj.get("exclusiveMaximum").and_then(Value::as_bool) == Some(true);
                if n > max || (exclusive && n == max) {
                    push(format!("{n} is above the maximum {max}"));
                }
            }
            if let Some(m) = obj.get("multipleOf").and_then(Value::as_f64)
                && m > 0.0
                && ((n / m) - (n / m).round()).abs() > 1e-9
            {
                push(format!("{n} is not a multiple of {m}"));
            }
        }
        if let Some(items) = value.as_array() {
            if let Some(min) = obj.get("minItems").and_then(Value::as_u64)
                && (items.len() as u64) < min
            {
                push(format!("fewer than {min} items"));
            }
            if let Some(max) = obj.get("maxItems").and_then(Value::as_u64)
                && (items.len() as u64) > max
            {
                push(format!("more than {max} items"));
            }
            if obj.get("uniqueItems").and_then(Value::as_bool) == Some(true) {
                for (i, a) in items.iter().enumerate() {
                    if items[..i].contains(a) {
                        push(format!("item {i} repeats an earlier item"));
                        break;
                    }
                }
            }
            if let Some(item_schema) = obj.get("items") {
                for (i, item) in items.iter().enumerate() {
                    let len = ptr.len();
                    ptr.push_str(&format!("/{i}"));
                    self.walk(item_schema, item, ptr, out, depth + 1);
                    ptr.truncate(len);
                }
            }
        }
        if let Some(map) = value.as_object() {
            if let Some(min) = obj.get("minProperties").and_then(Value::as_u64)
                && (map.len() as u64) < min
            {
                out.push(Violation { pointer: ptr.clone(), message: format!("fewer than {min} properties") });
            }
            if let Some(req) = obj.get("required").and_then(Value::as_array) {
                for name in req.iter().filter_map(Value::as_str) {
                    if map.contains_key(name) {
                        continue;
                    }
                    let read_only = self
                        .property_schema(root, name, 0)
                        .or_else(|| self.property_schema(schema, name, 0))
                        .is_some_and(|p| self.is_read_only(p, 0));
                    if !read_only {
                        out.push(Violation {
                            pointer: ptr.clone(),
                            message: format!("missing required property `{name}`"),
                        });
                    }
                }
            }
            let props = obj.get("properties").and_then(Value::as_object);
            for (k, v) in map {
                let len = ptr.len();
                ptr.push('/');
                ptr.push_str(&k.replace('~', "~0").replace('/', "~1"));
                match props.and_then(|p| p.get(k)) {
                    Some(ps) => self.walk(ps, v, ptr, out, depth + 1),
                    None => match obj.get("additionalProperties") {
                        Some(Value::Bool(false)) => {
                            out.push(Violation { pointer: ptr.clone(), message: "unknown property".into() })
                        }
                        Some(ap @ Value::Object(_)) => self.walk(ap, v, ptr, out, depth + 1),
                        _ => {}
                    },
                }
                ptr.truncate(len);
            }
        }
        if let Some(parts) = obj.get("allOf").and_then(Value::as_array) {
            for part in parts {
                self.walk_in(root, part, value, ptr, out, depth + 1);
            }
        }
        if let Some(branches) = obj.get("anyOf").and_then(Value::as_array) {
            self.any_branch(branches, value, ptr, out, depth, "anyOf");
        }
        if let Some(branches) = obj.get("oneOf").and_then(Value::as_array) {
            let chosen = obj.get("discriminator").and_then(|d| {
                let prop = d.get("propertyName")?.as_str()?;
                let tag = value.get(prop)?.as_str()?;
                match d.get("mapping").and_then(|m| m.get(tag)).and_then(Value::as_str) {
                    Some(r) => Some(Ok(r.to_string())),
                    None => Some(Err(format!("`{prop}` {tag:?} is not one of the values this object accepts"))),
                }
            });
            match chosen {
                Some(Ok(r)) => {
                    let branch = serde_json::json!({ "$ref": r });
                    self.walk(&branch, value, ptr, out, depth + 1);
                }
                Some(Err(message)) => out.push(Violation { pointer: ptr.clone(), message }),
                None => self.any_branch(branches, value, ptr, out, depth, "oneOf"),
            }
        }
    }

    fn any_branch(
        &self,
        branches: &[Value],
        value: &Value,
        ptr: &mut String,
        out: &mut Vec<Violation>,
        depth: usize,
        word: &str,
    ) {
        let mut best: Option<Vec<Violation>> = None;
        for b in branches {
            let mut v = Vec::new();
            self.walk(b, value, ptr, &mut v, depth + 1);
            if v.is_empty() {
                return;
            }
            if best.as_ref().is_none_or(|bv| v.len() < bv.len()) {
                best = Some(v);
            }
        }
        if let Some(best) = best {
            // The closest branch's violations say most about what to fix.
            out.push(Violation {
                pointer: ptr.clone(),
                message: format!("matches none of the {word} alternatives; closest: {}", best[0]),
            });
        }
    }

    /// `Some(matched)`, or `None` when the pattern does not compile in Rust's syntax.
    fn matches(&self, pattern: &str, s: &str) -> Option<bool> {
        let mut cache = self.patterns.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let re = cache.entry(pattern.to_string()).or_insert_with(|| regex::Regex::new(pattern).ok());
        re.as_ref().map(|re| re.is_match(s))
    }
}

pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(doc: &Value, schema: Value, value: Value) -> Vec<String> {
        let cache = Mutex::new(HashMap::new());
        Validator::new(doc, &cache).validate_request(&schema, &value).into_iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn keywords() {
        let doc = json!({"components": {"schemas": {
            "Name": {"type": "string", "maxLength": 3},
            "Id": {"type": "string", "readOnly": true},
        }}});
        let schema = json!({
            "type": "object",
            "required": ["id", "name", "n"],
            "properties": {
                "id": {"$ref": "#/components/schemas/Id"},
                "name": {"$ref": "#/components/schemas/Name"},
                "n": {"type": "integer", "minimum": 1, "maximum": 5},
                "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]+$"}, "uniqueItems": true},
                "kind": {"enum": ["a", "b"]},
            },
            "additionalProperties": false,
        });
        assert!(check(&doc, schema.clone(), json!({"name": "abc", "n": 2, "tags": ["x"], "kind": "a"})).is_empty());
        let errs = check(&doc, schema, json!({"name": "abcd", "tags": ["X", "X"], "kind": "c", "extra": 1}));
        assert_eq!(errs.len(), 7, "{errs:?}");
        assert!(errs.iter().any(|e| e.contains("missing required property `n`")));
        assert!(!errs.iter().any(|e| e.contains("`id`")), "readOnly required properties are for responses");
    }

    #[test]
    fn discriminated_one_of() {
        let doc = json!({"components": {"schemas": {
            "A": {"properties": {"action": {"enum": ["a"]}, "x": {"type": "integer"}}},
            "B": {"properties": {"action": {"enum": ["b"]}, "x": {"type": "string"}}},
        }}});
        let schema = json!({"oneOf": [{"$ref": "#/components/schemas/A"}, {"$ref": "#/components/schemas/B"}],
            "discriminator": {"propertyName": "action", "mapping": {"a": "#/components/schemas/A", "b": "#/components/schemas/B"}}});
        assert!(check(&doc, schema.clone(), json!({"action": "b", "x": "s"})).is_empty());
        assert_eq!(check(&doc, schema.clone(), json!({"action": "a", "x": "s"})).len(), 1);
        assert_eq!(check(&doc, schema, json!({"action": "c"})).len(), 1);
    }
}
