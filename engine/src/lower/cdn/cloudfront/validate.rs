//! Semantic checks of one `cdn.<name>` entry beyond what decoding catches. Every check reports
//! at the span of the value at fault and keeps going; `entry` says whether all passed.

use std::collections::{BTreeMap, BTreeSet};

use strata_aws_model::managed;

use super::Entry;
use super::build::{
    self, EdgeKind, Ttls, edge_kind, forward_needs_origin_request_policy, normalize_host, origin_type, relative_name,
    rule_names, secs, ttls,
};
use super::config::{Behavior, EdgeFunctions, Method, OriginType, Selection};
use crate::diag::did_you_mean;
use crate::spec::units::Duration;
use crate::spec::{Path, SpecContext, path};

/// Statuses CloudFront can replace with a custom error response.
const ERROR_CODES: &[u16] = &[400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504];
/// Statuses a custom error response can return.
const RESPONSE_CODES: &[u16] = &[200, 400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504];
/// Ownership tags strata sets itself.
const RESERVED_TAGS: &[&str] = &[
    strata_sdk::OWNERSHIP_MANAGED_BY_KEY,
    strata_sdk::OWNERSHIP_PROJECT_KEY,
    strata_sdk::OWNERSHIP_ENV_KEY,
    strata_sdk::OWNERSHIP_ADDRESS_KEY,
];

fn at(name: &str, rest: &[&str]) -> Path {
    let mut p = path(["cdn", name]);
    p.extend(rest.iter().map(|s| s.to_string()));
    p
}

fn join(base: &[String], rest: &[&str]) -> Path {
    let mut p = base.to_vec();
    p.extend(rest.iter().map(|s| s.to_string()));
    p
}

/// Counts the diagnostics reported through it, so `entry` can tell whether any check failed.
struct Checker<'c, 'a> {
    cx: &'c mut SpecContext<'a>,
    errors: usize,
}

impl Checker<'_, '_> {
    fn error(&mut self, p: &[String], code: &'static str, summary: &'static str, detail: String, help: Option<String>) {
        self.errors += 1;
        self.cx.error(p, code, summary, detail, help);
    }

    fn key_error(
        &mut self,
        p: &[String],
        code: &'static str,
        summary: &'static str,
        detail: String,
        help: Option<String>,
    ) {
        self.errors += 1;
        self.cx.key_error(p, code, summary, detail, help);
    }
}

/// Checks one decoded entry; true when no problem was found.
pub fn entry(cx: &mut SpecContext<'_>, name: &str, e: &Entry) -> bool {
    let mut c = Checker { cx, errors: 0 };
    let spec = &e.spec;
    if let Some(comment) = &spec.comment
        && comment.chars().count() > 128
    {
        c.error(
            &at(name, &["comment"]),
            "cdn::comment-too-long",
            "Comment too long",
            format!("The comment has {} characters; CloudFront takes at most 128.", comment.chars().count()),
            None,
        );
    }
    origins(&mut c, name, e);
    aliases(&mut c, name, e);
    certificate(&mut c, name, e);
    if let Some(o) = &spec.default_root_object
        && (o.starts_with('/') || o.is_empty())
    {
        c.error(
            &at(name, &["default_root_object"]),
            "cdn::invalid-root-object",
            "Invalid default root object",
            format!("`{o}` is not an object name: CloudFront wants the name without a leading `/`."),
            Some(format!("write `{}`", o.trim_start_matches('/'))),
        );
    }
    if e.cache_complete {
        behavior(&mut c, name, e, &at(name, &["cache"]), &spec.cache.behavior());
    }
    if let Some(f) = &spec.edge_function {
        edge_functions(&mut c, &at(name, &["edge_function"]), f);
    }
    rules(&mut c, name, e);
    errors(&mut c, name, e);
    if let Some(l) = &spec.logging
        && l.bucket.trim().is_empty()
    {
        c.error(
            &at(name, &["logging", "bucket"]),
            "cdn::invalid-logging",
            "Invalid logging bucket",
            "The logging bucket is empty.".into(),
            Some("name the bucket, like `bucket: apex-logs`".into()),
        );
    }
    if let Some(w) = &spec.web_acl {
        web_acl(&mut c, name, w);
    }
    dns(&mut c, name, e);
    for (i, p) in spec.invalidate_on_change.iter().enumerate() {
        if !p.starts_with('/') {
            c.error(
                &at(name, &["invalidate_on_change", &i.to_string()]),
                "cdn::invalid-invalidation-path",
                "Invalid invalidation path",
                format!("`{p}` is not an invalidation path: CloudFront paths start with `/`."),
                Some(format!("write `/{}`", p.trim_start_matches('/'))),
            );
        }
    }
    for k in spec.tags.keys() {
        if RESERVED_TAGS.contains(&k.as_str()) {
            c.key_error(
                &at(name, &["tags", k]),
                "cdn::reserved-tag",
                "Reserved tag",
                format!("The tag `{k}` is one of strata's ownership marks, which strata sets itself."),
                Some("remove it, or use another key".into()),
            );
        }
    }
    c.errors == 0
}

