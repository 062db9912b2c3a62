//! `cloudfront_distribution`: create (idempotent by CallerReference), batched read, update
//! with ETag and PreconditionFailed retry, invalidation, wait for `Deployed`, disable + delete.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aws_sdk_cloudfront::types as t;
use futures::StreamExt;
use serde_json::{Value, json};
use strata_sdk::{Address, Applied, DeleteRequest, Observed, Ownership, ReadRequest, ResourceChange};

use super::PRECONDITION_RETRIES;
use super::mapping::{align, attrs_from_config, build_config, built, config_matches};
use crate::attrs::{self, CLOUDFRONT_HOSTED_ZONE_ID, DistributionAttrs};
use crate::error::{AwsError, Result};
use crate::tags::{derived_caller_reference, limit_reference};
use crate::{AwsProvider, KIND_DISTRIBUTION};

/// How many per-distribution calls a read runs at once.
const READ_CONCURRENCY: usize = 4;
/// The longest pause between two polls while waiting for `Deployed`.
const MAX_POLL: Duration = Duration::from_secs(60);

fn sdk<E, R>(op: &'static str) -> impl FnOnce(aws_sdk_cloudfront::error::SdkError<E, R>) -> AwsError
where
    E: aws_sdk_cloudfront::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: crate::error::RawResponse + std::fmt::Debug,
{
    move |e| AwsError::from_sdk(op, e)
}

/// The outputs of a distribution.
fn outputs(id: &str, arn: &str, domain_name: &str, status: &str) -> Value {
    json!({
        "id": id,
        "arn": arn,
        "domain_name": domain_name,
        "status": status,
        "hosted_zone_id": CLOUDFRONT_HOSTED_ZONE_ID,
    })
}

fn dist_outputs(d: &t::Distribution) -> Value {
    outputs(&d.id, &d.arn, &d.domain_name, &d.status)
}

pub(crate) fn parse_distribution(value: &Value) -> Result<DistributionAttrs> {
    let a: DistributionAttrs = attrs::parse(value)
        .map_err(|(path, msg)| AwsError::invalid_attrs(KIND_DISTRIBUTION, format!("{}: {msg}", path.join("."))))?;
    if let Some((path, msg)) = a.problems().into_iter().next() {
        return Err(AwsError::invalid_attrs(KIND_DISTRIBUTION, format!("{}: {msg}", path.join("."))));
    }
    Ok(a)
}

impl AwsProvider {
    async fn cf(&self) -> &aws_sdk_cloudfront::Client {
        &self.clients().await.cf
    }

    /// All distributions of the account (ListDistributions, every page).
    pub(crate) async fn list_distributions(&self) -> Result<Vec<t::DistributionSummary>> {
        let cf = self.cf().await;
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let resp = cf
                .list_distributions()
                .set_marker(marker.take())
                .max_items(100)
                .send()
                .await
                .map_err(sdk("ListDistributions"))?;
            let Some(list) = resp.distribution_list else {
                break;
            };
            out.extend(list.items.unwrap_or_default());
            match (list.is_truncated, list.next_marker) {
                (true, Some(next)) if !next.is_empty() => marker = Some(next),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn distribution_tags(&self, arn: &str) -> Result<BTreeMap<String, String>> {
        let resp =
            self.cf().await.list_tags_for_resource().resource(arn).send().await.map_err(sdk("ListTagsForResource"))?;
        Ok(resp
            .tags
            .and_then(|t| t.items)
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.key, t.value.unwrap_or_default()))
            .collect())
    }

    async fn distribution_config(&self, id: &str) -> Result<(t::DistributionConfig, String)> {
        let resp =
            self.cf().await.get_distribution_config().id(id).send().await.map_err(sdk("GetDistributionConfig"))?;
        let etag = resp.e_tag.unwrap_or_default();
        let cfg = resp
            .distribution_config
            .ok_or_else(|| AwsError::NotFound(format!("distribution {id} returned no configuration")))?;
        Ok((cfg, etag))
    }

    async fn get_distribution(&self, id: &str) -> Result<(t::Distribution, String)> {
        let resp = self.cf().await.get_distribution().id(id).send().await.map_err(sdk("GetDistribution"))?;
        let etag = resp.e_tag.unwrap_or_default();
        let d = resp.distribution.ok_or_else(|| AwsError::NotFound(format!("distribution {id} not returned")))?;
        Ok((d, etag))
    }

    // -----------------------------------------------------------------------------------------
    // read
    // -----------------------------------------------------------------------------------------

    /// Batched read: one paged ListDistributions for all requests, then tags and config only
    /// for the distributions that are ours.
    pub(crate) async fn read_distributions(&self, reqs: &[&ReadRequest<'_>]) -> Vec<Result<Option<Observed>>> {
        let summaries = match self.list_distributions().await {
            Ok(s) => s,
            Err(e) => return reqs.iter().map(|_| Err(e.clone())).collect(),
        };
        let reads: Vec<_> = reqs.iter().map(|r| self.read_one_distribution(r, &summaries)).collect();
        futures::stream::iter(reads).buffered(READ_CONCURRENCY).collect().await
    }

    async fn read_one_distribution(
        &self,
        req: &ReadRequest<'_>,
        summaries: &[t::DistributionSummary],
    ) -> Result<Option<Observed>> {
        let desired = req.attrs.as_ref().and_then(|a| attrs::parse::<DistributionAttrs>(a).ok());
        let (summary, tags) = match &req.remote_id {
            Some(id) => match summaries.iter().find(|s| &s.id == id) {
                Some(s) => {
                    let tags = match self.distribution_tags(&s.arn).await {
                        Ok(t) => t,
                        Err(e) if e.is_not_found() => return Ok(None),
                        Err(e) => return Err(e),
                    };
                    (s, tags)
                }
                None => return Ok(None),
            },
            None => {
                let Some(desired) = &desired else {
                    return Ok(None);
                };
                match self.find_tagged(&req.address, desired, summaries).await? {
                    Some(found) => found,
                    None => return Ok(None),
                }
            }
        };
        let (cfg, _etag) = match self.distribution_config(&summary.id).await {
            Ok(c) => c,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut observed = attrs_from_config(&cfg, &tags);
        if let Some(d) = &desired {
            align(&mut observed, d);
        }
        Ok(Some(Observed {
            remote_id: summary.id.clone(),
            attrs: attrs::to_value(&observed),
            outputs: outputs(&summary.id, &summary.arn, &summary.domain_name, &summary.status),
            ownership: self.marks().ownership(&req.address, &tags),
        }))
    }

    /// Finds a distribution carrying our marks for `address` when state has no id (a crash
    /// after create). Only distributions that look like the desired one (shared alias or the
    /// same origin domains) are asked for their tags.
    async fn find_tagged<'s>(
        &self,
        address: &Address,
        desired: &DistributionAttrs,
        summaries: &'s [t::DistributionSummary],
    ) -> Result<Option<(&'s t::DistributionSummary, BTreeMap<String, String>)>> {
        for s in candidates(desired, summaries) {
            let tags = match self.distribution_tags(&s.arn).await {
                Ok(t) => t,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e),
            };
            if self.marks().ownership(address, &tags) == Ownership::Ours {
                return Ok(Some((s, tags)));
            }
        }
        Ok(None)
    }

    // -----------------------------------------------------------------------------------------
    // create
    // -----------------------------------------------------------------------------------------

    pub(crate) async fn create_distribution(&self, change: &ResourceChange) -> Result<Applied> {
        let mut desired = parse_distribution(&change.attrs)?;
        let caller_reference = limit_reference(
            &desired
                .caller_reference
                .clone()
                .unwrap_or_else(|| derived_caller_reference(self.marks(), &change.address)),
        );
        desired.caller_reference = Some(caller_reference.clone());
        let config = build_config(&desired, &caller_reference, None)?;
        let mut tags = desired.tags.clone();
        tags.extend(self.marks().tags_for(&change.address));
        let with_tags =
            t::DistributionConfigWithTags::builder().distribution_config(config).tags(tag_set(&tags)?).build();
        let created = self
            .cf()
            .await
            .create_distribution_with_tags()
            .distribution_config_with_tags(with_tags)
            .send()
            .await
            .map_err(sdk("CreateDistributionWithTags"));
        match created {
            Ok(out) => {
                let d = out.distribution.ok_or_else(|| AwsError::Api {
                    operation: "CreateDistributionWithTags",
                    code: None,
                    message: "the response held no distribution".into(),
                    status: None,
                    retry_after: None,
                    request_id: None,
                })?;
                Ok(Applied { remote_id: d.id.clone(), attrs: attrs::to_value(&desired), outputs: dist_outputs(&d) })
            }
            Err(e) if e.is_code("DistributionAlreadyExists") => {
                // A previous run created it and crashed before recording it: adopt it.
                let id = match id_from_already_exists(&e) {
                    Some(id) => id,
                    None => self
                        .find_by_caller_reference(&caller_reference, &desired)
                        .await?
                        .ok_or_else(|| {
                            AwsError::Conflict(format!(
                                "CloudFront reports a distribution with caller reference `{caller_reference}`, but none could be found: {e}"
                            ))
                        })?,
                };
                let (d, _) = self.get_distribution(&id).await?;
                let tags = self.distribution_tags(&d.arn).await?;
                if let Ownership::Foreign { detail } = self.marks().ownership(&change.address, &tags) {
                    return Err(AwsError::Conflict(format!(
                        "distribution {id} already uses caller reference `{caller_reference}` but is not marked as {}: {detail}",
                        change.address
                    )));
                }
                self.apply_update(&id, &desired, &change.address, false).await
            }
            Err(e) => Err(e),
        }
    }

    async fn find_by_caller_reference(
        &self,
        caller_reference: &str,
        desired: &DistributionAttrs,
    ) -> Result<Option<String>> {
        let all = self.list_distributions().await?;
        let likely: Vec<&t::DistributionSummary> = candidates(desired, &all);
        let rest = all.iter().filter(|s| !likely.iter().any(|l| l.id == s.id));
        for s in likely.iter().copied().chain(rest) {
            match self.distribution_config(&s.id).await {
                Ok((cfg, _)) if cfg.caller_reference == caller_reference => {
                    return Ok(Some(s.id.clone()));
                }
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    // -----------------------------------------------------------------------------------------
    // update
    // -----------------------------------------------------------------------------------------

    pub(crate) async fn update_distribution(&self, change: &ResourceChange) -> Result<Applied> {
        let desired = parse_distribution(&change.attrs)?;
        let id = change.prior.as_ref().map(|p| p.remote_id.clone()).ok_or_else(|| AwsError::InvalidRemoteId {
            kind: KIND_DISTRIBUTION.into(),
            remote_id: String::new(),
            expected: "the distribution id recorded in state (update without prior state)",
        })?;
        self.apply_update(&id, &desired, &change.address, true).await
    }

    /// GetDistributionConfig -> UpdateDistribution(If-Match), retried on PreconditionFailed;
    /// then tags, then the invalidation when the config changed.
    async fn apply_update(
        &self,
        id: &str,
        desired: &DistributionAttrs,
        address: &Address,
        invalidate: bool,
    ) -> Result<Applied> {
        let cf = self.cf().await;
        let mut attempt = 0;
        let (caller_reference, updated) = loop {
            let (current, etag) = self.distribution_config(id).await?;
            let caller_reference = current.caller_reference.clone();
            if config_matches(desired, &current) {
                break (caller_reference, None);
            }
            let next = build_config(desired, &caller_reference, Some(current))?;
            match cf
                .update_distribution()
                .id(id)
                .if_match(etag)
                .distribution_config(next)
                .send()
                .await
                .map_err(sdk("UpdateDistribution"))
            {
                Ok(out) => break (caller_reference, Some(out)),
                Err(e) if e.is_code("PreconditionFailed") && attempt < PRECONDITION_RETRIES => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        };
        let config_changed = updated.is_some();
        let (dist, new_etag) = match updated.and_then(|out| out.distribution.map(|d| (d, out.e_tag))) {
            Some((d, etag)) => (d, etag.unwrap_or_default()),
            None => self.get_distribution(id).await?,
        };
        let mut tags = desired.tags.clone();
        tags.extend(self.marks().tags_for(address));
        self.sync_tags(&dist.arn, &tags).await?;
        if config_changed && invalidate && !desired.invalidate_on_change.is_empty() {
            self.invalidate(id, &desired.invalidate_on_change, &new_etag).await?;
        }
        let mut applied_attrs = desired.clone();
        applied_attrs.caller_reference = Some(caller_reference);
        Ok(Applied { remote_id: id.to_string(), attrs: attrs::to_value(&applied_attrs), outputs: dist_outputs(&dist) })
    }

    /// Makes the distribution's tags exactly `want` (user tags plus ownership marks).
    async fn sync_tags(&self, arn: &str, want: &BTreeMap<String, String>) -> Result<()> {
        let have = self.distribution_tags(arn).await?;
        let cf = self.cf().await;
        let to_set: BTreeMap<String, String> =
            want.iter().filter(|(k, v)| have.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect();
        let to_remove: Vec<String> = have.keys().filter(|k| !want.contains_key(*k)).cloned().collect();
        if !to_set.is_empty() {
            cf.tag_resource().resource(arn).tags(tag_set(&to_set)?).send().await.map_err(sdk("TagResource"))?;
        }
        if !to_remove.is_empty() {
            cf.untag_resource()
                .resource(arn)
                .tag_keys(t::TagKeys::builder().set_items(Some(to_remove)).build())
                .send()
                .await
                .map_err(sdk("UntagResource"))?;
        }
        Ok(())
    }

    /// CreateInvalidation with a caller reference tied to the config version, so a retried
    /// apply does not invalidate twice for the same change.
    async fn invalidate(&self, id: &str, paths: &[String], etag: &str) -> Result<()> {
        let batch = built(
            t::InvalidationBatch::builder()
                .caller_reference(limit_reference(&format!("strata:{id}:{etag}")))
                .paths(built(
                    t::Paths::builder()
                        .quantity(i32::try_from(paths.len()).unwrap_or(i32::MAX))
                        .set_items(Some(paths.to_vec()))
                        .build(),
                )?)
                .build(),
        )?;
        self.cf()
            .await
            .create_invalidation()
            .distribution_id(id)
            .invalidation_batch(batch)
            .send()
            .await
            .map_err(sdk("CreateInvalidation"))?;
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // wait
    // -----------------------------------------------------------------------------------------

    /// Polls GetDistribution (interval doubling up to 60 s) until `Deployed`; returns the
    /// outputs then.
    pub(crate) async fn wait_deployed(&self, id: &str) -> Result<Value> {
        let config = self.config();
        let timeout = config.wait_timeout();
        let start = Instant::now();
        let mut delay = config.poll_interval();
        loop {
            let (d, _) = self.get_distribution(id).await?;
            if d.status == "Deployed" {
                return Ok(dist_outputs(&d));
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(AwsError::WaitTimeout { id: id.to_string(), status: d.status, waited });
            }
            tokio::time::sleep(delay.min(timeout - waited)).await;
            delay = (delay * 2).clamp(Duration::from_millis(1), MAX_POLL);
        }
    }

    // -----------------------------------------------------------------------------------------
    // delete
    // -----------------------------------------------------------------------------------------

    /// Disable (UpdateDistribution Enabled=false), wait for `Deployed`, DeleteDistribution with
    /// the fresh ETag. A distribution that is already gone counts as deleted.
    pub(crate) async fn delete_distribution(&self, req: &DeleteRequest) -> Result<()> {
        let id = req.remote_id.as_str();
        let cf = self.cf().await;
        let mut attempt = 0;
        loop {
            let (mut cfg, etag) = match self.distribution_config(id).await {
                Ok(c) => c,
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e) => return Err(e),
            };
            if !cfg.enabled {
                break;
            }
            cfg.enabled = false;
            match cf
                .update_distribution()
                .id(id)
                .if_match(etag)
                .distribution_config(cfg)
                .send()
                .await
                .map_err(sdk("UpdateDistribution"))
            {
                Ok(_) => break,
                Err(e) if e.is_code("PreconditionFailed") && attempt < PRECONDITION_RETRIES => {
                    attempt += 1;
                }
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        match self.wait_deployed(id).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut attempt = 0;
        loop {
            let etag = match self.get_distribution(id).await {
                Ok((_, etag)) => etag,
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e) => return Err(e),
            };
            match cf.delete_distribution().id(id).if_match(etag).send().await.map_err(sdk("DeleteDistribution")) {
                Ok(_) => return Ok(()),
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e) if e.is_code("PreconditionFailed") && attempt < PRECONDITION_RETRIES => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Summaries that look like `desired`: a shared alias, or exactly the same origin domains.
fn candidates<'s>(
    desired: &DistributionAttrs,
    summaries: &'s [t::DistributionSummary],
) -> Vec<&'s t::DistributionSummary> {
    let want_aliases: BTreeSet<&str> = desired.aliases.iter().map(String::as_str).collect();
    let want_origins: BTreeSet<&str> = desired.origins.iter().map(|o| o.domain_name.as_str()).collect();
    summaries
        .iter()
        .filter(|s| {
            let aliases: BTreeSet<&str> = s
                .aliases
                .as_ref()
                .and_then(|a| a.items.as_ref())
                .map(|i| i.iter().map(String::as_str).collect())
                .unwrap_or_default();
            let origins: BTreeSet<&str> = s
                .origins
                .as_ref()
                .map(|o| o.items.iter().map(|o| o.domain_name.as_str()).collect())
                .unwrap_or_default();
            !aliases.is_disjoint(&want_aliases) || (!origins.is_empty() && origins == want_origins)
        })
        .collect()
}

/// `DistributionAlreadyExists` messages end with `Already exists: <id>`; take it when present.
fn id_from_already_exists(e: &AwsError) -> Option<String> {
    let AwsError::Api { message, .. } = e else {
        return None;
    };
    let (_, rest) = message.rsplit_once("Already exists:")?;
    let id = rest.trim().trim_end_matches('.').split_whitespace().next()?;
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric())).then(|| id.to_string())
}

fn tag_set(tags: &BTreeMap<String, String>) -> Result<t::Tags> {
    Ok(t::Tags::builder()
        .set_items(Some(
            tags.iter().map(|(k, v)| built(t::Tag::builder().key(k).value(v).build())).collect::<Result<Vec<_>>>()?,
        ))
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_id_from_already_exists() {
        let e = AwsError::Api {
            operation: "CreateDistributionWithTags",
            code: Some("DistributionAlreadyExists".into()),
            message: "The caller reference that you are using to create a distribution is associated with another distribution. Already exists: E1ABCDEF234".into(),
            status: Some(409),
            retry_after: None,
            request_id: None,
        };
        assert_eq!(id_from_already_exists(&e).as_deref(), Some("E1ABCDEF234"));
    }
}
