//! The stateful side: Front Door profiles and their child resources keyed by ARM resource id
//! (case-insensitive, as ARM), server-side defaults, references between resources, and the
//! Azure-AsyncOperation / Location polling protocol of long-running operations.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use sha2::Digest;

use crate::error::ApiError;
use crate::knobs::Knobs;
use crate::server::Request;
use crate::spec::API_VERSION;

/// What a handler answers (status, optional JSON body, extra headers).
pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply { status, body: Some(body), headers: Vec::new() }
    }
}

/// A stored resource, in the shape GET returns.
#[derive(Debug, Clone)]
pub struct Stored {
    pub value: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpAction {
    Put,
    Delete,
}

#[derive(Debug, Clone)]
struct Op {
    resource: String,
    action: OpAction,
    done_at: Instant,
    start: String,
    failed: bool,
    finished: bool,
}

#[derive(Default)]
pub struct Store {
    /// Lower-cased resource id → resource.
    pub resources: BTreeMap<String, Stored>,
    ops: BTreeMap<String, Op>,
}

/// The served resource families (operationId prefixes) and their ARM type segment.
const FAMILIES: &[(&str, &str)] = &[
    ("Profiles", "profiles"),
    ("AFDEndpoints", "afdendpoints"),
    ("AFDOriginGroups", "origingroups"),
    ("AFDOrigins", "origins"),
    ("Routes", "routes"),
    ("RuleSets", "rulesets"),
    ("Rules", "rules"),
    ("AFDCustomDomains", "customdomains"),
    ("SecurityPolicies", "securitypolicies"),
    ("Secrets", "secrets"),
];

/// `Some(operation id)` when `path` is one of this server's operation status URLs.
pub fn operation_path(path: &str) -> Option<String> {
    let lower = path.to_ascii_lowercase();
    let rest = lower.split("/providers/microsoft.cdn/operationresults/").nth(1)?;
    Some(rest.trim_end_matches("/result").to_string())
}

fn now_stamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The ARM `type` of a resource id: `Microsoft.Cdn/profiles/afdendpoints`.
fn arm_type(id: &str) -> String {
    let after = id.split("/providers/").nth(1).unwrap_or_default();
    let segs: Vec<&str> = after.split('/').collect();
    let mut parts = vec![segs.first().copied().unwrap_or("Microsoft.Cdn").to_string()];
    parts.extend(segs.iter().skip(1).step_by(2).map(|s| s.to_ascii_lowercase()));
    parts.join("/")
}

/// The id of the resource `id` is nested in (`None` for a profile).
fn parent_of(id: &str) -> Option<String> {
    let segs: Vec<&str> = id.split('/').collect();
    let provider_at = segs.iter().position(|s| s.eq_ignore_ascii_case("providers"))?;
    (segs.len() > provider_at + 4).then(|| segs[..segs.len() - 2].join("/"))
}

fn name_of(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or_default()
}

fn profile_of(id: &str) -> String {
    let segs: Vec<&str> = id.split('/').collect();
    let at = segs.iter().position(|s| s.eq_ignore_ascii_case("profiles")).unwrap_or(segs.len().saturating_sub(2));
    segs[..(at + 2).min(segs.len())].join("/")
}

fn short_hash(text: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz0123456789";
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .take(len)
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

fn default(obj: &mut Map<String, Value>, key: &str, value: Value) {
    obj.entry(key.to_string()).or_insert(value);
}

/// Every `{"id": "..."}` reference in `v`.
fn references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if k == "id"
                    && let Some(s) = x.as_str()
                {
                    out.push(s.to_string());
                }
                references(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| references(x, out)),
        _ => {}
    }
}

impl Store {
    fn get(&self, id: &str) -> Option<&Stored> {
        self.resources.get(&id.to_ascii_lowercase())
    }