fn origins(c: &mut Checker<'_, '_>, name: &str, e: &Entry) {
    let single = e.origins.iter().any(|(_, p, _)| p.get(2).map(String::as_str) == Some("origin"));
    let many = e.origins.iter().any(|(_, p, _)| p.get(2).map(String::as_str) == Some("origins"));
    if single && many {
        c.key_error(
            &at(name, &["origins"]),
            "cdn::origin-conflict",
            "Conflicting origins",
            format!(
                "`cdn.{name}` sets both `origin` and `origins`; use `origin` for one origin, `origins` for several."
            ),
            Some(format!(
                "move the single origin into `origins` under a name, like `origins: {{ {name}: {{ domain: ... }} }}`"
            )),
        );
    }
    if e.origins.is_empty() && e.origins_complete {
        c.key_error(
            &at(name, &[]),
            "cdn::missing-origin",
            "Missing origin",
            format!("`cdn.{name}` has no origin, so the distribution would have nothing to serve."),
            Some("add `origin: { domain: my-bucket.s3.us-east-1.amazonaws.com }`".into()),
        );
    }
    for (id, p, o) in &e.origins {
        if p.get(2).map(String::as_str) == Some("origins") && !valid_origin_id(id) {
            c.key_error(
                p,
                "cdn::invalid-name",
                "Invalid name",
                format!("`{id}` cannot be an origin name: use letters, digits, `-` and `_`, at most 128 characters."),
                None,
            );
        }
        let domain = o.domain.trim();
        let dp = join(p, &["domain"]);
        if let Some((scheme, rest)) = domain.split_once("://") {
            c.error(
                &dp,
                "cdn::invalid-origin",
                "Invalid origin",
                format!("`{domain}` includes the scheme `{scheme}://`; an origin is a host name, and the protocol is a setting of its own."),
                Some(format!(
                    "write `domain: {}`{}",
                    rest.split('/').next().unwrap_or(rest),
                    if scheme == "http" { " and `protocol: http-only`" } else { "" }
                )),
            );
        } else if let Some((host, p2)) = domain.split_once('/') {
            c.error(
                &dp,
                "cdn::invalid-origin",
                "Invalid origin",
                format!("`{domain}` includes a path; an origin is a host name, and a path prefix goes in `path`."),
                Some(format!("write `domain: {host}` and `path: /{}`", p2.trim_end_matches('/'))),
            );
        } else if !is_hostname(domain, false) {
            c.error(
                &dp,
                "cdn::invalid-origin",
                "Invalid origin",
                format!("`{domain}` is not a host name."),
                Some("write a host name like `assets.s3.us-east-1.amazonaws.com` or `api.example.com`".into()),
            );
        }
        if let Some(path) = &o.path
            && (!path.starts_with('/') || path.ends_with('/') || path.contains(char::is_whitespace))
        {
            let fixed = format!("/{}", path.trim_matches('/'));
            c.error(
                &join(p, &["path"]),
                "cdn::invalid-origin-path",
                "Invalid origin path",
                format!("`{path}` is not an origin path: it starts with `/` and does not end with one."),
                Some(format!("write `{fixed}`")),
            );
        }
        if let Some(r) = &o.shield
            && !is_region(r)
        {
            c.error(
                &join(p, &["shield"]),
                "cdn::invalid-region",
                "Invalid region",
                format!(
                    "`{r}` is not an AWS region; Origin Shield runs in a region such as `us-east-1` or `eu-west-1`."
                ),
                Some("choose the region closest to the origin".into()),
            );
        }
        let kind = origin_type(o);
        if kind == OriginType::S3 {
            for (key, set) in [
                ("protocol", o.protocol.is_some()),
                ("http_port", o.http_port.is_some()),
                ("https_port", o.https_port.is_some()),
                ("tls", o.tls.is_some()),
                ("read_timeout", o.read_timeout.is_some()),
                ("keepalive_timeout", o.keepalive_timeout.is_some()),
            ] {
                if set {
                    c.key_error(
                        &join(p, &[key]),
                        "cdn::origin-setting-mismatch",
                        "Setting does not apply",
                        format!("`{key}` is a setting of custom (HTTP) origins, and `{domain}` is an S3 origin; CloudFront talks to S3 over HTTPS on its own terms."),
                        Some("remove it, or set `type: custom` for an S3 website endpoint or another server".into()),
                    );
                }
            }
        } else {
            if o.access_control.is_some() {
                c.key_error(
                    &join(p, &["access_control"]),
                    "cdn::origin-setting-mismatch",
                    "Setting does not apply",
                    format!("Origin access control signs requests to S3 buckets, and `{domain}` is a custom origin."),
                    Some(if build::is_s3_website_endpoint(domain) {
                        "S3 website endpoints cannot be private: use the bucket's REST endpoint (`<bucket>.s3.<region>.amazonaws.com`) with access control".to_string()
                    } else {
                        "remove `access_control`, or set `type: s3` if this is a bucket".to_string()
                    }),
                );
            }
            for (key, port) in [("http_port", o.http_port), ("https_port", o.https_port)] {
                if let Some(port) = port
                    && !(port == 80 || port == 443 || port >= 1024)
                {
                    c.error(
                        &join(p, &[key]),
                        "cdn::invalid-port",
                        "Invalid port",
                        format!("CloudFront connects to origins on port 80, 443 or 1024 to 65535, not {port}."),
                        None,
                    );
                }
            }
            if let Some(tls) = &o.tls
                && tls.is_empty()
            {
                c.error(
                    &join(p, &["tls"]),
                    "cdn::invalid-origin",
                    "Invalid origin",
                    "`tls` is empty, so CloudFront could not connect to the origin over HTTPS.".into(),
                    Some("write `tls: [TLSv1.2]`".into()),
                );
            }
            timeout(c, &join(p, &["read_timeout"]), o.read_timeout, 1, 180, "The response timeout");
            timeout(c, &join(p, &["keepalive_timeout"]), o.keepalive_timeout, 1, 180, "The keep-alive timeout");
        }
        timeout(c, &join(p, &["connection_timeout"]), o.connection_timeout, 1, 10, "The connection timeout");
        if let Some(n) = o.connection_attempts
            && !(1..=3).contains(&n)
        {
            c.error(
                &join(p, &["connection_attempts"]),
                "cdn::invalid-timeout",
                "Invalid connection setting",
                format!("CloudFront makes 1 to 3 connection attempts, not {n}."),
                None,
            );
        }
        for k in o.headers.keys() {
            if !is_header_name(k) {
                c.key_error(
                    &join(p, &["headers", k]),
                    "cdn::invalid-header",
                    "Invalid header name",
                    format!("`{k}` is not an HTTP header name."),
                    None,
                );
            }
        }
    }
}

