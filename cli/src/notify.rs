//! `strata drift --notify webhook=URL`: posts a Slack-compatible message (`{"text", "blocks"}`)
//! when drift is found. The message names resources, statuses and attribute paths, never
//! attribute values, and goes through the spec's redactor; the URL (a secret in Slack's case)
//! is never printed.

use std::time::Duration;

use serde_json::{Value, json};
use strata_engine::drift::DriftReport;
use strata_engine::redact::Redactor;

/// Where to post.
#[derive(Debug, Clone)]
pub enum Notify {
    Webhook(String),
}

impl Notify {
    /// `webhook=https://hooks.slack.com/...`
    pub fn parse(s: &str) -> Result<Notify, String> {
        match s.split_once('=') {
            Some(("webhook", url)) if url.starts_with("https://") || url.starts_with("http://") => {
                Ok(Notify::Webhook(url.to_string()))
            }
            Some(("webhook", _)) => Err("the webhook URL starts with https:// (or http://)".into()),
            _ => Err("expected `webhook=URL`".into()),
        }
    }
}

/// How many resources the message lists; the rest are counted.
const LISTED: usize = 20;

/// The Slack-compatible payload for a report with drift.
pub fn payload(report: &DriftReport, redactor: &Redactor) -> Value {
    let shard = report.shard.as_ref().map(|s| format!(", shard {s}")).unwrap_or_default();
    let text = format!(
        "strata drift: {} of {} resources drifted in {}/{}{shard}",
        report.drifted.len(),
        report.checked,
        report.project,
        report.env
    );
    let mut lines = Vec::new();
    for r in report.drifted.iter().take(LISTED) {
        let what = if r.status == "deleted" {
            "deleted remotely".to_string()
        } else {
            let paths: Vec<String> =
                r.attributes.iter().map(|a| format!("`{}` ({})", a.change.path, a.cause)).collect();
            format!("changed by someone else: {}", paths.join(", "))
        };
        lines.push(format!("• `{}` ({}): {what}", r.address, r.kind));
    }
    if report.drifted.len() > LISTED {
        lines.push(format!("… and {} more", report.drifted.len() - LISTED));
    }
    let accepted: usize = report.drifted.iter().chain(&report.accepted).map(|r| r.accepted.len()).sum();
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": "strata drift"}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("*{text}*")}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": lines.join("\n")}}),
    ];
    if accepted > 0 {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("{accepted} accepted difference(s) not counted (`drift.ignore`)")}]}));
    }
    let mut value = json!({"text": text, "blocks": blocks});
    // Paths and addresses carry no values, but a secret can be anywhere a user typed it.
    redactor.redact_value(&mut value);
    value
}

/// Posts the payload; the error never contains the URL.
pub async fn send(target: &Notify, body: &Value) -> Result<(), String> {
    let Notify::Webhook(url) = target;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {}", e.without_url()))?;
    let resp = client.post(url).json(body).send().await.map_err(|e| format!("{}", e.without_url()))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("the webhook answered HTTP {}", resp.status().as_u16()))
    }
}
