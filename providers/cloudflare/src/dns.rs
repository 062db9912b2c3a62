//! `dns_record`: one record of a zone. Refresh lists each zone's records once (paged), not a
//! GET per record. Strata's records carry the ownership mark in `comment`.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use strata_sdk::{Applied, DeleteRequest, Observed, Ownership, ReadRequest, ResourceChange};

use crate::client::Body;
use crate::error::{CloudflareError, Result};
use crate::{CloudflareProvider, KIND_DNS_RECORD, fqdn, group_by, parse, split_id};

/// Records per page when listing a zone (the API allows far more; this keeps answers small).
const PAGE: u32 = 1000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsAttrs {
    /// The zone name (default: the provider's `zone`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// `@`, a name relative to the zone, or a full name inside it.
    pub name: String,
    #[serde(rename = "type")]
    pub record_type: String,
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxied: Option<bool>,
    /// Seconds; 1 = automatic (always so for proxied records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
}

const TYPES: &[&str] = &["A", "AAAA", "CNAME", "TXT", "MX", "NS", "CAA", "SRV", "HTTPS", "SVCB", "PTR"];

pub fn validate(attrs: &Value) -> Vec<(Vec<String>, String)> {
    let a: DnsAttrs = match parse(KIND_DNS_RECORD, attrs) {
        Ok(a) => a,
        Err(e) => return vec![(vec![], e.to_string())],
    };
    let mut out = Vec::new();
    if !TYPES.contains(&a.record_type.as_str()) {
        out.push((
            vec!["type".into()],
            format!("`{}` is not a record type strata manages ({})", a.record_type, TYPES.join(", ")),
        ));
    }
    if a.proxied == Some(true) && !matches!(a.record_type.as_str(), "A" | "AAAA" | "CNAME") {
        out.push((vec!["proxied".into()], "only A, AAAA and CNAME records can be proxied".into()));
    }
    if let Some(t) = a.ttl
        && t != 1
        && !(30..=86400).contains(&t)
    {
        out.push((vec!["ttl".into()], "must be 1 (automatic) or from 30 to 86400 seconds".into()));
    }
    if a.content.is_empty() {
        out.push((vec!["content".into()], "cannot be empty".into()));
    }
    out
}

fn body(a: &DnsAttrs, mark: &str) -> Value {
    let mut b = json!({"type": a.record_type, "name": a.name, "content": a.content, "comment": mark});
    if let Some(p) = a.proxied {
        b["proxied"] = json!(p);
    }
    if let Some(t) = a.ttl {
        b["ttl"] = json!(t);
    }
    b
}

/// The remote record in the desired document's shape and spelling.
fn observed_attrs(rec: &Value, zone: &str, desired: Option<&DnsAttrs>) -> Value {
    let name = rec["name"].as_str().unwrap_or_default();
    let content = rec["content"].as_str().unwrap_or_default();
    let mut out = json!({
        "name": name, "type": rec["type"], "content": content, "proxied": rec["proxied"], "ttl": rec["ttl"],
    });
    if let Some(d) = desired {
        if let Some(z) = &d.zone {
            out["zone"] = json!(z);
        }
        if fqdn(&d.name, zone) == name {
            out["name"] = json!(d.name);
        }
        if d.content.trim_end_matches('.').eq_ignore_ascii_case(content.trim_end_matches('.')) {
            out["content"] = json!(d.content);
        }
    } else {
        out["zone"] = json!(zone);
    }
    out
}

fn outputs(rec: &Value, zone_id: &str) -> Value {
    json!({"id": rec["id"], "hostname": rec["name"], "domain_name": rec["name"], "zone_id": zone_id})
}

impl CloudflareProvider {
    pub(crate) async fn zone_records(&self, zone_id: &str) -> Result<Vec<Value>> {
        self.client().list_all(&format!("/zones/{zone_id}/dns_records"), &[], PAGE).await
    }