fn timeout(c: &mut Checker<'_, '_>, p: &[String], d: Option<Duration>, lo: u64, hi: u64, what: &str) {
    let Some(d) = d else { return };
    if d.millis % 1000 != 0 || !(lo..=hi).contains(&secs(d)) {
        c.error(
            p,
            "cdn::invalid-timeout",
            "Invalid connection setting",
            format!("{what} is {d}, but CloudFront takes whole seconds from {lo}s to {hi}s."),
            None,
        );
    }
}

fn aliases(c: &mut Checker<'_, '_>, name: &str, e: &Entry) {
    let spec = &e.spec;
    let mut seen = BTreeSet::new();
    for (i, a) in spec.aliases.iter().enumerate() {
        let p = at(name, &["aliases", &i.to_string()]);
        if !is_hostname(a, true) {
            c.error(
                &p,
                "cdn::invalid-alias",
                "Invalid alias",
                format!("`{a}` is not a domain name CloudFront can answer for (a wildcard is only allowed as the first label: `*.example.com`)."),
                None,
            );
        } else if !seen.insert(normalize_host(a)) {
            c.error(
                &p,
                "cdn::duplicate-alias",
                "Duplicate alias or record",
                format!("The alias `{a}` is listed twice."),
                None,
            );
        }
    }
    if let Some(first) = spec.aliases.first()
        && spec.certificate.is_none()
        && !e.removed.iter().any(|k| k == "certificate")
    {
        c.error(
            &at(name, &["aliases", "0"]),
            "cdn::alias-without-certificate",
            "Alias without certificate",
            format!("CloudFront serves an alias such as `{first}` only with a certificate that covers it, and `cdn.{name}` has no `certificate`."),
            Some("add `certificate: arn:aws:acm:us-east-1:<account>:certificate/<id>` (an ACM certificate in us-east-1)".into()),
        );
    }
}

fn certificate(c: &mut Checker<'_, '_>, name: &str, e: &Entry) {
    let Some(cert) = &e.spec.certificate else { return };
    let arn = cert.0.arn.as_str();
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let p = if e.spec.certificate.as_ref().is_some_and(|_| is_long_form(c.cx, name)) {
        at(name, &["certificate", "arn"])
    } else {
        at(name, &["certificate"])
    };
    if parts.len() < 6 || parts[0] != "arn" || parts[2] != "acm" || !parts[5].starts_with("certificate/") {
        c.error(
            &p,
            "cdn::invalid-certificate",
            "Invalid certificate",
            format!("`{arn}` is not an ACM certificate ARN."),
            Some("write `arn:aws:acm:us-east-1:<account>:certificate/<id>`".into()),
        );
    } else if parts[3] != "us-east-1" {
        c.error(
            &p,
            "cdn::certificate-region",
            "Certificate in the wrong region",
            format!("The certificate is in `{}`, but CloudFront only uses ACM certificates from us-east-1.", parts[3]),
            Some("request or import the certificate in us-east-1 (N. Virginia)".into()),
        );
    }
}

fn is_long_form(cx: &SpecContext<'_>, name: &str) -> bool {
    strata_sdk::value::get(cx.doc, &at(name, &["certificate"])).is_some_and(|v| v.is_object())
}

