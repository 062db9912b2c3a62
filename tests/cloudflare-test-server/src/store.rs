//! The stateful part: zones with their DNS records, phase entrypoint rulesets, Workers routes
//! and load balancers; accounts with their Workers scripts, pools and monitors. Each handler
//! is keyed by the OpenAPI `operationId` the request matched, after validation.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// One DNS list filter.
type Filter = Box<dyn Fn(&Value) -> bool>;

/// A Workers script as uploaded.
#[derive(Debug, Clone)]
pub struct Script {
    pub metadata: Value,
    /// `(part name, content type, bytes)` per module part.
    pub modules: Vec<(String, String, Vec<u8>)>,
    pub etag: String,
    pub created_on: String,
    pub modified_on: String,
}

#[derive(Debug, Default)]
pub struct Zone {
    pub id: String,
    pub name: String,
    pub account_id: String,
    pub dns_records: BTreeMap<String, Value>,
    /// Phase entrypoint rulesets by phase.
    pub rulesets: BTreeMap<String, Value>,
    pub routes: BTreeMap<String, Value>,
    pub load_balancers: BTreeMap<String, Value>,
    /// Every purge request body received, in order.
    pub purges: Vec<Value>,
}

#[derive(Debug, Default)]
pub struct Account {
    pub scripts: BTreeMap<String, Script>,
    pub pools: BTreeMap<String, Value>,
    pub monitors: BTreeMap<String, Value>,
}

#[derive(Debug, Default)]
pub struct Store {
    pub zones: BTreeMap<String, Zone>,
    pub accounts: BTreeMap<String, Account>,
}

/// Cloudflare's 32-hex identifiers.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A stable zone id for a zone name, so a server restarted with the same zones serves the
/// same ids.
pub fn zone_id_for(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// What a handler answers: status, `result`, and `result_info` for lists.
pub struct Reply {
    pub status: u16,
    pub result: Value,
    pub result_info: Option<Value>,
}

impl Reply {
    fn ok(result: Value) -> Result<Reply, ApiError> {
        Ok(Reply { status: 200, result, result_info: None })
    }
}

/// The inputs of a handler.
pub struct Call<'a> {
    pub operation_id: &'a str,
    pub params: &'a std::collections::HashMap<String, String>,
    pub query: &'a [(String, String)],
    pub body: Option<&'a Value>,
    pub multipart: Option<&'a [crate::multipart::Part]>,
}

impl Call<'_> {
    fn param(&self, name: &str) -> &str {
        self.params.get(name).map(String::as_str).unwrap_or_default()
    }

    fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn body(&self) -> Map<String, Value> {
        self.body.and_then(Value::as_object).cloned().unwrap_or_default()
    }
}

impl Store {
    pub fn add_zone(&mut self, name: &str, account_id: &str) -> String {
        let id = zone_id_for(name);
        self.accounts.entry(account_id.to_string()).or_default();
        self.zones.entry(id.clone()).or_insert_with(|| Zone {
            id: id.clone(),
            name: name.to_string(),
            account_id: account_id.to_string(),
            ..Zone::default()
        });
        id
    }

    fn zone(&mut self, call: &Call<'_>) -> Result<&mut Zone, ApiError> {
        let id = call.param("zone_id");
        self.zones.get_mut(id).ok_or_else(|| ApiError::route_not_found(&format!("/zones/{id}")))
    }

    fn account(&mut self, call: &Call<'_>) -> Result<&mut Account, ApiError> {
        let id = call.param("account_id");
        self.accounts.get_mut(id).ok_or_else(|| ApiError::route_not_found(&format!("/accounts/{id}")))
    }