    pub(crate) async fn read_dns(&self, reqs: &[&ReadRequest<'_>]) -> Vec<Result<Option<Observed>>> {
        let mut out: Vec<Option<Result<Option<Observed>>>> = (0..reqs.len()).map(|_| None).collect();
        let desired: Vec<Option<DnsAttrs>> =
            reqs.iter().map(|r| r.attrs.and_then(|a| parse(KIND_DNS_RECORD, a).ok())).collect();
        let (groups, errors) = group_by(reqs.len(), |i| {
            // A recorded remote id names the zone id; otherwise the desired zone name does.
            match reqs[i].remote_id.as_deref() {
                Some(id) => split_id(KIND_DNS_RECORD, id, "{zone_id}/{record_id}").map(|(z, _)| (true, z.to_string())),
                None => self.zone_name(desired[i].as_ref().and_then(|d| d.zone.as_deref())).map(|z| (false, z)),
            }
        });
        for (i, e) in errors {
            out[i] = Some(Err(e));
        }
        for ((by_id, zone_key), idx) in groups {
            let zone = async {
                let zone_id = if by_id { zone_key.clone() } else { self.zone_id(&zone_key).await? };
                let records = self.zone_records(&zone_id).await?;
                Ok::<_, CloudflareError>((zone_id, records))
            }
            .await;
            let (zone_id, records) = match zone {
                Ok(z) => z,
                Err(CloudflareError::UnknownZone(_)) => {
                    for i in idx {
                        out[i] = Some(Ok(None));
                    }
                    continue;
                }
                Err(e) => {
                    for i in idx {
                        out[i] = Some(Err(e.clone()));
                    }
                    continue;
                }
            };
            for i in idx {
                let r = reqs[i];
                let mark = self.mark(r.address.as_str());
                let found = match r.remote_id.as_deref().and_then(|id| id.split_once('/')) {
                    Some((_, rid)) => records.iter().find(|rec| rec["id"] == rid),
                    None => records.iter().find(|rec| rec["comment"] == mark.as_str()).or_else(|| {
                        desired[i].as_ref().and_then(|d| {
                            let name = fqdn(
                                &d.name,
                                records.first().and_then(|x| x["zone_name"].as_str()).unwrap_or(&zone_key),
                            );
                            records
                                .iter()
                                .find(|rec| rec["name"] == name.as_str() && rec["type"] == d.record_type.as_str())
                        })
                    }),
                };
                out[i] = Some(Ok(found.map(|rec| {
                    let zone_name = rec["zone_name"].as_str().unwrap_or(&zone_key).to_string();
                    let ours = r.remote_id.is_some() || rec["comment"] == mark.as_str();
                    Observed {
                        remote_id: format!("{zone_id}/{}", rec["id"].as_str().unwrap_or_default()),
                        attrs: observed_attrs(rec, &zone_name, desired[i].as_ref()),
                        outputs: outputs(rec, &zone_id),
                        ownership: if ours {
                            Ownership::Ours
                        } else {
                            Ownership::Foreign {
                                detail: format!(
                                    "the DNS record {} {} exists without strata's mark in its comment",
                                    rec["type"].as_str().unwrap_or_default(),
                                    rec["name"].as_str().unwrap_or_default()
                                ),
                            }
                        },
                    }
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

    /// Create or update: the recorded record, else the one carrying our mark (a crashed run
    /// made it), else a new one.
    pub(crate) async fn put_dns(&self, change: &ResourceChange) -> Result<Applied> {
        let a: DnsAttrs = parse(KIND_DNS_RECORD, &change.attrs)?;
        let mark = self.mark(change.address.as_str());
        let zone_id = match change.prior.as_ref() {
            Some(p) => split_id(KIND_DNS_RECORD, &p.remote_id, "{zone_id}/{record_id}")?.0.to_string(),
            None => self.zone_id(&self.zone_name(a.zone.as_deref())?).await?,
        };
        let existing = match change.prior.as_ref() {
            Some(p) => Some(split_id(KIND_DNS_RECORD, &p.remote_id, "{zone_id}/{record_id}")?.1.to_string()),
            None => {
                let found = self
                    .client()
                    .get(&format!("/zones/{zone_id}/dns_records"), &[("comment.exact", mark.clone())])
                    .await?;
                found.as_array().and_then(|l| l.first()).and_then(|r| r["id"].as_str()).map(str::to_string)
            }
        };
        let b = body(&a, &mark);
        let rec = match existing {
            Some(id) => {
                let r = self
                    .client()
                    .send(Method::PATCH, &format!("/zones/{zone_id}/dns_records/{id}"), &[], Body::Json(b.clone()))
                    .await;
                match r {
                    Ok(ans) => ans.result,
                    // Deleted out of band since it was recorded: make it again.
                    Err(e) if e.is_not_found() => self.post_dns(&zone_id, b).await?,
                    Err(e) => return Err(e),
                }
            }
            None => self.post_dns(&zone_id, b).await?,
        };
        Ok(Applied {
            remote_id: format!("{zone_id}/{}", rec["id"].as_str().unwrap_or_default()),
            attrs: change.attrs.clone(),
            outputs: outputs(&rec, &zone_id),
        })
    }

    async fn post_dns(&self, zone_id: &str, body: Value) -> Result<Value> {
        Ok(self
            .client()
            .send(Method::POST, &format!("/zones/{zone_id}/dns_records"), &[], Body::Json(body))
            .await?
            .result)
    }

    pub(crate) async fn delete_dns(&self, req: &DeleteRequest) -> Result<()> {
        let (zone_id, id) = split_id(KIND_DNS_RECORD, &req.remote_id, "{zone_id}/{record_id}")?;
        self.client().send(Method::DELETE, &format!("/zones/{zone_id}/dns_records/{id}"), &[], Body::None).await?;
        Ok(())
    }
}