/// Checks a behavior (the default one at `base` = `cdn.<name>.cache`, or a rule).
/// Checks one behavior (the default, at `cdn.<name>.cache`, or a rule), one concern at a time.
fn behavior(c: &mut Checker<'_, '_>, name: &str, e: &Entry, base: &[String], b: &Behavior<'_>) {
    behavior_origin(c, name, e, base, b);
    behavior_ttls(c, base, b);
    behavior_policies(c, base, b);
    behavior_forwarding(c, base, b);
    behavior_methods(c, base, b);
    if let Some(f) = b.edge_function {
        edge_functions(c, &join(base, &["edge_function"]), f);
    }
}

/// The behavior's origin exists; with several origins, the default behavior names one.
fn behavior_origin(c: &mut Checker<'_, '_>, name: &str, e: &Entry, base: &[String], b: &Behavior<'_>) {
    match b.origin {
        Some(o) if e.origins_complete && !e.origins.iter().any(|(id, _, _)| id == o) => {
            let ids: Vec<&str> = e.origins.iter().map(|(id, _, _)| id.as_str()).collect();
            let help = did_you_mean(o, ids.iter().copied())
                .or_else(|| (!ids.is_empty()).then(|| format!("origins: {}", ids.join(", "))));
            c.error(
                &join(base, &["origin"]),
                "cdn::unknown-origin",
                "Unknown origin",
                format!("`{o}` is not an origin of `cdn.{name}`."),
                help,
            );
        }
        None if e.origins.len() > 1 && e.spec.cache.origin.is_none() && base.len() == 3 => {
            let ids: Vec<&str> = e.origins.iter().map(|(id, _, _)| id.as_str()).collect();
            // At `cache` when it is written, else at `origins`.
            let written = strata_sdk::value::get(c.cx.doc, base).is_some();
            c.key_error(
                &if written { base.to_vec() } else { at(name, &["origins"]) },
                "cdn::ambiguous-origin",
                "Which origin?",
                format!(
                    "`cdn.{name}` has several origins ({}), and this behavior does not say which one serves it.",
                    ids.join(", ")
                ),
                Some(format!("add `origin: {}`", ids[0])),
            );
        }
        _ => {}
    }
}

/// TTLs: whole seconds, `ttl` or the three others, min ≤ default ≤ max.
fn behavior_ttls(c: &mut Checker<'_, '_>, base: &[String], b: &Behavior<'_>) {
    let mut ttl_ok = true;
    for (key, d) in [("ttl", b.ttl), ("min_ttl", b.min_ttl), ("default_ttl", b.default_ttl), ("max_ttl", b.max_ttl)] {
        if let Some(d) = d
            && d.millis % 1000 != 0
        {
            ttl_ok = false;
            c.error(
                &join(base, &[key]),
                "cdn::invalid-ttl",
                "Invalid TTL",
                format!("`{key}` is {d}, but CloudFront TTLs are whole seconds."),
                Some(format!("use `{}s` or another whole number of seconds", d.millis.div_ceil(1000))),
            );
        }
    }
    if b.ttl.is_some()
        && let Some((key, _)) = [("min_ttl", b.min_ttl), ("default_ttl", b.default_ttl), ("max_ttl", b.max_ttl)]
            .into_iter()
            .find(|(_, v)| v.is_some())
    {
        ttl_ok = false;
        c.key_error(
            &join(base, &[key]),
            "cdn::ttl-conflict",
            "Conflicting TTLs",
            format!("`ttl` sets the minimum, default and maximum TTL at once, and `{key}` sets one of them again."),
            Some("keep `ttl`, or replace it with `min_ttl`, `default_ttl` and `max_ttl`".into()),
        );
    }
    if ttl_ok {
        let Ttls { min, default, max } = ttls(b);
        let show = |s: u64| Duration::from_millis(s * 1000).to_string();
        if min > default {
            let key = if b.min_ttl.is_some() { "min_ttl" } else { "default_ttl" };
            c.error(
                &join(base, &[key]),
                "cdn::ttl-order",
                "TTLs out of order",
                format!(
                    "The minimum TTL ({}) is above the default TTL ({}); CloudFront needs min ≤ default ≤ max.",
                    show(min),
                    show(default)
                ),
                Some("lower `min_ttl` or raise `default_ttl`".into()),
            );
        }
        if default > max {
            let key = if b.max_ttl.is_some() { "max_ttl" } else { "default_ttl" };
            c.error(
                &join(base, &[key]),
                "cdn::ttl-order",
                "TTLs out of order",
                format!(
                    "The default TTL ({}) is above the maximum TTL ({}); CloudFront needs min ≤ default ≤ max.",
                    show(default),
                    show(max)
                ),
                Some("lower `default_ttl` or raise `max_ttl`".into()),
            );
        }
    }
}

