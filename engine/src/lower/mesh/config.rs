//! The typed `mesh:` section. The JSON Schema in `schemas/` is generated from these types, and
//! `validate.rs` decodes the spec into them, so the two cannot drift.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, de};

use crate::spec::units::{Duration, Percent};

/// `mesh:` — service mesh policy for the services declared under `services:`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeshConfig {
    /// The mesh installed in the cluster: one of the registered mesh targets (`istio`,
    /// `linkerd`). The schema lists them.
    pub provider: String,
    /// Mutual TLS between meshed workloads: `strict` (only mTLS accepted, the default) or
    /// `permissive` (plain text accepted too, for migrations).
    #[serde(default)]
    pub mtls: MtlsMode,
    /// An ingress gateway for external hosts (Istio only).
    #[serde(default)]
    pub gateway: Option<GatewayConfig>,
    /// Traffic policy per service: keys are service names from `services:`.
    #[serde(default)]
    pub traffic: BTreeMap<String, TrafficPolicy>,
    /// Which services may call which (identity-based, from each service's service account).
    /// Once a service is named in `to`, only the listed callers reach it.
    #[serde(default)]
    pub authorization: Vec<AuthorizationRule>,
    /// External hosts workloads may call (Istio ServiceEntry).
    #[serde(default)]
    pub external: Vec<ExternalService>,
    /// Proxy access logs for every meshed namespace.
    #[serde(default)]
    pub access_logs: bool,
    /// SPIFFE trust domain of the mesh identities (Istio principals). Default `cluster.local`.
    #[serde(default = "default_domain")]
    pub trust_domain: String,
    /// DNS domain of the cluster, for service host names. Default `cluster.local`.
    #[serde(default = "default_domain")]
    pub cluster_domain: String,
}

fn default_domain() -> String {
    "cluster.local".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MtlsMode {
    #[default]
    Strict,
    Permissive,
}

/// `mesh.gateway`: an ingress gateway serving `hosts` and routing them to one service.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Host names the gateway serves (`api.example.com`, `*.example.com`).
    pub hosts: Vec<String>,
    /// The service (from `services:`) the hosts route to; its traffic policy applies.
    pub to: String,
    /// Kubernetes TLS secret with the certificate, in the ingress gateway's namespace. Without
    /// it the gateway serves plain HTTP on port 80; with it HTTPS on 443 and a redirect on 80.
    #[serde(default)]
    pub tls_secret: Option<String>,
    /// Labels selecting the ingress gateway pods. Default `{ istio: ingressgateway }`.
    #[serde(default)]
    pub selector: Option<BTreeMap<String, String>>,
    /// `<namespace>/<service account>` of the ingress gateway, allowed through `authorization`
    /// of the `to` service. Default `istio-system/istio-ingressgateway-service-account`.
    #[serde(default)]
    pub service_account: Option<String>,
}

/// `mesh.traffic.<service>`: how requests to one service are routed and protected.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrafficPolicy {
    /// Weights per version (`v1: 90, v2: 10`), summing to 100: a canary or blue/green split.
    #[serde(default)]
    pub split: BTreeMap<String, Percent>,
    /// Requests matching a route go to its version, before the split applies (first match wins).
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Overall request timeout, like `10s`.
    #[serde(default)]
    pub timeout: Option<Duration>,
    #[serde(default)]
    pub retries: Option<Retries>,
    /// Outlier detection (eject failing endpoints) and connection limits.
    #[serde(default)]
    pub circuit_breaker: Option<CircuitBreaker>,
    /// Fault injection for resilience tests (Istio only).
    #[serde(default)]
    pub fault: Option<Fault>,
    /// Local (per-pod) rate limit on the service's inbound requests.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
}

impl TrafficPolicy {
    /// True when the policy uses anything only HTTP can carry.
    pub fn http_only_features(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if !self.routes.is_empty() {
            out.push("routes");
        }
        if self.timeout.is_some() {
            out.push("timeout");
        }
        if self.retries.is_some() {
            out.push("retries");
        }
        if self.fault.is_some() {
            out.push("fault");
        }
        if self.rate_limit.is_some() {
            out.push("rate_limit");
        }
        out
    }
}

/// One content-based route: requests matching `match` go to version `to`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    #[serde(rename = "match")]
    pub matches: RouteMatch,
    /// A version of the service (from `services.<name>.versions`).
    pub to: String,
}

/// Conditions of a route; all given conditions must hold.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteMatch {
    /// Exact header values (`x-canary: "true"`); header names are lowercase.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Path prefix, like `/v2/`.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Exact path, like `/healthz`.
    #[serde(default)]
    pub path: Option<String>,
}

