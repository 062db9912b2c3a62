//! A validator for the Swagger 2.0 schema keywords the Microsoft.Cdn documents use: `$ref`
//! (across files), `type`, `enum`, `allOf`, `properties`, `required`, `additionalProperties`,
//! `items`, `minItems`/`maxItems`, `minLength`/`maxLength`, `pattern`, `minimum`/`maximum`
//! (with the boolean `exclusive*` of Swagger 2.0), `format: uuid`, `readOnly`, `x-nullable`, and polymorphism:
//! a base schema with a `discriminator` is validated as the subtype whose
//! `x-ms-discriminator-value` (or definition name) the instance's tag names.
//!
//! Two choices, documented in the README:
//! - unknown properties are refused (`additionalProperties` absent means "no others"): ARM
//!   resource providers drop unknown properties silently, which would hide a client's typo
//!   behind a 200; a test server must make it fail;
//! - `readOnly` properties are accepted and ignored in requests, as ARM does (a client may send
//!   back what it read); a `required` readOnly property is not required in a request.

use serde_json::Value;

use crate::spec::{At, Spec};

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

pub struct Validator<'a> {
    spec: &'a Spec,
}

impl<'a> Validator<'a> {
    pub fn new(spec: &'a Spec) -> Self {
        Validator { spec }
    }

    /// Validates a request body against the schema at `at`.
    pub fn validate(&self, at: At<'a>, value: &Value) -> Vec<Violation> {
        let mut out = Vec::new();
        self.walk(at, value, &mut String::new(), &mut out, 0, true);
        out
    }