/// A managed cache policy instead of TTLs and forwarding; managed or custom-id origin request
/// and response headers policies.
fn behavior_policies(c: &mut Checker<'_, '_>, base: &[String], b: &Behavior<'_>) {
    if let Some(p) = b.policy {
        if managed::id_by_name(managed::CACHE_POLICIES, p).is_none() {
            let names: Vec<&str> = managed::CACHE_POLICIES.iter().map(|(n, _)| *n).collect();
            c.error(
                &join(base, &["policy"]),
                "cdn::unknown-policy",
                "Unknown managed policy",
                format!("`{p}` is not an AWS managed cache policy."),
                did_you_mean(p, names.iter().copied())
                    .or_else(|| Some(format!("managed cache policies: {}", names.join(", ")))),
            );
        }
        for key in ["ttl", "min_ttl", "default_ttl", "max_ttl", "forward"] {
            let set = match key {
                "ttl" => b.ttl.is_some(),
                "min_ttl" => b.min_ttl.is_some(),
                "default_ttl" => b.default_ttl.is_some(),
                "max_ttl" => b.max_ttl.is_some(),
                _ => b.forward.is_some(),
            };
            if set {
                c.key_error(
                    &join(base, &[key]),
                    "cdn::policy-conflict",
                    "Conflicting policy settings",
                    format!("`policy: {p}` names a managed cache policy, which fixes the TTLs and the cache key, so `{key}` would be ignored."),
                    Some(format!("remove `{key}`, or remove `policy` and let strata create a policy from the settings")),
                );
                break;
            }
        }
    }
    for (key, value, table, what) in [
        ("origin_request_policy", b.origin_request_policy, managed::ORIGIN_REQUEST_POLICIES, "origin request"),
        ("headers_policy", b.headers_policy, managed::RESPONSE_HEADERS_POLICIES, "response headers"),
    ] {
        let Some(v) = value else { continue };
        if build::policy_ref(table, v).is_none() {
            let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
            c.error(
                &join(base, &[key]),
                "cdn::unknown-policy",
                "Unknown managed policy",
                format!("`{v}` is neither an AWS managed {what} policy nor a policy id."),
                did_you_mean(v, names.iter().copied())
                    .or_else(|| Some(format!("managed {what} policies: {}", names.join(", ")))),
            );
        }
    }
    if b.origin_request_policy.is_some() && b.policy.is_none() && forward_needs_origin_request_policy(b) {
        c.key_error(
            &join(base, &["origin_request_policy"]),
            "cdn::policy-conflict",
            "Conflicting policy settings",
            "`forward` needs an origin request policy of its own here (values forwarded without being in the cache key), and `origin_request_policy` names another one; a behavior has one.".into(),
            Some("remove `origin_request_policy`, or move what it forwards into `forward`".into()),
        );
    }
}

/// Forwarded headers, cookies and query strings: valid, forwardable, not repeated.
fn behavior_forwarding(c: &mut Checker<'_, '_>, base: &[String], b: &Behavior<'_>) {
    if let Some(f) = b.forward {
        for (key, sel) in [("headers", &f.headers), ("cookies", &f.cookies), ("query", &f.query)] {
            if let Selection::Only(items) = sel {
                let mut seen = BTreeSet::new();
                for (i, item) in items.iter().enumerate() {
                    let ip = join(base, &["forward", key, &i.to_string()]);
                    if key == "headers" && !is_header_name(item) {
                        c.error(
                            &ip,
                            "cdn::invalid-header",
                            "Invalid header name",
                            format!("`{item}` is not an HTTP header name."),
                            None,
                        );
                    } else if key == "headers" && item.eq_ignore_ascii_case("accept-encoding") {
                        c.error(
                            &ip,
                            "cdn::invalid-forward",
                            "Invalid forward entry",
                            "CloudFront does not forward `Accept-Encoding` as a header: it normalizes it into the cache key when compression is on.".into(),
                            Some("remove it; `compress: true` (the default) takes care of it".into()),
                        );
                    } else if key == "headers" && item.eq_ignore_ascii_case("cookie") {
                        c.error(
                            &ip,
                            "cdn::invalid-forward",
                            "Invalid forward entry",
                            "CloudFront does not forward the `Cookie` header as such; cookies are chosen in `forward.cookies`.".into(),
                            Some("remove it and write `cookies: all` or `cookies: [session]`".into()),
                        );
                    } else if item.trim().is_empty() {
                        c.error(
                            &ip,
                            "cdn::invalid-forward",
                            "Invalid forward entry",
                            format!("An empty name cannot be forwarded in `{key}`."),
                            None,
                        );
                    } else if !seen.insert(item.to_ascii_lowercase()) {
                        c.error(
                            &ip,
                            "cdn::invalid-forward",
                            "Invalid forward entry",
                            format!("`{item}` is listed twice in `{key}`."),
                            None,
                        );
                    }
                }
            }
        }
    }
}

/// Methods: one of the three sets CloudFront accepts, OPTIONS when OPTIONS are cached.
fn behavior_methods(c: &mut Checker<'_, '_>, base: &[String], b: &Behavior<'_>) {
    if let Some(m) = b.methods {
        let set: BTreeSet<Method> = m.0.iter().copied().collect();
        let read: BTreeSet<Method> = [Method::Get, Method::Head].into();
        let read_options: BTreeSet<Method> = [Method::Get, Method::Head, Method::Options].into();
        let all: BTreeSet<Method> = Method::ALL.into();
        if set != read && set != read_options && set != all {
            c.key_error(
                &join(base, &["methods"]),
                "cdn::invalid-methods",
                "Unsupported set of methods",
                "CloudFront accepts exactly one of three sets of methods: [GET, HEAD], [GET, HEAD, OPTIONS], or all seven (adding PUT, POST, PATCH, DELETE).".into(),
                Some(if set.iter().any(|m| !read_options.contains(m)) {
                    "write `methods: all`".to_string()
                } else {
                    "write `methods: [GET, HEAD, OPTIONS]`".to_string()
                }),
            );
        }
    }
    if b.cache_options && !b.methods.is_some_and(|m| m.0.contains(&Method::Options)) {
        c.key_error(
            &join(base, &["cache_options"]),
            "cdn::invalid-methods",
            "Unsupported set of methods",
            "`cache_options` caches responses to OPTIONS requests, but this behavior does not accept OPTIONS.".into(),
            Some("add `methods: [GET, HEAD, OPTIONS]`".into()),
        );
    }
}

