//! Field ownership (`metadata.managedFields`) and server-side apply.
//!
//! The model is a faithful-in-spirit simplification of
//! structured-merge-diff:
//!
//! * A field path is the list of map keys from the object root. Maps are
//!   recursed into; everything else is a leaf: scalars, `null`, empty maps,
//!   and **all lists, which are atomic** (including lists that the real
//!   apiserver merges by key, such as `containers`, `ports` or `env`; two
//!   managers applying different containers therefore conflict here, where
//!   real Kubernetes would merge them).
//! * Each manager entry, identified by (manager, operation, subresource),
//!   owns a set of paths. An applier owns exactly the leaves of its last
//!   applied configuration; an updater (POST/PUT/PATCH) takes ownership of the
//!   leaves its write changed, stealing them from everybody else.
//! * Identity and system fields (`apiVersion`, `kind`, `metadata.name`,
//!   `namespace`, `uid`, `resourceVersion`, …) are never owned; `status` is
//!   owned only through the `/status` subresource for kinds that have one.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::listmap::{self, Lists};

/// A path of map keys from the object root.
pub type FieldPath = Vec<String>;
pub type FieldSet = BTreeSet<FieldPath>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ManagedEntry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    pub time: String,
    pub subresource: Option<String>,
    pub fields: FieldSet,
}

impl ManagedEntry {
    fn is(&self, manager: &str, op: Operation, sub: Option<&str>) -> bool {
        self.manager == manager && self.operation == op && self.subresource.as_deref() == sub
    }

    /// The manager as the apiserver names it in conflict messages: appliers
    /// by name only, updaters with the API version they wrote with.
    pub fn display(&self) -> String {
        match self.operation {
            Operation::Apply => format!("{:?}", self.manager),
            Operation::Update => format!("{:?} using {}", self.manager, self.api_version),
        }
    }
}

/// Which part of an object a write addresses; decides whether `status` is
/// part of the owned (and written) fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The main resource of a kind without a status subresource.
    Whole,
    /// The main resource of a kind with a status subresource: `status` is
    /// not owned (and the caller keeps the stored status).
    MainWithoutStatus,
    /// The `/status` subresource: only `status` is owned.
    StatusOnly,
    /// The `/scale` subresource: writes only `spec.replicas`, owned like
    /// the main resource but recorded under subresource "scale".
    Scale,
}

impl Scope {
    pub fn subresource(self) -> Option<&'static str> {
        match self {
            Scope::StatusOnly => Some("status"),
            Scope::Scale => Some("scale"),
            Scope::Whole | Scope::MainWithoutStatus => None,
        }
    }
}

/// metadata fields that belong to the user and so can be owned.
const OWNED_METADATA: &[&str] = &["labels", "annotations", "finalizers", "ownerReferences"];

/// The owned leaf paths of `obj` within `scope`; lists merged by key (see
/// [`crate::listmap`]) are recursed into per entry when `lists` says so.
pub fn leaves(obj: &Value, scope: Scope, lists: Lists) -> FieldSet {
    let mut out = FieldSet::new();
    let Some(map) = obj.as_object() else {
        return out;
    };
    for (k, v) in map {
        let include = match k.as_str() {
            "apiVersion" | "kind" => false,
            "status" => !matches!(scope, Scope::MainWithoutStatus | Scope::Scale),
            "metadata" => {
                if scope == Scope::StatusOnly {
                    false
                } else {
                    if let Some(meta) = v.as_object() {
                        for (mk, mv) in meta {
                            if OWNED_METADATA.contains(&mk.as_str()) {
                                collect(mv, &mut vec!["metadata".into(), mk.clone()], lists, &mut out);
                            }
                        }
                    }
                    false
                }
            }
            _ => scope != Scope::StatusOnly,
        };
        if include {
            collect(v, &mut vec![k.clone()], lists, &mut out);
        }
    }
    out
}

fn collect(v: &Value, path: &mut Vec<String>, lists: Lists, out: &mut FieldSet) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                path.push(k.clone());
                collect(child, path, lists, out);
                path.pop();
            }
        }
        Value::Array(items) => match listmap::entries(items, path, lists) {
            Some(elements) => {
                for (element, item) in elements.into_iter().zip(items) {
                    path.push(element);
                    collect(item, path, lists, out);
                    path.pop();
                }
            }
            None => {
                out.insert(path.clone());
            }
        },
        _ => {
            out.insert(path.clone());
        }
    }
}

