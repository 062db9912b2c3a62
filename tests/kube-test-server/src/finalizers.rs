//! Graceful deletion with `metadata.finalizers`, as the apiserver does it:
//! deleting an object that has finalizers only sets `deletionTimestamp`
//! (and `deletionGracePeriodSeconds: 0`); the object stays readable and
//! writable until a write removes its last finalizer, and then it is gone.
//! While it is being deleted no new finalizer may be added.
//!
//! (Namespaces' `spec.finalizers` are not these: deleting a namespace still
//! removes it and its objects at once.)

use serde_json::{Value, json};

use crate::api::Target;
use crate::error::{ApiError, ApiResult, Cause};
use crate::registry::ResourceType;
use crate::store::{ObjKey, Store};

fn finalizers(obj: &Value) -> Vec<&Value> {
    obj.pointer("/metadata/finalizers").and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default()
}

pub fn has_finalizers(obj: &Value) -> bool {
    !finalizers(obj).is_empty()
}

fn deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null())
}

/// True when `obj` is being deleted and has no finalizer left.
pub fn deletion_done(obj: &Value) -> bool {
    deleting(obj) && !has_finalizers(obj)
}

/// Marks a stored object as being deleted (once; a repeated DELETE changes
/// nothing) and returns it.
pub fn mark_deleting(store: &mut Store, t: &Target, key: &ObjKey, dry_run: bool) -> Value {
    let stored = store.get(&t.rt, key).cloned().expect("the caller found it");
    if deleting(&stored.obj) {
        return stored.obj;
    }
    let mut obj = stored.obj.clone();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    obj["metadata"]["deletionTimestamp"] = json!(now);
    obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
    if dry_run {
        return obj;
    }
    let rv = store.next_resource_version();
    obj["metadata"]["resourceVersion"] = json!(rv.to_string());
    store.put(&t.rt, key.clone(), crate::store::Stored { obj: obj.clone(), managed: stored.managed });
    obj
}

/// Refuses new finalizers on an object that is being deleted, with the
/// apiserver's message.
pub fn check_update(rt: &ResourceType, old: &Value, new: &Value) -> ApiResult<()> {
    if !deleting(old) {
        return Ok(());
    }
    let before = finalizers(old);
    let added: Vec<&str> =
        finalizers(new).into_iter().filter(|f| !before.contains(f)).filter_map(Value::as_str).collect();
    if added.is_empty() {
        return Ok(());
    }
    let list = added.iter().map(|f| format!("{f:?}")).collect::<Vec<_>>().join(", ");
    Err(ApiError::Invalid {
        group: rt.group.clone(),
        kind: rt.kind.clone(),
        name: new.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string(),
        causes: vec![Cause {
            reason: "FieldValueForbidden".into(),
            message: format!(
                "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{{list}}}"
            ),
            field: "metadata.finalizers".into(),
        }],
    })
}
