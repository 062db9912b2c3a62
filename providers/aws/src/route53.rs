//! `route53_record`: one record set (name + type) in a hosted zone looked up by name.
//!
//! Create and update are UPSERTs; delete sends a DELETE of the exact current record set.
//! Reads are batched: one ListHostedZonesByName per zone name, one paged
//! ListResourceRecordSets per zone. Records cannot carry tags: a record recorded in state is
//! ours; one found without a record counts as ours only when it equals the desired record.

use std::collections::BTreeMap;

use aws_sdk_route53::types as t;
use serde_json::{Value, json};
use strata_sdk::{Applied, DeleteRequest, Observed, Ownership, ReadRequest, ResourceChange};

use crate::attrs::{self, AliasAttrs, RecordAttrs};
use crate::error::{AwsError, Result};
use crate::{AwsProvider, KIND_RECORD};

fn sdk<E, R>(op: &'static str) -> impl FnOnce(aws_sdk_route53::error::SdkError<E, R>) -> AwsError
where
    E: aws_sdk_route53::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: crate::error::RawResponse + std::fmt::Debug,
{
    move |e| AwsError::from_sdk(op, e)
}

fn built<T>(r: std::result::Result<T, aws_sdk_route53::error::BuildError>) -> Result<T> {
    r.map_err(|e| AwsError::Build { operation: "build request", message: e.to_string() })
}

/// Lowercase, no trailing dot, Route 53's `\ddd` octal escapes decoded (`\052` = `*`).
pub(crate) fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() && bytes[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let code =
                (bytes[i + 1] - b'0') as u32 * 64 + (bytes[i + 2] - b'0') as u32 * 8 + (bytes[i + 3] - b'0') as u32;
            if let Some(c) = char::from_u32(code) {
                out.push(c);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i] as char);
        i += 1;
    }
    out.trim_end_matches('.').to_ascii_lowercase()
}

/// The record's fully qualified name (normalized): `@` = apex, relative names get the zone.
pub(crate) fn fqdn(name: &str, zone: &str) -> String {
    let zone = normalize_name(zone);
    let name = normalize_name(name);
    if name.is_empty() || name == "@" {
        zone
    } else if name == zone || name.ends_with(&format!(".{zone}")) {
        name
    } else {
        format!("{name}.{zone}")
    }
}

fn strip_zone_prefix(id: &str) -> String {
    id.trim_start_matches("/hostedzone/").to_string()
}

/// `"a" "b"` -> `ab`; a value that is not quoted is returned as is.
pub(crate) fn unquote_txt(v: &str) -> String {
    let v = v.trim();
    if !v.starts_with('"') {
        return v.to_string();
    }
    let mut out = String::new();
    let mut chars = v.chars();
    let mut in_quotes = false;
    while let Some(c) = chars.next() {
        match (c, in_quotes) {
            ('"', _) => in_quotes = !in_quotes,
            ('\\', true) => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            (c, true) => out.push(c),
            (_, false) => {}
        }
    }
    out
}

/// Quotes a TXT value for Route 53, in 255-character strings; already quoted values pass.
pub(crate) fn quote_txt(v: &str) -> String {
    if v.starts_with('"') {
        return v.to_string();
    }
    let chars: Vec<char> = v.chars().collect();
    let chunks: Vec<String> =
        if chars.is_empty() { vec![String::new()] } else { chars.chunks(255).map(|c| c.iter().collect()).collect() };
    chunks.iter().map(|c| format!("\"{}\"", c.replace('\\', "\\\\").replace('"', "\\\""))).collect::<Vec<_>>().join(" ")
}

fn is_txt(record_type: &str) -> bool {
    matches!(record_type, "TXT" | "SPF")
}

