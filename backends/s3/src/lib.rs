//! The S3 backend: the state is one object in a bucket (any S3-compatible store), written with
//! conditional requests so that concurrent writers cannot lose each other's changes.
//!
//! - **Fencing.** [`read`](StateBackend::read) remembers the object's ETag; [`write`](StateBackend::write)
//!   is a PutObject with `If-Match: <etag>` (`If-None-Match: *` when there was no state). If the
//!   object changed in between, S3 answers 412 and the write fails with [`StateError::Fenced`];
//!   the state that could not be written is saved to a local recovery file first, as it is when
//!   the write fails for any other reason (network down after every retry, access denied).
//! - **Locking** (`lock: s3`, the default): a lock object `<key>.lock` holding [`LockInfo`] JSON,
//!   created with `If-None-Match: *` so exactly one taker wins. With `lease_seconds`, the lock
//!   carries an expiry that [`renew`](StateBackend::renew) pushes forward; a lock whose lease has
//!   passed may be taken over with `If-Match` on its ETag, so two takers cannot both win. Release
//!   is a DeleteObject with `If-Match`. `lock: dynamodb` keeps the lock in a DynamoDB table
//!   instead (see [`dynamo`]). Without `lease_seconds` a lock is held until it is released or
//!   force-unlocked (a lease on the caller's [`LockInfo::expires`] is honoured as given).
//! - **Retries.** The SDK's standard retry mode (5 attempts, exponential backoff with jitter)
//!   retries throttling (SlowDown, 503), 5xx and dropped connections. A conditional request whose
//!   response was lost may have been applied: its retry then fails its own precondition, so every
//!   precondition failure is checked against what is stored before it is reported: the lock id
//!   for a lock, and for the state and lock renewals a fresh id sent with each PutObject as
//!   `x-amz-meta-strata-write-id`. S3's 409 ConditionalRequestConflict is retried.
//! - **Encryption.** With `encryption.key_env`, the object is an AES-256-GCM envelope
//!   (see [`crypto`]); a wrong key is an error naming both key ids. A *plaintext* state read while
//!   a key is configured is accepted (that is how encryption is turned on for an existing
//!   state: the next write stores it encrypted) and reported by [`StateBackend::warnings`].
//!   `sse` / `kms_key_id` are passed through on every PutObject (state and lock).
//! - **Versioning.** S3 versioning is the backup of previous states; [`S3Backend::versioning_warning`]
//!   says when it is off.
//!
//! Lease expiry compares the holder's `expires` (holder's clock) with the taker's clock: hosts
//! whose clocks disagree by more than the lease can take a live lock. Fencing still prevents a
//! lost update in that case (the stale holder's write is refused).

// `StateError` is the trait's shared error type (it carries a whole `LockInfo`); boxing it
// here alone would not help.
#![allow(clippy::result_large_err)]

mod config;
pub mod crypto;
mod dynamo;
mod plugin;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::{RetryConfig, RetryPartition, TokenBucket};
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, ServerSideEncryption};
use tokio::sync::OnceCell;

pub use config::{EncryptionConfig, LockKind, S3StateConfig};
pub use plugin::S3Plugin;
use strata_engine::state::{LockInfo, State, StateError, StateLocking, StateStorage};

use crypto::Cipher;

/// Attempts per request (the first try included) in the SDK's standard retry mode.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// Base of the exponential backoff between attempts (jittered, doubling, capped at 20 s): the
/// SDK's default, long enough for S3 to scale a throttled prefix.
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// Where states that could not be written are saved, relative to the working directory.
pub const DEFAULT_RECOVERY_DIR: &str = ".strata/recovery";

/// Looks up an environment variable (the encryption key).
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Settings that are not part of the spec: overrides for tests and embedding.
#[derive(Clone)]
pub struct S3Options {
    /// Static access key id and secret instead of the default credential chain.
    pub credentials: Option<(String, String)>,
    /// Where `encryption.key_env` is looked up; the process environment if `None`.
    pub env: Option<EnvLookup>,
    /// DynamoDB endpoint for `lock: dynamodb` (otherwise the SDK's: the region's endpoint,
    /// `AWS_ENDPOINT_URL_DYNAMODB` or `AWS_ENDPOINT_URL`).
    pub dynamodb_endpoint: Option<String>,
    /// Directory for recovery files ([`DEFAULT_RECOVERY_DIR`] if `None`).
    pub recovery_dir: Option<PathBuf>,
    /// Attempts per request, first included.
    pub max_attempts: u32,
    pub initial_backoff: Duration,
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            credentials: None,
            env: None,
            dynamodb_endpoint: None,
            recovery_dir: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
        }
    }
}

