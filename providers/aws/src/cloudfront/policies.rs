//! `cloudfront_cache_policy` and `cloudfront_origin_request_policy`.
//!
//! Policies cannot carry tags, so a policy's identity is its id (recorded in state) or, before
//! that, its account-unique name. A policy found by name without a recorded id counts as ours
//! only when its configuration is exactly the desired one (what a crashed create leaves);
//! otherwise it is reported as foreign and never adopted.

use aws_sdk_cloudfront::types as t;
use serde_json::{Value, json};
use strata_sdk::{Applied, DeleteRequest, Observed, Ownership, ReadRequest, ResourceChange};

use super::PRECONDITION_RETRIES;
use super::mapping::{align_set, built};
use crate::attrs::{self, CachePolicyAttrs, OriginRequestPolicyAttrs, SelectionAttrs};
use crate::error::{AwsError, Result};
use crate::{AwsProvider, KIND_CACHE_POLICY, KIND_ORIGIN_REQUEST_POLICY};

fn sdk<E, R>(op: &'static str) -> impl FnOnce(aws_sdk_cloudfront::error::SdkError<E, R>) -> AwsError
where
    E: aws_sdk_cloudfront::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: crate::error::RawResponse + std::fmt::Debug,
{
    move |e| AwsError::from_sdk(op, e)
}

fn policy_outputs(id: &str, name: &str) -> Value {
    json!({ "id": id, "name": name })
}

fn parse_checked<T>(kind: &str, value: &Value, problems: impl Fn(&T) -> Vec<attrs::Problem>) -> Result<T>
where
    T: serde::de::DeserializeOwned,
{
    let a: T = attrs::parse(value).map_err(|(p, m)| AwsError::invalid_attrs(kind, format!("{}: {m}", p.join("."))))?;
    if let Some((p, m)) = problems(&a).into_iter().next() {
        return Err(AwsError::invalid_attrs(kind, format!("{}: {m}", p.join("."))));
    }
    Ok(a)
}

fn prior_id(kind: &str, change: &ResourceChange) -> Result<String> {
    change.prior.as_ref().map(|p| p.remote_id.clone()).ok_or_else(|| AwsError::InvalidRemoteId {
        kind: kind.to_string(),
        remote_id: String::new(),
        expected: "the policy id recorded in state (update without prior state)",
    })
}

fn names(items: &[String]) -> Option<Vec<String>> {
    if items.is_empty() { None } else { Some(items.to_vec()) }
}

fn count(items: &[String]) -> i32 {
    i32::try_from(items.len()).unwrap_or(i32::MAX)
}

fn selection(behavior: &str, items: Option<Vec<String>>) -> SelectionAttrs {
    SelectionAttrs { behavior: behavior.to_string(), items: items.unwrap_or_default() }
}

fn align_selection(o: &mut SelectionAttrs, d: &SelectionAttrs) {
    align_set(&mut o.items, &d.items);
}

// ---------------------------------------------------------------------------------------------
// Cache policies: mapping
// ---------------------------------------------------------------------------------------------

pub(crate) fn cache_policy_config(a: &CachePolicyAttrs) -> Result<t::CachePolicyConfig> {
    let headers = built(
        t::CachePolicyHeadersConfig::builder()
            .header_behavior(t::CachePolicyHeaderBehavior::from(a.headers.behavior.as_str()))
            .set_headers(if a.headers.items.is_empty() {
                None
            } else {
                Some(built(
                    t::Headers::builder().quantity(count(&a.headers.items)).set_items(names(&a.headers.items)).build(),
                )?)
            })
            .build(),
    )?;
    let cookies = built(
        t::CachePolicyCookiesConfig::builder()
            .cookie_behavior(t::CachePolicyCookieBehavior::from(a.cookies.behavior.as_str()))
            .set_cookies(if a.cookies.items.is_empty() {
                None
            } else {
                Some(built(
                    t::CookieNames::builder()
                        .quantity(count(&a.cookies.items))
                        .set_items(names(&a.cookies.items))
                        .build(),
                )?)
            })
            .build(),
    )?;
    let query_strings = built(
        t::CachePolicyQueryStringsConfig::builder()
            .query_string_behavior(t::CachePolicyQueryStringBehavior::from(a.query_strings.behavior.as_str()))
            .set_query_strings(if a.query_strings.items.is_empty() {
                None
            } else {
                Some(built(
                    t::QueryStringNames::builder()
                        .quantity(count(&a.query_strings.items))
                        .set_items(names(&a.query_strings.items))
                        .build(),
                )?)
            })
            .build(),
    )?;
    let params = built(
        t::ParametersInCacheKeyAndForwardedToOrigin::builder()
            .enable_accept_encoding_gzip(a.enable_accept_encoding_gzip)
            .enable_accept_encoding_brotli(a.enable_accept_encoding_brotli)
            .headers_config(headers)
            .cookies_config(cookies)
            .query_strings_config(query_strings)
            .build(),
    )?;
    built(
        t::CachePolicyConfig::builder()
            .name(&a.name)
            .comment(&a.comment)
            .min_ttl(a.min_ttl)
            .default_ttl(a.default_ttl)
            .max_ttl(a.max_ttl)
            .parameters_in_cache_key_and_forwarded_to_origin(params)
            .build(),
    )
}

pub(crate) fn cache_policy_attrs(c: &t::CachePolicyConfig) -> CachePolicyAttrs {
    let p = c.parameters_in_cache_key_and_forwarded_to_origin.as_ref();
    let headers = p
        .and_then(|p| p.headers_config.as_ref())
        .map(|h| selection(h.header_behavior.as_str(), h.headers.as_ref().and_then(|x| x.items.clone())))
        .unwrap_or_default();
    let cookies = p
        .and_then(|p| p.cookies_config.as_ref())
        .map(|h| selection(h.cookie_behavior.as_str(), h.cookies.as_ref().and_then(|x| x.items.clone())))
        .unwrap_or_default();
    let query_strings = p
        .and_then(|p| p.query_strings_config.as_ref())
        .map(|h| selection(h.query_string_behavior.as_str(), h.query_strings.as_ref().and_then(|x| x.items.clone())))
        .unwrap_or_default();
    CachePolicyAttrs {
        name: c.name.clone(),
        comment: c.comment.clone().unwrap_or_default(),
        min_ttl: c.min_ttl,
        default_ttl: c.default_ttl.unwrap_or(86_400),
        max_ttl: c.max_ttl.unwrap_or(31_536_000),
        headers,
        cookies,
        query_strings,
        enable_accept_encoding_gzip: p.is_some_and(|p| p.enable_accept_encoding_gzip),
        enable_accept_encoding_brotli: p.and_then(|p| p.enable_accept_encoding_brotli).unwrap_or(false),
    }
}

fn align_cache_policy(o: &mut CachePolicyAttrs, d: &CachePolicyAttrs) {
    align_selection(&mut o.headers, &d.headers);
    align_selection(&mut o.cookies, &d.cookies);
    align_selection(&mut o.query_strings, &d.query_strings);
}

// ---------------------------------------------------------------------------------------------
// Origin request policies: mapping
// ---------------------------------------------------------------------------------------------

pub(crate) fn origin_request_policy_config(a: &OriginRequestPolicyAttrs) -> Result<t::OriginRequestPolicyConfig> {
    let headers = built(
        t::OriginRequestPolicyHeadersConfig::builder()
            .header_behavior(t::OriginRequestPolicyHeaderBehavior::from(a.headers.behavior.as_str()))
            .set_headers(if a.headers.items.is_empty() {
                None
            } else {
                Some(built(
                    t::Headers::builder().quantity(count(&a.headers.items)).set_items(names(&a.headers.items)).build(),
                )?)
            })
            .build(),
    )?;
    let cookies = built(
        t::OriginRequestPolicyCookiesConfig::builder()
            .cookie_behavior(t::OriginRequestPolicyCookieBehavior::from(a.cookies.behavior.as_str()))
            .set_cookies(if a.cookies.items.is_empty() {
                None
            } else {
                Some(built(
                    t::CookieNames::builder()
                        .quantity(count(&a.cookies.items))
                        .set_items(names(&a.cookies.items))
                        .build(),
                )?)
            })
            .build(),
    )?;
    let query_strings = built(
        t::OriginRequestPolicyQueryStringsConfig::builder()
            .query_string_behavior(t::OriginRequestPolicyQueryStringBehavior::from(a.query_strings.behavior.as_str()))
            .set_query_strings(if a.query_strings.items.is_empty() {
                None
            } else {
                Some(built(
                    t::QueryStringNames::builder()
                        .quantity(count(&a.query_strings.items))
                        .set_items(names(&a.query_strings.items))
                        .build(),
                )?)
            })
            .build(),
    )?;
    built(
        t::OriginRequestPolicyConfig::builder()
            .name(&a.name)
            .comment(&a.comment)
            .headers_config(headers)
            .cookies_config(cookies)
            .query_strings_config(query_strings)
            .build(),
    )
}

pub(crate) fn origin_request_policy_attrs(c: &t::OriginRequestPolicyConfig) -> OriginRequestPolicyAttrs {
    OriginRequestPolicyAttrs {
        name: c.name.clone(),
        comment: c.comment.clone().unwrap_or_default(),
        headers: c
            .headers_config
            .as_ref()
            .map(|h| selection(h.header_behavior.as_str(), h.headers.as_ref().and_then(|x| x.items.clone())))
            .unwrap_or_default(),
        cookies: c
            .cookies_config
            .as_ref()
            .map(|h| selection(h.cookie_behavior.as_str(), h.cookies.as_ref().and_then(|x| x.items.clone())))
            .unwrap_or_default(),
        query_strings: c
            .query_strings_config
            .as_ref()
            .map(|h| {
                selection(h.query_string_behavior.as_str(), h.query_strings.as_ref().and_then(|x| x.items.clone()))
            })
            .unwrap_or_default(),
    }
}

fn align_origin_request_policy(o: &mut OriginRequestPolicyAttrs, d: &OriginRequestPolicyAttrs) {
    align_selection(&mut o.headers, &d.headers);
    align_selection(&mut o.cookies, &d.cookies);
    align_selection(&mut o.query_strings, &d.query_strings);
}

/// Ownership of a policy: by recorded id, or by name plus an identical configuration.
fn policy_ownership<A: PartialEq>(by_id: bool, observed: &A, desired: Option<&A>, name: &str) -> Ownership {
    if by_id || desired == Some(observed) {
        Ownership::Ours
    } else {
        Ownership::Foreign {
            detail: format!(
                "a policy named `{name}` already exists with a different configuration and strata has no record of creating it"
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

impl AwsProvider {
    async fn list_cache_policies(&self) -> Result<Vec<t::CachePolicy>> {
        let cf = &self.clients().await.cf;
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let resp = cf
                .list_cache_policies()
                .r#type(t::CachePolicyType::Custom)
                .set_marker(marker.take())
                .max_items(100)
                .send()
                .await
                .map_err(sdk("ListCachePolicies"))?;
            let Some(list) = resp.cache_policy_list else {
                break;
            };
            out.extend(list.items.unwrap_or_default().into_iter().filter_map(|s| s.cache_policy));
            match list.next_marker {
                Some(next) if !next.is_empty() => marker = Some(next),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn list_origin_request_policies(&self) -> Result<Vec<t::OriginRequestPolicy>> {
        let cf = &self.clients().await.cf;
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let resp = cf
                .list_origin_request_policies()
                .r#type(t::OriginRequestPolicyType::Custom)
                .set_marker(marker.take())
                .max_items(100)
                .send()
                .await
                .map_err(sdk("ListOriginRequestPolicies"))?;
            let Some(list) = resp.origin_request_policy_list else {
                break;
            };
            out.extend(list.items.unwrap_or_default().into_iter().filter_map(|s| s.origin_request_policy));
            match list.next_marker {
                Some(next) if !next.is_empty() => marker = Some(next),
                _ => break,
            }
        }
        Ok(out)
    }

    /// Batched: one paged ListCachePolicies (custom ones carry their full config).
    pub(crate) async fn read_cache_policies(&self, reqs: &[&ReadRequest<'_>]) -> Vec<Result<Option<Observed>>> {
        let all = match self.list_cache_policies().await {
            Ok(a) => a,
            Err(e) => return reqs.iter().map(|_| Err(e.clone())).collect(),
        };
        reqs.iter()
            .map(|r| {
                let desired = r.attrs.as_ref().and_then(|a| attrs::parse::<CachePolicyAttrs>(a).ok());
                let found = match (&r.remote_id, &desired) {
                    (Some(id), _) => all.iter().find(|p| &p.id == id).map(|p| (p, true)),
                    (None, Some(d)) => all
                        .iter()
                        .find(|p| p.cache_policy_config.as_ref().is_some_and(|c| c.name == d.name))
                        .map(|p| (p, false)),
                    (None, None) => None,
                };
                let Some((p, by_id)) = found else {
                    return Ok(None);
                };
                let Some(cfg) = &p.cache_policy_config else {
                    return Ok(None);
                };
                let mut observed = cache_policy_attrs(cfg);
                if let Some(d) = &desired {
                    align_cache_policy(&mut observed, d);
                }
                Ok(Some(Observed {
                    remote_id: p.id.clone(),
                    ownership: policy_ownership(by_id, &observed, desired.as_ref(), &cfg.name),
                    attrs: attrs::to_value(&observed),
                    outputs: policy_outputs(&p.id, &cfg.name),
                }))
            })
            .collect()
    }

    pub(crate) async fn create_cache_policy(&self, change: &ResourceChange) -> Result<Applied> {
        let desired: CachePolicyAttrs = parse_checked(KIND_CACHE_POLICY, &change.attrs, CachePolicyAttrs::problems)?;
        let created = self
            .clients()
            .await
            .cf
            .create_cache_policy()
            .cache_policy_config(cache_policy_config(&desired)?)
            .send()
            .await
            .map_err(sdk("CreateCachePolicy"));
        let id = match created {
            Ok(out) => out
                .cache_policy
                .map(|p| p.id)
                .ok_or_else(|| AwsError::NotFound("CreateCachePolicy returned no policy".into()))?,
            Err(e) if e.is_code("CachePolicyAlreadyExists") => {
                // Adopt only what a crashed create of ours leaves: the identical policy.
                let all = self.list_cache_policies().await?;
                let existing =
                    all.iter().find(|p| p.cache_policy_config.as_ref().is_some_and(|c| c.name == desired.name));
                match existing {
                    Some(p)
                        if p.cache_policy_config.as_ref().is_some_and(|c| {
                            let mut o = cache_policy_attrs(c);
                            align_cache_policy(&mut o, &desired);
                            o == desired
                        }) =>
                    {
                        p.id.clone()
                    }
                    _ => {
                        return Err(AwsError::Conflict(format!(
                            "a cache policy named `{}` already exists with a different configuration: {e}",
                            desired.name
                        )));
                    }
                }
            }
            Err(e) => return Err(e),
        };
        Ok(Applied { outputs: policy_outputs(&id, &desired.name), remote_id: id, attrs: attrs::to_value(&desired) })
    }

    pub(crate) async fn update_cache_policy(&self, change: &ResourceChange) -> Result<Applied> {
        let desired: CachePolicyAttrs = parse_checked(KIND_CACHE_POLICY, &change.attrs, CachePolicyAttrs::problems)?;
        let id = prior_id(KIND_CACHE_POLICY, change)?;
        let cf = &self.clients().await.cf;
        let mut attempt = 0;
        loop {
            let got = cf.get_cache_policy().id(&id).send().await.map_err(sdk("GetCachePolicy"))?;
            let etag = got.e_tag.unwrap_or_default();
            match cf
                .update_cache_policy()
                .id(&id)
                .if_match(etag)
                .cache_policy_config(cache_policy_config(&desired)?)
                .send()
                .await
                .map_err(sdk("UpdateCachePolicy"))
            {
                Ok(_) => break,
                Err(e) if e.is_code("PreconditionFailed") && attempt < PRECONDITION_RETRIES => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Applied { outputs: policy_outputs(&id, &desired.name), remote_id: id, attrs: attrs::to_value(&desired) })
    }

    pub(crate) async fn delete_cache_policy(&self, req: &DeleteRequest) -> Result<()> {
        let cf = &self.clients().await.cf;
        let mut attempt = 0;
        loop {
            let etag = match cf.get_cache_policy().id(&req.remote_id).send().await.map_err(sdk("GetCachePolicy")) {
                Ok(out) => out.e_tag.unwrap_or_default(),
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e) => return Err(e),
            };
            match cf
                .delete_cache_policy()
                .id(&req.remote_id)
                .if_match(etag)
                .send()
                .await
                .map_err(sdk("DeleteCachePolicy"))
            {
                Ok(_) => return Ok(()),
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e) if e.is_code("PreconditionFailed") && attempt < PRECONDITION_RETRIES => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Batched: one paged ListOriginRequestPolicies.
    pub(crate) async fn read_origin_request_policies(
        &self,
        reqs: &[&ReadRequest<'_>],
    ) -> Vec<Result<Option<Observed>>> {
        let all = match self.list_origin_request_policies().await {
            Ok(a) => a,
            Err(e) => return reqs.iter().map(|_| Err(e.clone())).collect(),
        };
        reqs.iter()
            .map(|r| {
                let desired = r.attrs.as_ref().and_then(|a| attrs::parse::<OriginRequestPolicyAttrs>(a).ok());
                let found = match (&r.remote_id, &desired) {
                    (Some(id), _) => all.iter().find(|p| &p.id == id).map(|p| (p, true)),
                    (None, Some(d)) => all
                        .iter()
                        .find(|p| p.origin_request_policy_config.as_ref().is_some_and(|c| c.name == d.name))
                        .map(|p| (p, false)),
                    (None, None) => None,
                };
                let Some((p, by_id)) = found else {
                    return Ok(None);
                };
                let Some(cfg) = &p.origin_request_policy_config else {
                    return Ok(None);
                };
                let mut observed = origin_request_policy_attrs(cfg);
                if let Some(d) = &desired {
                    align_origin_request_policy(&mut observed, d);
                }
                Ok(Some(Observed {
                    remote_id: p.id.clone(),
                    ownership: policy_ownership(by_id, &observed, desired.as_ref(), &cfg.name),
                    attrs: attrs::to_value(&observed),
                    outputs: policy_outputs(&p.id, &cfg.name),
                }))
            })
            .collect()
    }

    pub(crate) async fn create_origin_request_policy(&self, change: &ResourceChange) -> Result<Applied> {
        let desired: OriginRequestPolicyAttrs =
            parse_checked(KIND_ORIGIN_REQUEST_POLICY, &change.attrs, OriginRequestPolicyAttrs::problems)?;
        let created = self
            .clients()
            .await
            .cf
            .create_origin_request_policy()
            .origin_request_policy_config(origin_request_policy_config(&desired)?)
            .send()
            .await
            .map_err(sdk("CreateOriginRequestPolicy"));
        let id = match created {
            Ok(out) => out
                .origin_request_policy
                .map(|p| p.id)
                .ok_or_else(|| AwsError::NotFound("CreateOriginRequestPolicy returned no policy".into()))?,
            Err(e) if e.is_code("OriginRequestPolicyAlreadyExists") => {
                let all = self.list_origin_request_policies().await?;
                let existing = all
                    .iter()
                    .find(|p| p.origin_request_policy_config.as_ref().is_some_and(|c| c.name == desired.name));
                match existing {
                    Some(p)
                        if p.origin_request_policy_config.as_ref().is_some_and(|c| {
                            let mut o = origin_request_policy_attrs(c);
                            align_origin_request_policy(&mut o, &desired);
                            o == desired
                        }) =>
                    {
                        p.id.clone()
                    }
                    _ => {
                        return Err(AwsError::Conflict(format!(
                            "an origin request policy named `{}` already exists with a different configuration: {e}",
                            desired.name
                        )));
                    }
                }
            }
            Err(e) => return Err(e),
        };
        Ok(Applied { outputs: policy_outputs(&id, &desired.name), remote_id: id, attrs: attrs::to_value(&desired) })
    }

    pub(crate) async fn update_origin_request_policy(&self, change: &ResourceChange) -> Result<Applied> {
        let desired: OriginRequestPolicyAttrs =
            parse_checked(KIND_ORIGIN_REQUEST_POLICY, &change.attrs, OriginRequestPolicyAttrs::problems)?;
        let id = prior_id(KIND_ORIGIN_REQUEST_POLICY, change)?;
        let cf = &self.clients().await.cf;
        let mut attempt = 0;
        loop {
            let got = cf.get_origin_request_policy().id(&id).send().await.map_err(sdk("GetOriginRequestPolicy"))?;
            let etag = got.e_tag.unwrap_or_default();
            match cf
                .update_origin_request_policy()
                .id(&id)
                .if_match(etag)
                .origin_request_policy_config(origin_request_policy_config(&desired)?)
                .send()
                .await
                .map_err(sdk("UpdateOriginRequestPolicy"))
            {
                Ok(_) => break,
                Err(e) if e.is_code("PreconditionFailed") && attempt < PRECONDITION_RETRIES => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Applied { outputs: policy_outputs(&id, &desired.name), remote_id: id, attrs: attrs::to_value(&desired) })
    }

    pub(crate) async fn delete_origin_request_policy(&self, req: &DeleteRequest) -> Result<()> {
        let cf = &self.clients().await.cf;
        let mut attempt = 0;
        loop {
            let etag = match cf
                .get_origin_request_policy()
                .id(&req.remote_id)
                .send()
                .await
                .map_err(sdk("GetOriginRequestPolicy"))
            {
                Ok(out) => out.e_tag.unwrap_or_default(),
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e) => return Err(e),
            };
            match cf
                .delete_origin_request_policy()
                .id(&req.remote_id)
                .if_match(etag)
                .send()
                .await
                .map_err(sdk("DeleteOriginRequestPolicy"))
            {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cache_policy_round_trips() {
        let d: CachePolicyAttrs = attrs::parse(&json!({
            "name": "assets-long-ttl", "comment": "static assets",
            "min_ttl": 1, "default_ttl": 3600, "max_ttl": 86400,
            "headers": {"behavior": "whitelist", "items": ["Origin", "Accept"]},
            "cookies": {"behavior": "none"},
            "query_strings": {"behavior": "allExcept", "items": ["utm_source"]}
        }))
        .unwrap();
        let mut o = cache_policy_attrs(&cache_policy_config(&d).unwrap());
        align_cache_policy(&mut o, &d);
        assert_eq!(o, d);
    }

    #[test]
    fn origin_request_policy_round_trips() {
        let d: OriginRequestPolicyAttrs = attrs::parse(&json!({
            "name": "api", "headers": {"behavior": "allViewer"},
            "cookies": {"behavior": "whitelist", "items": ["session"]},
            "query_strings": {"behavior": "all"}
        }))
        .unwrap();
        assert!(d.problems().is_empty());
        let o = origin_request_policy_attrs(&origin_request_policy_config(&d).unwrap());
        assert_eq!(o, d);
    }

    #[test]
    fn ownership_by_name_needs_identical_config() {
        let a = 1;
        assert_eq!(policy_ownership(false, &a, Some(&1), "p"), Ownership::Ours);
        assert!(matches!(policy_ownership(false, &a, Some(&2), "p"), Ownership::Foreign { .. }));
        assert_eq!(policy_ownership(true, &a, Some(&2), "p"), Ownership::Ours);
    }
}
