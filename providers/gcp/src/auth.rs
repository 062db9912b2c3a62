//! Google credentials: Application Default Credentials, as Google's own libraries resolve
//! them, turned into OAuth 2 access tokens that are cached until shortly before they expire.
//!
//! Order: `GOOGLE_OAUTH_ACCESS_TOKEN` (a ready token), the key file named by
//! `GOOGLE_APPLICATION_CREDENTIALS` (a service account: a signed JWT exchanged at its
//! `token_uri`; or gcloud user credentials: a refresh token), gcloud's well-known
//! `application_default_credentials.json`, then the metadata server (on GCP; `GCE_METADATA_HOST`
//! overrides its address). A token, key or refresh token never appears in an error or a log.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::GcpError;

/// The env var holding a ready OAuth 2 access token.
pub const TOKEN_ENV: &str = "GOOGLE_OAUTH_ACCESS_TOKEN";
/// The env var naming a credentials file.
pub const CREDENTIALS_ENV: &str = "GOOGLE_APPLICATION_CREDENTIALS";
/// Overrides the metadata server's `host[:port]`, as Google's libraries do.
pub const METADATA_HOST_ENV: &str = "GCE_METADATA_HOST";
/// Google's token endpoint, when a credentials file does not name one.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The scope strata asks for: Compute Engine read/write.
pub const SCOPE: &str = "https://www.googleapis.com/auth/compute";
/// A token is renewed when it has less than this left.
const EARLY_RENEWAL: Duration = Duration::from_secs(60);

/// Where access tokens come from.
#[derive(Clone)]
pub enum TokenSource {
    /// Application Default Credentials, resolved at first use (offline commands never look).
    Default(Arc<DefaultCredentials>),
    /// A fixed token (tests, embedding).
    Static(String),
}

// Never print a token.
impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Default(_) => write!(f, "Default(application default credentials)"),
            TokenSource::Static(_) => write!(f, "Static(<redacted>)"),
        }
    }
}

impl TokenSource {
    /// Application Default Credentials.
    pub fn application_default() -> Self {
        TokenSource::Default(Arc::default())
    }

    /// The credentials file at `path` (a service account key or gcloud user credentials),
    /// whatever the environment says: `providers.gcp.credentials_file`.
    pub fn from_file(path: impl Into<PathBuf>) -> Self {
        TokenSource::Default(Arc::new(DefaultCredentials { origin: Origin::File(path.into()), ..Default::default() }))
    }

    /// The metadata server at `host[:port]`.
    pub fn metadata_server(host: impl Into<String>) -> Self {
        TokenSource::Default(Arc::new(DefaultCredentials {
            origin: Origin::Metadata(host.into()),
            ..Default::default()
        }))
    }

    pub(crate) async fn token(&self, http: &reqwest::Client) -> Result<String, GcpError> {
        match self {
            TokenSource::Static(t) => Ok(t.clone()),
            TokenSource::Default(d) => d.token(http).await,
        }
    }
}

/// A service account key file (`"type": "service_account"`).
#[derive(Deserialize)]
struct ServiceAccountKey {
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: Option<String>,
    #[serde(default)]
    token_uri: Option<String>,
}

/// gcloud user credentials (`"type": "authorized_user"`).
#[derive(Deserialize)]
struct AuthorizedUser {
    client_id: String,
    client_secret: String,
    refresh_token: String,
    #[serde(default)]
    token_uri: Option<String>,
}

/// Resolved credentials.
enum Credentials {
    Token(String),
    // Boxed: the key pair is large and the other variants are a string or two.
    ServiceAccount { email: String, key: Box<ring::signature::RsaKeyPair>, key_id: Option<String>, token_uri: String },
    AuthorizedUser(AuthorizedUser),
    Metadata { host: String },
}

/// Where [`DefaultCredentials`] look.
#[derive(Default)]
enum Origin {
    /// The Application Default Credentials order.
    #[default]
    Environment,
    File(PathBuf),
    Metadata(String),
}

/// Application Default Credentials with a token cache; shared by the provider's clones.
#[derive(Default)]
pub struct DefaultCredentials {
    origin: Origin,
    state: tokio::sync::Mutex<Option<(Arc<Credentials>, Option<CachedToken>)>>,
}

