//! Load balancing: `monitor` and `pool` (account), `load_balancer` (zone). Their attributes
//! are the API's own fields (`origins`, `default_pools`, `fallback_pool`, `steering_policy`,
//! `expected_codes`, ...) plus `zone`/`account_id`; strata writes its ownership mark into
//! `description`. Refresh lists each collection once.
//!
//! A load balancer's `pool_weights` (`[{pool, weight}]`) is strata's spelling of the API's
//! `random_steering.pool_weights`, a map keyed by pool id: pool ids are references resolved at
//! apply time, and references live in values, not in keys.

use reqwest::Method;
use serde_json::{Map, Value, json};
use strata_sdk::{Applied, DeleteRequest, Observed, Ownership, ReadRequest, ResourceChange};

use crate::client::Body;
use crate::error::{CloudflareError, Result};
use crate::{CloudflareProvider, KIND_LOAD_BALANCER, KIND_POOL, fqdn, group_by, split_id};

/// Keys of the attrs that place the object, never sent in a body.
const PLACEMENT: &[&str] = &["zone", "account_id"];
/// strata's list form of `random_steering.pool_weights`.
const POOL_WEIGHTS: &str = "pool_weights";
/// Keys the API computes.
const COMPUTED: &[&str] = &["id", "created_on", "modified_on", "description", "healthy", "disabled_at", "networks"];

fn required(kind: &str) -> &'static [&'static str] {
    match kind {
        KIND_POOL => &["name", "origins"],
        KIND_LOAD_BALANCER => &["name", "default_pools", "fallback_pool"],
        _ => &[],
    }
}

pub fn validate(kind: &str, attrs: &Value) -> Vec<(Vec<String>, String)> {
    let Some(m) = attrs.as_object() else {
        return vec![(vec![], format!("a `{kind}` is a map of its API fields"))];
    };
    let mut out = Vec::new();
    for k in required(kind) {
        if !m.contains_key(*k) {
            out.push((vec![k.to_string()], format!("a `{kind}` needs `{k}`")));
        }
    }
    if m.contains_key("description") {
        out.push((vec!["description".into()], "strata writes its ownership mark here; leave it out".into()));
    }
    if kind == KIND_POOL && m.get("origins").and_then(Value::as_array).is_some_and(Vec::is_empty) {
        out.push((vec!["origins".into()], "a pool needs at least one origin".into()));
    }
    if let Some(w) = m.get(POOL_WEIGHTS) {
        out.extend(pool_weight_problems(kind, m, w));
    }
    out
}

fn pool_weight_problems(kind: &str, m: &Map<String, Value>, w: &Value) -> Vec<(Vec<String>, String)> {
    let at = |i: Option<usize>| {
        let mut p = vec![POOL_WEIGHTS.to_string()];
        p.extend(i.map(|i| i.to_string()));
        p
    };
    if kind != KIND_LOAD_BALANCER {
        return vec![(at(None), "only a load balancer has pool weights".into())];
    }
    if m.contains_key("random_steering") {
        return vec![(at(None), "set `pool_weights` or `random_steering`, not both".into())];
    }
    let Some(items) = w.as_array() else {
        return vec![(at(None), "`pool_weights` is a list of `{ pool, weight }`".into())];
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ok = item.get("pool").and_then(Value::as_str).is_some_and(|p| !p.is_empty())
            && item.get("weight").and_then(Value::as_f64).is_some_and(|w| (0.0..=1.0).contains(&w))
            && item.as_object().is_some_and(|o| o.len() == 2);
        if !ok {
            out.push((at(Some(i)), "each pool weight is `{ pool: <pool id>, weight: 0..1 }`".into()));
        }
    }
    out
}

/// `[{pool, weight}]` → `{"<pool>": weight}`.
fn weights_map(list: &Value) -> Value {
    let mut map = Map::new();
    for item in list.as_array().into_iter().flatten() {
        if let Some(pool) = item.get("pool").and_then(Value::as_str) {
            map.insert(pool.to_string(), item.get("weight").cloned().unwrap_or(json!(1)));
        }
    }
    Value::Object(map)
}