impl std::fmt::Debug for S3Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Options")
            .field("credentials", &self.credentials.as_ref().map(|(id, _)| id))
            .field("env", &self.env.as_ref().map(|_| "custom"))
            .field("dynamodb_endpoint", &self.dynamodb_endpoint)
            .field("recovery_dir", &self.recovery_dir)
            .field("max_attempts", &self.max_attempts)
            .field("initial_backoff", &self.initial_backoff)
            .finish()
    }
}

/// What this instance last read or wrote: the condition for the next write.
#[derive(Debug, Clone)]
enum Seen {
    /// Never read: the next write is unconditional.
    Unknown,
    /// Read, and there was no state: the next write must create it.
    Absent,
    /// The ETag of the state read or written.
    Etag(String),
}

/// A lock this instance took, for renewals.
#[derive(Debug, Clone)]
struct Held {
    info: LockInfo,
    etag: String,
}

/// Precondition of a PutObject.
enum Cond {
    None,
    IfNoneMatch,
    IfMatch(String),
}

/// Why a conditional request was refused.
#[derive(Debug)]
enum Refused {
    /// 412: the object exists (If-None-Match) or has another ETag (If-Match).
    Precondition,
    /// 404 with If-Match: the object is gone.
    Missing,
}

/// A stored object.
struct Obj {
    bytes: Vec<u8>,
    etag: String,
    /// The `strata-write-id` metadata of the PutObject that stored it.
    write_id: Option<String>,
}

/// Metadata key naming the write that stored an object: tells our own write, applied although
/// its response was lost, from anyone else's.
const WRITE_ID: &str = "strata-write-id";

fn new_write_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

struct Clients {
    s3: aws_sdk_s3::Client,
    dynamo: Option<dynamo::DynamoLock>,
}

/// State in an S3 bucket. See the module docs.
pub struct S3Backend {
    bucket: String,
    key: String,
    lock_key: String,
    config: S3StateConfig,
    options: S3Options,
    lock_kind: LockKind,
    lease: Option<Duration>,
    cipher: Option<Cipher>,
    sse: Option<ServerSideEncryption>,
    recovery_dir: PathBuf,
    clients: OnceCell<Clients>,
    seen: Mutex<Seen>,
    held: Mutex<Option<Held>>,
    read_plaintext: AtomicBool,
}

impl std::fmt::Debug for S3Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Backend")
            .field("bucket", &self.bucket)
            .field("key", &self.key)
            .field("lock", &self.lock_kind)
            .field("encrypted", &self.cipher.is_some())
            .finish_non_exhaustive()
    }
}

fn status<E>(e: &SdkError<E, HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

fn code<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> Option<&str> {
    e.as_service_error().and_then(|s| s.code())
}

/// The object is not there (but the bucket is: `NoSuchBucket` is an error, not an empty state).
fn no_such_key<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    match code(e) {
        Some(c) => c == "NoSuchKey",
        // HEAD-style answers have no body to name the error.
        None => status(e) == Some(404),
    }
}