    pub fn handle(&mut self, call: &Call<'_>) -> Result<Reply, ApiError> {
        match call.operation_id {
            "zones-get" => self.list_zones(call),
            "dns-records-for-a-zone-list-dns-records" => self.list_dns(call),
            "dns-records-for-a-zone-create-dns-record" => self.create_dns(call),
            "dns-records-for-a-zone-dns-record-details" => {
                let z = self.zone(call)?;
                let id = call.param("dns_record_id");
                z.dns_records.get(id).cloned().map_or_else(|| Err(ApiError::dns_not_found()), Reply::ok)
            }
            "dns-records-for-a-zone-patch-dns-record" => self.update_dns(call, true),
            "dns-records-for-a-zone-update-dns-record" => self.update_dns(call, false),
            "dns-records-for-a-zone-delete-dns-record" => {
                let z = self.zone(call)?;
                let id = call.param("dns_record_id");
                match z.dns_records.remove(id) {
                    Some(_) => Reply::ok(json!({ "id": id })),
                    None => Err(ApiError::dns_not_found()),
                }
            }
            "getZoneEntrypointRuleset" => {
                let phase = call.param("ruleset_phase").to_string();
                let z = self.zone(call)?;
                z.rulesets.get(&phase).cloned().map_or_else(|| Err(ApiError::no_entrypoint(&phase)), Reply::ok)
            }
            "updateZoneEntrypointRuleset" => self.put_entrypoint(call),
            "worker-script-list-workers" => {
                let a = self.account(call)?;
                Reply::ok(Value::Array(a.scripts.iter().map(|(n, s)| script_json(n, s)).collect()))
            }
            "worker-script-upload-worker-module" => self.upload_script(call),
            "worker-script-download-worker" => {
                let name = call.param("script_name").to_string();
                let a = self.account(call)?;
                match a.scripts.get(&name) {
                    // The real endpoint answers the raw module; the server layer sends it as is.
                    Some(s) => Reply::ok(Value::String(
                        String::from_utf8_lossy(s.modules.first().map(|m| m.2.as_slice()).unwrap_or_default()).into(),
                    )),
                    None => Err(ApiError::script_not_found()),
                }
            }
            "worker-script-delete-worker" => {
                let name = call.param("script_name").to_string();
                let in_use = self.zones.values().any(|z| z.routes.values().any(|r| r["script"] == name.as_str()));
                if in_use && call.query("force") != Some("true") {
                    return Err(ApiError::new(
                        400,
                        10064,
                        "the script is referenced by Workers routes; remove them first or pass force=true",
                    ));
                }
                let a = self.account(call)?;
                match a.scripts.remove(&name) {
                    Some(_) => Reply::ok(Value::Null),
                    None => Err(ApiError::script_not_found()),
                }
            }
            "worker-routes-list-routes" => {
                let z = self.zone(call)?;
                Reply::ok(Value::Array(z.routes.values().cloned().collect()))
            }
            "worker-routes-create-route" | "worker-routes-update-route" => self.put_route(call),
            "worker-routes-get-route" => {
                let z = self.zone(call)?;
                z.routes.get(call.param("route_id")).cloned().map_or_else(|| Err(ApiError::route_missing()), Reply::ok)
            }
            "worker-routes-delete-route" => {
                let z = self.zone(call)?;
                let id = call.param("route_id");
                match z.routes.remove(id) {
                    Some(_) => Reply::ok(json!({ "id": id })),
                    None => Err(ApiError::route_missing()),
                }
            }
            "account-load-balancer-monitors-list-monitors" => {
                let a = self.account(call)?;
                Reply::ok(Value::Array(a.monitors.values().cloned().collect()))
            }
            "account-load-balancer-monitors-create-monitor" | "account-load-balancer-monitors-update-monitor" => {
                self.put_monitor(call)
            }
            "account-load-balancer-monitors-monitor-details" => {
                let a = self.account(call)?;
                a.monitors
                    .get(call.param("monitor_id"))
                    .cloned()
                    .map_or_else(|| Err(ApiError::lb_not_found("monitor")), Reply::ok)
            }
            "account-load-balancer-monitors-delete-monitor" => {
                let id = call.param("monitor_id").to_string();
                let a = self.account(call)?;
                if a.pools.values().any(|p| p["monitor"] == id.as_str()) {
                    return Err(ApiError::new(400, 1002, "monitor is referenced by pools; remove it from them first"));
                }
                match a.monitors.remove(&id) {
                    Some(_) => Reply::ok(json!({ "id": id })),
                    None => Err(ApiError::lb_not_found("monitor")),
                }
            }
            "account-load-balancer-pools-list-pools" => {
                let monitor = call.query("monitor").map(str::to_string);
                let a = self.account(call)?;
                Reply::ok(Value::Array(
                    a.pools
                        .values()
                        .filter(|p| monitor.as_ref().is_none_or(|m| p["monitor"] == m.as_str()))
                        .cloned()
                        .collect(),
                ))
            }
            "account-load-balancer-pools-create-pool" | "account-load-balancer-pools-update-pool" => {
                self.put_pool(call)
            }
            "account-load-balancer-pools-pool-details" => {
                let a = self.account(call)?;
                a.pools
                    .get(call.param("pool_id"))
                    .cloned()
                    .map_or_else(|| Err(ApiError::lb_not_found("pool")), Reply::ok)
            }
            "account-load-balancer-pools-delete-pool" => {
                let id = call.param("pool_id").to_string();
                let used = self.zones.values().any(|z| {
                    z.load_balancers.values().any(|lb| {
                        lb["fallback_pool"] == id.as_str()
                            || lb["default_pools"].as_array().is_some_and(|d| d.iter().any(|p| p == id.as_str()))
                    })
                });
                if used {
                    return Err(ApiError::new(
                        400,
                        1002,
                        "pool is referenced by load balancers; remove it from them first",
                    ));
                }
                let a = self.account(call)?;
                match a.pools.remove(&id) {
                    Some(_) => Reply::ok(json!({ "id": id })),
                    None => Err(ApiError::lb_not_found("pool")),
                }
            }
            "load-balancers-list-load-balancers" => {
                let z = self.zone(call)?;
                Reply::ok(Value::Array(z.load_balancers.values().cloned().collect()))
            }
            "load-balancers-create-load-balancer" | "load-balancers-update-load-balancer" => self.put_lb(call),
            "load-balancers-load-balancer-details" => {
                let z = self.zone(call)?;
                z.load_balancers
                    .get(call.param("load_balancer_id"))
                    .cloned()
                    .map_or_else(|| Err(ApiError::lb_not_found("load balancer")), Reply::ok)
            }
            "load-balancers-delete-load-balancer" => {
                let z = self.zone(call)?;
                let id = call.param("load_balancer_id");
                match z.load_balancers.remove(id) {
                    Some(_) => Reply::ok(json!({ "id": id })),
                    None => Err(ApiError::lb_not_found("load balancer")),
                }
            }
            "zone-purge" => {
                let body = call.body.cloned().unwrap_or(Value::Null);
                let z = self.zone(call)?;
                z.purges.push(body);
                Reply::ok(json!({ "id": new_id() }))
            }
            other => Err(ApiError::new(
                501,
                7000,
                &format!("operation `{other}` is valid but not implemented by cloudflare-test-server"),
            )),
        }
    }

