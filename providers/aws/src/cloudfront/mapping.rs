//! `DistributionAttrs` <-> CloudFront `DistributionConfig`, both ways.
//!
//! `build_config` applies the attrs onto a base config (the current remote config on update),
//! so distribution-level fields strata does not model (geo restrictions, origin groups,
//! continuous deployment, ...) are preserved. `attrs_from_config` maps a remote config back
//! into the attrs shape; `align` then makes spelling-only differences (set order, managed
//! policy name spelling) match the desired document so reads after apply diff clean.

use std::collections::BTreeMap;

use aws_sdk_cloudfront::error::BuildError;
use aws_sdk_cloudfront::types as t;

use crate::attrs::{
    CacheBehaviorAttrs, CustomErrorResponseAttrs, CustomOriginAttrs, DistributionAttrs, FunctionAssociationAttrs,
    LambdaAssociationAttrs, LoggingAttrs, OriginAttrs, S3OriginAttrs, ViewerCertificateAttrs,
};
use crate::error::{AwsError, Result};
use crate::managed;
use crate::tags::user_tags;

pub(crate) fn built<T>(r: std::result::Result<T, BuildError>) -> Result<T> {
    r.map_err(|e| AwsError::Build { operation: "build request", message: e.to_string() })
}

fn opt_list<T>(items: Vec<T>) -> Option<Vec<T>> {
    if items.is_empty() { None } else { Some(items) }
}

