//! Google's OAuth 2 token endpoint (`POST /token`, as `https://oauth2.googleapis.com/token`)
//! and the metadata server's token (`GET /computeMetadata/v1/instance/service-accounts/default/token`),
//! for the provider's credential tests. Both answer the token the Compute API accepts.
//!
//! The token endpoint checks what Google checks: the grant type; for a service account's
//! JWT bearer assertion, an RS256 signature by the registered key, the issuer, the audience (this
//! endpoint's URL), a scope, and a lifetime of at most an hour around now; for gcloud user
//! credentials, the client and the refresh token. Errors use OAuth 2's `error` /
//! `error_description` body.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::knobs::Knobs;

/// An OAuth 2 answer: status and JSON body.
pub type Answer = (StatusCode, Value);

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Answer {
    (status, json!({"error": error, "error_description": description}))
}

/// Decodes `application/x-www-form-urlencoded`.
fn form(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                        Ok(b) => {
                            out.push(b);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn granted(knobs: &Knobs, counter: &str) -> Answer {
    knobs.bump(counter);
    (
        StatusCode::OK,
        json!({"access_token": knobs.token(), "expires_in": knobs.token_lifetime(), "token_type": "Bearer"}),
    )
}

/// `POST /token`. `audience` is this endpoint's own URL.
pub fn token(knobs: &Knobs, headers: &HeaderMap, body: &[u8], audience: &str) -> Answer {
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "Invalid content type.");
    }
    let fields = form(body);
    let field = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    match field("grant_type") {
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => match field("assertion") {
            Some(jwt) => match check_assertion(knobs, jwt, audience) {
                Ok(()) => granted(knobs, "oauth.jwt_bearer"),
                Err(description) => oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", &description),
            },
            None => oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "Missing required parameter: assertion"),
        },
        Some("refresh_token") => {
            let Some((id, secret, refresh)) = knobs.authorized_user() else {
                return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "The OAuth client was not found.");
            };
            if field("client_id") != Some(id.as_str()) || field("client_secret") != Some(secret.as_str()) {
                return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Unauthorized");
            }
            if field("refresh_token") != Some(refresh.as_str()) {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Bad Request");
            }
            granted(knobs, "oauth.refresh_token")
        }
        Some(other) => {
            oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", &format!("Invalid grant_type: {other}"))
        }
        None => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "Invalid grant_type: "),
    }
}

fn check_assertion(knobs: &Knobs, jwt: &str, audience: &str) -> Result<(), String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts[..] else { return Err("Invalid JWT: not three segments.".into()) };
    let decode = |s: &str| URL_SAFE_NO_PAD.decode(s).map_err(|_| "Invalid JWT: bad base64url.".to_string());
    let header: Value = serde_json::from_slice(&decode(header)?).map_err(|_| "Invalid JWT header.".to_string())?;
    let claims: Value = serde_json::from_slice(&decode(claims)?).map_err(|_| "Invalid JWT claims.".to_string())?;
    if header["alg"] != "RS256" {
        return Err("Invalid JWT: alg must be RS256.".into());
    }
    let Some((email, public_key)) = knobs.service_account() else {
        return Err("Invalid JWT Signature.".into());
    };
    let signing_input = &jwt[..jwt.len() - signature.len() - 1];
    ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, public_key)
        .verify(signing_input.as_bytes(), &decode(signature)?)
        .map_err(|_| "Invalid JWT Signature.".to_string())?;
    if claims["iss"] != email.as_str() {
        return Err("Invalid JWT: the issuer is not the registered service account.".into());
    }
    if claims["aud"] != audience {
        return Err(format!("Invalid JWT: the audience must be {audience}."));
    }
    if claims["scope"].as_str().is_none_or(str::is_empty) {
        return Err("Invalid JWT: No scope claim.".into());
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let (iat, exp) = (claims["iat"].as_i64().unwrap_or(0), claims["exp"].as_i64().unwrap_or(0));
    if exp - iat > 3600 || exp < now || iat > now + 300 {
        return Err("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.".into());
    }
    Ok(())
}

/// `GET /computeMetadata/v1/instance/service-accounts/default/token`: only with the
/// `Metadata-Flavor: Google` header, as the real server.
pub fn metadata_token(knobs: &Knobs, headers: &HeaderMap) -> Answer {
    if headers.get("metadata-flavor").and_then(|v| v.to_str().ok()) != Some("Google") {
        return (StatusCode::FORBIDDEN, json!("Missing required header: Metadata-Flavor"));
    }
    granted(knobs, "metadata.token")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_are_percent_decoded() {
        assert_eq!(
            form(b"a=b%3Ac&d=e+f&g"),
            [("a".to_string(), "b:c".to_string()), ("d".into(), "e f".into()), ("g".into(), String::new())]
        );
    }
}