    fn list_zones(&mut self, call: &Call<'_>) -> Result<Reply, ApiError> {
        let name = call.query("name");
        let zones: Vec<Value> = self
            .zones
            .values()
            .filter(|z| name.is_none_or(|n| z.name == n))
            .map(|z| json!({"id": z.id, "name": z.name, "status": "active", "account": {"id": z.account_id}}))
            .collect();
        paginate(zones, call, 20)
    }

    fn list_dns(&mut self, call: &Call<'_>) -> Result<Reply, ApiError> {
        let z = self.zone(call)?;
        let zone_name = z.name.clone();
        let any = call.query("match") == Some("any");
        let mut filters: Vec<Filter> = Vec::new();
        for (k, v) in call.query {
            let v = v.clone();
            let text = |r: &Value, f: &str| r[f].as_str().unwrap_or_default().to_string();
            match k.as_str() {
                "name" => {
                    let want = fqdn(&v, &zone_name);
                    filters.push(Box::new(move |r| text(r, "name") == want))
                }
                "type" => filters.push(Box::new(move |r| text(r, "type") == v)),
                "content" => filters.push(Box::new(move |r| text(r, "content") == v)),
                "proxied" => filters.push(Box::new(move |r| r["proxied"].as_bool() == Some(v == "true"))),
                "comment" | "comment.exact" => filters.push(Box::new(move |r| text(r, "comment") == v)),
                "comment.contains" => filters.push(Box::new(move |r| text(r, "comment").contains(&v))),
                "comment.startswith" => filters.push(Box::new(move |r| text(r, "comment").starts_with(&v))),
                "comment.endswith" => filters.push(Box::new(move |r| text(r, "comment").ends_with(&v))),
                "comment.present" => filters.push(Box::new(|r| r["comment"].is_string())),
                "comment.absent" => filters.push(Box::new(|r| !r["comment"].is_string())),
                "search" => filters
                    .push(Box::new(move |r| ["name", "content", "comment"].iter().any(|f| text(r, f).contains(&v)))),
                _ => {}
            }
        }
        let mut records: Vec<Value> = z
            .dns_records
            .values()
            .filter(|r| {
                if filters.is_empty() {
                    true
                } else if any {
                    filters.iter().any(|f| f(r))
                } else {
                    filters.iter().all(|f| f(r))
                }
            })
            .cloned()
            .collect();
        let order = call.query("order").unwrap_or("type").to_string();
        records.sort_by(|a, b| {
            a[&order].to_string().cmp(&b[&order].to_string()).then(a["id"].to_string().cmp(&b["id"].to_string()))
        });
        if call.query("direction") == Some("desc") {
            records.reverse();
        }
        paginate(records, call, 100)
    }