fn len(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Builds the full DistributionConfig for `attrs`, starting from `base` (the remote config on
/// update; `None` on create).
pub(crate) fn build_config(
    attrs: &DistributionAttrs,
    caller_reference: &str,
    base: Option<t::DistributionConfig>,
) -> Result<t::DistributionConfig> {
    let mut c = match base {
        Some(b) => b,
        None => built(
            t::DistributionConfig::builder().caller_reference(caller_reference).comment("").enabled(true).build(),
        )?,
    };
    c.caller_reference = caller_reference.to_string();
    c.comment = attrs.comment.clone();
    c.enabled = attrs.enabled;
    c.aliases = Some(built(
        t::Aliases::builder().quantity(len(attrs.aliases.len())).set_items(opt_list(attrs.aliases.clone())).build(),
    )?);
    c.default_root_object = Some(attrs.default_root_object.clone().unwrap_or_default());
    c.origins = Some(built(
        t::Origins::builder()
            .quantity(len(attrs.origins.len()))
            .set_items(Some(attrs.origins.iter().map(origin).collect::<Result<Vec<_>>>()?))
            .build(),
    )?);
    c.default_cache_behavior = Some(default_behavior(&attrs.default_cache_behavior)?);
    c.cache_behaviors = Some(built(
        t::CacheBehaviors::builder()
            .quantity(len(attrs.cache_behaviors.len()))
            .set_items(opt_list(attrs.cache_behaviors.iter().map(ordered_behavior).collect::<Result<Vec<_>>>()?))
            .build(),
    )?);
    c.custom_error_responses = Some(built(
        t::CustomErrorResponses::builder()
            .quantity(len(attrs.custom_error_responses.len()))
            .set_items(opt_list(attrs.custom_error_responses.iter().map(error_response).collect::<Result<Vec<_>>>()?))
            .build(),
    )?);
    c.logging = Some(match &attrs.logging {
        Some(l) => t::LoggingConfig::builder()
            .enabled(true)
            .include_cookies(l.include_cookies)
            .bucket(&l.bucket)
            .prefix(&l.prefix)
            .build(),
        None => t::LoggingConfig::builder().enabled(false).include_cookies(false).bucket("").prefix("").build(),
    });
    c.price_class = Some(t::PriceClass::from(attrs.price_class.as_str()));
    c.viewer_certificate = Some(match &attrs.viewer_certificate {
        Some(v) => t::ViewerCertificate::builder()
            .cloud_front_default_certificate(false)
            .acm_certificate_arn(&v.acm_certificate_arn)
            .ssl_support_method(t::SslSupportMethod::from(v.ssl_support_method.as_str()))
            .minimum_protocol_version(t::MinimumProtocolVersion::from(v.minimum_protocol_version.as_str()))
            .build(),
        None => t::ViewerCertificate::builder().cloud_front_default_certificate(true).build(),
    });
    if c.restrictions.is_none() {
        c.restrictions = Some(
            t::Restrictions::builder()
                .geo_restriction(built(
                    t::GeoRestriction::builder().restriction_type(t::GeoRestrictionType::None).quantity(0).build(),
                )?)
                .build(),
        );
    }
    c.web_acl_id = Some(attrs.web_acl_id.clone().unwrap_or_default());
    c.http_version = Some(t::HttpVersion::from(attrs.http_version.as_str()));
    c.is_ipv6_enabled = Some(attrs.ipv6);
    Ok(c)
}

fn origin(o: &OriginAttrs) -> Result<t::Origin> {
    let mut b = t::Origin::builder()
        .id(&o.id)
        .domain_name(&o.domain_name)
        .origin_path(&o.origin_path)
        .custom_headers(built(
            t::CustomHeaders::builder()
                .quantity(len(o.custom_headers.len()))
                .set_items(opt_list(
                    o.custom_headers
                        .iter()
                        .map(|(k, v)| built(t::OriginCustomHeader::builder().header_name(k).header_value(v).build()))
                        .collect::<Result<Vec<_>>>()?,
                ))
                .build(),
        )?)
        .origin_shield(built(match &o.origin_shield_region {
            Some(r) => t::OriginShield::builder().enabled(true).origin_shield_region(r).build(),
            None => t::OriginShield::builder().enabled(false).build(),
        })?)
        .set_connection_attempts(o.connection_attempts)
        .set_connection_timeout(o.connection_timeout);
    if let Some(s3) = &o.s3 {
        b = b
            .s3_origin_config(t::S3OriginConfig::builder().origin_access_identity("").build())
            .origin_access_control_id(s3.origin_access_control_id.clone().unwrap_or_default());
    }
    if let Some(c) = &o.custom {
        b = b.custom_origin_config(built(
            t::CustomOriginConfig::builder()
                .http_port(c.http_port)
                .https_port(c.https_port)
                .origin_protocol_policy(t::OriginProtocolPolicy::from(c.protocol_policy.as_str()))
                .origin_ssl_protocols(built(
                    t::OriginSslProtocols::builder()
                        .quantity(len(c.ssl_protocols.len()))
                        .set_items(Some(c.ssl_protocols.iter().map(|s| t::SslProtocol::from(s.as_str())).collect()))
                        .build(),
                )?)
                .origin_read_timeout(c.read_timeout)
                .origin_keepalive_timeout(c.keepalive_timeout)
                .build(),
        )?);
    }
    built(b.build())
}

fn methods(items: &[String]) -> Vec<t::Method> {
    items.iter().map(|m| t::Method::from(m.as_str())).collect()
}

fn allowed_methods(a: &CacheBehaviorAttrs) -> Result<t::AllowedMethods> {
    built(
        t::AllowedMethods::builder()
            .quantity(len(a.allowed_methods.len()))
            .set_items(Some(methods(&a.allowed_methods)))
            .cached_methods(built(
                t::CachedMethods::builder()
                    .quantity(len(a.cached_methods.len()))
                    .set_items(Some(methods(&a.cached_methods)))
                    .build(),
            )?)
            .build(),
    )
}

fn function_associations(a: &CacheBehaviorAttrs) -> Result<t::FunctionAssociations> {
    built(
        t::FunctionAssociations::builder()
            .quantity(len(a.function_associations.len()))
            .set_items(opt_list(
                a.function_associations
                    .iter()
                    .map(|f| {
                        built(
                            t::FunctionAssociation::builder()
                                .function_arn(&f.function_arn)
                                .event_type(t::EventType::from(f.event_type.as_str()))
                                .build(),
                        )
                    })
                    .collect::<Result<Vec<_>>>()?,
            ))
            .build(),
    )
}

fn lambda_associations(a: &CacheBehaviorAttrs) -> Result<t::LambdaFunctionAssociations> {
    built(
        t::LambdaFunctionAssociations::builder()
            .quantity(len(a.lambda_associations.len()))
            .set_items(opt_list(
                a.lambda_associations
                    .iter()
                    .map(|l| {
                        built(
                            t::LambdaFunctionAssociation::builder()
                                .lambda_function_arn(&l.lambda_arn)
                                .event_type(t::EventType::from(l.event_type.as_str()))
                                .include_body(l.include_body)
                                .build(),
                        )
                    })
                    .collect::<Result<Vec<_>>>()?,
            ))
            .build(),
    )
}

/// Both behavior builders have the same setters; fill the shared ones.
macro_rules! fill_behavior {
    ($builder:expr, $a:expr) => {{
        let a: &CacheBehaviorAttrs = $a;
        $builder
            .target_origin_id(&a.target_origin_id)
            .viewer_protocol_policy(t::ViewerProtocolPolicy::from(a.viewer_protocol_policy.as_str()))
            .allowed_methods(allowed_methods(a)?)
            .compress(a.compress)
            .cache_policy_id(a.effective_cache_policy_id())
            .set_origin_request_policy_id(a.effective_origin_request_policy_id())
            .set_response_headers_policy_id(a.effective_response_headers_policy_id())
            .function_associations(function_associations(a)?)
            .lambda_function_associations(lambda_associations(a)?)
    }};
}

fn default_behavior(a: &CacheBehaviorAttrs) -> Result<t::DefaultCacheBehavior> {
    built(fill_behavior!(t::DefaultCacheBehavior::builder(), a).build())
}

fn ordered_behavior(a: &CacheBehaviorAttrs) -> Result<t::CacheBehavior> {
    built(
        fill_behavior!(t::CacheBehavior::builder(), a).path_pattern(a.path_pattern.clone().unwrap_or_default()).build(),
    )
}

fn error_response(r: &CustomErrorResponseAttrs) -> Result<t::CustomErrorResponse> {
    built(
        t::CustomErrorResponse::builder()
            .error_code(r.error_code)
            .set_response_code(r.response_code.map(|c| c.to_string()))
            .set_response_page_path(r.response_page_path.clone())
            .set_error_caching_min_ttl(r.error_caching_min_ttl)
            .build(),
    )
}

// ---------------------------------------------------------------------------------------------
// Remote -> attrs
// ---------------------------------------------------------------------------------------------

fn non_empty(s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(str::to_string)
}

/// Maps a remote config (and its tags) into the attrs shape.
pub(crate) fn attrs_from_config(c: &t::DistributionConfig, tags: &BTreeMap<String, String>) -> DistributionAttrs {
    let viewer_certificate = c.viewer_certificate.as_ref().and_then(|v| {
        non_empty(v.acm_certificate_arn.as_deref()).map(|arn| ViewerCertificateAttrs {
            acm_certificate_arn: arn,
            minimum_protocol_version: v
                .minimum_protocol_version
                .as_ref()
                .map(|m| m.as_str().to_string())
                .unwrap_or_else(|| "TLSv1".into()),
            ssl_support_method: v
                .ssl_support_method
                .as_ref()
                .map(|m| m.as_str().to_string())
                .unwrap_or_else(|| "sni-only".into()),
        })
    });
    DistributionAttrs {
        caller_reference: Some(c.caller_reference.clone()),
        comment: c.comment.clone(),
        enabled: c.enabled,
        aliases: c.aliases.as_ref().and_then(|a| a.items.clone()).unwrap_or_default(),
        viewer_certificate,
        default_root_object: non_empty(c.default_root_object.as_deref()),
        origins: c.origins.as_ref().map(|o| o.items.iter().map(origin_attrs).collect()).unwrap_or_default(),
        default_cache_behavior: c
            .default_cache_behavior
            .as_ref()
            .map(|b| {
                behavior_attrs(BehaviorView {
                    path_pattern: None,
                    target_origin_id: &b.target_origin_id,
                    viewer_protocol_policy: &b.viewer_protocol_policy,
                    allowed_methods: b.allowed_methods.as_ref(),
                    compress: b.compress,
                    cache_policy_id: b.cache_policy_id.as_deref(),
                    origin_request_policy_id: b.origin_request_policy_id.as_deref(),
                    response_headers_policy_id: b.response_headers_policy_id.as_deref(),
                    functions: b.function_associations.as_ref(),
                    lambdas: b.lambda_function_associations.as_ref(),
                })
            })
            .unwrap_or_else(|| behavior_attrs(BehaviorView::empty())),
        cache_behaviors: c
            .cache_behaviors
            .as_ref()
            .and_then(|cb| cb.items.as_ref())
            .map(|items| {
                items
                    .iter()
                    .map(|b| {
                        behavior_attrs(BehaviorView {
                            path_pattern: Some(&b.path_pattern),
                            target_origin_id: &b.target_origin_id,
                            viewer_protocol_policy: &b.viewer_protocol_policy,
                            allowed_methods: b.allowed_methods.as_ref(),
                            compress: b.compress,
                            cache_policy_id: b.cache_policy_id.as_deref(),
                            origin_request_policy_id: b.origin_request_policy_id.as_deref(),
                            response_headers_policy_id: b.response_headers_policy_id.as_deref(),
                            functions: b.function_associations.as_ref(),
                            lambdas: b.lambda_function_associations.as_ref(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default(),
        custom_error_responses: c
            .custom_error_responses
            .as_ref()
            .and_then(|r| r.items.as_ref())
            .map(|items| {
                items
                    .iter()
                    .map(|r| CustomErrorResponseAttrs {
                        error_code: r.error_code,
                        response_code: r.response_code.as_deref().and_then(|s| s.parse::<i32>().ok()),
                        response_page_path: non_empty(r.response_page_path.as_deref()),
                        error_caching_min_ttl: r.error_caching_min_ttl,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        price_class: c.price_class.as_ref().map(|p| p.as_str().to_string()).unwrap_or_else(|| "PriceClass_All".into()),
        http_version: c.http_version.as_ref().map(|h| h.as_str().to_string()).unwrap_or_else(|| "http2".into()),
        ipv6: c.is_ipv6_enabled.unwrap_or(false),
        logging: c.logging.as_ref().filter(|l| l.enabled).map(|l| LoggingAttrs {
            bucket: l.bucket.clone(),
            prefix: l.prefix.clone(),
            include_cookies: l.include_cookies,
        }),
        web_acl_id: non_empty(c.web_acl_id.as_deref()),
        invalidate_on_change: Vec::new(),
        tags: user_tags(tags),
    }
}

fn origin_attrs(o: &t::Origin) -> OriginAttrs {
    let custom = o.custom_origin_config.as_ref().map(|c| CustomOriginAttrs {
        protocol_policy: c.origin_protocol_policy.as_str().to_string(),
        http_port: c.http_port,
        https_port: c.https_port,
        ssl_protocols: c
            .origin_ssl_protocols
            .as_ref()
            .map(|p| p.items.iter().map(|s| s.as_str().to_string()).collect())
            .unwrap_or_default(),
        read_timeout: c.origin_read_timeout.unwrap_or(30),
        keepalive_timeout: c.origin_keepalive_timeout.unwrap_or(5),
    });
    let s3 = if custom.is_none() {
        Some(S3OriginAttrs { origin_access_control_id: non_empty(o.origin_access_control_id.as_deref()) })
    } else {
        None
    };
    OriginAttrs {
        id: o.id.clone(),
        domain_name: o.domain_name.clone(),
        origin_path: o.origin_path.clone().unwrap_or_default(),
        s3,
        custom,
        origin_shield_region: o
            .origin_shield
            .as_ref()
            .filter(|s| s.enabled)
            .and_then(|s| s.origin_shield_region.clone()),
        custom_headers: o
            .custom_headers
            .as_ref()
            .and_then(|h| h.items.as_ref())
            .map(|items| items.iter().map(|h| (h.header_name.clone(), h.header_value.clone())).collect())
            .unwrap_or_default(),
        connection_attempts: o.connection_attempts,
        connection_timeout: o.connection_timeout,
    }
}

/// The fields both behavior types share, borrowed.
struct BehaviorView<'a> {
    path_pattern: Option<&'a str>,
    target_origin_id: &'a str,
    viewer_protocol_policy: &'a t::ViewerProtocolPolicy,
    allowed_methods: Option<&'a t::AllowedMethods>,
    compress: Option<bool>,
    cache_policy_id: Option<&'a str>,
    origin_request_policy_id: Option<&'a str>,
    response_headers_policy_id: Option<&'a str>,
    functions: Option<&'a t::FunctionAssociations>,
    lambdas: Option<&'a t::LambdaFunctionAssociations>,
}

static ALLOW_ALL: t::ViewerProtocolPolicy = t::ViewerProtocolPolicy::AllowAll;

impl BehaviorView<'static> {
    fn empty() -> Self {
        BehaviorView {
            path_pattern: None,
            target_origin_id: "",
            viewer_protocol_policy: &ALLOW_ALL,
            allowed_methods: None,
            compress: None,
            cache_policy_id: None,
            origin_request_policy_id: None,
            response_headers_policy_id: None,
            functions: None,
            lambdas: None,
        }
    }
}

fn behavior_attrs(b: BehaviorView<'_>) -> CacheBehaviorAttrs {
    let cache_policy_id = non_empty(b.cache_policy_id);
    let origin_request_policy_id = non_empty(b.origin_request_policy_id);
    let response_headers_policy_id = non_empty(b.response_headers_policy_id);
    CacheBehaviorAttrs {
        path_pattern: b.path_pattern.map(str::to_string),
        target_origin_id: b.target_origin_id.to_string(),
        viewer_protocol_policy: b.viewer_protocol_policy.as_str().to_string(),
        allowed_methods: b
            .allowed_methods
            .map(|m| m.items.iter().map(|x| x.as_str().to_string()).collect())
            .unwrap_or_default(),
        cached_methods: b
            .allowed_methods
            .and_then(|m| m.cached_methods.as_ref())
            .map(|m| m.items.iter().map(|x| x.as_str().to_string()).collect())
            .unwrap_or_default(),
        compress: b.compress.unwrap_or(false),
        managed_cache_policy: cache_policy_id
            .as_deref()
            .and_then(|id| managed::name_by_id(managed::CACHE_POLICIES, id))
            .map(str::to_string),
        cache_policy_id,
        managed_origin_request_policy: origin_request_policy_id
            .as_deref()
            .and_then(|id| managed::name_by_id(managed::ORIGIN_REQUEST_POLICIES, id))
            .map(str::to_string),
        origin_request_policy_id,
        managed_response_headers_policy: response_headers_policy_id
            .as_deref()
            .and_then(|id| managed::name_by_id(managed::RESPONSE_HEADERS_POLICIES, id))
            .map(str::to_string),
        response_headers_policy_id,
        function_associations: b
            .functions
            .and_then(|f| f.items.as_ref())
            .map(|items| {
                items
                    .iter()
                    .map(|f| FunctionAssociationAttrs {
                        event_type: f.event_type.as_str().to_string(),
                        function_arn: f.function_arn.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        lambda_associations: b
            .lambdas
            .and_then(|l| l.items.as_ref())
            .map(|items| {
                items
                    .iter()
                    .map(|l| LambdaAssociationAttrs {
                        event_type: l.event_type.as_str().to_string(),
                        lambda_arn: l.lambda_function_arn.clone(),
                        include_body: l.include_body.unwrap_or(false),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

// ---------------------------------------------------------------------------------------------
// Alignment
// ---------------------------------------------------------------------------------------------

/// If `observed` and `desired` hold the same set of strings, take the desired order.
pub(crate) fn align_set(observed: &mut Vec<String>, desired: &[String]) {
    if observed.len() == desired.len()
        && desired.iter().all(|d| observed.contains(d))
        && observed.iter().all(|o| desired.contains(o))
    {
        *observed = desired.to_vec();
    }
}

fn align_managed(
    observed_name: &mut Option<String>,
    observed_id: Option<&str>,
    desired_name: Option<&str>,
    table: &[(&str, &'static str)],
) {
    if let (Some(want), Some(id)) = (desired_name, observed_id)
        && managed::id_by_name(table, want) == Some(id)
    {
        *observed_name = Some(want.to_string());
    }
}

fn align_behavior(o: &mut CacheBehaviorAttrs, d: &CacheBehaviorAttrs) {
    align_set(&mut o.allowed_methods, &d.allowed_methods);
    align_set(&mut o.cached_methods, &d.cached_methods);
    let cp = o.cache_policy_id.clone();
    align_managed(
        &mut o.managed_cache_policy,
        cp.as_deref(),
        d.managed_cache_policy.as_deref(),
        managed::CACHE_POLICIES,
    );
    let orp = o.origin_request_policy_id.clone();
    align_managed(
        &mut o.managed_origin_request_policy,
        orp.as_deref(),
        d.managed_origin_request_policy.as_deref(),
        managed::ORIGIN_REQUEST_POLICIES,
    );
    let rhp = o.response_headers_policy_id.clone();
    align_managed(
        &mut o.managed_response_headers_policy,
        rhp.as_deref(),
        d.managed_response_headers_policy.as_deref(),
        managed::RESPONSE_HEADERS_POLICIES,
    );
}

/// Makes spelling-only differences between an observed document and the desired one vanish:
/// set-like lists take the desired order, managed policy names the desired spelling, and the
/// non-remote `invalidate_on_change` the desired value.
pub(crate) fn align(observed: &mut DistributionAttrs, desired: &DistributionAttrs) {
    align_set(&mut observed.aliases, &desired.aliases);
    observed.invalidate_on_change = desired.invalidate_on_change.clone();
    align_behavior(&mut observed.default_cache_behavior, &desired.default_cache_behavior);
    for (o, d) in observed.cache_behaviors.iter_mut().zip(&desired.cache_behaviors) {
        if o.path_pattern == d.path_pattern {
            align_behavior(o, d);
        }
    }
    for o in &mut observed.origins {
        if let Some(d) = desired.origins.iter().find(|d| d.id == o.id)
            && let (Some(oc), Some(dc)) = (&mut o.custom, &d.custom)
        {
            align_set(&mut oc.ssl_protocols, &dc.ssl_protocols);
        }
    }
}

/// Whether the remote config already matches the desired attrs on everything strata
/// manages (tags and non-remote fields excluded). Used to skip no-op updates.
pub(crate) fn config_matches(desired: &DistributionAttrs, remote: &t::DistributionConfig) -> bool {
    let mut observed = attrs_from_config(remote, &BTreeMap::new());
    align(&mut observed, desired);
    let mut want = desired.clone();
    // Fill what AWS fills (so a desired "unset" equals the remote default).
    for (w, o) in want.origins.iter_mut().zip(&observed.origins) {
        if w.connection_attempts.is_none() {
            w.connection_attempts = o.connection_attempts;
        }
        if w.connection_timeout.is_none() {
            w.connection_timeout = o.connection_timeout;
        }
    }
    let fill_ids = |w: &mut CacheBehaviorAttrs, o: &CacheBehaviorAttrs| {
        w.cache_policy_id = Some(w.effective_cache_policy_id());
        w.origin_request_policy_id = w.effective_origin_request_policy_id();
        w.response_headers_policy_id = w.effective_response_headers_policy_id();
        w.managed_cache_policy = o.managed_cache_policy.clone();
        w.managed_origin_request_policy = o.managed_origin_request_policy.clone();
        w.managed_response_headers_policy = o.managed_response_headers_policy.clone();
    };
    fill_ids(&mut want.default_cache_behavior, &observed.default_cache_behavior);
    for (w, o) in want.cache_behaviors.iter_mut().zip(&observed.cache_behaviors) {
        fill_ids(w, o);
    }
    for (w, o) in want.custom_error_responses.iter_mut().zip(&observed.custom_error_responses) {
        if w.error_caching_min_ttl.is_none() {
            w.error_caching_min_ttl = o.error_caching_min_ttl;
        }
    }
    want.caller_reference = observed.caller_reference.clone();
    want.tags = BTreeMap::new();
    observed == want
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::parse;
    use serde_json::json;

    fn full() -> DistributionAttrs {
        parse(&json!({
            "caller_reference": "lineage-1/cdn.assets",
            "comment": "assets",
            "enabled": true,
            "aliases": ["cdn.example.com", "www.example.com"],
            "viewer_certificate": {
                "acm_certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/abc",
                "minimum_protocol_version": "TLSv1.2_2021",
                "ssl_support_method": "sni-only"
            },
            "default_root_object": "index.html",
            "origins": [
                {"id": "assets", "domain_name": "assets.s3.us-east-1.amazonaws.com",
                 "s3": {"origin_access_control_id": "E2OAC"},
                 "origin_shield_region": "us-east-1",
                 "connection_attempts": 3, "connection_timeout": 10},
                {"id": "api", "domain_name": "api.example.com", "origin_path": "/v1",
                 "custom": {"protocol_policy": "https-only", "http_port": 80, "https_port": 443,
                            "ssl_protocols": ["TLSv1.2"], "read_timeout": 30, "keepalive_timeout": 5},
                 "custom_headers": {"X-Origin-Verify": "secret"},
                 "connection_attempts": 3, "connection_timeout": 10}
            ],
            "default_cache_behavior": {
                "target_origin_id": "assets",
                "viewer_protocol_policy": "redirect-to-https",
                "allowed_methods": ["GET", "HEAD"],
                "cached_methods": ["GET", "HEAD"],
                "compress": true,
                "managed_cache_policy": "CachingOptimized",
                "function_associations": [{"event_type": "viewer-request",
                    "function_arn": "arn:aws:cloudfront::123456789012:function/rewrite"}]
            },
            "cache_behaviors": [{
                "path_pattern": "/api/*",
                "target_origin_id": "api",
                "viewer_protocol_policy": "https-only",
                "allowed_methods": ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"],
                "cached_methods": ["GET", "HEAD"],
                "compress": false,
                "cache_policy_id": "custom-policy-id",
                "managed_origin_request_policy": "AllViewerExceptHostHeader",
                "lambda_associations": [{"event_type": "origin-request",
                    "lambda_arn": "arn:aws:lambda:us-east-1:123456789012:function:auth:3",
                    "include_body": true}]
            }],
            "custom_error_responses": [{"error_code": 404, "response_code": 200,
                "response_page_path": "/index.html", "error_caching_min_ttl": 10}],
            "price_class": "PriceClass_100",
            "http_version": "http2and3",
            "ipv6": true,
            "logging": {"bucket": "logs.s3.amazonaws.com", "prefix": "cdn/", "include_cookies": false},
            "web_acl_id": "arn:aws:wafv2:us-east-1:123456789012:global/webacl/x/y",
            "invalidate_on_change": ["/*"],
            "tags": {"team": "web"}
        }))
        .unwrap()
    }

    #[test]
    fn round_trips_every_field() {
        let desired = full();
        assert!(desired.problems().is_empty(), "{:?}", desired.problems());
        let cfg = build_config(&desired, "lineage-1/cdn.assets", None).unwrap();
        let mut tags = BTreeMap::from([("team".to_string(), "web".to_string())]);
        tags.insert(strata_sdk::OWNERSHIP_ADDRESS_KEY.into(), "cdn.assets".into());
        let mut observed = attrs_from_config(&cfg, &tags);
        align(&mut observed, &desired);
        // The observed document holds everything the desired one set, with the same values;
        // it may add ids resolved from managed names.
        let d = serde_json::to_value(&desired).unwrap();
        let o = serde_json::to_value(&observed).unwrap();
        let diffs = crate::diff::subset_diff(&d, &o);
        assert!(diffs.is_empty(), "{diffs:#?}");
        assert_eq!(
            observed.default_cache_behavior.cache_policy_id.as_deref(),
            Some("658327ea-f89d-4fab-a63d-7e88639e58f6")
        );
        assert!(config_matches(&desired, &cfg));
        let mut changed = desired.clone();
        changed.cache_behaviors[0].compress = true;
        assert!(!config_matches(&changed, &cfg));
    }

    #[test]
    fn update_preserves_unmodelled_fields() {
        let desired = full();
        let mut base = build_config(&desired, "ref", None).unwrap();
        base.restrictions = Some(
            t::Restrictions::builder()
                .geo_restriction(
                    t::GeoRestriction::builder()
                        .restriction_type(t::GeoRestrictionType::Whitelist)
                        .quantity(1)
                        .items("DE")
                        .build()
                        .unwrap(),
                )
                .build(),
        );
        base.continuous_deployment_policy_id = Some("cdp".into());
        let mut next = desired.clone();
        next.comment = "changed".into();
        let cfg = build_config(&next, "ref", Some(base)).unwrap();
        assert_eq!(cfg.comment, "changed");
        assert_eq!(cfg.continuous_deployment_policy_id.as_deref(), Some("cdp"));
        assert_eq!(
            cfg.restrictions.unwrap().geo_restriction.unwrap().restriction_type,
            t::GeoRestrictionType::Whitelist
        );
    }

    #[test]
    fn aligns_spelling_only_differences() {
        let mut desired = full();
        desired.aliases.reverse();
        desired.default_cache_behavior.managed_cache_policy = Some("Managed-CachingOptimized".into());
        desired.default_cache_behavior.allowed_methods = vec!["HEAD".into(), "GET".into()];
        let cfg = build_config(&full(), "ref", None).unwrap();
        let mut observed = attrs_from_config(&cfg, &BTreeMap::new());
        align(&mut observed, &desired);
        assert_eq!(observed.aliases, desired.aliases);
        assert_eq!(observed.default_cache_behavior.managed_cache_policy.as_deref(), Some("Managed-CachingOptimized"));
        assert_eq!(observed.default_cache_behavior.allowed_methods, vec!["HEAD", "GET"]);
    }
}