/// `{zone_id}/{fqdn}/{type}`, and `/{set_identifier}` for a failover or weighted record.
fn remote_id(zone_id: &str, fqdn: &str, record_type: &str, set_id: Option<&str>) -> String {
    match set_id {
        Some(id) => format!("{zone_id}/{fqdn}/{record_type}/{id}"),
        None => format!("{zone_id}/{fqdn}/{record_type}"),
    }
}

/// The parts of a record's remote id: zone id, name, type and set identifier.
type RecordId = (String, String, String, Option<String>);

fn parse_remote_id(id: &str) -> Result<RecordId> {
    let mut parts = id.splitn(4, '/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(z), Some(n), Some(t), set) if !z.is_empty() && !n.is_empty() && !t.is_empty() => {
            Ok((z.to_string(), n.to_string(), t.to_string(), set.map(str::to_string)))
        }
        _ => Err(AwsError::InvalidRemoteId {
            kind: KIND_RECORD.into(),
            remote_id: id.to_string(),
            expected: "{zone_id}/{name}/{type}[/{set_identifier}]",
        }),
    }
}

fn record_outputs(zone_id: &str, fqdn: &str) -> Value {
    json!({ "zone_id": zone_id, "fqdn": fqdn })
}

fn parse_record(value: &Value) -> Result<RecordAttrs> {
    let a: RecordAttrs =
        attrs::parse(value).map_err(|(p, m)| AwsError::invalid_attrs(KIND_RECORD, format!("{}: {m}", p.join("."))))?;
    if let Some((p, m)) = a.problems().into_iter().next() {
        return Err(AwsError::invalid_attrs(KIND_RECORD, format!("{}: {m}", p.join("."))));
    }
    Ok(a)
}

/// What we know of a hosted zone.
#[derive(Debug, Clone)]
struct Zone {
    id: String,
    name: String,
    private: bool,
}

/// The record set strata would send for `a`.
fn record_set(a: &RecordAttrs, fqdn: &str) -> Result<t::ResourceRecordSet> {
    let mut b = t::ResourceRecordSet::builder().name(fqdn).r#type(t::RrType::from(a.record_type.as_str()));
    match &a.alias {
        Some(alias) => {
            b = b.alias_target(built(
                t::AliasTarget::builder()
                    .hosted_zone_id(&alias.hosted_zone_id)
                    .dns_name(&alias.dns_name)
                    .evaluate_target_health(alias.evaluate_target_health)
                    .build(),
            )?);
        }
        None => {
            b = b.ttl(a.ttl.unwrap_or(300));
            for v in &a.records {
                let value = if is_txt(&a.record_type) { quote_txt(v) } else { v.clone() };
                b = b.resource_records(built(t::ResourceRecord::builder().value(value).build())?);
            }
        }
    }
    b = b
        .set_set_identifier(a.set_identifier.clone())
        .set_failover(a.failover.as_deref().map(t::ResourceRecordSetFailover::from))
        .set_weight(a.weight)
        .set_health_check_id(a.health_check_id.clone());
    built(b.build())
}

