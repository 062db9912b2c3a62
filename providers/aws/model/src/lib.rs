//! The document model of strata's AWS kinds: the `attrs` shape of each kind and the table of
//! AWS-managed CloudFront policies.
//!
//! It is a crate of its own so that the CloudFront CDN target in the engine can build and check
//! these documents without depending on the AWS SDK; the AWS provider re-exports it.

pub mod attrs;
pub mod managed;

/// Kind name of CloudFront distributions.
pub const KIND_DISTRIBUTION: &str = "cloudfront_distribution";
/// Kind name of custom CloudFront cache policies.
pub const KIND_CACHE_POLICY: &str = "cloudfront_cache_policy";
/// Kind name of custom CloudFront origin request policies.
pub const KIND_ORIGIN_REQUEST_POLICY: &str = "cloudfront_origin_request_policy";
/// Kind name of Route 53 record sets.
pub const KIND_RECORD: &str = "route53_record";

/// Kind name of Route 53 health checks.
pub const KIND_HEALTH_CHECK: &str = "route53_health_check";

/// Every kind the AWS provider handles.
pub const KINDS: &[&str] =
    &[KIND_DISTRIBUTION, KIND_CACHE_POLICY, KIND_ORIGIN_REQUEST_POLICY, KIND_RECORD, KIND_HEALTH_CHECK];
