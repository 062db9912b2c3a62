//! Typed configuration of one `cdn.<name>` entry served by CloudFront. The JSON Schema of the
//! section is generated from these types, and `lower` decodes every entry into them (one entry,
//! and one path rule, at a time, so one pass reports every problem).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::{Deserialize, Deserializer, de};

use crate::spec::units::Duration;

fn yes() -> bool {
    true
}

/// `cdn.<name>` with `provider: cloudfront`: one CloudFront distribution, the cache and origin
/// request policies its behaviors need, and optionally Route 53 alias records for its aliases.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnCloudFront")]
pub struct CloudFrontCdn {
    /// The CDN that serves this entry: `cloudfront`.
    #[allow(dead_code)] // checked by the section before decoding; here for the schema
    pub provider: CdnProvider,
    /// Shown in the CloudFront console (at most 128 characters). Default
    /// `<project>/<env> cdn.<name> (managed by strata)`.
    #[serde(default)]
    pub comment: Option<String>,
    /// Whether the distribution serves traffic. Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The single origin, named like the entry. Use `origins` for several.
    #[serde(default)]
    #[allow(dead_code)] // decoded one by one into `Entry::origins`; here for the schema
    pub origin: Option<OriginSpec>,
    /// Several origins by name; behaviors pick one with `origin: <name>`.
    #[serde(default)]
    #[allow(dead_code)] // decoded one by one into `Entry::origins`; here for the schema
    pub origins: BTreeMap<String, OriginSpec>,
    /// Alternate domain names (CNAMEs) the distribution answers for; they need `certificate`.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The ACM certificate (in us-east-1) covering the aliases: its ARN, or
    /// `{ arn, minimum_tls, ssl_support }`.
    #[serde(default)]
    pub certificate: Option<Certificate>,
    /// Object returned for requests to `/` (`index.html`).
    #[serde(default)]
    pub default_root_object: Option<String>,
    /// The default cache behavior (requests no rule matches) and the path-based `rules`.
    #[serde(default)]
    pub cache: CacheSpec,
    /// CloudFront Functions or Lambda@Edge functions attached to every behavior that does not
    /// set its own `edge_function`: one `{ arn, event }` or a list of them.
    #[serde(default)]
    pub edge_function: Option<EdgeFunctions>,
    /// Custom error responses: `[ { code: 404, page: /index.html, status: 200, ttl: 10s } ]`.
    #[serde(default)]
    pub errors: Vec<ErrorResponse>,
    /// Edge locations used: `all` (default), `200` or `100` (the cheapest regions only).
    #[serde(default)]
    pub price_class: PriceClass,
    /// Serve HTTP/2 to viewers. Default true.
    #[serde(default = "yes")]
    pub http2: bool,
    /// Serve HTTP/3 (QUIC) to viewers. Default false.
    #[serde(default)]
    pub http3: bool,
    /// Answer on IPv6 (and, with `dns`, create AAAA records). Default true.
    #[serde(default = "yes")]
    pub ipv6: bool,
    /// Standard access logs to an S3 bucket.
    #[serde(default)]
    pub logging: Option<Logging>,
    /// AWS WAF web ACL protecting the distribution: a WAFv2 web ACL ARN (global scope).
    #[serde(default)]
    pub web_acl: Option<String>,
    /// Route 53 alias records (A, and AAAA with `ipv6`) pointing the aliases at the
    /// distribution.
    #[serde(default)]
    pub dns: Option<DnsSpec>,
    /// Paths invalidated after an apply that changed the distribution (`["/*"]`).
    #[serde(default)]
    pub invalidate_on_change: Vec<String>,
    /// Tags on the distribution (strata adds its ownership tags).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// A TTL: a duration (`1d`, `30s`) or `0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttl(pub Duration);

impl<'de> Deserialize<'de> for Ttl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Duration::deserialize(d).map(Ttl)
    }
}

impl JsonSchema for Ttl {
    fn schema_name() -> Cow<'static, str> {
        "CdnTtl".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let duration = generator.subschema_for::<Duration>();
        json_schema!({
            "description": "A time to live in whole seconds: a duration like `30s`, `1h` or `7d`, or `0`.",
            "anyOf": [duration, {"const": 0}]
        })
    }
}