/// A bearer token and when it stops being used (a minute before Google's expiry).
type CachedToken = (String, Instant);

impl DefaultCredentials {
    async fn token(&self, http: &reqwest::Client) -> Result<String, GcpError> {
        // Held across the fetch: concurrent requests wait for one token instead of each
        // fetching their own.
        let mut state = self.state.lock().await;
        if state.is_none() {
            *state = Some((Arc::new(resolve(&self.origin)?), None));
        }
        let (credentials, cached) = state.as_mut().expect("set above");
        if let Some((token, expiry)) = cached
            && Instant::now() + EARLY_RENEWAL < *expiry
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = fetch(credentials, http).await?;
        *cached = Some((token.clone(), Instant::now() + lifetime));
        Ok(token)
    }
}

fn resolve(origin: &Origin) -> Result<Credentials, GcpError> {
    match origin {
        Origin::Environment => {}
        Origin::File(path) => return from_file(path),
        Origin::Metadata(host) => return Ok(Credentials::Metadata { host: host.clone() }),
    }
    if let Some(token) = std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty()) {
        return Ok(Credentials::Token(token));
    }
    if let Some(file) = std::env::var_os(CREDENTIALS_ENV).filter(|f| !f.is_empty()) {
        return from_file(Path::new(&file));
    }
    if let Some(file) = well_known_file().filter(|f| f.is_file()) {
        return from_file(&file);
    }
    let host = std::env::var(METADATA_HOST_ENV).unwrap_or_else(|_| "metadata.google.internal".into());
    Ok(Credentials::Metadata { host })
}

/// gcloud's `application_default_credentials.json` (`gcloud auth application-default login`).
fn well_known_file() -> Option<PathBuf> {
    let config = match std::env::var_os("CLOUDSDK_CONFIG") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".config/gcloud"),
    };
    Some(config.join("application_default_credentials.json"))
}

fn from_file(path: &Path) -> Result<Credentials, GcpError> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| GcpError::Credentials(format!("cannot read the credentials file {shown}: {e}")))?;
    // Parse errors from serde_json name positions, never contents.
    let doc: Value = serde_json::from_str(&text)
        .map_err(|e| GcpError::Credentials(format!("{shown} is not a JSON credentials file: {e}")))?;
    let invalid = |e: serde_json::Error| GcpError::Credentials(format!("{shown} is missing a field: {e}"));
    match doc.get("type").and_then(Value::as_str) {
        Some("service_account") => {
            let key: ServiceAccountKey = serde_json::from_value(doc).map_err(invalid)?;
            let der = pem_body(&key.private_key).ok_or_else(|| {
                GcpError::Credentials(format!("the private_key of {shown} is not a PEM \"PRIVATE KEY\" block"))
            })?;
            let pair = ring::signature::RsaKeyPair::from_pkcs8(&der).map_err(|e| {
                GcpError::Credentials(format!("the private_key of {shown} is not an RSA PKCS#8 key ({e})"))
            })?;
            Ok(Credentials::ServiceAccount {
                email: key.client_email,
                key: Box::new(pair),
                key_id: key.private_key_id,
                token_uri: key.token_uri.unwrap_or_else(|| DEFAULT_TOKEN_URI.into()),
            })
        }
        Some("authorized_user") => Ok(Credentials::AuthorizedUser(serde_json::from_value(doc).map_err(invalid)?)),
        Some(other) => Err(GcpError::Credentials(format!(
            "{shown} holds `{other}` credentials; strata supports service_account and authorized_user files \
             (set {TOKEN_ENV} to a token from `gcloud auth print-access-token` otherwise)"
        ))),
        None => Err(GcpError::Credentials(format!("{shown} has no `type`: it is not a Google credentials file"))),
    }
}

/// The DER bytes of a PEM `PRIVATE KEY` block.
fn pem_body(pem: &str) -> Option<Vec<u8>> {
    let start = pem.find("-----BEGIN PRIVATE KEY-----")? + "-----BEGIN PRIVATE KEY-----".len();
    let end = pem[start..].find("-----END PRIVATE KEY-----")? + start;
    let b64: String = pem[start..end].chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(b64).ok()
}