fn now_plus(d: Duration) -> String {
    (chrono::Utc::now() + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Whether a lock's lease has passed (a lock without one never expires).
fn expired(info: &LockInfo) -> bool {
    info.expires
        .as_deref()
        .and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok())
        .is_some_and(|t| t < chrono::Utc::now())
}

impl S3Backend {
    /// A backend for `config` in environment `env_name` (`${env}` in the key is replaced by
    /// it). Checks the configuration and loads the encryption key; connects lazily, on first
    /// use.
    pub fn new(config: &S3StateConfig, env_name: &str) -> Result<Self, StateError> {
        Self::with_options(config, env_name, S3Options::default())
    }

    pub fn with_options(config: &S3StateConfig, env_name: &str, options: S3Options) -> Result<Self, StateError> {
        let config_err = |message: String| StateError::Config { message };
        if config.bucket.trim().is_empty() {
            return Err(config_err("state.bucket is empty".into()));
        }
        let key = config.key.replace("${env}", env_name);
        let key = key.trim_start_matches('/').to_string();
        if key.is_empty() || key.ends_with('/') {
            return Err(config_err(format!("state.key `{}` does not name an object", config.key)));
        }
        let lock_kind = config.lock.unwrap_or(LockKind::S3);
        if lock_kind == LockKind::Dynamodb && config.dynamodb_table.as_deref().is_none_or(str::is_empty) {
            return Err(config_err("state.lock is `dynamodb` but state.dynamodb_table is not set".into()));
        }
        let sse = match config.sse.as_deref() {
            None => None,
            Some("AES256") => Some(ServerSideEncryption::Aes256),
            Some("aws:kms") => Some(ServerSideEncryption::AwsKms),
            Some("aws:kms:dsse") => Some(ServerSideEncryption::AwsKmsDsse),
            Some(other) => {
                return Err(config_err(format!("state.sse `{other}` is not one of AES256, aws:kms, aws:kms:dsse")));
            }
        };
        if config.kms_key_id.is_some() && !matches!(config.sse.as_deref(), Some(s) if s.starts_with("aws:kms")) {
            return Err(config_err("state.kms_key_id needs state.sse: aws:kms".into()));
        }
        if config.lease_seconds == Some(0) {
            return Err(config_err("state.lease_seconds must be at least 1".into()));
        }
        let cipher = match &config.encryption {
            None => None,
            Some(enc) => {
                let value = match &options.env {
                    Some(lookup) => lookup(&enc.key_env),
                    None => std::env::var(&enc.key_env).ok(),
                };
                let source = format!("${}", enc.key_env);
                let value = value.filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                    config_err(format!(
                        "state encryption is configured but {source} is not set; set it to the base64 32-byte key (`openssl rand -base64 32` makes one)"
                    ))
                })?;
                Some(Cipher::from_base64(&value, &source)?)
            }
        };
        let recovery_dir = options.recovery_dir.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_RECOVERY_DIR));
        Ok(S3Backend {
            bucket: config.bucket.clone(),
            lock_key: format!("{key}.lock"),
            key,
            config: config.clone(),
            lock_kind,
            lease: config.lease_seconds.map(Duration::from_secs),
            cipher,
            sse,
            recovery_dir,
            options,
            clients: OnceCell::new(),
            seen: Mutex::new(Seen::Unknown),
            held: Mutex::new(None),
            read_plaintext: AtomicBool::new(false),
        })
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The state object's key (`${env}` replaced).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The lock object's key (`lock: s3`).
    pub fn lock_key(&self) -> &str {
        &self.lock_key
    }

    /// Where recovery files go.
    pub fn recovery_dir(&self) -> &Path {
        &self.recovery_dir
    }

    /// Key id of the configured encryption key, if any.
    pub fn key_id(&self) -> Option<&str> {
        self.cipher.as_ref().map(|c| c.key_id())
    }

    /// The S3 client (connecting on first use).
    pub async fn s3_client(&self) -> Result<&aws_sdk_s3::Client, StateError> {
        Ok(&self.clients().await?.s3)
    }

    async fn clients(&self) -> Result<&Clients, StateError> {
        self.clients.get_or_try_init(|| self.connect()).await
    }

    async fn connect(&self) -> Result<Clients, StateError> {
        let retry = RetryConfig::standard()
            .with_max_attempts(self.options.max_attempts.max(1))
            .with_initial_backoff(self.options.initial_backoff);
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(Duration::from_secs(60))
            .build();
        let mut loader = strata_provider_aws::sdk_loader().retry_config(retry).timeout_config(timeouts);
        if let Some(profile) = &self.config.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &self.config.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some((id, secret)) = &self.options.credentials {
            loader =
                loader.credentials_provider(Credentials::new(id.clone(), secret.clone(), None, None, "strata-static"));
        }
        let sdk = loader.load().await;
        let custom_endpoint = self.config.endpoint.is_some()
            || sdk.endpoint_url().is_some()
            || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        if sdk.region().is_none() && !custom_endpoint {
            return Err(StateError::Config {
                message: "no AWS region for the state bucket: set state.region, AWS_REGION or a profile's region"
                    .into(),
            });
        }
        // One retry quota per backend, not shared with every other S3 client in the process.
        let partition = || RetryPartition::custom("strata-state").token_bucket(TokenBucket::default()).build();
        let mut s3 = aws_sdk_s3::config::Builder::from(&sdk).retry_partition(partition());
        if let Some(endpoint) = &self.config.endpoint {
            s3 = s3.endpoint_url(endpoint);
        }
        if custom_endpoint {
            // S3-compatible stores rarely do virtual-hosted buckets; path style works everywhere.
            s3 = s3.force_path_style(true);
            if sdk.region().is_none() {
                s3 = s3.region(Region::new("us-east-1"));
            }
        }
        let s3 = aws_sdk_s3::Client::from_conf(s3.build());
        let dynamo = match (self.lock_kind, &self.config.dynamodb_table) {
            (LockKind::Dynamodb, Some(table)) => {
                let mut d = aws_sdk_dynamodb::config::Builder::from(&sdk).retry_partition(
                    aws_sdk_dynamodb::config::retry::RetryPartition::custom("strata-lock")
                        .token_bucket(aws_sdk_dynamodb::config::retry::TokenBucket::default())
                        .build(),
                );
                if let Some(endpoint) = &self.options.dynamodb_endpoint {
                    d = d.endpoint_url(endpoint);
                }
                if sdk.region().is_none() && custom_endpoint {
                    d = d.region(aws_sdk_dynamodb::config::Region::new("us-east-1"));
                }
                Some(dynamo::DynamoLock {
                    client: aws_sdk_dynamodb::Client::from_conf(d.build()),
                    table: table.clone(),
                    lock_id: format!("{}/{}", self.bucket, self.key),
                })
            }
            _ => None,
        };
        Ok(Clients { s3, dynamo })
    }

    fn location(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, key)
    }

    fn io<E>(&self, key: &str, op: &str, e: E) -> StateError
    where
        E: std::error::Error + 'static,
    {
        StateError::Io { location: self.location(key), message: format!("{op}: {}", DisplayErrorContext(e)) }
    }

    /// The object's bytes and ETag, or `None` if there is no such object. Retries a body that
    /// broke off mid-download (the SDK retries only up to the response headers).
    async fn get(&self, key: &str) -> Result<Option<Obj>, StateError> {
        let s3 = self.s3_client().await?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let out = match s3.get_object().bucket(&self.bucket).key(key).send().await {
                Ok(out) => out,
                Err(e) if no_such_key(&e) => {
                    return Ok(None);
                }
                Err(e) => return Err(self.io(key, "GetObject", e)),
            };
            let etag = out.e_tag().unwrap_or_default().to_string();
            let write_id = out.metadata().and_then(|m| m.get(WRITE_ID)).cloned();
            match out.body.collect().await {
                Ok(body) => return Ok(Some(Obj { bytes: body.into_bytes().to_vec(), etag, write_id })),
                Err(_) if attempt < self.options.max_attempts.max(1) => {
                    tokio::time::sleep(self.options.initial_backoff * attempt).await;
                }
                Err(e) => return Err(self.io(key, "GetObject (reading the body)", e)),
            }
        }
    }

    /// A conditional PutObject. `Ok(Err(_))` is a refused precondition. S3's 409
    /// ConditionalRequestConflict (a concurrent conditional write) is retried here, where the
    /// condition is evaluated afresh.
    async fn put(
        &self,
        key: &str,
        body: &[u8],
        cond: &Cond,
        write_id: &str,
    ) -> Result<Result<String, Refused>, StateError> {
        let s3 = self.s3_client().await?;
        let mut conflicts = 0;
        loop {
            let mut req = s3
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type("application/json")
                .metadata(WRITE_ID, write_id)
                .body(ByteStream::from(body.to_vec()));
            match cond {
                Cond::None => {}
                Cond::IfNoneMatch => req = req.if_none_match("*"),
                Cond::IfMatch(etag) => req = req.if_match(etag),
            }
            if let Some(sse) = &self.sse {
                req = req.server_side_encryption(sse.clone());
            }
            if let Some(kms) = &self.config.kms_key_id {
                req = req.ssekms_key_id(kms);
            }
            match req.send().await {
                Ok(out) => {
                    let etag = match out.e_tag() {
                        Some(e) => e.to_string(),
                        // Some S3-compatible stores omit it: ask.
                        None => s3
                            .head_object()
                            .bucket(&self.bucket)
                            .key(key)
                            .send()
                            .await
                            .map_err(|e| self.io(key, "HeadObject", e))?
                            .e_tag()
                            .unwrap_or_default()
                            .to_string(),
                    };
                    return Ok(Ok(etag));
                }
                Err(e) if status(&e) == Some(412) || code(&e) == Some("PreconditionFailed") => {
                    return Ok(Err(Refused::Precondition));
                }
                Err(e) if matches!(cond, Cond::IfMatch(_)) && no_such_key(&e) => {
                    return Ok(Err(Refused::Missing));
                }
                Err(e)
                    if (status(&e) == Some(409) || code(&e) == Some("ConditionalRequestConflict")) && conflicts < 5 =>
                {
                    conflicts += 1;
                    tokio::time::sleep(Duration::from_millis(50) * conflicts).await;
                }
                Err(e) => return Err(self.io(key, "PutObject", e)),
            }
        }
    }

    /// A DeleteObject conditional on `etag`; a missing object counts as deleted.
    async fn delete(&self, key: &str, etag: &str) -> Result<Result<(), Refused>, StateError> {
        let s3 = self.s3_client().await?;
        match s3.delete_object().bucket(&self.bucket).key(key).if_match(etag).send().await {
            Ok(_) => Ok(Ok(())),
            Err(e) if no_such_key(&e) => Ok(Ok(())),
            Err(e) if status(&e) == Some(412) || code(&e) == Some("PreconditionFailed") => {
                Ok(Err(Refused::Precondition))
            }
            // A store without conditional deletes: the caller has just checked the lock is ours.
            Err(e) if status(&e) == Some(501) || code(&e) == Some("NotImplemented") => s3
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map(|_| Ok(()))
                .map_err(|e| self.io(key, "DeleteObject", e)),
            Err(e) => Err(self.io(key, "DeleteObject", e)),
        }
    }

    /// Parses stored state bytes (decrypting an envelope).
    pub fn decode(&self, bytes: &[u8]) -> Result<State, StateError> {
        // Envelopes written by strata name their format in the first bytes; anything else is
        // parsed as a state first (a 10k-resource state is megabytes: parse it once).
        let envelope = if crypto::looks_like_envelope(bytes) {
            crypto::envelope(bytes)
        } else {
            match State::from_json(bytes) {
                Ok(state) => {
                    if self.cipher.is_some() {
                        self.read_plaintext.store(true, Ordering::Relaxed);
                    }
                    return Ok(state);
                }
                // Not a state: an envelope written by another tool, with its keys reordered?
                Err(e) => Some(crypto::envelope(bytes).ok_or(e)?),
            }
        };
        let location = self.location(&self.key);
        match (envelope, &self.cipher) {
            (Some(envelope), Some(cipher)) => State::from_json(&cipher.open(&envelope, &location)?),
            (Some(envelope), None) => Err(StateError::Corrupt {
                message: format!(
                    "{location} is encrypted (key id {}) but no encryption is configured: set state.encryption.key_env and that variable to the key",
                    envelope.key_id
                ),
            }),
            (None, _) => Err(StateError::Corrupt {
                message: format!("{location} names the encrypted-state format but is not a valid envelope"),
            }),
        }
    }

    /// Parses a state file given to `state push`: plain JSON, or an envelope (a recovery file
    /// written while encryption was on) decrypted with the configured key.
    pub fn decode_state_file(&self, bytes: &[u8], name: &str) -> Result<State, StateError> {
        let Some(envelope) = crypto::looks_like_envelope(bytes).then(|| crypto::envelope(bytes)).flatten() else {
            return State::from_json(bytes);
        };
        match &self.cipher {
            Some(cipher) => State::from_json(&cipher.open(&envelope, name)?),
            None => Err(StateError::Corrupt {
                message: format!(
                    "{name} is encrypted (key id {}) but no encryption is configured: set state.encryption.key_env and that variable to the key",
                    envelope.key_id
                ),
            }),
        }
    }

    /// The bytes stored for `state` (encrypted if configured).
    pub fn encode(&self, state: &State) -> Vec<u8> {
        let json = state.to_json();
        match &self.cipher {
            Some(c) => c.seal(&json),
            None => json,
        }
    }

    /// Saves a state that could not be written; returns the file, or why it could not be saved.
    fn save_recovery(&self, state: &State) -> Result<PathBuf, String> {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
        let path = self.recovery_dir.join(format!("state-{}-{}-{stamp}.json", state.lineage, state.serial));
        std::fs::create_dir_all(&self.recovery_dir).map_err(|e| format!("{}: {e}", self.recovery_dir.display()))?;
        let mut open = std::fs::OpenOptions::new();
        open.write(true).create_new(true);
        #[cfg(unix)]
        {
            // The state holds secrets in plain text: owner only.
            use std::os::unix::fs::OpenOptionsExt;
            open.mode(0o600);
        }
        // Encrypted with the state key when encryption is on, like the object: the file holds
        // every secret in the state. `state push` of the file decrypts it (`decode_file`).
        let json = match &self.cipher {
            Some(c) => c.seal(&state.to_json()),
            None => serde_json::to_vec_pretty(state).expect("state serializes"),
        };
        open.open(&path)
            .and_then(|mut f| {
                use std::io::Write;
                f.write_all(&json)?;
                f.sync_all()
            })
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    }

    fn recovery_note(&self, saved: &Result<PathBuf, String>) -> String {
        match saved {
            Ok(p) => format!(
                "the state being written was saved to {} (push it with `strata state push` once resolved)",
                p.display()
            ),
            Err(e) => format!("the state being written could NOT be saved locally either ({e})"),
        }
    }

    /// Describes the stored object for a fencing message.
    fn describe_found(&self, found: &Option<Obj>) -> String {
        match found {
            None => "the state object no longer exists".to_string(),
            Some(Obj { bytes, etag, .. }) => match self.decode(bytes) {
                Ok(s) => format!("it now holds lineage {} serial {} (ETag {etag})", s.lineage, s.serial),
                Err(_) => format!("it now has ETag {etag}"),
            },
        }
    }

    /// A warning if the bucket does not keep previous versions of the state.
    pub async fn versioning_warning(&self) -> Option<String> {
        let s3 = match self.s3_client().await {
            Ok(s3) => s3,
            Err(e) => return Some(format!("could not check bucket versioning: {e}")),
        };
        let enabled = match s3.get_bucket_versioning().bucket(&self.bucket).send().await {
            Ok(out) => out.status() == Some(&BucketVersioningStatus::Enabled),
            // Some S3 implementations (moto 5.x) answer an unversioned bucket with an empty
            // document under another root element, which the SDK refuses to parse: a 200 answer
            // is still an answer.
            Err(e) if status(&e) == Some(200) => e
                .raw_response()
                .and_then(|r| r.body().bytes())
                .is_some_and(|b| String::from_utf8_lossy(b).contains("<Status>Enabled</Status>")),
            Err(e) => {
                return Some(format!(
                    "could not check versioning of bucket {}: {}",
                    self.bucket,
                    DisplayErrorContext(e)
                ));
            }
        };
        match enabled {
            true => None,
            false => Some(format!(
                "versioning is off on bucket {b}: earlier states cannot be recovered after a bad write; enable it with `aws s3api put-bucket-versioning --bucket {b} --versioning-configuration Status=Enabled`",
                b = self.bucket
            )),
        }
    }

    fn leased(&self, info: &LockInfo) -> LockInfo {
        let mut info = info.clone();
        if let Some(lease) = self.lease {
            info.expires = Some(now_plus(lease));
        }
        info
    }

    fn parse_lock(&self, bytes: &[u8]) -> Result<LockInfo, StateError> {
        serde_json::from_slice(bytes).map_err(|e| StateError::Corrupt {
            message: format!(
                "lock object {}: {e}; remove it with `aws s3 rm` if no one holds the lock",
                self.location(&self.lock_key)
            ),
        })
    }

    async fn get_lock(&self) -> Result<Option<(LockInfo, String, Vec<u8>)>, StateError> {
        match self.get(&self.lock_key).await? {
            None => Ok(None),
            Some(obj) => Ok(Some((self.parse_lock(&obj.bytes)?, obj.etag, obj.bytes))),
        }
    }

    async fn s3_lock(&self, info: &LockInfo) -> Result<(), StateError> {
        let body = serde_json::to_vec_pretty(info).expect("lock info serializes");
        let won = |etag: String| {
            *self.held.lock().unwrap() = Some(Held { info: info.clone(), etag });
            Ok(())
        };
        let write_id = new_write_id();
        for _ in 0..5 {
            if let Ok(etag) = self.put(&self.lock_key, &body, &Cond::IfNoneMatch, &write_id).await? {
                return won(etag);
            }
            let Some((holder, etag, _)) = self.get_lock().await? else {
                continue; // released in between
            };
            if holder.id == info.id {
                // Our own PutObject, applied although its response was lost and retried.
                return won(etag);
            }
            if !expired(&holder) {
                return Err(StateError::Locked { holder: Box::new(holder) });
            }
            // The holder's lease has passed: take it over, conditional on the lock being exactly
            // what we looked at, so of two takers only one wins.
            if let Ok(etag) = self.put(&self.lock_key, &body, &Cond::IfMatch(etag), &write_id).await? {
                return won(etag);
            }
        }
        match self.get_lock().await? {
            Some((holder, etag, _)) if holder.id == info.id => won(etag),
            Some((holder, _, _)) => Err(StateError::Locked { holder: Box::new(holder) }),
            None => Err(StateError::Io {
                location: self.location(&self.lock_key),
                message: "the lock kept changing while it was being taken; try again".into(),
            }),
        }
    }

    async fn s3_renew(&self, id: &str, lease: Duration) -> Result<(), StateError> {
        let held = self.held.lock().unwrap().clone();
        let (mut info, mut etag) = match held {
            Some(h) if h.info.id == id => (h.info, h.etag),
            _ => match self.get_lock().await? {
                Some((info, etag, _)) if info.id == id => (info, etag),
                current => {
                    return Err(StateError::LockMismatch {
                        given: id.to_string(),
                        current: current.map(|c| Box::new(c.0)),
                    });
                }
            },
        };
        info.expires = Some(now_plus(lease));
        let body = serde_json::to_vec_pretty(&info).expect("lock info serializes");
        let write_id = new_write_id();
        for _ in 0..3 {
            match self.put(&self.lock_key, &body, &Cond::IfMatch(etag.clone()), &write_id).await? {
                Ok(new) => {
                    *self.held.lock().unwrap() = Some(Held { info, etag: new });
                    return Ok(());
                }
                Err(_) => match self.get(&self.lock_key).await? {
                    // Our renewal landed; its response was lost.
                    Some(obj) if obj.write_id.as_deref() == Some(write_id.as_str()) => {
                        *self.held.lock().unwrap() = Some(Held { info, etag: obj.etag });
                        return Ok(());
                    }
                    Some(Obj { bytes, etag: new, .. }) => {
                        let current = self.parse_lock(&bytes)?;
                        if current.id != id {
                            return Err(StateError::LockMismatch {
                                given: id.to_string(),
                                current: Some(Box::new(current)),
                            });
                        }
                        // Still ours (renewed by another handle): renew on top of it.
                        etag = new;
                    }
                    None => {
                        return Err(StateError::LockMismatch { given: id.to_string(), current: None });
                    }
                },
            }
        }
        Err(StateError::Io {
            location: self.location(&self.lock_key),
            message: "the lock kept changing while it was being renewed".into(),
        })
    }

    async fn s3_unlock(&self, id: &str) -> Result<(), StateError> {
        let released = || {
            let mut held = self.held.lock().unwrap();
            if held.as_ref().is_some_and(|h| h.info.id == id) {
                *held = None;
            }
            Ok(())
        };
        for attempt in 0..5 {
            let etag = match self.get_lock().await? {
                Some((info, etag, _)) if info.id == id => etag,
                // It was ours when we last looked and our conditional delete was refused: that
                // delete had in fact been applied (its response was lost and the retry found the
                // lock gone, or already retaken by someone else). Either way we no longer hold it.
                _ if attempt > 0 => return released(),
                current => {
                    return Err(StateError::LockMismatch {
                        given: id.to_string(),
                        current: current.map(|c| Box::new(c.0)),
                    });
                }
            };
            if self.delete(&self.lock_key, &etag).await?.is_ok() {
                return released();
            }
            // Refused: the lock changed between the read and the delete (a renewal by another
            // handle, or our own delete applied and the lock retaken): look again.
        }
        Err(StateError::Io {
            location: self.location(&self.lock_key),
            message: "the lock kept changing while it was being released".into(),
        })
    }
}

