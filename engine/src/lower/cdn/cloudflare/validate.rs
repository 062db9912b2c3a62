//! Checks of one entry that its types cannot express, each reported at its span. The Worker
//! module file is read here (relative to strata.yaml) to record its hash.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::config::CloudflareCdn;
use crate::lower::cdn::{OriginWording, check_origin_choice};
use crate::spec::{SpecContext, is_dns_label, path};

/// What validation worked out for the build.
pub struct Checked {
    pub zone: String,
    pub hostname: String,
    /// `(module name, absolute file, hex sha256)`.
    pub module: Option<(String, String, String)>,
}

fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// `None` when something was reported.
pub fn entry(cx: &mut SpecContext<'_>, name: &str, e: &CloudflareCdn) -> Option<Checked> {
    let before = cx.diags.len();
    let p = |keys: &[&str]| {
        let mut v = path(["cdn", name]);
        v.extend(keys.iter().map(|k| k.to_string()));
        v
    };

    let wording = OriginWording {
        what: "the host Cloudflare fetches from",
        entry: "a Cloudflare entry",
        add: "add `origin: { domain: origin.example.net }`, or `origins:` for failover",
        keep: "keep `origin` for one host, or list every host under `origins`",
    };
    check_origin_choice(cx, name, e.origin.is_some(), !e.origins.is_empty(), &p, &wording);
    let mut origin_hosts: Vec<(Vec<String>, &str)> = Vec::new();
    if let Some(o) = &e.origin {
        origin_hosts.push((p(&["origin", "domain"]), &o.domain));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, o) in e.origins.iter().enumerate() {
        let i = i.to_string();
        origin_hosts.push((p(&["origins", &i, "domain"]), &o.domain));
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
    }
    for (at, host) in origin_hosts {
        if !valid_host(host) {
            cx.error(
                &at,
                "cdn::invalid-origin",
                "Invalid origin",
                format!("`{host}` is not a host name: write the origin's host without scheme, port or path."),
                Some("write `domain: origin.example.net`".into()),
            );
        }
    }
    if e.health_check.is_some() && e.origins.is_empty() {
        cx.key_error(
            &p(&["health_check"]),
            "cdn::origin-setting-mismatch",
            "Setting does not apply",
            format!(
                "`cdn.{name}.health_check` checks the origins of a failover entry, and this entry has one `origin`."
            ),
            Some("list the hosts under `origins:` to fail over between them, or remove `health_check`".into()),
        );
    }
    if let Some(h) = &e.health_check
        && !h.path.starts_with('/')
    {
        cx.error(
            &p(&["health_check", "path"]),
            "cdn::invalid-path-pattern",
            "Invalid path pattern",
            format!("`{}` is not a path: a health check path starts with `/`.", h.path),
            None,
        );
    }

    let provider_zone = cx.doc.pointer("/providers/cloudflare/zone").and_then(|v| v.as_str()).map(str::to_string);
    let zone = e.zone.clone().or(provider_zone).map(|z| z.trim_end_matches('.').to_ascii_lowercase());
    let zone = match zone {
        Some(z) if valid_host(&z) => Some(z),
        Some(z) => {
            cx.error(
                &p(&["zone"]),
                "cdn::missing-zone",
                "Missing zone",
                format!("`{z}` is not a zone name (a domain like `example.com`)."),
                None,
            );
            None
        }
        None => {
            cx.key_error(
                &p(&[]),
                "cdn::missing-zone",
                "Missing zone",
                format!("`cdn.{name}` does not say which Cloudflare zone serves it, and `providers.cloudflare.zone` is not set."),
                Some("add `zone: example.com` to the entry, or `providers: { cloudflare: { zone: example.com } }`".into()),
            );
            None
        }
    };
    let hostname = zone.as_ref().map(|z| {
        e.hostname
            .clone()
            .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
            .unwrap_or_else(|| format!("{name}.{z}"))
    });
    if let (Some(z), Some(h)) = (&zone, &hostname)
        && (!valid_host(h) || !(h == z || h.ends_with(&format!(".{z}"))))
    {
        cx.error(
            &p(&["hostname"]),
            "cdn::invalid-hostname",
            "Invalid hostname",
            format!("`{h}` is not a host name inside the zone `{z}`, so Cloudflare cannot serve it."),
            Some(format!("write a name ending in `.{z}`, or the zone itself")),
        );
    }

    let ttls =
        e.cache.default_ttl.iter().map(|t| (p(&["cache", "default_ttl"]), t)).chain(
            e.cache.rules.iter().enumerate().map(|(i, r)| (p(&["cache", "rules", &i.to_string(), "ttl"]), &r.ttl)),
        );
    for (at, ttl) in ttls.collect::<Vec<_>>() {
        if ttl.0.as_secs_f64().fract() != 0.0 {
            cx.error(
                &at,
                "cdn::invalid-ttl",
                "Invalid TTL",
                "A TTL is whole seconds: Cloudflare cannot cache for a fraction of one.",
                None,
            );
        }
    }
    for (i, r) in e.cache.rules.iter().enumerate() {
        let body = r.path.strip_suffix('*').unwrap_or(&r.path);
        if !r.path.starts_with('/') || body.contains('*') || body.contains('"') || body.contains('\\') {
            cx.error(
                &p(&["cache", "rules", &i.to_string(), "path"]),
                "cdn::invalid-path-pattern",
                "Invalid path pattern",
                format!(
                    "`{}` is not a path prefix: write a path starting with `/`, with at most a trailing `*`.",
                    r.path
                ),
                Some("write `path: /api/*`".into()),
            );
        }
    }
    for (i, path_) in e.invalidate_on_change.iter().enumerate() {
        if !path_.starts_with('/') {
            cx.error(
                &p(&["invalidate_on_change", &i.to_string()]),
                "cdn::invalid-invalidation-path",
                "Invalid invalidation path",
                format!("`{path_}` is not a path: purge paths start with `/` (`/*` purges everything)."),
                None,
            );
        }
    }

    let mut module = None;
    if let Some(f) = &e.edge_function {
        let spec_dir = Path::new(&cx.source.file.name).parent().unwrap_or(Path::new(""));
        let file = spec_dir.join(&f.code);
        match std::fs::read(&file) {
            Ok(bytes) => {
                let abs = std::path::absolute(&file).unwrap_or(file.clone());
                let sha: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
                let module_name = Path::new(&f.code)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "worker.js".into());
                if !(module_name.ends_with(".js") || module_name.ends_with(".mjs")) {
                    cx.error(
                        &p(&["edge_function", "code"]),
                        "cdn::edge-function-file",
                        "Unreadable function code",
                        format!(
                            "`{}` is not a JavaScript module: a Worker module file ends in `.js` or `.mjs`.",
                            f.code
                        ),
                        None,
                    );
                }
                module = Some((module_name, abs.display().to_string(), sha));
            }
            Err(err) => cx.error(
                &p(&["edge_function", "code"]),
                "cdn::edge-function-file",
                "Unreadable function code",
                format!("`{}` cannot be read ({err}); the path is relative to strata.yaml.", f.code),
                Some("write the path of the Worker module file, relative to the directory of strata.yaml".into()),
            ),
        }
    }

    if cx.diags.len() > before {
        return None;
    }
    Some(Checked { zone: zone?, hostname: hostname?, module })
}