impl RouteMatch {
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty() && self.path_prefix.is_none() && self.path.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retries {
    /// Retries after the first try (at least 1).
    pub attempts: u32,
    /// Timeout of each try, like `2s`.
    #[serde(default)]
    pub per_try_timeout: Option<Duration>,
    /// Which failures are retried. Default `[gateway-error]` (502, 503, 504).
    #[serde(default = "default_retry_on")]
    pub on: Vec<RetryOn>,
}

fn default_retry_on() -> Vec<RetryOn> {
    vec![RetryOn::GatewayError]
}

/// A retry condition: a named class of failure or an HTTP status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RetryOn {
    /// Any 5xx response.
    Status5xx,
    /// 502, 503 and 504.
    GatewayError,
    /// The connection was reset (no response).
    Reset,
    /// The connection could not be opened.
    ConnectFailure,
    /// 409 Conflict.
    Retriable4xx,
    /// The upstream refused the HTTP/2 stream (REFUSED_STREAM).
    RefusedStream,
    /// gRPC status codes.
    Cancelled,
    DeadlineExceeded,
    Internal,
    ResourceExhausted,
    Unavailable,
    /// One HTTP status code.
    Status(u16),
}

impl RetryOn {
    pub const NAMES: &'static [&'static str] = &[
        "5xx",
        "gateway-error",
        "reset",
        "connect-failure",
        "retriable-4xx",
        "refused-stream",
        "cancelled",
        "deadline-exceeded",
        "internal",
        "resource-exhausted",
        "unavailable",
    ];

    fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "5xx" => RetryOn::Status5xx,
            "gateway-error" => RetryOn::GatewayError,
            "reset" => RetryOn::Reset,
            "connect-failure" => RetryOn::ConnectFailure,
            "retriable-4xx" => RetryOn::Retriable4xx,
            "refused-stream" => RetryOn::RefusedStream,
            "cancelled" => RetryOn::Cancelled,
            "deadline-exceeded" => RetryOn::DeadlineExceeded,
            "internal" => RetryOn::Internal,
            "resource-exhausted" => RetryOn::ResourceExhausted,
            "unavailable" => RetryOn::Unavailable,
            _ => return None,
        })
    }
}

impl fmt::Display for RetryOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryOn::Status(code) => write!(f, "{code}"),
            RetryOn::Status5xx => f.write_str("5xx"),
            RetryOn::GatewayError => f.write_str("gateway-error"),
            RetryOn::Reset => f.write_str("reset"),
            RetryOn::ConnectFailure => f.write_str("connect-failure"),
            RetryOn::Retriable4xx => f.write_str("retriable-4xx"),
            RetryOn::RefusedStream => f.write_str("refused-stream"),
            RetryOn::Cancelled => f.write_str("cancelled"),
            RetryOn::DeadlineExceeded => f.write_str("deadline-exceeded"),
            RetryOn::Internal => f.write_str("internal"),
            RetryOn::ResourceExhausted => f.write_str("resource-exhausted"),
            RetryOn::Unavailable => f.write_str("unavailable"),
        }
    }
}