#[async_trait]
impl StateStorage for S3Backend {
    fn describe(&self) -> String {
        self.location(&self.key)
    }

    fn decode_file(&self, bytes: &[u8]) -> Result<State, StateError> {
        self.decode_state_file(bytes, "the state file")
    }

    async fn read(&self) -> Result<Option<State>, StateError> {
        match self.get(&self.key).await? {
            None => {
                *self.seen.lock().unwrap() = Seen::Absent;
                Ok(None)
            }
            Some(obj) => {
                let state = self.decode(&obj.bytes)?;
                *self.seen.lock().unwrap() = Seen::Etag(obj.etag);
                Ok(Some(state))
            }
        }
    }

    async fn write(&self, state: &State) -> Result<(), StateError> {
        let body = self.encode(state);
        let seen = self.seen.lock().unwrap().clone();
        let cond = match &seen {
            Seen::Unknown => Cond::None,
            Seen::Absent => Cond::IfNoneMatch,
            Seen::Etag(etag) => Cond::IfMatch(etag.clone()),
        };
        let write_id = new_write_id();
        let refused = match self.put(&self.key, &body, &cond, &write_id).await {
            Ok(Ok(etag)) => {
                *self.seen.lock().unwrap() = Seen::Etag(etag);
                return Ok(());
            }
            Ok(Err(refused)) => refused,
            Err(StateError::Io { location, message }) => {
                let saved = self.save_recovery(state);
                return Err(StateError::Io { location, message: format!("{message}; {}", self.recovery_note(&saved)) });
            }
            Err(e) => {
                let saved = self.save_recovery(state);
                return Err(StateError::Io {
                    location: self.describe(),
                    message: format!("{e}; {}", self.recovery_note(&saved)),
                });
            }
        };
        // Refused: unless what is stored is our own write (an attempt whose response was lost,
        // then retried against our own write), someone else wrote in between.
        let found = match self.get(&self.key).await {
            Ok(found) => found,
            Err(e) => {
                let saved = self.save_recovery(state);
                return Err(StateError::Io {
                    location: self.describe(),
                    message: format!(
                        "the conditional write was refused and the stored state could not be read back ({e}); {}",
                        self.recovery_note(&saved)
                    ),
                });
            }
        };
        if let Some(obj) = &found
            && obj.write_id.as_deref() == Some(write_id.as_str())
            && obj.bytes == body
        {
            *self.seen.lock().unwrap() = Seen::Etag(obj.etag.clone());
            return Ok(());
        }
        let saved = self.save_recovery(state);
        let expected = match (&seen, &refused) {
            (Seen::Etag(e), Refused::Missing) => format!("expected ETag {e}, found it deleted"),
            (Seen::Etag(e), Refused::Precondition) => format!("expected ETag {e}"),
            _ => "expected no state".to_string(),
        };
        Err(StateError::Fenced {
            detail: format!(
                "{}: {expected}, but {}; {}",
                self.describe(),
                self.describe_found(&found),
                self.recovery_note(&saved)
            ),
            recovery_file: saved.ok().map(|p| p.display().to_string()),
        })
    }

