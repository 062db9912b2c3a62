//! Starts a moto server (a local implementation of the S3 and DynamoDB protocols) for tests.
//!
//! Include with `#[path = "../../tests/support/moto.rs"] mod moto;`. The binary is taken from
//! `STRATA_MOTO_SERVER`, else `<workspace>/.venv/bin/moto_server`, else `moto_server` on PATH.
//! A missing moto fails the test with instructions: it never passes silently.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const INSTALL: &str = "moto is needed for the S3 state tests: \
    `python3 -m venv .venv && .venv/bin/pip install 'moto[server]'` in the workspace root, \
    or point STRATA_MOTO_SERVER at a moto_server binary";

/// A running moto_server. Dropping it stops the server; a server in a `static` (which is never
/// dropped) stops when the test process exits, because its supervising shell sees its stdin close.
pub struct Moto {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    pub port: u16,
    /// moto's request log.
    pub log: PathBuf,
    child: Child,
    stdin: Option<ChildStdin>,
}

/// The workspace root: the directory above this crate's manifest with a `Cargo.toml` holding
/// `[workspace]`.
fn workspace_root() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        if std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|s| s.contains("[workspace]")) {
            return dir;
        }
        if !dir.pop() {
            return PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        }
    }
}

/// Where moto_server is, or why it is not.
pub fn moto_binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("STRATA_MOTO_SERVER") {
        let p = PathBuf::from(p);
        return if p.exists() {
            Ok(p)
        } else {
            Err(format!("STRATA_MOTO_SERVER={} does not exist; {INSTALL}", p.display()))
        };
    }
    let venv = workspace_root().join(".venv/bin/moto_server");
    if venv.exists() {
        return Ok(venv);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("moto_server");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(format!("moto_server not found (looked at $STRATA_MOTO_SERVER, {}, PATH); {INSTALL}", venv.display()))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("bind an ephemeral port")
}

/// A plain HTTP GET answered with any status: the server is up.
fn answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut first = String::new();
    BufReader::new(&mut s).read_line(&mut first).is_ok() && first.starts_with("HTTP/1.")
}

impl Moto {
    /// Starts moto_server on a free loopback port and waits until it answers.
    pub fn start() -> Result<Moto, String> {
        let bin = moto_binary()?;
        Self::start_with(&bin)
    }

    pub fn start_with(bin: &Path) -> Result<Moto, String> {
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            // moto logs every request: to a file, since an unread pipe would fill and stall it.
            let log_path = std::env::temp_dir().join(format!("strata-moto-{port}.log"));
            let log = std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
            // The shell runs moto and kills it when its stdin reaches end of file: when this
            // process closes the pipe (drop) or exits (even by a panic or a signal).
            let mut child = Command::new("sh")
                .arg("-c")
                .arg(r#""$0" "$@" & pid=$!; trap 'kill $pid 2>/dev/null' EXIT; cat >/dev/null; kill $pid 2>/dev/null; wait $pid"#)
                .arg(bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .map_err(|e| format!("starting {}: {e}; {INSTALL}", bin.display()))?;
            let stdin = child.stdin.take();
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if answers(port) {
                    return Ok(Moto {
                        endpoint: format!("http://127.0.0.1:{port}"),
                        port,
                        log: log_path,
                        child,
                        stdin,
                    });
                }
                if let Ok(Some(status)) = child.try_wait() {
                    let err = std::fs::read_to_string(&log_path).unwrap_or_default();
                    last = format!("{} exited ({status}): {err}", bin.display());
                    break;
                }
                if Instant::now() > deadline {
                    drop(stdin);
                    let _ = child.wait();
                    return Err(format!("{} did not answer on port {port} within 30s", bin.display()));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Err(format!("moto_server would not start: {last}; {INSTALL}"))
    }

    /// One server for the whole test binary. Panics (fails the test) if moto is missing.
    pub fn shared() -> &'static Moto {
        static MOTO: OnceLock<Result<Moto, String>> = OnceLock::new();
        match MOTO.get_or_init(Moto::start) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Closing stdin makes the supervising shell kill moto and exit.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_file(&self.log);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Clients for arranging and inspecting what the tests use (buckets, lock tables), with moto's
/// fake credentials, in us-east-1.
impl Moto {
    /// An S3 client (path-style addressing, as moto serves buckets).
    pub fn s3_admin(&self) -> aws_sdk_s3::Client {
        use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
        let conf = aws_sdk_s3::Config::builder()
            .http_client(strata_provider_aws::https_client())
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .endpoint_url(&self.endpoint)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// A DynamoDB client.
    pub fn dynamodb_admin(&self) -> aws_sdk_dynamodb::Client {
        use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
        let conf = aws_sdk_dynamodb::Config::builder()
            .http_client(strata_provider_aws::https_client())
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .endpoint_url(&self.endpoint)
            .build();
        aws_sdk_dynamodb::Client::from_conf(conf)
    }

    /// Creates a lock table of the shape strata's DynamoDB locking uses (hash key `LockID`).
    pub async fn create_lock_table(&self, table: &str) {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        self.dynamodb_admin()
            .create_table()
            .table_name(table)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("LockID")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("attribute definition"),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("LockID")
                    .key_type(KeyType::Hash)
                    .build()
                    .expect("key schema"),
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .expect("create lock table");
    }
}
