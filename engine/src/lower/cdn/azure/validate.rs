//! Checks of one entry that its types cannot express, each reported at its span.

use super::config::AzureCdn;
use crate::lower::cdn::{OriginWording, check_origin_choice};
use crate::spec::{SpecContext, is_dns_label, path};

fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// A path Front Door can match: starts with `/`, `*` only as the last character after a `/`.
fn valid_pattern(p: &str) -> bool {
    let body = p.strip_suffix("/*").map(|b| format!("{b}/")).unwrap_or_else(|| p.to_string());
    p.starts_with('/') && !body.contains('*') && !p.contains(['"', '\\', ' ', '?', '#'])
}

fn valid_header(h: &str) -> bool {
    !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `/subscriptions/S/resourceGroups/RG/providers/Microsoft.Network/frontDoorWebApplicationFirewallPolicies/NAME`.
pub fn valid_waf_policy(id: &str) -> bool {
    let segs: Vec<&str> = id.split('/').collect();
    segs.len() == 9
        && segs[0].is_empty()
        && segs[1].eq_ignore_ascii_case("subscriptions")
        && segs[3].eq_ignore_ascii_case("resourceGroups")
        && segs[5].eq_ignore_ascii_case("providers")
        && segs[6].eq_ignore_ascii_case("Microsoft.Network")
        && segs[7].eq_ignore_ascii_case("frontDoorWebApplicationFirewallPolicies")
        && [2, 4, 8].iter().all(|i| !segs[*i].is_empty())
}

/// `false` when something was reported.
pub fn entry(cx: &mut SpecContext<'_>, name: &str, e: &AzureCdn) -> bool {
    let before = cx.diags.len();
    let p = |keys: &[&str]| {
        let mut v = path(["cdn", name]);
        v.extend(keys.iter().map(|k| k.to_string()));
        v
    };
    origins(cx, name, e, &p);
    if let Some(h) = &e.health_check {
        if !h.path.starts_with('/') {
            cx.error(
                &p(&["health_check", "path"]),
                "cdn::invalid-path-pattern",
                "Invalid path pattern",
                format!("`{}` is not a path: a health probe path starts with `/`.", h.path),
                None,
            );
        }
        if let Some(i) = h.interval
            && !(1..=255).contains(&i)
        {
            cx.error(
                &p(&["health_check", "interval"]),
                "spec::invalid-value",
                "Invalid value",
                format!("a probe interval is 1 to 255 seconds, not {i}."),
                None,
            );
        }
    }
    if let Some(lb) = &e.load_balancing {
        let (size, ok) = (lb.sample_size.unwrap_or(4), lb.successful_samples.unwrap_or(3));
        if size == 0 || ok == 0 || ok > size {
            cx.error(
                &p(&["load_balancing"]),
                "spec::invalid-value",
                "Invalid value",
                format!("`successful_samples` ({ok}) must be between 1 and `sample_size` ({size})."),
                None,
            );
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (i, pattern) in e.patterns.iter().enumerate() {
        if !valid_pattern(pattern) || !seen.insert(pattern.as_str()) {
            cx.error(
                &p(&["patterns", &i.to_string()]),
                "cdn::invalid-path-pattern",
                "Invalid path pattern",
                format!("`{pattern}` is not a route pattern (or is listed twice): start with `/`, with `*` only after the last `/`."),
                Some("write `/*` or `/api/*`".into()),
            );
        }
    }
    if let Some(cache) = &e.cache {
        for (i, r) in cache.rules.iter().enumerate() {
            let at = |k: &str| p(&["cache", "rules", &i.to_string(), k]);
            let body = r.path.strip_suffix('*').unwrap_or(&r.path);
            if !r.path.starts_with('/') || body.contains('*') || r.path.contains(['"', '\\', ' ']) {
                cx.error(
                    &at("path"),
                    "cdn::invalid-path-pattern",
                    "Invalid path pattern",
                    format!("`{}` is not a path: start with `/`, with at most a trailing `*`.", r.path),
                    Some("write `path: /static/*`".into()),
                );
            }
            if r.ttl.0.as_secs_f64().fract() != 0.0 {
                cx.error(
                    &at("ttl"),
                    "cdn::invalid-ttl",
                    "Invalid TTL",
                    "A TTL is whole seconds: Front Door cannot cache for a fraction of one.",
                    None,
                );
            }
        }
    }
    for h in e.response_headers.keys() {
        if !valid_header(h) {
            cx.key_error(
                &p(&["response_headers", h]),
                "cdn::invalid-header",
                "Invalid header name",
                format!("`{h}` is not an HTTP header name."),
                None,
            );
        }
    }
    if let Some(d) = &e.custom_domain
        && (!valid_host(d) || !d.contains('.'))
    {
        cx.error(
            &p(&["custom_domain"]),
            "cdn::invalid-hostname",
            "Invalid hostname",
            format!("`{d}` is not a host name Front Door can serve (a fully qualified name like `www.example.com`)."),
            None,
        );
    }
    if let Some(w) = &e.waf_policy
        && !valid_waf_policy(w)
    {
        cx.error(
            &p(&["waf_policy"]),
            "cdn::invalid-waf-policy",
            "Invalid WAF policy",
            format!("`{w}` is not the resource id of a Front Door WAF policy."),
            Some("write `/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Network/frontDoorWebApplicationFirewallPolicies/<name>`".into()),
        );
    }
    for k in e.tags.keys() {
        if k.starts_with("strata-") || k.contains(['<', '>', '%', '&', '\\', '?', '/']) {
            cx.key_error(
                &p(&["tags", k]),
                "cdn::reserved-tag",
                "Reserved tag",
                format!("`{k}` cannot be a tag here: `strata-*` tags are strata's ownership marks, and Azure tag names cannot hold <>%&\\?/."),
                None,
            );
        }
    }
    cx.diags.len() == before
}

fn origins(cx: &mut SpecContext<'_>, name: &str, e: &AzureCdn, p: &dyn Fn(&[&str]) -> Vec<String>) {
    let wording = OriginWording {
        what: "the host Front Door fetches from",
        entry: "an Azure entry",
        add: "add `origin: { domain: app.example.net }`, or `origins:` for several",
        keep: "keep `origin` for one host, or list every host under `origins`",
    };
    check_origin_choice(cx, name, e.origin.is_some(), !e.origins.is_empty(), p, &wording);
    let mut hosts: Vec<(Vec<String>, &str)> = Vec::new();
    if let Some(o) = &e.origin {
        hosts.push((p(&["origin", "domain"]), &o.domain));
        if let Some(h) = &o.host_header {
            hosts.push((p(&["origin", "host_header"]), h));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (i, o) in e.origins.iter().enumerate() {
        let i = i.to_string();
        hosts.push((p(&["origins", &i, "domain"]), &o.domain));
        if let Some(h) = &o.host_header {
            hosts.push((p(&["origins", &i, "host_header"]), h));
        }
        if !is_dns_label(&o.name) || !seen.insert(o.name.as_str()) {
            cx.error(
                &p(&["origins", &i, "name"]),
                "cdn::invalid-name",
                "Invalid name",
                format!(
                    "`{}` cannot name an origin here: names are unique, lowercase letters, digits and `-`.",
                    o.name
                ),
                None,
            );
        }
        if let Some(v) = o.priority
            && !(1..=5).contains(&v)
        {
            cx.error(
                &p(&["origins", &i, "priority"]),
                "spec::invalid-value",
                "Invalid value",
                format!("an origin priority is 1 to 5, not {v}."),
                None,
            );
        }
        if let Some(v) = o.weight
            && !(1..=1000).contains(&v)
        {
            cx.error(
                &p(&["origins", &i, "weight"]),
                "spec::invalid-value",
                "Invalid value",
                format!("an origin weight is 1 to 1000, not {v}."),
                None,
            );
        }
    }
    for (at, host) in hosts {
        if !valid_host(host) {
            cx.error(
                &at,
                "cdn::invalid-origin",
                "Invalid origin",
                format!("`{host}` is not a host name: write the origin's host without scheme, port or path."),
                Some("write `domain: app.example.net`".into()),
            );
        }
    }
}