    fn dns_record(
        &self,
        zone: &Zone,
        id: &str,
        body: &Map<String, Value>,
        prior: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let mut rec: Map<String, Value> = prior.and_then(Value::as_object).cloned().unwrap_or_default();
        for (k, v) in body {
            if ["id", "created_on", "modified_on", "proxiable", "meta", "zone_id", "zone_name"].contains(&k.as_str()) {
                continue;
            }
            rec.insert(k.clone(), v.clone());
        }
        let ty = rec.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
        let name = fqdn(rec.get("name").and_then(Value::as_str).unwrap_or_default(), &zone.name);
        if name != zone.name && !name.ends_with(&format!(".{}", zone.name)) {
            return Err(ApiError::new(400, 9007, &format!("the record name {name} is not in the zone {}", zone.name)));
        }
        let content = rec.get("content").and_then(Value::as_str).unwrap_or_default().to_string();
        match ty.as_str() {
            "A" if content.parse::<std::net::Ipv4Addr>().is_err() => {
                return Err(ApiError::new(400, 9005, "Content for A record must be a valid IPv4 address."));
            }
            "AAAA" if content.parse::<std::net::Ipv6Addr>().is_err() => {
                return Err(ApiError::new(400, 9006, "Content for AAAA record must be a valid IPv6 address."));
            }
            "CNAME" if content.trim_end_matches('.').eq_ignore_ascii_case(&name) => {
                return Err(ApiError::new(400, 9039, "CNAME content cannot reference itself."));
            }
            _ => {}
        }
        let proxiable = matches!(ty.as_str(), "A" | "AAAA" | "CNAME");
        let proxied = rec.get("proxied").and_then(Value::as_bool).unwrap_or(false);
        if proxied && !proxiable {
            return Err(ApiError::new(400, 9004, &format!("{ty} records cannot be proxied.")));
        }
        // Duplicates: one CNAME per name, never beside A/AAAA; identical records refused.
        for (other_id, other) in &zone.dns_records {
            if other_id == id || other["name"] != name.as_str() {
                continue;
            }
            let oty = other["type"].as_str().unwrap_or_default();
            let address = |t: &str| matches!(t, "A" | "AAAA" | "CNAME");
            if (ty == "CNAME" || oty == "CNAME") && address(&ty) && address(oty) {
                return Err(ApiError::new(400, 81053, "An A, AAAA, or CNAME record with that host already exists."));
            }
            if oty == ty && other["content"] == content.as_str() {
                return Err(ApiError::new(400, 81058, "An identical record already exists."));
            }
        }
        let ts = now();
        rec.insert("id".into(), json!(id));
        rec.insert("zone_id".into(), json!(zone.id));
        rec.insert("zone_name".into(), json!(zone.name));
        rec.insert("name".into(), json!(name));
        rec.insert("proxied".into(), json!(proxied));
        rec.insert("proxiable".into(), json!(proxiable));
        // Proxied records always have the automatic TTL.
        let ttl = if proxied { json!(1) } else { rec.get("ttl").cloned().unwrap_or(json!(1)) };
        rec.insert("ttl".into(), ttl);
        rec.entry("tags").or_insert(json!([]));
        rec.entry("comment").or_insert(Value::Null);
        rec.insert("meta".into(), json!({"auto_added": false, "source": "primary"}));
        rec.entry("created_on").or_insert(json!(ts));
        rec.insert("modified_on".into(), json!(ts));
        Ok(Value::Object(rec))
    }