fn edge_functions(c: &mut Checker<'_, '_>, base: &[String], f: &EdgeFunctions) {
    let mut events: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, func) in f.items.iter().enumerate() {
        let fp = if f.single { base.to_vec() } else { join(base, &[&i.to_string()]) };
        if let Some(code) = &func.code {
            c.key_error(
                &join(&fp, &["code"]),
                "cdn::edge-function-code",
                "Not supported yet",
                format!("Publishing function code (`{code}`) is not supported yet in this build; strata attaches functions that already exist."),
                Some("publish the function (CloudFront Function or Lambda@Edge version) and give its `arn`".into()),
            );
            continue;
        }
        let Some(arn) = &func.arn else {
            c.key_error(
                &fp,
                "spec::missing-key",
                "Missing required key",
                "A function needs `arn`: the CloudFront Function or the Lambda@Edge version to run.".into(),
                Some("add `arn: arn:aws:cloudfront::<account>:function/<name>`".into()),
            );
            continue;
        };
        let kind = edge_kind(arn);
        match kind {
            None => c.error(
                &join(&fp, &["arn"]),
                "cdn::invalid-edge-arn",
                "Invalid function ARN",
                format!("`{arn}` is neither a CloudFront Function ARN nor a Lambda function ARN."),
                Some("write `arn:aws:cloudfront::<account>:function/<name>` or `arn:aws:lambda:us-east-1:<account>:function:<name>:<version>`".into()),
            ),
            Some(EdgeKind::Lambda) => {
                let parts: Vec<&str> = arn.split(':').collect();
                if parts.get(3) != Some(&"us-east-1") {
                    c.error(
                        &join(&fp, &["arn"]),
                        "cdn::invalid-edge-arn",
                        "Invalid function ARN",
                        format!("Lambda@Edge functions are created in us-east-1, and `{arn}` is in `{}`.", parts.get(3).copied().unwrap_or_default()),
                        None,
                    );
                }
                let version = parts.get(7).copied();
                if !version.is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit())) {
                    c.error(
                        &join(&fp, &["arn"]),
                        "cdn::invalid-edge-arn",
                        "Invalid function ARN",
                        format!("CloudFront runs a numbered version of a Lambda@Edge function, and `{arn}` names {}.", match version { Some("$LATEST") => "`$LATEST`".to_string(), Some(v) => format!("the alias `{v}`"), None => "no version".to_string() }),
                        Some("publish a version and append its number: `...:function:<name>:3`".into()),
                    );
                }
            }
            Some(EdgeKind::Function) => {}
        }
        if kind == Some(EdgeKind::Function) && !func.event.is_viewer() {
            c.error(
                &join(&fp, &["event"]),
                "cdn::unsupported-edge-event",
                "Event not supported",
                format!("CloudFront Functions run on viewer-request and viewer-response only; `{}` needs a Lambda@Edge function.", func.event.as_str()),
                None,
            );
        }
        if func.include_body
            && (kind == Some(EdgeKind::Function)
                || !matches!(
                    func.event,
                    super::config::EdgeEvent::ViewerRequest | super::config::EdgeEvent::OriginRequest
                ))
        {
            c.key_error(
                &join(&fp, &["include_body"]),
                "cdn::unsupported-edge-event",
                "Event not supported",
                "Only Lambda@Edge functions on viewer-request or origin-request events can receive the request body."
                    .into(),
                Some("remove `include_body`".into()),
            );
        }
        if let Some(first) = events.insert(func.event.as_str(), i) {
            c.error(
                &join(&fp, &["event"]),
                "cdn::duplicate-edge-event",
                "Two functions on one event",
                format!(
                    "Functions {first} and {i} both run on `{}`; a behavior runs one function per event.",
                    func.event.as_str()
                ),
                Some("combine them into one function, or attach one to another behavior".into()),
            );
        }
    }
}