/// One step of a path: a map key, or the entry of a keyed list.
fn child<'a>(cur: &'a Value, element: &str) -> Option<&'a Value> {
    match listmap::item_key(element) {
        Some(key) => cur.as_array()?.iter().find(|i| listmap::matches(i, &key)),
        None => cur.as_object()?.get(element),
    }
}

pub fn get_path<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, k| child(cur, k))
}

/// The entry of a keyed list `cur` named by `key`, appended (holding its key
/// fields) when missing; `cur` becomes a list if it is not one.
fn entry_mut<'a>(cur: &'a mut Value, key: &Map<String, Value>) -> &'a mut Value {
    if !cur.is_array() {
        *cur = Value::Array(Vec::new());
    }
    let Value::Array(items) = cur else { unreachable!("just made a list") };
    let at = match items.iter().position(|i| listmap::matches(i, key)) {
        Some(at) => at,
        None => {
            items.push(Value::Object(key.clone()));
            items.len() - 1
        }
    };
    &mut items[at]
}

/// Sets `path` to `value`, creating (or replacing non-map) intermediates.
pub fn set_path(root: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        *root = value;
        return;
    };
    let mut cur = root;
    for k in parents {
        cur = match listmap::item_key(k) {
            Some(key) => entry_mut(cur, &key),
            None => ensure_object(cur).entry(k.clone()).or_insert_with(|| Value::Object(Map::new())),
        };
    }
    match listmap::item_key(last) {
        Some(key) => *entry_mut(cur, &key) = value,
        None => {
            ensure_object(cur).insert(last.clone(), value);
        }
    }
}

fn ensure_object(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

/// Removes `path`, then removes parent maps that became empty (but never
/// `metadata` or the root), so removing the last label drops `labels`. A
/// path ending in a keyed-list entry removes the entry; a list left empty
/// goes too.
pub fn remove_path(root: &mut Value, path: &[String]) {
    fn go(cur: &mut Value, path: &[String], depth: usize) -> bool {
        let Some((first, rest)) = path.split_first() else {
            return false;
        };
        if let Some(key) = listmap::item_key(first) {
            let Some(items) = cur.as_array_mut() else { return false };
            let Some(at) = items.iter().position(|i| listmap::matches(i, &key)) else { return false };
            if rest.is_empty() {
                items.remove(at);
                return true;
            }
            return go(&mut items[at], rest, depth + 1);
        }
        let Some(map) = cur.as_object_mut() else {
            return false;
        };
        if rest.is_empty() {
            return map.shift_remove(first).is_some();
        }
        let Some(child) = map.get_mut(first) else {
            return false;
        };
        let removed = go(child, rest, depth + 1);
        let keep_empty = depth == 0 && first == "metadata";
        let emptied = child.as_object().is_some_and(Map::is_empty) || child.as_array().is_some_and(Vec::is_empty);
        if removed && !keep_empty && emptied {
            map.shift_remove(first);
        }
        removed
    }
    go(root, path, 0);
}

/// The prefixes of `path` that end at a keyed-list entry, shortest first.
fn entry_prefixes(path: &[String]) -> impl Iterator<Item = &[String]> {
    (1..=path.len()).filter(|&i| listmap::is_item(&path[i - 1])).map(|i| &path[..i])
}

/// Whether `path` is a key field of the entry it is in (`name` of a
/// container): it goes only with the whole entry.
fn is_key_field(path: &[String]) -> bool {
    match path {
        [.., entry, field] => listmap::item_key(entry).is_some_and(|k| k.contains_key(field)),
        _ => false,
    }
}

/// The paths of `set` overlapping `p` (ancestors, `p` itself, descendants),
/// found through the ordering instead of a scan: CRDs own tens of thousands
/// of schema fields, and apply checks every one of them.
fn overlapping<'a>(set: &'a FieldSet, p: &[String]) -> impl Iterator<Item = &'a FieldPath> {
    let ancestors = (1..p.len()).filter_map(move |i| set.get(&p[..i]));
    let rest = set
        .range::<[String], _>((std::ops::Bound::Included(p), std::ops::Bound::Unbounded))
        .take_while(move |q| q.starts_with(p));
    ancestors.chain(rest)
}

fn any_overlap(set: &FieldSet, p: &[String]) -> bool {
    overlapping(set, p).next().is_some()
}