/// This target's `provider:` value; in the schema it tells the targets' entry shapes apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CdnProvider {
    Cloudfront,
}

/// One origin.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnOrigin")]
pub struct OriginSpec {
    /// Host name of the origin, without scheme or path: `bucket.s3.us-east-1.amazonaws.com`,
    /// `api.example.com`.
    pub domain: String,
    /// `s3` (a bucket's REST endpoint) or `custom` (any HTTP server, S3 website endpoints
    /// included). Default: `s3` for `*.s3.*amazonaws.com` domains, else `custom`.
    #[serde(rename = "type", default)]
    pub kind: Option<OriginType>,
    /// Prefix added to every request path (`/v2`).
    #[serde(default)]
    pub path: Option<String>,
    /// Region of the Origin Shield caching layer in front of the origin (`us-east-1`).
    #[serde(default)]
    pub shield: Option<String>,
    /// Origin access control id (S3 origins): CloudFront signs requests to a private bucket.
    #[serde(default)]
    pub access_control: Option<String>,
    /// Headers CloudFront adds to every origin request (values are masked in plans; use
    /// `${secret.VAR}` for shared secrets).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Custom origins: `https-only` (default; `http-only` for S3 website endpoints) or
    /// `match-viewer`.
    #[serde(default)]
    pub protocol: Option<OriginProtocol>,
    /// Custom origins: HTTP port (default 80).
    #[serde(default)]
    pub http_port: Option<u16>,
    /// Custom origins: HTTPS port (default 443).
    #[serde(default)]
    pub https_port: Option<u16>,
    /// Custom origins: TLS versions CloudFront may use to the origin (default `[TLSv1.2]`).
    #[serde(default)]
    pub tls: Option<Vec<OriginTls>>,
    /// Custom origins: how long CloudFront waits for a response (default 30s; 1s to 180s).
    #[serde(default)]
    pub read_timeout: Option<Duration>,
    /// Custom origins: how long an idle connection to the origin is kept (default 5s).
    #[serde(default)]
    pub keepalive_timeout: Option<Duration>,
    /// Connection attempts before failing over or giving up (1 to 3, AWS default 3).
    #[serde(default)]
    pub connection_attempts: Option<u8>,
    /// How long each connection attempt may take (1s to 10s, AWS default 10s).
    #[serde(default)]
    pub connection_timeout: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "CdnOriginType")]
pub enum OriginType {
    S3,
    Custom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[schemars(rename = "CdnOriginProtocol")]
pub enum OriginProtocol {
    HttpOnly,
    HttpsOnly,
    MatchViewer,
}

impl OriginProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            OriginProtocol::HttpOnly => "http-only",
            OriginProtocol::HttpsOnly => "https-only",
            OriginProtocol::MatchViewer => "match-viewer",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[schemars(rename = "CdnOriginTls")]
pub enum OriginTls {
    #[serde(rename = "TLSv1.2")]
    Tls12,
    #[serde(rename = "TLSv1.1")]
    Tls11,
    #[serde(rename = "TLSv1")]
    Tls1,
    #[serde(rename = "SSLv3")]
    Ssl3,
}

impl OriginTls {
    pub fn as_str(self) -> &'static str {
        match self {
            OriginTls::Tls12 => "TLSv1.2",
            OriginTls::Tls11 => "TLSv1.1",
            OriginTls::Tls1 => "TLSv1",
            OriginTls::Ssl3 => "SSLv3",
        }
    }
}

