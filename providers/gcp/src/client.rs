//! A small Compute Engine v1 REST client: bearer auth, Google's error envelope, Operation
//! polling. reqwest on rustls with ring and the platform's root certificates.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use strata_sdk::rate::TokenBucket;

use crate::auth::TokenSource;
use crate::error::GcpError;

/// The public endpoint; `api_base_url` or `STRATA_GCP_COMPUTE_URL` override it.
pub const DEFAULT_COMPUTE_URL: &str = "https://compute.googleapis.com/compute/v1";
#[derive(Debug, Clone)]
pub struct Compute {
    /// Built on first use: loading the platform's root certificates is I/O, and offline
    /// commands build providers without calling them.
    http: Arc<std::sync::OnceLock<reqwest::Client>>,
    base: String,
    pub project: String,
    token: TokenSource,
    pub poll_interval: Duration,
    /// Paces every API request (operation polls included) below the project's quota.
    bucket: Arc<TokenBucket>,
}

/// Default pace: 10 requests/s with a burst of 20, well under Compute Engine's default
/// per-project quotas (1,500 reads and 1,500 mutations per minute, shared by every client of the
/// project).
pub const DEFAULT_REQUESTS_PER_SECOND: f64 = 10.0;
const BURST: u32 = 20;

impl Compute {
    pub fn new(base: String, project: String, token: TokenSource) -> Self {
        Compute {
            http: Arc::default(),
            base: base.trim_end_matches('/').to_string(),
            project,
            token,
            poll_interval: Duration::from_millis(250),
            bucket: Arc::new(TokenBucket::new(DEFAULT_REQUESTS_PER_SECOND, BURST)),
        }
    }

    /// Replaces the pace (`providers.gcp.requests_per_second`).
    pub fn with_rate(mut self, requests_per_second: f64) -> Self {
        self.bucket = Arc::new(TokenBucket::new(requests_per_second, BURST));
        self
    }

    /// `path` is relative to `projects/{project}/`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, GcpError> {
        let url = format!("{}/projects/{}/{path}", self.base, self.project);
        while let Err(wait) = self.bucket.try_take() {
            tokio::time::sleep(wait).await;
        }
        let http = self.http.get_or_init(|| {
            // reqwest is built without a rustls crypto provider: the process-wide one is ring
            // (the CLI installs it too; the first one installed wins).
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
                .build()
                .expect("a reqwest client with a preconfigured rustls config builds")
        });
        let mut req = http.request(method, &url).bearer_auth(self.token.token(http).await?).query(query);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| GcpError::Transport(e.without_url().to_string()))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = resp.bytes().await.map_err(|e| GcpError::Transport(e.without_url().to_string()))?;
        let value: Value =
            if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        if (200..300).contains(&status) {
            return Ok(value);
        }
        let error = &value["error"];
        Err(GcpError::Api {
            status,
            reason: error["errors"][0]["reason"].as_str().unwrap_or("unknown").to_string(),
            message: error["message"].as_str().unwrap_or("(no message)").to_string(),
            retry_after,
        })
    }

    /// Polls a global Operation until DONE; its `error` becomes [`GcpError::Operation`].
    pub async fn wait(&self, op: Value) -> Result<Value, GcpError> {
        let name =
            op["name"].as_str().ok_or_else(|| GcpError::Unexpected(format!("not an operation: {op}")))?.to_string();
        let mut current = op;
        let mut delay = self.poll_interval;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1800);
        loop {
            if current["status"] == "DONE" {
                if let Some(errors) = current["error"]["errors"].as_array() {
                    let message = errors.iter().filter_map(|e| e["message"].as_str()).collect::<Vec<_>>().join("; ");
                    return Err(GcpError::Operation { operation: name, message });
                }
                return Ok(current);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(GcpError::Operation { operation: name, message: "not DONE after 30 minutes".into() });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
            current = self.call(Method::GET, &format!("global/operations/{name}"), &[], None).await?;
        }
    }

    /// Every item of a global collection (all pages).
    pub async fn list(&self, collection: &str) -> Result<Vec<Value>, GcpError> {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("maxResults", "500".to_string())];
            if let Some(t) = &token {
                query.push(("pageToken", t.clone()));
            }
            let page = self.call(Method::GET, &format!("global/{collection}"), &query, None).await?;
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["nextPageToken"].as_str() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(items),
            }
        }
    }
}