/// `.spec.replicas`-style rendering, as in apply conflict messages
/// (`.spec.containers[name="app"].image`).
pub fn path_string(path: &[String]) -> String {
    path.iter().map(|k| listmap::display(k).unwrap_or_else(|| format!(".{k}"))).collect()
}

/// An apply conflict: `path` (from the applied config) is owned by
/// `manager` (its display form) with a different value.
#[derive(Clone, Debug, PartialEq)]
pub struct Conflict {
    pub manager: String,
    pub path: FieldPath,
}

/// Formats conflicts exactly like the apiserver
/// (`Apply failed with 1 conflict: conflict with "m" using v1: .data.k`).
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [c] = conflicts {
        return format!("Apply failed with 1 conflict: conflict with {}: {}", c.manager, path_string(&c.path));
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|c| c.manager.as_str()).collect();
    managers.sort();
    managers.dedup();
    let mut lines = Vec::new();
    for m in managers {
        lines.push(format!("conflicts with {m}:"));
        for c in conflicts.iter().filter(|c| c.manager == m) {
            lines.push(format!("- {}", path_string(&c.path)));
        }
    }
    format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
}

/// Whether applying `config` at `p` clashes with another manager owning `q`
/// (`p` and `q` overlap). Owning a map node never clashes with its children,
/// and applying an empty map never clashes with what is inside it.
fn clashes(live: &Value, config: &Value, p: &[String], q: &[String]) -> bool {
    if p.len() > q.len() {
        // q is an ancestor of p: a clash only if q holds a non-map leaf that
        // applying p would turn into a map.
        get_path(live, q).is_some_and(|lv| !lv.is_object())
    } else {
        let cv = get_path(config, p);
        if cv.is_some_and(|v| v.as_object().is_some_and(Map::is_empty)) {
            return false;
        }
        get_path(live, p) != cv
    }
}

pub struct ApplyRequest<'a> {
    pub lists: Lists,
    pub manager: &'a str,
    pub api_version: &'a str,
    pub force: bool,
    pub now: &'a str,
    pub scope: Scope,
}

/// Server-side apply of `config` onto `live` (an empty object when the
/// object does not exist yet). Updates `entries` and returns the merged
/// object, or the conflicts when not forced.
pub fn apply(
    live: &Value,
    config: &Value,
    entries: &mut Vec<ManagedEntry>,
    req: &ApplyRequest<'_>,
) -> Result<Value, Vec<Conflict>> {
    let sub = req.scope.subresource();
    let (nulls, applied): (FieldSet, FieldSet) =
        leaves(config, req.scope, req.lists).into_iter().partition(|p| get_path(config, p).is_some_and(Value::is_null));
    let is_self = |e: &ManagedEntry| e.is(req.manager, Operation::Apply, sub);

    // 1. Conflicts with fields other managers own.
    let mut conflicts: Vec<(usize, Conflict)> = Vec::new();
    for (i, e) in entries.iter().enumerate().filter(|(_, e)| !is_self(e)) {
        for p in &applied {
            let clash = overlapping(&e.fields, p).any(|q| clashes(live, config, p, q));
            if clash {
                conflicts.push((i, Conflict { manager: e.display(), path: p.clone() }));
            }
        }
    }
    if !conflicts.is_empty() {
        if !req.force {
            return Err(conflicts.into_iter().map(|(_, c)| c).collect());
        }
        // Forcing moves ownership of the contested fields to the applier.
        for (i, c) in &conflicts {
            let lost: Vec<FieldPath> = overlapping(&entries[*i].fields, &c.path).cloned().collect();
            for q in lost {
                entries[*i].fields.remove(&q);
            }
        }
    }

    // 2. Fields applied last time but not now are removed, unless still
    //    owned by someone else.
    let mut obj = live.clone();
    let previous = entries.iter().find(|e| is_self(e)).map(|e| e.fields.clone()).unwrap_or_default();
    let owned_elsewhere = |p: &[String]| entries.iter().filter(|e| !is_self(e)).any(|e| any_overlap(&e.fields, p));
    for r in &previous {
        if any_overlap(&applied, r) || owned_elsewhere(r) {
            continue;
        }
        // A keyed-list entry nobody applies or owns any more goes as a whole
        // (with its defaulted fields); otherwise just the field, but never the
        // key of an entry that stays.
        match entry_prefixes(r).find(|e| !any_overlap(&applied, e) && !owned_elsewhere(e)) {
            Some(entry) => remove_path(&mut obj, entry),
            None if is_key_field(r) => {}
            None => remove_path(&mut obj, r),
        }
    }
    // An explicit null in the config removes the field.
    for p in &nulls {
        remove_path(&mut obj, p);
    }

    // 3. Merge the config in; lists and scalars replace, maps merge.
    for p in &applied {
        let v = get_path(config, p).cloned().unwrap_or(Value::Null);
        if v.as_object().is_some_and(Map::is_empty) {
            if !get_path(&obj, p).is_some_and(Value::is_object) {
                set_path(&mut obj, p, v);
            }
        } else {
            set_path(&mut obj, p, v);
        }
    }

    // 4. The applier now owns exactly what it applied.
    match entries.iter_mut().find(|e| is_self(e)) {
        Some(e) => {
            e.fields = applied;
            e.time = req.now.to_string();
            e.api_version = req.api_version.to_string();
        }
        None => entries.push(ManagedEntry {
            manager: req.manager.to_string(),
            operation: Operation::Apply,
            api_version: req.api_version.to_string(),
            time: req.now.to_string(),
            subresource: sub.map(str::to_string),
            fields: applied,
        }),
    }
    entries.retain(|e| !e.fields.is_empty());
    Ok(obj)
}