    async fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(w) = self.versioning_warning().await {
            out.push(w);
        }
        if self.read_plaintext.load(Ordering::Relaxed) {
            out.push(format!(
                "{} is stored unencrypted although state.encryption is configured; the next write stores it encrypted with key id {}",
                self.describe(),
                self.key_id().unwrap_or_default()
            ));
        }
        out
    }
}

#[async_trait]
impl StateLocking for S3Backend {
    async fn lock(&self, info: &LockInfo) -> Result<(), StateError> {
        let info = self.leased(info);
        match &self.clients().await?.dynamo {
            Some(d) => {
                d.lock(&info).await?;
                *self.held.lock().unwrap() = Some(Held { info, etag: String::new() });
                Ok(())
            }
            None => self.s3_lock(&info).await,
        }
    }

    fn lease(&self) -> Option<Duration> {
        self.lease
    }

    async fn renew(&self, id: &str) -> Result<(), StateError> {
        let Some(lease) = self.lease else {
            return Ok(());
        };
        match &self.clients().await?.dynamo {
            Some(d) => d.renew(id, lease.as_secs()).await,
            None => self.s3_renew(id, lease).await,
        }
    }

    async fn unlock(&self, id: &str) -> Result<(), StateError> {
        match &self.clients().await?.dynamo {
            Some(d) => {
                d.unlock(id).await?;
                let mut held = self.held.lock().unwrap();
                if held.as_ref().is_some_and(|h| h.info.id == id) {
                    *held = None;
                }
                Ok(())
            }
            None => self.s3_unlock(id).await,
        }
    }

