//! `worker_route`: a Workers route of a zone (`pattern` → `script`). Routes cannot carry
//! marks: one recorded in state is ours, one found by its pattern without a record is ours
//! only when it already points at the desired script.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use strata_sdk::{Applied, DeleteRequest, Observed, Ownership, ReadRequest, ResourceChange};

use crate::client::Body;
use crate::error::{CloudflareError, Result};
use crate::{CloudflareProvider, KIND_WORKER_ROUTE, group_by, parse, split_id};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteAttrs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// `static.example.com/*`
    pub pattern: String,
    /// The Worker script name.
    pub script: String,
}

pub fn validate(attrs: &Value) -> Vec<(Vec<String>, String)> {
    match parse::<RouteAttrs>(KIND_WORKER_ROUTE, attrs) {
        Ok(a) if a.pattern.trim().is_empty() => vec![(vec!["pattern".into()], "cannot be empty".into())],
        Ok(_) => Vec::new(),
        Err(e) => vec![(vec![], e.to_string())],
    }
}

impl CloudflareProvider {
    pub(crate) async fn read_routes(&self, reqs: &[&ReadRequest<'_>]) -> Vec<Result<Option<Observed>>> {
        let mut out: Vec<Option<Result<Option<Observed>>>> = (0..reqs.len()).map(|_| None).collect();
        let desired: Vec<Option<RouteAttrs>> =
            reqs.iter().map(|r| r.attrs.and_then(|a| parse(KIND_WORKER_ROUTE, a).ok())).collect();
        let (groups, errors) = group_by(reqs.len(), |i| match reqs[i].remote_id.as_deref() {
            Some(id) => split_id(KIND_WORKER_ROUTE, id, "{zone_id}/{route_id}").map(|(z, _)| (true, z.to_string())),
            None => self.zone_name(desired[i].as_ref().and_then(|d| d.zone.as_deref())).map(|z| (false, z)),
        });
        for (i, e) in errors {
            out[i] = Some(Err(e));
        }
        for ((by_id, key), idx) in groups {
            let got = async {
                let zone_id = if by_id { key.clone() } else { self.zone_id(&key).await? };
                Ok::<_, CloudflareError>((
                    zone_id.clone(),
                    self.client().list(&format!("/zones/{zone_id}/workers/routes")).await?,
                ))
            }
            .await;
            let (zone_id, routes) = match got {
                Ok(g) => g,
                Err(CloudflareError::UnknownZone(_)) => {
                    idx.into_iter().for_each(|i| out[i] = Some(Ok(None)));
                    continue;
                }
                Err(e) => {
                    idx.into_iter().for_each(|i| out[i] = Some(Err(e.clone())));
                    continue;
                }
            };
            for i in idx {
                let r = reqs[i];
                let found = match r.remote_id.as_deref().and_then(|id| id.split_once('/')) {
                    Some((_, rid)) => routes.iter().find(|x| x["id"] == rid),
                    None => {
                        desired[i].as_ref().and_then(|d| routes.iter().find(|x| x["pattern"] == d.pattern.as_str()))
                    }
                };
                out[i] = Some(Ok(found.map(|x| {
                    let mut attrs = json!({"pattern": x["pattern"], "script": x["script"]});
                    if let Some(z) = desired[i].as_ref().and_then(|d| d.zone.clone()) {
                        attrs["zone"] = json!(z);
                    }
                    let ours =
                        r.remote_id.is_some() || desired[i].as_ref().is_some_and(|d| x["script"] == d.script.as_str());
                    Observed {
                        remote_id: format!("{zone_id}/{}", x["id"].as_str().unwrap_or_default()),
                        attrs,
                        outputs: json!({"id": x["id"], "zone_id": zone_id}),
                        ownership: if ours {
                            Ownership::Ours
                        } else {
                            Ownership::Foreign {
                                detail: format!(
                                    "the route {} exists for another script and has no state record",
                                    x["pattern"]
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

    pub(crate) async fn put_route(&self, change: &ResourceChange) -> Result<Applied> {
        let a: RouteAttrs = parse(KIND_WORKER_ROUTE, &change.attrs)?;
        let zone_id = match change.prior.as_ref() {
            Some(p) => split_id(KIND_WORKER_ROUTE, &p.remote_id, "{zone_id}/{route_id}")?.0.to_string(),
            None => self.zone_id(&self.zone_name(a.zone.as_deref())?).await?,
        };
        let body = json!({"pattern": a.pattern, "script": a.script});
        let existing = match change.prior.as_ref() {
            Some(p) => Some(split_id(KIND_WORKER_ROUTE, &p.remote_id, "{zone_id}/{route_id}")?.1.to_string()),
            None => {
                // A crashed run may have made it: the route of this pattern for our script.
                let routes = self.client().list(&format!("/zones/{zone_id}/workers/routes")).await?;
                match routes.iter().find(|x| x["pattern"] == a.pattern.as_str()) {
                    Some(x) if x["script"] == a.script.as_str() => x["id"].as_str().map(str::to_string),
                    Some(_) => {
                        return Err(CloudflareError::Conflict(format!(
                            "the Workers route {} exists for another script; strata does not take it over",
                            a.pattern
                        )));
                    }
                    None => None,
                }
            }
        };
        let result = match existing {
            Some(id) => {
                match self
                    .client()
                    .send(Method::PUT, &format!("/zones/{zone_id}/workers/routes/{id}"), &[], Body::Json(body.clone()))
                    .await
                {
                    Ok(r) => r.result,
                    Err(e) if e.is_not_found() => {
                        self.client()
                            .send(Method::POST, &format!("/zones/{zone_id}/workers/routes"), &[], Body::Json(body))
                            .await?
                            .result
                    }
                    Err(e) => return Err(e),
                }
            }
            None => {
                self.client()
                    .send(Method::POST, &format!("/zones/{zone_id}/workers/routes"), &[], Body::Json(body))
                    .await?
                    .result
            }
        };
        let id = result["id"].as_str().unwrap_or_default().to_string();
        Ok(Applied {
            remote_id: format!("{zone_id}/{id}"),
            attrs: change.attrs.clone(),
            outputs: json!({"id": id, "zone_id": zone_id}),
        })
    }

    pub(crate) async fn delete_route(&self, req: &DeleteRequest) -> Result<()> {
        let (zone_id, id) = split_id(KIND_WORKER_ROUTE, &req.remote_id, "{zone_id}/{route_id}")?;
        self.client().send(Method::DELETE, &format!("/zones/{zone_id}/workers/routes/{id}"), &[], Body::None).await?;
        Ok(())
    }
}