    fn create_dns(&mut self, call: &Call<'_>) -> Result<Reply, ApiError> {
        let body = call.body();
        let id = new_id();
        let z = self.zones.get(call.param("zone_id")).ok_or_else(|| ApiError::route_not_found("/zones"))?;
        let rec = self.dns_record(z, &id, &body, None)?;
        self.zone(call)?.dns_records.insert(id, rec.clone());
        Reply::ok(rec)
    }

    fn update_dns(&mut self, call: &Call<'_>, patch: bool) -> Result<Reply, ApiError> {
        let body = call.body();
        let id = call.param("dns_record_id").to_string();
        let z = self.zones.get(call.param("zone_id")).ok_or_else(|| ApiError::route_not_found("/zones"))?;
        let prior = z.dns_records.get(&id).ok_or_else(ApiError::dns_not_found)?;
        let base = if patch { prior.clone() } else { json!({ "created_on": prior["created_on"] }) };
        let rec = self.dns_record(z, &id, &body, Some(&base))?;
        self.zone(call)?.dns_records.insert(id, rec.clone());
        Reply::ok(rec)
    }

    fn put_entrypoint(&mut self, call: &Call<'_>) -> Result<Reply, ApiError> {
        let phase = call.param("ruleset_phase").to_string();
        let body = call.body();
        let z = self.zone(call)?;
        let prior = z.rulesets.get(&phase).cloned();
        let version =
            prior.as_ref().and_then(|p| p["version"].as_str()).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) + 1;
        let ts = now();
        let prior_rules: Vec<Value> = prior.as_ref().and_then(|p| p["rules"].as_array().cloned()).unwrap_or_default();
        let mut refs = std::collections::HashSet::new();
        let mut rules = Vec::new();
        for r in body.get("rules").and_then(Value::as_array).cloned().unwrap_or_default() {
            let mut r = r.as_object().cloned().unwrap_or_default();
            if r.get("action").and_then(Value::as_str) != Some("set_cache_settings")
                && phase == "http_request_cache_settings"
            {
                return Err(ApiError::new(
                    400,
                    20021,
                    "only set_cache_settings rules are allowed in the http_request_cache_settings phase",
                ));
            }
            // An id sent must be one of the ruleset's; a rule without one is new.
            let id = match r.get("id").and_then(Value::as_str) {
                Some(id) if prior_rules.iter().any(|p| p["id"] == id) => id.to_string(),
                Some(id) => {
                    return Err(ApiError::new(400, 20022, &format!("rule id {id} is not part of this ruleset")));
                }
                None => new_id(),
            };
            let rref = r.get("ref").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| id.clone());
            if !refs.insert(rref.clone()) {
                return Err(ApiError::new(400, 20217, &format!("duplicate rule ref '{rref}'")));
            }
            let prior_rule = prior_rules.iter().find(|p| p["id"] == id.as_str());
            let changed = prior_rule.is_none_or(|p| {
                ["expression", "action", "action_parameters", "description", "enabled"]
                    .iter()
                    .any(|k| p.get(*k) != r.get(*k))
            });
            r.insert("id".into(), json!(id));
            r.insert("ref".into(), json!(rref));
            r.entry("enabled").or_insert(json!(true));
            r.entry("description").or_insert(json!(""));
            let (rv, lu) = match prior_rule {
                Some(p) if !changed => (p["version"].clone(), p["last_updated"].clone()),
                Some(p) => (
                    json!((p["version"].as_str().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) + 1).to_string()),
                    json!(ts),
                ),
                None => (json!("1"), json!(ts)),
            };
            r.insert("version".into(), rv);
            r.insert("last_updated".into(), lu);
            rules.push(Value::Object(r));
        }
        let ruleset = json!({
            "id": prior.as_ref().map(|p| p["id"].clone()).unwrap_or_else(|| json!(new_id())),
            "name": body.get("name").cloned().or_else(|| prior.as_ref().map(|p| p["name"].clone())).unwrap_or(json!("default")),
            "description": body.get("description").cloned().unwrap_or(json!("")),
            "kind": "zone",
            "phase": phase,
            "version": version.to_string(),
            "last_updated": ts,
            "rules": rules,
        });
        z.rulesets.insert(phase, ruleset.clone());
        Reply::ok(ruleset)
    }

    fn upload_script(&mut self, call: &Call<'_>) -> Result<Reply, ApiError> {
        let name = call.param("script_name").to_string();
        let parts = call
            .multipart
            .ok_or_else(|| ApiError::new(400, 10021, "a module Worker must be uploaded as multipart/form-data"))?;
        let metadata_part = parts
            .iter()
            .find(|p| p.name == "metadata")
            .ok_or_else(|| ApiError::new(400, 10021, "the upload has no `metadata` part"))?;
        let metadata: Value = serde_json::from_slice(&metadata_part.data)
            .map_err(|e| ApiError::new(400, 10021, &format!("the `metadata` part is not JSON: {e}")))?;
        let main = metadata["main_module"].as_str().or(metadata["body_part"].as_str()).ok_or_else(|| {
            ApiError::new(
                400,
                10021,
                "metadata must name the main module (`main_module`) or the script part (`body_part`)",
            )
        })?;
        let modules: Vec<(String, String, Vec<u8>)> = parts
            .iter()
            .filter(|p| p.name != "metadata")
            .map(|p| {
                (
                    p.filename.clone().unwrap_or_else(|| p.name.clone()),
                    p.content_type.clone().unwrap_or_default(),
                    p.data.clone(),
                )
            })
            .collect();
        let Some(main_part) = modules.iter().find(|m| {
            m.0 == main || parts.iter().any(|p| p.name == main && p.filename.as_deref() == Some(m.0.as_str()))
        }) else {
            return Err(ApiError::new(
                400,
                10021,
                &format!("No such module: the main module `{main}` is not one of the uploaded parts"),
            ));
        };
        if metadata.get("main_module").is_some() && !main_part.1.contains("module") {
            return Err(ApiError::new(
                400,
                10021,
                "the main module part must have the content type application/javascript+module",
            ));
        }
        if main_part.2.is_empty() {
            return Err(ApiError::new(400, 10021, "the main module is empty"));
        }
        let mut hasher = Sha256::new();
        for m in &modules {
            hasher.update(&m.2);
        }
        hasher.update(metadata.to_string().as_bytes());
        let etag: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        let a = self.account(call)?;
        let ts = now();
        let created_on = a.scripts.get(&name).map(|s| s.created_on.clone()).unwrap_or_else(|| ts.clone());
        let script = Script { metadata, modules, etag, created_on, modified_on: ts };
        let out = script_json(&name, &script);
        a.scripts.insert(name, script);
        Reply::ok(out)
    }

    fn put_route(&mut self, call: &Call<'_>) -> Result<Reply, ApiError> {
        let body = call.body();
        let id = call.params.get("route_id").cloned().unwrap_or_else(new_id);
        let pattern = body.get("pattern").and_then(Value::as_str).unwrap_or_default().to_string();
        let script = body.get("script").cloned().unwrap_or(Value::Null);
        let z = self.zones.get(call.param("zone_id")).ok_or_else(|| ApiError::route_not_found("/zones"))?;
        if call.params.contains_key("route_id") && !z.routes.contains_key(&id) {
            return Err(ApiError::route_missing());
        }
        let host = pattern.split('/').next().unwrap_or_default().trim_start_matches("*.").trim_start_matches('*');
        if host != z.name && !host.ends_with(&format!(".{}", z.name)) {
            return Err(ApiError::new(
                400,
                10022,
                &format!("the route pattern {pattern} is not in the zone {}", z.name),
            ));
        }
        if z.routes.iter().any(|(rid, r)| rid != &id && r["pattern"] == pattern.as_str()) {
            return Err(ApiError::new(409, 10020, "A route with the same pattern already exists."));
        }
        if let Some(s) = script.as_str() {
            let exists = self.accounts.get(&z.account_id).is_some_and(|a| a.scripts.contains_key(s));
            if !exists {
                return Err(ApiError::new(400, 10019, &format!("the Worker script {s} does not exist")));
            }
        }
        let route = json!({"id": id, "pattern": pattern, "script": script});
        self.zone(call)?.routes.insert(id, route.clone());
        Reply::ok(route)
    }

    fn put_monitor(&mut self, call: &Call<'_>) -> Result<Reply, ApiError> {
        let body = call.body();
        let a = self.account(call)?;
        let id = call.params.get("monitor_id").cloned().unwrap_or_else(new_id);
        let prior = a.monitors.get(&id).cloned();
        if call.params.contains_key("monitor_id") && prior.is_none() {
            return Err(ApiError::lb_not_found("monitor"));
        }
        let ts = now();
        let mut m = json!({
            "type": "http", "method": "GET", "path": "/", "port": 0, "timeout": 5, "retries": 2, "interval": 60,
            "expected_codes": "200", "expected_body": "", "follow_redirects": false, "allow_insecure": false,
            "consecutive_up": 0, "consecutive_down": 0, "description": "", "header": {}, "probe_zone": "",
        });
        merge(&mut m, &Value::Object(body));
        m["id"] = json!(id);
        m["created_on"] = prior.as_ref().map(|p| p["created_on"].clone()).unwrap_or(json!(ts));
        m["modified_on"] = json!(ts);
        a.monitors.insert(id, m.clone());
        Reply::ok(m)
    }

    fn put_pool(&mut self, call: &Call<'_>) -> Result<Reply, ApiError> {
        let body = call.body();
        let a = self.account(call)?;
        let id = call.params.get("pool_id").cloned().unwrap_or_else(new_id);
        let prior = a.pools.get(&id).cloned();
        if call.params.contains_key("pool_id") && prior.is_none() {
            return Err(ApiError::lb_not_found("pool"));
        }
        if let Some(m) = body.get("monitor").and_then(Value::as_str)
            && !a.monitors.contains_key(m)
        {
            return Err(ApiError::new(400, 1002, &format!("monitor {m} not found")));
        }
        let origins = body.get("origins").and_then(Value::as_array).cloned().unwrap_or_default();
        if origins.is_empty() {
            return Err(ApiError::new(400, 1002, "a pool needs at least one origin"));
        }
        let origins: Vec<Value> = origins
            .into_iter()
            .map(|o| {
                let mut full = json!({"enabled": true, "weight": 1, "header": {}});
                merge(&mut full, &o);
                full
            })
            .collect();
        let ts = now();
        let mut p = json!({"enabled": true, "minimum_origins": 1, "description": "", "notification_email": ""});
        merge(&mut p, &Value::Object(body));
        p["origins"] = json!(origins);
        p["id"] = json!(id);
        p["created_on"] = prior.as_ref().map(|p| p["created_on"].clone()).unwrap_or(json!(ts));
        p["modified_on"] = json!(ts);
        a.pools.insert(id, p.clone());
        Reply::ok(p)
    }

    fn put_lb(&mut self, call: &Call<'_>) -> Result<Reply, ApiError> {
        let body = call.body();
        let zone_id = call.param("zone_id").to_string();
        let z = self.zones.get(&zone_id).ok_or_else(|| ApiError::route_not_found("/zones"))?;
        let id = call.params.get("load_balancer_id").cloned().unwrap_or_else(new_id);
        let prior = z.load_balancers.get(&id).cloned();
        if call.params.contains_key("load_balancer_id") && prior.is_none() {
            return Err(ApiError::lb_not_found("load balancer"));
        }
        let pools = self.accounts.get(&z.account_id).map(|a| &a.pools);
        let mut referenced: Vec<&str> = body
            .get("default_pools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if let Some(f) = body.get("fallback_pool").and_then(Value::as_str) {
            referenced.push(f);
        }
        for p in referenced {
            if !pools.is_some_and(|ps| ps.contains_key(p)) {
                return Err(ApiError::new(400, 1002, &format!("pool {p} not found")));
            }
        }
        let name = fqdn(body.get("name").and_then(Value::as_str).unwrap_or_default(), &z.name);
        if z.load_balancers.iter().any(|(lid, lb)| lid != &id && lb["name"] == name.as_str()) {
            return Err(ApiError::new(400, 1001, "a load balancer with this hostname already exists"));
        }
        let ts = now();
        let mut lb = json!({"proxied": false, "ttl": 30, "steering_policy": "", "session_affinity": "none", "enabled": true, "description": ""});
        merge(&mut lb, &Value::Object(body));
        lb["name"] = json!(name);
        lb["id"] = json!(id);
        lb["created_on"] = prior.as_ref().map(|p| p["created_on"].clone()).unwrap_or(json!(ts));
        lb["modified_on"] = json!(ts);
        self.zones.get_mut(&zone_id).expect("checked").load_balancers.insert(id, lb.clone());
        Reply::ok(lb)
    }
}