/// The viewer certificate: `certificate: arn:aws:acm:us-east-1:...` or the long form.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnCertificateSpec")]
pub struct CertificateSpec {
    /// ARN of an ACM certificate in us-east-1 covering every alias.
    pub arn: String,
    /// Oldest TLS version viewers may use. Default `TLSv1.2_2021`.
    #[serde(default)]
    pub minimum_tls: Option<MinimumTls>,
    /// `sni-only` (default), or `vip` (dedicated IPs, billed monthly) or `static-ip`.
    #[serde(default)]
    pub ssl_support: Option<SslSupport>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate(pub CertificateSpec);

impl<'de> Deserialize<'de> for Certificate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Certificate;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an ACM certificate ARN or a map with `arn`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Certificate, E> {
                Ok(Certificate(CertificateSpec { arn: v.to_string(), minimum_tls: None, ssl_support: None }))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Certificate, A::Error> {
                CertificateSpec::deserialize(MapAccessDeserializer::new(map)).map(Certificate)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Certificate {
    fn schema_name() -> Cow<'static, str> {
        "CdnCertificate".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let long = generator.subschema_for::<CertificateSpec>();
        json_schema!({
            "description": "An ACM certificate in us-east-1: its ARN, or `{ arn, minimum_tls, ssl_support }`.",
            "anyOf": [
                {"type": "string", "pattern": "^arn:"},
                long
            ]
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[schemars(rename = "CdnMinimumTls")]
pub enum MinimumTls {
    #[serde(rename = "TLSv1.3_2025")]
    Tls13_2025,
    #[serde(rename = "TLSv1.2_2025")]
    Tls12_2025,
    #[serde(rename = "TLSv1.2_2021")]
    Tls12_2021,
    #[serde(rename = "TLSv1.2_2019")]
    Tls12_2019,
    #[serde(rename = "TLSv1.2_2018")]
    Tls12_2018,
    #[serde(rename = "TLSv1.1_2016")]
    Tls11_2016,
    #[serde(rename = "TLSv1_2016")]
    Tls1_2016,
    #[serde(rename = "TLSv1")]
    Tls1,
}

impl MinimumTls {
    pub fn as_str(self) -> &'static str {
        match self {
            MinimumTls::Tls13_2025 => "TLSv1.3_2025",
            MinimumTls::Tls12_2025 => "TLSv1.2_2025",
            MinimumTls::Tls12_2021 => "TLSv1.2_2021",
            MinimumTls::Tls12_2019 => "TLSv1.2_2019",
            MinimumTls::Tls12_2018 => "TLSv1.2_2018",
            MinimumTls::Tls11_2016 => "TLSv1.1_2016",
            MinimumTls::Tls1_2016 => "TLSv1_2016",
            MinimumTls::Tls1 => "TLSv1",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[schemars(rename = "CdnSslSupport")]
pub enum SslSupport {
    SniOnly,
    Vip,
    StaticIp,
}

impl SslSupport {
    pub fn as_str(self) -> &'static str {
        match self {
            SslSupport::SniOnly => "sni-only",
            SslSupport::Vip => "vip",
            SslSupport::StaticIp => "static-ip",
        }
    }
}

/// Declares a behavior struct: the settings every cache behavior has, plus `$extra` fields.
macro_rules! behavior_struct {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty,)* }) => {
        #[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        $(#[$meta])*
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            /// The origin requests go to (a key of `origins`, or the entry's name for `origin`).
            /// Default: the only origin; rules default to the origin of `cache`.
            #[serde(default)]
            pub origin: Option<String>,
            /// Shorthand for `min_ttl`, `default_ttl` and `max_ttl` all set to this (`0`: no
            /// caching).
            #[serde(default)]
            pub ttl: Option<Ttl>,
            /// Shortest time an object stays cached, whatever the origin's `Cache-Control` says.
            /// Default 1s (0 when `default_ttl` is 0).
            #[serde(default)]
            pub min_ttl: Option<Ttl>,
            /// How long objects are cached when the origin sends no `Cache-Control` or
            /// `Expires`. Default 1d.
            #[serde(default)]
            pub default_ttl: Option<Ttl>,
            /// Longest time an object stays cached. Default 365d.
            #[serde(default)]
            pub max_ttl: Option<Ttl>,
            /// What reaches the origin: headers, cookies and query strings. With caching on they
            /// are part of the cache key; with `ttl: 0` they are forwarded only.
            #[serde(default)]
            pub forward: Option<Forward>,
            /// Compress responses (gzip, brotli). Default true.
            #[serde(default)]
            pub compress: Option<bool>,
            /// `redirect-to-https` (default), `https-only` or `allow-all`.
            #[serde(default)]
            pub viewer_protocol: Option<ViewerProtocol>,
            /// HTTP methods CloudFront accepts: `[GET, HEAD]` (default), `[GET, HEAD, OPTIONS]`,
            /// or `all` (adds PUT, POST, PATCH, DELETE).
            #[serde(default)]
            pub methods: Option<Methods>,
            /// Cache responses to OPTIONS requests too (needs OPTIONS in `methods`).
            #[serde(default)]
            pub cache_options: bool,
            /// An AWS managed cache policy by name (`CachingOptimized`, `CachingDisabled`, ...)
            /// instead of TTLs and `forward`.
            #[serde(default)]
            pub policy: Option<String>,
            /// An origin request policy: an AWS managed one by name (`CORS-S3Origin`,
            /// `AllViewer`, ...) or a policy id.
            #[serde(default)]
            pub origin_request_policy: Option<String>,
            /// A response headers policy: an AWS managed one by name (`SecurityHeadersPolicy`,
            /// `SimpleCORS`, ...) or a policy id.
            #[serde(default)]
            pub headers_policy: Option<String>,
            /// Functions for this behavior (replaces the entry's `edge_function`; `[]` for none).
            #[serde(default)]
            pub edge_function: Option<EdgeFunctions>,
        }
    };
}

behavior_struct! {
    /// `cache:` — the default cache behavior, and the path-based rules in precedence order.
    #[schemars(rename = "CdnCache")]
    CacheSpec {
        /// Path-based behaviors, first match wins: `[ { path: /api/*, ttl: 0, origin: api } ]`.
        #[serde(default)]
        #[allow(dead_code)] // decoded one by one into `Entry::rules`; here for the schema
        rules: Vec<RuleSpec>,
    }
}

behavior_struct! {
    /// One path-based cache behavior.
    #[schemars(rename = "CdnRule")]
    RuleSpec {
        /// The path pattern (`/api/*`, `*.jpg`); `*` and `?` are wildcards, matching is
        /// case-sensitive.
        path: String,
        /// Names the rule's policies (`cdn.<entry>.cache.<name>`). Default: derived from `path`.
        #[serde(default)]
        name: Option<String>,
    }
}

/// The settings every behavior has, borrowed from a [`CacheSpec`] or [`RuleSpec`].
pub struct Behavior<'a> {
    pub origin: Option<&'a str>,
    pub ttl: Option<Duration>,
    pub min_ttl: Option<Duration>,
    pub default_ttl: Option<Duration>,
    pub max_ttl: Option<Duration>,
    pub forward: Option<&'a Forward>,
    pub compress: Option<bool>,
    pub viewer_protocol: Option<ViewerProtocol>,
    pub methods: Option<&'a Methods>,
    pub cache_options: bool,
    pub policy: Option<&'a str>,
    pub origin_request_policy: Option<&'a str>,
    pub headers_policy: Option<&'a str>,
    pub edge_function: Option<&'a EdgeFunctions>,
}

macro_rules! behavior_view {
    ($t:ty) => {
        impl $t {
            pub fn behavior(&self) -> Behavior<'_> {
                Behavior {
                    origin: self.origin.as_deref(),
                    ttl: self.ttl.map(|t| t.0),
                    min_ttl: self.min_ttl.map(|t| t.0),
                    default_ttl: self.default_ttl.map(|t| t.0),
                    max_ttl: self.max_ttl.map(|t| t.0),
                    forward: self.forward.as_ref(),
                    compress: self.compress,
                    viewer_protocol: self.viewer_protocol,
                    methods: self.methods.as_ref(),
                    cache_options: self.cache_options,
                    policy: self.policy.as_deref(),
                    origin_request_policy: self.origin_request_policy.as_deref(),
                    headers_policy: self.headers_policy.as_deref(),
                    edge_function: self.edge_function.as_ref(),
                }
            }
        }
    };
}
behavior_view!(CacheSpec);
behavior_view!(RuleSpec);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[schemars(rename = "CdnViewerProtocol")]
pub enum ViewerProtocol {
    RedirectToHttps,
    HttpsOnly,
    AllowAll,
}

impl ViewerProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            ViewerProtocol::RedirectToHttps => "redirect-to-https",
            ViewerProtocol::HttpsOnly => "https-only",
            ViewerProtocol::AllowAll => "allow-all",
        }
    }
}

