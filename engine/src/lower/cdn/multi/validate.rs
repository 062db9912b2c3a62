//! Checks of a multi-CDN entry, each reported at its span: the members against the other
//! entries of `cdn:`, weights, the primary, the DNS name and the health check.

use std::collections::HashSet;

use serde_json::Value;

use super::config::{DnsProvider, MultiCdn, Strategy};
use crate::diag::did_you_mean;
use crate::lower::cdn::CdnEntry;
use crate::spec::{SpecContext, path};

/// One member, as the build needs it, in serving order (the primary first).
#[derive(Debug, Clone)]
pub struct CheckedMember {
    pub name: String,
    pub weight: Option<i64>,
    /// The member's CDN (`cloudfront`, `cloudflare`, `gcp`, `azure`): it decides what DNS points
    /// at (a hostname, or Google's load balancer IP address).
    pub provider: String,
}

/// What validation worked out for the build.
#[derive(Debug, Clone)]
pub struct Checked {
    pub zone: String,
    /// The record's fully qualified name, lowercase, no trailing dot.
    pub fqdn: String,
    pub members: Vec<CheckedMember>,
}

/// The entries of `cdn:` a multi entry is checked against.
pub struct Others<'a> {
    /// Entries that decoded, with their provider and settings.
    pub entries: &'a [CdnEntry],
    /// Names of the multi-CDN entries.
    pub multi: &'a [String],
    /// Every name under `cdn:`, decoded or not (a member that failed to decode was reported
    /// already and is not unknown).
    pub all: &'a [String],
}

pub(crate) fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

fn normalize(s: &str) -> String {
    s.trim_end_matches('.').to_ascii_lowercase()
}

/// `None` when something was reported (or a member could not be lowered).
pub fn entry(cx: &mut SpecContext<'_>, name: &str, m: &MultiCdn, others: &Others<'_>) -> Option<Checked> {
    let before = cx.diags.len();
    let p = |keys: &[&str]| {
        let mut v = path(["cdn", name]);
        v.extend(keys.iter().map(|k| k.to_string()));
        v
    };
    let members = members(cx, name, m, others, &p)?;
    weights_and_primary(cx, name, m, &p);
    let (zone, fqdn) = dns_name(cx, name, m, &p);
    health_check(cx, m, &p);
    if m.strategy == Strategy::Failover && m.dns.provider == DnsProvider::Route53 && m.members.len() > 2 {
        cx.key_error(
            &p(&["members"]),
            "cdn::failover-members",
            "Route 53 failover takes two members",
            format!(
                "`cdn.{name}` fails over between {} members with Route 53, whose failover routing has exactly one PRIMARY and one SECONDARY record per name.",
                m.members.len()
            ),
            Some("list two members, or use `dns: { provider: cloudflare }`, whose load balancer fails over along any number of pools".into()),
        );
    }
    if let Some(fqdn) = &fqdn {
        member_dns(cx, name, m, others, fqdn, &p);
    }
    if cx.diags.len() > before {
        return None;
    }
    let mut ordered = members;
    if let Some(primary) = &m.primary
        && let Some(i) = ordered.iter().position(|c| &c.name == primary)
    {
        let first = ordered.remove(i);
        ordered.insert(0, first);
    }
    Some(Checked { zone: zone?, fqdn: fqdn?, members: ordered })
}

