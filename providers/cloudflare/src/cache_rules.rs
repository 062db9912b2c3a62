//! `cache_rules`: strata's rules in a zone's `http_request_cache_settings` phase entrypoint.
//!
//! The entrypoint PUT replaces the whole phase, and rules made elsewhere (the dashboard,
//! another tool) must survive. So every write reads the entrypoint, keeps every rule whose
//! `ref` does not start with this resource's prefix (`strata:<project>/<env>/<address>/`)
//! exactly as it is, puts strata's rules after them (reusing the ids of rules with the same
//! ref), and PUTs the merged list, under a per-zone lock so two resources of one zone do not
//! overwrite each other. Reads report only strata's rules, so drift shows only them.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use strata_sdk::{Applied, DeleteRequest, Observed, Ownership, ReadRequest, ResourceChange};

use crate::client::Body;
use crate::error::{CloudflareError, Result};
use crate::{CloudflareProvider, KIND_CACHE_RULES, group_by, parse, split_id};

pub const PHASE: &str = "http_request_cache_settings";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheRulesAttrs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    pub rules: Vec<Rule>,
    /// Paths purged after an update that changed the rules (`/*`: everything).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invalidate_on_change: Vec<String>,
    /// The hostname whose URLs `invalidate_on_change` purges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique within the resource; the remote ref is the resource's prefix plus this.
    #[serde(rename = "ref")]
    pub rule_ref: String,
    /// A Rules language expression (`http.request.uri.path matches "^/api/"`).
    pub expression: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The `set_cache_settings` parameters (`cache`, `edge_ttl`, `browser_ttl`, `cache_key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_parameters: Option<Value>,
}

pub fn validate(attrs: &Value) -> Vec<(Vec<String>, String)> {
    let a: CacheRulesAttrs = match parse(KIND_CACHE_RULES, attrs) {
        Ok(a) => a,
        Err(e) => return vec![(vec![], e.to_string())],
    };
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, r) in a.rules.iter().enumerate() {
        if r.rule_ref.is_empty() || !seen.insert(r.rule_ref.as_str()) {
            out.push((
                vec!["rules".into(), i.to_string(), "ref".into()],
                "each rule needs its own non-empty `ref`".into(),
            ));
        }
        if r.expression.trim().is_empty() {
            out.push((vec!["rules".into(), i.to_string(), "expression".into()], "cannot be empty".into()));
        }
    }
    out
}

/// Fields of a rule the API computes (never sent back).
const READ_ONLY: &[&str] = &["version", "last_updated", "categories"];

impl CloudflareProvider {
    fn rule_prefix(&self, address: &str) -> String {
        format!("{}/", self.mark(address))
    }

    async fn entrypoint(&self, zone_id: &str) -> Result<Option<Value>> {
        match self.client().get(&format!("/zones/{zone_id}/rulesets/phases/{PHASE}/entrypoint"), &[]).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Strata's rules of `prefix` in an entrypoint, in the attrs' shape.
    fn our_rules(ruleset: &Value, prefix: &str) -> Vec<Value> {
        ruleset["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                let rref = r["ref"].as_str()?.strip_prefix(prefix)?;
                let mut m = Map::new();
                m.insert("ref".into(), json!(rref));
                for k in ["expression", "description", "enabled", "action_parameters"] {
                    if let Some(v) = r.get(k) {
                        m.insert(k.into(), v.clone());
                    }
                }
                Some(Value::Object(m))
            })
            .collect()
    }

    pub(crate) async fn read_cache_rules(&self, reqs: &[&ReadRequest<'_>]) -> Vec<Result<Option<Observed>>> {
        let mut out: Vec<Option<Result<Option<Observed>>>> = (0..reqs.len()).map(|_| None).collect();
        let desired: Vec<Option<CacheRulesAttrs>> =
            reqs.iter().map(|r| r.attrs.and_then(|a| parse(KIND_CACHE_RULES, a).ok())).collect();
        let (groups, errors) = group_by(reqs.len(), |i| match reqs[i].remote_id.as_deref() {
            Some(id) => split_id(KIND_CACHE_RULES, id, "{zone_id}/{phase}").map(|(z, _)| (true, z.to_string())),
            None => self.zone_name(desired[i].as_ref().and_then(|d| d.zone.as_deref())).map(|z| (false, z)),
        });
        for (i, e) in errors {
            out[i] = Some(Err(e));
        }
        for ((by_id, key), idx) in groups {
            let got = async {
                let zone_id = if by_id { key.clone() } else { self.zone_id(&key).await? };
                Ok::<_, CloudflareError>((zone_id.clone(), self.entrypoint(&zone_id).await?))
            }
            .await;
            match got {
                Err(CloudflareError::UnknownZone(_)) => idx.into_iter().for_each(|i| out[i] = Some(Ok(None))),
                Err(e) => idx.into_iter().for_each(|i| out[i] = Some(Err(e.clone()))),
                Ok((zone_id, ruleset)) => {
                    for i in idx {
                        let ours =
                            ruleset.as_ref().map(|rs| Self::our_rules(rs, &self.rule_prefix(reqs[i].address.as_str())));
                        out[i] = Some(Ok(match ours {
                            Some(rules) if !rules.is_empty() => {
                                let mut attrs = json!({ "rules": rules });
                                // Settings that live only in the spec read back as desired.
                                if let Some(d) = &desired[i] {
                                    if let Some(z) = &d.zone {
                                        attrs["zone"] = json!(z);
                                    }
                                    if !d.invalidate_on_change.is_empty() {
                                        attrs["invalidate_on_change"] = json!(d.invalidate_on_change);
                                    }
                                    if let Some(h) = &d.hostname {
                                        attrs["hostname"] = json!(h);
                                    }
                                }
                                Some(Observed {
                                    remote_id: format!("{zone_id}/{PHASE}"),
                                    attrs,
                                    outputs: json!({"ruleset_id": ruleset.as_ref().map(|r| r["id"].clone()), "zone_id": zone_id}),
                                    ownership: Ownership::Ours,
                                })
                            }
                            _ => None,
                        }));
                    }
                }
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

    /// Reads the entrypoint, replaces this resource's rules by `rules` (`None`: removes them)
    /// and PUTs the result. Returns the ruleset and whether strata's rules changed.
    async fn merge_rules(&self, zone_id: &str, address: &str, rules: Option<&[Rule]>) -> Result<(Value, bool)> {
        let lock = self.zone_lock(zone_id);
        let _held = lock.lock().await;
        let current = self.entrypoint(zone_id).await?;
        let prefix = self.rule_prefix(address);
        let existing: Vec<Value> = current.as_ref().and_then(|c| c["rules"].as_array().cloned()).unwrap_or_default();
        let before = current.as_ref().map(|c| Self::our_rules(c, &prefix)).unwrap_or_default();
        let clean = |r: &Value| {
            let mut m = r.as_object().cloned().unwrap_or_default();
            for k in READ_ONLY {
                m.remove(*k);
            }
            Value::Object(m)
        };
        let mut merged: Vec<Value> =
            existing.iter().filter(|r| !r["ref"].as_str().is_some_and(|x| x.starts_with(&prefix))).map(clean).collect();
        for r in rules.unwrap_or_default() {
            let remote_ref = format!("{prefix}{}", r.rule_ref);
            let mut m = Map::new();
            if let Some(id) = existing.iter().find(|e| e["ref"] == remote_ref.as_str()).and_then(|e| e["id"].as_str()) {
                m.insert("id".into(), json!(id));
            }
            m.insert("ref".into(), json!(remote_ref));
            m.insert("action".into(), json!("set_cache_settings"));
            m.insert("expression".into(), json!(r.expression));
            m.insert("description".into(), json!(r.description.clone().unwrap_or_default()));
            m.insert("enabled".into(), json!(r.enabled.unwrap_or(true)));
            if let Some(p) = &r.action_parameters {
                m.insert("action_parameters".into(), p.clone());
            }
            merged.push(Value::Object(m));
        }
        if current.is_none() && merged.is_empty() {
            return Ok((Value::Null, false));
        }
        let body = json!({ "rules": merged });
        let result = self
            .client()
            .send(Method::PUT, &format!("/zones/{zone_id}/rulesets/phases/{PHASE}/entrypoint"), &[], Body::Json(body))
            .await?
            .result;
        let after = Self::our_rules(&result, &prefix);
        Ok((result, before != after))
    }

    pub(crate) async fn put_cache_rules(&self, change: &ResourceChange) -> Result<Applied> {
        let a: CacheRulesAttrs = parse(KIND_CACHE_RULES, &change.attrs)?;
        let zone_id = match change.prior.as_ref() {
            Some(p) => split_id(KIND_CACHE_RULES, &p.remote_id, "{zone_id}/{phase}")?.0.to_string(),
            None => self.zone_id(&self.zone_name(a.zone.as_deref())?).await?,
        };
        let (ruleset, changed) = self.merge_rules(&zone_id, change.address.as_str(), Some(&a.rules)).await?;
        // A purge follows an update that changed the rules, not the first create.
        if changed && change.prior.is_some() {
            self.purge(&zone_id, a.hostname.as_deref(), &a.invalidate_on_change).await?;
        }
        Ok(Applied {
            remote_id: format!("{zone_id}/{PHASE}"),
            attrs: change.attrs.clone(),
            outputs: json!({"ruleset_id": ruleset["id"], "zone_id": zone_id}),
        })
    }

    pub(crate) async fn delete_cache_rules(&self, req: &DeleteRequest) -> Result<()> {
        let (zone_id, _) = split_id(KIND_CACHE_RULES, &req.remote_id, "{zone_id}/{phase}")?;
        self.merge_rules(zone_id, req.address.as_str(), None).await?;
        Ok(())
    }
}
