//! `route53_health_check`: an HTTP(S) health check of one endpoint, which failover and
//! weighted records reference by id.
//!
//! Health checks are created with a CallerReference derived from project, env, address and
//! the document (`strata-<digest>`): a create retried after a crash finds the check it made
//! by listing, and a replaced check (type or interval changed) gets a fresh reference, since
//! Route 53 refuses to reuse the reference of a deleted check. Ownership: a check recorded in
//! state, or one whose CallerReference is the one strata derives for the address, is ours;
//! the ownership marks are also written as tags for people reading the console.

use aws_sdk_route53::types as t;
use serde_json::{Value, json};
use strata_sdk::{Address, Applied, DeleteRequest, Observed, Ownership, ReadRequest, ResourceChange};

use crate::attrs::{self, HealthCheckAttrs};
use crate::error::{AwsError, Result};
use crate::tags::stable_digest;
use crate::{AwsProvider, KIND_HEALTH_CHECK};

fn sdk<E, R>(op: &'static str) -> impl FnOnce(aws_sdk_route53::error::SdkError<E, R>) -> AwsError
where
    E: aws_sdk_route53::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: crate::error::RawResponse + std::fmt::Debug,
{
    move |e| AwsError::from_sdk(op, e)
}

fn built<T>(r: std::result::Result<T, aws_sdk_route53::error::BuildError>) -> Result<T> {
    r.map_err(|e| AwsError::Build { operation: "build request", message: e.to_string() })
}

fn parse(value: &Value) -> Result<HealthCheckAttrs> {
    let a: HealthCheckAttrs = attrs::parse(value)
        .map_err(|(p, m)| AwsError::invalid_attrs(KIND_HEALTH_CHECK, format!("{}: {m}", p.join("."))))?;
    if let Some((p, m)) = a.problems().into_iter().next() {
        return Err(AwsError::invalid_attrs(KIND_HEALTH_CHECK, format!("{}: {m}", p.join("."))));
    }
    Ok(a)
}

/// Maps a remote configuration back into attrs; `port` only when the desired document sets it
/// (otherwise the scheme's default is implied).
fn observed_attrs(c: &t::HealthCheckConfig, desired: Option<&HealthCheckAttrs>) -> HealthCheckAttrs {
    let check_type = c.r#type.as_str().to_string();
    let mut out = HealthCheckAttrs {
        fqdn: c.fully_qualified_domain_name.clone().unwrap_or_default().trim_end_matches('.').to_ascii_lowercase(),
        check_type,
        resource_path: c.resource_path.clone().unwrap_or_else(|| "/".into()),
        port: c.port,
        request_interval: c.request_interval.unwrap_or(30),
        failure_threshold: c.failure_threshold.unwrap_or(3),
        enable_sni: c.enable_sni.unwrap_or(false),
    };
    if let Some(d) = desired {
        if d.port.is_none() && out.port == Some(d.effective_port()) {
            out.port = None;
        }
        if d.fqdn.trim_end_matches('.').eq_ignore_ascii_case(&out.fqdn) {
            out.fqdn = d.fqdn.clone();
        }
    }
    out
}

impl AwsProvider {
    /// `strata-<digest of project, env, address and document>`: at most 64 characters.
    fn health_check_reference(&self, address: &Address, a: &HealthCheckAttrs) -> String {
        let m = self.marks();
        let doc = serde_json::to_string(&attrs::to_value(a)).unwrap_or_default();
        format!("strata-{}", stable_digest(&format!("{}\0{}\0{address}\0{doc}", m.project, m.env)))
    }

    /// Every health check of the account (paged ListHealthChecks).
    async fn all_health_checks(&self) -> Result<Vec<t::HealthCheck>> {
        let r53 = &self.clients().await.r53;
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let resp =
                r53.list_health_checks().set_marker(marker.take()).send().await.map_err(sdk("ListHealthChecks"))?;
            out.extend(resp.health_checks);
            match (resp.is_truncated, resp.next_marker) {
                (true, Some(m)) => marker = Some(m),
                _ => break,
            }
        }
        Ok(out)
    }

    fn observed_check(hc: &t::HealthCheck, desired: Option<&HealthCheckAttrs>) -> Observed {
        let a = hc.health_check_config.as_ref().map(|c| observed_attrs(c, desired));
        Observed {
            remote_id: hc.id.clone(),
            attrs: a.map(|a| attrs::to_value(&a)).unwrap_or(Value::Null),
            outputs: json!({"id": hc.id}),
            ownership: Ownership::Ours,
        }
    }

    /// Batched: one paged list for all requests.
    pub(crate) async fn read_health_checks(&self, reqs: &[&ReadRequest<'_>]) -> Vec<Result<Option<Observed>>> {
        let all = match self.all_health_checks().await {
            Ok(all) => all,
            Err(e) => return reqs.iter().map(|_| Err(e.clone())).collect(),
        };
        reqs.iter()
            .map(|r| {
                let desired: Option<HealthCheckAttrs> = r.attrs.and_then(|a| attrs::parse(a).ok());
                let found = match (&r.remote_id, &desired) {
                    (Some(id), _) => all.iter().find(|hc| &hc.id == id),
                    (None, Some(d)) => {
                        let reference = self.health_check_reference(&r.address, d);
                        all.iter().find(|hc| hc.caller_reference == reference)
                    }
                    (None, None) => None,
                };
                Ok(found.map(|hc| Self::observed_check(hc, desired.as_ref())))
            })
            .collect()
    }

    pub(crate) async fn create_health_check(&self, change: &ResourceChange) -> Result<Applied> {
        let desired = parse(&change.attrs)?;
        let reference = self.health_check_reference(&change.address, &desired);
        // Route 53 answers a repeated reference with the same check, but not every emulator
        // does: look first, so a retried create never makes a second check.
        let existing = self.all_health_checks().await?.into_iter().find(|hc| hc.caller_reference == reference);
        let id = match existing {
            Some(hc) => hc.id,
            None => {
                let config = built(
                    t::HealthCheckConfig::builder()
                        .r#type(t::HealthCheckType::from(desired.check_type.as_str()))
                        .fully_qualified_domain_name(&desired.fqdn)
                        .resource_path(&desired.resource_path)
                        .port(desired.effective_port())
                        .request_interval(desired.request_interval)
                        .failure_threshold(desired.failure_threshold)
                        .enable_sni(desired.enable_sni)
                        .build(),
                )?;
                let out = self
                    .clients()
                    .await
                    .r53
                    .create_health_check()
                    .caller_reference(&reference)
                    .health_check_config(config)
                    .send()
                    .await
                    .map_err(sdk("CreateHealthCheck"))?;
                out.health_check.map(|hc| hc.id).unwrap_or_default()
            }
        };
        self.tag_health_check(&id, &change.address).await?;
        Ok(Applied { remote_id: id.clone(), attrs: attrs::to_value(&desired), outputs: json!({"id": id}) })
    }

    async fn tag_health_check(&self, id: &str, address: &Address) -> Result<()> {
        let mut tags = vec![t::Tag::builder().key("Name").value(address.to_string()).build()];
        for (k, v) in self.marks().tags_for(address) {
            tags.push(t::Tag::builder().key(k).value(v).build());
        }
        self.clients()
            .await
            .r53
            .change_tags_for_resource()
            .resource_type(t::TagResourceType::Healthcheck)
            .resource_id(id)
            .set_add_tags(Some(tags))
            .send()
            .await
            .map_err(sdk("ChangeTagsForResource"))?;
        Ok(())
    }

    /// UpdateHealthCheck with the version just read (Route 53's optimistic concurrency).
    pub(crate) async fn update_health_check(&self, change: &ResourceChange) -> Result<Applied> {
        let desired = parse(&change.attrs)?;
        let id = change.prior.as_ref().map(|p| p.remote_id.clone()).unwrap_or_default();
        let r53 = &self.clients().await.r53;
        let current = r53
            .get_health_check()
            .health_check_id(&id)
            .send()
            .await
            .map_err(sdk("GetHealthCheck"))?
            .health_check
            .ok_or_else(|| AwsError::NotFound(format!("health check {id}")))?;
        r53.update_health_check()
            .health_check_id(&id)
            .health_check_version(current.health_check_version)
            .fully_qualified_domain_name(&desired.fqdn)
            .resource_path(&desired.resource_path)
            .port(desired.effective_port())
            .failure_threshold(desired.failure_threshold)
            .enable_sni(desired.enable_sni)
            .send()
            .await
            .map_err(sdk("UpdateHealthCheck"))?;
        Ok(Applied { remote_id: id.clone(), attrs: attrs::to_value(&desired), outputs: json!({"id": id}) })
    }

    /// DeleteHealthCheck; one already gone is deleted. Route 53 refuses while a record still
    /// uses it (`HealthCheckInUse`, a conflict): the records depend on it and go first.
    pub(crate) async fn delete_health_check(&self, req: &DeleteRequest) -> Result<()> {
        match self
            .clients()
            .await
            .r53
            .delete_health_check()
            .health_check_id(&req.remote_id)
            .send()
            .await
            .map_err(sdk("DeleteHealthCheck"))
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_takes_the_implied_port_and_desired_spelling() {
        let d: HealthCheckAttrs =
            attrs::parse(&json!({"fqdn": "D1.cloudfront.net", "resource_path": "/healthz"})).unwrap();
        let c = t::HealthCheckConfig::builder()
            .r#type(t::HealthCheckType::Https)
            .fully_qualified_domain_name("d1.cloudfront.net.")
            .resource_path("/healthz")
            .port(443)
            .request_interval(30)
            .failure_threshold(3)
            .enable_sni(true)
            .build()
            .unwrap();
        assert_eq!(observed_attrs(&c, Some(&d)), d);
    }
}