/// Each member is another entry of `cdn:` that serves traffic itself: not this entry, not a
/// multi-CDN entry, listed once. `None` when a member cannot be lowered (reported here, or
/// already when its entry failed to decode).
fn members(
    cx: &mut SpecContext<'_>,
    name: &str,
    m: &MultiCdn,
    others: &Others<'_>,
    p: &dyn Fn(&[&str]) -> Vec<String>,
) -> Option<Vec<CheckedMember>> {
    if m.members.len() < 2 {
        cx.key_error(
            &p(&["members"]),
            "cdn::invalid-member",
            "Invalid member",
            format!("`cdn.{name}` has {} member(s); spreading or failing over needs at least two.", m.members.len()),
            Some("list two or more other `cdn:` entries under `members`".into()),
        );
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut lowerable = true;
    for (i, member) in m.members.iter().enumerate() {
        let at = match member {
            super::config::Member::Name(_) => p(&["members", &i.to_string()]),
            super::config::Member::Weighted(_) => p(&["members", &i.to_string(), "name"]),
        };
        let mname = member.name();
        let problem = if mname == name {
            Some(format!("`cdn.{name}` cannot be a member of itself."))
        } else if others.multi.iter().any(|n| n == mname) {
            Some(format!(
                "`cdn.{mname}` is a multi-CDN entry itself; members are entries that serve traffic (with a `provider:`), and multi-CDN entries do not nest."
            ))
        } else if !seen.insert(mname) {
            Some(format!("`{mname}` is listed twice in `cdn.{name}.members`."))
        } else {
            None
        };
        if let Some(detail) = problem {
            cx.error(&at, "cdn::invalid-member", "Invalid member", detail, None);
            continue;
        }
        if !others.all.iter().any(|n| n == mname) {
            let candidates = others.entries.iter().map(|e| e.name.as_str()).filter(|n| *n != name);
            let help = did_you_mean(mname, candidates).or_else(|| {
                let names: Vec<&str> = others.entries.iter().map(|e| e.name.as_str()).collect();
                Some(if names.is_empty() {
                    "define the members as entries of `cdn:` with a `provider:`".to_string()
                } else {
                    format!("CDN entries: {}", names.join(", "))
                })
            });
            cx.error(
                &at,
                "cdn::unknown-member",
                "Unknown member",
                format!("`{mname}` is not an entry of `cdn:`: members name other CDN entries."),
                help,
            );
            continue;
        }
        let Some(entry) = others.entries.iter().find(|e| e.name == mname) else {
            // The entry exists but did not decode: reported there; nothing to point DNS at.
            lowerable = false;
            continue;
        };
        if entry.provider == "gcp" && m.dns.provider == DnsProvider::Route53 {
            // A Route 53 failover or weighted set holds one record type, and the other members
            // are CNAMEs to hostnames; Google's load balancer has only an IP address.
            cx.error(
                &at,
                "cdn::member-needs-address",
                "Member answers at an IP address",
                format!(
                    "`cdn.{mname}` (Google Cloud CDN) answers at an IP address, not a hostname, so it cannot be one of the CNAME records of `cdn.{name}`'s Route 53 set."
                ),
                Some("use `dns: { provider: cloudflare }`, whose pools take an address, or point a record at `${cdn.<member>.ip.address}` yourself".into()),
            );
            continue;
        }
        out.push(CheckedMember { name: mname.to_string(), weight: member.weight(), provider: entry.provider.clone() });
    }
    lowerable.then_some(out)
}

fn weights_and_primary(cx: &mut SpecContext<'_>, name: &str, m: &MultiCdn, p: &dyn Fn(&[&str]) -> Vec<String>) {
    let weighted = m.strategy == Strategy::Weighted;
    for (i, member) in m.members.iter().enumerate() {
        let i = i.to_string();
        match (weighted, member.weight()) {
            (true, None) => cx.error(
                &p(&["members", &i]),
                "cdn::invalid-weight",
                "Invalid weight",
                format!("`{}` has no weight; with `strategy: weighted` every member has one.", member.name()),
                Some(format!("write `{{ name: {}, weight: 100 }}`", member.name())),
            ),
            (true, Some(w)) if !(0..=255).contains(&w) => cx.error(
                &p(&["members", &i, "weight"]),
                "cdn::invalid-weight",
                "Invalid weight",
                format!("weight {w} is out of range: weights are 0-255, relative to the other members."),
                None,
            ),
            (false, Some(_)) => cx.key_error(
                &p(&["members", &i, "weight"]),
                "cdn::invalid-weight",
                "Invalid weight",
                format!("`cdn.{name}` fails over in order; weights apply to `strategy: weighted`."),
                Some("remove the weight, or use `strategy: weighted`".into()),
            ),
            _ => {}
        }
    }
    if weighted && !m.members.is_empty() && m.members.iter().all(|x| x.weight() == Some(0)) {
        cx.key_error(
            &p(&["members"]),
            "cdn::invalid-weight",
            "Invalid weight",
            format!("every member of `cdn.{name}` has weight 0, so no member would get traffic."),
            None,
        );
    }
    if let Some(primary) = &m.primary {
        if weighted {
            cx.key_error(
                &p(&["primary"]),
                "cdn::invalid-primary",
                "Invalid primary",
                format!("`cdn.{name}` spreads traffic by weight; a primary applies to `strategy: failover`."),
                Some("remove `primary`, or use `strategy: failover`".into()),
            );
        } else if !m.members.iter().any(|x| x.name() == primary) {
            let help = did_you_mean(primary, m.members.iter().map(|x| x.name()));
            cx.error(
                &p(&["primary"]),
                "cdn::invalid-primary",
                "Invalid primary",
                format!("`{primary}` is not a member of `cdn.{name}`; the primary is one of its members."),
                help,
            );
        }
    }
}

/// The zone and the record's name in it: inside the zone, not its apex (a CNAME cannot be).
fn dns_name(
    cx: &mut SpecContext<'_>,
    name: &str,
    m: &MultiCdn,
    p: &dyn Fn(&[&str]) -> Vec<String>,
) -> (Option<String>, Option<String>) {
    let zone = normalize(&m.dns.zone);
    if !valid_host(&zone) {
        cx.error(
            &p(&["dns", "zone"]),
            "cdn::invalid-zone",
            "Invalid zone",
            format!("`{}` is not a DNS zone name (a domain like `example.com`).", m.dns.zone),
            None,
        );
        return (None, None);
    }
    let record = normalize(&m.dns.record);
    // A name without a dot is relative to the zone; one with dots is fully qualified.
    let fqdn = match record.as_str() {
        "@" => zone.clone(),
        r if r.contains('.') => r.to_string(),
        r => format!("{r}.{zone}"),
    };
    if !valid_host(&fqdn) || !(fqdn == zone || fqdn.ends_with(&format!(".{zone}"))) {
        cx.error(
            &p(&["dns", "record"]),
            "cdn::record-outside-zone",
            "Record outside the zone",
            format!("`{}` is not a name inside the zone `{zone}`.", m.dns.record),
            Some(format!("write a name ending in `.{zone}`, or one relative to it (`www`)")),
        );
        return (Some(zone), None);
    }
    if fqdn == zone {
        cx.error(
            &p(&["dns", "record"]),
            "cdn::record-at-apex",
            "Record at the zone apex",
            format!(
                "`cdn.{name}` would answer for the zone apex `{zone}` with the members' domains, and the apex cannot be a CNAME."
            ),
            Some(format!("use a name inside the zone, like `www.{zone}`, and redirect the apex to it")),
        );
        return (Some(zone), None);
    }
    if let Some(ttl) = m.dns.ttl
        && !(1..=86_400).contains(&ttl)
    {
        cx.error(
            &p(&["dns", "ttl"]),
            "cdn::invalid-ttl",
            "Invalid TTL",
            format!("a DNS TTL of {ttl} seconds is out of range 1-86400; failover needs a short one (60)."),
            None,
        );
    }
    (Some(zone), Some(fqdn))
}

fn health_check(cx: &mut SpecContext<'_>, m: &MultiCdn, p: &dyn Fn(&[&str]) -> Vec<String>) {
    let h = &m.dns.health_check;
    if !matches!(h.interval, 10 | 30) {
        cx.error(
            &p(&["dns", "health_check", "interval"]),
            "cdn::invalid-health-check",
            "Invalid health check",
            format!("an interval of {} seconds is not one Route 53 checks at: 10 or 30.", h.interval),
            Some("write `interval: 30` (or `10`, for faster failover at a higher price)".into()),
        );
    }
    if !(1..=10).contains(&h.threshold) {
        cx.error(
            &p(&["dns", "health_check", "threshold"]),
            "cdn::invalid-health-check",
            "Invalid health check",
            format!("a threshold of {} is out of range: 1-10 consecutive failed checks.", h.threshold),
            None,
        );
    }
    if !h.path.starts_with('/') || h.path.len() > 255 {
        cx.error(
            &p(&["dns", "health_check", "path"]),
            "cdn::invalid-health-check",
            "Invalid health check",
            format!("`{}` is not a path: a health check path starts with `/` (at most 255 characters).", h.path),
            Some("write `path: /healthz`".into()),
        );
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).map(normalize).collect()).unwrap_or_default()
}

