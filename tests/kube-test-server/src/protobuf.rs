//! Decoding of the Kubernetes protobuf encoding for a few simple kinds.
//!
//! kubectl's typed commands (`kubectl create namespace|configmap|secret|
//! serviceaccount`) send `application/vnd.kubernetes.protobuf` bodies and
//! have no JSON fallback. These kinds are small, so their messages are
//! decoded here into the same JSON the rest of the server works with (the
//! server always answers in JSON, which kubectl also accepts). Other kinds
//! still get 415 Unsupported Media Type.

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::kinds::base64;

/// How a field is decoded. Zero values (empty strings, 0, false, empty
/// messages) are dropped, like Go's `omitempty` in the JSON encoding.
#[derive(Clone, Copy)]
enum Ty {
    Str,
    Bool,
    Int,
    Msg(&'static [Field]),
    MapStr,
    MapBytes,
    RepStr,
    RepMsg(&'static [Field]),
    /// A `metav1.Time`: seconds and nanos, rendered RFC 3339.
    Time,
}

type Field = (u64, &'static str, Ty);

const OWNER_REFERENCE: &[Field] = &[
    (1, "kind", Ty::Str),
    (3, "name", Ty::Str),
    (4, "uid", Ty::Str),
    (5, "apiVersion", Ty::Str),
    (6, "controller", Ty::Bool),
    (7, "blockOwnerDeletion", Ty::Bool),
];

const OBJECT_META: &[Field] = &[
    (1, "name", Ty::Str),
    (2, "generateName", Ty::Str),
    (3, "namespace", Ty::Str),
    (5, "uid", Ty::Str),
    (6, "resourceVersion", Ty::Str),
    (7, "generation", Ty::Int),
    (8, "creationTimestamp", Ty::Time),
    (11, "labels", Ty::MapStr),
    (12, "annotations", Ty::MapStr),
    (13, "ownerReferences", Ty::RepMsg(OWNER_REFERENCE)),
    (14, "finalizers", Ty::RepStr),
];

const NAME_REF: &[Field] = &[(1, "name", Ty::Str)];
const OBJECT_REF: &[Field] = &[
    (1, "kind", Ty::Str),
    (2, "namespace", Ty::Str),
    (3, "name", Ty::Str),
    (4, "uid", Ty::Str),
    (5, "apiVersion", Ty::Str),
];

const CONFIG_MAP: &[Field] = &[
    (1, "metadata", Ty::Msg(OBJECT_META)),
    (2, "data", Ty::MapStr),
    (3, "binaryData", Ty::MapBytes),
    (4, "immutable", Ty::Bool),
];
const SECRET: &[Field] = &[
    (1, "metadata", Ty::Msg(OBJECT_META)),
    (2, "data", Ty::MapBytes),
    (3, "type", Ty::Str),
    (4, "stringData", Ty::MapStr),
    (5, "immutable", Ty::Bool),
];
const NAMESPACE: &[Field] =
    &[(1, "metadata", Ty::Msg(OBJECT_META)), (2, "spec", Ty::Msg(&[(1, "finalizers", Ty::RepStr)]))];
const SERVICE_ACCOUNT: &[Field] = &[
    (1, "metadata", Ty::Msg(OBJECT_META)),
    (2, "secrets", Ty::RepMsg(OBJECT_REF)),
    (3, "imagePullSecrets", Ty::RepMsg(NAME_REF)),
    (4, "automountServiceAccountToken", Ty::Bool),
];

fn bad(msg: &str) -> ApiError {
    ApiError::BadRequest(format!("error decoding protobuf body: {msg}"))
}

/// A protobuf wire-format reader.
struct Reader<'a> {
    buf: &'a [u8],
}

enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> ApiResult<u64> {
        let mut out = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.buf.split_first().ok_or_else(|| bad("truncated varint"))?;
            self.buf = rest;
            out |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err(bad("varint too long"))
    }

    fn take(&mut self, n: usize) -> ApiResult<&'a [u8]> {
        if n > self.buf.len() {
            return Err(bad("truncated field"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// The next (field number, value), or `None` at the end.
    fn field(&mut self) -> ApiResult<Option<(u64, Wire<'a>)>> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Wire::Fixed
            }
            2 => {
                let n = usize::try_from(self.varint()?).map_err(|_| bad("length"))?;
                Wire::Bytes(self.take(n)?)
            }
            5 => {
                self.take(4)?;
                Wire::Fixed
            }
            _ => return Err(bad("unsupported wire type")),
        };
        Ok(Some((key >> 3, wire)))
    }
}

fn utf8(b: &[u8]) -> ApiResult<String> {
    String::from_utf8(b.to_vec()).map_err(|_| bad("invalid UTF-8"))
}

/// A map entry message: key = 1, value = 2.
fn map_entry(b: &[u8], bytes_value: bool) -> ApiResult<(String, Value)> {
    let mut r = Reader { buf: b };
    let (mut k, mut v) = (String::new(), Value::String(String::new()));
    while let Some((n, w)) = r.field()? {
        match (n, w) {
            (1, Wire::Bytes(b)) => k = utf8(b)?,
            (2, Wire::Bytes(b)) if bytes_value => v = base64(b).into(),
            (2, Wire::Bytes(b)) => v = utf8(b)?.into(),
            _ => {}
        }
    }
    Ok((k, v))
}

fn time(b: &[u8]) -> ApiResult<Value> {
    let mut r = Reader { buf: b };
    let mut secs = 0i64;
    while let Some((n, w)) = r.field()? {
        if let (1, Wire::Varint(v)) = (n, w) {
            secs = v as i64;
        }
    }
    // The zero time is how Go encodes "unset".
    Ok(chrono::DateTime::from_timestamp(secs, 0)
        .filter(|_| secs != 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true).into())
        .unwrap_or(Value::Null))
}

fn message(b: &[u8], fields: &[Field]) -> ApiResult<Map<String, Value>> {
    let mut out = Map::new();
    let mut r = Reader { buf: b };
    while let Some((n, w)) = r.field()? {
        let Some(&(_, name, ty)) = fields.iter().find(|f| f.0 == n) else {
            continue; // unknown or deliberately ignored field
        };
        let value = match (ty, w) {
            (Ty::Str, Wire::Bytes(b)) => Value::from(utf8(b)?),
            (Ty::Bool, Wire::Varint(v)) => Value::from(v != 0),
            (Ty::Int, Wire::Varint(v)) => Value::from(v as i64),
            (Ty::Time, Wire::Bytes(b)) => time(b)?,
            (Ty::Msg(f), Wire::Bytes(b)) => Value::Object(message(b, f)?),
            (Ty::MapStr | Ty::MapBytes, Wire::Bytes(b)) => {
                let (k, v) = map_entry(b, matches!(ty, Ty::MapBytes))?;
                let map = out.entry(name).or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(m) = map {
                    m.insert(k, v);
                }
                continue;
            }
            (Ty::RepStr, Wire::Bytes(b)) => {
                push(&mut out, name, Value::from(utf8(b)?));
                continue;
            }
            (Ty::RepMsg(f), Wire::Bytes(b)) => {
                push(&mut out, name, Value::Object(message(b, f)?));
                continue;
            }
            _ => return Err(bad(&format!("unexpected wire type for {name}"))),
        };
        let empty = match &value {
            Value::String(s) => s.is_empty(),
            Value::Bool(b) => !b,
            Value::Number(n) => n.as_i64() == Some(0),
            Value::Object(m) => m.is_empty(),
            Value::Null => true,
            Value::Array(_) => false,
        };
        if !empty {
            out.insert(name.to_string(), value);
        }
    }
    Ok(out)
}

fn push(out: &mut Map<String, Value>, name: &str, v: Value) {
    let list = out.entry(name).or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(a) = list {
        a.push(v);
    }
}

/// Decodes a `k8s\0`-prefixed `runtime.Unknown` envelope holding one of the
/// supported kinds.
pub fn decode(body: &[u8]) -> ApiResult<Value> {
    let envelope = body.strip_prefix(b"k8s\0").ok_or_else(|| bad("missing the k8s\\0 prefix"))?;
    let mut r = Reader { buf: envelope };
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    while let Some((n, w)) = r.field()? {
        match (n, w) {
            (1, Wire::Bytes(tm)) => {
                let mut t = Reader { buf: tm };
                while let Some((n, w)) = t.field()? {
                    match (n, w) {
                        (1, Wire::Bytes(b)) => api_version = utf8(b)?,
                        (2, Wire::Bytes(b)) => kind = utf8(b)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(b)) => raw = b,
            _ => {}
        }
    }
    let schema = match (api_version.as_str(), kind.as_str()) {
        ("v1", "ConfigMap") => CONFIG_MAP,
        ("v1", "Secret") => SECRET,
        ("v1", "Namespace") => NAMESPACE,
        ("v1", "ServiceAccount") => SERVICE_ACCOUNT,
        _ => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "protobuf is only understood for v1 ConfigMap, Secret, Namespace and ServiceAccount, not {api_version} {kind}; send JSON"
            )));
        }
    };
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), api_version.into());
    obj.insert("kind".into(), kind.into());
    obj.extend(message(raw, schema)?);
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_kubectl_secret() {
        // `kubectl create secret generic s --from-literal=a=b`, as sent.
        let body: &[u8] = &[
            0x6b, 0x38, 0x73, 0x00, 0x0a, 0x0c, 0x0a, 0x02, 0x76, 0x31, 0x12, 0x06, 0x53, 0x65, 0x63, 0x72, 0x65, 0x74,
            0x12, 0x1d, 0x0a, 0x11, 0x0a, 0x01, 0x73, 0x12, 0x00, 0x1a, 0x00, 0x22, 0x00, 0x2a, 0x00, 0x32, 0x00, 0x38,
            0x00, 0x42, 0x00, 0x12, 0x06, 0x0a, 0x01, 0x61, 0x12, 0x01, 0x62, 0x1a, 0x00, 0x1a, 0x00, 0x22, 0x00,
        ];
        assert_eq!(
            decode(body).unwrap(),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "Yg=="}})
        );
    }
}
