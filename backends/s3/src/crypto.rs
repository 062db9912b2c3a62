//! Client-side encryption of the state object: AES-256-GCM with a key from an environment
//! variable, stored as a small JSON envelope so a reader can tell an encrypted state from a plain
//! one and name the key it was written with.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use strata_engine::state::StateError;

/// `format` of an encrypted state object.
pub const ENVELOPE_FORMAT: &str = "strata-encrypted-state";
/// `algorithm` of an encrypted state object.
pub const ENVELOPE_ALGORITHM: &str = "AES-256-GCM";
/// Associated data: binds the ciphertext to this envelope format (not to a bucket or key, so a
/// state can be copied between locations and still opens with its key).
const AAD: &[u8] = b"strata-encrypted-state/v1";

/// The stored form of an encrypted state.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    pub format: String,
    pub algorithm: String,
    /// First 8 bytes of SHA-256(key), hex: names the key without revealing it.
    pub key_id: String,
    /// Base64 96-bit nonce, fresh for every write.
    pub nonce: String,
    /// Base64 ciphertext with the GCM tag appended.
    pub ciphertext: String,
}

/// Just enough of a document to tell an envelope from a state.
#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    format: Option<String>,
}

/// Whether `bytes` starts like an envelope as strata writes it (`format` first). Cheap: looks
/// at the first 128 bytes only.
pub fn looks_like_envelope(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(128)];
    head.windows(ENVELOPE_FORMAT.len()).any(|w| w == ENVELOPE_FORMAT.as_bytes())
}

/// If `bytes` is an encryption envelope, returns it.
pub fn envelope(bytes: &[u8]) -> Option<Envelope> {
    let probe: Probe = serde_json::from_slice(bytes).ok()?;
    if probe.format.as_deref() != Some(ENVELOPE_FORMAT) {
        return None;
    }
    serde_json::from_slice(bytes).ok()
}

/// Key id of a raw key: first 8 bytes of its SHA-256, hex.
pub fn key_id(key: &[u8]) -> String {
    Sha256::digest(key)[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// An AES-256-GCM key and where it came from (for messages).
pub struct Cipher {
    aead: Aes256Gcm,
    key_id: String,
    source: String,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cipher").field("key_id", &self.key_id).field("source", &self.source).finish_non_exhaustive()
    }
}

impl Cipher {
    /// A key given as base64 of 32 bytes; `source` names where it came from (`$VAR`).
    pub fn from_base64(value: &str, source: &str) -> Result<Self, StateError> {
        let raw = B64
            .decode(value.trim())
            .map_err(|e| StateError::Config {
                message: format!(
                    "the state encryption key in {source} is not valid base64 ({e}); generate one with `openssl rand -base64 32`"
                ),
            })?;
        if raw.len() != 32 {
            return Err(StateError::Config {
                message: format!(
                    "the state encryption key in {source} is {} bytes; AES-256 needs exactly 32 (generate one with `openssl rand -base64 32`)",
                    raw.len()
                ),
            });
        }
        Ok(Cipher {
            aead: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&raw)),
            key_id: key_id(&raw),
            source: source.to_string(),
        })
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Encrypts `plaintext` into a JSON envelope.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .aead
            .encrypt(&nonce, Payload { msg: plaintext, aad: AAD })
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let envelope = Envelope {
            format: ENVELOPE_FORMAT.to_string(),
            algorithm: ENVELOPE_ALGORITHM.to_string(),
            key_id: self.key_id.clone(),
            nonce: B64.encode(nonce),
            ciphertext: B64.encode(ciphertext),
        };
        serde_json::to_vec(&envelope).expect("envelope serializes")
    }

    /// Decrypts an envelope; `location` names the object for messages. A different key is
    /// reported by key id, a damaged object as such: never garbage.
    pub fn open(&self, envelope: &Envelope, location: &str) -> Result<Vec<u8>, StateError> {
        if envelope.algorithm != ENVELOPE_ALGORITHM {
            return Err(StateError::Corrupt {
                message: format!(
                    "{location} is encrypted with `{}`, which this strata does not support (only {ENVELOPE_ALGORITHM})",
                    envelope.algorithm
                ),
            });
        }
        if envelope.key_id != self.key_id {
            return Err(StateError::Corrupt {
                message: format!(
                    "{location} is encrypted with key id {} but the key in {} has key id {}: set {} to the key the state was written with",
                    envelope.key_id, self.source, self.key_id, self.source
                ),
            });
        }
        let damaged = |what: &str| StateError::Corrupt {
            message: format!("{location}: encrypted state envelope is damaged ({what})"),
        };
        let nonce = B64.decode(&envelope.nonce).map_err(|_| damaged("nonce is not base64"))?;
        if nonce.len() != 12 {
            return Err(damaged("nonce is not 12 bytes"));
        }
        let ciphertext = B64.decode(&envelope.ciphertext).map_err(|_| damaged("ciphertext is not base64"))?;
        self.aead
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: AAD,
                },
            )
            .map_err(|_| StateError::Corrupt {
                message: format!(
                    "{location} failed authentication with key id {} although the key ids match: the object was modified or damaged",
                    self.key_id
                ),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> String {
        B64.encode([byte; 32])
    }

    #[test]
    fn round_trips_and_names_keys() {
        let c = Cipher::from_base64(&key(1), "$K").unwrap();
        let sealed = c.seal(b"{\"a\":1}");
        let env = envelope(&sealed).expect("is an envelope");
        assert_eq!(env.key_id, key_id(&[1; 32]));
        assert_eq!(env.key_id.len(), 16);
        assert_eq!(c.open(&env, "s3://b/k").unwrap(), b"{\"a\":1}");

        let other = Cipher::from_base64(&key(2), "$K").unwrap();
        let err = other.open(&env, "s3://b/k").unwrap_err().to_string();
        assert!(err.contains(&env.key_id) && err.contains(other.key_id()), "{err}");
    }

    #[test]
    fn tampering_is_detected() {
        let c = Cipher::from_base64(&key(1), "$K").unwrap();
        let mut env = envelope(&c.seal(b"hello")).unwrap();
        let mut ct = B64.decode(&env.ciphertext).unwrap();
        ct[0] ^= 1;
        env.ciphertext = B64.encode(ct);
        let err = c.open(&env, "s3://b/k").unwrap_err().to_string();
        assert!(err.contains("modified or damaged"), "{err}");
    }

    #[test]
    fn bad_keys_are_config_errors() {
        assert!(matches!(Cipher::from_base64("not base64!", "$K"), Err(StateError::Config { .. })));
        let short = B64.encode([0u8; 16]);
        let err = Cipher::from_base64(&short, "$K").unwrap_err().to_string();
        assert!(err.contains("16 bytes"), "{err}");
    }

    #[test]
    fn plain_states_are_not_envelopes() {
        assert!(envelope(br#"{"format_version":1,"lineage":"x","serial":0}"#).is_none());
        assert!(envelope(b"not json").is_none());
        let c = Cipher::from_base64(&key(1), "$K").unwrap();
        assert!(looks_like_envelope(&c.seal(&[b'x'; 100_000])));
        assert!(!looks_like_envelope(br#"{"format_version":1,"lineage":"x","serial":0}"#));
    }
}