/// A JWT assertion for the service account, signed RS256, valid one hour.
fn assertion(
    email: &str,
    key: &ring::signature::RsaKeyPair,
    key_id: Option<&str>,
    aud: &str,
) -> Result<String, GcpError> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let mut header = json!({"alg": "RS256", "typ": "JWT"});
    if let Some(kid) = key_id {
        header["kid"] = json!(kid);
    }
    let claims = json!({"iss": email, "scope": SCOPE, "aud": aud, "iat": now, "exp": now + 3600});
    let signing_input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| GcpError::Credentials("signing the service account assertion failed".into()))?;
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// `(access token, lifetime)`.
async fn fetch(credentials: &Credentials, http: &reqwest::Client) -> Result<(String, Duration), GcpError> {
    let request = match credentials {
        Credentials::Token(t) => return Ok((t.clone(), Duration::from_secs(3600 * 24 * 365))),
        Credentials::ServiceAccount { email, key, key_id, token_uri } => {
            let jwt = assertion(email, key, key_id.as_deref(), token_uri)?;
            http.post(token_uri)
                .form(&[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", jwt.as_str())])
        }
        Credentials::AuthorizedUser(u) => http.post(u.token_uri.as_deref().unwrap_or(DEFAULT_TOKEN_URI)).form(&[
            ("grant_type", "refresh_token"),
            ("client_id", u.client_id.as_str()),
            ("client_secret", u.client_secret.as_str()),
            ("refresh_token", u.refresh_token.as_str()),
        ]),
        Credentials::Metadata { host } => http
            .get(format!("http://{host}/computeMetadata/v1/instance/service-accounts/default/token"))
            .header("Metadata-Flavor", "Google"),
    };
    let source = match credentials {
        Credentials::Metadata { host } => format!("the metadata server at {host}"),
        _ => "Google's token endpoint".to_string(),
    };
    let resp = request.timeout(Duration::from_secs(10)).send().await.map_err(|e| {
        let hint = if matches!(credentials, Credentials::Metadata { .. }) {
            format!(
                " (strata is not on GCP: set {CREDENTIALS_ENV} to a service account key file, run `gcloud auth \
                 application-default login`, or set {TOKEN_ENV})"
            )
        } else {
            String::new()
        };
        GcpError::Credentials(format!("cannot reach {source}: {}{hint}", e.without_url()))
    })?;
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        // OAuth 2 errors: `error` and `error_description`, which never echo secrets.
        let code = body["error"].as_str().unwrap_or("unknown_error");
        let description = body["error_description"].as_str().unwrap_or("");
        return Err(GcpError::Credentials(format!(
            "{source} refused the credentials ({status} {code}): {description}"
        )));
    }
    let token = body["access_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| GcpError::Credentials(format!("{source} answered without an access_token")))?;
    let lifetime = Duration::from_secs(body["expires_in"].as_u64().unwrap_or(3600));
    Ok((token.to_string(), lifetime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_bodies_are_decoded_and_other_blocks_refused() {
        let pem = "-----BEGIN PRIVATE KEY-----\nAAEC\nAw==\n-----END PRIVATE KEY-----\n";
        assert_eq!(pem_body(pem), Some(vec![0, 1, 2, 3]));
        assert_eq!(pem_body("-----BEGIN RSA PRIVATE KEY-----\nAAEC\n-----END RSA PRIVATE KEY-----"), None);
    }

    #[test]
    fn unsupported_credential_types_are_named() {
        let dir = std::env::temp_dir().join(format!("strata-gcp-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("external.json");
        std::fs::write(&file, r#"{"type": "external_account", "audience": "x"}"#).unwrap();
        let Err(e) = from_file(&file) else { panic!("external_account is not supported") };
        assert!(e.to_string().contains("external_account"), "{e}");
        std::fs::write(&file, r#"{"type": "service_account", "client_email": "a@b", "private_key": "sekrit"}"#)
            .unwrap();
        let Err(e) = from_file(&file) else { panic!("not a PEM key") };
        assert!(!e.to_string().contains("sekrit"), "{e}");
    }
}