/// The remote `random_steering.pool_weights` as strata's list, in the desired order of pools
/// (sorted by pool id for pools the desired document does not name).
fn weights_list(remote: &Value, desired: Option<&Value>) -> Option<Value> {
    let map = remote.get("random_steering")?.get("pool_weights")?.as_object()?;
    let mut order: Vec<&str> = desired
        .and_then(|d| d.get(POOL_WEIGHTS))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| i.get("pool").and_then(Value::as_str))
        .filter(|p| map.contains_key(*p))
        .collect();
    let mut rest: Vec<&str> = map.keys().map(String::as_str).filter(|k| !order.contains(k)).collect();
    rest.sort_unstable();
    order.extend(rest);
    Some(Value::Array(order.into_iter().map(|p| json!({"pool": p, "weight": map[p]})).collect()))
}

/// `(collection path, remote id prefix)` of a kind, under its zone or account id.
fn collection(kind: &str, scope: &str) -> String {
    match kind {
        KIND_LOAD_BALANCER => format!("/zones/{scope}/load_balancers"),
        KIND_POOL => format!("/accounts/{scope}/load_balancers/pools"),
        _ => format!("/accounts/{scope}/load_balancers/monitors"),
    }
}

fn id_shape(kind: &str) -> &'static str {
    if kind == KIND_LOAD_BALANCER { "{zone_id}/{load_balancer_id}" } else { "{account_id}/{id}" }
}

impl CloudflareProvider {
    /// The zone id or account id the object lives under (resolving a zone name).
    async fn scope(&self, kind: &str, attrs: &Value) -> Result<String> {
        if kind == KIND_LOAD_BALANCER {
            let zone = self.zone_name(attrs.get("zone").and_then(Value::as_str))?;
            self.zone_id(&zone).await
        } else {
            self.account_id(attrs.get("account_id").and_then(Value::as_str))
        }
    }