/// A member must answer for the record's name (CloudFront only serves its aliases), and must
/// not publish that name in DNS itself: one provider answers for it.
fn member_dns(
    cx: &mut SpecContext<'_>,
    name: &str,
    m: &MultiCdn,
    others: &Others<'_>,
    fqdn: &str,
    p: &dyn Fn(&[&str]) -> Vec<String>,
) {
    for (i, member) in m.members.iter().enumerate() {
        let Some(e) = others.entries.iter().find(|e| e.name == member.name()) else { continue };
        let at = p(&["members", &i.to_string()]);
        let (publishes, serves) = match e.provider.as_str() {
            "cloudfront" => {
                let aliases = strings(e.settings.get("aliases"));
                let records = e.settings.get("dns").map(|d| {
                    let listed = strings(d.get("records"));
                    if listed.is_empty() { aliases.clone() } else { listed }
                });
                (records.unwrap_or_default().iter().any(|r| r == fqdn), aliases.iter().any(|a| a == fqdn))
            }
            "cloudflare" => {
                let host = e.settings.get("hostname").and_then(Value::as_str).map(normalize);
                (host.as_deref() == Some(fqdn), true)
            }
            // Front Door answers only for the endpoint's host and its custom domain.
            "azure" => {
                let domain = e.settings.get("custom_domain").and_then(Value::as_str).map(normalize);
                (false, domain.as_deref() == Some(fqdn))
            }
            // The managed certificate covers the entry's hostnames only.
            "gcp" => (false, strings(e.settings.get("hostnames")).iter().any(|h| h == fqdn)),
            _ => (false, true),
        };
        if publishes {
            cx.error(
                &at,
                "cdn::dns-conflict",
                "Two DNS answers for one name",
                format!(
                    "`cdn.{}` publishes `{fqdn}` in DNS itself, and `cdn.{name}` answers for the same name; one provider answers for a name.",
                    e.name
                ),
                Some(format!("remove `{fqdn}` from the DNS settings of `cdn.{}`", e.name)),
            );
        } else if !serves {
            cx.error(
                &at,
                "cdn::record-not-an-alias",
                "Record for a name the distribution does not serve",
                match e.provider.as_str() {
                    "azure" => format!(
                        "`cdn.{}` does not have `{fqdn}` as its `custom_domain`, so Front Door would refuse the requests `cdn.{name}` sends it.",
                        e.name
                    ),
                    "gcp" => format!(
                        "`cdn.{}` does not list `{fqdn}` in its `hostnames`, so its certificate would not cover the requests `cdn.{name}` sends it.",
                        e.name
                    ),
                    _ => format!(
                        "`cdn.{}` does not list `{fqdn}` in its `aliases`, so CloudFront would refuse the requests `cdn.{name}` sends it.",
                        e.name
                    ),
                },
                Some(match e.provider.as_str() {
                    "azure" => format!("set `cdn.{}.custom_domain: {fqdn}`", e.name),
                    "gcp" => format!("add `{fqdn}` to `cdn.{}.hostnames`", e.name),
                    _ => format!("add `{fqdn}` to `cdn.{}.aliases` (its certificate must cover it)", e.name),
                }),
            );
        }
    }
}