    async fn lock_status(&self) -> Result<Option<LockInfo>, StateError> {
        match &self.clients().await?.dynamo {
            Some(d) => d.status().await,
            None => Ok(self.get_lock().await?.map(|(info, _, _)| info)),
        }
    }

    async fn force_unlock(&self, id: &str) -> Result<(), StateError> {
        self.unlock(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> S3StateConfig {
        S3StateConfig {
            bucket: "b".into(),
            key: "envs/${env}/state.json".into(),
            region: None,
            endpoint: None,
            profile: None,
            lock: None,
            dynamodb_table: None,
            encryption: None,
            sse: None,
            kms_key_id: None,
            lease_seconds: None,
        }
    }

    #[test]
    fn key_takes_the_environment() {
        let b = S3Backend::new(&config(), "prod").unwrap();
        assert_eq!(b.describe(), "s3://b/envs/prod/state.json");
        assert_eq!(b.lock_key(), "envs/prod/state.json.lock");
    }

    #[test]
    fn configuration_errors_are_reported_up_front() {
        let mut c = config();
        c.lock = Some(LockKind::Dynamodb);
        assert!(matches!(S3Backend::new(&c, "x"), Err(StateError::Config { .. })));
        let mut c = config();
        c.sse = Some("rot13".into());
        assert!(matches!(S3Backend::new(&c, "x"), Err(StateError::Config { .. })));
        let mut c = config();
        c.encryption = Some(EncryptionConfig { key_env: "STRATA_TEST_SURELY_UNSET_KEY".into() });
        let err = S3Backend::new(&c, "x").unwrap_err().to_string();
        assert!(err.contains("$STRATA_TEST_SURELY_UNSET_KEY"), "{err}");
    }

    #[test]
    fn lease_expiry() {
        let mut info = LockInfo::for_current_process("apply");
        assert!(!expired(&info));
        info.expires = Some(now_plus(Duration::from_secs(60)));
        assert!(!expired(&info));
        info.expires = Some("2000-01-01T00:00:00Z".into());
        assert!(expired(&info));
    }

    #[test]
    fn recovery_files_are_encrypted_with_the_state_key_and_push_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config();
        c.encryption = Some(EncryptionConfig { key_env: "STATE_KEY".into() });
        let key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".to_string();
        let options = |key: String| S3Options {
            recovery_dir: Some(dir.path().to_path_buf()),
            env: Some(Arc::new(move |_: &str| Some(key.clone()))),
            ..S3Options::default()
        };
        let b = S3Backend::with_options(&c, "prod", options(key.clone())).unwrap();
        let mut state = State::new();
        state.serial = 3;
        state.resources.insert(
            "resources.db".parse().unwrap(),
            strata_engine::state::ResourceState {
                provider: "test".into(),
                kind: "secret".into(),
                remote_id: "db".into(),
                attrs: serde_json::json!({"password": "hunter2-rotated"}),
                outputs: serde_json::Value::Null,
                depends_on: vec![],
                sensitive: vec!["/password".into()],
            },
        );
        let path = b.save_recovery(&state).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("hunter2-rotated") && !text.contains(&state.lineage), "plaintext recovery file: {text}");
        assert!(crypto::envelope(&bytes).is_some(), "the same envelope as the object: {text}");
        // `state push` of the file decrypts it with the key.
        assert_eq!(StateStorage::decode_file(&b, &bytes).unwrap(), state);
        // Another key is refused by key id, never garbage.
        let other = S3Backend::with_options(&c, "prod", options("ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=".into()))
            .unwrap();
        let err = StateStorage::decode_file(&other, &bytes).unwrap_err().to_string();
        assert!(err.contains("key id"), "{err}");
        // Without encryption the file is the plain state, as before.
        let plain = S3Backend::with_options(&config(), "prod", options(key)).unwrap();
        state.serial = 4; // another file name
        let path = plain.save_recovery(&state).unwrap();
        assert_eq!(StateStorage::decode_file(&plain, &std::fs::read(path).unwrap()).unwrap(), state);
    }
}
