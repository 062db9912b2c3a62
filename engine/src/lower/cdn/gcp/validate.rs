//! Checks of one entry that its types cannot express, each reported at its span, following
//! the constraints Compute Engine enforces (names, cache mode and TTL combinations, URL map
//! path patterns, managed certificate domains).

use std::collections::HashSet;

use super::config::{CacheMode, GcpCdn};
use crate::diag::did_you_mean;
use crate::lower::cdn::cloudfront::Ttl;
use crate::lower::cdn::{OriginWording, check_origin_choice};
use crate::spec::{SpecContext, is_dns_label, path};

/// The longest TTL Cloud CDN accepts (one year, 31,622,400 s).
pub const MAX_TTL_SECS: u64 = 31_622_400;
/// The longest `serveWhileStale` Cloud CDN accepts (one day).
pub const MAX_STALE_SECS: u64 = 86_400;
/// A managed certificate holds at most 100 domains.
const MAX_DOMAINS: usize = 100;
/// Compute Engine resource names: `[a-z]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
const MAX_NAME: usize = 63;
/// The longest suffix strata appends to the entry's prefix (`-redirect`).
const LONGEST_SUFFIX: usize = "-redirect".len();

/// What validation worked out for the build.
pub struct Checked {
    /// `<project>[-<env>]-<name>`, the start of every Compute Engine name of the entry.
    pub prefix: String,
    /// `(origin name, bucket)`, in name order; the single `origin` is named `default`.
    pub origins: Vec<(String, String)>,
    /// The origin of requests no rule matches.
    pub default_origin: String,
    /// The host names, lowercase, without a trailing dot.
    pub hostnames: Vec<String>,
}

fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.contains('.')
        && h.split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// Cloud Storage bucket names: 3–63 characters (222 with dots), lowercase letters, digits,
/// `-`, `_` and `.`, starting and ending with a letter or digit.
fn valid_bucket(b: &str) -> bool {
    let max = if b.contains('.') { 222 } else { 63 };
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=max).contains(&b.len())
        && b.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"-_.".contains(&c))
        && edge(b.chars().next())
        && edge(b.chars().last())
}

/// The prefix of the entry's Compute Engine names: `<project>-<name>` (`<project>-<env>-<name>`
/// outside the default environment), lowercase, other characters as `-`.
pub fn name_prefix(project: &str, env: &str, name: &str) -> String {
    let raw = if env == "default" { format!("{project}-{name}") } else { format!("{project}-{env}-{name}") };
    raw.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}

/// URL map path patterns: start with `/`; `*` only as the final character, after a `/`.
fn valid_path(p: &str) -> bool {
    let body = p.strip_suffix("/*").unwrap_or(p);
    p.starts_with('/') && !body.contains('*') && !p.contains(['?', '#']) && p.len() <= 1024
}

/// `None` when something was reported.
pub fn entry(cx: &mut SpecContext<'_>, name: &str, e: &GcpCdn) -> Option<Checked> {
    let before = cx.diags.len();
    let p = |keys: &[&str]| {
        let mut v = path(["cdn", name]);
        v.extend(keys.iter().map(|k| k.to_string()));
        v
    };

    let prefix = name_prefix(cx.project, cx.env, name);
    if prefix.len() + LONGEST_SUFFIX > MAX_NAME || !prefix.starts_with(|c: char| c.is_ascii_lowercase()) {
        cx.key_error(
            &p(&[]),
            "cdn::invalid-name",
            "Invalid name",
            format!(
                "The Compute Engine names of `cdn.{name}` would start `{prefix}`: names start with a letter and are \
                 at most {MAX_NAME} characters, and strata appends up to {LONGEST_SUFFIX}."
            ),
            Some("use a shorter entry name".into()),
        );
    }

    let hostnames: Vec<String> = e.hostnames.iter().map(|h| h.trim_end_matches('.').to_ascii_lowercase()).collect();
    if hostnames.is_empty() || hostnames.len() > MAX_DOMAINS {
        cx.error(
            &p(&["hostnames"]),
            "cdn::invalid-hostname",
            "Invalid hostname",
            format!(
                "`cdn.{name}.hostnames` lists {} names; the managed certificate needs 1 to {MAX_DOMAINS}.",
                hostnames.len()
            ),
            Some("write `hostnames: [static.example.com]`".into()),
        );
    }
    let mut seen = HashSet::new();
    for (i, h) in hostnames.iter().enumerate() {
        if !valid_host(h) || !seen.insert(h.as_str()) {
            cx.error(
                &p(&["hostnames", &i.to_string()]),
                "cdn::invalid-hostname",
                "Invalid hostname",
                format!(
                    "`{h}` cannot be a domain of a Google-managed certificate: it takes distinct, fully qualified \
                     names without wildcards."
                ),
                None,
            );
        }
    }

    let origins = check_origins(cx, name, e, &p);
    let default_origin = check_default_origin(cx, name, e, &origins, &p);
    check_rules(cx, name, e, &origins, &p);
    check_cache(cx, e, &p);

    if cx.diags.len() > before {
        return None;
    }
    Some(Checked { prefix, origins, default_origin: default_origin?, hostnames })
}