/// Maps a remote record set back into attrs, taking the desired spelling where equivalent.
fn record_attrs(rr: &t::ResourceRecordSet, zone: &Zone, desired: Option<&RecordAttrs>) -> RecordAttrs {
    let rfqdn = normalize_name(&rr.name);
    let record_type = rr.r#type.as_str().to_string();
    let mut records: Vec<String> = rr
        .resource_records
        .as_ref()
        .map(|rs| {
            rs.iter().map(|r| if is_txt(&record_type) { unquote_txt(&r.value) } else { r.value.clone() }).collect()
        })
        .unwrap_or_default();
    let alias = rr.alias_target.as_ref().map(|a| AliasAttrs {
        dns_name: normalize_name(&a.dns_name),
        hosted_zone_id: a.hosted_zone_id.clone(),
        evaluate_target_health: a.evaluate_target_health,
    });
    let mut out = RecordAttrs {
        zone: zone.name.clone(),
        private_zone: zone.private,
        name: rfqdn.clone(),
        record_type,
        ttl: rr.ttl,
        records: Vec::new(),
        alias,
        set_identifier: rr.set_identifier.clone(),
        failover: rr.failover.as_ref().map(|f| f.as_str().to_string()),
        weight: rr.weight,
        health_check_id: rr.health_check_id.clone(),
    };
    if let Some(d) = desired {
        if normalize_name(&d.zone) == normalize_name(&out.zone) {
            out.zone = d.zone.clone();
        }
        if fqdn(&d.name, &d.zone) == rfqdn {
            out.name = d.name.clone();
        }
        // Values: compare on the unquoted form, keep the desired spelling and order.
        let canon = |v: &str| {
            if is_txt(&out.record_type) { unquote_txt(v) } else { v.trim_end_matches('.').to_ascii_lowercase() }
        };
        let want: Vec<String> = d.records.iter().map(|v| canon(v)).collect();
        let have: Vec<String> = records.iter().map(|v| canon(v)).collect();
        if want.len() == have.len() && want.iter().all(|w| have.contains(w)) {
            records = d.records.clone();
        }
        if let (Some(oa), Some(da)) = (&mut out.alias, &d.alias)
            && normalize_name(&da.dns_name) == oa.dns_name
        {
            oa.dns_name = da.dns_name.clone();
        }
    }
    out.records = records;
    out
}

/// Whether `rr` is the record set of that name, type and set identifier.
fn is_record(rr: &t::ResourceRecordSet, fqdn: &str, record_type: &str, set_id: Option<&str>) -> bool {
    normalize_name(&rr.name) == fqdn && rr.r#type.as_str() == record_type && rr.set_identifier.as_deref() == set_id
}

/// Whether an observed record equals the desired one on everything that matters.
fn same_record(observed: &RecordAttrs, desired: &RecordAttrs) -> bool {
    let mut want = desired.clone();
    if want.alias.is_none() && want.ttl.is_none() {
        want.ttl = Some(300);
    }
    let mut have = observed.clone();
    if let Some(a) = &mut have.alias {
        a.hosted_zone_id = a.hosted_zone_id.to_ascii_uppercase();
    }
    if let Some(a) = &mut want.alias {
        a.hosted_zone_id = a.hosted_zone_id.to_ascii_uppercase();
    }
    have == want
}

impl AwsProvider {
    async fn r53(&self) -> &aws_sdk_route53::Client {
        &self.clients().await.r53
    }

    /// ListHostedZonesByName starting at `name`; the zone of exactly that name and visibility.
    async fn find_zone(&self, name: &str, private: bool) -> Result<Option<Zone>> {
        let want = normalize_name(name);
        let r53 = self.r53().await;
        let mut dns_name = Some(format!("{want}."));
        let mut zone_id: Option<String> = None;
        loop {
            let resp = r53
                .list_hosted_zones_by_name()
                .set_dns_name(dns_name.take())
                .set_hosted_zone_id(zone_id.take())
                .max_items(10)
                .send()
                .await
                .map_err(sdk("ListHostedZonesByName"))?;
            for z in &resp.hosted_zones {
                let zname = normalize_name(&z.name);
                if zname != want {
                    // Zones come sorted by name from `want` on: past it, nothing matches.
                    return Ok(None);
                }
                let zprivate = z.config.as_ref().is_some_and(|c| c.private_zone);
                if zprivate == private {
                    return Ok(Some(Zone { id: strip_zone_prefix(&z.id), name: zname, private: zprivate }));
                }
            }
            if !resp.is_truncated {
                return Ok(None);
            }
            dns_name = resp.next_dns_name;
            zone_id = resp.next_hosted_zone_id;
            if dns_name.is_none() {
                return Ok(None);
            }
        }
    }