/// `forward: { headers: [Authorization], cookies: none, query: all }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnForward")]
pub struct Forward {
    /// Header names, or `all` (every viewer header; forwarded, never part of the cache key).
    #[serde(default)]
    pub headers: Selection,
    /// Cookie names, `all` or `none` (default).
    #[serde(default)]
    pub cookies: Selection,
    /// Query string parameter names, `all` or `none` (default).
    #[serde(default)]
    pub query: Selection,
}

/// `none`, `all`, or a list of names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Selection {
    #[default]
    None,
    All,
    Only(Vec<String>),
}

impl Selection {
    /// A list names nothing when it is empty.
    pub fn normalized(&self) -> Selection {
        match self {
            Selection::Only(v) if v.is_empty() => Selection::None,
            other => other.clone(),
        }
    }
}

impl<'de> Deserialize<'de> for Selection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Selection;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`all`, `none` or a list of names")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Selection, E> {
                match v {
                    "none" => Ok(Selection::None),
                    "all" => Ok(Selection::All),
                    other => Err(E::custom(format!(
                        "`{other}` is neither `all` nor `none`: write a list of names, like `[{other}]`"
                    ))),
                }
            }
            fn visit_unit<E: de::Error>(self) -> Result<Selection, E> {
                Ok(Selection::None)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Selection, A::Error> {
                Vec::<String>::deserialize(SeqAccessDeserializer::new(seq)).map(Selection::Only)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Selection {
    fn schema_name() -> Cow<'static, str> {
        "CdnSelection".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "`none`, `all`, or a list of names.",
            "anyOf": [
                {"enum": ["none", "all"]},
                {"type": "array", "items": {"type": "string", "minLength": 1}}
            ]
        })
    }
}