    /// Completes the operations whose time has come.
    pub fn settle(&mut self, _knobs: &Knobs) {
        let now = Instant::now();
        let due: Vec<String> =
            self.ops.iter().filter(|(_, o)| !o.finished && o.done_at <= now).map(|(k, _)| k.clone()).collect();
        for key in due {
            let op = self.ops.get_mut(&key).expect("listed above").clone();
            self.ops.get_mut(&key).expect("listed above").finished = true;
            let lower = op.resource.to_ascii_lowercase();
            match (op.action, op.failed) {
                (OpAction::Delete, false) => {
                    let prefix = format!("{lower}/");
                    self.resources.retain(|k, _| *k != lower && !k.starts_with(&prefix));
                }
                (action, failed) => {
                    if let Some(r) = self.resources.get_mut(&lower)
                        && let Some(props) = r.value.get_mut("properties").and_then(Value::as_object_mut)
                    {
                        let state = if failed { "Failed" } else { "Succeeded" };
                        props.insert("provisioningState".into(), json!(state));
                        if props.contains_key("deploymentStatus") {
                            props.insert("deploymentStatus".into(), json!(state));
                        }
                        if action == OpAction::Delete && failed {
                            props.insert("provisioningState".into(), json!("Failed"));
                        }
                    }
                }
            }
        }
    }