impl<'de> Deserialize<'de> for RetryOn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = RetryOn;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a retry condition like `5xx` or a status code like `503`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RetryOn, E> {
                if let Some(r) = RetryOn::from_name(v) {
                    return Ok(r);
                }
                match v.parse::<u64>() {
                    Ok(code) => self.visit_u64(code),
                    Err(_) => Err(E::unknown_variant(v, RetryOn::NAMES)),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RetryOn, E> {
                if (400..=599).contains(&v) {
                    Ok(RetryOn::Status(v as u16))
                } else {
                    Err(E::custom(format!("{v} is not a status code to retry on: use 400 to 599")))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RetryOn, E> {
                self.visit_u64(v.max(0) as u64)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for RetryOn {
    fn schema_name() -> Cow<'static, str> {
        "RetryOn".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A retry condition: 5xx, gateway-error, reset, connect-failure, retriable-4xx, refused-stream, a gRPC status (cancelled, deadline-exceeded, internal, resource-exhausted, unavailable), or an HTTP status code (400-599).",
            "anyOf": [
                {"type": "string", "enum": RetryOn::NAMES},
                {"type": "integer", "minimum": 400, "maximum": 599},
                {"type": "string", "pattern": "^[45][0-9][0-9]$"}
            ]
        })
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreaker {
    /// Consecutive 5xx responses (or connection failures) that eject an endpoint.
    pub consecutive_errors: u32,
    /// How often endpoints are analysed, like `30s`.
    #[serde(default)]
    pub interval: Option<Duration>,
    /// Minimum time an ejected endpoint stays out, like `60s`.
    #[serde(default)]
    pub ejection: Option<Duration>,
    /// Most endpoints that may be ejected at once, a whole percentage like `50%`.
    #[serde(default)]
    pub max_ejected: Option<Percent>,
    /// Connection pool: most TCP connections to the service per client proxy.
    #[serde(default)]
    pub max_connections: Option<u32>,
    /// Connection pool: most requests waiting for a connection.
    #[serde(default)]
    pub max_pending_requests: Option<u32>,
    /// Connection pool: most requests in flight.
    #[serde(default)]
    pub max_requests: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    #[serde(default)]
    pub delay: Option<FaultDelay>,
    #[serde(default)]
    pub abort: Option<FaultAbort>,
}

/// Delay a share of requests.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultDelay {
    /// Share of requests delayed, like `1%`.
    pub percent: Percent,
    /// The delay, like `2s`.
    pub fixed: Duration,
}

/// Fail a share of requests with a status code.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultAbort {
    /// Share of requests aborted, like `0.1%`.
    pub percent: Percent,
    /// HTTP status returned, like `503`.
    pub status: u16,
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Requests per second each pod accepts (token bucket refill).
    pub per_second: u32,
    /// Bucket size: requests accepted in a burst. Default `per_second` (Istio only).
    #[serde(default)]
    pub burst: Option<u32>,
}

/// `mesh.authorization[]`: `from` services may call `to` (with the given methods and paths).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationRule {
    /// Position in `mesh.authorization` (for diagnostics); set by the decoder.
    #[serde(skip)]
    pub index: usize,
    /// The service being protected.
    pub to: String,
    /// Services allowed to call it (their service accounts are the identities).
    pub from: Vec<String>,
    /// HTTP methods allowed; all when omitted.
    #[serde(default)]
    pub methods: Vec<HttpMethod>,
    /// Paths allowed: exact (`/healthz`) or prefix (`/v1/*`); all when omitted.
    #[serde(default)]
    pub paths: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Connect,
    Options,
    Trace,
    Patch,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Head => "HEAD",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Connect => "CONNECT",
            HttpMethod::Options => "OPTIONS",
            HttpMethod::Trace => "TRACE",
            HttpMethod::Patch => "PATCH",
        }
    }
}

/// `mesh.external[]`: hosts outside the cluster that workloads call.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalService {
    /// Position in `mesh.external` (for diagnostics); set by the decoder.
    #[serde(skip)]
    pub index: usize,
    /// Name of the entry (the object name and the address `mesh.external.<name>`).
    pub name: String,
    /// Host names (`api.openai.com`, `*.googleapis.com`).
    pub hosts: Vec<String>,
    /// Ports; 443 is TLS and 80 is HTTP unless `protocol` says otherwise, others TCP.
    pub ports: Vec<u16>,
    /// Protocol of every port: http, https, tls, tcp, grpc or http2.
    #[serde(default)]
    pub protocol: Option<ExternalProtocol>,
    /// Namespace for the object. Default: the namespace of the services, when they share one.
    #[serde(default)]
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExternalProtocol {
    Http,
    Https,
    Tls,
    Tcp,
    Grpc,
    Http2,
}

impl ExternalProtocol {
    pub fn istio_name(self) -> &'static str {
        match self {
            ExternalProtocol::Http => "HTTP",
            ExternalProtocol::Https => "HTTPS",
            ExternalProtocol::Tls => "TLS",
            ExternalProtocol::Tcp => "TCP",
            ExternalProtocol::Grpc => "GRPC",
            ExternalProtocol::Http2 => "HTTP2",
        }
    }

    /// The protocol of `port` when none is given.
    pub fn for_port(port: u16) -> Self {
        match port {
            443 => ExternalProtocol::Tls,
            80 => ExternalProtocol::Http,
            _ => ExternalProtocol::Tcp,
        }
    }
}

/// The wire protocol of a service port, from `services.<name>.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceProtocol {
    Http,
    Http2,
    Grpc,
    Tcp,
}

impl ServiceProtocol {
    pub const NAMES: &'static [&'static str] = &["http", "http2", "grpc", "tcp"];

    pub fn parse(s: Option<&str>) -> Option<Self> {
        Some(match s {
            None | Some("http") => ServiceProtocol::Http,
            Some("http2") => ServiceProtocol::Http2,
            Some("grpc") => ServiceProtocol::Grpc,
            Some("tcp") => ServiceProtocol::Tcp,
            Some(_) => return None,
        })
    }
}
