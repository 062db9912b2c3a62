//! Where the bearer token comes from: a static token (`STRATA_AZURE_TOKEN`, tests), workload
//! identity federation (`AZURE_FEDERATED_TOKEN_FILE`: the file's JWT is the client assertion),
//! or client credentials (`AZURE_CLIENT_SECRET`), both against the Microsoft identity
//! platform's v2.0 token endpoint (`{authority}/{tenant}/oauth2/v2.0/token`). Tokens are cached
//! until five minutes before they expire. Nothing here ever prints a secret or a token.

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::error::{AzureError, Result};

pub const TENANT_ENV: &str = "AZURE_TENANT_ID";
pub const CLIENT_ID_ENV: &str = "AZURE_CLIENT_ID";
pub const CLIENT_SECRET_ENV: &str = "AZURE_CLIENT_SECRET";
pub const FEDERATED_TOKEN_FILE_ENV: &str = "AZURE_FEDERATED_TOKEN_FILE";
/// A ready bearer token (tests, or a token from `az account get-access-token`).
pub const STATIC_TOKEN_ENV: &str = "STRATA_AZURE_TOKEN";

/// How this provider authenticates.
#[derive(Clone)]
pub enum Credential {
    Static(String),
    ClientSecret {
        tenant: String,
        client_id: String,
        secret: String,
    },
    Federated {
        tenant: String,
        client_id: String,
        token_file: String,
    },
    /// Nothing usable was found; the message says what to set.
    Missing(String),
}

// Never print a secret or a token.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Static(_) => write!(f, "Static(***)"),
            Credential::ClientSecret { tenant, client_id, .. } => {
                write!(f, "ClientSecret {{ tenant: {tenant}, client_id: {client_id}, secret: *** }}")
            }
            Credential::Federated { tenant, client_id, token_file } => {
                write!(f, "Federated {{ tenant: {tenant}, client_id: {client_id}, token_file: {token_file} }}")
            }
            Credential::Missing(_) => write!(f, "Missing"),
        }
    }
}

impl Credential {
    /// From the environment, in order: static token, federated token file, client secret.
    pub fn from_env(getenv: &dyn Fn(&str) -> Option<String>) -> Credential {
        let get = |k: &str| getenv(k).filter(|v| !v.is_empty());
        if let Some(t) = get(STATIC_TOKEN_ENV) {
            return Credential::Static(t);
        }
        let (tenant, client_id) = (get(TENANT_ENV), get(CLIENT_ID_ENV));
        if let (Some(tenant), Some(client_id)) = (tenant.clone(), client_id.clone()) {
            if let Some(token_file) = get(FEDERATED_TOKEN_FILE_ENV) {
                return Credential::Federated { tenant, client_id, token_file };
            }
            if let Some(secret) = get(CLIENT_SECRET_ENV) {
                return Credential::ClientSecret { tenant, client_id, secret };
            }
        }
        Credential::Missing(format!(
            "set {TENANT_ENV}, {CLIENT_ID_ENV} and {CLIENT_SECRET_ENV} (a service principal), or {TENANT_ENV}, {CLIENT_ID_ENV} and {FEDERATED_TOKEN_FILE_ENV} (workload identity), or {STATIC_TOKEN_ENV}"
        ))
    }

    /// Secret values to mask in anything shown (the secret, a static token).
    fn secrets(&self) -> Vec<&str> {
        match self {
            Credential::Static(t) => vec![t.as_str()],
            Credential::ClientSecret { secret, .. } => vec![secret.as_str()],
            _ => Vec::new(),
        }
    }
}

/// A credential plus its cached token.
pub struct TokenSource {
    credential: Credential,
    authority: String,
    scope: String,
    cached: tokio::sync::Mutex<Option<(String, Instant)>>,
    /// Issued tokens, masked in messages too.
    issued: std::sync::Mutex<Vec<String>>,
}