    fn body(&self, kind: &str, attrs: &Value, address: &str) -> Value {
        let mut b: Map<String, Value> = attrs
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| !PLACEMENT.contains(&k.as_str()) && k.as_str() != POOL_WEIGHTS)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        b.insert("description".into(), json!(self.mark(address)));
        if kind == KIND_LOAD_BALANCER
            && let Some(list) = attrs.get(POOL_WEIGHTS)
        {
            b.insert("random_steering".into(), json!({"pool_weights": weights_map(list)}));
        }
        Value::Object(b)
    }

    fn observed_object(kind: &str, remote: &Value, desired: Option<&Value>, zone_name: Option<&str>) -> Value {
        let mut m: Map<String, Value> = remote
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| !COMPUTED.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if kind == KIND_LOAD_BALANCER
            && let Some(list) = weights_list(remote, desired)
        {
            m.insert(POOL_WEIGHTS.into(), list);
        }
        if let Some(d) = desired {
            for k in PLACEMENT {
                if let Some(v) = d.get(*k) {
                    m.insert(k.to_string(), v.clone());
                }
            }
            // The API answers a load balancer's full hostname; keep the spec's spelling.
            if kind == KIND_LOAD_BALANCER
                && let (Some(dn), Some(rn), Some(z)) =
                    (d.get("name").and_then(Value::as_str), remote["name"].as_str(), zone_name)
                && fqdn(dn, z) == rn
            {
                m.insert("name".into(), json!(dn));
            }
        }
        Value::Object(m)
    }

    fn object_outputs(kind: &str, remote: &Value, scope: &str) -> Value {
        let mut o = json!({"id": remote["id"]});
        if kind == KIND_LOAD_BALANCER {
            o["hostname"] = remote["name"].clone();
            o["domain_name"] = remote["name"].clone();
            o["zone_id"] = json!(scope);
        }
        o
    }

    pub(crate) async fn read_objects(&self, kind: &str, reqs: &[&ReadRequest<'_>]) -> Vec<Result<Option<Observed>>> {
        let mut out: Vec<Option<Result<Option<Observed>>>> = (0..reqs.len()).map(|_| None).collect();
        // Group by the scope key: a recorded id's scope, else the desired zone name / account.
        let (groups, errors) = group_by(reqs.len(), |i| match reqs[i].remote_id.as_deref() {
            Some(id) => split_id(kind, id, id_shape(kind)).map(|(s, _)| (true, s.to_string())),
            None => {
                let attrs = reqs[i].attrs.cloned().unwrap_or(Value::Null);
                if kind == KIND_LOAD_BALANCER {
                    self.zone_name(attrs.get("zone").and_then(Value::as_str)).map(|z| (false, z))
                } else {
                    self.account_id(attrs.get("account_id").and_then(Value::as_str)).map(|a| (true, a))
                }
            }
        });
        for (i, e) in errors {
            out[i] = Some(Err(e));
        }
        for ((resolved, key), idx) in groups {
            let got = async {
                let scope = if resolved { key.clone() } else { self.zone_id(&key).await? };
                Ok::<_, CloudflareError>((scope.clone(), self.client().list(&collection(kind, &scope)).await?))
            }
            .await;
            let (scope, items) = match got {
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
            let zone_name = (kind == KIND_LOAD_BALANCER && !resolved).then_some(key.as_str());
            for i in idx {
                let r = reqs[i];
                let mark = self.mark(r.address.as_str());
                let found = match r.remote_id.as_deref().and_then(|id| id.split_once('/')) {
                    Some((_, id)) => items.iter().find(|x| x["id"] == id),
                    None => items.iter().find(|x| x["description"] == mark.as_str()),
                };
                out[i] = Some(Ok(found.map(|x| {
                    let zone_name = zone_name.map(str::to_string).or_else(|| {
                        // Recorded load balancers: the zone is the hostname's suffix the
                        // desired name does not spell.
                        r.attrs.and_then(|d| d.get("zone")).and_then(Value::as_str).map(str::to_string)
                    });
                    let ours = x["description"] == mark.as_str();
                    Observed {
                        remote_id: format!("{scope}/{}", x["id"].as_str().unwrap_or_default()),
                        attrs: Self::observed_object(
                            kind,
                            x,
                            r.attrs,
                            zone_name.as_deref().or(self.inner.config.zone.as_deref()),
                        ),
                        outputs: Self::object_outputs(kind, x, &scope),
                        ownership: if ours || r.remote_id.is_some() {
                            Ownership::Ours
                        } else {
                            Ownership::Foreign { detail: format!("the {kind} has no strata mark in its description") }
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

    pub(crate) async fn put_object(&self, kind: &str, change: &ResourceChange) -> Result<Applied> {
        let scope = match change.prior.as_ref() {
            Some(p) => split_id(kind, &p.remote_id, id_shape(kind))?.0.to_string(),
            None => self.scope(kind, &change.attrs).await?,
        };
        let path = collection(kind, &scope);
        let mark = self.mark(change.address.as_str());
        let existing = match change.prior.as_ref() {
            Some(p) => Some(split_id(kind, &p.remote_id, id_shape(kind))?.1.to_string()),
            None => {
                let items = self.client().list(&path).await?;
                items
                    .iter()
                    .find(|x| x["description"] == mark.as_str())
                    .and_then(|x| x["id"].as_str())
                    .map(str::to_string)
            }
        };
        let body = self.body(kind, &change.attrs, change.address.as_str());
        let result = match existing {
            Some(id) => {
                match self.client().send(Method::PUT, &format!("{path}/{id}"), &[], Body::Json(body.clone())).await {
                    Ok(r) => r.result,
                    Err(e) if e.is_not_found() => {
                        self.client().send(Method::POST, &path, &[], Body::Json(body)).await?.result
                    }
                    Err(e) => return Err(e),
                }
            }
            None => self.client().send(Method::POST, &path, &[], Body::Json(body)).await?.result,
        };
        Ok(Applied {
            remote_id: format!("{scope}/{}", result["id"].as_str().unwrap_or_default()),
            attrs: change.attrs.clone(),
            outputs: Self::object_outputs(kind, &result, &scope),
        })
    }

    pub(crate) async fn delete_object(&self, kind: &str, req: &DeleteRequest) -> Result<()> {
        let (scope, id) = split_id(kind, &req.remote_id, id_shape(kind))?;
        self.client().send(Method::DELETE, &format!("{}/{id}", collection(kind, scope)), &[], Body::None).await?;
        Ok(())
    }
}
