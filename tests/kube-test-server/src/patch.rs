//! PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902), and a
//! strategic-merge-patch approximation.

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

/// RFC 7386: objects merge recursively, `null` deletes, anything else
/// replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else { unreachable!("just made an object") };
    for (k, v) in patch {
        if v.is_null() {
            t.shift_remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// Strategic merge patch without schema knowledge: a merge patch whose
/// `$`-prefixed directive keys (`$patch`, `$setElementOrder/…`,
/// `$retainKeys`, …) are dropped. Lists are therefore replaced, not merged
/// by key; kubectl's client-side apply and `kubectl patch` still work since
/// they send whole lists.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) {
    merge_patch(target, &strip_directives(patch));
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter().filter(|(k, _)| !k.starts_with('$')).map(|(k, v)| (k.clone(), strip_directives(v))).collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

/// RFC 6902 JSON patch; all operations, applied atomically (the caller
/// keeps the original on error).
pub fn json_patch(target: &mut Value, ops: &Value) -> ApiResult<()> {
    let ops = ops.as_array().ok_or_else(|| bad("a JSON patch must be an array of operations"))?;
    for op in ops {
        let field = |name: &str| -> ApiResult<&str> {
            op.get(name).and_then(Value::as_str).ok_or_else(|| bad(format!("operation {op} is missing {name:?}")))
        };
        let path = parse_pointer(field("path")?)?;
        match field("op")? {
            "add" => add(target, &path, value_of(op)?)?,
            "remove" => {
                remove(target, &path)?;
            }
            "replace" => {
                remove(target, &path)?;
                add(target, &path, value_of(op)?)?;
            }
            "move" => {
                let from = parse_pointer(field("from")?)?;
                let v = remove(target, &from)?;
                add(target, &path, v)?;
            }
            "copy" => {
                let from = parse_pointer(field("from")?)?;
                let v = lookup(target, &from)?.clone();
                add(target, &path, v)?;
            }
            "test" => {
                if lookup(target, &path)? != &value_of(op)? {
                    return Err(bad(format!("test operation failed: {op}")));
                }
            }
            other => return Err(bad(format!("unknown JSON patch operation {other:?}"))),
        }
    }
    Ok(())
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::BadRequest(msg.into())
}

fn value_of(op: &Value) -> ApiResult<Value> {
    op.get("value").cloned().ok_or_else(|| bad(format!("operation {op} is missing \"value\"")))
}

fn parse_pointer(p: &str) -> ApiResult<Vec<String>> {
    if p.is_empty() {
        return Ok(Vec::new());
    }
    let rest = p.strip_prefix('/').ok_or_else(|| bad(format!("invalid JSON pointer {p:?}")))?;
    Ok(rest.split('/').map(|s| s.replace("~1", "/").replace("~0", "~")).collect())
}

fn lookup<'a>(v: &'a Value, path: &[String]) -> ApiResult<&'a Value> {
    v.pointer(&to_pointer(path)).ok_or_else(|| bad(format!("path {} does not exist", to_pointer(path))))
}

fn to_pointer(path: &[String]) -> String {
    path.iter().map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1"))).collect()
}

fn parent<'a>(v: &'a mut Value, path: &[String]) -> ApiResult<&'a mut Value> {
    let ptr = to_pointer(path);
    v.pointer_mut(&ptr).ok_or_else(|| bad(format!("path {ptr} does not exist")))
}

fn add(target: &mut Value, path: &[String], value: Value) -> ApiResult<()> {
    let Some((last, parents)) = path.split_last() else {
        *target = value;
        return Ok(());
    };
    match parent(target, parents)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            let idx = if last == "-" {
                a.len()
            } else {
                last.parse::<usize>()
                    .ok()
                    .filter(|i| *i <= a.len())
                    .ok_or_else(|| bad(format!("invalid array index {last:?}")))?
            };
            a.insert(idx, value);
        }
        _ => {
            return Err(bad(format!("cannot add to a scalar at {}", to_pointer(parents))));
        }
    }
    Ok(())
}

fn remove(target: &mut Value, path: &[String]) -> ApiResult<Value> {
    let (last, parents) = path.split_last().ok_or_else(|| bad("cannot remove the whole document"))?;
    let missing = || bad(format!("path {} does not exist", to_pointer(path)));
    match parent(target, parents)? {
        Value::Object(m) => m.shift_remove(last).ok_or_else(missing),
        Value::Array(a) => {
            let idx = last.parse::<usize>().ok().filter(|i| *i < a.len()).ok_or_else(missing)?;
            Ok(a.remove(idx))
        }
        _ => Err(missing()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc7386_examples() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut t, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}}));
        let mut t = json!({"a": [1]});
        merge_patch(&mut t, &json!({"a": [2, 3], "n": {"x": null, "y": 1}}));
        assert_eq!(t, json!({"a": [2, 3], "n": {"y": 1}}));
    }

    #[test]
    fn smp_drops_directives() {
        let mut t = json!({"spec": {"c": [1]}});
        strategic_merge_patch(&mut t, &json!({"$setElementOrder/c": [], "spec": {"c": [2], "$retainKeys": ["c"]}}));
        assert_eq!(t, json!({"spec": {"c": [2]}}));
    }

    #[test]
    fn rfc6902_ops() {
        let mut t = json!({"a": {"b": 1}, "l": [1, 2]});
        json_patch(
            &mut t,
            &json!([
                {"op": "add", "path": "/a/c", "value": 2},
                {"op": "replace", "path": "/a/b", "value": 5},
                {"op": "add", "path": "/l/-", "value": 3},
                {"op": "remove", "path": "/l/0"},
                {"op": "copy", "from": "/a/c", "path": "/x~1y"},
                {"op": "move", "from": "/a/c", "path": "/m"},
                {"op": "test", "path": "/m", "value": 2},
            ]),
        )
        .unwrap();
        assert_eq!(t, json!({"a": {"b": 5}, "l": [2, 3], "x/y": 2, "m": 2}));
        assert!(json_patch(&mut t, &json!([{"op": "remove", "path": "/nope"}])).is_err());
        assert!(json_patch(&mut t, &json!([{"op": "test", "path": "/m", "value": 3}])).is_err());
    }
}