    /// The status of an operation (`Azure-AsyncOperation`), or its result (`Location`).
    pub fn poll(&mut self, op_id: &str, result: bool, knobs: &Knobs) -> Result<Reply, ApiError> {
        let op = self
            .ops
            .get(op_id)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("The operation '{op_id}' was not found.")))?;
        let retry = knobs.with(|s| s.poll_retry_after_secs).to_string();
        if result {
            if !op.finished {
                return Ok(Reply { status: 202, body: None, headers: vec![("retry-after".into(), retry)] });
            }
            if op.failed {
                return Err(ApiError::new(500, "InternalServerError", "The operation failed (injected fault)."));
            }
            return Ok(match op.action {
                OpAction::Delete => Reply { status: 204, body: None, headers: Vec::new() },
                OpAction::Put => match self.get(&op.resource) {
                    Some(r) => Reply::json(200, r.value.clone()),
                    None => Reply { status: 204, body: None, headers: Vec::new() },
                },
            });
        }
        let status = match (op.finished, op.failed) {
            (false, _) => "InProgress",
            (true, false) => "Succeeded",
            (true, true) => "Failed",
        };
        let mut body = json!({"id": op_id, "name": op_id, "status": status, "startTime": op.start});
        if op.finished {
            body["endTime"] = json!(now_stamp());
        }
        if op.failed {
            body["error"] = json!({"code": "InternalServerError", "message": "The operation failed (injected fault)."});
        }
        let headers = if op.finished { Vec::new() } else { vec![("retry-after".to_string(), retry)] };
        Ok(Reply { status: 200, body: Some(body), headers })
    }

    pub fn handle(&mut self, req: &Request<'_>, knobs: &Knobs) -> Result<Reply, ApiError> {
        let (family, verb) = req.op.id.split_once('_').unwrap_or((&req.op.id, ""));
        if !FAMILIES.iter().any(|(f, _)| *f == family) {
            return Err(ApiError::new(
                501,
                "NotImplemented",
                format!("{} is in the Microsoft.Cdn documents but not implemented by azure-test-server.", req.op.id),
            ));
        }
        match verb {
            "Get" => self.get(&req.path).map(|r| Reply::json(200, r.value.clone())).ok_or_else(|| not_found(&req.path)),
            v if v.starts_with("List") => Ok(self.list(req, knobs)),
            "Create" => self.put(req, knobs),
            "Update" | "Patch" => self.patch(req, knobs),
            "Delete" => self.delete(req, knobs),
            _ => Err(ApiError::new(
                501,
                "NotImplemented",
                format!("{} is in the Microsoft.Cdn documents but not implemented by azure-test-server.", req.op.id),
            )),
        }
    }

    fn list(&self, req: &Request<'_>, knobs: &Knobs) -> Reply {
        let lower = req.path.to_ascii_lowercase();
        let items: Vec<Value> = if req.op.id == "Profiles_List" {
            let sub = format!("/subscriptions/{}/", req.vars.get("subscriptionId").cloned().unwrap_or_default())
                .to_ascii_lowercase();
            self.resources
                .iter()
                .filter(|(k, _)| k.starts_with(&sub) && arm_type(k) == "microsoft.cdn/profiles")
                .map(|(_, r)| r.value.clone())
                .collect()
        } else {
            let depth = lower.split('/').count() + 1;
            self.resources
                .iter()
                .filter(|(k, _)| k.starts_with(&format!("{lower}/")) && k.split('/').count() == depth)
                .map(|(_, r)| r.value.clone())
                .collect()
        };
        let size = knobs.with(|s| s.page_size);
        let start: usize = req.query.get("$skiptoken").and_then(|t| t.parse().ok()).unwrap_or(0);
        let end = (start + size).min(items.len());
        let mut body = json!({"value": items.get(start..end).map(<[Value]>::to_vec).unwrap_or_default()});
        if end < items.len() {
            body["nextLink"] = json!(format!("{}{}?api-version={API_VERSION}&$skiptoken={end}", req.base, req.path));
        }
        Reply::json(200, body)
    }

    fn put(&mut self, req: &Request<'_>, knobs: &Knobs) -> Result<Reply, ApiError> {
        let id = req.path.clone();
        if let Some(parent) = parent_of(&id)
            && self.get(&parent).is_none()
        {
            return Err(ApiError::new(
                404,
                "ParentResourceNotFound",
                format!(
                    "Can not perform requested operation on nested resource. Parent resource '{}' not found.",
                    name_of(&parent)
                ),
            ));
        }
        let existing = self.get(&id).map(|r| r.value.clone());
        if existing.as_ref().is_some_and(|e| e["properties"]["provisioningState"] == "Deleting") {
            return Err(ApiError::conflict(format!("The resource '{}' is being deleted.", name_of(&id))));
        }
        let mut body = req.body.clone().unwrap_or_else(|| json!({}));
        self.check_semantics(&id, &body, existing.as_ref())?;
        let value = self.build(&id, &mut body, existing.as_ref(), req)?;
        let created = existing.is_none();
        self.resources.insert(id.to_ascii_lowercase(), Stored { value });
        if !req.op.long_running {
            // Rule sets are created synchronously.
            let value = &mut self.resources.get_mut(&id.to_ascii_lowercase()).expect("inserted").value;
            value["properties"]["provisioningState"] = json!("Succeeded");
            return Ok(Reply::json(if created { 201 } else { 200 }, value.clone()));
        }
        let state = if created { "Creating" } else { "Updating" };
        self.start(&id, OpAction::Put, state, if created { 201 } else { 200 }, req, knobs)
    }

    fn patch(&mut self, req: &Request<'_>, knobs: &Knobs) -> Result<Reply, ApiError> {
        let id = req.path.clone();
        let mut current = self.get(&id).map(|r| r.value.clone()).ok_or_else(|| not_found(&id))?;
        let body = req.body.clone().unwrap_or_else(|| json!({}));
        if let Some(tags) = body.get("tags") {
            current["tags"] = tags.clone();
        }
        if let (Some(target), Some(patch)) = (
            current.get_mut("properties").and_then(Value::as_object_mut),
            body.get("properties").and_then(Value::as_object),
        ) {
            for (k, v) in patch {
                target.insert(k.clone(), v.clone());
            }
        }
        self.check_semantics(&id, &current, Some(&current))?;
        self.resources.insert(id.to_ascii_lowercase(), Stored { value: current });
        self.start(&id, OpAction::Put, "Updating", 202, req, knobs)
    }

    fn delete(&mut self, req: &Request<'_>, knobs: &Knobs) -> Result<Reply, ApiError> {
        let id = req.path.clone();
        let Some(current) = self.get(&id).map(|r| r.value.clone()) else {
            return Ok(Reply { status: 204, body: None, headers: Vec::new() });
        };
        if let Some(user) = self.user_of(&id) {
            return Err(ApiError::conflict(format!(
                "The resource '{}' cannot be deleted because it is referenced by '{user}'.",
                name_of(&id)
            )));
        }
        if current["properties"]["provisioningState"] == "Deleting" {
            return Ok(Reply { status: 202, body: None, headers: Vec::new() });
        }
        self.start(&id, OpAction::Delete, "Deleting", 202, req, knobs)
    }

    /// Records a long-running operation on `id` and answers with its polling headers.
    fn start(
        &mut self,
        id: &str,
        action: OpAction,
        state: &str,
        status: u16,
        req: &Request<'_>,
        knobs: &Knobs,
    ) -> Result<Reply, ApiError> {
        let lower = id.to_ascii_lowercase();
        let value = {
            let r = self.resources.get_mut(&lower).ok_or_else(|| not_found(id))?;
            if let Some(props) = r.value.get_mut("properties").and_then(Value::as_object_mut) {
                props.insert("provisioningState".into(), json!(state));
                if props.contains_key("deploymentStatus") {
                    props.insert("deploymentStatus".into(), json!("InProgress"));
                }
            }
            r.value.clone()
        };
        let (delay, retry) = knobs.with(|s| (s.operation_delay, s.poll_retry_after_secs));
        let failed = knobs.take_operation_failure();
        let op_id = uuid::Uuid::new_v4().to_string();
        self.ops.insert(
            op_id.clone(),
            Op {
                resource: id.to_string(),
                action,
                done_at: Instant::now() + delay,
                start: now_stamp(),
                failed,
                finished: false,
            },
        );
        let scope = id.split("/providers/").next().unwrap_or_default();
        let status_url =
            format!("{}{scope}/providers/Microsoft.Cdn/operationresults/{op_id}?api-version={API_VERSION}", req.base);
        let result_url = format!(
            "{}{scope}/providers/Microsoft.Cdn/operationresults/{op_id}/result?api-version={API_VERSION}",
            req.base
        );
        let headers = vec![
            ("azure-asyncoperation".to_string(), status_url),
            ("location".to_string(), result_url),
            ("retry-after".to_string(), retry.to_string()),
        ];
        let body = if status == 202 { None } else { Some(value) };
        let _ = Duration::ZERO;
        Ok(Reply { status, body, headers })
    }

    /// Who references `id` (outside its own subtree), if anyone.
    fn user_of(&self, id: &str) -> Option<String> {
        let lower = id.to_ascii_lowercase();
        let prefix = format!("{lower}/");
        for (k, r) in &self.resources {
            if *k == lower || k.starts_with(&prefix) {
                continue;
            }
            let mut refs = Vec::new();
            references(r.value.get("properties").unwrap_or(&Value::Null), &mut refs);
            if refs.iter().any(|x| x.eq_ignore_ascii_case(id)) {
                return Some(r.value["id"].as_str().unwrap_or(k).to_string());
            }
        }
        None
    }

    /// Referenced resources must exist (in the same profile, for Front Door ones); per-family
    /// rules the service enforces.
    fn check_semantics(&self, id: &str, body: &Value, existing: Option<&Value>) -> Result<(), ApiError> {
        let props = body.get("properties").cloned().unwrap_or(Value::Null);
        let mut refs = Vec::new();
        references(&props, &mut refs);
        let profile = profile_of(id).to_ascii_lowercase();
        for r in refs {
            let lower = r.to_ascii_lowercase();
            if lower.contains("/providers/microsoft.cdn/") {
                if !lower.starts_with(&profile) {
                    return Err(ApiError::bad_request(format!(
                        "The referenced resource '{r}' must belong to the profile '{}'.",
                        name_of(&profile)
                    )));
                }
                if self.get(&r).is_none() {
                    return Err(ApiError::bad_request(format!("The referenced resource '{r}' does not exist.")));
                }
            } else if lower.contains("/providers/microsoft.network/frontdoorwebapplicationfirewallpolicies/") {
                // WAF policies live in Microsoft.Network, which this server does not serve: the id's
                // shape is checked.
                if r.split('/').filter(|s| !s.is_empty()).count() != 8 {
                    return Err(ApiError::bad_request(format!("'{r}' is not a valid WAF policy resource id.")));
                }
            } else if arm_type(id).ends_with("securitypolicies") || arm_type(id).ends_with("routes") {
                return Err(ApiError::bad_request(format!("'{r}' is not a valid resource id for this property.")));
            }
        }
        let ty = arm_type(id);
        // Front Door's own rule (not in the documents): rule set and rule names are a letter
        // followed by letters and digits.
        if ty.ends_with("/rulesets") || ty.ends_with("/rules") {
            let n = name_of(id);
            if !n.starts_with(|c: char| c.is_ascii_alphabetic()) || !n.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(ApiError::bad_request(format!(
                    "The name '{n}' is invalid: rule set and rule names start with a letter and contain only letters and digits."
                )));
            }
        }
        if ty.ends_with("/profiles") {
            let sku = body["sku"]["name"].as_str().unwrap_or_default();
            if !matches!(sku, "Standard_AzureFrontDoor" | "Premium_AzureFrontDoor") {
                return Err(ApiError::bad_request(format!(
                    "azure-test-server serves Azure Front Door Standard/Premium profiles only; sku '{sku}' is not one."
                )));
            }
            if let Some(old) = existing.and_then(|e| e["sku"]["name"].as_str())
                && old != sku
            {
                return Err(ApiError::bad_request(
                    "The sku of a profile cannot be changed by PUT; use the upgrade operation.".to_string(),
                ));
            }
            if !body["location"].as_str().is_some_and(|l| l.eq_ignore_ascii_case("global")) {
                return Err(ApiError::new(
                    400,
                    "LocationNotAvailableForResourceType",
                    "Front Door profiles must be in location 'Global'.",
                ));
            }
        }
        if ty.ends_with("/routes") {
            self.check_route_patterns(id, &props)?;
        }
        Ok(())
    }

    /// Two routes of an endpoint may not serve the same pattern.
    fn check_route_patterns(&self, id: &str, props: &Value) -> Result<(), ApiError> {
        let endpoint = parent_of(id).unwrap_or_default().to_ascii_lowercase();
        let mine: Vec<&str> = props["patternsToMatch"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (k, r) in &self.resources {
            if parent_of(k).as_deref() != Some(endpoint.as_str()) || k.eq_ignore_ascii_case(id) {
                continue;
            }
            let theirs = r.value["properties"]["patternsToMatch"].as_array().cloned().unwrap_or_default();
            if let Some(p) = mine.iter().find(|p| theirs.iter().any(|t| t.as_str() == Some(**p))) {
                return Err(ApiError::bad_request(format!(
                    "The route pattern '{p}' is already used by route '{}' of this endpoint.",
                    name_of(k)
                )));
            }
        }
        Ok(())
    }

    /// The stored document for a PUT: the request, output-only fields and defaults.
    fn build(
        &self,
        id: &str,
        body: &mut Value,
        existing: Option<&Value>,
        req: &Request<'_>,
    ) -> Result<Value, ApiError> {
        let ty = arm_type(id);
        let sub = req.vars.get("subscriptionId").cloned().unwrap_or_default();
        let mut out = json!({"id": id, "name": name_of(id), "type": ty});
        let obj = body.as_object_mut().ok_or_else(|| ApiError::bad_request("The body must be an object."))?;
        let mut props = obj.remove("properties").and_then(|p| p.as_object().cloned()).unwrap_or_default();
        for ro in [
            "provisioningState",
            "deploymentStatus",
            "profileName",
            "endpointName",
            "originGroupName",
            "ruleSetName",
            "hostName",
        ] {
            if ro == "hostName" && !ty.ends_with("/afdendpoints") {
                continue;
            }
            props.remove(ro);
        }
        let profile_name = name_of(&profile_of(id)).to_string();
        match ty.rsplit('/').next().unwrap_or_default() {
            "profiles" => {
                out["location"] = json!("Global");
                out["sku"] = obj.get("sku").cloned().unwrap_or(Value::Null);
                out["kind"] = json!("frontdoor");
                let front_door_id = existing
                    .and_then(|e| e["properties"]["frontDoorId"].as_str().map(str::to_string))
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                props.insert("frontDoorId".into(), json!(front_door_id));
                props.insert("resourceState".into(), json!("Active"));
                default(&mut props, "originResponseTimeoutSeconds", json!(60));
            }
            "afdendpoints" => {
                out["location"] = obj.get("location").cloned().unwrap_or(json!("Global"));
                let host = format!(
                    "{}-{}.z01.azurefd.net",
                    name_of(id).to_ascii_lowercase(),
                    short_hash(&format!("{sub}{}", id.to_ascii_lowercase()), 16)
                );
                props.insert("hostName".into(), json!(host));
                default(&mut props, "enabledState", json!("Enabled"));
                default(&mut props, "autoGeneratedDomainNameLabelScope", json!("TenantReuse"));
                props.insert("profileName".into(), json!(profile_name));
            }
            "origingroups" => {
                default(&mut props, "sessionAffinityState", json!("Disabled"));
                default(&mut props, "trafficRestorationTimeToHealedOrNewEndpointsInMinutes", json!(10));
                props.insert("profileName".into(), json!(profile_name));
            }
            "origins" => {
                default(&mut props, "httpPort", json!(80));
                default(&mut props, "httpsPort", json!(443));
                default(&mut props, "priority", json!(1));
                default(&mut props, "weight", json!(1000));
                default(&mut props, "enabledState", json!("Enabled"));
                default(&mut props, "enforceCertificateNameCheck", json!(true));
                props.insert("originGroupName".into(), json!(name_of(&parent_of(id).unwrap_or_default())));
            }
            "routes" => {
                default(&mut props, "supportedProtocols", json!(["Http", "Https"]));
                default(&mut props, "patternsToMatch", json!(["/*"]));
                default(&mut props, "forwardingProtocol", json!("MatchRequest"));
                default(&mut props, "linkToDefaultDomain", json!("Disabled"));
                default(&mut props, "httpsRedirect", json!("Disabled"));
                default(&mut props, "enabledState", json!("Enabled"));
                default(&mut props, "customDomains", json!([]));
                default(&mut props, "ruleSets", json!([]));
                props.insert("endpointName".into(), json!(name_of(&parent_of(id).unwrap_or_default())));
            }
            "rulesets" => {
                props.insert("profileName".into(), json!(profile_name));
            }
            "rules" => {
                default(&mut props, "matchProcessingBehavior", json!("Continue"));
                default(&mut props, "conditions", json!([]));
                props.insert("ruleSetName".into(), json!(name_of(&parent_of(id).unwrap_or_default())));
            }
            "customdomains" => {
                props.insert("profileName".into(), json!(profile_name));
                let token = existing
                    .and_then(|e| {
                        e["properties"]["validationProperties"]["validationToken"].as_str().map(str::to_string)
                    })
                    .unwrap_or_else(|| short_hash(&uuid::Uuid::new_v4().to_string(), 32));
                let expires =
                    (chrono::Utc::now() + chrono::Duration::days(7)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                props.insert(
                    "validationProperties".into(),
                    json!({"validationToken": token, "expirationDate": expires}),
                );
                props.insert("domainValidationState".into(), json!("Pending"));
            }
            "securitypolicies" | "secrets" => {
                props.insert("profileName".into(), json!(profile_name));
            }
            _ => {}
        }
        props.insert("provisioningState".into(), json!("Succeeded"));
        if !ty.ends_with("/profiles") {
            props.insert("deploymentStatus".into(), json!("NotStarted"));
        }
        if let Some(tags) = obj.get("tags") {
            out["tags"] = tags.clone();
        }
        if let Some(identity) = obj.get("identity") {
            out["identity"] = identity.clone();
        }
        out["properties"] = Value::Object(props);
        Ok(out)
    }
}

fn not_found(id: &str) -> ApiError {
    let ty = arm_type(id);
    ApiError::new(404, "ResourceNotFound", format!("The Resource '{}/{}' was not found.", ty, name_of(id)))
}