    /// The effective schema for `value` at `at`: a discriminated base becomes its subtype.
    fn dispatch(&self, at: At<'a>, value: &Value) -> Result<At<'a>, String> {
        let Some(base) = self.spec.ref_target(at) else { return Ok(self.spec.resolve(at)) };
        let resolved = self.spec.resolve(at);
        // A subtype named directly: the instance's tag must be the subtype's.
        if let Some((prop, tag)) = self.spec.tag_of(&base)
            && let Some(found) = value.get(prop).and_then(Value::as_str)
            && found != tag
        {
            return Err(format!("`{prop}` must be {tag:?} here, not {found:?}"));
        }
        let Some(prop) = resolved.schema.get("discriminator").and_then(Value::as_str) else { return Ok(resolved) };
        if !self.spec.has_subtypes(&base) {
            return Ok(resolved);
        }
        let Some(tag) = value.get(prop).and_then(Value::as_str) else { return Ok(resolved) };
        match self.spec.subtype(&base, tag) {
            Some((file, ptr)) => Ok(At { file, schema: self.spec.get(file, &ptr).unwrap_or(&Value::Null) }),
            None => Err(format!("`{prop}` {tag:?} names no known subtype")),
        }
    }

    /// Property names `at` declares, with its `allOf` parts', for the unknown-property check.
    fn declares(&self, at: At<'a>, name: &str, depth: usize) -> Option<At<'a>> {
        if depth > 16 {
            return None;
        }
        let s = self.spec.resolve(at);
        if let Some(p) = s.schema.get("properties").and_then(|p| p.get(name)) {
            return Some(At { file: s.file, schema: p });
        }
        s.schema
            .get("allOf")?
            .as_array()?
            .iter()
            .find_map(|part| self.declares(At { file: s.file, schema: part }, name, depth + 1))
    }

    fn open(&self, at: At<'a>, depth: usize) -> bool {
        if depth > 16 {
            return false;
        }
        let s = self.spec.resolve(at);
        if s.schema.get("additionalProperties").is_some_and(|a| a != &Value::Bool(false)) {
            return true;
        }
        s.schema
            .get("allOf")
            .and_then(Value::as_array)
            .is_some_and(|parts| parts.iter().any(|p| self.open(At { file: s.file, schema: p }, depth + 1)))
    }

    /// `whole`: this schema is the instance's schema (not one `allOf` part of it), so unknown
    /// properties are checked here.
    fn walk(&self, at: At<'a>, value: &Value, ptr: &mut String, out: &mut Vec<Violation>, depth: usize, whole: bool) {
        if depth > 64 {
            return;
        }
        let s = if whole {
            match self.dispatch(at, value) {
                Ok(s) => s,
                Err(message) => {
                    out.push(Violation { pointer: ptr.clone(), message });
                    return;
                }
            }
        } else {
            self.spec.resolve(at)
        };
        let Some(obj) = s.schema.as_object() else { return };
        if value.is_null() && obj.get("x-nullable").and_then(Value::as_bool) == Some(true) {
            return;
        }
        if !self.scalar_checks(obj, value, ptr, out) {
            return;
        }
        if let Some(items) = value.as_array()
            && let Some(item_schema) = obj.get("items")
        {
            for (i, item) in items.iter().enumerate() {
                let len = ptr.len();
                ptr.push_str(&format!("/{i}"));
                self.walk(At { file: s.file, schema: item_schema }, item, ptr, out, depth + 1, true);
                ptr.truncate(len);
            }
        }
        if let Some(map) = value.as_object() {
            self.object_checks(s, obj, map, ptr, out, depth, whole);
        }
        if let Some(parts) = obj.get("allOf").and_then(Value::as_array) {
            for part in parts {
                self.walk(At { file: s.file, schema: part }, value, ptr, out, depth + 1, false);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn object_checks(
        &self,
        s: At<'a>,
        obj: &serde_json::Map<String, Value>,
        map: &serde_json::Map<String, Value>,
        ptr: &mut String,
        out: &mut Vec<Violation>,
        depth: usize,
        whole: bool,
    ) {
        if let Some(req) = obj.get("required").and_then(Value::as_array) {
            for name in req.iter().filter_map(Value::as_str) {
                if map.contains_key(name) {
                    continue;
                }
                let read_only = self
                    .declares(s, name, 0)
                    .map(|p| self.spec.resolve(p))
                    .is_some_and(|p| p.schema.get("readOnly").and_then(Value::as_bool) == Some(true));
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
                Some(ps) => self.walk(At { file: s.file, schema: ps }, v, ptr, out, depth + 1, true),
                None => match obj.get("additionalProperties") {
                    Some(ap @ Value::Object(_)) => {
                        self.walk(At { file: s.file, schema: ap }, v, ptr, out, depth + 1, true)
                    }
                    _ if whole && self.declares(s, k, 0).is_none() && !self.open(s, 0) => {
                        out.push(Violation { pointer: ptr.clone(), message: "unknown property".into() })
                    }
                    _ => {}
                },
            }
            ptr.truncate(len);
        }
    }

    /// Type, enum, string, number and array-size checks; false when the type is wrong (nothing
    /// more to say about the value).
    fn scalar_checks(
        &self,
        obj: &serde_json::Map<String, Value>,
        value: &Value,
        ptr: &str,
        out: &mut Vec<Violation>,
    ) -> bool {
        let mut push = |message: String| out.push(Violation { pointer: ptr.to_string(), message });
        if let Some(t) = obj.get("type").and_then(Value::as_str) {
            let ok = match t {
                "string" => value.is_string(),
                "number" => value.is_number(),
                "integer" => value.as_i64().is_some() || value.as_u64().is_some(),
                "boolean" => value.is_boolean(),
                "array" => value.is_array(),
                "object" => value.is_object(),
                _ => true,
            };
            if !ok {
                push(format!("expected {t}, found {}", type_name(value)));
                return false;
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
            if obj.get("format").and_then(Value::as_str) == Some("uuid") && uuid::Uuid::parse_str(s).is_err() {
                push(format!("{s:?} is not a UUID"));
            }
            if let Some(p) = obj.get("pattern").and_then(Value::as_str)
                && self.matches(p, s) == Some(false)
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
        }
        true
    }

    /// `Some(matched)`, or `None` when the pattern does not compile in Rust's syntax.
    pub fn matches(&self, pattern: &str, s: &str) -> Option<bool> {
        let mut cache = self.spec.patterns.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
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
