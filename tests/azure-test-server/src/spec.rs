//! The official Swagger 2.0 documents (`afdx.json` and `cdn.json`, which `$ref` each other and
//! ARM's `common-types`), loaded together so every `$ref` resolves across files, and the
//! operation table the server routes by: path template, method, path parameters (with their
//! `pattern`/length limits), the `api-version` query parameter, and the body parameter's schema.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// The API version both documents describe.
pub const API_VERSION: &str = "2025-06-01";

/// Relative to `STRATA_API_SPECS`: the folder holding `afdx.json` and `cdn.json`.
pub const SPEC_DIR: &str = "azure/specification/cdn/resource-manager/Microsoft.Cdn/Cdn/stable/2025-06-01";

/// Where the documents are looked for when no directory is given: `$STRATA_API_SPECS/<SPEC_DIR>`,
/// else `shared/api-specs` beside the workspace checkout.
pub fn default_spec_dir() -> PathBuf {
    let base = std::env::var_os("STRATA_API_SPECS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/api-specs"));
    base.join(SPEC_DIR)
}

/// A schema location: which file, and the schema value inside it.
#[derive(Clone, Copy)]
pub struct At<'a> {
    pub file: usize,
    pub schema: &'a Value,
}

/// One parameter of an operation, resolved.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub location: String,
    pub required: bool,
    /// The parameter object itself (`pattern`, `minLength`, `enum`, ... for non-body ones).
    pub spec: Value,
    /// The file the parameter was declared in (its `schema` `$ref`s are relative to it).
    pub file: usize,
}

/// One operation of the documents.
#[derive(Debug, Clone)]
pub struct Operation {
    pub id: String,
    pub method: String,
    pub template: String,
    segments: Vec<String>,
    pub params: Vec<Param>,
    pub long_running: bool,
}

impl Operation {
    pub fn body(&self) -> Option<&Param> {
        self.params.iter().find(|p| p.location == "body")
    }
}

/// The loaded documents.
pub struct Spec {
    /// Normalised path → document.
    files: Vec<(PathBuf, Value)>,
    operations: Vec<Operation>,
    /// (file, definition pointer of a base with a `discriminator`) → tag → (file, pointer).
    subtypes: HashMap<(usize, String), BTreeMap<String, (usize, String)>>,
    /// (file, pointer of a subtype) → (discriminator property, the subtype's tag).
    tags: HashMap<(usize, String), (String, String)>,
    pub(crate) patterns: Mutex<HashMap<String, Option<regex::Regex>>>,
}

static LOADED: Mutex<Option<(PathBuf, Arc<Spec>)>> = Mutex::new(None);

fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                // Examples are documentation, not schema (most example files are not copied).
                if k == "x-ms-examples" {
                    continue;
                }
                if k == "$ref"
                    && let Some(s) = x.as_str()
                {
                    out.push(s.to_string());
                }
                collect_refs(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

impl Spec {
    /// Loads (once per directory per process) `afdx.json` and `cdn.json` from `dir`, and every
    /// file their `$ref`s name.
    pub fn load(dir: &Path) -> Result<Arc<Spec>, String> {
        let mut loaded = LOADED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((p, spec)) = loaded.as_ref()
            && p == dir
        {
            return Ok(spec.clone());
        }
        let spec = Arc::new(Spec::load_uncached(dir)?);
        *loaded = Some((dir.to_path_buf(), spec.clone()));
        Ok(spec)
    }

    fn load_uncached(dir: &Path) -> Result<Spec, String> {
        let mut files: Vec<(PathBuf, Value)> = Vec::new();
        let mut queue: Vec<PathBuf> = vec![normalise(&dir.join("afdx.json")), normalise(&dir.join("cdn.json"))];
        while let Some(path) = queue.pop() {
            if files.iter().any(|(p, _)| *p == path) {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|e| {
                format!(
                    "cannot read the Azure API document {}: {e} (set STRATA_API_SPECS to the api-specs directory, or pass --spec-dir)",
                    path.display()
                )
            })?;
            let doc: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut refs = Vec::new();
            collect_refs(&doc, &mut refs);
            let parent = path.parent().unwrap_or(Path::new("")).to_path_buf();
            for r in refs {
                let file = r.split('#').next().unwrap_or_default();
                if !file.is_empty() {
                    queue.push(normalise(&parent.join(file)));
                }
            }
            files.push((path, doc));
        }
        let mut spec = Spec {
            files,
            operations: Vec::new(),
            subtypes: HashMap::new(),
            tags: HashMap::new(),
            patterns: Mutex::new(HashMap::new()),
        };
        spec.index_operations()?;
        spec.index_subtypes();
        Ok(spec)
    }

    fn file_index(&self, path: &Path) -> Option<usize> {
        self.files.iter().position(|(p, _)| p == path)
    }

    /// Resolves a `$ref` written in `file` to (file, JSON pointer).
    pub fn locate(&self, file: usize, reference: &str) -> Option<(usize, String)> {
        let (path, pointer) = reference.split_once('#').unwrap_or((reference, ""));
        let target = if path.is_empty() {
            file
        } else {
            let base = self.files[file].0.parent().unwrap_or(Path::new(""));
            self.file_index(&normalise(&base.join(path)))?
        };
        Some((target, pointer.to_string()))
    }

    pub fn get(&self, file: usize, pointer: &str) -> Option<&Value> {
        self.files[file].1.pointer(pointer)
    }

    /// Follows `$ref`s until a schema without one.
    pub fn resolve<'s>(&'s self, mut at: At<'s>) -> At<'s> {
        for _ in 0..32 {
            let Some(r) = at.schema.get("$ref").and_then(Value::as_str) else { return at };
            match self.locate(at.file, r).and_then(|(f, p)| Some(At { file: f, schema: self.get(f, &p)? })) {
                Some(next) => at = next,
                None => return At { file: at.file, schema: &Value::Null },
            }
        }
        at
    }

    /// The definition pointer a `$ref` schema names (for discriminator lookups).
    pub fn ref_target(&self, at: At<'_>) -> Option<(usize, String)> {
        at.schema.get("$ref").and_then(Value::as_str).and_then(|r| self.locate(at.file, r))
    }

    /// The subtype of the discriminated base `(file, pointer)` for `tag`.
    pub fn subtype(&self, base: &(usize, String), tag: &str) -> Option<(usize, String)> {
        self.subtypes.get(base)?.get(tag).cloned()
    }

    /// For a subtype: the discriminator property and the tag an instance must carry.
    pub fn tag_of(&self, subtype: &(usize, String)) -> Option<&(String, String)> {
        self.tags.get(subtype)
    }

    pub fn has_subtypes(&self, base: &(usize, String)) -> bool {
        self.subtypes.contains_key(base)
    }

    fn index_operations(&mut self) -> Result<(), String> {
        let mut ops = Vec::new();
        for file in 0..self.files.len() {
            let Some(paths) = self.files[file].1.get("paths").and_then(Value::as_object) else { continue };
            for (template, item) in paths {
                let Some(item) = item.as_object() else { continue };
                let shared: Vec<Value> = item.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
                for (method, op) in item {
                    if method == "parameters" {
                        continue;
                    }
                    let mut params = Vec::new();
                    let own = op.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
                    for p in shared.iter().chain(own.iter()) {
                        params.push(self.param(file, p)?);
                    }
                    ops.push(Operation {
                        id: op.get("operationId").and_then(Value::as_str).unwrap_or_default().to_string(),
                        method: method.to_uppercase(),
                        template: template.clone(),
                        segments: template.trim_start_matches('/').split('/').map(str::to_string).collect(),
                        params,
                        long_running: op.get("x-ms-long-running-operation").and_then(Value::as_bool) == Some(true),
                    });
                }
            }
        }
        // A literal segment beats a parameter.
        ops.sort_by_key(|o| o.segments.iter().filter(|s| s.starts_with('{')).count());
        self.operations = ops;
        Ok(())
    }

    fn param(&self, file: usize, p: &Value) -> Result<Param, String> {
        let (pfile, spec) = match p.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let (f, ptr) = self.locate(file, r).ok_or_else(|| format!("unresolved parameter $ref {r}"))?;
                (f, self.get(f, &ptr).cloned().ok_or_else(|| format!("unresolved parameter $ref {r}"))?)
            }
            None => (file, p.clone()),
        };
        Ok(Param {
            name: spec.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
            location: spec.get("in").and_then(Value::as_str).unwrap_or_default().to_string(),
            required: spec.get("required").and_then(Value::as_bool) == Some(true),
            spec,
            file: pfile,
        })
    }

    fn index_subtypes(&mut self) {
        let mut subtypes: HashMap<(usize, String), BTreeMap<String, (usize, String)>> = HashMap::new();
        let mut tags = HashMap::new();
        for file in 0..self.files.len() {
            let Some(defs) = self.files[file].1.get("definitions").and_then(Value::as_object) else { continue };
            for (name, def) in defs {
                let Some(parts) = def.get("allOf").and_then(Value::as_array) else { continue };
                let tag = def.get("x-ms-discriminator-value").and_then(Value::as_str).unwrap_or(name);
                for part in parts {
                    let Some(base) = part.get("$ref").and_then(Value::as_str).and_then(|r| self.locate(file, r)) else {
                        continue;
                    };
                    if let Some(prop) =
                        self.get(base.0, &base.1).and_then(|b| b.get("discriminator")).and_then(Value::as_str)
                    {
                        tags.insert((file, format!("/definitions/{name}")), (prop.to_string(), tag.to_string()));
                        subtypes
                            .entry(base)
                            .or_default()
                            .insert(tag.to_string(), (file, format!("/definitions/{name}")));
                    }
                }
            }
        }
        self.subtypes = subtypes;
        self.tags = tags;
    }

    /// The operation serving `method path`, with its path parameter values. `Err(true)` when
    /// the path exists with other methods (405), `Err(false)` when no template matches.
    pub fn route(&self, method: &str, path: &str) -> Result<(&Operation, BTreeMap<String, String>), bool> {
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut path_matched = false;
        for op in &self.operations {
            if op.segments.len() != segs.len() {
                continue;
            }
            let mut vars = BTreeMap::new();
            // ARM matches literal segments case-insensitively.
            let ok = op.segments.iter().zip(&segs).all(|(t, s)| {
                match t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                    Some(name) => {
                        vars.insert(name.to_string(), percent_decode(s));
                        !s.is_empty()
                    }
                    None => t.eq_ignore_ascii_case(s),
                }
            });
            if !ok {
                continue;
            }
            path_matched = true;
            if op.method.eq_ignore_ascii_case(method) {
                return Ok((op, vars));
            }
        }
        Err(path_matched)
    }

    /// The operation with this `operationId`.
    pub fn operation(&self, id: &str) -> Option<&Operation> {
        self.operations.iter().find(|o| o.id == id)
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
