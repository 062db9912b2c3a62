//! `worker`: a Worker module script, uploaded as `multipart/form-data` with a `metadata` part
//! naming the `main_module` and the module itself. The module's SHA-256 is an attribute, so
//! a code change is an update; refresh lists each account's scripts once and downloads the
//! content of the scripts that exist to hash it (drift on out-of-band uploads).

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use strata_sdk::{Applied, DeleteRequest, Observed, Ownership, ReadRequest, ResourceChange};

use crate::client::Body;
use crate::error::{CloudflareError, Result};
use crate::{CloudflareProvider, KIND_WORKER, group_by, parse, split_id};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerAttrs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The script name (lowercase letters, digits, `-` and `_`).
    pub name: String,
    pub module: Module,
    /// Workers runtime compatibility date (`2024-09-01`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatibility_date: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Module {
    /// The module's name in the upload (`worker.js`), the `main_module` of the metadata.
    pub name: String,
    /// The file to upload (an absolute path, or relative to the working directory).
    pub source: String,
    /// Hex SHA-256 of the file when the spec was loaded; the upload refuses a file that
    /// changed since.
    pub sha256: String,
}

pub fn validate(attrs: &Value) -> Vec<(Vec<String>, String)> {
    let a: WorkerAttrs = match parse(KIND_WORKER, attrs) {
        Ok(a) => a,
        Err(e) => return vec![(vec![], e.to_string())],
    };
    let mut out = Vec::new();
    let valid_name = !a.name.is_empty()
        && a.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && !a.name.starts_with('-');
    if !valid_name {
        out.push((vec!["name".into()], "a script name is lowercase letters, digits, `-` and `_`".into()));
    }
    if a.module.sha256.len() != 64 || !a.module.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
        out.push((vec!["module".into(), "sha256".into()], "must be the hex SHA-256 of the module file".into()));
    }
    if !(a.module.name.ends_with(".js") || a.module.name.ends_with(".mjs")) {
        out.push((vec!["module".into(), "name".into()], "a module name ends in .js or .mjs".into()));
    }
    out
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The main module's bytes in a download: a module Worker comes back as a multipart form
/// (the real API), a single script as itself.
fn main_module_bytes(content: &str, module_name: &str) -> Vec<u8> {
    let Some(first) = content.lines().next() else { return Vec::new() };
    let Some(boundary) =
        first.strip_prefix("--").map(str::trim).filter(|b| !b.is_empty() && content.contains("Content-Disposition"))
    else {
        return content.as_bytes().to_vec();
    };
    for part in content.split(&format!("--{boundary}")) {
        if let Some((head, body)) = part.split_once("\r\n\r\n")
            && head.contains(&format!("name=\"{module_name}\""))
        {
            return body.strip_suffix("\r\n").unwrap_or(body).as_bytes().to_vec();
        }
    }
    content.as_bytes().to_vec()
}