fn rules(c: &mut Checker<'_, '_>, name: &str, e: &Entry) {
    let names = rule_names(&e.rules);
    let mut seen_paths: BTreeMap<&str, usize> = BTreeMap::new();
    let mut seen_names: BTreeMap<&str, usize> = BTreeMap::new();
    for (k, ((i, rule), rule_name)) in e.rules.iter().zip(&names).enumerate() {
        let base = at(name, &["cache", "rules", &i.to_string()]);
        let pp = join(&base, &["path"]);
        let p = rule.path.as_str();
        if p.is_empty() || p.len() > 255 || p.contains(char::is_whitespace) {
            c.error(
                &pp,
                "cdn::invalid-path-pattern",
                "Invalid path pattern",
                format!("`{p}` is not a path pattern: CloudFront takes up to 255 characters without spaces, with `*` and `?` as wildcards."),
                Some("write a pattern like `/api/*` or `*.jpg`".into()),
            );
        } else if p == "*" || p == "/*" {
            c.error(
                &pp,
                "cdn::invalid-path-pattern",
                "Invalid path pattern",
                format!("`{p}` matches every request, which is what the default behavior (`cache` itself) is for."),
                Some("move these settings to `cache`".into()),
            );
        }
        if let Some(first) = seen_paths.insert(p, *i) {
            c.error(
                &pp,
                "cdn::duplicate-rule",
                "Duplicate rule",
                format!("Rules {first} and {i} both have the path `{p}`; only the first would ever match."),
                None,
            );
        }
        // A rule after a broader prefix rule never matches.
        for ((j, earlier), _) in e.rules[..k].iter().zip(&names) {
            if let Some(prefix) = earlier.path.strip_suffix('*')
                && !prefix.contains(['*', '?'])
                && earlier.path != rule.path
                && p.starts_with(prefix)
            {
                c.error(
                    &pp,
                    "cdn::shadowed-rule",
                    "Rule never matches",
                    format!("Rule {j} (`{}`) comes first and matches every path `{p}` matches, so this rule would never apply; CloudFront uses the first rule that matches.", earlier.path),
                    Some(format!("move this rule above rule {j}")),
                );
                break;
            }
        }
        if rule.name.is_some() && !valid_origin_id(rule_name) {
            c.error(
                &join(&base, &["name"]),
                "cdn::invalid-name",
                "Invalid name",
                format!("`{rule_name}` cannot be a rule name: use letters, digits, `-` and `_`."),
                None,
            );
        } else if rule_name == build::DEFAULT_BEHAVIOR {
            c.error(
                &join(&base, &["name"]),
                "cdn::invalid-name",
                "Invalid name",
                "`default` names the default behavior's policies; a rule needs another name.".into(),
                None,
            );
        }
        if let Some(first) = seen_names.insert(rule_name.as_str(), *i) {
            let at_name = if rule.name.is_some() { join(&base, &["name"]) } else { pp.clone() };
            c.error(
                &at_name,
                "cdn::duplicate-rule-name",
                "Duplicate rule name",
                format!("Rules {first} and {i} are both named `{rule_name}` (names default to the words of the path), so their policies would share an address."),
                Some("give one of them a `name`".into()),
            );
        }
        behavior(c, name, e, &base, &rule.behavior());
    }
}

fn errors(c: &mut Checker<'_, '_>, name: &str, e: &Entry) {
    let mut seen = BTreeSet::new();
    for (i, r) in e.spec.errors.iter().enumerate() {
        let base = at(name, &["errors", &i.to_string()]);
        if !ERROR_CODES.contains(&r.code) {
            c.error(
                &join(&base, &["code"]),
                "cdn::invalid-error-code",
                "Invalid error code",
                format!("CloudFront cannot replace status {}: it takes {}.", r.code, list(ERROR_CODES)),
                None,
            );
        } else if !seen.insert(r.code) {
            c.error(
                &join(&base, &["code"]),
                "cdn::invalid-error-code",
                "Invalid error code",
                format!("Status {} has two error responses.", r.code),
                None,
            );
        }
        if let Some(s) = r.status
            && !RESPONSE_CODES.contains(&s)
        {
            c.error(
                &join(&base, &["status"]),
                "cdn::invalid-error-code",
                "Invalid error code",
                format!("CloudFront can answer {} with a custom page, not {s}.", list(RESPONSE_CODES)),
                None,
            );
        }
        if r.status.is_some() && r.page.is_none() {
            c.key_error(
                &join(&base, &["status"]),
                "cdn::invalid-error-response",
                "Invalid error response",
                "`status` changes the status of a custom error page, and this response has no `page`.".into(),
                Some("add `page: /index.html` (or the page to serve)".into()),
            );
        }
        if let Some(page) = &r.page
            && !page.starts_with('/')
        {
            c.error(
                &join(&base, &["page"]),
                "cdn::invalid-error-response",
                "Invalid error response",
                format!("`{page}` is not a path: custom error pages start with `/`."),
                Some(format!("write `/{page}`")),
            );
        }
        if let Some(t) = r.ttl.map(|t| t.0)
            && t.millis % 1000 != 0
        {
            c.error(
                &join(&base, &["ttl"]),
                "cdn::invalid-ttl",
                "Invalid TTL",
                format!("The error caching TTL is {t}, but CloudFront TTLs are whole seconds."),
                None,
            );
        }
    }
}

fn list(codes: &[u16]) -> String {
    codes.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
}