/// Records a non-apply write (create, update, patch) of `new` over `old` by
/// `manager`: it takes the fields whose value it changed.
#[allow(clippy::too_many_arguments)]
pub fn record_update(
    lists: Lists,
    entries: &mut Vec<ManagedEntry>,
    old: Option<&Value>,
    new: &Value,
    manager: &str,
    api_version: &str,
    now: &str,
    scope: Scope,
) {
    let sub = scope.subresource();
    let changed: FieldSet = leaves(new, scope, lists)
        .into_iter()
        .filter(|p| old.and_then(|o| get_path(o, p)) != get_path(new, p))
        .collect();
    if changed.is_empty() {
        return;
    }
    for e in entries.iter_mut().filter(|e| !e.is(manager, Operation::Update, sub)) {
        e.fields.retain(|q| !any_overlap(&changed, q));
    }
    match entries.iter_mut().find(|e| e.is(manager, Operation::Update, sub)) {
        Some(e) => {
            e.fields.extend(changed);
            e.time = now.to_string();
            e.api_version = api_version.to_string();
        }
        None => entries.push(ManagedEntry {
            manager: manager.to_string(),
            operation: Operation::Update,
            api_version: api_version.to_string(),
            time: now.to_string(),
            subresource: sub.map(str::to_string),
            fields: changed,
        }),
    }
    entries.retain(|e| !e.fields.is_empty());
}

/// Drops owned paths that no longer exist in `obj` (removed by a write) and
/// entries left empty.
pub fn prune(entries: &mut Vec<ManagedEntry>, obj: &Value) {
    for e in entries.iter_mut() {
        e.fields.retain(|p| get_path(obj, p).is_some());
    }
    entries.retain(|e| !e.fields.is_empty());
}

/// The `fieldsV1` form of a field set: nested `f:<name>` maps, `{}` leaves,
/// and `".": {}` on a node owned itself as well as through children.
pub fn fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    let mut iter = set.iter().peekable();
    while let Some(path) = iter.next() {
        let mut cur = &mut root;
        for k in path {
            let name = listmap::fields_v1_key(k).unwrap_or_else(|| format!("f:{k}"));
            cur = ensure_object(cur.entry(name).or_insert_with(|| Value::Object(Map::new())));
        }
        // Sorted order puts a path's descendants right after it.
        if iter.peek().is_some_and(|next| next.starts_with(path)) {
            cur.insert(".".into(), Value::Object(Map::new()));
        }
    }
    Value::Object(root)
}