fn check_origins(
    cx: &mut SpecContext<'_>,
    name: &str,
    e: &GcpCdn,
    p: &dyn Fn(&[&str]) -> Vec<String>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let wording = OriginWording {
        what: "the Cloud Storage bucket Cloud CDN fetches from",
        entry: "an entry",
        add: "add `origin: { bucket: my-assets }`, or `origins:` by name",
        keep: "keep `origin` for one bucket, or list every bucket under `origins`",
    };
    check_origin_choice(cx, name, e.origin.is_some(), !e.origins.is_empty(), p, &wording);
    let named = e.origin.iter().map(|o| ("default".to_string(), o, p(&["origin", "bucket"])));
    let named = named.chain(e.origins.iter().map(|(n, o)| (n.clone(), o, p(&["origins", n, "bucket"]))));
    for (origin, o, at) in named.collect::<Vec<_>>() {
        if !is_dns_label(&origin) {
            cx.key_error(
                &p(&["origins", &origin]),
                "cdn::invalid-name",
                "Invalid name",
                format!("`{origin}` cannot name an origin: origin names are lowercase letters, digits and `-`."),
                None,
            );
        }
        if !valid_bucket(&o.bucket) {
            cx.error(
                &at,
                "cdn::invalid-origin",
                "Invalid origin",
                format!(
                    "`{}` is not a Cloud Storage bucket name: 3–63 lowercase letters, digits, `-`, `_` or `.`, \
                     starting and ending with a letter or digit.",
                    o.bucket
                ),
                Some("write the bucket's name, without `gs://`".into()),
            );
        }
        out.push((origin, o.bucket.clone()));
    }
    out
}

fn check_default_origin(
    cx: &mut SpecContext<'_>,
    name: &str,
    e: &GcpCdn,
    origins: &[(String, String)],
    p: &dyn Fn(&[&str]) -> Vec<String>,
) -> Option<String> {
    let names: Vec<&str> = origins.iter().map(|(n, _)| n.as_str()).collect();
    match (&e.cache.origin, e.origin.is_some()) {
        // Both `origin` and `origins`: reported as a conflict already; no default to pick.
        _ if e.origin.is_some() && !e.origins.is_empty() => None,
        (Some(_), true) => {
            cx.error(
                &p(&["cache", "origin"]),
                "cdn::origin-setting-mismatch",
                "Setting does not apply",
                format!("`cdn.{name}` has a single `origin`, so there is no other origin to choose."),
                Some("remove `cache.origin`, or list the buckets under `origins`".into()),
            );
            None
        }
        (Some(o), false) if !names.contains(&o.as_str()) => {
            unknown_origin(cx, &p(&["cache", "origin"]), o, &names);
            None
        }
        (Some(o), false) => Some(o.clone()),
        (None, _) if names.len() == 1 => Some(names[0].to_string()),
        (None, _) if names.is_empty() => None,
        (None, _) => {
            cx.key_error(
                &p(&["cache"]),
                "cdn::ambiguous-origin",
                "Which origin?",
                format!(
                    "`cdn.{name}` has {} origins and does not say which one serves requests no rule matches.",
                    names.len()
                ),
                Some(format!("add `cache: {{ origin: {} }}`", names[0])),
            );
            None
        }
    }
}

fn unknown_origin(cx: &mut SpecContext<'_>, at: &[String], origin: &str, names: &[&str]) {
    cx.error(
        at,
        "cdn::unknown-origin",
        "Unknown origin",
        format!("There is no origin `{origin}` in this entry."),
        did_you_mean(origin, names.iter().copied()).or_else(|| Some(format!("the origins are: {}", names.join(", ")))),
    );
}