/// An HTTP method CloudFront can accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
#[schemars(rename = "CdnMethod")]
pub enum Method {
    Get,
    Head,
    Options,
    Put,
    Post,
    Patch,
    Delete,
}

impl Method {
    pub const ALL: [Method; 7] =
        [Method::Get, Method::Head, Method::Options, Method::Put, Method::Post, Method::Patch, Method::Delete];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
            Method::Put => "PUT",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// `methods: [GET, HEAD]` or `methods: all`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Methods(pub Vec<Method>);

impl<'de> Deserialize<'de> for Methods {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Methods;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`all` or a list of HTTP methods")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Methods, E> {
                if v == "all" {
                    Ok(Methods(Method::ALL.to_vec()))
                } else {
                    Err(E::custom(format!(
                        "`{v}` is not a set of methods: write `all` or a list, like `[GET, HEAD, OPTIONS]`"
                    )))
                }
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Methods, A::Error> {
                Vec::<Method>::deserialize(SeqAccessDeserializer::new(seq)).map(Methods)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Methods {
    fn schema_name() -> Cow<'static, str> {
        "CdnMethods".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let method = generator.subschema_for::<Method>();
        json_schema!({
            "description": "`[GET, HEAD]`, `[GET, HEAD, OPTIONS]`, or `all` (every method).",
            "anyOf": [
                {"const": "all"},
                {"type": "array", "items": method}
            ]
        })
    }
}

/// A function attached to a behavior: a CloudFront Function or a Lambda@Edge version, told
/// apart by its ARN.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnEdgeFunction")]
pub struct EdgeFunction {
    /// `arn:aws:cloudfront::<account>:function/<name>` (CloudFront Function) or
    /// `arn:aws:lambda:us-east-1:<account>:function:<name>:<version>` (Lambda@Edge).
    #[serde(default)]
    pub arn: Option<String>,
    /// Source file of a function for strata to publish. Not supported in this build: publish
    /// the function and give its `arn`.
    #[serde(default)]
    pub code: Option<String>,
    /// `viewer-request`, `viewer-response` (both kinds), `origin-request`, `origin-response`
    /// (Lambda@Edge only).
    pub event: EdgeEvent,
    /// Lambda@Edge on request events: pass the request body to the function. Default false.
    #[serde(default)]
    pub include_body: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[schemars(rename = "CdnEdgeEvent")]
pub enum EdgeEvent {
    ViewerRequest,
    ViewerResponse,
    OriginRequest,
    OriginResponse,
}

impl EdgeEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeEvent::ViewerRequest => "viewer-request",
            EdgeEvent::ViewerResponse => "viewer-response",
            EdgeEvent::OriginRequest => "origin-request",
            EdgeEvent::OriginResponse => "origin-response",
        }
    }

    pub fn is_viewer(self) -> bool {
        matches!(self, EdgeEvent::ViewerRequest | EdgeEvent::ViewerResponse)
    }
}