/// The `metadata.managedFields` array for `entries`.
pub fn render(entries: &[ManagedEntry]) -> Value {
    entries
        .iter()
        .map(|e| {
            let mut m = Map::new();
            m.insert("manager".into(), e.manager.clone().into());
            m.insert("operation".into(), e.operation.as_str().into());
            m.insert("apiVersion".into(), e.api_version.clone().into());
            m.insert("time".into(), e.time.clone().into());
            m.insert("fieldsType".into(), "FieldsV1".into());
            m.insert("fieldsV1".into(), fields_v1(&e.fields));
            if let Some(s) = &e.subresource {
                m.insert("subresource".into(), s.clone().into());
            }
            Value::Object(m)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> FieldPath {
        s.split('.').filter(|x| !x.is_empty()).map(str::to_string).collect()
    }

    fn req<'a>(manager: &'a str, force: bool) -> ApplyRequest<'a> {
        ApplyRequest {
            lists: Lists::ByKey,
            manager,
            api_version: "v1",
            force,
            now: "2024-01-01T00:00:00Z",
            scope: Scope::Whole,
        }
    }

    #[test]
    fn leaves_skip_identity_and_recurse_maps() {
        let obj = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "x", "labels": {"a": "1"}, "resourceVersion": "3"},
            "data": {"k": "v", "e": {}}, "list": [1, 2],
        });
        let got: Vec<String> = leaves(&obj, Scope::Whole, Lists::ByKey).iter().map(|p| path_string(p)).collect();
        assert_eq!(got, [".data.e", ".data.k", ".list", ".metadata.labels.a"]);
    }

    #[test]
    fn fields_v1_format() {
        let set: FieldSet = [p("data.k"), p("metadata.labels"), p("metadata.labels.a")].into();
        assert_eq!(fields_v1(&set), json!({"f:data": {"f:k": {}}, "f:metadata": {"f:labels": {".": {}, "f:a": {}}}}));
    }

    #[test]
    fn apply_removes_fields_no_longer_applied() {
        let mut entries = Vec::new();
        let live = apply(&json!({}), &json!({"data": {"a": "1", "b": "2"}}), &mut entries, &req("m", false)).unwrap();
        let live = apply(&live, &json!({"data": {"a": "1"}}), &mut entries, &req("m", false)).unwrap();
        assert_eq!(live, json!({"data": {"a": "1"}}));
        assert_eq!(entries[0].fields, [p("data.a")].into());
    }

    #[test]
    fn shared_field_survives_one_owner_leaving() {
        let mut entries = Vec::new();
        let live = apply(&json!({}), &json!({"data": {"a": "1"}}), &mut entries, &req("m1", false)).unwrap();
        let live = apply(&live, &json!({"data": {"a": "1"}}), &mut entries, &req("m2", false)).unwrap();
        let live = apply(&live, &json!({"data": {}}), &mut entries, &req("m1", false)).unwrap();
        assert_eq!(live, json!({"data": {"a": "1"}}));
    }

    #[test]
    fn conflict_then_force() {
        let mut entries = Vec::new();
        let live = json!({"data": {"a": "1"}});
        record_update(Lists::ByKey, &mut entries, None, &live, "editor", "v1", "t", Scope::Whole);
        let err = apply(&live, &json!({"data": {"a": "2"}}), &mut entries, &req("m", false)).unwrap_err();
        assert_eq!(conflict_message(&err), "Apply failed with 1 conflict: conflict with \"editor\" using v1: .data.a");
        let live = apply(&live, &json!({"data": {"a": "2"}}), &mut entries, &req("m", true)).unwrap();
        assert_eq!(live, json!({"data": {"a": "2"}}));
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].manager, "m");
    }

    #[test]
    fn update_steals_changed_fields() {
        let mut entries = Vec::new();
        let live =
            apply(&json!({}), &json!({"spec": {"replicas": 1, "x": 1}}), &mut entries, &req("m", false)).unwrap();
        let new = json!({"spec": {"replicas": 3, "x": 1}});
        record_update(Lists::ByKey, &mut entries, Some(&live), &new, "kubectl-edit", "apps/v1", "t", Scope::Whole);
        assert_eq!(entries[0].fields, [p("spec.x")].into());
        assert_eq!(entries[1].fields, [p("spec.replicas")].into());
    }

    #[test]
    fn multi_conflict_message() {
        let cs = vec![
            Conflict { manager: "\"b\"".into(), path: p("x") },
            Conflict { manager: "\"a\" using v1".into(), path: p("y.z") },
            Conflict { manager: "\"b\"".into(), path: p("w") },
        ];
        assert_eq!(
            conflict_message(&cs),
            "Apply failed with 3 conflicts: conflicts with \"a\" using v1:\n- .y.z\nconflicts with \"b\":\n- .x\n- .w"
        );
    }
}