fn script_json(name: &str, s: &Script) -> Value {
    json!({
        "id": name,
        "etag": s.etag,
        "handlers": ["fetch"],
        "created_on": s.created_on,
        "modified_on": s.modified_on,
        "usage_model": s.metadata.get("usage_model").cloned().unwrap_or(json!("bundled")),
        "compatibility_date": s.metadata.get("compatibility_date").cloned().unwrap_or(Value::Null),
        "tags": s.metadata.get("tags").cloned().unwrap_or(json!([])),
        "logpush": false,
    })
}

/// Shallow-replaces top-level keys of `base` with those of `patch`.
fn merge(base: &mut Value, patch: &Value) {
    if let (Some(b), Some(p)) = (base.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            b.insert(k.clone(), v.clone());
        }
    }
}

/// A record name as Cloudflare stores it: `@` is the apex, relative names get the zone.
pub fn fqdn(name: &str, zone: &str) -> String {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if name.is_empty() || name == "@" {
        zone.to_string()
    } else if name == zone || name.ends_with(&format!(".{zone}")) {
        name
    } else {
        format!("{name}.{zone}")
    }
}

fn paginate(items: Vec<Value>, call: &Call<'_>, default_per_page: usize) -> Result<Reply, ApiError> {
    let per_page =
        call.query("per_page").and_then(|v| v.parse::<f64>().ok()).map_or(default_per_page, |v| v as usize).max(1);
    let page = call.query("page").and_then(|v| v.parse::<f64>().ok()).map_or(1, |v| v as usize).max(1);
    let total = items.len();
    let total_pages = total.div_ceil(per_page);
    let slice: Vec<Value> = items.into_iter().skip((page - 1) * per_page).take(per_page).collect();
    Ok(Reply {
        status: 200,
        result_info: Some(json!({
            "page": page, "per_page": per_page, "count": slice.len(), "total_count": total, "total_pages": total_pages,
        })),
        result: Value::Array(slice),
    })
}