/// One function or a list of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeFunctions {
    pub items: Vec<EdgeFunction>,
    /// Written as a single map (diagnostics then point at the map, not at a list item).
    pub single: bool,
}

impl<'de> Deserialize<'de> for EdgeFunctions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = EdgeFunctions;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a function `{ arn, event }` or a list of them")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<EdgeFunctions, A::Error> {
                EdgeFunction::deserialize(MapAccessDeserializer::new(map))
                    .map(|f| EdgeFunctions { items: vec![f], single: true })
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<EdgeFunctions, A::Error> {
                Vec::<EdgeFunction>::deserialize(SeqAccessDeserializer::new(seq))
                    .map(|items| EdgeFunctions { items, single: false })
            }
            fn visit_unit<E: de::Error>(self) -> Result<EdgeFunctions, E> {
                Ok(EdgeFunctions { items: Vec::new(), single: false })
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for EdgeFunctions {
    fn schema_name() -> Cow<'static, str> {
        "CdnEdgeFunctions".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let one = generator.subschema_for::<EdgeFunction>();
        json_schema!({
            "description": "One function `{ arn, event }` or a list of them (at most one per event).",
            "anyOf": [one.clone(), {"type": "array", "items": one}]
        })
    }
}

/// A custom error response.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnErrorResponse")]
pub struct ErrorResponse {
    /// The status the origin answered (403, 404, 500, ...).
    pub code: u16,
    /// Object served instead (`/index.html`).
    #[serde(default)]
    pub page: Option<String>,
    /// Status returned to the viewer with `page` (200 for single-page apps). Default: `code`.
    #[serde(default)]
    pub status: Option<u16>,
    /// How long CloudFront caches the error before asking the origin again (AWS default 10s).
    #[serde(default)]
    pub ttl: Option<Ttl>,
}

/// `price_class: all | 200 | 100`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PriceClass {
    #[default]
    All,
    P200,
    P100,
}

impl PriceClass {
    pub fn aws(self) -> &'static str {
        match self {
            PriceClass::All => "PriceClass_All",
            PriceClass::P200 => "PriceClass_200",
            PriceClass::P100 => "PriceClass_100",
        }
    }
}

impl<'de> Deserialize<'de> for PriceClass {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = PriceClass;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`all`, `200` or `100`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PriceClass, E> {
                match v.trim() {
                    "all" | "All" | "PriceClass_All" => Ok(PriceClass::All),
                    "200" | "PriceClass_200" => Ok(PriceClass::P200),
                    "100" | "PriceClass_100" => Ok(PriceClass::P100),
                    other => Err(E::custom(format!(
                        "`{other}` is not a CloudFront price class: write `all`, `200` or `100`"
                    ))),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PriceClass, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PriceClass, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for PriceClass {
    fn schema_name() -> Cow<'static, str> {
        "CdnPriceClass".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Edge locations used: `all` (default), `200` (most regions) or `100` (North America, Europe, Israel).",
            "anyOf": [
                {"enum": ["all", "200", "100", "PriceClass_All", "PriceClass_200", "PriceClass_100"]},
                {"enum": [200, 100]}
            ]
        })
    }
}

/// `logging: { bucket: apex-logs, prefix: cdn/ }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnLogging")]
pub struct Logging {
    /// The bucket: its name (`apex-logs`) or its domain (`apex-logs.s3.amazonaws.com`).
    pub bucket: String,
    /// Prefix of the log object names (`cdn/`).
    #[serde(default)]
    pub prefix: String,
    /// Include cookies in the logs. Default false.
    #[serde(default)]
    pub cookies: bool,
}

/// `dns: { zone: example.com }`: alias records for the aliases.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnDns")]
pub struct DnsSpec {
    /// The DNS provider holding the zone. This build supports `route53` (the default).
    #[serde(default)]
    pub provider: Option<String>,
    /// Name of the hosted zone (`example.com`); every record must lie inside it.
    pub zone: String,
    /// Use the private hosted zone of that name. Default false.
    #[serde(default)]
    pub private: bool,
    /// Which aliases get records. Default: every alias.
    #[serde(default)]
    pub records: Option<Vec<String>>,
}

pub const DNS_PROVIDERS: &[&str] = &["route53", "cloudflare"];