fn check_rules(
    cx: &mut SpecContext<'_>,
    name: &str,
    e: &GcpCdn,
    origins: &[(String, String)],
    p: &dyn Fn(&[&str]) -> Vec<String>,
) {
    if e.origin.is_some() && !e.cache.rules.is_empty() {
        cx.error(
            &p(&["cache", "rules"]),
            "cdn::origin-setting-mismatch",
            "Setting does not apply",
            format!("`cdn.{name}` has a single `origin`: path rules choose between origins, and there is one."),
            Some("list the buckets under `origins`, or remove `cache.rules`".into()),
        );
        return;
    }
    let names: Vec<&str> = origins.iter().map(|(n, _)| n.as_str()).collect();
    let mut seen = HashSet::new();
    for (i, r) in e.cache.rules.iter().enumerate() {
        let i = i.to_string();
        if !valid_path(&r.path) {
            cx.error(
                &p(&["cache", "rules", &i, "path"]),
                "cdn::invalid-path-pattern",
                "Invalid path pattern",
                format!(
                    "`{}` is not a URL map path: it starts with `/` and may end in `/*`, with no other `*`.",
                    r.path
                ),
                Some("write `path: /media/*`".into()),
            );
        } else if !seen.insert(r.path.as_str()) {
            cx.error(
                &p(&["cache", "rules", &i, "path"]),
                "cdn::duplicate-rule",
                "Duplicate rule",
                format!("`{}` is matched by an earlier rule; a URL map takes each path once.", r.path),
                None,
            );
        }
        if !names.contains(&r.origin.as_str()) {
            unknown_origin(cx, &p(&["cache", "rules", &i, "origin"]), &r.origin, &names);
        }
    }
}

fn secs(t: &Option<Ttl>) -> Option<u64> {
    t.as_ref().map(|t| t.0.as_secs())
}

fn check_cache(cx: &mut SpecContext<'_>, e: &GcpCdn, p: &dyn Fn(&[&str]) -> Vec<String>) {
    let c = &e.cache;
    let ttls = [
        ("default_ttl", &c.default_ttl, MAX_TTL_SECS),
        ("max_ttl", &c.max_ttl, MAX_TTL_SECS),
        ("client_ttl", &c.client_ttl, MAX_TTL_SECS),
        ("serve_while_stale", &c.serve_while_stale, MAX_STALE_SECS),
    ];
    for (key, ttl, max) in ttls {
        let Some(t) = ttl else { continue };
        if t.0.as_secs_f64().fract() != 0.0 || t.0.as_secs() > max {
            cx.error(
                &p(&["cache", key]),
                "cdn::invalid-ttl",
                "Invalid TTL",
                format!("`cache.{key}` is whole seconds from 0 to {max} for Cloud CDN."),
                None,
            );
        }
    }
    let forbidden: &[(&str, &Option<Ttl>)] = match c.mode {
        CacheMode::UseOriginHeaders => {
            &[("default_ttl", &c.default_ttl), ("max_ttl", &c.max_ttl), ("client_ttl", &c.client_ttl)]
        }
        CacheMode::ForceCacheAll => &[("max_ttl", &c.max_ttl)],
        CacheMode::CacheAllStatic => &[],
    };
    for (key, ttl) in forbidden {
        if ttl.is_some() {
            cx.error(
                &p(&["cache", key]),
                "cdn::ttl-conflict",
                "Conflicting TTLs",
                format!(
                    "Cloud CDN refuses `{key}` with cache mode `{}`: that mode takes its TTLs from elsewhere.",
                    c.mode.api()
                ),
                Some(format!("remove `cache.{key}`, or choose another `cache.mode`")),
            );
        }
    }
    if let Some(max) = secs(&c.max_ttl) {
        for (key, ttl) in [("default_ttl", &c.default_ttl), ("client_ttl", &c.client_ttl)] {
            if secs(ttl).is_some_and(|t| t > max) {
                cx.error(
                    &p(&["cache", key]),
                    "cdn::ttl-order",
                    "TTLs out of order",
                    format!("`cache.{key}` is above `cache.max_ttl` ({max}s); Cloud CDN needs it at or below."),
                    None,
                );
            }
        }
    }
}