    async fn zone_by_id(&self, id: &str) -> Result<Option<Zone>> {
        match self.r53().await.get_hosted_zone().id(id).send().await.map_err(sdk("GetHostedZone")) {
            Ok(out) => Ok(out.hosted_zone.map(|z| Zone {
                id: strip_zone_prefix(&z.id),
                name: normalize_name(&z.name),
                private: z.config.is_some_and(|c| c.private_zone),
            })),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every record set of a zone (paged ListResourceRecordSets).
    async fn zone_records(&self, zone_id: &str) -> Result<Vec<t::ResourceRecordSet>> {
        let r53 = self.r53().await;
        let mut out = Vec::new();
        let mut next: Option<(String, t::RrType, Option<String>)> = None;
        loop {
            let mut req = r53.list_resource_record_sets().hosted_zone_id(zone_id).max_items(300);
            if let Some((name, ty, ident)) = next.take() {
                req = req.start_record_name(name).start_record_type(ty).set_start_record_identifier(ident);
            }
            let resp = req.send().await.map_err(sdk("ListResourceRecordSets"))?;
            out.extend(resp.resource_record_sets);
            match (resp.is_truncated, resp.next_record_name, resp.next_record_type) {
                (true, Some(n), Some(ty)) => next = Some((n, ty, resp.next_record_identifier)),
                _ => break,
            }
        }
        Ok(out)
    }

    /// The one record set of `fqdn`/`record_type` with that set identifier (none: simple
    /// routing), if any.
    async fn find_record(
        &self,
        zone_id: &str,
        fqdn: &str,
        record_type: &str,
        set_id: Option<&str>,
    ) -> Result<Option<t::ResourceRecordSet>> {
        let resp = self
            .r53()
            .await
            .list_resource_record_sets()
            .hosted_zone_id(zone_id)
            .start_record_name(fqdn)
            .start_record_type(t::RrType::from(record_type))
            .max_items(300)
            .send()
            .await
            .map_err(sdk("ListResourceRecordSets"))?;
        Ok(resp.resource_record_sets.into_iter().find(|rr| is_record(rr, fqdn, record_type, set_id)))
    }

    pub(crate) async fn read_records(&self, reqs: &[&ReadRequest<'_>]) -> Vec<Result<Option<Observed>>> {
        /// Where each request points, once zones are resolved.
        enum Target {
            Known { zone_id: String, fqdn: String, record_type: String, set_id: Option<String>, by_id: bool },
            Absent,
            Failed(AwsError),
        }
        let desired: Vec<Option<RecordAttrs>> =
            reqs.iter().map(|r| r.attrs.as_ref().and_then(|a| attrs::parse(a).ok())).collect();
        // 1. Zones: one lookup per (name, visibility), one GetHostedZone per id-only zone.
        let mut by_name: BTreeMap<(String, bool), Result<Option<Zone>>> = BTreeMap::new();
        let mut zones: BTreeMap<String, Zone> = BTreeMap::new();
        let mut targets = Vec::with_capacity(reqs.len());
        for (r, d) in reqs.iter().zip(&desired) {
            let target = match (&r.remote_id, d) {
                (Some(id), _) => match parse_remote_id(id) {
                    Ok((zone_id, fqdn, record_type, set_id)) => {
                        Target::Known { zone_id, fqdn, record_type, set_id, by_id: true }
                    }
                    Err(e) => Target::Failed(e),
                },
                (None, Some(d)) => {
                    let key = (normalize_name(&d.zone), d.private_zone);
                    if !by_name.contains_key(&key) {
                        let z = self.find_zone(&key.0, key.1).await;
                        by_name.insert(key.clone(), z);
                    }
                    match &by_name[&key] {
                        Ok(Some(z)) => {
                            zones.insert(z.id.clone(), z.clone());
                            Target::Known {
                                zone_id: z.id.clone(),
                                fqdn: fqdn(&d.name, &d.zone),
                                record_type: d.record_type.clone(),
                                set_id: d.set_identifier.clone(),
                                by_id: false,
                            }
                        }
                        Ok(None) => Target::Absent,
                        Err(e) => Target::Failed(e.clone()),
                    }
                }
                (None, None) => Target::Absent,
            };
            targets.push(target);
        }
        // Zone facts for id-only targets: from the desired doc when it names the zone, else
        // GetHostedZone.
        for (t, d) in targets.iter().zip(&desired) {
            if let Target::Known { zone_id, .. } = t
                && !zones.contains_key(zone_id)
            {
                let zone = match d {
                    Some(d) => {
                        Some(Zone { id: zone_id.clone(), name: normalize_name(&d.zone), private: d.private_zone })
                    }
                    None => self.zone_by_id(zone_id).await.ok().flatten(),
                };
                if let Some(z) = zone {
                    zones.insert(zone_id.clone(), z);
                }
            }
        }
        // 2. Records: one paged list per zone.
        let mut records: BTreeMap<String, Result<Vec<t::ResourceRecordSet>>> = BTreeMap::new();
        for t in &targets {
            if let Target::Known { zone_id, .. } = t
                && !records.contains_key(zone_id)
            {
                let listed = match self.zone_records(zone_id).await {
                    Err(e) if e.is_not_found() => Ok(Vec::new()),
                    other => other,
                };
                records.insert(zone_id.clone(), listed);
            }
        }
        // 3. Match.
        targets
            .into_iter()
            .zip(desired)
            .zip(reqs)
            .map(|((target, d), _req)| match target {
                Target::Absent => Ok(None),
                Target::Failed(e) => Err(e),
                Target::Known {
                    zone_id,
                    fqdn,
                    record_type,
                    set_id,
                    by_id,
                } => {
                    let all = match &records[&zone_id] {
                        Ok(all) => all,
                        Err(e) => return Err(e.clone()),
                    };
                    let Some(rr) = all.iter().find(|rr| is_record(rr, &fqdn, &record_type, set_id.as_deref())) else {
                        return Ok(None);
                    };
                    let zone = zones.get(&zone_id).cloned().unwrap_or(Zone {
                        id: zone_id.clone(),
                        name: String::new(),
                        private: false,
                    });
                    let observed = record_attrs(rr, &zone, d.as_ref());
                    let ownership = if by_id || d.as_ref().is_some_and(|d| same_record(&observed, d)) {
                        Ownership::Ours
                    } else {
                        Ownership::Foreign {
                            detail: format!(
                                "record {fqdn} {record_type} exists with other values and strata has no record of creating it"
                            ),
                        }
                    };
                    Ok(Some(Observed {
                        remote_id: remote_id(&zone_id, &fqdn, &record_type, set_id.as_deref()),
                        attrs: attrs::to_value(&observed),
                        outputs: record_outputs(&zone_id, &fqdn),
                        ownership,
                    }))
                }
            })
            .collect()
    }

    /// UPSERT the record. On create, a different record already there is a conflict (it is
    /// not ours to overwrite); an identical one is adopted.
    pub(crate) async fn upsert_record(&self, change: &ResourceChange, create: bool) -> Result<Applied> {
        let desired = parse_record(&change.attrs)?;
        let zone = self.find_zone(&desired.zone, desired.private_zone).await?.ok_or_else(|| {
            AwsError::NotFound(format!(
                "no {} hosted zone named `{}`",
                if desired.private_zone { "private" } else { "public" },
                desired.zone
            ))
        })?;
        let name = fqdn(&desired.name, &desired.zone);
        let set_id = desired.set_identifier.as_deref();
        if create && let Some(existing) = self.find_record(&zone.id, &name, &desired.record_type, set_id).await? {
            let observed = record_attrs(&existing, &zone, Some(&desired));
            if !same_record(&observed, &desired) {
                return Err(AwsError::Conflict(format!(
                    "record {name} {} already exists in zone {} with other values; strata does not overwrite records it did not create",
                    desired.record_type, desired.zone
                )));
            }
        }
        let rrset = record_set(&desired, &name)?;
        self.change_record(&zone.id, t::ChangeAction::Upsert, rrset).await?;
        let mut applied = desired.clone();
        if applied.alias.is_none() && applied.ttl.is_none() {
            applied.ttl = Some(300);
        }
        Ok(Applied {
            remote_id: remote_id(&zone.id, &name, &desired.record_type, set_id),
            attrs: attrs::to_value(&applied),
            outputs: record_outputs(&zone.id, &name),
        })
    }

    async fn change_record(&self, zone_id: &str, action: t::ChangeAction, rrset: t::ResourceRecordSet) -> Result<()> {
        let batch = built(
            t::ChangeBatch::builder()
                .comment("strata")
                .changes(built(t::Change::builder().action(action).resource_record_set(rrset).build())?)
                .build(),
        )?;
        self.r53()
            .await
            .change_resource_record_sets()
            .hosted_zone_id(zone_id)
            .change_batch(batch)
            .send()
            .await
            .map_err(sdk("ChangeResourceRecordSets"))?;
        Ok(())
    }

    /// DELETE of the exact current record set; a record (or zone) already gone is deleted.
    pub(crate) async fn delete_record(&self, req: &DeleteRequest) -> Result<()> {
        let (zone_id, name, record_type, set_id) = parse_remote_id(&req.remote_id)?;
        let current = match self.find_record(&zone_id, &name, &record_type, set_id.as_deref()).await {
            Ok(Some(rr)) => rr,
            Ok(None) => return Ok(()),
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        match self.change_record(&zone_id, t::ChangeAction::Delete, current).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) if e.is_code("InvalidChangeBatch") && e.to_string().to_ascii_lowercase().contains("not found") => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalize() {
        assert_eq!(normalize_name("CDN.Example.com."), "cdn.example.com");
        assert_eq!(normalize_name("\\052.example.com."), "*.example.com");
        assert_eq!(fqdn("@", "example.com"), "example.com");
        assert_eq!(fqdn("cdn", "example.com."), "cdn.example.com");
        assert_eq!(fqdn("cdn.example.com.", "example.com"), "cdn.example.com");
        assert_eq!(fqdn("example.com", "example.com"), "example.com");
    }

    #[test]
    fn txt_quoting_round_trips() {
        assert_eq!(quote_txt("v=spf1 -all"), "\"v=spf1 -all\"");
        assert_eq!(unquote_txt("\"v=spf1 -all\""), "v=spf1 -all");
        assert_eq!(unquote_txt("\"a\" \"b\""), "ab");
        assert_eq!(unquote_txt(&quote_txt("say \"hi\"")), "say \"hi\"");
        let long = "x".repeat(300);
        let q = quote_txt(&long);
        assert_eq!(q.matches('"').count(), 4);
        assert_eq!(unquote_txt(&q), long);
    }

    #[test]
    fn remote_ids_parse() {
        assert_eq!(
            parse_remote_id("Z1/cdn.example.com/A").unwrap(),
            ("Z1".into(), "cdn.example.com".into(), "A".into(), None)
        );
        assert_eq!(parse_remote_id("Z1/www.example.com/CNAME/eu").unwrap().3.as_deref(), Some("eu"));
        assert!(parse_remote_id("Z1/cdn").is_err());
    }

    #[test]
    fn observed_takes_desired_spelling() {
        let d: RecordAttrs = attrs::parse(&serde_json::json!({
            "zone": "Example.com", "name": "cdn", "type": "A",
            "alias": {"dns_name": "D1.cloudfront.net"}
        }))
        .unwrap();
        let rr = record_set(&d, "cdn.example.com").unwrap();
        let zone = Zone { id: "Z1".into(), name: "example.com".into(), private: false };
        let o = record_attrs(&rr, &zone, Some(&d));
        assert_eq!(o, d);
        assert!(same_record(&o, &d));
    }
}
