//! Alert routing: an AlertmanagerConfig (monitoring.coreos.com/v1alpha1) per namespace that has
//! SLOs, and the same routing as a standalone alertmanager.yml ([`alertmanager_yaml`]).
//!
//! The prometheus-operator scopes an AlertmanagerConfig to its namespace (it adds a
//! `namespace="<ns>"` matcher to the first-level route), which is why the SLO alerts carry a
//! `namespace` label and why one object per namespace is generated. Receivers reference
//! Secrets in that namespace by name and key; no credential ever appears in an object, a plan
//! or state.

use serde_json::{Value, json};

use super::config::{Alerts, Receiver, Severity};

/// Data key of the PagerDuty routing key when a secret is named without a key.
pub const PAGERDUTY_KEY: &str = "routing_key";
/// Data key of the Slack webhook URL when a secret is named without a key.
pub const SLACK_KEY: &str = "url";
/// Receiver of SLO alerts no route claims (it notifies no one).
pub const UNROUTED: &str = "unrouted";
/// Labels alerts are grouped by: one notification per SLO and severity.
pub const GROUP_BY: &[&str] = &["alertname", "slo", "severity"];
/// A page and a ticket for the same SLO: the ticket is inhibited (the page already covers it).
pub const INHIBIT_EQUAL: &[&str] = &["slo", "namespace"];

fn matcher(name: &str, value: &str) -> Value {
    json!({ "name": name, "value": value, "matchType": "=" })
}

/// The AlertmanagerConfig for the SLO alerts of `namespace`.
pub fn alertmanager_config(name: &str, namespace: &str, alerts: &Alerts) -> Value {
    let routes: Vec<Value> = alerts
        .routes
        .iter()
        .map(|r| json!({ "receiver": r.to, "matchers": [matcher("severity", r.severity.as_str())] }))
        .collect();
    let mut receivers = vec![json!({ "name": UNROUTED })];
    for (rname, r) in &alerts.receivers {
        receivers.push(receiver_crd(rname, r));
    }
    json!({
        "apiVersion": "monitoring.coreos.com/v1alpha1",
        "kind": "AlertmanagerConfig",
        "metadata": { "name": name, "namespace": namespace },
        "spec": {
            "route": {
                "receiver": UNROUTED,
                "groupBy": GROUP_BY,
                "routes": routes,
            },
            "receivers": receivers,
            "inhibitRules": [{
                "sourceMatch": [matcher("severity", Severity::Page.as_str())],
                "targetMatch": [matcher("severity", Severity::Ticket.as_str())],
                "equal": INHIBIT_EQUAL,
            }],
        }
    })
}

fn receiver_crd(name: &str, r: &Receiver) -> Value {
    let mut out = json!({ "name": name });
    if let Some(pd) = &r.pagerduty {
        let s = &pd.routing_key_secret;
        out["pagerdutyConfigs"] = json!([{ "routingKey": { "name": s.name(), "key": s.key(PAGERDUTY_KEY) } }]);
    }
    if let Some(slack) = &r.slack {
        let s = &slack.webhook_secret;
        let mut cfg = json!({ "apiURL": { "name": s.name(), "key": s.key(SLACK_KEY) } });
        if let Some(ch) = &slack.channel {
            cfg["channel"] = json!(ch);
        }
        out["slackConfigs"] = json!([cfg]);
    }
    out
}

/// Where a standalone Alertmanager finds a Secret's key: Secrets mounted as volumes under
/// `/etc/alertmanager/secrets/<secret>/<key>` (the layout of the Alertmanager CRD's `secrets`).
pub fn secret_file(name: &str, key: &str) -> String {
    format!("/etc/alertmanager/secrets/{name}/{key}")
}

/// The routing of `namespaces` as an alertmanager.yml: what the operator assembles from the
/// AlertmanagerConfigs, for an Alertmanager that is not run by the operator (and for checking
/// the routing with `amtool`). Credentials are read from files, never inlined.
pub fn alertmanager_yaml(namespaces: &[String], alerts: &Alerts) -> Value {
    let mut receivers = vec![json!({ "name": UNROUTED })];
    for (name, r) in &alerts.receivers {
        let mut out = json!({ "name": name });
        if let Some(pd) = &r.pagerduty {
            let s = &pd.routing_key_secret;
            out["pagerduty_configs"] = json!([{ "routing_key_file": secret_file(s.name(), s.key(PAGERDUTY_KEY)) }]);
        }
        if let Some(slack) = &r.slack {
            let s = &slack.webhook_secret;
            let mut cfg = json!({ "api_url_file": secret_file(s.name(), s.key(SLACK_KEY)) });
            if let Some(ch) = &slack.channel {
                cfg["channel"] = json!(ch);
            }
            out["slack_configs"] = json!([cfg]);
        }
        receivers.push(out);
    }
    let routes: Vec<Value> = namespaces
        .iter()
        .map(|ns| {
            json!({
                "receiver": UNROUTED,
                "matchers": [format!("namespace=\"{ns}\"")],
                "group_by": GROUP_BY,
                "continue": true,
                "routes": alerts.routes.iter().map(|r| json!({
                    "receiver": r.to,
                    "matchers": [format!("severity=\"{}\"", r.severity.as_str())],
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "route": { "receiver": UNROUTED, "routes": routes },
        "receivers": receivers,
        "inhibit_rules": [{
            "source_matchers": [format!("severity=\"{}\"", Severity::Page.as_str())],
            "target_matchers": [format!("severity=\"{}\"", Severity::Ticket.as_str())],
            "equal": INHIBIT_EQUAL,
        }],
    })
}