impl CloudflareProvider {
    pub(crate) async fn read_workers(&self, reqs: &[&ReadRequest<'_>]) -> Vec<Result<Option<Observed>>> {
        let mut out: Vec<Option<Result<Option<Observed>>>> = (0..reqs.len()).map(|_| None).collect();
        let desired: Vec<Option<WorkerAttrs>> =
            reqs.iter().map(|r| r.attrs.and_then(|a| parse(KIND_WORKER, a).ok())).collect();
        let (groups, errors) = group_by(reqs.len(), |i| match reqs[i].remote_id.as_deref() {
            Some(id) => split_id(KIND_WORKER, id, "{account_id}/{script_name}").map(|(a, _)| a.to_string()),
            None => self.account_id(desired[i].as_ref().and_then(|d| d.account_id.as_deref())),
        });
        for (i, e) in errors {
            out[i] = Some(Err(e));
        }
        for (account, idx) in groups {
            let scripts = match self.client().list(&format!("/accounts/{account}/workers/scripts")).await {
                Ok(s) => s,
                Err(e) => {
                    idx.into_iter().for_each(|i| out[i] = Some(Err(e.clone())));
                    continue;
                }
            };
            for i in idx {
                let r = reqs[i];
                let name = match (r.remote_id.as_deref(), &desired[i]) {
                    (Some(id), _) => id.split_once('/').map(|(_, n)| n.to_string()).unwrap_or_default(),
                    (None, Some(d)) => d.name.clone(),
                    (None, None) => {
                        out[i] = Some(Ok(None));
                        continue;
                    }
                };
                let Some(script) = scripts.iter().find(|s| s["id"] == name.as_str()) else {
                    out[i] = Some(Ok(None));
                    continue;
                };
                let content = match self.client().get(&format!("/accounts/{account}/workers/scripts/{name}"), &[]).await
                {
                    Ok(c) => c.as_str().unwrap_or_default().to_string(),
                    Err(e) if e.is_not_found() => {
                        out[i] = Some(Ok(None));
                        continue;
                    }
                    Err(e) => {
                        out[i] = Some(Err(e));
                        continue;
                    }
                };
                let module_name = desired[i].as_ref().map_or("worker.js".to_string(), |d| d.module.name.clone());
                let hash = sha256_hex(&main_module_bytes(&content, &module_name));
                let mut attrs = json!({"name": name, "module": {"name": module_name, "sha256": hash}});
                if let Some(d) = &desired[i] {
                    attrs["module"]["source"] = json!(d.module.source);
                    if let Some(a) = &d.account_id {
                        attrs["account_id"] = json!(a);
                    }
                    // Not every answer carries the compatibility date; absent, it reads as set.
                    match script.get("compatibility_date").and_then(Value::as_str) {
                        Some(c) => attrs["compatibility_date"] = json!(c),
                        None => {
                            if let Some(c) = &d.compatibility_date {
                                attrs["compatibility_date"] = json!(c);
                            }
                        }
                    }
                }
                let ours = r.remote_id.is_some() || desired[i].as_ref().is_some_and(|d| d.module.sha256 == hash);
                out[i] = Some(Ok(Some(Observed {
                    remote_id: format!("{account}/{name}"),
                    attrs,
                    outputs: json!({"id": name, "etag": script["etag"]}),
                    ownership: if ours {
                        Ownership::Ours
                    } else {
                        Ownership::Foreign {
                            detail: format!("a Worker named `{name}` exists with other code and no state record"),
                        }
                    },
                })));
            }
        }
        out.into_iter()
            .map(|o| {
                o.unwrap_or_else(|| {
                    Err(CloudflareError::Decode { operation: "read".into(), message: "no result".into() })
                })
            })
            .collect()
    }

    /// Uploads the module (create and update alike: the upload replaces the script).
    pub(crate) async fn put_worker(&self, change: &ResourceChange) -> Result<Applied> {
        let a: WorkerAttrs = parse(KIND_WORKER, &change.attrs)?;
        let account = match change.prior.as_ref() {
            Some(p) => split_id(KIND_WORKER, &p.remote_id, "{account_id}/{script_name}")?.0.to_string(),
            None => self.account_id(a.account_id.as_deref())?,
        };
        let code = std::fs::read(&a.module.source).map_err(|e| CloudflareError::Module {
            path: a.module.source.clone(),
            message: format!("cannot be read: {e}"),
        })?;
        let hash = sha256_hex(&code);
        if hash != a.module.sha256 {
            return Err(CloudflareError::Module {
                path: a.module.source.clone(),
                message: "changed since the plan was made; run the plan again".into(),
            });
        }
        let mut metadata = json!({ "main_module": a.module.name });
        if let Some(c) = &a.compatibility_date {
            metadata["compatibility_date"] = json!(c);
        }
        let form = reqwest::multipart::Form::new()
            .part(
                "metadata",
                reqwest::multipart::Part::text(metadata.to_string())
                    .mime_str("application/json")
                    .map_err(|e| CloudflareError::invalid(KIND_WORKER, e.to_string()))?,
            )
            .part(
                a.module.name.clone(),
                reqwest::multipart::Part::bytes(code)
                    .file_name(a.module.name.clone())
                    .mime_str("application/javascript+module")
                    .map_err(|e| CloudflareError::invalid(KIND_WORKER, e.to_string()))?,
            );
        let result = self
            .client()
            .send(Method::PUT, &format!("/accounts/{account}/workers/scripts/{}", a.name), &[], Body::Multipart(form))
            .await?
            .result;
        Ok(Applied {
            remote_id: format!("{account}/{}", a.name),
            attrs: change.attrs.clone(),
            outputs: json!({"id": a.name, "etag": result["etag"]}),
        })
    }

    pub(crate) async fn delete_worker(&self, req: &DeleteRequest) -> Result<()> {
        let (account, name) = split_id(KIND_WORKER, &req.remote_id, "{account_id}/{script_name}")?;
        self.client()
            .send(Method::DELETE, &format!("/accounts/{account}/workers/scripts/{name}"), &[], Body::None)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn main_module_from_a_multipart_download() {
        let form =
            "--abc\r\nContent-Disposition: form-data; name=\"worker.js\"\r\n\r\nexport default {}\r\n--abc--\r\n";
        assert_eq!(main_module_bytes(form, "worker.js"), b"export default {}");
        assert_eq!(main_module_bytes("export default {}", "worker.js"), b"export default {}");
    }
}
