//! `state: { backend: s3, ... }`: the S3 backend's settings, owned by the backend (the engine
//! only reads `backend`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `state: { backend: s3, ... }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3StateConfig {
    pub bucket: String,
    /// Object key; may contain `${env}` so each environment has its own state.
    pub key: String,
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint of an S3-compatible store (MinIO, R2, Ceph); implies path-style addressing.
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub profile: Option<String>,
    /// `s3` (lock object next to the state, conditional write) or `dynamodb`.
    #[serde(default)]
    pub lock: Option<LockKind>,
    #[serde(default)]
    pub dynamodb_table: Option<String>,
    /// Client-side encryption of the state object.
    #[serde(default)]
    pub encryption: Option<EncryptionConfig>,
    /// Server-side encryption: `AES256` (SSE-S3) or `aws:kms` with `kms_key_id`.
    #[serde(default)]
    pub sse: Option<String>,
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// Lock lease in seconds; a live holder renews it.
    #[serde(default)]
    pub lease_seconds: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LockKind {
    S3,
    Dynamodb,
}

/// Client-side state encryption (AES-256-GCM) with a key from an environment variable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EncryptionConfig {
    /// Name of the environment variable holding the base64 32-byte key.
    pub key_env: String,
}
