//! The API v4 client: bearer token, the provider's own request rate limit, the envelope
//! `{success, errors, messages, result, result_info}`, pagination, and 429 `Retry-After`.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use strata_sdk::rate::TokenBucket;

use crate::error::{CloudflareError, Result};

/// The API token. Its `Debug` never shows the value, and error messages are masked with it.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn new(value: impl Into<String>) -> Self {
        Token(value.into())
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

/// A request body.
pub enum Body {
    None,
    Json(Value),
    Multipart(reqwest::multipart::Form),
}

/// One page of a list, or a single result.
#[derive(Debug)]
pub struct Answer {
    pub result: Value,
    pub result_info: Option<Value>,
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<Token>,
    bucket: TokenBucket,
    /// Requests sent (for tests and the benchmark).
    sent: std::sync::atomic::AtomicU64,
}

impl Client {
    pub fn new(base: String, token: Option<Token>, rate: f64, burst: u32, timeout: Duration) -> Client {
        // The process-wide crypto provider is ring (the CLI installs it too); the first one
        // installed wins, so this is a no-op inside strata.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Client { http, base, token, bucket: TokenBucket::new(rate, burst), sent: Default::default() }
    }

    pub fn requests_sent(&self) -> u64 {
        self.sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Replaces the token value in a message (reqwest errors never hold headers, but a proxy
    /// or server echoing one must not leak it).
    fn mask(&self, message: String) -> String {
        match &self.token {
            Some(t) if !t.0.is_empty() => message.replace(&t.0, "***"),
            _ => message,
        }
    }

    /// Sends one request; an error envelope or status becomes [`CloudflareError::Api`].
    pub async fn send(&self, method: Method, path: &str, query: &[(&str, String)], body: Body) -> Result<Answer> {
        let token = self.token.as_ref().ok_or(CloudflareError::MissingToken)?;
        let operation = format!("{method} {}", path_template(path));
        // Paced below the API's limit: a 429 costs a Retry-After of minutes.
        while let Err(wait) = self.bucket.try_take() {
            tokio::time::sleep(wait).await;
        }
        self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut req = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&token.0);
        if !query.is_empty() {
            req = req.query(query);
        }
        req = match body {
            Body::None => req,
            Body::Json(v) => req.json(&v),
            Body::Multipart(f) => req.multipart(f),
        };
        let resp = req.send().await.map_err(|e| CloudflareError::Transport {
            operation: operation.clone(),
            message: self.mask(error_chain(&e)),
        })?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0 && *s < 86_400.0)
            .map(Duration::from_secs_f64);
        let is_json = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.contains("json"));
        let bytes = resp.bytes().await.map_err(|e| CloudflareError::Transport {
            operation: operation.clone(),
            message: self.mask(error_chain(&e)),
        })?;
        if !is_json && status < 400 {
            // Raw content (a Worker script download).
            return Ok(Answer {
                result: Value::String(String::from_utf8_lossy(&bytes).into_owned()),
                result_info: None,
            });
        }
        let envelope: Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(_) if status >= 400 => {
                return Err(CloudflareError::Api {
                    operation,
                    status,
                    code: 0,
                    message: self.mask(String::from_utf8_lossy(&bytes).chars().take(200).collect()),
                    retry_after,
                });
            }
            Err(e) => return Err(CloudflareError::Decode { operation, message: e.to_string() }),
        };
        let success = envelope.get("success").and_then(Value::as_bool).unwrap_or(status < 400);
        if status >= 400 || !success {
            let errors = envelope.get("errors").and_then(Value::as_array).cloned().unwrap_or_default();
            let code = errors.first().and_then(|e| e.get("code")).and_then(Value::as_u64).unwrap_or(0);
            let message = errors
                .iter()
                .map(|e| match e.get("code").and_then(Value::as_u64) {
                    Some(c) if c != code => format!("[{c}] {}", e.get("message").and_then(Value::as_str).unwrap_or("")),
                    _ => e.get("message").and_then(Value::as_str).unwrap_or("").to_string(),
                })
                .collect::<Vec<_>>()
                .join("; ");
            let message = if message.is_empty() { format!("HTTP {status}") } else { message };
            // An error envelope with a success status is a refusal all the same.
            let status = if status < 400 { 400 } else { status };
            return Err(CloudflareError::Api { operation, status, code, message: self.mask(message), retry_after });
        }
        Ok(Answer {
            result: envelope.get("result").cloned().unwrap_or(Value::Null),
            result_info: envelope.get("result_info").cloned(),
        })
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        Ok(self.send(Method::GET, path, query, Body::None).await?.result)
    }

    /// Every item of a paginated list (`page`/`per_page`, until `total_pages`).
    pub async fn list_all(&self, path: &str, query: &[(&str, String)], per_page: u32) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut page = 1u64;
        loop {
            let mut q: Vec<(&str, String)> = query.to_vec();
            q.push(("page", page.to_string()));
            q.push(("per_page", per_page.to_string()));
            let a = self.send(Method::GET, path, &q, Body::None).await?;
            let items = a.result.as_array().cloned().unwrap_or_default();
            let n = items.len();
            out.extend(items);
            let total_pages = a.result_info.as_ref().and_then(|i| i.get("total_pages")).and_then(Value::as_u64);
            match total_pages {
                Some(t) if page < t && n > 0 => page += 1,
                _ => return Ok(out),
            }
        }
    }

    /// A list endpoint without pagination (Workers scripts and routes, pools, monitors, load
    /// balancers answer everything at once).
    pub async fn list(&self, path: &str) -> Result<Vec<Value>> {
        Ok(self.get(path, &[]).await?.as_array().cloned().unwrap_or_default())
    }
}

/// `/zones/0123.../dns_records/abcd...` → `/zones/{id}/dns_records/{id}`: operation names in
/// errors without object ids.
fn path_template(path: &str) -> String {
    path.split('/')
        .map(|s| if s.len() == 32 && s.chars().all(|c| c.is_ascii_hexdigit()) { "{id}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_never_show() {
        assert_eq!(format!("{:?}", Token::new("secret-value")), "Token(***)");
        let c = Client::new("http://x".into(), Some(Token::new("secret-value")), 1.0, 1, Duration::from_secs(1));
        assert_eq!(c.mask("got secret-value back".into()), "got *** back");
        assert_eq!(path_template("/zones/0123456789abcdef0123456789abcdef/dns_records"), "/zones/{id}/dns_records");
    }
}
