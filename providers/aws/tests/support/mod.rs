//! Test helpers: a moto server per test, a scripted HTTP server for contract tests, and
//! provider construction with fake credentials.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use strata_provider_aws::{AwsProvider, Credentials, OwnerMarks};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const PROJECT: &str = "shop";
pub const ENV: &str = "prod";

/// A provider pointed at `endpoint` with fake credentials and fast polling.
pub fn provider(endpoint: &str) -> AwsProvider {
    provider_with(endpoint, json!({}))
}

/// Like [`provider`], with extra `providers.aws` settings merged in.
pub fn provider_with(endpoint: &str, extra: Value) -> AwsProvider {
    let mut cfg = json!({
        "region": "us-east-1",
        "endpoint": endpoint,
        "max_attempts": 1,
        "wait_poll_interval_secs": 0.02,
        "wait_timeout_secs": 10,
    });
    if let (Some(c), Some(e)) = (cfg.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            c.insert(k.clone(), v.clone());
        }
    }
    AwsProvider::from_value(&cfg, OwnerMarks::new(PROJECT, ENV))
        .expect("valid test config")
        .with_credentials(fake_credentials())
}

pub fn fake_credentials() -> Credentials {
    Credentials::new("testing", "testing", None, None, "strata-tests")
}

/// Raw SDK clients against the same endpoint, to arrange and inspect remote state.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    strata_provider_aws::sdk_loader()
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(fake_credentials())
        .load()
        .await
}

pub async fn cloudfront_client(endpoint: &str) -> aws_sdk_cloudfront::Client {
    aws_sdk_cloudfront::Client::new(&sdk_config(endpoint).await)
}

pub async fn route53_client(endpoint: &str) -> aws_sdk_route53::Client {
    aws_sdk_route53::Client::new(&sdk_config(endpoint).await)
}

// ---------------------------------------------------------------------------------------------
// moto
// ---------------------------------------------------------------------------------------------

/// A `moto_server` on a free local port, killed when dropped (the launcher is
/// `strata_testkit::moto`; this keeps the panicking `start` these tests use).
pub struct Moto(strata_testkit::moto::Moto);

impl std::ops::Deref for Moto {
    type Target = strata_testkit::moto::Moto;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Moto {
    /// Starts moto, or fails the test with the setup command when it is not installed.
    #[track_caller]
    pub fn start() -> Moto {
        Moto(strata_testkit::moto::Moto::require())
    }
}

// ---------------------------------------------------------------------------------------------
// A scripted HTTP server for contract tests
// ---------------------------------------------------------------------------------------------

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
    pub fn query(&self) -> &str {
        self.target.split_once('?').map(|(_, q)| q).unwrap_or_default()
    }
    /// The text of the first `<name>...</name>` element in the body.
    pub fn xml(&self, name: &str) -> Option<String> {
        xml_text(&self.body, name)
    }
}

/// The text of the first `<name>...</name>` element (the open tag may carry attributes).
pub fn xml_text(body: &str, name: &str) -> Option<String> {
    let open = format!("<{name}");
    let close = format!("</{name}>");
    let mut from = 0;
    loop {
        let s = body[from..].find(&open)? + from;
        let after = s + open.len();
        match body[after..].chars().next() {
            Some('>') | Some(' ') => {
                let start = body[after..].find('>')? + after + 1;
                let end = body[start..].find(&close)? + start;
                return Some(body[start..end].to_string());
            }
            _ => from = after,
        }
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn xml(status: u16, body: impl Into<String>) -> Reply {
        Reply { status, headers: vec![("Content-Type".into(), "text/xml".into())], body: body.into() }
    }
    pub fn with_header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub fn empty(status: u16) -> Reply {
        Reply { status, headers: vec![], body: String::new() }
    }
    /// A CloudFront/Route 53 (restXml) error document.
    pub fn error(status: u16, code: &str, message: &str) -> Reply {
        Reply::xml(
            status,
            format!(
                "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>req-{status}</RequestId></ErrorResponse>"
            ),
        )
    }
}

type Handler = dyn Fn(&Recorded, usize) -> Reply + Send + Sync;

/// A local HTTP/1.1 server answering with a handler (given the request and its index) and
/// recording every request.
pub struct FakeServer {
    pub endpoint: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeServer {
    pub async fn start(handler: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let recs = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let recs = recs.clone();
                let handler = handler.clone();
                tokio::spawn(async move {
                    let _ = serve(sock, recs, handler).await;
                });
            }
        });
        FakeServer { endpoint: format!("http://{addr}"), requests, task }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("lock").clone()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut sock: TcpStream, recs: Arc<Mutex<Vec<Recorded>>>, handler: Arc<Handler>) -> std::io::Result<()> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // Read the head.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let mut chunk = [0u8; 4096];
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default();
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let target = parts.next().unwrap_or_default().to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let content_length = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let body_start = head_end + 4;
        while buf.len() < body_start + content_length {
            let mut chunk = [0u8; 4096];
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = String::from_utf8_lossy(&buf[body_start..body_start + content_length]).to_string();
        buf.drain(..body_start + content_length);
        let rec = Recorded { method, target, headers, body };
        let index = {
            let mut r = recs.lock().expect("lock");
            r.push(rec.clone());
            r.len() - 1
        };
        let reply = handler(&rec, index);
        let mut out = format!("HTTP/1.1 {} Scripted\r\nContent-Length: {}\r\n", reply.status, reply.body.len());
        for (k, v) in &reply.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out.push_str(&reply.body);
        sock.write_all(out.as_bytes()).await?;
    }
}
