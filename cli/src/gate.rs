//! `--gate slo`: before a plan moves a canary forward (a mesh split giving a later version more
//! weight), ask Prometheus whether the SLOs of that service are burning, and refuse the step if
//! one is. The answer is printed with the plan. The decision logic and the PromQL are the
//! engine's (`lower::observability::gate`); this module owns the HTTP call.
//!
//! Only `http://` Prometheus URLs are supported (the in-cluster API through a port-forward or a
//! Service); an `https://` URL is refused with a clear error rather than sent in plain text.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use strata_engine::config::Config;
use strata_engine::lower::observability::ObservabilityConfig;
use strata_engine::lower::observability::gate::{self, GuardedStep, MAX_BURN_RATE};
use strata_engine::plan::Plan;

use crate::commands::{CliError, Result};

const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The gate's answer for one SLO.
#[derive(Debug, Clone)]
pub struct SloAnswer {
    pub slo: String,
    pub service: String,
    /// Burn rate over the gate window; `None` when Prometheus has no data for the SLI.
    pub burn_rate: Option<f64>,
}

impl SloAnswer {
    /// Burning, or unknown (no data): a canary step without evidence is not taken.
    pub fn blocks(&self) -> bool {
        self.burn_rate.is_none_or(|b| b > MAX_BURN_RATE || b.is_nan())
    }
}

/// What the gate found for a plan.
#[derive(Debug, Clone, Default)]
pub struct GateReport {
    pub steps: Vec<GuardedStep>,
    pub answers: Vec<SloAnswer>,
}

impl GateReport {
    pub fn refused(&self) -> bool {
        self.answers.iter().any(SloAnswer::blocks)
    }

    /// The lines printed after the plan.
    pub fn render(&self) -> String {
        let mut s = String::from("\nSLO gate:\n");
        if self.steps.is_empty() {
            s.push_str("  no canary step in this plan.\n");
            return s;
        }
        for step in &self.steps {
            s.push_str(&format!("  step {} ({}): {}\n", step.address, step.service, step.what));
        }
        for a in &self.answers {
            let verdict = match a.burn_rate {
                None => "no data: refused".to_string(),
                Some(b) if a.blocks() => format!("burn rate {b:.2}x over {}: burning, refused", gate::GATE_WINDOW),
                Some(b) => format!("burn rate {b:.2}x over {}: healthy", gate::GATE_WINDOW),
            };
            s.push_str(&format!("  slo {} ({}): {verdict}\n", a.slo, a.service));
        }
        if self.answers.is_empty() {
            s.push_str("  the services moved have no SLO: nothing to check.\n");
        }
        s
    }
}

/// Runs the gate for `plan`: finds the forward canary steps, queries the SLOs of their services.
pub async fn check(config: &Config, plan: &Plan) -> Result<GateReport> {
    let steps = gate::forward_steps(plan, &config.parsed.services);
    let mut report = GateReport { steps, answers: Vec::new() };
    if report.steps.is_empty() {
        return Ok(report);
    }
    let raw = &config.parsed.doc["observability"];
    let obs: ObservabilityConfig = if raw.is_null() {
        ObservabilityConfig::default()
    } else {
        // The spec loaded, so the section decodes.
        serde_json::from_value(raw.clone()).map_err(|e| gate_error(format!("observability: {e}")))?
    };
    let services = gate::services_to_check(&report.steps, &obs, &config.parsed.services);
    if services.is_empty() {
        return Ok(report);
    }
    let Some(url) = obs.prometheus.as_ref().map(|p| p.url.trim_end_matches('/').to_string()) else {
        return Err(gate_error(
            "`--gate slo` needs the Prometheus to ask: `observability.prometheus.url` is not set".into(),
        ));
    };
    for service in services {
        for q in gate::queries(&obs, service) {
            let burn_rate = query_scalar(&url, &q.promql).await?;
            report.answers.push(SloAnswer { slo: q.slo, service: q.service, burn_rate });
        }
    }
    Ok(report)
}

fn gate_error(message: String) -> CliError {
    CliError::GateUnavailable(message)
}

/// `GET <url>/api/v1/query?query=<promql>`: the single value of an instant vector, `None` when
/// the result is empty.
async fn query_scalar(url: &str, promql: &str) -> Result<Option<f64>> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(gate_error(format!("the SLO gate only speaks http:// to Prometheus, not `{url}`")));
    };
    let (authority, base_path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let host_port = if authority.contains(':') { authority.to_string() } else { format!("{authority}:80") };
    let path = format!("{base_path}/api/v1/query?query={}", percent_encode(promql));
    let fetch = async {
        let stream = tokio::net::TcpStream::connect(&host_port)
            .await
            .map_err(|e| gate_error(format!("cannot reach Prometheus at {url}: {e}")))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| gate_error(format!("Prometheus at {url}: {e}")))?;
        tokio::spawn(conn);
        let req = Request::get(path)
            .header("host", authority)
            .header("accept", "application/json")
            .body(Empty::<Bytes>::new())
            .map_err(|e| gate_error(format!("Prometheus query: {e}")))?;
        let res = sender.send_request(req).await.map_err(|e| gate_error(format!("Prometheus at {url}: {e}")))?;
        let status = res.status();
        let body =
            res.into_body().collect().await.map_err(|e| gate_error(format!("Prometheus at {url}: {e}")))?.to_bytes();
        Ok::<_, CliError>((status, body))
    };
    let (status, body) = tokio::time::timeout(QUERY_TIMEOUT, fetch)
        .await
        .map_err(|_| gate_error(format!("Prometheus at {url} did not answer within {QUERY_TIMEOUT:?}")))??;
    let json: Value = serde_json::from_slice(&body)
        .map_err(|e| gate_error(format!("Prometheus at {url} answered {status} with no JSON: {e}")))?;
    if json["status"] != "success" {
        return Err(gate_error(format!(
            "Prometheus at {url} refused the query ({status}): {}",
            json["error"].as_str().unwrap_or("no error message")
        )));
    }
    let result = json["data"]["result"].as_array().cloned().unwrap_or_default();
    Ok(result.first().and_then(|r| r["value"][1].as_str()).and_then(|v| v.parse::<f64>().ok()))
}

/// Query-string encoding: everything but unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