impl TokenSource {
    pub fn new(credential: Credential, authority: String, scope: String) -> Self {
        TokenSource { credential, authority, scope, cached: Default::default(), issued: Default::default() }
    }

    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// Replaces every secret and token value in `message` with `***`.
    pub fn mask(&self, message: String) -> String {
        let mut out = message;
        for s in self.credential.secrets() {
            if s.len() >= 4 {
                out = out.replace(s, "***");
            }
        }
        for t in self.issued.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter() {
            out = out.replace(t.as_str(), "***");
        }
        out
    }

    /// A bearer token for ARM.
    pub async fn token(&self, http: &reqwest::Client) -> Result<String> {
        let form: Vec<(&str, String)> = match &self.credential {
            Credential::Static(t) => return Ok(t.clone()),
            Credential::Missing(m) => return Err(AzureError::Credentials(m.clone())),
            Credential::ClientSecret { client_id, secret, .. } => vec![
                ("grant_type", "client_credentials".into()),
                ("client_id", client_id.clone()),
                ("client_secret", secret.clone()),
                ("scope", self.scope.clone()),
            ],
            Credential::Federated { client_id, token_file, .. } => {
                // Re-read at each fetch: the kubelet rotates the projected token.
                let assertion = std::fs::read_to_string(token_file).map_err(|e| {
                    AzureError::Credentials(format!("cannot read {FEDERATED_TOKEN_FILE_ENV} {token_file}: {e}"))
                })?;
                vec![
                    ("grant_type", "client_credentials".into()),
                    ("client_id", client_id.clone()),
                    ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into()),
                    ("client_assertion", assertion.trim().to_string()),
                    ("scope", self.scope.clone()),
                ]
            }
        };
        let mut cached = self.cached.lock().await;
        if let Some((t, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(t.clone());
        }
        let tenant = match &self.credential {
            Credential::ClientSecret { tenant, .. } | Credential::Federated { tenant, .. } => tenant.clone(),
            _ => unreachable!("returned above"),
        };
        let url = format!("{}/{tenant}/oauth2/v2.0/token", self.authority);
        let resp = http
            .post(&url)
            .form(&form)
            .send()
            .await
            .map_err(|e| AzureError::Credentials(self.mask(format!("token request to {url} failed: {e}"))))?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status != 200 {
            let what = body["error_description"].as_str().or(body["error"].as_str()).unwrap_or("no error description");
            return Err(AzureError::Credentials(
                self.mask(format!("the identity platform refused the token request (HTTP {status}): {what}")),
            ));
        }
        let token = body["access_token"]
            .as_str()
            .ok_or_else(|| AzureError::Credentials("the token answer has no access_token".into()))?
            .to_string();
        let lifetime = body["expires_in"].as_u64().unwrap_or(3599);
        let until = Instant::now() + Duration::from_secs(lifetime.saturating_sub(300).max(30));
        self.issued.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(token.clone());
        *cached = Some((token.clone(), until));
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_from_the_environment_in_order_and_never_print() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let secret = Credential::from_env(&env(&[
            (TENANT_ENV, "t"),
            (CLIENT_ID_ENV, "c"),
            (CLIENT_SECRET_ENV, "hunter2-secret"),
        ]));
        assert!(matches!(secret, Credential::ClientSecret { .. }));
        assert!(!format!("{secret:?}").contains("hunter2"));
        let fed = Credential::from_env(&env(&[
            (TENANT_ENV, "t"),
            (CLIENT_ID_ENV, "c"),
            (CLIENT_SECRET_ENV, "s"),
            (FEDERATED_TOKEN_FILE_ENV, "/var/run/token"),
        ]));
        assert!(matches!(fed, Credential::Federated { .. }));
        assert!(matches!(Credential::from_env(&env(&[(STATIC_TOKEN_ENV, "tok")])), Credential::Static(_)));
        assert!(matches!(Credential::from_env(&env(&[(TENANT_ENV, "t")])), Credential::Missing(_)));
        let source = TokenSource::new(secret, "http://x".into(), "s".into());
        assert_eq!(source.mask("bad hunter2-secret here".into()), "bad *** here");
    }
}