fn web_acl(c: &mut Checker<'_, '_>, name: &str, w: &str) {
    let p = at(name, &["web_acl"]);
    if let Some(rest) = w.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        let ok = parts.len() == 5 && parts[1] == "wafv2" && parts[4].starts_with("global/webacl/");
        if !ok {
            c.error(
                &p,
                "cdn::invalid-web-acl",
                "Invalid web ACL",
                format!("`{w}` is not a WAFv2 web ACL ARN with CloudFront (global) scope."),
                Some("write `arn:aws:wafv2:us-east-1:<account>:global/webacl/<name>/<id>`".into()),
            );
        } else if parts[2] != "us-east-1" {
            c.error(
                &p,
                "cdn::invalid-web-acl",
                "Invalid web ACL",
                format!("CloudFront web ACLs live in us-east-1, and this one names `{}`.", parts[2]),
                None,
            );
        }
    } else if !build::looks_like_policy_id(w) {
        c.error(
            &p,
            "cdn::invalid-web-acl",
            "Invalid web ACL",
            format!("`{w}` is neither a WAFv2 web ACL ARN nor a WAF Classic web ACL id."),
            Some("write `arn:aws:wafv2:us-east-1:<account>:global/webacl/<name>/<id>`".into()),
        );
    }
}

fn dns(c: &mut Checker<'_, '_>, name: &str, e: &Entry) {
    let spec = &e.spec;
    let Some(dns) = &spec.dns else { return };
    if e.removed.iter().any(|k| k == "aliases") {
        return;
    }
    if let Some(p) = &dns.provider
        && p != "route53"
    {
        let detail = if super::config::DNS_PROVIDERS.contains(&p.as_str()) {
            format!("dns provider `{p}` is not supported yet in this build; supported: route53.")
        } else {
            format!("`{p}` is not a DNS provider strata knows; supported: route53.")
        };
        c.error(
            &at(name, &["dns", "provider"]),
            "cdn::unsupported-dns-provider",
            "DNS provider not supported",
            detail,
            did_you_mean(p, ["route53"]),
        );
        return;
    }
    let zone = normalize_host(&dns.zone);
    if !is_hostname(&zone, false) || !zone.contains('.') && zone.len() < 2 {
        c.error(
            &at(name, &["dns", "zone"]),
            "cdn::invalid-zone",
            "Invalid zone",
            format!("`{}` is not a DNS zone name.", dns.zone),
            Some("write the hosted zone's name, like `example.com`".into()),
        );
        return;
    }
    if spec.aliases.is_empty() {
        c.key_error(
            &at(name, &["dns"]),
            "cdn::dns-without-aliases",
            "Nothing to point at the distribution",
            format!("`dns` creates alias records for the distribution's aliases, and `cdn.{name}` has no `aliases`."),
            Some("add `aliases: [cdn.example.com]` (with a `certificate` covering them)".into()),
        );
        return;
    }
    let aliases: BTreeSet<String> = spec.aliases.iter().map(|a| normalize_host(a)).collect();
    let (hosts, explicit) = match &dns.records {
        Some(r) => (r.clone(), true),
        None => (spec.aliases.clone(), false),
    };
    let mut seen = BTreeSet::new();
    for (i, h) in hosts.iter().enumerate() {
        let p = if explicit {
            at(name, &["dns", "records", &i.to_string()])
        } else {
            at(name, &["aliases", &i.to_string()])
        };
        let host = normalize_host(h);
        if relative_name(&host, &zone).is_none() {
            c.error(
                &p,
                "cdn::record-outside-zone",
                "Record outside the zone",
                format!("`{h}` is not inside the zone `{zone}`, so Route 53 cannot hold its record there."),
                Some(if explicit {
                    format!("list only names ending in `.{zone}` in `dns.records`")
                } else {
                    format!("list the aliases that belong to `{zone}` in `dns.records`, or change `dns.zone`")
                }),
            );
        } else if explicit && !aliases.contains(&host) {
            let help = did_you_mean(h, spec.aliases.iter().map(String::as_str))
                .or_else(|| Some(format!("add `{h}` to `aliases` too")));
            c.error(
                &p,
                "cdn::record-not-an-alias",
                "Record for a name the distribution does not serve",
                format!("`{h}` is not an alias of `cdn.{name}`, so CloudFront would refuse the requests this record sends it."),
                help,
            );
        } else if !seen.insert(host.clone()) {
            c.error(&p, "cdn::duplicate-alias", "Duplicate alias or record", format!("`{h}` is listed twice."), None);
        }
    }
}

/// A host name: labels of letters, digits and `-`; `*` as the whole first label when
/// `wildcard` is allowed.
fn is_hostname(h: &str, wildcard: bool) -> bool {
    let h = h.trim_end_matches('.');
    if h.is_empty() || h.len() > 253 {
        return false;
    }
    h.split('.').enumerate().all(|(i, l)| {
        (wildcard && i == 0 && l == "*")
            || (!l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && !l.starts_with('-')
                && !l.ends_with('-'))
    })
}

fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    (3..=4).contains(&parts.len())
        && parts[0].len() == 2
        && parts[0].chars().all(|c| c.is_ascii_lowercase())
        && parts[1..parts.len() - 1].iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

fn is_header_name(h: &str) -> bool {
    !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

fn valid_origin_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
